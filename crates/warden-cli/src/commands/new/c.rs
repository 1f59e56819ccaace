//! A C project: one source on the SDK's `warden.h` (written, with the
//! bindings, by `warden build`).

use std::fmt::Write as _;

use super::{File, Plan};

pub(crate) fn files(plan: &Plan) -> Vec<File> {
    let mut src = format!(
        r#"/* {name}: a Warden plugin. Build and test it with `warden test .`. */

#include <stdlib.h>
#include <string.h>

#include "warden.h"

/* Set by warden_init from `[config]`; owned. */
static warden_str_t greeting;

bool warden_init(const warden_config_t *config, warden_error_t *err) {{
    (void)err;
    warden_str_t value;
    warden_str_free(&greeting);
    greeting = warden_config_find(config, "greeting", &value) ? warden_str_copy(value) : warden_str_dup("hello");
    return true;
}}
"#,
        name = plan.name
    );
    if plan.has("http-filter") {
        src.push_str(
            r#"
bool warden_on_request(warden_ctx_t ctx, warden_request_t req, warden_request_action_t *ret, warden_error_t *err) {
    (void)ctx;
    warden_str_t path = warden_request_path(req);
    bool admin = path.len >= 6 && memcmp(path.ptr, "/admin", 6) == 0 && (path.len == 6 || path.ptr[6] == '/');
    warden_str_free(&path);
    if (admin) return warden_reject(ret, 403, "forbidden");
    char *value = warden_str_cstr(greeting);
    bool ok = warden_request_set_header(req, "x-greeting", value, err); /* needs modify-request */
    free(value);
    return ok && warden_continue(ret);
}
"#,
        );
    }
    if plan.has("handler") {
        src.push_str(
            r#"
bool warden_handle(warden_str_t action, warden_bytes_t payload, warden_bytes_t *ret, warden_error_t *err) {
    if (!warden_str_eq(action, "greet")) {
        return warden_error(err, "unknown-action", "no action `%.*s`; try `greet`", WARDEN_STR_ARGS(action));
    }
    size_t len = greeting.len + 2 + payload.len + 1;
    char *reply = malloc(len);
    if (reply == NULL) return warden_error(err, "out-of-memory", "no memory for the reply");
    memcpy(reply, greeting.ptr, greeting.len);
    memcpy(reply + greeting.len, ", ", 2);
    memcpy(reply + greeting.len + 2, payload.ptr, payload.len);
    reply[len - 1] = '!';
    *ret = warden_bytes_copy(reply, len);
    free(reply);
    return true;
}
"#,
        );
    }
    if plan.has("subscriber") {
        let _ = write!(
            src,
            r#"
bool warden_on_message(warden_str_t topic, warden_bytes_t payload, warden_error_t *err) {{
    (void)err;
    warden_log_info("%.*s: %zu bytes", WARDEN_STR_ARGS(topic), payload.len);
    return true;
}}
"#
        );
    }
    vec![("plugin.c".into(), src)]
}
