//! Figures derived from the store's counters: compliance rates per site, line,
//! zone and camera. Pure functions; the edges publish and serve them.

pub mod compliance;
