//! The durable store: violations, per-minute handling counts, QA verdicts and the
//! MQTT outbox in one SQLite file, `DATA_DIR/sortwatch.db`.
//!
//! Every write is one `BEGIN IMMEDIATE` transaction that either commits whole or
//! leaves nothing behind, so a caller whose write failed (disk full) keeps the
//! event in memory and retries. Each thread opens its own [`Store`] on the same
//! file; WAL lets readers run beside the one writer. Schema and durability
//! choices are in docs/store.md.

mod schema;
#[cfg(test)]
mod tests;

use crate::error::{Error, ErrorKind, Result};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "sortwatch.db";

/// How long a writer waits for another connection's write lock before giving up.
/// Writes are small (one event), so waiting this long means something is stuck.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

const MINUTE_MS: i64 = 60_000;

/// A violation as stored: what was published, plus the keys it is counted under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ViolationRow {
    /// Stable id, also in the MQTT payload; the store is idempotent on it.
    pub id: String,
    pub camera: String,
    /// `None` (or an empty name, stored as `None`) when the camera has no zones.
    pub zone: Option<String>,
    /// "throw" or "kick".
    pub kind: String,
    /// Wall time of the landing or kick, Unix ms: decides the day it counts for.
    pub at_ms: i64,
    /// The JSON published for it.
    pub payload: String,
}

/// One MQTT message waiting in the outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutMsg {
    pub topic: String,
    pub payload: Vec<u8>,
    /// 0, 1 or 2.
    pub qos: u8,
    pub retain: bool,
}

/// An outbox row: `seq` increases strictly, never reused, even after deletes and restarts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Queued {
    pub seq: i64,
    pub msg: OutMsg,
}

/// A QA reviewer's verdict on a violation. A rejected violation stops counting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Confirmed,
    Rejected,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Confirmed => "confirmed",
            Verdict::Rejected => "rejected",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Verdict {
    type Err = Error;
    fn from_str(s: &str) -> Result<Verdict> {
        match s {
            "confirmed" => Ok(Verdict::Confirmed),
            "rejected" => Ok(Verdict::Rejected),
            _ => Err(Error::invalid(format!(
                "verdict {s:?} is not known: use \"confirmed\" or \"rejected\""
            ))),
        }
    }
}

/// Counts for one (camera, zone) over a window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CountRow {
    pub camera: String,
    pub zone: Option<String>,
    pub handled: u64,
    pub throws: u64,
    pub kicks: u64,
}

/// A violation's clip (`clips/<camera>/<id>.mp4` and `.jpg`).
#[derive(Clone, Debug, PartialEq)]
pub struct ClipRow {
    pub violation_id: String,
    /// The MP4, relative to the data directory; the web serves it at `/` + this.
    pub video: String,
    /// The JPEG snapshot, relative to the data directory.
    pub snapshot: String,
    /// Video and snapshot together.
    pub bytes: u64,
    pub duration_s: f64,
    /// When the files were complete, Unix ms.
    pub ready_ms: i64,
    /// When retention deleted the files ("clip expired"); `None` while they exist.
    pub expired_ms: Option<i64>,
}

/// A clip as retention sees it: confirmed violations' clips are kept longer.
#[derive(Clone, Debug, PartialEq)]
pub struct RetainedClip {
    pub clip: ClipRow,
    pub confirmed: bool,
}

/// A stored violation, its verdict (verdict, note, user, at_ms) and its clip
/// (`None` while it is being written, or when clips are off).
#[derive(Clone, Debug, PartialEq)]
pub struct StoredViolation {
    pub row: ViolationRow,
    pub verdict: Option<(Verdict, String, String, i64)>,
    pub clip: Option<ClipRow>,
}

/// A violation with its verdict and clip (read by [`stored_violation`]).
const VIOLATION_SELECT: &str = "SELECT v.id, v.camera, v.zone, v.kind, v.at_ms, v.payload,
        q.verdict, q.note, q.by_user, q.at_ms,
        c.violation_id, c.video, c.snapshot, c.bytes, c.duration_s, c.ready_ms, c.expired_ms
   FROM violation v LEFT JOIN verdict q ON q.violation_id = v.id
        LEFT JOIN clip c ON c.violation_id = v.id";

fn stored_violation(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredViolation> {
    let verdict: Option<String> = r.get(6)?;
    let verdict = match verdict {
        None => None,
        Some(s) => Some((
            s.parse::<Verdict>().map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(
                    6,
                    rusqlite::types::Type::Text,
                    Box::new(e),
                )
            })?,
            r.get(7)?,
            r.get(8)?,
            r.get(9)?,
        )),
    };
    Ok(StoredViolation {
        row: ViolationRow {
            id: r.get(0)?,
            camera: r.get(1)?,
            zone: r.get(2)?,
            kind: r.get(3)?,
            at_ms: r.get(4)?,
            payload: r.get(5)?,
        },
        verdict,
        clip: match r.get::<_, Option<String>>(10)? {
            Some(_) => Some(clip_row(r, 10)?),
            None => None,
        },
    })
}

/// One connection to `DATA_DIR/sortwatch.db`. Not `Sync`: open one per thread.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (creating if needed) the data directory and its database, and brings
    /// the schema up to date.
    pub fn open(data_dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| Error::io(data_dir, "cannot create data directory", e))?;
        let path = data_dir.join(DB_FILE);
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&path, flags).map_err(|e| db_error(&path, e))?;
        let mut store = Store { conn, path };
        store.configure()?;
        schema::migrate(&mut store.conn, &store.path)?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn configure(&mut self) -> Result<()> {
        let path = self.path.clone();
        let err = |e| db_error(&path, e);
        self.conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
        // The first statement that reads the file: "not a database" surfaces here.
        let mode: String = self
            .conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::new(
                ErrorKind::Io,
                format!(
                    "database {}: cannot switch to WAL journal mode (got {mode}): put storage.data_dir on a local file system",
                    path.display()
                ),
            ));
        }
        // FULL: each commit's WAL frames are fsynced, so a commit survives power loss.
        self.conn
            .execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
            .map_err(err)?;
        Ok(())
    }

    /// Runs `f` in one immediate transaction; any error rolls everything back.
    fn write<T>(&mut self, f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T>) -> Result<T> {
        let path = &self.path;
        // IMMEDIATE takes the write lock up front, so busy_timeout applies and two
        // writers never deadlock upgrading read locks.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| db_error(path, e))?;
        let out = f(&tx)?;
        // On a failed COMMIT (disk full) the dropped transaction rolls back.
        tx.commit().map_err(|e| db_error(path, e))?;
        Ok(out)
    }

    /// Commits a violation and its outbox messages in ONE transaction (call
    /// before publishing anything). Idempotent on `v.id`: a second call with the
    /// same id changes nothing, enqueues nothing and returns `Ok(false)`.
    pub fn record_violation(&mut self, v: &ViolationRow, outbox: &[OutMsg]) -> Result<bool> {
        check_kind(v)?;
        check_msgs(outbox)?;
        let path = self.path.clone();
        self.write(|tx| {
            let inserted = tx
                .prepare_cached(
                    "INSERT INTO violation (id, camera, zone, kind, at_ms, payload)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (id) DO NOTHING",
                )
                .and_then(|mut st| {
                    st.execute(params![
                        v.id,
                        v.camera,
                        zone_opt(v.zone.as_deref()),
                        v.kind,
                        v.at_ms,
                        v.payload
                    ])
                })
                .map_err(|e| db_error(&path, e))?;
            if inserted == 0 {
                return Ok(false);
            }
            insert_msgs(tx, &path, outbox)?;
            Ok(true)
        })
    }

    /// Adds `n` handled parcels to the per-minute counter of (camera, zone) for
    /// the minute containing `at_ms`, plus `outbox` messages, in one transaction.
    pub fn record_handling(
        &mut self,
        camera: &str,
        zone: Option<&str>,
        at_ms: i64,
        n: u32,
        outbox: &[OutMsg],
    ) -> Result<()> {
        check_msgs(outbox)?;
        let path = self.path.clone();
        let minute = at_ms.div_euclid(MINUTE_MS) * MINUTE_MS;
        self.write(|tx| {
            if n > 0 {
                tx.prepare_cached(
                    "INSERT INTO handling_minute (camera, zone, minute_ms, handled)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (camera, zone, minute_ms) DO UPDATE SET handled = handled + excluded.handled",
                )
                .and_then(|mut st| st.execute(params![camera, zone_key(zone), minute, n]))
                .map_err(|e| db_error(&path, e))?;
            }
            insert_msgs(tx, &path, outbox)
        })
    }

    /// Appends messages to the outbox in one transaction, in order. A retained
    /// message replaces any older queued retained message on the same topic: only
    /// the latest state matters, and an outage must not queue every update.
    pub fn enqueue(&mut self, msgs: &[OutMsg]) -> Result<()> {
        check_msgs(msgs)?;
        let path = self.path.clone();
        self.write(|tx| insert_msgs(tx, &path, msgs))
    }

    /// Oldest-first outbox rows with `seq > after_seq`, at most `limit`.
    pub fn outbox_after(&self, after_seq: i64, limit: usize) -> Result<Vec<Queued>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT seq, topic, payload, qos, retain FROM outbox
                 WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![after_seq, limit], |r| {
                Ok(Queued {
                    seq: r.get(0)?,
                    msg: OutMsg {
                        topic: r.get(1)?,
                        payload: r.get(2)?,
                        qos: r.get(3)?,
                        retain: r.get(4)?,
                    },
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.err(e))
    }

    /// Deletes the given rows (acknowledged by the broker). Unknown seqs are ignored.
    pub fn outbox_remove(&mut self, seqs: &[i64]) -> Result<()> {
        if seqs.is_empty() {
            return Ok(());
        }
        let path = self.path.clone();
        self.write(|tx| {
            let mut st = tx
                .prepare_cached("DELETE FROM outbox WHERE seq = ?1")
                .map_err(|e| db_error(&path, e))?;
            for seq in seqs {
                st.execute([seq]).map_err(|e| db_error(&path, e))?;
            }
            Ok(())
        })
    }

    /// Number of messages waiting in the outbox.
    pub fn outbox_len(&self) -> Result<u64> {
        self.conn
            .query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(|e| self.err(e))
    }

    /// Records (or replaces) the QA verdict on a violation, with `outbox`
    /// messages, in one transaction. `NotFound` if the violation id is unknown.
    pub fn set_verdict(
        &mut self,
        violation_id: &str,
        verdict: Verdict,
        note: &str,
        user: &str,
        at_ms: i64,
        outbox: &[OutMsg],
    ) -> Result<()> {
        check_msgs(outbox)?;
        let path = self.path.clone();
        self.write(|tx| {
            let known = tx
                .query_row(
                    "SELECT 1 FROM violation WHERE id = ?1",
                    [violation_id],
                    |_| Ok(()),
                )
                .optional()
                .map_err(|e| db_error(&path, e))?
                .is_some();
            if !known {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!(
                        "no violation with id {violation_id:?} in {}: check the id (verdicts need a recorded violation)",
                        path.display()
                    ),
                ));
            }
            tx.prepare_cached(
                "INSERT INTO verdict (violation_id, verdict, note, by_user, at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (violation_id) DO UPDATE SET
                   verdict = excluded.verdict, note = excluded.note,
                   by_user = excluded.by_user, at_ms = excluded.at_ms",
            )
            .and_then(|mut st| st.execute(params![violation_id, verdict.as_str(), note, user, at_ms]))
            .map_err(|e| db_error(&path, e))?;
            insert_msgs(tx, &path, outbox)
        })
    }

    /// Records a violation's finished clip with `outbox` messages (its
    /// clip-ready message) in one transaction. Idempotent on the violation id
    /// (`Ok(false)` the second time); `NotFound` if the violation is unknown.
    pub fn record_clip(&mut self, c: &ClipRow, outbox: &[OutMsg]) -> Result<bool> {
        check_msgs(outbox)?;
        let path = self.path.clone();
        self.write(|tx| {
            let inserted = tx
                .prepare_cached(
                    "INSERT INTO clip (violation_id, video, snapshot, bytes, duration_s, ready_ms, expired_ms)
                     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE EXISTS (SELECT 1 FROM violation WHERE id = ?1)
                     ON CONFLICT (violation_id) DO NOTHING",
                )
                .and_then(|mut st| {
                    st.execute(params![
                        c.violation_id,
                        c.video,
                        c.snapshot,
                        i64::try_from(c.bytes).unwrap_or(i64::MAX),
                        c.duration_s,
                        c.ready_ms,
                        c.expired_ms
                    ])
                })
                .map_err(|e| db_error(&path, e))?;
            if inserted == 0 {
                let known = tx
                    .query_row("SELECT 1 FROM clip WHERE violation_id = ?1", [&c.violation_id], |_| Ok(()))
                    .optional()
                    .map_err(|e| db_error(&path, e))?
                    .is_some();
                return if known {
                    Ok(false)
                } else {
                    Err(Error::new(
                        ErrorKind::NotFound,
                        format!(
                            "no violation with id {:?} in {} for clip {}: the violation must be recorded first",
                            c.violation_id,
                            path.display(),
                            c.video
                        ),
                    ))
                };
            }
            insert_msgs(tx, &path, outbox)?;
            Ok(true)
        })
    }

    /// Clips whose files exist (not expired), oldest first, with whether QA
    /// confirmed their violation.
    pub fn clips_for_retention(&self) -> Result<Vec<RetainedClip>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT c.violation_id, c.video, c.snapshot, c.bytes, c.duration_s, c.ready_ms,
                        c.expired_ms, q.verdict IS NOT NULL AND q.verdict = 'confirmed'
                   FROM clip c LEFT JOIN verdict q ON q.violation_id = c.violation_id
                  WHERE c.expired_ms IS NULL
                  ORDER BY c.ready_ms, c.violation_id",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| {
                Ok(RetainedClip {
                    clip: clip_row(r, 0)?,
                    confirmed: r.get(7)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.err(e))
    }

    /// Marks a clip's files deleted by retention at `at_ms`; the violation and
    /// the clip row stay, so the web can say the clip expired.
    pub fn expire_clip(&mut self, violation_id: &str, at_ms: i64) -> Result<()> {
        let path = self.path.clone();
        self.write(|tx| {
            tx.prepare_cached(
                "UPDATE clip SET expired_ms = ?2 WHERE violation_id = ?1 AND expired_ms IS NULL",
            )
            .and_then(|mut st| st.execute(params![violation_id, at_ms]))
            .map_err(|e| db_error(&path, e))?;
            Ok(())
        })
    }

    /// Per (camera, zone) counts in `[from_ms, to_ms)`: handled is the sum of the
    /// minute buckets whose minute starts in the window; throws and kicks count
    /// violations by their `at_ms`, excluding rejected ones. Sorted by camera, zone.
    pub fn counts(&self, from_ms: i64, to_ms: i64) -> Result<Vec<CountRow>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT camera, zone, SUM(handled), SUM(throws), SUM(kicks) FROM (
                   SELECT camera, zone, handled, 0 AS throws, 0 AS kicks
                     FROM handling_minute WHERE minute_ms >= ?1 AND minute_ms < ?2
                   UNION ALL
                   SELECT v.camera, COALESCE(v.zone, ''), 0, v.kind = 'throw', v.kind = 'kick'
                     FROM violation v LEFT JOIN verdict q ON q.violation_id = v.id
                     WHERE v.at_ms >= ?1 AND v.at_ms < ?2
                       AND (q.verdict IS NULL OR q.verdict <> 'rejected')
                 ) GROUP BY camera, zone ORDER BY camera, zone",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([from_ms, to_ms], |r| {
                let zone: String = r.get(1)?;
                Ok(CountRow {
                    camera: r.get(0)?,
                    zone: (!zone.is_empty()).then_some(zone),
                    handled: r.get::<_, i64>(2)? as u64,
                    throws: r.get::<_, i64>(3)? as u64,
                    kicks: r.get::<_, i64>(4)? as u64,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.err(e))
    }

    /// Violations in `[from_ms, to_ms)`, newest first, at most `limit`, each with its verdict.
    pub fn violations(
        &self,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<StoredViolation>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "{VIOLATION_SELECT} WHERE v.at_ms >= ?1 AND v.at_ms < ?2
                  ORDER BY v.at_ms DESC, v.rowid DESC LIMIT ?3"
            ))
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![from_ms, to_ms, limit], stored_violation)
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.err(e))
    }

    /// One violation with its verdict, if the id is known.
    pub fn violation(&self, id: &str) -> Result<Option<StoredViolation>> {
        self.conn
            .prepare_cached(&format!("{VIOLATION_SELECT} WHERE v.id = ?1"))
            .and_then(|mut st| st.query_row([id], stored_violation).optional())
            .map_err(|e| self.err(e))
    }

    fn err(&self, e: rusqlite::Error) -> Error {
        db_error(&self.path, e)
    }
}

/// A [`ClipRow`] from the 7 columns starting at `at`.
fn clip_row(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<ClipRow> {
    Ok(ClipRow {
        violation_id: r.get(at)?,
        video: r.get(at + 1)?,
        snapshot: r.get(at + 2)?,
        bytes: r.get::<_, i64>(at + 3)?.max(0) as u64,
        duration_s: r.get(at + 4)?,
        ready_ms: r.get(at + 5)?,
        expired_ms: r.get(at + 6)?,
    })
}

/// Handling counters key "no zone" as '' (NULLs are never equal in a primary key).
fn zone_key(zone: Option<&str>) -> &str {
    zone.unwrap_or("")
}

fn zone_opt(zone: Option<&str>) -> Option<&str> {
    zone.filter(|z| !z.is_empty())
}

fn check_kind(v: &ViolationRow) -> Result<()> {
    match v.kind.as_str() {
        "throw" | "kick" => Ok(()),
        k => Err(Error::new(
            ErrorKind::Internal,
            format!(
                "violation {} has kind {k:?}: the store counts only \"throw\" and \"kick\"",
                v.id
            ),
        )),
    }
}

fn check_msgs(msgs: &[OutMsg]) -> Result<()> {
    match msgs.iter().find(|m| m.qos > 2) {
        Some(m) => Err(Error::new(
            ErrorKind::Internal,
            format!(
                "outbox message to {} has QoS {}: MQTT QoS is 0, 1 or 2",
                m.topic, m.qos
            ),
        )),
        None => Ok(()),
    }
}

fn insert_msgs(tx: &rusqlite::Transaction<'_>, path: &Path, msgs: &[OutMsg]) -> Result<()> {
    if msgs.is_empty() {
        return Ok(());
    }
    let err = |e| db_error(path, e);
    let mut drop_retained = tx
        .prepare_cached("DELETE FROM outbox WHERE retain = 1 AND topic = ?1")
        .map_err(err)?;
    let mut insert = tx
        .prepare_cached("INSERT INTO outbox (topic, payload, qos, retain) VALUES (?1, ?2, ?3, ?4)")
        .map_err(err)?;
    for m in msgs {
        if m.retain {
            drop_retained.execute([&m.topic]).map_err(err)?;
        }
        insert
            .execute(params![m.topic, m.payload, m.qos, m.retain])
            .map_err(err)?;
    }
    Ok(())
}

/// Maps a SQLite error to the crate's error, naming the database file and the fix.
pub(crate) fn db_error(path: &Path, e: rusqlite::Error) -> Error {
    use rusqlite::ErrorCode as C;
    let p = path.display();
    let (kind, msg) = match e.sqlite_error_code() {
        Some(C::DiskFull) => (
            ErrorKind::Io,
            format!("database {p} is full: free disk space (this write was not committed)"),
        ),
        Some(C::SystemIoFailure) => (
            ErrorKind::Io,
            format!("database {p}: I/O error ({e}): check the disk and free space (the write was not committed)"),
        ),
        Some(C::NotADatabase) => (
            ErrorKind::InvalidInput,
            format!("{p} is not a SQLite database: move it away or set storage.data_dir to another directory"),
        ),
        Some(C::DatabaseCorrupt) => (
            ErrorKind::InvalidInput,
            format!("database {p} is corrupt ({e}): restore it from a backup or move it away"),
        ),
        Some(C::CannotOpen) | Some(C::PermissionDenied) | Some(C::ReadOnly) => (
            ErrorKind::Io,
            format!("cannot write database {p} ({e}): check that the directory and file are writable by this user"),
        ),
        Some(C::DatabaseBusy) | Some(C::DatabaseLocked) => (
            ErrorKind::Unavailable,
            format!("database {p} stayed locked for {}s ({e}): is another process holding it?", BUSY_TIMEOUT.as_secs()),
        ),
        _ => (ErrorKind::Internal, format!("database {p}: {e}")),
    };
    Error::new(kind, msg).with_source(e)
}
