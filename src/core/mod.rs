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
pub mod retention;
pub mod rules;
pub mod sla;
pub mod spam;
pub mod subject;
pub mod templates;
pub mod threading;
pub mod ticket;
pub mod visibility;
