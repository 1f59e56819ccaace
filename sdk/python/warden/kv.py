"""The plugin's own key-value store (the `keyvalue` import; needs
`[permissions] key-value = true`).

Keys are non-empty UTF-8 strings of at most 512 bytes without NUL. Errors
raise `PluginError` with the host's code: `capability-denied`,
`invalid-key`, `quota-exceeded`, `unavailable`, `backend-error`.

    from warden import kv
    kv.set("hits", str(int(kv.get("hits") or 0) + 1))
"""

from __future__ import annotations

from typing import Optional, Union

from . import _wit

__all__ = ["get", "set", "delete", "list_keys"]


def get(key: str) -> Optional[bytes]:
    """The value stored under `key`, if any."""
    return _wit.call(_wit.keyvalue.get, key)


def set(key: str, value: Union[bytes, str]) -> None:
    """Stores `value` (a `str` as UTF-8) under `key`, replacing any previous value."""
    _wit.call(_wit.keyvalue.set, key, value.encode() if isinstance(value, str) else bytes(value))


def delete(key: str) -> bool:
    """Removes `key`; returns whether it existed."""
    return _wit.call(_wit.keyvalue.delete, key)


def list_keys(prefix: str = "", limit: int = 1000) -> list[str]:
    """The keys that start with `prefix`, in byte order; at most `limit` of them."""
    return _wit.call(_wit.keyvalue.list_keys, prefix, limit)
