//! The `/metrics` listener: HTTP/1 on its own address, one read transaction per scrape.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::IntakeLatency;
use crate::adapters::store::Store;
use crate::config::MetricsConfig;
use crate::pipeline::system_now;

/// The content type of the OpenMetrics text that `prometheus-client` writes.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

struct Scrape {
    database: PathBuf,
    /// Opened at the first scrape, after the daemon has migrated the store.
    store: Mutex<Option<Store>>,
    mailboxes: Vec<String>,
    latency: IntakeLatency,
}

/// A bound listener, ready to serve: binding before the tasks start makes a taken or forbidden
/// address an error of `guichet run` itself.
pub struct MetricsServer {
    listener: TcpListener,
    scrape: Arc<Scrape>,
}

impl MetricsServer {
    pub async fn bind(
        config: &MetricsConfig,
        database: PathBuf,
        mailboxes: Vec<String>,
        latency: IntakeLatency,
    ) -> anyhow::Result<MetricsServer> {
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| anyhow::anyhow!("metrics.listen {}: {e}", config.listen))?;
        Ok(MetricsServer {
            listener,
            scrape: Arc::new(Scrape {
                database,
                store: Mutex::new(None),
                mailboxes,
                latency,
            }),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `stop` turns true; a scrape in progress then finishes.
    pub async fn serve(self, mut stop: watch::Receiver<bool>) -> anyhow::Result<()> {
        let app = Router::new()
            .route("/metrics", get(metrics))
            .with_state(self.scrape);
        axum::serve(self.listener, app)
            .with_graceful_shutdown(async move {
                while !*stop.borrow() {
                    if stop.changed().await.is_err() {
                        break;
                    }
                }
            })
            .await?;
        Ok(())
    }
}

async fn metrics(State(scrape): State<Arc<Scrape>>) -> Response {
    let page = tokio::task::spawn_blocking(move || render(&scrape)).await;
    match page {
        Ok(Ok(page)) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], page).into_response(),
        Ok(Err(error)) => {
            tracing::warn!(%error, "metrics scrape failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the store cannot be read: {error}\n"),
            )
                .into_response()
        }
        Err(join) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("metrics scrape failed: {join}\n"),
        )
            .into_response(),
    }
}

fn render(scrape: &Scrape) -> Result<String, crate::adapters::store::StoreError> {
    let mut store = scrape.store.lock().unwrap_or_else(|p| p.into_inner());
    if store.is_none() {
        *store = Some(Store::open_read_only(&scrape.database)?);
    }
    let rows = store
        .as_ref()
        .expect("opened above")
        .read()
        .metrics_rows(system_now())?;
    Ok(super::encode(&rows, &scrape.mailboxes, &scrape.latency))
}
