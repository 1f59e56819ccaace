"""The plugin's configuration, the manifest's `[config]` table (the
`config` import). A plugin usually reads it once, from the `Config` its
class receives; these functions ask the host again."""

from __future__ import annotations

from typing import Optional

from . import _wit

__all__ = ["get", "items"]


def get(key: str, default: Optional[str] = None) -> Optional[str]:
    """The value of `key`, or `default` if it is not set."""
    value = _wit.config.get(key)
    return default if value is None else value


def items() -> list[tuple[str, str]]:
    """Every key and value, in the host's order."""
    return _wit.config.get_all()
