use std::panic::{catch_unwind, AssertUnwindSafe};

use clap::Parser;

use guichet::cli::{execute, exit, Cli, Command};

fn main() {
    guichet::adapters::state_dir::restrict_new_files();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let code = if error.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = error.print();
            std::process::exit(code);
        }
    };
    // Mail handed to us must never bounce because of our own fault: a panic in `ingest` is a
    // temporary failure, so the MTA keeps the mail and tries again.
    let on_panic = match cli.command {
        Command::Ingest { .. } => exit::TEMPFAIL,
        _ => exit::SOFTWARE,
    };
    if cli.command.only_prints() {
        quiet_broken_pipe();
    }
    match catch_unwind(AssertUnwindSafe(|| execute(cli))) {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            eprintln!("guichet: {error}");
            std::process::exit(error.exit_code());
        }
        Err(panic) => {
            eprintln!(
                "guichet: internal error: {}",
                guichet::panic_message(&*panic)
            );
            std::process::exit(on_panic);
        }
    }
}

/// Commands that only print stop silently when their reader goes away (`guichet status | head`),
/// as git and other Unix tools do: the default SIGPIPE action ends the process. Rust ignores
/// SIGPIPE by default, which turns the closed pipe into a panic in `println!`.
fn quiet_broken_pipe() {
    // SAFETY: restoring a signal's default disposition has no preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
