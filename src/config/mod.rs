//! Analysis settings, strictly validated: unknown keys are errors that name the
//! key. Every field has a default, so an empty file is a valid config.

pub mod service;

pub use service::ServiceConfig;

use crate::error::{Error, Result};
use crate::motion::MotionConfig;
use crate::pose::plan::PlanConfig;
use crate::pose::schedule::ScheduleConfig;
use crate::pose::MoveNetConfig;
use crate::rules::RulesConfig;
use crate::track::{ObjectTrackerConfig, PersonTrackerConfig};
use serde::Deserialize;
use std::path::Path;

/// Per-camera analysis: `[motion]`, `[pose]`, `[regions]`, `[schedule]`, `[tracking.*]`, `[rules]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalysisConfig {
    pub motion: MotionConfig,
    pub pose: MoveNetConfig,
    pub regions: PlanConfig,
    pub schedule: ScheduleConfig,
    pub tracking: TrackingConfig,
    pub rules: RulesConfig,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrackingConfig {
    pub people: PersonTrackerConfig,
    pub objects: ObjectTrackerConfig,
}

impl AnalysisConfig {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(path, "cannot read config file", e))?;
        toml::from_str(&text).map_err(|e| {
            Error::config(format!(
                "config file {}: {} (see docs/config.md)",
                path.display(),
                toml_error(&text, &e)
            ))
        })
    }
}

/// One line out of a TOML error: the line number and key where it points, then
/// the message (toml's own Display is a multi-line snippet).
pub fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let msg = e.message().trim();
    let Some(span) = e.span() else {
        return msg.to_string();
    };
    let start = span.start.min(text.len());
    // Count newlines: `lines()` misses the line a key at column 0 starts.
    let line_no = text[..start].matches('\n').count() + 1;
    let line = text.lines().nth(line_no - 1).unwrap_or("");
    match line.split_once('=') {
        Some((key, _)) if !msg.contains('`') => {
            format!("line {line_no}, key `{}`: {msg}", key.trim())
        }
        _ => format!("line {line_no}: {msg}"),
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_documented_config_is_valid() {
        let doc = include_str!("../../docs/config.md");
        let start = doc
            .find("```toml")
            .expect("docs/config.md has a TOML block")
            + 7;
        let end = start + doc[start..].find("```").expect("closed block");
        let cfg: AnalysisConfig = toml::from_str(&doc[start..end]).unwrap();
        assert_eq!(cfg.rules.zones.len(), 1);
        assert_eq!(cfg.rules.max_drop_cm, 50.0);
    }

    use super::*;

    #[test]
    fn empty_config_is_all_defaults_and_unknown_keys_are_named() {
        let c: AnalysisConfig = toml::from_str("").unwrap();
        assert_eq!(c.motion.threshold, 18);
        let err = toml::from_str::<AnalysisConfig>("[motion]\nthreshhold = 3\n").unwrap_err();
        assert!(err.message().contains("threshhold"), "{}", err.message());
    }
}
