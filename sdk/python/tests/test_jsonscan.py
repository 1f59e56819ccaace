"""The JSON scanner against the Rust scanner's own test vectors
(crates/warden-pdk/src/json/scan.rs). Run: python3 -m unittest discover sdk/python/tests"""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from warden.jsonscan import NOT_AN_OBJECT, SYNTAX, TOO_DEEP, JsonError, fields, is_json  # noqa: E402


def kind(data: bytes, max_depth: int = 32):
    try:
        fields(data, max_depth)
        return None
    except JsonError as e:
        return e.kind


def position(data: bytes):
    try:
        fields(data, 32)
    except JsonError as e:
        return e.line, e.column
    raise AssertionError(f"{data!r} was accepted")


class ScannerTest(unittest.TestCase):
    def test_accepts_valid_objects(self):
        for data in [
            b"{}",
            b" \t\r\n{ \t\r\n} \t\r\n",
            b'{"a":1}',
            b'{"":""}',
            b'{"a":-0,"b":0.5e-7,"c":1E+2,"d":-12.340e10,"e":1e400,"f":123456789012345678901234567890}',
            b'{"a":true,"b":false,"c":null}',
            b'{"a":[],"b":[ ],"c":{ },"d":[1,[2,{"e":[]}]],"f":[null,true,"x",{"g":{}}]}',
            rb'{"s":"\" \\ \/ \b \f \n \r \t \u0000 \u00e9 \uD83D\uDE00 \ud83d\ude00 \uFFFF \uE000"}',
            '{"é€😀":"é€😀\x7f\U0010ffff\ufffd"}'.encode(),
            b'{"a":1,"a":2}',
            b'{"a"\n:\n[\n1\n,\n2\n]\n,"b" : { "c" : "d" } }',
        ]:
            self.assertIsNone(kind(data), data)

    def test_refuses_invalid_json(self):
        for data in [
            b"{", b'{"a"}', b'{"a":}', b'{"a":1,}', b"{,}", b'{"a":1 "b":2}', b"{'a':1}", b"{a:1}",
            b'{"a":1}}', b'{"a":1} x', b'{"a":1}\x0c', b"{\x0c}", b'{"a":[1,]}', b'{"a":[1 2]}', b'{"a":[1}',
            b'{"a":{]}', b'{"a":[', b'{"a":\xc3\xa9}', b'{"a":01}', b'{"a":-}', b'{"a":1.}', b'{"a":.5}',
            b'{"a":1e}', b'{"a":+1}', b'{"a":NaN}', b'{"a":Infinity}', b'{"a":-Infinity}', b'{"a":[NaN]}',
            b'{"a":tru}', b'{"a":True}', b'{"a":nulll}', b'{"a":"\\x"}', b'{"a":"\\u12G4"}', b'{"a":"\\ud800"}',
            b'{"a":"\\udc00"}', b'{"a":"\\ud800\\u0041"}', b'{"a":["\\udc00"]}', b'{"a":{"\\ud800":1}}',
            b'{"\\ud800":1}', b'{"a":"\x00"}', b'{"a":"\n"}', b'{"a":["\t"]}', b'{"a":"abc', b'{"a":"\x80"}',
            b'{"a":"\xed\xa0\x80"}', b'{"a":["\xc0\xaf"]}', b'{"a":"\xf4\x90\x80\x80"}', b'{"\xc3":1}',
        ]:
            self.assertEqual(kind(data), SYNTAX, data)

    def test_refuses_other_values_as_not_an_object(self):
        for data in ["", "  \n", "\x0c{}", "[1]", '"s"', "1", "null", "x", "\ufeff{}", "[{}]"]:
            self.assertEqual(kind(data.encode()), NOT_AN_OBJECT, data)

    def test_returns_names_and_raw_values_in_order(self):
        got = fields(' {"b" : 1.50 , "a\\u0021":{"x" : [1, 2]},"c":null,"b":"\\"é\\""} '.encode(), 32)
        self.assertEqual(
            [tuple(f) for f in got],
            [("b", '"b"', "1.50"), ("a!", '"a\\u0021"', '{"x" : [1, 2]}'), ("c", '"c"', "null"), ("b", '"b"', '"\\"é\\""')],
        )

    def test_limits_nesting(self):
        self.assertEqual(kind(b"{}", 0), TOO_DEEP)
        self.assertIsNone(kind(b"{}", 1))
        self.assertEqual(kind(b'{"a":[]}', 1), TOO_DEEP)
        self.assertIsNone(kind(b'{"a":{"b":[1]}}', 3))
        self.assertEqual(kind(b'{"a":{"b":[[1]]}}', 3), TOO_DEEP)
        self.assertEqual(kind(b'{"a":x,"b":[[[]]]}', 2), SYNTAX)
        self.assertEqual(kind(b'{"b":[[[]]],"a":x}', 2), TOO_DEEP)
        n = 100_000
        deep = ('{"a":' + '[{"b":' * n + "1" + "}]" * n + "}").encode()
        self.assertIsNone(kind(deep, 2**32 - 1))
        self.assertEqual(kind(deep, 100), TOO_DEEP)

    def test_reports_positions_like_serde_json(self):
        self.assertEqual(position(b'{"a":\n tru}'), (2, 5))
        self.assertEqual(position(b'{"a":1'), (1, 6))
        self.assertEqual(position(b'{"a":1\n'), (2, 0))
        self.assertEqual(position(b'{"a":"\\q"}'), (1, 8))
        self.assertEqual(position(b'{"a":"\\u12G4"}'), (1, 12))
        self.assertEqual(position(b'{"a":"\xff\x01"}'), (1, 8))
        self.assertEqual(position(b'{"a":"\xff"}'), (1, 7))
        self.assertEqual(position(b'{"a":[1,]}'), (1, 9))
        self.assertEqual(position(b'{"a":"\\ud800\\u0041"}'), (1, 18))
        self.assertEqual(position(b'{"a":"\\n\xff\\u00e9x"}'), (1, 13))
        self.assertEqual(position(b'{"a":1} x'), (1, 9))
        self.assertEqual(str(JsonError.at(NOT_AN_OBJECT, b"\n\n[", 2)), "expected a JSON object at line 3 column 1")

    def test_large_bodies_take_the_fast_paths(self):
        body = json.dumps({"n": list(range(20000)), "o": [{"x": "é"}] * 2000}, ensure_ascii=False).encode()
        self.assertEqual([f.name for f in fields(body, 32)], ["n", "o"])
        self.assertEqual(position(body[:-3]), (1, len(body) - 3))

    def test_json_content_types(self):
        self.assertTrue(is_json("application/json") and is_json("Application/JSON; charset=utf-8"))
        self.assertTrue(is_json("application/vnd.api+json") and is_json(" application/json "))
        for ct in ["text/plain", "application/jsonp", "application/+json", "json", "text/json", "", "application/"]:
            self.assertFalse(is_json(ct), ct)


if __name__ == "__main__":
    unittest.main()
