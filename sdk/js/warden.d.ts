// Types of the Warden SDK for JavaScript and TypeScript plugins (module
// "warden", implemented by warden.js; `warden build` bundles it with the
// plugin). The WIT these wrap is Warden's package `warden:plugin@0.2.0`
// (wit/plugin.wit).

declare module "warden" {
  // ---- Values of Warden's WIT types ---------------------------------------

  /** Header fields as `[name, value]` pairs, in order. Names may repeat. */
  export type Headers = [name: string, value: string][];

  /** Header fields to send: pairs, or an object of names to values. */
  export type HeadersInit = Headers | Record<string, string>;

  /** A body to send: UTF-8 text or bytes. */
  export type BodyInit = string | Uint8Array;

  /** What a request hook decided (WIT `request-action`). */
  export type RequestAction =
    | { tag: "continue" }
    | { tag: "respond"; val: { status: number; headers: Headers; body: Uint8Array } }
    | { tag: "reject"; val: { status: number; reason: string } };

  /** What a response hook decided (WIT `response-action`): the same shapes. */
  export type ResponseAction = RequestAction;

  /** What a connection hook decided (WIT `connect-action`). */
  export type ConnectAction = { tag: "allow" } | { tag: "deny"; val: string };

  /** Health as a plugin reports it (WIT `health-status`). */
  export type HealthStatus = { tag: "healthy" } | { tag: "degraded"; val: string } | { tag: "unhealthy"; val: string };

  /** The network connection a request arrived on (WIT `connection-info`). */
  export interface ConnectionInfo {
    /** Client address, "ip:port". */
    clientAddr: string;
    /** Local address the connection was accepted on, "ip:port". */
    serverAddr: string;
    /** Whether the connection is TLS. */
    tls: boolean;
    /** TLS server name indication, if any. */
    serverName?: string;
  }

  /** What the host knows about the call, each value fetched when asked for. Valid for the call only. */
  export interface CallContext {
    /** Host-assigned id of the request or event, unique per host process. */
    requestId(): string;
    /** W3C `traceparent` of the request, if tracing is on. */
    traceparent(): string | undefined;
    /** Name of the host route or pipeline, if any. */
    route(): string | undefined;
    /** The connection, if the call is tied to one. */
    connection(): ConnectionInfo | undefined;
  }

  // ---- Errors --------------------------------------------------------------

  /**
   * A plugin's own error: a machine-readable `code` and a `message` for
   * people. Thrown from a hook (or from `init`), it becomes the hook's error
   * result; so does any other exception, as code `internal`. Host calls
   * that fail throw one, with the host's code (e.g. `body-too-large`,
   * `capability-denied`).
   */
  export class PluginError extends Error {
    constructor(code: string, message: string);
    /** Short machine-readable code (kebab-case by convention), e.g. `"bad-config"`. */
    readonly code: string;
  }

  /** `error` as a PluginError: itself, a host error, or anything else as code `internal`. */
  export function toPluginError(error: unknown): PluginError;

  /** `bytes` (a payload, a body) as text: UTF-8, invalid sequences replaced by U+FFFD. */
  export function text(bytes: Uint8Array): string;

  // ---- Actions -------------------------------------------------------------

  /** Go on with the request or response as it is now. Returning nothing does the same. */
  export const Continue: { readonly tag: "continue" };

  /** Stop the chain and refuse with `status` (4xx or 5xx) and `reason` as the body. */
  export function reject(status: number, reason: string): RequestAction & ResponseAction;

  /** Stop the chain and answer with this response. */
  export function respond(status: number, headers?: HeadersInit, body?: BodyInit): RequestAction & ResponseAction;

  /** Accept the connection (`onConnect`). Returning nothing does the same. */
  export const Allow: { readonly tag: "allow" };

  /** Close the connection, with a reason for the log (`onConnect`). */
  export function deny(reason: string): ConnectAction;

  /** Values for `health()`. */
  export const Health: {
    readonly healthy: HealthStatus;
    degraded(reason: string): HealthStatus;
    unhealthy(reason: string): HealthStatus;
  };

  // ---- The lent request and response -------------------------------------

  /**
   * What requests and responses share. Reading is free of permissions;
   * changes need `[permissions] modify-request` / `modify-response` and
   * throw a PluginError (`capability-denied`, `read-only`, `invalid-header`,
   * ...) when refused. Header names compare case-insensitively.
   */
  abstract class Message {
    /** The first value of header `name`, if present. */
    header(name: string): string | undefined;
    /** Every value of header `name`, in order. */
    headerValues(name: string): string[];
    /** Every header field, in order. */
    headers(): Headers;
    /** The body's length in bytes, if known before reading it. */
    bodyLength(): number | undefined;
    /**
     * The whole body, read from the host at the first call (later calls
     * return the same bytes). Throws `body-too-large`, `body-timeout` or
     * `body-unavailable`.
     */
    body(): Uint8Array;
    /** The body as UTF-8 text (invalid bytes become U+FFFD). */
    text(): string;
    /** The body parsed as JSON; a malformed body throws PluginError code `json`. */
    json<T = unknown>(): T;
    /** Sets header `name` to `value`, replacing every field of that name. */
    setHeader(name: string, value: string): void;
    /** Adds a field `name: value`, keeping the others of that name. */
    appendHeader(name: string, value: string): void;
    /** Removes every field named `name`; returns whether there was one. */
    removeHeader(name: string): boolean;
    /** Replaces the body; a `content-length` field follows the new length. */
    setBody(body: BodyInit): void;
    /** Replaces the body with `value` as JSON. */
    setJson(value: unknown): void;
  }

  /** The request a hook is lent for one call: keeping it for a later call does not work. */
  export class Request extends Message {
    /** The method, e.g. `"GET"`. */
    method(): string;
    /** The target: path and query, e.g. `"/users?id=1"`. */
    uri(): string;
    /** The path of the target, without the query. */
    path(): string;
    /** The query (after `?`), if any. */
    query(): string | undefined;
    /** Replaces the method. */
    setMethod(method: string): void;
    /** Replaces the target (a path with an optional query, starting with `/`). */
    setUri(uri: string): void;
  }

  /** The response a hook is lent for one call. */
  export class Response extends Message {
    /** The status code, e.g. 200. */
    status(): number;
    /** Replaces the status (200-599). */
    setStatus(status: number): void;
  }

  // ---- Configuration -------------------------------------------------------

  /** The plugin's configuration (the manifest's `[config]` table), in host order. */
  export class Config implements Iterable<[string, string]> {
    constructor(entries: [string, string][]);
    /** The value of `key`, if set. */
    get(key: string): string | undefined;
    /** The value of `key`, else `fallback`. */
    get(key: string, fallback: string): string;
    /** Whether `key` is set. */
    has(key: string): boolean;
    /** How many entries there are. */
    readonly size: number;
    /** Every `[key, value]`, in host order. */
    entries(): IterableIterator<[string, string]>;
    [Symbol.iterator](): IterableIterator<[string, string]>;
  }

  /** The configuration, read from the host at any time (`init` receives it too). */
  export const config: {
    /** The value of `key`, if set. */
    get(key: string): string | undefined;
    /** The whole configuration. */
    all(): Config;
  };

  // ---- Host imports --------------------------------------------------------

  /**
   * Leveled logging into the host's log, tagged with the plugin. Parts are
   * joined with spaces: strings as they are, errors as `Name: message`,
   * other values as JSON.
   */
  export const log: {
    trace(...parts: unknown[]): void;
    debug(...parts: unknown[]): void;
    info(...parts: unknown[]): void;
    warn(...parts: unknown[]): void;
    error(...parts: unknown[]): void;
  };

  /**
   * The plugin's own key-value namespace; needs `[permissions] key-value =
   * true`. Failures throw PluginError: `capability-denied`, `invalid-key`,
   * `quota-exceeded`, `unavailable`, `backend-error`.
   */
  export const kv: {
    /** The bytes stored under `key`, if any. */
    get(key: string): Uint8Array | undefined;
    /** The value under `key` as UTF-8 text, if any. */
    getText(key: string): string | undefined;
    /** Stores `value` under `key`, replacing any previous value. */
    set(key: string, value: BodyInit): void;
    /** Removes `key`; returns whether it existed. */
    delete(key: string): boolean;
    /** The keys that start with `prefix` (default all), in byte order; at most `limit` (default 1000). */
    list(prefix?: string, limit?: number): string[];
  };

  /** A request for `fetch`. */
  export interface OutgoingRequest {
    /** Absolute URL: `http://` or `https://`, host, optional port, path, query. */
    url: string;
    /** Method; `"GET"` by default. */
    method?: string;
    /** Header fields; hop-by-hop fields and `host` are set by the host. */
    headers?: HeadersInit;
    /** The body, if any. */
    body?: BodyInit;
  }

  /** A whole response received by `fetch`. */
  export class HttpResponse {
    /** Status code. */
    readonly status: number;
    /** Header fields, in order. */
    readonly headers: Headers;
    /** The body bytes. */
    readonly body: Uint8Array;
    /** The first value of header `name` (case-insensitive), if present. */
    header(name: string): string | undefined;
    /** The body as UTF-8 text. */
    text(): string;
    /** The body parsed as JSON; a malformed body throws PluginError code `json`. */
    json<T = unknown>(): T;
  }

  /**
   * Outbound HTTP to the hosts `[permissions] network` allows; waits for the
   * whole response (the wait counts against the call's deadline). A string
   * is a GET of that URL. Failures throw PluginError: `capability-denied`,
   * `budget-exceeded`, `response-too-large`, `too-many-redirects`,
   * `invalid-request`, `connect-failed`, `protocol-error`, `unavailable`.
   */
  export function fetch(request: OutgoingRequest | string): HttpResponse;

  /** Queues `payload` for the plugins subscribed to `topic`; needs `[permissions] publish`. */
  export function publish(topic: string, payload: BodyInit): void;

  /** Calls the plugins named in `[dependencies]`. */
  export const plugins: {
    /** `handle(action, payload)` on `plugin`; its result bytes. */
    call(plugin: string, action: string, payload: BodyInit): Uint8Array;
  };

  // ---- JSON ----------------------------------------------------------------

  /** Why a body is not an acceptable JSON object, and where. */
  export class JsonError extends Error {
    /** `not-an-object` (empty, or not `{` first), `syntax`, or `too-deep`. */
    readonly kind: "not-an-object" | "syntax" | "too-deep";
    /** The line of the problem, from 1. */
    readonly line: number;
    /** The column of the problem, from 1, in bytes: the offending byte, or the last one if the body ended early. */
    readonly column: number;
  }

  /**
   * `body` parsed, if it is exactly one JSON object (whitespace around it)
   * by RFC 8259, nesting at most `maxDepth` levels (default 32; the body is
   * level 1); throws a JsonError for the first problem otherwise. The same
   * checks and error positions as the Rust SDK's `json::fields`. A name that
   * appears twice keeps its last value.
   */
  export function parseObject(body: Uint8Array | string, maxDepth?: number): Record<string, unknown>;

  /** Whether a content type is JSON: `application/json` or `application/<x>+json`, any parameters, any case. */
  export function isJson(contentType: string): boolean;

  // ---- Hooks ---------------------------------------------------------------

  /**
   * A plugin: the hooks it implements, as methods (`this` is the object).
   * `warden build` exports those of `lifecycle` and of the interfaces in
   * `[build] exports`, and fails if an exported interface has none of its
   * hooks. Anything a hook throws becomes its plugin error.
   */
  export interface Plugin {
    /** Called once per instance before any hook, with the configuration. Throw to refuse it (code `bad-config`). */
    init?(config: Config): void;
    /** Called before the host drops the plugin. */
    shutdown?(): void;
    /** Called on demand and periodically; healthy if absent. */
    health?(): HealthStatus | void;
    /** `http-filter`: each request. Return nothing to continue. */
    onRequest?(ctx: CallContext, req: Request): RequestAction | void;
    /** `http-filter`: each response; the request is read-only. */
    onResponse?(ctx: CallContext, req: Request, resp: Response): ResponseAction | void;
    /** `connect`: each accepted connection. Return nothing to allow it. */
    onConnect?(connection: ConnectionInfo): ConnectAction | void;
    /** `capture`: an exchange after its response was sent; both read-only. */
    onCapture?(ctx: CallContext, req: Request, resp: Response, durationUs: number): void;
    /** `rule-match`: a request that matched host rule `rule`; read-only. */
    onRuleMatch?(ctx: CallContext, rule: string, req: Request, details: [string, string][]): void;
    /** `handler`: run `action` on `payload`; text, bytes, nothing, or any other value as JSON. */
    handle?(action: string, payload: Uint8Array): BodyInit | object | void;
    /** `subscriber`: a message published on a subscribed topic. */
    onMessage?(topic: string, payload: Uint8Array): void;
  }

  /** Declares the plugin (for the types); the module's default export must be its result. */
  export function definePlugin<P extends Plugin>(plugin: P & ThisType<P>): P;

  /** Used by the entry module `warden build` writes; not for plugins. */
  export function exportInterface(plugin: Plugin, name: string): object;
}
