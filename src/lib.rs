//! Guichet: an email-driven helpdesk. See ARCHITECTURE.md for the map.

pub mod adapters;
pub mod cli;
pub mod config;
pub mod core;
pub mod daemon;
pub mod handover;
pub mod metrics;
pub mod outbox;
pub mod pipeline;
pub mod poller;
pub mod scheduler;
pub mod web;
pub mod webhooks;

/// The text of a caught panic, for the reason a mail was quarantined or not rendered.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}
