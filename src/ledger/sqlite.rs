//! SQLite backend, the embedded default: one file shared by every process on the machine.
//! WAL lets readers run beside the writer; `BEGIN IMMEDIATE` takes the write lock up front so
//! two processes cannot both read "enough budget left" and both reserve.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{params, Connection, TransactionBehavior};

use super::{now_secs, refuse, Backend, CallRow, Hold, Record, Scope, SyncRow, UsageRow};
use crate::error::{Error, Result};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS scopes (
    provider TEXT NOT NULL, account TEXT NOT NULL, period TEXT NOT NULL,
    spent INTEGER NOT NULL DEFAULT 0, requests INTEGER NOT NULL DEFAULT 0, budget INTEGER,
    PRIMARY KEY (provider, account, period));
CREATE TABLE IF NOT EXISTS reservations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    provider TEXT NOT NULL, account TEXT NOT NULL, period TEXT NOT NULL,
    units INTEGER NOT NULL, expires REAL NOT NULL);
CREATE INDEX IF NOT EXISTS reservations_scope ON reservations (provider, account, period);
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY, ts REAL NOT NULL,
    provider TEXT NOT NULL, account TEXT NOT NULL, period TEXT NOT NULL,
    report TEXT NOT NULL, units INTEGER NOT NULL, rows INTEGER NOT NULL,
    cached INTEGER NOT NULL, partial INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS syncs (
    provider TEXT NOT NULL, account TEXT NOT NULL, period TEXT NOT NULL,
    provider_spent INTEGER NOT NULL, provider_balance INTEGER, ledger_spent INTEGER NOT NULL,
    drift INTEGER NOT NULL, at REAL NOT NULL,
    PRIMARY KEY (provider, account, period));
CREATE TABLE IF NOT EXISTS rate_entries (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, t REAL NOT NULL);
CREATE INDEX IF NOT EXISTS rate_entries_key ON rate_entries (key, t);
CREATE TABLE IF NOT EXISTS rate_next (key TEXT PRIMARY KEY, next REAL NOT NULL);
CREATE TABLE IF NOT EXISTS cache (key TEXT PRIMARY KEY, value BLOB NOT NULL, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS slots (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, expires REAL NOT NULL);
";

/// Holds carry the pid of their process: on one machine, a hold whose process is gone is
/// freed at once instead of at the end of its lease. (Added to files of earlier versions.)
const PID_COLUMNS: &[&str] = &["reservations", "rate_entries", "slots"];

fn e_busy(e: &Error) -> bool {
    e.message.contains("busy") || e.message.contains("locked")
}

/// Whether process `pid` is alive on this machine.
fn alive(pid: i64) -> bool {
    pid <= 0 || std::path::Path::new(&format!("/proc/{pid}")).exists() || !std::path::Path::new("/proc/self").exists()
}

/// Free the holds of processes that no longer exist (killed workers).
fn free_dead(tx: &rusqlite::Transaction<'_>) -> Result<()> {
    for table in PID_COLUMNS {
        let pids: Vec<i64> = tx
            .prepare(&format!("SELECT DISTINCT pid FROM {table} WHERE pid IS NOT NULL"))?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for pid in pids.into_iter().filter(|p| !alive(*p)) {
            if *table == "rate_entries" {
                // An unanswered request of a dead process still counts for one window, from now.
                tx.execute("UPDATE rate_entries SET t = MIN(t, ?2), pid = NULL WHERE pid = ?1", params![pid, now_secs()])?;
            } else {
                tx.execute(&format!("DELETE FROM {table} WHERE pid = ?1"), params![pid])?;
            }
        }
    }
    Ok(())
}

fn pid() -> i64 {
    std::process::id() as i64
}

pub struct SqliteBackend {
    path: PathBuf,
    /// One connection per process: a connection must not cross `fork`.
    conn: Mutex<Option<(u32, Connection)>>,
    /// How long the call log keeps a call (seconds; 0: the default).
    keep: std::sync::atomic::AtomicU64,
}

impl SqliteBackend {
    pub fn new(path: PathBuf) -> Self {
        SqliteBackend { path, conn: Mutex::new(None), keep: std::sync::atomic::AtomicU64::new(0) }
    }

    fn keep(&self) -> f64 {
        match self.keep.load(std::sync::atomic::Ordering::Relaxed) {
            0 => super::DEFAULT_RETENTION.as_secs() as f64,
            k => k as f64,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut guard = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let pid = std::process::id();
        if !matches!(guard.as_ref(), Some((p, _)) if *p == pid) {
            if let Some((_, inherited)) = guard.take() {
                std::mem::forget(inherited); // the parent's handle; closing it here could corrupt its locks
            }
            *guard = Some((pid, self.open()?));
        }
        f(&mut guard.as_mut().expect("connection just opened").1)
    }

    /// Open, retrying while another process holds a lock that the busy handler does not wait
    /// for (switching a new file to WAL, adding columns to an old one).
    fn open(&self) -> Result<Connection> {
        let mut tries = 0;
        loop {
            match self.open_once() {
                Err(e) if tries < 100 && e_busy(&e) => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                other => return other,
            }
        }
    }

    fn open_once(&self) -> Result<Connection> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::ledger(format!("cannot create ledger directory {}: {e}", dir.display())))?;
        }
        let conn = Connection::open(&self.path)?;
        conn.busy_timeout(Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(SCHEMA)?;
        // Files from before the call log kept estimates and tags: add the columns.
        for (column, ty) in [("estimate", "INTEGER NOT NULL DEFAULT 0"), ("tag", "TEXT NOT NULL DEFAULT ''")] {
            let has: bool = conn.prepare(&format!("SELECT 1 FROM pragma_table_info('records') WHERE name = '{column}'"))?.exists([])?;
            if !has {
                match conn.execute_batch(&format!("ALTER TABLE records ADD COLUMN {column} {ty}")) {
                    Err(e) if e.to_string().contains("duplicate column name") => {}
                    other => other?,
                }
            }
        }
        conn.execute_batch("CREATE INDEX IF NOT EXISTS records_ts ON records (ts)")?;
        for table in PID_COLUMNS {
            let has: bool = conn
                .prepare(&format!("SELECT 1 FROM pragma_table_info('{table}') WHERE name = 'pid'"))?
                .exists([])?;
            if !has {
                // Another process opening the same new file may add it between our check and
                // this ALTER: the column being there is the outcome we want, not an error.
                match conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN pid INTEGER")) {
                    Err(e) if e.to_string().contains("duplicate column name") => {}
                    other => other?,
                }
            }
        }
        Ok(conn)
    }
}

impl Backend for SqliteBackend {
    fn reserve(&self, scope: &Scope, units: u64, budget: Option<u64>, lease: Duration) -> Result<u64> {
        self.with(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let now = now_secs();
            tx.execute("DELETE FROM reservations WHERE expires <= ?1", params![now])?;
            free_dead(&tx)?;
            tx.execute(
                "INSERT OR IGNORE INTO scopes (provider, account, period) VALUES (?1, ?2, ?3)",
                params![scope.provider, scope.account, scope.period],
            )?;
            if let Some(b) = budget {
                tx.execute(
                    "UPDATE scopes SET budget = ?4 WHERE provider = ?1 AND account = ?2 AND period = ?3",
                    params![scope.provider, scope.account, scope.period, b as i64],
                )?;
                let spent: i64 = tx.query_row(
                    "SELECT spent FROM scopes WHERE provider = ?1 AND account = ?2 AND period = ?3",
                    params![scope.provider, scope.account, scope.period],
                    |r| r.get(0),
                )?;
                let reserved: i64 = tx.query_row(
                    "SELECT COALESCE(SUM(units), 0) FROM reservations WHERE provider = ?1 AND account = ?2 AND period = ?3",
                    params![scope.provider, scope.account, scope.period],
                    |r| r.get(0),
                )?;
                if spent as u128 + reserved.max(0) as u128 + units as u128 > b as u128 {
                    return Err(refuse(scope, units, spent as u64, reserved as u64, b));
                }
            }
            tx.execute(
                "INSERT INTO reservations (provider, account, period, units, expires, pid) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![scope.provider, scope.account, scope.period, units as i64, now + lease.as_secs_f64(), pid()],
            )?;
            let id = tx.last_insert_rowid() as u64;
            tx.commit()?;
            Ok(id)
        })
    }

    fn commit(&self, scope: &Scope, id: u64, record: &Record) -> Result<(u64, u64)> {
        self.with(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute("DELETE FROM reservations WHERE id = ?1", params![id as i64])?;
            tx.execute(
                "INSERT OR IGNORE INTO scopes (provider, account, period) VALUES (?1, ?2, ?3)",
                params![scope.provider, scope.account, scope.period],
            )?;
            let before: i64 = tx.query_row(
                "UPDATE scopes SET spent = spent + ?4, requests = requests + 1
                 WHERE provider = ?1 AND account = ?2 AND period = ?3 RETURNING spent - ?4",
                params![scope.provider, scope.account, scope.period, record.units as i64],
                |r| r.get(0),
            )?;
            let now = now_secs();
            tx.execute(
                "INSERT INTO records (ts, provider, account, period, report, units, rows, cached, partial, estimate, tag)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    now,
                    scope.provider,
                    scope.account,
                    scope.period,
                    record.report,
                    record.units as i64,
                    record.rows as i64,
                    record.cached,
                    record.partial,
                    record.estimate as i64,
                    record.tag
                ],
            )?;
            // The log keeps `retention`: older calls go as new ones come (the index makes it cheap).
            tx.execute("DELETE FROM records WHERE ts < ?1", params![now - self.keep()])?;
            tx.commit()?;
            let after = crate::units::add(before.max(0) as u64, record.units, "the ledger's spent units")?;
            Ok((before.max(0) as u64, after))
        })
    }

    fn calls(&self, since: f64) -> Result<Vec<CallRow>> {
        self.with(|conn| {
            let mut q = conn.prepare(
                "SELECT ts, provider, account, period, report, estimate, units, rows, cached, tag FROM records WHERE ts >= ?1 ORDER BY ts, id",
            )?;
            let rows = q
                .query_map(params![since], |r| {
                    Ok(CallRow {
                        at: r.get(0)?,
                        provider: r.get(1)?,
                        account: r.get(2)?,
                        period: r.get(3)?,
                        report: r.get(4)?,
                        estimate: r.get::<_, i64>(5)?.max(0) as u64,
                        units: r.get::<_, i64>(6)?.max(0) as u64,
                        rows: r.get::<_, i64>(7)?.max(0) as u64,
                        cached: r.get(8)?,
                        tag: r.get(9)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }

    fn set_retention(&self, keep: Duration) {
        self.keep.store(keep.as_secs().max(1), std::sync::atomic::Ordering::Relaxed);
    }

    fn release(&self, _scope: &Scope, id: u64) -> Result<()> {
        self.with(|conn| {
            conn.execute("DELETE FROM reservations WHERE id = ?1", params![id as i64])?;
            Ok(())
        })
    }

    fn usage(&self) -> Result<Vec<UsageRow>> {
        self.with(|conn| {
            let now = now_secs();
            let mut stmt = conn.prepare(
                "SELECT s.provider, s.account, s.period, s.spent, s.requests, s.budget,
                        (SELECT COALESCE(SUM(r.units), 0) FROM reservations r
                         WHERE r.provider = s.provider AND r.account = s.account AND r.period = s.period
                           AND r.expires > ?1)
                 FROM scopes s ORDER BY s.provider, s.account, s.period",
            )?;
            let rows = stmt
                .query_map(params![now], |r| {
                    Ok(UsageRow {
                        provider: r.get(0)?,
                        account: r.get(1)?,
                        period: r.get(2)?,
                        spent: r.get::<_, i64>(3)? as u64,
                        requests: r.get::<_, i64>(4)? as u64,
                        budget: r.get::<_, Option<i64>>(5)?.map(|b| b as u64),
                        reserved: r.get::<_, i64>(6)? as u64,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }

    fn put_sync(&self, scope: &Scope, row: &SyncRow) -> Result<()> {
        self.with(|conn| {
            conn.execute(
                "INSERT OR REPLACE INTO syncs (provider, account, period, provider_spent, provider_balance, ledger_spent, drift, at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    scope.provider,
                    scope.account,
                    scope.period,
                    row.provider_spent as i64,
                    row.provider_balance.map(|b| b as i64),
                    row.ledger_spent as i64,
                    row.drift,
                    row.at
                ],
            )?;
            Ok(())
        })
    }

    fn last_sync(&self, scope: &Scope) -> Result<Option<SyncRow>> {
        self.with(|conn| {
            let mut stmt = conn.prepare(
                "SELECT provider_spent, provider_balance, ledger_spent, drift, at FROM syncs
                 WHERE provider = ?1 AND account = ?2 AND period = ?3",
            )?;
            let mut rows = stmt.query_map(params![scope.provider, scope.account, scope.period], |r| {
                Ok(SyncRow {
                    provider_spent: r.get::<_, i64>(0)? as u64,
                    provider_balance: r.get::<_, Option<i64>>(1)?.map(|b| b as u64),
                    ledger_spent: r.get::<_, i64>(2)? as u64,
                    drift: r.get(3)?,
                    at: r.get(4)?,
                })
            })?;
            Ok(rows.next().transpose()?)
        })
    }

    fn shares_limits(&self) -> bool {
        true
    }

    fn renew(&self, hold: &Hold, lease: Duration) -> Result<()> {
        let until = now_secs() + lease.as_secs_f64();
        self.with(|conn| {
            match hold {
                Hold::Units(_, id) => conn.execute("UPDATE reservations SET expires = ?2 WHERE id = ?1", params![*id as i64, until])?,
                // Only while unanswered (t in the future); an answered entry keeps its answer time.
                Hold::Rate(_, id) => conn.execute("UPDATE rate_entries SET t = ?2 WHERE id = ?1 AND t > ?3", params![*id as i64, until, now_secs()])?,
                Hold::Slot(_, id) => conn.execute("UPDATE slots SET expires = ?2 WHERE id = ?1", params![*id as i64, until])?,
            };
            Ok(())
        })
    }

    fn take_rate(&self, key: &str, count: u32, window: Duration, lease: Duration) -> Result<(bool, Duration, u64)> {
        self.with(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let now = now_secs();
            free_dead(&tx)?;
            let w = window.as_secs_f64();
            let out = if count == 1 {
                // Even pacing: hand out the next slot (GCRA's theoretical arrival time).
                let next: Option<f64> = tx.query_row("SELECT next FROM rate_next WHERE key = ?1", params![key], |r| r.get(0)).ok();
                let slot = next.filter(|n| *n > now).unwrap_or(now);
                tx.execute("INSERT OR REPLACE INTO rate_next (key, next) VALUES (?1, ?2)", params![key, slot + w])?;
                (true, Duration::from_secs_f64(slot - now), 0)
            } else {
                tx.execute("DELETE FROM rate_entries WHERE key = ?1 AND t <= ?2", params![key, now - w])?;
                let (n, oldest): (i64, Option<f64>) =
                    tx.query_row("SELECT COUNT(*), MIN(t) FROM rate_entries WHERE key = ?1", params![key], |r| Ok((r.get(0)?, r.get(1)?)))?;
                if (n as u32) < count {
                    // In flight: counted until its answer is in (or its lease ends, if the process died).
                    tx.execute("INSERT INTO rate_entries (key, t, pid) VALUES (?1, ?2, ?3)", params![key, now + lease.as_secs_f64(), pid()])?;
                    (true, Duration::ZERO, tx.last_insert_rowid() as u64)
                } else {
                    let wait = (oldest.unwrap_or(now) + w - now).clamp(0.001, 0.05);
                    (false, Duration::from_secs_f64(wait), 0)
                }
            };
            tx.commit()?;
            Ok(out)
        })
    }

    fn complete_rate(&self, _key: &str, id: u64) -> Result<()> {
        self.with(|conn| {
            conn.execute("UPDATE rate_entries SET t = ?2, pid = NULL WHERE id = ?1", params![id as i64, now_secs()])?;
            Ok(())
        })
    }

    fn take_slot(&self, key: &str, limit: u32, lease: Duration) -> Result<Option<u64>> {
        self.with(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let now = now_secs();
            tx.execute("DELETE FROM slots WHERE expires <= ?1", params![now])?;
            free_dead(&tx)?;
            let n: i64 = tx.query_row("SELECT COUNT(*) FROM slots WHERE key = ?1", params![key], |r| r.get(0))?;
            let out = if (n as u32) < limit {
                tx.execute("INSERT INTO slots (key, expires, pid) VALUES (?1, ?2, ?3)", params![key, now + lease.as_secs_f64(), pid()])?;
                Some(tx.last_insert_rowid() as u64)
            } else {
                None
            };
            tx.commit()?;
            Ok(out)
        })
    }

    fn cache_get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.with(|conn| {
            let v: Option<Vec<u8>> = conn
                .query_row("SELECT value FROM cache WHERE key = ?1 AND expires > ?2", params![key, now_secs()], |r| r.get(0))
                .ok();
            Ok(v)
        })
    }

    fn cache_put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<()> {
        self.with(|conn| {
            let now = now_secs();
            conn.execute("DELETE FROM cache WHERE expires <= ?1", params![now])?;
            conn.execute(
                "INSERT OR REPLACE INTO cache (key, value, expires) VALUES (?1, ?2, ?3)",
                params![key, value, now + ttl.as_secs_f64()],
            )?;
            Ok(())
        })
    }

    fn free_slot(&self, _key: &str, id: u64) -> Result<()> {
        self.with(|conn| {
            conn.execute("DELETE FROM slots WHERE id = ?1", params![id as i64])?;
            Ok(())
        })
    }
}
