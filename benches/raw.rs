//! The raw-wasmtime baseline host (included with `#[path]`): the same
//! `warden:plugin` WIT through `bindgen!`, the same sandbox settings
//! (pooling allocator, epoch deadline, fuel on or off), and the least host
//! work the components need: the request lives in the store as `http`
//! types, handles are fixed numbers, key-value is an in-memory map. No
//! permissions, no undo, no output accounting, no stats, no pool of
//! instances: what Warden adds on top is the difference.

#![allow(dead_code, reason = "each bench uses part of the baseline")]

use std::collections::HashMap;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use wasmtime::component::{HasSelf, InstancePre, Linker, Resource};

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "plugin",
});

pub use self::exports::warden::plugin::{http_filter, lifecycle};
pub use self::warden::plugin::types::{PluginError, RequestAction};
use self::warden::plugin::{config, keyvalue, log, messaging, outbound_http, plugins, types};

/// A request as the baseline host keeps it.
#[derive(Clone, Default)]
pub struct RawRequest {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Host state of one raw store.
pub struct RawState {
    wasi: wasmtime_wasi::WasiCtx,
    table: wasmtime::component::ResourceTable,
    config: Vec<(String, String)>,
    kv: HashMap<String, Vec<u8>>,
    /// The request lent to the current call.
    pub request: RawRequest,
}

impl RawState {
    pub fn new(config: Vec<(String, String)>) -> RawState {
        RawState {
            wasi: wasmtime_wasi::WasiCtxBuilder::new().build(),
            table: wasmtime::component::ResourceTable::new(),
            config,
            kv: HashMap::new(),
            request: RawRequest::default(),
        }
    }
}

impl wasmtime_wasi::WasiView for RawState {
    fn ctx(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
        wasmtime_wasi::WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

fn unavailable<T>() -> Result<T, PluginError> {
    Err(PluginError { code: "unavailable".into(), message: "not in the baseline".into() })
}

fn text(v: &HeaderValue) -> String {
    String::from_utf8_lossy(v.as_bytes()).into_owned()
}

impl types::Host for RawState {}

impl types::HostCallContext for RawState {
    fn request_id(&mut self, _: Resource<types::CallContext>) -> String {
        "bench".into()
    }
    fn traceparent(&mut self, _: Resource<types::CallContext>) -> Option<String> {
        None
    }
    fn route(&mut self, _: Resource<types::CallContext>) -> Option<String> {
        None
    }
    fn connection(&mut self, _: Resource<types::CallContext>) -> Option<types::ConnectionInfo> {
        None
    }
    fn drop(&mut self, _: Resource<types::CallContext>) -> wasmtime::Result<()> {
        Ok(())
    }
}

impl types::HostRequest for RawState {
    fn method(&mut self, _: Resource<types::Request>) -> String {
        self.request.method.as_str().to_owned()
    }
    fn uri(&mut self, _: Resource<types::Request>) -> String {
        self.request.uri.path_and_query().map_or("/", |pq| pq.as_str()).to_owned()
    }
    fn path(&mut self, _: Resource<types::Request>) -> String {
        self.request.uri.path().to_owned()
    }
    fn query(&mut self, _: Resource<types::Request>) -> Option<String> {
        self.request.uri.query().map(str::to_owned)
    }
    fn header(&mut self, _: Resource<types::Request>, name: String) -> Option<String> {
        self.request.headers.get(&name).map(text)
    }
    fn header_values(&mut self, _: Resource<types::Request>, name: String) -> Vec<String> {
        self.request.headers.get_all(&name).iter().map(text).collect()
    }
    fn headers(&mut self, _: Resource<types::Request>) -> Vec<(String, String)> {
        self.request.headers.iter().map(|(k, v)| (k.as_str().to_owned(), text(v))).collect()
    }
    fn body_length(&mut self, _: Resource<types::Request>) -> Option<u64> {
        Some(self.request.body.len() as u64)
    }
    fn body(&mut self, _: Resource<types::Request>) -> Result<Vec<u8>, PluginError> {
        Ok(self.request.body.to_vec())
    }
    fn set_method(&mut self, _: Resource<types::Request>, method: String) -> Result<(), PluginError> {
        self.request.method = Method::from_bytes(method.as_bytes()).or_else(|_| unavailable())?;
        Ok(())
    }
    fn set_uri(&mut self, _: Resource<types::Request>, uri: String) -> Result<(), PluginError> {
        self.request.uri = uri.parse().or_else(|_| unavailable())?;
        Ok(())
    }
    fn set_header(&mut self, _: Resource<types::Request>, name: String, value: String) -> Result<(), PluginError> {
        let name = HeaderName::from_bytes(name.as_bytes()).or_else(|_| unavailable())?;
        self.request.headers.insert(name, HeaderValue::from_str(&value).or_else(|_| unavailable())?);
        Ok(())
    }
    fn append_header(&mut self, _: Resource<types::Request>, name: String, value: String) -> Result<(), PluginError> {
        let name = HeaderName::from_bytes(name.as_bytes()).or_else(|_| unavailable())?;
        self.request.headers.append(name, HeaderValue::from_str(&value).or_else(|_| unavailable())?);
        Ok(())
    }
    fn remove_header(&mut self, _: Resource<types::Request>, name: String) -> Result<bool, PluginError> {
        Ok(self.request.headers.remove(&name).is_some())
    }
    fn set_body(&mut self, _: Resource<types::Request>, body: Vec<u8>) -> Result<(), PluginError> {
        if self.request.headers.contains_key(http::header::CONTENT_LENGTH) {
            self.request.headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        }
        self.request.body = body.into();
        Ok(())
    }
    fn drop(&mut self, _: Resource<types::Request>) -> wasmtime::Result<()> {
        Ok(())
    }
}

impl types::HostResponse for RawState {
    fn status(&mut self, _: Resource<types::Response>) -> u16 {
        200
    }
    fn header(&mut self, _: Resource<types::Response>, _: String) -> Option<String> {
        None
    }
    fn header_values(&mut self, _: Resource<types::Response>, _: String) -> Vec<String> {
        Vec::new()
    }
    fn headers(&mut self, _: Resource<types::Response>) -> Vec<(String, String)> {
        Vec::new()
    }
    fn body_length(&mut self, _: Resource<types::Response>) -> Option<u64> {
        None
    }
    fn body(&mut self, _: Resource<types::Response>) -> Result<Vec<u8>, PluginError> {
        unavailable()
    }
    fn set_status(&mut self, _: Resource<types::Response>, _: u16) -> Result<(), PluginError> {
        unavailable()
    }
    fn set_header(&mut self, _: Resource<types::Response>, _: String, _: String) -> Result<(), PluginError> {
        unavailable()
    }
    fn append_header(&mut self, _: Resource<types::Response>, _: String, _: String) -> Result<(), PluginError> {
        unavailable()
    }
    fn remove_header(&mut self, _: Resource<types::Response>, _: String) -> Result<bool, PluginError> {
        unavailable()
    }
    fn set_body(&mut self, _: Resource<types::Response>, _: Vec<u8>) -> Result<(), PluginError> {
        unavailable()
    }
    fn drop(&mut self, _: Resource<types::Response>) -> wasmtime::Result<()> {
        Ok(())
    }
}

impl log::Host for RawState {
    fn log(&mut self, _: log::Level, _: String) {}
}

impl config::Host for RawState {
    fn get(&mut self, key: String) -> Option<String> {
        self.config.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone())
    }

    fn get_all(&mut self) -> Vec<(String, String)> {
        self.config.clone()
    }
}

impl plugins::Host for RawState {
    fn call(&mut self, _: String, _: String, _: Vec<u8>) -> Result<Vec<u8>, PluginError> {
        unavailable()
    }
}

impl messaging::Host for RawState {
    fn publish(&mut self, _: String, _: Vec<u8>) -> Result<(), PluginError> {
        unavailable()
    }
}

impl outbound_http::Host for RawState {
    fn fetch(&mut self, _: outbound_http::OutgoingRequest) -> Result<types::HttpResponse, PluginError> {
        unavailable()
    }
}

impl keyvalue::Host for RawState {
    fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, PluginError> {
        Ok(self.kv.get(&key).cloned())
    }

    fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), PluginError> {
        self.kv.insert(key, value);
        Ok(())
    }

    fn delete(&mut self, key: String) -> Result<bool, PluginError> {
        Ok(self.kv.remove(&key).is_some())
    }

    fn list_keys(&mut self, _: String, _: u32) -> Result<Vec<String>, PluginError> {
        Ok(Vec::new())
    }
}

/// An engine configured as Warden's (pooling allocator; epoch
/// interruption and fuel when `sandboxed`, fuel only if `fuel` too).
pub fn engine(sandboxed: bool, fuel: bool) -> wasmtime::Engine {
    let mut config = wasmtime::Config::new();
    config.epoch_interruption(sandboxed).consume_fuel(sandboxed && fuel);
    let mut pool = wasmtime::PoolingAllocationConfig::new();
    pool.total_component_instances(100).total_core_instances(800).total_memories(200).total_tables(800);
    config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
    wasmtime::Engine::new(&config).unwrap()
}

/// A pre-instantiated component on `engine`.
pub fn pre(engine: &wasmtime::Engine, wasm: &str) -> InstancePre<RawState> {
    let component = wasmtime::component::Component::from_file(engine, wasm).unwrap();
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).unwrap();
    log::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).unwrap();
    config::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).unwrap();
    types::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).unwrap();
    plugins::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).unwrap();
    messaging::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).unwrap();
    outbound_http::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).unwrap();
    keyvalue::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).unwrap();
    linker.instantiate_pre(&component).unwrap()
}

/// Resets the per-call budget as Warden does before each call.
pub fn begin(store: &mut wasmtime::Store<RawState>, sandboxed: bool, fuel: bool) {
    if sandboxed {
        if fuel {
            store.set_fuel(u64::MAX).unwrap();
        }
        store.set_epoch_deadline(1_000);
    }
}

/// One instance of a filter plugin, `init` done, ready for `on-request`.
pub struct RawFilter {
    pub store: wasmtime::Store<RawState>,
    filter: http_filter::Guest,
    sandboxed: bool,
    fuel: bool,
}

impl RawFilter {
    pub fn new(pre: &InstancePre<RawState>, config: Vec<(String, String)>, sandboxed: bool, fuel: bool) -> Self {
        let mut store = wasmtime::Store::new(pre.engine(), RawState::new(config.clone()));
        begin(&mut store, sandboxed, fuel);
        let instance = pre.instantiate(&mut store).unwrap();
        let life = lifecycle::GuestIndices::new(pre).unwrap().load(&mut store, &instance).unwrap();
        life.call_init(&mut store, &config).unwrap().unwrap();
        let filter = http_filter::GuestIndices::new(pre).unwrap().load(&mut store, &instance).unwrap();
        RawFilter { store, filter, sandboxed, fuel }
    }

    /// Runs `on-request` on the request in the store.
    pub fn on_request(&mut self) -> Result<RequestAction, PluginError> {
        begin(&mut self.store, self.sandboxed, self.fuel);
        let (ctx, req) = (Resource::new_borrow(0), Resource::new_borrow(1));
        self.filter.call_on_request(&mut self.store, ctx, req).unwrap()
    }
}
