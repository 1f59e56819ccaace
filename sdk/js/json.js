// JSON bodies: `parseObject` checks that a body is one well-formed JSON
// object, exactly as the Rust SDK's scanner does (crates/warden-pdk/src/json/
// scan.rs: the same checks, the same error positions), and returns it
// parsed; `isJson` tells JSON content types.
//
// JavaScript runs interpreted inside a plugin, so byte-by-byte work is slow:
// a well-formed body is checked by the engine's own (compiled) decoder and
// JSON.parse plus a few string searches, and only a body that fails those,
// or that they cannot judge, goes through the exact scanner, which finds the
// first error and its position.

const fatalDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Why a body is not an acceptable JSON object, and where (1-based, in bytes). */
export class JsonError extends Error {
  /**
   * The error for a problem at byte `index` of `input` (`input.length` if
   * the input ended too early). Like serde_json, the column is that of the
   * offending byte, or of the last byte when the input ended early.
   */
  constructor(kind, input, index) {
    const end = Math.min(index + 1, input.length);
    const lineStart = end > 0 ? input.lastIndexOf(0x0a, end - 1) + 1 : 0;
    let line = 1;
    for (let i = input.indexOf(0x0a); i >= 0 && i < lineStart; i = input.indexOf(0x0a, i + 1)) line++;
    const what = { "not-an-object": "expected a JSON object", syntax: "invalid JSON", "too-deep": "JSON nested too deeply" };
    super(`${what[kind]} at line ${line} column ${end - lineStart}`);
    this.name = "JsonError";
    /** `"not-an-object"`, `"syntax"` or `"too-deep"`. */
    this.kind = kind;
    /** The line of the problem, from 1. */
    this.line = line;
    /** The column (in bytes) of the problem, from 1. */
    this.column = end - lineStart;
  }
}

/**
 * `body` (bytes or text) parsed, if it is exactly one JSON object with only
 * whitespace (space, tab, LF, CR) around it, as RFC 8259 has it: valid
 * strings (escapes, surrogate escapes in pairs, no control characters, valid
 * UTF-8), numbers and literals, objects and arrays nested at most `maxDepth`
 * levels (the body being level 1). A name that appears twice keeps its last
 * value. Throws a `JsonError` otherwise, for the first problem in the body.
 */
export function parseObject(body, maxDepth = 32) {
  warm;
  const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
  let value, utf8 = false;
  try {
    const text = fatalDecoder.decode(bytes);
    utf8 = true;
    value = JSON.parse(text);
    // JSON.parse takes lone surrogate escapes; the scanner judges any surrogate escape.
    if (isObject(value) && !(text.includes("\\u") && /\\u[dD][89a-fA-F]/.test(text)) && !deeperThan(text, maxDepth)) {
      return value;
    }
  } catch {
    // Not UTF-8 or not JSON: the scanner says where.
  }
  scan(bytes, maxDepth, utf8 ? bytes.length : firstInvalidUtf8(bytes));
  if (value === undefined) throw new RangeError("JSON.parse cannot read this body");
  return value;
}

/** Whether `value` is a JSON object (not an array, not null). */
function isObject(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Whether objects and arrays in the well-formed JSON `text` nest deeper than
 * `max`; true (the scanner decides) outside 1 to 1000 levels. Measured on
 * the text, not on the parsed value, which keeps only the last of repeated
 * names: with escapes dropped and strings emptied, objects become arrays
 * (`{"a":[1]}` becomes `["",[1]]`), which JSON.parse reads with nothing
 * collapsed. Printed with one space of indentation per level, a member of
 * a level-`n` array starts its line with `n` spaces: level `max + 1` has
 * lines with more than `max` spaces, or, if empty, ends a line with `max`
 * of them.
 */
function deeperThan(text, max) {
  if (max < 1 || max > 1000) return true;
  // Fewer brackets than levels allowed: no need to look closer.
  if (text.split("{").length + text.split("[").length - 2 <= max) return false;
  const parts = (text.includes("\\") ? text.replace(/\\./g, "") : text).split('"');
  for (let i = 1; i < parts.length; i += 2) parts[i] = "";
  const arrays = parts.join('"').replaceAll("{", "[").replaceAll("}", "]").replaceAll(":", ",");
  const printed = JSON.stringify(JSON.parse(arrays), null, 1);
  return printed.includes("\n" + " ".repeat(max)) && new RegExp(`^ {${max}}(?: |.*\\[\\],?$)`, "m").test(printed);
}

/**
 * Whether a content type is JSON: `application/json` or
 * `application/<something>+json`, with any parameters, in any case.
 */
export function isJson(contentType) {
  const essence = trim(contentType.split(";")[0]);
  const slash = essence.indexOf("/");
  if (slash < 0) return false;
  const sub = lowerAscii(essence.slice(slash + 1));
  return (
    lowerAscii(essence.slice(0, slash)) === "application" &&
    (sub === "json" || (sub.length > 5 && sub.endsWith("+json")))
  );
}

/** `text` without leading and trailing Unicode white space, as Rust's `str::trim`. */
function trim(text) {
  return text.replace(/^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g, "");
}

/** `text` with its ASCII letters lowercased (and nothing else changed). */
function lowerAscii(text) {
  return text.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

// The byte after a `\` in a one-letter escape: " \ / b f n r t.
const SHORT_ESCAPES = new Set([0x22, 0x5c, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74]);

/** The value of the hex digit `c`, or -1. */
function hex(c) {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  c |= 0x20;
  return c >= 0x61 && c <= 0x66 ? c - 0x57 : -1;
}

/** How many bytes the checked string content `b[start..end]` decodes to. */
function decodedLength(b, start, end) {
  let i = start, length = 0;
  while (i < end) {
    if (b[i] !== 0x5c) {
      length++;
      i++;
    } else if (b[i + 1] !== 0x75) {
      length++;
      i += 2;
    } else {
      const code = (hex(b[i + 2]) << 12) | (hex(b[i + 3]) << 8) | (hex(b[i + 4]) << 4) | hex(b[i + 5]);
      if (code >= 0xd800 && code <= 0xdbff) [length, i] = [length + 4, i + 12];
      else [length, i] = [length + (code < 0x80 ? 1 : code < 0x800 ? 2 : 3), i + 6];
    }
  }
  return length;
}

/** Control characters, which strings may not hold. */
const CONTROL = /[\x00-\x1f]/g;

/**
 * String content the scanner may skip: anything but `"`, `\` and control
 * characters, and escapes other than surrogate escapes (bad UTF-8 is
 * reported at the closing quote, so non-ASCII bytes are skipped too).
 */
const CONTENT = /[^"\\\x00-\x1f]*(?:\\(?:["\\/bfnrt]|u(?![dD][89a-fA-F])[0-9a-fA-F]{4})[^"\\\x00-\x1f]*)*/y;

/**
 * Runs of array elements (or object members), each followed by a comma, for
 * the scanner to skip in one native step: `runs(ascii, levels)` matches
 * elements that are strings, numbers and literals, and, if `levels` allows,
 * arrays and objects of those (1), and of those again (2). What they match
 * is valid by the scanner's rules, and what they stop at (a deeper value,
 * the last element, anything wrong) the scanner reads itself. Strings hold
 * no surrogate escapes (the scanner checks those), and non-ASCII bytes only
 * if the whole body is UTF-8 (`ascii` false).
 */
const runs = (() => {
  const cache = new Map();
  const ws = "[ \\t\\n\\r]*";
  return (ascii, levels) => {
    const key = `${ascii} ${levels}`;
    if (!cache.has(key)) {
      const chars = `[^"\\\\\\x00-\\x1f${ascii ? "\\x80-\\xff" : ""}]*`;
      const string = `"${chars}(?:\\\\(?:["\\\\/bfnrt]|u(?![dD][89a-fA-F])[0-9a-fA-F]{4})${chars})*"`;
      let value = `(?:${string}|-?(?:0|[1-9][0-9]*)(?:\\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false|null)`;
      for (let level = 0; level < levels; level++) {
        const list = (item) => `${ws}(?:${item}${ws}(?:,${ws}${item}${ws})*)?`;
        value = `(?:${value}|\\[${list(value)}\\]|\\{${list(`${string}${ws}:${ws}${value}`)}\\})`;
      }
      cache.set(key, {
        elements: new RegExp(`(?:${ws}${value}${ws},)*`, "y"),
        members: new RegExp(`(?:${ws}${string}${ws}:${ws}${value}${ws},)*`, "y"),
      });
    }
    return cache.get(key);
  };
})();

/**
 * Where the first invalid UTF-8 sequence in `bytes` starts (as Rust's
 * `Utf8Error::valid_up_to` has it). The decoder is native, so this bisects
 * for the shortest prefix it refuses, then steps back over the incomplete
 * sequence that ended there, if any.
 */
function firstInvalidUtf8(bytes) {
  const refuses = (length) => {
    try {
      new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes.subarray(0, length), { stream: true });
      return false;
    } catch {
      return true;
    }
  };
  let [low, high] = [0, bytes.length];
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (refuses(mid + 1)) high = mid;
    else low = mid + 1;
  }
  // Byte `low` is the first one the decoder refuses: the start of a bad
  // sequence, or the byte after an incomplete one.
  for (let start = low - 1; start >= Math.max(0, low - 3); start--) {
    const c = bytes[start];
    if (c >= 0xc0) return start + (c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2) > low ? start : low;
    if (c < 0x80) break;
  }
  return low;
}

/**
 * Checks that `b` is exactly one JSON object (whitespace around it) nested at
 * most `maxDepth` levels; throws a `JsonError` for the first problem. One
 * pass, no recursion; string contents are skipped with native searches.
 * `invalid` is where the first invalid UTF-8 sequence starts (`b.length` if
 * none).
 */
function scan(b, maxDepth, invalid) {
  const n = b.length;
  const syntax = (at) => new JsonError("syntax", b, at);
  // The bytes as a string, one character per byte, for regex searches; built when first needed.
  let text;
  const binary = () => {
    if (text === undefined) {
      text = "";
      for (let i = 0; i < n; i += 8192) text += String.fromCharCode.apply(null, b.subarray(i, i + 8192));
    }
    return text;
  };
  const ascii = invalid < n;
  /** The end of what the sticky regex `run` matches from `i` (`i` if the engine gives up). */
  const skip = (run, i) => {
    run.lastIndex = i;
    try {
      return run.test(binary()) ? run.lastIndex : i;
    } catch {
      return i;
    }
  };
  // The next backslash and control character at or after where a string is
  // read, kept across strings (searched again only once passed).
  let backslash = -1, control = -1;

  /** The first byte from `from` on that a string cannot skip over: `\` or a control character (`n` if none). */
  const nextSpecial = (from) => {
    if (backslash < from) {
      backslash = b.indexOf(0x5c, from);
      if (backslash < 0) backslash = n;
    }
    if (control < from) {
      CONTROL.lastIndex = from;
      control = CONTROL.exec(binary())?.index ?? n;
    }
    return backslash < control ? backslash : control;
  };

  /** Skips the string whose opening quote is at `i`; the index after its closing quote. */
  const string = (i) => {
    let j = i + 1;
    for (;;) {
      // Valid content natively, to the first byte that needs a look.
      j = skip(CONTENT, j);
      const c = b[j];
      if (c === 0x22) {
        // Bad UTF-8 is reported only at the closing quote, as serde_json does
        // (a later bad escape first), with its column: the quote's, less the
        // decoded length from the bad byte on.
        if (invalid > i && invalid < j) throw syntax(j - decodedLength(b, invalid, j));
        return j + 1;
      }
      if (c === undefined) throw syntax(n);
      if (c === 0x5c) j = escape(j);
      else if (c < 0x20) throw syntax(j);
      else j++; // The regex engine gave up: a byte at a time.
    }
  };

  /**
   * Skips the string at `i`, like `string`, but first tries the common case
   * natively: its closing quote comes before any byte that needs a look.
   */
  const quick = (i) => {
    const quote = b.indexOf(0x22, i + 1);
    return quote > i && quote < nextSpecial(i + 1) && !(invalid > i && invalid < quote) ? quote + 1 : string(i);
  };

  /**
   * Checks the escape whose backslash is at `i`; the index after it. A `\u`
   * escape of a UTF-16 surrogate must be a leading one followed directly by
   * a trailing one.
   */
  const escape = (i) => {
    const c = b[i + 1];
    if (c === undefined) throw syntax(n);
    if (SHORT_ESCAPES.has(c)) return i + 2;
    if (c !== 0x75) throw syntax(i + 1);
    const code = hexEscape(i + 2);
    if (code >= 0xdc00 && code <= 0xdfff) throw syntax(i + 5);
    if (code < 0xd800 || code > 0xdbff) return i + 6;
    if (i + 6 >= n) throw syntax(n);
    if (b[i + 6] !== 0x5c) throw syntax(i + 6);
    if (i + 7 >= n) throw syntax(n);
    if (b[i + 7] !== 0x75) throw syntax(i + 7);
    const low = hexEscape(i + 8);
    if (low >= 0xdc00 && low <= 0xdfff) return i + 12;
    throw syntax(i + 11);
  };

  /** The four hex digits at `at` (reported at the last of them if bad). */
  const hexEscape = (at) => {
    if (at + 4 > n) throw syntax(n);
    let code = 0;
    for (let k = 0; k < 4; k++) {
      const d = hex(b[at + k]);
      if (d < 0) throw syntax(at + 3);
      code = (code << 4) | d;
    }
    return code;
  };

  /** An object member's name and the `:` after it, whitespace skipped; the index after the `:`. */
  const name = (i) => {
    let c;
    while ((c = b[i]) === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
    if (c !== 0x22) throw syntax(i);
    i = quick(i);
    while ((c = b[i]) === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
    if (c !== 0x3a) throw syntax(i);
    return i + 1;
  };

  // The loop below is the hot path: it keeps to variables no function
  // above captures (`u` is `b`), which the interpreter reads faster.
  const u = b;
  let k = 0, c;
  while ((c = u[k]) === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) k++;
  if (c !== 0x7b) throw new JsonError("not-an-object", u, k);
  // The containers open around the next value, innermost last: true for an
  // array; `inArray` is the innermost.
  const open = [];
  let inArray = false;
  for (;;) {
    // A value is expected here.
    while ((c = u[k]) <= 0x20 && (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09)) k++;
    if (c === 0x7b || c === 0x5b) {
      if (open.length >= maxDepth) throw new JsonError("too-deep", u, k);
      const opener = c;
      k++;
      while ((c = u[k]) <= 0x20 && (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09)) k++;
      // `}` and `]` are two after `{` and `[`.
      if (c === opener + 2) {
        k++;
      } else {
        inArray = opener === 0x5b;
        open.push(inArray);
        const run = runs(ascii, Math.min(2, maxDepth - open.length));
        k = inArray ? skip(run.elements, k) : name(skip(run.members, k));
        continue;
      }
    } else if (c === 0x22) {
      k = quick(k);
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
      if (c === 0x2d) c = u[++k];
      if (c === 0x30) {
        c = u[++k];
        if (c >= 0x30 && c <= 0x39) throw syntax(k);
      } else {
        if (!(c >= 0x30 && c <= 0x39)) throw syntax(k);
        while ((c = u[++k]) >= 0x30 && c <= 0x39);
      }
      if (c === 0x2e) {
        if (!((c = u[++k]) >= 0x30 && c <= 0x39)) throw syntax(k);
        while ((c = u[++k]) >= 0x30 && c <= 0x39);
      }
      if (c === 0x65 || c === 0x45) {
        c = u[++k];
        if (c === 0x2b || c === 0x2d) c = u[++k];
        if (!(c >= 0x30 && c <= 0x39)) throw syntax(k);
        while ((c = u[++k]) >= 0x30 && c <= 0x39);
      }
    } else {
      const word = c === 0x74 ? "true" : c === 0x66 ? "false" : c === 0x6e ? "null" : "";
      if (word === "") throw syntax(k);
      for (let w = 0; w < word.length; w++, k++) if (u[k] !== word.charCodeAt(w)) throw syntax(k);
    }
    // A value ended: close containers until one continues, or stop.
    for (;;) {
      while ((c = u[k]) <= 0x20 && (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09)) k++;
      if (c === 0x2c && open.length > 0) {
        const run = runs(ascii, Math.min(2, maxDepth - open.length));
        k = inArray ? skip(run.elements, k + 1) : name(skip(run.members, k + 1));
        break;
      }
      if (open.length === 0) {
        if (k !== n) throw syntax(k);
        return;
      }
      if (c !== (inArray ? 0x5d : 0x7d)) throw syntax(k);
      k++;
      open.pop();
      inArray = open[open.length - 1];
    }
  }
}

/**
 * Runs the checks once while `warden build` snapshots the engine, so that
 * the snapshot holds them compiled and no call pays for that (`warm` is
 * undefined). `parseObject` reads `warm`, so a plugin that never calls
 * `parseObject` leaves both out of its bundle.
 */
function warmUp() {
  for (const sample of ['{"a":[1,-2.5e3,true,false,null,{}],"b":"\\n\\u00e9"}', '{"a":1,}']) {
    try {
      parseObject(sample);
    } catch {
      // The second one is malformed on purpose.
    }
  }
}
var warm = /* @__PURE__ */ warmUp();
