//! The MQTT edge: one connection per node, draining the store's durable outbox
//! in order and keeping the retained state topics (availability, compliance,
//! camera health) current. Topics and payloads are documented in docs/mqtt.md.
//!
//! Delivery: a message leaves the outbox only when the broker acknowledges it
//! (QoS 1 PUBACK). On every (re)connection the outbox is sent again from its
//! oldest row, so nothing is lost and order holds; a message whose PUBACK was
//! lost may arrive twice, with the same id.

mod broker;
pub mod topics;

pub use broker::EmbeddedBroker;
pub use topics::Topics;

use crate::config::service::{Broker, ServiceConfig};
use crate::error::{Error, Result};
use crate::store::Store;
use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Outgoing, Packet, QoS, Transport};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// The payload schema version carried by every JSON message.
pub const SCHEMA: u32 = 1;

/// At most this many outbox messages wait for their PUBACK at once.
const WINDOW: usize = 32;
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Connection settings, resolved from the config (password read, TLS built).
#[derive(Clone)]
pub struct Connection {
    pub host: String,
    pub port: u16,
    pub client_id: String,
    pub credentials: Option<(String, String)>,
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub keep_alive: Duration,
}

impl std::fmt::Debug for Connection {
    // Never prints the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}://{}:{} as {}",
            if self.tls.is_some() { "mqtts" } else { "mqtt" },
            self.host,
            self.port,
            self.client_id
        )
    }
}

impl Connection {
    /// From `[mqtt]`. For `embedded`, the caller passes the address the broker
    /// listens on.
    pub fn from_config(
        cfg: &ServiceConfig,
        embedded_at: Option<std::net::SocketAddr>,
    ) -> Result<Connection> {
        let m = &cfg.mqtt;
        let broker = cfg
            .broker()
            .map_err(|e| Error::config(format!("key `mqtt.broker`: {e}")))?;
        let (host, port, tls) = match (broker, embedded_at) {
            (Broker::Embedded, Some(a)) => (a.ip().to_string(), a.port(), false),
            (Broker::Embedded, None) => {
                return Err(Error::internal("embedded broker address not given"))
            }
            (Broker::Remote { host, port, tls }, _) => (host, port, tls),
        };
        let password = match (&m.password_file, std::env::var("SORTWATCH_MQTT_PASSWORD")) {
            (Some(p), _) => {
                let p = cfg.resolve(p);
                let text = std::fs::read_to_string(&p)
                    .map_err(|e| Error::io(&p, "cannot read key `mqtt.password_file`", e))?;
                Some(text.trim_end_matches(['\r', '\n']).to_string())
            }
            (None, Ok(v)) => Some(v),
            (None, Err(_)) => None,
        };
        let credentials = match (&m.username, password) {
            (Some(u), p) => Some((u.clone(), p.unwrap_or_default())),
            (None, Some(_)) => {
                return Err(Error::config(
                    "key `mqtt.username` is missing: a broker password is set but no user name",
                ))
            }
            (None, None) => None,
        };
        let tls = if tls {
            Some(tls_config(
                m.ca_file.as_deref().map(|p| cfg.resolve(p)).as_deref(),
            )?)
        } else {
            None
        };
        Ok(Connection {
            host,
            port,
            client_id: cfg.client_id(),
            credentials,
            tls,
            keep_alive: Duration::from_secs(m.keep_alive_s.max(5)),
        })
    }
}

fn tls_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
                .map_err(|e| {
                    Error::config(format!(
                        "key `mqtt.ca_file`: cannot read PEM certificates from {}: {e}",
                        path.display()
                    ))
                })?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(Error::config(format!(
                    "key `mqtt.ca_file`: {} holds no usable CA certificate",
                    path.display()
                )));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::internal(format!("TLS set-up: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

/// What the rest of the node tells the publisher.
#[derive(Debug)]
enum Command {
    /// New rows were committed to the outbox.
    Outbox,
    /// The latest state of a retained topic (sent now if connected, and again
    /// after every reconnection).
    Retained { topic: String, payload: Vec<u8> },
    /// Publish "offline" and disconnect.
    Stop(tokio::sync::oneshot::Sender<()>),
}

/// The broker link as others see it (health, metrics, logs).
#[derive(Clone, Debug, Default)]
pub struct LinkStatus {
    pub connected: bool,
    pub last_error: Option<String>,
    /// Messages acknowledged by the broker since start.
    pub delivered: u64,
}

/// A cheap, cloneable handle to the publisher task.
#[derive(Clone)]
pub struct Publisher {
    tx: mpsc::UnboundedSender<Command>,
    status: Arc<Mutex<LinkStatus>>,
}

impl Publisher {
    /// Starts the publisher on the current tokio runtime. `store` is its own
    /// connection to the node's database (it drains the outbox).
    pub fn start(conn: Connection, topics: Topics, store: Store) -> Publisher {
        let (tx, rx) = mpsc::unbounded_channel();
        let status = Arc::new(Mutex::new(LinkStatus::default()));
        let task = Task {
            conn,
            topics,
            store,
            status: status.clone(),
            retained: BTreeMap::new(),
            sent: VecDeque::new(),
            inflight: HashMap::new(),
            cursor: 0,
            connected: false,
        };
        tokio::spawn(task.run(rx));
        Publisher { tx, status }
    }

    /// Wakes the publisher after committing outbox rows.
    pub fn outbox_changed(&self) {
        let _ = self.tx.send(Command::Outbox);
    }

    /// Sets a retained topic's current payload.
    pub fn retain(&self, topic: String, payload: Vec<u8>) {
        let _ = self.tx.send(Command::Retained { topic, payload });
    }

    pub fn status(&self) -> LinkStatus {
        self.status.lock().expect("status lock").clone()
    }

    /// Publishes "offline" (when connected) and closes the connection.
    pub async fn stop(&self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.tx.send(Command::Stop(tx)).is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(3), rx).await;
        }
    }
}

struct Task {
    conn: Connection,
    topics: Topics,
    store: Store,
    status: Arc<Mutex<LinkStatus>>,
    retained: BTreeMap<String, Vec<u8>>,
    /// Outbox seqs (or `None` for state messages) in the order they were
    /// handed to the client, until the client reports their packet id.
    sent: VecDeque<Option<(i64, QoS)>>,
    /// Packet id -> outbox seq, awaiting PUBACK.
    inflight: HashMap<u16, i64>,
    /// Highest outbox seq handed to the client on this connection.
    cursor: i64,
    connected: bool,
}

fn availability(state: &str) -> Vec<u8> {
    serde_json::json!({ "schema": SCHEMA, "state": state })
        .to_string()
        .into_bytes()
}

fn qos(q: u8) -> QoS {
    match q {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

impl Task {
    fn options(&self) -> MqttOptions {
        let c = &self.conn;
        let mut o = MqttOptions::new(c.client_id.clone(), c.host.clone(), c.port);
        o.set_keep_alive(c.keep_alive)
            .set_clean_session(true)
            .set_inflight(u16::try_from(WINDOW * 4).unwrap_or(u16::MAX))
            .set_max_packet_size(1 << 20, 1 << 20)
            .set_last_will(LastWill::new(
                self.topics.availability(),
                availability("offline"),
                QoS::AtLeastOnce,
                true,
            ));
        if let Some((u, p)) = &c.credentials {
            o.set_credentials(u.clone(), p.clone());
        }
        if let Some(tls) = &c.tls {
            o.set_transport(Transport::tls_with_config(
                rumqttc::TlsConfiguration::Rustls(tls.clone()),
            ));
        }
        o
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Command>) {
        let (client, mut events) = AsyncClient::new(self.options(), WINDOW * 8);
        let mut backoff = Duration::from_secs(1);
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut stop: Option<tokio::sync::oneshot::Sender<()>> = None;
        loop {
            tokio::select! {
                ev = events.poll() => match ev {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        backoff = Duration::from_secs(1);
                        self.on_connected(&client);
                    }
                    Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                        if let Some(Some((seq, q))) = self.sent.pop_front() {
                            if q == QoS::AtMostOnce {
                                self.acked(seq);
                            } else {
                                self.inflight.insert(pkid, seq);
                            }
                        }
                    }
                    Ok(Event::Incoming(Packet::PubAck(ack))) => {
                        if let Some(seq) = self.inflight.remove(&ack.pkid) {
                            self.acked(seq);
                        }
                        self.drain(&client);
                    }
                    Ok(Event::Outgoing(Outgoing::Disconnect)) => {
                        if let Some(done) = stop.take() {
                            let _ = done.send(());
                        }
                        return;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        if stop.is_some() {
                            return;
                        }
                        self.on_error(&e.to_string(), backoff);
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                },
                cmd = rx.recv() => match cmd {
                    Some(Command::Outbox) => self.drain(&client),
                    Some(Command::Retained { topic, payload }) => {
                        if self.connected && self.retained.get(&topic) != Some(&payload) {
                            self.publish_state(&client, &topic, &payload);
                        }
                        self.retained.insert(topic, payload);
                    }
                    Some(Command::Stop(done)) => {
                        if self.connected {
                            let topic = self.topics.availability();
                            self.publish_state(&client, &topic, &availability("offline"));
                            let _ = client.try_disconnect();
                            stop = Some(done);
                        } else {
                            let _ = done.send(());
                            return;
                        }
                    }
                    None => return,
                },
                _ = tick.tick() => self.drain(&client),
            }
        }
    }

    fn on_connected(&mut self, client: &AsyncClient) {
        self.connected = true;
        // A new session: whatever was in flight is sent again from the outbox.
        self.sent.clear();
        self.inflight.clear();
        self.cursor = 0;
        {
            let mut s = self.status.lock().expect("status lock");
            s.connected = true;
            s.last_error = None;
        }
        tracing::info!("mqtt: connected to {:?}", self.conn);
        let topic = self.topics.availability();
        self.publish_state(client, &topic, &availability("online"));
        let retained = std::mem::take(&mut self.retained);
        for (topic, payload) in &retained {
            self.publish_state(client, topic, payload);
        }
        self.retained = retained;
        self.drain(client);
    }

    fn on_error(&mut self, e: &str, retry_in: Duration) {
        let was = std::mem::replace(&mut self.connected, false);
        let mut s = self.status.lock().expect("status lock");
        s.connected = false;
        let msg = format!(
            "mqtt: broker {}:{} (key `mqtt.broker`) unreachable: {e}; messages wait in the outbox, retrying in {} s",
            self.conn.host,
            self.conn.port,
            retry_in.as_secs()
        );
        // Say it when the link goes down or the reason changes, not every retry.
        if was || s.last_error.as_deref() != Some(e) {
            tracing::error!("{msg}");
            eprintln!("error: {msg}");
        }
        s.last_error = Some(e.to_string());
    }

    fn publish_state(&mut self, client: &AsyncClient, topic: &str, payload: &[u8]) {
        if client
            .try_publish(topic, QoS::AtLeastOnce, true, payload.to_vec())
            .is_ok()
        {
            self.sent.push_back(None);
        }
    }

    fn acked(&mut self, seq: i64) {
        if let Err(e) = self.store.outbox_remove(&[seq]) {
            // Left in the outbox, it goes out again: a repeat, never a loss.
            tracing::warn!("mqtt: cannot mark message {seq} as sent: {e}");
        }
        self.status.lock().expect("status lock").delivered += 1;
    }

    /// Hands the next outbox rows to the client, oldest first, keeping at most
    /// `WINDOW` unacknowledged.
    fn drain(&mut self, client: &AsyncClient) {
        if !self.connected {
            return;
        }
        let waiting = self.inflight.len() + self.sent.iter().flatten().count();
        if waiting >= WINDOW {
            return;
        }
        let rows = match self.store.outbox_after(self.cursor, WINDOW - waiting) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("mqtt: cannot read the outbox: {e}");
                return;
            }
        };
        for q in rows {
            let level = qos(q.msg.qos);
            if client
                .try_publish(q.msg.topic.as_str(), level, q.msg.retain, q.msg.payload)
                .is_err()
            {
                break;
            }
            self.sent.push_back(Some((q.seq, level)));
            self.cursor = q.seq;
        }
    }
}
