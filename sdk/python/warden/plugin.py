"""The class a plugin writes (`Plugin`, marked with `@plugin`) and the
configuration it is built from (`Config`)."""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Mapping, Optional, TypeVar, Union

from .http import CallContext, Request, Response
from .types import ALLOW, CONTINUE, Action, ConnectAction, ConnectionInfo, Health, Healthy, PluginError

__all__ = ["Config", "Plugin", "plugin"]


class Config(Mapping[str, str]):
    """The plugin's configuration: the manifest's `[config]` table as a
    read-only mapping of strings, in the host's order. If a key repeats,
    the first value wins (`pairs()` keeps every one)."""

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        self._pairs = [(str(k), str(v)) for k, v in pairs]
        self._map: dict[str, str] = {}
        for key, value in self._pairs:
            self._map.setdefault(key, value)

    def __getitem__(self, key: str) -> str:
        return self._map[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._map)

    def __len__(self) -> int:
        return len(self._map)

    def __repr__(self) -> str:
        return f"Config({self._pairs!r})"

    def pairs(self) -> list[tuple[str, str]]:
        """Every key and value as the host gave them, in order, repeats kept."""
        return list(self._pairs)


class Plugin:
    """Base class of a plugin. Subclass it, override the hooks the plugin's
    `[build] exports` name, and mark the class with `@warden.plugin`.

    The class is instantiated once per plugin instance, with its `Config`,
    when the host initialises the plugin; raise `PluginError` from
    `__init__` to refuse a bad configuration (conventionally with code
    `bad-config`). Every hook may raise `PluginError`; any other exception
    becomes a `PluginError` with code `internal` (and its traceback goes to
    the host's log at level error).

    Hooks by exported interface: `http-filter`: `on_request`, `on_response`
    (both continue by default); `connect`: `on_connect`; `capture`:
    `on_capture`; `rule-match`: `on_rule_match`; `handler`: `handle`;
    `subscriber`: `on_message`. `warden build` refuses an exported interface
    whose hooks the class does not override (except http-filter's).
    """

    def __init__(self, config: Config) -> None:
        """Builds the plugin from its configuration."""

    def shutdown(self) -> None:
        """Called before the host drops the plugin."""

    def health(self) -> Optional[Health]:
        """Reports health: `warden.Healthy()` (the default; `None` too),
        `warden.Degraded(reason)` or `warden.Unhealthy(reason)`."""
        return Healthy()

    def on_request(self, ctx: CallContext, req: Request) -> Optional[Action]:
        """Called for each request: return `warden.CONTINUE` (or `None`),
        `warden.reject(status, reason)` or `warden.respond(status, headers,
        body)`. Changes through `req` need `[permissions] modify-request`."""
        return CONTINUE

    def on_response(self, ctx: CallContext, req: Request, resp: Response) -> Optional[Action]:
        """Called for each response (`req` is read-only and has no body);
        returns like `on_request`. Changes and `respond` need
        `[permissions] modify-response`."""
        return CONTINUE

    def on_connect(self, connection: ConnectionInfo) -> Optional[ConnectAction]:
        """Called once per accepted connection: `warden.ALLOW` (or `None`)
        or `warden.Deny(reason)`."""
        return ALLOW

    def on_capture(self, ctx: CallContext, req: Request, resp: Response, duration_us: int) -> None:
        """Called after a response was sent, with the exchange as it happened
        (both read-only) and the time it took in microseconds."""

    def on_rule_match(self, ctx: CallContext, rule: str, req: Request, details: list[tuple[str, str]]) -> None:
        """Called for a request (read-only) that matched host rule `rule`;
        `details` says what matched."""

    def handle(self, action: str, payload: bytes) -> Union[bytes, str, Any]:
        """Runs `action` on `payload` and returns the result: `bytes`, a
        `str` (sent as UTF-8) or any other value (sent as JSON)."""
        raise PluginError("unsupported", f"no handler for action `{action}`")

    def on_message(self, topic: str, payload: bytes) -> None:
        """Called for each message published on a subscribed topic."""


P = TypeVar("P", bound=type)

#: The classes marked with `@plugin`, in the order they were defined.
registered: list[type[Plugin]] = []


def plugin(cls: P) -> P:
    """Marks `cls`, a `Plugin` subclass, as the plugin `warden build`
    exports. A plugin's modules mark exactly one class."""
    if not (isinstance(cls, type) and issubclass(cls, Plugin)):
        raise TypeError(f"@warden.plugin marks a subclass of warden.Plugin, not {cls!r}")
    registered.append(cls)
    return cls
