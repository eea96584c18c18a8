//! Who is signed in: one-time links mailed to agents, session cookies, and the trusted header of
//! a reverse proxy. Secrets are 32 random bytes; the store keeps only their SHA-256.

use std::net::IpAddr;

use sha2::{Digest, Sha256};

use crate::config::WebConfig;
use crate::core::address::Mailbox;
use crate::core::outgoing::{OutgoingKind, OutgoingMail};
use crate::core::people::Directory;
use crate::core::ticket::TicketNumber;

pub const COOKIE: &str = "guichet_session";
/// How long a mailed link signs in.
pub const LINK_LIFETIME_SECS: i64 = 15 * 60;
/// At most this many links to one address per `LINK_LIFETIME_SECS`.
pub const LINKS_PER_WINDOW: u32 = 3;

/// A fresh secret for a link or a session: 32 bytes from the OS, as 64 hex digits.
pub fn new_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes)?;
    Ok(crate::adapters::parse::hex(&bytes))
}

/// What the store keeps of a secret.
pub fn token_hash(token: &str) -> String {
    crate::adapters::parse::hex(&Sha256::digest(token.as_bytes()))
}

/// A token as we issue them: 64 lowercase hex digits. Anything else is refused before the store
/// is asked.
pub fn well_formed(token: &str) -> bool {
    token.len() == 64
        && token
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The agent a typed address belongs to, when it is exactly one of an internal agent's
/// configured addresses (not a sub-address of one: the link goes only where the config says).
/// External parties (the vendor) never sign in: the dashboard shows internal notes.
pub fn agent_for_address<'d>(
    directory: &'d Directory,
    typed: &str,
) -> Option<(&'d crate::core::people::Agent, String)> {
    let typed = typed.trim().to_lowercase();
    let agent = directory.agent_by_address(&typed)?;
    let address = agent.addresses.iter().find(|a| **a == typed)?.clone();
    (!directory.is_external(&address)).then_some((agent, address))
}

/// The agent a trusted proxy's header names (by agent name or configured address), or `None`
/// when the peer is not a trusted proxy or the name is nobody's.
pub fn agent_from_header<'d>(
    web: &WebConfig,
    directory: &'d Directory,
    peer: IpAddr,
    value: Option<&str>,
) -> Option<&'d crate::core::people::Agent> {
    web.trusted_header.as_ref()?;
    let peer = match peer {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, IpAddr::V4),
        v4 => v4,
    };
    if !web.trusted_proxies.contains(&peer) {
        return None;
    }
    let value = value?.trim();
    let agent = match agent_for_address(directory, value) {
        Some((agent, _)) => agent,
        None => directory.agent_by_name(value)?,
    };
    (!directory.is_external(agent.address())).then_some(agent)
}

/// The `Set-Cookie` value that opens a session.
pub fn session_cookie(web: &WebConfig, token: &str) -> String {
    format!(
        "{COOKIE}={token}; Path={}; Max-Age={}; HttpOnly; SameSite=Strict{}",
        cookie_path(web),
        u64::from(web.session_hours) * 3600,
        if web.tls.is_some() { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that ends it in the browser.
pub fn cleared_cookie(web: &WebConfig) -> String {
    format!(
        "{COOKIE}=; Path={}; Max-Age=0; HttpOnly; SameSite=Strict{}",
        cookie_path(web),
        if web.tls.is_some() { "; Secure" } else { "" }
    )
}

fn cookie_path(web: &WebConfig) -> &str {
    if web.base_path.is_empty() {
        "/"
    } else {
        &web.base_path
    }
}

/// Our session token from a `Cookie` header, if well formed.
pub fn session_token(cookie_header: &str) -> Option<&str> {
    cookie_header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|value| well_formed(value))
}

/// The mail that carries a sign-in link to `to`.
pub fn sign_in_mail(support: &Mailbox, to: Mailbox, link: &str, seed: &str) -> OutgoingMail {
    let minutes = LINK_LIFETIME_SECS / 60;
    let body = format!(
        "Hello,\n\nsomeone (probably you) asked to sign in to the helpdesk dashboard.\n\
         Open this link within {minutes} minutes to sign in:\n\n{link}\n\n\
         The link works once. If you did not ask for it, ignore this mail: nobody can sign in\n\
         without it.\n"
    );
    let mut mail = OutgoingMail::from_support(
        support,
        OutgoingKind::SignInLink,
        TicketNumber(0),
        vec![to],
        (
            "Your sign-in link for the helpdesk dashboard".to_string(),
            body,
        ),
        seed,
        crate::core::language::Language::En,
    );
    mail.ticket = None;
    mail.message_id = format!("guichet.sign-in.{seed}@{}", support.domain());
    mail
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::people::{Agent, AgentRole};

    fn web(tls: bool, base_path: &str) -> WebConfig {
        WebConfig {
            listen: "127.0.0.1:8080".parse().unwrap(),
            base_path: base_path.into(),
            public_url: format!("http://127.0.0.1:8080{base_path}"),
            tls: tls.then(|| ("cert.pem".into(), "key.pem".into())),
            session_hours: 8,
            trusted_header: Some("x-remote-user".into()),
            trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
            time_zone: crate::core::zone::Zone::utc(),
            requester_link_days: None,
            form_queues: Vec::new(),
            api: false,
        }
    }

    fn agent(name: &str, address: &str, external: bool) -> Agent {
        Agent {
            name: name.into(),
            display_name: name.into(),
            addresses: vec![address.into()],
            role: AgentRole::Agent,
            queues: vec![],
            levels: vec![],
            token: None,
            language: None,
            away: false,
            external: Some(external),
        }
    }

    fn directory() -> Directory {
        Directory {
            agents: vec![
                agent("bob", "bob@example.test", false),
                agent("vendor", "support@vendor.test", true),
            ],
            ..Directory::default()
        }
    }

    #[test]
    fn tokens_are_random_hex_and_only_their_hash_is_kept() {
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert_ne!(a, b);
        assert!(well_formed(&a) && well_formed(&b));
        let hash = token_hash(&a);
        assert_eq!(hash.len(), 64);
        assert_ne!(hash, a);
        assert_eq!(hash, token_hash(&a));
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        for bad in [
            "",
            "abc",
            &a.to_uppercase(),
            &format!("{}g", &a[..63]),
            &format!("{a}0"),
        ] {
            assert!(!well_formed(bad), "{bad}");
        }
    }

    #[test]
    fn cookies_are_http_only_strict_and_secure_under_tls() {
        let token = "a".repeat(64);
        let plain = session_cookie(&web(false, "/helpdesk"), &token);
        assert_eq!(
            plain,
            format!(
                "guichet_session={token}; Path=/helpdesk; Max-Age=28800; HttpOnly; SameSite=Strict"
            )
        );
        let secure = session_cookie(&web(true, ""), &token);
        assert!(secure.contains("; Path=/;") && secure.ends_with("; Secure"));
        assert!(cleared_cookie(&web(true, "")).contains("Max-Age=0"));
        let header = format!("theme=dark; guichet_session={token}; other=1");
        assert_eq!(session_token(&header), Some(token.as_str()));
        assert_eq!(session_token("guichet_session=<script>"), None);
        assert_eq!(session_token("theme=dark"), None);
    }

    #[test]
    fn only_a_configured_internal_address_gets_a_link() {
        let directory = directory();
        let (agent, address) = agent_for_address(&directory, " Bob@Example.Test ").unwrap();
        assert_eq!(
            (agent.name.as_str(), address.as_str()),
            ("bob", "bob@example.test")
        );
        assert!(agent_for_address(&directory, "bob+x@example.test").is_none());
        assert!(agent_for_address(&directory, "eve@example.test").is_none());
        assert!(agent_for_address(&directory, "support@vendor.test").is_none());
    }

    #[test]
    fn the_header_is_believed_only_from_a_trusted_proxy() {
        let directory = directory();
        let web = web(false, "");
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        let other: IpAddr = "127.0.0.2".parse().unwrap();
        let name = |agent: Option<&Agent>| agent.map(|a| a.name.clone());
        assert_eq!(
            name(agent_from_header(&web, &directory, proxy, Some("bob"))),
            Some("bob".into())
        );
        assert_eq!(
            name(agent_from_header(
                &web,
                &directory,
                mapped,
                Some("bob@example.test")
            )),
            Some("bob".into())
        );
        assert_eq!(
            name(agent_from_header(&web, &directory, other, Some("bob"))),
            None
        );
        assert_eq!(
            name(agent_from_header(&web, &directory, proxy, Some("eve"))),
            None
        );
        assert_eq!(
            name(agent_from_header(&web, &directory, proxy, Some("vendor"))),
            None
        );
        assert_eq!(name(agent_from_header(&web, &directory, proxy, None)), None);
        let without = WebConfig {
            trusted_header: None,
            ..web
        };
        assert_eq!(
            name(agent_from_header(&without, &directory, proxy, Some("bob"))),
            None
        );
    }

    #[test]
    fn the_mail_carries_the_link_and_no_ticket() {
        let support = Mailbox::new(Some("Helpdesk"), "help@example.test");
        let mail = sign_in_mail(
            &support,
            Mailbox::new(None, "bob@example.test"),
            "http://127.0.0.1:8080/sign-in/confirm/abc",
            "1234",
        );
        assert_eq!(mail.kind, OutgoingKind::SignInLink);
        assert_eq!(mail.ticket, None);
        assert!(mail
            .body
            .contains("http://127.0.0.1:8080/sign-in/confirm/abc\n"));
        assert_eq!(mail.message_id, "guichet.sign-in.1234@example.test");
    }
}
