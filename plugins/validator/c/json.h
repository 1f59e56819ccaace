/*
 * json.h: checks a JSON object in one pass and reports its top-level fields.
 *
 * A port of the Rust scanner (crates/warden-pdk/src/json/scan.rs): the same
 * grammar (RFC 8259: valid escapes, surrogate escapes in pairs, no control
 * characters in strings, valid UTF-8), the same nesting limit, and errors at
 * the same line and column as serde_json reports them. No recursion, no
 * allocation but a buffer for a name with escapes.
 */
#ifndef VALIDATOR_JSON_H
#define VALIDATOR_JSON_H

#include <stddef.h>
#include <stdint.h>

/** The deepest nesting `json_fields` can check (its stack is fixed). */
#define JSON_MAX_DEPTH 128

/** What `json_fields` found. */
typedef enum json_status {
    /** One well-formed object, with only whitespace around it. */
    JSON_OK,
    /** Empty, or the first byte after whitespace is not `{`. */
    JSON_NOT_AN_OBJECT,
    /** Malformed: a bad token, string, trailing bytes, ... */
    JSON_SYNTAX,
    /** Objects and arrays nest deeper than `max_depth`. */
    JSON_TOO_DEEP,
} json_status;

/** The result, and where the first problem is: line and column from 1,
 *  counting bytes; the column of the offending byte, or of the last byte
 *  when the input ends too early. */
typedef struct json_result {
    json_status status;
    size_t line;
    size_t column;
} json_result;

/** Called for each top-level field, in order: the name unescaped (not
 *  NUL-terminated) and the value as raw JSON text. Fields are reported as
 *  the scan goes: they count only if the result is `JSON_OK`. */
typedef void (*json_field_fn)(void *data, const uint8_t *name, size_t name_len, const uint8_t *value,
                              size_t value_len);

/** Checks that `in[0..len]` is exactly one JSON object nesting at most
 *  `max_depth` levels (the object itself is level 1; at most
 *  `JSON_MAX_DEPTH`), calling `on_field` for each top-level field. */
json_result json_fields(const uint8_t *in, size_t len, uint32_t max_depth, json_field_fn on_field, void *data);

#endif
