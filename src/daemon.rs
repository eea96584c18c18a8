//! `guichet run`: the long-running service. Owns the clock, the tasks and shutdown.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tracing::Instrument;

use crate::adapters::imap::ImapConnector;
use crate::adapters::smtp::SmtpTransport;
use crate::adapters::store::Store;
use crate::config::Config;
use crate::outbox::Sender;
use crate::pipeline::{system_now, Pipeline};
use crate::poller::MailboxTask;

/// How long in-flight work may take after SIGTERM before the daemon exits anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
const HEARTBEAT: Duration = Duration::from_secs(5);

type TaskResult = (String, anyhow::Result<()>);

pub async fn run(config: Arc<Config>) -> anyhow::Result<()> {
    crate::adapters::state_dir::prepare(&config.state_dir)?;
    // Migrate once up front so every task opens a current schema.
    let database = config.database_path();
    drop(Store::open(&database).map_err(|e| anyhow::anyhow!("{}: {e}", database.display()))?);
    let (stop, stopping) = watch::channel(false);
    let wake = Arc::new(Notify::new());
    let mut tasks: tokio::task::JoinSet<TaskResult> = tokio::task::JoinSet::new();
    let latency = crate::metrics::IntakeLatency::default();
    if let Some(metrics) = &config.metrics {
        let server = crate::metrics::server::MetricsServer::bind(
            metrics,
            config.database_path(),
            config.mailboxes.iter().map(|m| m.name.clone()).collect(),
            latency.clone(),
        )
        .await?;
        tracing::info!(listen = %server.local_addr()?, "metrics served at /metrics");
        let stopping = stopping.clone();
        tasks.spawn(async move { ("metrics".to_string(), server.serve(stopping).await) });
    }

    match &config.smtp {
        Some(smtp) => {
            let sender = Sender {
                database: config.database_path(),
                transport: SmtpTransport::new(smtp)?,
                config: config.outbox.clone(),
                connections: smtp.connections,
                wake: wake.clone(),
                policy: config.intake.clone(),
            };
            let stopping = stopping.clone();
            tasks.spawn(async move {
                let result = sender.run(stopping).await.map_err(anyhow::Error::from);
                ("outbox sender".to_string(), result)
            });
            tracing::info!(host = %smtp.host, port = smtp.port, "outbox sender started");
        }
        None => tracing::warn!("no [smtp] in the config: outgoing mail waits in the outbox"),
    }
    for mailbox in &config.mailboxes {
        let task = MailboxTask {
            connector: ImapConnector::new(mailbox.imap.clone())
                .map_err(|e| anyhow::anyhow!("mailbox {}: {e}", mailbox.name))?,
            pipeline: Arc::new(std::sync::Mutex::new(
                Pipeline::open(config.clone()).map_err(|e| anyhow::anyhow!("{e}"))?,
            )),
            config: mailbox.clone(),
            wake_outbox: wake.clone(),
            latency: latency.clone(),
        };
        let name = format!("mailbox {}", mailbox.name);
        let stopping = stopping.clone();
        // Every line the task logs, the pipeline's on its blocking threads included, names it.
        let span = tracing::info_span!("mailbox", name = %mailbox.name);
        tasks.spawn(
            async move {
                task.run(stopping).await;
                (name, Ok(()))
            }
            .instrument(span),
        );
    }
    if !config.intake.sla.plans.is_empty() {
        let scheduler = crate::scheduler::Scheduler {
            database: config.database_path(),
            attachments: crate::adapters::blobs::BlobStore::new(crate::pipeline::attachments_dir(
                &config,
            )),
            policy: config.intake.clone(),
            wake_outbox: wake.clone(),
        };
        let stopping = stopping.clone();
        tasks.spawn(async move {
            let result = scheduler.run(stopping).await.map_err(anyhow::Error::from);
            ("SLA scheduler".to_string(), result)
        });
        tracing::info!(
            plans = config.intake.sla.plans.len(),
            "SLA scheduler started"
        );
    }
    if !config.reports.is_empty() {
        let digests = crate::scheduler::Digests {
            database: config.database_path(),
            config: config.clone(),
            interval: std::time::Duration::from_secs(60),
            wake_outbox: wake.clone(),
        };
        let stopping = stopping.clone();
        tasks.spawn(async move {
            let result = digests.run(stopping).await.map_err(anyhow::Error::from);
            ("digest scheduler".to_string(), result)
        });
        tracing::info!(reports = config.reports.len(), "digest scheduler started");
    }
    let heartbeat = {
        let database = config.database_path();
        let stopping = stopping.clone();
        tasks.spawn(async move { ("heartbeat".to_string(), heartbeat(database, stopping).await) })
    };
    drop(heartbeat);
    tracing::info!(
        config = %config.file.display(),
        state_dir = %config.state_dir.display(),
        mailboxes = config.mailboxes.len(),
        "guichet running"
    );

    let signal = wait_for_signal();
    tokio::pin!(signal);
    loop {
        tokio::select! {
            name = &mut signal => {
                tracing::info!(signal = name, "stopping: finishing the mail in hand");
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
            match finished {
                Ok((task, Err(error))) => {
                    tracing::error!(task, %error, "task failed while stopping")
                }
                Ok((task, Ok(()))) => tracing::debug!(task, "task stopped"),
                Err(panic) => tracing::error!(%panic, "task panicked while stopping"),
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

/// Records that the daemon is alive, for `guichet status`, and that it stopped cleanly.
async fn heartbeat(
    database: std::path::PathBuf,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut store = Store::open(&database)?;
    let (pid, started) = (std::process::id(), system_now());
    loop {
        let stopped = *stop.borrow();
        let beat = store.write().and_then(|tx| {
            tx.daemon_heartbeat(pid, started, system_now(), stopped)?;
            tx.commit()
        });
        if let Err(error) = beat {
            tracing::debug!(%error, "heartbeat not recorded");
        }
        if stopped {
            return Ok(());
        }
        tokio::select! {
            _ = tokio::time::sleep(HEARTBEAT) => {}
            _ = stop.changed() => {}
        }
    }
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
