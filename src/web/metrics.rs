//! `GET /metrics`: Prometheus text exposition of the node's state.

use super::WebState;
use crate::clock::unix_ms;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use std::fmt::Write;
use std::sync::Arc;
use std::time::SystemTime;

/// Label values escaped as the exposition format wants.
fn label(s: &str) -> String {
    s.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], v: f64) {
        let labels: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", label(v)))
            .collect();
        let _ = if labels.is_empty() {
            writeln!(self.0, "{name} {v}")
        } else {
            writeln!(self.0, "{name}{{{}}} {v}", labels.join(","))
        };
    }
}

pub async fn metrics(State(st): State<Arc<WebState>>) -> impl IntoResponse {
    let mut o = Out(String::new());
    let health: Vec<(String, crate::service::camera::Health)> = st
        .health
        .iter()
        .map(|(c, h)| (c.clone(), h.lock().expect("health lock").clone()))
        .collect();
    let per_camera = |o: &mut Out,
                      name: &str,
                      kind: &str,
                      help: &str,
                      f: &dyn Fn(&crate::service::camera::Health) -> f64| {
        o.family(name, kind, help);
        for (c, h) in &health {
            o.sample(name, &[("camera", c)], f(h));
        }
    };
    per_camera(
        &mut o,
        "sortwatch_camera_fps",
        "gauge",
        "Frames analysed per second.",
        &|h| h.fps,
    );
    per_camera(
        &mut o,
        "sortwatch_camera_connected",
        "gauge",
        "1 while the camera delivers frames.",
        &|h| f64::from(u8::from(h.connected)),
    );
    per_camera(
        &mut o,
        "sortwatch_camera_frames_total",
        "counter",
        "Frames analysed.",
        &|h| h.frames as f64,
    );
    per_camera(
        &mut o,
        "sortwatch_camera_dropped_frames_total",
        "counter",
        "Frames dropped from the queue because analysis fell behind.",
        &|h| h.dropped_frames as f64,
    );
    per_camera(
        &mut o,
        "sortwatch_camera_decode_seconds_total",
        "counter",
        "Time spent decoding video.",
        &|h| h.decode.as_secs_f64(),
    );
    o.family(
        "sortwatch_stage_seconds_total",
        "counter",
        "Analysis time by stage.",
    );
    for (c, h) in &health {
        let s = &h.stages;
        for (stage, d) in [
            ("motion", s.motion),
            ("plan", s.plan),
            ("pose_preprocess", s.pose.preprocess),
            ("pose_inference", s.pose.inference),
            ("pose_postprocess", s.pose.postprocess),
            ("tracking_rules", s.tracking),
        ] {
            o.sample(
                "sortwatch_stage_seconds_total",
                &[("camera", c), ("stage", stage)],
                d.as_secs_f64(),
            );
        }
    }
    let now = unix_ms(SystemTime::now());
    let day = st.clock.day(now);
    let (counts, outbox) = {
        let store = st.store();
        (store.counts(day.start_ms, day.end_ms), store.outbox_len())
    };
    if let Ok(rows) = counts {
        o.family(
            "sortwatch_violations_today",
            "gauge",
            "Violations today (site's local day), rejected ones left out.",
        );
        for r in &rows {
            let zone = r.zone.as_deref().unwrap_or("");
            for (kind, n) in [("throw", r.throws), ("kick", r.kicks)] {
                o.sample(
                    "sortwatch_violations_today",
                    &[("camera", &r.camera), ("zone", zone), ("kind", kind)],
                    n as f64,
                );
            }
        }
        o.family("sortwatch_handled_today", "gauge", "Parcels handled today.");
        for r in &rows {
            let zone = r.zone.as_deref().unwrap_or("");
            o.sample(
                "sortwatch_handled_today",
                &[("camera", &r.camera), ("zone", zone)],
                r.handled as f64,
            );
        }
    }
    if let Ok(n) = outbox {
        o.family(
            "sortwatch_outbox_depth",
            "gauge",
            "MQTT messages stored and not yet acknowledged by the broker.",
        );
        o.sample("sortwatch_outbox_depth", &[], n as f64);
    }
    if let Some(p) = &st.publisher {
        let s = p.status();
        o.family(
            "sortwatch_mqtt_connected",
            "gauge",
            "1 while the broker link is up.",
        );
        o.sample(
            "sortwatch_mqtt_connected",
            &[],
            f64::from(u8::from(s.connected)),
        );
        o.family(
            "sortwatch_mqtt_delivered_total",
            "counter",
            "Messages the broker acknowledged.",
        );
        o.sample("sortwatch_mqtt_delivered_total", &[], s.delivered as f64);
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        o.0,
    )
}
