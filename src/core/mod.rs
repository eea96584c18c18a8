//! The pure core: ticket vocabulary, threading, loop rules, the intake decision, templates.
//!
//! **Invariant:** nothing here does I/O or reads the clock. Time comes in as an argument, effects
//! go out as data (`IntakePlan`, `OutgoingMail`) for the adapters to carry out.

pub mod address;
pub mod attachments;
pub mod auth_results;
pub mod calendar;
pub mod caps;
pub mod commands;
pub mod delivery;
pub mod escalation;
pub mod followup;
pub mod forward;
pub mod intake;
pub mod knowledge;
pub mod language;
pub mod loops;
pub mod mail;
pub mod outgoing;
pub mod own_text;
pub mod people;
pub mod personal_data;
pub mod personal_thread;
pub mod plan;
pub mod quotes;
pub mod replies;
pub mod report;
pub mod requester_link;
pub mod retention;
pub mod rules;
pub mod sla;
pub mod spam;
pub mod subject;
pub mod templates;
pub mod threading;
pub mod ticket;
pub mod visibility;
pub mod web_form;
pub mod webhooks;
pub mod zone;

/// Bytes as lowercase hex digits (hashes, tokens).
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, byte| {
            let _ = write!(out, "{byte:02x}");
            out
        })
}

/// Compares two secrets in time that depends on their length only.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
