//! `sortwatch demo`: starts on embedded defaults, and its retained compliance
//! is visible with `mosquitto_sub`; with an external broker it starts none.

mod common;

use common::mqtt::{free_port, json_on, Mosquitto, Sub};
use common::sortwatch;
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::Duration;

struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn demo(data: &std::path::Path, extra: &[&str]) -> Demo {
    Demo(
        sortwatch()
            .arg("demo")
            .arg("--data-dir")
            .arg(data)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

#[test]
fn the_demo_serves_retained_compliance_on_its_embedded_broker() {
    let d = common::tmp();
    let port = free_port();
    let _demo = demo(d.path(), &["--mqtt-listen", &format!("127.0.0.1:{port}")]);
    // The scenes render first (a few seconds), then the broker starts.
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the embedded broker never listened"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(2));
    // Subscribes after the figures were published: they are retained.
    let sub = Sub::start(port, "sortwatch/demo-hub/compliance/#", None);
    let lines = sub.wait_for(
        30,
        "retained compliance for the site and five cameras",
        |l| {
            l.iter().any(|(t, _)| t.ends_with("/compliance/site"))
                && l.iter()
                    .filter(|(t, _)| t.contains("/compliance/camera/"))
                    .count()
                    >= 5
        },
    );
    let site = json_on(&lines, "sortwatch/demo-hub/compliance/site");
    assert_eq!(site[0].1["schema"], 1);
    assert_eq!(site[0].1["scope"], "site");
    let cams: Vec<String> = json_on(&lines, "sortwatch/demo-hub/compliance/camera/")
        .into_iter()
        .map(|(t, _)| t.rsplit('/').next().unwrap().to_string())
        .collect();
    for cam in ["sim-toss-82cm", "sim-kick", "vtest"] {
        assert!(cams.iter().any(|c| c == cam), "{cam} missing from {cams:?}");
    }
    assert!(
        d.path().join("sortwatch.db").is_file(),
        "the store is in the data dir"
    );
}

#[test]
fn with_an_external_broker_the_demo_starts_none() {
    let d = common::tmp();
    let broker = Mosquitto::start(&d.path().join("broker"), free_port());
    let unused = free_port();
    let sub = Sub::start(broker.port, "sortwatch/demo-hub/node/#", None);
    let _demo = demo(
        d.path(),
        &[
            "--broker",
            &format!("mqtt://127.0.0.1:{}", broker.port),
            "--mqtt-listen",
            &format!("127.0.0.1:{unused}"),
        ],
    );
    sub.wait_for(180, "the demo online on the external broker", |l| {
        json_on(l, "sortwatch/")
            .iter()
            .any(|(_, v)| v["state"] == "online")
    });
    assert!(
        TcpStream::connect(("127.0.0.1", unused)).is_err(),
        "no embedded broker listens"
    );
}
