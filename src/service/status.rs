//! Keeps the retained state topics current: today's compliance (recomputed
//! from the store within moments of any change, and at local midnight) and
//! each camera's health.

use super::camera::SharedHealth;
use super::live::Live;
use super::sink::rfc3339;
use crate::clock::{unix_ms, SiteClock};
use crate::metrics::compliance::{report, Compliance, ComplianceReport};
use crate::mqtt::{Publisher, Topics, SCHEMA};
use crate::store::Store;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc::UnboundedReceiver;

/// Changes arriving within this window are published together.
const DEBOUNCE: Duration = Duration::from_millis(100);
/// Compliance is recomputed at least this often (the day rolls over on it).
const REFRESH: Duration = Duration::from_secs(5);
const HEALTH_EVERY: Duration = Duration::from_secs(5);

pub struct StatusTask {
    pub site: String,
    pub clock: SiteClock,
    pub store: Store,
    pub topics: Topics,
    pub publisher: Publisher,
    /// Every camera with its line (if any).
    pub cameras: BTreeMap<String, Option<String>>,
    pub health: Vec<(String, SharedHealth)>,
    /// The web pages' copy of today's figures.
    pub live: Live,
}

impl StatusTask {
    pub async fn run(mut self, mut changed: UnboundedReceiver<()>) {
        let mut health_tick = tokio::time::interval(HEALTH_EVERY);
        loop {
            self.publish_compliance(unix_ms(SystemTime::now()));
            tokio::select! {
                got = changed.recv() => {
                    if got.is_none() {
                        return;
                    }
                    tokio::time::sleep(DEBOUNCE).await;
                    while changed.try_recv().is_ok() {}
                }
                _ = tokio::time::sleep(REFRESH) => {}
                _ = health_tick.tick() => self.publish_health(),
            }
        }
    }

    /// Today's figures (and the current shift's) on every compliance topic.
    pub fn publish_compliance(&mut self, at_ms: i64) {
        let day = self.clock.day(at_ms);
        let report = |from: i64, to: i64| -> Option<ComplianceReport> {
            match report(&self.store, &self.cameras, from, to) {
                Ok(r) => Some(r),
                Err(e) => {
                    tracing::warn!("compliance: cannot read counts: {e}");
                    None
                }
            }
        };
        let Some(today) = report(day.start_ms, day.end_ms) else {
            return;
        };
        let shift = self
            .clock
            .shift(at_ms)
            .and_then(|s| Some((report(s.start_ms, s.end_ms)?, s.name)));
        let base = json!({
            "schema": SCHEMA,
            "site": self.site,
            "date": day.date,
            "timezone": self.clock.timezone(),
            "day_start": rfc3339(day.start_ms),
            "day_end": rfc3339(day.end_ms),
        });
        let shift_of = |pick: &dyn Fn(&ComplianceReport) -> Option<Compliance>| {
            shift.as_ref().and_then(|(r, name)| {
                let mut v = serde_json::to_value(pick(r)?).ok()?;
                v["name"] = json!(name);
                Some(v)
            })
        };
        let mut out: Vec<(String, serde_json::Value)> = Vec::new();
        let mut item =
            |topic: String, scope: &str, keys: &[(&str, serde_json::Value)], c: &Compliance, s| {
                let mut v = base.clone();
                v["scope"] = json!(scope);
                for (k, x) in keys {
                    v[*k] = x.clone();
                }
                if let Ok(serde_json::Value::Object(m)) = serde_json::to_value(c) {
                    for (k, x) in m {
                        v[k] = x;
                    }
                }
                v["shift"] = s;
                out.push((topic, v));
            };
        item(
            self.topics.compliance_site(),
            "site",
            &[],
            &today.site,
            json!(shift_of(&|r| Some(r.site))),
        );
        for (l, c) in &today.lines {
            item(
                self.topics.compliance_line(l),
                "line",
                &[("line", json!(l))],
                c,
                json!(shift_of(&|r| r.lines.get(l).copied())),
            );
        }
        for (z, c) in &today.zones {
            item(
                self.topics.compliance_zone(z),
                "zone",
                &[("zone", json!(z))],
                c,
                json!(shift_of(&|r| r.zones.get(z).copied())),
            );
        }
        for (cam, c) in &today.cameras {
            let line = self.cameras.get(cam).cloned().flatten();
            item(
                self.topics.compliance_camera(cam),
                "camera",
                &[("camera", json!(cam)), ("line", json!(line))],
                c,
                json!(shift_of(&|r| r.cameras.get(cam).copied())),
            );
        }
        for (topic, v) in out {
            self.publisher.retain(topic, v.to_string().into_bytes());
        }
        let mut web = base;
        web["today"] = json!(today);
        web["shift"] = json!(shift_of(&|r| Some(r.site)));
        self.live.set_compliance(web);
    }

    pub fn publish_health(&self) {
        for (cam, h) in &self.health {
            let h = h.lock().expect("health lock").clone();
            let mut v = serde_json::to_value(&h).unwrap_or_default();
            v["schema"] = json!(SCHEMA);
            v["camera"] = json!(cam);
            v["fps"] = json!((h.fps * 10.0).round() / 10.0);
            v["last_frame"] = json!(h.last_frame_ms.map(rfc3339));
            self.publisher
                .retain(self.topics.health(cam), v.to_string().into_bytes());
        }
    }
}
