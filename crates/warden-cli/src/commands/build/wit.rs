//! The WIT a non-Rust plugin is built against: Warden's package, as this
//! binary carries it, and a world made for the plugin that exports
//! `lifecycle` and the hook interfaces of `[build] exports`. (Warden's own
//! `plugin` world exports every hook interface, which a JavaScript, Python
//! or C plugin would then have to implement.)

use std::path::PathBuf;

use anyhow::Result;
use warden::Interface;

use super::Project;
use super::tools::write;

/// Warden's WIT package, `warden:plugin@0.2.0`.
pub(crate) const PACKAGE: &str = include_str!("../../../../../wit/plugin.wit");

/// The name of the world written for the plugin, in package `warden:guest`.
pub(crate) const WORLD: &str = "guest";

/// The world's text: every host import, `lifecycle`, and `exports`.
pub(crate) fn world(exports: &[Interface]) -> String {
    let mut text = String::from(
        "package warden:guest;\n\n\
         /// Written by `warden build` for one plugin: Warden's host imports,\n\
         /// `lifecycle`, and the hook interfaces of the plugin's `[build] exports`.\n\
         world guest {\n    include warden:plugin/imports@0.2.0;\n",
    );
    for interface in std::iter::once(&Interface::Lifecycle).chain(exports) {
        text += &format!("    export {};\n", interface.wit_name());
    }
    text + "}\n"
}

/// Writes `<work>/wit/guest.wit` and `<work>/wit/deps/plugin.wit`; returns
/// the `wit` folder, which every WIT tool takes as the package to build.
pub(crate) fn write_package(project: &Project) -> Result<PathBuf> {
    let dir = project.work.join("wit");
    write(&dir.join("guest.wit"), world(project.exports()))?;
    write(&dir.join("deps").join("plugin.wit"), PACKAGE)?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_world_exports_lifecycle_and_the_chosen_hooks() {
        let text = world(&[Interface::HttpFilter, Interface::Handler]);
        let exports: Vec<_> = text.lines().map(str::trim).filter(|l| l.starts_with("export ")).collect();
        assert_eq!(
            exports,
            [
                "export warden:plugin/lifecycle@0.2.0;",
                "export warden:plugin/http-filter@0.2.0;",
                "export warden:plugin/handler@0.2.0;"
            ]
        );
        assert!(text.contains("world guest {") && text.contains("include warden:plugin/imports@0.2.0;"));
        assert!(PACKAGE.starts_with("package warden:plugin@0.2.0;"));
    }
}
