//! `guichet api-client`: the JSON API's clients. A token is printed once, when it is made; the
//! store keeps its SHA-256.

use super::*;
use crate::adapters::store::ApiClient;

#[derive(Debug, clap::Subcommand)]
pub enum ApiClientCommand {
    /// Makes a client and prints its token (shown this once).
    Create {
        /// A name for the system that calls (monitoring, inventory…).
        name: String,
        /// The agent whose permissions its writes have; without it the client only reads.
        #[arg(long)]
        agent: Option<String>,
        /// A queue it sees and acts on (repeat for several); none: every queue.
        #[arg(long = "queue")]
        queues: Vec<String>,
        /// It may open tickets, answer, note and command (needs --agent).
        #[arg(long)]
        write: bool,
    },
    /// The clients, live and revoked.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Its token stops working at once.
    Revoke { name: String },
}

pub(super) fn api_client(config: &Config, command: ApiClientCommand) -> Result<(), CliError> {
    match command {
        ApiClientCommand::List { json } => {
            let store = open_read_only(config)?;
            let clients = store.read().api_clients()?;
            if json {
                return print_json(&clients);
            }
            for client in &clients {
                println!(
                    "{:<20} {:<6} agent={} queues={} {}",
                    client.name,
                    if client.can_write { "write" } else { "read" },
                    client.agent.as_deref().unwrap_or("-"),
                    if client.queues.is_empty() {
                        "all".to_string()
                    } else {
                        client.queues.join(",")
                    },
                    client
                        .revoked_at
                        .map_or("live".to_string(), |at| format!("revoked {}", time(at)))
                );
            }
            Ok(())
        }
        ApiClientCommand::Create {
            name,
            agent,
            queues,
            write,
        } => {
            let fine = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if !fine {
                return Err(CliError::Usage(format!(
                    "`{name}` is not a name like monitoring (letters, digits, - _ .)"
                )));
            }
            let intake = &config.intake;
            if let Some(agent) = &agent {
                if intake.directory.agent_by_name(agent).is_none() {
                    return Err(CliError::Usage(format!(
                        "no [[agent]] named `{agent}` in {}",
                        config.file.display()
                    )));
                }
            }
            if write && agent.is_none() {
                return Err(CliError::Usage(
                    "--write needs --agent: writes are that agent's mail".into(),
                ));
            }
            let mut known = Vec::new();
            for queue in &queues {
                let name = intake.queue_named(queue).ok_or_else(|| {
                    CliError::Usage(format!(
                        "`{queue}` is neither a [[queue]] nor general.default_queue"
                    ))
                })?;
                known.push(name);
            }
            crate::adapters::state_dir::prepare(&config.state_dir)
                .map_err(|e| CliError::Failure(e.to_string()))?;
            let token = crate::web::auth::new_token().map_err(|e| CliError::Software(e.into()))?;
            let mut store = Store::open(&config.database_path())?;
            let tx = store.write()?;
            let client = ApiClient {
                name: name.clone(),
                agent,
                queues: known,
                can_write: write,
                created_at: crate::pipeline::system_now(),
                revoked_at: None,
            };
            if !tx.create_api_client(&client, &crate::web::auth::token_hash(&token))? {
                return Err(CliError::Failure(format!(
                    "a client named {name} exists: revoke it first"
                )));
            }
            tx.commit()?;
            println!("{token}");
            eprintln!("client {name} made; its token (above) is shown only now");
            Ok(())
        }
        ApiClientCommand::Revoke { name } => {
            crate::adapters::state_dir::prepare(&config.state_dir)
                .map_err(|e| CliError::Failure(e.to_string()))?;
            let mut store = Store::open(&config.database_path())?;
            let tx = store.write()?;
            if !tx.revoke_api_client(&name, crate::pipeline::system_now())? {
                return Err(CliError::Failure(format!("no live client named {name}")));
            }
            tx.commit()?;
            println!("client {name} revoked");
            Ok(())
        }
    }
}
