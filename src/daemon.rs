//! `guichet run`: the long-running service. Owns the clock, the tasks and shutdown.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};

use crate::adapters::smtp::SmtpTransport;
use crate::adapters::store::Store;
use crate::config::Config;
use crate::outbox::Sender;

/// How long in-flight work may take after SIGTERM before the daemon exits anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

pub async fn run(config: Config) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.state_dir)?;
    // Migrate once up front so every task opens a current schema.
    drop(Store::open(&config.database_path())?);
    let (stop, stopping) = watch::channel(false);
    let wake = Arc::new(Notify::new());
    let mut tasks = tokio::task::JoinSet::new();

    match &config.smtp {
        Some(smtp) => {
            let sender = Sender {
                database: config.database_path(),
                transport: SmtpTransport::new(smtp)?,
                config: config.outbox.clone(),
                connections: smtp.connections,
                wake: wake.clone(),
            };
            let stopping = stopping.clone();
            tasks.spawn(async move {
                (
                    "outbox sender",
                    sender.run(stopping).await.map_err(anyhow::Error::from),
                )
            });
            tracing::info!(host = %smtp.host, port = smtp.port, "outbox sender started");
        }
        None => tracing::warn!("no [smtp] in the config: outgoing mail waits in the outbox"),
    }
    tracing::info!(config = %config.file.display(), state_dir = %config.state_dir.display(), "guichet running");

    let signal = wait_for_signal();
    tokio::pin!(signal);
    loop {
        tokio::select! {
            name = &mut signal => {
                tracing::info!(signal = name, "stopping: finishing work in hand");
                break;
            }
            Some(finished) = tasks.join_next() => {
                match finished {
                    Ok((task, Ok(()))) => tracing::info!(task, "task ended"),
                    Ok((task, Err(error))) => {
                        let _ = stop.send(true);
                        return Err(error.context(format!("{task} failed")));
                    }
                    Err(panic) => {
                        let _ = stop.send(true);
                        return Err(anyhow::anyhow!("a task panicked: {panic}"));
                    }
                }
            }
        }
    }
    let _ = stop.send(true);
    let drain = async {
        while let Some(finished) = tasks.join_next().await {
            if let Ok((task, Err(error))) = finished {
                tracing::error!(task, %error, "task failed while stopping");
            }
        }
    };
    if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
        tracing::warn!(
            grace_secs = SHUTDOWN_GRACE.as_secs(),
            "tasks still busy at the deadline: exiting anyway"
        );
    }
    tracing::info!("stopped");
    Ok(())
}

/// SIGTERM (systemd) or SIGINT (a terminal).
async fn wait_for_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut interrupt = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = interrupt.recv() => "SIGINT",
    }
}
