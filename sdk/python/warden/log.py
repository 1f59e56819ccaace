"""Logging into the host's log, tagged with the plugin (the `log` import).

    from warden import log
    log.info("user signed in")
"""

from __future__ import annotations

from . import _wit

__all__ = ["trace", "debug", "info", "warn", "error"]


def _log(level: str, message: object) -> None:
    _wit.log.log(getattr(_wit.log.Level, level), str(message))


def trace(message: object) -> None:
    """Writes a record at level trace (very detailed tracing)."""
    _log("TRACE", message)


def debug(message: object) -> None:
    """Writes a record at level debug."""
    _log("DEBUG", message)


def info(message: object) -> None:
    """Writes a record at level info (normal operation)."""
    _log("INFO", message)


def warn(message: object) -> None:
    """Writes a record at level warn (unexpected but handled)."""
    _log("WARN", message)


def error(message: object) -> None:
    """Writes a record at level error (a failure)."""
    _log("ERROR", message)
