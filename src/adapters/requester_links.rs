//! The requester page's links on the mail side: the key in the state directory, and the link
//! added to every mail a requester reads as hers. The signing itself is `core::requester_link`.

use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::core::outgoing::OutgoingMail;
use crate::core::requester_link::{self, LinkClaims, KEY_BYTES};
use crate::core::ticket::TicketNumber;

/// The HMAC key's file in the state directory: 32 random bytes, mode 0600. `guichet backup`
/// leaves it out (a copy of a backup must not open pages); deleting it revokes every link.
pub const KEY_FILE: &str = "web-hmac.key";

/// The key under `state_dir`, made on first use. Two processes making it at once agree: each
/// writes a file of its own and links it into place, and the one that finds it there reads it.
pub fn key(state_dir: &Path) -> std::io::Result<[u8; KEY_BYTES]> {
    let path = state_dir.join(KEY_FILE);
    let naming = |error: std::io::Error| {
        std::io::Error::new(error.kind(), format!("{}: {error}", path.display()))
    };
    match read_key(&path) {
        Err(error) if error.kind() == ErrorKind::NotFound => {}
        other => return other.map_err(naming),
    }
    let mut fresh = [0u8; KEY_BYTES];
    getrandom::getrandom(&mut fresh).map_err(|e| naming(std::io::Error::other(e)))?;
    let temporary: PathBuf = state_dir.join(format!("{KEY_FILE}.{}", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)
        .and_then(|mut file| {
            file.write_all(&fresh)?;
            file.sync_all()
        });
    let linked = written.and_then(|()| std::fs::hard_link(&temporary, &path));
    let _ = std::fs::remove_file(&temporary);
    match linked {
        Ok(()) => Ok(fresh),
        Err(error) if error.kind() == ErrorKind::AlreadyExists => read_key(&path).map_err(naming),
        Err(error) => Err(naming(error)),
    }
}

fn read_key(path: &Path) -> std::io::Result<[u8; KEY_BYTES]> {
    let bytes = std::fs::read(path)?;
    bytes.try_into().map_err(|bytes: Vec<u8>| {
        std::io::Error::new(
            ErrorKind::InvalidData,
            format!(
                "{} bytes, not {KEY_BYTES}: delete it to make a new key",
                bytes.len()
            ),
        )
    })
}

/// What it takes to put a requester's link in a mail: the key, where pages are served, and how
/// long a link lasts.
#[derive(Clone)]
pub struct RequesterLinks {
    key: [u8; KEY_BYTES],
    page_url: String,
    lifetime_secs: i64,
}

impl RequesterLinks {
    /// `None` when the config has no requester pages (`[web] requester_pages`).
    pub fn for_config(config: &Config) -> std::io::Result<Option<RequesterLinks>> {
        let Some((web, days)) = config
            .web
            .as_ref()
            .and_then(|web| web.requester_link_days.map(|days| (web, days)))
        else {
            return Ok(None);
        };
        Ok(Some(RequesterLinks {
            key: key(&config.state_dir)?,
            page_url: format!("{}/request/", web.public_url),
            lifetime_secs: i64::from(days) * 86_400,
        }))
    }

    pub fn url(&self, ticket: TicketNumber, requester: &str, generation: u32, now: i64) -> String {
        let claims = LinkClaims {
            ticket,
            expires: now + self.lifetime_secs,
            generation,
        };
        format!(
            "{}{}",
            self.page_url,
            requester_link::sign(&self.key, claims, requester)
        )
    }

    /// The ticket a link opens for `requester` at `now`, or why not.
    pub fn verify(
        &self,
        link: &str,
        requester: &str,
        generation: u32,
        now: i64,
    ) -> Result<LinkClaims, requester_link::LinkRefusal> {
        requester_link::verify(&self.key, link, requester, generation, now)
    }

    /// The token the page's forms carry for `link`.
    pub fn form_token(&self, link: &str) -> String {
        requester_link::form_token(&self.key, link)
    }

    pub fn form_token_matches(&self, link: &str, given: &str) -> bool {
        requester_link::form_token_matches(&self.key, link, given)
    }

    /// Adds the link to each mail of `outgoing` the requester reads as hers.
    pub fn add_to(
        &self,
        outgoing: &mut [OutgoingMail],
        ticket: TicketNumber,
        requester: &str,
        generation: u32,
        now: i64,
    ) {
        for mail in outgoing.iter_mut().filter(|mail| {
            mail.ticket == Some(ticket) && requester_link::carries_link(mail, requester)
        }) {
            let url = self.url(ticket, requester, generation, now);
            mail.body
                .push_str(&requester_link::footer(mail.language, &url));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_made_once_private_and_then_read() {
        let dir = tempfile::tempdir().unwrap();
        let first = key(dir.path()).unwrap();
        assert_eq!(key(dir.path()).unwrap(), first);
        let mode = std::fs::metadata(dir.path().join(KEY_FILE))
            .unwrap()
            .permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "only the key stays");
    }

    #[test]
    fn a_damaged_key_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(KEY_FILE), b"short").unwrap();
        let error = key(dir.path()).unwrap_err().to_string();
        assert!(
            error.contains(KEY_FILE) && error.contains("5 bytes"),
            "{error}"
        );
    }
}
