//! Validating agents, queues, levels and [commands].

use super::raw::*;
use super::*;

pub(super) fn address_list(
    key: &str,
    list: &[String],
    error: &dyn Fn(&str, String) -> ConfigError,
) -> Result<Vec<String>, ConfigError> {
    list.iter()
        .map(|address| {
            check_address(address)
                .map_err(|why| error(key, format!("`{address}` is not a mail address: {why}")))
        })
        .collect()
}

pub(super) fn validate_directory(
    agents: &[RawAgent],
    queues: &[RawQueue],
    levels: &[RawLevel],
    env: &dyn Fn(&str) -> Option<String>,
    error: &dyn Fn(&str, String) -> ConfigError,
) -> Result<Directory, ConfigError> {
    let mut directory = Directory::default();
    for (index, raw) in agents.iter().enumerate() {
        let key = |name: &str| format!("agent[{index}].{name}");
        let name = raw.name.trim().to_string();
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(error(
                &key("name"),
                "must be one word (it is what #assign NAME takes)".into(),
            ));
        }
        if directory
            .agents
            .iter()
            .any(|a: &Agent| a.name.eq_ignore_ascii_case(&name))
        {
            return Err(error(
                &key("name"),
                format!("`{name}` names another agent too"),
            ));
        }
        let addresses = address_list(&key("addresses"), &raw.addresses, error)?;
        if addresses.is_empty() {
            return Err(error(
                &key("addresses"),
                "an agent needs at least one address".into(),
            ));
        }
        let role = match raw.role.as_deref().unwrap_or("agent") {
            "agent" => AgentRole::Agent,
            "triager" => AgentRole::Triager,
            "admin" => AgentRole::Admin,
            other => {
                return Err(error(
                    &key("role"),
                    format!("`{other}` is not one of: agent, triager, admin"),
                ))
            }
        };
        let levels = raw
            .levels
            .iter()
            .map(|level| {
                Level::new(*level)
                    .ok_or_else(|| error(&key("levels"), format!("{level} is not a level 1 to 4")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let token = read_secret(
            &format!("agent[{index}]"),
            "token",
            raw.token.clone(),
            raw.token_file.clone(),
            None,
            env,
            error,
        )?
        .map(|secret| secret.expose().to_string());
        let language = raw
            .language
            .as_deref()
            .map(|code| {
                code.parse::<Language>()
                    .map_err(|e| error(&key("language"), e))
            })
            .transpose()?;
        directory.agents.push(Agent {
            display_name: raw.display_name.clone().unwrap_or_else(|| name.clone()),
            name,
            addresses,
            role,
            queues: raw.queues.clone(),
            levels,
            token,
            language,
            away: raw.away.unwrap_or(false),
            external: raw.external,
        });
    }
    for (index, raw) in queues.iter().enumerate() {
        let triagers = address_list(&format!("queue[{index}].triagers"), &raw.triagers, error)?;
        let assignment = match raw.assignment.as_deref().unwrap_or("none") {
            "none" => Assignment::None,
            "round-robin" => Assignment::RoundRobin,
            "least-open" => Assignment::LeastOpen,
            other => {
                return Err(error(
                    &format!("queue[{index}].assignment"),
                    format!("`{other}` is not one of: none, round-robin, least-open"),
                ))
            }
        };
        directory.queues.push(Queue {
            name: raw.name.trim().to_string(),
            triagers,
            assignment,
        });
    }
    for (index, raw) in levels.iter().enumerate() {
        let level = Level::new(raw.level).ok_or_else(|| {
            error(
                &format!("level[{index}].level"),
                format!("{} is not a level 1 to 4", raw.level),
            )
        })?;
        let addresses = address_list(&format!("level[{index}].addresses"), &raw.addresses, error)?;
        let index = (level.get() - 1) as usize;
        directory.level_addresses[index].extend(addresses);
        if let Some(external) = raw.external {
            directory.external_levels[index] = external;
        }
    }
    Ok(directory)
}

pub(super) fn validate_commands(
    raw: RawCommands,
    intake: &mut IntakePolicy,
    error: &dyn Fn(&str, String) -> ConfigError,
) -> Result<(), ConfigError> {
    let ids: Vec<String> = raw
        .trusted_authserv_ids
        .iter()
        .map(|id| id.trim().to_lowercase())
        .collect();
    intake.trust = match raw.trust.as_deref().unwrap_or("authentication-results") {
        "authentication-results" => Trust::AuthenticationResults(ids.clone()),
        "token" => Trust::Token,
        "either" => Trust::Either(ids.clone()),
        "none" => Trust::None,
        other => {
            return Err(error(
                "commands.trust",
                format!("`{other}` is not one of: authentication-results, token, either, none"),
            ))
        }
    };
    if matches!(intake.trust, Trust::AuthenticationResults(_))
        && ids.is_empty()
        && !intake.directory.agents.is_empty()
    {
        return Err(error(
            "commands.trusted_authserv_ids",
            "empty, so no agent's mail can be trusted: name the authserv-id your MTA writes in Authentication-Results, or set commands.trust = \"token\"".into(),
        ));
    }
    if matches!(intake.trust, Trust::Token | Trust::Either(_)) {
        if let Some(agent) = intake.directory.agents.iter().find(|a| a.token.is_none()) {
            return Err(error(
                "commands.trust",
                format!(
                    "trust by token, but agent {} has no token or token_file",
                    agent.name
                ),
            ));
        }
    }
    if let Some(address) = raw.comment_address {
        let address = check_address(&address).map_err(|why| {
            error(
                "commands.comment_address",
                format!("`{address}` is not a mail address: {why}"),
            )
        })?;
        intake.loops.own_addresses.push(address.clone());
        intake.comment_address = Some(address);
    }
    let mut vocabulary = Vocabulary::builtin();
    for (alias, command) in raw.aliases {
        vocabulary = vocabulary
            .with_alias(&alias, &command)
            .map_err(|e| error(&format!("commands.aliases.{alias}"), e.reason))?;
    }
    intake.vocabulary = vocabulary;
    Ok(())
}
