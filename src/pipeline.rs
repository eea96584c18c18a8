//! One inbound mail, start to end: size check, parse, dedupe, thread, decide, render, store, all
//! in one transaction. `guichet ingest` and every mail source go through `Pipeline::ingest`.
//!
//! **Invariant:** a mail is never dropped. It makes or joins a ticket, is recognised as a duplicate
//! of a stored mail, or is kept raw in the quarantine with its reason. When none of these can be
//! written now, `ingest` returns `IngestError::Temporary` and the caller must keep the mail.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::Arc;

use crate::adapters::blobs::BlobStore;
use crate::adapters::parse::{content_hash, parse_mail};
use crate::adapters::render::render_all;
use crate::adapters::requester_links::RequesterLinks;
use crate::adapters::store::{
    ArticleLink, ArticleSearch, Counter, InboundRecord, Reader, Store, StoreError, WriteTx,
};
use crate::config::Config;
use crate::core::intake::decide_intake;
use crate::core::knowledge::by_mail::{plan_article_mail, ArticleMailInput, ArticleMailPlan};
use crate::core::knowledge::mail::{
    article_route, ArticleMatch, ArticleRoute, KnowledgeInput, ResolvedTicket,
};
use crate::core::knowledge::matching::{derive_request_terms, request_terms};
use crate::core::mail::InboundMail;
use crate::core::own_text::SENT_MAILS_COMPARED;
use crate::core::plan::{IntakeInput, IntakePlan, TicketChange};
use crate::core::subject::TagFormat;
use crate::core::threading::{decide_thread, ThreadClues, ThreadDecision};
use crate::core::ticket::TicketNumber;
use crate::core::visibility::Visibility;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum IngestOutcome {
    Created {
        ticket: TicketNumber,
        acknowledged: bool,
        /// Marked as spam by the MTA: the ticket waits in `spam` for `#release`.
        held_as_spam: bool,
    },
    Appended {
        ticket: TicketNumber,
        visibility: Visibility,
    },
    Duplicate {
        ticket: Option<TicketNumber>,
    },
    Quarantined {
        id: i64,
        reason: String,
    },
    /// An agent's mail about the knowledge base (to its address, or about an article).
    Knowledge {
        /// `KB-12`: the article drafted or acted on, if any.
        article: Option<String>,
    },
}

impl IngestOutcome {
    /// The outcome as `/metrics` labels it (`guichet_mails_in_total{outcome=...}`).
    pub fn metric_label(&self) -> &'static str {
        match self {
            IngestOutcome::Created {
                held_as_spam: true, ..
            } => "spam",
            IngestOutcome::Created { .. } => "new_ticket",
            IngestOutcome::Appended { .. } => "follow_up",
            IngestOutcome::Duplicate { .. } => "duplicate",
            IngestOutcome::Quarantined { .. } => "quarantined",
            IngestOutcome::Knowledge { .. } => "knowledge",
        }
    }
}

impl Source {
    /// What kind of source this is, for `/metrics`: `imap` for `imap:NAME`, else the name.
    pub fn kind(&self) -> &str {
        self.name.split(':').next().unwrap_or(&self.name)
    }
}

/// Adds a batch's outcomes to the store's running totals, in the batch's transaction.
fn count_outcomes(
    tx: &WriteTx<'_>,
    source: &Source,
    outcomes: &[IngestOutcome],
) -> Result<(), StoreError> {
    let mut tally: std::collections::BTreeMap<&str, u64> = Default::default();
    for outcome in outcomes {
        *tally.entry(outcome.metric_label()).or_default() += 1;
    }
    for (outcome, count) in tally {
        tx.add_to_counter(Counter::MailsIn, source.kind(), outcome, count)?;
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Nothing was written; try again later (an MTA keeps the mail: exit 75).
    #[error("cannot store the mail now, try again later: {0}")]
    Temporary(String),
}

impl From<StoreError> for IngestError {
    fn from(error: StoreError) -> IngestError {
        IngestError::Temporary(error.to_string())
    }
}

impl From<std::io::Error> for IngestError {
    fn from(error: std::io::Error) -> IngestError {
        IngestError::Temporary(format!("file system: {error}"))
    }
}

/// Where a mail came from: a name for the record, and the queue its new tickets open in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub name: String,
    pub queue: Option<String>,
    /// The From address this source has proved itself (a requester's signed link on the web):
    /// a mail from it counts as authenticated, whatever its headers say.
    pub vouched_sender: Option<String>,
    /// Custom field values this source took apart from the text (the web form's typed inputs,
    /// checked there): a new ticket has them whatever its text says.
    pub given_fields: std::collections::BTreeMap<String, String>,
}

impl Source {
    pub fn named(name: impl Into<String>) -> Source {
        Source {
            name: name.into(),
            queue: None,
            vouched_sender: None,
            given_fields: Default::default(),
        }
    }
}

pub struct Pipeline {
    config: Arc<Config>,
    /// The daemon's reloaded configs: each batch takes the latest (see `follow`).
    updates: Option<tokio::sync::watch::Receiver<Arc<Config>>>,
    store: Store,
    attachments: BlobStore,
    quarantine: BlobStore,
    /// Set when requesters have pages: their mails carry a link.
    links: Option<RequesterLinks>,
}

/// Seconds since the epoch from the system clock: only mail sources and the CLI call this.
pub fn system_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

pub fn attachments_dir(config: &Config) -> PathBuf {
    config.attachments_dir()
}

impl Pipeline {
    /// Opens the store under the state directory, which must belong to the current user; every
    /// error names the path it is about.
    pub fn open(config: Arc<Config>) -> Result<Pipeline, IngestError> {
        crate::adapters::state_dir::prepare(&config.state_dir)
            .map_err(|e| IngestError::Temporary(e.to_string()))?;
        let database = config.database_path();
        let store = Store::open(&database)
            .map_err(|e| IngestError::Temporary(format!("{}: {e}", database.display())))?;
        let links = requester_links(&config)?;
        Ok(Pipeline {
            links,
            store,
            attachments: BlobStore::new(attachments_dir(&config)),
            quarantine: BlobStore::new(config.quarantine_dir()),
            config,
            updates: None,
        })
    }

    /// From now on each batch is handled under the latest config sent on `updates` (a reload).
    /// The state directory is the one opened here: a reload never changes it.
    pub fn follow(&mut self, mut updates: tokio::sync::watch::Receiver<Arc<Config>>) {
        self.config = updates.borrow_and_update().clone();
        self.updates = Some(updates);
    }

    fn take_reloaded_config(&mut self) {
        if let Some(updates) = &mut self.updates {
            if updates.has_changed().unwrap_or(false) {
                self.config = updates.borrow_and_update().clone();
                match requester_links(&self.config) {
                    Ok(links) => self.links = links,
                    Err(error) => tracing::error!(%error, "requester links kept as they were"),
                }
            }
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn store_mut(&mut self) -> &mut Store {
        &mut self.store
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The config the next batch is handled under: the latest reloaded one.
    pub fn config_now(&mut self) -> &Config {
        self.take_reloaded_config();
        &self.config
    }

    /// Stores one mail from `source` (recorded with the mail), opening any new ticket in the
    /// source's queue when it names one. Durable once it returns `Ok`.
    pub fn ingest(
        &mut self,
        raw: &[u8],
        source: &Source,
        now: i64,
    ) -> Result<IngestOutcome, IngestError> {
        let mut outcomes = self.ingest_batch(&[raw], source, now)?;
        Ok(outcomes.pop().expect("one outcome per mail"))
    }

    /// Stores mails in one transaction (one disk flush for the lot), each in its own savepoint:
    /// a mail the store refuses is quarantined without undoing the others. Either every mail has
    /// its outcome and the whole batch is durable, or nothing was stored (`Temporary`).
    ///
    /// With more than one mail, a second thread parses them (MIME, HTML to text, attachment
    /// files) a few ahead of this one, which decides and writes them in their order: both cores
    /// work, the decisions stay those of one writer, and a bounded number of parsed mails waits
    /// in memory (`GROUP_MAILS`).
    pub fn ingest_batch(
        &mut self,
        mails: &[&[u8]],
        source: &Source,
        now: i64,
    ) -> Result<Vec<IngestOutcome>, IngestError> {
        self.take_reloaded_config();
        let (config, attachments) = (&self.config, &self.attachments);
        let files = Files {
            attachments,
            quarantine: &self.quarantine,
            links: self.links.as_ref(),
        };
        let store = &mut self.store;
        std::thread::scope(|scope| {
            let (sender, receiver) = std::sync::mpsc::sync_channel(GROUPS_AHEAD);
            let ahead = match mails.len() {
                0 | 1 => Ahead::Nothing,
                _ if store.read().knowledge_searchable()? => Ahead::TextAndTerms,
                _ => Ahead::Text,
            };
            if ahead != Ahead::Nothing {
                scope.spawn(move || {
                    let mut group = Vec::new();
                    let (mut group_size, mut group_bytes) = (1, 0);
                    for raw in mails {
                        group.push(prepare_contained(config, attachments, raw, ahead));
                        group_bytes += raw.len();
                        if group.len() >= group_size || group_bytes >= GROUP_BYTES {
                            if sender.send(std::mem::take(&mut group)).is_err() {
                                return;
                            }
                            group_size = (group_size * 2).min(GROUP_MAILS);
                            group_bytes = 0;
                        }
                    }
                    if !group.is_empty() {
                        let _ = sender.send(group);
                    }
                });
            }
            let mut ready = Vec::new().into_iter();
            let mut outcomes = Vec::with_capacity(mails.len());
            let mut tx = store.write()?;
            for raw in mails {
                let prepared = if ahead != Ahead::Nothing {
                    match ready.next() {
                        Some(prepared) => prepared,
                        None => {
                            ready = receiver
                                .recv()
                                .expect("the preparing thread sends every mail it was given")
                                .into_iter();
                            ready
                                .next()
                                .expect("the preparing thread sends no empty group")
                        }
                    }
                } else {
                    prepare_contained(config, attachments, raw, Ahead::Nothing)
                };
                tx.savepoint()?;
                // A panic while handling one mail (a bug we have not met yet) quarantines that
                // mail and lets the rest of the batch, and every later mail, through.
                let attempt = match prepared {
                    Ok(prepared) => catch_unwind(AssertUnwindSafe(|| {
                        store_one(config, &files, &tx, raw, prepared, source, now)
                    })),
                    Err(panic) => Err(panic),
                };
                let failure = match attempt {
                    Ok(Ok(outcome)) => {
                        tx.release_savepoint()?;
                        outcomes.push(outcome);
                        continue;
                    }
                    Ok(Err(MailFailure::Temporary(error))) => {
                        return Err(IngestError::Temporary(error))
                    }
                    Ok(Err(MailFailure::Refused(reason))) => reason,
                    Err(panic) => {
                        let reason = format!(
                            "internal error while storing this mail: {}",
                            crate::panic_message(&*panic)
                        );
                        tracing::error!(source = %source.name, %reason, "mail quarantined after an internal error");
                        reason
                    }
                };
                tx.rollback_savepoint()?;
                outcomes.push(store_quarantine(
                    files.quarantine,
                    &tx,
                    raw,
                    &content_hash(raw),
                    &source.name,
                    &failure,
                    now,
                )?);
            }
            count_outcomes(&tx, source, &outcomes)?;
            tx.commit()?;
            for outcome in &outcomes {
                if let IngestOutcome::Quarantined { id, reason } = outcome {
                    tracing::warn!(source = %source.name, id, reason, "mail quarantined");
                }
            }
            Ok(outcomes)
        })
    }

    /// Quarantines a mail with the caller's reason, in a transaction of its own: for a mail that
    /// `ingest` could not store however often it was tried, while the store took other writes.
    pub fn quarantine_raw(
        &mut self,
        raw: &[u8],
        source: &Source,
        reason: &str,
        now: i64,
    ) -> Result<IngestOutcome, IngestError> {
        let tx = self.store.write()?;
        let outcome = store_quarantine(
            &self.quarantine,
            &tx,
            raw,
            &content_hash(raw),
            &source.name,
            reason,
            now,
        )?;
        count_outcomes(&tx, source, std::slice::from_ref(&outcome))?;
        tx.commit()?;
        if let IngestOutcome::Quarantined { id, reason } = &outcome {
            tracing::warn!(source = %source.name, id, reason, "mail quarantined");
        }
        Ok(outcome)
    }
}

/// Why one mail of a batch was not stored.
enum MailFailure {
    /// Nothing can be stored now (disk, lock): the whole batch waits.
    Temporary(String),
    /// The store cannot take this mail (a constraint, a bug): it is quarantined.
    Refused(String),
}

/// The files a mail's handling writes or signs with.
struct Files<'p> {
    attachments: &'p BlobStore,
    quarantine: &'p BlobStore,
    links: Option<&'p RequesterLinks>,
}

fn requester_links(config: &Config) -> Result<Option<RequesterLinks>, IngestError> {
    RequesterLinks::for_config(config)
        .map_err(|e| IngestError::Temporary(format!("requester page links: {e}")))
}

/// One mail of a batch, inside its savepoint: stored, recognised, or quarantined on purpose.
fn store_one(
    config: &Config,
    files: &Files<'_>,
    tx: &WriteTx<'_>,
    raw: &[u8],
    prepared: Result<Prepared, IngestError>,
    source: &Source,
    now: i64,
) -> Result<IngestOutcome, MailFailure> {
    let prepared =
        prepared.map_err(|IngestError::Temporary(error)| MailFailure::Temporary(error))?;
    #[cfg(test)]
    if let Prepared::Mail { mail, .. } = &prepared {
        assert!(
            !mail.subject.contains(tests::PANIC_TRIGGER),
            "test-triggered panic"
        );
    }
    let outcome = match prepared {
        Prepared::Mail { mut mail, hash } => {
            mail.vouched_sender = source.vouched_sender.as_deref().is_some_and(|vouched| {
                mail.from
                    .as_ref()
                    .is_some_and(|from| from.address.eq_ignore_ascii_case(vouched))
            });
            mail.given_fields = source.given_fields.clone();
            store_mail(config, files, tx, raw, &mail, &hash, source, now)
        }
        Prepared::Reject { hash, reason } => {
            store_quarantine(files.quarantine, tx, raw, &hash, &source.name, &reason, now)
        }
    };
    outcome.map_err(|error| match error {
        error if error.is_temporary() => MailFailure::Temporary(error.to_string()),
        StoreError::Refused(reason) => MailFailure::Refused(reason),
        other => MailFailure::Refused(format!("the store refused it: {other}")),
    })
}

/// The preparing thread hands parsed mails to the writer in groups: one mail at a time, each
/// hand-over woke a thread, two context switches a mail (a tenth of a batch's time). The
/// groups grow from one mail (the writer starts at once) to `GROUP_MAILS`, and end early past
/// `GROUP_BYTES` of raw mail; at most `GROUPS_AHEAD` wait, besides the one being filled and the
/// one being written, which bounds the memory parsed mails hold.
const GROUP_MAILS: usize = 16;
const GROUP_BYTES: usize = 4 << 20;
const GROUPS_AHEAD: usize = 1;

/// What the thread that parses ahead of the writer also works out, there, of what intake will
/// read off a mail's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ahead {
    /// Nothing: a lone mail leaves it to intake, which may not need it.
    Nothing,
    /// The visible text and the language guess.
    Text,
    /// Those and a new request's search terms, when the knowledge base has anything to search
    /// (a sixth of such a mail's work on the writer). A follow-up's are worked out for nothing,
    /// beside the writer.
    TextAndTerms,
}

/// `prepare`, with a panic caught as the mail's own failure (the writer quarantines it).
fn prepare_contained(
    config: &Config,
    attachments: &BlobStore,
    raw: &[u8],
    ahead: Ahead,
) -> std::thread::Result<Result<Prepared, IngestError>> {
    catch_unwind(AssertUnwindSafe(|| {
        let prepared = prepare(config, attachments, raw);
        if let (Ahead::Text | Ahead::TextAndTerms, Ok(Prepared::Mail { mail, .. })) =
            (ahead, &prepared)
        {
            mail.derive_text(config.intake.guess_language);
            if ahead == Ahead::TextAndTerms {
                let language = crate::core::intake::choose_language(&config.intake, mail);
                derive_request_terms(mail, language.code());
            }
        }
        prepared
    }))
}

/// A mail read and checked, its attachments written: ready for the transaction.
enum Prepared {
    Mail {
        mail: Box<InboundMail>,
        hash: String,
    },
    Reject {
        hash: String,
        reason: String,
    },
}

fn prepare(config: &Config, attachments: &BlobStore, raw: &[u8]) -> Result<Prepared, IngestError> {
    #[cfg(test)]
    assert!(
        !raw.windows(tests::PARSE_PANIC_TRIGGER.len())
            .any(|w| w == tests::PARSE_PANIC_TRIGGER.as_bytes()),
        "test-triggered panic while parsing"
    );
    if raw.len() as u64 > config.max_message_bytes {
        return Ok(Prepared::Reject {
            hash: content_hash(raw),
            reason: format!(
                "message is {} bytes, over general.max_message_bytes ({})",
                raw.len(),
                config.max_message_bytes
            ),
        });
    }
    let parsed = match parse_mail(raw) {
        Ok(parsed) => parsed,
        Err(rejection) => {
            return Ok(Prepared::Reject {
                hash: content_hash(raw),
                reason: rejection.to_string(),
            })
        }
    };
    for (meta, bytes) in parsed.attachments() {
        // Derived data (the raw mail is in the database): no flush needed.
        attachments.put(&meta.sha256, "", bytes, false)?;
    }
    // The parser's copy of the mail goes before the store takes its own.
    let (mail, hash) = parsed.into_mail();
    Ok(Prepared::Mail {
        mail: Box::new(mail),
        hash,
    })
}

#[allow(clippy::too_many_arguments)]
fn store_mail(
    config: &Config,
    files: &Files<'_>,
    tx: &WriteTx<'_>,
    raw: &[u8],
    mail: &InboundMail,
    content_hash: &str,
    source: &Source,
    now: i64,
) -> Result<IngestOutcome, StoreError> {
    let policy = &config.intake;
    if let Some(ticket) = tx
        .read()
        .duplicate_of(mail.message_id.as_deref(), content_hash)?
    {
        return Ok(IngestOutcome::Duplicate { ticket });
    }
    if let Some(route) = article_route(mail, policy) {
        return store_article_mail(
            config,
            files.attachments,
            tx,
            raw,
            mail,
            content_hash,
            source,
            now,
            route,
        );
    }
    let thread = decide_thread(&thread_clues(&tx.read(), mail, &policy.tags)?);
    let mut view = match &thread {
        ThreadDecision::Existing { ticket, .. } => tx.ticket_view(*ticket)?,
        ThreadDecision::New { .. } => None,
    };
    if let Some(view) = view.as_mut() {
        view.sent_texts = tx.read().sent_texts(view.number, SENT_MAILS_COMPARED)?;
    }
    // Agents' loads, only for a new ticket in a queue that assigns automatically.
    let queue = source.queue.as_deref().unwrap_or(&policy.default_queue);
    let assigns = policy
        .directory
        .queue(queue)
        .is_some_and(|q| q.assignment != crate::core::people::Assignment::None);
    let workloads = if view.is_none() && assigns {
        tx.read().workloads()?
    } else {
        Vec::new()
    };
    // Tickets the mail's commands name (#merge N), as they stand after any earlier merge.
    let mut others = Vec::new();
    if view.is_some() {
        for named in crate::core::followup::named_tickets(mail, policy) {
            if let Some(resolved) = tx.read().resolve_ticket(named)? {
                if let Some(mut other) = tx.ticket_view(resolved)? {
                    other.requested_as = Some(named);
                    others.push(other);
                }
            }
        }
    }
    let knowledge = match &view {
        None => knowledge_for_new_ticket(&tx.read(), policy, mail)?,
        Some(view) => knowledge_for_ticket(&tx.read(), policy, mail, view.number)?,
    };
    // The address an acknowledgement would go to, counted in its normalised form.
    let answered = crate::core::intake::answer_address(mail);
    let auto_replies_last_hour = match &answered {
        Some(mailbox) => tx.read().auto_replies_since(&mailbox.address, now - 3600)?,
        None => 0,
    };
    let input = IntakeInput {
        mail,
        thread: &thread,
        ticket: view.as_ref(),
        next_number: tx.next_ticket_number(config.first_ticket_number)?,
        auto_replies_last_hour,
        now,
        id_seed: &content_hash[..20],
        queue: source.queue.as_deref(),
        others: &others,
        workloads: &workloads,
        knowledge: &knowledge,
    };
    let mut plan = match decide_intake(policy, &input) {
        Ok(plan) => plan,
        Err(reason) => {
            return Err(StoreError::Refused(reason.to_string()));
        }
    };
    // Every automatic mail of the plan against the hourly caps, as the store counts them.
    let (reply_keys, cause) = crate::core::caps::keys_to_count(&plan);
    let sent =
        tx.read()
            .automatic_mail_since(&reply_keys, cause.as_deref(), plan.ticket, now - 3600)?;
    crate::core::caps::apply(&policy.loops.caps, &mut plan, &sent);
    if let Some(links) = files.links {
        let requester = match &plan.change {
            TicketChange::Create(new) => Some(&new.requester),
            TicketChange::Append { .. } => view.as_ref().map(|view| &view.requester),
        };
        if let Some(requester) = requester {
            let generation = tx.read().link_generation(plan.ticket)?;
            links.add_to(
                &mut plan.outgoing,
                plan.ticket,
                &requester.address,
                generation,
                now,
            );
        }
    }
    let outgoing = std::mem::take(&mut plan.outgoing);
    let (rendered, render_events) = render_all(&outgoing, files.attachments, now);
    plan.events.extend(render_events);
    let record = InboundRecord {
        mail,
        raw,
        content_hash,
        source: &source.name,
        now,
    };
    tx.apply_intake(&plan, &record, &rendered)?;
    let acknowledged = rendered
        .iter()
        .any(|r| r.mail.kind == crate::core::outgoing::OutgoingKind::Acknowledgement);
    tracing::info!(
        source = %source.name,
        message_id = mail.message_id.as_deref().unwrap_or("-"),
        from = mail.from.as_ref().map_or("-", |m| m.address.as_str()),
        ticket = %plan.ticket,
        decision = %thread,
        auto_reply = %plan.auto_reply,
        "mail stored"
    );
    Ok(outcome_of(&plan, acknowledged))
}

/// Most candidates the store ranks for one request before the core judges them.
const ARTICLE_CANDIDATES: usize = 10;

/// For a new request: the public articles that may answer it (the acknowledgement's), the best
/// matches internal ones included and similar resolved tickets (the agents' notice).
fn knowledge_for_new_ticket(
    reader: &Reader<'_>,
    policy: &crate::core::plan::IntakePolicy,
    mail: &InboundMail,
) -> Result<KnowledgeInput, StoreError> {
    // A store with no article and no resolved ticket has nothing to offer: the request's
    // terms (a sixth of a new ticket's work) are not worked out.
    if !reader.knowledge_searchable()? {
        return Ok(KnowledgeInput::NONE);
    }
    let language = crate::core::intake::choose_language(policy, mail).code();
    let terms = request_terms(mail, language);
    let confidence = &policy.knowledge.confidence;
    let mut input = KnowledgeInput::NONE;
    if terms.is_empty() {
        return Ok(input);
    }
    let article = |id| reader.article(id);
    let search = ArticleSearch {
        terms: &terms,
        language,
        queue: None,
        include_internal: true,
        limit: ARTICLE_CANDIDATES,
    };
    let matches = reader.judged_for_requesters_and_agents(&search, confidence)?;
    if policy.knowledge.suggest {
        for judged in matches.for_requester.into_iter().filter(|j| j.confident) {
            input.suggestions.extend(article(judged.key)?);
        }
    }
    for judged in matches.for_agents {
        // Agents see weaker matches than requesters (half the confidence), never noise.
        if judged.confident || judged.confidence >= confidence.min_confidence / 2.0 {
            if let Some(found) = article(judged.key)? {
                input.matches.push(ArticleMatch {
                    article: found,
                    score: judged.evidence.score,
                    confident: judged.confident,
                });
            }
        }
    }
    input.similar = reader
        .similar_tickets(&terms, language, None, SIMILAR_TICKETS)?
        .into_iter()
        .filter(|t| t.score >= SIMILAR_MIN_SCORE && !t.resolution.trim().is_empty())
        .map(|t| ResolvedTicket {
            number: t.number,
            subject: t.subject,
            resolution: t.resolution,
        })
        .collect();
    Ok(input)
}

/// Similar resolved tickets a new-ticket notice lists.
const SIMILAR_TICKETS: usize = 3;

/// Least BM25 score of a similar ticket: below it, a ticket shares a word or two by chance.
const SIMILAR_MIN_SCORE: f64 = 6.0;

/// For a mail on a ticket: the articles its commands name and those offered on the ticket.
fn knowledge_for_ticket(
    reader: &Reader<'_>,
    policy: &crate::core::plan::IntakePolicy,
    mail: &InboundMail,
    ticket: TicketNumber,
) -> Result<KnowledgeInput, StoreError> {
    let mut input = KnowledgeInput::NONE;
    let named = crate::core::followup::named_articles(mail, policy);
    let knowledge_commands = !named.is_empty()
        || crate::core::commands::parse_commands(&mail.subject, &mail.text, &policy.vocabulary)
            .commands
            .iter()
            .any(|line| {
                matches!(
                    line.command,
                    crate::core::commands::Command::Solved(_)
                        | crate::core::commands::Command::Kb { .. }
                )
            });
    if !knowledge_commands {
        return Ok(input);
    }
    input.suggested = reader.ticket_articles(ticket, ArticleLink::Suggested)?;
    input.answered = reader.ticket_articles(ticket, ArticleLink::Answered)?;
    input.next_article = reader.next_article_id()?;
    let mut ids = named;
    ids.extend(input.suggested.iter().chain(&input.answered).copied());
    ids.sort();
    ids.dedup();
    for id in ids {
        input.articles.extend(reader.known_article(id)?);
    }
    Ok(input)
}

/// An agent's mail to the knowledge address or about an article: drafts, versions, states, in
/// this mail's transaction; anyone else's mail is refused into the quarantine.
#[allow(clippy::too_many_arguments)]
fn store_article_mail(
    config: &Config,
    files: &BlobStore,
    tx: &WriteTx<'_>,
    raw: &[u8],
    mail: &InboundMail,
    content_hash: &str,
    source: &Source,
    now: i64,
    route: ArticleRoute,
) -> Result<IngestOutcome, StoreError> {
    let policy = &config.intake;
    let known = match route {
        ArticleRoute::Article(id) => tx.read().known_article(id)?,
        ArticleRoute::NewDraft => None,
    };
    let auto_replies_last_hour = match crate::core::intake::answer_address(mail) {
        Some(mailbox) => tx.read().auto_replies_since(&mailbox.address, now - 3600)?,
        None => 0,
    };
    let input = ArticleMailInput {
        mail,
        route,
        article: known.as_ref(),
        next_article: tx.read().next_article_id()?,
        auto_replies_last_hour,
        id_seed: &content_hash[..20],
    };
    let plan = match plan_article_mail(policy, &input) {
        ArticleMailPlan::Quarantine(reason) => return Err(StoreError::Refused(reason)),
        ArticleMailPlan::Apply(plan) => plan,
    };
    let replies: Vec<String> = plan
        .outgoing
        .iter()
        .filter(|m| m.kind.is_automatic())
        .flat_map(|m| m.to.iter().chain(&m.cc))
        .map(|m| crate::core::caps::cap_key(&m.address))
        .collect();
    let ticket = plan.ticket.unwrap_or(TicketNumber(0));
    let sent = tx
        .read()
        .automatic_mail_since(&replies, None, ticket, now - 3600)?;
    let (outgoing, mut events) = crate::core::caps::apply_to(
        &policy.loops.caps,
        false,
        None,
        plan.outgoing.clone(),
        &sent,
    );
    let (rendered, render_events) = render_all(&outgoing, files, now);
    events.extend(render_events);
    let record = InboundRecord {
        mail,
        raw,
        content_hash,
        source: &source.name,
        now,
    };
    tx.apply_article_mail(&plan, &record, &rendered, &events)?;
    tracing::info!(
        source = %source.name,
        message_id = mail.message_id.as_deref().unwrap_or("-"),
        from = mail.from.as_ref().map_or("-", |m| m.address.as_str()),
        article = plan.article.map_or("-".to_string(), |id| id.to_string()),
        "mail about the knowledge base stored"
    );
    Ok(IngestOutcome::Knowledge {
        article: plan.article.map(|id| id.to_string()),
    })
}

fn store_quarantine(
    quarantine: &BlobStore,
    tx: &WriteTx<'_>,
    raw: &[u8],
    hash: &str,
    source: &str,
    reason: &str,
    now: i64,
) -> Result<IngestOutcome, StoreError> {
    // The raw file is the only copy of a quarantined mail: flushed before the row commits.
    let path = quarantine
        .put(hash, ".eml", raw, true)
        .map_err(|e| StoreError::Io(e.to_string()))?;
    let id = match tx.quarantined(hash)? {
        Some(id) => id,
        None => tx.insert_quarantine(
            now,
            source,
            reason,
            raw.len(),
            hash,
            &path.to_string_lossy(),
        )?,
    };
    Ok(IngestOutcome::Quarantined {
        id,
        reason: reason.to_string(),
    })
}

fn outcome_of(plan: &IntakePlan, acknowledged: bool) -> IngestOutcome {
    match plan.change {
        TicketChange::Create(ref ticket) => IngestOutcome::Created {
            ticket: plan.ticket,
            acknowledged,
            held_as_spam: ticket.status == crate::core::ticket::Status::Spam,
        },
        TicketChange::Append { .. } => IngestOutcome::Appended {
            ticket: plan.ticket,
            visibility: plan.visibility,
        },
    }
}

/// What the store knows about a mail's tag and answered Message-IDs.
pub fn thread_clues(
    reader: &Reader<'_>,
    mail: &InboundMail,
    tags: &TagFormat,
) -> Result<ThreadClues, StoreError> {
    let tag = match tags.find(&mail.subject) {
        Some(tagged) => Some((tagged, reader.resolve_ticket(tagged)?)),
        None => None,
    };
    let answered = mail.answered_message_ids();
    let mut header_match = None;
    for id in &answered {
        if let Some(ticket) = reader.ticket_for_message_id(id)? {
            header_match = Some((id.to_string(), ticket));
            break;
        }
    }
    Ok(ThreadClues {
        tag,
        answered_ids: answered.len(),
        header_match,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A subject that makes `store_one` panic in unit tests, standing for a bug not met yet.
    pub const PANIC_TRIGGER: &str = "guichet-test-panic";
    /// In a mail's bytes: `prepare` panics (on the preparing thread when the batch has several).
    pub const PARSE_PANIC_TRIGGER: &str = "guichet-test-parse-panic";

    fn config(dir: &std::path::Path) -> Arc<Config> {
        let path = dir.join("guichet.toml");
        std::fs::write(
            &path,
            format!(
                "[general]\nstate_dir = \"{}\"\nsupport_address = \"support@desk.example.test\"\n",
                dir.join("state").display()
            ),
        )
        .unwrap();
        Arc::new(Config::load(&path).unwrap())
    }

    fn mail(from: &str, subject: &str) -> Vec<u8> {
        format!("From: {from}\r\nTo: support@desk.example.test\r\nSubject: {subject}\r\nMessage-ID: <{subject}@x.test>\r\n\r\nHello\r\n").into_bytes()
    }

    #[test]
    fn a_panic_on_one_mail_quarantines_it_and_the_batch_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let mut pipeline = Pipeline::open(config(dir.path())).unwrap();
        let poison = mail("=?UTF-8?Q?a=0Ab?= <x@evil.test>", PANIC_TRIGGER);
        let normal = mail("Bob <bob@example.test>", "printer");
        let outcomes = pipeline
            .ingest_batch(&[&poison, &normal], &Source::named("test"), 1_700_000_000)
            .unwrap();
        match &outcomes[0] {
            IngestOutcome::Quarantined { reason, .. } => {
                assert!(
                    reason.contains("internal error") && reason.contains("test-triggered"),
                    "{reason}"
                )
            }
            other => panic!("poison mail not quarantined: {other:?}"),
        }
        assert!(
            matches!(
                outcomes[1],
                IngestOutcome::Created {
                    acknowledged: true,
                    ..
                }
            ),
            "{:?}",
            outcomes[1]
        );
        let store = pipeline.store();
        assert_eq!(store.read().list_quarantine().unwrap().len(), 1);
        assert_eq!(store.read().list_tickets(None).unwrap().len(), 1);
        assert_eq!(store.read().outbox_counts().unwrap().pending, 1);
    }

    /// Inbound mails enter the full-text index when their batch commits (migration 0022): each
    /// stored one is found by its words, a mail rolled back to its savepoint is not, and FTS5
    /// finds its index consistent with the messages table.
    #[test]
    fn stored_mails_are_searchable_after_the_commit_and_rolled_back_ones_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let mut pipeline = Pipeline::open(config(dir.path())).unwrap();
        let first = mail("Ann <ann@example.test>", "printer");
        let poison = mail("Eve <eve@example.test>", PANIC_TRIGGER);
        let last = mail("Bob <bob@example.test>", "scanner");
        pipeline
            .ingest_batch(
                &[&first, &poison, &last],
                &Source::named("test"),
                1_700_000_000,
            )
            .unwrap();
        let reply = "From: Ann <ann@example.test>\r\nTo: support@desk.example.test\r\nSubject: Re: [Helpdesk #1] printer\r\nMessage-ID: <r@x.test>\r\n\r\nStill jammed\r\n";
        pipeline
            .ingest(reply.as_bytes(), &Source::named("test"), 1_700_000_100)
            .unwrap();
        let store = pipeline.store();
        let found = |words: &str| -> Vec<u64> {
            store
                .read()
                .ticket_page(&crate::adapters::store::TicketQuery {
                    queues: &[],
                    status: None,
                    queue: None,
                    search: Some(words),
                    after: 0,
                    limit: 10,
                })
                .unwrap()
                .iter()
                .map(|row| row.number)
                .collect()
        };
        assert_eq!(found("printer"), [1]);
        assert_eq!(found("scanner"), [2]);
        assert_eq!(found("hello"), [1, 2]);
        assert_eq!(found("jammed"), [1]);
        assert_eq!(found("eve"), Vec::<u64>::new());
        assert_eq!(
            store.read().integrity_problems().unwrap(),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_panic_while_parsing_ahead_quarantines_that_mail_and_keeps_the_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut pipeline = Pipeline::open(config(dir.path())).unwrap();
        let first = mail("Ann <ann@example.test>", "first");
        let poison = mail("Eve <eve@example.test>", PARSE_PANIC_TRIGGER);
        let last = mail("Bob <bob@example.test>", "last");
        let outcomes = pipeline
            .ingest_batch(
                &[&first, &poison, &last],
                &Source::named("test"),
                1_700_000_000,
            )
            .unwrap();
        assert!(matches!(outcomes[0], IngestOutcome::Created { ticket, .. } if ticket.0 == 1));
        match &outcomes[1] {
            IngestOutcome::Quarantined { reason, .. } => {
                assert!(reason.contains("while parsing"), "{reason}")
            }
            other => panic!("not quarantined: {other:?}"),
        }
        assert!(matches!(outcomes[2], IngestOutcome::Created { ticket, .. } if ticket.0 == 2));
    }

    #[test]
    fn a_name_with_a_line_break_is_stored_and_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let mut pipeline = Pipeline::open(config(dir.path())).unwrap();
        let raw = mail("=?UTF-8?Q?a=0Ab?= <x@evil.test>", "hello");
        let outcome = pipeline
            .ingest(&raw, &Source::named("test"), 1_700_000_000)
            .unwrap();
        assert!(
            matches!(
                outcome,
                IngestOutcome::Created {
                    acknowledged: true,
                    ..
                }
            ),
            "{outcome:?}"
        );
        let ticket = pipeline
            .store()
            .read()
            .ticket(TicketNumber(1))
            .unwrap()
            .unwrap();
        assert_eq!(ticket.ticket.requester_name.as_deref(), Some("a b"));
    }
}
