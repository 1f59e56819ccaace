"""The bindings componentize-py generates for the plugin's world, imported
once, when the component is built (componentize-py snapshots the
interpreter after importing the app).

Outside a component (an editor, unit tests) they do not exist: the names
below are then stand-ins, and calling into the host raises `RuntimeError`.
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

from .types import PluginError

T = TypeVar("T")

try:
    from componentize_py_types import Err
    from wit_world.imports import config, keyvalue, log, messaging, outbound_http, plugins, types

    IN_COMPONENT = True
except ImportError:  # not built by `warden build`
    IN_COMPONENT = False

    class Err(Exception):  # type: ignore[no-redef]
        """Stand-in for componentize-py's error result."""

        def __init__(self, value: Any) -> None:
            super().__init__(value)
            self.value = value

    class _Missing:
        def __init__(self, name: str) -> None:
            self._name = name

        def __getattr__(self, attr: str) -> Any:
            raise RuntimeError(
                f"warden: `{self._name}.{attr}` needs the host; it works only in a plugin built by `warden build`"
            )

    config = keyvalue = log = messaging = outbound_http = plugins = types = _Missing("wit_world")  # type: ignore


def call(fn: Callable[..., T], *args: Any) -> T:
    """Calls a host function, turning its error result into `PluginError`."""
    try:
        return fn(*args)
    except Err as e:
        raise PluginError(e.value.code, e.value.message) from None
