//! The embedded broker (rumqttd) for a node without a hub broker, and the demo.

use crate::error::{Error, ErrorKind, Result};
use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// A broker running on its own threads inside this process, for as long as
/// the process lives.
pub struct EmbeddedBroker {
    pub addr: SocketAddr,
}

impl EmbeddedBroker {
    /// Starts a broker on `listen` (port 0 picks a free one) and waits until
    /// it accepts connections.
    pub fn start(listen: SocketAddr) -> Result<EmbeddedBroker> {
        // Bind first to report a busy port clearly (rumqttd would only log it),
        // and to resolve port 0.
        let addr = TcpListener::bind(listen)
            .and_then(|l| l.local_addr())
            .map_err(|e| {
                Error::new(
                    ErrorKind::Unavailable,
                    format!("key `mqtt.embedded_listen`: cannot listen on {listen}: {e} (is another broker running there? pick a free port)"),
                )
            })?;
        let config = rumqttd::Config {
            id: 0,
            router: rumqttd::RouterConfig {
                max_connections: 1000,
                max_outgoing_packet_count: 200,
                max_segment_size: 10 << 20,
                max_segment_count: 10,
                custom_segment: None,
                initialized_filters: None,
                shared_subscriptions_strategy: Default::default(),
            },
            v4: Some(HashMap::from([(
                "v4".to_string(),
                rumqttd::ServerSettings {
                    name: "v4".into(),
                    listen: addr,
                    tls: None,
                    next_connection_delay_ms: 1,
                    connections: rumqttd::ConnectionSettings {
                        connection_timeout_ms: 60_000,
                        max_payload_size: 1 << 20,
                        max_inflight_count: 500,
                        auth: None,
                        external_auth: None,
                        dynamic_filters: true,
                    },
                },
            )])),
            ..Default::default()
        };
        let mut broker = rumqttd::Broker::new(config);
        std::thread::Builder::new()
            .name("mqtt-broker".into())
            .spawn(move || {
                if let Err(e) = broker.start() {
                    tracing::error!("embedded MQTT broker stopped: {e}");
                }
            })
            .map_err(|e| Error::internal(format!("cannot start the broker thread: {e}")))?;
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if Instant::now() > deadline {
                return Err(Error::new(
                    ErrorKind::Unavailable,
                    format!(
                        "the embedded MQTT broker did not start listening on {addr} within 5 s"
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(EmbeddedBroker { addr })
    }
}
