//! What people and systems do on the web side becomes a mail to the support address, written by
//! the renderer of our own mail (so it is as well-formed as anything we send) and filed through
//! the pipeline like any mail: the requester's page, the public form, the API.

use crate::adapters::blobs::BlobStore;
use crate::adapters::render::render;
use crate::core::address::Mailbox;
use crate::core::mail::AttachmentMeta;
use crate::core::outgoing::{OutgoingKind, OutgoingMail};
use crate::pipeline::{IngestOutcome, Pipeline, Source};

use super::server::App;

/// A mail written on someone's behalf.
pub(super) struct OnBehalf {
    pub(super) from: Mailbox,
    pub(super) subject: String,
    pub(super) body: String,
    /// Files already in the attachment store.
    pub(super) attachments: Vec<AttachmentMeta>,
    /// Chosen by the caller: a second filing of the same act is then a duplicate.
    pub(super) message_id: String,
    /// Its Date.
    pub(super) written_at: i64,
}

/// Files `mail` from `source` at `now` and wakes the outbox for what it queued.
pub(super) fn file(
    app: &App,
    mail: OnBehalf,
    source: &Source,
    now: i64,
) -> Result<IngestOutcome, String> {
    let config = &app.config;
    let outgoing = OutgoingMail {
        // No Auto-Submitted, no ticket header: a person's mail.
        kind: OutgoingKind::RelayToAgents,
        ticket: None,
        from: mail.from,
        to: vec![config.intake.support.clone()],
        cc: Vec::new(),
        reply_to: None,
        envelope_from: None,
        subject: mail.subject,
        body: mail.body,
        message_id: mail.message_id,
        in_reply_to: None,
        references: Vec::new(),
        auto_submitted: None,
        language: config.intake.language,
        report_failures_to: None,
        attachments: mail.attachments,
    };
    let files = BlobStore::new(config.attachments_dir());
    let rendered = render(&outgoing, mail.written_at, &files).map_err(|e| e.to_string())?;
    let mut pipeline = Pipeline::open(config.clone()).map_err(|e| e.to_string())?;
    let outcome = pipeline
        .ingest(&rendered.raw, source, now)
        .map_err(|e| e.to_string())?;
    app.wake_outbox.notify_one();
    Ok(outcome)
}

/// `name.RANDOM@support-domain`: a fresh Message-ID for a mail filed once.
pub(super) fn fresh_message_id(app: &App, name: &str) -> Result<String, String> {
    let seed = super::auth::new_token().map_err(|e| e.to_string())?;
    Ok(format!(
        "{name}.{}@{}",
        &seed[..32],
        app.config.intake.support.domain()
    ))
}
