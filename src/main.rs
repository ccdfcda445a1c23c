//! The `sortwatch` command line. Errors print as one line and map to exit
//! codes by kind (see `ErrorKind::exit_code`).

use clap::{Parser, Subcommand};
use sortwatch::cmd::{calibrate, demo, eval, intrinsics, replay, run, simulate};
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
    /// Compute a camera's pose over the floor from tape-measured floor markers,
    /// or (with --checkerboard) its intrinsics from photos of a checkerboard.
    Calibrate(calibrate::Args),
    /// Score the detector on simulated scenarios against their truth.
    Eval(eval::Args),
    /// Render a scripted scene (or a seeded suite) with ground truth.
    Simulate(simulate::Args),
    /// Run the live service: every camera in the config, MQTT, the store.
    Run(run::Args),
    /// Check a service config and list every problem with its key.
    CheckConfig(run::CheckArgs),
    /// Record a QA verdict (confirmed / rejected) on a violation.
    Verdict(run::VerdictArgs),
    /// Hash a web user's password (read from standard input) for `[[web.users]]`.
    HashPassword,
    /// The whole service on embedded defaults: sample scenes and the real clip
    /// as live cameras, an embedded MQTT broker, a local store.
    Demo(demo::Args),
}

fn dispatch(command: &Command) -> sortwatch::error::Result<()> {
    match command {
        Command::Replay(args) => {
            let report = replay::run(args, std::io::stderr().is_terminal())?;
            eprintln!("replay: {}", report.describe());
        }
        Command::Calibrate(args) if args.checkerboard.is_some() => {
            let r = intrinsics::run(args)?;
            for (name, px, cm) in &r.used {
                let away = cm.map_or(String::new(), |d| format!(", board {d:.0} cm away"));
                eprintln!("photo {name}: {px:.2} px{away}");
            }
            for s in &r.skipped {
                eprintln!("skipped {s}");
            }
            let i = &r.intrinsics;
            eprintln!(
                "calibrate: {}x{} intrinsics fx {:.1} fy {:.1} cx {:.1} cy {:.1} from {} photos; reprojection RMS {:.3} px; wrote {}",
                r.image_size.0, r.image_size.1, i.fx, i.fy, i.cx, i.cy, r.used.len(), r.rms_px, args.out.display()
            );
            for w in &r.warnings {
                eprintln!("warning: {w}");
            }
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
        Command::Eval(args) => {
            let score = eval::run(args)?;
            for f in &score.failures {
                eprintln!("  {f}");
            }
            eprintln!("eval: {}", score.describe());
        }
        Command::Run(args) => run::run(args)?,
        Command::Demo(args) => demo::run(args)?,
        Command::HashPassword => println!("{}", run::hash_password()?),
        Command::Verdict(args) => {
            let v = run::verdict(args)?;
            eprintln!("verdict: {v}");
        }
        Command::CheckConfig(args) => {
            run::check(args)?;
            eprintln!("check-config: {} is good", args.config.display());
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
                // The embedded broker logs every client disconnect as an error.
                .unwrap_or_else(|_| "warn,rumqttd=off".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match dispatch(&cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.kind().exit_code() as u8)
        }
    }
}
