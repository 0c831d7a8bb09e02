//! The unit ledger: one model of API units for every provider.
//!
//! Before a request the client *reserves* its worst-case cost; afterwards it *commits* the
//! actual cost or *releases* the reservation. A reservation that would cross the budget of its
//! scope (provider + account + period) is refused and nothing is sent. The ledger knows costs,
//! not wire formats.

mod journal;
pub mod keeper;
mod memory;
mod redis;
mod sqlite;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Kind, Result};

pub use self::redis::RedisBackend;
pub use memory::MemoryBackend;
pub use sqlite::SqliteBackend;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Month,
    Day,
    Total,
}

impl Period {
    pub fn parse(s: &str) -> Result<Period> {
        match s {
            "month" => Ok(Period::Month),
            "day" => Ok(Period::Day),
            "total" => Ok(Period::Total),
            _ => Err(Error::invalid(format!("budget period must be 'month', 'day' or 'total', not {s:?}"))),
        }
    }

    /// The label of the period containing `now` (UTC): "2026-11", "2026-11-22" or "total".
    pub fn label(self, now: SystemTime) -> String {
        let days = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() / 86_400;
        let (y, m, d) = civil_from_days(days as i64);
        match self {
            Period::Month => format!("{y:04}-{m:02}"),
            Period::Day => format!("{y:04}-{m:02}-{d:02}"),
            Period::Total => "total".to_string(),
        }
    }
}

/// Days since 1970-01-01 to a (year, month, day) civil date (Howard Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[derive(Debug, Clone)]
pub struct Budget {
    pub units: u64,
    pub period: Period,
    /// Fractions of the budget at which an alert fires once (e.g. 0.8 and 0.95).
    pub thresholds: Vec<f64>,
}

/// Who is charged: provider, account (a one-way hash of the key, never the key) and period.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    pub provider: String,
    pub account: String,
    pub period: String,
}

/// What a committed request cost, for the ledger's records.
#[derive(Debug, Clone, Default)]
pub struct Record {
    pub report: String,
    pub units: u64,
    pub rows: u64,
    pub cached: bool,
    pub partial: bool,
    /// The units reserved for the call (its worst case).
    pub estimate: u64,
    /// Who spent it: the client's tag, else the Airflow DAG/task it ran in, else empty.
    pub tag: String,
}

/// One committed call in the ledger's append-only log of spending (`Ledger::calls`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CallRow {
    /// Unix seconds.
    pub at: f64,
    pub provider: String,
    pub account: String,
    /// The budget period (pool) the call was booked in.
    pub period: String,
    pub report: String,
    pub estimate: u64,
    pub units: u64,
    pub rows: u64,
    pub cached: bool,
    pub tag: String,
}

impl CallRow {
    pub fn new(scope: &Scope, record: &Record, at: f64) -> CallRow {
        CallRow {
            at,
            provider: scope.provider.clone(),
            account: scope.account.clone(),
            period: scope.period.clone(),
            report: record.report.clone(),
            estimate: record.estimate,
            units: record.units,
            rows: record.rows,
            cached: record.cached,
            tag: record.tag.clone(),
        }
    }
}

/// How long the call log keeps a call, unless the ledger is opened with another retention.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(90 * 86_400);

#[derive(Debug, Clone, PartialEq)]
pub struct UsageRow {
    pub provider: String,
    pub account: String,
    pub period: String,
    pub reserved: u64,
    pub spent: u64,
    pub requests: u64,
    pub budget: Option<u64>,
}

impl UsageRow {
    pub fn remaining(&self) -> Option<u64> {
        self.budget.map(|b| b.saturating_sub(self.spent + self.reserved))
    }
}

/// A shared hold that lives on a lease (see `keeper`).
#[derive(Debug, Clone, PartialEq)]
pub enum Hold {
    /// A reservation of units.
    Units(Scope, u64),
    /// An in-flight entry of a shared rate log.
    Rate(String, u64),
    /// A shared concurrency slot.
    Slot(String, u64),
}

/// Storage behind a ledger. Each method is one atomic step; implementations must be safe for
/// several threads (and, for shared stores, several processes).
pub trait Backend: Send + Sync {
    /// Hold `units` for `lease`; refuse with `BudgetExceeded` if spent + reserved + units > budget.
    fn reserve(&self, scope: &Scope, units: u64, budget: Option<u64>, lease: Duration) -> Result<u64>;
    /// Drop reservation `id` and add the actual cost; returns spent (before, after).
    fn commit(&self, scope: &Scope, id: u64, record: &Record) -> Result<(u64, u64)>;
    /// Drop reservation `id` without spending.
    fn release(&self, scope: &Scope, id: u64) -> Result<()>;
    fn usage(&self) -> Result<Vec<UsageRow>>;
    /// Keep the latest reconciliation of a scope against the provider's own count.
    fn put_sync(&self, scope: &Scope, row: &SyncRow) -> Result<()>;
    fn last_sync(&self, scope: &Scope) -> Result<Option<SyncRow>>;

    /// Whether rate and concurrency limits kept here hold across processes (SQLite, Redis).
    fn shares_limits(&self) -> bool {
        false
    }
    /// Ask to send under `count` requests per `window` for `key`. Returns whether a send slot
    /// was taken, how long to wait (taken: go after waiting; not taken: ask again after
    /// waiting) and the entry to complete when the answer is in. A sliding-log entry counts
    /// from when its answer arrived (an upper bound on when the server saw it), and while the
    /// request is in flight it counts regardless, so send delays can never let count+1 in.
    fn take_rate(&self, _key: &str, _count: u32, _window: Duration, _lease: Duration) -> Result<(bool, Duration, u64)> {
        Ok((true, Duration::ZERO, 0))
    }
    /// Extend a live hold by `lease` from now. Holds not renewed end when their lease does.
    fn renew(&self, _hold: &Hold, _lease: Duration) -> Result<()> {
        Ok(())
    }
    fn complete_rate(&self, _key: &str, _id: u64) -> Result<()> {
        Ok(())
    }
    /// Take one of `limit` concurrency slots for `key`, held at most `lease`; None if all are taken.
    fn take_slot(&self, _key: &str, _limit: u32, _lease: Duration) -> Result<Option<u64>> {
        Ok(Some(0))
    }
    fn free_slot(&self, _key: &str, _id: u64) -> Result<()> {
        Ok(())
    }
    /// The calls committed at or after `since` (unix seconds), oldest first.
    fn calls(&self, _since: f64) -> Result<Vec<CallRow>> {
        Ok(Vec::new())
    }
    /// Keep calls in the log this long (older ones are dropped as new ones are written).
    fn set_retention(&self, _keep: Duration) {}
    /// Wait up to `at_most` for a slot of `key` to be freed (by any process); `Ok(false)`: this
    /// backend cannot tell, so the caller polls. Spurious wake-ups are allowed.
    fn wait_slot(&self, _key: &str, _at_most: Duration) -> Result<bool> {
        Ok(false)
    }

    /// The response cache kept beside the ledger (memory, SQLite or Redis).
    fn cache_get(&self, key: &str) -> Result<Option<Vec<u8>>>;
    fn cache_put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<()>;
}

/// What the provider says, as read by its client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// Units (rows) the provider counts as spent this period (Moz usage_data, Ahrefs key usage).
    Spent(u64),
    /// Units left (SEMrush countapiunits): spending shows as the balance going down between syncs.
    Balance(u64),
}

/// One reconciliation: the provider's figure beside ours, and the difference.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncRow {
    pub provider_spent: u64,
    pub provider_balance: Option<u64>,
    pub ledger_spent: u64,
    /// provider_spent - ledger_spent: positive when the provider counted more than we did.
    pub drift: i64,
    pub at: f64,
}

pub(crate) fn refuse(scope: &Scope, units: u64, spent: u64, reserved: u64, budget: u64) -> Error {
    let mut e = Error::new(
        Kind::BudgetExceeded,
        format!(
            "budget exceeded for {} account {} in {}: this request may cost up to {units} units, \
             but {spent} are spent and {reserved} reserved of a budget of {budget}; nothing was sent",
            scope.provider, scope.account, scope.period
        ),
    );
    e.before_send = true;
    e
}

pub(crate) fn now_secs() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64()
}

/// Holds are renewed while their request lives, so a short lease only bounds how long a
/// killed worker's holds linger.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

pub struct Ledger {
    /// The URL with any password removed, for display.
    pub url: String,
    backend: Box<dyn Backend>,
    pub lease: Duration,
}

impl Ledger {
    pub fn new(url: String, backend: Box<dyn Backend>) -> Ledger {
        Ledger { url, backend, lease: DEFAULT_LEASE }
    }

    /// `memory://`, `sqlite:///path/to/file`, or `sqlite://` for the default file.
    pub fn open(url: &str) -> Result<Ledger> {
        if url == "memory://" || url == "memory" {
            return Ok(Ledger::new("memory://".into(), Box::new(MemoryBackend::default())));
        }
        if let Some(path) = url.strip_prefix("sqlite://") {
            let path = if path.is_empty() { default_sqlite_path() } else { path.to_string() };
            return Ok(Ledger::new(format!("sqlite://{path}"), Box::new(SqliteBackend::new(path.into()))));
        }
        if url.starts_with("redis://") {
            let shown = redact_password(url);
            return Ok(Ledger::new(shown.clone(), Box::new(RedisBackend::open(url, shown)?)));
        }
        Err(Error::invalid(format!(
            "unsupported ledger URL {:?}: use memory://, sqlite:///path, sqlite:// or redis://host:port/db",
            redact_password(url)
        )))
    }

    /// `open`, but if the shared ledger is unreachable (now or later) count in `local` instead,
    /// with a warning, rather than failing (`on_ledger_error="local"`).
    pub fn open_with_fallback(url: &str, local: &str) -> Result<Ledger> {
        let local_ledger = Ledger::open(local)?;
        match Ledger::open(url) {
            Ok(primary) => {
                let shown = primary.url.clone();
                Ok(Ledger::new(shown, Box::new(Fallback { primary: primary.backend, local: local_ledger.backend, local_url: local_ledger.url, warned: Default::default() })))
            }
            Err(e) if e.kind == Kind::LedgerUnavailable => {
                log::warn!(target: "seowire", "{}; counting in the local ledger {} instead", e.message, local_ledger.url);
                Ok(local_ledger)
            }
            Err(e) => Err(e),
        }
    }

    pub fn backend(&self) -> &dyn Backend {
        self.backend.as_ref()
    }

    pub fn reserve(self: &Arc<Self>, scope: Scope, units: u64, budget: Option<&Budget>) -> Result<Reservation> {
        crate::units::bounded(units, "this request")?;
        if let Some(b) = budget {
            crate::units::bounded(b.units, "the budget")?;
        }
        journal::replay(self);
        let id = self.backend.reserve(&scope, units, budget.map(|b| b.units), self.lease)?;
        let kept = keeper::keep(self, Hold::Units(scope.clone(), id));
        Ok(Reservation { ledger: self.clone(), scope, id, units, open: true, _kept: Some(kept) })
    }

    /// Keep a shared rate entry or slot alive while the guard lives.
    pub fn keep(self: &Arc<Self>, hold: Hold) -> keeper::Kept {
        keeper::keep(self, hold)
    }

    /// The call log since `since` (unix seconds), oldest first.
    pub fn calls(&self, since: f64) -> Result<Vec<CallRow>> {
        self.backend.calls(since)
    }

    /// Keep calls in the log this long.
    pub fn set_retention(&self, keep: Duration) {
        self.backend.set_retention(keep);
    }

    pub fn usage(&self) -> Result<Vec<UsageRow>> {
        self.backend.usage()
    }

    /// Record the provider's own count for `scope` and the drift from ours. A balance reading
    /// is compared with the previous one: the first is the baseline (drift 0).
    pub fn sync(&self, scope: &Scope, reading: Reading) -> Result<SyncRow> {
        let ours = self
            .usage()?
            .into_iter()
            .find(|u| u.provider == scope.provider && u.account == scope.account && u.period == scope.period)
            .map_or(0, |u| u.spent);
        let row = match reading {
            Reading::Spent(p) => SyncRow { provider_spent: p, provider_balance: None, ledger_spent: ours, drift: p as i64 - ours as i64, at: now_secs() },
            Reading::Balance(b) => {
                let provider_spent = match self.backend.last_sync(scope)? {
                    Some(prev) if prev.provider_balance.is_some() => {
                        // Balance going up (a top-up) is not spending.
                        prev.provider_spent + prev.provider_balance.unwrap_or(b).saturating_sub(b)
                    }
                    _ => ours,
                };
                SyncRow { provider_spent, provider_balance: Some(b), ledger_spent: ours, drift: provider_spent as i64 - ours as i64, at: now_secs() }
            }
        };
        self.backend.put_sync(scope, &row)?;
        Ok(row)
    }

    pub fn last_sync(&self, scope: &Scope) -> Result<Option<SyncRow>> {
        self.backend.last_sync(scope)
    }
}

/// A shared backend that falls back to a local one while it is unreachable. Holds made locally
/// carry a marker bit so their commit and release go to the same place.
struct Fallback {
    primary: Box<dyn Backend>,
    local: Box<dyn Backend>,
    local_url: String,
    warned: std::sync::atomic::AtomicBool,
}

const LOCAL_HOLD: u64 = 1 << 62;

impl Fallback {
    fn on<T>(&self, primary: Result<T>, local: impl FnOnce() -> Result<T>) -> Result<T> {
        match primary {
            Err(e) if e.kind == Kind::LedgerUnavailable => {
                if !self.warned.swap(true, std::sync::atomic::Ordering::Relaxed) {
                    log::warn!(target: "seowire", "{}; counting in the local ledger {} until it is back", e.message, self.local_url);
                }
                local()
            }
            other => other,
        }
    }
}

impl Backend for Fallback {
    fn reserve(&self, scope: &Scope, units: u64, budget: Option<u64>, lease: Duration) -> Result<u64> {
        self.on(self.primary.reserve(scope, units, budget, lease), || self.local.reserve(scope, units, budget, lease).map(|id| id | LOCAL_HOLD))
    }
    fn commit(&self, scope: &Scope, id: u64, record: &Record) -> Result<(u64, u64)> {
        if id & LOCAL_HOLD != 0 {
            return self.local.commit(scope, id & !LOCAL_HOLD, record);
        }
        // The units were held in the shared ledger; if it is gone now, record them locally.
        self.on(self.primary.commit(scope, id, record), || {
            let local_id = self.local.reserve(scope, 0, None, Duration::from_secs(60))?;
            self.local.commit(scope, local_id, record)
        })
    }
    fn release(&self, scope: &Scope, id: u64) -> Result<()> {
        if id & LOCAL_HOLD != 0 {
            return self.local.release(scope, id & !LOCAL_HOLD);
        }
        self.on(self.primary.release(scope, id), || Ok(()))
    }
    fn usage(&self) -> Result<Vec<UsageRow>> {
        self.on(self.primary.usage(), || self.local.usage())
    }
    fn put_sync(&self, scope: &Scope, row: &SyncRow) -> Result<()> {
        self.on(self.primary.put_sync(scope, row), || self.local.put_sync(scope, row))
    }
    fn last_sync(&self, scope: &Scope) -> Result<Option<SyncRow>> {
        self.on(self.primary.last_sync(scope), || self.local.last_sync(scope))
    }
    fn shares_limits(&self) -> bool {
        self.primary.shares_limits()
    }
    fn take_rate(&self, key: &str, count: u32, window: Duration, lease: Duration) -> Result<(bool, Duration, u64)> {
        self.on(self.primary.take_rate(key, count, window, lease), || self.local.take_rate(key, count, window, lease).map(|(t, w, id)| (t, w, id | LOCAL_HOLD)))
    }
    fn renew(&self, hold: &Hold, lease: Duration) -> Result<()> {
        let local = match hold {
            Hold::Units(s, id) if id & LOCAL_HOLD != 0 => Some(Hold::Units(s.clone(), id & !LOCAL_HOLD)),
            Hold::Rate(k, id) if id & LOCAL_HOLD != 0 => Some(Hold::Rate(k.clone(), id & !LOCAL_HOLD)),
            Hold::Slot(k, id) if id & LOCAL_HOLD != 0 => Some(Hold::Slot(k.clone(), id & !LOCAL_HOLD)),
            _ => None,
        };
        match local {
            Some(h) => self.local.renew(&h, lease),
            None => self.on(self.primary.renew(hold, lease), || Ok(())),
        }
    }
    fn complete_rate(&self, key: &str, id: u64) -> Result<()> {
        if id & LOCAL_HOLD != 0 {
            return self.local.complete_rate(key, id & !LOCAL_HOLD);
        }
        self.on(self.primary.complete_rate(key, id), || Ok(()))
    }
    fn take_slot(&self, key: &str, limit: u32, lease: Duration) -> Result<Option<u64>> {
        self.on(self.primary.take_slot(key, limit, lease), || self.local.take_slot(key, limit, lease).map(|s| s.map(|id| id | LOCAL_HOLD)))
    }
    fn free_slot(&self, key: &str, id: u64) -> Result<()> {
        if id & LOCAL_HOLD != 0 {
            return self.local.free_slot(key, id & !LOCAL_HOLD);
        }
        self.on(self.primary.free_slot(key, id), || Ok(()))
    }
    fn wait_slot(&self, key: &str, at_most: Duration) -> Result<bool> {
        self.on(self.primary.wait_slot(key, at_most), || Ok(false))
    }
    fn calls(&self, since: f64) -> Result<Vec<CallRow>> {
        let mut rows = self.on(self.primary.calls(since), || Ok(Vec::new()))?;
        rows.extend(self.local.calls(since)?);
        rows.sort_by(|a, b| a.at.total_cmp(&b.at));
        Ok(rows)
    }
    fn set_retention(&self, keep: Duration) {
        self.primary.set_retention(keep);
        self.local.set_retention(keep);
    }
    fn cache_get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.on(self.primary.cache_get(key), || self.local.cache_get(key))
    }
    fn cache_put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<()> {
        self.on(self.primary.cache_put(key, value, ttl), || self.local.cache_put(key, value, ttl))
    }
}

/// A hold on units. Dropping it without `commit` releases it (failure, cancellation).
pub struct Reservation {
    ledger: Arc<Ledger>,
    pub scope: Scope,
    id: u64,
    pub units: u64,
    open: bool,
    _kept: Option<keeper::Kept>,
}

/// The outcome of a commit: spent before and after, and the alert thresholds it crossed.
#[derive(Debug, Clone, Default)]
pub struct Committed {
    pub spent: u64,
    pub budget: Option<u64>,
    pub alerts: Vec<f64>,
    /// The ledger was unreachable: the commit waits in the local journal.
    pub journaled: bool,
}

impl Reservation {
    pub fn commit(mut self, record: &Record, budget: Option<&Budget>) -> Result<Committed> {
        crate::units::bounded(record.units, "the answer").map_err(|e| Error::format(e.message))?;
        let (before, after) = match self.ledger.backend.commit(&self.scope, self.id, record) {
            Ok(v) => {
                self.open = false;
                v
            }
            Err(e) => {
                // The hold stays open for `commit_or_journal` to decide.
                return Err(e);
            }
        };
        let alerts = match budget {
            Some(b) if b.units > 0 => b
                .thresholds
                .iter()
                .copied()
                .filter(|t| {
                    let line = t * b.units as f64;
                    (before as f64) < line && (after as f64) >= line
                })
                .collect(),
            _ => Vec::new(),
        };
        Ok(Committed { spent: after, budget: budget.map(|b| b.units), alerts, journaled: false })
    }

    pub fn release(mut self) -> Result<()> {
        self.open = false;
        self.ledger.backend.release(&self.scope, self.id)
    }

    /// Commit an answer that has already arrived. If the ledger cannot take it now (Redis
    /// gone), the commit goes to the local journal, replayed idempotently when the ledger is
    /// back, and the caller keeps the data: a charged answer is never thrown away.
    pub fn commit_or_journal(self, record: &Record, budget: Option<&Budget>) -> Result<Committed> {
        let (ledger, scope, id) = (self.ledger.clone(), self.scope.clone(), self.id);
        match self.commit(record, budget) {
            Ok(c) => Ok(c),
            Err(e) if matches!(e.kind, Kind::LedgerUnavailable | Kind::Ledger) => {
                journal::write(&ledger, &scope, id, record)?;
                log::warn!(
                    target: "seowire",
                    "{}: the answer arrived but the ledger could not record its {} units ({}); kept in the local journal {} and replayed when the ledger is back",
                    scope.provider, record.units, e.message, journal::path().display()
                );
                Ok(Committed { spent: 0, budget: budget.map(|b| b.units), alerts: Vec::new(), journaled: true })
            }
            Err(e) => Err(e),
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.open {
            // Best effort: if this fails the lease still frees the units.
            let _ = self.ledger.backend.release(&self.scope, self.id);
        }
    }
}

pub fn default_sqlite_path() -> String {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("seowire").join("ledger.sqlite3").to_string_lossy().into_owned()
}

pub use crate::secrets::redact_password;

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        Scope { provider: "semrush".into(), account: "abc".into(), period: "2026-11".into() }
    }

    fn exercise(ledger: Arc<Ledger>) {
        let budget = Budget { units: 1000, period: Period::Month, thresholds: vec![0.8, 0.95] };
        let r = ledger.reserve(scope(), 600, Some(&budget)).unwrap();
        // 600 held: another 500 would cross the budget.
        let err = ledger.reserve(scope(), 500, Some(&budget)).err().unwrap();
        assert_eq!(err.kind, Kind::BudgetExceeded);
        let c = r.commit(&Record { report: "x".into(), units: 300, rows: 30, ..Default::default() }, Some(&budget)).unwrap();
        assert_eq!(c.spent, 300);
        assert!(c.alerts.is_empty());
        let r = ledger.reserve(scope(), 500, Some(&budget)).unwrap();
        drop(r); // released
        let r = ledger.reserve(scope(), 700, Some(&budget)).unwrap();
        let c = r.commit(&Record { units: 660, ..Default::default() }, Some(&budget)).unwrap();
        assert_eq!(c.alerts, vec![0.8, 0.95]);
        let usage = ledger.usage().unwrap();
        assert_eq!(usage.len(), 1);
        assert_eq!((usage[0].spent, usage[0].reserved, usage[0].requests), (960, 0, 2));
        assert_eq!(usage[0].remaining(), Some(40));
    }

    #[test]
    fn memory_ledger() {
        exercise(Arc::new(Ledger::open("memory://").unwrap()));
    }

    #[test]
    fn sqlite_ledger() {
        let dir = std::env::temp_dir().join(format!("seowire-test-{}-{}", std::process::id(), now_secs()));
        let path = dir.join("l.sqlite3");
        exercise(Arc::new(Ledger::open(&format!("sqlite://{}", path.display())).unwrap()));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn expired_lease_frees_units() {
        let mut l = Ledger::open("memory://").unwrap();
        l.lease = Duration::from_millis(1);
        let l = Arc::new(l);
        let budget = Budget { units: 100, period: Period::Month, thresholds: vec![] };
        let r = l.reserve(scope(), 100, Some(&budget)).unwrap();
        std::mem::forget(r); // a worker that died mid-request
        std::thread::sleep(Duration::from_millis(5));
        assert!(l.reserve(scope(), 100, Some(&budget)).is_ok());
    }

    #[test]
    fn period_labels() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_000_000); // 2026-11-18
        assert_eq!(Period::Month.label(t), "2026-11");
        assert_eq!(Period::Day.label(t), "2026-11-18");
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
