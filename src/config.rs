//! Analysis settings, strictly validated: unknown keys are errors that name the
//! key. Every field has a default, so an empty file is a valid config.

use crate::error::{Error, Result};
use crate::motion::MotionConfig;
use crate::pose::plan::PlanConfig;
use crate::pose::MoveNetConfig;
use crate::track::{ObjectTrackerConfig, PersonTrackerConfig};
use serde::Deserialize;
use std::path::Path;

/// Per-camera analysis: `[motion]`, `[pose]`, `[regions]`, `[tracking.*]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalysisConfig {
    pub motion: MotionConfig,
    pub pose: MoveNetConfig,
    pub regions: PlanConfig,
    pub tracking: TrackingConfig,
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
            let line = e
                .span()
                .map(|s| {
                    format!(
                        "line {}: ",
                        text[..s.start.min(text.len())].lines().count().max(1)
                    )
                })
                .unwrap_or_default();
            Error::config(format!(
                "config file {}: {line}{} (see docs/config.md)",
                path.display(),
                e.message().trim()
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_is_all_defaults_and_unknown_keys_are_named() {
        let c: AnalysisConfig = toml::from_str("").unwrap();
        assert_eq!(c.motion.threshold, 18);
        let err = toml::from_str::<AnalysisConfig>("[motion]\nthreshhold = 3\n").unwrap_err();
        assert!(err.message().contains("threshhold"), "{}", err.message());
    }
}
