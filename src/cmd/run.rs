//! `sortwatch run --config FILE` and `sortwatch check-config FILE`.

use crate::config::service::{Problem, ServiceConfig};
use crate::error::{Error, Result};
use crate::service::Node;
use std::path::PathBuf;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The node's config (TOML; see docs/config.md).
    #[arg(long)]
    pub config: PathBuf,
    /// Stop once every camera's file has ended (for files that do not loop).
    #[arg(long)]
    pub exit_when_done: bool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct CheckArgs {
    /// The config file to check.
    pub config: PathBuf,
}

#[derive(Debug, Clone, clap::Args)]
pub struct VerdictArgs {
    /// The node's config (for its store and topics).
    #[arg(long)]
    pub config: PathBuf,
    /// The violation's id (from its MQTT message).
    pub id: String,
    /// `confirmed` or `rejected`.
    pub verdict: crate::store::Verdict,
    #[arg(long, default_value = "")]
    pub note: String,
    /// Who decided.
    #[arg(long)]
    pub user: String,
}

/// Records a QA verdict; a running node publishes it and updates compliance.
pub fn verdict(args: &VerdictArgs) -> Result<serde_json::Value> {
    let cfg = ServiceConfig::load(&args.config)?;
    let mut store = crate::store::Store::open(&cfg.resolve(&cfg.storage.data_dir))?;
    let topics = crate::mqtt::Topics::new(&cfg.mqtt.prefix, &cfg.site.name, &cfg.site.node);
    let now = crate::clock::unix_ms(std::time::SystemTime::now());
    crate::service::sink::record_verdict(
        &mut store,
        &topics,
        &args.id,
        args.verdict,
        &args.note,
        &args.user,
        now,
    )
}

/// Reads a password from standard input (one line; never from the command
/// line, where `ps` and shell history would keep it) and returns its hash.
pub fn hash_password() -> Result<String> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).map_err(|e| {
        Error::invalid(format!("cannot read the password from standard input: {e}"))
    })?;
    let password = line.trim_end_matches(['\r', '\n']);
    if password.chars().count() < 8 {
        return Err(Error::invalid(
            "the password is shorter than 8 characters: pipe a longer one, e.g. `read -rs P; echo \"$P\" | sortwatch hash-password`",
        ));
    }
    Ok(crate::web::hash_password(password))
}

pub fn run(args: &Args) -> Result<()> {
    let cfg = ServiceConfig::load_checked(&args.config)?;
    let node = Node::start(&cfg)?;
    eprintln!(
        "run: {} camera(s) of site {}; MQTT {} under {}/; data in {}",
        cfg.cameras.len(),
        cfg.site.name,
        node.broker,
        cfg.mqtt.prefix,
        cfg.resolve(&cfg.storage.data_dir).display()
    );
    if let Some(web) = node.web {
        eprintln!("run: web pages on http://{web}/");
    }
    node.wait(args.exit_when_done);
    Ok(())
}

/// Every problem in the file, each with its key; an error when there is one.
pub fn check(args: &CheckArgs) -> Result<Vec<Problem>> {
    let cfg = ServiceConfig::load(&args.config)?;
    let problems = cfg.check();
    if problems.is_empty() {
        return Ok(problems);
    }
    for p in &problems {
        eprintln!("{}: {p}", args.config.display());
    }
    Err(Error::config(format!(
        "config file {}: {} problem(s), listed above (see docs/config.md)",
        args.config.display(),
        problems.len()
    )))
}
