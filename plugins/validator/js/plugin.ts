// Example plugin, in TypeScript: checks JSON request bodies and refuses the
// bad ones. It behaves exactly like the Rust version (../src/lib.rs): the
// same config keys, refusals and error messages.
//
// Config keys (all optional):
// - `required = "user_id, action"`: top-level fields that must be present and
//   not `null` (at most 64);
// - `methods = "POST, PUT, PATCH"` (the default): the methods whose requests
//   are checked; any other method passes untouched;
// - `max-depth = "32"` (the default; 1 to 100): how deeply objects and arrays
//   may nest, the body itself being depth 1;
// - `max-body = "65536"`: the largest body in bytes (no limit by default).
//
// On a checked method the body must be a JSON object sent with a JSON
// content type: 415 otherwise (or when there is no content type), 413 over
// `max-body`, 400 for an empty body, one that is not a JSON object, malformed
// JSON (with its line and column) or nesting deeper than `max-depth`, 422 for
// missing required fields. The body is read only for a checked method, and
// not when its length, known up front, already decides a 415 or 413.

import { type Config, Continue, definePlugin, isJson, JsonError, parseObject, PluginError, reject } from "warden";

/** Default for `max-depth`. */
const DEFAULT_MAX_DEPTH = 32;
/** Largest `max-depth`. */
const MAX_DEPTH_LIMIT = 100;
/** Most required fields. */
const MAX_REQUIRED = 64;
/** Bytes allowed in an HTTP method (an RFC 9110 token). */
const TOKEN = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]*$/;

/** `text` without leading and trailing Unicode white space, as Rust's `str::trim`. */
const trim = (text: string) => text.replace(/^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g, "");
/** `text` with its ASCII letters uppercased, as Rust's `to_ascii_uppercase`. */
const upperAscii = (text: string) => text.replace(/[a-z]+/g, (m) => m.toUpperCase());

/** A refusal: status and reason. */
type Refusal = [status: number, reason: string];

function badConfig(key: string, why: string): PluginError {
  return new PluginError("bad-config", `config key \`${key}\`: ${why}`);
}

/** The non-empty, trimmed items of a comma-separated list. */
function list(value: string): string[] {
  return value.split(",").map(trim).filter((item) => item !== "");
}

/** `value` as a whole number from `min` to `max` (as Rust's `u64` parse reads it). */
function number(key: string, value: string, min: number, max: number): number {
  const text = trim(value);
  const n = /^\+?[0-9]+$/.test(text) ? Number(text) : NaN;
  if (n >= min && n <= max) return n;
  throw badConfig(key, `\`${value}\` is not a whole number from ${min} to ${max}`);
}

/** Validated settings, built once from the config. */
class Rules {
  /** Top-level fields that must be present and not null, in config order. */
  required: string[] = [];
  /** Checked methods, uppercase. */
  methods = ["POST", "PUT", "PATCH"];
  /** Deepest allowed nesting; the body object is depth 1. */
  maxDepth = DEFAULT_MAX_DEPTH;
  /** Largest body in bytes, if limited. */
  maxBody: number | undefined;

  /** Reads the config; unknown keys and bad values are `bad-config` errors. */
  static fromConfig(config: Config): Rules {
    const rules = new Rules();
    for (const [key, value] of config) {
      switch (key) {
        case "required":
          rules.required = list(value);
          if (rules.required.length > MAX_REQUIRED) throw badConfig(key, `at most ${MAX_REQUIRED} fields`);
          break;
        case "methods": {
          rules.methods = list(value).map(upperAscii);
          const bad = rules.methods.find((m) => !TOKEN.test(m));
          if (bad !== undefined) throw badConfig(key, `\`${bad}\` is not an HTTP method`);
          break;
        }
        case "max-depth":
          rules.maxDepth = number(key, value, 1, MAX_DEPTH_LIMIT);
          break;
        case "max-body":
          rules.maxBody = number(key, value, 1, 2 ** 32 - 1);
          break;
        default:
          throw badConfig(key, "unknown key; allowed keys: required, methods, max-depth, max-body");
      }
    }
    return rules;
  }

  /** Whether requests with `method` are checked. */
  checks(method: string): boolean {
    return this.methods.includes(upperAscii(method));
  }

  /** The checks that need only the body's length, for a request of a checked method. */
  checkLength(contentType: string | undefined, length: number): Refusal | undefined {
    if (length > 0 && !(contentType !== undefined && isJson(contentType))) {
      return [415, "content-type must be application/json"];
    }
    if (this.maxBody !== undefined && length > this.maxBody) {
      return [413, `request body larger than ${this.maxBody} bytes`];
    }
    return undefined;
  }

  /** Checks the body of a request of a checked method. */
  checkBody(contentType: string | undefined, body: Uint8Array): Refusal | undefined {
    const refusal = this.checkLength(contentType, body.length);
    if (refusal) return refusal;
    // Anything but `{` first (after ASCII white space, form feed included) is not an object.
    if (body[body.findIndex((b) => !ASCII_WHITESPACE.has(b))] !== 0x7b) {
      return [400, "request body must be a JSON object"];
    }
    let object: Record<string, unknown>;
    try {
      object = parseObject(body, this.maxDepth);
    } catch (error) {
      if (!(error instanceof JsonError)) throw error;
      if (error.kind === "too-deep") return [400, `JSON body nested deeper than ${this.maxDepth} levels`];
      // Past the check above, "not an object" can only be a form feed before the `{`: a syntax error too.
      return [400, `invalid JSON body at line ${error.line} column ${error.column}`];
    }
    // Present and not null (the last of a repeated name counts); a name
    // listed twice counts once, at its first place, as in the Rust version.
    const present = this.required.map(
      (name, i) => this.required.indexOf(name) === i && Object.hasOwn(object, name) && object[name] !== null,
    );
    const missing = this.required.filter((_, i) => !present[i]);
    if (missing.length === 1) return [422, `missing required field: ${missing[0]}`];
    if (missing.length > 1) return [422, `missing required fields: ${missing.join(", ")}`];
    return undefined;
  }
}

/** Space, tab, LF, form feed, CR. */
const ASCII_WHITESPACE = new Set([0x20, 0x09, 0x0a, 0x0c, 0x0d]);

let rules = new Rules();

export default definePlugin({
  init(config) {
    rules = Rules.fromConfig(config);
  },

  onRequest(_ctx, req) {
    // Only a checked method's body is read: the others stream through.
    if (!rules.checks(req.method())) return Continue;
    const contentType = req.header("content-type");
    // A length known up front can settle 415 and 413 without reading.
    const length = req.bodyLength();
    const refusal =
      (length !== undefined ? rules.checkLength(contentType, length) : undefined) ??
      rules.checkBody(contentType, req.body());
    return refusal ? reject(...refusal) : Continue;
  },
});
