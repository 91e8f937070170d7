"""The audit trail's settings: sampling, batching, buffering, checkpoints, retention.

Read from a mapping or the ``[audit]`` table of a TOML file (or a JSON object); every
problem is reported at once as a :class:`~childsafe.exceptions.ConfigurationError` whose
items name the file and the key (``audit.retention.decision``). Secrets never live here:
keys are passed in code (see :doc:`/audit`).

>>> config = AuditConfig.from_mapping({"allow_sample_rate": 0.1, "retention": {"decision": 90}})
>>> config.allow_sample_rate, config.retention_days("decision"), config.retention_days("complaint")
(0.1, 90, 2190)
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Mapping
from typing import Any, Final

import attrs

from childsafe._parsing import ParseError, load_json, load_toml, read_config
from childsafe._settings import suggest
from childsafe.audit._records import KINDS
from childsafe.exceptions import ConfigProblem, ConfigurationError

__all__ = ["AuditConfig"]

_DEFAULT_RETENTION: Final = 2190  # six years, in days
_MAX_DAYS: Final = 36_500


@attrs.frozen
class AuditConfig:
    """How the trail records and keeps.

    - ``allow_sample_rate``: the share of allowed decisions recorded (0 to 1; denials and
      allows confirmed after a safety prompt are always recorded; the allows not
      recorded are counted in ``sampling`` records);
    - ``batch_size``: the most records committed in one transaction;
    - ``buffer_size``: how many records may wait for the store; when full, denials,
      setting changes, consent events, complaints and the other explicit records wait up
      to ``block_timeout`` seconds and then raise
      :class:`~childsafe.audit.AuditUnavailableError`; sampled allows are dropped and
      counted;
    - ``retry_max_delay``: the longest pause between retries of a failing store;
    - ``checkpoint_every`` / ``checkpoint_interval``: sign a checkpoint after this many
      records or seconds, whichever comes first (and on ``close()``);
    - ``retention``: days to keep records of each kind (``default`` for the others).
      Whole checkpointed segments are dropped once every record in them is past its
      kind's period.
    """

    allow_sample_rate: float = 0.01
    batch_size: int = 10_000
    buffer_size: int = 100_000
    block_timeout: float = 5.0
    retry_max_delay: float = 5.0
    checkpoint_every: int = 100_000
    checkpoint_interval: float = 60.0
    retention: Mapping[str, int] = attrs.field(factory=dict)
    default_retention: int = _DEFAULT_RETENTION

    def __attrs_post_init__(self) -> None:
        problems = [
            ConfigProblem("AuditConfig", name, problem)
            for name in (*_INTS, *_FLOATS)
            if (problem := _check(name, getattr(self, name))) is not None
        ]
        periods: dict[str, object] = {**self.retention, "default": self.default_retention}
        for kind, days in periods.items():
            if kind != "default" and kind not in KINDS:
                problems.append(ConfigProblem("AuditConfig", f"retention.{kind}", "unknown kind"))
            elif isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= _MAX_DAYS:
                problems.append(
                    ConfigProblem(
                        "AuditConfig",
                        f"retention.{kind}",
                        f"expected whole days from 1 to {_MAX_DAYS}, got {days!r}",
                    )
                )
        if problems:
            raise ConfigurationError(problems)

    def retention_days(self, kind: str) -> int:
        """How many days records of ``kind`` are kept."""
        return self.retention.get(kind, self.default_retention)

    def retention_period(self, kind: str) -> dt.timedelta:
        """:meth:`retention_days` as a timedelta."""
        return dt.timedelta(days=self.retention_days(kind))

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> AuditConfig:
        """The ``[audit]`` table of a TOML file, or a JSON file's ``audit`` object (or
        the whole object when it has no ``audit`` key)."""
        source, text = read_config(path)
        try:
            doc: Any = load_toml(text.decode()) if source.endswith(".toml") else load_json(text)
        except (ParseError, UnicodeDecodeError) as e:
            raise ConfigurationError([ConfigProblem(source, "", f"not valid: {e}")]) from None
        if isinstance(doc, dict) and "audit" in doc:
            return cls.from_mapping(doc["audit"], source=source, path="audit")
        return cls.from_mapping(doc, source=source)

    @classmethod
    def from_mapping(
        cls, value: object, *, source: str = "<mapping>", path: str = ""
    ) -> AuditConfig:
        """Parse ``value``; every problem raises at once, naming ``source`` and the key."""
        problems: list[ConfigProblem] = []

        def at(key: str) -> str:
            return f"{path}.{key}" if path else key

        if not isinstance(value, Mapping):
            raise ConfigurationError(
                [ConfigProblem(source, path, f"expected a table of settings, got {value!r}")]
            )
        fields = {f.name for f in attrs.fields(cls)} - {"retention", "default_retention"}
        known = (*sorted(fields), "retention")
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key not in known:
                problems.append(
                    ConfigProblem(source, at(str(key)), f"unknown setting{suggest(key, known)}")
                )
                continue
            if key == "retention":
                cls._retention(item, source, at(key), problems, out)
                continue
            problem = _check(key, item)
            if problem is None:
                out[key] = float(item) if key in _FLOATS else item
            else:
                problems.append(ConfigProblem(source, at(key), problem))
        if problems:
            raise ConfigurationError(problems)
        return cls(**out)

    @staticmethod
    def _retention(
        item: object, source: str, where: str, problems: list[ConfigProblem], out: dict[str, Any]
    ) -> None:
        if not isinstance(item, Mapping):
            problems.append(
                ConfigProblem(source, where, f"expected a table of kind = days, got {item!r}")
            )
            return
        kinds = (*KINDS, "default")
        days: dict[str, int] = {}
        for kind, value in item.items():
            here = f"{where}.{kind}"
            if kind not in kinds:
                problems.append(
                    ConfigProblem(source, here, f"unknown record kind{suggest(kind, kinds)}")
                )
            elif (
                isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= _MAX_DAYS
            ):
                problems.append(
                    ConfigProblem(
                        source, here, f"expected whole days from 1 to {_MAX_DAYS}, got {value!r}"
                    )
                )
            elif kind == "default":
                out["default_retention"] = value
            else:
                days[kind] = value
        out["retention"] = days


_FLOATS: Final = frozenset(
    ("allow_sample_rate", "block_timeout", "retry_max_delay", "checkpoint_interval")
)
_INTS: Final = {
    "batch_size": (1, 100_000),
    "buffer_size": (1, 10_000_000),
    "checkpoint_every": (1, 100_000_000),
}
_SECONDS: Final = {
    "block_timeout": (0.0, 3600.0),
    "retry_max_delay": (0.001, 3600.0),
    "checkpoint_interval": (0.001, 86400.0),
}


def _check(key: str, item: object) -> str | None:
    if key in _INTS:
        low, high = _INTS[key]
        if isinstance(item, bool) or not isinstance(item, int) or not low <= item <= high:
            return f"expected a whole number from {low} to {high}, got {item!r}"
        return None
    if isinstance(item, bool) or not isinstance(item, int | float) or not math.isfinite(item):
        return f"expected a number, got {item!r}"
    if key == "allow_sample_rate":
        return None if 0 <= item <= 1 else f"expected a share from 0 to 1, got {item!r}"
    low_s, high_s = _SECONDS[key]
    if not low_s <= item <= high_s:
        return f"expected seconds from {low_s:g} to {high_s:g}, got {item!r}"
    return None
