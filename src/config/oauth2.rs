//! `[[oauth2]]`: the OAuth2 clients that mailboxes and `[smtp]` log in with (Microsoft 365,
//! Google Workspace, or any provider whose endpoints are given).

use super::*;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOAuth2 {
    pub(super) name: String,
    pub(super) provider: Option<String>,
    pub(super) tenant: Option<String>,
    pub(super) grant: Option<String>,
    pub(super) client_id: String,
    pub(super) client_secret: Option<String>,
    pub(super) client_secret_file: Option<PathBuf>,
    pub(super) client_secret_credential: Option<String>,
    pub(super) refresh_token: Option<String>,
    pub(super) refresh_token_file: Option<PathBuf>,
    pub(super) refresh_token_credential: Option<String>,
    pub(super) token_url: Option<String>,
    pub(super) device_url: Option<String>,
    pub(super) scopes: Option<Vec<String>>,
}

/// How Guichet gets its access tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OAuth2Grant {
    /// The application's own access (Microsoft 365's IMAP.AccessAsApp / SMTP.SendAsApp).
    ClientCredentials,
    /// Delegated access: a user consented once. `None`: the token `guichet oauth login` stored.
    RefreshToken(Option<Secret>),
}

/// One OAuth2 client: where its tokens come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuth2Account {
    pub name: String,
    pub token_url: String,
    /// For `guichet oauth login` (the device-code flow).
    pub device_url: Option<String>,
    pub client_id: String,
    pub client_secret: Option<Secret>,
    pub grant: OAuth2Grant,
    pub scopes: Vec<String>,
    /// Where `guichet oauth login` keeps the refresh token (0600, in the state directory).
    pub stored_token: PathBuf,
}

/// The SASL mechanism that carries the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuth2Mechanism {
    /// Google's and Microsoft's XOAUTH2.
    XOAuth2,
    /// RFC 7628.
    OAuthBearer,
}

impl OAuth2Mechanism {
    pub fn sasl_name(self) -> &'static str {
        match self {
            OAuth2Mechanism::XOAuth2 => "XOAUTH2",
            OAuth2Mechanism::OAuthBearer => "OAUTHBEARER",
        }
    }
}

const MICROSOFT: &str = "https://login.microsoftonline.com";
const OUTLOOK: &str = "https://outlook.office365.com";

pub(super) fn validate_oauth2(
    index: usize,
    raw: RawOAuth2,
    state_dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    error: &dyn Fn(&str, String) -> ConfigError,
) -> Result<OAuth2Account, ConfigError> {
    let table = format!("oauth2[{index}]");
    let key = |name: &str| format!("{table}.{name}");
    let name = raw.name.trim().to_string();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        || name.starts_with('.')
    {
        return Err(error(
            &key("name"),
            "must be a word of letters, digits, `-`, `_` or `.`".into(),
        ));
    }
    if raw.client_id.trim().is_empty() {
        return Err(error(&key("client_id"), "must not be empty".into()));
    }
    let client_secret = read_secret(
        &table,
        "client_secret",
        raw.client_secret,
        raw.client_secret_file,
        raw.client_secret_credential,
        env,
        error,
    )?;
    let refresh_token = read_secret(
        &table,
        "refresh_token",
        raw.refresh_token,
        raw.refresh_token_file,
        raw.refresh_token_credential,
        env,
        error,
    )?;
    let grant = match raw.grant.as_deref().unwrap_or("refresh_token") {
        "client_credentials" => {
            if client_secret.is_none() {
                return Err(error(
                    &key("grant"),
                    "the client_credentials grant needs one of client_secret, client_secret_file or client_secret_credential".into(),
                ));
            }
            if refresh_token.is_some() {
                return Err(error(
                    &key("refresh_token"),
                    "a refresh token is for grant = \"refresh_token\", not client_credentials"
                        .into(),
                ));
            }
            OAuth2Grant::ClientCredentials
        }
        "refresh_token" => OAuth2Grant::RefreshToken(refresh_token),
        other => {
            return Err(error(
                &key("grant"),
                format!("`{other}` is not one of: client_credentials, refresh_token"),
            ))
        }
    };
    let application = grant == OAuth2Grant::ClientCredentials;
    let provider = raw.provider.as_deref().unwrap_or("generic");
    let (token_url, device_url, scopes) = match provider {
        "microsoft" => {
            let tenant = raw.tenant.as_deref().map(str::trim).unwrap_or("");
            if tenant.is_empty() || tenant.contains(['/', '?', '#', ' ']) {
                return Err(error(
                    &key("tenant"),
                    "provider = \"microsoft\" needs the tenant: its domain (contoso.onmicrosoft.com) or directory ID".into(),
                ));
            }
            let scopes = if application {
                vec![format!("{OUTLOOK}/.default")]
            } else {
                vec![
                    "offline_access".to_string(),
                    format!("{OUTLOOK}/IMAP.AccessAsUser.All"),
                    format!("{OUTLOOK}/SMTP.Send"),
                ]
            };
            (
                format!("{MICROSOFT}/{tenant}/oauth2/v2.0/token"),
                Some(format!("{MICROSOFT}/{tenant}/oauth2/v2.0/devicecode")),
                scopes,
            )
        }
        "google" => {
            if application {
                return Err(error(
                    &key("grant"),
                    "Google offers Gmail no client_credentials grant: use grant = \"refresh_token\" and `guichet oauth login`".into(),
                ));
            }
            (
                "https://oauth2.googleapis.com/token".to_string(),
                Some("https://oauth2.googleapis.com/device/code".to_string()),
                vec!["https://mail.google.com/".to_string()],
            )
        }
        "generic" => {
            let token_url = raw.token_url.clone().ok_or_else(|| {
                error(
                    &key("token_url"),
                    "a generic provider needs token_url (or set provider = \"microsoft\" or \"google\")"
                        .into(),
                )
            })?;
            (token_url, raw.device_url.clone(), Vec::new())
        }
        other => {
            return Err(error(
                &key("provider"),
                format!("`{other}` is not one of: microsoft, google, generic"),
            ))
        }
    };
    if provider != "generic" && (raw.token_url.is_some() || raw.device_url.is_some()) {
        return Err(error(
            &key("token_url"),
            format!("provider = \"{provider}\" sets the endpoints; give token_url and device_url only with provider = \"generic\""),
        ));
    }
    if provider != "microsoft" && raw.tenant.is_some() {
        return Err(error(
            &key("tenant"),
            "only provider = \"microsoft\" has a tenant".into(),
        ));
    }
    check_endpoint(&token_url).map_err(|why| error(&key("token_url"), why))?;
    if let Some(url) = &device_url {
        check_endpoint(url).map_err(|why| error(&key("device_url"), why))?;
    }
    Ok(OAuth2Account {
        stored_token: state_dir
            .join("oauth2")
            .join(format!("{name}.refresh-token")),
        name,
        token_url,
        device_url,
        client_id: raw.client_id,
        client_secret,
        grant,
        scopes: raw.scopes.unwrap_or(scopes),
    })
}

/// Tokens and secrets travel in these requests: https, or plain http to this machine only.
fn check_endpoint(url: &str) -> Result<(), String> {
    let rest = if let Some(rest) = url.strip_prefix("https://") {
        rest
    } else if let Some(rest) = url.strip_prefix("http://") {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = match authority.rsplit_once(':') {
            Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
            _ => authority,
        };
        if !is_loopback(host) {
            return Err(format!(
                "`{url}`: plain http would send secrets in clear: only allowed to a loopback host"
            ));
        }
        rest
    } else {
        return Err(format!("`{url}` is not an https:// URL"));
    };
    if rest.is_empty() || rest.starts_with('/') {
        return Err(format!("`{url}` names no host"));
    }
    Ok(())
}

/// `auth` of a `[[mailbox]]` or `[smtp]` naming an OAuth2 mechanism, with its account.
pub(super) fn oauth2_login(
    mechanism: OAuth2Mechanism,
    account: Option<String>,
    accounts: &[OAuth2Account],
    table: &str,
    error: &dyn Fn(&str, String) -> ConfigError,
) -> Result<String, ConfigError> {
    let name = account.ok_or_else(|| {
        error(
            &format!("{table}.oauth2"),
            format!(
                "auth = \"{}\" needs oauth2 = the name of an [[oauth2]] table",
                match mechanism {
                    OAuth2Mechanism::XOAuth2 => "oauth2",
                    OAuth2Mechanism::OAuthBearer => "oauthbearer",
                }
            ),
        )
    })?;
    if !accounts.iter().any(|account| account.name == name) {
        return Err(error(
            &format!("{table}.oauth2"),
            format!("no [[oauth2]] is named `{name}`"),
        ));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_must_be_https_except_to_loopback() {
        assert!(check_endpoint("https://login.microsoftonline.com/x/oauth2/v2.0/token").is_ok());
        assert!(check_endpoint("http://127.0.0.1:8080/token").is_ok());
        assert!(check_endpoint("http://localhost/token").is_ok());
        assert!(check_endpoint("http://[::1]:9/token").is_ok());
        assert!(check_endpoint("http://login.example.com/token").is_err());
        assert!(check_endpoint("http://127.0.0.1.evil.example/token").is_err());
        assert!(check_endpoint("ftp://127.0.0.1/token").is_err());
        assert!(check_endpoint("https:///token").is_err());
    }
}
