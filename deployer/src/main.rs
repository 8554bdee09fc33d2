//! The `deployer` binary: parses the command line, runs the verb, and turns the outcome into an
//! exit code: 0 ok or in sync, 1 error, 2 drift (`diff` only), 130 interrupted (143 on SIGTERM).

use std::process::ExitCode;

use clap::Parser;
use deployer::cli::{self, Cli};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // A usage error is an error (1), never the drift code (2) clap would use.
            return if e.use_stderr() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(code) => code,
        Err(e) if deployer::interrupt::requested() => {
            eprintln!(
                "interrupted: {e:#}\nRun the same command again to finish: it carries on from \
                 what exists."
            );
            ExitCode::from(deployer::interrupt::exit_code())
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
