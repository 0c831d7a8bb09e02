//! The one door from seowire's threads into the interpreter.
//!
//! A thread that asks for the GIL once Python has begun to finalize is ended by CPython in
//! the middle of our Rust frames (`PyThread_exit_thread`), which aborts the process
//! ("PyGILState_Release: thread state must be current"). So no seowire thread may attach after
//! finalization begins: an `atexit` hook (`seowire/__init__.py`) closes the gate and waits,
//! with the GIL released, for the threads already inside to leave. Every attach from a worker
//! thread (futures completing, progress callbacks, page decoding, log records) passes here.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use pyo3::prelude::*;

static CLOSED: AtomicBool = AtomicBool::new(false);
static INSIDE: AtomicUsize = AtomicUsize::new(0);
/// The thread that closed the gate (it may still call in, from later atexit hooks).
static CLOSER: AtomicU64 = AtomicU64::new(0);

fn thread_key() -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    std::thread::current().id().hash(&mut h);
    h.finish() | 1
}

/// Held while a thread is inside the interpreter.
pub struct Inside(());

impl Drop for Inside {
    fn drop(&mut self) {
        INSIDE.fetch_sub(1, SeqCst);
    }
}

/// Enter, unless the interpreter is finalizing. Counted first, checked second: `close` sees
/// every thread that could still attach.
pub fn enter() -> Option<Inside> {
    INSIDE.fetch_add(1, SeqCst);
    let inside = Inside(());
    if CLOSED.load(SeqCst) && CLOSER.load(SeqCst) != thread_key() {
        return None;
    }
    Some(inside)
}

/// `Python::attach` through the gate: `None` once the interpreter is finalizing.
pub fn attach<R>(f: impl for<'py> FnOnce(Python<'py>) -> R) -> Option<R> {
    let _inside = enter()?;
    Some(Python::attach(f))
}

pub fn closed() -> bool {
    CLOSED.load(SeqCst)
}

/// A Python thread whose call ends after the gate closed must not take the GIL back (CPython
/// would end it inside our frames): it sleeps until the process exits.
pub fn park_if_closed() {
    if closed() && CLOSER.load(SeqCst) != thread_key() {
        loop {
            std::thread::park();
        }
    }
}

/// Called by the `atexit` hook: close the gate, then let the threads inside finish (at most
/// a few seconds: a stuck progress callback must not hang the exit).
#[pyfunction]
pub fn _close_gate(py: Python<'_>) {
    CLOSER.store(thread_key(), SeqCst);
    CLOSED.store(true, SeqCst);
    py.detach(|| {
        let until = Instant::now() + Duration::from_secs(5);
        // Our own count is not in INSIDE: we hold the GIL through the hook, not through `enter`.
        while INSIDE.load(SeqCst) > 0 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
}

/// Rust `log` records into Python `logging`, through the gate and the scrubber.
struct GatedLog(pyo3_log::Logger);

impl log::Log for GatedLog {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        !closed() && self.0.enabled(metadata)
    }

    fn log(&self, record: &log::Record) {
        let Some(_inside) = enter() else { return };
        let text = crate::secrets::scrub(&record.args().to_string());
        self.0.log(
            &log::Record::builder()
                .args(format_args!("{text}"))
                .level(record.level())
                .target(record.target())
                .module_path(record.module_path())
                .file(record.file())
                .line(record.line())
                .build(),
        );
    }

    fn flush(&self) {}
}

/// Install the logger: seowire's own records from DEBUG, the libraries below us from WARN.
pub fn install_logger(py: Python<'_>) {
    if let Ok(logger) = pyo3_log::Logger::new(py, pyo3_log::Caching::LoggersAndLevels) {
        let logger = logger.filter(log::LevelFilter::Warn).filter_target("seowire".into(), log::LevelFilter::Debug);
        if log::set_boxed_logger(Box::new(GatedLog(logger))).is_ok() {
            log::set_max_level(log::LevelFilter::Debug);
        }
    }
}
