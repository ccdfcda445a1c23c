//! `sortwatch demo`: the whole service on embedded defaults. The shipped
//! sample scenes (rendered by the simulator on first use) and the real CCTV
//! clip play as live cameras, looped at real-time speed, into an embedded
//! MQTT broker and a SQLite store in a data directory.

use crate::config::service::{
    Camera, Line, MqttConfig, Role, ServiceConfig, Site, StorageConfig, WebConfig,
};
use crate::config::AnalysisConfig;
use crate::error::{Error, Result};
use crate::service::Node;
use crate::sim::{self, Scenario};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Where the store and the rendered scenes go.
    #[arg(long, default_value = "out/demo")]
    pub data_dir: PathBuf,
    /// Use this broker (mqtt://host:port) instead of starting one.
    #[arg(long)]
    pub broker: Option<String>,
    /// Where the embedded broker listens (a free port is picked if it is busy).
    #[arg(long, default_value = "127.0.0.1:1883")]
    pub mqtt_listen: String,
    /// Where the web pages are served (a free port is picked if it is busy).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub web_listen: String,
    /// The real CCTV clip (skipped, with a note, when missing).
    #[arg(long, default_value = "samples/vtest.avi")]
    pub real_clip: PathBuf,
}

/// The sample scenes, built in so the demo runs from anywhere.
const SCENES: [(&str, &str); 4] = [
    (
        "toss-82cm",
        include_str!("../../samples/scenarios/toss-82cm.toml"),
    ),
    ("kick", include_str!("../../samples/scenarios/kick.toml")),
    (
        "two-workers-busy",
        include_str!("../../samples/scenarios/two-workers-busy.toml"),
    ),
    (
        "gentle-place-conveyor",
        include_str!("../../samples/scenarios/gentle-place-conveyor.toml"),
    ),
];

pub const SITE: &str = "demo-hub";

/// Renders the scenes that are not there yet; returns their directories.
fn scenes(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    ffmpeg_next::util::log::set_level(ffmpeg_next::util::log::Level::Error);
    let mut out = Vec::new();
    for (name, text) in SCENES {
        let d = dir.join("scenes").join(name);
        let done = d.join("video.mp4").is_file() && d.join("calibration.toml").is_file();
        if !done {
            let s = Scenario::parse(text)
                .map_err(|e| Error::internal(format!("built-in scenario {name}: {e}")))?;
            eprintln!("demo: rendering the {name} scene (once)");
            sim::render(&s, &d)?;
        }
        let cal = crate::geometry::Calibration::load(&d.join("calibration.toml"))?;
        out.push((cal.camera, d));
    }
    Ok(out)
}

fn system_timezone() -> String {
    jiff::tz::TimeZone::system()
        .iana_name()
        .unwrap_or("UTC")
        .to_string()
}

/// The demo's node config, as a user would write it.
pub fn config(args: &Args) -> Result<ServiceConfig> {
    let data_dir = std::path::absolute(&args.data_dir)
        .map_err(|e| Error::io(&args.data_dir, "bad data directory", e))?;
    let camera = |id: String, source: &Path, calibration: PathBuf, line: &str| Camera {
        id,
        source: source.display().to_string(),
        username: None,
        password_file: None,
        calibration,
        line: Some(line.into()),
        max_drop_cm: None,
        max_throw_cm: None,
        zones: Vec::new(),
        realtime: true,
        looped: true,
    };
    let mut cameras: Vec<Camera> = scenes(&data_dir)?
        .into_iter()
        .map(|(id, d)| {
            camera(
                id,
                &d.join("video.mp4"),
                d.join("calibration.toml"),
                "line-a",
            )
        })
        .collect();
    // From the checkout the binary was built in, when run from elsewhere.
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR"));
    let clip = [args.real_clip.clone(), checkout.join(&args.real_clip)]
        .into_iter()
        .find(|p| p.is_file());
    let vtest_cal = checkout.join("calibration/vtest.toml");
    if let (Some(clip), true) = (clip, vtest_cal.is_file()) {
        cameras.push(camera("vtest".into(), &clip, vtest_cal, "line-b"));
    } else {
        eprintln!(
            "demo: {} is missing, so the real clip is left out (scripts/setup.sh installs it)",
            args.real_clip.display()
        );
    }
    let mut mqtt = MqttConfig::default();
    match &args.broker {
        Some(b) => mqtt.broker = b.clone(),
        None => {
            mqtt.broker = "embedded".into();
            mqtt.embedded_listen = free_or_any(&args.mqtt_listen);
        }
    }
    Ok(ServiceConfig {
        site: Site {
            name: SITE.into(),
            timezone: system_timezone(),
            node: "demo".into(),
            shifts: Vec::new(),
        },
        lines: vec![
            Line {
                name: "line-a".into(),
            },
            Line {
                name: "line-b".into(),
            },
        ],
        cameras,
        analysis: AnalysisConfig::default(),
        mqtt,
        storage: StorageConfig {
            data_dir: data_dir.clone(),
        },
        web: WebConfig {
            listen: free_or_any(&args.web_listen),
            users: crate::web::users(&[("qa", &demo_password(&data_dir)?, Role::Qa)]),
            ..WebConfig::default()
        },
        clips: Default::default(),
        base_dir: PathBuf::new(),
    })
}

/// The demo QA user's password: made up once, kept in `DATA_DIR/qa-password`
/// (readable by this user only).
fn demo_password(data_dir: &Path) -> Result<String> {
    let path = data_dir.join("qa-password");
    if let Ok(p) = std::fs::read_to_string(&path) {
        if p.trim().len() >= 8 {
            return Ok(p.trim().to_string());
        }
    }
    use argon2::password_hash::rand_core::{OsRng, RngCore};
    let password = format!("{:016x}", OsRng.next_u64());
    crate::fs::create_parent_dir(&path)?;
    std::fs::write(&path, &password)
        .map_err(|e| Error::io(&path, "cannot write the demo password", e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
    }
    Ok(password)
}

/// `listen` if nothing holds it, else the same address on a free port.
fn free_or_any(listen: &str) -> String {
    match std::net::TcpListener::bind(listen) {
        Ok(_) => listen.to_string(),
        Err(_) => {
            let host = listen.rsplit_once(':').map_or("127.0.0.1", |(h, _)| h);
            std::net::TcpListener::bind((host, 0))
                .and_then(|l| l.local_addr())
                .map_or(listen.to_string(), |a| a.to_string())
        }
    }
}

pub fn run(args: &Args) -> Result<()> {
    let cfg = config(args)?;
    if let Some(p) = cfg.check().first() {
        return Err(Error::config(format!("demo config: {p}")));
    }
    let node = Node::start(&cfg)?;
    let (host, port) = node
        .broker
        .rsplit_once(':')
        .unwrap_or((&node.broker, "1883"));
    eprintln!(
        "demo: {} cameras playing in real time, looped: {}",
        cfg.cameras.len(),
        cfg.cameras
            .iter()
            .map(|c| c.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    eprintln!(
        "demo: MQTT on {}; watch it with\n  mosquitto_sub -h {host} -p {port} -t '{}/{SITE}/#' -v",
        node.broker, cfg.mqtt.prefix
    );
    if let Some(web) = node.web {
        eprintln!(
            "demo: web pages on http://{web}/ (display), /alerts and /review: sign in as `qa` with the password in {}",
            cfg.storage.data_dir.join("qa-password").display()
        );
    }
    eprintln!(
        "demo: store in {}; Ctrl-C stops",
        cfg.storage.data_dir.display()
    );
    node.wait(false);
    Ok(())
}
