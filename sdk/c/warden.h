/*
 * warden.h: the Warden SDK for plugins written in C or C++.
 *
 * `warden build` writes this file, `warden.c` and the generated bindings
 * (`guest.h`, `guest.c`) into `<plugin>/target/warden/` and compiles them
 * with the plugin's sources, so a source only needs
 *
 *     #include "warden.h"
 *
 * The SDK is a thin layer over the bindings that wit-bindgen generates for
 * the WIT package `warden:plugin@0.2.0` (the `guest.h` types and functions,
 * which stay available for anything this header does not wrap).
 *
 * A plugin defines the hook functions of the interfaces it lists in
 * plugin.toml's `[build] exports` (see "Hooks" below) and `warden_init`.
 *
 * Ownership, in one place:
 *  - A `warden_str_t` or `warden_bytes_t` is a pointer and a length, not
 *    NUL-terminated. It either owns its bytes (malloc'd; free it once with
 *    `warden_str_free` / `warden_bytes_free`) or borrows them (made by
 *    `warden_str`/`warden_strn`/`warden_view`; never free it).
 *  - Everything a function here hands back through an `out` pointer is
 *    owned by the caller and must be freed with the matching `*_free`, even
 *    on the paths that return early. Inputs (`const char *`, `warden_str_t`)
 *    are only read during the call.
 *  - What the host passes to a hook (config, strings, payloads, handles) is
 *    lent for that call: the SDK frees it after the hook returns. Copy what
 *    must outlive the call (e.g. settings read in `warden_init`).
 *  - What a hook hands back (an action, an error, a handler's reply) is
 *    freed by the SDK after the host copied it: build it only with the
 *    functions here (`warden_reject`, `warden_error`, ...), which allocate.
 *  - A `warden_error_t` filled by a host call is owned by the caller: return
 *    `false` from the hook to pass it on as the hook's error (the SDK frees
 *    it then), or free it with `warden_error_free` to carry on.
 *
 * Every function that can fail returns `true` on success and `false` with
 * `*err` filled. Hooks follow the same rule.
 */
#ifndef WARDEN_H
#define WARDEN_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guest.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define WARDEN_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define WARDEN_PRINTF(fmt, args)
#endif

/* ---------------------------------------------------------------- Types */

/** UTF-8 text: `ptr` and `len` (bytes), not NUL-terminated. */
typedef guest_string_t warden_str_t;
/** Bytes: `ptr` and `len`. */
typedef guest_list_u8_t warden_bytes_t;
/** A list of strings: `ptr[0..len]`. */
typedef guest_list_string_t warden_strs_t;
/** Pairs of strings, `ptr[i].f0` (name or key) and `ptr[i].f1` (value): the
 *  config given to `warden_init`, or rule-match details. */
typedef guest_list_tuple2_string_string_t warden_pairs_t;
/** The plugin's config (`[config]` of plugin.toml), as given to `warden_init`. */
typedef warden_pairs_t warden_config_t;
/** Header fields in order, `ptr[i].f0` the name and `ptr[i].f1` the value. */
typedef warden_plugin_types_headers_t warden_headers_t;
/** A plugin error: `code` (short, machine-readable) and `message`. */
typedef warden_plugin_types_plugin_error_t warden_error_t;
/** The call context a hook gets (request id, route, ...), lent for the call. */
typedef warden_plugin_types_borrow_call_context_t warden_ctx_t;
/** The request a hook gets, lent for the call. */
typedef warden_plugin_types_borrow_request_t warden_request_t;
/** The response a hook gets, lent for the call. */
typedef warden_plugin_types_borrow_response_t warden_response_t;
/** What `warden_on_request` decides (see `warden_continue` and friends). */
typedef warden_plugin_types_request_action_t warden_request_action_t;
/** What `warden_on_response` decides. */
typedef warden_plugin_types_response_action_t warden_response_action_t;
/** What `warden_on_connect` decides. */
typedef warden_plugin_types_connect_action_t warden_connect_action_t;
/** A connection: client and server address, TLS, server name. */
typedef warden_plugin_types_connection_info_t warden_connection_t;
/** A plugin's health, as `warden_health` reports it. */
typedef warden_plugin_types_health_status_t warden_health_t;
/** A whole response, from `warden_http_fetch`: `status`, `headers`, `body`. */
typedef warden_plugin_types_http_response_t warden_http_response_t;

/** Log levels, for `warden_log`. */
typedef enum warden_level {
    WARDEN_TRACE = WARDEN_PLUGIN_LOG_LEVEL_TRACE,
    WARDEN_DEBUG = WARDEN_PLUGIN_LOG_LEVEL_DEBUG,
    WARDEN_INFO = WARDEN_PLUGIN_LOG_LEVEL_INFO,
    WARDEN_WARN = WARDEN_PLUGIN_LOG_LEVEL_WARN,
    WARDEN_ERROR = WARDEN_PLUGIN_LOG_LEVEL_ERROR,
} warden_level_t;

/* ---------------------------------------------------------------- Hooks */

/*
 * The functions a plugin defines. `warden_init` always; the others for the
 * interfaces of `[build] exports`: a missing one is a link error naming it.
 * `warden_shutdown`, `warden_health`, `warden_on_request` and
 * `warden_on_response` have defaults (do nothing, healthy, continue,
 * continue), so define only those you need.
 *
 * A hook returns `true` with `*ret` set (if it has one), or `false` with
 * `*err` set: use `warden_error(err, ...)`, or return `false` right after a
 * host call that failed, which filled `*err` already.
 */

/** lifecycle: once per instance, before any hook, with the plugin's config
 *  (lent for the call). Refuse a bad config with
 *  `return warden_error(err, "bad-config", "...")`. */
bool warden_init(const warden_config_t *config, warden_error_t *err);
/** lifecycle: before the host drops the plugin. Default: nothing. */
void warden_shutdown(void);
/** lifecycle: the plugin's health; set `*ret` with `warden_healthy` (the
 *  default), `warden_degraded` or `warden_unhealthy`. */
void warden_health(warden_health_t *ret);

/** http-filter: each request. Default: `warden_continue(ret)`. */
bool warden_on_request(warden_ctx_t ctx, warden_request_t req, warden_request_action_t *ret, warden_error_t *err);
/** http-filter: each response; `req` is read-only. Default:
 *  `warden_response_continue(ret)`. */
bool warden_on_response(warden_ctx_t ctx, warden_request_t req, warden_response_t resp, warden_response_action_t *ret,
                        warden_error_t *err);
/** connect: each accepted connection; set `*ret` with `warden_allow` or
 *  `warden_deny`. */
bool warden_on_connect(const warden_connection_t *conn, warden_connect_action_t *ret, warden_error_t *err);
/** capture: an exchange after its response was sent; both read-only. */
bool warden_on_capture(warden_ctx_t ctx, warden_request_t req, warden_response_t resp, uint64_t duration_us,
                       warden_error_t *err);
/** rule-match: a request matched host rule `rule`; `details` says what matched. */
bool warden_on_rule_match(warden_ctx_t ctx, warden_str_t rule, warden_request_t req, const warden_pairs_t *details,
                          warden_error_t *err);
/** handler: run `action` on `payload`; set `*ret` to the reply, owned (e.g.
 *  `*ret = warden_bytes_copy(data, len)`); the SDK frees it. */
bool warden_handle(warden_str_t action, warden_bytes_t payload, warden_bytes_t *ret, warden_error_t *err);
/** subscriber: a message published on a topic the plugin subscribes to. */
bool warden_on_message(warden_str_t topic, warden_bytes_t payload, warden_error_t *err);

/* ------------------------------------------------------ Strings and bytes */

/** A borrowed view of the NUL-terminated `s` (not copied; do not free). */
warden_str_t warden_str(const char *s);
/** A borrowed view of `len` bytes at `s` (not copied; do not free). */
warden_str_t warden_strn(const char *s, size_t len);
/** An owned copy of the NUL-terminated `s`; free with `warden_str_free`. */
warden_str_t warden_str_dup(const char *s);
/** An owned copy of `s`; free with `warden_str_free`. */
warden_str_t warden_str_copy(warden_str_t s);
/** An owned, NUL-terminated copy of `s` (for C functions); free with `free`. */
char *warden_str_cstr(warden_str_t s);
/** Whether `s` is exactly the NUL-terminated `text`. */
bool warden_str_eq(warden_str_t s, const char *text);
/** Whether `s` equals `text`, ignoring ASCII case (as header names compare). */
bool warden_str_eq_ignore_case(warden_str_t s, const char *text);
/** Frees an owned string and empties it (safe on an empty one). */
void warden_str_free(warden_str_t *s);
/** For printf: `printf("%.*s", WARDEN_STR_ARGS(s))`. */
#define WARDEN_STR_ARGS(s) (int)(s).len, (const char *)(s).ptr

/** An owned copy of `len` bytes at `data`; free with `warden_bytes_free`. */
warden_bytes_t warden_bytes_copy(const void *data, size_t len);
/** Frees owned bytes and empties them. */
void warden_bytes_free(warden_bytes_t *b);
/** Frees an owned list of strings (from `warden_request_header_values`, ...). */
void warden_strs_free(warden_strs_t *list);
/** Frees owned header fields (from `warden_request_headers`, ...). */
void warden_headers_free(warden_headers_t *headers);

/* ---------------------------------------------------------------- Errors */

/** Fills `*err` with code `code` and a printf-formatted message; returns
 *  `false`, so a hook can `return warden_error(err, "bad-config", "...")`. */
bool warden_error(warden_error_t *err, const char *code, const char *fmt, ...) WARDEN_PRINTF(3, 4);
/** Frees an error a host call filled, when the plugin handles it itself. */
void warden_error_free(warden_error_t *err);

/* ------------------------------------------------------ Hook results */

/** Request action: go on with the request. Returns `true`. */
bool warden_continue(warden_request_action_t *ret);
/** Request action: refuse with `status` (4xx/5xx) and a printf-formatted
 *  reason, sent to the client as the body. Returns `true`. */
bool warden_reject(warden_request_action_t *ret, uint16_t status, const char *fmt, ...) WARDEN_PRINTF(3, 4);
/** Request action: answer with `status`, the body `body[0..len]` and, if
 *  `content_type` is not NULL, a `content-type` header. Returns `true`. */
bool warden_respond(warden_request_action_t *ret, uint16_t status, const char *content_type, const void *body,
                    size_t len);
/** Response action: go on with the response. Returns `true`. */
bool warden_response_continue(warden_response_action_t *ret);
/** Response action: replace the response with a refusal. Returns `true`. */
bool warden_response_reject(warden_response_action_t *ret, uint16_t status, const char *fmt, ...) WARDEN_PRINTF(3, 4);
/** Connect action: accept the connection. Returns `true`. */
bool warden_allow(warden_connect_action_t *ret);
/** Connect action: close it, with a reason for the log. Returns `true`. */
bool warden_deny(warden_connect_action_t *ret, const char *reason);
/** Health: working normally. */
void warden_healthy(warden_health_t *ret);
/** Health: working with reduced function, and why. */
void warden_degraded(warden_health_t *ret, const char *reason);
/** Health: not working, and why. */
void warden_unhealthy(warden_health_t *ret, const char *reason);

/* ---------------------------------------------------------------- Config */

/** In the config given to `warden_init`: the value of `key`, borrowed from
 *  `config` (do not free); `false` if absent. */
bool warden_config_find(const warden_config_t *config, const char *key, warden_str_t *out);
/** From the host, at any time: the value of `key`, owned (free with
 *  `warden_str_free`); `false` if absent. */
bool warden_config_get(const char *key, warden_str_t *out);

/* ---------------------------------------------------------------- Logging */

/** Writes a printf-formatted record at `level` into the host's log. */
void warden_log(warden_level_t level, const char *fmt, ...) WARDEN_PRINTF(2, 3);
/** `warden_log` at level trace. */
#define warden_log_trace(...) warden_log(WARDEN_TRACE, __VA_ARGS__)
/** `warden_log` at level debug. */
#define warden_log_debug(...) warden_log(WARDEN_DEBUG, __VA_ARGS__)
/** `warden_log` at level info. */
#define warden_log_info(...) warden_log(WARDEN_INFO, __VA_ARGS__)
/** `warden_log` at level warn. */
#define warden_log_warn(...) warden_log(WARDEN_WARN, __VA_ARGS__)
/** `warden_log` at level error. */
#define warden_log_error(...) warden_log(WARDEN_ERROR, __VA_ARGS__)

/* ---------------------------------------------------------------- Call context */

/** The host's id of this request or event, owned. */
warden_str_t warden_ctx_request_id(warden_ctx_t ctx);
/** The route's name, owned; `false` if none. */
bool warden_ctx_route(warden_ctx_t ctx, warden_str_t *out);

/* ---------------------------------------------------------------- Requests */

/** The method, e.g. "GET", owned. */
warden_str_t warden_request_method(warden_request_t req);
/** The target, path and query, e.g. "/users?id=1", owned. */
warden_str_t warden_request_uri(warden_request_t req);
/** The path of the target, owned. */
warden_str_t warden_request_path(warden_request_t req);
/** The first value of header `name` (any case), owned; `false` if absent. */
bool warden_request_header(warden_request_t req, const char *name, warden_str_t *out);
/** Every value of header `name`, in order, owned (free with `warden_strs_free`). */
warden_strs_t warden_request_header_values(warden_request_t req, const char *name);
/** Every header field, in order, owned (free with `warden_headers_free`). */
warden_headers_t warden_request_headers(warden_request_t req);
/** The body's length if known before reading it (`content-length`); `false` if not. */
bool warden_request_body_length(warden_request_t req, uint64_t *out);
/** The whole body, owned (free with `warden_bytes_free`); read from the
 *  client at the first call. Errors: `body-too-large`, `body-timeout`, ... */
bool warden_request_body(warden_request_t req, warden_bytes_t *out, warden_error_t *err);
/** Sets header `name` to `value`, replacing every field of that name
 *  (needs `[permissions] modify-request`). */
bool warden_request_set_header(warden_request_t req, const char *name, const char *value, warden_error_t *err);
/** Adds a field `name: value`, keeping the others. */
bool warden_request_append_header(warden_request_t req, const char *name, const char *value, warden_error_t *err);
/** Removes every field named `name`; `*removed` (if not NULL) says whether there was one. */
bool warden_request_remove_header(warden_request_t req, const char *name, bool *removed, warden_error_t *err);
/** Replaces the body with `body[0..len]`. */
bool warden_request_set_body(warden_request_t req, const void *body, size_t len, warden_error_t *err);

/* ---------------------------------------------------------------- Responses */

/** The status code. */
uint16_t warden_response_status(warden_response_t resp);
/** The first value of header `name`, owned; `false` if absent. */
bool warden_response_header(warden_response_t resp, const char *name, warden_str_t *out);
/** Every value of header `name`, owned (free with `warden_strs_free`). */
warden_strs_t warden_response_header_values(warden_response_t resp, const char *name);
/** Every header field, owned (free with `warden_headers_free`). */
warden_headers_t warden_response_headers(warden_response_t resp);
/** The whole body, owned (free with `warden_bytes_free`). */
bool warden_response_body(warden_response_t resp, warden_bytes_t *out, warden_error_t *err);
/** Replaces the status (200-599; needs `[permissions] modify-response`). */
bool warden_response_set_status(warden_response_t resp, uint16_t status, warden_error_t *err);
/** Sets header `name` to `value`, replacing every field of that name. */
bool warden_response_set_header(warden_response_t resp, const char *name, const char *value, warden_error_t *err);
/** Adds a field `name: value`. */
bool warden_response_append_header(warden_response_t resp, const char *name, const char *value, warden_error_t *err);
/** Removes every field named `name`; `*removed` (if not NULL) says whether there was one. */
bool warden_response_remove_header(warden_response_t resp, const char *name, bool *removed, warden_error_t *err);
/** Replaces the body with `body[0..len]`. */
bool warden_response_set_body(warden_response_t resp, const void *body, size_t len, warden_error_t *err);

/* ---------------------------------------------------------------- Key-value store */

/*
 * The plugin's own namespace in the host's store; needs `[permissions]
 * key-value = true`. Errors: `capability-denied`, `invalid-key`,
 * `quota-exceeded`, `unavailable`, `backend-error`.
 */

/** The value under `key`, owned, with `*found` true; or `*found` false. */
bool warden_kv_get(const char *key, warden_bytes_t *out, bool *found, warden_error_t *err);
/** Stores `value[0..len]` under `key`. */
bool warden_kv_set(const char *key, const void *value, size_t len, warden_error_t *err);
/** Removes `key`; `*existed` (if not NULL) says whether it was there. */
bool warden_kv_delete(const char *key, bool *existed, warden_error_t *err);
/** At most `limit` keys starting with `prefix`, in byte order, owned (free
 *  with `warden_strs_free`). */
bool warden_kv_list_keys(const char *prefix, uint32_t limit, warden_strs_t *out, warden_error_t *err);

/* ---------------------------------------------------------------- Outbound HTTP, messaging, plugins */

/** Sends a request to a host allowed by `[permissions] http`: `method`,
 *  absolute `url`, header fields (`headers` may be NULL) and
 *  `body[0..len]`; the response is owned (free with
 *  `warden_http_response_free`). */
bool warden_http_fetch(const char *method, const char *url, const warden_headers_t *headers, const void *body,
                       size_t len, warden_http_response_t *out, warden_error_t *err);
/** Frees a response from `warden_http_fetch`. */
void warden_http_response_free(warden_http_response_t *resp);
/** Publishes `payload[0..len]` on `topic` (needs `[permissions] publish`). */
bool warden_publish(const char *topic, const void *payload, size_t len, warden_error_t *err);
/** Calls `handle(action, payload)` on the plugin `plugin` (a `[dependencies]`
 *  entry); its reply is owned (free with `warden_bytes_free`). */
bool warden_call(const char *plugin, const char *action, const void *payload, size_t len, warden_bytes_t *out,
                 warden_error_t *err);

#ifdef __cplusplus
} /* extern "C" */

#include <string_view>

/** C++ helpers. */
namespace warden {

/** The bytes of `s` as a `std::string_view` (borrowed from `s`). */
inline std::string_view view(warden_str_t s) {
    return std::string_view(reinterpret_cast<const char *>(s.ptr), s.len);
}

/** A borrowed `warden_str_t` of `s` (valid while `s` is). */
inline warden_str_t str(std::string_view s) {
    return warden_strn(s.data(), s.size());
}

} // namespace warden
#endif

#endif /* WARDEN_H */
