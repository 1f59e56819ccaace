"""Example plugin: edits request and response headers from its configuration.

The Python version of plugins/header-modifier (Rust), with the same config
keys and the same edits in the same order. Config keys, under `request.`
or `response.`:

- `add.<Header-Name> = "value"`: append a header;
- `set.<Header-Name> = "value"`: replace the header (or append it);
- `remove = "a, b"`: drop these headers.

Removals apply first, then sets, then adds. Only the edits that change
something are made: a header to remove that is absent is left alone, a
header to set that already has exactly that one value is not set again.
"""

from __future__ import annotations

from typing import Union

import warden

# What Rust's `str::trim` and `char::is_whitespace` take as whitespace
# (Unicode White_Space); `str.strip()` and `str.isspace()` also take
# U+001C..U+001F.
WHITESPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"


class Rules:
    """Header edits for one direction (request or response)."""

    def __init__(self, config: warden.Config, prefix: str) -> None:
        #: Headers to append, in config order.
        self.add: list[tuple[str, str]] = []
        #: Headers to set, in config order.
        self.set: list[tuple[str, str]] = []
        #: Header names to remove.
        self.remove: list[str] = []
        for key, value in config.items():
            if not key.startswith(prefix + "."):
                continue
            rest = key[len(prefix) + 1 :]
            op, dot, name = rest.partition(".")
            if not dot and rest == "remove":
                names = (n.strip(WHITESPACE) for n in value.split(","))
                self.remove.extend(n for n in names if n)
            elif dot and op in ("add", "set"):
                if not name or any(c == ":" or c in WHITESPACE for c in name):
                    raise bad_config(key, "invalid header name")
                (self.add if op == "add" else self.set).append((name, value))
            else:
                raise bad_config(key, "expected `add.<name>`, `set.<name>` or `remove`")

    def apply(self, target: Union[warden.Request, warden.Response]) -> bool:
        """Applies the rules to `target`, changing only what differs;
        returns whether anything changed."""
        changed = False
        for name in self.remove:
            if target.header_values(name):
                changed |= target.remove_header(name)
        for name, value in self.set:
            if target.header_values(name) != [value]:
                target.set_header(name, value)
                changed = True
        for name, value in self.add:
            target.append_header(name, value)
            changed = True
        return changed


def bad_config(key: str, why: str) -> warden.PluginError:
    return warden.PluginError("bad-config", f"config key `{key}`: {why}")


@warden.plugin
class HeaderModifier(warden.Plugin):
    """Applies configured header edits to requests and responses."""

    def __init__(self, config: warden.Config) -> None:
        for key in config:
            if not key.startswith(("request.", "response.")):
                raise warden.PluginError(
                    "bad-config", f"config key `{key}` must start with `request.` or `response.`"
                )
        self.request = Rules(config, "request")
        self.response = Rules(config, "response")

    def on_request(self, ctx: warden.CallContext, req: warden.Request) -> warden.Action:
        self.request.apply(req)
        return warden.CONTINUE

    def on_response(self, ctx: warden.CallContext, req: warden.Request, resp: warden.Response) -> warden.Action:
        self.response.apply(resp)
        return warden.CONTINUE
