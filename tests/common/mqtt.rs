//! Debian's real `mosquitto` broker on a free loopback port, and
//! `mosquitto_sub` as the independent client.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A mosquitto process; killed when dropped. Persistence keeps subscribers'
/// sessions (and their queued QoS 1 messages) across a restart, as a hub's
/// broker would.
pub struct Mosquitto {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Mosquitto {
    pub fn start(dir: &Path, port: u16) -> Mosquitto {
        std::fs::create_dir_all(dir).unwrap();
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {}/\nuser root\nlog_dest file {}/mosquitto.log\n",
                dir.display(),
                dir.display()
            ),
        )
        .unwrap();
        let mut m = Mosquitto {
            port,
            dir: dir.to_path_buf(),
            child: None,
        };
        m.restart();
        m
    }

    /// Starts the broker again (after `stop`) on the same port.
    pub fn restart(&mut self) {
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(self.dir.join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto is installed (scripts/setup.sh)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "mosquitto did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the broker the way a service manager does (SIGTERM), so it saves
    /// its persistent sessions.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let _ = c.wait();
        }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A `mosquitto_sub -v` process collecting `(topic, payload)` lines.
pub struct Sub {
    child: Child,
    lines: Arc<Mutex<Vec<(String, String)>>>,
}

impl Sub {
    /// Subscribes to `topic` at QoS 1. With `session`, it keeps a persistent
    /// session under that client id (messages wait for it while it is away).
    pub fn start(port: u16, topic: &str, session: Option<&str>) -> Sub {
        let mut cmd = Command::new("mosquitto_sub");
        cmd.args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-t",
            topic,
            "-v",
            "-q",
            "1",
        ]);
        if let Some(id) = session {
            cmd.args(["-c", "-i", id]);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto_sub is installed (scripts/setup.sh)");
        let out = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Some((t, p)) = line.split_once(' ') {
                    sink.lock().unwrap().push((t.to_string(), p.to_string()));
                }
            }
        });
        Sub { child, lines }
    }

    pub fn lines(&self) -> Vec<(String, String)> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits until `pred` holds for the lines so far, or panics after `secs`.
    pub fn wait_for(
        &self,
        secs: u64,
        what: &str,
        pred: impl Fn(&[(String, String)]) -> bool,
    ) -> Vec<(String, String)> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let l = self.lines();
            if pred(&l) {
                return l;
            }
            assert!(
                Instant::now() < deadline,
                "waited {secs} s for {what}; got {} message(s): {:?}",
                l.len(),
                l.iter().map(|(t, _)| t).collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Sub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Messages on topics under `prefix`, parsed as JSON.
pub fn json_on(lines: &[(String, String)], prefix: &str) -> Vec<(String, serde_json::Value)> {
    lines
        .iter()
        .filter(|(t, _)| t.starts_with(prefix))
        .map(|(t, p)| {
            (
                t.clone(),
                serde_json::from_str(p).unwrap_or_else(|e| panic!("{t}: {e}: {p}")),
            )
        })
        .collect()
}

/// The JSON Schemas in docs/mqtt.md, by `$id`.
pub fn documented_schemas() -> Vec<(String, Value)> {
    let doc = std::fs::read_to_string("docs/mqtt.md").unwrap();
    doc.split("```json")
        .skip(1)
        .filter_map(|b| serde_json::from_str::<Value>(b.split("```").next()?).ok())
        .filter_map(|v| Some((v.get("$id")?.as_str()?.to_string(), v)))
        .collect()
}

/// Checks a payload against one of the documented schemas: every required
/// key is present, and each property has one of its documented types.
pub fn assert_documented(schema_id: &str, payload: &Value) {
    let schemas = documented_schemas();
    let (_, schema) = schemas
        .iter()
        .find(|(id, _)| id == schema_id)
        .unwrap_or_else(|| panic!("docs/mqtt.md has no schema {schema_id}"));
    for key in schema["required"].as_array().unwrap() {
        let key = key.as_str().unwrap();
        assert!(
            payload.get(key).is_some(),
            "{schema_id}: `{key}` missing in {payload}"
        );
    }
    let obj = payload.as_object().unwrap();
    for (key, value) in obj {
        let prop = &schema["properties"][key];
        assert!(!prop.is_null(), "{schema_id}: `{key}` is not documented");
        let types: Vec<&str> = match &prop["type"] {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => continue,
        };
        let actual = match value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_u64() || n.is_i64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        let ok = types.contains(&actual) || (actual == "integer" && types.contains(&"number"));
        assert!(
            ok,
            "{schema_id}: `{key}` is {actual}, documented as {types:?}"
        );
        if let (Value::Object(inner), Some(required)) = (value, prop["required"].as_array()) {
            for k in required.iter().filter_map(Value::as_str) {
                assert!(
                    inner.contains_key(k),
                    "{schema_id}: `{key}.{k}` missing in {payload}"
                );
            }
        }
    }
}
