//! The `sortwatch` command line. Errors print as one line and map to exit
//! codes by kind (see `ErrorKind::exit_code`).

use clap::{Parser, Subcommand};
use sortwatch::cmd::{calibrate, replay, simulate};
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
    Replay(replay::Args),
    /// Compute a camera's pose over the floor from tape-measured floor markers.
    Calibrate(calibrate::Args),
    /// Render a scripted scene (or a seeded suite) with ground truth.
    Simulate(simulate::Args),
}

fn run(command: &Command) -> sortwatch::error::Result<()> {
    match command {
        Command::Replay(args) => {
            let report = replay::run(args, std::io::stderr().is_terminal())?;
            eprintln!("replay: {}", report.describe());
        }
        Command::Calibrate(args) => {
            let r = calibrate::run(args)?;
            for (i, px) in r.residuals_px.iter().enumerate() {
                eprintln!("marker {:>2}: {px:.2} px", i + 1);
            }
            let c = r.calibration.camera_center();
            eprintln!(
                "calibrate: {} at ({:.0}, {:.0}) cm, {:.0} cm above the floor; reprojection RMS {:.2} px; wrote {}",
                r.calibration.camera,
                c[0],
                c[1],
                c[2],
                r.rms_px,
                args.out.display()
            );
            for w in &r.warnings {
                eprintln!("warning: {w}");
            }
        }
        Command::Simulate(args) => {
            let r = simulate::run(args)?;
            for (dir, frames, secs) in &r.rendered {
                eprintln!(
                    "simulate: {} frames to {} ({:.1} ms/frame rendering)",
                    frames,
                    dir.display(),
                    secs * 1000.0 / (*frames).max(1) as f64
                );
            }
        }
    }
    Ok(())
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
    match run(&cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.kind().exit_code() as u8)
        }
    }
}
