//! The messaging capability: plugins publish to topics (host import
//! `warden:plugin/messaging.publish`) and receive the topics they subscribe
//! to (export `warden:plugin/subscriber.on-message`, delivered by the
//! [`PluginManager`](crate::PluginManager) through [`bus`]). Both directions
//! are granted per topic pattern in the manifest's `[permissions] publish`
//! and `subscribe`.

pub(crate) mod bus;

use std::sync::Arc;

use crate::bindings::{messaging, types};
use crate::capability::{Capability, GrantContext, Has, HostView, Linker, view};
use crate::error::Error;
use crate::host::Shared;
use bus::{Message, TopicError, TopicPattern, valid_topic};

/// The built-in messaging capability.
pub(crate) struct Messaging;

/// A plugin's grant: the topics it may publish to.
pub(crate) struct Grant {
    publish: Vec<TopicPattern>,
}

/// Per instance: the grant.
pub(crate) struct MessagingState(Arc<Grant>);

impl Capability for Messaging {
    type Grant = Grant;
    type State = MessagingState;

    fn name(&self) -> &str {
        "messaging"
    }

    fn interfaces(&self) -> &[&str] {
        &["warden:plugin/messaging"]
    }

    fn permissions(&self) -> &[&str] {
        &["publish", "subscribe"]
    }

    fn add_to_linker(&self, linker: &mut Linker) -> wasmtime::Result<()> {
        messaging::add_to_linker::<_, Has<MessagingState>>(linker, view)
    }

    fn grant(&self, cx: &GrantContext<'_>) -> Result<Grant, Error> {
        Ok(Grant { publish: cx.manifest().permissions.publish.clone() })
    }

    fn instantiate(&self, grant: &Arc<Grant>) -> wasmtime::Result<MessagingState> {
        Ok(MessagingState(Arc::clone(grant)))
    }
}

impl messaging::Host for HostView<'_, MessagingState> {
    fn publish(&mut self, topic: String, payload: Vec<u8>) -> Result<(), types::PluginError> {
        let (MessagingState(grant), core) = self.parts();
        // Audited if it is a refused grant or a limit.
        publish(&core.shared, grant, topic, payload).map_err(|e| core.refused("messaging.publish", e))
    }
}

/// Checks and queues one message for plugin `me`.
fn publish(me: &Shared, grant: &Grant, topic: String, payload: Vec<u8>) -> Result<(), types::PluginError> {
    let refuse = |code: &str, message: String| Err(types::PluginError { code: code.to_owned(), message });
    if !valid_topic(&topic) {
        return refuse("invalid-topic", TopicError(topic).to_string());
    }
    if !grant.publish.iter().any(|p| p.matches(&topic)) {
        let msg = format!(
            "plugin '{}' may not publish to '{topic}'; add a matching pattern to [permissions] publish",
            me.name
        );
        return refuse("capability-denied", msg);
    }
    if payload.len() as u64 > me.max_output_bytes {
        let msg = format!(
            "plugin '{}' published {} bytes to '{topic}'; the limit is [limits] max-output ({} bytes)",
            me.name,
            payload.len(),
            me.max_output_bytes
        );
        return refuse("output-too-large", msg);
    }
    let Some(links) = &me.links else {
        let msg = format!("plugin '{}' was loaded on its own; publishing needs a PluginManager", me.name);
        return refuse("unavailable", msg);
    };
    links.publish(Some(&me.name), Message { topic: topic.into(), payload: payload.into() })
}
