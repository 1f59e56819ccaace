"""The values plugins return and receive: errors, hook actions, health,
connections and whole HTTP responses. Plain Python, no host needed."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional, Union

__all__ = [
    "PluginError",
    "Continue",
    "Respond",
    "Reject",
    "Action",
    "CONTINUE",
    "reject",
    "respond",
    "Allow",
    "Deny",
    "ConnectAction",
    "ALLOW",
    "Healthy",
    "Degraded",
    "Unhealthy",
    "Health",
    "ConnectionInfo",
    "HttpResponse",
    "Headers",
]

#: Header fields as (name, value) pairs, in order. Names may repeat.
Headers = list[tuple[str, str]]


class PluginError(Exception):
    """A plugin's own error: a short machine-readable `code` (e.g.
    `"bad-config"`) and a `message` for people.

    Raise it from `__init__` or a hook and the host receives it as the
    hook's error result. Host calls (`req.body()`, `warden.kv.get(...)`,
    ...) raise it with the host's code (e.g. `"body-too-large"`).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        #: Short machine-readable code.
        self.code = code
        #: What went wrong, for people.
        self.message = message


@dataclass(frozen=True)
class Continue:
    """Go on with the request or response as it is now (changes made
    through the handle included). Use the `CONTINUE` constant."""


@dataclass(frozen=True)
class Respond:
    """Stop the chain and answer with this response (see `respond`)."""

    #: HTTP status, e.g. 200.
    status: int
    #: Header fields in order.
    headers: Headers
    #: The body bytes.
    body: bytes


@dataclass(frozen=True)
class Reject:
    """Stop the chain and refuse: the host answers with `status` and
    `reason` as the body (see `reject`)."""

    #: HTTP status, 4xx or 5xx.
    status: int
    #: Why, for the client; never include internals.
    reason: str


#: What `on_request` and `on_response` return (`None` also means continue).
Action = Union[Continue, Respond, Reject]

#: Go on unchanged.
CONTINUE = Continue()


def _status(status: int) -> int:
    if not isinstance(status, int) or not 0 <= status <= 0xFFFF:
        raise ValueError(f"an HTTP status is an int such as 403, not {status!r}")
    return status


def reject(status: int, reason: str) -> Reject:
    """Refuse with `status` (4xx or 5xx) and `reason` as the body."""
    return Reject(_status(status), str(reason))


def respond(status: int, headers: Iterable[tuple[str, str]] = (), body: Union[bytes, str, Any] = b"") -> Respond:
    """Answer with this response instead of going on. A `str` body is sent
    as UTF-8; any other value that is not `bytes` is sent as JSON (and a
    `content-type: application/json` header added if there is none)."""
    fields = [(str(k), str(v)) for k, v in headers]
    if isinstance(body, str):
        data = body.encode()
    elif isinstance(body, (bytes, bytearray, memoryview)):
        data = bytes(body)
    else:
        data = json.dumps(body, separators=(",", ":")).encode()
        if not any(k.lower() == "content-type" for k, _ in fields):
            fields.append(("content-type", "application/json"))
    return Respond(_status(status), fields, data)


@dataclass(frozen=True)
class Allow:
    """`on_connect`: accept the connection. Use the `ALLOW` constant."""


@dataclass(frozen=True)
class Deny:
    """`on_connect`: close the connection, with a reason for the log."""

    reason: str


#: What `on_connect` returns (`None` also means allow).
ConnectAction = Union[Allow, Deny]

#: Accept the connection.
ALLOW = Allow()


@dataclass(frozen=True)
class Healthy:
    """`health`: working normally."""


@dataclass(frozen=True)
class Degraded:
    """`health`: working with reduced function, and why."""

    reason: str


@dataclass(frozen=True)
class Unhealthy:
    """`health`: not working, and why."""

    reason: str


#: What `health` returns (`None` also means healthy).
Health = Union[Healthy, Degraded, Unhealthy]


@dataclass(frozen=True)
class ConnectionInfo:
    """The network connection a request arrived on."""

    #: Client address, "ip:port".
    client_addr: str
    #: Local address the connection was accepted on, "ip:port".
    server_addr: str
    #: Whether the connection is TLS.
    tls: bool
    #: TLS server name indication, if any.
    server_name: Optional[str] = None


@dataclass
class HttpResponse:
    """A whole response: what `warden.fetch` received."""

    #: Status code, e.g. 200.
    status: int
    #: Header fields in order.
    headers: Headers = field(default_factory=list)
    #: The body bytes.
    body: bytes = b""

    def header(self, name: str) -> Optional[str]:
        """The first value of header `name` (any case), if present."""
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)

    def text(self) -> str:
        """The body as UTF-8 text (invalid bytes replaced)."""
        return self.body.decode(errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON; `PluginError("invalid-json", ...)` if it is not."""
        try:
            return json.loads(self.body)
        except ValueError as e:
            raise PluginError("invalid-json", f"response body is not JSON: {e}") from None
