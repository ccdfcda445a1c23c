//! The node's web server (axum): the hub-screen display, the supervisors'
//! alerts, QA review, the JSON API behind them, live updates as server-sent
//! events, clips, and Prometheus metrics. The API is documented in docs/web.md.
//!
//! Reading today's figures needs no login (the display page is for hub screens);
//! alerts, review, clips and the violation list need a session, and verdicts
//! need a session of a `qa` user.

mod api;
mod auth;
mod metrics;

use crate::clock::SiteClock;
use crate::config::service::{ServiceConfig, WebUser};
use crate::error::{Error, Result};
use crate::mqtt::{Publisher, Topics};
use crate::service::camera::SharedHealth;
use crate::service::live::Live;
use crate::store::Store;
use axum::extract::DefaultBodyLimit;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc::UnboundedSender;

pub use auth::hash_password;

/// Request bodies are small JSON objects; anything larger is refused (413).
pub const MAX_BODY: usize = 16 * 1024;

/// Everything the handlers share.
pub struct WebState {
    pub site: String,
    pub clock: SiteClock,
    /// Every camera with its line (if any), in config order of ids.
    pub cameras: BTreeMap<String, Option<String>>,
    pub store: Mutex<Store>,
    pub topics: Topics,
    pub live: Live,
    /// Wakes the compliance task after a verdict.
    pub changed: UnboundedSender<()>,
    /// The MQTT publisher (woken after a verdict; its link state goes to /metrics).
    pub publisher: Option<Publisher>,
    pub health: Vec<(String, SharedHealth)>,
    /// Where clips and snapshots are (`DATA_DIR/clips`).
    pub clips_dir: PathBuf,
    pub sessions: auth::Sessions,
}

impl WebState {
    pub fn new(
        cfg: &ServiceConfig,
        store: Store,
        live: Live,
        changed: UnboundedSender<()>,
        publisher: Option<Publisher>,
        health: Vec<(String, SharedHealth)>,
    ) -> Result<WebState> {
        Ok(WebState {
            site: cfg.site.name.clone(),
            clock: cfg.clock()?,
            cameras: cfg
                .cameras
                .iter()
                .map(|c| (c.id.clone(), c.line.clone()))
                .collect(),
            clips_dir: cfg.resolve(&cfg.storage.data_dir).join("clips"),
            store: Mutex::new(store),
            topics: Topics::new(&cfg.mqtt.prefix, &cfg.site.name, &cfg.site.node),
            live,
            changed,
            publisher,
            health,
            sessions: auth::Sessions::new(
                cfg.web.users.clone(),
                std::time::Duration::from_secs_f64(cfg.web.session_hours * 3600.0),
            ),
        })
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        // A handler that panicked mid-query leaves the connection usable.
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Users for tests and the demo.
pub fn users(list: &[(&str, &str, crate::config::service::Role)]) -> Vec<WebUser> {
    list.iter()
        .map(|(name, password, role)| WebUser {
            name: name.to_string(),
            password_hash: hash_password(password),
            role: *role,
        })
        .collect()
}

/// All routes.
pub fn router(state: Arc<WebState>) -> Router {
    Router::new()
        .route("/", get(|| page(DISPLAY)))
        .route("/display", get(|| page(DISPLAY)))
        .route("/alerts", get(auth::page_for_users(ALERTS)))
        .route("/review", get(auth::page_for_users(REVIEW)))
        .route("/login", get(|| page(LOGIN)))
        .route("/static/app.css", get(|| asset(APP_CSS, "text/css")))
        .route("/static/app.js", get(|| asset(APP_JS, "text/javascript")))
        .route("/api/login", post(auth::login))
        .route("/api/logout", post(auth::logout))
        .route("/api/me", get(auth::me))
        .route("/api/compliance", get(api::compliance))
        .route("/api/health", get(api::health))
        .route("/api/events", get(api::events))
        .route("/api/violations", get(api::violations))
        .route("/api/violations/{id}", get(api::violation))
        .route("/api/violations/{id}/verdict", post(api::verdict))
        .route("/clips/{camera}/{file}", get(api::clip))
        .route("/metrics", get(metrics::metrics))
        .fallback(|| async { api::ApiError::new(StatusCode::NOT_FOUND, "no such page") })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// A running web server; it stops with the runtime it was started on.
pub struct WebServer {
    pub addr: SocketAddr,
}

impl WebServer {
    /// Binds `listen` (key `web.listen`) and serves on the current tokio runtime.
    pub async fn start(listen: &str, state: Arc<WebState>) -> Result<WebServer> {
        let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
            Error::config(format!(
                "key `web.listen`: cannot listen on {listen}: {e} (is another program using the port? pick another address)"
            ))
        })?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::internal(format!("web server address: {e}")))?;
        let app = router(state);
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!("web server on {addr} stopped: {e}");
            }
        });
        Ok(WebServer { addr })
    }
}

const DISPLAY: &str = include_str!("assets/display.html");
const ALERTS: &str = include_str!("assets/alerts.html");
const REVIEW: &str = include_str!("assets/review.html");
const LOGIN: &str = include_str!("assets/login.html");
const APP_CSS: &str = include_str!("assets/app.css");
const APP_JS: &str = include_str!("assets/app.js");

async fn page(html: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}

async fn asset(body: &'static str, mime: &'static str) -> Response {
    ([(header::CONTENT_TYPE, mime)], body).into_response()
}

#[cfg(test)]
mod tests;
