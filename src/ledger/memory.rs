//! In-memory backend: one process, one `Ledger` object.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use super::{now_secs, refuse, Backend, CallRow, Hold, Record, Scope, SyncRow, UsageRow};

/// Calls the in-memory log keeps at most.
const MAX_CALLS: usize = 100_000;
use crate::error::Result;

#[derive(Default)]
struct ScopeState {
    spent: u64,
    requests: u64,
    budget: Option<u64>,
    /// id -> (units, lease expiry in unix seconds)
    holds: HashMap<u64, (u64, f64)>,
}

#[derive(Default)]
pub struct MemoryBackend {
    state: Mutex<(u64, HashMap<Scope, ScopeState>)>,
    syncs: Mutex<HashMap<Scope, SyncRow>>,
    cache: Mutex<HashMap<String, (Vec<u8>, f64)>>,
    /// The call log, oldest first, and how long it keeps a call (seconds; 0: the default).
    calls: Mutex<std::collections::VecDeque<CallRow>>,
    keep: std::sync::atomic::AtomicU64,
}

impl Backend for MemoryBackend {
    fn reserve(&self, scope: &Scope, units: u64, budget: Option<u64>, lease: Duration) -> Result<u64> {
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (next_id, scopes) = &mut *guard;
        let now = now_secs();
        let s = scopes.entry(scope.clone()).or_default();
        s.holds.retain(|_, (_, expires)| *expires > now);
        if budget.is_some() {
            s.budget = budget;
        }
        // Exact in u128: no sum of bounded figures can wrap there.
        let reserved: u128 = s.holds.values().map(|(u, _)| *u as u128).sum();
        if let Some(b) = budget {
            if s.spent as u128 + reserved + units as u128 > b as u128 {
                return Err(refuse(scope, units, s.spent, reserved.min(u64::MAX as u128) as u64, b));
            }
        }
        *next_id += 1;
        s.holds.insert(*next_id, (units, now + lease.as_secs_f64()));
        Ok(*next_id)
    }

    fn commit(&self, scope: &Scope, id: u64, record: &Record) -> Result<(u64, u64)> {
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let s = guard.1.entry(scope.clone()).or_default();
        s.holds.remove(&id);
        let before = s.spent;
        s.spent = crate::units::add(s.spent, record.units, "the ledger's spent units")?;
        s.requests += 1;
        let after = s.spent;
        drop(guard);
        let now = now_secs();
        let keep = match self.keep.load(std::sync::atomic::Ordering::Relaxed) {
            0 => super::DEFAULT_RETENTION.as_secs(),
            k => k,
        } as f64;
        let mut calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        calls.push_back(CallRow::new(scope, record, now));
        // Bounded in time and, in memory, in count too.
        while calls.front().is_some_and(|c| c.at < now - keep) || calls.len() > MAX_CALLS {
            calls.pop_front();
        }
        Ok((before, after))
    }

    fn renew(&self, hold: &Hold, lease: Duration) -> Result<()> {
        if let Hold::Units(scope, id) = hold {
            let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((_, expires)) = guard.1.get_mut(scope).and_then(|s| s.holds.get_mut(id)) {
                *expires = now_secs() + lease.as_secs_f64();
            }
        }
        Ok(())
    }

    fn calls(&self, since: f64) -> Result<Vec<CallRow>> {
        Ok(self.calls.lock().unwrap_or_else(|e| e.into_inner()).iter().filter(|c| c.at >= since).cloned().collect())
    }

    fn set_retention(&self, keep: Duration) {
        self.keep.store(keep.as_secs().max(1), std::sync::atomic::Ordering::Relaxed);
    }

    fn release(&self, scope: &Scope, id: u64) -> Result<()> {
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = guard.1.get_mut(scope) {
            s.holds.remove(&id);
        }
        Ok(())
    }

    fn usage(&self) -> Result<Vec<UsageRow>> {
        let guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = now_secs();
        let mut rows: Vec<UsageRow> = guard
            .1
            .iter()
            .map(|(scope, s)| UsageRow {
                provider: scope.provider.clone(),
                account: scope.account.clone(),
                period: scope.period.clone(),
                reserved: s.holds.values().filter(|(_, e)| *e > now).fold(0u64, |a, (u, _)| a.saturating_add(*u)),
                spent: s.spent,
                requests: s.requests,
                budget: s.budget,
            })
            .collect();
        rows.sort_by(|a, b| (&a.provider, &a.account, &a.period).cmp(&(&b.provider, &b.account, &b.period)));
        Ok(rows)
    }

    fn put_sync(&self, scope: &Scope, row: &SyncRow) -> Result<()> {
        self.syncs.lock().unwrap_or_else(|e| e.into_inner()).insert(scope.clone(), row.clone());
        Ok(())
    }

    fn last_sync(&self, scope: &Scope) -> Result<Option<SyncRow>> {
        Ok(self.syncs.lock().unwrap_or_else(|e| e.into_inner()).get(scope).cloned())
    }

    fn cache_get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        Ok(cache.get(key).filter(|(_, expires)| *expires > now_secs()).map(|(v, _)| v.clone()))
    }

    fn cache_put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<()> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let now = now_secs();
        if cache.len() > 10_000 {
            cache.retain(|_, (_, expires)| *expires > now);
        }
        cache.insert(key.to_string(), (value.to_vec(), now + ttl.as_secs_f64()));
        Ok(())
    }
}
