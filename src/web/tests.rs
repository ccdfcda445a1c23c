//! The API and its guards, through the real router (no network): logins,
//! verdicts, clip paths, body limits.

use super::*;
use crate::config::service::Role;
use crate::store::ViolationRow;
use axum::body::Body;
use axum::http::{Method, Request};
use serde_json::{json, Value};
use tower::ServiceExt;

struct Fixture {
    _dir: tempfile::TempDir,
    data: PathBuf,
    state: Arc<WebState>,
    changed: tokio::sync::mpsc::UnboundedReceiver<()>,
}

const VIOLATION: &str = "cam-1-1700000000000-3";

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut cfg = ServiceConfig::parse(&format!(
        r#"
[site]
name = "hub"
timezone = "Asia/Shanghai"

[[cameras]]
id = "cam-1"
source = "x.mp4"
calibration = "x.toml"

[storage]
data_dir = "{}"
"#,
        data.display()
    ))
    .unwrap();
    cfg.web.users = users(&[
        ("ana", "correct horse", Role::Qa),
        ("sam", "battery staple", Role::Supervisor),
    ]);
    let mut store = Store::open(&data).unwrap();
    let now = unix_now();
    store.record_handling("cam-1", None, now, 4, &[]).unwrap();
    let payload =
        json!({"id": VIOLATION, "camera": "cam-1", "kind": "kick", "kick_distance_cm": 80.0});
    store
        .record_violation(
            &ViolationRow {
                id: VIOLATION.into(),
                camera: "cam-1".into(),
                zone: None,
                kind: "kick".into(),
                at_ms: now,
                payload: payload.to_string(),
            },
            &[],
        )
        .unwrap();
    let (tx, changed) = tokio::sync::mpsc::unbounded_channel();
    let state = WebState::new(&cfg, store, Live::default(), tx, None, Vec::new()).unwrap();
    std::fs::create_dir_all(state.clips_dir.join("cam-1")).unwrap();
    std::fs::write(state.clips_dir.join("cam-1/a.jpg"), b"\xff\xd8jpeg").unwrap();
    Fixture {
        _dir: dir,
        data,
        state: Arc::new(state),
        changed,
    }
}

fn unix_now() -> i64 {
    crate::clock::unix_ms(std::time::SystemTime::now())
}

async fn call(
    f: &Fixture,
    method: Method,
    uri: &str,
    cookie: Option<&str>,
    body: ReqBody,
) -> (StatusCode, Value, axum::http::HeaderMap) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    let req = match body {
        Some((ctype, bytes)) => req
            .header(header::CONTENT_TYPE, ctype)
            .body(Body::from(bytes)),
        None => req.body(Body::empty()),
    }
    .unwrap();
    let res = router(f.state.clone()).oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    let v = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, v, headers)
}

/// A request body: its content type and bytes.
type ReqBody = Option<(&'static str, Vec<u8>)>;

fn json_body(v: Value) -> ReqBody {
    Some(("application/json", v.to_string().into_bytes()))
}

async fn login(f: &Fixture, user: &str, password: &str) -> String {
    let (status, v, headers) = call(
        f,
        Method::POST,
        "/api/login",
        None,
        json_body(json!({"user": user, "password": password})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let cookie = headers[header::SET_COOKIE].to_str().unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    cookie.split(';').next().unwrap().to_string()
}

fn verdict_rows(f: &Fixture) -> usize {
    let store = Store::open(&f.data).unwrap();
    store
        .violations(0, i64::MAX, 100)
        .unwrap()
        .iter()
        .filter(|v| v.verdict.is_some())
        .count()
}

#[tokio::test]
async fn the_display_and_todays_figures_need_no_login() {
    let f = fixture();
    let (status, page, _) = call(&f, Method::GET, "/", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.as_str().unwrap().contains("id=\"rate\""));
    let (status, v, _) = call(&f, Method::GET, "/api/compliance", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["today"]["site"]["handled"], 4);
    assert_eq!(v["today"]["site"]["kicks"], 1);
    assert_eq!(v["today"]["site"]["rate"], 0.75);
    assert_eq!(v["today"]["cameras"]["cam-1"]["violations"], 1);
    let trend = v["trend"].as_array().unwrap();
    assert!(!trend.is_empty() && trend.len() <= 25, "{trend:?}");
    let handled: u64 = trend.iter().map(|h| h["handled"].as_u64().unwrap()).sum();
    assert_eq!(handled, 4, "the hourly trend adds up to the day");
}

#[tokio::test]
async fn unauthenticated_or_supervisor_verdicts_are_refused_and_change_nothing() {
    let f = fixture();
    let uri = format!("/api/violations/{VIOLATION}/verdict");
    let body = json!({"verdict": "rejected", "note": "box was empty"});
    let (status, v, _) = call(&f, Method::POST, &uri, None, json_body(body.clone())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{v}");
    assert!(v["error"].as_str().unwrap().contains("sign in"));
    let forged = Some("sortwatch_session=00112233445566778899aabbccddeeff");
    let (status, _, _) = call(&f, Method::POST, &uri, forged, json_body(body.clone())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let sam = login(&f, "sam", "battery staple").await;
    let (status, v, _) = call(&f, Method::POST, &uri, Some(&sam), json_body(body)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(verdict_rows(&f), 0);
    // Pages and lists for signed-in users send strangers to the login page.
    let (status, _, headers) = call(&f, Method::GET, "/review", None, None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/login?next=/review");
    let (status, _, _) = call(&f, Method::GET, "/api/violations", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_wrong_password_is_refused_without_saying_which_part_was_wrong() {
    let f = fixture();
    for (user, password) in [("ana", "wrong"), ("nobody", "correct horse")] {
        let (status, v, headers) = call(
            &f,
            Method::POST,
            "/api/login",
            None,
            json_body(json!({"user": user, "password": password})),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(v["error"], "wrong user name or password");
        assert!(headers.get(header::SET_COOKIE).is_none());
    }
}

#[tokio::test]
async fn a_qa_rejection_is_stored_queued_announced_and_stops_counting() {
    let mut f = fixture();
    let mut live = f.state.live.subscribe();
    let ana = login(&f, "ana", "correct horse").await;
    let (status, v, _) = call(
        &f,
        Method::POST,
        &format!("/api/violations/{VIOLATION}/verdict"),
        Some(&ana),
        json_body(json!({"verdict": "rejected", "note": "box was empty"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["user"], "ana");
    assert_eq!(v["verdict"], "rejected");
    assert_eq!(verdict_rows(&f), 1);
    assert_eq!(Store::open(&f.data).unwrap().outbox_len().unwrap(), 1);
    assert!(f.changed.try_recv().is_ok(), "compliance is recomputed");
    let ev = live.try_recv().unwrap();
    assert_eq!(ev.kind, "verdict");
    let (_, c, _) = call(&f, Method::GET, "/api/compliance", None, None).await;
    assert_eq!(c["today"]["site"]["rate"], 1.0);
    let (_, list, _) = call(
        &f,
        Method::GET,
        "/api/violations?verdict=rejected",
        Some(&ana),
        None,
    )
    .await;
    assert_eq!(list["violations"][0]["verdict"]["note"], "box was empty");
    let (_, list, _) = call(
        &f,
        Method::GET,
        "/api/violations?verdict=pending",
        Some(&ana),
        None,
    )
    .await;
    assert_eq!(list["violations"], json!([]));
    // Signing out ends the session.
    call(&f, Method::POST, "/api/logout", Some(&ana), None).await;
    let (status, _, _) = call(&f, Method::GET, "/api/me", Some(&ana), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn clip_paths_cannot_leave_the_clips_directory() {
    let f = fixture();
    let ana = login(&f, "ana", "correct horse").await;
    let (status, _, _) = call(&f, Method::GET, "/clips/cam-1/a.jpg", None, None).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "clips are for signed-in users"
    );
    let (status, body, headers) =
        call(&f, Method::GET, "/clips/cam-1/a.jpg", Some(&ana), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers[header::CONTENT_TYPE], "image/jpeg");
    for uri in [
        "/clips/../sortwatch.db",
        "/clips/cam-1/../../sortwatch.db",
        "/clips/..%2F..%2Fdata/sortwatch.db",
        "/clips/cam-1/..%2F..%2Fsortwatch.db",
        "/clips/%2e%2e/sortwatch.db",
        "/clips/cam-1/%2e%2e%2fa.jpg",
        "/clips/cam-1/.a.jpg",
        "/clips/cam-1/a.jpg%00.mp4",
        "/clips/cam-1/..%5c..%5csortwatch.db",
    ] {
        let (status, body, _) = call(&f, Method::GET, uri, Some(&ana), None).await;
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::NOT_FOUND,
            "{uri}: {status} {body}"
        );
    }
    assert!(
        f.data.join("sortwatch.db").is_file(),
        "the target exists, so 404 means refused"
    );
}

#[tokio::test]
async fn oversized_and_invalid_bodies_are_refused() {
    let f = fixture();
    let ana = login(&f, "ana", "correct horse").await;
    let uri = format!("/api/violations/{VIOLATION}/verdict");
    let big = json!({"verdict": "rejected", "note": "x".repeat(MAX_BODY)});
    let cases: Vec<(ReqBody, StatusCode)> = vec![
        (json_body(big), StatusCode::PAYLOAD_TOO_LARGE),
        (
            Some(("application/json", b"{\"verdict\": ".to_vec())),
            StatusCode::BAD_REQUEST,
        ),
        (
            Some(("application/json", vec![0xff, 0xfe, 0x00])),
            StatusCode::BAD_REQUEST,
        ),
        (
            json_body(json!({"verdict": "maybe"})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json_body(json!({"verdict": "rejected", "admin": true})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json_body(json!({"verdict": "rejected", "note": "x".repeat(2001)})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Some(("text/plain", b"{\"verdict\":\"rejected\"}".to_vec())),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
    ];
    for (body, want) in cases {
        let (status, v, _) = call(&f, Method::POST, &uri, Some(&ana), body).await;
        assert_eq!(status, want, "{v}");
        assert!(v["error"].is_string(), "errors are JSON: {v}");
    }
    let (status, _, _) = call(
        &f,
        Method::POST,
        "/api/login",
        None,
        Some(("application/json", vec![b' '; MAX_BODY + 1])),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(verdict_rows(&f), 0);
    let (status, v, _) = call(
        &f,
        Method::GET,
        "/api/violations?day=yesterday",
        Some(&ana),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(v["error"].as_str().unwrap().contains("YYYY-MM-DD"));
}

#[tokio::test]
async fn metrics_export_todays_counts_and_the_outbox() {
    let f = fixture();
    let (status, text, headers) = call(&f, Method::GET, "/metrics", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = text.as_str().unwrap();
    assert!(
        text.contains("sortwatch_violations_today{camera=\"cam-1\",zone=\"\",kind=\"kick\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("sortwatch_handled_today{camera=\"cam-1\",zone=\"\"} 4"),
        "{text}"
    );
    assert!(text.contains("sortwatch_outbox_depth 0"), "{text}");
}
