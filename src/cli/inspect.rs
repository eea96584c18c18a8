//! `guichet inspect`: what Guichet sees in a mail, changing nothing.

use super::*;

/// What `inspect` reports about a mail.
#[derive(Debug, serde::Serialize)]
struct Inspection {
    file: String,
    size: usize,
    content_hash: String,
    mail: Option<crate::core::mail::InboundMail>,
    requester: Option<String>,
    would_quarantine: Option<String>,
    already_stored: Option<Option<TicketNumber>>,
    tag: Option<TicketNumber>,
    threading: Option<String>,
    auto_reply: Option<String>,
    language_guess: Option<String>,
    /// What the person newly wrote: commands and quoted history cut.
    visible_text: Option<String>,
    commands: Vec<crate::core::commands::CommandLine>,
    command_errors: Vec<crate::core::commands::CommandError>,
    /// The configured agent the From names, if any.
    agent: Option<String>,
}

pub(super) fn inspect(config_path: &Path, file: &Path, json: bool) -> Result<(), CliError> {
    let config = Config::load(config_path)?;
    let raw =
        std::fs::read(file).map_err(|e| CliError::NoInput(format!("{}: {e}", file.display())))?;
    let hash = crate::adapters::parse::content_hash(&raw);
    let mut report = Inspection {
        file: file.display().to_string(),
        size: raw.len(),
        content_hash: hash.clone(),
        mail: None,
        requester: None,
        would_quarantine: None,
        already_stored: None,
        tag: None,
        threading: None,
        auto_reply: None,
        language_guess: None,
        visible_text: None,
        commands: Vec::new(),
        command_errors: Vec::new(),
        agent: None,
    };
    if raw.len() as u64 > config.max_message_bytes {
        report.would_quarantine = Some(format!(
            "over general.max_message_bytes ({})",
            config.max_message_bytes
        ));
    } else {
        match parse_mail(&raw) {
            Err(rejection) => report.would_quarantine = Some(rejection.to_string()),
            Ok(parsed) => {
                let mail = parsed.mail;
                let store = if config.database_path().exists() {
                    Some(Store::open_read_only(&config.database_path())?)
                } else {
                    None
                };
                let empty;
                let store = match &store {
                    Some(store) => store,
                    None => {
                        empty = Store::open_memory()?;
                        &empty
                    }
                };
                let reader = store.read();
                report.already_stored =
                    reader.duplicate_of(mail.message_id.as_deref(), &parsed.content_hash)?;
                report.tag = config.intake.tags.find(&mail.subject);
                let thread = decide_thread(&thread_clues(&reader, &mail, &config.intake.tags)?);
                report.threading = Some(thread.to_string());
                let requester = requester_of(&mail);
                let sent = match &requester {
                    Some(r) => reader.auto_replies_since(&r.address, system_now() - 3600)?,
                    None => 0,
                };
                report.auto_reply = Some(match config.intake.loops.verdict(&mail, sent) {
                    crate::core::loops::AutoReplyVerdict::Allowed => "allowed".into(),
                    crate::core::loops::AutoReplyVerdict::Suppressed(reason) => {
                        format!("suppressed: {reason}")
                    }
                });
                if requester.is_none() {
                    report.would_quarantine =
                        Some(crate::core::plan::Unticketable::NoSender.to_string());
                }
                report.requester = requester.map(|r| r.to_string());
                let parsed = crate::core::commands::parse_commands(
                    &mail.subject,
                    &mail.text,
                    &config.intake.vocabulary,
                );
                // The same reading as intake and follow-up: forwards kept, marked, as content.
                let visible =
                    crate::core::forward::visible_with_forward(&parsed.text, &mail.subject).text;
                // On a ticket the store knows, what Guichet sent on it is not the writer's text.
                report.visible_text = Some(match thread {
                    crate::core::threading::ThreadDecision::Existing { ticket, .. } => {
                        let sent = reader
                            .sent_texts(ticket, crate::core::own_text::SENT_MAILS_COMPARED)?;
                        crate::core::followup::sent_on_ticket(&config.intake, ticket, &sent)
                            .remove_from(&visible)
                            .text
                    }
                    crate::core::threading::ThreadDecision::New { .. } => visible,
                });
                report.commands = parsed.commands;
                report.command_errors = parsed.errors;
                report.agent = mail
                    .from
                    .as_ref()
                    .and_then(|from| config.intake.directory.agent_by_address(&from.address))
                    .map(|agent| agent.name.clone());
                report.language_guess = guess_language(&format!("{}\n{}", mail.subject, mail.text))
                    .map(|l| l.code().to_string());
                report.mail = Some(mail);
            }
        }
    }
    hide_secrets(&mut report, &config.intake.vocabulary);
    if json {
        return print_json(&report);
    }
    print_inspection(&report);
    Ok(())
}

/// An agent's `#token` word is a password: `inspect` shows `#token ****` wherever it appears.
fn hide_secrets(report: &mut Inspection, vocabulary: &crate::core::commands::Vocabulary) {
    let mask = |text: &mut String| *text = vocabulary.mask_secrets(text);
    if let Some(mail) = &mut report.mail {
        mask(&mut mail.subject);
        mask(&mut mail.text);
        for (_, value) in &mut mail.headers {
            mask(value);
        }
    }
    if let Some(text) = &mut report.visible_text {
        mask(text);
    }
    for line in &mut report.commands {
        mask(&mut line.line);
        if let crate::core::commands::Command::Token(secret) = &mut line.command {
            *secret = crate::core::commands::MASKED_SECRET.to_string();
        }
    }
    for error in &mut report.command_errors {
        mask(&mut error.line);
    }
}

fn print_inspection(report: &Inspection) {
    println!("File:         {} ({} bytes)", report.file, report.size);
    if let Some(mail) = &report.mail {
        let list = |l: &[crate::core::address::Mailbox]| {
            l.iter()
                .map(|m| m.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let show = |m: &Option<crate::core::address::Mailbox>| {
            m.as_ref().map_or("-".to_string(), |m| m.to_string())
        };
        println!("From:         {}", show(&mail.from));
        if mail.reply_to.is_some() {
            println!("Reply-To:     {}", show(&mail.reply_to));
        }
        if mail.sender.is_some() {
            println!("Sender:       {}", show(&mail.sender));
        }
        println!("To:           {}", list(&mail.to));
        if !mail.cc.is_empty() {
            println!("Cc:           {}", list(&mail.cc));
        }
        println!("Subject:      {}", mail.subject);
        println!("Date:         {}", mail.date.map_or("-".into(), time));
        println!(
            "Message-ID:   {}",
            mail.message_id
                .as_deref()
                .unwrap_or("- (deduplicated by content hash)")
        );
        if !mail.in_reply_to.is_empty() {
            println!("In-Reply-To:  {}", mail.in_reply_to.join(" "));
        }
        if !mail.references.is_empty() {
            println!("References:   {}", mail.references.join(" "));
        }
        println!(
            "Requester:    {}",
            report.requester.as_deref().unwrap_or("- (none)")
        );
        println!(
            "Tag:          {}",
            report
                .tag
                .map_or("none of ours".into(), |t| format!("#{t}"))
        );
        println!(
            "Threading:    {}",
            report.threading.as_deref().unwrap_or("-")
        );
        if let Some(stored) = &report.already_stored {
            println!(
                "Stored:       already stored ({}): ingesting again changes nothing",
                stored.map_or("no ticket".into(), |t| format!("ticket #{t}"))
            );
        }
        println!(
            "Auto-reply:   {}",
            report.auto_reply.as_deref().unwrap_or("-")
        );
        println!(
            "Language:     {}",
            report.language_guess.as_deref().unwrap_or("no clear guess")
        );
        for a in &mail.attachments {
            println!(
                "Attachment:   {} ({}, {} bytes)",
                a.filename, a.content_type, a.size
            );
        }
        if let Some(agent) = &report.agent {
            println!("Agent:        {agent}");
        }
        for command in &report.commands {
            println!("Command:      {}", command.line);
        }
        for error in &report.command_errors {
            println!(
                "Bad command:  {}: {}; {}",
                error.line, error.reason, error.hint
            );
        }
        for header in &mail.auth_results {
            for result in &header.results {
                println!(
                    "Auth:         {} {}={} {}",
                    header.authserv_id,
                    result.method,
                    result.result,
                    result.domain.as_deref().unwrap_or("")
                );
            }
        }
        println!("--- visible text (quoted history, command lines and mail Guichet sent cut) ---");
        match report.visible_text.as_deref() {
            Some("") => println!("(nothing new: on a ticket, nothing would be relayed)"),
            visible => println!("{}", visible.unwrap_or("")),
        }
    }
    if let Some(reason) = &report.would_quarantine {
        println!("Quarantine:   yes: {reason}");
    }
}
