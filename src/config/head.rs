//! What a piped delivery needs of the config file before it knows whether a running daemon takes
//! its mail: the state directory (where the daemon's socket is) and the digest of the file's
//! text. `guichet-deliver` reads only this, so that it stays a small program that starts in a
//! fraction of the time `guichet` takes (bench/README.md); the daemon, which runs with the whole
//! file checked, takes the mail only when the digests agree, and otherwise the mail is stored
//! by `guichet ingest`, which checks every key.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ConfigError;

/// The config file as a delivery sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigHead {
    pub state_dir: PathBuf,
    /// SHA-256 of the file's text, in hex (`Config::digest`).
    pub digest: String,
}

#[derive(Deserialize)]
struct RawHead {
    general: Option<RawGeneral>,
}

#[derive(Deserialize)]
struct RawGeneral {
    state_dir: Option<PathBuf>,
}

impl ConfigHead {
    pub fn read(path: &Path) -> Result<ConfigHead, ConfigError> {
        let text = super::read_file(path)?;
        ConfigHead::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<ConfigHead, ConfigError> {
        let raw: RawHead = toml::from_str(text).map_err(|e| super::syntax_error(path, text, &e))?;
        let state_dir = raw
            .general
            .and_then(|general| general.state_dir)
            .ok_or_else(|| ConfigError {
                file: path.to_path_buf(),
                key: "general.state_dir".into(),
                reason: "the state directory is required".into(),
            })?;
        Ok(ConfigHead {
            state_dir,
            digest: digest(text),
        })
    }
}

/// The digest of a config file's text.
pub(super) fn digest(text: &str) -> String {
    crate::core::hex(&<sha2::Sha256 as sha2::Digest>::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    const TEXT: &str =
        "[general]\nstate_dir = \"/var/lib/x\"\nsupport_address = \"help@example.test\"\n";

    #[test]
    fn the_head_agrees_with_the_whole_config() {
        let path = Path::new("/etc/x.toml");
        let head = ConfigHead::parse(path, TEXT).unwrap();
        let config = Config::parse(path, TEXT, &|_| None).unwrap();
        assert_eq!(head, config.head());
        assert_eq!(head.state_dir, Path::new("/var/lib/x"));
        // Another text is another digest, even where the keys read the same.
        let edited = ConfigHead::parse(path, &format!("{TEXT}# edited\n")).unwrap();
        assert_ne!(edited.digest, head.digest);
    }

    #[test]
    fn only_the_state_directory_is_checked_and_its_absence_is_named() {
        let path = Path::new("/etc/x.toml");
        // A key the whole config refuses is the daemon's or `guichet ingest`'s to report.
        let unchecked = format!("{TEXT}[smtp]\nport = \"not a number\"\n");
        assert!(ConfigHead::parse(path, &unchecked).is_ok());
        let missing = ConfigHead::parse(path, "[general]\nsupport_address = \"a@b.test\"\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            missing,
            "/etc/x.toml: general.state_dir: the state directory is required"
        );
        let broken = ConfigHead::parse(path, "[general\n")
            .unwrap_err()
            .to_string();
        assert!(broken.starts_with("/etc/x.toml: line 1: "), "{broken}");
        let unread = ConfigHead::read(Path::new("/nonexistent/guichet.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            unread.starts_with("/nonexistent/guichet.toml: (file): cannot read: "),
            "{unread}"
        );
    }
}
