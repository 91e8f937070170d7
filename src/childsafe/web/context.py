"""The request context: the resolved account, its settings and the decisions made
while handling the request."""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import logging
import re
import uuid
from collections.abc import (
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Mapping,
)
from typing import TYPE_CHECKING, Any, Final

import attrs

from childsafe._bands import AgeBand
from childsafe._decision import Decision
from childsafe._effective import Settings
from childsafe._engine import Guard
from childsafe._model import Account, Relationship
from childsafe._supervision import Supervision
from childsafe.typing import AccountRepository, AsyncAccountRepository, Request
from childsafe.web.denials import undeclared_route, unverifiable
from childsafe.web.request import close_awaitable, confirms, is_id
from childsafe.web.routes import ActionRule

if TYPE_CHECKING:
    from childsafe.web.media import MediaResult

Checker = Callable[..., Decision]

log = logging.getLogger("childsafe")


ANONYMOUS_ID: Final = "childsafe:anonymous"
"""The id of the protective account used when no account could be resolved."""


@attrs.frozen
class Resolution:
    """How the request's account was found: ``source`` is the resolver's name,
    ``"anonymous"`` (no resolver applied) or ``"error"`` (a resolver raised or returned
    something that is not an account: the request is treated as the protective
    unknown-age account)."""

    account: Account
    source: str
    error: str | None = None


# One shared protective account: frozen, so every request may hold the same one.
ANONYMOUS: Final = Account(id=ANONYMOUS_ID, band=AgeBand.UNKNOWN)

# What a resolver chain found: the account, the resolver's name (or "anonymous" /
# "error") and what went wrong. A tuple, so a request does not build a Resolution
# unless someone reads RequestContext.resolution.
Found = tuple[Account, str, "str | None"]


def loaded_account(value: object, account_id: str) -> Account:
    if value is None:
        raise LookupError(f"no account {account_id!r}")
    if not isinstance(value, Account):
        raise TypeError(f"get_account returned a {type(value).__name__}, not an Account")
    return value


def _loaded_relationship(value: object) -> Relationship | None:
    if value is None or isinstance(value, Relationship):
        return value
    raise TypeError(f"relationship returned a {type(value).__name__}, not a Relationship")


# How _rule meets an awaitable from the repository: a denial, or a coroutine.
_SYNC: Final = False
_EAGER: Final = True

_NEEDS_ASYNC: Final = "an async repository needs check_async (the ASGI adapter)"


def _sync_account(value: object, account_id: str) -> Account:
    """``get_account``'s result on the sync path: an awaitable fails closed."""
    if inspect.isawaitable(value):
        close_awaitable(value)
        raise TypeError(_NEEDS_ASYNC)
    return loaded_account(value, account_id)


def _sync_relationship(value: object) -> Relationship | None:
    """``relationship``'s result on the sync path: an awaitable fails closed."""
    if inspect.isawaitable(value):
        close_awaitable(value)
        raise TypeError(_NEEDS_ASYNC)
    return _loaded_relationship(value)


def _rule_options(rule: ActionRule) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if rule.sensitivity is not None:
        options["sensitivity"] = rule.sensitivity
    if rule.action == "notify":
        options["at"] = dt.datetime.now(dt.UTC)
    return options


def _stored_verdict(rule: ActionRule, request: Request) -> object:
    """The verdict a ``media.view`` route's ``media`` extractor finds (what the platform
    stored at upload); ``None`` (sensitive for a minor) when it fails or finds none."""
    try:
        assert rule.media is not None
        return rule.media(request)
    except Exception as e:  # noqa: BLE001 - no verdict is the protective path
        log.warning("childsafe: the media extractor for %s raised %r", rule.action, e)
        return None


def _target_of(rule: ActionRule, request: Request) -> str | None:
    """The target id a rule's extractor finds in ``request``: text, or an integer from
    JSON; ``None`` when it finds nothing usable or raises (logged)."""
    try:
        param = rule.param
        found: object = (
            rule.extract(request)  # type: ignore[misc]  # a rule with a target has one
            if param is None
            else request.path_param(param)
        )
    except Exception as e:  # noqa: BLE001 - an extractor that fails finds nothing
        log.warning("childsafe: the target extractor for %s raised %r", rule.action, e)
        return None
    if type(found) is str:
        return found or None
    return str(found) if is_id(found) and found != "" else None


def _rule_checker(
    eager: bool,
    name: str,
    doc: str,
) -> Callable[[RequestContext, ActionRule, Request], Decision | Coroutine[Any, Any, Decision]]:
    """``RequestContext.check_rule`` (``eager`` false: an awaitable from the repository
    is a denial) or ``check_rule_eager`` (a coroutine finishing the check): the rule
    check, synchronously until the repository returns an awaitable."""

    def check(
        self: RequestContext,
        rule: ActionRule,
        request: Request,
        params: Mapping[str, str] | re.Match[str] | None = None,
    ) -> Decision | Coroutine[Any, Any, Decision]:
        try:
            param = rule.param
            if param is not None and params is not None:
                # The adapter's routing found the path parameter: read it as
                # Request.path_param does (a converter's value, an int or a UUID, as text).
                try:
                    found: object = params[param]
                except LookupError:
                    found = request.path_param(param)
                if type(found) is str:
                    target = found or None
                else:
                    target = None if found is None else str(found) or None
            elif rule.extract is None:
                return self._no_target(rule)
            else:
                target = _target_of(rule, request)
            if target is None:
                return self._unverifiable(rule.action, "no target id in the request")
            repo = self.repository
            if repo is None:
                raise LookupError("no AccountRepository configured")  # noqa: TRY301
            loaded: object = repo.get_account(target)
            if type(loaded) is not Account and not isinstance(loaded, Account):
                if eager and inspect.isawaitable(loaded):
                    return self._rule_awaiting(rule, repo, target, loaded, request)
                loaded = _sync_account(loaded, target)
            rel: object = repo.relationship(self.account, loaded)
            if (  # a Relationship first: the usual answer, and one test
                type(rel) is not Relationship
                and rel is not None
                and not isinstance(rel, Relationship)
            ):
                if eager and inspect.isawaitable(rel):
                    return self._rule_awaiting(rule, repo, loaded, rel, request)
                rel = _sync_relationship(rel)
            if rule.plain:
                check = self._check
                if check is None:
                    decision = self.guard.check(rule.action, self.account, loaded, rel)
                else:
                    decision = check(rule.action, self.account, loaded, rel)
                if decision.needs_confirmation:
                    decision = self._rule_decision(rule, loaded, rel, request)
            else:
                decision = self._rule_decision(rule, loaded, rel, request)
        except Exception as e:  # noqa: BLE001 - a declared check never becomes a 500
            return self._unverifiable(rule.action, e)
        # self._remember(decision), inline: a request's first decision is kept alone.
        if self._decisions is None:
            self._decisions = decision
        else:
            self._remember(decision)
        return decision

    check.__name__ = name
    check.__qualname__ = f"RequestContext.{name}"
    check.__doc__ = inspect.cleandoc(doc)
    if not eager:
        check.__annotations__ = {**check.__annotations__, "return": "Decision"}
    return check


class RequestContext:
    """Everything childsafe knows about the current request.

    ``account`` is the resolved account (the protective unknown-age account when none
    could be resolved); ``settings`` its effective settings; ``decisions`` the
    decisions made while handling the request, in order.
    """

    __slots__ = (
        "_check",
        "_decisions",
        "_how",
        "_media",
        "_request",
        "_resolution",
        "_settings",
        "account",
        "adapter",
        "guard",
        "repository",
        "request_id",
    )
    _resolution: Resolution
    _settings: Settings
    # How the account was found: the resolver's name (or "anonymous", "error") and what
    # went wrong, one tuple (resolver chains build it once per resolver).
    _how: tuple[str, str | None]
    _check: Checker | None
    _media: tuple[MediaResult, ...]
    # The adapter's Request over the request, for adapters whose hooks run apart (the
    # Django middleware keeps it here from __call__ to process_view, and clears it with
    # the response, as it refers back to the framework's request). Unset otherwise.
    _request: Request | None
    # None (no decision yet), the request's one decision, or the list of them: most
    # requests make one decision, which is then kept without building a list.
    _decisions: Decision | list[Decision] | None

    def __init__(
        self,
        guard: Guard,
        resolution: Resolution,
        repository: AccountRepository | AsyncAccountRepository | None = None,
        *,
        request_id: str | None = None,
        adapter: str | None = None,
    ) -> None:
        self.guard = guard
        self.account = resolution.account
        self.repository = repository
        self._decisions = None
        self._resolution: Resolution = resolution
        self._how = (resolution.source, resolution.error)
        self.request_id = request_id
        self.adapter = adapter
        self._check: Checker | None = _checker(guard, request_id, adapter)

    @classmethod
    def _found(
        cls,
        guard: Guard,
        found: Found,
        repository: AccountRepository | AsyncAccountRepository | None,
        adapter: str | None = None,
        request: Request | None = None,
    ) -> RequestContext:
        """What adapters build per request (see :func:`new_context`)."""
        account, source, error = found
        return new_context(guard, account, source, error, repository, adapter, request)

    @property
    def decisions(self) -> list[Decision]:
        """The decisions made while handling the request, in order (a list the
        context keeps: what is appended to it is remembered)."""
        kept = self._decisions
        if isinstance(kept, list):
            return kept
        decisions: list[Decision] = [] if kept is None else [kept]
        self._decisions = decisions
        return decisions

    @decisions.setter
    def decisions(self, value: list[Decision]) -> None:
        self._decisions = value

    def _remember(self, decision: Decision) -> None:
        """Add ``decision`` to :attr:`decisions`."""
        kept = self._decisions
        if kept is None:
            self._decisions = decision
        elif isinstance(kept, list):
            kept.append(decision)
        else:
            self._decisions = [kept, decision]

    @property
    def resolution(self) -> Resolution:
        """How the account was found (:class:`Resolution`)."""
        try:
            return self._resolution
        except AttributeError:  # built when first read
            resolution = self._resolution = Resolution(self.account, *self._how)
            return resolution

    @property
    def settings(self) -> Settings:
        """The account's effective settings (computed on first use)."""
        try:
            return self._settings
        except AttributeError:  # computed when first read
            settings = self._settings = self.guard.settings_for(self.account)
            return settings

    @property
    def media(self) -> tuple[MediaResult, ...]:
        """The images of a media route's request (``media.upload``, ``media.send``):
        each one's spooled file (removed before the view runs), what inspection found
        and the decision, so the view can store the verdict for ``media.view``. Empty
        on every other route.

        .. versionadded:: 0.2.0
        """
        try:
            return self._media
        except AttributeError:
            return ()

    @property
    def is_minor(self) -> bool:
        """Whether the account is treated as a minor (unknown ages are)."""
        return self.account.band.is_minor

    @property
    def supervision(self) -> Supervision:
        """Who supervises the account (guardians, parent locks, verified consents), so
        the UI can show the child an obvious sign (ICO Children's code standard 11)."""
        return self.account.supervision

    def decide(
        self,
        action_name: str,
        target: Account | None = None,
        relationship: Relationship | None = None,
        **options: Any,  # noqa: ANN401 - Guard.check's keywords, passed on as they are
    ) -> Decision:
        """``Guard.check`` with this request's account as the actor; remembered."""
        decision = (self._check or self.guard.check)(
            action_name, self.account, target, relationship, **options
        )
        self._remember(decision)
        return decision

    def _no_target(self, rule: ActionRule) -> Decision:
        """A declared rule about the account itself (no target): decided, remembered."""
        decision = (self._check or self.guard.check)(
            rule.action, self.account, **_rule_options(rule)
        )
        self._remember(decision)
        return decision

    def _unverifiable(self, action_name: str, why: object) -> Decision:
        log.warning("childsafe: could not check %s: %r; failing closed", action_name, why)
        decision = unverifiable(action_name)
        self._remember(decision)
        self.guard._record(  # noqa: SLF001 - the kernel's own denial, recorded like any other
            decision, self.account, request_id=self.request_id, adapter=self.adapter
        )
        return decision

    def refuse_undeclared(self, method: str, path: str) -> Decision:
        """Strict mode's answer to a request that matches no declared rule and no
        exemption: denied (``undeclared_route``), logged and recorded."""
        log.warning("childsafe: %s %s declares no action and is not exempt; refused", method, path)
        decision = undeclared_route(f"{method} {path}")
        self._remember(decision)
        self.guard._record(  # noqa: SLF001 - the kernel's own denial, recorded like any other
            decision, self.account, request_id=self.request_id, adapter=self.adapter
        )
        return decision

    def _load(self, target: Account | str) -> tuple[Account, Relationship | None]:
        repo = self.repository
        if isinstance(target, str):
            if repo is None:
                raise LookupError("no AccountRepository configured")
            loaded: object = repo.get_account(target)
            target = loaded if isinstance(loaded, Account) else _sync_account(loaded, target)
        if repo is None:
            return target, None
        rel: object = repo.relationship(self.account, target)
        if rel is None or isinstance(rel, Relationship):
            return target, rel
        return target, _sync_relationship(rel)

    async def _load_async(self, target: Account | str) -> tuple[Account, Relationship | None]:
        repo = self.repository
        if isinstance(target, str):
            if repo is None:
                raise LookupError("no AccountRepository configured")
            loaded: object = repo.get_account(target)
            if not isinstance(loaded, Account):
                if inspect.isawaitable(loaded):
                    loaded = await loaded
                loaded = loaded_account(loaded, target)
            target = loaded
        if repo is None:
            return target, None
        rel: object = repo.relationship(self.account, target)
        if rel is None or isinstance(rel, Relationship):
            return target, rel
        if inspect.isawaitable(rel):
            rel = await rel
        return target, _loaded_relationship(rel)

    def check(
        self,
        action_name: str,
        target: Account | str | None = None,
        **options: Any,  # noqa: ANN401 - Guard.check's keywords, passed on as they are
    ) -> Decision:
        """Decide ``action_name`` against ``target`` (an account or its id), loading the
        account and the relationship through the sync repository. A target that cannot
        be loaded (unknown id, a repository that raises or is async) is denied as
        ``unverifiable`` (fail closed)."""
        if target is None:
            return self.decide(action_name, **options)
        try:
            loaded, rel = self._load(target)
        except Exception as e:  # noqa: BLE001 - fail closed
            return self._unverifiable(action_name, e)
        return self.decide(action_name, loaded, rel, **options)

    async def check_async(
        self,
        action_name: str,
        target: Account | str | None = None,
        **options: Any,  # noqa: ANN401 - Guard.check's keywords, passed on as they are
    ) -> Decision:
        """:meth:`check` for async (or sync) repositories."""
        if target is None:
            return self.decide(action_name, **options)
        try:
            loaded, rel = await self._load_async(target)
        except Exception as e:  # noqa: BLE001 - fail closed
            return self._unverifiable(action_name, e)
        return self.decide(action_name, loaded, rel, **options)

    # check_rule and check_rule_eager are one function made twice (see _rule_checker):
    # each is the whole check, with no call in between.
    if TYPE_CHECKING:

        def check_rule(
            self,
            rule: ActionRule,
            request: Request,
            params: Mapping[str, str] | re.Match[str] | None = None,
        ) -> Decision: ...

        def check_rule_eager(
            self,
            rule: ActionRule,
            request: Request,
            params: Mapping[str, str] | re.Match[str] | None = None,
        ) -> Decision | Coroutine[Any, Any, Decision]: ...

    else:
        check_rule = _rule_checker(
            _SYNC,
            "check_rule",
            """Decide a declared :class:`ActionRule` for ``request``. A target that cannot
            be found, or any failure on the way, is denied as ``unverifiable`` (an async
            repository too: use :meth:`check_rule_async`). ``params``, the path
            parameters the adapter's routing found (a mapping, or a route table's
            match), is where a :func:`~childsafe.path_param` target is read first (a
            value that is not text is read as ``str(value)``, as ``path_param`` does);
            one it does not hold is read with ``request.path_param``.""",
        )
        check_rule_eager = _rule_checker(
            _EAGER,
            "check_rule_eager",
            """:meth:`check_rule_async` without a coroutine while the repository answers
            at once: the decision itself for a sync repository, else a coroutine to await
            for it. What the ASGI adapters call.""",
        )

    async def check_rule_async(self, rule: ActionRule, request: Request) -> Decision:
        """:meth:`check_rule` for async (or sync) repositories."""
        decision = self.check_rule_eager(rule, request)
        return decision if isinstance(decision, Decision) else await decision

    async def _rule_awaiting(
        self,
        rule: ActionRule,
        repo: AccountRepository | AsyncAccountRepository,
        target: Account | str,
        pending: Awaitable[object],
        request: Request,
    ) -> Decision:
        """The rest of :meth:`_rule` once the repository returned ``pending``: the
        target's account (``target`` is its id) or the relationship (``target`` is the
        loaded account)."""
        try:
            if isinstance(target, str):
                loaded = loaded_account(await pending, target)
                rel: object = repo.relationship(self.account, loaded)
                if inspect.isawaitable(rel):
                    rel = await rel
            else:
                loaded, rel = target, await pending
            decision = self._rule_decision(rule, loaded, _loaded_relationship(rel), request)
        except Exception as e:  # noqa: BLE001 - a declared check never becomes a 500
            return self._unverifiable(rule.action, e)
        self._remember(decision)
        return decision

    def _rule_decision(
        self,
        rule: ActionRule,
        target: Account,
        relationship: Relationship | None,
        request: Request,
    ) -> Decision:
        """The decision for a declared rule, confirmed when it needs the account
        holder's confirmation and the request carries it (:func:`confirms`)."""
        options = _rule_options(rule)
        if rule.media is not None:
            options["media"] = _stored_verdict(rule, request)
        check = self._check or self.guard.check
        decision = check(rule.action, self.account, target, relationship, **options)
        if decision.needs_confirmation and confirms(request, rule.action):
            decision = check(
                rule.action, self.account, target, relationship, confirmed=True, **options
            )
        return decision

    def _decide_loaded(
        self, actions: Iterable[str], account_id: str, loaded: tuple[Account, Relationship | None]
    ) -> dict[tuple[str, str], bool]:
        out: dict[tuple[str, str], bool] = {}
        for action_name in actions:
            try:
                out[action_name, account_id] = self.decide(action_name, *loaded).allowed
            except Exception as e:  # noqa: BLE001 - fail closed
                out[action_name, account_id] = self._unverifiable(action_name, e).allowed
        return out

    def decide_many(self, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], bool]:
        """Decide many ``(action, account id)`` pairs (what a :class:`ResponseFilter`
        needs), loading each account once through the sync repository. Pairs whose
        account cannot be loaded are denied."""
        out: dict[tuple[str, str], bool] = {}
        for account_id, actions in _by_account(pairs).items():
            try:
                loaded = self._load(account_id)
            except Exception as e:  # noqa: BLE001 - fail closed
                out.update({(a, account_id): self._unverifiable(a, e).allowed for a in actions})
                continue
            out.update(self._decide_loaded(actions, account_id, loaded))
        return out

    async def decide_many_async(
        self, pairs: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], bool]:
        """:meth:`decide_many` for async (or sync) repositories."""
        out: dict[tuple[str, str], bool] = {}
        for account_id, actions in _by_account(pairs).items():
            try:
                loaded = await self._load_async(account_id)
            except Exception as e:  # noqa: BLE001 - fail closed
                out.update({(a, account_id): self._unverifiable(a, e).allowed for a in actions})
                continue
            out.update(self._decide_loaded(actions, account_id, loaded))
        return out


def _by_account(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for action_name, account_id in sorted(pairs):
        grouped.setdefault(account_id, []).append(action_name)
    return grouped


def _checker(guard: Guard, request_id: str | None, adapter: str | None) -> Checker | None:
    """What a request's context decides with: ``None`` for ``guard.check`` itself, or
    (when the guard has event sinks) a check whose events carry the request's id and
    adapter."""
    if not guard._observed:  # noqa: SLF001 - the kernel's own question to the guard
        return None
    return functools.partial(guard._check_for_request, request_id, adapter)  # noqa: SLF001


class BuiltContext(RequestContext):
    """The class of the :class:`RequestContext` the kernel builds per request: called
    with no arguments (``object.__init__``, so no Python frame) and its attributes set
    by the kernel, which is cheaper than ``object.__new__(RequestContext)``. Adapters
    test ``type(context) is BuiltContext`` before anything costlier."""

    __slots__ = ()
    if TYPE_CHECKING:

        def __init__(self) -> None: ...

    else:
        __init__ = object.__init__


def new_context(
    guard: Guard,
    account: Account,
    source: str,
    error: str | None,
    repository: AccountRepository | AsyncAccountRepository | None,
    adapter: str | None,
    request: Request | None,
) -> RequestContext:
    """The :class:`RequestContext` adapters build per request, as cheaply as it can be
    built: its :class:`Resolution` and settings only when read, the request's id only
    when the guard has event sinks."""
    self: RequestContext = BuiltContext()
    self.guard = guard
    self.account = account
    self._how = (source, error)
    self.repository = repository
    self.adapter = adapter
    self._decisions = None
    if guard._observed:  # noqa: SLF001 - the kernel's own question to the guard
        self.request_id = request_id_of(request)
        self._check = _checker(guard, self.request_id, adapter)
    else:
        self.request_id = None
        self._check = None  # the guard's own check, looked up when called
    return self


_REQUEST_ID: Final = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")


def request_id_of(request: Request | None) -> str:
    """The request's id for its events: the client's ``X-Request-ID`` when it is a
    plain token (at most 128 letters, digits and ``._:/+=-``), else a fresh one."""
    if request is not None:
        try:
            given = request.header("x-request-id")
        except Exception:  # noqa: BLE001 - an id is never worth failing a request
            given = None
        if given and _REQUEST_ID.fullmatch(given):
            return given
    return uuid.uuid4().hex
