//! The live service against Debian's real mosquitto, with `mosquitto_sub` as
//! the independent client: violations arrive with the documented payload,
//! retained compliance reaches a late subscriber, a broker outage loses
//! nothing, and a `kill -9` loses neither counters nor unsent violations.

mod common;

use common::mqtt::{assert_documented, free_port, json_on, Mosquitto, Sub};
use common::{assert_ok, run_ok, simulate, sortwatch};
use serde_json::Value;
use sortwatch::store::Store;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const SITE: &str = "hub-t";

/// Renders the kick sample once per test (a few seconds).
fn kick_scene(dir: &Path) -> PathBuf {
    let out = dir.join("kick");
    let o = simulate("samples/scenarios/kick.toml", &out);
    assert_ok(&o);
    out
}

/// A node with the kick scene as camera `sim-kick`, plus `more` camera tables.
fn node_config(dir: &Path, broker: &str, scene: &Path, looped: bool, more: &str) -> PathBuf {
    let cfg = dir.join("node.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[site]
name = "{SITE}"
timezone = "Asia/Shanghai"

[[lines]]
name = "line-a"

[[cameras]]
id = "sim-kick"
source = "{video}"
calibration = "{cal}"
line = "line-a"
loop = {looped}
{more}
[mqtt]
broker = "{broker}"

[storage]
data_dir = "{data}"

[web]
listen = "127.0.0.1:0"
"#,
            video = scene.join("video.mp4").display(),
            cal = scene.join("calibration.toml").display(),
            data = dir.join("data").display(),
        ),
    )
    .unwrap();
    cfg
}

fn spawn_run(cfg: &Path, extra: &[&str]) -> Child {
    sortwatch()
        .args(["run", "--config"])
        .arg(cfg)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_exit(mut child: Child, secs: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("sortwatch run did not finish within {secs} s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    assert_ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    stderr
}

fn violations(lines: &[(String, String)]) -> Vec<Value> {
    json_on(lines, &format!("sortwatch/{SITE}/violations/"))
        .into_iter()
        .map(|(_, v)| v)
        .collect()
}

/// Violation ids in the order they were committed.
fn stored_ids(data: &Path) -> Vec<String> {
    let store = Store::open(data).unwrap();
    let mut v = store.violations(0, i64::MAX, 10_000).unwrap();
    v.reverse();
    v.into_iter().map(|s| s.row.id).collect()
}

#[test]
fn violations_arrive_documented_and_a_late_subscriber_gets_retained_compliance() {
    let d = common::tmp();
    let scene = kick_scene(d.path());
    let broker = Mosquitto::start(&d.path().join("broker"), free_port());
    let early = Sub::start(broker.port, &format!("sortwatch/{SITE}/#"), None);
    std::thread::sleep(Duration::from_millis(300));
    let cfg = node_config(
        d.path(),
        &format!("mqtt://127.0.0.1:{}", broker.port),
        &scene,
        false,
        "",
    );
    wait_exit(spawn_run(&cfg, &["--exit-when-done"]), 600);

    let stored = stored_ids(&d.path().join("data"));
    assert!(!stored.is_empty(), "the kick sample yields a violation");
    let lines = early.wait_for(10, "every stored violation", |l| {
        violations(l).len() >= stored.len()
    });
    let got = violations(&lines);
    let ids: Vec<&str> = got.iter().map(|v| v["id"].as_str().unwrap()).collect();
    assert_eq!(ids, stored, "each stored violation once, in order");
    for v in &got {
        assert_documented("sortwatch/violation.schema.json", v);
        assert_eq!(v["kind"], "kick");
        assert_eq!(v["camera"], "sim-kick");
        assert_eq!(v["line"], "line-a");
        assert!(v["kick_distance_cm"].as_f64().unwrap() >= 25.0);
    }
    for (topic, v) in json_on(&lines, &format!("sortwatch/{SITE}/health/")) {
        assert_eq!(topic, format!("sortwatch/{SITE}/health/sim-kick"));
        assert_documented("sortwatch/health.schema.json", &v);
    }
    let avail = json_on(&lines, &format!("sortwatch/{SITE}/node/"));
    // A slow first connection may be taken over by the retry; the broker then
    // sends the first connection's last will (offline) before the node's online.
    assert!(
        avail.iter().any(|(_, v)| v["state"] == "online"),
        "{avail:?}"
    );
    assert_eq!(
        avail.last().map(|(_, v)| v["state"].clone()),
        Some("offline".into()),
        "a clean stop says offline"
    );

    // Connects after everything happened: the retained figures are there.
    let late = Sub::start(broker.port, &format!("sortwatch/{SITE}/compliance/#"), None);
    let lines = late.wait_for(10, "retained site, line and camera compliance", |l| {
        l.len() >= 3
    });
    let by_topic: std::collections::BTreeMap<String, Value> =
        json_on(&lines, "sortwatch/").into_iter().collect();
    for scope in ["site", "line/line-a", "camera/sim-kick"] {
        let v = &by_topic[&format!("sortwatch/{SITE}/compliance/{scope}")];
        assert_documented("sortwatch/compliance.schema.json", v);
        assert_eq!(
            v["kicks"].as_u64(),
            Some(stored.len() as u64),
            "{scope}: {v}"
        );
        assert_eq!(v["timezone"], "Asia/Shanghai");
        let handled = v["handled"].as_u64().unwrap();
        if handled > 0 {
            let rate = v["rate"].as_f64().unwrap();
            let expect = handled.saturating_sub(stored.len() as u64) as f64 / handled as f64;
            assert!((rate - expect).abs() < 1e-9, "{scope}: {v}");
        }
    }

    // QA rejects the first violation. A node on the same store (its camera is
    // gone, so nothing new happens) publishes the verdict, and the kick stops
    // counting.
    run_ok(sortwatch().args(["verdict", "--config"]).arg(&cfg).args([
        &stored[0],
        "rejected",
        "--user",
        "qa1",
        "--note",
        "fell off the cart",
    ]));
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        &scene.join("video.mp4").display().to_string(),
        "/nonexistent/camera.mp4",
    );
    std::fs::write(&cfg, text).unwrap();
    let sub = Sub::start(broker.port, &format!("sortwatch/{SITE}/#"), None);
    let mut run = spawn_run(&cfg, &[]);
    let camera_topic = format!("sortwatch/{SITE}/compliance/camera/sim-kick");
    let want = stored.len() as u64 - 1;
    let lines = sub.wait_for(
        30,
        "the verdict, and compliance without the rejected kick",
        |l| {
            !json_on(l, &format!("sortwatch/{SITE}/verdicts/")).is_empty()
                && json_on(l, &camera_topic)
                    .iter()
                    .any(|(_, v)| v["kicks"].as_u64() == Some(want))
        },
    );
    let _ = run.kill();
    let _ = run.wait();
    let verdicts = json_on(&lines, &format!("sortwatch/{SITE}/verdicts/sim-kick"));
    assert_eq!(verdicts.len(), 1);
    assert_documented("sortwatch/verdict.schema.json", &verdicts[0].1);
    assert_eq!(verdicts[0].1["violation_id"], stored[0].as_str());
    assert_eq!(verdicts[0].1["verdict"], "rejected");
}

#[test]
fn a_broker_outage_of_30_s_loses_no_violation_and_keeps_their_order() {
    let d = common::tmp();
    let scene = kick_scene(d.path());
    let mut broker = Mosquitto::start(&d.path().join("broker"), free_port());
    let topic = format!("sortwatch/{SITE}/violations/#");
    // A persistent session: while it is away the broker keeps its messages.
    let sub = Sub::start(broker.port, &topic, Some("qa-outage"));
    std::thread::sleep(Duration::from_millis(300));
    let cfg = node_config(
        d.path(),
        &format!("mqtt://127.0.0.1:{}", broker.port),
        &scene,
        true,
        "",
    );
    let data = d.path().join("data");
    let mut run = spawn_run(&cfg, &[]);
    sub.wait_for(300, "a first violation before the outage", |l| {
        !violations(l).is_empty()
    });

    broker.stop();
    let before = stored_ids(&data).len();
    let down = Instant::now();
    // Violations keep happening while the broker is away.
    while down.elapsed() < Duration::from_secs(30) || stored_ids(&data).len() <= before {
        assert!(
            down.elapsed() < Duration::from_secs(240),
            "no violation during the outage"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let during = stored_ids(&data).len() - before;
    let outage = down.elapsed();
    broker.restart();
    let stored = stored_ids(&data);
    sub.wait_for(120, "every violation stored so far", |l| {
        let got: std::collections::HashSet<String> = violations(l)
            .iter()
            .map(|v| v["id"].as_str().unwrap().to_string())
            .collect();
        stored.iter().all(|id| got.contains(id))
    });
    let _ = run.kill();
    let _ = run.wait();

    let got: Vec<String> = violations(&sub.lines())
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect();
    // Repeats are QoS 1 redeliveries of the same id; first arrivals keep order.
    let mut first = Vec::new();
    for id in &got {
        if !first.contains(id) {
            first.push(id.clone());
        }
    }
    assert_eq!(&first[..stored.len()], &stored[..], "in order, none lost");
    assert!(during >= 1, "violations happened during the outage");
    println!(
        "outage of {:.0} s: {} violations stored, {during} during the outage; {} messages received, {} distinct",
        outage.as_secs_f64(),
        stored.len(),
        got.len(),
        first.len()
    );
}

#[test]
fn kill_9_keeps_todays_counters_and_the_unsent_violations() {
    let d = common::tmp();
    let scene = kick_scene(d.path());
    let port = free_port();
    // No broker yet: violations wait in the outbox.
    let cfg = node_config(
        d.path(),
        &format!("mqtt://127.0.0.1:{port}"),
        &scene,
        true,
        "",
    );
    let data = d.path().join("data");
    let mut run = spawn_run(&cfg, &[]);
    let deadline = Instant::now() + Duration::from_secs(300);
    while stored_ids(&data).is_empty() {
        assert!(Instant::now() < deadline, "no violation stored");
        std::thread::sleep(Duration::from_millis(300));
    }
    run.kill().unwrap(); // SIGKILL
    run.wait().unwrap();

    let store = Store::open(&data).unwrap();
    let unsent = store.outbox_len().unwrap();
    let counts = store.counts(0, i64::MAX).unwrap();
    let kicks: u64 = counts.iter().map(|c| c.kicks).sum();
    assert!(unsent >= 1 && kicks >= 1, "outbox {unsent}, kicks {kicks}");
    let ids = stored_ids(&data);
    drop(store);

    // Restart with the broker up: the unsent violations go out, and the
    // retained compliance still counts the kicks from before the crash.
    let broker = Mosquitto::start(&d.path().join("broker"), port);
    let sub = Sub::start(broker.port, &format!("sortwatch/{SITE}/#"), None);
    std::thread::sleep(Duration::from_millis(300));
    let mut run = spawn_run(&cfg, &[]);
    let site_topic = format!("sortwatch/{SITE}/compliance/site");
    let lines = sub.wait_for(
        60,
        "the violations stored before the crash, and compliance",
        |l| {
            let got: Vec<String> = violations(l)
                .iter()
                .map(|v| v["id"].as_str().unwrap().to_string())
                .collect();
            ids.iter().all(|id| got.contains(id)) && l.iter().any(|(t, _)| *t == site_topic)
        },
    );
    let site = json_on(&lines, &site_topic);
    let _ = run.kill();
    let _ = run.wait();
    let (_, first) = site
        .first()
        .expect("compliance published after the restart");
    assert!(
        first["kicks"].as_u64().unwrap() >= kicks,
        "today's counters survived: {first}"
    );
}

#[test]
fn an_unreachable_broker_at_start_is_reported_then_retried() {
    let d = common::tmp();
    let scene = kick_scene(d.path());
    let port = free_port();
    let cfg = node_config(
        d.path(),
        &format!("mqtt://127.0.0.1:{port}"),
        &scene,
        true,
        "",
    );
    let mut run = spawn_run(&cfg, &[]);
    // Read stderr until the report appears.
    let stderr = run.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let report = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("a report on stderr");
        if line.contains("mqtt") {
            break line;
        }
    };
    for needle in [
        "key `mqtt.broker`",
        &format!("127.0.0.1:{port}"),
        "retrying",
    ] {
        assert!(report.contains(needle), "`{needle}` missing from: {report}");
    }
    let broker = Mosquitto::start(&d.path().join("broker"), port);
    let sub = Sub::start(broker.port, &format!("sortwatch/{SITE}/node/#"), None);
    sub.wait_for(40, "the node online once the broker is up", |l| {
        json_on(l, "sortwatch/")
            .iter()
            .any(|(_, v)| v["state"] == "online")
    });
    let _ = run.kill();
    let _ = run.wait();
}

#[test]
fn a_camera_that_drops_out_is_reconnected_while_the_others_carry_on() {
    let d = common::tmp();
    let scene = kick_scene(d.path());
    let broker = Mosquitto::start(&d.path().join("broker"), free_port());
    // A network camera: ffmpeg serving the scene as MPEG-TS over TCP.
    let cam_port = free_port();
    let serve = || {
        std::process::Command::new("ffmpeg")
            .args([
                "-nostdin",
                "-loglevel",
                "error",
                "-re",
                "-stream_loop",
                "-1",
                "-i",
            ])
            .arg(scene.join("video.mp4"))
            .args(["-c", "copy", "-f", "mpegts"])
            .arg(format!("tcp://127.0.0.1:{cam_port}?listen=1"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut camera = serve();
    // The network camera sees the same scene; its calibration is a copy under its id.
    let cal = scene.join("calibration.toml");
    let net_cal = d.path().join("net-cam.toml");
    let text = std::fs::read_to_string(&cal).unwrap();
    std::fs::write(
        &net_cal,
        text.replace("camera = \"sim-kick\"", "camera = \"net-cam\""),
    )
    .unwrap();
    let net_cam = format!(
        "\n[[cameras]]\nid = \"net-cam\"\nsource = \"tcp://127.0.0.1:{cam_port}\"\ncalibration = \"{}\"\n",
        net_cal.display()
    );
    let cfg = node_config(
        d.path(),
        &format!("mqtt://127.0.0.1:{}", broker.port),
        &scene,
        true,
        &net_cam,
    );
    let sub = Sub::start(broker.port, &format!("sortwatch/{SITE}/health/#"), None);
    let mut run = spawn_run(&cfg, &[]);
    let health = |l: &[(String, String)], cam: &str| -> Vec<Value> {
        json_on(l, &format!("sortwatch/{SITE}/health/{cam}"))
            .into_iter()
            .map(|(_, v)| v)
            .collect()
    };
    sub.wait_for(120, "the network camera running", |l| {
        health(l, "net-cam")
            .iter()
            .any(|v| v["state"] == "running" && v["frames"].as_u64() > Some(0))
    });
    let _ = camera.kill(); // the camera disappears
    let _ = camera.wait();
    let lines = sub.wait_for(60, "the network camera reconnecting", |l| {
        health(l, "net-cam")
            .iter()
            .any(|v| v["state"] == "reconnecting")
    });
    let down = health(&lines, "net-cam")
        .into_iter()
        .find(|v| v["state"] == "reconnecting")
        .unwrap();
    assert_eq!(down["connected"], false);
    assert!(down["error"].is_string(), "{down}");
    let file_frames = |l: &[(String, String)]| {
        health(l, "sim-kick")
            .last()
            .and_then(|v| v["frames"].as_u64())
            .unwrap_or(0)
    };
    let before = file_frames(&lines);
    camera = serve(); // it comes back
    let seen = sub.lines().len();
    let lines = sub.wait_for(90, "the network camera running again", |l| {
        health(&l[seen..], "net-cam")
            .iter()
            .any(|v| v["state"] == "running" && v["connected"] == true)
    });
    assert!(file_frames(&lines) > before, "the other camera carried on");
    let _ = camera.kill();
    let _ = camera.wait();
    let _ = run.kill();
    let _ = run.wait();
}
