"""A strict JSON checker that returns the top-level fields of an object.

A port of the Rust SDK's `warden_pdk::json::fields`: one pass, no recursion
(nesting is a list used as a stack), no tree of values. It checks the whole
text against RFC 8259 and reports the first problem with its position the
way serde_json does, so plugins in every language refuse the same bodies
with the same message.

Python steps are slow, so the scanner takes as few as it can: a container
is first handed to the standard library's C decoder, which skips a valid
one in one call (the checks it does not make, surrogate escapes in pairs
and the depth, are made on its result); runs of plain fields and array
items and of plain string bytes are matched by regular expressions. Only
where these fast paths fail, that is around an error, does it go byte by
byte, so errors are reported exactly where the Rust scanner reports them.
"""

from __future__ import annotations

import json as _json
import re
from typing import NamedTuple

__all__ = ["Field", "JsonError", "fields", "is_json"]

#: `JsonError.kind` of input that is empty or whose first byte after
#: whitespace is not `{`.
NOT_AN_OBJECT = "not-an-object"
#: `JsonError.kind` of malformed JSON: a bad token, a bad string, trailing bytes...
SYNTAX = "syntax"
#: `JsonError.kind` of objects and arrays nested deeper than the limit.
TOO_DEEP = "too-deep"

# Possessive `*+` and `?+` (Python 3.11+) never backtrack, which makes
# these several times faster.
_WHITESPACE = re.compile(rb"[ \t\n\r]*+")
# Bytes a string holds as they are: not `"`, `\`, a control character or non-ASCII.
_PLAIN = re.compile(rb'[^"\\\x00-\x1f\x80-\xff]*+')
_NON_ASCII = re.compile(rb"[\x80-\xff]*+")
_DIGITS = re.compile(rb"[0-9]*+")
_HEX4 = re.compile(rb"[0-9a-fA-F]{4}")
_SHORT_ESCAPES = frozenset(b'"\\/bfnrt')
# Fast paths. A scalar that is complete and valid when a `,` follows it
# (strings only of plain ASCII bytes, without escapes).
_SCALAR = rb'(?:-?+(?:0|[1-9][0-9]*+)(?:\.[0-9]++)?+(?:[eE][+-]?+[0-9]++)?+|true|false|null|"[^"\\\x00-\x1f\x80-\xff]*+")'
# A run of array items `scalar ,`.
_ITEMS = re.compile(rb"(?:" + _SCALAR + rb"[ \t\n\r]*+,[ \t\n\r]*+)*+")
# One top-level field `"name" : scalar ,` with a plain name.
_FIELD = re.compile(rb'[ \t\n\r]*+"([^"\\\x00-\x1f\x80-\xff]*+)"[ \t\n\r]*+:[ \t\n\r]*+(' + _SCALAR + rb")[ \t\n\r]*+,")
# A plain name and its `:`.
_NAME = re.compile(rb'[ \t\n\r]*+"([^"\\\x00-\x1f\x80-\xff]*+)"[ \t\n\r]*+:[ \t\n\r]*+')
# A surrogate escape (which the C decoder does not check).
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")


def _refuse(constant: str) -> None:
    raise ValueError(constant)


# The C decoder, refusing `NaN` and `Infinity`.
_DECODER = _json.JSONDecoder(parse_constant=_refuse)


class Field(NamedTuple):
    """One top-level field of a JSON object."""

    #: The name, unescaped.
    name: str
    #: The name exactly as written, with its quotes and escapes.
    raw_name: str
    #: The value as raw JSON text, exactly as written (without the
    #: whitespace around it), e.g. `null`, `"a\\n"` or `[1, 2]`.
    value: str


class JsonError(ValueError):
    """A refused input: what is wrong (`kind`) and where (`line`, `column`).

    Line and column are 1-based and count bytes, the way serde_json reports
    them: the column is that of the offending byte, or of the last byte when
    the input ended too early.
    """

    def __init__(self, kind: str, line: int, column: int) -> None:
        what = {NOT_AN_OBJECT: "expected a JSON object", TOO_DEEP: "JSON nested too deeply"}.get(kind, "invalid JSON")
        super().__init__(f"{what} at line {line} column {column}")
        #: `NOT_AN_OBJECT`, `SYNTAX` or `TOO_DEEP`.
        self.kind = kind
        #: The line of the problem, from 1.
        self.line = line
        #: The column (in bytes) of the problem, from 1.
        self.column = column

    @classmethod
    def at(cls, kind: str, data: bytes, index: int) -> JsonError:
        """The error for a problem at byte `index` of `data` (`len(data)`
        if the input ended too early)."""
        end = min(index + 1, len(data))
        line_start = data.rfind(b"\n", 0, end) + 1
        return cls(kind, 1 + data.count(b"\n", 0, line_start), end - line_start)


def fields(body: bytes, max_depth: int) -> list[Field]:
    """The top-level fields of `body`, in order, if `body` is exactly one
    JSON object with only whitespace (space, tab, LF, CR) around it.

    Objects and arrays may nest at most `max_depth` levels, the body object
    being level 1. A name that appears twice gives two fields. Raises
    `JsonError` otherwise.

    >>> [f.name for f in fields(b'{"a": 1, "b\\\\u0021": [2]}', 32)]
    ['a', 'b!']
    """
    s = _Scanner(bytes(body), max_depth)
    data = s.data
    s.skip_whitespace()
    if s.peek() != 0x7B:  # {
        raise s.error(NOT_AN_OBJECT, s.pos)
    if max_depth <= 0:
        raise s.error(TOO_DEEP, s.pos)
    s.pos += 1
    found: list[Field] = []
    s.skip_whitespace()
    if s.peek() == 0x7D:  # }
        s.pos += 1
    else:
        while True:
            # Fast path: plain fields `"name": scalar,`.
            m = _FIELD.match(data, s.pos)
            while m:
                found.append(Field(m[1].decode(), '"' + m[1].decode() + '"', m[2].decode()))
                s.pos = m.end()
                m = _FIELD.match(data, s.pos)
            name, raw_name = s.name()
            s.skip_whitespace()
            start = s.pos
            s.value(1)
            found.append(Field(name, raw_name, s.text(start, s.pos)))
            s.skip_whitespace()
            b = s.peek()
            if b == 0x2C:  # ,
                s.pos += 1
            elif b == 0x7D:
                s.pos += 1
                break
            else:
                raise s.syntax(s.pos)
            s.skip_whitespace()
    s.end()
    return found


def is_json(content_type: str) -> bool:
    """Whether a content type is JSON: `application/json` or
    `application/<something>+json`, with any parameters, in any case.

    >>> is_json("Application/Problem+JSON; charset=utf-8"), is_json("text/json")
    (True, False)
    """
    essence = content_type.split(";", 1)[0].strip(_RUST_WHITESPACE).encode()
    kind, slash, sub = essence.partition(b"/")
    if not slash:
        return False
    sub = sub.lower()
    return kind.lower() == b"application" and (sub == b"json" or len(sub) > 5 and sub.endswith(b"+json"))


# What Rust's `str::trim` removes (Unicode White_Space), which `str.strip()`
# does not quite match (it also strips U+001C to U+001F).
_RUST_WHITESPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"


class _Scanner:
    __slots__ = ("data", "pos", "max_depth", "latin1")

    def __init__(self, data: bytes, max_depth: int) -> None:
        self.data = data
        #: The next byte to read.
        self.pos = 0
        self.max_depth = max_depth
        # For the C decoder: the input with one character per byte, so that
        # positions in it are byte positions, if it is all UTF-8 and nests
        # too little to be refused as too deep (so the decoder's result
        # needs no depth check) or to overflow the stack.
        self.latin1: str | None = None
        if _depth_bound(data, min(max_depth, _DECODER_DEPTH)) <= min(max_depth, _DECODER_DEPTH):
            try:
                data.decode()
                self.latin1 = data.decode("latin-1")
            except UnicodeDecodeError:
                pass

    def skip_container(self) -> bool:
        """Fast path: skips the container at `pos` if it is valid."""
        if self.latin1 is None:
            return False
        try:
            end = _DECODER.raw_decode(self.latin1, self.pos)[1]
        except ValueError:  # malformed (or `NaN`, or a number too long to convert)
            return False
        if _SURROGATE.search(self.data, self.pos, end):
            return False
        self.pos = end
        return True

    def peek(self) -> int | None:
        return self.data[self.pos] if self.pos < len(self.data) else None

    def error(self, kind: str, index: int) -> JsonError:
        return JsonError.at(kind, self.data, index)

    def syntax(self, index: int) -> JsonError:
        """A syntax error at byte `index` (`len(data)` for "ended too early")."""
        return JsonError.at(SYNTAX, self.data, index)

    def skip_whitespace(self) -> None:
        self.pos = _WHITESPACE.match(self.data, self.pos).end()

    def end(self) -> None:
        """Only whitespace may follow."""
        self.skip_whitespace()
        if self.pos != len(self.data):
            raise self.syntax(self.pos)

    def text(self, start: int, end: int) -> str:
        # Checked already: valid UTF-8.
        return self.data[start:end].decode()

    def name(self) -> tuple[str, str]:
        """An object member's name and the `:` after it (whitespace skipped
        before and after); `(unescaped, as written)`."""
        plain = _NAME.match(self.data, self.pos)
        if plain:  # Fast path.
            self.pos = plain.end()
            name = plain[1].decode()
            return name, f'"{name}"'
        self.skip_whitespace()
        if self.peek() != 0x22:  # "
            raise self.syntax(self.pos)
        start = self.pos
        escaped = self.string()
        raw = self.text(start, self.pos)
        # The stdlib reads a checked string exactly as JSON means it.
        name = _json.loads(raw) if escaped else raw[1:-1]
        self.skip_whitespace()
        if self.peek() != 0x3A:  # :
            raise self.syntax(self.pos)
        self.pos += 1
        return name, raw

    def value(self, depth: int) -> None:
        """Checks one value (whitespace before it skipped), nested `depth`
        levels deep (the level of the container holding it; 0 at the top)."""
        # The containers open inside this value, innermost last: True for an array.
        open_: list[bool] = []
        while True:
            # A value is expected here.
            self.skip_whitespace()
            b = self.peek()
            if b == 0x7B or b == 0x5B:  # { [
                if depth + len(open_) >= self.max_depth:
                    raise self.error(TOO_DEEP, self.pos)
                # Fast path: a whole valid container at once.
                if not self.skip_container():
                    self.pos += 1
                    self.skip_whitespace()
                    if self.peek() == (0x7D if b == 0x7B else 0x5D):
                        self.pos += 1
                    else:
                        open_.append(b == 0x5B)
                        if b == 0x7B:
                            self.name()
                        else:
                            self.pos = _ITEMS.match(self.data, self.pos).end()
                        continue
            elif b == 0x22:
                self.string()
            elif b == 0x2D or b is not None and 0x30 <= b <= 0x39:  # - 0-9
                self.number()
            elif b == 0x74:  # t
                self.literal(b"true")
            elif b == 0x66:  # f
                self.literal(b"false")
            elif b == 0x6E:  # n
                self.literal(b"null")
            else:
                raise self.syntax(self.pos)
            # A value ended: close containers until one continues, or stop.
            while True:
                if not open_:
                    return
                in_array = open_[-1]
                self.skip_whitespace()
                b = self.peek()
                if b == 0x2C:
                    self.pos += 1
                    if in_array:
                        # Fast path: plain items `scalar,`.
                        self.pos = _ITEMS.match(self.data, self.pos).end()
                    else:
                        self.name()
                    break
                if b != (0x5D if in_array else 0x7D):
                    raise self.syntax(self.pos)
                self.pos += 1
                open_.pop()

    def literal(self, word: bytes) -> None:
        """`true`, `false` or `null`."""
        for expected in word:
            if self.peek() != expected:
                raise self.syntax(self.pos)
            self.pos += 1

    def some_digits(self) -> None:
        """At least one digit."""
        end = _DIGITS.match(self.data, self.pos).end()
        if end == self.pos:
            raise self.syntax(self.pos)
        self.pos = end

    def number(self) -> None:
        """`-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)?`"""
        if self.peek() == 0x2D:
            self.pos += 1
        if self.peek() == 0x30:
            self.pos += 1
            b = self.peek()
            if b is not None and 0x30 <= b <= 0x39:
                raise self.syntax(self.pos)
        else:
            self.some_digits()
        if self.peek() == 0x2E:  # .
            self.pos += 1
            self.some_digits()
        if self.peek() in (0x65, 0x45):  # e E
            self.pos += 1
            if self.peek() in (0x2B, 0x2D):  # + -
                self.pos += 1
            self.some_digits()

    def string(self) -> bool:
        """Checks the string whose opening quote is at `pos` and moves past
        its closing quote; returns whether it has escapes."""
        data = self.data
        i = self.pos + 1
        escaped = False
        # Where the first bad UTF-8 is: reported only at the closing quote,
        # as serde_json does (a later bad escape is reported first).
        bad_utf8: int | None = None
        while True:
            i = _PLAIN.match(data, i).end()
            if i >= len(data):
                raise self.syntax(len(data))
            b = data[i]
            if b == 0x22:
                if bad_utf8 is not None:
                    # serde_json's column: the quote's, less the length of
                    # the decoded text from the bad byte on.
                    raise self.syntax(i - _decoded_len(data[bad_utf8:i]))
                self.pos = i + 1
                return escaped
            if b == 0x5C:  # \
                escaped = True
                i = self.escape(i)
            elif b < 0x20:
                raise self.syntax(i)
            else:
                run = _NON_ASCII.match(data, i).end()
                if bad_utf8 is None:
                    try:
                        data[i:run].decode()
                    except UnicodeDecodeError as e:
                        bad_utf8 = i + e.start
                i = run

    def escape(self, i: int) -> int:
        """Checks the escape whose backslash is at `i`; the index after it.

        A `\\u` escape of a UTF-16 surrogate must be a leading one followed
        directly by a trailing one."""
        data = self.data
        if i + 1 >= len(data):
            raise self.syntax(len(data))
        c = data[i + 1]
        if c in _SHORT_ESCAPES:
            return i + 2
        if c != 0x75:  # u
            raise self.syntax(i + 1)
        code = self.hex_escape(i + 2)
        if 0xDC00 <= code <= 0xDFFF:
            raise self.syntax(i + 5)
        if not 0xD800 <= code <= 0xDBFF:
            return i + 6
        for at, expected in ((i + 6, 0x5C), (i + 7, 0x75)):
            if at >= len(data):
                raise self.syntax(len(data))
            if data[at] != expected:
                raise self.syntax(at)
        if 0xDC00 <= self.hex_escape(i + 8) <= 0xDFFF:
            return i + 12
        raise self.syntax(i + 11)

    def hex_escape(self, at: int) -> int:
        """The four hex digits at `at` (reported at the last of them if bad)."""
        if at + 4 > len(self.data):
            raise self.syntax(len(self.data))
        if not _HEX4.match(self.data, at):
            raise self.syntax(at + 3)
        return int(self.data[at : at + 4], 16)


def _depth_bound(data: bytes, limit: int) -> int:
    """An upper bound of how deeply the brackets of `data` nest outside
    strings (the most that are open at once), or more than `limit`.

    Each pass removes the innermost pairs, which lowers the nesting by at
    most one; what no pass removes is `)...)(...(`."""
    parens = _STRING.sub(b"", data).translate(_PARENS, _NOT_BRACKETS)
    passes = 0
    while passes <= limit:
        shorter = parens.replace(b"()", b"")
        if len(shorter) == len(parens):
            break
        parens, passes = shorter, passes + 1
    return passes + parens.count(b"(")


_STRING = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_PARENS = bytes.maketrans(b"[{]}", b"(())")
# The deepest nesting handed to the C decoder, which recurses (and would
# overflow the WebAssembly stack long before Python's recursion limit).
_DECODER_DEPTH = 100


def _decoded_len(raw: bytes) -> int:
    """How many bytes the string content `raw` (escapes checked) decodes to."""
    i = n = 0
    while i < len(raw):
        if raw[i] != 0x5C:
            n, i = n + 1, i + 1
        elif raw[i + 1] != 0x75:
            n, i = n + 1, i + 2
        else:
            code = int(raw[i + 2 : i + 6], 16)
            if 0xD800 <= code <= 0xDBFF:
                n, i = n + 4, i + 12
            else:
                n, i = n + (1 if code < 0x80 else 2 if code < 0x800 else 3), i + 6
    return n
