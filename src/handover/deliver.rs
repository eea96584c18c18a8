//! `guichet-deliver`, the command an MTA's pipe runs for each mail (README, "Delivering mail from
//! Postfix"): it hands the mail to the running daemon and, when there is none or it does not take
//! the mail, runs `guichet ingest` (the program installed beside it) on the same bytes, and ends
//! as that ends.
//!
//! It is a program of its own because a delivery's time is mostly its process start: `guichet`
//! links everything (the HTML parser's tables, the stemmers, the time zones, the web side) and the
//! loader relocates about 48,000 pointers of it at every start; this one links the hand-over and
//! the config's head alone (about 1,000), and runs at the floor's own pace (bench/README.md).

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::{hand_over, Answer, PIPE_SOURCE};
use crate::cli::exit;
use crate::config::{ConfigHead, DEFAULT_PATH};

fn usage() -> String {
    format!(
        "\
Usage: guichet-deliver [--config FILE] [--source NAME] < MAIL

Hands one mail to Guichet: to `guichet run` when it runs, else to `guichet ingest`.

Options:
  -c, --config FILE   the configuration file [env: GUICHET_CONFIG=] [default: {DEFAULT_PATH}]
      --source NAME   recorded as the mail's source [default: {PIPE_SOURCE}]
  -h, --help          print this help
  -V, --version       print the version
"
    )
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    Deliver {
        config: PathBuf,
        source: Option<String>,
    },
    Help,
    Version,
}

/// Reads the arguments after the program's name; `env_config` is `GUICHET_CONFIG`, which
/// `--config` overrides, as for `guichet`.
pub fn parse_args(
    args: impl IntoIterator<Item = OsString>,
    env_config: Option<OsString>,
) -> Result<Invocation, String> {
    let mut config = env_config.filter(|c| !c.is_empty()).map(PathBuf::from);
    let mut source = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy().into_owned();
        let (flag, inline) = match text.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag.to_string(), Some(value)),
            _ => (text.clone(), None),
        };
        let mut value = |name: &str| -> Result<OsString, String> {
            match inline {
                Some(value) => Ok(OsString::from(value)),
                None => args.next().ok_or_else(|| format!("{name} needs a value")),
            }
        };
        match flag.as_str() {
            "-c" | "--config" => config = Some(PathBuf::from(value("--config")?)),
            "--source" => {
                let name = value("--source")?.to_string_lossy().into_owned();
                source = Some(name);
            }
            "-h" | "--help" if inline.is_none() => return Ok(Invocation::Help),
            "-V" | "--version" if inline.is_none() => return Ok(Invocation::Version),
            _ => return Err(format!("unexpected argument `{text}`")),
        }
    }
    Ok(Invocation::Deliver {
        config: config.unwrap_or_else(|| PathBuf::from(DEFAULT_PATH)),
        source,
    })
}

/// The whole program; returns its exit status (sysexits, as `guichet ingest`'s).
pub fn main(args: impl IntoIterator<Item = OsString>, env_config: Option<OsString>) -> i32 {
    let (config, source) = match parse_args(args, env_config) {
        Ok(Invocation::Deliver { config, source }) => (config, source),
        Ok(Invocation::Help) => {
            print!("{}", usage());
            return exit::OK;
        }
        Ok(Invocation::Version) => {
            println!("guichet-deliver {}", env!("CARGO_PKG_VERSION"));
            return exit::OK;
        }
        Err(reason) => {
            eprint!("guichet-deliver: {reason}\n\n{}", usage());
            return exit::USAGE;
        }
    };
    let mut raw = Vec::new();
    if let Err(error) = std::io::stdin().lock().read_to_end(&mut raw) {
        eprintln!("guichet-deliver: reading stdin: {error}");
        return exit::TEMPFAIL;
    }
    // A file that cannot be read here cannot be by `guichet ingest` either: it says what is wrong
    // with it, in its words, and keeps the mail at the MTA.
    if let Ok(head) = ConfigHead::read(&config) {
        match hand_over(&head, source.as_deref().unwrap_or(PIPE_SOURCE), &raw) {
            Answer::Stored(_) => return exit::OK,
            Answer::TempFail(reason) => {
                eprintln!("guichet-deliver: {reason}");
                return exit::TEMPFAIL;
            }
            Answer::Direct(_) => {}
        }
    }
    ingest_beside(config, source, &raw)
}

/// Runs `guichet --config CONFIG ingest [--source SOURCE]`, the program beside this one, on `raw`,
/// and returns how it ended.
fn ingest_beside(config: PathBuf, source: Option<String>, raw: &[u8]) -> i32 {
    let program = match std::env::current_exe() {
        Ok(exe) => exe.with_file_name("guichet"),
        Err(error) => {
            eprintln!("guichet-deliver: where am I installed? {error}");
            return exit::TEMPFAIL;
        }
    };
    let mut command = Command::new(&program);
    command.arg("--config").arg(config).arg("ingest");
    if let Some(source) = source {
        command.arg("--source").arg(source);
    }
    let mut child = match command.stdin(Stdio::piped()).spawn() {
        Ok(child) => child,
        Err(error) => {
            eprintln!("guichet-deliver: cannot run {}: {error}", program.display());
            return exit::TEMPFAIL;
        }
    };
    // Dropping the pipe after the mail is its end of file.
    let sent = child.stdin.take().map(|mut stdin| stdin.write_all(raw));
    let status = match child.wait() {
        Ok(status) => status,
        Err(error) => {
            eprintln!(
                "guichet-deliver: waiting for {}: {error}",
                program.display()
            );
            return exit::TEMPFAIL;
        }
    };
    match (status.code(), sent) {
        // `guichet ingest` reads the whole mail before it stores anything: one that stopped
        // reading and still succeeded stored something else than this mail.
        (Some(exit::OK), Some(Err(error))) => {
            eprintln!(
                "guichet-deliver: {} did not read the whole mail: {error}",
                program.display()
            );
            exit::TEMPFAIL
        }
        (Some(code), _) => code,
        // Killed by a signal: the MTA keeps the mail and tries again.
        (None, _) => {
            eprintln!("guichet-deliver: {} ended by {status}", program.display());
            exit::TEMPFAIL
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    fn deliver(config: &str, source: Option<&str>) -> Invocation {
        Invocation::Deliver {
            config: PathBuf::from(config),
            source: source.map(str::to_string),
        }
    }

    #[test]
    fn the_config_comes_from_the_flag_then_the_environment_then_the_default() {
        assert_eq!(parse_args(args(&[]), None), Ok(deliver(DEFAULT_PATH, None)));
        assert_eq!(
            parse_args(args(&[]), Some("/env.toml".into())),
            Ok(deliver("/env.toml", None))
        );
        // An empty variable is no choice, as for `guichet`.
        assert_eq!(
            parse_args(args(&[]), Some("".into())),
            Ok(deliver(DEFAULT_PATH, None))
        );
        for flags in [
            &["--config", "/a.toml"][..],
            &["-c", "/a.toml"],
            &["--config=/a.toml"],
        ] {
            assert_eq!(
                parse_args(args(flags), Some("/env.toml".into())),
                Ok(deliver("/a.toml", None)),
                "{flags:?}"
            );
        }
        assert_eq!(
            parse_args(args(&["--source", "mx", "-c", "/a.toml"]), None),
            Ok(deliver("/a.toml", Some("mx")))
        );
        assert_eq!(
            parse_args(args(&["--source=a=b"]), None),
            Ok(deliver(DEFAULT_PATH, Some("a=b")))
        );
    }

    #[test]
    fn help_version_and_mistakes() {
        assert_eq!(parse_args(args(&["--help"]), None), Ok(Invocation::Help));
        assert_eq!(parse_args(args(&["-V"]), None), Ok(Invocation::Version));
        assert_eq!(
            parse_args(args(&["ingest"]), None),
            Err("unexpected argument `ingest`".into())
        );
        assert_eq!(
            parse_args(args(&["--config"]), None),
            Err("--config needs a value".into())
        );
        assert_eq!(
            parse_args(args(&["--help=x"]), None),
            Err("unexpected argument `--help=x`".into())
        );
    }
}
