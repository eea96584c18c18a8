//! `[[webhook]]`: where Guichet POSTs ticket events (signed with the webhook's secret), and
//! `[web] api`: the JSON API's switch (its clients are made with `guichet api-client`).

use super::*;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWebhook {
    pub(super) name: String,
    pub(super) url: String,
    pub(super) secret: Option<String>,
    pub(super) secret_file: Option<PathBuf>,
    pub(super) secret_credential: Option<String>,
    pub(super) events: Option<Vec<String>>,
}

/// One receiver of ticket events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub name: String,
    /// `https://…`, or `http://` to a loopback address.
    pub url: String,
    /// The HMAC-SHA256 key of the `X-Guichet-Signature` header.
    pub secret: Secret,
    /// The events it receives (`crate::core::webhooks::EVENTS`).
    pub events: Vec<String>,
}

pub(super) fn validate_webhooks(
    raw: Vec<RawWebhook>,
    env: &dyn Fn(&str) -> Option<String>,
    error: &dyn Fn(&str, String) -> ConfigError,
) -> Result<Vec<Webhook>, ConfigError> {
    let mut webhooks: Vec<Webhook> = Vec::with_capacity(raw.len());
    for (index, hook) in raw.into_iter().enumerate() {
        let table = format!("webhook[{index}]");
        let name = hook.name.trim().to_string();
        let fine_name = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !fine_name {
            return Err(error(
                &format!("{table}.name"),
                format!("`{name}` is not a name like monitoring (letters, digits, - _ .)"),
            ));
        }
        if webhooks.iter().any(|known| known.name == name) {
            return Err(error(
                &format!("{table}.name"),
                format!("`{name}` is used by another [[webhook]]"),
            ));
        }
        let url = hook.url.trim().to_string();
        let loopback_http = url.strip_prefix("http://").is_some_and(|rest| {
            let host = rest.split(['/', '?']).next().unwrap_or("");
            let host = host.rsplit_once(':').map_or(host, |(host, _)| host);
            host == "localhost"
                || host
                    .trim_matches(['[', ']'])
                    .parse::<IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        });
        let https = url
            .strip_prefix("https://")
            .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'));
        if !(https || loopback_http) || url.contains(char::is_whitespace) {
            return Err(error(
                &format!("{table}.url"),
                format!("`{url}` is not an https:// URL (plain http only to a loopback address)"),
            ));
        }
        let secret = read_secret(
            &table,
            "secret",
            hook.secret,
            hook.secret_file,
            hook.secret_credential,
            env,
            error,
        )?
        .ok_or_else(|| {
            error(
                &format!("{table}.secret"),
                "one of secret, secret_file or secret_credential is required: receivers check \
                 the signature with it"
                    .into(),
            )
        })?;
        if secret.expose().len() < 16 {
            return Err(error(
                &format!("{table}.secret"),
                "is shorter than 16 characters".into(),
            ));
        }
        let events = match hook.events {
            None => crate::core::webhooks::EVENTS
                .iter()
                .map(|e| e.to_string())
                .collect(),
            Some(events) => {
                for (i, event) in events.iter().enumerate() {
                    if !crate::core::webhooks::EVENTS.contains(&event.as_str()) {
                        return Err(error(
                            &format!("{table}.events[{i}]"),
                            format!(
                                "`{event}` is not one of {}",
                                crate::core::webhooks::EVENTS.join(", ")
                            ),
                        ));
                    }
                }
                events
            }
        };
        webhooks.push(Webhook {
            name,
            url,
            secret,
            events,
        });
    }
    Ok(webhooks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(extra: &str) -> Result<Config, ConfigError> {
        let text = format!(
            "[general]\nstate_dir = \"/tmp/g\"\nsupport_address = \"help@example.test\"\n{extra}"
        );
        Config::parse(Path::new("/etc/guichet.toml"), &text, &|_| None)
    }

    #[test]
    fn a_webhook_gets_every_event_unless_told() {
        let config = parse(
            "[[webhook]]\nname = \"monitor\"\nurl = \"https://hooks.example.org/guichet\"\nsecret = \"0123456789abcdef\"\n",
        )
        .unwrap();
        let hook = &config.webhooks[0];
        assert_eq!(hook.events.len(), crate::core::webhooks::EVENTS.len());
        assert_eq!(hook.secret.expose(), "0123456789abcdef");
        let config = parse(
            "[[webhook]]\nname = \"m\"\nurl = \"http://127.0.0.1:9000/h\"\nsecret = \"0123456789abcdef\"\nevents = [\"ticket.resolved\"]\n",
        )
        .unwrap();
        assert_eq!(config.webhooks[0].events, ["ticket.resolved"]);
    }

    #[test]
    fn errors_name_the_key() {
        for (extra, key) in [
            ("url = \"http://hooks.example.org/x\"\nsecret = \"0123456789abcdef\"\n", "webhook[0].url"),
            ("url = \"https://h.example.org/x\"\n", "webhook[0].secret"),
            ("url = \"https://h.example.org/x\"\nsecret = \"short\"\n", "webhook[0].secret"),
            (
                "url = \"https://h.example.org/x\"\nsecret = \"0123456789abcdef\"\nevents = [\"ticket.eaten\"]\n",
                "webhook[0].events[0]",
            ),
        ] {
            let error = parse(&format!("[[webhook]]\nname = \"m\"\n{extra}")).unwrap_err();
            assert!(
                error.to_string().starts_with(&format!("/etc/guichet.toml: {key}: ")),
                "{error}"
            );
        }
    }
}
