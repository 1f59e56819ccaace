//! C and C++ plugins. The bindings are generated here, by wit-bindgen's C
//! generator (what `wit-bindgen c` runs); the sources are compiled by clang
//! for `wasm32-wasi` and linked as a reactor (a library with no `main`);
//! the core module is made a component here too, by wit-component, with the
//! WASI preview1 reactor adapter of the wasmtime release Warden runs on.
//! Only clang, wasm-ld and the wasm32 libraries come from outside (Debian
//! packages).
//!
//! Files written to `<plugin>/target/warden/`: `wit/` (the world),
//! `guest.h`, `guest.c`, `guest_component_type.o` (the bindings),
//! `warden.h`, `warden.c` (the SDK), `warden_exports.h` (which hook
//! interfaces the plugin exports, for `warden.c`), `obj/*.o` and
//! `plugin.core.wasm`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use warden::Interface;
use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};
use wit_bindgen_core::Files;
use wit_bindgen_core::wit_parser::Resolve;

use super::Project;
use super::tools::{Tool, has_extension, output, run, spawn, wait, write};
use super::wit;

/// The SDK header, as plugin sources include it: `#include "warden.h"`.
const SDK_HEADER: &str = include_str!("../../../../../sdk/c/warden.h");
/// The SDK's functions and the glue between the bindings and the hooks.
const SDK_SOURCE: &str = include_str!("../../../../../sdk/c/warden.c");

/// The Debian packages of the whole toolchain.
const PACKAGES: &str = "clang lld wasi-libc libclang-rt-14-dev-wasm32 libc++-14-dev-wasm32";
/// How to install them, for errors.
const INSTALL: &str = "run `apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32 libc++-14-dev-wasm32`";

/// Extensions of C++ sources (compiled with clang++, linked with libc++).
const CXX: &[&str] = &["cc", "cpp", "cxx", "C", "c++"];

/// The target of every compile and of the link.
const TARGET: &str = "--target=wasm32-wasi";

/// The object file wit-bindgen writes with the world's type, which the
/// link puts into a custom section for wit-component.
const TYPE_OBJECT: &str = "guest_component_type.o";

pub(crate) fn build(project: &Project) -> Result<()> {
    let cxx = project.sources.iter().any(|s| has_extension(s, CXX));
    let toolchain = Toolchain::find()?;
    let wit = wit::write_package(project)?;
    for (name, contents) in bindings(&wit)?.iter() {
        write(&project.work.join(name), contents)?;
    }
    write(&project.work.join("warden.h"), SDK_HEADER)?;
    write(&project.work.join("warden.c"), SDK_SOURCE)?;
    write(&project.work.join("warden_exports.h"), exports_header(project.exports()))?;

    let obj = project.work.join("obj");
    std::fs::create_dir_all(&obj).with_context(|| format!("cannot create `{}`", obj.display()))?;
    let generated = [project.work.join("guest.c"), project.work.join("warden.c")];
    let sources: Vec<&PathBuf> = generated.iter().chain(&project.sources).collect();
    let mut objects: Vec<PathBuf> = sources
        .iter()
        .enumerate()
        .map(|(i, source)| obj.join(format!("{i}-{}.o", source.file_stem().unwrap_or_default().to_string_lossy())))
        .collect();
    let commands = sources.iter().zip(&objects).map(|(source, object)| toolchain.compile(source, object, project));
    // A failure may come from a missing part of the toolchain, which the
    // check then names (it costs a few clang runs, so only on failure).
    compile_all(commands.collect(), &sources).map_err(|e| toolchain.check(cxx).err().unwrap_or(e))?;
    objects.push(project.work.join(TYPE_OBJECT));

    let core = project.work.join("plugin.core.wasm");
    let mut link = Command::new(if cxx { &toolchain.clangxx } else { &toolchain.clang });
    link.args([TARGET, "-mexec-model=reactor"]);
    // wasi-libc's objects carry DWARF (two thirds of the module): dropped
    // unless the plugin asks for debug info. The `name` section stays, so
    // traps still name functions.
    if !project.flags().iter().any(|f| f.starts_with("-g")) {
        link.arg("-Wl,--strip-debug");
    }
    link.args(project.flags()).args(&objects).arg("-o").arg(&core);
    run(&mut link, "linking (an undefined `warden_*` symbol is a hook the plugin must define)")
        .map_err(|e| toolchain.check(cxx).err().unwrap_or(e))?;

    let module = std::fs::read(&core).with_context(|| format!("cannot read `{}`", core.display()))?;
    write(project.out(), componentize(&module)?)
}

/// Runs the compiles at once (their messages go to ours); an error names
/// the sources that failed.
fn compile_all(mut commands: Vec<Command>, sources: &[&PathBuf]) -> Result<()> {
    let mut children = Vec::new();
    for command in &mut commands {
        match spawn(command) {
            Ok(child) => children.push(child),
            Err(e) => {
                // None of those started runs on unwaited.
                for mut child in children {
                    let _ = child.kill();
                    let _ = child.wait();
                }
                return Err(e);
            }
        }
    }
    let mut failed = Vec::new();
    let mut stopped = None;
    for (mut child, source) in children.into_iter().zip(sources) {
        // Every child is waited for (or stopped), even after an error.
        let status = match wait(&mut child) {
            Ok(status) => status,
            Err(e) => {
                stopped.get_or_insert(e);
                continue;
            }
        };
        if !status.success() {
            failed.push(format!("`{}`", source.display()));
        }
    }
    if let Some(e) = stopped {
        return Err(e);
    }
    if !failed.is_empty() {
        bail!("compiling {} failed; clang's messages are above", failed.join(", "));
    }
    Ok(())
}

/// The C bindings of the world in `wit`: `guest.h`, `guest.c` and
/// [`TYPE_OBJECT`].
fn bindings(wit: &Path) -> Result<Files> {
    let mut resolve = Resolve::default();
    let (package, _) = resolve.push_path(wit).with_context(|| format!("cannot read the WIT in `{}`", wit.display()))?;
    let world = resolve.select_world(&[package], Some(wit::WORLD))?;
    // Borrowed handles (the request a hook gets) are dropped by the
    // bindings when the hook returns, so plugins never drop them.
    let opts = wit_bindgen_c::Opts { autodrop_borrows: wit_bindgen_c::Enabled::Yes, ..Default::default() };
    let mut files = Files::default();
    opts.build().generate(&mut resolve, world, &mut files).context("cannot generate the C bindings")?;
    Ok(files)
}

/// `warden_exports.h`: a `WARDEN_EXPORTS_<NAME>` macro per hook interface
/// the plugin exports, which selects the glue in `warden.c`.
fn exports_header(exports: &[Interface]) -> String {
    let mut text = String::from("/* Written by `warden build`: the hook interfaces this plugin exports. */\n");
    for interface in exports {
        let name = interface.wit_name();
        let short = name.split(['/', '@']).nth(1).unwrap_or(name);
        text += &format!("#define WARDEN_EXPORTS_{} 1\n", short.replace('-', "_").to_ascii_uppercase());
    }
    text
}

/// The component of a core module built against the world (its type is in
/// a custom section, from [`TYPE_OBJECT`]), with its WASI preview1 imports
/// adapted to WASI 0.2.
fn componentize(module: &[u8]) -> Result<Vec<u8>> {
    wit_component::ComponentEncoder::default()
        .module(module)
        .context("the linked module is not a valid WebAssembly module")?
        .validate(true)
        .adapter(WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER)?
        .encode()
        .context("cannot make a component of the linked module")
}

/// clang and clang++.
struct Toolchain {
    clang: PathBuf,
    clangxx: PathBuf,
}

impl Toolchain {
    /// Finds clang and clang++ on `PATH`.
    fn find() -> Result<Toolchain> {
        let clang = Tool { name: "clang", install: INSTALL }.on_path()?;
        let clangxx = Tool { name: "clang++", install: INSTALL }.on_path()?;
        Ok(Toolchain { clang, clangxx })
    }

    /// Checks that clang has the linker, C library and compiler runtime for
    /// `wasm32-wasi` (and libc++ if `cxx`); an error names the Debian
    /// package of whatever is missing.
    fn check(&self, cxx: bool) -> Result<()> {
        let clang = &self.clang;
        let mut needs = vec![
            ("-print-prog-name=wasm-ld", "lld"),
            ("-print-file-name=libc.a", "wasi-libc"),
            ("-print-libgcc-file-name", "libclang-rt-14-dev-wasm32"),
        ];
        if cxx {
            needs.push(("-print-file-name=libc++.a", "libc++-14-dev-wasm32"));
            needs.push(("-print-file-name=libc++abi.a", "libc++abi-14-dev-wasm32"));
        }
        let mut missing = Vec::new();
        for (question, package) in needs {
            let (_, stdout) = output(Command::new(clang).args([TARGET, question]))?;
            // clang answers with the bare name when it finds no such file.
            let answer = PathBuf::from(String::from_utf8_lossy(&stdout).trim());
            if !answer.is_absolute() || !answer.is_file() {
                missing.push(package);
            }
        }
        if !missing.is_empty() {
            bail!(
                "`{}` cannot build for wasm32-wasi: install {}, or the whole toolchain with \
                 `apt-get install {PACKAGES}`",
                clang.display(),
                missing.join(", ")
            );
        }
        Ok(())
    }

    /// The command that compiles `source` into `object`: `-O2`, C++17
    /// without exceptions for C++, the SDK's folder on the include path,
    /// then `[build] flags` (which can override the others).
    fn compile(&self, source: &Path, object: &Path, project: &Project) -> Command {
        let cxx = has_extension(source, CXX);
        let mut command = Command::new(if cxx { &self.clangxx } else { &self.clang });
        command.args([TARGET, "-O2", "-Wall"]);
        if cxx {
            command.args(["-std=c++17", "-fno-exceptions"]);
        }
        command.arg("-I").arg(&project.work).args(project.flags()).arg("-c").arg(source).arg("-o").arg(object);
        command
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exports_header_defines_a_macro_per_hook_interface() {
        assert_eq!(
            exports_header(&[Interface::HttpFilter, Interface::RuleMatch]),
            "/* Written by `warden build`: the hook interfaces this plugin exports. */\n\
             #define WARDEN_EXPORTS_HTTP_FILTER 1\n\
             #define WARDEN_EXPORTS_RULE_MATCH 1\n"
        );
        // warden.c has the glue for every one of them.
        let all = &Interface::ALL[1..];
        for line in exports_header(all).lines().skip(1) {
            let name = line.split(' ').nth(1).unwrap();
            assert!(SDK_SOURCE.contains(&format!("#ifdef {name}\n")), "{name}");
        }
    }

    /// The bindings of a world exporting every hook interface.
    fn all_bindings() -> (Files, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        write(&dir.path().join("guest.wit"), wit::world(&Interface::ALL[1..])).unwrap();
        write(&dir.path().join("deps").join("plugin.wit"), wit::PACKAGE).unwrap();
        (bindings(dir.path()).unwrap(), dir)
    }

    #[test]
    fn generates_the_bindings_in_process() {
        let (files, _dir) = all_bindings();
        let names: Vec<&str> = files.iter().map(|(name, _)| name).collect();
        for name in ["guest.h", "guest.c", TYPE_OBJECT] {
            assert!(names.contains(&name), "{names:?}");
        }
    }

    #[test]
    fn the_sdk_uses_only_what_the_bindings_declare() {
        let (files, _dir) = all_bindings();
        let header =
            files.iter().find(|(name, _)| *name == "guest.h").map(|(_, c)| String::from_utf8_lossy(c)).unwrap();
        let sdk = format!("{SDK_HEADER}{SDK_SOURCE}");
        // Every generated name the SDK mentions (`guest_*`, `warden_plugin_*`,
        // `exports_*`, `WARDEN_PLUGIN_*`) is in guest.h.
        let words = sdk.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'));
        let generated = ["guest_", "warden_plugin_", "exports_warden_plugin_", "WARDEN_PLUGIN_"];
        let mut checked = 0;
        for word in words.filter(|w| generated.iter().any(|p| w.starts_with(p))) {
            assert!(header.contains(word), "sdk/c uses `{word}`, which guest.h does not declare");
            checked += 1;
        }
        assert!(checked > 50, "{checked}");
    }
}
