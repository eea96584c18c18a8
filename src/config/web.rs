//! Validating `[web]`: where the dashboard listens, under which path, with TLS or behind a proxy,
//! and who may sign in through a trusted header.

use std::net::SocketAddr;

use super::*;

/// `[web]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWeb {
    pub(super) listen: Option<String>,
    pub(super) base_path: Option<String>,
    pub(super) public_url: Option<String>,
    pub(super) tls_cert: Option<PathBuf>,
    pub(super) tls_key: Option<PathBuf>,
    pub(super) session_hours: Option<u32>,
    pub(super) behind_proxy: Option<bool>,
    pub(super) trusted_header: Option<String>,
    #[serde(default)]
    pub(super) trusted_proxies: Vec<String>,
    pub(super) time_zone: Option<String>,
    pub(super) requester_pages: Option<bool>,
    pub(super) requester_link_days: Option<u32>,
    #[serde(default)]
    pub(super) form_queues: Vec<String>,
    pub(super) api: Option<bool>,
}

/// The dashboard `guichet run` serves (`crate::web`).
#[derive(Debug, Clone)]
pub struct WebConfig {
    pub listen: SocketAddr,
    /// `""` or a path like `/helpdesk` (no trailing slash): every link, redirect and the
    /// cookie's Path start with it.
    pub base_path: String,
    /// What mailed links start with, base path included, no trailing slash.
    pub public_url: String,
    /// Certificate chain and private key (PEM files).
    pub tls: Option<(PathBuf, PathBuf)>,
    pub session_hours: u32,
    /// A header naming the signed-in agent, believed only from `trusted_proxies`.
    pub trusted_header: Option<String>,
    pub trusted_proxies: Vec<IpAddr>,
    /// Hours and weekdays on the reports page are read in this zone.
    pub time_zone: crate::core::zone::Zone,
    /// Mails to requesters carry a signed link to their ticket's page, valid this many days;
    /// `None`: no requester pages.
    pub requester_link_days: Option<u32>,
    /// Queues with a public request form: `/new` is the first's, `/new/NAME` each one's.
    /// Empty: no form.
    pub form_queues: Vec<String>,
    /// Serve the JSON API under `/api/v1` (clients: `guichet api-client`).
    pub api: bool,
}

pub(super) fn validate_web(
    raw: RawWeb,
    intake: &crate::core::plan::IntakePolicy,
    error: &dyn Fn(&str, String) -> ConfigError,
) -> Result<WebConfig, ConfigError> {
    let listen_text = raw.listen.unwrap_or_else(|| "127.0.0.1:8080".into());
    let listen: SocketAddr = listen_text.parse().map_err(|_| {
        error(
            "web.listen",
            format!("`{listen_text}` is not an address and port like 127.0.0.1:8080"),
        )
    })?;
    let base_path = match raw.base_path.as_deref().map(str::trim) {
        None | Some("") | Some("/") => String::new(),
        Some(path) => {
            let path = path.trim_end_matches('/');
            let fine = path.starts_with('/')
                && path[1..].split('/').all(|segment| {
                    !segment.is_empty()
                        && segment
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "-_.~".contains(c))
                });
            if !fine {
                return Err(error(
                    "web.base_path",
                    format!("`{path}` is not a path like /helpdesk (letters, digits, - _ . ~)"),
                ));
            }
            path.to_string()
        }
    };
    let tls = match (raw.tls_cert, raw.tls_key) {
        (Some(cert), Some(key)) => {
            for (key_name, path) in [("web.tls_cert", &cert), ("web.tls_key", &key)] {
                std::fs::metadata(path)
                    .map_err(|e| error(key_name, format!("cannot read {}: {e}", path.display())))?;
            }
            Some((cert, key))
        }
        (None, None) => None,
        (Some(_), None) => return Err(error("web.tls_key", "tls_cert needs tls_key".into())),
        (None, Some(_)) => return Err(error("web.tls_cert", "tls_key needs tls_cert".into())),
    };
    let trusted_header = match raw.trusted_header.as_deref().map(str::trim) {
        None => None,
        Some(name)
            if !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
        {
            Some(name.to_ascii_lowercase())
        }
        Some(name) => {
            return Err(error(
                "web.trusted_header",
                format!("`{name}` is not a header name like X-Remote-User"),
            ))
        }
    };
    let trusted_proxies = raw
        .trusted_proxies
        .iter()
        .enumerate()
        .map(|(index, text)| {
            text.parse::<IpAddr>().map_err(|_| {
                error(
                    &format!("web.trusted_proxies[{index}]"),
                    format!("`{text}` is not an IP address"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if trusted_header.is_some() && trusted_proxies.is_empty() {
        return Err(error(
            "web.trusted_proxies",
            "a trusted_header is believed only from the proxies listed here: name at least one"
                .into(),
        ));
    }
    let behind_proxy = raw.behind_proxy.unwrap_or(false) || trusted_header.is_some();
    if !listen.ip().is_loopback() && tls.is_none() && !behind_proxy {
        return Err(error(
            "web.listen",
            format!(
                "{listen} is reachable from other machines, and without TLS sign-in links and \
                 session cookies would cross the network in clear: set tls_cert and tls_key, \
                 or behind_proxy = true when a TLS reverse proxy is the only way in"
            ),
        ));
    }
    let session_hours = raw.session_hours.unwrap_or(12);
    if !(1..=24 * 90).contains(&session_hours) {
        return Err(error(
            "web.session_hours",
            format!("{session_hours} is not between 1 and 2160 (90 days)"),
        ));
    }
    let public_url = match raw.public_url {
        Some(url) => {
            let url = url.trim().trim_end_matches('/').to_string();
            let rest = url
                .strip_prefix("https://")
                .or_else(|| url.strip_prefix("http://"));
            if rest.is_none_or(|rest| rest.is_empty() || rest.contains(['"', '<', '>', ' '])) {
                return Err(error(
                    "web.public_url",
                    format!("`{url}` is not a URL like https://desk.example.org/helpdesk"),
                ));
            }
            url
        }
        None => {
            let scheme = if tls.is_some() { "https" } else { "http" };
            format!("{scheme}://{listen}{base_path}")
        }
    };
    let time_zone = match raw.time_zone {
        Some(zone) => crate::core::zone::Zone::named(&zone).ok_or_else(|| {
            error(
                "web.time_zone",
                format!("`{zone}` is not a time zone like Europe/Paris"),
            )
        })?,
        None => crate::core::zone::Zone::utc(),
    };
    let requester_link_days = match (raw.requester_pages, raw.requester_link_days) {
        (Some(true), days) => {
            let days = days.unwrap_or(30);
            if !(1..=365).contains(&days) {
                return Err(error(
                    "web.requester_link_days",
                    format!("{days} is not between 1 and 365"),
                ));
            }
            Some(days)
        }
        (_, Some(_)) => {
            return Err(error(
                "web.requester_link_days",
                "set only with requester_pages = true".into(),
            ))
        }
        (_, None) => None,
    };
    let mut form_queues: Vec<String> = Vec::new();
    for (index, name) in raw.form_queues.iter().enumerate() {
        match intake.queue_named(name) {
            Some(queue) if !form_queues.contains(&queue) => form_queues.push(queue),
            Some(_) => {}
            None => {
                return Err(error(
                    &format!("web.form_queues[{index}]"),
                    format!("`{name}` is neither a [[queue]] nor general.default_queue"),
                ))
            }
        }
    }
    Ok(WebConfig {
        api: raw.api.unwrap_or(false),
        form_queues,
        listen,
        base_path,
        public_url,
        tls,
        session_hours,
        trusted_header,
        trusted_proxies,
        time_zone,
        requester_link_days,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(web: &str) -> Result<WebConfig, ConfigError> {
        let text = format!(
            "[general]\nstate_dir = \"/tmp/g\"\nsupport_address = \"help@example.test\"\n[web]\n{web}"
        );
        Config::parse(Path::new("/etc/guichet.toml"), &text, &|_| None)
            .map(|config| config.web.unwrap())
    }

    #[test]
    fn defaults_listen_on_loopback_without_a_base_path() {
        let web = parse("").unwrap();
        assert_eq!(web.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(web.base_path, "");
        assert_eq!(web.public_url, "http://127.0.0.1:8080");
        assert_eq!(web.session_hours, 12);
        assert!(web.tls.is_none());
        assert_eq!(web.requester_link_days, None);
    }

    #[test]
    fn requester_pages_have_links_valid_thirty_days_unless_told() {
        assert_eq!(
            parse("requester_pages = true\n")
                .unwrap()
                .requester_link_days,
            Some(30)
        );
        let web = parse("requester_pages = true\nrequester_link_days = 90\n").unwrap();
        assert_eq!(web.requester_link_days, Some(90));
        let error = parse("requester_pages = true\nrequester_link_days = 0\n").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("web.requester_link_days: 0 is not between"),
            "{error}"
        );
        let error = parse("requester_link_days = 10\n").unwrap_err();
        assert!(
            error.to_string().contains("requester_pages = true"),
            "{error}"
        );
    }

    #[test]
    fn form_queues_must_be_queues() {
        assert!(parse("").unwrap().form_queues.is_empty());
        let web = parse("form_queues = [\"GENERAL\"]\n").unwrap();
        assert_eq!(web.form_queues, ["general"]);
        let error = parse("form_queues = [\"general\", \"nope\"]\n").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("web.form_queues[1]: `nope` is neither"),
            "{error}"
        );
    }

    #[test]
    fn base_path_is_normalised_and_used_in_the_public_url() {
        let web = parse("base_path = \"/helpdesk/\"\n").unwrap();
        assert_eq!(web.base_path, "/helpdesk");
        assert_eq!(web.public_url, "http://127.0.0.1:8080/helpdesk");
        let web = parse("public_url = \"https://desk.example.org/hd/\"\n").unwrap();
        assert_eq!(web.public_url, "https://desk.example.org/hd");
    }

    #[test]
    fn errors_name_the_file_the_key_and_the_reason() {
        let error = parse("listen = \"0.0.0.0:8080\"\n").unwrap_err();
        let text = error.to_string();
        assert!(
            text.starts_with("/etc/guichet.toml: web.listen: "),
            "{text}"
        );
        assert!(text.contains("TLS"), "{text}");
        for (web, key) in [
            ("base_path = \"helpdesk\"\n", "web.base_path"),
            ("base_path = \"/a/<b>\"\n", "web.base_path"),
            ("listen = \"localhost\"\n", "web.listen"),
            ("tls_cert = \"/nonexistent.pem\"\n", "web.tls_key"),
            (
                "trusted_header = \"X-Remote-User\"\n",
                "web.trusted_proxies",
            ),
            (
                "trusted_header = \"X Remote\"\ntrusted_proxies = [\"127.0.0.1\"]\n",
                "web.trusted_header",
            ),
            ("session_hours = 0\n", "web.session_hours"),
            ("public_url = \"desk.example.org\"\n", "web.public_url"),
            ("time_zone = \"Mars/Base\"\n", "web.time_zone"),
            ("colour = \"blue\"\n", "line 5"),
        ] {
            let error = parse(web).unwrap_err();
            assert_eq!(error.key, key, "{web}: {error}");
        }
    }

    #[test]
    fn a_proxy_or_tls_allows_listening_beyond_loopback() {
        let web = parse("listen = \"0.0.0.0:8080\"\nbehind_proxy = true\n").unwrap();
        assert!(!web.listen.ip().is_loopback());
        let web = parse(
            "listen = \"[::]:8080\"\ntrusted_header = \"X-Remote-User\"\ntrusted_proxies = [\"10.0.0.5\"]\n",
        )
        .unwrap();
        assert_eq!(web.trusted_header.as_deref(), Some("x-remote-user"));
        assert_eq!(web.trusted_proxies, ["10.0.0.5".parse::<IpAddr>().unwrap()]);
    }
}
