//! The HTTP side of the dashboard: routes under the base path, who is signed in, the sign-in
//! flow, security headers on every answer, optional TLS, and shutdown on the daemon's signal.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Form, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::{IncomingStream, Listener};
use axum::Router;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio_rustls::rustls;

use super::auth::{self, LINKS_PER_WINDOW, LINK_LIFETIME_SECS};
use super::pages::{Pages, PeriodQuery, WorkFilter, STYLESHEET};
use super::WebError;
use crate::adapters::render::{render_all, NoAttachmentFiles};
use crate::adapters::requester_links::RequesterLinks;
use crate::adapters::store::Store;
use crate::config::{Config, WebConfig};
use crate::core::address::Mailbox;
use crate::pipeline::system_now;

/// No script from anywhere, styles and images only from us, never inside a frame.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'self'; img-src 'self' data:; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The dashboard, bound and ready to serve.
pub struct Dashboard {
    app: Arc<App>,
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

pub(super) struct App {
    pub(super) config: Arc<Config>,
    pub(super) web: WebConfig,
    pub(super) pages: Pages,
    pub(super) database: PathBuf,
    pub(super) wake_outbox: Arc<Notify>,
    /// Set when requesters have pages (`requester_pages`): the key their links are signed with.
    pub(super) links: Option<RequesterLinks>,
    /// The state directory's web key: the public form's tokens are derived with it.
    pub(super) web_key: [u8; crate::core::requester_link::KEY_BYTES],
}

/// The peer's address, from a plain or a TLS connection.
#[derive(Debug, Clone, Copy)]
pub(super) struct Peer(pub(super) SocketAddr);

impl Connected<IncomingStream<'_, TcpListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TcpListener>) -> Peer {
        Peer(*stream.remote_addr())
    }
}

impl Connected<IncomingStream<'_, TlsListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Peer {
        Peer(*stream.remote_addr())
    }
}

impl Dashboard {
    /// Binds the listening socket and reads the TLS files, so that `guichet run` fails at once
    /// when either is wrong.
    pub async fn bind(config: Arc<Config>, wake_outbox: Arc<Notify>) -> anyhow::Result<Dashboard> {
        let web = config
            .web
            .clone()
            .ok_or_else(|| anyhow::anyhow!("no [web] in the config"))?;
        let tls = match &web.tls {
            Some((cert, key)) => Some(tls_acceptor(cert, key)?),
            None => None,
        };
        let listener = TcpListener::bind(web.listen)
            .await
            .map_err(|e| anyhow::anyhow!("dashboard: cannot listen on {}: {e}", web.listen))?;
        let links = RequesterLinks::for_config(&config)
            .map_err(|e| anyhow::anyhow!("requester pages: {e}"))?;
        let web_key = crate::adapters::requester_links::key(&config.state_dir)
            .map_err(|e| anyhow::anyhow!("web key: {e}"))?;
        let app = Arc::new(App {
            web_key,
            links,
            pages: Pages::new(&web.base_path, web.time_zone.clone()),
            database: config.database_path(),
            config,
            web,
            wake_outbox,
        });
        Ok(Dashboard { app, listener, tls })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `stop` turns true, then lets requests in hand finish.
    pub async fn run(self, mut stop: watch::Receiver<bool>) -> anyhow::Result<()> {
        let router = router(self.app.clone());
        let shutdown = async move {
            while !*stop.borrow() {
                if stop.changed().await.is_err() {
                    break;
                }
            }
        };
        match self.tls {
            None => {
                axum::serve(
                    self.listener,
                    router.into_make_service_with_connect_info::<Peer>(),
                )
                .with_graceful_shutdown(shutdown)
                .await?
            }
            Some(acceptor) => {
                let listener = TlsListener {
                    tcp: self.listener,
                    acceptor,
                    handshakes: tokio::task::JoinSet::new(),
                };
                axum::serve(
                    listener,
                    router.into_make_service_with_connect_info::<Peer>(),
                )
                .with_graceful_shutdown(shutdown)
                .await?
            }
        }
        Ok(())
    }
}

fn tls_acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow::anyhow!("web.tls_cert {}: {e}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| anyhow::anyhow!("web.tls_key {}: {e}", key.display()))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .map_err(|e| anyhow::anyhow!("web.tls_cert/tls_key: {e}"))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Accepts TCP connections and hands over those whose TLS handshake finished in time; slow
/// handshakes run side by side, so one cannot hold up the others.
struct TlsListener {
    tcp: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    handshakes:
        tokio::task::JoinSet<Option<(tokio_rustls::server::TlsStream<TcpStream>, SocketAddr)>>,
}

impl Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, SocketAddr) {
        loop {
            tokio::select! {
                accepted = self.tcp.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let acceptor = self.acceptor.clone();
                        self.handshakes.spawn(async move {
                            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                                Ok(Ok(tls)) => Some((tls, peer)),
                                Ok(Err(error)) => {
                                    tracing::debug!(%peer, %error, "dashboard: TLS handshake failed");
                                    None
                                }
                                Err(_) => None,
                            }
                        });
                    }
                    Err(error) => {
                        tracing::warn!(%error, "dashboard: accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                Some(done) = self.handshakes.join_next() => {
                    if let Ok(Some(connection)) = done {
                        return connection;
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

fn router(app: Arc<App>) -> Router {
    let base = app.web.base_path.clone();
    let requester_pages = app.links.is_some();
    let mut routes = Router::new()
        .route("/", get(home))
        .route("/static/style.css", get(stylesheet))
        .route("/sign-in", get(sign_in_form).post(sign_in_request))
        .route("/sign-in/confirm/{token}", get(sign_in_confirm_form))
        .route("/sign-in/confirm", post(sign_in_confirm))
        .route("/sign-out", post(sign_out))
        .route("/work", get(work))
        .route("/tickets/{number}", get(ticket))
        .route("/reports", get(reports));
    if requester_pages {
        routes = routes.merge(super::requester::routes(app.config.max_message_bytes));
    }
    if !app.web.form_queues.is_empty() {
        routes = routes.merge(super::form::routes(app.config.max_message_bytes));
    }
    if app.web.api {
        routes = routes.merge(super::api::routes());
    }
    let routes = routes.fallback(not_found).with_state(app);
    let routes = if base.is_empty() {
        routes
    } else {
        Router::new().nest(&base, routes)
    };
    routes.layer(axum::middleware::map_response(security_headers))
}

/// On every answer: the CSP, no framing, no sniffing, no referrer (links carry tokens), and no
/// caching of anything but the stylesheet (pages carry ticket data).
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = |headers: &mut HeaderMap, name, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        CONTENT_SECURITY_POLICY,
    );
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    let is_css = headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"text/css"));
    if !is_css {
        set(headers, header::CACHE_CONTROL, "no-store");
    }
    response
}

fn redirect(to: String) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response()
}

pub(super) fn failure(error: WebError) -> Response {
    tracing::error!(%error, "dashboard: page not served");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Html("<!doctype html><title>Error</title><p>The page could not be shown; the daemon's log says why.</p>"),
    )
        .into_response()
}

impl App {
    /// The signed-in agent's display name: the trusted proxy's header, else a live session whose
    /// agent is still configured.
    fn viewer(
        &self,
        store: &Store,
        peer: Peer,
        headers: &HeaderMap,
    ) -> Result<Option<String>, WebError> {
        let directory = &self.config.intake.directory;
        if let Some(name) = &self.web.trusted_header {
            let value = headers.get(name.as_str()).and_then(|v| v.to_str().ok());
            if let Some(agent) = auth::agent_from_header(&self.web, directory, peer.0.ip(), value) {
                return Ok(Some(agent.display_name.clone()));
            }
        }
        let Some(token) = headers
            .get(header::COOKIE)
            .and_then(|v| v.to_str().ok())
            .and_then(auth::session_token)
        else {
            return Ok(None);
        };
        let agent = store
            .read()
            .session_agent(&auth::token_hash(token), system_now())?;
        Ok(agent
            .and_then(|name| directory.agents.iter().find(|a| a.name == name))
            .filter(|agent| !directory.is_external(agent.address()))
            .map(|agent| agent.display_name.clone()))
    }

    /// Runs `page` on a blocking thread for a signed-in agent; anyone else goes to sign-in.
    async fn signed_in(
        self: Arc<Self>,
        peer: Peer,
        headers: HeaderMap,
        page: impl FnOnce(&App, &Store, &str) -> Result<Response, WebError> + Send + 'static,
    ) -> Response {
        let app = self.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            let store = Store::open_read_only(&app.database)?;
            match app.viewer(&store, peer, &headers)? {
                Some(viewer) => page(&app, &store, &viewer).map(Some),
                None => Ok(None),
            }
        })
        .await;
        match outcome {
            Ok(Ok(Some(response))) => response,
            Ok(Ok(None)) => redirect(format!("{}/sign-in", self.web.base_path)),
            Ok(Err(error)) => failure(error),
            Err(panic) => {
                tracing::error!(%panic, "dashboard: a page panicked");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }

    /// Runs `work` on a blocking thread with a writable store.
    async fn writing(
        self: Arc<Self>,
        work: impl FnOnce(&App, &mut Store) -> Result<Response, WebError> + Send + 'static,
    ) -> Response {
        let app = self.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            let mut store = Store::open(&app.database)?;
            work(&app, &mut store)
        })
        .await;
        match outcome {
            Ok(Ok(response)) => response,
            Ok(Err(error)) => failure(error),
            Err(panic) => {
                tracing::error!(%panic, "dashboard: a request panicked");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }
}

async fn home(State(app): State<Arc<App>>) -> Response {
    redirect(format!("{}/work", app.web.base_path))
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

async fn not_found(State(app): State<Arc<App>>) -> Response {
    match app.pages.not_found(None) {
        Ok(page) => (StatusCode::NOT_FOUND, Html(page)).into_response(),
        Err(error) => failure(error),
    }
}

async fn sign_in_form(State(app): State<Arc<App>>) -> Response {
    match app.pages.sign_in(None) {
        Ok(page) => Html(page).into_response(),
        Err(error) => failure(error),
    }
}

#[derive(serde::Deserialize)]
struct SignInForm {
    address: String,
}

/// Mails a link when the address is an agent's and its rate allows; the answer is the same
/// whatever happened, so the page tells nobody which addresses are agents'.
async fn sign_in_request(State(app): State<Arc<App>>, Form(form): Form<SignInForm>) -> Response {
    app.writing(move |app, store| {
        let now = system_now();
        let directory = &app.config.intake.directory;
        if let Some((agent, address)) = auth::agent_for_address(directory, &form.address) {
            let recent = store
                .read()
                .sign_in_links_since(&address, now - LINK_LIFETIME_SECS)?;
            if recent >= LINKS_PER_WINDOW {
                tracing::warn!(agent = %agent.name, recent, "dashboard: sign-in link refused, too many lately");
            } else {
                let token = auth::new_token()?;
                let link = format!("{}/sign-in/confirm/{token}", app.web.public_url);
                let seed = format!("{now}.{}", &auth::new_token()?[..12]);
                let mail = auth::sign_in_mail(
                    &app.config.intake.support,
                    Mailbox::new(Some(&agent.display_name), &address),
                    &link,
                    &seed,
                );
                let outgoing = [mail];
                let (rendered, _) = render_all(&outgoing, &NoAttachmentFiles, now);
                if let Some(rendered) = rendered.first() {
                    let tx = store.write()?;
                    tx.record_sign_in_link(
                        &auth::token_hash(&token),
                        &agent.name,
                        &address,
                        (now, now + LINK_LIFETIME_SECS),
                        rendered,
                    )?;
                    tx.commit()?;
                    app.wake_outbox.notify_one();
                    tracing::info!(agent = %agent.name, "dashboard: sign-in link queued");
                }
            }
        }
        app.pages
            .notice(
                "Check your mail",
                "If this address belongs to a helpdesk agent, a sign-in link is on its way. \
                 It works once, within 15 minutes.",
                None,
            )
            .map(|page| Html(page).into_response())
    })
    .await
}

/// A mailed link only shows a button: a mail scanner that follows links does not use it up.
async fn sign_in_confirm_form(State(app): State<Arc<App>>, Path(token): Path<String>) -> Response {
    let page = if auth::well_formed(&token) {
        app.pages.confirm(&token)
    } else {
        app.pages
            .notice("This link does not work", "Ask for a new one.", None)
    };
    match page {
        Ok(page) => Html(page).into_response(),
        Err(error) => failure(error),
    }
}

#[derive(serde::Deserialize)]
struct ConfirmForm {
    token: String,
}

async fn sign_in_confirm(State(app): State<Arc<App>>, Form(form): Form<ConfirmForm>) -> Response {
    app.writing(move |app, store| {
        let now = system_now();
        let tx = store.write()?;
        let agent = if auth::well_formed(&form.token) {
            tx.use_sign_in_link(&auth::token_hash(&form.token), now)?
        } else {
            None
        };
        let Some(agent) = agent else {
            tx.commit()?;
            return app
                .pages
                .notice(
                    "This link does not work any more",
                    "A sign-in link works once, within 15 minutes. Ask for a new one.",
                    None,
                )
                .map(|page| (StatusCode::FORBIDDEN, Html(page)).into_response());
        };
        let session = auth::new_token()?;
        let expires = now + i64::from(app.web.session_hours) * 3600;
        tx.open_session(&auth::token_hash(&session), &agent, now, expires)?;
        tx.commit()?;
        tracing::info!(%agent, "dashboard: signed in");
        Ok((
            StatusCode::SEE_OTHER,
            [
                (header::SET_COOKIE, auth::session_cookie(&app.web, &session)),
                (header::LOCATION, format!("{}/work", app.web.base_path)),
            ],
        )
            .into_response())
    })
    .await
}

async fn sign_out(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(auth::session_token)
        .map(str::to_string);
    app.writing(move |app, store| {
        if let Some(token) = token {
            let tx = store.write()?;
            tx.close_session(&auth::token_hash(&token))?;
            tx.commit()?;
        }
        Ok((
            StatusCode::SEE_OTHER,
            [
                (header::SET_COOKIE, auth::cleared_cookie(&app.web)),
                (header::LOCATION, format!("{}/sign-in", app.web.base_path)),
            ],
        )
            .into_response())
    })
    .await
}

async fn work(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    headers: HeaderMap,
    Query(filter): Query<WorkFilter>,
) -> Response {
    app.signed_in(peer, headers, move |app, store, viewer| {
        let page = app
            .pages
            .work_list(store, &app.config, &filter, system_now(), viewer)?;
        Ok(Html(page).into_response())
    })
    .await
}

async fn ticket(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    headers: HeaderMap,
    Path(number): Path<String>,
) -> Response {
    app.signed_in(peer, headers, move |app, store, viewer| {
        let page = match number.parse::<u64>() {
            Ok(number) => app.pages.ticket(store, number, viewer)?,
            Err(_) => None,
        };
        Ok(match page {
            Some(page) => Html(page).into_response(),
            None => (
                StatusCode::NOT_FOUND,
                Html(app.pages.not_found(Some(viewer))?),
            )
                .into_response(),
        })
    })
    .await
}

async fn reports(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    headers: HeaderMap,
    Query(query): Query<PeriodQuery>,
) -> Response {
    app.signed_in(peer, headers, move |app, store, viewer| {
        let page = app
            .pages
            .reports(store, &app.config, &query, system_now(), viewer)?;
        Ok(Html(page).into_response())
    })
    .await
}
