//! Schema migrations, applied in order; `PRAGMA user_version` holds how many ran.
//! Append new migrations, never edit old ones: databases in the field ran them.

use super::db_error;
use crate::error::{Error, ErrorKind, Result};
use rusqlite::{Connection, TransactionBehavior};
use std::path::Path;

/// Migration `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: violations, per-minute handling counters, verdicts, outbox.
    "CREATE TABLE violation (
        id      TEXT PRIMARY KEY NOT NULL,
        camera  TEXT NOT NULL,
        zone    TEXT,
        kind    TEXT NOT NULL,
        at_ms   INTEGER NOT NULL,
        payload TEXT NOT NULL
     );
     CREATE INDEX violation_at ON violation (at_ms);
     CREATE TABLE handling_minute (
        camera    TEXT NOT NULL,
        zone      TEXT NOT NULL,   -- '' when the camera has no zone
        minute_ms INTEGER NOT NULL,
        handled   INTEGER NOT NULL,
        PRIMARY KEY (camera, zone, minute_ms)
     ) WITHOUT ROWID;
     CREATE INDEX handling_minute_at ON handling_minute (minute_ms);
     CREATE TABLE verdict (
        violation_id TEXT PRIMARY KEY NOT NULL REFERENCES violation (id) ON DELETE CASCADE,
        verdict      TEXT NOT NULL CHECK (verdict IN ('confirmed', 'rejected')),
        note         TEXT NOT NULL,
        by_user      TEXT NOT NULL,
        at_ms        INTEGER NOT NULL
     );
     CREATE TABLE outbox (
        seq     INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: never reused after deletes
        topic   TEXT NOT NULL,
        payload BLOB NOT NULL,
        qos     INTEGER NOT NULL,
        retain  INTEGER NOT NULL
     );",
    // 2: the clip of a violation; a pruned clip keeps its row, with expired_ms set.
    "CREATE TABLE clip (
        violation_id TEXT PRIMARY KEY NOT NULL REFERENCES violation (id) ON DELETE CASCADE,
        video        TEXT NOT NULL,     -- relative to the data directory
        snapshot     TEXT NOT NULL,
        bytes        INTEGER NOT NULL,  -- video and snapshot together
        duration_s   REAL NOT NULL,
        ready_ms     INTEGER NOT NULL,  -- when the files were complete, Unix ms
        expired_ms   INTEGER            -- when retention deleted the files
     );
     CREATE INDEX clip_ready ON clip (ready_ms);",
];

/// The schema version this build writes.
pub const VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database up to [`VERSION`]. Safe when several connections open a
/// new file at once: each step re-reads the version under the write lock.
pub(super) fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    // Fast path without the write lock: an up-to-date database (every open but the first).
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| db_error(path, e))?;
    if version == VERSION {
        return Ok(());
    }
    loop {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| db_error(path, e))?;
        let version: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| db_error(path, e))?;
        if version > VERSION {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "database {} has schema version {version}, newer than this sortwatch understands ({VERSION}): upgrade sortwatch or use another storage.data_dir",
                    path.display()
                ),
            ));
        }
        if version == VERSION {
            return Ok(());
        }
        tx.execute_batch(MIGRATIONS[version as usize])
            .map_err(|e| db_error(path, e))?;
        // user_version is part of the transaction: a migration applies whole or not at all.
        tx.pragma_update(None, "user_version", version + 1)
            .map_err(|e| db_error(path, e))?;
        tx.commit().map_err(|e| db_error(path, e))?;
    }
}
