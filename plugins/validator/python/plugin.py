"""Example plugin: checks JSON request bodies and refuses the bad ones.

The Python version of plugins/validator (Rust), with the same config keys,
statuses and reasons. Config keys (all optional):

- `required = "user_id, action"`: top-level fields that must be present and
  not `null` (at most 64);
- `methods = "POST, PUT, PATCH"` (the default): the methods whose requests
  are checked; any other method passes untouched;
- `max-depth = "32"` (the default; 1 to 100): how deeply objects and arrays
  may nest, the body itself being depth 1;
- `max-body = "65536"`: the largest body in bytes (no limit by default).

On a checked method the body must be a JSON object sent with a JSON content
type: 415 `content-type must be application/json`, 413 `request body larger
than N bytes`, 400 `request body must be a JSON object`, `invalid JSON body
at line L column C` or `JSON body nested deeper than N levels`, 422
`missing required field(s): ...`. The body is checked in one pass by
`warden.json_fields`, without building a tree, and read only for a checked
method whose length does not already decide a 415 or 413.
"""

from __future__ import annotations

import re
from typing import Optional

import warden

DEFAULT_MAX_DEPTH = 32
MAX_DEPTH_LIMIT = 100
MAX_REQUIRED = 64
U32_MAX = 2**32 - 1

# What Rust's `str::trim` removes (Unicode White_Space): `str.strip()` also
# strips U+001C..U+001F, which the Rust plugin keeps.
WHITESPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
# A whole number as Rust's `u64::from_str` reads it.
NUMBER = re.compile(r"\+?[0-9]+")
# An HTTP method: an RFC 9110 token.
TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`|~]*")

Refusal = Optional[tuple[int, str]]


def bad_config(key: str, why: str) -> warden.PluginError:
    return warden.PluginError("bad-config", f"config key `{key}`: {why}")


def split_list(value: str) -> list[str]:
    """A comma-separated list, items trimmed, empty ones dropped."""
    return [item for item in (part.strip(WHITESPACE) for part in value.split(",")) if item]


def number(key: str, value: str, low: int, high: int) -> int:
    text = value.strip(WHITESPACE)
    if NUMBER.fullmatch(text) and low <= int(text) <= high:
        return int(text)
    raise bad_config(key, f"`{value}` is not a whole number from {low} to {high}")


def ascii_upper(text: str) -> str:
    return text.encode().upper().decode()


class Rules:
    """Validated settings, built once from the config."""

    def __init__(self, config: warden.Config) -> None:
        self.required: list[str] = []
        self.methods = ["POST", "PUT", "PATCH"]
        self.max_depth = DEFAULT_MAX_DEPTH
        self.max_body: Optional[int] = None
        for key, value in config.items():
            if key == "required":
                self.required = split_list(value)
                if len(self.required) > MAX_REQUIRED:
                    raise bad_config(key, f"at most {MAX_REQUIRED} fields")
            elif key == "methods":
                self.methods = [ascii_upper(m) for m in split_list(value)]
                for m in self.methods:
                    if not TOKEN.fullmatch(m):
                        raise bad_config(key, f"`{m}` is not an HTTP method")
            elif key == "max-depth":
                self.max_depth = number(key, value, 1, MAX_DEPTH_LIMIT)
            elif key == "max-body":
                self.max_body = number(key, value, 1, U32_MAX)
            else:
                raise bad_config(key, "unknown key; allowed keys: required, methods, max-depth, max-body")

    def checks(self, method: str) -> bool:
        """Whether requests with `method` are checked."""
        return ascii_upper(method) in self.methods

    def check_length(self, content_type: Optional[str], length: int) -> Refusal:
        """The checks that need only the body's length."""
        if length > 0 and not (content_type is not None and warden.is_json(content_type)):
            return 415, "content-type must be application/json"
        if self.max_body is not None and length > self.max_body:
            return 413, f"request body larger than {self.max_body} bytes"
        return None

    def check_body(self, content_type: Optional[str], body: bytes) -> Refusal:
        """Checks the body of a request of a checked method."""
        refusal = self.check_length(content_type, len(body))
        if refusal is not None:
            return refusal
        # Anything but `{` first is not an object (or not JSON at all).
        if body.lstrip(b" \t\n\x0c\r")[:1] != b"{":
            return 400, "request body must be a JSON object"
        try:
            fields = warden.json_fields(body, self.max_depth)
        except warden.JsonError as e:
            if e.kind == "too-deep":
                return 400, f"JSON body nested deeper than {self.max_depth} levels"
            return 400, f"invalid JSON body at line {e.line} column {e.column}"
        # found[i] for required[i]: present and not null; the last of a
        # repeated name wins.
        found = [False] * len(self.required)
        for field in fields:
            if field.name in self.required:
                found[self.required.index(field.name)] = field.value != "null"
        missing = [name for name, ok in zip(self.required, found) if not ok]
        if len(missing) == 1:
            return 422, f"missing required field: {missing[0]}"
        if missing:
            return 422, f"missing required fields: {', '.join(missing)}"
        return None


@warden.plugin
class Validator(warden.Plugin):
    """Refuses requests whose JSON body is malformed or lacks required fields."""

    def __init__(self, config: warden.Config) -> None:
        self.rules = Rules(config)

    def on_request(self, ctx: warden.CallContext, req: warden.Request) -> warden.Action:
        # Only a checked method's body is read: the others stream through.
        if not self.rules.checks(req.method()):
            return warden.CONTINUE
        content_type = req.header("content-type")
        # A length known up front can settle 415 and 413 without reading.
        length = req.body_length()
        refusal = None if length is None else self.rules.check_length(content_type, length)
        if refusal is None:
            refusal = self.rules.check_body(content_type, req.body())
        return warden.CONTINUE if refusal is None else warden.reject(*refusal)
