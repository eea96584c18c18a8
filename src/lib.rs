//! Guichet: an email-driven helpdesk. See ARCHITECTURE.md for the map.

pub mod adapters;
pub mod cli;
pub mod config;
pub mod core;
pub mod daemon;
pub mod outbox;
pub mod pipeline;
pub mod poller;
pub mod scheduler;
