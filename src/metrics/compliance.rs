//! Compliance (规范操作率) from handled/violation counts, rolled up from cameras
//! to zones, lines and the site. Rates are always recomputed from summed counts,
//! never averaged: a quiet camera must not weigh as much as a busy one.

use crate::store::CountRow;
use std::collections::BTreeMap;

/// Handled parcels, violations by kind and the compliance rate over a window.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Compliance {
    pub handled: u64,
    /// `throws + kicks` (rejected violations are already left out of the counts).
    pub violations: u64,
    pub throws: u64,
    pub kicks: u64,
    /// `(handled - min(violations, handled)) / handled`, in 0..=1; `None` when nothing was handled.
    pub rate: Option<f64>,
}

impl Compliance {
    pub fn from_counts(handled: u64, throws: u64, kicks: u64) -> Compliance {
        let violations = throws + kicks;
        // A violation can be seen on a parcel whose handling was missed (or counted
        // in another minute/window): cap so the rate stays within 0..=1.
        let rate =
            (handled > 0).then(|| (handled - violations.min(handled)) as f64 / handled as f64);
        Compliance {
            handled,
            violations,
            throws,
            kicks,
            rate,
        }
    }

    /// The sum of two figures, rate recomputed from the summed counts.
    pub fn add(&self, other: &Compliance) -> Compliance {
        Compliance::from_counts(
            self.handled + other.handled,
            self.throws + other.throws,
            self.kicks + other.kicks,
        )
    }

    /// Sums any number of figures (e.g. every node's per-camera figures for a hub).
    pub fn sum<'a>(items: impl IntoIterator<Item = &'a Compliance>) -> Compliance {
        items
            .into_iter()
            .fold(Compliance::default(), |acc, c| acc.add(c))
    }
}

/// Compliance at every level for one window.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct ComplianceReport {
    pub site: Compliance,
    /// By line name; cameras missing from the line map count only for the site and themselves.
    pub lines: BTreeMap<String, Compliance>,
    /// By zone name; rows without a zone count only for the site, line and camera.
    pub zones: BTreeMap<String, Compliance>,
    pub cameras: BTreeMap<String, Compliance>,
}

/// Rolls `rows` up to site, line, zone and camera, given each camera's line.
/// Cameras in `camera_line` with no rows appear with zero counts (rate `None`),
/// so a display shows them rather than dropping them.
pub fn aggregate(rows: &[CountRow], camera_line: &BTreeMap<String, String>) -> ComplianceReport {
    let mut r = ComplianceReport::default();
    for (camera, line) in camera_line {
        r.cameras.entry(camera.clone()).or_default();
        r.lines.entry(line.clone()).or_default();
    }
    for row in rows {
        let c = Compliance::from_counts(row.handled, row.throws, row.kicks);
        let bump = |map: &mut BTreeMap<String, Compliance>, key: &str| {
            let e = map.entry(key.to_string()).or_default();
            *e = e.add(&c);
        };
        bump(&mut r.cameras, &row.camera);
        if let Some(line) = camera_line.get(&row.camera) {
            bump(&mut r.lines, line);
        }
        if let Some(zone) = &row.zone {
            bump(&mut r.zones, zone);
        }
        r.site = r.site.add(&c);
    }
    r
}

/// Every level's figures in `[from_ms, to_ms)` straight from the store, for
/// `cameras` (id → line): cameras with nothing yet appear with zero counts.
pub fn report(
    store: &crate::store::Store,
    cameras: &BTreeMap<String, Option<String>>,
    from_ms: i64,
    to_ms: i64,
) -> crate::error::Result<ComplianceReport> {
    let lines: BTreeMap<String, String> = cameras
        .iter()
        .filter_map(|(c, l)| Some((c.clone(), l.clone()?)))
        .collect();
    let mut r = aggregate(&store.counts(from_ms, to_ms)?, &lines);
    for c in cameras.keys() {
        r.cameras.entry(c.clone()).or_default();
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(camera: &str, zone: Option<&str>, handled: u64, throws: u64, kicks: u64) -> CountRow {
        CountRow {
            camera: camera.into(),
            zone: zone.map(Into::into),
            handled,
            throws,
            kicks,
        }
    }

    #[test]
    fn compliance_rate_is_share_of_handled_without_violation() {
        let c = Compliance::from_counts(200, 3, 1);
        assert_eq!(c.violations, 4);
        assert_eq!(c.rate, Some(0.98));
    }

    #[test]
    fn compliance_rate_is_none_when_nothing_handled() {
        assert_eq!(Compliance::from_counts(0, 2, 0).rate, None);
        assert_eq!(Compliance::default().rate, None);
    }

    #[test]
    fn compliance_violations_beyond_handled_floor_rate_at_zero() {
        let c = Compliance::from_counts(2, 3, 1);
        assert_eq!(c.violations, 4);
        assert_eq!(c.rate, Some(0.0));
    }

    #[test]
    fn compliance_site_rate_comes_from_summed_counts_not_averaged_rates() {
        // A busy camera at 99 % and a quiet one at 0 %: the mean of rates would be 49.5 %.
        let rows = [row("cam1", None, 1000, 10, 0), row("cam2", None, 10, 0, 10)];
        let r = aggregate(&rows, &BTreeMap::new());
        assert_eq!(r.site.handled, 1010);
        assert_eq!(r.site.violations, 20);
        assert_eq!(r.site.rate, Some(990.0 / 1010.0));
        let hub = Compliance::sum(r.cameras.values());
        assert_eq!(hub, r.site);
    }

    #[test]
    fn compliance_rolls_up_cameras_to_zones_and_lines() {
        let lines: BTreeMap<String, String> = [
            ("cam1".to_string(), "L1".to_string()),
            ("cam2".to_string(), "L1".to_string()),
            ("cam3".to_string(), "L2".to_string()),
            ("cam4".to_string(), "L2".to_string()),
        ]
        .into();
        let rows = [
            row("cam1", Some("unload"), 100, 1, 0),
            row("cam1", Some("sort"), 50, 0, 1),
            row("cam2", Some("sort"), 50, 0, 0),
            row("cam3", None, 10, 1, 0),
            row("cam9", None, 5, 0, 0), // not in the map: site and camera only
        ];
        let r = aggregate(&rows, &lines);
        assert_eq!(r.cameras["cam1"], Compliance::from_counts(150, 1, 1));
        assert_eq!(r.zones["sort"], Compliance::from_counts(100, 0, 1));
        assert_eq!(r.zones["unload"], Compliance::from_counts(100, 1, 0));
        assert_eq!(r.lines["L1"], Compliance::from_counts(200, 1, 1));
        assert_eq!(r.lines["L2"], Compliance::from_counts(10, 1, 0));
        assert_eq!(r.cameras["cam4"], Compliance::default()); // configured, idle
        assert_eq!(r.cameras["cam9"].handled, 5);
        assert_eq!(r.site, Compliance::from_counts(215, 2, 1));
    }

    #[test]
    fn compliance_serializes_with_documented_field_names() {
        let v = serde_json::to_value(Compliance::from_counts(4, 1, 0)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"handled":4,"violations":1,"throws":1,"kicks":0,"rate":0.75})
        );
        let v = serde_json::to_value(Compliance::default()).unwrap();
        assert_eq!(v["rate"], serde_json::Value::Null);
    }
}
