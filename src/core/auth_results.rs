//! `Authentication-Results` (RFC 8601): what the receiving MTA says it verified, and whether that
//! vouches for a From address.
//!
//! **Only the MTA's own header counts.** The receiving MTA prepends its header above everything the
//! sender wrote, and must remove any header carrying its own authserv-id that came from outside.
//! So the topmost header whose authserv-id we trust is the MTA's; every header below it, trusted id
//! or not, may be the sender's forgery and is ignored.
//!
//! **Alignment is by organisational domain** (DMARC's relaxed alignment): a DKIM signature or SPF
//! domain vouches for a From domain when both have the same registrable domain under the Public
//! Suffix List. A public suffix itself (`test`, `co.uk`) vouches for nothing.

/// One `Authentication-Results` header field.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct AuthResultsHeader {
    /// Lowercased.
    pub authserv_id: String,
    pub results: Vec<AuthResult>,
}

/// One method's verdict in a header.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct AuthResult {
    /// `dkim`, `spf`, `dmarc`, … lowercased.
    pub method: String,
    /// `pass`, `fail`, `none`, … lowercased.
    pub result: String,
    /// The domain the verdict is about: `header.d` (or `header.i`'s) for DKIM, the
    /// `smtp.mailfrom` domain for SPF, `header.from` for DMARC; lowercased.
    pub domain: Option<String>,
}

/// A lexical piece of a header value, comments already dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Equals,
    Semicolon,
    Slash,
}

/// RFC 8601 lexing: comments (nested, with `\` escapes) are dropped; quoted strings keep their
/// content whole, so a `;` or `=` inside one is text, not syntax. Linear in the value.
fn tokens(value: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut chars = value.chars();
    let flush = |word: &mut String, out: &mut Vec<Token>| {
        if !word.is_empty() {
            out.push(Token::Word(std::mem::take(word)));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '(' => {
                flush(&mut word, &mut out);
                let mut depth = 1usize;
                while depth > 0 {
                    match chars.next() {
                        Some('\\') => {
                            chars.next();
                        }
                        Some('(') => depth += 1,
                        Some(')') => depth -= 1,
                        Some(_) => {}
                        None => break,
                    }
                }
            }
            '"' => {
                flush(&mut word, &mut out);
                let mut quoted = String::new();
                loop {
                    match chars.next() {
                        Some('\\') => {
                            if let Some(escaped) = chars.next() {
                                quoted.push(escaped);
                            }
                        }
                        Some('"') | None => break,
                        Some(other) => quoted.push(other),
                    }
                }
                out.push(Token::Quoted(quoted));
            }
            '=' => {
                flush(&mut word, &mut out);
                out.push(Token::Equals);
            }
            ';' => {
                flush(&mut word, &mut out);
                out.push(Token::Semicolon);
            }
            '/' => {
                flush(&mut word, &mut out);
                out.push(Token::Slash);
            }
            c if c.is_whitespace() => flush(&mut word, &mut out),
            c => word.push(c),
        }
    }
    flush(&mut word, &mut out);
    out
}

/// Reads one header value: `authserv-id [version] ; resinfo ; resinfo …` or `authserv-id; none`.
/// A malformed resinfo is skipped; a value without an authserv-id gives `None`.
pub fn parse_header(value: &str) -> Option<AuthResultsHeader> {
    let tokens = tokens(value);
    let mut sections = tokens.split(|t| *t == Token::Semicolon);
    let authserv_id = match sections.next()?.first()? {
        Token::Word(id) | Token::Quoted(id) => id.to_lowercase(),
        _ => return None,
    };
    let results = sections.filter_map(resinfo).collect();
    Some(AuthResultsHeader {
        authserv_id,
        results,
    })
}

/// `method[/version] = result [reason = value] [ptype.property = value]…`
fn resinfo(section: &[Token]) -> Option<AuthResult> {
    // `method / version`: the version says nothing we use.
    let mut section: Vec<&Token> = section.iter().collect();
    if let [Token::Word(_), Token::Slash, Token::Word(_), ..] = section.as_slice() {
        section.drain(1..3);
    }
    let mut pairs = Vec::new();
    let mut index = 0;
    while index + 2 < section.len() {
        match (section[index], section[index + 1], section[index + 2]) {
            (Token::Word(key), Token::Equals, Token::Word(value) | Token::Quoted(value)) => {
                pairs.push((key.to_ascii_lowercase(), value.clone()));
                index += 3;
            }
            _ => index += 1,
        }
    }
    let mut pairs = pairs.into_iter();
    let (method, result) = pairs.next()?;
    if method.contains('.') || method == "reason" {
        return None;
    }
    let method = method.to_ascii_lowercase();
    let properties: Vec<(String, String)> = pairs.collect();
    let property = |name: &str| {
        properties
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    let domain_of = |value: &str| {
        value
            .rsplit('@')
            .next()
            .unwrap_or(value)
            .split('/')
            .next()
            .unwrap_or("")
            .to_lowercase()
    };
    let domain = match method.as_str() {
        "dkim" => property("header.d")
            .map(str::to_lowercase)
            .or_else(|| property("header.i").map(domain_of)),
        "spf" => property("smtp.mailfrom").map(domain_of),
        "dmarc" => property("header.from").map(domain_of),
        _ => None,
    }
    .filter(|d| !d.is_empty());
    Some(AuthResult {
        method,
        result: result.to_ascii_lowercase(),
        domain,
    })
}

/// The registrable domain of `domain` under the Public Suffix List (`mail.example.co.uk` →
/// `example.co.uk`); `None` for a public suffix itself or an empty name.
pub fn organisational_domain(domain: &str) -> Option<String> {
    let domain = domain.trim().trim_end_matches('.').to_lowercase();
    psl::domain_str(&domain).map(str::to_string)
}

/// Whether the MTA's header (the topmost with a trusted authserv-id) says DKIM or SPF passed for a
/// domain aligned with `from_domain`.
pub fn vouches_for(
    trusted_ids: &[String],
    from_domain: &str,
    headers: &[AuthResultsHeader],
) -> bool {
    let Some(header) = headers.iter().find(|header| {
        trusted_ids
            .iter()
            .any(|id| id.eq_ignore_ascii_case(&header.authserv_id))
    }) else {
        return false;
    };
    let Some(from) = organisational_domain(from_domain) else {
        return false;
    };
    header.results.iter().any(|result| {
        matches!(result.method.as_str(), "dkim" | "spf")
            && result.result == "pass"
            && result
                .domain
                .as_deref()
                .and_then(organisational_domain)
                .is_some_and(|domain| domain == from)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(value: &str) -> Vec<(String, String, Option<String>)> {
        parse_header(value)
            .unwrap()
            .results
            .into_iter()
            .map(|r| (r.method, r.result, r.domain))
            .collect()
    }

    fn row(method: &str, result: &str, domain: Option<&str>) -> (String, String, Option<String>) {
        (method.into(), result.into(), domain.map(str::to_string))
    }

    #[test]
    fn results_with_versions_comments_and_reasons() {
        let header = parse_header(
            "MX.example.com 1; dkim=pass (2048-bit key; unprotected) header.d=Example.com header.s=sel; \
             spf=pass smtp.mailfrom=bob@example.com; dmarc=fail (p=none) header.from=example.com",
        )
        .unwrap();
        assert_eq!(header.authserv_id, "mx.example.com");
        assert_eq!(
            summary("mx.example.com 1; dkim=pass (2048-bit key; unprotected) header.d=Example.com header.s=sel; spf=pass smtp.mailfrom=bob@example.com; dmarc=fail (p=none) header.from=example.com"),
            vec![
                row("dkim", "pass", Some("example.com")),
                row("spf", "pass", Some("example.com")),
                row("dmarc", "fail", Some("example.com")),
            ]
        );
    }

    #[test]
    fn a_semicolon_inside_a_quoted_string_or_comment_is_text() {
        assert_eq!(
            summary(
                "mx.example.test; dkim=fail reason=\"x; dkim=pass header.d=example.test\" header.d=evil.test"
            ),
            vec![row("dkim", "fail", Some("evil.test"))]
        );
        assert_eq!(
            summary("mx.example.test; spf=fail (nope; dkim=pass header.d=example.test) smtp.mailfrom=evil.test"),
            vec![row("spf", "fail", Some("evil.test"))]
        );
        assert_eq!(
            summary("mx.example.test; dkim=fail (nested (comment; dkim=pass) \\) still) header.d=a.test"),
            vec![row("dkim", "fail", Some("a.test"))]
        );
    }

    #[test]
    fn spacing_versions_and_none() {
        assert_eq!(
            summary("mx.example.test;\r\n  dkim / 1 = pass header.i = @Example.test"),
            vec![row("dkim", "pass", Some("example.test"))]
        );
        assert_eq!(
            summary("mx.example.test; dkim/1=pass header.i=@sub.example.test"),
            vec![row("dkim", "pass", Some("sub.example.test"))]
        );
        assert!(parse_header("mx.example.test; none")
            .unwrap()
            .results
            .is_empty());
        assert!(parse_header("").is_none());
        assert!(parse_header("; dkim=pass").is_none());
        assert_eq!(summary("mx.example.test; garbage; =pass; dkim="), vec![]);
    }

    fn trusted() -> Vec<String> {
        vec!["mx.example.test".into()]
    }

    fn headers(values: &[&str]) -> Vec<AuthResultsHeader> {
        values.iter().filter_map(|v| parse_header(v)).collect()
    }

    #[test]
    fn only_the_topmost_trusted_header_counts() {
        let forged_below = headers(&[
            "mx.example.test; dkim=fail header.d=example.test",
            "mx.example.test; dkim=pass header.d=example.test",
        ]);
        assert!(!vouches_for(&trusted(), "example.test", &forged_below));
        let untrusted_above = headers(&[
            "evil.example; dkim=pass header.d=example.test",
            "mx.example.test; spf=pass smtp.mailfrom=bob@example.test",
        ]);
        assert!(vouches_for(&trusted(), "example.test", &untrusted_above));
        let quoted =
            headers(&["mx.example.test; dkim=fail reason=\"x; dkim=pass header.d=example.test\""]);
        assert!(!vouches_for(&trusted(), "example.test", &quoted));
        assert!(!vouches_for(&trusted(), "example.test", &[]));
    }

    #[test]
    fn alignment_is_by_organisational_domain_never_a_bare_suffix() {
        let pass = |d: &str| headers(&[&format!("mx.example.test; dkim=pass header.d={d}")]);
        assert!(vouches_for(
            &trusted(),
            "eu.example.test",
            &pass("example.test")
        ));
        assert!(vouches_for(
            &trusted(),
            "example.test",
            &pass("mail.example.test")
        ));
        assert!(vouches_for(
            &trusted(),
            "mail.example.co.uk",
            &pass("example.co.uk")
        ));
        assert!(
            !vouches_for(&trusted(), "example.test", &pass("test")),
            "a bare TLD"
        );
        assert!(
            !vouches_for(&trusted(), "example.co.uk", &pass("co.uk")),
            "a public suffix"
        );
        assert!(!vouches_for(
            &trusted(),
            "victim.co.uk",
            &pass("evil.co.uk")
        ));
        assert!(!vouches_for(&trusted(), "example.test", &pass("evil.test")));
        let dmarc = headers(&["mx.example.test; dmarc=pass header.from=example.test"]);
        assert!(
            !vouches_for(&trusted(), "example.test", &dmarc),
            "dkim or spf only"
        );
    }

    #[test]
    fn organisational_domains() {
        assert_eq!(
            organisational_domain("A.B.Example.COM.").as_deref(),
            Some("example.com")
        );
        assert_eq!(
            organisational_domain("x.example.co.uk").as_deref(),
            Some("example.co.uk")
        );
        assert_eq!(organisational_domain("co.uk"), None);
        assert_eq!(organisational_domain("test"), None);
        assert_eq!(organisational_domain(""), None);
    }
}
