//! The dashboard `guichet run` serves when `[web]` is configured: the work list, each ticket's
//! history and the reports with their charts, read-only, to signed-in staff.
//!
//! With `requester_pages`, it also serves each requester their ticket's page (`requester`); with
//! `form_queues`, a public request form (`form`).
//!
//! `server`: the HTTP side (routes, sign-in, headers, TLS, shutdown); `auth`: tokens, cookies
//! and the trusted header; `pages`: each page as a function of the store and the config;
//! `charts`: SVG drawn from figures; `requester`: the requester's page; `form`: the public form and its confirmation;
//! `templates/`: the HTML
//! (escaped by default) and the CSS.
//!
//! **Invariant:** the dashboard changes no ticket: its only writes are sign-in links (with the
//! mail that carries each) and sessions, both stored as hashes of their secrets. The requester's
//! page changes a ticket only by a mail from the requester, through the pipeline.

pub mod api;
pub mod auth;
pub mod charts;
mod filing;
mod form;
pub mod pages;
mod requester;
mod server;
mod upload;

pub use pages::{Pages, PeriodQuery, WorkFilter};
pub use server::Dashboard;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("{0}")]
    Store(#[from] crate::adapters::store::StoreError),
    #[error("template: {0}")]
    Template(#[from] minijinja::Error),
    #[error("no random numbers from the OS: {0}")]
    Random(#[from] getrandom::Error),
    #[error("file system: {0}")]
    Io(#[from] std::io::Error),
}
