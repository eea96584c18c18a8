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
    /// A mailbox from a trusted source (the config, our own store). The display name is always
    /// cleaned into one renderable line; the address is only normalised: mail from outside goes
    /// through [`Mailbox::parse`].
    pub fn new(name: Option<&str>, address: &str) -> Mailbox {
        let name = name
            .and_then(clean_display_name)
            .filter(|n| !n.eq_ignore_ascii_case(address.trim()));
        Mailbox {
            name,
            address: normalize_address(address),
        }
    }

    /// A mailbox from untrusted input (a mail's headers, a command): refused unless the address
    /// can be delivered to, so that nothing stored can later fail to render or to send.
    pub fn parse(name: Option<&str>, address: &str) -> Result<Mailbox, AddressProblem> {
        let address = check_address(address)?;
        Ok(Mailbox::new(name, &address))
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

/// Why an address may not become a participant or a recipient.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressProblem {
    #[error("it is empty")]
    Empty,
    #[error("it has no `@`")]
    NoAt,
    #[error("it contains a space or a control character")]
    Unprintable,
    #[error("it is longer than 254 bytes")]
    TooLong,
    #[error("its local part is longer than 64 bytes")]
    LocalPartTooLong,
    #[error("its local part is not valid (stray dot, quote or character)")]
    BadLocalPart,
    #[error("its local part is quoted; only plain local parts are taken, as mail programs disagree on quoted ones")]
    QuotedLocalPart,
    #[error("its domain is not valid")]
    BadDomain,
}

/// The normalised address when it is deliverable (RFC 5321 lengths, RFC 5322 local part and
/// domain, as the SMTP client will check them again), or why not.
pub fn check_address(address: &str) -> Result<String, AddressProblem> {
    let address = normalize_address(address);
    if address.is_empty() {
        return Err(AddressProblem::Empty);
    }
    if address.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(AddressProblem::Unprintable);
    }
    let Some((local, domain)) = address.rsplit_once('@') else {
        return Err(AddressProblem::NoAt);
    };
    if address.len() > 254 {
        return Err(AddressProblem::TooLong);
    }
    if local.len() > 64 {
        return Err(AddressProblem::LocalPartTooLong);
    }
    // RFC 5322 allows `"john doe"@x`, but the parsers on the way (ours, lettre, the recipients')
    // read such a mail back differently; real mail does not use them.
    if local.starts_with('"') {
        return Err(AddressProblem::QuotedLocalPart);
    }
    if !email_address::EmailAddress::is_valid_local_part(local) {
        return Err(AddressProblem::BadLocalPart);
    }
    if !domain_is_valid(domain) {
        return Err(AddressProblem::BadDomain);
    }
    Ok(address)
}

fn domain_is_valid(domain: &str) -> bool {
    match domain.strip_prefix('[').and_then(|d| d.strip_suffix(']')) {
        // As the SMTP client (lettre) checks it: a bare IP address between brackets.
        Some(literal) => literal.parse::<std::net::IpAddr>().is_ok(),
        None => email_address::EmailAddress::is_valid_domain(domain),
    }
}

/// Bidirectional embeddings, overrides and isolates: they make a name or subject display as
/// something other than what it says.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Header text as one line: control characters (CR, LF, NUL, C1, the line and paragraph
/// separators) and bidi controls become spaces, runs of white space one space, at most
/// `max_chars` characters. Linear in the input.
pub fn one_line(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars * 4));
    let mut pending_space = false;
    let mut count = 0usize;
    for c in text.chars() {
        if c.is_whitespace() || c.is_control() || is_bidi_control(c) {
            pending_space = !out.is_empty();
            continue;
        }
        if count + usize::from(pending_space) >= max_chars {
            break;
        }
        if pending_space {
            out.push(' ');
            count += 1;
            pending_space = false;
        }
        out.push(c);
        count += 1;
    }
    out
}

/// Longest display name kept; longer ones are cut (a name is for recognising a person).
pub const MAX_NAME_CHARS: usize = 200;

/// A display name that can always be rendered: one line, no control characters, no enclosing
/// quotes, not empty.
pub fn clean_display_name(name: &str) -> Option<String> {
    let name = one_line(name, MAX_NAME_CHARS);
    let name = name.trim_matches('"').trim();
    (!name.is_empty()).then(|| name.to_string())
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
    fn deliverable_addresses() {
        for good in [
            "a@b",
            "Alice.Martin@Example.TEST",
            "x+tag@example.test",
            "o'brien@example.test",
            "user@[127.0.0.1]",
            "user@[::1]",
            "hélène@exemple.test",
            "a@bücher.example",
        ] {
            assert!(
                check_address(good).is_ok(),
                "{good}: {:?}",
                check_address(good)
            );
        }
        let long_local = format!("{}@example.test", "x".repeat(65));
        let long_total = format!(
            "x@{}.test",
            "d".repeat(60).repeat(5).replace("dddddddddd", "ddddddddd.")
        );
        for (bad, why) in [
            ("", AddressProblem::Empty),
            ("abc", AddressProblem::NoAt),
            ("a b@c", AddressProblem::Unprintable),
            ("a\r\nbcc:x@c", AddressProblem::Unprintable),
            ("x..y@example.test", AddressProblem::BadLocalPart),
            (".x@example.test", AddressProblem::BadLocalPart),
            ("x.@example.test", AddressProblem::BadLocalPart),
            ("\"x@example.test", AddressProblem::QuotedLocalPart),
            ("\"a..b\"@example.test", AddressProblem::QuotedLocalPart),
            ("\"+\"@example.test", AddressProblem::QuotedLocalPart),
            ("@c", AddressProblem::BadLocalPart),
            ("a@", AddressProblem::BadDomain),
            ("a@-x.test", AddressProblem::BadDomain),
            ("a@x..test", AddressProblem::BadDomain),
            ("a@[not-an-ip]", AddressProblem::BadDomain),
            (long_local.as_str(), AddressProblem::LocalPartTooLong),
            (long_total.as_str(), AddressProblem::TooLong),
        ] {
            assert_eq!(check_address(bad), Err(why), "{bad:?}");
        }
    }

    #[test]
    fn display_names_are_one_clean_line() {
        assert_eq!(clean_display_name("a\nb"), Some("a b".into()));
        assert_eq!(
            clean_display_name("a\r\n\tBcc: x@y"),
            Some("a Bcc: x@y".into())
        );
        assert_eq!(
            clean_display_name("\0\u{1b}[31mred\u{85}"),
            Some("[31mred".into())
        );
        assert_eq!(
            clean_display_name("\u{202e}evil\u{2066}"),
            Some("evil".into())
        );
        assert_eq!(clean_display_name(" \" \r\n \" "), None);
        assert_eq!(
            clean_display_name(&"é".repeat(500))
                .unwrap()
                .chars()
                .count(),
            MAX_NAME_CHARS
        );
        let mailbox = Mailbox::new(Some("Eve\r\nBcc: all@corp.example"), "eve@evil.test");
        assert_eq!(mailbox.name.as_deref(), Some("Eve Bcc: all@corp.example"));
    }

    #[test]
    fn one_line_is_bounded_and_keeps_words() {
        assert_eq!(
            one_line("  Re:\r\n  printer\u{0}down  ", 100),
            "Re: printer down"
        );
        assert_eq!(one_line("abcdef", 3), "abc");
        assert_eq!(one_line("ab   cdef", 4), "ab c");
    }
}
