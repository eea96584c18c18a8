//! The requester's page: the link in every mail to a requester opens their ticket's public
//! conversation and status, where they can reply (with files), close or reopen it.
//!
//! **Invariant:** the page shows only what the requester already received or sent by mail
//! (never internal notes, never other people's mail, never another ticket), and what they do on
//! it enters the pipeline as a mail from them (source `web`), so threading, relays to the
//! assignee, commands and the audit trail are those of mail.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Form, Multipart, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use minijinja::context;
use serde::Serialize;

use super::filing::{self, OnBehalf};
use super::pages::Pages;
use super::server::{failure, App};
use super::upload::{self, UploadedFile};
use super::WebError;
use crate::adapters::blobs::BlobStore;
use crate::adapters::store::{MessageRow, Store, TicketDetail};
use crate::core::address::Mailbox;
use crate::core::language::Language;
use crate::core::requester_link::LinkRefusal;
use crate::core::ticket::TicketNumber;
use crate::pipeline::{system_now, IngestOutcome, Source};

/// The routes under `/request/LINK`; the reply takes a mail's worth of files.
pub(super) fn routes(max_message_bytes: u64) -> Router<Arc<App>> {
    // Room for the form's own fields and multipart framing beside the files.
    let limit = usize::try_from(max_message_bytes).unwrap_or(usize::MAX) + 64 * 1024;
    Router::new()
        .route("/request/{link}", get(show))
        .route(
            "/request/{link}/reply",
            post(reply).layer(DefaultBodyLimit::max(limit)),
        )
        .route("/request/{link}/{state}", post(change_state))
}

/// The page's words in the requester's language.
#[derive(Serialize)]
struct Words {
    footer: &'static str,
    opened: &'static str,
    merged: &'static str,
    conversation: &'static str,
    you: &'static str,
    reply: &'static str,
    files: &'static str,
    send: &'static str,
    close: &'static str,
    reopen: &'static str,
}

fn words(language: Language) -> Words {
    match language {
        Language::En => Words {
            footer: "Only you and the helpdesk see this page. Answers also come by mail.",
            opened: "opened",
            merged: "This request was joined to another one: our answers come by mail.",
            conversation: "Conversation",
            you: "You",
            reply: "Reply",
            files: "Files (optional)",
            send: "Send",
            close: "My problem is solved: close the request",
            reopen: "Reopen the request",
        },
        Language::Fr => Words {
            footer: "Seuls vous et le support voyez cette page. Les réponses arrivent aussi par mail.",
            opened: "ouverte le",
            merged: "Cette demande a été jointe à une autre : nos réponses arrivent par mail.",
            conversation: "Échanges",
            you: "Vous",
            reply: "Répondre",
            files: "Fichiers (facultatif)",
            send: "Envoyer",
            close: "Mon problème est résolu : clore la demande",
            reopen: "Rouvrir la demande",
        },
        Language::It => Words {
            footer: "Solo lei e l'assistenza vedete questa pagina. Le risposte arrivano anche per email.",
            opened: "aperta il",
            merged: "Questa richiesta è stata unita a un'altra: le risposte arrivano per email.",
            conversation: "Conversazione",
            you: "Lei",
            reply: "Rispondi",
            files: "File (facoltativi)",
            send: "Invia",
            close: "Il problema è risolto: chiudi la richiesta",
            reopen: "Riapri la richiesta",
        },
    }
}

fn status_label(language: Language, status: &str) -> &'static str {
    let (en, fr, it) = match status {
        "new" => ("Received", "Reçue", "Ricevuta"),
        "open" | "pending" => ("In progress", "En cours", "In lavorazione"),
        "waiting" => (
            "Waiting for your answer",
            "En attente de votre réponse",
            "In attesa della sua risposta",
        ),
        "resolved" => ("Resolved", "Résolue", "Risolta"),
        "closed" => ("Closed", "Close", "Chiusa"),
        _ => ("Received", "Reçue", "Ricevuta"),
    };
    match language {
        Language::En => en,
        Language::Fr => fr,
        Language::It => it,
    }
}

/// What happened, said at the top of the page after a form was sent.
fn done_text(language: Language, done: &str) -> Option<&'static str> {
    Some(match (done, language) {
        ("sent", Language::En) => "Your reply was sent to the helpdesk.",
        ("sent", Language::Fr) => "Votre réponse a été transmise au support.",
        ("sent", Language::It) => "La sua risposta è stata inviata all'assistenza.",
        ("close", Language::En) => "You asked to close the request.",
        ("close", Language::Fr) => "Vous avez demandé la clôture de la demande.",
        ("close", Language::It) => "Ha chiesto di chiudere la richiesta.",
        ("reopen", Language::En) => "You asked to reopen the request.",
        ("reopen", Language::Fr) => "Vous avez demandé la réouverture de la demande.",
        ("reopen", Language::It) => "Ha chiesto di riaprire la richiesta.",
        _ => return None,
    })
}

/// Why a page or a form was refused, in the requester's language: (status, title, text).
fn refusal_text(language: Language, why: Refusal) -> (StatusCode, &'static str, &'static str) {
    use Language::*;
    match (why, language) {
        (Refusal::Link(LinkRefusal::Forged), En) => (StatusCode::NOT_FOUND, "No such request", "This link does not open a request. Use the link in our latest mail."),
        (Refusal::Link(LinkRefusal::Forged), Fr) => (StatusCode::NOT_FOUND, "Demande introuvable", "Ce lien n'ouvre aucune demande. Utilisez le lien de notre dernier mail."),
        (Refusal::Link(LinkRefusal::Forged), It) => (StatusCode::NOT_FOUND, "Richiesta non trovata", "Questo link non apre alcuna richiesta. Usi il link della nostra ultima email."),
        (Refusal::Link(LinkRefusal::Expired), En) => (StatusCode::FORBIDDEN, "This link has expired", "Use the link in our latest mail about your request, or reply to that mail."),
        (Refusal::Link(LinkRefusal::Expired), Fr) => (StatusCode::FORBIDDEN, "Ce lien a expiré", "Utilisez le lien de notre dernier mail sur votre demande, ou répondez à ce mail."),
        (Refusal::Link(LinkRefusal::Expired), It) => (StatusCode::FORBIDDEN, "Questo link è scaduto", "Usi il link della nostra ultima email sulla sua richiesta, o risponda a quell'email."),
        (Refusal::Link(LinkRefusal::Revoked), En) => (StatusCode::FORBIDDEN, "This link no longer works", "The helpdesk withdrew it. Reply to our latest mail and the next one brings a new link."),
        (Refusal::Link(LinkRefusal::Revoked), Fr) => (StatusCode::FORBIDDEN, "Ce lien ne fonctionne plus", "Le support l'a retiré. Répondez à notre dernier mail : le suivant contiendra un nouveau lien."),
        (Refusal::Link(LinkRefusal::Revoked), It) => (StatusCode::FORBIDDEN, "Questo link non funziona più", "L'assistenza lo ha ritirato. Risponda alla nostra ultima email: la prossima conterrà un nuovo link."),
        (Refusal::Form, En) => (StatusCode::FORBIDDEN, "This form cannot be sent", "Open the page again from the link in our mail, then send it again."),
        (Refusal::Form, Fr) => (StatusCode::FORBIDDEN, "Ce formulaire ne peut pas être envoyé", "Rouvrez la page depuis le lien de notre mail, puis renvoyez-le."),
        (Refusal::Form, It) => (StatusCode::FORBIDDEN, "Questo modulo non può essere inviato", "Riapra la pagina dal link della nostra email, poi lo invii di nuovo."),
        (Refusal::Empty, En) => (StatusCode::UNPROCESSABLE_ENTITY, "Nothing to send", "Write a few words or add a file, then send again."),
        (Refusal::Empty, Fr) => (StatusCode::UNPROCESSABLE_ENTITY, "Rien à envoyer", "Écrivez quelques mots ou joignez un fichier, puis renvoyez."),
        (Refusal::Empty, It) => (StatusCode::UNPROCESSABLE_ENTITY, "Niente da inviare", "Scriva qualche parola o alleghi un file, poi invii di nuovo."),
        (Refusal::NotTaken, En) => (StatusCode::SERVICE_UNAVAILABLE, "Not sent", "The helpdesk could not take it now. Please reply to our mail instead."),
        (Refusal::NotTaken, Fr) => (StatusCode::SERVICE_UNAVAILABLE, "Non envoyé", "Le support n'a pas pu le prendre maintenant. Répondez plutôt à notre mail."),
        (Refusal::NotTaken, It) => (StatusCode::SERVICE_UNAVAILABLE, "Non inviato", "L'assistenza non ha potuto riceverlo ora. Risponda invece alla nostra email."),
    }
}

#[derive(Debug, Clone, Copy)]
enum Refusal {
    Link(LinkRefusal),
    /// The form's token is missing or belongs to another link.
    Form,
    /// A reply with neither text nor files.
    Empty,
    /// The pipeline could not store it (quarantined or a temporary fault).
    NotTaken,
}

/// The browser's first language we write in (`Accept-Language`), else the ticket's.
pub(super) fn language_of(headers: &HeaderMap, ticket_language: &str) -> Language {
    let fallback = ticket_language.parse().unwrap_or(Language::En);
    let Some(accepted) = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
    else {
        return fallback;
    };
    let mut ranked: Vec<(f32, Language)> = accepted
        .split(',')
        .filter_map(|item| {
            let mut parts = item.split(';');
            let tag = parts.next()?.trim();
            let primary = tag.split('-').next()?.to_ascii_lowercase();
            let language: Language = primary.parse().ok()?;
            let quality = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            Some((quality, language))
        })
        .collect();
    // Stable: among equal qualities the browser's order stands.
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
    ranked.first().map_or(fallback, |(_, language)| *language)
}

/// A ticket opened through a link that checked out.
struct Opened {
    detail: TicketDetail,
    language: Language,
}

impl App {
    /// The ticket a link opens, or the page that says why it does not.
    fn open_link(
        &self,
        store: &Store,
        link: &str,
        headers: &HeaderMap,
    ) -> Result<Result<Opened, Response>, WebError> {
        Ok(self
            .check_link(store, link, headers)?
            .map_err(|(language, why)| refused(&self.pages, &self.support_name(), language, why)))
    }

    fn check_link(
        &self,
        store: &Store,
        link: &str,
        headers: &HeaderMap,
    ) -> Result<Result<Opened, (Language, Refusal)>, WebError> {
        let browser = language_of(headers, "en");
        let Some(links) = &self.links else {
            return Ok(Err((browser, Refusal::Link(LinkRefusal::Forged))));
        };
        let Some(number) = crate::core::requester_link::ticket_of(link) else {
            return Ok(Err((browser, Refusal::Link(LinkRefusal::Forged))));
        };
        let Some(detail) = store.read().ticket(number)? else {
            return Ok(Err((browser, Refusal::Link(LinkRefusal::Forged))));
        };
        let language = language_of(headers, &detail.ticket.language);
        let generation = store.read().link_generation(number)?;
        Ok(
            match links.verify(link, &detail.ticket.requester, generation, system_now()) {
                Ok(_) => Ok(Opened { detail, language }),
                Err(why) => Err((language, Refusal::Link(why))),
            },
        )
    }

    pub(super) fn support_name(&self) -> String {
        let support = &self.config.intake.support;
        support
            .name
            .clone()
            .unwrap_or_else(|| support.address.clone())
    }
}

fn refused(pages: &Pages, support_name: &str, language: Language, why: Refusal) -> Response {
    let (status, title, text) = refusal_text(language, why);
    match pages.request_notice(support_name, language, title, text) {
        Ok(page) => (status, Html(page)).into_response(),
        Err(error) => failure(error),
    }
}

#[derive(serde::Deserialize)]
struct ShowQuery {
    done: Option<String>,
}

async fn show(
    State(app): State<Arc<App>>,
    Path(link): Path<String>,
    Query(query): Query<ShowQuery>,
    headers: HeaderMap,
) -> Response {
    run_blocking(app, move |app| {
        let store = Store::open_read_only(&app.database)?;
        let opened = match app.open_link(&store, &link, &headers)? {
            Ok(opened) => opened,
            Err(refusal) => return Ok(refusal),
        };
        let links = app.links.as_ref().expect("a link opened");
        let done = query
            .done
            .as_deref()
            .and_then(|done| done_text(opened.language, done));
        let page = app.pages.request(&RequestPage {
            opened: &opened,
            support_name: &app.support_name(),
            tag: &app
                .config
                .intake
                .tags
                .tag(TicketNumber(opened.detail.ticket.number)),
            link: &link,
            form_token: &links.form_token(&link),
            notice: done,
        })?;
        Ok(Html(page).into_response())
    })
    .await
}

/// What the requester does on the page, as the mail it becomes.
enum Action {
    Reply {
        text: String,
        files: Vec<UploadedFile>,
    },
    Close,
    Reopen,
}

#[derive(serde::Deserialize)]
struct StateForm {
    form_token: String,
}

/// `close` or `reopen`; any other word is no page.
async fn change_state(
    State(app): State<Arc<App>>,
    Path((link, state)): Path<(String, String)>,
    headers: HeaderMap,
    Form(form): Form<StateForm>,
) -> Response {
    let action = match state.as_str() {
        "close" => Action::Close,
        "reopen" => Action::Reopen,
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    act(app, link, headers, form.form_token, action).await
}

async fn reply(
    State(app): State<Arc<App>>,
    Path(link): Path<String>,
    headers: HeaderMap,
    multipart: Multipart,
) -> Response {
    let mut posted = match upload::read(multipart).await {
        Ok(posted) => posted,
        Err(response) => return response,
    };
    let form_token = posted.take("form_token");
    let text = posted.take("text");
    let files = posted.files;
    act(
        app,
        link,
        headers,
        form_token,
        Action::Reply { text, files },
    )
    .await
}

/// Checks the link and the form's token, then files what the requester did as a mail from
/// them, and shows the page again.
async fn act(
    app: Arc<App>,
    link: String,
    headers: HeaderMap,
    form_token: String,
    action: Action,
) -> Response {
    run_blocking(app, move |app| {
        let store = Store::open_read_only(&app.database)?;
        let opened = match app.open_link(&store, &link, &headers)? {
            Ok(opened) => opened,
            Err(refusal) => return Ok(refusal),
        };
        drop(store);
        let language = opened.language;
        let links = app.links.as_ref().expect("a link opened");
        if !links.form_token_matches(&link, &form_token) {
            return Ok(refused(&app.pages, &app.support_name(), language, Refusal::Form));
        }
        let (done, body, files) = match action {
            Action::Reply { text, files } => {
                if text.trim().is_empty() && files.is_empty() {
                    return Ok(refused(&app.pages, &app.support_name(), language, Refusal::Empty));
                }
                ("sent", text, files)
            }
            Action::Close => ("close", "#close".to_string(), Vec::new()),
            Action::Reopen => ("reopen", "#reopen".to_string(), Vec::new()),
        };
        match file_as_mail(app, &opened.detail, body, files) {
            Ok(()) => Ok((
                StatusCode::SEE_OTHER,
                [(
                    header::LOCATION,
                    format!("{}/request/{link}?done={done}", app.web.base_path),
                )],
            )
                .into_response()),
            Err(reason) => {
                tracing::warn!(ticket = opened.detail.ticket.number, %reason, "requester page: not filed");
                Ok(refused(&app.pages, &app.support_name(), language, Refusal::NotTaken))
            }
        }
    })
    .await
}

/// Files what the requester did as a mail from them: the same pipeline, rules and relays as a
/// reply by mail, her address vouched for by the link.
fn file_as_mail(
    app: &App,
    detail: &TicketDetail,
    body: String,
    files: Vec<UploadedFile>,
) -> Result<(), String> {
    let config = &app.config;
    let now = system_now();
    let ticket = TicketNumber(detail.ticket.number);
    let attachments = upload::store_files(&BlobStore::new(config.attachments_dir()), files)
        .map_err(|e| e.to_string())?;
    let mail = OnBehalf {
        from: Mailbox::new(
            detail.ticket.requester_name.as_deref(),
            &detail.ticket.requester,
        ),
        subject: format!(
            "Re: {} {}",
            config.intake.tags.tag(ticket),
            detail.ticket.subject
        ),
        body,
        attachments,
        message_id: filing::fresh_message_id(app, "web")?,
        written_at: now,
    };
    let source = Source {
        name: "web".into(),
        queue: None,
        vouched_sender: Some(detail.ticket.requester.clone()),
        given_fields: Default::default(),
    };
    match filing::file(app, mail, &source, now)? {
        IngestOutcome::Quarantined { reason, .. } => Err(format!("quarantined: {reason}")),
        _ => Ok(()),
    }
}

/// Runs `work` on a blocking thread (the store and the pipeline block).
pub(super) async fn run_blocking(
    app: Arc<App>,
    work: impl FnOnce(&App) -> Result<Response, WebError> + Send + 'static,
) -> Response {
    match tokio::task::spawn_blocking(move || work(&app)).await {
        Ok(Ok(response)) => response,
        Ok(Err(error)) => failure(error),
        Err(panic) => {
            tracing::error!(%panic, "requester page: a request panicked");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// What the page shows, gathered by the handler.
struct RequestPage<'a> {
    opened: &'a Opened,
    support_name: &'a str,
    tag: &'a str,
    link: &'a str,
    form_token: &'a str,
    notice: Option<&'static str>,
}

#[derive(Serialize)]
struct Line {
    who: String,
    mine: bool,
    at: String,
    text: String,
    attachments: Vec<String>,
}

/// The mails the requester sent (public ones) or received on this ticket: nothing else.
fn conversation(detail: &TicketDetail) -> impl Iterator<Item = (&MessageRow, bool)> {
    let requester = detail.ticket.requester.to_lowercase();
    detail.messages.iter().filter_map(move |m| {
        // A mail of hers that was only commands (`#close` from the page) has nothing to show.
        let sent = m.direction == "in"
            && m.visibility == "public"
            && m.from
                .as_deref()
                .is_some_and(|f| f.eq_ignore_ascii_case(&requester))
            && !(m.text.trim().is_empty() && m.attachments.is_empty());
        let received =
            m.direction == "out" && m.to.iter().any(|to| to.eq_ignore_ascii_case(&requester));
        (sent || received).then_some((m, sent))
    })
}

/// A mail's text without the link we added at its end (the page is where it leads).
fn without_link(text: &str) -> &str {
    match text.rfind("\n-- \n") {
        Some(cut) if text[cut..].contains("/request/") => text[..cut].trim_end(),
        _ => text.trim_end(),
    }
}

impl Pages {
    fn request(&self, page: &RequestPage<'_>) -> Result<String, WebError> {
        let Opened { detail, language } = page.opened;
        let t = words(*language);
        let lines: Vec<Line> = conversation(detail)
            .map(|(m, mine)| Line {
                who: if mine {
                    t.you.to_string()
                } else {
                    page.support_name.to_string()
                },
                mine,
                at: self.time(m.created_at),
                text: without_link(&m.text).to_string(),
                attachments: m
                    .attachments
                    .iter()
                    .map(|a| {
                        format!(
                            "{} ({})",
                            a.filename,
                            crate::core::attachments::human_size(a.size)
                        )
                    })
                    .collect(),
            })
            .collect();
        let ticket = &detail.ticket;
        let finished = matches!(ticket.status.as_str(), "resolved" | "closed");
        let (state_action, state_label) = if finished {
            ("reopen", t.reopen)
        } else {
            ("close", t.close)
        };
        self.render(
            "request.html",
            None,
            context! {
                lang => language.code(),
                support_name => page.support_name,
                tag => page.tag,
                subject => ticket.subject,
                status => ticket.status,
                status_label => status_label(*language, &ticket.status),
                opened => self.time(ticket.created_at),
                merged_into => ticket.merged_into,
                notice => page.notice,
                messages => lines,
                link => page.link,
                form_token => page.form_token,
                state_action => state_action,
                state_label => state_label,
                t => t,
            },
        )
    }

    fn request_notice(
        &self,
        support_name: &str,
        language: Language,
        title: &str,
        text: &str,
    ) -> Result<String, WebError> {
        self.render(
            "request_notice.html",
            None,
            context! {
                lang => language.code(),
                support_name => support_name,
                title => title,
                text => text,
                t => words(language),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_LANGUAGE, value.parse().unwrap());
        headers
    }

    #[test]
    fn the_browsers_best_language_we_write_in_else_the_tickets() {
        assert_eq!(
            language_of(&accept("fr-CH, fr;q=0.9, en;q=0.8"), "it"),
            Language::Fr
        );
        assert_eq!(
            language_of(&accept("de-DE, it;q=0.7, en;q=0.8"), "fr"),
            Language::En
        );
        assert_eq!(language_of(&accept("de-DE"), "it"), Language::It);
        assert_eq!(language_of(&HeaderMap::new(), "fr"), Language::Fr);
        assert_eq!(language_of(&accept("en;q=0.2, it"), "fr"), Language::It);
    }

    #[test]
    fn the_link_we_added_is_left_out_and_a_signature_is_kept() {
        let ours = "Hello\n\n-- \nFollow your request:\nhttps://x/request/1.2.0.ab\n";
        assert_eq!(without_link(ours), "Hello");
        let theirs = "Hello\n-- \nAnna, accounts\n";
        assert_eq!(without_link(theirs), "Hello\n-- \nAnna, accounts");
    }
}
