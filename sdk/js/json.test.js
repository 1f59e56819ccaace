// Tests of json.js, with the Rust scanner's own cases
// (crates/warden-pdk/src/json/scan.rs): `node --test sdk/js/` (or `npm run check`).

import assert from "node:assert/strict";
import { test } from "node:test";

import { isJson, JsonError, parseObject } from "./json.js";

const bytes = (text) => (typeof text === "string" ? Buffer.from(text, "latin1") : text);

/** `[kind, line, column]` of the error for `input`, or `"ok"`. */
function outcome(input, maxDepth = 32) {
  try {
    parseObject(bytes(input), maxDepth);
    return "ok";
  } catch (error) {
    assert.ok(error instanceof JsonError, String(error));
    return [error.kind, error.line, error.column];
  }
}

test("accepts valid objects", () => {
  for (const input of [
    "{}",
    " \t\r\n{ \t\r\n} \t\r\n",
    '{"a":-0,"b":0.5e-7,"c":1E+2,"d":-12.340e10,"e":1e400,"f":123456789012345678901234567890}',
    '{"a":true,"b":false,"c":null,"d":[],"e":{},"f":[{"g":[1,"x"]}]}',
    '{"s":"\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\\u00e9\\ud83d\\ude00"}',
    Buffer.from('{"é":"😀"}', "utf8"),
  ]) {
    assert.equal(outcome(input), "ok", String(input));
  }
  assert.deepEqual(parseObject('{"a":1,"a":null,"b\\u005f":[2]}'), { a: null, b_: [2] });
});

test("refuses what is not an object", () => {
  for (const input of ["", "  \n", "\x0c{}", "[1]", '"s"', "1", "null", "x", Buffer.from("\ufeff{}", "utf8"), "[{}]"]) {
    assert.equal(outcome(input)[0], "not-an-object", JSON.stringify(String(input)));
  }
});

test("reports positions like serde_json", () => {
  for (const [input, line, column] of [
    ['{"a":\n tru}', 2, 5],
    ['{"a":1', 1, 6],
    ['{"a":1\n', 2, 0],
    ['{"a":"\\q"}', 1, 8],
    ['{"a":"\\u12G4"}', 1, 12],
    ['{"a":"\xff\x01"}', 1, 8],
    ['{"a":"\xff"}', 1, 7],
    ['{"a":[1,]}', 1, 9],
    ['{"a":"\\ud800\\u0041"}', 1, 18],
    ['{"a":1}}', 1, 8],
    ['{"a":"\xe2\x82"}', 1, 7],
    ['{"a":"\\n\xff\\u00e9x"}', 1, 13],
    ['{"a":1} x', 1, 9],
    ['{"user_id": secret}', 1, 13],
    ['{"a":"\\ud800"}', 1, 13],
    ['{"a":01}', 1, 7],
  ]) {
    assert.deepEqual(outcome(input), ["syntax", line, column], JSON.stringify(input));
  }
  assert.deepEqual(outcome("\n\n["), ["not-an-object", 3, 1]);
});

test("limits nesting", () => {
  assert.equal(outcome("{}", 0)[0], "too-deep");
  assert.equal(outcome("{}", 1), "ok");
  assert.equal(outcome('{"a":[]}', 1)[0], "too-deep");
  assert.equal(outcome('{"a":{"b":[1]}}', 3), "ok");
  assert.equal(outcome('{"a":{"b":[[1]]}}', 3)[0], "too-deep");
  assert.equal(outcome('{"a":[{"b":{}}]}', 3)[0], "too-deep");
  // A repeated name does not hide a deep value; a syntax error found first wins.
  assert.equal(outcome('{"a":[[1]],"a":1}', 2)[0], "too-deep");
  assert.equal(outcome('{"a":x,"b":[[[]]]}', 2)[0], "syntax");
  assert.equal(outcome('{"b":[[[]]],"a":x}', 2)[0], "too-deep");
  const n = 100_000;
  const deep = `{"a":${'[{"b":'.repeat(n)}1${"}]".repeat(n)}}`;
  assert.equal(outcome(deep, 100)[0], "too-deep");
  assert.equal(outcome(`{"a":${'[{"b":'.repeat(n)}1]]${"}]".repeat(n - 1)}}`, 2 ** 32 - 1)[0], "syntax");
});

test("tells JSON content types", () => {
  assert.ok(isJson("application/json") && isJson("Application/JSON; charset=utf-8"));
  assert.ok(isJson("application/vnd.api+json") && isJson(" application/json "));
  for (const ct of ["text/plain", "application/jsonp", "application/+json", "json", "text/json", "", "application/"]) {
    assert.ok(!isJson(ct), ct);
  }
});
