//! WASI is denied by default; only manifest grants open files and env vars.

use std::os::unix::fs::symlink;

use warden::Error;
use warden_fixtures::MALICIOUS;

use crate::common::{assert_still_serves, handle_err, load};

fn io_error(err: Error) -> String {
    match err {
        Error::Plugin { code, message, .. } => {
            assert!(code == "io" || code == "env", "unexpected code {code}: {message}");
            message
        }
        other => panic!("expected the plugin's own io error, got {other:?}"),
    }
}

#[test]
fn no_file_access_without_a_grant() {
    let (_dir, plugin) = load(MALICIOUS, "");
    for path in ["/etc/passwd", "etc/passwd", "/", "."] {
        io_error(handle_err(&plugin, "read-file", path.as_bytes()));
    }
    io_error(handle_err(&plugin, "list-dir", b"/"));
    assert_still_serves(&plugin);
}

#[test]
fn granted_directory_is_readable_but_nothing_outside_it() {
    let root = tempfile::TempDir::new().unwrap();
    let data = root.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("hello.txt"), "inside").unwrap();
    std::fs::write(root.path().join("secret.txt"), "outside").unwrap();
    symlink(root.path().join("secret.txt"), data.join("escape")).unwrap();
    symlink("/etc/passwd", data.join("passwd")).unwrap();
    let grant =
        format!("[permissions]\nfiles = [{{ path = \"{}\", guest = \"/data\", mode = \"ro\" }}]", data.display());
    let (_dir, plugin) = load(MALICIOUS, &grant);

    assert_eq!(plugin.handle("read-file", b"/data/hello.txt").unwrap(), b"inside");
    for escape in ["/data/../secret.txt", "/data/escape", "/data/passwd", "/etc/passwd", "/data/../../etc/passwd"] {
        io_error(handle_err(&plugin, "read-file", escape.as_bytes()));
    }
    // Read-only: writing is refused and nothing appears on the host.
    io_error(handle_err(&plugin, "write-file", b"/data/new.txt\nx"));
    assert!(!data.join("new.txt").exists());
    assert_still_serves(&plugin);
}

#[test]
fn read_write_grant_allows_writes_inside_only() {
    let root = tempfile::TempDir::new().unwrap();
    let out = root.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let grant = format!("[permissions]\nfiles = [{{ path = \"{}\", guest = \"/out\", mode = \"rw\" }}]", out.display());
    let (_dir, plugin) = load(MALICIOUS, &grant);
    plugin.handle("write-file", b"/out/result.txt\nwritten").unwrap();
    assert_eq!(std::fs::read_to_string(out.join("result.txt")).unwrap(), "written");
    io_error(handle_err(&plugin, "write-file", b"/out/../escaped.txt\nx"));
    assert!(!root.path().join("escaped.txt").exists());
}

#[test]
fn granted_directory_relative_to_the_plugin_folder() {
    let dir =
        crate::common::plugin_dir(MALICIOUS, "[permissions]\nfiles = [{ path = \"assets\", guest = \"/assets\" }]");
    std::fs::create_dir(dir.path().join("assets")).unwrap();
    std::fs::write(dir.path().join("assets/a.txt"), "asset").unwrap();
    let plugin = crate::common::runtime().load(dir.path()).unwrap();
    assert_eq!(plugin.handle("read-file", b"/assets/a.txt").unwrap(), b"asset");
}

#[test]
fn missing_granted_directory_is_a_load_error() {
    let dir = crate::common::plugin_dir(MALICIOUS, "[permissions]\nfiles = [{ path = \"nope\", guest = \"/nope\" }]");
    let err = crate::common::runtime().load(dir.path()).unwrap_err();
    assert!(err.to_string().contains("not a directory"), "{err}");
}

#[test]
fn a_granted_directory_removed_after_load_fails_new_instances_clearly() {
    let root = tempfile::TempDir::new().unwrap();
    let data = root.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("a.txt"), "a").unwrap();
    let grant = format!("[permissions]\nfiles = [{{ path = \"{}\", guest = \"/data\" }}]", data.display());
    let (_dir, plugin) = load(MALICIOUS, &grant);
    assert_eq!(plugin.handle("read-file", b"/data/a.txt").unwrap(), b"a");

    std::fs::remove_dir_all(&data).unwrap();
    // A trap discards the instance, so the next call needs a new one.
    assert!(matches!(handle_err(&plugin, "panic", b"x"), Error::Trap { .. }));
    match handle_err(&plugin, "read-file", b"/data/a.txt") {
        Error::Runtime(message) => assert!(
            message.starts_with(&format!(
                "plugin '{}' could not be instantiated: capability 'wasi': cannot open granted directory",
                plugin.name()
            )) && message.contains(&data.display().to_string()),
            "{message}"
        ),
        other => panic!("expected a runtime error naming the directory, got {other:?}"),
    }
    // Once the directory is back, new instances start again.
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("a.txt"), "b").unwrap();
    assert_eq!(plugin.handle("read-file", b"/data/a.txt").unwrap(), b"b");
}

#[test]
fn only_granted_env_vars_are_visible() {
    assert!(std::env::var("PATH").is_ok() && std::env::var("HOME").is_ok());
    let (_dir, plugin) = load(MALICIOUS, "[permissions]\nenv = [\"PATH\"]");
    assert_eq!(plugin.handle("env", b"PATH").unwrap(), std::env::var("PATH").unwrap().as_bytes());
    io_error(handle_err(&plugin, "env", b"HOME"));
    let (_dir, none) = load(MALICIOUS, "");
    io_error(handle_err(&none, "env", b"PATH"));
    assert_still_serves(&plugin);
}
