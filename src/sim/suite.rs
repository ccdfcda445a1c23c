//! Seeded scenario generator for evaluation suites.
use super::scenario::Scenario;

/// `n` scenarios, deterministic for `seed`.
pub fn generate(_n: usize, _seed: u64) -> Vec<Scenario> {
    Vec::new()
}
