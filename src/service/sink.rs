//! Where a camera's events go: committed to the store first (a violation
//! together with its outbox message), then the publisher and the compliance
//! task are woken. A failed write (a full disk) keeps the event in memory and
//! retries, so nothing is lost while the process lives.

use super::live::Live;
use crate::clock::unix_ms;
use crate::events::Counts;
use crate::mqtt::{Publisher, Topics, SCHEMA};
use crate::rules::{Event, Violation};
use crate::store::{OutMsg, Store, Verdict, ViolationRow};
use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::mpsc::UnboundedSender;

/// A violation payload's static part: where it happened.
#[derive(Clone, Debug)]
pub struct Place {
    pub site: String,
    pub camera: String,
    pub line: Option<String>,
    /// Clips are recorded: the payload names the clip's web paths.
    pub clips: bool,
}

enum Pending {
    Handling { zone: Option<String>, at_ms: i64 },
    Violation(ViolationRow, OutMsg),
}

pub struct EventSink {
    place: Place,
    store: Store,
    topics: Topics,
    publisher: Publisher,
    changed: UnboundedSender<()>,
    live: Live,
    pending: VecDeque<Pending>,
    retry_at: Option<Instant>,
    /// The last write failed (said once, not per retry).
    failing: bool,
    pub counts: Counts,
}

/// RFC 3339 in UTC with milliseconds.
pub fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| format!("{t:.3}"))
        .unwrap_or_default()
}

fn corners(b: &crate::bbox::BBox) -> [f32; 4] {
    [b.x0, b.y0, b.x1, b.y1]
}

/// A violation's stable id: the camera, the wall-clock ms it started and the
/// parcel track.
pub fn violation_id(camera: &str, start_ms: i64, parcel_id: u64) -> String {
    format!("{camera}-{start_ms}-{parcel_id}")
}

/// Wall-clock ms of media time `media_s`, given that media time `t_s` was
/// captured at `wall_ms`.
pub fn wall_ms_at(wall_ms: i64, t_s: f64, media_s: f64) -> i64 {
    wall_ms - ((t_s - media_s) * 1000.0).round() as i64
}

/// The violation message (docs/mqtt.md).
pub fn violation_payload(
    place: &Place,
    v: &Violation,
    start_ms: i64,
    end_ms: i64,
) -> serde_json::Value {
    let id = violation_id(&place.camera, start_ms, v.parcel_id);
    let clip = place.clips.then(|| {
        let (video, snapshot) = crate::clips::web_paths(&place.camera, &id);
        serde_json::json!({"video": video, "snapshot": snapshot})
    });
    serde_json::json!({
        "schema": SCHEMA,
        "id": id,
        "site": place.site,
        "camera": place.camera,
        "line": place.line,
        "zone": v.zone,
        "kind": v.kind,
        "t_start": rfc3339(start_ms),
        "t_end": rfc3339(end_ms),
        "drop_height_cm": v.drop_height_cm,
        "throw_distance_cm": v.throw_distance_cm,
        "kick_distance_cm": v.kick_distance_cm,
        "limit_drop_cm": v.limit_drop_cm,
        "limit_throw_cm": v.limit_throw_cm,
        "confidence": v.confidence,
        "person_id": v.person_id,
        "parcel_id": v.parcel_id,
        "person_box": corners(&v.person_box),
        "parcel_box_start": corners(&v.parcel_box_start),
        "parcel_box_end": corners(&v.parcel_box_end),
        "clip": clip,
    })
}

impl EventSink {
    pub fn new(
        place: Place,
        store: Store,
        topics: Topics,
        publisher: Publisher,
        changed: UnboundedSender<()>,
        live: Live,
    ) -> EventSink {
        EventSink {
            place,
            store,
            topics,
            publisher,
            changed,
            live,
            pending: VecDeque::new(),
            retry_at: None,
            failing: false,
            counts: Counts::default(),
        }
    }

    /// Takes the events decided at media time `t_s`, whose frame was captured
    /// at `wall`.
    pub fn handle(&mut self, events: &[Event], t_s: f64, wall: SystemTime) {
        if events.is_empty() {
            return;
        }
        let wall_ms = unix_ms(wall);
        let at = |media_s: f64| wall_ms_at(wall_ms, t_s, media_s);
        for e in events {
            self.counts.add(e);
            self.pending.push_back(match e {
                Event::Handling(h) => Pending::Handling {
                    zone: h.zone.clone(),
                    at_ms: at(h.t_s),
                },
                Event::Violation(v) => {
                    let (start, end) = (at(v.t_start_s), at(v.t_end_s));
                    let payload = violation_payload(&self.place, v, start, end);
                    let id = payload["id"].as_str().unwrap_or_default().to_string();
                    tracing::info!("camera {}: violation {id}", self.place.camera);
                    let body = payload.to_string();
                    Pending::Violation(
                        ViolationRow {
                            id,
                            camera: self.place.camera.clone(),
                            zone: v.zone.clone(),
                            kind: serde_json::to_value(v.kind)
                                .ok()
                                .and_then(|k| k.as_str().map(String::from))
                                .unwrap_or_default(),
                            at_ms: end,
                            payload: body.clone(),
                        },
                        OutMsg {
                            topic: self.topics.violation(&self.place.camera),
                            payload: body.into_bytes(),
                            qos: 1,
                            retain: false,
                        },
                    )
                }
            });
        }
        self.retry_at = None;
        self.flush();
    }

    /// Writes what is still pending, if its back-off has passed.
    pub fn retry(&mut self) {
        if !self.pending.is_empty() && self.retry_at.is_none_or(|t| Instant::now() >= t) {
            self.flush();
        }
    }

    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    fn flush(&mut self) {
        let mut wrote = false;
        let mut outbox = false;
        while let Some(p) = self.pending.front() {
            let r = match p {
                Pending::Handling { zone, at_ms } => {
                    self.store
                        .record_handling(&self.place.camera, zone.as_deref(), *at_ms, 1, &[])
                }
                Pending::Violation(row, msg) => self
                    .store
                    .record_violation(row, std::slice::from_ref(msg))
                    .map(|new| {
                        outbox = true;
                        if new {
                            self.live.send("violation", row.payload.clone());
                        }
                    }),
            };
            match r {
                Ok(()) => {
                    self.pending.pop_front();
                    wrote = true;
                }
                Err(e) => {
                    if !std::mem::replace(&mut self.failing, true) {
                        tracing::error!(
                            "camera {}: {e}; {} event(s) kept in memory, retrying every 5 s",
                            self.place.camera,
                            self.pending.len()
                        );
                        eprintln!(
                            "error: camera {}: {e}; {} event(s) kept in memory, retrying every 5 s",
                            self.place.camera,
                            self.pending.len()
                        );
                    }
                    self.retry_at = Some(Instant::now() + Duration::from_secs(5));
                    break;
                }
            }
        }
        if self.pending.is_empty() {
            self.retry_at = None;
            if std::mem::take(&mut self.failing) {
                tracing::warn!("camera {}: events stored again", self.place.camera);
            }
        }
        if outbox {
            self.publisher.outbox_changed();
        }
        if wrote {
            let _ = self.changed.send(());
        }
    }
}

/// Stores a QA verdict on a violation and queues its message, in one
/// transaction. The node's publisher sends it, and rejected violations stop
/// counting at the next compliance update (within seconds).
pub fn record_verdict(
    store: &mut Store,
    topics: &Topics,
    violation_id: &str,
    verdict: Verdict,
    note: &str,
    user: &str,
    at_ms: i64,
) -> crate::error::Result<serde_json::Value> {
    // Ids are `<camera>-<start ms>-<parcel>`; camera ids may hold '-'.
    let camera = violation_id.rsplitn(3, '-').nth(2).unwrap_or(violation_id);
    let payload = serde_json::json!({
        "schema": SCHEMA,
        "violation_id": violation_id,
        "camera": camera,
        "verdict": verdict,
        "note": note,
        "user": user,
        "at": rfc3339(at_ms),
    });
    let msg = OutMsg {
        topic: topics.verdict(camera),
        payload: payload.to_string().into_bytes(),
        qos: 1,
        retain: false,
    };
    store.set_verdict(violation_id, verdict, note, user, at_ms, &[msg])?;
    Ok(payload)
}
