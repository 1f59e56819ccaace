//! Host-side bindings of `wit/scanner.wit`, world `example:scanner/scanner`.
//!
//! Warden's own interfaces (`warden:plugin/log`) map to Warden's bindings:
//! Warden links them; this host links only `crypto` and `system`.

wasmtime::component::bindgen!({
    path: ["../../wit", "wit"],
    world: "example:scanner/scanner",
    with: { "warden:plugin": ::warden::wit },
    additional_derives: [PartialEq, Eq],
});
