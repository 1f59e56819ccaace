"""Calls out of the plugin: outbound HTTP (`fetch`), messages (`publish`)
and other plugins (`call`). Each needs its grant in the manifest's
`[permissions]` (or `[dependencies]` for `call`); errors raise
`PluginError` with the host's code."""

from __future__ import annotations

import json
from typing import Any, Iterable, Union

from . import _wit
from .types import HttpResponse

__all__ = ["fetch", "publish", "call"]


def _payload(data: Union[bytes, str, Any]) -> bytes:
    if isinstance(data, str):
        return data.encode()
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    return json.dumps(data, separators=(",", ":")).encode()


def fetch(
    url: str,
    method: str = "GET",
    headers: Iterable[tuple[str, str]] = (),
    body: Union[bytes, str, Any] = b"",
) -> HttpResponse:
    """Sends a request to `url` (`http://` or `https://`, a host `[permissions]
    network` allows) and waits for the whole response. A `str` body is sent
    as UTF-8, any other non-`bytes` value as JSON. Redirects are followed.

    Errors, by code: `capability-denied`, `budget-exceeded`,
    `response-too-large`, `too-many-redirects`, `invalid-request`,
    `connect-failed`, `protocol-error`, `unavailable`.
    """
    request = _wit.outbound_http.OutgoingRequest(method, url, [(str(k), str(v)) for k, v in headers], _payload(body))
    r = _wit.call(_wit.outbound_http.fetch, request)
    return HttpResponse(r.status, r.headers, r.body)


def publish(topic: str, payload: Union[bytes, str, Any] = b"") -> None:
    """Queues `payload` (a `str` as UTF-8, other non-`bytes` values as JSON)
    for every plugin subscribed to `topic` and returns at once. The topic
    must match one of `[permissions] publish`."""
    _wit.call(_wit.messaging.publish, topic, _payload(payload))


def call(plugin: str, action: str, payload: Union[bytes, str, Any] = b"") -> bytes:
    """Calls `handle(action, payload)` on `plugin`, one of the manifest's
    `[dependencies]`, and returns its result bytes."""
    return _wit.call(_wit.plugins.call, plugin, action, _payload(payload))
