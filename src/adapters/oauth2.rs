//! OAuth2 access tokens for IMAP and SMTP: the client-credentials and refresh-token grants, the
//! device-code flow behind `guichet oauth login`, and `TokenSource`, which keeps one access token
//! per `[[oauth2]]` account and renews it before it expires.
//!
//! The token endpoint is plain HTTPS with a form body and a JSON answer: ureq (blocking, run on
//! tokio's blocking threads) over rustls does it without an async HTTP stack. Tokens and secrets
//! are `Secret`s: never in a log line, never in `Debug`.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::{OAuth2Account, OAuth2Grant, Secret};

/// No answer from the provider within this: temporary, tried again later.
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);
/// A token is renewed when this much of its lifetime is left (a fifth, at most five minutes).
const RENEW_BEFORE_MAX: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuth2Error {
    /// The provider refused the grant. `login` when only a new consent helps (a revoked or
    /// expired refresh token).
    #[error("OAuth2 `{account}`: the provider refused the token request: {reason}{}", login_hint(account, *login))]
    Refused {
        account: String,
        reason: String,
        login: bool,
    },
    /// Unreachable, slow, or an answer we cannot read: worth another try later.
    #[error("OAuth2 `{account}`: {reason}")]
    Unavailable { account: String, reason: String },
    #[error(
        "OAuth2 `{account}`: no refresh token (none in the config, none stored in {path}){}",
        login_hint(account, true)
    )]
    NoRefreshToken { account: String, path: String },
}

fn login_hint(account: &str, login: bool) -> String {
    if login {
        format!("; run `guichet oauth login {account}`")
    } else {
        String::new()
    }
}

/// An access token, and when it stops working.
#[derive(Debug, Clone)]
pub struct AccessToken {
    pub secret: Secret,
    pub expires_at: Instant,
    /// From then on `TokenSource::token` gets a new one; a session logged in with this token
    /// logs in again by then.
    pub renew_at: Instant,
}

/// One account's access token, shared by every connection that logs in with it.
pub struct TokenSource {
    account: OAuth2Account,
    cached: tokio::sync::Mutex<Option<AccessToken>>,
}

impl TokenSource {
    pub fn new(account: OAuth2Account) -> TokenSource {
        TokenSource {
            account,
            cached: tokio::sync::Mutex::new(None),
        }
    }

    pub fn account(&self) -> &str {
        &self.account.name
    }

    /// A token good for a while yet: the one in hand, or a new one when it nears its end.
    pub async fn token(&self) -> Result<AccessToken, OAuth2Error> {
        let mut cached = self.cached.lock().await;
        if let Some(token) = cached.as_ref().filter(|t| Instant::now() < t.renew_at) {
            return Ok(token.clone());
        }
        let account = self.account.clone();
        let started = Instant::now();
        let granted = tokio::task::spawn_blocking(move || request_token(&account))
            .await
            .map_err(|e| OAuth2Error::Unavailable {
                account: self.account.name.clone(),
                reason: format!("token request thread: {e}"),
            })??;
        let lifetime = granted.lifetime;
        let token = AccessToken {
            secret: granted.access_token,
            expires_at: started + lifetime,
            renew_at: started + lifetime - (lifetime / 5).min(RENEW_BEFORE_MAX),
        };
        *cached = Some(token.clone());
        tracing::debug!(account = %self.account.name, expires_in_secs = lifetime.as_secs(), "OAuth2 access token obtained");
        Ok(token)
    }

    /// The server refused this token: the next `token` asks the provider for a new one.
    pub async fn rejected(&self, token: &Secret) {
        let mut cached = self.cached.lock().await;
        if cached.as_ref().is_some_and(|t| &t.secret == token) {
            *cached = None;
        }
    }
}

struct Granted {
    access_token: Secret,
    lifetime: Duration,
}

/// The proxy environment variables (HTTPS_PROXY, ALL_PROXY, NO_PROXY) apply. No redirects: a
/// token endpoint answers itself, and a form with secrets follows no one elsewhere.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(HTTP_TIMEOUT))
        .build()
        .into()
}

/// POSTs a form and reads the JSON answer, whatever its status.
fn post_form(url: &str, form: &[(&str, &str)]) -> Result<(u16, serde_json::Value), String> {
    let mut response = agent()
        .post(url)
        .header("Accept", "application/json")
        .send_form(form.iter().copied())
        .map_err(|e| format!("{url}: {e}"))?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(1024 * 1024)
        .read_to_string()
        .map_err(|e| format!("{url}: reading the answer: {e}"))?;
    let json = serde_json::from_str(&body)
        .map_err(|_| format!("{url}: HTTP {status}, and the answer is not JSON"))?;
    Ok((status, json))
}

fn text(json: &serde_json::Value, field: &str) -> Option<String> {
    json.get(field)?.as_str().map(str::to_string)
}

/// The provider's error as it wrote it: `invalid_grant: AADSTS70000: …`.
fn provider_error(status: u16, json: &serde_json::Value) -> String {
    match (text(json, "error"), text(json, "error_description")) {
        (Some(error), Some(description)) => format!("{error}: {description}"),
        (Some(error), None) => error,
        _ => format!("HTTP {status}"),
    }
}

fn request_token(account: &OAuth2Account) -> Result<Granted, OAuth2Error> {
    let scope = account.scopes.join(" ");
    let mut form: Vec<(&str, &str)> = vec![("client_id", &account.client_id)];
    if let Some(secret) = &account.client_secret {
        form.push(("client_secret", secret.expose()));
    }
    if !scope.is_empty() {
        form.push(("scope", &scope));
    }
    let stored;
    let from_store = match &account.grant {
        OAuth2Grant::ClientCredentials => {
            form.push(("grant_type", "client_credentials"));
            false
        }
        OAuth2Grant::RefreshToken(configured) => {
            let (token, from_store) = match configured {
                Some(token) => (token, false),
                None => {
                    stored = read_stored(account)?;
                    (&stored, true)
                }
            };
            form.push(("grant_type", "refresh_token"));
            form.push(("refresh_token", token.expose()));
            from_store
        }
    };
    let unavailable = |reason: String| OAuth2Error::Unavailable {
        account: account.name.clone(),
        reason,
    };
    let (status, json) = post_form(&account.token_url, &form).map_err(unavailable)?;
    if !(200..300).contains(&status) {
        let error = text(&json, "error").unwrap_or_default();
        // Only the provider's own verdict on the grant means a person must act; a 5xx or a
        // throttle is tried again.
        if status >= 500 || status == 429 || error.is_empty() {
            return Err(unavailable(provider_error(status, &json)));
        }
        let login =
            error == "invalid_grant" && matches!(account.grant, OAuth2Grant::RefreshToken(_));
        return Err(OAuth2Error::Refused {
            account: account.name.clone(),
            reason: provider_error(status, &json),
            login,
        });
    }
    let access_token = text(&json, "access_token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| unavailable("the answer has no access_token".into()))?;
    // Providers that rotate refresh tokens (Microsoft) send the next one: keep it.
    if let Some(next) = text(&json, "refresh_token").filter(|_| from_store) {
        store_refresh_token(account, &Secret::new(next)).map_err(unavailable)?;
    }
    let lifetime = json
        .get("expires_in")
        .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
        .unwrap_or(3600)
        .max(1);
    Ok(Granted {
        access_token: Secret::new(access_token),
        lifetime: Duration::from_secs(lifetime),
    })
}

fn read_stored(account: &OAuth2Account) -> Result<Secret, OAuth2Error> {
    let missing = || OAuth2Error::NoRefreshToken {
        account: account.name.clone(),
        path: account.stored_token.display().to_string(),
    };
    let text = std::fs::read_to_string(&account.stored_token).map_err(|_| missing())?;
    let token = text.trim();
    if token.is_empty() {
        return Err(missing());
    }
    Ok(Secret::new(token.to_string()))
}

/// Writes the refresh token 0600 (directory 0700), replacing the old one in one rename.
pub fn store_refresh_token(account: &OAuth2Account, token: &Secret) -> Result<(), String> {
    let path = &account.stored_token;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let partial = path.with_extension("partial");
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&partial)?;
        file.write_all(token.expose().as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        std::fs::rename(&partial, path)
    };
    write().map_err(|e| format!("{}: {e}", path.display()))
}

/// What `guichet oauth login` shows the operator.
#[derive(Debug, Clone)]
pub struct DevicePrompt {
    pub user_code: String,
    pub verification_uri: String,
    pub expires_in: Duration,
}

/// The device-code flow: asks for a code, shows it through `prompt`, polls until the user has
/// consented, and stores the refresh token. Blocking; for the CLI.
pub fn device_login(
    account: &OAuth2Account,
    prompt: &mut dyn FnMut(&DevicePrompt),
) -> Result<(), OAuth2Error> {
    let name = account.name.clone();
    let unavailable = |reason: String| OAuth2Error::Unavailable {
        account: name.clone(),
        reason,
    };
    let refused = |reason: String| OAuth2Error::Refused {
        account: name.clone(),
        reason,
        login: false,
    };
    let Some(device_url) = &account.device_url else {
        return Err(refused(
            "no device_url: set it (provider = \"generic\") or use a provider preset".into(),
        ));
    };
    let scope = account.scopes.join(" ");
    let mut form: Vec<(&str, &str)> = vec![("client_id", &account.client_id)];
    if !scope.is_empty() {
        form.push(("scope", &scope));
    }
    let (status, json) = post_form(device_url, &form).map_err(unavailable)?;
    if !(200..300).contains(&status) {
        return Err(refused(provider_error(status, &json)));
    }
    let device_code = text(&json, "device_code")
        .ok_or_else(|| unavailable("the device answer has no device_code".into()))?;
    let user_code = text(&json, "user_code")
        .ok_or_else(|| unavailable("the device answer has no user_code".into()))?;
    // RFC 8628 says verification_uri; Google says verification_url.
    let verification_uri = text(&json, "verification_uri")
        .or_else(|| text(&json, "verification_url"))
        .ok_or_else(|| unavailable("the device answer has no verification_uri".into()))?;
    let seconds = |field: &str, default: u64| {
        json.get(field)
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(default)
    };
    let expires_in = Duration::from_secs(seconds("expires_in", 900));
    let mut interval = Duration::from_secs(seconds("interval", 5).max(1));
    prompt(&DevicePrompt {
        user_code,
        verification_uri,
        expires_in,
    });
    let deadline = std::time::Instant::now() + expires_in;
    let mut poll: Vec<(&str, &str)> = vec![
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("device_code", &device_code),
        ("client_id", &account.client_id),
    ];
    if let Some(secret) = &account.client_secret {
        poll.push(("client_secret", secret.expose()));
    }
    loop {
        if std::time::Instant::now() >= deadline {
            return Err(refused("the code expired before it was entered".into()));
        }
        std::thread::sleep(interval);
        let (status, json) = post_form(&account.token_url, &poll).map_err(unavailable)?;
        if (200..300).contains(&status) {
            let token = text(&json, "refresh_token").ok_or_else(|| {
                refused(
                    "the provider gave no refresh token (is offline_access among the scopes?)"
                        .into(),
                )
            })?;
            return store_refresh_token(account, &Secret::new(token)).map_err(unavailable);
        }
        match text(&json, "error").as_deref() {
            Some("authorization_pending") => {}
            Some("slow_down") => interval += Duration::from_secs(5),
            _ => return Err(refused(provider_error(status, &json))),
        }
    }
}

/// The SASL client response that carries `token` for `user`: XOAUTH2 (Google's and
/// Microsoft's), or OAUTHBEARER (RFC 7628) with the server's host and port.
pub fn sasl_response(
    mechanism: crate::config::OAuth2Mechanism,
    user: &str,
    host: &str,
    port: u16,
    token: &Secret,
) -> Secret {
    let token = token.expose();
    Secret::new(match mechanism {
        crate::config::OAuth2Mechanism::XOAuth2 => {
            format!("user={user}\x01auth=Bearer {token}\x01\x01")
        }
        crate::config::OAuth2Mechanism::OAuthBearer => {
            // RFC 5801's saslname: `,` and `=` escaped.
            let user = user.replace('=', "=3D").replace(',', "=2C");
            format!("n,a={user},\x01host={host}\x01port={port}\x01auth=Bearer {token}\x01\x01")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OAuth2Mechanism;

    #[test]
    fn sasl_responses_carry_the_user_and_the_token() {
        let token = Secret::new("tok".into());
        let xoauth2 = sasl_response(OAuth2Mechanism::XOAuth2, "a@b", "h", 993, &token);
        assert_eq!(xoauth2.expose(), "user=a@b\x01auth=Bearer tok\x01\x01");
        let bearer = sasl_response(OAuth2Mechanism::OAuthBearer, "a,=b", "h", 993, &token);
        assert_eq!(
            bearer.expose(),
            "n,a=a=2C=3Db,\x01host=h\x01port=993\x01auth=Bearer tok\x01\x01"
        );
        assert!(!format!("{bearer:?}").contains("tok"));
    }

    #[test]
    fn a_refused_refresh_token_names_the_command_to_run() {
        let error = OAuth2Error::Refused {
            account: "m365".into(),
            reason: "invalid_grant: revoked".into(),
            login: true,
        };
        assert_eq!(
            error.to_string(),
            "OAuth2 `m365`: the provider refused the token request: invalid_grant: revoked; run `guichet oauth login m365`"
        );
    }
}
