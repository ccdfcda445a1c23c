//! A running node (`sortwatch run`, `sortwatch demo`): every camera on its own
//! thread sharing a pool of pose sessions, the store, the MQTT publisher and
//! the retained state topics.
//!
//! ```text
//!  camera threads ──events──▶ EventSink ──commit──▶ SQLite (violations, counts, outbox)
//!                                 │                        │
//!                                 └──wake──▶ Publisher ◀───┘ drains the outbox in order
//!                                 └──wake──▶ StatusTask ──▶ retained compliance, health
//! ```

pub mod camera;
pub mod live;
pub mod sink;
pub mod status;

use crate::config::service::{Broker, ServiceConfig};
use crate::error::{Error, Result};
use crate::geometry::Calibration;
use crate::mqtt::{Connection, EmbeddedBroker, Publisher, Topics};
use crate::pose::pool::PosePool;
use crate::source::redact;
use crate::store::Store;
use camera::{CameraSpec, Health, SharedHealth};
use live::Live;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

pub struct Node {
    runtime: tokio::runtime::Runtime,
    publisher: Publisher,
    cameras: Vec<JoinHandle<()>>,
    clips: Option<crate::clips::ClipWriter>,
    /// How many camera threads have returned.
    finished: Arc<std::sync::atomic::AtomicUsize>,
    stop: Arc<AtomicBool>,
    /// Where clients reach the broker (the embedded one, or the hub's).
    pub broker: String,
    /// Where the web pages are, when `web.listen` is set.
    pub web: Option<std::net::SocketAddr>,
    pub topics: Topics,
    pub health: Vec<(String, SharedHealth)>,
    _broker: Option<EmbeddedBroker>,
}

impl Node {
    /// Starts everything the config describes. Errors here are the ones that
    /// make running pointless (a bad model, an unusable data directory); a
    /// missing camera or broker is reported and retried instead.
    pub fn start(cfg: &ServiceConfig) -> Result<Node> {
        let clock = cfg.clock()?;
        let data_dir = cfg.resolve(&cfg.storage.data_dir);
        let store = || Store::open(&data_dir);
        // Fail early on an unusable data directory.
        drop(store()?);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sortwatch-io")
            .enable_all()
            .build()
            .map_err(|e| Error::internal(format!("cannot start the I/O runtime: {e}")))?;
        let embedded = match cfg
            .broker()
            .map_err(|e| Error::config(format!("key `mqtt.broker`: {e}")))?
        {
            Broker::Embedded => {
                let listen = cfg.mqtt.embedded_listen.parse().map_err(|_| {
                    Error::config(format!(
                        "key `mqtt.embedded_listen`: `{}` is not an address like 127.0.0.1:1883",
                        cfg.mqtt.embedded_listen
                    ))
                })?;
                Some(EmbeddedBroker::start(listen)?)
            }
            Broker::Remote { .. } => None,
        };
        let conn = Connection::from_config(cfg, embedded.as_ref().map(|b| b.addr))?;
        let broker = format!("{}:{}", conn.host, conn.port);
        let topics = Topics::new(&cfg.mqtt.prefix, &cfg.site.name, &cfg.site.node);
        let publisher = {
            let _guard = runtime.enter();
            Publisher::start(conn, topics.clone(), store()?)
        };

        let mut specs = Vec::new();
        for c in &cfg.cameras {
            let calibration = Calibration::load(&cfg.resolve(&c.calibration))?;
            let mut analysis = cfg.analysis.clone();
            if let Some(v) = c.max_drop_cm {
                analysis.rules.max_drop_cm = v;
            }
            if let Some(v) = c.max_throw_cm {
                analysis.rules.max_throw_cm = v;
            }
            if !c.zones.is_empty() {
                analysis.rules.zones = c.zones.clone();
            }
            let url = with_credentials(cfg, c)?;
            specs.push(CameraSpec {
                id: c.id.clone(),
                shown_url: redact(&url),
                url,
                calibration,
                analysis,
                realtime: c.realtime,
                looped: c.looped,
            });
        }
        // Sessions: `[pose] workers`, each with `threads` threads.
        let mut pose_cfg = cfg.analysis.pose.clone();
        pose_cfg.model = cfg.resolve(&pose_cfg.model);
        if !pose_cfg.model.is_file() {
            pose_cfg.model = cfg.analysis.pose.model.clone();
        }
        let pool = PosePool::movenet(&pose_cfg)?;
        let live = Live::default();
        let clips = if cfg.clips.enabled {
            Some(crate::clips::ClipWriter::start(
                crate::clips::writer::WriterSetup {
                    clips: cfg.clips.clone(),
                    data_dir: data_dir.clone(),
                    clock: cfg.clock()?,
                    store: store()?,
                    topics: topics.clone(),
                    publisher: Some(publisher.clone()),
                    hook: Some({
                        let live = live.clone();
                        Arc::new(move |c: &crate::clips::writer::ClipReady| {
                            live.send("clip", serde_json::to_string(c).unwrap_or_default())
                        })
                    }),
                },
            )?)
        } else {
            None
        };

        let (changed_tx, changed_rx) = tokio::sync::mpsc::unbounded_channel();
        let stop = Arc::new(AtomicBool::new(false));
        let finished = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut health = Vec::new();
        let mut cameras = Vec::new();
        for (spec, c) in specs.into_iter().zip(&cfg.cameras) {
            let h: SharedHealth = Arc::new(Mutex::new(Health::default()));
            health.push((spec.id.clone(), h.clone()));
            let sink = sink::EventSink::new(
                sink::Place {
                    site: cfg.site.name.clone(),
                    camera: c.id.clone(),
                    line: c.line.clone(),
                    clips: clips.is_some(),
                },
                store()?,
                topics.clone(),
                publisher.clone(),
                changed_tx.clone(),
                live.clone(),
            );
            let pose = pool.client();
            let stop = stop.clone();
            let finished = finished.clone();
            let recorder = clips.as_ref().map(|w| w.camera(&c.id));
            let handle = std::thread::Builder::new()
                .name(format!("cam-{}", c.id))
                .spawn(move || {
                    camera::run(spec, pose, sink, h, stop, recorder);
                    finished.fetch_add(1, Ordering::Relaxed);
                })
                .map_err(|e| Error::internal(format!("cannot start camera thread: {e}")))?;
            cameras.push(handle);
        }
        let web = if cfg.web.listen.is_empty() {
            None
        } else {
            let state = crate::web::WebState::new(
                cfg,
                store()?,
                live.clone(),
                changed_tx.clone(),
                Some(publisher.clone()),
                health.clone(),
            )?;
            let server = runtime.block_on(crate::web::WebServer::start(
                &cfg.web.listen,
                Arc::new(state),
            ))?;
            Some(server.addr)
        };
        drop(changed_tx);
        let status = status::StatusTask {
            site: cfg.site.name.clone(),
            clock,
            store: store()?,
            topics: topics.clone(),
            publisher: publisher.clone(),
            cameras: cfg
                .cameras
                .iter()
                .map(|c| (c.id.clone(), c.line.clone()))
                .collect::<BTreeMap<_, _>>(),
            health: health.clone(),
            live: live.clone(),
        };
        runtime.spawn(status.run(changed_rx));
        Ok(Node {
            runtime,
            publisher,
            cameras,
            clips,
            finished,
            stop,
            broker,
            web,
            topics,
            health,
            _broker: embedded,
        })
    }

    /// Runs until Ctrl-C or SIGTERM (or until every camera's file has ended
    /// and `until_done`), then stops cleanly.
    pub fn wait(self, until_done: bool) {
        let cameras = self.cameras.len();
        let finished = self.finished.clone();
        self.stop_when(async move {
            let all_done = async {
                while finished.load(Ordering::Relaxed) < cameras {
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
            };
            tokio::select! {
                _ = shutdown_signal() => {}
                _ = all_done, if until_done => {}
            }
        });
    }

    /// Runs for `d` (benches), then stops cleanly.
    pub fn run_for(self, d: std::time::Duration) {
        self.stop_when(async move { tokio::time::sleep(d).await });
    }

    /// Stops once `until` completes: the cameras decide what is still open,
    /// the outbox gets a moment to go out, and the publisher says "offline".
    fn stop_when(self, until: impl std::future::Future<Output = ()>) {
        self.runtime.block_on(until);
        self.stop.store(true, Ordering::Relaxed);
        for h in self.cameras {
            let _ = h.join();
        }
        // The clips of the last violations, before the publisher goes.
        if let Some(c) = self.clips {
            c.finish();
        }
        self.runtime.block_on(async {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            self.publisher.stop().await;
        });
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// The camera URL with its user name and password file joined in (only ever
/// handed to FFmpeg, never logged).
fn with_credentials(cfg: &ServiceConfig, c: &crate::config::service::Camera) -> Result<String> {
    let Some(user) = &c.username else {
        return Ok(c.source.clone());
    };
    let password = match &c.password_file {
        Some(p) => {
            let p = cfg.resolve(p);
            std::fs::read_to_string(&p)
                .map_err(|e| {
                    Error::io(
                        &p,
                        &format!("camera {}: cannot read `password_file`", c.id),
                        e,
                    )
                })?
                .trim_end_matches(['\r', '\n'])
                .to_string()
        }
        None => String::new(),
    };
    let Some((scheme, rest)) = c.source.split_once("://") else {
        return Err(Error::config(format!(
            "camera {}: key `username` needs a URL source like rtsp://host/path",
            c.id
        )));
    };
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    let auth = if password.is_empty() {
        enc(user)
    } else {
        format!("{}:{}", enc(user), enc(&password))
    };
    Ok(format!("{scheme}://{auth}@{rest}"))
}
