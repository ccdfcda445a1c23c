//! The `sortwatch` command line. Errors print as one line and map to exit
//! codes by kind (see `ErrorKind::exit_code`).

use clap::{Parser, Subcommand};
use std::io::IsTerminal;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "sortwatch",
    version,
    about = "Catches thrown, dropped and kicked parcels on sorting-floor cameras"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a video through the detector and write events (JSON lines).
    Replay(sortwatch::cmd::replay::Args),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SORTWATCH_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Replay(args) => {
            sortwatch::cmd::replay::run(&args, std::io::stderr().is_terminal()).map(|r| {
                eprintln!("replay: {}", r.describe());
            })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.kind().exit_code() as u8)
        }
    }
}
