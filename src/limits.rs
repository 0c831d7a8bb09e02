//! Client-side rate and concurrency limits, shared by every client of one account in a process,
//! and, when the ledger's store can hold them (SQLite, Redis), by every process using that
//! ledger: the in-process gate comes first (cheap), then the shared one.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::Result;
use crate::ledger::Ledger;
use crate::runtime::Registry;

/// At most `count` requests in any window of `per` (an exact sliding log: a GCRA with a burst
/// of `count` would let almost 2x through in some windows).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
}

impl Rate {
    /// The window actually kept: `per` plus air for send-to-arrival delays (proportionally
    /// small for one-per-interval pacing, where it would otherwise cost throughput).
    fn window(self) -> Duration {
        if self.count == 1 {
            self.per + MARGIN.min(self.per / 40)
        } else {
            self.per + MARGIN
        }
    }
}

/// One entry of the in-process sliding log: in flight (counts regardless) until its answer
/// arrives, then it counts for one window from the answer's time, the same rule as the
/// shared log: the server saw the request no later than we saw its answer.
#[derive(Debug, Clone, Copy)]
struct Sent {
    id: u64,
    answered: Option<Instant>,
}

pub struct Limits {
    rate: Option<Rate>,
    sent: Mutex<(u64, VecDeque<Sent>)>,
    /// For one-per-interval rates: the next free send slot (GCRA's theoretical arrival time).
    next_slot: Mutex<Option<Instant>>,
    slots: Option<Arc<Semaphore>>,
    concurrency: Option<u32>,
    /// The cross-process store and this account's key in it.
    shared: Option<(Arc<Ledger>, String)>,
}

/// Held while a request is in flight.
pub struct Slot {
    _permit: Option<OwnedSemaphorePermit>,
    shared: Option<(Arc<Ledger>, String, u64)>,
    /// The shared rate-log entry to stamp with the answer's time.
    rate_entry: Option<(Arc<Ledger>, String, u64)>,
    /// The in-process rate-log entry to stamp with the answer's time.
    local_entry: Option<(Arc<Limits>, u64)>,
    /// Lease renewals of the shared holds above.
    _kept: Vec<crate::ledger::keeper::Kept>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some((limits, id)) = self.local_entry.take() {
            let mut sent = limits.sent.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            if let Some(e) = sent.1.iter_mut().find(|e| e.id == id) {
                e.answered = Some(now);
            }
        }
        // Best effort: leases free both anyway.
        if let Some((ledger, key, id)) = self.rate_entry.take() {
            let _ = ledger.backend().complete_rate(&key, id);
        }
        if let Some((ledger, key, id)) = self.shared.take() {
            let _ = ledger.backend().free_slot(&key, id);
        }
    }
}

// A request's send time is not its arrival time: a fresh connection (TCP setup) can delay one
// request more than the next, so the server would see count+1 in its window. Keep this much air.
const MARGIN: Duration = Duration::from_millis(25);

impl Limits {
    pub fn new(rate: Option<Rate>, concurrency: Option<usize>) -> Self {
        Limits {
            rate: rate.filter(|r| r.count > 0),
            sent: Mutex::new((0, VecDeque::new())),
            next_slot: Mutex::new(None),
            slots: concurrency.filter(|c| *c > 0).map(|c| Arc::new(Semaphore::new(c))),
            concurrency: concurrency.filter(|c| *c > 0).map(|c| c as u32),
            shared: None,
        }
    }

    /// One instance per (provider, account, settings, ledger) in this process; across processes
    /// too when the ledger's store shares limits.
    pub fn shared(provider: &str, account: &str, rate: Option<Rate>, concurrency: Option<usize>, ledger: &Arc<Ledger>) -> Arc<Limits> {
        static LIMITS: Registry<Limits> = Registry::new();
        let across = ledger.backend().shares_limits() && (rate.is_some() || concurrency.is_some());
        let key = format!("{provider}|{account}|{rate:?}|{concurrency:?}|{}", if across { ledger.url.as_str() } else { "" });
        LIMITS.get_or_insert_with(&key, || {
            let mut limits = Limits::new(rate, concurrency);
            if across {
                limits.shared = Some((ledger.clone(), format!("{provider}:{account}")));
            }
            limits
        })
    }

    /// Wait for a concurrency slot, then for a place in the rate window.
    pub async fn acquire(self: &Arc<Self>) -> Result<Slot> {
        let permit = match &self.slots {
            Some(s) => Some(s.clone().acquire_owned().await.expect("semaphore never closed")),
            None => None,
        };
        if let Some((ledger, key)) = &self.shared {
            return self.acquire_shared(permit, ledger, key).await;
        }
        if let Some(rate) = self.rate.filter(|r| r.count == 1) {
            // Even pacing: each request takes the next slot, one interval after the previous
            // slot (not after the previous wake-up, so scheduling delays do not accumulate).
            let interval = rate.window();
            let slot = {
                let mut next = self.next_slot.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                let slot = next.filter(|t| *t > now).unwrap_or(now);
                *next = Some(slot + interval);
                slot
            };
            if slot > Instant::now() {
                log::debug!(target: "seowire", "paced for {:.0} ms by the client-side rate limit", (slot - Instant::now()).as_secs_f64() * 1e3);
                tokio::time::sleep_until(slot.into()).await;
            }
        } else if let Some(rate) = self.rate {
            let window = rate.window();
            loop {
                let wait = {
                    let mut guard = self.sent.lock().unwrap_or_else(|e| e.into_inner());
                    let (next, sent) = &mut *guard;
                    let now = Instant::now();
                    sent.retain(|e| e.answered.is_none_or(|t| now.duration_since(t) < window));
                    if sent.len() < rate.count as usize {
                        *next += 1;
                        sent.push_back(Sent { id: *next, answered: None });
                        Err(*next)
                    } else {
                        // The earliest answered entry leaves first; if all are in flight, one
                        // leaves no sooner than a window after its answer: poll.
                        let first = sent.iter().filter_map(|e| e.answered).min();
                        Ok(first.map_or(Duration::from_millis(10), |t| (window - now.duration_since(t)).max(Duration::from_millis(1))))
                    }
                };
                match wait {
                    Err(id) => return Ok(Slot { _permit: permit, shared: None, rate_entry: None, local_entry: Some((self.clone(), id)), _kept: Vec::new() }),
                    Ok(d) => {
                        log::debug!(target: "seowire", "throttled for {:.0} ms by the client-side rate limit", d.as_secs_f64() * 1e3);
                        tokio::time::sleep(d).await
                    }
                }
            }
        }
        Ok(Slot { _permit: permit, shared: None, rate_entry: None, local_entry: None, _kept: Vec::new() })
    }

    async fn acquire_shared(&self, permit: Option<OwnedSemaphorePermit>, ledger: &Arc<Ledger>, key: &str) -> Result<Slot> {
        let mut slot = Slot { _permit: permit, shared: None, rate_entry: None, local_entry: None, _kept: Vec::new() };
        if let Some(limit) = self.concurrency {
            let mut wait = Duration::from_millis(2);
            loop {
                let backend = ledger.backend();
                if let Some(id) = backend.take_slot(key, limit, ledger.lease)? {
                    slot.shared = Some((ledger.clone(), key.to_string(), id));
                    slot._kept.push(ledger.keep(crate::ledger::Hold::Slot(key.to_string(), id)));
                    break;
                }
                // Another process holds every slot: wait for one to be freed (woken by the
                // release itself where the store can tell), else poll, backing off to 50 ms.
                let (ledger2, key2) = (ledger.clone(), key.to_string());
                let woken = tokio::task::spawn_blocking(move || ledger2.backend().wait_slot(&key2, Duration::from_millis(100)))
                    .await
                    .unwrap_or(Ok(false))?;
                if !woken {
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_millis(50));
                }
            }
        }
        if let Some(rate) = self.rate {
            let window = rate.window();
            loop {
                let (taken, wait, id) = ledger.backend().take_rate(key, rate.count, window, ledger.lease)?;
                if taken && id > 0 {
                    slot.rate_entry = Some((ledger.clone(), key.to_string(), id));
                    slot._kept.push(ledger.keep(crate::ledger::Hold::Rate(key.to_string(), id)));
                }
                if !wait.is_zero() {
                    log::debug!(target: "seowire", "throttled for {:.0} ms by the shared rate limit", wait.as_secs_f64() * 1e3);
                    tokio::time::sleep(wait).await;
                }
                if taken {
                    break;
                }
            }
        }
        Ok(slot)
    }
}
