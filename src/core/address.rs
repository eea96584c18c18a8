//! Mail addresses as the core compares them.

use std::fmt;

/// A mailbox: an optional display name and an address, lowercased so that comparisons are plain
/// string equality (local parts are case-insensitive in practice everywhere Guichet runs).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Mailbox {
    pub name: Option<String>,
    pub address: String,
}

impl Mailbox {
    pub fn new(name: Option<&str>, address: &str) -> Mailbox {
        let name = name
            .map(|n| n.trim().trim_matches('"').trim())
            .filter(|n| !n.is_empty() && !n.eq_ignore_ascii_case(address.trim()))
            .map(str::to_string);
        Mailbox {
            name,
            address: normalize_address(address),
        }
    }

    pub fn local_part(&self) -> &str {
        local_part(&self.address)
    }

    pub fn domain(&self) -> &str {
        domain(&self.address)
    }
}

impl fmt::Display for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{name} <{}>", self.address),
            None => f.write_str(&self.address),
        }
    }
}

pub fn normalize_address(address: &str) -> String {
    address
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_lowercase()
}

pub fn local_part(address: &str) -> &str {
    address.rsplit_once('@').map_or(address, |(local, _)| local)
}

pub fn domain(address: &str) -> &str {
    address.rsplit_once('@').map_or("", |(_, domain)| domain)
}

/// `support+1042@x` and `support@x` are the same mailbox for the purpose of "is this us?".
pub fn without_subaddress(address: &str) -> String {
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            let base = local.split_once('+').map_or(local, |(base, _)| base);
            format!("{base}@{domain}")
        }
        None => address.to_string(),
    }
}

/// A syntactically plausible address: one `@`, something on each side, no spaces.
pub fn looks_like_address(address: &str) -> bool {
    match address.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !address.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailbox_normalizes() {
        let mailbox = Mailbox::new(Some(" \"Alice Martin\" "), " <Alice@Example.TEST> ");
        assert_eq!(mailbox.address, "alice@example.test");
        assert_eq!(mailbox.name.as_deref(), Some("Alice Martin"));
        assert_eq!(mailbox.local_part(), "alice");
        assert_eq!(mailbox.domain(), "example.test");
        assert_eq!(mailbox.to_string(), "Alice Martin <alice@example.test>");
    }

    #[test]
    fn a_name_equal_to_the_address_is_dropped() {
        let mailbox = Mailbox::new(Some("bob@example.test"), "bob@example.test");
        assert_eq!(mailbox.name, None);
    }

    #[test]
    fn subaddress_is_removed() {
        assert_eq!(
            without_subaddress("support+1042@example.test"),
            "support@example.test"
        );
        assert_eq!(
            without_subaddress("support@example.test"),
            "support@example.test"
        );
    }

    #[test]
    fn plausible_addresses() {
        assert!(looks_like_address("a@b"));
        assert!(!looks_like_address("a b@c"));
        assert!(!looks_like_address("@c"));
        assert!(!looks_like_address("a@"));
        assert!(!looks_like_address("abc"));
    }
}
