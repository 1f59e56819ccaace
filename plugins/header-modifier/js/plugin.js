// Example plugin, in JavaScript: edits request and response headers from its
// configuration. It behaves exactly like the Rust version (../src/lib.rs).
//
// Config keys, under `request.` or `response.`:
// - `add.<Header-Name> = "value"`: append a header;
// - `set.<Header-Name> = "value"`: replace the header (or append it);
// - `remove = "a, b"`: drop these headers.
//
// Removals apply first, then sets, then adds, and only the edits that change
// something are made: a header to remove that is absent is left alone, a
// header to set that already has exactly that one value is not set again.

import { Continue, definePlugin, PluginError } from "warden";

/** `text` without leading and trailing Unicode white space, as Rust's `str::trim`. */
const trim = (text) =>
  text.replace(/^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g, "");

/** A colon or a white-space character: not allowed in a header name. */
const BAD_NAME = /[:\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/;

/** Header edits for one direction (request or response). */
class Rules {
  /** Headers to append, `[name, value]` in config order. */
  add = [];
  /** Headers to set, `[name, value]` in config order. */
  set = [];
  /** Header names to remove. */
  remove = [];

  /**
   * Reads the rules under `prefix` (`"request"` or `"response"`); unknown
   * keys under the prefix and empty header names are `bad-config` errors.
   */
  static fromConfig(config, prefix) {
    const rules = new Rules();
    for (const [key, value] of config) {
      if (!key.startsWith(`${prefix}.`)) continue;
      const rest = key.slice(prefix.length + 1);
      const bad = (why) => new PluginError("bad-config", `config key \`${key}\`: ${why}`);
      const dot = rest.indexOf(".");
      const [op, name] = dot < 0 ? [rest, undefined] : [rest.slice(0, dot), rest.slice(dot + 1)];
      if (name === undefined && op === "remove") {
        rules.remove.push(...value.split(",").map(trim).filter((n) => n !== ""));
      } else if (name !== undefined && (op === "add" || op === "set")) {
        if (name === "" || BAD_NAME.test(name)) throw bad("invalid header name");
        rules[op].push([name, value]);
      } else {
        throw bad("expected `add.<name>`, `set.<name>` or `remove`");
      }
    }
    return rules;
  }

  /**
   * Applies the rules to the lent request or response, calling its changing
   * methods only for edits that change something; returns whether anything
   * changed.
   */
  apply(target) {
    let changed = false;
    for (const name of this.remove) {
      if (target.headerValues(name).length > 0) changed = target.removeHeader(name) || changed;
    }
    for (const [name, value] of this.set) {
      const values = target.headerValues(name);
      if (!(values.length === 1 && values[0] === value)) {
        target.setHeader(name, value);
        changed = true;
      }
    }
    for (const [name, value] of this.add) {
      target.appendHeader(name, value);
      changed = true;
    }
    return changed;
  }
}

let request = new Rules();
let response = new Rules();

export default definePlugin({
  init(config) {
    for (const [key] of config) {
      if (!key.startsWith("request.") && !key.startsWith("response.")) {
        throw new PluginError("bad-config", `config key \`${key}\` must start with \`request.\` or \`response.\``);
      }
    }
    request = Rules.fromConfig(config, "request");
    response = Rules.fromConfig(config, "response");
  },

  onRequest(_ctx, req) {
    request.apply(req);
    return Continue;
  },

  onResponse(_ctx, _req, resp) {
    response.apply(resp);
    return Continue;
  },
});
