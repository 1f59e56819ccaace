"""The componentize-py side of a plugin: what `warden build`'s generated
app module (`warden_app.py`) delegates to. Not a public API.

`load` runs when the component is built, so the author's modules are
imported into the snapshot; the plugin object is made on the first
`lifecycle.init` of each instance (or on the first hook, from the host's
configuration, if the host skipped init). Every exported function turns a
`PluginError`, or any other exception, into the WIT error result.
"""

from __future__ import annotations

import importlib
import traceback
from typing import Any, Callable, Optional

from . import _wit
from .host import _payload
from .http import CallContext, Request, Response
from .plugin import Config, Plugin, registered
from .types import Allow, ConnectionInfo, Continue, Degraded, Deny, Healthy, PluginError, Reject, Respond, Unhealthy

# The interfaces a plugin may export and the methods each needs overridden.
HOOKS = {
    "http-filter": (),
    "connect": ("on_connect",),
    "capture": ("on_capture",),
    "rule-match": ("on_rule_match",),
    "handler": ("handle",),
    "subscriber": ("on_message",),
}

_class: Optional[type[Plugin]] = None
_plugin: Optional[Plugin] = None


def load(module: str, exports: tuple[str, ...]) -> None:
    """Imports the author's entry module and checks its plugin class."""
    global _class
    importlib.import_module(module)
    names = ", ".join(c.__qualname__ for c in registered)
    if len(registered) != 1:
        raise TypeError(
            f"the plugin's modules must mark exactly one class with @warden.plugin; "
            f"`{module}` and its imports marked {len(registered)} ({names or 'none'})"
        )
    _class = registered[0]
    for interface in exports:
        for method in HOOKS[interface]:
            if getattr(_class, method) is getattr(Plugin, method):
                raise TypeError(f"{names} must define `{method}`: plugin.toml's [build] exports `{interface}`")


def _instance() -> Plugin:
    global _plugin
    if _plugin is None:
        assert _class is not None, "warden._export.load was not called"
        _plugin = _class(Config(_wit.config.get_all()))
    return _plugin


def _guard(f: Callable[..., Any], *args: Any) -> Any:
    """Calls `f`, turning an exception into the WIT error result."""
    try:
        return f(*args)
    except PluginError as e:
        raise _wit.Err(_wit.types.PluginError(e.code, e.message)) from None
    except _wit.Err:
        raise
    except BaseException as e:
        try:
            _wit.log.log(_wit.log.Level.ERROR, traceback.format_exc())
        except BaseException:
            pass
        raise _wit.Err(_wit.types.PluginError("internal", f"{type(e).__name__}: {e}")) from None


def _action(kind: str, action: Any, hook: str) -> Any:
    """A hook's `Action` as the WIT `request-action` or `response-action`."""
    t = _wit.types
    if action is None or isinstance(action, Continue):
        return getattr(t, kind + "_Continue")()
    if isinstance(action, Reject):
        return getattr(t, kind + "_Reject")(t.Rejection(action.status, action.reason))
    if isinstance(action, Respond):
        return getattr(t, kind + "_Respond")(t.HttpResponse(action.status, action.headers, action.body))
    raise TypeError(f"{hook} returned {action!r}; return warden.CONTINUE, warden.reject(...) or warden.respond(...)")


def _init(config: list[tuple[str, str]]) -> None:
    global _plugin
    assert _class is not None, "warden._export.load was not called"
    # Like the Rust SDK: a failed init keeps the previous plugin, if any.
    _plugin = _class(Config(config))


def _health() -> Any:
    t = _wit.types
    try:
        status = _instance().health()
    except PluginError as e:
        return t.HealthStatus_Unhealthy(f"{e.code}: {e.message}")
    except Exception as e:
        return t.HealthStatus_Unhealthy(f"internal: {type(e).__name__}: {e}")
    if status is None or isinstance(status, Healthy):
        return t.HealthStatus_Healthy()
    if isinstance(status, Degraded):
        return t.HealthStatus_Degraded(status.reason)
    if isinstance(status, Unhealthy):
        return t.HealthStatus_Unhealthy(status.reason)
    return t.HealthStatus_Unhealthy(f"health() returned {status!r}")


def _shutdown() -> None:
    global _plugin
    plugin, _plugin = _plugin, None
    if plugin is not None:
        plugin.shutdown()


def _on_request(ctx: Any, req: Any) -> Any:
    action = _instance().on_request(CallContext(ctx), Request(req))
    return _action("RequestAction", action, "on_request")


def _on_response(ctx: Any, req: Any, resp: Any) -> Any:
    action = _instance().on_response(CallContext(ctx), Request(req), Response(resp))
    return _action("ResponseAction", action, "on_response")


def _on_connect(c: Any) -> Any:
    info = ConnectionInfo(c.client_addr, c.server_addr, c.tls, c.server_name)
    action = _instance().on_connect(info)
    if action is None or isinstance(action, Allow):
        return _wit.types.ConnectAction_Allow()
    if isinstance(action, Deny):
        return _wit.types.ConnectAction_Deny(action.reason)
    raise TypeError(f"on_connect returned {action!r}; return warden.ALLOW or warden.Deny(reason)")


class Lifecycle:
    """`warden:plugin/lifecycle`."""

    def init(self, config: list[tuple[str, str]]) -> None:
        _guard(_init, config)

    def shutdown(self) -> None:
        try:
            _shutdown()
        except BaseException:
            _wit.log.log(_wit.log.Level.ERROR, traceback.format_exc())

    def health(self) -> Any:
        return _health()


class HttpFilter:
    """`warden:plugin/http-filter`."""

    def on_request(self, ctx: Any, request: Any) -> Any:
        return _guard(_on_request, ctx, request)

    def on_response(self, ctx: Any, request: Any, response: Any) -> Any:
        return _guard(_on_response, ctx, request, response)


class Connect:
    """`warden:plugin/connect`."""

    def on_connect(self, connection: Any) -> Any:
        return _guard(_on_connect, connection)


class Capture:
    """`warden:plugin/capture`."""

    def on_capture(self, ctx: Any, request: Any, response: Any, duration_us: int) -> None:
        _guard(lambda: _instance().on_capture(CallContext(ctx), Request(request), Response(response), duration_us))


class RuleMatch:
    """`warden:plugin/rule-match`."""

    def on_rule_match(self, ctx: Any, rule: str, request: Any, details: list[tuple[str, str]]) -> None:
        _guard(lambda: _instance().on_rule_match(CallContext(ctx), rule, Request(request), details))


class Handler:
    """`warden:plugin/handler`."""

    def handle(self, action: str, payload: bytes) -> bytes:
        return _guard(lambda: _payload(_instance().handle(action, payload)))


class Subscriber:
    """`warden:plugin/subscriber`."""

    def on_message(self, topic: str, payload: bytes) -> None:
        _guard(lambda: _instance().on_message(topic, payload))
