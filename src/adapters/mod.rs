//! Adapters: the outside world (mail bytes, SQLite, SMTP, files) behind small types and traits.

pub mod blobs;
pub mod html;
pub mod imap;
pub mod oauth2;
pub mod parse;
pub mod render;
pub mod requester_links;
pub mod smtp;
pub mod state_dir;
pub mod store;
pub mod tls;
