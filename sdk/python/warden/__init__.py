"""Warden's Python SDK: write a Warden plugin as a Python class.

    import warden

    @warden.plugin
    class Hello(warden.Plugin):
        def __init__(self, config: warden.Config) -> None:
            self.greeting = config.get("greeting", "hello")

        def on_request(self, ctx: warden.CallContext, req: warden.Request) -> warden.Action:
            if req.header("x-block") is not None:
                return warden.reject(403, "blocked")
            req.set_header("x-greeting", self.greeting)
            return warden.CONTINUE

`warden build` turns the module into a WebAssembly component with
componentize-py; this package goes into the component with it, built for
the WIT package (`warden:plugin@0.2.0`) the `warden` binary carries.
See docs/PYTHON.md.
"""

from . import config, kv, log
from .host import call, fetch, publish
from .http import CallContext, Request, Response
from .jsonscan import Field, JsonError, fields as json_fields, is_json
from .plugin import Config, Plugin, plugin
from .types import (
    ALLOW,
    CONTINUE,
    Action,
    Allow,
    ConnectAction,
    ConnectionInfo,
    Continue,
    Degraded,
    Deny,
    Headers,
    Health,
    Healthy,
    HttpResponse,
    PluginError,
    Reject,
    Respond,
    Unhealthy,
    reject,
    respond,
)

__all__ = [
    "ALLOW",
    "CONTINUE",
    "Action",
    "Allow",
    "CallContext",
    "Config",
    "ConnectAction",
    "ConnectionInfo",
    "Continue",
    "Degraded",
    "Deny",
    "Field",
    "Headers",
    "Health",
    "Healthy",
    "HttpResponse",
    "JsonError",
    "Plugin",
    "PluginError",
    "Reject",
    "Request",
    "Respond",
    "Response",
    "Unhealthy",
    "call",
    "config",
    "fetch",
    "is_json",
    "json_fields",
    "kv",
    "log",
    "plugin",
    "publish",
    "reject",
    "respond",
]
