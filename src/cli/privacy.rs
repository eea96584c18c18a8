//! `guichet export-person`, `forget` and `retention`: a person's data out, a person erased, the
//! retention policy applied now. The README's "Personal data" and "Retention" say what each
//! keeps and what goes.

use super::backup::empty_dir;
use super::*;
use crate::adapters::blobs::BlobStore;
use crate::adapters::store::TicketDetail;
use crate::core::personal_data::{mbox_entry, Redaction};

/// An address as the store compares it (SQLite's `lower`): trimmed, ASCII lowercase, and
/// looking like one.
fn person_address(address: &str) -> Result<String, CliError> {
    let address = address.trim().to_ascii_lowercase();
    match address.split_once('@') {
        Some((local, domain)) if !local.is_empty() && !domain.is_empty() => Ok(address),
        _ => Err(CliError::Usage(format!(
            "`{address}` is not a mail address"
        ))),
    }
}

#[derive(Debug, serde::Serialize)]
struct PersonExport {
    address: String,
    names: Vec<String>,
    exported_at: i64,
    /// Each ticket with only this person's participation and mail (no other person's mail, no
    /// internal events).
    tickets: Vec<TicketDetail>,
    mails: Vec<ExportedMail>,
}

#[derive(Debug, serde::Serialize)]
struct ExportedMail {
    id: i64,
    ticket: Option<u64>,
    from: Option<String>,
    created_at: i64,
    /// Whether the raw mail is in mail.mbox (retention or an erasure may have purged it).
    in_mbox: bool,
    attachments: Vec<ExportedAttachment>,
}

#[derive(Debug, serde::Serialize)]
struct ExportedAttachment {
    filename: String,
    content_type: String,
    size: u64,
    sha256: String,
    /// Under the export directory; none when the file is no longer held.
    file: Option<String>,
}

pub(super) fn export_person(config: &Config, address: &str, dir: &Path) -> Result<(), CliError> {
    let address = person_address(address)?;
    let store = open_read_only(config)?;
    let reader = store.read();
    let mails = reader.person_mails(&address)?;
    let theirs: std::collections::HashSet<i64> = mails.iter().map(|m| m.id).collect();
    let mut tickets = Vec::new();
    for number in reader.person_tickets(&address)? {
        let Some(mut detail) = reader.ticket(number)? else {
            continue;
        };
        detail.messages.retain(|m| theirs.contains(&m.id));
        detail
            .participants
            .retain(|p| p.address.eq_ignore_ascii_case(&address));
        detail.events.clear();
        tickets.push(detail);
    }
    empty_dir(dir)?;
    let attachments_dir = dir.join("attachments");
    let blobs = BlobStore::new(config.attachments_dir());
    let mut mbox = Vec::new();
    let mut exported = Vec::new();
    for mail in &mails {
        let in_mbox = !mail.raw.is_empty();
        if in_mbox {
            let date = chrono::DateTime::from_timestamp(mail.created_at, 0)
                .unwrap_or_default()
                .format("%a %b %e %H:%M:%S %Y")
                .to_string();
            mbox.extend(mbox_entry(
                mail.from.as_deref().unwrap_or(""),
                &date,
                &mail.raw,
            ));
        }
        let mut attachments = Vec::new();
        for (index, attachment) in mail.attachments.iter().enumerate() {
            let file = match std::fs::read(blobs.path_of(&attachment.sha256, "")) {
                Ok(bytes) => {
                    std::fs::create_dir_all(&attachments_dir).map_err(|e| {
                        CliError::Failure(format!("{}: {e}", attachments_dir.display()))
                    })?;
                    let name = format!(
                        "{}-{}-{}",
                        mail.id,
                        index + 1,
                        safe_file_name(&attachment.filename)
                    );
                    let path = attachments_dir.join(&name);
                    std::fs::write(&path, bytes)
                        .map_err(|e| CliError::Failure(format!("{}: {e}", path.display())))?;
                    Some(format!("attachments/{name}"))
                }
                Err(_) => None,
            };
            attachments.push(ExportedAttachment {
                filename: attachment.filename.clone(),
                content_type: attachment.content_type.clone(),
                size: attachment.size,
                sha256: attachment.sha256.clone(),
                file,
            });
        }
        exported.push(ExportedMail {
            id: mail.id,
            ticket: mail.ticket,
            from: mail.from.clone(),
            created_at: mail.created_at,
            in_mbox,
            attachments,
        });
    }
    let mbox_path = dir.join("mail.mbox");
    std::fs::write(&mbox_path, &mbox)
        .map_err(|e| CliError::Failure(format!("{}: {e}", mbox_path.display())))?;
    let export = PersonExport {
        names: reader.person_names(&address)?,
        address,
        exported_at: system_now(),
        tickets,
        mails: exported,
    };
    let json_path = dir.join("person.json");
    let json = serde_json::to_vec_pretty(&export).map_err(|e| CliError::Software(e.into()))?;
    std::fs::write(&json_path, json)
        .map_err(|e| CliError::Failure(format!("{}: {e}", json_path.display())))?;
    println!(
        "{}: {} tickets, {} mails ({} in mail.mbox), {} attachment files",
        dir.display(),
        export.tickets.len(),
        export.mails.len(),
        export.mails.iter().filter(|m| m.in_mbox).count(),
        export
            .mails
            .iter()
            .flat_map(|m| &m.attachments)
            .filter(|a| a.file.is_some())
            .count()
    );
    Ok(())
}

/// A sender's file name as one harmless path component.
fn safe_file_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    let cleaned = cleaned.trim_start_matches('.');
    if cleaned.is_empty() {
        "attachment".into()
    } else {
        cleaned.chars().take(100).collect()
    }
}

pub(super) fn forget(config: &Config, address: &str) -> Result<(), CliError> {
    let address = person_address(address)?;
    // Guichet's own addresses are on every ticket: erasing them would erase the helpdesk.
    let own = std::iter::once(&config.intake.support.address)
        .chain(&config.intake.loops.own_addresses)
        .any(|own| own.eq_ignore_ascii_case(&address));
    if own {
        return Err(CliError::Usage(format!(
            "{address} is one of Guichet's own addresses, not a person's"
        )));
    }
    crate::adapters::state_dir::prepare(&config.state_dir)
        .map_err(|e| CliError::Failure(e.to_string()))?;
    let database = config.database_path();
    if !database.exists() {
        return Err(CliError::Failure(format!(
            "no database at {}: nothing is held about anyone",
            database.display()
        )));
    }
    let mut store = Store::open(&database)?;
    store.secure_delete()?;
    let quarantine = BlobStore::new(config.quarantine_dir());
    let attachments = BlobStore::new(config.attachments_dir());
    let now = system_now();
    let tx = store.write()?;
    // Quarantined mail has no parsed sender: any that names the person goes.
    let redaction = Redaction::new(&address, &tx.read().person_names(&address)?);
    let mut quarantined = Vec::new();
    for hash in tx.read().referenced_files()?.quarantine {
        if std::fs::read(quarantine.path_of(&hash, ".eml"))
            .is_ok_and(|raw| redaction.mentions_bytes(&raw))
        {
            quarantined.push(hash);
        }
    }
    let erasure = tx.forget(&address, &quarantined, now)?;
    tx.commit()?;
    let mut left = Vec::new();
    for (blobs, hash, extension) in erasure
        .unreferenced
        .iter()
        .map(|h| (&attachments, h, ""))
        .chain(quarantined.iter().map(|h| (&quarantine, h, ".eml")))
    {
        if let Err(error) = blobs.remove(hash, extension) {
            left.push(format!(
                "{}: {error}",
                blobs.path_of(hash, extension).display()
            ));
        }
    }
    // Pages that held the person's data before this command (freed by earlier writes) are
    // rewritten away; then the write-ahead log is emptied.
    let vacuumed = store.vacuum().is_ok();
    let checkpointed = vacuumed && store.checkpoint().unwrap_or(false);
    println!(
        "erased: {} tickets whole, {} in part, {} messages erased, {} redacted, {} events, {} \
         quarantined mails, {} attachment files",
        erasure.tickets_whole.len(),
        erasure.tickets_in_part.len(),
        erasure.messages_erased,
        erasure.messages_redacted,
        erasure.events_erased,
        erasure.quarantined_erased,
        erasure.unreferenced.len()
    );
    if !checkpointed {
        println!(
            "note: another process (the daemon?) held the database: freed pages and the \
             write-ahead log may keep erased data until the next `guichet forget` or checkpoint"
        );
    }
    if !left.is_empty() {
        return Err(CliError::Failure(format!(
            "files not removed:\n  {}",
            left.join("\n  ")
        )));
    }
    Ok(())
}

pub(super) fn retention(config: &Config, at: Option<&str>) -> Result<(), CliError> {
    if !config.retention.is_active() {
        return Err(CliError::Usage(format!(
            "{}: no [retention] limit is set (raw_mail_days, tickets_days)",
            config.file.display()
        )));
    }
    let now = match at {
        Some(text) => super::report::instant(text, "--at").map_err(CliError::Usage)?,
        None => system_now(),
    };
    crate::adapters::state_dir::prepare(&config.state_dir)
        .map_err(|e| CliError::Failure(e.to_string()))?;
    let mut store = Store::open(&config.database_path())?;
    let purged = crate::scheduler::retention_tick(
        &mut store,
        &config.retention,
        &BlobStore::new(config.attachments_dir()),
        now,
    )?;
    for (number, purge) in &purged {
        println!("#{number}: {}", purge.as_str());
    }
    println!("{} tickets purged", purged.len());
    Ok(())
}
