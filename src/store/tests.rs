//! Store behaviour against real SQLite files in temporary directories.

use super::*;
use crate::clock::SiteClock;
use std::io::{BufRead, BufReader, Write};

fn ms(rfc3339: &str) -> i64 {
    rfc3339.parse::<jiff::Timestamp>().unwrap().as_millisecond()
}

fn violation(id: &str, camera: &str, zone: Option<&str>, kind: &str, at_ms: i64) -> ViolationRow {
    ViolationRow {
        id: id.into(),
        camera: camera.into(),
        zone: zone.map(Into::into),
        kind: kind.into(),
        at_ms,
        payload: format!(r#"{{"schema":1,"id":"{id}","kind":"{kind}"}}"#),
    }
}

fn msg(topic: &str, payload: &str) -> OutMsg {
    OutMsg {
        topic: topic.into(),
        payload: payload.as_bytes().to_vec(),
        qos: 1,
        retain: false,
    }
}

fn retained(topic: &str, payload: &str) -> OutMsg {
    OutMsg {
        qos: 0,
        retain: true,
        ..msg(topic, payload)
    }
}

fn topics(q: &[Queued]) -> Vec<String> {
    q.iter()
        .map(|q| {
            format!(
                "{}={}",
                q.msg.topic,
                String::from_utf8_lossy(&q.msg.payload)
            )
        })
        .collect()
}

#[test]
fn store_violation_and_its_outbox_commit_together_and_a_repeat_is_a_no_op() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(dir.path()).unwrap();
    assert_eq!(s.path(), dir.path().join("sortwatch.db"));
    let v = violation("v1", "cam1", Some("sort"), "throw", 1_000);
    let out = [
        msg("sw/violation", "v1"),
        retained("sw/compliance/cam1", "c1"),
    ];
    assert!(s.record_violation(&v, &out).unwrap());
    assert_eq!(s.outbox_len().unwrap(), 2);

    // The same id again (a retry after a lost reply): nothing changes, nothing is enqueued.
    let changed = ViolationRow {
        payload: "other".into(),
        ..v.clone()
    };
    assert!(!s
        .record_violation(&changed, &[msg("sw/violation", "again")])
        .unwrap());
    assert_eq!(s.outbox_len().unwrap(), 2);
    let stored = s.violations(0, 10_000, 10).unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].row, v);
    assert_eq!(stored[0].verdict, None);
    assert_eq!(
        topics(&s.outbox_after(0, 10).unwrap()),
        ["sw/violation=v1", "sw/compliance/cam1=c1"]
    );
}

#[test]
fn store_outbox_keeps_order_and_never_reuses_seqs_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(dir.path()).unwrap();
    for i in 0..5 {
        s.enqueue(&[msg("sw/v", &format!("m{i}"))]).unwrap();
    }
    let all = s.outbox_after(0, 100).unwrap();
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));
    // The broker acked the first two and, separately, the newest one.
    s.outbox_remove(&[all[0].seq, all[1].seq, all[4].seq])
        .unwrap();
    let max_seen = all[4].seq;
    drop(s);

    // Restart: the remaining messages are still there, in order, and new ones go after.
    let mut s = Store::open(dir.path()).unwrap();
    assert_eq!(s.outbox_len().unwrap(), 2);
    s.enqueue(&[msg("sw/v", "m5"), msg("sw/v", "m6")]).unwrap();
    let left = s.outbox_after(0, 100).unwrap();
    assert_eq!(topics(&left), ["sw/v=m2", "sw/v=m3", "sw/v=m5", "sw/v=m6"]);
    assert!(left[2].seq > max_seen, "seq went backwards after a delete");
    // Paging: after a seq, with a limit.
    assert_eq!(
        topics(&s.outbox_after(left[0].seq, 2).unwrap()),
        ["sw/v=m3", "sw/v=m5"]
    );
    assert!(s.outbox_after(left[3].seq, 10).unwrap().is_empty());
}

#[test]
fn store_queued_retained_message_is_replaced_by_a_newer_one_on_its_topic() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(dir.path()).unwrap();
    s.enqueue(&[
        retained("sw/compliance/site", "10"),
        msg("sw/violation", "v1"),
    ])
    .unwrap();
    s.record_handling("cam1", None, 0, 1, &[retained("sw/compliance/site", "11")])
        .unwrap();
    s.enqueue(&[retained("sw/compliance/cam1", "x")]).unwrap();
    assert_eq!(
        topics(&s.outbox_after(0, 10).unwrap()),
        [
            "sw/violation=v1",
            "sw/compliance/site=11",
            "sw/compliance/cam1=x"
        ]
    );
}

#[test]
fn store_counts_a_shanghai_day_by_minute_buckets_without_rejected_violations() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(dir.path()).unwrap();
    let clock = SiteClock::new("Asia/Shanghai", &[]).unwrap();
    // 2026-11-23 local runs 2026-11-22T16:00Z .. 2026-11-23T16:00Z.
    let before = ms("2026-11-22T15:59:59Z");
    let first = ms("2026-11-22T16:00:00Z");
    let mid = ms("2026-11-23T04:00:10Z");
    let last = ms("2026-11-23T15:59:59.999Z");
    let after = ms("2026-11-23T16:00:00Z");

    s.record_handling("cam1", Some("sort"), before, 7, &[])
        .unwrap();
    s.record_handling("cam1", Some("sort"), first, 1, &[])
        .unwrap();
    s.record_handling("cam1", Some("sort"), mid, 2, &[])
        .unwrap();
    s.record_handling("cam1", Some("sort"), mid + 40_000, 3, &[])
        .unwrap(); // same minute
    s.record_handling("cam1", Some("sort"), last, 4, &[])
        .unwrap();
    s.record_handling("cam2", None, mid, 5, &[]).unwrap();
    s.record_handling("cam2", None, after, 9, &[]).unwrap();
    s.record_violation(&violation("t1", "cam1", Some("sort"), "throw", mid), &[])
        .unwrap();
    s.record_violation(&violation("t2", "cam1", Some("sort"), "throw", last), &[])
        .unwrap();
    s.record_violation(&violation("k1", "cam2", None, "kick", first), &[])
        .unwrap();
    s.record_violation(&violation("k0", "cam2", None, "kick", before), &[])
        .unwrap();
    s.record_violation(&violation("t3", "cam3", None, "throw", mid), &[])
        .unwrap();
    s.set_verdict("t2", Verdict::Rejected, "a sack sliding", "qa1", after, &[])
        .unwrap();
    s.set_verdict("t1", Verdict::Confirmed, "", "qa1", after, &[])
        .unwrap();

    // A minute's counter lives in one row.
    let rows: i64 = s
        .conn
        .query_row(
            "SELECT COUNT(*) FROM handling_minute WHERE camera = 'cam1' AND minute_ms = ?1",
            [mid - 10_000],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rows, 1);

    let day = clock.day(mid);
    assert_eq!(day.date, "2026-11-23");
    let counts = s.counts(day.start_ms, day.end_ms).unwrap();
    let row = |camera: &str, zone: Option<&str>, handled, throws, kicks| CountRow {
        camera: camera.into(),
        zone: zone.map(Into::into),
        handled,
        throws,
        kicks,
    };
    assert_eq!(
        counts,
        [
            row("cam1", Some("sort"), 10, 1, 0),
            row("cam2", None, 5, 0, 1),
            row("cam3", None, 0, 1, 0),
        ]
    );
    // Rejecting stops counting; confirming again brings it back.
    s.set_verdict("t1", Verdict::Rejected, "", "qa2", after, &[])
        .unwrap();
    assert_eq!(s.counts(day.start_ms, day.end_ms).unwrap()[0].throws, 0);
    s.set_verdict("t1", Verdict::Confirmed, "", "qa3", after, &[])
        .unwrap();
    assert_eq!(s.counts(day.start_ms, day.end_ms).unwrap()[0].throws, 1);
}

#[test]
fn store_violations_come_newest_first_with_their_latest_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(dir.path()).unwrap();
    for (i, id) in ["a", "b", "c", "d"].iter().enumerate() {
        s.record_violation(&violation(id, "cam1", None, "kick", 1_000 * i as i64), &[])
            .unwrap();
    }
    s.set_verdict("b", Verdict::Confirmed, "first look", "ann", 10, &[])
        .unwrap();
    s.set_verdict(
        "b",
        Verdict::Rejected,
        "shadow",
        "bob",
        20,
        &[msg("sw/qa", "b")],
    )
    .unwrap();
    let got = s.violations(1_000, 3_000, 10).unwrap();
    let ids: Vec<&str> = got.iter().map(|v| v.row.id.as_str()).collect();
    assert_eq!(ids, ["c", "b"]);
    assert_eq!(
        got[1].verdict,
        Some((Verdict::Rejected, "shadow".into(), "bob".into(), 20))
    );
    assert_eq!(s.violations(0, 10_000, 1).unwrap()[0].row.id, "d");
    assert_eq!(s.outbox_len().unwrap(), 1);
}

#[test]
fn store_verdict_on_unknown_violation_is_not_found_and_enqueues_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(dir.path()).unwrap();
    let e = s
        .set_verdict(
            "nope",
            Verdict::Confirmed,
            "",
            "qa",
            0,
            &[msg("sw/qa", "x")],
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.to_string().contains("\"nope\""), "{e}");
    assert_eq!(s.outbox_len().unwrap(), 0);
}

#[test]
fn store_open_on_a_file_that_is_not_a_database_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sortwatch.db");
    std::fs::write(&path, b"this is a text file, not SQLite, long enough to have a header......................................................").unwrap();
    let e = Store::open(dir.path()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    let text = e.to_string();
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(text.contains("is not a SQLite database"), "{text}");
}

#[test]
fn store_open_where_the_data_dir_is_a_file_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data");
    std::fs::write(&file, b"").unwrap();
    let e = Store::open(&file).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    assert!(
        e.to_string().contains("cannot create data directory"),
        "{e}"
    );
    assert!(e.to_string().contains(&file.display().to_string()), "{e}");
}

#[test]
fn store_open_refuses_a_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    s.conn
        .pragma_update(None, "user_version", schema::VERSION + 1)
        .unwrap();
    drop(s);
    let e = Store::open(dir.path()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains("newer than this sortwatch"), "{e}");
}

#[test]
fn store_open_sets_wal_full_sync_and_current_schema() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    let get = |p: &str| -> i64 {
        s.conn
            .query_row(&format!("PRAGMA {p}"), [], |r| r.get(0))
            .unwrap()
    };
    let mode: String = s
        .conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    assert_eq!(get("synchronous"), 2); // FULL
    assert_eq!(get("user_version"), schema::VERSION);
    assert!(get("busy_timeout") >= 1000);
}

#[test]
fn store_full_disk_is_an_io_error_naming_the_file_and_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(dir.path()).unwrap();
    s.record_violation(
        &violation("v0", "cam1", None, "throw", 0),
        &[msg("sw/v", "v0")],
    )
    .unwrap();
    // Simulate a full disk: the file may not grow past its current pages.
    let pages: i64 = s
        .conn
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
    s.conn.pragma_update(None, "max_page_count", pages).unwrap();

    // The violation row fits in free space; its 64 KiB outbox message does not.
    let v1 = violation("v1", "cam1", None, "kick", 1);
    let big = OutMsg {
        payload: vec![b'x'; 64 * 1024],
        ..msg("sw/v", "")
    };
    let e = s
        .record_violation(&v1, std::slice::from_ref(&big))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    let text = e.to_string();
    assert!(text.contains(&s.path().display().to_string()), "{text}");
    assert!(text.contains("free disk space"), "{text}");
    let e = s
        .record_handling("cam1", None, 0, 3, std::slice::from_ref(&big))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);

    // Nothing partial: no v1, no handled parcels, only the first message.
    assert_eq!(s.violations(0, 10, 10).unwrap().len(), 1);
    assert_eq!(s.outbox_len().unwrap(), 1);
    assert!(s.counts(0, 60_000).unwrap().iter().all(|c| c.handled == 0));

    // Space freed: the caller's retry of the same event succeeds, once.
    s.conn
        .pragma_update(None, "max_page_count", 1 << 30)
        .unwrap();
    assert!(s.record_violation(&v1, std::slice::from_ref(&big)).unwrap());
    assert_eq!(s.outbox_len().unwrap(), 2);
    drop(s);
    let s = Store::open(dir.path()).unwrap();
    assert_eq!(s.violations(0, 10, 10).unwrap().len(), 2);
}

#[test]
fn store_failure_after_the_violation_insert_rolls_back_the_whole_event() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(dir.path()).unwrap();
    // Fail the outbox insert only (a statement-level abort that leaves the
    // transaction open), after the violation and handling rows were written.
    s.conn
        .execute_batch(
            "CREATE TEMP TRIGGER fail_outbox BEFORE INSERT ON main.outbox
             WHEN NEW.topic = 'sw/fail' BEGIN SELECT RAISE(ABORT, 'injected'); END;",
        )
        .unwrap();
    let v = violation("v1", "cam1", None, "throw", 5);
    let out = [msg("sw/ok", "first"), msg("sw/fail", "second")];
    assert!(s.record_violation(&v, &out).is_err());
    assert!(s.record_handling("cam1", None, 5, 2, &out).is_err());
    assert!(s.violations(0, 10, 10).unwrap().is_empty());
    assert_eq!(s.outbox_len().unwrap(), 0);
    assert!(s.counts(0, 60_000).unwrap().is_empty());
    // The retry, once the fault is gone, records the event exactly once.
    s.conn.execute_batch("DROP TRIGGER fail_outbox").unwrap();
    assert!(s.record_violation(&v, &out).unwrap());
    assert!(!s.record_violation(&v, &out).unwrap());
    assert_eq!(s.outbox_len().unwrap(), 2);
}

#[test]
fn store_writers_on_separate_connections_do_not_collide() {
    let dir = tempfile::tempdir().unwrap();
    Store::open(dir.path()).unwrap();
    let writers: Vec<_> = ["cam1", "cam2", "cam3"]
        .into_iter()
        .map(|cam| {
            let dir = dir.path().to_path_buf();
            std::thread::spawn(move || {
                let mut s = Store::open(&dir).unwrap();
                for i in 0..40 {
                    let id = format!("{cam}-{i}");
                    s.record_violation(&violation(&id, cam, None, "throw", i), &[msg("sw/v", &id)])
                        .unwrap();
                    s.record_handling(cam, None, i, 1, &[]).unwrap();
                }
            })
        })
        .collect();
    // A reader draining the outbox meanwhile, as the MQTT publisher does.
    let dir2 = dir.path().to_path_buf();
    let reader = std::thread::spawn(move || {
        let mut s = Store::open(&dir2).unwrap();
        let mut seen = 0;
        while seen < 120 {
            let batch = s.outbox_after(0, 16).unwrap();
            seen += batch.len();
            s.outbox_remove(&batch.iter().map(|q| q.seq).collect::<Vec<_>>())
                .unwrap();
        }
        seen
    });
    for w in writers {
        w.join().unwrap();
    }
    assert_eq!(reader.join().unwrap(), 120);
    let s = Store::open(dir.path()).unwrap();
    let counts = s.counts(0, 60_000).unwrap();
    assert_eq!(counts.len(), 3);
    assert!(counts.iter().all(|c| c.handled == 40 && c.throws == 40));
    assert_eq!(s.outbox_len().unwrap(), 0);
}

/// Not a test on its own: the writer that `store_committed_rows_survive_sigkill`
/// starts in a child process and kills. It reports each commit on stdout.
#[test]
#[ignore = "helper process for store_committed_rows_survive_sigkill"]
fn store_crash_child_writer() {
    let Some(dir) = std::env::var_os("SORTWATCH_STORE_CRASH_DIR") else {
        return;
    };
    let mut s = Store::open(Path::new(&dir)).unwrap();
    let mut out = std::io::stdout().lock();
    for i in 0.. {
        let id = format!("v{i}");
        let outbox = [msg("sw/v", &id), retained(&format!("sw/c/{i}"), "c")];
        s.record_violation(&violation(&id, "cam1", None, "throw", i), &outbox)
            .unwrap();
        s.record_handling("cam1", None, i * 1_000, 1, &[]).unwrap();
        writeln!(out, "committed {i}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn store_committed_rows_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "store::tests::store_crash_child_writer",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SORTWATCH_STORE_CRASH_DIR", dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut last = None;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("committed ") {
            let n: i64 = n.parse().unwrap();
            last = Some(n);
            if n >= 150 {
                break;
            }
        }
    }
    // SIGKILL mid-write: the child is still looping, likely inside a transaction.
    child.kill().unwrap();
    child.wait().unwrap();
    let last = last.expect("the child committed nothing: did the helper test run?");
    assert!(last >= 150);

    let s = Store::open(dir.path()).unwrap();
    let ok: String = s
        .conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    let stored = s.violations(0, i64::MAX, usize::MAX).unwrap();
    let n = stored.len() as i64;
    assert!(
        n > last,
        "reported {} commits, found {n} violations",
        last + 1
    );
    for i in 0..=last {
        assert!(
            stored.iter().any(|v| v.row.id == format!("v{i}")),
            "v{i} lost"
        );
    }
    // Each surviving violation came with both its messages: no half transactions.
    assert_eq!(s.outbox_len().unwrap() as i64, 2 * n);
    let handled: u64 = s
        .counts(0, i64::MAX)
        .unwrap()
        .iter()
        .map(|c| c.handled)
        .sum();
    assert!(handled as i64 > last && handled as i64 <= n);
}

fn clip(id: &str, bytes: u64, ready_ms: i64) -> ClipRow {
    ClipRow {
        violation_id: id.into(),
        video: format!("clips/cam1/{id}.mp4"),
        snapshot: format!("clips/cam1/{id}.jpg"),
        bytes,
        duration_s: 8.04,
        ready_ms,
        expired_ms: None,
    }
}

#[test]
fn store_clip_commits_with_its_message_shows_on_its_violation_and_expires_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(dir.path()).unwrap();
    s.record_violation(&violation("a", "cam1", None, "kick", 1_000), &[])
        .unwrap();
    s.record_violation(&violation("b", "cam1", None, "throw", 2_000), &[])
        .unwrap();
    assert!(s
        .record_clip(&clip("a", 500, 5_000), &[msg("sw/clips/cam1", "a")])
        .unwrap());
    assert!(
        !s.record_clip(&clip("a", 500, 5_000), &[msg("sw/clips/cam1", "a")])
            .unwrap(),
        "a repeat changes nothing"
    );
    assert_eq!(s.outbox_len().unwrap(), 1);
    let e = s
        .record_clip(&clip("zz", 1, 1), &[msg("x", "y")])
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(
        s.outbox_len().unwrap(),
        1,
        "no message for an unknown violation"
    );

    s.set_verdict("a", Verdict::Confirmed, "", "qa", 6_000, &[])
        .unwrap();
    let got = s.violations(0, 10_000, 10).unwrap();
    assert_eq!(got[0].row.id, "b");
    assert_eq!(got[0].clip, None, "no clip yet");
    assert_eq!(got[1].clip, Some(clip("a", 500, 5_000)));
    let kept = s.clips_for_retention().unwrap();
    assert_eq!(kept.len(), 1);
    assert!(kept[0].confirmed);

    s.expire_clip("a", 9_000).unwrap();
    assert!(s.clips_for_retention().unwrap().is_empty());
    let a = s.violations(0, 10_000, 10).unwrap().remove(1);
    assert_eq!(
        a.clip.unwrap().expired_ms,
        Some(9_000),
        "the row says expired"
    );
}
