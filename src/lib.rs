//! Guichet: an email-driven helpdesk. See ARCHITECTURE.md for the map.

pub mod core;
