/* json.c: the scanner of json.h, a port of crates/warden-pdk/src/json/scan.rs. */
#include "json.h"

#include <stdbool.h>
#include <stdlib.h>

typedef struct scanner {
    const uint8_t *in;
    size_t len;
    /* The next byte to read. */
    size_t pos;
    uint32_t max_depth;
    /* The first problem, once there is one. */
    json_result error;
} scanner;

/* The next byte, or -1 at the end. */
static int peek(const scanner *s) {
    return s->pos < s->len ? s->in[s->pos] : -1;
}

/* Records a problem at byte `index` (`len` when the input ended too early)
 * and returns false. Like serde_json, the position is just after the
 * offending byte. */
static bool fail(scanner *s, json_status status, size_t index) {
    size_t end = index + 1 < s->len ? index + 1 : s->len;
    size_t line_start = 0, line = 1;
    for (size_t i = 0; i < end; i++) {
        if (s->in[i] == '\n') {
            line_start = i + 1;
            line++;
        }
    }
    s->error.status = status;
    s->error.line = line;
    s->error.column = end - line_start;
    return false;
}

static bool syntax(scanner *s, size_t index) {
    return fail(s, JSON_SYNTAX, index);
}

static void skip_whitespace(scanner *s) {
    int c;
    while ((c = peek(s)) == ' ' || c == '\t' || c == '\n' || c == '\r') {
        s->pos++;
    }
}

/* The value of the hex digit `c`, or -1. */
static int hex_digit(uint8_t c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* The value of the four hex digits at `p`, or -1. */
static long hex4(const uint8_t *p) {
    long n = 0;
    for (int i = 0; i < 4; i++) {
        int d = hex_digit(p[i]);
        if (d < 0) return -1;
        n = n << 4 | d;
    }
    return n;
}

/* The four hex digits at `at` (reported at the last of them if bad). */
static bool hex_escape(scanner *s, size_t at, long *code) {
    if (at + 4 > s->len) return syntax(s, s->len);
    *code = hex4(s->in + at);
    return *code >= 0 || syntax(s, at + 3);
}

/* Checks the escape whose backslash is at `*i` and moves `*i` past it. A
 * `\u` surrogate must be a leading one followed directly by a trailing one. */
static bool escape(scanner *s, size_t *i) {
    size_t at = *i;
    if (at + 1 >= s->len) return syntax(s, s->len);
    switch (s->in[at + 1]) {
    case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
        *i = at + 2;
        return true;
    case 'u': {
        long code, low;
        if (!hex_escape(s, at + 2, &code)) return false;
        if (code >= 0xDC00 && code <= 0xDFFF) return syntax(s, at + 5);
        if (code >= 0xD800 && code <= 0xDBFF) {
            const char expected[2] = {'\\', 'u'};
            for (size_t k = 0; k < 2; k++) {
                if (at + 6 + k >= s->len) return syntax(s, s->len);
                if (s->in[at + 6 + k] != expected[k]) return syntax(s, at + 6 + k);
            }
            if (!hex_escape(s, at + 8, &low)) return false;
            if (low < 0xDC00 || low > 0xDFFF) return syntax(s, at + 11);
            *i = at + 12;
            return true;
        }
        *i = at + 6;
        return true;
    }
    default:
        return syntax(s, at + 1);
    }
}

/* The length of the valid UTF-8 that `p[0..n]` starts with (all of it if valid). */
static size_t utf8_valid_up_to(const uint8_t *p, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t b = p[i];
        size_t more;
        uint8_t lo = 0x80, hi = 0xBF; /* the range of the second byte */
        if (b < 0x80) { i++; continue; }
        if (b >= 0xC2 && b <= 0xDF) more = 1;
        else if (b >= 0xE0 && b <= 0xEF) { more = 2; if (b == 0xE0) lo = 0xA0; if (b == 0xED) hi = 0x9F; }
        else if (b >= 0xF0 && b <= 0xF4) { more = 3; if (b == 0xF0) lo = 0x90; if (b == 0xF4) hi = 0x8F; }
        else return i;
        for (size_t k = 1; k <= more; k++) {
            if (i + k >= n) return i;
            if (p[i + k] < (k == 1 ? lo : 0x80) || p[i + k] > (k == 1 ? hi : 0xBF)) return i;
        }
        i += more + 1;
    }
    return n;
}

/* How many bytes the checked string content `raw[0..n]` decodes to. */
static size_t decoded_len(const uint8_t *raw, size_t n) {
    size_t i = 0, len = 0;
    while (i < n) {
        if (raw[i] == '\\' && raw[i + 1] == 'u') {
            long code = hex4(raw + i + 2);
            if (code >= 0xD800 && code <= 0xDBFF) { len += 4; i += 12; continue; }
            len += code < 0x80 ? 1 : code < 0x800 ? 2 : 3;
            i += 6;
        } else if (raw[i] == '\\') {
            len += 1;
            i += 2;
        } else {
            len += 1;
            i += 1;
        }
    }
    return len;
}

/* Checks the string whose opening quote is at `pos`, moves past its closing
 * quote, and says whether it has escapes. Bad UTF-8 is reported only at the
 * closing quote, as serde_json does (a later bad escape is reported first). */
static bool string(scanner *s, bool *escaped) {
    size_t i = s->pos + 1, bad = SIZE_MAX;
    *escaped = false;
    for (;;) {
        if (i >= s->len) return syntax(s, s->len);
        uint8_t b = s->in[i];
        if (b == '"') {
            /* serde_json's column: the quote's, less the decoded length from the bad byte on. */
            if (bad != SIZE_MAX) return syntax(s, i - decoded_len(s->in + bad, i - bad));
            s->pos = i + 1;
            return true;
        } else if (b == '\\') {
            *escaped = true;
            if (!escape(s, &i)) return false;
        } else if (b < 0x20) {
            return syntax(s, i);
        } else if (b >= 0x80) {
            size_t run = i;
            while (run < s->len && s->in[run] >= 0x80) run++;
            size_t valid = utf8_valid_up_to(s->in + i, run - i);
            if (bad == SIZE_MAX && valid < run - i) bad = i + valid;
            i = run;
        } else {
            i++;
        }
    }
}

/* `true`, `false` or `null`. */
static bool literal(scanner *s, const char *word) {
    for (; *word; word++) {
        if (peek(s) != (uint8_t)*word) return syntax(s, s->pos);
        s->pos++;
    }
    return true;
}

static bool is_digit(int c) {
    return c >= '0' && c <= '9';
}

/* At least one digit. */
static bool digits(scanner *s) {
    if (!is_digit(peek(s))) return syntax(s, s->pos);
    while (is_digit(peek(s))) s->pos++;
    return true;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool number(scanner *s) {
    if (peek(s) == '-') s->pos++;
    if (peek(s) == '0') {
        s->pos++;
        if (is_digit(peek(s))) return syntax(s, s->pos);
    } else if (!digits(s)) {
        return false;
    }
    if (peek(s) == '.') {
        s->pos++;
        if (!digits(s)) return false;
    }
    if (peek(s) == 'e' || peek(s) == 'E') {
        s->pos++;
        if (peek(s) == '+' || peek(s) == '-') s->pos++;
        if (!digits(s)) return false;
    }
    return true;
}

/* A member's name and the `:` after it, whitespace skipped around both;
 * sets `*start`/`*end` to the quoted name and `*escaped`. */
static bool name(scanner *s, size_t *start, size_t *end, bool *escaped) {
    skip_whitespace(s);
    if (peek(s) != '"') return syntax(s, s->pos);
    *start = s->pos;
    if (!string(s, escaped)) return false;
    *end = s->pos;
    skip_whitespace(s);
    if (peek(s) != ':') return syntax(s, s->pos);
    s->pos++;
    return true;
}

/* Checks one value, `depth` levels deep (the level of its container). */
static bool value(scanner *s, uint32_t depth) {
    /* The containers open inside this value, innermost last: 1 for an array. */
    uint8_t open[JSON_MAX_DEPTH];
    uint32_t n = 0;
    size_t a, b;
    bool e;
    for (;;) {
        skip_whitespace(s);
        int c = peek(s);
        if (c == '{' || c == '[') {
            if (depth + n >= s->max_depth) return fail(s, JSON_TOO_DEEP, s->pos);
            s->pos++;
            skip_whitespace(s);
            if (peek(s) == (c == '{' ? '}' : ']')) {
                s->pos++;
            } else {
                open[n++] = c == '[';
                if (c == '{' && !name(s, &a, &b, &e)) return false;
                continue;
            }
        } else if (c == '"') {
            if (!string(s, &e)) return false;
        } else if (c == '-' || is_digit(c)) {
            if (!number(s)) return false;
        } else if (c == 't') {
            if (!literal(s, "true")) return false;
        } else if (c == 'f') {
            if (!literal(s, "false")) return false;
        } else if (c == 'n') {
            if (!literal(s, "null")) return false;
        } else {
            return syntax(s, s->pos);
        }
        /* A value ended: close containers until one goes on, or stop. */
        for (;;) {
            if (n == 0) return true;
            bool in_array = open[n - 1];
            skip_whitespace(s);
            c = peek(s);
            if (c == ',') {
                s->pos++;
                if (!in_array && !name(s, &a, &b, &e)) return false;
                break;
            }
            if (c != (in_array ? ']' : '}')) return syntax(s, s->pos);
            s->pos++;
            n--;
        }
    }
}

/* Writes `code` as UTF-8 at `out`; returns the length. */
static size_t put_utf8(uint8_t *out, long code) {
    if (code < 0x80) { out[0] = (uint8_t)code; return 1; }
    if (code < 0x800) { out[0] = (uint8_t)(0xC0 | code >> 6); out[1] = (uint8_t)(0x80 | (code & 0x3F)); return 2; }
    if (code < 0x10000) {
        out[0] = (uint8_t)(0xE0 | code >> 12);
        out[1] = (uint8_t)(0x80 | (code >> 6 & 0x3F));
        out[2] = (uint8_t)(0x80 | (code & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | code >> 18);
    out[1] = (uint8_t)(0x80 | (code >> 12 & 0x3F));
    out[2] = (uint8_t)(0x80 | (code >> 6 & 0x3F));
    out[3] = (uint8_t)(0x80 | (code & 0x3F));
    return 4;
}

/* Unescapes the checked string content `raw[0..n]` into `out` (room for `n`
 * bytes is enough: no escape decodes to more bytes than it takes). */
static size_t unescape(const uint8_t *raw, size_t n, uint8_t *out) {
    size_t i = 0, len = 0;
    while (i < n) {
        if (raw[i] != '\\') {
            out[len++] = raw[i++];
            continue;
        }
        uint8_t c = raw[i + 1];
        if (c == 'u') {
            long code = hex4(raw + i + 2);
            i += 6;
            if (code >= 0xD800 && code <= 0xDBFF) {
                code = 0x10000 + ((code - 0xD800) << 10) + (hex4(raw + i + 2) - 0xDC00);
                i += 6;
            }
            len += put_utf8(out + len, code);
            continue;
        }
        out[len++] = c == 'b' ? '\b' : c == 'f' ? '\f' : c == 'n' ? '\n' : c == 'r' ? '\r' : c == 't' ? '\t' : c;
        i += 2;
    }
    return len;
}

json_result json_fields(const uint8_t *in, size_t len, uint32_t max_depth, json_field_fn on_field, void *data) {
    scanner s = {in, len, 0, max_depth > JSON_MAX_DEPTH ? JSON_MAX_DEPTH : max_depth, {JSON_OK, 0, 0}};
    skip_whitespace(&s);
    if (peek(&s) != '{') {
        fail(&s, JSON_NOT_AN_OBJECT, s.pos);
        return s.error;
    }
    if (s.max_depth == 0) {
        fail(&s, JSON_TOO_DEEP, s.pos);
        return s.error;
    }
    s.pos++;
    skip_whitespace(&s);
    if (peek(&s) == '}') {
        s.pos++;
    } else {
        for (;;) {
            size_t start, end;
            bool escaped;
            if (!name(&s, &start, &end, &escaped)) return s.error;
            skip_whitespace(&s);
            size_t value_start = s.pos;
            if (!value(&s, 1)) return s.error;
            const uint8_t *raw = in + start + 1;
            size_t raw_len = end - start - 2;
            if (escaped) {
                uint8_t *buffer = (uint8_t *)malloc(raw_len ? raw_len : 1);
                if (!buffer) abort();
                size_t n = unescape(raw, raw_len, buffer);
                on_field(data, buffer, n, in + value_start, s.pos - value_start);
                free(buffer);
            } else {
                on_field(data, raw, raw_len, in + value_start, s.pos - value_start);
            }
            skip_whitespace(&s);
            int c = peek(&s);
            if (c == ',') {
                s.pos++;
            } else if (c == '}') {
                s.pos++;
                break;
            } else {
                syntax(&s, s.pos);
                return s.error;
            }
            skip_whitespace(&s);
        }
    }
    skip_whitespace(&s);
    if (s.pos != len) syntax(&s, s.pos);
    return s.error;
}
