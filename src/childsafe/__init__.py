"""childsafe: protective defaults, safeguarding floors and explainable decisions for
child accounts.

>>> from childsafe import Account, AgeBand, Guard, load_policy
>>> guard = Guard(load_policy())
>>> guard.settings_for(Account(id="c1", band=AgeBand.from_age(12))).location_sharing
'off'
"""

from __future__ import annotations

import typing

from childsafe._bands import AgeBand, Assurance, age_on
from childsafe._decision import Decision, Reason
from childsafe._diff import PolicyDiff, RuleChange, diff_policies
from childsafe._effective import Settings
from childsafe._engine import (
    ACTIONS,
    GROUP_ACTIONS,
    MEDIA_ACTIONS,
    SENSITIVITY_LEVELS,
    Guard,
    SettingChange,
)
from childsafe._messages import (
    AUDIENCES,
    CHANGE_REASONS,
    LOCALES,
    Explanation,
    Messages,
    SettingText,
    explain,
)
from childsafe._model import Account, Relationship
from childsafe._policy import (
    ChangeableBy,
    Citation,
    JurisdictionInfo,
    Policy,
    Rule,
    load_policy,
)
from childsafe._settings import SETTINGS, Setting, SettingValue, TimeWindow
from childsafe.typing import AccountRepository, AsyncAccountRepository, Request
from childsafe.web import (
    ActionRule,
    DenialResponse,
    NotificationGate,
    RequestContext,
    Resolution,
    ResponseFilter,
    RouteTable,
    action,
    action_rule,
    bearer_token,
    change_problem_details,
    change_problem_response,
    json_field,
    path_param,
    problem_details,
    problem_response,
    query_param,
)
from childsafe.web.strict import exempt

__all__ = [
    "ACTIONS",
    "AUDIENCES",
    "CHANGE_REASONS",
    "GROUP_ACTIONS",
    "LOCALES",
    "MEDIA_ACTIONS",
    "SENSITIVITY_LEVELS",
    "SETTINGS",
    "Account",
    "AccountRepository",
    "ActionRule",
    "AgeBand",
    "Assurance",
    "AsyncAccountRepository",
    "ChangeableBy",
    "Citation",
    "Decision",
    "DenialResponse",
    "Explanation",
    "Guard",
    "JurisdictionInfo",
    "Messages",
    "NotificationGate",
    "Policy",
    "PolicyDiff",
    "Reason",
    "Relationship",
    "Request",
    "RequestContext",
    "Resolution",
    "ResponseFilter",
    "RouteTable",
    "Rule",
    "RuleChange",
    "Setting",
    "SettingChange",
    "SettingText",
    "SettingValue",
    "Settings",
    "TimeWindow",
    "action",
    "action_rule",
    "age_on",
    "bearer_token",
    "change_problem_details",
    "change_problem_response",
    "diff_policies",
    "exempt",
    "explain",
    "json_field",
    "load_policy",
    "path_param",
    "problem_details",
    "problem_response",
    "query_param",
]

# Present every public object as living in `childsafe`, as httpx does.
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type):
        _obj.__module__ = "childsafe"
del _name, _obj


def __getattr__(name: str) -> typing.Any:  # noqa: ANN401 - module attribute hook
    if name == "__version__":
        from importlib.metadata import version  # noqa: PLC0415

        return version("childsafe")
    raise AttributeError(f"module 'childsafe' has no attribute {name!r}")
