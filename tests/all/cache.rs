//! The compile cache: hits skip compilation; tampered entries are never
//! deserialized.

use warden::Runtime;
use warden_fixtures::ECHO;

use crate::common::plugin_dir;

#[test]
fn second_load_comes_from_the_cache_and_tampering_is_detected() {
    let cache = tempfile::TempDir::new().unwrap();
    let dir = plugin_dir(ECHO, "");
    let runtime = Runtime::builder().cache_dir(cache.path()).build().unwrap();
    let first = runtime.load(dir.path()).unwrap();
    assert!(!first.from_cache());
    let second = runtime.load(dir.path()).unwrap();
    assert!(second.from_cache());
    assert_eq!(second.handle("echo", b"cached").unwrap(), b"cached");

    // A new runtime with the same settings shares the cache.
    let again = Runtime::builder().cache_dir(cache.path()).build().unwrap();
    assert!(again.load(dir.path()).unwrap().from_cache());

    // Flip one byte of the compiled code: the entry is refused, the plugin
    // recompiles and still works, and the entry is rewritten.
    let entry = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .expect("a cache entry");
    let mut bytes = std::fs::read(&entry).unwrap();
    let last = bytes.len() - 100;
    bytes[last] ^= 0xff;
    std::fs::write(&entry, &bytes).unwrap();
    let recompiled = runtime.load(dir.path()).unwrap();
    assert!(!recompiled.from_cache());
    assert_eq!(recompiled.handle("echo", b"ok").unwrap(), b"ok");
    assert!(runtime.load(dir.path()).unwrap().from_cache());

    // An entry written with another key (another cache) is refused too.
    std::fs::write(cache.path().join("cache.key"), [7u8; 32]).unwrap();
    let other_key = Runtime::builder().cache_dir(cache.path()).build().unwrap();
    assert!(!other_key.load(dir.path()).unwrap().from_cache());
}

#[test]
fn world_writable_cache_dir_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let cache = tempfile::TempDir::new().unwrap();
    std::fs::set_permissions(cache.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let err = Runtime::builder().cache_dir(cache.path()).build().unwrap_err();
    assert!(err.to_string().contains("writable by other users"), "{err}");
}
