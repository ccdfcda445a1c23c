//! `sortwatch check-config` and `sortwatch run` on bad service configs: each
//! problem is named by its key, and check-config lists all of them at once.

mod common;

use common::{assert_ok, assert_one_line_error, sortwatch};
use std::path::{Path, PathBuf};

fn write(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("node.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// A good config around the vtest calibration, with `site` and `camera`
/// tables replaceable.
fn config(site: &str, camera: &str) -> String {
    let cal = std::fs::canonicalize(common::VTEST_CAL).unwrap();
    format!(
        "[site]\n{site}\n\n[[cameras]]\nid = \"vtest\"\nsource = \"samples/vtest.avi\"\ncalibration = \"{}\"\n{camera}\n",
        cal.display()
    )
}

const SITE: &str = "name = \"hub\"\ntimezone = \"Asia/Shanghai\"";

fn check(p: &Path) -> std::process::Output {
    sortwatch().arg("check-config").arg(p).output().unwrap()
}

fn run(p: &Path) -> std::process::Output {
    sortwatch()
        .args(["run", "--config"])
        .arg(p)
        .output()
        .unwrap()
}

#[test]
fn a_good_config_checks_clean() {
    let d = common::tmp();
    let p = write(d.path(), &config(SITE, ""));
    let out = check(&p);
    assert_ok(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("is good"));
}

#[test]
fn an_unknown_key_is_one_error_naming_the_key_and_line() {
    let d = common::tmp();
    let p = write(d.path(), &config(&format!("{SITE}\ncolour = \"red\""), ""));
    let file = p.display().to_string();
    assert_one_line_error(&check(&p), 2, &["`colour`", "line 4", &file]);
    assert_one_line_error(&run(&p), 2, &["`colour`", "line 4", &file]);
}

#[test]
fn a_missing_calibration_file_names_the_camera_key_and_path() {
    let d = common::tmp();
    let text = config(SITE, "").replace(
        &std::fs::canonicalize(common::VTEST_CAL)
            .unwrap()
            .display()
            .to_string(),
        "calibration/no-such-camera.toml",
    );
    let p = write(d.path(), &text);
    let line = assert_one_line_error(
        &run(&p),
        2,
        &[
            "key `cameras[0].calibration`",
            "no-such-camera.toml",
            "check the path",
        ],
    );
    assert!(line.contains(&p.display().to_string()), "{line}");
}

#[test]
fn an_invalid_time_zone_names_the_key_and_suggests_an_iana_name() {
    let d = common::tmp();
    let p = write(
        d.path(),
        &config("name = \"hub\"\ntimezone = \"China/Beijing\"", ""),
    );
    assert_one_line_error(&run(&p), 2, &["site.timezone", "China/Beijing", "IANA"]);
}

#[test]
fn check_config_lists_every_problem_with_its_key() {
    let d = common::tmp();
    let text = config(
        "name = \"hub one\"\ntimezone = \"Mars/Olympus\"",
        "line = \"line-z\"\nmax_drop_cm = -5.0",
    )
    .replace(
        "[site]",
        "[mqtt]\nbroker = \"mqtt://user:secret@10.0.0.9\"\n\n[site]",
    );
    let p = write(d.path(), &text);
    let out = check(&p);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for key in [
        "site.name",
        "site.timezone",
        "cameras[0].line",
        "cameras[0].max_drop_cm",
        "mqtt.broker",
    ] {
        assert!(
            stderr.contains(&format!("`{key}`")) || stderr.contains(key),
            "{key} missing: {stderr}"
        );
    }
    assert!(stderr.contains("5 problem(s)"), "{stderr}");
    assert!(!stderr.contains("secret"), "credentials leaked: {stderr}");
}
