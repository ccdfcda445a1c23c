//! Clip retention: files past their age go first (confirmed violations'
//! clips are kept longer), then the oldest until the clips fit the disk
//! cap, unconfirmed before confirmed. The violation rows stay; their clip
//! rows are marked expired.

use crate::config::service::ClipsConfig;
use crate::error::{Error, Result};
use crate::store::{RetainedClip, Store};
use std::path::Path;

const DAY_MS: i64 = 86_400_000;

/// What a retention pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    pub expired: usize,
    pub kept: usize,
    pub kept_bytes: u64,
}

/// The violation ids whose clips go, at `now_ms`.
pub fn plan(clips: &[RetainedClip], cfg: &ClipsConfig, now_ms: i64) -> Vec<String> {
    let too_old = |c: &RetainedClip| {
        let days = if c.confirmed {
            cfg.confirmed_max_age_days
        } else {
            cfg.max_age_days
        };
        now_ms - c.clip.ready_ms > i64::from(days) * DAY_MS
    };
    let (mut out, mut keep): (Vec<&RetainedClip>, Vec<&RetainedClip>) =
        clips.iter().partition(|c| too_old(c));
    let cap = cfg.max_disk_mb.saturating_mul(1_000_000);
    let mut total: u64 = keep.iter().map(|c| c.clip.bytes).sum();
    keep.sort_by_key(|c| (c.confirmed, c.clip.ready_ms));
    for c in keep {
        if total <= cap {
            break;
        }
        total -= c.clip.bytes;
        out.push(c);
    }
    out.into_iter()
        .map(|c| c.clip.violation_id.clone())
        .collect()
}

/// Deletes the files of the clips [`plan`] picks and marks them expired.
pub fn prune(store: &mut Store, data_dir: &Path, cfg: &ClipsConfig, now_ms: i64) -> Result<Pruned> {
    let clips = store.clips_for_retention()?;
    let gone = plan(&clips, cfg, now_ms);
    for c in clips.iter().filter(|c| gone.contains(&c.clip.violation_id)) {
        for rel in [&c.clip.video, &c.clip.snapshot] {
            let p = data_dir.join(rel);
            match std::fs::remove_file(&p) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(Error::io(&p, "cannot delete an expired clip file", e));
                }
                _ => {}
            }
        }
        store.expire_clip(&c.clip.violation_id, now_ms)?;
    }
    let kept: Vec<&RetainedClip> = clips
        .iter()
        .filter(|c| !gone.contains(&c.clip.violation_id))
        .collect();
    Ok(Pruned {
        expired: gone.len(),
        kept: kept.len(),
        kept_bytes: kept.iter().map(|c| c.clip.bytes).sum(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ClipRow, Verdict, ViolationRow};

    const NOW: i64 = 1_800_000_000_000;

    /// A violation with a clip of `mb` MB written `days` ago, files included.
    fn clip(store: &mut Store, dir: &Path, id: &str, days: i64, mb: u64) {
        store
            .record_violation(
                &ViolationRow {
                    id: id.into(),
                    camera: "cam".into(),
                    zone: None,
                    kind: "kick".into(),
                    at_ms: NOW - days * DAY_MS,
                    payload: "{}".into(),
                },
                &[],
            )
            .unwrap();
        let (video, snapshot) = crate::clips::relative_paths("cam", id);
        std::fs::create_dir_all(dir.join("clips/cam")).unwrap();
        std::fs::write(dir.join(&video), vec![0u8; (mb * 1_000_000) as usize]).unwrap();
        std::fs::write(dir.join(&snapshot), b"jpg").unwrap();
        store
            .record_clip(
                &ClipRow {
                    violation_id: id.into(),
                    video,
                    snapshot,
                    bytes: mb * 1_000_000,
                    duration_s: 8.0,
                    ready_ms: NOW - days * DAY_MS,
                    expired_ms: None,
                },
                &[],
            )
            .unwrap();
    }

    fn exists(dir: &Path, id: &str) -> bool {
        dir.join(format!("clips/cam/{id}.mp4")).exists()
    }

    #[test]
    fn retention_deletes_clips_past_their_age_then_the_oldest_over_the_disk_cap() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path();
        let mut store = Store::open(dir).unwrap();
        let cfg = ClipsConfig {
            max_age_days: 30,
            confirmed_max_age_days: 365,
            max_disk_mb: 3,
            ..ClipsConfig::default()
        };
        clip(&mut store, dir, "old", 31, 1); // past 30 days
        clip(&mut store, dir, "old-confirmed", 100, 1); // kept: confirmed, under 365
        clip(&mut store, dir, "a", 5, 1);
        clip(&mut store, dir, "b", 4, 1);
        clip(&mut store, dir, "c", 3, 1);
        store
            .set_verdict("old-confirmed", Verdict::Confirmed, "", "qa", NOW, &[])
            .unwrap();
        let n = prune(&mut store, dir, &cfg, NOW).unwrap();
        // 4 MB left after the age pass, cap 3: the oldest unconfirmed ("a")
        // goes, the older but confirmed one stays.
        assert_eq!(
            n,
            Pruned {
                expired: 2,
                kept: 3,
                kept_bytes: 3_000_000
            }
        );
        for (id, kept) in [
            ("old", false),
            ("old-confirmed", true),
            ("a", false),
            ("b", true),
            ("c", true),
        ] {
            assert_eq!(exists(dir, id), kept, "{id}");
        }
        let rows = store.violations(0, i64::MAX, 10).unwrap();
        assert_eq!(rows.len(), 5, "violations stay");
        let expired: Vec<&str> = rows
            .iter()
            .filter(|v| v.clip.as_ref().is_some_and(|c| c.expired_ms == Some(NOW)))
            .map(|v| v.row.id.as_str())
            .collect();
        assert_eq!(expired, ["a", "old"]);
        assert!(!dir.join("clips/cam/a.jpg").exists());

        // Confirmed clips past their own age go too; a second pass is idempotent.
        let later = NOW + 300 * DAY_MS;
        let n = prune(&mut store, dir, &cfg, later).unwrap();
        assert_eq!(n.expired, 3);
        assert!(!exists(dir, "old-confirmed"));
        assert_eq!(prune(&mut store, dir, &cfg, later).unwrap().expired, 0);
    }
}
