//! The JSON API under `/api/v1` (`[web] api = true`), for other systems: list, search and read
//! tickets, open one, answer, note and command as an agent would by mail. Clients are made with
//! `guichet api-client create`; their tokens are kept as SHA-256 only. The document
//! `docs/openapi.json` describes it and is served at `/api/v1/openapi.json`.
//!
//! **Invariant:** a client sees and acts on the tickets of its queues only, and every write is a
//! mail through the pipeline (source `api:NAME`): from the requester it names for a new ticket,
//! from its agent (vouched for by the token) for answers, notes and commands, so the agent's
//! permissions and the audit trail are those of mail.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth;
use super::filing::{self, OnBehalf};
use super::requester::run_blocking;
use super::server::App;
use super::WebError;
use crate::adapters::store::{ApiClient, Store, TicketDetail, TicketQuery, TicketRow};
use crate::core::address::Mailbox;
use crate::core::language::Language;
use crate::core::ticket::TicketNumber;
use crate::core::web_form::{self, FormInput};
use crate::core::webhooks::rfc3339;
use crate::pipeline::{system_now, IngestOutcome, Source};

/// The API's description, kept in the repository and checked against the API by its test.
pub const OPENAPI: &str = include_str!("../../docs/openapi.json");
/// Most tickets one list answers.
const MAX_PAGE: usize = 200;

pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/tickets", get(list).post(create))
        .route("/api/v1/tickets/{number}", get(show))
        .route("/api/v1/tickets/{number}/messages", post(add_message))
        .route("/api/v1/tickets/{number}/commands", post(run_commands))
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// An answer that is not a success: its status and `{"error": …}`.
struct Failure(StatusCode, String, Option<serde_json::Value>);

impl Failure {
    fn new(status: StatusCode, message: impl Into<String>) -> Failure {
        Failure(status, message.into(), None)
    }
}

impl From<WebError> for Failure {
    fn from(error: WebError) -> Failure {
        tracing::error!(%error, "api: request not served");
        Failure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the request could not be served; the daemon's log says why",
        )
    }
}

impl From<crate::adapters::store::StoreError> for Failure {
    fn from(error: crate::adapters::store::StoreError) -> Failure {
        Failure::from(WebError::from(error))
    }
}

fn answer(result: Result<(StatusCode, serde_json::Value), Failure>) -> Response {
    match result {
        Ok((status, body)) => (status, Json(body)).into_response(),
        Err(Failure(status, message, problems)) => {
            let mut body = json!({ "error": message });
            if let Some(problems) = problems {
                body["problems"] = problems;
            }
            let mut response = (status, Json(body)).into_response();
            if status == StatusCode::UNAUTHORIZED {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer"),
                );
            }
            response
        }
    }
}

/// Runs `work` for the client a bearer token names, on a blocking thread.
async fn with_client(
    app: Arc<App>,
    headers: HeaderMap,
    work: impl FnOnce(&App, &ApiClient) -> Result<(StatusCode, serde_json::Value), Failure>
        + Send
        + 'static,
) -> Response {
    run_blocking(app, move |app| {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| auth::well_formed(t));
        let client = match token {
            Some(token) => {
                let store = Store::open_read_only(&app.database)?;
                let client = store.read().api_client_by_token(&auth::token_hash(token))?;
                client
            }
            None => None,
        };
        Ok(answer(match client {
            Some(client) => work(app, &client),
            None => Err(Failure::new(
                StatusCode::UNAUTHORIZED,
                "an API token is needed: Authorization: Bearer TOKEN",
            )),
        }))
    })
    .await
}

#[derive(Serialize)]
struct TicketSummary {
    number: u64,
    subject: String,
    status: String,
    priority: String,
    level: u8,
    queue: String,
    assignee: Option<String>,
    requester: String,
    requester_name: Option<String>,
    created_at: String,
    updated_at: String,
}

fn summary(row: &TicketRow) -> TicketSummary {
    TicketSummary {
        number: row.number,
        subject: row.subject.clone(),
        status: row.status.clone(),
        priority: row.priority.clone(),
        level: row.level,
        queue: row.queue.clone(),
        assignee: row.assignee.clone(),
        requester: row.requester.clone(),
        requester_name: row.requester_name.clone(),
        created_at: rfc3339(row.created_at),
        updated_at: rfc3339(row.updated_at),
    }
}

#[derive(Deserialize)]
struct ListQuery {
    status: Option<String>,
    queue: Option<String>,
    q: Option<String>,
    after: Option<u64>,
    limit: Option<usize>,
}

async fn list(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Response {
    with_client(app, headers, move |app, client| {
        if let Some(status) = &query.status {
            status
                .parse::<crate::core::ticket::Status>()
                .map_err(|e| Failure::new(StatusCode::BAD_REQUEST, e.to_string()))?;
        }
        let limit = query.limit.unwrap_or(50).clamp(1, MAX_PAGE);
        let store = Store::open_read_only(&app.database).map_err(WebError::from)?;
        let rows = store.read().ticket_page(&TicketQuery {
            queues: &client.queues,
            status: query.status.as_deref(),
            queue: query.queue.as_deref(),
            search: query.q.as_deref(),
            after: query.after.unwrap_or(0),
            limit,
        })?;
        let next_after = (rows.len() == limit)
            .then(|| rows.last().map(|r| r.number))
            .flatten();
        let tickets: Vec<TicketSummary> = rows.iter().map(summary).collect();
        Ok((
            StatusCode::OK,
            json!({ "tickets": tickets, "next_after": next_after }),
        ))
    })
    .await
}

/// The ticket `number` when the client sees its queue; 404 otherwise, as if it did not exist.
fn visible_ticket(
    store: &Store,
    client: &ApiClient,
    number: &str,
) -> Result<TicketDetail, Failure> {
    let not_found = || Failure::new(StatusCode::NOT_FOUND, format!("no ticket {number}"));
    let number: u64 = number.parse().map_err(|_| not_found())?;
    let detail = store
        .read()
        .ticket(TicketNumber(number))?
        .ok_or_else(not_found)?;
    if client.sees(&detail.ticket.queue) {
        Ok(detail)
    } else {
        Err(not_found())
    }
}

async fn show(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(number): Path<String>,
) -> Response {
    with_client(app, headers, move |app, client| {
        let store = Store::open_read_only(&app.database).map_err(WebError::from)?;
        let detail = visible_ticket(&store, client, &number)?;
        let messages: Vec<serde_json::Value> = detail
            .messages
            .iter()
            .map(|m| {
                json!({
                    "id": m.id,
                    "direction": m.direction,
                    "visibility": m.visibility,
                    "kind": m.kind,
                    "from": m.from,
                    "to": m.to,
                    "subject": m.subject,
                    "text": m.text,
                    "source": m.source,
                    "created_at": rfc3339(m.created_at),
                    "attachments": m.attachments.iter().map(|a| json!({
                        "filename": a.filename,
                        "content_type": a.content_type,
                        "size": a.size,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let events: Vec<serde_json::Value> = detail
            .events
            .iter()
            .map(|e| json!({ "at": rfc3339(e.at), "actor": e.actor, "kind": e.kind, "detail": e.detail }))
            .collect();
        let participants: Vec<serde_json::Value> = detail
            .participants
            .iter()
            .map(|p| json!({ "address": p.address, "name": p.name, "role": p.role }))
            .collect();
        Ok((
            StatusCode::OK,
            json!({
                "ticket": summary(&detail.ticket),
                "merged_into": detail.ticket.merged_into,
                "tags": detail.tags,
                "fields": detail.fields,
                "participants": participants,
                "messages": messages,
                "events": events,
            }),
        ))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Requester {
    address: String,
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTicket {
    requester: Requester,
    subject: String,
    text: String,
    queue: Option<String>,
    #[serde(default)]
    fields: BTreeMap<String, String>,
}

fn writer(client: &ApiClient) -> Result<(), Failure> {
    if client.can_write {
        Ok(())
    } else {
        Err(Failure::new(
            StatusCode::FORBIDDEN,
            format!("client {} may only read", client.name),
        ))
    }
}

/// A JSON body, or a 400 that says what is wrong with it.
fn body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, Failure> {
    serde_json::from_slice(bytes)
        .map_err(|e| Failure::new(StatusCode::BAD_REQUEST, format!("the JSON body: {e}")))
}

async fn create(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> Response {
    with_client(app, headers, move |app, client| {
        writer(client)?;
        let new: NewTicket = body(&bytes)?;
        let intake = &app.config.intake;
        let queue = match &new.queue {
            Some(named) => intake
                .queue_named(named)
                .filter(|q| client.sees(q))
                .ok_or_else(|| {
                    Failure::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        format!("`{named}` is not a queue of client {}", client.name),
                    )
                })?,
            None => client
                .queues
                .first()
                .cloned()
                .unwrap_or_else(|| intake.default_queue.clone()),
        };
        if let Some(unknown) = new.fields.keys().find(|name| {
            !web_form::form_fields(&intake.fields, &queue)
                .iter()
                .any(|spec| &spec.name == *name)
        }) {
            return Err(Failure::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("`{unknown}` is not a field of queue {queue}"),
            ));
        }
        let input = FormInput {
            name: new.requester.name.unwrap_or_default(),
            address: new.requester.address,
            subject: new.subject,
            text: new.text,
            fields: new.fields,
            honeypot: String::new(),
        };
        let checked =
            web_form::check(&intake.fields, &queue, &input, Language::En).map_err(|problems| {
                let list: Vec<serde_json::Value> = problems
                    .iter()
                    .map(|p| json!({ "input": p.input, "message": p.message }))
                    .collect();
                Failure(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "the ticket is not valid".into(),
                    Some(json!(list)),
                )
            })?;
        let mail = Mailed {
            from: checked.requester,
            subject: intake.tags.topic(&checked.subject),
            body: checked.text,
        };
        let source = Source {
            name: format!("api:{}", client.name),
            queue: Some(queue),
            vouched_sender: None,
            given_fields: checked.fields,
        };
        let (message_id, outcome) = file(app, mail, source)?;
        match outcome {
            IngestOutcome::Created { ticket, .. } => Ok((
                StatusCode::CREATED,
                json!({ "number": ticket.0, "message_id": message_id }),
            )),
            other => Err(not_filed(other)),
        }
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewMessage {
    text: String,
    #[serde(default)]
    internal: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Commands {
    commands: Vec<String>,
}

async fn add_message(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(number): Path<String>,
    bytes: axum::body::Bytes,
) -> Response {
    with_client(app, headers, move |app, client| {
        writer(client)?;
        let message: NewMessage = body(&bytes)?;
        if message.text.trim().is_empty() {
            return Err(Failure::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "text is empty",
            ));
        }
        // `#note` alone on the first line makes the rest of the mail the internal note.
        let text = if message.internal {
            format!("#note\n{}", message.text)
        } else {
            message.text
        };
        as_agent(app, client, &number, text)
    })
    .await
}

async fn run_commands(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(number): Path<String>,
    bytes: axum::body::Bytes,
) -> Response {
    with_client(app, headers, move |app, client| {
        writer(client)?;
        let commands: Commands = body(&bytes)?;
        if commands.commands.is_empty() {
            return Err(Failure::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "no command given",
            ));
        }
        if let Some(bad) = commands
            .commands
            .iter()
            .find(|c| !c.trim_start().starts_with('#') || c.contains(['\n', '\r']))
        {
            return Err(Failure::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("`{bad}` is not one command line starting with #"),
            ));
        }
        as_agent(app, client, &number, commands.commands.join("\n"))
    })
    .await
}

/// Files `text` on ticket `number` as a mail from the client's agent, and says what came of it.
fn as_agent(
    app: &App,
    client: &ApiClient,
    number: &str,
    text: String,
) -> Result<(StatusCode, serde_json::Value), Failure> {
    let store = Store::open_read_only(&app.database).map_err(WebError::from)?;
    let detail = visible_ticket(&store, client, number)?;
    drop(store);
    let agent = client
        .agent
        .as_deref()
        .and_then(|name| app.config.intake.directory.agent_by_name(name))
        .ok_or_else(|| {
            Failure::new(
                StatusCode::FORBIDDEN,
                format!("client {} acts for no configured agent", client.name),
            )
        })?;
    let ticket = TicketNumber(detail.ticket.number);
    let mail = Mailed {
        from: Mailbox::new(Some(&agent.display_name), agent.address()),
        subject: format!(
            "Re: {} {}",
            app.config.intake.tags.tag(ticket),
            detail.ticket.subject
        ),
        body: text,
    };
    let source = Source {
        name: format!("api:{}", client.name),
        queue: None,
        vouched_sender: Some(agent.address().to_string()),
        given_fields: BTreeMap::new(),
    };
    let (message_id, outcome) = file(app, mail, source)?;
    let IngestOutcome::Appended { ticket, visibility } = outcome else {
        return Err(not_filed(outcome));
    };
    let store = Store::open_read_only(&app.database).map_err(WebError::from)?;
    let events = store.read().inbound_events(&message_id)?;
    let of = |kind: &str| -> Vec<&String> {
        events
            .iter()
            .filter(|(k, _)| k == kind)
            .map(|(_, detail)| detail)
            .collect()
    };
    Ok((
        StatusCode::OK,
        json!({
            "ticket": ticket.0,
            "visibility": visibility.as_str(),
            "applied": of("command_applied"),
            "refused": of("command_refused"),
        }),
    ))
}

/// A mail the API writes on someone's behalf.
struct Mailed {
    from: Mailbox,
    subject: String,
    body: String,
}

/// Files the mail: its Message-ID and what the pipeline made of it.
fn file(app: &App, mailed: Mailed, source: Source) -> Result<(String, IngestOutcome), Failure> {
    let unavailable = |e: String| Failure::new(StatusCode::SERVICE_UNAVAILABLE, e);
    let message_id = filing::fresh_message_id(app, "api").map_err(unavailable)?;
    let now = system_now();
    let mail = OnBehalf {
        from: mailed.from,
        subject: mailed.subject,
        body: mailed.body,
        attachments: Vec::new(),
        message_id: message_id.clone(),
        written_at: now,
    };
    let outcome = filing::file(app, mail, &source, now).map_err(unavailable)?;
    Ok((message_id, outcome))
}

fn not_filed(outcome: IngestOutcome) -> Failure {
    match outcome {
        IngestOutcome::Quarantined { reason, .. } => Failure::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("quarantined: {reason}"),
        ),
        other => Failure::new(
            StatusCode::CONFLICT,
            format!("not filed as asked: {}", other.metric_label()),
        ),
    }
}
