// The Warden SDK for JavaScript and TypeScript plugins: `import { ... } from "warden"`.
//
// A plugin module ends with `export default definePlugin({ ... })`, an object
// with one method per hook (see warden.d.ts for every type). `warden build`
// bundles this file with the plugin and exports the hooks under the names
// componentize-js expects; the SDK turns what a hook returns into the WIT
// values, and what it throws into a plugin error.

import { log as hostLog } from "warden:plugin/log@0.2.0";
import { get as configGet, getAll as configGetAll } from "warden:plugin/config@0.2.0";
import { get as kvGet, set as kvSet, delete as kvDelete, listKeys as kvListKeys } from "warden:plugin/keyvalue@0.2.0";
import { fetch as hostFetch } from "warden:plugin/outbound-http@0.2.0";
import { publish as hostPublish } from "warden:plugin/messaging@0.2.0";
import { call as hostCall } from "warden:plugin/plugins@0.2.0";

export { isJson, JsonError, parseObject } from "./json.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** `bytes` (a payload, a body) as text: UTF-8, invalid sequences replaced by U+FFFD. */
export function text(bytes) {
  return decoder.decode(bytes);
}

/** A plugin's own error: a machine-readable `code` and a `message` for people. */
export class PluginError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "PluginError";
    /** Short machine-readable code, e.g. `"bad-config"`. */
    this.code = code;
  }
}

/**
 * `error` as a PluginError: itself, a host error (its `payload`), or any other
 * thrown value as code `internal` with its text.
 */
export function toPluginError(error) {
  if (error instanceof PluginError) return error;
  const payload = error?.payload;
  if (typeof payload?.code === "string") return new PluginError(payload.code, String(payload.message));
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return new PluginError("internal", text);
}

/** Runs a host call, turning the host's error into a PluginError. */
function host(call) {
  try {
    return call();
  } catch (error) {
    throw toPluginError(error);
  }
}

/** Text as UTF-8 bytes; bytes unchanged. */
function bytes(body) {
  if (body === undefined || body === null) return new Uint8Array(0);
  return typeof body === "string" ? encoder.encode(body) : body;
}

/** Header fields as `[name, value]` pairs, from pairs or a plain object. */
function headerPairs(headers) {
  if (headers === undefined) return [];
  return Array.isArray(headers) ? headers : Object.entries(headers);
}

// ---- Actions ---------------------------------------------------------------

/** Go on with the request or response as it is now. Returning nothing does the same. */
export const Continue = Object.freeze({ tag: "continue" });

/** Stop the chain and refuse with `status` (4xx or 5xx) and `reason` as the body. */
export function reject(status, reason) {
  return { tag: "reject", val: { status, reason } };
}

/** Stop the chain and answer with this response; `body` is text or bytes. */
export function respond(status, headers = [], body = "") {
  return { tag: "respond", val: { status, headers: headerPairs(headers), body: bytes(body) } };
}

/** Accept the connection (`onConnect`). Returning nothing does the same. */
export const Allow = Object.freeze({ tag: "allow" });

/** Close the connection, with a reason for the log (`onConnect`). */
export function deny(reason) {
  return { tag: "deny", val: reason };
}

/** Health values for `health()`. */
export const Health = Object.freeze({
  healthy: Object.freeze({ tag: "healthy" }),
  degraded: (reason) => ({ tag: "degraded", val: reason }),
  unhealthy: (reason) => ({ tag: "unhealthy", val: reason }),
});

// ---- The lent request and response ----------------------------------------

/** What requests and responses share: headers and the body. */
class Message {
  #body;
  constructor(handle) {
    /** The host's resource; valid for the current call only. */
    this.handle = handle;
  }
  /** The first value of header `name` (case-insensitive), or undefined. */
  header(name) {
    return this.handle.header(name);
  }
  /** Every value of header `name`, in order. */
  headerValues(name) {
    return this.handle.headerValues(name);
  }
  /** Every header field as `[name, value]`, in order. */
  headers() {
    return this.handle.headers();
  }
  /** The body's length in bytes if known before reading it, else undefined. */
  bodyLength() {
    const length = this.handle.bodyLength();
    return length === undefined ? undefined : Number(length);
  }
  /** The whole body as bytes; read from the host at the first call. */
  body() {
    return (this.#body ??= host(() => this.handle.body()));
  }
  /** The body as UTF-8 text (invalid bytes become U+FFFD). */
  text() {
    return decoder.decode(this.body());
  }
  /** The body parsed as JSON; a malformed body throws PluginError code `json`. */
  json() {
    try {
      return JSON.parse(this.text());
    } catch (error) {
      throw error instanceof SyntaxError ? new PluginError("json", error.message) : error;
    }
  }
  /** Sets header `name` to `value`, replacing every field of that name. */
  setHeader(name, value) {
    host(() => this.handle.setHeader(name, value));
  }
  /** Adds a field `name: value`, keeping the others of that name. */
  appendHeader(name, value) {
    host(() => this.handle.appendHeader(name, value));
  }
  /** Removes every field named `name`; returns whether there was one. */
  removeHeader(name) {
    return host(() => this.handle.removeHeader(name));
  }
  /** Replaces the body (text or bytes). */
  setBody(body) {
    const data = bytes(body);
    host(() => this.handle.setBody(data));
    this.#body = data;
  }
  /** Replaces the body with `value` as JSON. */
  setJson(value) {
    this.setBody(JSON.stringify(value));
  }
}

/** The request a hook is lent for one call. */
export class Request extends Message {
  /** The method, e.g. `"GET"`. */
  method() {
    return this.handle.method();
  }
  /** The target: path and query, e.g. `"/users?id=1"`. */
  uri() {
    return this.handle.uri();
  }
  /** The path of the target, without the query. */
  path() {
    return this.handle.path();
  }
  /** The query (after `?`), or undefined. */
  query() {
    return this.handle.query();
  }
  /** Replaces the method. */
  setMethod(method) {
    host(() => this.handle.setMethod(method));
  }
  /** Replaces the target (a path with an optional query, starting with `/`). */
  setUri(uri) {
    host(() => this.handle.setUri(uri));
  }
}

/** The response a hook is lent for one call. */
export class Response extends Message {
  /** The status code, e.g. 200. */
  status() {
    return this.handle.status();
  }
  /** Replaces the status (200-599). */
  setStatus(status) {
    host(() => this.handle.setStatus(status));
  }
}

// ---- Configuration ---------------------------------------------------------

/** The plugin's configuration (its manifest's `[config]` table), in host order. */
export class Config {
  #entries;
  constructor(entries) {
    this.#entries = entries;
  }
  /** The value of `key`, else `fallback` (undefined if not given). If a key repeats, the first wins. */
  get(key, fallback) {
    const entry = this.#entries.find(([k]) => k === key);
    return entry ? entry[1] : fallback;
  }
  /** Whether `key` is set. */
  has(key) {
    return this.#entries.some(([k]) => k === key);
  }
  /** How many entries there are. */
  get size() {
    return this.#entries.length;
  }
  /** Every `[key, value]`, in host order. */
  entries() {
    return this.#entries[Symbol.iterator]();
  }
  [Symbol.iterator]() {
    return this.entries();
  }
}

/** The configuration, read from the host at any time (`init` receives it too). */
export const config = {
  /** The value of `key`, or undefined. */
  get: (key) => configGet(key),
  /** The whole configuration. */
  all: () => new Config(configGetAll()),
};

// ---- Host imports ----------------------------------------------------------

/** One line for the log: strings as they are, errors with their message, other values as JSON. */
function format(parts) {
  return parts
    .map((part) => {
      if (typeof part === "string") return part;
      if (part instanceof Error) return `${part.name}: ${part.message}`;
      try {
        return JSON.stringify(part) ?? String(part);
      } catch {
        return String(part);
      }
    })
    .join(" ");
}

/** Leveled logging into the host's log, tagged with the plugin. */
export const log = {
  trace: (...parts) => hostLog("trace", format(parts)),
  debug: (...parts) => hostLog("debug", format(parts)),
  info: (...parts) => hostLog("info", format(parts)),
  warn: (...parts) => hostLog("warn", format(parts)),
  error: (...parts) => hostLog("error", format(parts)),
};

/** The plugin's own key-value namespace (needs `[permissions] key-value = true`). */
export const kv = {
  /** The bytes stored under `key`, or undefined. */
  get: (key) => host(() => kvGet(key)),
  /** The value under `key` as UTF-8 text, or undefined. */
  getText(key) {
    const value = this.get(key);
    return value === undefined ? undefined : decoder.decode(value);
  },
  /** Stores `value` (text or bytes) under `key`. */
  set: (key, value) => host(() => kvSet(key, bytes(value))),
  /** Removes `key`; returns whether it existed. */
  delete: (key) => host(() => kvDelete(key)),
  /** The keys that start with `prefix`, in byte order; at most `limit`. */
  list: (prefix = "", limit = 1000) => host(() => kvListKeys(prefix, limit)),
};

/** A response from `fetch`, or one to build with `respond`. */
export class HttpResponse {
  constructor({ status, headers, body }) {
    /** Status code. */
    this.status = status;
    /** Header fields as `[name, value]`, in order. */
    this.headers = headers;
    /** The body bytes. */
    this.body = body;
  }
  /** The first value of header `name` (case-insensitive), or undefined. */
  header(name) {
    const lower = name.toLowerCase();
    return this.headers.find(([k]) => k.toLowerCase() === lower)?.[1];
  }
  /** The body as UTF-8 text. */
  text() {
    return decoder.decode(this.body);
  }
  /** The body parsed as JSON; a malformed body throws PluginError code `json`. */
  json() {
    try {
      return JSON.parse(this.text());
    } catch (error) {
      throw error instanceof SyntaxError ? new PluginError("json", error.message) : error;
    }
  }
}

/**
 * Outbound HTTP to the hosts `[permissions] network` allows: waits for the
 * whole response. `request` is `{ url, method = "GET", headers = [], body }`.
 */
export function fetch(request) {
  const { url, method = "GET", headers, body } = typeof request === "string" ? { url: request } : request;
  const outgoing = { method, url, headers: headerPairs(headers), body: bytes(body) };
  return new HttpResponse(host(() => hostFetch(outgoing)));
}

/** Publishes `payload` (text or bytes) on `topic` (needs `[permissions] publish`). */
export function publish(topic, payload) {
  host(() => hostPublish(topic, bytes(payload)));
}

/** Calls the plugins of `[dependencies]`. */
export const plugins = {
  /** `handle(action, payload)` on `plugin`; its result bytes. */
  call: (plugin, action, payload) => host(() => hostCall(plugin, action, bytes(payload))),
};

// ---- Hooks -----------------------------------------------------------------

/** Declares the plugin: returns `hooks` unchanged (it is there for the types). */
export function definePlugin(hooks) {
  return hooks;
}

/** Whether `init` succeeded (hooks called before it run it with the host's config). */
let started = false;

/** Runs the plugin's `init` with the config `entries`. */
function start(plugin, entries) {
  started = false;
  plugin.init?.(new Config(entries));
  started = true;
}

/** A thrown value as componentize-js wants it for the error of a hook's `result`. */
function failure(error) {
  const { code, message } = toPluginError(error);
  return { payload: { code, message } };
}

/**
 * Calls hook `name` of `plugin` (starting the plugin first if the host did
 * not), and `convert`s what it returns to the WIT value; a missing hook
 * returns undefined. Anything thrown becomes the hook's plugin error.
 */
function call(plugin, name, args, convert = () => undefined) {
  try {
    if (!started) start(plugin, configGetAll());
    return convert(plugin[name]?.apply(plugin, args), name);
  } catch (error) {
    throw failure(error);
  }
}

/** A WIT variant value (`{ tag, val }`) one of `tags`; undefined (or null) is `tags[0]`. */
const action =
  (...tags) =>
  (value, name) => {
    if (value === undefined || value === null) return { tag: tags[0] };
    if (typeof value.then === "function") {
      throw new PluginError("internal", `${name} returned a Promise: hooks are synchronous (no async functions)`);
    }
    if (!tags.includes(value.tag)) {
      throw new PluginError("internal", `${name} returned ${format([value])}; expected one of: ${tags.join(", ")}`);
    }
    return value;
  };

/** A result payload as bytes: text as UTF-8, bytes as they are, undefined as nothing, other values as JSON. */
function payload(value) {
  if (value === undefined || value === null) return new Uint8Array(0);
  if (typeof value === "string" || value instanceof Uint8Array) return bytes(value);
  return encoder.encode(JSON.stringify(value));
}

/** Hook methods of each exported interface, for checking the plugin at build time. */
const HOOKS = {
  "http-filter": ["onRequest", "onResponse"],
  connect: ["onConnect"],
  capture: ["onCapture"],
  "rule-match": ["onRuleMatch"],
  handler: ["handle"],
  subscriber: ["onMessage"],
};

const INTERFACES = {
  lifecycle: (p) => ({
    init(entries) {
      try {
        start(p, entries);
      } catch (error) {
        throw failure(error);
      }
    },
    shutdown() {
      if (!started) return;
      started = false;
      try {
        p.shutdown?.();
      } catch (error) {
        log.warn("shutdown failed:", error);
      }
    },
    health() {
      try {
        return call(p, "health", [], action("healthy", "degraded", "unhealthy"));
      } catch ({ payload }) {
        return Health.unhealthy(`${payload.code}: ${payload.message}`);
      }
    },
  }),
  "http-filter": (p) => ({
    onRequest: (ctx, req) => call(p, "onRequest", [ctx, new Request(req)], action("continue", "respond", "reject")),
    onResponse: (ctx, req, resp) =>
      call(p, "onResponse", [ctx, new Request(req), new Response(resp)], action("continue", "respond", "reject")),
  }),
  connect: (p) => ({
    onConnect: (connection) => call(p, "onConnect", [connection], action("allow", "deny")),
  }),
  capture: (p) => ({
    onCapture(ctx, req, resp, durationUs) {
      call(p, "onCapture", [ctx, new Request(req), new Response(resp), Number(durationUs)]);
    },
  }),
  "rule-match": (p) => ({
    onRuleMatch(ctx, rule, req, details) {
      call(p, "onRuleMatch", [ctx, rule, new Request(req), details]);
    },
  }),
  handler: (p) => ({
    handle: (act, data) => call(p, "handle", [act, data], payload),
  }),
  subscriber: (p) => ({
    onMessage(topic, data) {
      call(p, "onMessage", [topic, data]);
    },
  }),
};

/**
 * The object componentize-js exports for WIT interface `name` (e.g.
 * `"http-filter"`), calling the hooks of `plugin`. Used by the entry module
 * `warden build` writes; it runs at build time, so a plugin that lacks the
 * hooks of an interface its `[build] exports` names fails the build.
 */
export function exportInterface(plugin, name) {
  if (plugin === null || typeof plugin !== "object") {
    throw new Error("the plugin module must end with `export default definePlugin({ ... })`");
  }
  const hooks = HOOKS[name] ?? [];
  if (hooks.length > 0 && !hooks.some((hook) => typeof plugin[hook] === "function")) {
    throw new Error(`[build] exports lists \`${name}\`, but the plugin defines no ${hooks.join(" or ")}`);
  }
  return INTERFACES[name](plugin);
}
