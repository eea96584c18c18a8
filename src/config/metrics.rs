//! Validating `[metrics]`: where `guichet run` serves `/metrics`.

use std::net::SocketAddr;

use super::*;

/// `[metrics]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetrics {
    pub(super) listen: String,
    #[serde(default)]
    pub(super) allow_remote: bool,
}

/// Where the Prometheus scrape page listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    pub listen: SocketAddr,
}

pub(super) fn validate_metrics(
    raw: &RawMetrics,
    error: &dyn Fn(&str, String) -> ConfigError,
) -> Result<MetricsConfig, ConfigError> {
    let listen: SocketAddr = raw.listen.parse().map_err(|_| {
        error(
            "metrics.listen",
            format!(
                "`{}` is not an address and port like 127.0.0.1:9464 or [::1]:9464",
                raw.listen
            ),
        )
    })?;
    if !listen.ip().is_loopback() && !raw.allow_remote {
        return Err(error(
            "metrics.listen",
            format!(
                "{listen} is not a loopback address: the page has no authentication and names \
                 mailboxes and queues; listen on 127.0.0.1 behind a proxy, or set \
                 metrics.allow_remote = true"
            ),
        ));
    }
    Ok(MetricsConfig { listen })
}
