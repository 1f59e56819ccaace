/*
 * Example plugin in C: checks JSON request bodies and refuses the bad ones.
 * It behaves exactly like the Rust version (plugins/validator/src/lib.rs).
 *
 * Config keys (all optional):
 * - `required = "user_id, action"`: top-level fields that must be present
 *   and not `null` (at most 64);
 * - `methods = "POST, PUT, PATCH"` (the default): the methods whose requests
 *   are checked; any other method passes untouched;
 * - `max-depth = "32"` (the default; 1 to 100): how deeply objects and
 *   arrays may nest, the body itself being depth 1;
 * - `max-body = "65536"`: the largest body in bytes (no limit by default).
 *
 * On a checked method the body must be a JSON object sent with a JSON
 * content type: 415 otherwise, 413 over `max-body`, 400 if empty, not an
 * object, malformed or too deep, 422 if required fields are missing or null.
 * The body is read only for a checked method, and not when its length,
 * known up front, already decides a 415 or 413.
 */
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "warden.h"

#define DEFAULT_MAX_DEPTH 32
#define MAX_DEPTH_LIMIT 100
#define MAX_REQUIRED 64

/* Bytes with a length, owned or borrowed as said. */
typedef struct text {
    const uint8_t *ptr;
    size_t len;
} text;

/* Validated settings, built once from the config; every `text` is owned. */
static struct rules {
    /* Top-level fields that must be present and not null, in config order. */
    text required[MAX_REQUIRED];
    size_t required_len;
    /* Checked methods, uppercase. */
    text *methods;
    size_t methods_len;
    /* Deepest allowed nesting; the body object is depth 1. */
    uint32_t max_depth;
    /* Largest body in bytes, if `has_max_body`. */
    bool has_max_body;
    uint64_t max_body;
} rules;

static text own(const uint8_t *ptr, size_t len) {
    uint8_t *copy = (uint8_t *)malloc(len ? len : 1);
    if (!copy) abort();
    memcpy(copy, ptr, len);
    text t = {copy, len};
    return t;
}

static void free_texts(text *list, size_t len) {
    for (size_t i = 0; i < len; i++) free((void *)list[i].ptr);
}

static void rules_reset(void) {
    free_texts(rules.required, rules.required_len);
    free_texts(rules.methods, rules.methods_len);
    free(rules.methods);
    memset(&rules, 0, sizeof rules);
    rules.max_depth = DEFAULT_MAX_DEPTH;
}

/* ---------------------------------------------------------------- Text helpers */

/* The length of the Unicode white space character (Rust's `char::is_whitespace`)
 * at the start of `p[0..n]`, or 0. */
static size_t space_len(const uint8_t *p, size_t n) {
    if (n >= 1 && ((p[0] >= 0x09 && p[0] <= 0x0D) || p[0] == ' ')) return 1;
    if (n >= 2 && p[0] == 0xC2 && (p[1] == 0x85 || p[1] == 0xA0)) return 2;
    if (n >= 3) {
        uint32_t c = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
        if (c == 0xE19A80 || (c >= 0xE28080 && c <= 0xE2808A) || c == 0xE280A8 || c == 0xE280A9 || c == 0xE280AF ||
            c == 0xE2819F || c == 0xE38080)
            return 3;
    }
    return 0;
}

/* `t` without white space at either end, like Rust's `str::trim`. */
static text trim(text t) {
    size_t n;
    while (t.len && (n = space_len(t.ptr, t.len))) t.ptr += n, t.len -= n;
    for (bool again = true; again && t.len;) {
        again = false;
        for (size_t k = 1; k <= 3 && k <= t.len; k++) {
            if (space_len(t.ptr + t.len - k, k) == k) {
                t.len -= k;
                again = true;
                break;
            }
        }
    }
    return t;
}

static uint8_t upper(uint8_t c) {
    return c >= 'a' && c <= 'z' ? (uint8_t)(c - 32) : c;
}

static bool eq_ignore_case(text a, text b) {
    if (a.len != b.len) return false;
    for (size_t i = 0; i < a.len; i++) {
        if (upper(a.ptr[i]) != upper(b.ptr[i])) return false;
    }
    return true;
}

static bool eq(text a, text b) {
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static text view(warden_str_t s) {
    text t = {s.ptr, s.len};
    return t;
}

static text view_bytes(warden_bytes_t b) {
    text t = {b.ptr, b.len};
    return t;
}

/* The non-empty trimmed items of the comma-separated `value`, borrowed from
 * it, into a malloc'd array (free it); their number in `*len`. */
static text *list(text value, size_t *len) {
    size_t cap = 1;
    for (size_t i = 0; i < value.len; i++) cap += value.ptr[i] == ',';
    text *items = (text *)malloc(cap * sizeof *items);
    if (!items) abort();
    *len = 0;
    const uint8_t *start = value.ptr, *end = value.ptr + value.len;
    for (const uint8_t *p = start;; p++) {
        if (p == end || *p == ',') {
            text item = trim((text){start, (size_t)(p - start)});
            if (item.len) items[(*len)++] = item;
            if (p == end) break;
            start = p + 1;
        }
    }
    return items;
}

/* Whether `b` may appear in an HTTP method (an RFC 9110 token). */
static bool is_token_byte(uint8_t b) {
    return (b >= '0' && b <= '9') || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') ||
           (b && strchr("!#$%&'*+-.^_`|~", b));
}

/* Whether a content type is JSON: `application/json` or
 * `application/<something>+json`, with any parameters, in any case. */
static bool is_json(text content_type) {
    text essence = content_type;
    const uint8_t *semicolon = memchr(essence.ptr, ';', essence.len);
    if (semicolon) essence.len = (size_t)(semicolon - essence.ptr);
    essence = trim(essence);
    const uint8_t *slash = memchr(essence.ptr, '/', essence.len);
    if (!slash) return false;
    text kind = {essence.ptr, (size_t)(slash - essence.ptr)};
    text sub = {slash + 1, essence.len - kind.len - 1};
    const text application = {(const uint8_t *)"application", 11}, json = {(const uint8_t *)"json", 4};
    const text plus_json = {(const uint8_t *)"+json", 5};
    return eq_ignore_case(kind, application) &&
           (eq_ignore_case(sub, json) ||
            (sub.len > 5 && eq_ignore_case((text){sub.ptr + sub.len - 5, 5}, plus_json)));
}

/* ---------------------------------------------------------------- Config */

#define KEY_ARGS(t) (int)(t).len, (const char *)(t).ptr

static bool bad_number(warden_error_t *err, text key, text value, uint64_t min, uint64_t max) {
    return warden_error(err, "bad-config", "config key `%.*s`: `%.*s` is not a whole number from %llu to %llu",
                        KEY_ARGS(key), KEY_ARGS(value), (unsigned long long)min, (unsigned long long)max);
}

/* A whole number from `min` to `max`, parsed like Rust's `u64::from_str`
 * after trimming; a `bad-config` error otherwise. */
static bool number(text key, text value, uint64_t min, uint64_t max, uint64_t *out, warden_error_t *err) {
    text t = trim(value);
    size_t i = t.len && t.ptr[0] == '+';
    uint64_t n = 0;
    if (i == t.len) return bad_number(err, key, value, min, max);
    for (; i < t.len; i++) {
        uint8_t d = t.ptr[i];
        if (d < '0' || d > '9' || n > (UINT64_MAX - (d - '0')) / 10) return bad_number(err, key, value, min, max);
        n = n * 10 + (d - '0');
    }
    if (n < min || n > max) return bad_number(err, key, value, min, max);
    *out = n;
    return true;
}

/* Reads one config entry into `rules`. */
static bool read_entry(text key, text value, warden_error_t *err) {
    const char *k = (const char *)key.ptr;
    size_t n;
    uint64_t number_value;
    if (key.len == 8 && memcmp(k, "required", 8) == 0) {
        text *items = list(value, &n);
        free_texts(rules.required, rules.required_len);
        rules.required_len = 0;
        if (n > MAX_REQUIRED) {
            free(items);
            return warden_error(err, "bad-config", "config key `%.*s`: at most %d fields", KEY_ARGS(key), MAX_REQUIRED);
        }
        for (size_t i = 0; i < n; i++) rules.required[rules.required_len++] = own(items[i].ptr, items[i].len);
        free(items);
    } else if (key.len == 7 && memcmp(k, "methods", 7) == 0) {
        text *items = list(value, &n);
        free_texts(rules.methods, rules.methods_len);
        free(rules.methods);
        rules.methods = items;
        rules.methods_len = n;
        for (size_t i = 0; i < n; i++) {
            text m = own(items[i].ptr, items[i].len);
            for (size_t j = 0; j < m.len; j++) ((uint8_t *)m.ptr)[j] = upper(m.ptr[j]);
            items[i] = m;
        }
        for (size_t i = 0; i < n; i++) {
            for (size_t j = 0; j < items[i].len; j++) {
                if (!is_token_byte(items[i].ptr[j])) {
                    return warden_error(err, "bad-config", "config key `%.*s`: `%.*s` is not an HTTP method",
                                        KEY_ARGS(key), KEY_ARGS(items[i]));
                }
            }
        }
    } else if (key.len == 9 && memcmp(k, "max-depth", 9) == 0) {
        if (!number(key, value, 1, MAX_DEPTH_LIMIT, &number_value, err)) return false;
        rules.max_depth = (uint32_t)number_value;
    } else if (key.len == 8 && memcmp(k, "max-body", 8) == 0) {
        if (!number(key, value, 1, UINT32_MAX, &number_value, err)) return false;
        rules.has_max_body = true;
        rules.max_body = number_value;
    } else {
        return warden_error(err, "bad-config",
                            "config key `%.*s`: unknown key; allowed keys: required, methods, max-depth, max-body",
                            KEY_ARGS(key));
    }
    return true;
}

bool warden_init(const warden_config_t *config, warden_error_t *err) {
    rules_reset();
    rules.methods = list((text){(const uint8_t *)"POST,PUT,PATCH", 14}, &rules.methods_len);
    for (size_t i = 0; i < rules.methods_len; i++) rules.methods[i] = own(rules.methods[i].ptr, rules.methods[i].len);
    for (size_t i = 0; i < config->len; i++) {
        if (!read_entry(view(config->ptr[i].f0), view(config->ptr[i].f1), err)) return false;
    }
    return true;
}

/* ---------------------------------------------------------------- Checks */

/* Whether requests with `method` are checked. */
static bool checks(text method) {
    for (size_t i = 0; i < rules.methods_len; i++) {
        if (eq_ignore_case(rules.methods[i], method)) return true;
    }
    return false;
}

/* The checks that need only the body's length: true if `*ret` refuses. */
static bool check_length(const text *content_type, uint64_t length, warden_request_action_t *ret) {
    if (length > 0 && !(content_type && is_json(*content_type))) {
        return warden_reject(ret, 415, "content-type must be application/json");
    }
    if (rules.has_max_body && length > rules.max_body) {
        return warden_reject(ret, 413, "request body larger than %llu bytes", (unsigned long long)rules.max_body);
    }
    return false;
}

/* Bit `i` for `required[i]`: present and not null, the last occurrence of
 * a repeated name winning. */
static void on_field(void *data, const uint8_t *name, size_t name_len, const uint8_t *value, size_t value_len) {
    uint64_t *found = (uint64_t *)data;
    text n = {name, name_len};
    for (size_t i = 0; i < rules.required_len; i++) {
        if (eq(rules.required[i], n)) {
            bool null = value_len == 4 && memcmp(value, "null", 4) == 0;
            *found = null ? *found & ~((uint64_t)1 << i) : *found | (uint64_t)1 << i;
            return;
        }
    }
}

/* Checks the body of a request of a checked method: true if `*ret` refuses. */
static bool check_body(const text *content_type, text body, warden_request_action_t *ret) {
    if (check_length(content_type, body.len, ret)) return true;
    /* Anything but `{` first (after ASCII white space, form feed included)
     * is not an object, or not JSON at all. */
    size_t i = 0;
    while (i < body.len && body.ptr[i] && strchr(" \t\n\f\r", body.ptr[i])) i++;
    if (i == body.len || body.ptr[i] != '{') return warden_reject(ret, 400, "request body must be a JSON object");
    uint64_t found = 0;
    json_result r = json_fields(body.ptr, body.len, rules.max_depth, on_field, &found);
    if (r.status == JSON_TOO_DEEP) return warden_reject(ret, 400, "JSON body nested deeper than %u levels", rules.max_depth);
    /* Past the check above, "not an object" can only be a form feed before
     * the `{`: a syntax error too. */
    if (r.status != JSON_OK) {
        return warden_reject(ret, 400, "invalid JSON body at line %zu column %zu", r.line, r.column);
    }
    size_t missing = 0, size = 0;
    for (size_t k = 0; k < rules.required_len; k++) {
        if (!(found >> k & 1)) missing++, size += rules.required[k].len + 2;
    }
    if (missing == 0) return false;
    char *names = (char *)malloc(size + 1), *p = names;
    if (!names) abort();
    for (size_t k = 0; k < rules.required_len; k++) {
        if (found >> k & 1) continue;
        if (p != names) *p++ = ',', *p++ = ' ';
        memcpy(p, rules.required[k].ptr, rules.required[k].len);
        p += rules.required[k].len;
    }
    *p = '\0';
    warden_reject(ret, 422, "missing required field%s: %s", missing > 1 ? "s" : "", names);
    free(names);
    return true;
}

bool warden_on_request(warden_ctx_t ctx, warden_request_t req, warden_request_action_t *ret, warden_error_t *err) {
    (void)ctx;
    /* Only a checked method's body is read: the others stream through. */
    warden_str_t method = warden_request_method(req);
    bool checked = checks(view(method));
    warden_str_free(&method);
    if (!checked) return warden_continue(ret);
    warden_str_t header;
    bool has_type = warden_request_header(req, "content-type", &header);
    text content_type = view(header);
    const text *type = has_type ? &content_type : NULL;
    /* A length known up front can settle 415 and 413 without reading. */
    uint64_t length;
    bool refused = warden_request_body_length(req, &length) && check_length(type, length, ret);
    bool ok = true;
    if (!refused) {
        warden_bytes_t body;
        ok = warden_request_body(req, &body, err);
        if (ok) {
            refused = check_body(type, view_bytes(body), ret);
            warden_bytes_free(&body);
        }
    }
    if (has_type) warden_str_free(&header);
    return ok && (refused || warden_continue(ret));
}
