/*
 * warden.c: the Warden SDK for C and C++ plugins (see warden.h).
 *
 * Besides the helpers, this file defines the functions the generated
 * bindings call for each exported interface (`exports_warden_plugin_*`):
 * each calls the plugin's `warden_*` hook and then frees what the host
 * lent. `warden_exports.h`, written by `warden build`, says which
 * interfaces the plugin exports.
 */
#include "warden.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "warden_exports.h"

/* ---------------------------------------------------------------- Internals */

/* Allocates or aborts: a plugin out of memory cannot go on (the host turns
 * the trap into an error and drops the instance). */
static void *alloc(size_t len) {
    void *p = malloc(len ? len : 1);
    if (!p) {
        abort();
    }
    return p;
}

/* A printf-formatted owned string. */
static warden_str_t vformat(const char *fmt, va_list args) {
    va_list again;
    va_copy(again, args);
    int len = vsnprintf(NULL, 0, fmt, args);
    if (len < 0) {
        len = 0;
    }
    char *text = (char *)alloc((size_t)len + 1);
    vsnprintf(text, (size_t)len + 1, fmt, again);
    va_end(again);
    if (len == 0) {
        /* Empty strings own nothing (the bindings free only `len > 0`). */
        free(text);
        text = NULL;
    }
    warden_str_t s = {(uint8_t *)text, (size_t)len};
    return s;
}

/* ---------------------------------------------------------------- Strings and bytes */

warden_str_t warden_str(const char *s) {
    return warden_strn(s, strlen(s));
}

warden_str_t warden_strn(const char *s, size_t len) {
    warden_str_t out = {(uint8_t *)s, len};
    return out;
}

warden_str_t warden_str_copy(warden_str_t s) {
    warden_str_t out = {NULL, s.len};
    if (s.len) {
        out.ptr = (uint8_t *)alloc(s.len);
        memcpy(out.ptr, s.ptr, s.len);
    }
    return out;
}

warden_str_t warden_str_dup(const char *s) {
    return warden_str_copy(warden_str(s));
}

char *warden_str_cstr(warden_str_t s) {
    char *out = (char *)alloc(s.len + 1);
    if (s.len) {
        memcpy(out, s.ptr, s.len);
    }
    out[s.len] = '\0';
    return out;
}

bool warden_str_eq(warden_str_t s, const char *text) {
    size_t len = strlen(text);
    return s.len == len && (len == 0 || memcmp(s.ptr, text, len) == 0);
}

static unsigned char lower(unsigned char c) {
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

bool warden_str_eq_ignore_case(warden_str_t s, const char *text) {
    size_t len = strlen(text);
    if (s.len != len) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (lower(s.ptr[i]) != lower((unsigned char)text[i])) {
            return false;
        }
    }
    return true;
}

void warden_str_free(warden_str_t *s) {
    if (s->len) {
        free(s->ptr);
    }
    s->ptr = NULL;
    s->len = 0;
}

warden_bytes_t warden_bytes_copy(const void *data, size_t len) {
    warden_bytes_t out = {NULL, len};
    if (len) {
        out.ptr = (uint8_t *)alloc(len);
        memcpy(out.ptr, data, len);
    }
    return out;
}

void warden_bytes_free(warden_bytes_t *b) {
    if (b->len) {
        free(b->ptr);
    }
    b->ptr = NULL;
    b->len = 0;
}

void warden_strs_free(warden_strs_t *list) {
    guest_list_string_free(list);
    list->ptr = NULL;
    list->len = 0;
}

void warden_headers_free(warden_headers_t *headers) {
    warden_plugin_types_headers_free(headers);
    headers->ptr = NULL;
    headers->len = 0;
}

/* ---------------------------------------------------------------- Errors */

bool warden_error(warden_error_t *err, const char *code, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    err->code = warden_str_dup(code);
    err->message = vformat(fmt, args);
    va_end(args);
    return false;
}

void warden_error_free(warden_error_t *err) {
    warden_str_free(&err->code);
    warden_str_free(&err->message);
}

/* ---------------------------------------------------------------- Hook results */

bool warden_continue(warden_request_action_t *ret) {
    ret->tag = WARDEN_PLUGIN_TYPES_REQUEST_ACTION_CONTINUE;
    return true;
}

bool warden_reject(warden_request_action_t *ret, uint16_t status, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    ret->tag = WARDEN_PLUGIN_TYPES_REQUEST_ACTION_REJECT;
    ret->val.reject.status = status;
    ret->val.reject.reason = vformat(fmt, args);
    va_end(args);
    return true;
}

bool warden_respond(warden_request_action_t *ret, uint16_t status, const char *content_type, const void *body,
                    size_t len) {
    warden_http_response_t *r = &ret->val.respond;
    ret->tag = WARDEN_PLUGIN_TYPES_REQUEST_ACTION_RESPOND;
    r->status = status;
    r->headers.ptr = NULL;
    r->headers.len = 0;
    if (content_type) {
        r->headers.ptr = (guest_tuple2_string_string_t *)alloc(sizeof *r->headers.ptr);
        r->headers.ptr[0].f0 = warden_str_dup("content-type");
        r->headers.ptr[0].f1 = warden_str_dup(content_type);
        r->headers.len = 1;
    }
    r->body = warden_bytes_copy(body, len);
    return true;
}

bool warden_response_continue(warden_response_action_t *ret) {
    ret->tag = WARDEN_PLUGIN_TYPES_RESPONSE_ACTION_CONTINUE;
    return true;
}

bool warden_response_reject(warden_response_action_t *ret, uint16_t status, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    ret->tag = WARDEN_PLUGIN_TYPES_RESPONSE_ACTION_REJECT;
    ret->val.reject.status = status;
    ret->val.reject.reason = vformat(fmt, args);
    va_end(args);
    return true;
}

bool warden_allow(warden_connect_action_t *ret) {
    ret->tag = WARDEN_PLUGIN_TYPES_CONNECT_ACTION_ALLOW;
    return true;
}

bool warden_deny(warden_connect_action_t *ret, const char *reason) {
    ret->tag = WARDEN_PLUGIN_TYPES_CONNECT_ACTION_DENY;
    ret->val.deny = warden_str_dup(reason);
    return true;
}

void warden_healthy(warden_health_t *ret) {
    ret->tag = WARDEN_PLUGIN_TYPES_HEALTH_STATUS_HEALTHY;
}

void warden_degraded(warden_health_t *ret, const char *reason) {
    ret->tag = WARDEN_PLUGIN_TYPES_HEALTH_STATUS_DEGRADED;
    ret->val.degraded = warden_str_dup(reason);
}

void warden_unhealthy(warden_health_t *ret, const char *reason) {
    ret->tag = WARDEN_PLUGIN_TYPES_HEALTH_STATUS_UNHEALTHY;
    ret->val.unhealthy = warden_str_dup(reason);
}

/* ---------------------------------------------------------------- Config and logging */

bool warden_config_find(const warden_config_t *config, const char *key, warden_str_t *out) {
    for (size_t i = 0; i < config->len; i++) {
        if (warden_str_eq(config->ptr[i].f0, key)) {
            *out = config->ptr[i].f1;
            return true;
        }
    }
    return false;
}

bool warden_config_get(const char *key, warden_str_t *out) {
    warden_str_t k = warden_str(key);
    return warden_plugin_config_get(&k, out);
}

void warden_log(warden_level_t level, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    warden_str_t message = vformat(fmt, args);
    va_end(args);
    warden_plugin_log_log((warden_plugin_log_level_t)level, &message);
    warden_str_free(&message);
}

/* ---------------------------------------------------------------- Call context */

warden_str_t warden_ctx_request_id(warden_ctx_t ctx) {
    warden_str_t out;
    warden_plugin_types_method_call_context_request_id(ctx, &out);
    return out;
}

bool warden_ctx_route(warden_ctx_t ctx, warden_str_t *out) {
    return warden_plugin_types_method_call_context_route(ctx, out);
}

/* ---------------------------------------------------------------- Requests */

warden_str_t warden_request_method(warden_request_t req) {
    warden_str_t out;
    warden_plugin_types_method_request_method(req, &out);
    return out;
}

warden_str_t warden_request_uri(warden_request_t req) {
    warden_str_t out;
    warden_plugin_types_method_request_uri(req, &out);
    return out;
}

warden_str_t warden_request_path(warden_request_t req) {
    warden_str_t out;
    warden_plugin_types_method_request_path(req, &out);
    return out;
}

bool warden_request_header(warden_request_t req, const char *name, warden_str_t *out) {
    warden_str_t n = warden_str(name);
    return warden_plugin_types_method_request_header(req, &n, out);
}

warden_strs_t warden_request_header_values(warden_request_t req, const char *name) {
    warden_str_t n = warden_str(name);
    warden_strs_t out;
    warden_plugin_types_method_request_header_values(req, &n, &out);
    return out;
}

warden_headers_t warden_request_headers(warden_request_t req) {
    warden_headers_t out;
    warden_plugin_types_method_request_headers(req, &out);
    return out;
}

bool warden_request_body_length(warden_request_t req, uint64_t *out) {
    return warden_plugin_types_method_request_body_length(req, out);
}

bool warden_request_body(warden_request_t req, warden_bytes_t *out, warden_error_t *err) {
    return warden_plugin_types_method_request_body(req, out, err);
}

bool warden_request_set_header(warden_request_t req, const char *name, const char *value, warden_error_t *err) {
    warden_str_t n = warden_str(name), v = warden_str(value);
    return warden_plugin_types_method_request_set_header(req, &n, &v, err);
}

bool warden_request_append_header(warden_request_t req, const char *name, const char *value, warden_error_t *err) {
    warden_str_t n = warden_str(name), v = warden_str(value);
    return warden_plugin_types_method_request_append_header(req, &n, &v, err);
}

bool warden_request_remove_header(warden_request_t req, const char *name, bool *removed, warden_error_t *err) {
    warden_str_t n = warden_str(name);
    bool was = false;
    if (!warden_plugin_types_method_request_remove_header(req, &n, &was, err)) {
        return false;
    }
    if (removed) {
        *removed = was;
    }
    return true;
}

bool warden_request_set_body(warden_request_t req, const void *body, size_t len, warden_error_t *err) {
    warden_bytes_t b = {(uint8_t *)body, len};
    return warden_plugin_types_method_request_set_body(req, &b, err);
}

/* ---------------------------------------------------------------- Responses */

uint16_t warden_response_status(warden_response_t resp) {
    return warden_plugin_types_method_response_status(resp);
}

bool warden_response_header(warden_response_t resp, const char *name, warden_str_t *out) {
    warden_str_t n = warden_str(name);
    return warden_plugin_types_method_response_header(resp, &n, out);
}

warden_strs_t warden_response_header_values(warden_response_t resp, const char *name) {
    warden_str_t n = warden_str(name);
    warden_strs_t out;
    warden_plugin_types_method_response_header_values(resp, &n, &out);
    return out;
}

warden_headers_t warden_response_headers(warden_response_t resp) {
    warden_headers_t out;
    warden_plugin_types_method_response_headers(resp, &out);
    return out;
}

bool warden_response_body(warden_response_t resp, warden_bytes_t *out, warden_error_t *err) {
    return warden_plugin_types_method_response_body(resp, out, err);
}

bool warden_response_set_status(warden_response_t resp, uint16_t status, warden_error_t *err) {
    return warden_plugin_types_method_response_set_status(resp, status, err);
}

bool warden_response_set_header(warden_response_t resp, const char *name, const char *value, warden_error_t *err) {
    warden_str_t n = warden_str(name), v = warden_str(value);
    return warden_plugin_types_method_response_set_header(resp, &n, &v, err);
}

bool warden_response_append_header(warden_response_t resp, const char *name, const char *value, warden_error_t *err) {
    warden_str_t n = warden_str(name), v = warden_str(value);
    return warden_plugin_types_method_response_append_header(resp, &n, &v, err);
}

bool warden_response_remove_header(warden_response_t resp, const char *name, bool *removed, warden_error_t *err) {
    warden_str_t n = warden_str(name);
    bool was = false;
    if (!warden_plugin_types_method_response_remove_header(resp, &n, &was, err)) {
        return false;
    }
    if (removed) {
        *removed = was;
    }
    return true;
}

bool warden_response_set_body(warden_response_t resp, const void *body, size_t len, warden_error_t *err) {
    warden_bytes_t b = {(uint8_t *)body, len};
    return warden_plugin_types_method_response_set_body(resp, &b, err);
}

/* ---------------------------------------------------------------- Key-value store */

bool warden_kv_get(const char *key, warden_bytes_t *out, bool *found, warden_error_t *err) {
    warden_str_t k = warden_str(key);
    guest_option_list_u8_t value;
    if (!warden_plugin_keyvalue_get(&k, &value, err)) {
        return false;
    }
    *found = value.is_some;
    if (value.is_some) {
        *out = value.val;
    } else {
        out->ptr = NULL;
        out->len = 0;
    }
    return true;
}

bool warden_kv_set(const char *key, const void *value, size_t len, warden_error_t *err) {
    warden_str_t k = warden_str(key);
    warden_bytes_t v = {(uint8_t *)value, len};
    return warden_plugin_keyvalue_set(&k, &v, err);
}

bool warden_kv_delete(const char *key, bool *existed, warden_error_t *err) {
    warden_str_t k = warden_str(key);
    bool was = false;
    if (!warden_plugin_keyvalue_delete(&k, &was, err)) {
        return false;
    }
    if (existed) {
        *existed = was;
    }
    return true;
}

bool warden_kv_list_keys(const char *prefix, uint32_t limit, warden_strs_t *out, warden_error_t *err) {
    warden_str_t p = warden_str(prefix);
    return warden_plugin_keyvalue_list_keys(&p, limit, out, err);
}

/* ---------------------------------------------------------------- Outbound HTTP, messaging, plugins */

bool warden_http_fetch(const char *method, const char *url, const warden_headers_t *headers, const void *body,
                       size_t len, warden_http_response_t *out, warden_error_t *err) {
    warden_plugin_outbound_http_outgoing_request_t request;
    request.method = warden_str(method);
    request.url = warden_str(url);
    request.headers.ptr = headers ? headers->ptr : NULL;
    request.headers.len = headers ? headers->len : 0;
    request.body.ptr = (uint8_t *)body;
    request.body.len = len;
    return warden_plugin_outbound_http_fetch(&request, out, err);
}

void warden_http_response_free(warden_http_response_t *resp) {
    warden_plugin_types_http_response_free(resp);
    resp->headers.ptr = NULL;
    resp->headers.len = 0;
    resp->body.ptr = NULL;
    resp->body.len = 0;
}

bool warden_publish(const char *topic, const void *payload, size_t len, warden_error_t *err) {
    warden_str_t t = warden_str(topic);
    warden_bytes_t p = {(uint8_t *)payload, len};
    return warden_plugin_messaging_publish(&t, &p, err);
}

bool warden_call(const char *plugin, const char *action, const void *payload, size_t len, warden_bytes_t *out,
                 warden_error_t *err) {
    warden_str_t name = warden_str(plugin), a = warden_str(action);
    warden_bytes_t p = {(uint8_t *)payload, len};
    return warden_plugin_plugins_call(&name, &a, &p, out, err);
}

/* ---------------------------------------------------------------- Exports */

/* The hooks with defaults: the plugin's own definitions replace these. */

__attribute__((weak)) void warden_shutdown(void) {}

__attribute__((weak)) void warden_health(warden_health_t *ret) {
    warden_healthy(ret);
}

__attribute__((weak)) bool warden_on_request(warden_ctx_t ctx, warden_request_t req, warden_request_action_t *ret,
                                             warden_error_t *err) {
    (void)ctx, (void)req, (void)err;
    return warden_continue(ret);
}

__attribute__((weak)) bool warden_on_response(warden_ctx_t ctx, warden_request_t req, warden_response_t resp,
                                              warden_response_action_t *ret, warden_error_t *err) {
    (void)ctx, (void)req, (void)resp, (void)err;
    return warden_response_continue(ret);
}

/* The host owns nothing it passes in: what the bindings hand to an export
 * is the export's to free, after the plugin's hook is done with it. */

static void pairs_free(warden_pairs_t *pairs) {
    guest_list_tuple2_string_string_free(pairs);
}

bool exports_warden_plugin_lifecycle_init(guest_list_tuple2_string_string_t *config, warden_error_t *err) {
    bool ok = warden_init(config, err);
    pairs_free(config);
    return ok;
}

void exports_warden_plugin_lifecycle_shutdown(void) {
    warden_shutdown();
}

void exports_warden_plugin_lifecycle_health(warden_health_t *ret) {
    warden_health(ret);
}

#ifdef WARDEN_EXPORTS_HTTP_FILTER
bool exports_warden_plugin_http_filter_on_request(warden_ctx_t ctx, warden_request_t req,
                                                  warden_request_action_t *ret, warden_error_t *err) {
    return warden_on_request(ctx, req, ret, err);
}

bool exports_warden_plugin_http_filter_on_response(warden_ctx_t ctx, warden_request_t req, warden_response_t resp,
                                                   warden_response_action_t *ret, warden_error_t *err) {
    return warden_on_response(ctx, req, resp, ret, err);
}
#endif

#ifdef WARDEN_EXPORTS_CONNECT
bool exports_warden_plugin_connect_on_connect(warden_connection_t *conn, warden_connect_action_t *ret,
                                              warden_error_t *err) {
    bool ok = warden_on_connect(conn, ret, err);
    warden_plugin_types_connection_info_free(conn);
    return ok;
}
#endif

#ifdef WARDEN_EXPORTS_CAPTURE
bool exports_warden_plugin_capture_on_capture(warden_ctx_t ctx, warden_request_t req, warden_response_t resp,
                                              uint64_t duration_us, warden_error_t *err) {
    return warden_on_capture(ctx, req, resp, duration_us, err);
}
#endif

#ifdef WARDEN_EXPORTS_RULE_MATCH
bool exports_warden_plugin_rule_match_on_rule_match(warden_ctx_t ctx, warden_str_t *rule, warden_request_t req,
                                                    warden_pairs_t *details, warden_error_t *err) {
    bool ok = warden_on_rule_match(ctx, *rule, req, details, err);
    warden_str_free(rule);
    pairs_free(details);
    return ok;
}
#endif

#ifdef WARDEN_EXPORTS_HANDLER
bool exports_warden_plugin_handler_handle(warden_str_t *action, warden_bytes_t *payload, warden_bytes_t *ret,
                                         warden_error_t *err) {
    bool ok = warden_handle(*action, *payload, ret, err);
    warden_str_free(action);
    warden_bytes_free(payload);
    return ok;
}
#endif

#ifdef WARDEN_EXPORTS_SUBSCRIBER
bool exports_warden_plugin_subscriber_on_message(warden_str_t *topic, warden_bytes_t *payload, warden_error_t *err) {
    bool ok = warden_on_message(*topic, *payload, err);
    warden_str_free(topic);
    warden_bytes_free(payload);
    return ok;
}
#endif
