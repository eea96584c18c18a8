//! Ticket events for webhooks, pure: their names, the JSON body a receiver gets, its signature,
//! and when a failed delivery is tried again. The store queues the events (migration 0021) in
//! the transaction that makes them; `crate::webhooks` delivers them.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The events a webhook may receive.
pub const EVENTS: [&str; 4] = [
    "ticket.created",
    "ticket.assigned",
    "ticket.resolved",
    "sla.breached",
];

/// The header that carries the body's signature: `sha256=` and the hex HMAC-SHA256 of the
/// exact body bytes with the webhook's secret.
pub const SIGNATURE_HEADER: &str = "X-Guichet-Signature";

/// One queued event and the ticket as it stands when it is sent.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EventBody {
    /// The event's number: increasing, the same on every retry (receivers dedupe on it).
    pub id: i64,
    pub event: String,
    /// RFC 3339, UTC.
    pub at: String,
    /// What the event says: the assignee's name, the breached target…
    pub detail: String,
    pub ticket: TicketFacts,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TicketFacts {
    pub number: u64,
    pub subject: String,
    pub status: String,
    pub priority: String,
    pub level: u8,
    pub queue: String,
    pub assignee: Option<String>,
    pub requester: String,
}

pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(body);
    format!("sha256={}", super::hex(&mac.finalize().into_bytes()))
}

/// An instant as RFC 3339 in UTC, to the second (`2026-12-02T09:30:00Z`).
pub fn rfc3339(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0).map_or_else(
        || seconds.to_string(),
        |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
}

/// Seconds to wait after the `failures`-th failure in a row: 5 s doubling, at most 10 minutes.
pub fn retry_after(failures: u32) -> i64 {
    let exponent = failures.saturating_sub(1).min(10);
    (5i64 << exponent).min(600)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_hmac_of_the_exact_body() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_ne!(
            signature(b"Jefe", b"what do ya want for nothing? "),
            signature(b"Jefe", b"what do ya want for nothing?")
        );
    }

    #[test]
    fn instants_read_as_rfc3339() {
        assert_eq!(rfc3339(1_795_000_000), "2026-11-18T11:06:40Z");
    }

    #[test]
    fn retries_back_off_to_ten_minutes() {
        let waits: Vec<i64> = (1..=9).map(retry_after).collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 320, 600, 600]);
        assert_eq!(retry_after(u32::MAX), 600);
    }
}
