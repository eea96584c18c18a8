//! The MTA pipe's command: `guichet::handover::deliver`.

use std::panic::{catch_unwind, AssertUnwindSafe};

fn main() {
    let args = std::env::args_os().skip(1);
    let config = std::env::var_os("GUICHET_CONFIG");
    // Mail handed to us must never bounce because of our own fault: a panic is a temporary
    // failure, so the MTA keeps the mail and tries again.
    let code = catch_unwind(AssertUnwindSafe(|| {
        guichet::handover::deliver::main(args, config)
    }))
    .unwrap_or(guichet::cli::exit::TEMPFAIL);
    std::process::exit(code);
}
