//! The public request form (`/new`, `/new/QUEUE` for each of `form_queues`): a request with the
//! queue's custom fields and files is kept until its address is confirmed through a mailed
//! link; then it enters the pipeline as a mail from that address (source `web`).
//!
//! **Invariant:** before the confirmation, nothing reaches agents and the only mail sent is the
//! confirmation itself, at most once to an address that never confirmed (`core::web_form`).

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, DefaultBodyLimit, Form, Multipart, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use minijinja::context;
use serde::Serialize;

use super::auth;
use super::filing::{self, OnBehalf};
use super::requester::{language_of, run_blocking};
use super::server::{App, Peer};
use super::upload;
use super::WebError;
use crate::adapters::blobs::BlobStore;
use crate::adapters::render::{render_all, NoAttachmentFiles};
use crate::adapters::store::{Store, Submission};
use crate::core::language::Language;
use crate::core::outgoing::OutgoingMail;
use crate::core::requester_link::{form_token, form_token_matches};
use crate::core::rules::FieldKind;
use crate::core::ticket::TicketNumber;
use crate::core::web_form::{self, Admission, FormInput, CONFIRMATION_SECS};
use crate::pipeline::{system_now, IngestOutcome, Source};

/// The cookie a form's token is bound to (double submit): a page elsewhere cannot read it, so
/// it cannot post the form in a visitor's name.
const FORM_COOKIE: &str = "guichet_form";

pub(super) fn routes(max_message_bytes: u64) -> Router<Arc<App>> {
    let limit = usize::try_from(max_message_bytes).unwrap_or(usize::MAX) + 64 * 1024;
    Router::new()
        .route(
            "/new",
            get(show_first)
                .post(submit_first)
                .layer(DefaultBodyLimit::max(limit)),
        )
        .route("/new/confirm", post(confirm))
        .route("/new/confirm/{token}", get(confirm_form))
        .route(
            "/new/{queue}",
            get(show_queue)
                .post(submit_queue)
                .layer(DefaultBodyLimit::max(limit)),
        )
}

#[derive(Serialize)]
struct Words {
    title: &'static str,
    intro: &'static str,
    problems: &'static str,
    name: &'static str,
    address: &'static str,
    subject: &'static str,
    text: &'static str,
    files: &'static str,
    send: &'static str,
    footer: &'static str,
    confirm_title: &'static str,
    confirm_text: &'static str,
    confirm_button: &'static str,
}

fn words(language: Language) -> Words {
    match language {
        Language::En => Words {
            title: "Ask the helpdesk",
            intro: "We will mail you a link to confirm your address; your request is sent once you follow it.",
            problems: "Please check:",
            name: "Your name",
            address: "Your e-mail address",
            subject: "Subject",
            text: "Your request",
            files: "Files (optional)",
            send: "Send",
            footer: "Answers come by mail.",
            confirm_title: "Confirm your request",
            confirm_text: "Confirming sends your request to the helpdesk.",
            confirm_button: "Confirm and send",
        },
        Language::Fr => Words {
            title: "Écrire au support",
            intro: "Nous vous enverrons un lien pour confirmer votre adresse ; votre demande part quand vous le suivez.",
            problems: "Vérifiez :",
            name: "Votre nom",
            address: "Votre adresse e-mail",
            subject: "Objet",
            text: "Votre demande",
            files: "Fichiers (facultatif)",
            send: "Envoyer",
            footer: "Les réponses arrivent par mail.",
            confirm_title: "Confirmez votre demande",
            confirm_text: "Confirmer transmet votre demande au support.",
            confirm_button: "Confirmer et envoyer",
        },
        Language::It => Words {
            title: "Scrivi all'assistenza",
            intro: "Le invieremo un link per confermare il suo indirizzo; la richiesta parte quando lo segue.",
            problems: "Controlli:",
            name: "Il suo nome",
            address: "Il suo indirizzo email",
            subject: "Oggetto",
            text: "La sua richiesta",
            files: "File (facoltativi)",
            send: "Invia",
            footer: "Le risposte arrivano per email.",
            confirm_title: "Confermi la sua richiesta",
            confirm_text: "Confermando, la richiesta viene inviata all'assistenza.",
            confirm_button: "Conferma e invia",
        },
    }
}

/// The notices of the form's flow: (status, title, text).
#[derive(Debug, Clone, Copy)]
enum Notice {
    CheckMail,
    TooMany,
    BadForm,
    BadLink,
    Expired,
    NotTaken,
}

fn notice_text(language: Language, notice: Notice) -> (StatusCode, &'static str, &'static str) {
    use Language::*;
    use Notice::*;
    match (notice, language) {
        (CheckMail, En) => (StatusCode::OK, "Check your mail", "To send your request, follow the link we mailed to the address you gave. It works for 24 hours."),
        (CheckMail, Fr) => (StatusCode::OK, "Consultez votre messagerie", "Pour transmettre votre demande, suivez le lien envoyé à l'adresse indiquée. Il est valable 24 heures."),
        (CheckMail, It) => (StatusCode::OK, "Controlli la sua posta", "Per inviare la richiesta, segua il link inviato all'indirizzo indicato. Vale 24 ore."),
        (TooMany, En) => (StatusCode::TOO_MANY_REQUESTS, "Too many requests", "Too many requests came from this address lately. Please try again in an hour, or write to us by mail."),
        (TooMany, Fr) => (StatusCode::TOO_MANY_REQUESTS, "Trop de demandes", "Trop de demandes sont venues de cette adresse récemment. Réessayez dans une heure, ou écrivez-nous par mail."),
        (TooMany, It) => (StatusCode::TOO_MANY_REQUESTS, "Troppe richieste", "Da questo indirizzo sono arrivate troppe richieste. Riprovi tra un'ora, o ci scriva per email."),
        (BadForm, En) => (StatusCode::FORBIDDEN, "This form cannot be sent", "Open the form again, then send it again."),
        (BadForm, Fr) => (StatusCode::FORBIDDEN, "Ce formulaire ne peut pas être envoyé", "Rouvrez le formulaire, puis renvoyez-le."),
        (BadForm, It) => (StatusCode::FORBIDDEN, "Questo modulo non può essere inviato", "Riapra il modulo, poi lo invii di nuovo."),
        (BadLink, En) => (StatusCode::FORBIDDEN, "This link does not work", "Send your request again from the form."),
        (BadLink, Fr) => (StatusCode::FORBIDDEN, "Ce lien ne fonctionne pas", "Renvoyez votre demande depuis le formulaire."),
        (BadLink, It) => (StatusCode::FORBIDDEN, "Questo link non funziona", "Invii di nuovo la richiesta dal modulo."),
        (Expired, En) => (StatusCode::FORBIDDEN, "This link has expired", "A confirmation link works for 24 hours. Send your request again from the form."),
        (Expired, Fr) => (StatusCode::FORBIDDEN, "Ce lien a expiré", "Un lien de confirmation est valable 24 heures. Renvoyez votre demande depuis le formulaire."),
        (Expired, It) => (StatusCode::FORBIDDEN, "Questo link è scaduto", "Un link di conferma vale 24 ore. Invii di nuovo la richiesta dal modulo."),
        (NotTaken, En) => (StatusCode::SERVICE_UNAVAILABLE, "Not sent", "The helpdesk could not take your request now. Follow the link again in a while."),
        (NotTaken, Fr) => (StatusCode::SERVICE_UNAVAILABLE, "Non envoyée", "Le support n'a pas pu prendre votre demande maintenant. Suivez de nouveau le lien un peu plus tard."),
        (NotTaken, It) => (StatusCode::SERVICE_UNAVAILABLE, "Non inviata", "L'assistenza non ha potuto ricevere la richiesta ora. Segua di nuovo il link tra poco."),
    }
}

/// "Your request is open": (title, text with the tag and the address).
fn opened_text(language: Language, tag: &str, address: &str) -> (String, String) {
    match language {
        Language::En => (
            "Your request is open".into(),
            format!("It is {tag}. We sent an acknowledgement to {address}; answers come there."),
        ),
        Language::Fr => (
            "Votre demande est ouverte".into(),
            format!("Elle porte la référence {tag}. Un accusé de réception est parti vers {address} ; les réponses y arriveront."),
        ),
        Language::It => (
            "La sua richiesta è aperta".into(),
            format!("Ha il riferimento {tag}. Abbiamo inviato una conferma a {address}; le risposte arriveranno lì."),
        ),
    }
}

fn page_link_label(language: Language) -> &'static str {
    match language {
        Language::En => "Follow your request online",
        Language::Fr => "Suivre votre demande en ligne",
        Language::It => "Segua la sua richiesta online",
    }
}

impl App {
    fn notice(&self, language: Language, notice: Notice) -> Result<Response, WebError> {
        let (status, title, text) = notice_text(language, notice);
        let page = self.request_notice_page(language, title, text, None)?;
        Ok((status, Html(page)).into_response())
    }

    pub(super) fn request_notice_page(
        &self,
        language: Language,
        title: &str,
        text: &str,
        link: Option<&str>,
    ) -> Result<String, WebError> {
        self.pages.render(
            "request_notice.html",
            None,
            context! {
                lang => language.code(),
                support_name => self.support_name(),
                title => title,
                text => text,
                link => link,
                link_label => page_link_label(language),
                t => words(language),
            },
        )
    }

    /// The queue a form path names, when it has a form.
    fn form_queue(&self, named: Option<&str>) -> Option<String> {
        let queues = &self.web.form_queues;
        match named {
            None => queues.first().cloned(),
            Some(name) => queues
                .iter()
                .find(|q| q.eq_ignore_ascii_case(name))
                .cloned(),
        }
    }

    /// The client's address: the peer's, or the one a trusted proxy says it forwards for.
    fn client_ip(&self, peer: Peer, headers: &HeaderMap) -> IpAddr {
        let peer = peer.0.ip();
        if !self.web.trusted_proxies.contains(&peer) {
            return peer;
        }
        headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|list| list.rsplit(',').next())
            .and_then(|last| last.trim().parse().ok())
            .unwrap_or(peer)
    }
}

#[derive(Serialize)]
struct FieldInput {
    name: String,
    label: String,
    input: &'static str,
    required: bool,
    choices: Vec<String>,
    value: String,
}

fn form_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())?
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == FORM_COOKIE)
        .map(|(_, value)| value.trim().to_string())
        .filter(|value| auth::well_formed(value))
}

fn bound_token(key: &[u8], cookie: &str) -> String {
    form_token(key, &format!("public-form:{cookie}"))
}

/// The form page for `queue`, with what was typed and what is wrong when it comes back.
fn form_page(
    app: &App,
    queue: &str,
    named: bool,
    headers: &HeaderMap,
    typed: &FormInput,
    problems: &[String],
) -> Result<Response, WebError> {
    let language = language_of(headers, app.config.intake.language.code());
    let (cookie, set_cookie) =
        match form_cookie(headers) {
            Some(cookie) => (cookie, None),
            None => {
                let cookie = auth::new_token()?;
                let set =
                    format!(
                "{FORM_COOKIE}={cookie}; Path={}; Max-Age=86400; HttpOnly; SameSite=Strict{}",
                if app.web.base_path.is_empty() { "/" } else { &app.web.base_path },
                if app.web.tls.is_some() { "; Secure" } else { "" }
            );
                (cookie, Some(set))
            }
        };
    let fields: Vec<FieldInput> = web_form::form_fields(&app.config.intake.fields, queue)
        .into_iter()
        .map(|spec| FieldInput {
            name: spec.name.clone(),
            label: web_form::label(spec),
            input: web_form::input_type(&spec.kind),
            required: spec.required,
            choices: match &spec.kind {
                FieldKind::Choice(choices) => choices.clone(),
                _ => Vec::new(),
            },
            value: typed.fields.get(&spec.name).cloned().unwrap_or_default(),
        })
        .collect();
    let action = if named {
        format!("{}/new/{queue}", app.web.base_path)
    } else {
        format!("{}/new", app.web.base_path)
    };
    let page = app.pages.render(
        "new.html",
        None,
        context! {
            lang => language.code(),
            support_name => app.support_name(),
            action => action,
            form_token => bound_token(&app.web_key, &cookie),
            values => context! {
                name => typed.name,
                address => typed.address,
                subject => typed.subject,
                text => typed.text,
            },
            fields => fields,
            problems => problems,
            t => words(language),
        },
    )?;
    let status = if problems.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let mut response = (status, Html(page)).into_response();
    if let Some(set_cookie) = set_cookie {
        if let Ok(value) = set_cookie.parse() {
            response.headers_mut().insert(header::SET_COOKIE, value);
        }
    }
    Ok(response)
}

async fn show_first(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    show(app, None, headers).await
}

async fn show_queue(
    State(app): State<Arc<App>>,
    Path(queue): Path<String>,
    headers: HeaderMap,
) -> Response {
    show(app, Some(queue), headers).await
}

async fn show(app: Arc<App>, named: Option<String>, headers: HeaderMap) -> Response {
    run_blocking(app, move |app| match app.form_queue(named.as_deref()) {
        Some(queue) => form_page(
            app,
            &queue,
            named.is_some(),
            &headers,
            &FormInput::default(),
            &[],
        ),
        None => Ok((StatusCode::NOT_FOUND, Html(app.pages.not_found(None)?)).into_response()),
    })
    .await
}

async fn submit_first(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    headers: HeaderMap,
    multipart: Multipart,
) -> Response {
    submit(app, None, peer, headers, multipart).await
}

async fn submit_queue(
    State(app): State<Arc<App>>,
    Path(queue): Path<String>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    headers: HeaderMap,
    multipart: Multipart,
) -> Response {
    submit(app, Some(queue), peer, headers, multipart).await
}

async fn submit(
    app: Arc<App>,
    named: Option<String>,
    peer: Peer,
    headers: HeaderMap,
    multipart: Multipart,
) -> Response {
    let mut posted = match upload::read(multipart).await {
        Ok(posted) => posted,
        Err(response) => return response,
    };
    let token = posted.take("form_token");
    let input = FormInput {
        name: posted.take("name"),
        address: posted.take("address"),
        subject: posted.take("subject"),
        text: posted.take("text"),
        honeypot: posted.take("website"),
        fields: std::mem::take(&mut posted.fields)
            .into_iter()
            .filter_map(|(name, value)| Some((name.strip_prefix("field:")?.to_string(), value)))
            .collect(),
    };
    let files = posted.files;
    run_blocking(app, move |app| {
        let Some(queue) = app.form_queue(named.as_deref()) else {
            return Ok((StatusCode::NOT_FOUND, Html(app.pages.not_found(None)?)).into_response());
        };
        let language = language_of(&headers, app.config.intake.language.code());
        let bound = form_cookie(&headers)
            .is_some_and(|cookie| form_token_matches(&app.web_key, &format!("public-form:{cookie}"), &token));
        if !bound {
            return app.notice(language, Notice::BadForm);
        }
        if web_form::is_robot(&input) {
            tracing::info!(%queue, "web form: a robot filled the hidden field; nothing kept");
            return app.notice(language, Notice::CheckMail);
        }
        let checked = match web_form::check(&app.config.intake.fields, &queue, &input, language) {
            Ok(checked) => checked,
            Err(problems) => {
                let problems: Vec<String> = problems.into_iter().map(|p| p.message).collect();
                return form_page(app, &queue, named.is_some(), &headers, &input, &problems);
            }
        };
        let now = system_now();
        let ip = app.client_ip(peer, &headers).to_string();
        let mut store = Store::open(&app.database)?;
        let recent = store.read().form_recent(&checked.requester.address, &ip, now)?;
        let mail = match web_form::admit(recent) {
            Admission::TooMany => {
                tracing::warn!(%ip, "web form: over the rate limit; nothing kept");
                return app.notice(language, Notice::TooMany);
            }
            Admission::Take { mail } => mail,
        };
        let blobs = BlobStore::new(app.config.attachments_dir());
        let attachments = upload::store_files(&blobs, files).map_err(WebError::Io)?;
        let token = auth::new_token()?;
        let link = format!("{}/new/confirm/{token}", app.web.public_url);
        let outgoing: Vec<OutgoingMail> = if mail {
            let seed = format!("{now}.{}", &auth::new_token()?[..12]);
            vec![web_form::confirmation_mail(&app.config.intake.support, &checked, &link, language, &seed)]
        } else {
            Vec::new()
        };
        let (rendered, _) = render_all(&outgoing, &NoAttachmentFiles, now);
        let submission = Submission {
            token_hash: auth::token_hash(&token),
            address: checked.requester.address.clone(),
            name: checked.requester.name.clone(),
            queue: queue.clone(),
            subject: app.config.intake.tags.topic(&checked.subject),
            text: checked.text,
            fields: checked.fields,
            attachments,
            language: language.code().to_string(),
            ip,
            created_at: now,
            expires_at: now + CONFIRMATION_SECS,
            confirmed_at: None,
            ticket: None,
        };
        let tx = store.write()?;
        tx.record_submission(&submission, rendered.first())?;
        tx.commit()?;
        if !rendered.is_empty() {
            app.wake_outbox.notify_one();
        }
        tracing::info!(%queue, mailed = !rendered.is_empty(), "web form: request kept until confirmed");
        app.notice(language, Notice::CheckMail)
    })
    .await
}

/// A mailed link shows a button first: a mail scanner that follows links confirms nothing.
async fn confirm_form(
    State(app): State<Arc<App>>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    run_blocking(app, move |app| {
        let language = language_of(&headers, app.config.intake.language.code());
        if !auth::well_formed(&token) {
            return app.notice(language, Notice::BadLink);
        }
        let page = app.pages.render(
            "new_confirm.html",
            None,
            context! {
                lang => language.code(),
                support_name => app.support_name(),
                token => token,
                t => words(language),
            },
        )?;
        Ok(Html(page).into_response())
    })
    .await
}

#[derive(serde::Deserialize)]
struct ConfirmForm {
    token: String,
}

async fn confirm(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Form(form): Form<ConfirmForm>,
) -> Response {
    run_blocking(app, move |app| {
        let browser = language_of(&headers, app.config.intake.language.code());
        if !auth::well_formed(&form.token) {
            return app.notice(browser, Notice::BadLink);
        }
        let token_hash = auth::token_hash(&form.token);
        let mut store = Store::open(&app.database)?;
        let Some(submission) = store.read().submission(&token_hash)? else {
            return app.notice(browser, Notice::BadLink);
        };
        let language = language_of(&headers, &submission.language);
        let now = system_now();
        if submission.ticket.is_none() && now > submission.expires_at {
            return app.notice(language, Notice::Expired);
        }
        let ticket = match submission.ticket {
            Some(ticket) => ticket,
            None => match file_submission(app, &submission, now) {
                Ok(ticket) => {
                    let tx = store.write()?;
                    tx.confirm_submission(&token_hash, ticket, now)?;
                    tx.commit()?;
                    ticket
                }
                Err(reason) => {
                    tracing::warn!(%reason, "web form: a confirmed request not filed");
                    return app.notice(language, Notice::NotTaken);
                }
            },
        };
        let tag = app.config.intake.tags.tag(ticket);
        let (title, text) = opened_text(language, &tag, &submission.address);
        let link = match &app.links {
            Some(links) => {
                let generation = store.read().link_generation(ticket)?;
                Some(links.url(ticket, &submission.address, generation, now))
            }
            None => None,
        };
        let page = app.request_notice_page(language, &title, &text, link.as_deref())?;
        Ok(Html(page).into_response())
    })
    .await
}

/// The confirmed request as a mail from its sender, through the pipeline. Its Message-ID comes
/// from the link, so a second confirmation finds the first mail's ticket (a duplicate).
fn file_submission(app: &App, submission: &Submission, now: i64) -> Result<TicketNumber, String> {
    let mail = OnBehalf {
        from: crate::core::address::Mailbox::new(submission.name.as_deref(), &submission.address),
        subject: submission.subject.clone(),
        body: submission.text.clone(),
        attachments: submission.attachments.clone(),
        message_id: format!(
            "web.{}@{}",
            &submission.token_hash[..32],
            app.config.intake.support.domain()
        ),
        written_at: submission.created_at,
    };
    let source = Source {
        name: "web".into(),
        queue: Some(submission.queue.clone()),
        vouched_sender: Some(submission.address.clone()),
        given_fields: submission.fields.clone(),
    };
    match filing::file(app, mail, &source, now)? {
        IngestOutcome::Created { ticket, .. } | IngestOutcome::Appended { ticket, .. } => {
            Ok(ticket)
        }
        IngestOutcome::Duplicate {
            ticket: Some(ticket),
        } => Ok(ticket),
        IngestOutcome::Quarantined { reason, .. } => Err(format!("quarantined: {reason}")),
        other => Err(format!("not a ticket: {other:?}")),
    }
}
