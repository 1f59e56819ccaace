//! The hooks a plugin can export, and the WIT interfaces they belong to.

use std::fmt;
use std::str::FromStr;

/// A WIT interface a plugin may export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Interface {
    /// `warden:plugin/lifecycle`: `init`, `shutdown`, `health`.
    Lifecycle,
    /// `warden:plugin/http-filter`: `on-request`, `on-response`.
    HttpFilter,
    /// `warden:plugin/connect`: `on-connect`.
    Connect,
    /// `warden:plugin/capture`: `on-capture`.
    Capture,
    /// `warden:plugin/rule-match`: `on-rule-match`.
    RuleMatch,
    /// `warden:plugin/handler`: `handle`.
    Handler,
    /// `warden:plugin/subscriber`: `on-message`.
    Subscriber,
}

impl Interface {
    /// Every interface.
    pub const ALL: [Interface; 7] = [
        Interface::Lifecycle,
        Interface::HttpFilter,
        Interface::Connect,
        Interface::Capture,
        Interface::RuleMatch,
        Interface::Handler,
        Interface::Subscriber,
    ];

    /// The fully qualified WIT name, e.g. `warden:plugin/http-filter@0.2.0`.
    pub fn wit_name(self) -> &'static str {
        match self {
            Interface::Lifecycle => "warden:plugin/lifecycle@0.2.0",
            Interface::HttpFilter => "warden:plugin/http-filter@0.2.0",
            Interface::Connect => "warden:plugin/connect@0.2.0",
            Interface::Capture => "warden:plugin/capture@0.2.0",
            Interface::RuleMatch => "warden:plugin/rule-match@0.2.0",
            Interface::Handler => "warden:plugin/handler@0.2.0",
            Interface::Subscriber => "warden:plugin/subscriber@0.2.0",
        }
    }

    /// The hooks this interface contains.
    pub fn hooks(self) -> &'static [Hook] {
        match self {
            Interface::Lifecycle => &[Hook::Init, Hook::Shutdown, Hook::Health],
            Interface::HttpFilter => &[Hook::OnRequest, Hook::OnResponse],
            Interface::Connect => &[Hook::OnConnect],
            Interface::Capture => &[Hook::OnCapture],
            Interface::RuleMatch => &[Hook::OnRuleMatch],
            Interface::Handler => &[Hook::Handle],
            Interface::Subscriber => &[Hook::OnMessage],
        }
    }
}

/// The Warden interfaces a compiled plugin exports, whatever their
/// version (the bindings decide whether the version is compatible).
pub(crate) fn exported_interfaces(pre: &crate::world::InstancePre) -> Vec<Interface> {
    use wasmtime::component::types::ComponentItem;
    let engine = pre.engine();
    let ty = pre.component().component_type();
    let unversioned = |n: &str| n.split('@').next().unwrap_or(n).to_owned();
    let exported: Vec<String> = ty
        .exports(engine)
        .filter(|(_, item)| matches!(item.ty, ComponentItem::ComponentInstance(_)))
        .map(|(n, _)| unversioned(n))
        .collect();
    Interface::ALL.into_iter().filter(|i| exported.contains(&unversioned(i.wit_name()))).collect()
}

/// Why a plugin's export of `interface` cannot be used: its version or
/// types differ from Warden's WIT.
pub(crate) fn mismatch(interface: Interface, e: &wasmtime::Error) -> String {
    format!("its export `{}` does not match the WIT package: {e:#}", interface.wit_name())
}

/// One function a host can call on a plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Hook {
    /// `lifecycle.init`
    Init,
    /// `lifecycle.shutdown`
    Shutdown,
    /// `lifecycle.health`
    Health,
    /// `http-filter.on-request`
    OnRequest,
    /// `http-filter.on-response`
    OnResponse,
    /// `connect.on-connect`
    OnConnect,
    /// `capture.on-capture`
    OnCapture,
    /// `rule-match.on-rule-match`
    OnRuleMatch,
    /// `handler.handle`
    Handle,
    /// `subscriber.on-message`
    OnMessage,
    /// A function of a host-defined world, called through
    /// [`Plugin::call`](crate::Plugin::call).
    Export(&'static str),
}

impl Hook {
    /// Every hook.
    pub const ALL: [Hook; 10] = [
        Hook::Init,
        Hook::Shutdown,
        Hook::Health,
        Hook::OnRequest,
        Hook::OnResponse,
        Hook::OnConnect,
        Hook::OnCapture,
        Hook::OnRuleMatch,
        Hook::Handle,
        Hook::OnMessage,
    ];

    /// The WIT name, e.g. `"on-request"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Hook::Init => "init",
            Hook::Shutdown => "shutdown",
            Hook::Health => "health",
            Hook::OnRequest => "on-request",
            Hook::OnResponse => "on-response",
            Hook::OnConnect => "on-connect",
            Hook::OnCapture => "on-capture",
            Hook::OnRuleMatch => "on-rule-match",
            Hook::Handle => "handle",
            Hook::OnMessage => "on-message",
            Hook::Export(name) => name,
        }
    }

    /// The Warden interface that defines this hook (`None` for a function
    /// of a host-defined world).
    pub fn interface(self) -> Option<Interface> {
        Some(match self {
            Hook::Init | Hook::Shutdown | Hook::Health => Interface::Lifecycle,
            Hook::OnRequest | Hook::OnResponse => Interface::HttpFilter,
            Hook::OnConnect => Interface::Connect,
            Hook::OnCapture => Interface::Capture,
            Hook::OnRuleMatch => Interface::RuleMatch,
            Hook::Handle => Interface::Handler,
            Hook::OnMessage => Interface::Subscriber,
            Hook::Export(_) => return None,
        })
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Hook {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Hook::ALL.into_iter().find(|h| h.as_str() == s).ok_or_else(|| {
            let names: Vec<_> = Hook::ALL.iter().map(|h| h.as_str()).collect();
            format!("unknown hook `{s}`; expected one of: {}", names.join(", "))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hooks_round_trip_and_belong_to_their_interface() {
        for hook in Hook::ALL {
            assert_eq!(hook.as_str().parse::<Hook>(), Ok(hook));
            assert!(hook.interface().is_some_and(|i| i.hooks().contains(&hook)));
        }
        assert!("on_request".parse::<Hook>().unwrap_err().contains("on-request"));
    }
}
