use clap::Parser;

use guichet::cli::{execute, exit, Cli};

fn main() {
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
    if let Err(error) = execute(cli) {
        eprintln!("guichet: {error}");
        std::process::exit(error.exit_code());
    }
}
