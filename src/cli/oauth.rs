//! `guichet oauth login NAME`: the device-code flow for a `[[oauth2]]` account.

use super::*;
use crate::adapters::oauth2::{device_login, OAuth2Error};
use crate::config::OAuth2Grant;

pub(super) fn oauth_login(config: &Config, name: &str) -> Result<(), CliError> {
    let Some(account) = config.oauth2.iter().find(|account| account.name == name) else {
        let known: Vec<&str> = config.oauth2.iter().map(|a| a.name.as_str()).collect();
        return Err(CliError::Usage(format!(
            "no [[oauth2]] named `{name}` in {} (known: {})",
            config.file.display(),
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        )));
    };
    match &account.grant {
        OAuth2Grant::ClientCredentials => {
            return Err(CliError::Usage(format!(
                "`{name}` uses the client_credentials grant: the application logs in by itself, no login needed"
            )))
        }
        OAuth2Grant::RefreshToken(Some(_)) => {
            return Err(CliError::Usage(format!(
                "`{name}` takes its refresh token from the config: remove refresh_token* to use the one `guichet oauth login` stores"
            )))
        }
        OAuth2Grant::RefreshToken(None) => {}
    }
    crate::adapters::state_dir::prepare(&config.state_dir)
        .map_err(|e| CliError::Failure(e.to_string()))?;
    device_login(account, &mut |prompt| {
        println!(
            "To let Guichet use `{name}`, open {} in any browser and enter the code {} (within {} minutes).",
            prompt.verification_uri,
            prompt.user_code,
            prompt.expires_in.as_secs().div_ceil(60)
        );
        println!("Waiting for the sign-in…");
        let _ = std::io::stdout().flush();
    })
    .map_err(|error| match error {
        OAuth2Error::Unavailable { .. } => CliError::TempFail(error.to_string()),
        _ => CliError::Failure(error.to_string()),
    })?;
    println!(
        "Signed in: the refresh token is stored in {} (readable by this user only). A running `guichet run` uses it at its next attempt.",
        account.stored_token.display()
    );
    Ok(())
}
