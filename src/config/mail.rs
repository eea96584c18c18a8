//! Validating the mail side: [smtp], [[mailbox]], [attachments], the loop caps and spam headers.

use super::raw::*;
use super::*;

pub(super) fn validate_attachments(
    raw: &RawAttachments,
    error: &dyn Fn(&str, String) -> ConfigError,
) -> Result<AttachmentLimits, ConfigError> {
    let defaults = AttachmentLimits::default();
    let limits = AttachmentLimits {
        max_attachment_bytes: raw
            .max_attachment_bytes
            .unwrap_or(defaults.max_attachment_bytes),
        max_mail_bytes: raw.max_mail_bytes.unwrap_or(defaults.max_mail_bytes),
    };
    if limits.max_mail_bytes == 0 {
        return Err(error(
            "attachments.max_mail_bytes",
            "must be above 0 (set max_attachment_bytes = 0 to attach nothing to notices)".into(),
        ));
    }
    Ok(limits)
}

pub(super) fn validate_smtp(
    smtp: RawSmtp,
    support_address: &str,
    accounts: &[OAuth2Account],
    env: &dyn Fn(&str) -> Option<String>,
    error: &dyn Fn(&str, String) -> ConfigError,
) -> Result<SmtpConfig, ConfigError> {
    let security = match smtp.security.as_deref().unwrap_or("starttls") {
        "tls" => SmtpSecurity::Tls,
        "starttls" => SmtpSecurity::StartTls,
        "plain" => SmtpSecurity::Plain,
        other => {
            return Err(error(
                "smtp.security",
                format!("`{other}` is not one of: tls, starttls, plain"),
            ))
        }
    };
    if security == SmtpSecurity::Plain && !is_loopback(&smtp.host) {
        return Err(error(
            "smtp.security",
            format!("plain SMTP sends passwords and mail in clear: only allowed to a loopback host, not `{}`", smtp.host),
        ));
    }
    let port = smtp.port.unwrap_or(match security {
        SmtpSecurity::Tls => 465,
        SmtpSecurity::StartTls => 587,
        SmtpSecurity::Plain => 25,
    });
    let password = read_secret(
        "smtp",
        "password",
        smtp.password,
        smtp.password_file,
        smtp.password_credential,
        env,
        error,
    )?;
    let mechanism = match smtp.auth.as_deref().unwrap_or("password") {
        "password" => None,
        "oauth2" => Some(OAuth2Mechanism::XOAuth2),
        "oauthbearer" => Some(OAuth2Mechanism::OAuthBearer),
        other => {
            return Err(error(
                "smtp.auth",
                format!("`{other}` is not one of: password, oauth2, oauthbearer"),
            ))
        }
    };
    let credentials = match (mechanism, smtp.username, password) {
        (Some(mechanism), Some(user), None) => Some(SmtpAuth::OAuth2 {
            user,
            account: oauth2_login(mechanism, smtp.oauth2.clone(), accounts, "smtp", error)?,
            mechanism,
        }),
        (Some(_), None, _) => {
            return Err(error(
                "smtp.username",
                "OAuth2 needs the username to log in as".into(),
            ))
        }
        (Some(_), Some(_), Some(_)) => {
            return Err(error(
                "smtp.password",
                "OAuth2 logs in with a token: remove the password".into(),
            ))
        }
        (None, Some(user), Some(password)) => Some(SmtpAuth::Password { user, password }),
        (None, None, None) => None,
        (None, Some(_), None) => {
            return Err(error(
                "smtp.username",
                "a username needs one of password, password_file or password_credential".into(),
            ))
        }
        (None, None, Some(_)) => {
            return Err(error("smtp.password", "a password needs a username".into()))
        }
    };
    if mechanism.is_none() && smtp.oauth2.is_some() {
        return Err(error(
            "smtp.oauth2",
            "set auth = \"oauth2\" (or \"oauthbearer\") to log in with it".into(),
        ));
    }
    if let Some(ca) = &smtp.ca_file {
        if !ca.is_file() {
            return Err(error(
                "smtp.ca_file",
                format!("{} is not a readable file", ca.display()),
            ));
        }
    }
    Ok(SmtpConfig {
        host: smtp.host,
        port,
        security,
        credentials,
        ca_file: smtp.ca_file,
        hello_name: smtp
            .hello_name
            .unwrap_or_else(|| crate::core::address::domain(support_address).to_string()),
        timeout_secs: smtp.timeout_secs.unwrap_or(30).max(1),
        connections: smtp.connections.unwrap_or(4).clamp(1, 64),
    })
}

pub(super) fn validate_caps(raw: &RawLoopProtection) -> Caps {
    let defaults = Caps::default();
    Caps {
        replies_per_address: raw
            .max_auto_replies_per_hour
            .unwrap_or(defaults.replies_per_address),
        notices_per_sender: raw
            .max_new_ticket_notices_per_sender_per_hour
            .unwrap_or(defaults.notices_per_sender),
        per_ticket: raw
            .max_automatic_mails_per_ticket_per_hour
            .unwrap_or(defaults.per_ticket),
        overall: raw.max_automatic_mails_per_hour.unwrap_or(defaults.overall),
    }
}

pub(super) fn validate_spam_headers(
    raw: &RawLoopProtection,
    error: &dyn Fn(&str, String) -> ConfigError,
) -> Result<SpamMarkers, ConfigError> {
    let Some(specs) = &raw.spam_headers else {
        return Ok(SpamMarkers::default());
    };
    specs
        .iter()
        .map(|spec| SpamMarker::parse(spec))
        .collect::<Result<Vec<_>, _>>()
        .map(SpamMarkers::new)
        .map_err(|bad| error("loop_protection.spam_headers", bad.to_string()))
}

pub(super) fn validate_mailbox(
    index: usize,
    raw: RawMailbox,
    accounts: &[OAuth2Account],
    env: &dyn Fn(&str) -> Option<String>,
    error: &dyn Fn(&str, String) -> ConfigError,
) -> Result<MailboxConfig, ConfigError> {
    let key = |name: &str| format!("mailbox[{index}].{name}");
    let name = raw.name.trim().to_string();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(error(
            &key("name"),
            "must be a word of letters, digits, `-`, `_` or `.`".into(),
        ));
    }
    let security = match raw.security.as_deref().unwrap_or("tls") {
        "tls" => ImapSecurity::Tls,
        "starttls" => ImapSecurity::StartTls,
        "insecure" => ImapSecurity::Insecure,
        other => {
            return Err(error(
                &key("security"),
                format!("`{other}` is not one of: tls, starttls, insecure"),
            ))
        }
    };
    if security == ImapSecurity::Insecure && !is_loopback(&raw.host) {
        return Err(error(
            &key("security"),
            format!("insecure IMAP sends the password in clear: only allowed to a loopback host, not `{}`", raw.host),
        ));
    }
    let table = format!("mailbox[{index}]");
    let password = read_secret(
        &table,
        "password",
        raw.password,
        raw.password_file,
        raw.password_credential,
        env,
        error,
    )?;
    let needs_password = |password: Option<Secret>| {
        password.ok_or_else(|| {
            error(
                &key("password"),
                "one of password, password_file or password_credential is required".into(),
            )
        })
    };
    let oauth2 = |mechanism: OAuth2Mechanism, password: Option<Secret>| {
        if password.is_some() {
            return Err(error(
                &key("password"),
                "OAuth2 logs in with a token: remove the password".into(),
            ));
        }
        Ok(ImapAuth::OAuth2 {
            account: oauth2_login(mechanism, raw.oauth2.clone(), accounts, &table, error)?,
            mechanism,
        })
    };
    let auth = match raw.auth.as_deref().unwrap_or("login") {
        "login" => ImapAuth::Login(needs_password(password)?),
        "plain" => ImapAuth::Plain(needs_password(password)?),
        "oauth2" => oauth2(OAuth2Mechanism::XOAuth2, password)?,
        "oauthbearer" => oauth2(OAuth2Mechanism::OAuthBearer, password)?,
        other => {
            return Err(error(
                &key("auth"),
                format!("`{other}` is not one of: login, plain, oauth2, oauthbearer"),
            ))
        }
    };
    if raw.oauth2.is_some() && !matches!(auth, ImapAuth::OAuth2 { .. }) {
        return Err(error(
            &key("oauth2"),
            "set auth = \"oauth2\" (or \"oauthbearer\") to log in with it".into(),
        ));
    }
    if let Some(ca) = &raw.ca_file {
        if !ca.is_file() {
            return Err(error(
                &key("ca_file"),
                format!("{} is not a readable file", ca.display()),
            ));
        }
    }
    let folder_of =
        |value: Option<String>, default: &str, name: &str| -> Result<String, ConfigError> {
            let folder = value.unwrap_or_else(|| default.to_string());
            if folder.trim().is_empty() || folder.contains(['"', '\\', '\r', '\n']) {
                return Err(error(
                    &key(name),
                    format!("`{folder}` is not a usable folder name"),
                ));
            }
            Ok(folder)
        };
    let folder = folder_of(raw.folder, "INBOX", "folder")?;
    let processed_folder = folder_of(raw.processed_folder, "Processed", "processed_folder")?;
    let quarantine_folder = folder_of(raw.quarantine_folder, "Quarantine", "quarantine_folder")?;
    if processed_folder == folder || quarantine_folder == folder {
        return Err(error(
            &key("processed_folder"),
            "processed and quarantine folders must differ from the watched folder".into(),
        ));
    }
    let address = match raw.address {
        Some(address) => {
            let address = check_address(&address).map_err(|why| {
                error(
                    &key("address"),
                    format!("`{address}` is not a mail address: {why}"),
                )
            })?;
            Some(address)
        }
        None => check_address(&raw.username)
            .ok()
            .filter(|u| !u.contains('*')),
    };
    Ok(MailboxConfig {
        address,
        imap: ImapSettings {
            port: raw.port.unwrap_or(match security {
                ImapSecurity::Tls => 993,
                _ => 143,
            }),
            host: raw.host,
            security,
            username: raw.username,
            auth,
            ca_file: raw.ca_file,
            idle: raw.idle.unwrap_or(true),
            timeout_secs: raw.timeout_secs.unwrap_or(60).max(1),
        },
        name,
        folder,
        processed_folder,
        quarantine_folder,
        queue: raw.queue.filter(|q| !q.trim().is_empty()),
        poll_interval_secs: raw.poll_interval_secs.unwrap_or(60).max(1),
        full_check_interval_secs: raw.full_check_interval_secs.unwrap_or(300).max(1),
        batch_size: raw.batch_size.unwrap_or(500).clamp(1, 5000),
    })
}
