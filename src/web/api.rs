//! The JSON API (docs/web.md): today's figures, violations and their
//! verdicts, live events, camera health and clips.

use super::auth::{QaUser, User};
use super::WebState;
use crate::clock::unix_ms;
use crate::error::ErrorKind;
use crate::metrics::compliance::{report, Compliance};
use crate::service::sink::{record_verdict, rfc3339};
use crate::store::{StoredViolation, Verdict};
use axum::body::Body;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::broadcast::error::RecvError;

/// An error answer: the status and `{"error": "what went wrong and what to do"}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> ApiError {
        let hint = if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            format!("the body is larger than {} bytes", super::MAX_BODY)
        } else {
            r.body_text()
        };
        ApiError::new(r.status(), hint)
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, r.body_text())
    }
}

impl From<crate::error::Error> for ApiError {
    fn from(e: crate::error::Error) -> ApiError {
        let status = match e.kind() {
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::InvalidInput => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!("web: {e}");
        }
        ApiError::new(status, e.to_string())
    }
}

fn now_ms() -> i64 {
    unix_ms(SystemTime::now())
}

/// `GET /api/compliance`: today's figures at every level, the current shift,
/// an hourly trend and each camera's state.
pub async fn compliance(State(st): State<Arc<WebState>>) -> Result<Json<Value>, ApiError> {
    let now = now_ms();
    let day = st.clock.day(now);
    let store = st.store();
    let today = report(&store, &st.cameras, day.start_ms, day.end_ms)?;
    let shift = match st.clock.shift(now) {
        Some(s) => {
            let r = report(&store, &st.cameras, s.start_ms, s.end_ms)?;
            let mut v = json!(r.site);
            v["name"] = json!(s.name);
            v
        }
        None => Value::Null,
    };
    // Hourly buckets from local midnight to now (a DST day has 23 or 25).
    let mut trend = Vec::new();
    let mut from = day.start_ms;
    while from < now.min(day.end_ms) {
        let to = (from + 3_600_000).min(day.end_ms);
        let rows = store.counts(from, to)?;
        let c = Compliance::sum(
            rows.iter()
                .map(|r| Compliance::from_counts(r.handled, r.throws, r.kicks))
                .collect::<Vec<_>>()
                .iter(),
        );
        let mut v = json!(c);
        v["from"] = json!(rfc3339(from));
        v["label"] = json!(st.clock.local_hhmm(from));
        trend.push(v);
        from = to;
    }
    drop(store);
    let cameras: serde_json::Map<String, Value> = st
        .cameras
        .iter()
        .map(|(id, line)| {
            let h = st
                .health
                .iter()
                .find(|(c, _)| c == id)
                .map(|(_, h)| h.lock().expect("health lock").clone())
                .unwrap_or_default();
            (
                id.clone(),
                json!({
                    "line": line,
                    "connected": h.connected,
                    "state": if h.state.is_empty() { "unknown" } else { h.state },
                    "fps": (h.fps * 10.0).round() / 10.0,
                }),
            )
        })
        .collect();
    Ok(Json(json!({
        "site": st.site,
        "date": day.date,
        "timezone": st.clock.timezone(),
        "at": rfc3339(now),
        "today": today,
        "shift": shift,
        "trend": trend,
        "cameras": cameras,
    })))
}

/// `GET /api/health`: every camera's health and the broker link.
pub async fn health(State(st): State<Arc<WebState>>) -> Json<Value> {
    let cameras: Vec<Value> = st
        .health
        .iter()
        .map(|(id, h)| {
            let h = h.lock().expect("health lock").clone();
            let mut v = json!(h);
            v["camera"] = json!(id);
            v["last_frame"] = json!(h.last_frame_ms.map(rfc3339));
            v
        })
        .collect();
    let link = st.publisher.as_ref().map(|p| p.status());
    let outbox = st.store().outbox_len().ok();
    Json(json!({
        "cameras": cameras,
        "mqtt": {
            "connected": link.as_ref().is_some_and(|l| l.connected),
            "last_error": link.and_then(|l| l.last_error),
            "outbox": outbox,
        },
    }))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViolationQuery {
    /// Local date "YYYY-MM-DD"; today when absent.
    day: Option<String>,
    camera: Option<String>,
    kind: Option<String>,
    /// "pending", "confirmed" or "rejected".
    verdict: Option<String>,
    limit: Option<usize>,
}

/// One violation as the API shows it: its MQTT payload plus the verdict and
/// whether its clip is there (`clip_ready`) or was removed by retention
/// (`clip_expired`).
fn violation_json(v: &StoredViolation) -> Value {
    let mut out: Value = serde_json::from_str(&v.row.payload).unwrap_or_else(|_| json!({}));
    out["id"] = json!(v.row.id);
    let expired = v.clip.as_ref().is_some_and(|c| c.expired_ms.is_some());
    out["clip_ready"] = json!(v.clip.is_some() && !expired);
    out["clip_expired"] = json!(expired);
    out["verdict"] = match &v.verdict {
        Some((verdict, note, user, at)) => json!({
            "verdict": verdict,
            "note": note,
            "user": user,
            "at": rfc3339(*at),
        }),
        None => Value::Null,
    };
    out
}

/// `GET /api/violations?day=&camera=&kind=&verdict=&limit=`: newest first.
pub async fn violations(
    _user: User,
    State(st): State<Arc<WebState>>,
    q: Result<Query<ViolationQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q?;
    let day = match &q.day {
        None => st.clock.day(now_ms()),
        Some(d) => st.clock.day_of(d).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("day {d:?} is not a date: use YYYY-MM-DD"),
            )
        })?,
    };
    let wanted = match q.verdict.as_deref() {
        None | Some("pending") => None,
        Some(v) => Some(v.parse::<Verdict>()?),
    };
    let limit = q.limit.unwrap_or(200).min(1000);
    let all = st
        .store()
        .violations(day.start_ms, day.end_ms, usize::MAX)?;
    let items: Vec<Value> = all
        .iter()
        .filter(|v| q.camera.as_ref().is_none_or(|c| &v.row.camera == c))
        .filter(|v| q.kind.as_ref().is_none_or(|k| &v.row.kind == k))
        .filter(|v| match (q.verdict.as_deref(), wanted) {
            (None, _) => true,
            (Some("pending"), _) => v.verdict.is_none(),
            (_, w) => v.verdict.as_ref().map(|x| x.0) == w,
        })
        .take(limit)
        .map(violation_json)
        .collect();
    Ok(Json(json!({ "date": day.date, "violations": items })))
}

/// `GET /api/violations/{id}`.
pub async fn violation(
    _user: User,
    State(st): State<Arc<WebState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    st.store()
        .violation(&id)?
        .map(|v| Json(violation_json(&v)))
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no violation {id:?}")))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerdictBody {
    verdict: Verdict,
    #[serde(default)]
    note: String,
}

const MAX_NOTE: usize = 2000;

/// `POST /api/violations/{id}/verdict` (qa users): stores the verdict, queues
/// its MQTT message and recomputes compliance (a rejected violation stops counting).
pub async fn verdict(
    QaUser(user): QaUser,
    State(st): State<Arc<WebState>>,
    Path(id): Path<String>,
    body: Result<Json<VerdictBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body?;
    if body.note.chars().count() > MAX_NOTE {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("the note is longer than {MAX_NOTE} characters"),
        ));
    }
    let payload = record_verdict(
        &mut st.store(),
        &st.topics,
        &id,
        body.verdict,
        body.note.trim(),
        &user.user,
        now_ms(),
    )?;
    tracing::info!("web: {} marked {id} {}", user.user, body.verdict);
    if let Some(p) = &st.publisher {
        p.outbox_changed();
    }
    let _ = st.changed.send(());
    st.live.send("verdict", payload.to_string());
    Ok(Json(payload))
}

/// `GET /api/events`: server-sent events. Everyone gets `compliance`;
/// signed-in users also get `violation`, `verdict` and `clip`. After a gap
/// (a slow reader) a `resync` event says to reload.
pub async fn events(
    user: Result<User, ApiError>,
    State(st): State<Arc<WebState>>,
) -> Sse<impl futures_util::Stream<Item = Result<Event, std::convert::Infallible>>> {
    let signed_in = user.is_ok();
    let rx = st.live.subscribe();
    let stream = futures_util::stream::unfold(rx, move |mut rx| async move {
        loop {
            let ev = match rx.recv().await {
                Ok(e) if signed_in || e.kind == "compliance" => {
                    Event::default().event(e.kind).data(&*e.data)
                }
                Ok(_) => continue,
                Err(RecvError::Lagged(_)) => Event::default().event("resync").data("{}"),
                Err(RecvError::Closed) => return None,
            };
            return Some((Ok(ev), rx));
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// A path segment of a clip URL: a plain name, nothing that climbs or hides.
fn plain_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// `GET /clips/{camera}/{file}` (signed-in users): an MP4 or JPEG, with
/// range requests so the player can seek.
pub async fn clip(
    _user: User,
    State(st): State<Arc<WebState>>,
    Path((camera, file)): Path<(String, String)>,
    req: Request,
) -> Result<Response, ApiError> {
    let media = file.ends_with(".mp4") || file.ends_with(".jpg");
    if !plain_name(&camera) || !plain_name(&file) || !media {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "a clip path is /clips/CAMERA/NAME.mp4 or .jpg",
        ));
    }
    let path = st.clips_dir.join(&camera).join(&file);
    let res = tower_http::services::ServeFile::new(path)
        .try_call(req)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    if res.status() == StatusCode::NOT_FOUND {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no clip {camera}/{file}: it was never written or retention removed it"),
        ));
    }
    Ok(res.map(Body::new))
}
