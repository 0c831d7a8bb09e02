//! One tokio runtime per process, created lazily and rebuilt after `fork`.
//!
//! `fork()` copies only the calling thread, so a runtime built in the parent has no worker
//! threads in the child; using it hangs. We key the runtime by PID and, on a mismatch, leak the
//! old one (dropping it would try to join threads that do not exist) and build a new one.

use std::sync::{Arc, Mutex, OnceLock, RwLock};

use tokio::runtime::Runtime;

/// A value that belongs to one process: rebuilt lazily in a forked child, never dropped there.
pub struct PerProcess<T> {
    slot: RwLock<Option<(u32, Arc<T>)>>,
    init: fn() -> T,
}

impl<T> PerProcess<T> {
    pub const fn new(init: fn() -> T) -> Self {
        Self { slot: RwLock::new(None), init }
    }

    pub fn get(&self) -> Arc<T> {
        let pid = std::process::id();
        if let Ok(guard) = self.slot.read() {
            if let Some((owner, value)) = guard.as_ref() {
                if *owner == pid {
                    return value.clone();
                }
            }
        }
        let mut guard = self.slot.write().unwrap_or_else(|e| e.into_inner());
        match guard.as_ref() {
            Some((owner, value)) if *owner == pid => value.clone(),
            _ => {
                if let Some((_, stale)) = guard.take() {
                    // Inherited from the parent: its threads and sockets are not ours.
                    std::mem::forget(stale);
                }
                let value = Arc::new((self.init)());
                *guard = Some((pid, value.clone()));
                value
            }
        }
    }
}

static RUNTIME: PerProcess<Runtime> = PerProcess::new(build_runtime);

fn build_runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(std::thread::available_parallelism().map(|n| n.get().clamp(2, 8)).unwrap_or(2))
        .thread_name("seowire-worker")
        .enable_all()
        .build()
        .expect("cannot start the seowire tokio runtime")
}

/// The runtime of this process.
pub fn runtime() -> Arc<Runtime> {
    RUNTIME.get()
}

/// Whether the runtime has been created in this process (for the "import creates no threads" test).
pub fn runtime_started() -> bool {
    let pid = std::process::id();
    RUNTIME.slot.read().map(|g| matches!(g.as_ref(), Some((p, _)) if *p == pid)).unwrap_or(false)
}

/// Process-wide registry of values keyed by a string, reset in a forked child.
pub struct Registry<T> {
    inner: PerProcess<Mutex<std::collections::HashMap<String, Arc<T>>>>,
}

impl<T> Registry<T> {
    pub const fn new() -> Self {
        Self { inner: PerProcess::new(Default::default) }
    }

    pub fn get_or_insert_with(&self, key: &str, make: impl FnOnce() -> T) -> Arc<T> {
        let map = self.inner.get();
        let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(key.to_string()).or_insert_with(|| Arc::new(make())).clone()
    }
}

static RUSTLS: OnceLock<()> = OnceLock::new();

/// The rustls crypto provider (ring) must be installed before any client is built.
pub fn install_crypto() {
    RUSTLS.get_or_init(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Cores to decode on. Asked once: `available_parallelism` reads cgroup files on Linux, too slow
/// to ask on every small reply.
pub fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}
