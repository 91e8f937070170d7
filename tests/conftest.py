from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from childsafe import Guard, Policy, load_policy

# `pytester` runs pytest inside tests (the pytest plugin's tests). childsafe's own
# plugin is loaded here rather than from its entry point (`-p no:childsafe` in
# pyproject.toml), so that coverage, started by then, sees the modules it imports.
pytest_plugins = ["pytester", "childsafe.pytest_plugin", "tests.browser"]

settings.register_profile(
    "default",
    deadline=None,
    max_examples=int(os.environ.get("CHILDSAFE_HYPOTHESIS_EXAMPLES", "100")),
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("default")


@pytest.fixture(name="policy", scope="session")
def _policy() -> Policy:
    return load_policy()


@pytest.fixture(name="guard", scope="session")
def _guard(policy: Policy) -> Guard:
    return Guard(policy)
