from __future__ import annotations

from collections.abc import Iterator

import attrs

from childsafe._settings import SETTINGS, SettingValue, TimeWindow

__all__ = ["Settings"]


@attrs.frozen(slots=True)
class Settings:
    """An account's effective settings: one attribute per catalogue setting.

    Enumerated settings are strings (``"off"``, ``"connections"``...), ``quiet_hours``
    is a :class:`~childsafe.TimeWindow` or ``None``, ``daily_time_reminder`` minutes or
    ``None``. ``settings["name"]`` and iteration (``dict(settings)``) work too.
    """

    profile_visibility: str
    discoverable: str
    friend_suggestions: str
    connections_visibility: str
    direct_messages: str
    group_invites: str
    location_sharing: str
    location_session_reset: str
    tagging: str
    comments: str
    remix_download: str
    live_streaming: str
    live_gifting: str
    sensitive_content: str
    sensitive_media_blur: str
    sensitive_media_send: str
    feed_personalisation: str
    personalised_ads: str
    data_sharing: str
    search_indexing: str
    contact_sync: str
    engagement_features: str
    purchases: str
    quiet_hours: TimeWindow | None
    daily_time_reminder: int | None

    def __getitem__(self, name: str) -> SettingValue:
        if name not in SETTINGS:
            raise KeyError(name)
        value: SettingValue = getattr(self, name)
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(SETTINGS)

    def keys(self) -> Iterator[str]:
        return iter(SETTINGS)

    def as_dict(self) -> dict[str, SettingValue]:
        """The settings as a plain dict, in catalogue order."""
        return {name: getattr(self, name) for name in SETTINGS}

    def formatted(self) -> dict[str, str]:
        """The settings as display strings (``"21:00-07:00"``, ``"none"``)."""
        return {name: s.format(getattr(self, name)) for name, s in SETTINGS.items()}
