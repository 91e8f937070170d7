"""Test helpers for platforms that use childsafe, for any test runner.

Assertion helpers for decisions and HTTP denials, account factories, cohorts to run a
test across age bands and jurisdictions, policy overrides that restore themselves and a
frozen clock. Property-based strategies are in :mod:`childsafe.testing.strategies`
(they need ``pip install 'childsafe[testing]'``), the observation suite that finds what
an app leaks about children in :mod:`childsafe.testing.observe`, and the deprecated
conformance suite in :mod:`childsafe.testing.conformance`. The pytest plugin
(:mod:`childsafe.pytest_plugin`) wraps these as fixtures.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from childsafe.testing._accounts import BAND_AGES, AccountFactory, Cohort, cohorts
from childsafe.testing._apps import (
    ADAPTERS,
    AppRoute,
    BuiltApp,
    Call,
    DenialPage,
    RawResponse,
    Reply,
    SocialApp,
    WebsocketOutcome,
    build_app,
    social_accounts,
)
from childsafe.testing._assertions import (
    PROBLEM_MEDIA_TYPE,
    assert_allowed,
    assert_allowed_response,
    assert_denied,
    assert_denied_response,
    problem_of,
)
from childsafe.testing._overrides import FrozenClock, overridden, override_policy

__all__ = [
    "ADAPTERS",
    "BAND_AGES",
    "PROBLEM_MEDIA_TYPE",
    "AccountFactory",
    "AppRoute",
    "BuiltApp",
    "Call",
    "Cohort",
    "DenialPage",
    "FrozenClock",
    "RawResponse",
    "Reply",
    "SocialApp",
    "WebsocketOutcome",
    "assert_allowed",
    "assert_allowed_response",
    "assert_denied",
    "assert_denied_response",
    "build_app",
    "cohorts",
    "overridden",
    "override_policy",
    "problem_of",
    "social_accounts",
]

for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type):
        _obj.__module__ = "childsafe.testing"
del _name, _obj
