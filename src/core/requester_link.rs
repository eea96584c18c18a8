//! The link every mail to a requester carries to their ticket's page: signed, expiring,
//! revocable. Pure: the key comes from the caller (a file in the state directory).
//!
//! A link is `TICKET.EXPIRES.GENERATION.MAC`: the MAC (HMAC-SHA256, first 128 bits, hex) covers
//! those three numbers and the requester's address, so a link opens one ticket for one person
//! until it expires, until the ticket's generation moves on (`guichet link revoke`), or until the
//! ticket has another requester. Nothing about a link is stored.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::constant_time_eq;
use super::language::Language;
use super::outgoing::{OutgoingKind, OutgoingMail};
use super::ticket::TicketNumber;

/// The key's length in bytes.
pub const KEY_BYTES: usize = 32;
/// Hex digits of the MAC a link carries (128 bits).
const MAC_HEX: usize = 32;

/// What a link says, once its MAC is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkClaims {
    pub ticket: TicketNumber,
    /// Seconds since the epoch after which the link no longer opens the page.
    pub expires: i64,
    /// The ticket's link generation when the link was made.
    pub generation: u32,
}

/// Why a link does not open its page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkRefusal {
    /// Not a link we make, or its MAC does not match (forged, altered, another requester).
    Forged,
    Expired,
    /// Revoked: the ticket's generation moved on since the link was made.
    Revoked,
}

/// Whether `mail` is one the requester reads as her own (addressed to her, about her request),
/// so it carries the link to her page. Notices to agents never do; people in copy of such a mail
/// see the link too, as they see the rest of it.
pub fn carries_link(mail: &OutgoingMail, requester: &str) -> bool {
    matches!(
        mail.kind,
        OutgoingKind::Acknowledgement
            | OutgoingKind::Relay
            | OutgoingKind::ResolutionNotice
            | OutgoingKind::MergeNotice
            | OutgoingKind::CommandReply
    ) && mail.ticket.is_some()
        && mail
            .to
            .first()
            .is_some_and(|to| to.address.eq_ignore_ascii_case(requester.trim()))
}

/// The lines added at the end of such a mail, in its language.
pub fn footer(language: Language, url: &str) -> String {
    let words = match language {
        Language::En => "Follow your request and answer online:",
        Language::Fr => "Suivre votre demande et répondre en ligne :",
        Language::It => "Segua la sua richiesta e risponda online:",
    };
    format!("\n\n-- \n{words}\n{url}\n")
}

/// The part of a link that names the ticket, read without checking anything: which ticket's
/// requester and generation to look up before `verify`.
pub fn ticket_of(link: &str) -> Option<TicketNumber> {
    let first = link.split('.').next()?;
    first.parse::<u64>().ok().map(TicketNumber)
}

pub fn sign(key: &[u8], claims: LinkClaims, requester: &str) -> String {
    let LinkClaims {
        ticket,
        expires,
        generation,
    } = claims;
    let mac = mac_hex(key, &claims, requester);
    format!("{}.{expires}.{generation}.{mac}", ticket.0)
}

/// Checks a link against the ticket's requester and current generation at `now`.
pub fn verify(
    key: &[u8],
    link: &str,
    requester: &str,
    current_generation: u32,
    now: i64,
) -> Result<LinkClaims, LinkRefusal> {
    let claims = parse(link).ok_or(LinkRefusal::Forged)?;
    let given = link.rsplit('.').next().unwrap_or("");
    let expected = mac_hex(key, &claims, requester);
    if !constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        return Err(LinkRefusal::Forged);
    }
    if claims.generation != current_generation {
        return Err(LinkRefusal::Revoked);
    }
    if now > claims.expires {
        return Err(LinkRefusal::Expired);
    }
    Ok(claims)
}

/// A second secret derived from the link, for the page's forms (CSRF): a page served for one
/// link posts only with that link's form token.
pub fn form_token(key: &[u8], link: &str) -> String {
    let mut mac = keyed(key);
    mac.update(b"form\0");
    mac.update(link.as_bytes());
    crate::core::hex(&mac.finalize().into_bytes()[..MAC_HEX / 2])
}

pub fn form_token_matches(key: &[u8], link: &str, given: &str) -> bool {
    constant_time_eq(form_token(key, link).as_bytes(), given.as_bytes())
}

fn parse(link: &str) -> Option<LinkClaims> {
    let mut parts = link.split('.');
    let (ticket, expires, generation, mac) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let digits = |s: &str| !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit());
    let well_formed = parts.next().is_none()
        && digits(ticket)
        && digits(expires)
        && digits(generation)
        && mac.len() == MAC_HEX
        && mac.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !well_formed {
        return None;
    }
    Some(LinkClaims {
        ticket: TicketNumber(ticket.parse().ok()?),
        expires: expires.parse().ok()?,
        generation: generation.parse().ok()?,
    })
}

type HmacSha256 = Hmac<Sha256>;

fn keyed(key: &[u8]) -> HmacSha256 {
    HmacSha256::new_from_slice(key).expect("HMAC takes a key of any length")
}

fn mac_hex(key: &[u8], claims: &LinkClaims, requester: &str) -> String {
    let mut mac = keyed(key);
    mac.update(b"request\0");
    mac.update(&claims.ticket.0.to_be_bytes());
    mac.update(&claims.expires.to_be_bytes());
    mac.update(&claims.generation.to_be_bytes());
    mac.update(requester.trim().to_lowercase().as_bytes());
    crate::core::hex(&mac.finalize().into_bytes()[..MAC_HEX / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; KEY_BYTES] = [7; KEY_BYTES];
    const NOW: i64 = 1_800_000_000;

    fn claims(generation: u32) -> LinkClaims {
        LinkClaims {
            ticket: TicketNumber(1042),
            expires: NOW + 3600,
            generation,
        }
    }

    #[test]
    fn a_link_opens_its_ticket_for_its_requester_until_it_expires() {
        let link = sign(&KEY, claims(0), "Anna@Example.test");
        assert!(link.starts_with("1042."), "{link}");
        assert_eq!(ticket_of(&link), Some(TicketNumber(1042)));
        assert_eq!(
            verify(&KEY, &link, "anna@example.test", 0, NOW),
            Ok(claims(0))
        );
        assert_eq!(
            verify(&KEY, &link, "anna@example.test", 0, NOW + 3600),
            Ok(claims(0))
        );
        assert_eq!(
            verify(&KEY, &link, "anna@example.test", 0, NOW + 3601),
            Err(LinkRefusal::Expired)
        );
    }

    #[test]
    fn a_revoked_generation_another_requester_or_key_refuse_the_link() {
        let link = sign(&KEY, claims(2), "anna@example.test");
        assert_eq!(
            verify(&KEY, &link, "anna@example.test", 3, NOW),
            Err(LinkRefusal::Revoked)
        );
        assert_eq!(
            verify(&KEY, &link, "bruno@example.test", 2, NOW),
            Err(LinkRefusal::Forged)
        );
        assert_eq!(
            verify(&[8; KEY_BYTES], &link, "anna@example.test", 2, NOW),
            Err(LinkRefusal::Forged)
        );
    }

    #[test]
    fn altered_links_are_forged() {
        let link = sign(&KEY, claims(0), "anna@example.test");
        let mac = link.rsplit('.').next().unwrap();
        let altered = [
            link.replacen("1042.", "1043.", 1),
            link.replace(
                &format!(".{}.", NOW + 3600),
                &format!(".{}.", NOW + 999_999),
            ),
            format!("{}0", &link[..link.len() - 1]),
            format!("{link}.0"),
            link.to_uppercase(),
            format!("1042.{}.0", NOW + 3600),
            format!("+1042.{}.0.{mac}", NOW + 3600),
            String::new(),
            "../../etc/passwd".to_string(),
        ];
        for link in altered {
            assert_eq!(
                verify(&KEY, &link, "anna@example.test", 0, NOW),
                Err(LinkRefusal::Forged),
                "{link}"
            );
        }
    }

    #[test]
    fn the_form_token_belongs_to_one_link() {
        let link = sign(&KEY, claims(0), "anna@example.test");
        let other = sign(&KEY, claims(1), "anna@example.test");
        let token = form_token(&KEY, &link);
        assert!(form_token_matches(&KEY, &link, &token));
        assert!(!form_token_matches(&KEY, &other, &token));
        assert!(!form_token_matches(&KEY, &link, ""));
        assert_ne!(token, link.rsplit('.').next().unwrap());
    }
}
