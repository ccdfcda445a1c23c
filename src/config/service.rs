//! The service config (`sortwatch run --config FILE`): the site, its lines and
//! cameras, MQTT, storage and web. Parsing is strict (an unknown key is an error
//! naming it); [`ServiceConfig::check`] then reports every remaining problem
//! with its key, so an installer fixes them all in one pass.

use super::{toml_error, AnalysisConfig};
use crate::clock::{ShiftConfig, SiteClock};
use crate::error::{Error, Result};
use crate::geometry::Calibration;
use crate::rules::Zone;
use serde::Deserialize;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    pub site: Site,
    #[serde(default)]
    pub lines: Vec<Line>,
    pub cameras: Vec<Camera>,
    #[serde(default)]
    pub analysis: AnalysisConfig,
    #[serde(default)]
    pub mqtt: MqttConfig,
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default)]
    pub web: WebConfig,
    #[serde(default)]
    pub clips: ClipsConfig,
    /// Directory of the config file: relative paths in it resolve from here.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Site {
    /// Topic-safe site name, e.g. "hub-sha-01".
    pub name: String,
    /// IANA time zone of the site: days roll at its local midnight.
    pub timezone: String,
    /// This node's name, when a site runs several nodes. Default "node".
    #[serde(default = "default_node")]
    pub node: String,
    #[serde(default)]
    pub shifts: Vec<ShiftConfig>,
}

fn default_node() -> String {
    "node".into()
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Line {
    pub name: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Camera {
    /// Topic-safe camera id, e.g. "cam-01".
    pub id: String,
    /// Video file, `rtsp://` URL, `v4l:///dev/video0` or an image directory.
    pub source: String,
    /// User name for the stream, joined into the URL only when it is opened.
    pub username: Option<String>,
    /// File holding the stream password (never put it in `source`).
    pub password_file: Option<PathBuf>,
    pub calibration: PathBuf,
    /// Line this camera watches (a `[[lines]]` name).
    pub line: Option<String>,
    pub max_drop_cm: Option<f64>,
    pub max_throw_cm: Option<f64>,
    #[serde(default)]
    pub zones: Vec<Zone>,
    /// Files only: play at the file's own frame rate, as a live camera would.
    #[serde(default)]
    pub realtime: bool,
    /// Files only: start over at the end.
    #[serde(default, rename = "loop")]
    pub looped: bool,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttConfig {
    /// `mqtt://host:port`, `mqtts://host:port`, or `embedded` for a broker
    /// inside this process.
    pub broker: String,
    /// Where the embedded broker listens.
    pub embedded_listen: String,
    /// Every topic starts with this.
    pub prefix: String,
    /// Default `sortwatch-<site>-<node>`.
    pub client_id: Option<String>,
    pub username: Option<String>,
    /// File holding the broker password; `SORTWATCH_MQTT_PASSWORD` also works.
    pub password_file: Option<PathBuf>,
    /// CA certificate (PEM) for `mqtts://`; the system's roots when absent.
    pub ca_file: Option<PathBuf>,
    pub keep_alive_s: u64,
}

impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            broker: "mqtt://127.0.0.1:1883".into(),
            embedded_listen: "127.0.0.1:1883".into(),
            prefix: "sortwatch".into(),
            client_id: None,
            username: None,
            password_file: None,
            ca_file: None,
            keep_alive_s: 10,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    pub data_dir: PathBuf,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            data_dir: "data".into(),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// Address of the web server. Loopback unless you mean otherwise; empty
    /// turns the web server off.
    pub listen: String,
    /// Who may sign in (alerts, QA review, verdicts). The display page needs no login.
    pub users: Vec<WebUser>,
    /// A login lasts this long.
    pub session_hours: f64,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            listen: "127.0.0.1:8080".into(),
            users: Vec::new(),
            session_hours: 12.0,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebUser {
    pub name: String,
    /// Argon2 PHC string from `sortwatch hash-password`; never the password itself.
    pub password_hash: String,
    /// `qa` may confirm and reject violations; `supervisor` may only look.
    #[serde(default = "default_role")]
    pub role: Role,
}

fn default_role() -> Role {
    Role::Qa
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Qa,
    Supervisor,
}

/// Violation clips (`[clips]`): an H.264 MP4 and a JPEG snapshot per
/// violation under `DATA_DIR/clips/<camera>/`, pruned by age and disk use.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClipsConfig {
    /// Record clips at all. Default true.
    pub enabled: bool,
    /// Seconds of video before the landing or kick. Default 5.
    pub pre_roll_s: f64,
    /// Seconds of video after it. Default 3.
    pub post_roll_s: f64,
    /// Blur every head in stored clips and snapshots. Default true.
    pub blur_heads: bool,
    /// Clips are deleted this many days after they were written. Default 30.
    pub max_age_days: u32,
    /// ... or this many, for violations a QA reviewer confirmed. Default 365.
    pub confirmed_max_age_days: u32,
    /// Disk the clips may use, in MB (10^6 bytes); beyond it the oldest go
    /// first, unconfirmed before confirmed. Default 10240.
    pub max_disk_mb: u64,
}

impl Default for ClipsConfig {
    fn default() -> Self {
        ClipsConfig {
            enabled: true,
            pre_roll_s: 5.0,
            post_roll_s: 3.0,
            blur_heads: true,
            max_age_days: 30,
            confirmed_max_age_days: 365,
            max_disk_mb: 10240,
        }
    }
}

impl ClipsConfig {
    /// Problems as (key under `clips.`, message).
    fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        for (key, v) in [
            ("pre_roll_s", self.pre_roll_s),
            ("post_roll_s", self.post_roll_s),
        ] {
            if !(0.0..=60.0).contains(&v) {
                out.push((key, format!("{v} is not between 0 and 60 seconds")));
            }
        }
        if self.pre_roll_s + self.post_roll_s < 1.0 {
            out.push((
                "post_roll_s",
                "pre_roll_s + post_roll_s is under 1 s: a clip needs at least a second".into(),
            ));
        }
        if self.max_age_days == 0 {
            out.push(("max_age_days", "must be at least 1 day".into()));
        }
        if self.confirmed_max_age_days < self.max_age_days {
            out.push((
                "confirmed_max_age_days",
                format!(
                    "{} is less than max_age_days ({}): confirmed clips are kept at least as long as the others",
                    self.confirmed_max_age_days, self.max_age_days
                ),
            ));
        }
        if self.max_disk_mb == 0 {
            out.push((
                "max_disk_mb",
                "must be at least 1 MB (set `enabled = false` to record no clips)".into(),
            ));
        }
        out
    }
}

/// Where the broker is, parsed from `mqtt.broker`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Broker {
    Embedded,
    Remote { host: String, port: u16, tls: bool },
}

/// One problem found in a config: the key and what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.message.contains(&self.key) {
            f.write_str(&self.message)
        } else {
            write!(f, "key `{}`: {}", self.key, self.message)
        }
    }
}

impl ServiceConfig {
    /// Reads and parses `path` strictly; [`check`](Self::check) finds the rest.
    pub fn load(path: &Path) -> Result<ServiceConfig> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(path, "cannot read config file", e))?;
        let mut cfg = Self::parse(&text).map_err(|msg| {
            Error::config(format!(
                "config file {}: {msg} (see docs/config.md)",
                path.display()
            ))
        })?;
        cfg.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(cfg)
    }

    pub fn parse(text: &str) -> std::result::Result<ServiceConfig, String> {
        toml::from_str(text).map_err(|e| toml_error(text, &e))
    }

    /// Loads and checks: the first problem found is the error, naming its key.
    pub fn load_checked(path: &Path) -> Result<ServiceConfig> {
        let cfg = Self::load(path)?;
        match cfg.check().first() {
            Some(p) => Err(Error::config(format!(
                "config file {}: {p} (see docs/config.md)",
                path.display()
            ))),
            None => Ok(cfg),
        }
    }

    /// A path from the config, resolved against the config file's directory.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }

    pub fn clock(&self) -> Result<SiteClock> {
        SiteClock::new(&self.site.timezone, &self.site.shifts)
    }

    pub fn broker(&self) -> std::result::Result<Broker, String> {
        parse_broker(&self.mqtt.broker)
    }

    pub fn client_id(&self) -> String {
        self.mqtt
            .client_id
            .clone()
            .unwrap_or_else(|| format!("sortwatch-{}-{}", self.site.name, self.site.node))
    }

    /// Every problem in the config, each with its key. Empty when it is good.
    pub fn check(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        let mut bad = |key: String, message: String| out.push(Problem { key, message });
        for (key, name) in [
            ("site.name", &self.site.name),
            ("site.node", &self.site.node),
        ] {
            if let Err(m) = topic_safe(name) {
                bad(key.into(), m);
            }
        }
        if let Err(e) = SiteClock::new(&self.site.timezone, &[]) {
            bad("site.timezone".into(), e.to_string());
        }
        for (i, s) in self.site.shifts.iter().enumerate() {
            if let Err(e) = SiteClock::new("UTC", std::slice::from_ref(s)) {
                bad(format!("site.shifts[{i}]"), e.to_string());
            }
        }
        let lines: HashSet<&str> = self.lines.iter().map(|l| l.name.as_str()).collect();
        for (i, l) in self.lines.iter().enumerate() {
            if let Err(m) = topic_safe(&l.name) {
                bad(format!("lines[{i}].name"), m);
            }
        }
        if lines.len() != self.lines.len() {
            bad("lines".into(), "two lines have the same name".into());
        }
        if self.cameras.is_empty() {
            bad(
                "cameras".into(),
                "no cameras: add at least one [[cameras]] table".into(),
            );
        }
        let mut ids = HashSet::new();
        for (i, c) in self.cameras.iter().enumerate() {
            let key = |k: &str| format!("cameras[{i}].{k}");
            if let Err(m) = topic_safe(&c.id) {
                bad(key("id"), m);
            }
            if !ids.insert(c.id.as_str()) {
                bad(key("id"), format!("camera id `{}` is used twice", c.id));
            }
            if c.source.trim().is_empty() {
                bad(
                    key("source"),
                    "empty: give a file, rtsp:// URL or v4l:// device".into(),
                );
            } else if c.source.contains('@') && c.source.contains("://") {
                bad(
                    key("source"),
                    "has credentials in the URL: move them to `username` and `password_file` so they never reach logs".into(),
                );
            }
            if let Some(p) = &c.password_file {
                let p = self.resolve(p);
                if !p.is_file() {
                    bad(
                        key("password_file"),
                        format!("{} does not exist", p.display()),
                    );
                }
            }
            let cal = self.resolve(&c.calibration);
            match Calibration::load(&cal) {
                Ok(k) if k.camera != c.id => bad(
                    key("calibration"),
                    format!(
                        "{} is for camera `{}`, not `{}`: point at this camera's calibration",
                        cal.display(),
                        k.camera,
                        c.id
                    ),
                ),
                Ok(_) => {}
                Err(e) => bad(key("calibration"), e.to_string()),
            }
            match &c.line {
                Some(l) if !lines.contains(l.as_str()) => bad(
                    key("line"),
                    format!("`{l}` is not one of the [[lines]] names"),
                ),
                _ => {}
            }
            for (k, v) in [
                ("max_drop_cm", c.max_drop_cm),
                ("max_throw_cm", c.max_throw_cm),
            ] {
                if v.is_some_and(|v| v.is_nan() || v <= 0.0) {
                    bad(key(k), "must be a positive number of cm".into());
                }
            }
            for (z, zone) in c.zones.iter().enumerate() {
                if zone.floor_polygon_cm.len() < 3 {
                    bad(
                        key(&format!("zones[{z}].floor_polygon_cm")),
                        "needs at least 3 corners".into(),
                    );
                }
            }
        }
        let model = self.resolve(&self.analysis.pose.model);
        if !model.is_file() && !self.analysis.pose.model.is_file() {
            bad(
                "analysis.pose.model".into(),
                format!("{} does not exist", model.display()),
            );
        }
        match self.broker() {
            Err(m) => bad("mqtt.broker".into(), m),
            Ok(Broker::Embedded) => {
                if let Err(m) = listen_addr(&self.mqtt.embedded_listen) {
                    bad("mqtt.embedded_listen".into(), m);
                }
            }
            Ok(Broker::Remote { tls, .. }) => {
                if self.mqtt.ca_file.is_some() && !tls {
                    bad(
                        "mqtt.ca_file".into(),
                        "is set but the broker URL is mqtt://: use mqtts:// for TLS".into(),
                    );
                }
            }
        }
        if let Err(m) = topic_safe(&self.mqtt.prefix.replace('/', "_")) {
            bad("mqtt.prefix".into(), m);
        }
        for (key, p) in [
            ("mqtt.password_file", &self.mqtt.password_file),
            ("mqtt.ca_file", &self.mqtt.ca_file),
        ] {
            if let Some(p) = p {
                let p = self.resolve(p);
                if !p.is_file() {
                    bad(key.into(), format!("{} does not exist", p.display()));
                }
            }
        }
        if !self.web.listen.is_empty() {
            if let Err(m) = listen_addr(&self.web.listen) {
                bad("web.listen".into(), m);
            }
        }
        if self.web.session_hours.is_nan() || self.web.session_hours <= 0.0 {
            bad(
                "web.session_hours".into(),
                "must be a positive number of hours".into(),
            );
        }
        let mut names = HashSet::new();
        for (i, u) in self.web.users.iter().enumerate() {
            if u.name.trim().is_empty() || !names.insert(u.name.as_str()) {
                bad(
                    format!("web.users[{i}].name"),
                    format!("`{}` is empty or used twice", u.name),
                );
            }
            if argon2::PasswordHash::new(&u.password_hash).is_err() {
                bad(
                    format!("web.users[{i}].password_hash"),
                    "is not an argon2 hash: make one with `sortwatch hash-password` (never put the password itself here)".into(),
                );
            }
        }
        for (key, m) in self.clips.problems() {
            bad(format!("clips.{key}"), m);
        }
        out
    }
}

/// Topic levels must not contain MQTT wildcards or separators.
fn topic_safe(s: &str) -> std::result::Result<(), String> {
    if s.is_empty()
        || !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(format!(
            "`{s}` must be letters, digits, '-', '_' or '.' (it becomes part of MQTT topics)"
        ));
    }
    Ok(())
}

fn listen_addr(s: &str) -> std::result::Result<SocketAddr, String> {
    s.parse()
        .map_err(|_| format!("`{s}` is not an address like 127.0.0.1:8080"))
}

fn parse_broker(s: &str) -> std::result::Result<Broker, String> {
    if s == "embedded" {
        return Ok(Broker::Embedded);
    }
    if s.contains('@') {
        return Err("has credentials in it: use mqtt.username and mqtt.password_file".into());
    }
    let (tls, rest) = if let Some(r) = s.strip_prefix("mqtts://") {
        (true, r)
    } else if let Some(r) = s.strip_prefix("mqtt://") {
        (false, r)
    } else {
        return Err(format!(
            "`{s}` is not mqtt://host:port, mqtts://host:port or embedded"
        ));
    };
    let rest = rest.trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>()
                .map_err(|_| format!("`{p}` in `{s}` is not a port number"))?,
        ),
        None => (rest, if tls { 8883 } else { 1883 }),
    };
    if host.is_empty() {
        return Err(format!("`{s}` has no host"));
    }
    Ok(Broker::Remote {
        host: host.trim_matches(['[', ']']).to_string(),
        port,
        tls,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_node_config_parses() {
        let doc = include_str!("../../docs/config.md");
        let at = doc.find("## Node config").expect("a node config section");
        let start = at + doc[at..].find("```toml").expect("a TOML block") + 7;
        let end = start + doc[start..].find("```").expect("closed block");
        let cfg = ServiceConfig::parse(&doc[start..end]).unwrap();
        assert_eq!(cfg.site.shifts.len(), 2);
        assert_eq!(cfg.cameras[0].zones[0].name, "dock-3");
        assert!(!cfg.cameras[0].looped);
        assert_eq!(
            cfg.broker(),
            Ok(Broker::Remote {
                host: "127.0.0.1".into(),
                port: 1883,
                tls: false
            })
        );
        assert_eq!(cfg.client_id(), "sortwatch-hub-sha-01-node-1");
        assert_eq!(cfg.web.users[0].role, Role::Qa);
        assert!(argon2::PasswordHash::new(&cfg.web.users[0].password_hash).is_ok());
        assert!(cfg.clips.enabled && cfg.clips.blur_heads);
        assert_eq!(cfg.clips.pre_roll_s, 5.0);
        assert_eq!(cfg.clips.max_disk_mb, 10240);
    }

    #[test]
    fn clip_settings_out_of_range_are_reported_with_their_keys() {
        let bad = ClipsConfig {
            pre_roll_s: -1.0,
            max_age_days: 40,
            confirmed_max_age_days: 7,
            max_disk_mb: 0,
            ..ClipsConfig::default()
        };
        let keys: Vec<&str> = bad.problems().iter().map(|p| p.0).collect();
        assert_eq!(
            keys,
            ["pre_roll_s", "confirmed_max_age_days", "max_disk_mb"]
        );
        assert!(ClipsConfig::default().problems().is_empty());
    }

    #[test]
    fn broker_urls() {
        assert_eq!(parse_broker("embedded"), Ok(Broker::Embedded));
        assert_eq!(
            parse_broker("mqtt://10.1.2.3:1884"),
            Ok(Broker::Remote {
                host: "10.1.2.3".into(),
                port: 1884,
                tls: false
            })
        );
        assert_eq!(
            parse_broker("mqtts://broker.hub"),
            Ok(Broker::Remote {
                host: "broker.hub".into(),
                port: 8883,
                tls: true
            })
        );
        assert!(parse_broker("mqtt://u:secret@h:1883")
            .unwrap_err()
            .contains("credentials"));
        assert!(parse_broker("tcp://h").is_err());
    }
}
