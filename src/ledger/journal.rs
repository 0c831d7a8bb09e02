//! The local journal: commits of answers that arrived while the ledger could not take them
//! (a shared Redis ledger gone mid-call). Each entry names its hold, and a hold's commit is
//! idempotent in the shared ledger, so replaying an entry twice never counts it twice.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rusqlite::{params, Connection};

use super::{Ledger, Record, Scope};
use crate::error::{Error, Result};

/// Ledger URLs this process found nothing pending for (checked once, then only after a write).
static CLEAN: Mutex<Option<(u32, HashSet<String>)>> = Mutex::new(None);

pub fn path() -> PathBuf {
    match std::env::var_os("SEOWIRE_JOURNAL") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(super::default_sqlite_path()).with_file_name("journal.sqlite3"),
    }
}

fn open() -> Result<Connection> {
    let path = path();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::ledger(format!("cannot create the journal directory {}: {e}", dir.display())))?;
    }
    let conn = Connection::open(&path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS journal (
            ledger TEXT NOT NULL, provider TEXT NOT NULL, account TEXT NOT NULL, period TEXT NOT NULL,
            hold INTEGER NOT NULL, report TEXT NOT NULL, units INTEGER NOT NULL, rows INTEGER NOT NULL,
            cached INTEGER NOT NULL, partial INTEGER NOT NULL, at REAL NOT NULL,
            PRIMARY KEY (ledger, provider, account, period, hold))",
    )?;
    Ok(conn)
}

fn mark(url: &str, clean: bool) {
    let mut guard = CLEAN.lock().unwrap_or_else(|e| e.into_inner());
    let pid = std::process::id();
    if guard.as_ref().is_none_or(|(p, _)| *p != pid) {
        *guard = Some((pid, HashSet::new()));
    }
    let set = &mut guard.as_mut().expect("set above").1;
    if clean {
        set.insert(url.to_string());
    } else {
        set.remove(url);
    }
}

fn is_clean(url: &str) -> bool {
    let guard = CLEAN.lock().unwrap_or_else(|e| e.into_inner());
    guard.as_ref().is_some_and(|(p, s)| *p == std::process::id() && s.contains(url))
}

/// Keep a commit the ledger could not take.
pub fn write(ledger: &Ledger, scope: &Scope, hold: u64, r: &Record) -> Result<()> {
    let conn = open()?;
    conn.execute(
        "INSERT OR REPLACE INTO journal VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![ledger.url, scope.provider, scope.account, scope.period, hold as i64, r.report, r.units as i64, r.rows as i64, r.cached, r.partial, super::now_secs()],
    )?;
    mark(&ledger.url, false);
    Ok(())
}

/// Commits waiting for `ledger`, oldest first.
pub fn pending(url: &str) -> Result<Vec<(Scope, u64, Record)>> {
    if !path().exists() {
        return Ok(Vec::new());
    }
    let conn = open()?;
    let mut stmt = conn.prepare(
        "SELECT provider, account, period, hold, report, units, rows, cached, partial FROM journal WHERE ledger = ?1 ORDER BY at",
    )?;
    let rows = stmt
        .query_map(params![url], |r| {
            Ok((
                Scope { provider: r.get(0)?, account: r.get(1)?, period: r.get(2)? },
                r.get::<_, i64>(3)? as u64,
                Record { report: r.get(4)?, units: r.get::<_, i64>(5)? as u64, rows: r.get::<_, i64>(6)? as u64, cached: r.get(7)?, partial: r.get(8)?, ..Default::default() },
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Replay what waits for `ledger` (best effort: what cannot be replayed now stays).
pub fn replay(ledger: &Arc<Ledger>) {
    if ledger.url.starts_with("memory") || is_clean(&ledger.url) {
        return;
    }
    let Ok(entries) = pending(&ledger.url) else { return };
    let mut left = entries.len();
    for (scope, hold, record) in entries {
        if ledger.backend().commit(&scope, hold, &record).is_err() {
            break;
        }
        if let Ok(conn) = open() {
            let _ = conn.execute(
                "DELETE FROM journal WHERE ledger = ?1 AND provider = ?2 AND account = ?3 AND period = ?4 AND hold = ?5",
                params![ledger.url, scope.provider, scope.account, scope.period, hold as i64],
            );
        }
        left -= 1;
        log::info!(target: "seowire", "{}: replayed a journaled commit of {} units into {}", scope.provider, record.units, ledger.url);
    }
    if left == 0 {
        mark(&ledger.url, true);
    }
}
