//! Client-side rate and concurrency limits, shared by every client of one account in a process.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::runtime::Registry;

/// At most `count` requests in any window of `per` (an exact sliding log: a GCRA with a burst
/// of `count` would let almost 2x through in some windows).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
}

pub struct Limits {
    rate: Option<Rate>,
    sent: Mutex<VecDeque<Instant>>,
    /// For one-per-interval rates: the next free send slot (GCRA's theoretical arrival time).
    next_slot: Mutex<Option<Instant>>,
    slots: Option<Arc<Semaphore>>,
}

/// Held while a request is in flight.
pub struct Slot {
    _permit: Option<OwnedSemaphorePermit>,
}

// A request's send time is not its arrival time: a fresh connection (TCP setup) can delay one
// request more than the next, so the server would see count+1 in its window. Keep this much air.
const MARGIN: Duration = Duration::from_millis(25);

impl Limits {
    pub fn new(rate: Option<Rate>, concurrency: Option<usize>) -> Self {
        Limits {
            rate: rate.filter(|r| r.count > 0),
            sent: Mutex::new(VecDeque::new()),
            next_slot: Mutex::new(None),
            slots: concurrency.filter(|c| *c > 0).map(|c| Arc::new(Semaphore::new(c))),
        }
    }

    /// A shared instance per (provider, account, settings) in this process.
    pub fn shared(provider: &str, account: &str, rate: Option<Rate>, concurrency: Option<usize>) -> Arc<Limits> {
        static LIMITS: Registry<Limits> = Registry::new();
        let key = format!("{provider}|{account}|{rate:?}|{concurrency:?}");
        LIMITS.get_or_insert_with(&key, || Limits::new(rate, concurrency))
    }

    /// Wait for a concurrency slot, then for a place in the rate window.
    pub async fn acquire(&self) -> Slot {
        let permit = match &self.slots {
            Some(s) => Some(s.clone().acquire_owned().await.expect("semaphore never closed")),
            None => None,
        };
        if let Some(rate) = self.rate.filter(|r| r.count == 1) {
            // Even pacing: each request takes the next slot, one interval after the previous
            // slot (not after the previous wake-up, so scheduling delays do not accumulate).
            let interval = rate.per + MARGIN.min(rate.per / 40);
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
            let window = rate.per + MARGIN;
            loop {
                let wait = {
                    let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
                    let now = Instant::now();
                    while sent.front().is_some_and(|t| now.duration_since(*t) >= window) {
                        sent.pop_front();
                    }
                    if sent.len() < rate.count as usize {
                        sent.push_back(now);
                        None
                    } else {
                        Some(window - now.duration_since(*sent.front().expect("non-empty")))
                    }
                };
                match wait {
                    None => break,
                    Some(d) => {
                        log::debug!(target: "seowire", "throttled for {:.0} ms by the client-side rate limit", d.as_secs_f64() * 1e3);
                        tokio::time::sleep(d).await
                    }
                }
            }
        }
        Slot { _permit: permit }
    }
}
