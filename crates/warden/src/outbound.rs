//! The outbound HTTP capability (host import `warden:plugin/outbound-http`).
//!
//! Not implemented yet: every request is refused with `unavailable`.

use crate::bindings::{outbound_http, types};
use crate::host::HostState;

impl outbound_http::Host for HostState {
    fn fetch(&mut self, _request: outbound_http::OutgoingRequest) -> Result<types::HttpResponse, types::PluginError> {
        Err(types::PluginError {
            code: "unavailable".to_owned(),
            message: format!("plugin '{}': this host offers no outbound HTTP", self.shared.name),
        })
    }
}
