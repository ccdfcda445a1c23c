//! `sortwatch simulate`: renders a scenario (or a seeded suite of them) to
//! video, calibration and ground truth (docs/simulator.md).

use crate::error::{Error, Result};
use crate::sim::{self, Scenario};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Scenario file to render.
    #[arg(long, conflicts_with = "suite", required_unless_present = "suite")]
    pub scenario: Option<PathBuf>,
    /// Generate and render this many seeded scenarios instead.
    #[arg(long)]
    pub suite: Option<usize>,
    /// Seed for --suite.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Render only every Nth scenario of the suite (the 10th, 20th, … for
    /// 10): a slice of a measured suite, scenario for scenario.
    #[arg(long, default_value_t = 1, requires = "suite")]
    pub every: usize,
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
}

/// What was rendered: (directory, frames, render seconds) per scenario.
pub struct Report {
    pub rendered: Vec<(PathBuf, usize, f64)>,
}

pub fn run(args: &Args) -> Result<Report> {
    // x264 reports its settings on stderr at the default level; errors still show.
    ffmpeg_next::util::log::set_level(ffmpeg_next::util::log::Level::Error);
    let mut rendered = Vec::new();
    if let Some(path) = &args.scenario {
        let s = Scenario::load(path)?;
        let r = sim::render(&s, &args.out)?;
        rendered.push((args.out.clone(), r.frames, r.render_s));
    } else if let Some(n) = args.suite {
        if n == 0 {
            return Err(Error::config("--suite must be at least 1"));
        }
        if args.every == 0 {
            return Err(Error::config("--every must be at least 1"));
        }
        let suite = sim::suite::generate(n, args.seed);
        for (i, s) in suite.iter().enumerate() {
            if (i + 1) % args.every != 0 {
                continue;
            }
            let dir = args.out.join(format!("{:04}-{}", i + 1, s.name));
            std::fs::create_dir_all(&dir)
                .map_err(|e| Error::io(&dir, "cannot create directory", e))?;
            let p = dir.join("scenario.toml");
            std::fs::write(&p, s.to_toml()).map_err(|e| Error::io(&p, "cannot write", e))?;
            let r = sim::render(s, &dir)?;
            rendered.push((dir, r.frames, r.render_s));
        }
    }
    Ok(Report { rendered })
}
