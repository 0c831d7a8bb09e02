//! One lease mechanism for every shared hold (reservations, in-flight rate entries,
//! concurrency slots): a hold is renewed by this process while its request is alive, so leases
//! can be short and a killed worker's holds all end within one lease. The keeper is a plain
//! thread (it never touches Python) started with the first hold, and again in a forked child.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use super::{Hold, Ledger};

struct Entry {
    ledger: Weak<Ledger>,
    hold: Hold,
    renewed: Instant,
}

#[derive(Default)]
struct Keeper {
    pid: u32,
    next: u64,
    holds: HashMap<u64, Entry>,
    running: bool,
}

static KEEPER: Mutex<Option<Keeper>> = Mutex::new(None);

/// Renews its hold until dropped.
pub struct Kept(u64);

impl Drop for Kept {
    fn drop(&mut self) {
        let mut guard = KEEPER.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(k) = guard.as_mut().filter(|k| k.pid == std::process::id()) {
            k.holds.remove(&self.0);
        }
    }
}

/// Keep `hold` of `ledger` alive while the returned guard lives.
pub fn keep(ledger: &Arc<Ledger>, hold: Hold) -> Kept {
    let mut guard = KEEPER.lock().unwrap_or_else(|e| e.into_inner());
    let pid = std::process::id();
    if guard.as_ref().is_none_or(|k| k.pid != pid) {
        // First hold, or a forked child (the parent's keeper thread is not here).
        *guard = Some(Keeper { pid, ..Default::default() });
    }
    let k = guard.as_mut().expect("set above");
    k.next += 1;
    let id = k.next;
    k.holds.insert(id, Entry { ledger: Arc::downgrade(ledger), hold, renewed: Instant::now() });
    if !k.running {
        k.running = std::thread::Builder::new().name("seowire-lease".into()).spawn(run).is_ok();
    }
    Kept(id)
}

fn run() {
    loop {
        std::thread::sleep(Duration::from_millis(100));
        // Take what is due under the lock, renew outside it (a backend call may take a while).
        let due: Vec<(Arc<Ledger>, Hold)> = {
            let mut guard = KEEPER.lock().unwrap_or_else(|e| e.into_inner());
            let Some(k) = guard.as_mut().filter(|k| k.pid == std::process::id()) else { return };
            let now = Instant::now();
            k.holds
                .values_mut()
                .filter_map(|e| {
                    let ledger = e.ledger.upgrade()?;
                    (now.duration_since(e.renewed) >= ledger.lease / 3).then(|| {
                        e.renewed = now;
                        (ledger, e.hold.clone())
                    })
                })
                .collect()
        };
        for (ledger, hold) in due {
            if let Err(e) = ledger.backend().renew(&hold, ledger.lease) {
                log::debug!(target: "seowire", "could not renew a ledger lease: {}", e.message);
            }
        }
    }
}
