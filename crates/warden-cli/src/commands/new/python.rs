//! A Python project: one module with a `@warden.plugin` class (bundled
//! with the SDK by `warden build`).

use std::fmt::Write as _;

use super::{File, Plan};

pub(crate) fn files(plan: &Plan) -> Vec<File> {
    let mut src = format!(
        r#""""{name}: a Warden plugin. Build and test it with `warden test .`."""

from __future__ import annotations

import warden


@warden.plugin
class {camel}(warden.Plugin):
    def __init__(self, config: warden.Config) -> None:
        self.greeting = config.get("greeting", "hello")
"#,
        name = plan.name,
        camel = plan.camel,
    );
    if plan.has("http-filter") {
        src.push_str(
            r#"
    def on_request(self, ctx: warden.CallContext, req: warden.Request) -> warden.Action:
        path = req.path()
        if path == "/admin" or path.startswith("/admin/"):
            return warden.reject(403, "forbidden")
        req.set_header("x-greeting", self.greeting)  # needs modify-request
        return warden.CONTINUE
"#,
        );
    }
    if plan.has("handler") {
        src.push_str(
            r#"
    def handle(self, action: str, payload: bytes) -> str:
        if action != "greet":
            raise warden.PluginError("unknown-action", f"no action `{action}`; try `greet`")
        return f"{self.greeting}, {payload.decode(errors='replace')}!"
"#,
        );
    }
    if plan.has("subscriber") {
        let _ = write!(
            src,
            r#"
    def on_message(self, topic: str, payload: bytes) -> None:
        warden.log.info(f"{{topic}}: {{len(payload)}} bytes")
"#
        );
    }
    vec![("plugin.py".into(), src)]
}
