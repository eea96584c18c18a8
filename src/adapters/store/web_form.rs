//! The public form's submissions (migration 0020): kept until their address is confirmed, keyed
//! by the SHA-256 of the mailed link's token. The files are in the attachment store already.

use std::collections::BTreeMap;

use rusqlite::{params, OptionalExtension, Row};

use super::{CapContext, Reader, RenderedMail, StoreResult, WriteTx};
use crate::core::mail::AttachmentMeta;
use crate::core::ticket::TicketNumber;
use crate::core::web_form::{Recent, UNCONFIRMED_QUIET_SECS};

/// A request sent from the form, as kept until (and after) its confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    pub token_hash: String,
    /// Lowercased.
    pub address: String,
    pub name: Option<String>,
    pub queue: String,
    pub subject: String,
    pub text: String,
    pub fields: BTreeMap<String, String>,
    pub attachments: Vec<AttachmentMeta>,
    pub language: String,
    pub ip: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub confirmed_at: Option<i64>,
    pub ticket: Option<TicketNumber>,
}

const COLUMNS: &str = "token_hash, address, name, queue, subject, text, fields, attachments,
                       language, ip, created_at, expires_at, confirmed_at, ticket";

fn submission(row: &Row<'_>) -> rusqlite::Result<Submission> {
    let fields: String = row.get(6)?;
    let attachments: String = row.get(7)?;
    let files: Vec<(String, String, u64, String)> =
        serde_json::from_str(&attachments).unwrap_or_default();
    Ok(Submission {
        token_hash: row.get(0)?,
        address: row.get(1)?,
        name: row.get(2)?,
        queue: row.get(3)?,
        subject: row.get(4)?,
        text: row.get(5)?,
        fields: serde_json::from_str(&fields).unwrap_or_default(),
        attachments: files
            .into_iter()
            .map(|(filename, content_type, size, sha256)| AttachmentMeta {
                filename,
                content_type,
                size,
                sha256,
            })
            .collect(),
        language: row.get(8)?,
        ip: row.get(9)?,
        created_at: row.get(10)?,
        expires_at: row.get(11)?,
        confirmed_at: row.get(12)?,
        ticket: row
            .get::<_, Option<i64>>(13)?
            .map(|n| TicketNumber(n as u64)),
    })
}

impl Reader<'_> {
    /// What the admission rules need to know about `address` and `ip` at `now`.
    pub fn form_recent(&self, address: &str, ip: &str, now: i64) -> StoreResult<Recent> {
        let count = |sql: &str, key: &str, since: i64| -> StoreResult<i64> {
            Ok(self
                .conn
                .prepare_cached(sql)?
                .query_row(params![key, since], |row| row.get(0))?)
        };
        Ok(Recent {
            by_address: count(
                "SELECT count(*) FROM web_submissions WHERE address = ?1 AND created_at >= ?2",
                address,
                now - 3600,
            )? as u32,
            by_ip: count(
                "SELECT count(*) FROM web_submissions WHERE ip = ?1 AND created_at >= ?2",
                ip,
                now - 3600,
            )? as u32,
            address_confirmed_before: count(
                "SELECT count(*) FROM web_submissions
                  WHERE address = ?1 AND confirmed_at IS NOT NULL AND created_at >= ?2",
                address,
                i64::MIN,
            )? > 0,
            unconfirmed_mail_sent: count(
                "SELECT count(*) FROM web_submissions
                  WHERE address = ?1 AND mailed = 1 AND confirmed_at IS NULL AND created_at >= ?2",
                address,
                now - UNCONFIRMED_QUIET_SECS,
            )? > 0,
        })
    }

    pub fn submission(&self, token_hash: &str) -> StoreResult<Option<Submission>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM web_submissions WHERE token_hash = ?1"
            ))?
            .query_row([token_hash], submission)
            .optional()?)
    }
}

impl WriteTx<'_> {
    /// Keeps a submission and, when given, queues the mail that carries its confirmation link.
    pub fn record_submission(
        &self,
        submission: &Submission,
        mail: Option<&RenderedMail<'_>>,
    ) -> StoreResult<()> {
        let files: Vec<(&str, &str, u64, &str)> = submission
            .attachments
            .iter()
            .map(|a| {
                (
                    a.filename.as_str(),
                    a.content_type.as_str(),
                    a.size,
                    a.sha256.as_str(),
                )
            })
            .collect();
        self.tx
            .prepare_cached(&format!(
                "INSERT INTO web_submissions ({COLUMNS}, mailed)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, NULL, NULL, ?13)"
            ))?
            .execute(params![
                submission.token_hash,
                submission.address,
                submission.name,
                submission.queue,
                submission.subject,
                submission.text,
                serde_json::to_string(&submission.fields).unwrap_or_else(|_| "{}".into()),
                serde_json::to_string(&files).unwrap_or_else(|_| "[]".into()),
                submission.language,
                submission.ip,
                submission.created_at,
                submission.expires_at,
                mail.is_some(),
            ])?;
        // Unconfirmed submissions a week past their expiry go: nothing else reads them.
        self.tx
            .prepare_cached(
                "DELETE FROM web_submissions WHERE confirmed_at IS NULL AND expires_at < ?1",
            )?
            .execute([submission.created_at - 7 * 86_400])?;
        match mail {
            Some(mail) => self.queue_outgoing(mail, CapContext::default(), submission.created_at),
            None => Ok(()),
        }
    }

    /// Records that a submission was confirmed and became `ticket`.
    pub fn confirm_submission(
        &self,
        token_hash: &str,
        ticket: TicketNumber,
        now: i64,
    ) -> StoreResult<()> {
        self.tx
            .prepare_cached(
                "UPDATE web_submissions SET confirmed_at = coalesce(confirmed_at, ?2), ticket = ?3
                  WHERE token_hash = ?1",
            )?
            .execute(params![token_hash, now, ticket.0 as i64])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::Store;
    use super::*;

    fn submission(address: &str, ip: &str, token: &str, at: i64) -> Submission {
        Submission {
            token_hash: token.into(),
            address: address.into(),
            name: Some("Carla".into()),
            queue: "general".into(),
            subject: "Printer".into(),
            text: "It jams".into(),
            fields: [("site".to_string(), "Milano".to_string())].into(),
            attachments: vec![AttachmentMeta {
                filename: "a.png".into(),
                content_type: "image/png".into(),
                size: 3,
                sha256: "ab".repeat(32),
            }],
            language: "it".into(),
            ip: ip.into(),
            created_at: at,
            expires_at: at + 86_400,
            confirmed_at: None,
            ticket: None,
        }
    }

    #[test]
    fn submissions_are_counted_per_address_and_ip_and_read_back() {
        let mut store = Store::open_memory().unwrap();
        let tx = store.write().unwrap();
        let first = submission("carla@example.test", "192.0.2.1", "t1", 1_000);
        tx.record_submission(&first, None).unwrap();
        tx.record_submission(
            &submission("dino@example.test", "192.0.2.1", "t2", 1_100),
            None,
        )
        .unwrap();
        tx.commit().unwrap();
        let recent = store
            .read()
            .form_recent("carla@example.test", "192.0.2.1", 1_200)
            .unwrap();
        assert_eq!(recent.by_address, 1);
        assert_eq!(recent.by_ip, 2);
        assert!(!recent.address_confirmed_before);
        assert!(!recent.unconfirmed_mail_sent, "kept without a mail");
        let later = store
            .read()
            .form_recent("carla@example.test", "192.0.2.1", 1_000 + 3_601)
            .unwrap();
        assert_eq!((later.by_address, later.by_ip), (0, 1));
        assert_eq!(store.read().submission("t1").unwrap(), Some(first));
        assert_eq!(store.read().submission("nope").unwrap(), None);
    }

    #[test]
    fn a_confirmed_address_is_known_and_old_unconfirmed_ones_go() {
        let (mut store, _) = Store::with_one_ticket();
        let tx = store.write().unwrap();
        tx.record_submission(
            &submission("carla@example.test", "192.0.2.1", "t1", 1_000),
            None,
        )
        .unwrap();
        tx.confirm_submission("t1", TicketNumber(7), 1_050).unwrap();
        tx.record_submission(
            &submission("old@example.test", "192.0.2.9", "t0", 1_000),
            None,
        )
        .unwrap();
        tx.record_submission(
            &submission("new@example.test", "192.0.2.2", "t3", 1_000 + 9 * 86_400),
            None,
        )
        .unwrap();
        tx.commit().unwrap();
        let read = store.read();
        let confirmed = read.submission("t1").unwrap().unwrap();
        assert_eq!(confirmed.confirmed_at, Some(1_050));
        assert_eq!(confirmed.ticket, Some(TicketNumber(7)));
        assert!(
            read.form_recent("carla@example.test", "x", 2_000)
                .unwrap()
                .address_confirmed_before
        );
        assert_eq!(
            read.submission("t0").unwrap(),
            None,
            "expired a week ago: gone"
        );
        assert!(
            read.submission("t1").unwrap().is_some(),
            "confirmed ones stay"
        );
    }
}
