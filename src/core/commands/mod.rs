//! The command language agents write at the top of a reply (`#assign bob`, `#priority high`) or in
//! brackets in the subject (`[#assign alice]`), in English, French or Italian.

use std::collections::BTreeMap;

use super::address::check_address;
use super::knowledge::ArticleId;
use super::ticket::{Level, Priority, Status, TicketNumber};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "command", content = "argument", rename_all = "snake_case")]
pub enum Command {
    /// An agent's name, or `None` for `me`.
    Assign(Option<String>),
    Unassign,
    Priority(Priority),
    Level(Level),
    Escalate(Option<String>),
    Deescalate,
    Queue(String),
    Status(Status),
    Resolve(Option<String>),
    Close,
    Reopen,
    Merge(TicketNumber),
    Cc(String),
    Uncc(String),
    Tag(String),
    Untag(String),
    Field {
        name: String,
        value: String,
    },
    Note(String),
    Help,
    /// Mail me every attachment of the ticket (those notices only named, too).
    Attachments,
    /// An agent's secret word: proves who sent the mail, changes nothing.
    Token(String),
    /// The sending agent is away: no automatic assignments until `#back`.
    Away,
    Back,
    /// A ticket held as spam is not: it becomes `new`, acknowledged and announced then.
    Release,
    /// The requester: a suggested article answered the question (which one, when several were).
    Solved(Option<ArticleId>),
    /// Send this article to the requester as the answer, below the agent's own text.
    Answer(ArticleId),
    /// Send the saved reply of this name to the requester.
    Reply(String),
    /// Draft a knowledge-base article from this resolved ticket.
    Kb {
        internal: bool,
        title: Option<String>,
    },
    /// On a ticket, the article must be named; on an article's own mail, it is that article.
    Publish(Option<ArticleId>),
    Retire(Option<ArticleId>),
}

impl Command {
    /// The English keyword, as the audit trail and help show it.
    pub fn keyword(&self) -> &'static str {
        match self {
            Command::Assign(_) => "assign",
            Command::Unassign => "unassign",
            Command::Priority(_) => "priority",
            Command::Level(_) => "level",
            Command::Escalate(_) => "escalate",
            Command::Deescalate => "deescalate",
            Command::Queue(_) => "queue",
            Command::Status(_) => "status",
            Command::Resolve(_) => "resolve",
            Command::Close => "close",
            Command::Reopen => "reopen",
            Command::Merge(_) => "merge",
            Command::Cc(_) => "cc",
            Command::Uncc(_) => "uncc",
            Command::Tag(_) => "tag",
            Command::Untag(_) => "untag",
            Command::Field { .. } => "field",
            Command::Note(_) => "note",
            Command::Help => "help",
            Command::Attachments => "attachments",
            Command::Token(_) => "token",
            Command::Away => "away",
            Command::Back => "back",
            Command::Release => "release",
            Command::Solved(_) => "solved",
            Command::Answer(_) => "answer",
            Command::Reply(_) => "reply",
            Command::Kb { .. } => "kb",
            Command::Publish(_) => "publish",
            Command::Retire(_) => "retire",
        }
    }
}

/// One command as written, and what it means.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CommandLine {
    pub line: String,
    pub command: Command,
}

/// A line that looks like a command but cannot be one.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CommandError {
    pub line: String,
    pub reason: String,
    /// What would work instead.
    pub hint: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ParsedCommands {
    pub commands: Vec<CommandLine>,
    pub errors: Vec<CommandError>,
    /// The body without its leading command lines: what a person wrote.
    pub text: String,
}

/// Keyword → command: the built-in English/French/Italian words (`KEYWORDS`, read in place,
/// not copied at every start) plus the configured extras.
#[derive(Debug, Clone)]
pub struct Vocabulary {
    aliases: BTreeMap<String, &'static str>,
}

const KEYWORDS: &[(&str, &[&str])] = &[
    (
        "assign",
        &["assign", "assigner", "attribuer", "assegna", "assegnare"],
    ),
    (
        "unassign",
        &[
            "unassign",
            "desassigner",
            "desattribuer",
            "disassegna",
            "rimuovi-assegnazione",
        ],
    ),
    ("priority", &["priority", "prio", "priorite", "priorita"]),
    ("level", &["level", "niveau", "livello"]),
    (
        "escalate",
        &[
            "escalate",
            "escalader",
            "escalade",
            "scala",
            "scalare",
            "inoltra-livello",
        ],
    ),
    (
        "deescalate",
        &[
            "deescalate",
            "de-escalate",
            "desescalader",
            "descalare",
            "riduci-livello",
        ],
    ),
    (
        "queue",
        &[
            "queue",
            "transfer",
            "transferer",
            "file",
            "coda",
            "trasferisci",
        ],
    ),
    ("status", &["status", "statut", "etat", "stato"]),
    (
        "resolve",
        &["resolve", "resoudre", "resolu", "risolvi", "risolto"],
    ),
    ("close", &["close", "fermer", "clore", "chiudi", "chiudere"]),
    (
        "reopen",
        &["reopen", "rouvrir", "reouvrir", "riapri", "riaprire"],
    ),
    (
        "merge",
        &["merge", "fusionner", "fusion", "unisci", "fondi"],
    ),
    ("cc", &["cc", "copie", "copia"]),
    ("uncc", &["uncc", "retirer-copie", "rimuovi-copia"]),
    ("tag", &["tag", "etiquette", "etichetta"]),
    (
        "untag",
        &["untag", "retirer-etiquette", "rimuovi-etichetta"],
    ),
    ("field", &["field", "champ", "campo"]),
    ("note", &["note", "commentaire", "nota"]),
    ("help", &["help", "aide", "aiuto"]),
    (
        "attachments",
        &["attachments", "pieces-jointes", "pj", "allegati"],
    ),
    ("token", &["token", "jeton", "gettone"]),
    ("away", &["away", "absent", "absente", "assente"]),
    (
        "back",
        &["back", "present", "presente", "retour", "rientro"],
    ),
    (
        "release",
        &["release", "liberer", "pas-spam", "rilascia", "sblocca"],
    ),
    // `#résolu` already means #resolve: the requester's words are others.
    ("solved", &["solved", "regle", "sistemato", "risolta"]),
    ("answer", &["answer", "reponse", "risposta"]),
    ("reply", &["reply", "modele", "modello"]),
    ("kb", &["kb", "faq"]),
    ("publish", &["publish", "publier", "pubblica"]),
    ("retire", &["retire", "retirer", "ritira"]),
];

/// `#kb internal …` in the three languages.
const INTERNAL_WORDS: &[&str] = &["internal", "interne", "interno"];

/// Values in the three languages.
const PRIORITY_WORDS: &[(&str, Priority)] = &[
    ("low", Priority::Low),
    ("basse", Priority::Low),
    ("bas", Priority::Low),
    ("bassa", Priority::Low),
    ("normal", Priority::Normal),
    ("normale", Priority::Normal),
    ("high", Priority::High),
    ("haute", Priority::High),
    ("elevee", Priority::High),
    ("alta", Priority::High),
    ("urgent", Priority::Urgent),
    ("urgente", Priority::Urgent),
];

const STATUS_WORDS: &[(&str, Status)] = &[
    ("open", Status::Open),
    ("ouvert", Status::Open),
    ("aperto", Status::Open),
    ("pending", Status::Pending),
    ("en-cours", Status::Pending),
    ("in-corso", Status::Pending),
    ("waiting", Status::Waiting),
    ("attente", Status::Waiting),
    ("en-attente", Status::Waiting),
    ("in-attesa", Status::Waiting),
    ("attesa", Status::Waiting),
    ("resolved", Status::Resolved),
    ("resolu", Status::Resolved),
    ("risolto", Status::Resolved),
];

/// Lowercase, without accents, so `#Priorité` and `#PRIORITA` both read as `priorite`/`priorita`.
pub fn fold(word: &str) -> String {
    word.to_lowercase()
        .chars()
        .map(|c| match c {
            'à' | 'á' | 'â' | 'ä' | 'ã' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'ì' | 'í' | 'î' | 'ï' => 'i',
            'ò' | 'ó' | 'ô' | 'ö' | 'õ' => 'o',
            'ù' | 'ú' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            '_' => '-',
            other => other,
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("alias `{alias}`: {reason}")]
pub struct AliasError {
    pub alias: String,
    pub reason: String,
}

impl Vocabulary {
    pub fn builtin() -> Vocabulary {
        Vocabulary {
            aliases: BTreeMap::new(),
        }
    }

    /// The command a folded word names among the built-in words.
    fn builtin_command(folded: &str) -> Option<&'static str> {
        KEYWORDS
            .iter()
            .find(|(_, words)| words.contains(&folded))
            .map(|(command, _)| *command)
    }

    /// Adds `alias` for the command named by its English keyword.
    pub fn with_alias(mut self, alias: &str, command: &str) -> Result<Vocabulary, AliasError> {
        let error = |reason: String| AliasError {
            alias: alias.to_string(),
            reason,
        };
        let alias = fold(alias.trim().trim_start_matches('#'));
        if alias.is_empty() || !alias.chars().all(|c| c.is_alphanumeric() || c == '-') {
            return Err(error("must be one word".into()));
        }
        let target = KEYWORDS
            .iter()
            .find(|(keyword, _)| *keyword == fold(command))
            .map(|(keyword, _)| *keyword)
            .ok_or_else(|| {
                error(format!(
                    "`{command}` is not a command; known: {}",
                    keyword_list()
                ))
            })?;
        if let Some(existing) = self.command_of(&alias) {
            if existing != target {
                return Err(error(format!("already means #{existing}")));
            }
        }
        self.aliases.insert(alias, target);
        Ok(self)
    }

    fn command_of(&self, word: &str) -> Option<&'static str> {
        let folded = fold(word);
        Vocabulary::builtin_command(&folded).or_else(|| self.aliases.get(&folded).copied())
    }

    /// `text` with the secret word of every `#token` (in any spelling, on a line or in a subject's
    /// brackets) shown as `****`: for showing a mail to people (`guichet inspect`).
    pub fn mask_secrets(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find('#') {
            out.push_str(&rest[..at]);
            let candidate = &rest[at..];
            let end = candidate.find([']', '\r', '\n']).unwrap_or(candidate.len());
            match split_command_line(&candidate[..end]) {
                Some((word, argument))
                    if !argument.is_empty() && self.command_of(word) == Some("token") =>
                {
                    out.push('#');
                    out.push_str(word);
                    out.push(' ');
                    out.push_str(MASKED_SECRET);
                    rest = &candidate[end..];
                }
                _ => {
                    out.push('#');
                    rest = &candidate[1..];
                }
            }
        }
        out.push_str(rest);
        out
    }
}

/// What `mask_secrets` shows instead of a secret.
pub const MASKED_SECRET: &str = "****";

fn keyword_list() -> String {
    KEYWORDS
        .iter()
        .map(|(keyword, _)| *keyword)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A command line: `#`, a word starting with a letter, then the argument. Read by hand rather than
/// with a regex: `guichet ingest` runs once per mail, and compiling Unicode classes costs more than
/// reading the line.
fn split_command_line(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix('#')?.trim_start();
    let first = rest.chars().next()?;
    if !first.is_alphabetic() {
        return None;
    }
    let end = rest
        .char_indices()
        .find(|(_, c)| !(c.is_alphanumeric() || *c == '_' || *c == '-'))
        .map_or(rest.len(), |(i, _)| i);
    let (word, argument) = rest.split_at(end);
    // A word glued to punctuation ("#assign:bob") is not a command word.
    if !(argument.is_empty() || argument.starts_with(char::is_whitespace)) {
        return None;
    }
    Some((word, argument.trim()))
}

/// `[#assign alice]` groups in a subject.
fn subject_commands(subject: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = subject;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let Some(close) = after.find([']', '[']) else {
            break;
        };
        if after.as_bytes()[close] == b']' {
            let inner = after[..close].trim();
            if inner.starts_with('#') && inner.len() > 1 {
                found.push(inner);
            }
        }
        rest = &after[close..];
        if rest.starts_with(']') {
            rest = &rest[1..];
        }
    }
    found
}

/// Reads the commands at the top of `body` (blank lines may separate them; the first line of text
/// or quote ends them) and those in brackets in `subject`.
pub fn parse_commands(subject: &str, body: &str, vocabulary: &Vocabulary) -> ParsedCommands {
    let mut parsed = ParsedCommands::default();
    for command in subject_commands(subject) {
        read_line(command, vocabulary, &mut parsed);
    }
    let mut lines = body.lines().peekable();
    while let Some(line) = lines.peek() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            lines.next();
            continue;
        }
        if split_command_line(trimmed).is_none() {
            break;
        }
        read_line(trimmed, vocabulary, &mut parsed);
        lines.next();
    }
    parsed.text = lines.collect::<Vec<_>>().join("\n").trim().to_string();
    parsed
}

fn read_line(line: &str, vocabulary: &Vocabulary, parsed: &mut ParsedCommands) {
    let Some((word, argument)) = split_command_line(line) else {
        parsed.errors.push(CommandError {
            line: line.to_string(),
            reason: "not a command".into(),
            hint: "write # followed by a command word, e.g. #priority high; #help lists them"
                .into(),
        });
        return;
    };
    let Some(keyword) = vocabulary.command_of(word) else {
        parsed.errors.push(CommandError {
            line: line.to_string(),
            reason: format!("#{word} is not a command"),
            hint: format!("known commands: {}", keyword_list()),
        });
        return;
    };
    match interpret(keyword, argument) {
        Ok(command) => parsed.commands.push(CommandLine {
            line: line.to_string(),
            command,
        }),
        Err((reason, hint)) => parsed.errors.push(CommandError {
            line: line.to_string(),
            reason,
            hint,
        }),
    }
}

type Refusal = (String, String);

fn interpret(keyword: &str, argument: &str) -> Result<Command, Refusal> {
    let none = |command: Command| -> Result<Command, Refusal> {
        if argument.is_empty() {
            Ok(command)
        } else {
            Err((
                format!("#{keyword} takes no argument, got `{argument}`"),
                format!("write #{keyword} alone on its line"),
            ))
        }
    };
    let one_word = |what: &str, example: &str| -> Result<String, Refusal> {
        match argument.split_whitespace().collect::<Vec<_>>().as_slice() {
            [word] => Ok(word.to_string()),
            [] => Err((
                format!("#{keyword} needs {what}"),
                format!("e.g. #{keyword} {example}"),
            )),
            _ => Err((
                format!("#{keyword} takes only {what}, got `{argument}`"),
                format!("e.g. #{keyword} {example}"),
            )),
        }
    };
    let optional_text = || (!argument.is_empty()).then(|| argument.to_string());
    let address = |example: &str| -> Result<String, Refusal> {
        let word = one_word("an address", example)?;
        check_address(&word).map_err(|why| {
            (
                format!("`{word}` is not a mail address: {why}"),
                format!("e.g. #{keyword} {example}"),
            )
        })
    };
    match keyword {
        "assign" => {
            let who = one_word("a name", "bob (or #assign me)")?;
            Ok(Command::Assign(
                (fold(&who) != "me" && fold(&who) != "moi" && fold(&who) != "io").then_some(who),
            ))
        }
        "unassign" => none(Command::Unassign),
        "priority" => {
            let word = one_word("a priority", "high")?;
            PRIORITY_WORDS
                .iter()
                .find(|(w, _)| *w == fold(&word))
                .map(|(_, p)| Command::Priority(*p))
                .ok_or_else(|| {
                    (
                        format!("`{word}` is not a priority"),
                        "use low, normal, high or urgent".to_string(),
                    )
                })
        }
        "level" => {
            let word = one_word("a level", "2")?;
            word.trim_start_matches(['L', 'l'])
                .parse::<u8>()
                .ok()
                .and_then(Level::new)
                .map(Command::Level)
                .ok_or_else(|| {
                    (
                        format!("`{word}` is not a support level"),
                        "use 1, 2, 3 or 4".to_string(),
                    )
                })
        }
        "escalate" => Ok(Command::Escalate(optional_text())),
        "deescalate" => none(Command::Deescalate),
        "queue" => Ok(Command::Queue(one_word("a queue name", "hardware")?)),
        "status" => {
            let word = one_word("a status", "pending")?;
            STATUS_WORDS
                .iter()
                .find(|(w, _)| *w == fold(&word))
                .map(|(_, s)| Command::Status(*s))
                .ok_or_else(|| {
                    (
                        format!("`{word}` is not a status you can set"),
                        "use open, pending, waiting or resolved (or #close)".to_string(),
                    )
                })
        }
        "resolve" => Ok(Command::Resolve(optional_text())),
        "close" => none(Command::Close),
        "reopen" => none(Command::Reopen),
        "merge" => {
            let word = one_word("a ticket number", "1038")?;
            word.trim_start_matches('#')
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .map(|n| Command::Merge(TicketNumber(n)))
                .ok_or_else(|| {
                    (
                        format!("`{word}` is not a ticket number"),
                        "e.g. #merge 1038".to_string(),
                    )
                })
        }
        "cc" => Ok(Command::Cc(address("carol@example.com")?)),
        "uncc" => Ok(Command::Uncc(address("carol@example.com")?)),
        "tag" => Ok(Command::Tag(fold(&one_word("a word", "printer")?))),
        "untag" => Ok(Command::Untag(fold(&one_word("a word", "printer")?))),
        "field" => match argument.split_once('=') {
            Some((name, value))
                if !name.trim().is_empty() && !name.trim().contains(char::is_whitespace) =>
            {
                Ok(Command::Field {
                    name: name.trim().to_lowercase(),
                    value: value.trim().to_string(),
                })
            }
            _ => Err((
                format!("#field needs NAME=VALUE, got `{argument}`"),
                "e.g. #field location=Building B".to_string(),
            )),
        },
        "note" => match optional_text() {
            Some(text) => Ok(Command::Note(text)),
            // `#note` alone makes the rest of the mail the internal note.
            None => Ok(Command::Note(String::new())),
        },
        "help" => Ok(Command::Help),
        "attachments" => none(Command::Attachments),
        "token" => Ok(Command::Token(one_word("your secret word", "s3cret")?)),
        "away" => none(Command::Away),
        "back" => none(Command::Back),
        "release" => none(Command::Release),
        "solved" => match argument {
            "" => Ok(Command::Solved(None)),
            _ => Ok(Command::Solved(Some(article(
                &one_word("an article", "KB-12")?,
                keyword,
            )?))),
        },
        "answer" => Ok(Command::Answer(article(
            &one_word("an article", "KB-12")?,
            keyword,
        )?)),
        "reply" => Ok(Command::Reply(fold(&one_word(
            "the name of a saved reply",
            "password-reset",
        )?))),
        "kb" => {
            let (first, rest) = argument
                .split_once(char::is_whitespace)
                .unwrap_or((argument, ""));
            let internal = INTERNAL_WORDS.contains(&fold(first).as_str());
            let title = match internal {
                true => rest.trim(),
                false => argument,
            };
            Ok(Command::Kb {
                internal,
                title: (!title.is_empty()).then(|| title.to_string()),
            })
        }
        "publish" | "retire" => {
            let id = match argument {
                "" => None,
                _ => Some(article(&one_word("an article", "KB-12")?, keyword)?),
            };
            Ok(match keyword {
                "publish" => Command::Publish(id),
                _ => Command::Retire(id),
            })
        }
        other => unreachable!("keyword table and interpreter disagree on {other}"),
    }
}

fn article(word: &str, keyword: &str) -> Result<ArticleId, Refusal> {
    word.parse::<ArticleId>()
        .map_err(|reason| (reason, format!("e.g. #{keyword} KB-12")))
}

/// The cheat-sheet sent with notices and in answer to `#help` or a bad command.
pub const CHEAT_SHEET: &str = "\
Commands (one per line, at the top of your reply, or in the subject as [#priority high]):
  #assign NAME|me     #unassign          #priority low|normal|high|urgent
  #level 1-4          #escalate [why]    #deescalate        #queue NAME
  #status open|pending|waiting|resolved  #resolve [resolution]
  #close  #reopen     #merge NUMBER      #cc ADDRESS        #uncc ADDRESS
  #tag WORD  #untag WORD  #field NAME=VALUE  #note TEXT (internal)  #help
  #attachments: every file of the ticket mailed to you, even those too large for notices
  #away / #back: no automatic assignments to you meanwhile
  #release: a ticket held as spam is not spam (acknowledged and announced then)
Knowledge base:
  #answer KB-12: the article to the requester, below your own text (public articles only)
  #reply NAME: a saved reply to the requester, below your own text
  #kb [internal] [title]: on a resolved ticket (or with #resolve TEXT), draft an article
    from the question and the resolution, mailed to the knowledge editors
  #publish KB-12 / #retire KB-12 (editors and the drafter; on an article's mail, alone)
French and Italian work too: #assigner, #priorité, #fermer, #publier, #assegna, #priorità, #chiudi, #pubblica, …";

#[cfg(test)]
mod tests;
