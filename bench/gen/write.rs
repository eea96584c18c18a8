//! Writing a generated ticket's steps: the rows intake would store for each, through prepared
//! statements.

use rusqlite::{params, Connection, Statement};
use sha2::Digest;

use super::plan::{below, chance, Step};
use super::words::{sentence, Random};
use super::{AGENTS_PER_QUEUE, ARTICLES, QUEUES, TECHNICIANS};

#[derive(Default)]
pub(super) struct Counts {
    pub(super) messages: u64,
    pub(super) changes: u64,
    pub(super) events: u64,
}

/// What every step of one ticket needs.
pub(super) struct Ticket {
    pub(super) requester: String,
    pub(super) domain: String,
    pub(super) language: usize,
    pub(super) subject: String,
    /// The ticket its mail lives in (itself, or the one it was merged into).
    pub(super) home: u64,
    pub(super) queue: usize,
    pub(super) steps_left: usize,
}

/// One stored mail.
pub(super) struct Mail<'a> {
    pub(super) ticket: u64,
    pub(super) inbound: bool,
    pub(super) internal: bool,
    pub(super) kind: &'a str,
    pub(super) from: &'a str,
    pub(super) to: &'a str,
    pub(super) subject: &'a str,
    pub(super) text: &'a str,
    pub(super) at: i64,
    /// The agent a relay's failures would be told to (`outbox.notify_address`).
    pub(super) notify: Option<&'a str>,
}

/// Prepared inserts for every table a step writes.
pub(super) struct Writer<'c> {
    pub(super) conn: &'c Connection,
    pub(super) ticket: Statement<'c>,
    pub(super) change: Statement<'c>,
    pub(super) event: Statement<'c>,
    pub(super) message: Statement<'c>,
    pub(super) outbox: Statement<'c>,
    pub(super) recipient: Statement<'c>,
    pub(super) automatic: Statement<'c>,
    pub(super) participant: Statement<'c>,
    pub(super) field: Statement<'c>,
    pub(super) tag: Statement<'c>,
    pub(super) link: Statement<'c>,
    pub(super) attachment: Statement<'c>,
    pub(super) kb_ticket: Statement<'c>,
    pub(super) counts: Counts,
}

pub(super) fn hex_hash(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(super) fn date(at: i64) -> String {
    chrono::DateTime::from_timestamp(at, 0)
        .unwrap()
        .to_rfc2822()
}

/// A mail as it would be stored: headers, the text, sometimes an HTML copy or an attachment
/// (whose size is returned).
pub(super) fn raw_mail(
    random: &mut Random,
    mail: &Mail<'_>,
    message_id: &str,
) -> (Vec<u8>, Option<usize>) {
    let mut raw = String::with_capacity(mail.text.len() * 2 + 800);
    if mail.inbound {
        raw += &format!(
            "Return-Path: <{}>\r\nReceived: from mail.example.net (mail.example.net [192.0.2.{}])\r\n\tby mx.desk.example.test with ESMTPS id {:x}\r\n\tfor <{}>; {}\r\nAuthentication-Results: mx.desk.example.test; dkim=pass; spf=pass smtp.mailfrom={}\r\n",
            mail.from,
            below(random, 250),
            random.next(),
            mail.to,
            date(mail.at),
            mail.from
        );
    }
    raw += &format!(
        "From: {}\r\nTo: {}\r\nSubject: {}\r\nDate: {}\r\nMessage-ID: {message_id}\r\nMIME-Version: 1.0\r\n",
        mail.from,
        mail.to,
        mail.subject,
        date(mail.at)
    );
    let html = mail.inbound && chance(random, 0.25);
    let attachment =
        (mail.inbound && chance(random, 0.005)).then(|| 4_000 + below(random, 16_000) as usize);
    if !html && attachment.is_none() {
        raw += "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n";
        raw += mail.text;
        return (raw.into_bytes(), None);
    }
    raw += "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n";
    raw += mail.text;
    if html {
        raw += "\r\n--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><div dir=\"ltr\"><p>";
        raw += &mail.text.replace('\n', "</p>\r\n<p>");
        raw += "</p></div></body></html>";
    }
    if let Some(size) = attachment {
        raw += "\r\n--b1\r\nContent-Type: application/pdf; name=\"scan.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n";
        let line =
            "JVBERi0xLjQKJcOkw7zDtsOfCjIgMCBvYmoKPDwvTGVuZ3RoIDMgMCBSL0ZpbHRlci9GbGF0ZUR\r\n";
        for _ in 0..size * 4 / 3 / (line.len() - 2) {
            raw += line;
        }
    }
    raw += "\r\n--b1--\r\n";
    (raw.into_bytes(), attachment)
}

impl<'c> Writer<'c> {
    pub(super) fn new(conn: &'c Connection) -> Writer<'c> {
        let p = |sql: &str| conn.prepare(sql).expect(sql);
        Writer {
            conn,
            ticket: p("INSERT INTO tickets (number, subject, requester, requester_name, status, priority, level,
                           queue, assignee, language, merged_into, created_at, updated_at, resolution,
                           first_response_due, next_response_due, resolution_due, sla_paused_at,
                           sla_warned_for, awaiting_since)
                       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, NULL, ?19)"),
            change: p("INSERT INTO ticket_changes (ticket, at, field, value) VALUES (?1, ?2, ?3, ?4)"),
            event: p("INSERT INTO events (ticket, at, actor, kind, detail, message) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
            message: p("INSERT INTO messages (ticket, direction, visibility, kind, message_id, content_hash, from_addr,
                            to_addrs, cc_addrs, subject, text, raw, source, sent_date, created_at)
                        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, '[]', ?9, ?10, ?11, ?12, ?13, ?13)"),
            outbox: p("INSERT INTO outbox (message, envelope_from, recipients, status, attempts, next_attempt_at,
                           created_at, sent_at, notify_address, notify_language)
                       VALUES (?1, 'bounces@desk.example.test', ?2, 'sent', 1, ?3, ?3, ?4, ?5,
                               CASE WHEN ?5 IS NULL THEN NULL ELSE 'en' END)"),
            recipient: p("INSERT INTO outbox_recipients (outbox, address, position, status, attempts, updated_at)
                          VALUES (?1, ?2, 0, 'delivered', 1, ?3)"),
            automatic: p("INSERT INTO automatic_mail (address, cause, ticket, kind, message, at)
                          VALUES (?1, ?1, ?2, ?3, ?4, ?5)"),
            participant: p("INSERT OR IGNORE INTO participants (ticket, address, name, role, added_at)
                            VALUES (?1, ?2, NULL, ?3, ?4)"),
            field: p("INSERT INTO ticket_fields (ticket, name, value) VALUES (?1, ?2, ?3)"),
            tag: p("INSERT OR IGNORE INTO ticket_tags (ticket, tag) VALUES (?1, ?2)"),
            link: p("INSERT OR IGNORE INTO kb_links (article, ticket, relation, at) VALUES (?1, ?2, ?3, ?4)"),
            attachment: p("INSERT INTO attachments (message, filename, content_type, size, sha256)
                           VALUES (?1, 'scan.pdf', 'application/pdf', ?2, ?3)"),
            kb_ticket: p("INSERT INTO kb_ticket_fts (rowid, question, resolution) VALUES (?1, ?2, ?3)"),
            counts: Counts::default(),
        }
    }

    pub(super) fn change(&mut self, ticket: u64, at: i64, field: &str, value: Option<&str>) {
        self.change
            .execute(params![ticket as i64, at, field, value])
            .unwrap();
        self.counts.changes += 1;
    }

    pub(super) fn event(
        &mut self,
        ticket: u64,
        at: i64,
        actor: &str,
        kind: &str,
        detail: &str,
        message: Option<i64>,
    ) {
        self.event
            .execute(params![ticket as i64, at, actor, kind, detail, message])
            .unwrap();
        self.counts.events += 1;
    }

    /// Stores `mail`; an outgoing one is queued, sent and delivered a few seconds later.
    pub(super) fn message(&mut self, random: &mut Random, mail: &Mail<'_>) -> i64 {
        let message_id = if mail.inbound {
            let domain = mail.from.rsplit_once('@').map_or("x", |d| d.1);
            format!("<{:x}.{}@{domain}>", random.next(), self.counts.messages)
        } else {
            format!(
                "<guichet.{}.{:x}@desk.example.test>",
                mail.ticket,
                random.next()
            )
        };
        let (raw, attachment) = raw_mail(random, mail, &message_id);
        self.message
            .execute(params![
                mail.ticket as i64,
                if mail.inbound { "in" } else { "out" },
                if mail.internal { "internal" } else { "public" },
                mail.kind,
                message_id,
                hex_hash(&raw),
                mail.from,
                format!("[\"{}\"]", mail.to),
                mail.subject,
                mail.text,
                raw,
                if mail.inbound {
                    "imap:support"
                } else {
                    "guichet"
                },
                mail.at
            ])
            .unwrap();
        self.counts.messages += 1;
        let id = self.conn.last_insert_rowid();
        if let Some(size) = attachment {
            self.attachment
                .execute(params![id, size as i64, hex_hash(&id.to_be_bytes())])
                .unwrap();
        }
        if !mail.inbound {
            let sent = mail.at + 2 + below(random, 30) as i64;
            self.outbox
                .execute(params![
                    id,
                    format!("[\"{}\"]", mail.to),
                    mail.at,
                    sent,
                    mail.notify
                ])
                .unwrap();
            let outbox = self.conn.last_insert_rowid();
            self.recipient
                .execute(params![outbox, mail.to, sent])
                .unwrap();
            self.event(mail.ticket, sent, "guichet", "delivered", mail.to, Some(id));
            if mail.kind == "acknowledgement" {
                self.automatic
                    .execute(params![mail.to, mail.ticket as i64, mail.kind, id, mail.at])
                    .unwrap();
            }
        }
        id
    }
}

pub(super) const SUPPORT: &str = "support@desk.example.test";
pub(super) const TAGS: [&str; 8] = [
    "vpn", "printer", "password", "email", "laptop", "wifi", "phone", "badge",
];

/// Everything the steps of all tickets share.
pub(super) struct World<'w> {
    pub(super) random: Random,
    pub(super) vocabulary: Vec<&'w [String]>,
    pub(super) agents: Vec<String>,
    pub(super) addresses: Vec<String>,
}

impl World<'_> {
    pub(super) fn text(&mut self, language: usize, min: usize, spread: usize) -> String {
        let words = self.vocabulary[language];
        let n = min + self.random.skewed(spread);
        let mut out = String::with_capacity(n * 8);
        let mut left = n;
        while left > 0 {
            let length = (6 + below(&mut self.random, 12) as usize).min(left);
            let mut line = sentence(&mut self.random, words, length);
            if let Some(first) = line.get(..1) {
                line.replace_range(..1, &first.to_uppercase());
            }
            out += &line;
            out += if below(&mut self.random, 4) == 0 {
                ".\n\n"
            } else {
                ". "
            };
            left -= length;
        }
        out.trim_end().to_string()
    }
}

/// Writes what `step` of ticket `number` stores.
pub(super) fn emit(
    w: &mut Writer<'_>,
    world: &mut World<'_>,
    number: u64,
    t: &Ticket,
    at: i64,
    step: &Step,
) {
    let subject_re = format!("Re: [Helpdesk #{}] {}", t.home, t.subject);
    let agent_of_queue = |random: &mut Random| {
        (t.queue * AGENTS_PER_QUEUE) as u16 + below(random, AGENTS_PER_QUEUE as u64) as u16
    };
    match step {
        Step::Request {
            first,
            reopen,
            unwait,
        } => {
            let text = if *first {
                world.text(t.language, 25, 160)
            } else {
                world.text(t.language, 4, 70)
            };
            let subject = if *first {
                t.subject.clone()
            } else {
                subject_re.clone()
            };
            let m = w.message(
                &mut world.random,
                &mail(
                    t,
                    at,
                    "mail",
                    true,
                    &t.requester,
                    SUPPORT,
                    &subject,
                    &text,
                    None,
                ),
            );
            let kind = if *first { "created" } else { "correspondence" };
            w.event(number, at, &t.requester, kind, "", Some(m));
            if *reopen {
                w.change(number, at, "status", Some("open"));
                w.event(number, at, &t.requester, "reopened", "", Some(m));
            } else if *unwait {
                w.change(number, at, "status", Some("open"));
            }
            if *first {
                if chance(&mut world.random, 0.1) {
                    let article = 1 + below(&mut world.random, ARTICLES as u64) as i64;
                    w.link
                        .execute(params![article, number as i64, "suggested", at])
                        .unwrap();
                    w.event(
                        number,
                        at,
                        "guichet",
                        "article_suggested",
                        &article.to_string(),
                        Some(m),
                    );
                }
                if chance(&mut world.random, 0.75) {
                    let ack = format!(
                        "Hello,\n\nWe received your request and opened ticket #{} for it:\n\n  {}\n\n\
                         An agent will answer you soon. To add anything, reply to this mail and keep\n\
                         [Helpdesk #{}] in the subject.\n\nThe helpdesk",
                        t.home, t.subject, t.home
                    );
                    let subject = format!("[Helpdesk #{}] {}", t.home, t.subject);
                    w.message(
                        &mut world.random,
                        &mail(
                            t,
                            at,
                            "acknowledgement",
                            false,
                            SUPPORT,
                            &t.requester,
                            &subject,
                            &ack,
                            None,
                        ),
                    );
                    w.event(number, at, "guichet", "acknowledgement_queued", "", Some(m));
                }
                if chance(&mut world.random, 0.05) {
                    let agent = agent_of_queue(&mut world.random) as usize;
                    let notice = format!(
                        "New ticket #{} in {} from {} ({}):\n\n{}",
                        t.home,
                        QUEUES[t.queue].0,
                        t.requester,
                        t.domain,
                        text.chars().take(400).collect::<String>()
                    );
                    let to = world.addresses[agent].clone();
                    w.message(
                        &mut world.random,
                        &mail(
                            t,
                            at,
                            "new_ticket_notice",
                            false,
                            SUPPORT,
                            &to,
                            &subject_re,
                            &notice,
                            None,
                        ),
                    );
                    w.event(number, at, "guichet", "notice_queued", &to, Some(m));
                }
            } else if chance(&mut world.random, 0.3) {
                let agent = agent_of_queue(&mut world.random) as usize;
                let to = world.addresses[agent].clone();
                w.message(
                    &mut world.random,
                    &mail(
                        t,
                        at,
                        "relay_to_agents",
                        false,
                        SUPPORT,
                        &to,
                        &subject_re,
                        &text,
                        None,
                    ),
                );
            }
        }
        Step::Answer {
            agent,
            open,
            assign,
            waiting,
        } => {
            let agent = *agent as usize;
            let (name, address) = (world.agents[agent].clone(), world.addresses[agent].clone());
            let mut text = world.text(t.language, 8, 90);
            if *waiting {
                text = format!("#status waiting\n{text}");
            }
            let m = w.message(
                &mut world.random,
                &mail(
                    t,
                    at,
                    "mail",
                    true,
                    &address,
                    SUPPORT,
                    &subject_re,
                    &text,
                    None,
                ),
            );
            w.event(number, at, &address, "correspondence", "", Some(m));
            if *assign {
                w.change(number, at, "assignee", Some(&name));
                w.event(number, at, &address, "assigned", &name, Some(m));
            }
            if *open {
                w.change(number, at, "status", Some("open"));
            }
            if *waiting {
                w.change(number, at, "status", Some("waiting"));
                w.event(
                    number,
                    at,
                    &address,
                    "command_applied",
                    "#status waiting",
                    Some(m),
                );
            }
            let relayed = format!("{text}\n\n-- \n{name} (Helpdesk)");
            w.message(
                &mut world.random,
                &mail(
                    t,
                    at,
                    "relay",
                    false,
                    SUPPORT,
                    &t.requester,
                    &subject_re,
                    &relayed,
                    Some(&address),
                ),
            );
        }
        Step::Note { agent } => {
            let address = world.addresses[*agent as usize].clone();
            let text = world.text(t.language, 5, 40);
            let mut note = mail(
                t,
                at,
                "mail",
                true,
                &address,
                "support-comment@desk.example.test",
                &subject_re,
                &text,
                None,
            );
            note.internal = true;
            let m = w.message(&mut world.random, &note);
            w.event(number, at, &address, "note", "", Some(m));
        }
        Step::Escalate { level } => {
            w.change(number, at, "level", Some(&level.to_string()));
            w.event(
                number,
                at,
                "guichet",
                "command_applied",
                &format!("#escalate {level}"),
                None,
            );
            let first = QUEUES.len() * AGENTS_PER_QUEUE;
            let to = if *level == 4 {
                world.addresses[first + TECHNICIANS].clone()
            } else {
                world.addresses[first + below(&mut world.random, TECHNICIANS as u64) as usize]
                    .clone()
            };
            let notice = format!(
                "Ticket #{} was escalated to level {level}: {}",
                t.home, t.subject
            );
            w.message(
                &mut world.random,
                &mail(
                    t,
                    at,
                    "escalation_notice",
                    false,
                    SUPPORT,
                    &to,
                    &subject_re,
                    &notice,
                    None,
                ),
            );
        }
        Step::Priority(priority) => {
            w.change(number, at, "priority", Some(priority));
            w.event(
                number,
                at,
                "guichet",
                "command_applied",
                &format!("#priority {priority}"),
                None,
            );
        }
        Step::Transfer { queue } => {
            w.change(number, at, "queue", Some(QUEUES[*queue].0));
            w.event(
                number,
                at,
                "guichet",
                "command_applied",
                &format!("#transfer {}", QUEUES[*queue].0),
                None,
            );
            let to = world.addresses[queue * AGENTS_PER_QUEUE].clone();
            let notice = format!(
                "Ticket #{} was transferred to {}: {}",
                t.home, QUEUES[*queue].0, t.subject
            );
            w.message(
                &mut world.random,
                &mail(
                    t,
                    at,
                    "transfer_notice",
                    false,
                    SUPPORT,
                    &to,
                    &subject_re,
                    &notice,
                    None,
                ),
            );
        }
        Step::SlaWarning { agent } => {
            w.event(number, at, "guichet", "sla_warning", "first_response", None);
            // Told to the assignee; unassigned, the queue's triagers see it in their work list.
            let Some(agent) = agent else {
                return;
            };
            let to = world.addresses[*agent as usize].clone();
            let notice = format!(
                "Ticket #{} is close to its first-response deadline: {}",
                t.home, t.subject
            );
            w.message(
                &mut world.random,
                &mail(
                    t,
                    at,
                    "sla_warning",
                    false,
                    SUPPORT,
                    &to,
                    &subject_re,
                    &notice,
                    None,
                ),
            );
        }
        Step::SlaBreach => w.event(number, at, "guichet", "sla_breach", "first_response", None),
        Step::Resolve { notice } => {
            w.change(number, at, "status", Some("resolved"));
            w.event(number, at, "guichet", "command_applied", "#resolve", None);
            if *notice {
                let text = format!(
                    "Your ticket #{} is resolved:\n\n  {}\n\nIf it is not, reply to this mail and it opens again.",
                    t.home, t.subject
                );
                w.message(
                    &mut world.random,
                    &mail(
                        t,
                        at,
                        "resolution_notice",
                        false,
                        SUPPORT,
                        &t.requester,
                        &subject_re,
                        &text,
                        None,
                    ),
                );
            }
        }
        Step::Close => {
            w.change(number, at, "status", Some("closed"));
            w.event(number, at, "guichet", "command_applied", "#close", None);
        }
        Step::Solved { article } => {
            let text = "#solved\nThank you, the article answered my question.";
            let m = w.message(
                &mut world.random,
                &mail(
                    t,
                    at,
                    "mail",
                    true,
                    &t.requester,
                    SUPPORT,
                    &subject_re,
                    text,
                    None,
                ),
            );
            w.link
                .execute(params![article, number as i64, "solved", at])
                .unwrap();
            w.event(
                number,
                at,
                &t.requester,
                "solved_by_article",
                &article.to_string(),
                Some(m),
            );
            w.change(number, at, "status", Some("resolved"));
        }
        Step::Merge { into } => {
            w.change(number, at, "merged_into", Some(&into.to_string()));
            w.change(number, at, "status", Some("closed"));
            w.event(
                number,
                at,
                "guichet",
                "command_applied",
                &format!("#merge {into}"),
                None,
            );
            let text = format!("Your request #{number} continues in ticket #{into}.");
            w.message(
                &mut world.random,
                &mail(
                    t,
                    at,
                    "merge_notice",
                    false,
                    SUPPORT,
                    &t.requester,
                    &subject_re,
                    &text,
                    None,
                ),
            );
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn mail<'a>(
    t: &Ticket,
    at: i64,
    kind: &'a str,
    inbound: bool,
    from: &'a str,
    to: &'a str,
    subject: &'a str,
    text: &'a str,
    notify: Option<&'a str>,
) -> Mail<'a> {
    Mail {
        ticket: t.home,
        inbound,
        internal: false,
        kind,
        from,
        to,
        subject,
        text,
        at,
        notify,
    }
}
