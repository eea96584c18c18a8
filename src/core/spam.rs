//! The MTA's spam verdict, read from the headers its filter writes (SpamAssassin's `X-Spam-Flag`
//! and `X-Spam-Status`, Rspamd's `X-Spam-Action`). Mail so marked gets no automatic answer, and a
//! new ticket from it waits in the `spam` status until an agent releases it.

/// One header value that marks a mail as spam: `Name: value`, or `Name: prefix*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpamMarker {
    /// Lowercased header name.
    header: String,
    /// Lowercased, with `_` read as a space and runs of white space as one.
    value: String,
    prefix: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not `Header-Name: value` (a trailing `*` matches any rest)")]
pub struct BadSpamMarker(pub String);

/// The markers used when the configuration names none.
pub const DEFAULT_SPAM_MARKERS: &[&str] = &[
    "X-Spam-Flag: YES",
    "X-Spam-Status: Yes*",
    "X-Spam-Action: reject",
    "X-Spam-Action: add header",
    "X-Spam-Action: rewrite subject",
    "X-Spam-Action: soft reject",
];

impl SpamMarker {
    pub fn parse(spec: &str) -> Result<SpamMarker, BadSpamMarker> {
        let bad = || BadSpamMarker(spec.to_string());
        let (name, value) = spec.split_once(':').ok_or_else(bad)?;
        let name = name.trim();
        let valid_name =
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b':');
        let value = value.trim();
        if !valid_name || value.is_empty() {
            return Err(bad());
        }
        let (value, prefix) = match value.strip_suffix('*') {
            Some(rest) => (rest, true),
            None => (value, false),
        };
        Ok(SpamMarker {
            header: name.to_ascii_lowercase(),
            value: comparable(value),
            prefix,
        })
    }

    fn matches(&self, name: &str, value: &str) -> bool {
        if !name.eq_ignore_ascii_case(&self.header) {
            return false;
        }
        let value = comparable(value);
        if self.prefix {
            value.starts_with(&self.value)
        } else {
            value == self.value
        }
    }
}

/// `Add_Header ` and `add header` are one action.
fn comparable(value: &str) -> String {
    value
        .to_lowercase()
        .replace('_', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpamMarkers(Vec<SpamMarker>);

impl Default for SpamMarkers {
    fn default() -> SpamMarkers {
        SpamMarkers(
            DEFAULT_SPAM_MARKERS
                .iter()
                .filter_map(|spec| SpamMarker::parse(spec).ok())
                .collect(),
        )
    }
}

impl SpamMarkers {
    pub fn new(markers: Vec<SpamMarker>) -> SpamMarkers {
        SpamMarkers(markers)
    }

    /// The first header that marks the mail as spam, as `Name: value`.
    pub fn marked_by(&self, headers: &[(String, String)]) -> Option<String> {
        headers.iter().find_map(|(name, value)| {
            self.0
                .iter()
                .any(|marker| marker.matches(name, value))
                .then(|| format!("{name}: {}", value.trim()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marked(headers: &[(&str, &str)]) -> Option<String> {
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        SpamMarkers::default().marked_by(&headers)
    }

    #[test]
    fn the_usual_filters_are_read() {
        for (name, value) in [
            ("x-spam-flag", "YES"),
            ("x-spam-flag", " yes "),
            (
                "x-spam-status",
                "Yes, score=7.1 required=5.0 tests=BAYES_99,URIBL_BLACK",
            ),
            ("x-spam-action", "reject"),
            ("x-spam-action", "add header"),
            ("x-spam-action", "add_header"),
            ("x-spam-action", "rewrite subject"),
            ("x-spam-action", "soft reject"),
        ] {
            assert!(marked(&[(name, value)]).is_some(), "{name}: {value}");
        }
    }

    #[test]
    fn clean_verdicts_are_not_spam() {
        for (name, value) in [
            ("x-spam-flag", "NO"),
            ("x-spam-status", "No, score=-0.1 required=5.0"),
            ("x-spam-action", "no action"),
            ("x-spam-action", "greylist"),
            ("x-spam-score", "12"),
            ("subject", "X-Spam-Flag: YES"),
        ] {
            assert_eq!(marked(&[(name, value)]), None, "{name}: {value}");
        }
    }

    #[test]
    fn markers_are_configurable() {
        let markers = SpamMarkers::new(vec![
            SpamMarker::parse("X-Barracuda-Spam-Status: Yes*").unwrap()
        ]);
        let headers = vec![(
            "x-barracuda-spam-status".to_string(),
            "Yes, SCORE=9".to_string(),
        )];
        assert_eq!(
            markers.marked_by(&headers).as_deref(),
            Some("x-barracuda-spam-status: Yes, SCORE=9")
        );
        assert_eq!(
            markers.marked_by(&[("x-spam-flag".into(), "YES".into())]),
            None
        );
        assert!(SpamMarker::parse("no colon").is_err());
        assert!(SpamMarker::parse("X-Spam-Flag:").is_err());
        assert!(SpamMarker::parse(": YES").is_err());
    }
}
