"""Response filtering: what a child's settings keep from the viewer, removed from
JSON responses, whatever their content coding."""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import (
    Callable,
    Iterable,
)
from typing import Final

import attrs

from childsafe.exceptions import ConfigProblem, ConfigurationError
from childsafe.web.context import RequestContext
from childsafe.web.denials import DenialResponse, withheld_response
from childsafe.web.request import is_id

log = logging.getLogger("childsafe")


# ------------------------------------------------------------ response filters


def _field_names(value: str | Iterable[str]) -> tuple[str, ...]:
    names: tuple[object, ...] = (value,) if isinstance(value, str) else tuple(value)
    if not all(isinstance(n, str) and n for n in names):
        raise ConfigurationError(
            [ConfigProblem("ResponseFilter", "fields", f"expected field names, got {value!r}")]
        )
    return tuple(str(n) for n in names)


def _field_name(value: str) -> str:
    name: object = value
    if not isinstance(name, str) or not name:
        raise ConfigurationError(
            [ConfigProblem("ResponseFilter", "id_field", f"expected a field name, got {value!r}")]
        )
    return value


Allowed = Callable[[str, str], bool]


@attrs.frozen
class ResponseFilter:
    """Removes what a child's settings keep from the viewer, in JSON responses.

    Any JSON object with an ``id_field`` (a string or an integer) is taken to be an
    account, and owns the objects nested in it that have no id of their own:

    * ``location_fields``: removed from an account object, and from the id-less
      objects it owns, unless the viewer may ``location.view`` that account;
    * ``suggestion_lists``: lists under these keys are friend suggestions: accounts the
      viewer may not ``friend.suggest`` are dropped;
    * ``connection_lists``: lists under these keys are someone's connections. A list
      owned by an account whose connection list the viewer may not see
      (``connections.view``: hidden for children, except from their linked parents) is
      emptied; from the others, accounts that keep themselves out of lists others see
      (``connections.listed``) are dropped. The viewer's own list is left whole.

    Entries of these lists are account objects or bare ids (strings or integers); an
    entry whose account cannot be told is dropped. Each option takes one name or a
    sequence of names.

    The filter is sans-I/O: :meth:`needed` lists the ``(action, account id)`` decisions
    it needs, and :meth:`apply` takes them.

    >>> from childsafe import ResponseFilter
    >>> body = {"id": "kid", "location": "Leeds", "friends": ["adult", "kid2"]}
    >>> hidden = {("location.view", "kid"), ("connections.listed", "kid2")}
    >>> ResponseFilter().apply(body, lambda action, who: (action, who) not in hidden)
    {'id': 'kid', 'friends': ['adult']}
    """

    id_field: str = attrs.field(default="id", converter=_field_name)
    location_fields: tuple[str, ...] = attrs.field(
        default=("location", "latitude", "longitude", "lat", "lng", "geo"),
        converter=_field_names,
    )
    suggestion_lists: tuple[str, ...] = attrs.field(
        default=("suggestions", "suggested"), converter=_field_names
    )
    connection_lists: tuple[str, ...] = attrs.field(
        default=("connections", "friends", "followers", "following"), converter=_field_names
    )

    def needed(self, body: object, *, viewer: str | None = None) -> set[tuple[str, str]]:
        """The ``(action, account id)`` decisions :meth:`apply` will ask for."""
        pairs: set[tuple[str, str]] = set()

        def record(action_name: str, account_id: str) -> bool:
            pairs.add((action_name, account_id))
            return True

        self._filter(body, None, None, record, viewer)
        return pairs

    def apply(self, body: object, allowed: Allowed, *, viewer: str | None = None) -> object:
        """A copy of ``body`` with what ``allowed(action, account_id)`` denies removed.

        ``viewer`` is the id of the account the response is for: its own connection
        lists are left whole.
        """
        return self._filter(body, None, None, allowed, viewer)

    def _list_action(self, key: str | None, owner: str | None, viewer: str | None) -> str | None:
        if key in self.suggestion_lists:
            return "friend.suggest"
        if key in self.connection_lists and (owner is None or owner != viewer):
            return "connections.listed"
        return None

    def _entry_id(self, item: object) -> str | None:
        ident = item.get(self.id_field) if isinstance(item, dict) else item
        return str(ident) if is_id(ident) else None

    def _filter(
        self,
        node: object,
        key: str | None,
        owner: str | None,
        allowed: Allowed,
        viewer: str | None,
    ) -> object:
        if isinstance(node, dict):
            ident = node.get(self.id_field)
            if is_id(ident):
                owner = str(ident)
            hide = (
                owner is not None
                and any(f in node for f in self.location_fields)
                and not allowed("location.view", owner)
            )
            return {
                k: self._filter(v, k, owner, allowed, viewer)
                for k, v in node.items()
                if not (hide and k in self.location_fields)
            }
        if isinstance(node, list):
            list_action = self._list_action(key, owner, viewer)
            if (
                list_action == "connections.listed"
                and owner is not None
                and not allowed("connections.view", owner)
            ):
                return []  # the owner's whole list is hidden from this viewer
            kept = []
            for item in node:
                if list_action is not None:
                    entry = self._entry_id(item)
                    if entry is None or not allowed(list_action, entry):
                        continue
                kept.append(self._filter(item, key, owner, allowed, viewer))
            return kept
        return node


def filter_json(context: RequestContext, response_filter: ResponseFilter, body: object) -> object:
    """Apply ``response_filter`` to ``body`` for the request's account (sync repository).

    Returns ``body`` itself when nothing in it needs a decision. Accounts that cannot
    be loaded are treated as denied (fail closed).
    """
    viewer = context.account.id
    needed = response_filter.needed(body, viewer=viewer)
    if not needed:
        return body
    decided = context.decide_many(needed)
    return response_filter.apply(body, lambda a, i: decided.get((a, i), False), viewer=viewer)


async def filter_json_async(
    context: RequestContext, response_filter: ResponseFilter, body: object
) -> object:
    """:func:`filter_json` for async repositories."""
    viewer = context.account.id
    needed = response_filter.needed(body, viewer=viewer)
    if not needed:
        return body
    decided = await context.decide_many_async(needed)
    return response_filter.apply(body, lambda a, i: decided.get((a, i), False), viewer=viewer)


# Headers that describe the body's bytes: wrong once the body is rewritten.
_BODY_HEADERS: Final = frozenset(
    {"content-length", "content-encoding", "etag", "content-md5", "digest", "content-digest"}
)


def decode_json_body(raw: bytes, headers: Iterable[tuple[str, str]]) -> tuple[bool, object]:
    """``(True, parsed)`` for a JSON response body, decompressing ``gzip`` and
    ``deflate``; ``(False, None)`` when it cannot be read (another content coding,
    malformed JSON), in which case the response must not be sent."""
    encoding = ",".join(v for k, v in headers if k.lower() == "content-encoding").strip().lower()
    try:
        if encoding in {"gzip", "x-gzip", "deflate"}:
            # wbits 47: a gzip or zlib header, detected; raw deflate as a fallback.
            try:
                raw = zlib.decompress(raw, 47)
            except zlib.error:
                raw = zlib.decompress(raw, -15)
        elif encoding not in {"", "identity"}:
            log.error(
                "childsafe: cannot filter a JSON response with Content-Encoding %r; "
                "withholding it (put compression outside the childsafe middleware)",
                encoding,
            )
            return False, None
        return True, json.loads(raw)
    except (ValueError, RecursionError, zlib.error) as e:
        log.error("childsafe: a JSON response could not be read (%r); withholding it", e)  # noqa: TRY400
        return False, None


def _private_cache(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The headers with ``Cache-Control`` made ``private``: the body is per viewer."""
    out: list[tuple[str, str]] = []
    seen = False
    for name, value in headers:
        if name.lower() != "cache-control":
            out.append((name, value))
            continue
        seen = True
        kept = [
            d.strip()
            for d in value.split(",")
            if d.strip()
            and d.strip().lower() != "public"
            and not d.strip().lower().startswith(("s-maxage", "private="))
        ]
        if not any(d.lower() in {"private", "no-store"} for d in kept):
            kept.append("private")
        out.append((name, ", ".join(kept)))
    if not seen:
        out.append(("cache-control", "private"))
    return out


def encode_filtered(
    parsed: object, filtered: object, raw: bytes, headers: Iterable[tuple[str, str]]
) -> tuple[bytes, list[tuple[str, str]]]:
    """The body and headers to send after filtering ``parsed`` (read from ``raw``) into
    ``filtered``: the original bytes and headers when nothing needed a decision; the
    original bytes, marked ``Cache-Control: private``, when nothing was removed; else
    the filtered JSON with a correct ``Content-Length`` and no validators (``ETag``)
    or content coding that described the old bytes."""
    headers = list(headers)
    if filtered is parsed:
        return raw, headers
    headers = _private_cache(headers)
    if filtered == parsed:
        return raw, headers
    body = json.dumps(filtered, separators=(",", ":")).encode()
    headers = [(k, v) for k, v in headers if k.lower() not in _BODY_HEADERS]
    headers.append(("content-length", str(len(body))))
    return body, headers


FilteredBody = tuple[bytes, list[tuple[str, str]]]
"""A filtered response's body and headers, ready to send."""


def _withheld(why: str) -> DenialResponse:
    log.error("childsafe: %s; withholding the response", why)
    return withheld_response()


def filter_response(
    context: RequestContext,
    response_filter: ResponseFilter,
    raw: bytes,
    headers: Iterable[tuple[str, str]],
) -> FilteredBody | DenialResponse:
    """A whole JSON response put through ``response_filter`` for the request's account
    (sync repository): the body and headers to send, or the ``500`` to send instead.

    The one place every adapter filters a response: an empty body (``HEAD``, ``204``,
    ``304``) goes out as it is; a ``gzip`` or ``deflate`` body is decoded first; one
    that cannot be read (another content coding, malformed JSON) or filtered is
    withheld; a filtered body is re-encoded with a correct ``Content-Length``, no stale
    ``ETag`` or content coding, and ``Cache-Control: private``.
    """
    headers = list(headers)
    if not raw:
        return raw, headers
    readable, parsed = decode_json_body(raw, headers)
    if not readable:
        return withheld_response()
    try:
        filtered = filter_json(context, response_filter, parsed)
        return encode_filtered(parsed, filtered, raw, headers)
    except Exception as e:  # noqa: BLE001 - what cannot be filtered is not sent
        return _withheld(f"filtering a JSON response failed ({e!r})")


async def filter_response_async(
    context: RequestContext,
    response_filter: ResponseFilter,
    raw: bytes,
    headers: Iterable[tuple[str, str]],
) -> FilteredBody | DenialResponse:
    """:func:`filter_response` for async (or sync) repositories."""
    headers = list(headers)
    if not raw:
        return raw, headers
    readable, parsed = decode_json_body(raw, headers)
    if not readable:
        return withheld_response()
    try:
        filtered = await filter_json_async(context, response_filter, parsed)
        return encode_filtered(parsed, filtered, raw, headers)
    except Exception as e:  # noqa: BLE001 - what cannot be filtered is not sent
        return _withheld(f"filtering a JSON response failed ({e!r})")
