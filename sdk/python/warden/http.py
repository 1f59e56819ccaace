"""The request, response and call context a hook receives: the host's
objects, lent for one call, with helpers. Keeping one past its call and
using it later traps."""

from __future__ import annotations

import json
from typing import Any, Optional, Union

from . import _wit
from .types import ConnectionInfo, Headers, PluginError

__all__ = ["CallContext", "Request", "Response"]


def _bytes(body: Union[bytes, str]) -> bytes:
    return body.encode() if isinstance(body, str) else bytes(body)


class _Message:
    """What requests and responses share: headers and body."""

    __slots__ = ("_raw",)

    def __init__(self, raw: Any) -> None:
        self._raw = raw

    def header(self, name: str) -> Optional[str]:
        """The first value of header `name` (any case), if present."""
        return self._raw.header(name)

    def header_values(self, name: str) -> list[str]:
        """Every value of header `name`, in order."""
        return self._raw.header_values(name)

    def headers(self) -> Headers:
        """Every header field, in order."""
        return self._raw.headers()

    def body_length(self) -> Optional[int]:
        """The body's length, if known before it is read."""
        return self._raw.body_length()

    def body(self) -> bytes:
        """The whole body, read from the peer at the first call. Raises
        `PluginError` (`body-too-large`, `body-timeout`, `body-unavailable`)."""
        return _wit.call(self._raw.body)

    def text(self) -> str:
        """The body as UTF-8 text; `PluginError("invalid-utf8", ...)` if it is not."""
        try:
            return self.body().decode()
        except UnicodeDecodeError as e:
            raise PluginError("invalid-utf8", f"body is not UTF-8: {e.reason} at byte {e.start}") from None

    def json(self) -> Any:
        """The body parsed as JSON (with the standard `json` module);
        `PluginError("invalid-json", ...)` if it is not JSON."""
        try:
            return json.loads(self.body())
        except ValueError as e:
            raise PluginError("invalid-json", f"body is not JSON: {e}") from None

    def set_header(self, name: str, value: str) -> None:
        """Sets header `name` to `value`, replacing every field of that name."""
        _wit.call(self._raw.set_header, name, value)

    def append_header(self, name: str, value: str) -> None:
        """Adds a field `name: value`, keeping the others of that name."""
        _wit.call(self._raw.append_header, name, value)

    def remove_header(self, name: str) -> bool:
        """Removes every field named `name`; returns whether there was one."""
        return _wit.call(self._raw.remove_header, name)

    def set_body(self, body: Union[bytes, str]) -> None:
        """Replaces the body (a `str` is sent as UTF-8)."""
        _wit.call(self._raw.set_body, _bytes(body))

    def set_json(self, value: Any) -> None:
        """Replaces the body with `value` as JSON and sets `content-type:
        application/json`."""
        self.set_body(json.dumps(value, separators=(",", ":")))
        self.set_header("content-type", "application/json")


class Request(_Message):
    """An HTTP request, lent for one call.

    Reading is free; changes apply to the host's request at once and need
    `[permissions] modify-request` in `on_request` (`PluginError` with code
    `capability-denied` otherwise, `read-only` in the hooks where the
    request cannot change). If the hook then fails, every change is undone.
    """

    __slots__ = ()

    def method(self) -> str:
        """Method, e.g. `"GET"`."""
        return self._raw.method()

    def uri(self) -> str:
        """Request target: path and query, e.g. `"/users?id=1"`."""
        return self._raw.uri()

    def path(self) -> str:
        """The path of the target, without the query."""
        return self._raw.path()

    def query(self) -> Optional[str]:
        """The query of the target (after `?`), if any."""
        return self._raw.query()

    def set_method(self, method: str) -> None:
        """Replaces the method."""
        _wit.call(self._raw.set_method, method)

    def set_uri(self, uri: str) -> None:
        """Replaces the target (a path with an optional query, starting with `/`)."""
        _wit.call(self._raw.set_uri, uri)


class Response(_Message):
    """An HTTP response, lent for one call; changes need `[permissions]
    modify-response`."""

    __slots__ = ()

    def status(self) -> int:
        """Status code, e.g. 200."""
        return self._raw.status()

    def set_status(self, status: int) -> None:
        """Replaces the status (200-599)."""
        _wit.call(self._raw.set_status, status)


class CallContext:
    """What the host knows about the call, fetched when asked for. Lent for one call."""

    __slots__ = ("_raw",)

    def __init__(self, raw: Any) -> None:
        self._raw = raw

    def request_id(self) -> str:
        """Host-assigned id of the request or event, unique per host process."""
        return self._raw.request_id()

    def traceparent(self) -> Optional[str]:
        """W3C `traceparent` of the request, if tracing is on."""
        return self._raw.traceparent()

    def route(self) -> Optional[str]:
        """Name of the host route or pipeline, if any."""
        return self._raw.route()

    def connection(self) -> Optional[ConnectionInfo]:
        """The connection, if the call is tied to one."""
        c = self._raw.connection()
        return None if c is None else ConnectionInfo(c.client_addr, c.server_addr, c.tls, c.server_name)
