//! The dashboard `guichet run` serves when `[web]` is configured: the work list, each ticket's
//! history and the reports with their charts, read-only, to signed-in staff.
//!
//! `server`: the HTTP side (routes, sign-in, headers, TLS, shutdown); `auth`: tokens, cookies
//! and the trusted header; `pages`: each page as a function of the store and the config;
//! `charts`: SVG drawn from figures; `templates/`: the HTML (escaped by default) and the CSS.
//!
//! **Invariant:** nothing here changes a ticket. The only writes are sign-in links (with the mail
//! that carries each) and sessions, both stored as hashes of their secrets.

pub mod auth;
pub mod charts;
pub mod pages;
mod server;

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
}
