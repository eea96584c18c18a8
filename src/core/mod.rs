//! The pure core: ticket vocabulary, threading, loop rules, the intake decision, templates.
//!
//! **Invariant:** nothing here does I/O or reads the clock. Time comes in as an argument, effects
//! go out as data (`IntakePlan`, `OutgoingMail`) for the adapters to carry out.

pub mod address;
pub mod attachments;
pub mod auth_results;
pub mod calendar;
pub mod caps;
pub mod commands;
pub mod delivery;
pub mod escalation;
pub mod followup;
pub mod forward;
pub mod intake;
pub mod knowledge;
pub mod language;
pub mod loops;
pub mod mail;
pub mod outgoing;
pub mod own_text;
pub mod people;
pub mod personal_data;
pub mod personal_thread;
pub mod plan;
pub mod quotes;
pub mod replies;
pub mod report;
pub mod requester_link;
pub mod retention;
pub mod rules;
pub mod sla;
pub mod spam;
pub mod subject;
pub mod templates;
pub mod threading;
pub mod ticket;
pub mod visibility;
pub mod web_form;
pub mod webhooks;
pub mod zone;

/// Bytes as lowercase hex digits (hashes, tokens).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)] as char);
        out.push(DIGITS[usize::from(byte & 0x0f)] as char);
    }
    out
}

/// Compares two secrets in time that depends on their length only.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_is_two_lowercase_digits_a_byte() {
        assert_eq!(super::hex(&[]), "");
        assert_eq!(super::hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        let every: Vec<u8> = (0..=255).collect();
        let expected: String = every.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(super::hex(&every), expected);
    }
}
