//! The `[build]` table of a manifest: how `warden build` makes the
//! component from source. The runtime never reads it.

use std::fmt;
use std::path::PathBuf;

use crate::hooks::Interface;

/// How a plugin is built from source (`[build]` in plugin.toml).
///
/// Every key is optional for a Rust crate (a `Cargo.toml` beside the
/// manifest). Other languages name the hook interfaces they export, since
/// their source does not declare them in a form the builder can read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BuildSpec {
    /// The source language; `None` lets the builder tell from the files.
    pub language: Option<Language>,
    /// Source files, resolved against the manifest's folder: the entry
    /// module for JavaScript/TypeScript and Python, every translation unit
    /// for C and C++. Empty: the language's conventional entry file.
    pub sources: Vec<PathBuf>,
    /// The hook interfaces the plugin exports besides `lifecycle`, which
    /// every plugin built by `warden build` exports.
    pub exports: Vec<Interface>,
    /// Extra arguments for the compiler (C and C++ only: clang flags such
    /// as `-DNDEBUG` or `-Iinclude`).
    pub flags: Vec<String>,
}

/// A language `warden build` compiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Language {
    /// Rust, with cargo and the `wasm32-wasip2` target (`"rust"`).
    Rust,
    /// JavaScript or TypeScript, with esbuild and componentize-js (`"js"`,
    /// `"javascript"`, `"ts"`, `"typescript"`).
    JavaScript,
    /// Python, with componentize-py (`"python"`, `"py"`).
    Python,
    /// C or C++, with clang and wasi-libc (`"c"`, `"c++"`, `"cpp"`).
    C,
}

impl Language {
    /// Every language, in the order `warden build` documents them.
    pub const ALL: [Language; 4] = [Language::Rust, Language::JavaScript, Language::Python, Language::C];

    /// The name used in `[build] language`.
    pub fn name(self) -> &'static str {
        match self {
            Language::Rust => "rust",
            Language::JavaScript => "js",
            Language::Python => "python",
            Language::C => "c",
        }
    }

    /// Parses a `[build] language` value (case-insensitive).
    pub fn parse(s: &str) -> Option<Language> {
        Some(match s.to_ascii_lowercase().as_str() {
            "rust" | "rs" => Language::Rust,
            "js" | "javascript" | "ts" | "typescript" => Language::JavaScript,
            "python" | "py" => Language::Python,
            "c" | "c++" | "cpp" => Language::C,
            _ => return None,
        })
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The interfaces `[build] exports` may name: every hook interface but
/// `lifecycle` (always exported), by [`short_name`].
pub(crate) fn exports() -> impl Iterator<Item = Interface> {
    Interface::ALL.into_iter().filter(|i| *i != Interface::Lifecycle)
}

/// `http-filter` for `warden:plugin/http-filter@0.2.0`.
pub(crate) fn short_name(interface: Interface) -> &'static str {
    let name = interface.wit_name();
    let name = name.strip_prefix("warden:plugin/").unwrap_or(name);
    name.split('@').next().unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_names_round_trip() {
        for language in Language::ALL {
            assert_eq!(Language::parse(language.name()), Some(language));
        }
        assert_eq!(Language::parse("TypeScript"), Some(Language::JavaScript));
        assert_eq!(Language::parse("c++"), Some(Language::C));
        assert_eq!(Language::parse("go"), None);
    }

    #[test]
    fn export_names_are_short() {
        let names: Vec<_> = exports().map(short_name).collect();
        assert_eq!(names, ["http-filter", "connect", "capture", "rule-match", "handler", "subscriber"]);
    }
}
