//! The web pages in Debian's real headless Chromium, against a real node
//! (`sortwatch run` with mosquitto): the display updates live when a
//! violation arrives, a QA user signs in and rejects it and the rate goes
//! back, and the violation's clip plays to its end. Screenshots of every page
//! are saved under `target/test-artifacts/screenshots/`.

mod common;

use common::mqtt::{free_port, Mosquitto};
use common::webdriver::Browser;
use common::{assert_ok, simulate, sortwatch, tmp, LATE_KICK};
use serde_json::json;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const USER: &str = "qa1";
const PASSWORD: &str = "floor-qa-pass";

fn artifacts() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("../test-artifacts/screenshots")
}

struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        // SIGTERM: a clean stop, like systemd's.
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.0.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A node whose one camera is a file that does not exist yet: it is retried
/// until the test puts the kick scene there, after the display has loaded.
fn start_node(dir: &Path, scene: &Path, broker: u16, web: u16, video: &Path) -> Node {
    let cfg = dir.join("node.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[site]
name = "hub-web"
timezone = "Europe/Berlin"

[[lines]]
name = "line-a"

[[cameras]]
id = "sim-kick"
source = "{video}"
calibration = "{cal}"
line = "line-a"

[mqtt]
broker = "mqtt://127.0.0.1:{broker}"

[storage]
data_dir = "{data}"

[web]
listen = "127.0.0.1:{web}"

[[web.users]]
name = "{USER}"
password_hash = "{hash}"
role = "qa"
"#,
            video = video.display(),
            cal = scene.join("calibration.toml").display(),
            data = dir.join("data").display(),
            hash = sortwatch::web::hash_password(PASSWORD),
        ),
    )
    .unwrap();
    let mut child = sortwatch()
        .args(["run", "--config"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", web)).is_err() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "sortwatch run exited ({status}) before its web server started; its error is above"
            );
        }
        assert!(Instant::now() < deadline, "the web server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    Node(child)
}

#[test]
fn display_review_and_clip_in_headless_chromium() {
    let dir = tmp();
    let scene = dir.path().join("kick");
    let scenario = dir.path().join("late-kick.toml");
    std::fs::write(&scenario, LATE_KICK).unwrap();
    let o = simulate(scenario.to_str().unwrap(), &scene);
    assert_ok(&o);
    let broker = Mosquitto::start(&dir.path().join("broker"), free_port());
    let web = free_port();
    let video = dir.path().join("camera/sim-kick.mp4");
    let _node = start_node(dir.path(), &scene, broker.port, web, &video);
    let base = format!("http://127.0.0.1:{web}");
    let shots = artifacts();
    let b = Browser::start();

    // The display, connected to the live events, before anything happened.
    b.goto(&format!("{base}/"));
    b.wait(30, "the live link", |b| {
        (b.text("#link") == "live").then_some(())
    });
    b.exec("window.__notReloaded = true;", json!([]));
    let before = b.text("#rate");
    assert_eq!(b.text("#violations"), "0");
    b.screenshot(&shots.join("display-before.png"));

    // The camera comes up: the kick scene plays and the figures change in place.
    std::fs::create_dir_all(video.parent().unwrap()).unwrap();
    let part = video.with_extension("part");
    std::fs::copy(scene.join("video.mp4"), &part).unwrap();
    std::fs::rename(&part, &video).unwrap();
    b.wait(240, "the violation on the display", |b| {
        let n: u64 = b.text("#violations").parse().ok()?;
        (n > 0).then_some(n)
    });
    let during = b.text("#rate");
    assert_ne!(during, before, "the rate changed");
    assert_eq!(
        b.exec("return window.__notReloaded === true;", json!([])),
        true,
        "without a reload"
    );
    b.screenshot(&shots.join("display-violation.png"));

    // A QA user signs in from the alerts page, in a second tab.
    let display_tab = b.new_tab();
    b.goto(&format!("{base}/alerts"));
    b.wait(10, "the login page", |b| {
        b.url().contains("/login?next=/alerts").then_some(())
    });
    b.type_into("#user", USER);
    b.type_into("#password", PASSWORD);
    b.click("#submit");
    b.wait(20, "the alerts list", |b| {
        (b.url().ends_with("/alerts") && b.text("#alerts").contains("confidence")).then_some(())
    });
    // Wait for the clip, then show the alert with its snapshot.
    let id = b.wait(120, "every clip to be ready", |b| {
        let v = b.exec_async(
            "fetch('/api/violations').then(r => r.json()).then(arguments[0], e => arguments[0](null));",
            json!([]),
        );
        let all = v["violations"].as_array()?;
        let ready = all.iter().all(|x| x["clip_ready"] == true);
        (ready && !all.is_empty()).then(|| all[0]["id"].as_str().unwrap().to_string())
    });
    b.goto(&format!("{base}/alerts"));
    b.wait(20, "the snapshots", |b| {
        let ok = b.exec(
            "const i = [...document.querySelectorAll('#alerts li')].map(li => li.querySelector('img'));
             return i.length > 0 && i.every(x => x && x.complete && x.naturalWidth > 0);",
            json!([]),
        );
        (ok == true).then_some(())
    });
    b.screenshot(&shots.join("alerts.png"));

    // The review page plays the clip to its end.
    b.goto(&format!("{base}/review#{id}"));
    b.wait(20, "the clip player", |b| {
        (b.text("#current").contains("to review")).then_some(())
    });
    b.screenshot(&shots.join("review.png"));
    let played = b.exec_async(
        "const done = arguments[0], v = document.getElementById('video');
         v.muted = true; v.playbackRate = 2;
         v.addEventListener('ended', () => done({ended: true, duration: v.duration, at: v.currentTime}));
         v.addEventListener('error', () => done({error: v.error ? v.error.code + ' ' + v.error.message : 'error'}));
         v.play().catch(e => done({error: String(e)}));",
        json!([]),
    );
    assert_eq!(
        played["ended"], true,
        "the clip played to its end: {played}"
    );
    eprintln!("web_browser: the clip played in Chromium: {played}");
    let duration = played["duration"].as_f64().unwrap();
    assert!(
        (duration - 8.0).abs() <= 0.5,
        "pre-roll 5 s + post-roll 3 s: {played}"
    );

    // ...and rejects what was flagged: the display goes back without a reload.
    b.goto(&format!("{base}/review"));
    b.wait(20, "the list", |b| {
        b.text("#list").contains("to review").then_some(())
    });
    while b.text("#list").contains("to review") {
        b.exec(
            "document.querySelector('#list tr td.warn').parentElement.click();",
            json!([]),
        );
        b.type_into("#note", "parcel was empty packaging, pushed aside");
        b.click("#reject");
        b.wait(20, "the verdict", |b| {
            b.text("#current").contains("rejected").then_some(())
        });
    }
    b.screenshot(&shots.join("review-rejected.png"));
    b.switch_to(&display_tab);
    b.wait(20, "the display to drop the violations", |b| {
        (b.text("#violations") == "0").then_some(())
    });
    let after = b.text("#rate");
    assert_eq!(
        after, "100.0%",
        "the rate went back: {before} → {during} → {after}"
    );
    assert_eq!(
        b.exec("return window.__notReloaded === true;", json!([])),
        true
    );
    b.screenshot(&shots.join("display-after-reject.png"));
}
