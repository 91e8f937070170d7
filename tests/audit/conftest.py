from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from childsafe.audit import AuditStore
from tests.audit.support import STORE_KINDS, store_fixture


@pytest.fixture(name="store", params=STORE_KINDS)
def _store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AuditStore]:
    yield from store_fixture(request, tmp_path)
