//! A JavaScript or TypeScript project: one ES module on the `warden` SDK
//! (bundled by `warden build`), a package.json naming the build tools, and
//! for TypeScript a tsconfig.json.

use std::fmt::Write as _;

use super::{File, Plan};

pub(crate) fn files(plan: &Plan, typescript: bool) -> Vec<File> {
    let ts = |typed: &'static str| if typescript { typed } else { "" };
    let mut imports = vec!["definePlugin"];
    if plan.has("http-filter") {
        imports.extend(["Continue", "reject"]);
    }
    if plan.has("handler") {
        imports.extend(["PluginError", "text"]);
    }
    if plan.has("subscriber") {
        imports.push("log");
    }
    imports.sort_unstable();
    let mut src = format!(
        "// {name}: a Warden plugin. Build and test it with `warden test .`.\n\n\
         import {{ {imports} }} from \"warden\";\n{types}\n\
         /** Set by init from `[config]`. */\nlet greeting = \"hello\";\n\n\
         export default definePlugin({{\n  init(config{config}) {{\n    greeting = config.get(\"greeting\", \"hello\");\n  }},\n",
        name = plan.name,
        imports = imports.join(", "),
        types = ts("import type { CallContext, Config, Request } from \"warden\";\n"),
        config = ts(": Config"),
    );
    if plan.has("http-filter") {
        let _ = write!(
            src,
            "  onRequest(_ctx{ctx}, req{req}) {{\n    const path = req.path();\n    \
             if (path === \"/admin\" || path.startsWith(\"/admin/\")) return reject(403, \"forbidden\");\n    \
             req.setHeader(\"x-greeting\", greeting); // needs modify-request\n    return Continue;\n  }},\n",
            ctx = ts(": CallContext"),
            req = ts(": Request"),
        );
    }
    if plan.has("handler") {
        let _ = write!(
            src,
            "  handle(action{a}, payload{p}) {{\n    \
             if (action !== \"greet\") throw new PluginError(\"unknown-action\", `no action \\`${{action}}\\`; try \\`greet\\``);\n    \
             return `${{greeting}}, ${{text(payload)}}!`;\n  }},\n",
            a = ts(": string"),
            p = ts(": Uint8Array"),
        );
    }
    if plan.has("subscriber") {
        let _ = write!(
            src,
            "  onMessage(topic{t}, payload{p}) {{\n    log.info(`${{topic}}: ${{payload.length}} bytes`);\n  }},\n",
            t = ts(": string"),
            p = ts(": Uint8Array"),
        );
    }
    src.push_str("});\n");
    let package = format!(
        r#"{{
  "name": "{name}",
  "private": true,
  "type": "module",
  "description": "A Warden plugin; `warden build .` makes the component",
  "devDependencies": {{
    "@bytecodealliance/componentize-js": "~0.23.0",
    "@bytecodealliance/preview2-shim": "~0.25.0",
    "esbuild": "^0.28.2"{typescript}
  }}
}}
"#,
        name = plan.name,
        typescript = ts(",\n    \"typescript\": \"^7.0.2\""),
    );
    let entry = if typescript { "plugin.ts" } else { "plugin.js" };
    let mut files = vec![(entry.to_owned(), src), ("package.json".to_owned(), package)];
    if typescript {
        // For editors and `npx tsc`; `warden build` needs neither (esbuild strips the types).
        files.push(("warden.d.ts".to_owned(), include_str!("../../../../../sdk/js/warden.d.ts").to_owned()));
        files.push((
            "tsconfig.json".to_owned(),
            "{\n  \"compilerOptions\": {\n    \"target\": \"ES2022\",\n    \"lib\": [\"ES2022\"],\n    \
             \"module\": \"ESNext\",\n    \"moduleResolution\": \"bundler\",\n    \"strict\": true,\n    \
             \"noEmit\": true\n  },\n  \"files\": [\"plugin.ts\", \"warden.d.ts\"]\n}\n"
                .to_owned(),
        ));
    }
    files
}
