//! Bindings: Python in, Python out. No HTTP here; provider modules do that.

pub mod ahrefs;
pub mod bulk;
pub mod catalog;
pub mod emulator;
pub mod frame;
pub mod gate;
pub mod json;
pub mod moz;
pub mod mozapi;
pub mod page;
pub mod scim;
pub mod ledger;
pub mod retry;
pub mod semrush;
pub mod semrush_projects;
pub mod semrush_trends;
pub mod semrush_v4;
pub mod values;

use std::future::Future;
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyModule};
use pyo3::IntoPyObjectExt;

use crate::error::{Error, Kind};
use crate::runtime::runtime;

static EXCEPTIONS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// Turn a core error into the matching `seowire.exceptions` class.
pub fn to_pyerr(py: Python<'_>, e: Error) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let module = EXCEPTIONS.get_or_try_init(py, || py.import("seowire.exceptions").map(|m| m.unbind()))?;
        let cls = module.bind(py).getattr(e.kind.class_name())?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("provider", e.provider)?;
        kwargs.set_item("status", e.status)?;
        kwargs.set_item("code", e.code.clone())?;
        kwargs.set_item("retryable", e.retryable)?;
        let value = cls.call((e.message.clone(),), Some(&kwargs))?;
        if let Some(wait) = e.retry_after {
            value.setattr("retry_after", wait.as_secs_f64())?;
        }
        Ok(PyErr::from_value(value))
    };
    build().unwrap_or_else(|err| err)
}

/// What a fan-out hands back: `(rows, meta)`; or, when `error` stopped it, that error as its
/// own class if nothing was answered, else a [`bulk_error`] carrying the rows that arrived.
pub fn bulk_outcome<'py>(
    py: Python<'py>,
    error: Option<Error>,
    answered: bool,
    rows: Bound<'py, PyAny>,
    failed: Vec<usize>,
    meta: Bound<'py, PyDict>,
) -> PyResult<Bound<'py, pyo3::types::PyTuple>> {
    match error {
        Some(e) if !answered => Err(to_pyerr(py, e)),
        Some(e) => Err(bulk_error(py, e, rows, failed, meta)),
        None => pyo3::types::PyTuple::new(py, [rows, meta.into_any()]),
    }
}

/// A fan-out that failed part-way: `BulkError` carries the rows that arrived (None where
/// none did), the input positions that failed, and the meta of what was spent; its cause is
/// the first failure as its own class.
pub fn bulk_error(py: Python<'_>, first: Error, rows: Bound<'_, PyAny>, failed: Vec<usize>, meta: Bound<'_, PyDict>) -> PyErr {
    let provider = first.provider;
    let message = format!(
        "{} of {} inputs failed (first: {}); the rows that arrived are in .rows and were charged, and retrying only .failed costs nothing for the rest",
        failed.len(),
        rows.len().unwrap_or(0),
        first.message
    );
    let cause = to_pyerr(py, first);
    let build = || -> PyResult<PyErr> {
        let module = EXCEPTIONS.get_or_try_init(py, || py.import("seowire.exceptions").map(|m| m.unbind()))?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("provider", provider)?;
        kwargs.set_item("rows", rows)?;
        kwargs.set_item("failed", failed)?;
        kwargs.set_item("meta", meta)?;
        let value = module.bind(py).getattr("BulkError")?.call((message,), Some(&kwargs))?;
        let err = PyErr::from_value(value);
        err.set_cause(py, Some(cause));
        Ok(err)
    };
    build().unwrap_or_else(|e| e)
}

/// A panic on the call path on purpose, sync or async: proves the boundary turns it into
/// `InternalError` (a `SeowireError`), never `PanicException`. For seowire's own tests.
#[pyfunction]
pub fn _selftest_panic<'py>(py: Python<'py>, mode: &str) -> PyResult<Bound<'py, PyAny>> {
    async fn boom() -> crate::error::Result<u64> {
        let n: u64 = std::hint::black_box(u64::MAX);
        Ok(n.checked_add(1).expect("selftest: a bug below the boundary"))
    }
    match mode {
        "async" => future(py, boom()),
        // The page decoders' wrapper (`decoding`), with a panic where rows are built.
        "decode" => decoding(py, "ahrefs", "selftest", || -> PyResult<Bound<'py, PyAny>> {
            let rows: Vec<u64> = std::hint::black_box(Vec::new());
            Ok(rows[0].into_pyobject(py)?.into_any())
        }),
        _ => block_on(py, boom()).map(|v| v.into_pyobject(py).expect("int").into_any()),
    }
}

/// Run pure-Rust validation or pricing with the same guarantee as `block_on`: a panic becomes
/// `InternalError` naming the provider and call, never `PanicException`.
pub fn guard<T>(provider: &'static str, call: &str, f: impl FnOnce() -> crate::error::Result<T>) -> crate::error::Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|p| Err(crate::error::panicked(p, Some(provider), call)))
}

/// Building Python objects from a reply (under the GIL): a panic there becomes `InternalError`
/// naming the provider and report too, never a `PanicException`.
pub fn decoding<T>(py: Python<'_>, provider: &'static str, report: &str, f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|p| Err(to_pyerr(py, crate::error::panicked(p, Some(provider), &format!("decoding {report}")))))
}

enum Stop {
    Core(Error),
    Py(PyErr),
}

/// Every blocking call goes through here: release the GIL, drive the future on this process's
/// runtime, poll for signals every 100 ms (Ctrl-C drops the future, which cancels the request
/// and releases its reservation), turn a panic into `InternalError`, and map errors.
pub fn block_on<F, T>(py: Python<'_>, fut: F) -> PyResult<T>
where
    F: Future<Output = crate::error::Result<T>> + Send,
    T: Send,
{
    use futures::FutureExt;
    let rt = runtime();
    let out = py.detach(|| {
        let out = rt.block_on(async {
            let fut = std::panic::AssertUnwindSafe(fut).catch_unwind();
            tokio::pin!(fut);
            loop {
                tokio::select! {
                    r = &mut fut => return r.unwrap_or_else(|p| Err(crate::error::panicked(p, None, "a call"))).map_err(Stop::Core),
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {
                        // Finalizing: no signals to poll, and the GIL is not ours to take.
                        if let Some(r) = gate::attach(|py| py.check_signals()) {
                            r.map_err(Stop::Py)?;
                        }
                    }
                }
            }
        });
        gate::park_if_closed();
        out
    });
    out.map_err(|s| match s {
        Stop::Core(e) => to_pyerr(py, e),
        Stop::Py(e) => e,
    })
}

/// A finished core result, converted (with the GIL) into a value or the mapped exception.
pub struct Done<T>(pub crate::error::Result<T>);

impl<'py, T> IntoPyObject<'py> for Done<T>
where
    T: IntoPyObject<'py>,
{
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        match self.0 {
            Ok(v) => v.into_bound_py_any(py),
            Err(e) => Err(to_pyerr(py, e)),
        }
    }
}

/// The async sibling: the same core future, spawned on the runtime and awaited from asyncio
/// through an `asyncio.Future` of the running loop. Cancelling the asyncio task aborts the
/// tokio task (dropping the future cancels the request and releases its reservation); the
/// result crosses back through the gate, so nothing touches a finalizing interpreter.
pub fn future<'py, F, T>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = crate::error::Result<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    use futures::FutureExt;
    let event_loop = py.import("asyncio")?.call_method0("get_running_loop")?;
    let py_future = event_loop.call_method0("create_future")?;
    let (target_loop, target) = (event_loop.unbind(), py_future.clone().unbind());
    let task = runtime().spawn(async move {
        let out = std::panic::AssertUnwindSafe(fut).catch_unwind().await.unwrap_or_else(|p| Err(crate::error::panicked(p, None, "an async call")));
        let mut parts = Some((out, target_loop, target));
        let delivered = gate::attach(|py| {
            let Some((out, target_loop, target)) = parts.take() else { return };
            let result = Done(out).into_pyobject(py).map(|v| v.unbind());
            let resolve = Resolve { future: target, result: std::sync::Mutex::new(Some(result)) };
            // A closed loop (the caller gave up) has nobody to tell.
            let _ = target_loop.call_method1(py, "call_soon_threadsafe", (resolve,));
        });
        if delivered.is_none() {
            // Finalizing: leak rather than drop Python objects without the GIL.
            std::mem::forget(parts);
        }
    });
    py_future.call_method1("add_done_callback", (CancelTask(task.abort_handle()),))?;
    Ok(py_future)
}

/// Sets the asyncio future's outcome on its loop's thread (unless it was cancelled).
#[pyclass(frozen)]
struct Resolve {
    future: Py<PyAny>,
    result: std::sync::Mutex<Option<PyResult<Py<PyAny>>>>,
}

#[pymethods]
impl Resolve {
    fn __call__(&self, py: Python<'_>) -> PyResult<()> {
        let future = self.future.bind(py);
        if future.call_method0("done")?.is_truthy()? {
            return Ok(());
        }
        match self.result.lock().unwrap_or_else(|e| e.into_inner()).take() {
            Some(Ok(value)) => future.call_method1("set_result", (value,))?,
            Some(Err(e)) => future.call_method1("set_exception", (e.into_value(py),))?,
            None => return Ok(()),
        };
        Ok(())
    }
}

/// Done-callback of the asyncio future: a cancelled await aborts the Rust task.
#[pyclass(frozen)]
struct CancelTask(tokio::task::AbortHandle);

#[pymethods]
impl CancelTask {
    fn __call__(&self, future: &Bound<'_, PyAny>) -> PyResult<()> {
        if future.call_method0("cancelled")?.is_truthy()? {
            self.0.abort();
        }
        Ok(())
    }
}

/// A client's `timeout=` seconds, checked.
pub fn timeout(seconds: f64) -> crate::error::Result<Duration> {
    if seconds > 0.0 {
        seconds_in("timeout", seconds)
    } else {
        Err(invalid(format!("timeout must be a positive number of seconds, not {seconds}")))
    }
}

/// A non-negative number of seconds from Python (at most a year: beyond that it is a mistake).
pub fn seconds(name: &str, v: f64) -> crate::error::Result<Duration> {
    seconds_in(name, v)
}

fn seconds_in(name: &str, v: f64) -> crate::error::Result<Duration> {
    const YEAR: f64 = 366.0 * 86_400.0;
    if v.is_finite() && (0.0..=YEAR).contains(&v) {
        Ok(Duration::from_secs_f64(v))
    } else {
        Err(invalid(format!("{name} must be a number of seconds in 0..{YEAR}, not {v}")))
    }
}

/// An unsigned setting from Python (`page_size`, `max_rows`, `max_retries`, `max_in_flight`,
/// `budget`): an int in 0..=max, else `InvalidRequest` naming it (never a bare OverflowError).
pub fn unsigned(name: &str, v: &Bound<'_, PyAny>, max: u64) -> crate::error::Result<u64> {
    use pyo3::types::{PyBool, PyInt};
    if v.is_instance_of::<PyBool>() || !v.is_instance_of::<PyInt>() {
        let ty = v.get_type().name().map(|n| n.to_string()).unwrap_or_default();
        return Err(invalid(format!("{name} must be an int, not {ty}")));
    }
    match v.extract::<i128>() {
        Ok(n) if n >= 0 && n as u128 <= max as u128 => Ok(n as u64),
        _ => Err(invalid(format!("{name} must be an integer in 0..={max}, not {v}"))),
    }
}

pub fn invalid(message: impl Into<String>) -> Error {
    Error::new(Kind::InvalidRequest, message)
}

/// Pauses Python's cyclic GC while a page is decoded: building tens of thousands of dicts
/// otherwise triggers collections that cost more than the decoding. We hold the GIL throughout,
/// so no Python code runs while it is off.
pub struct GcPause<'py>(Option<Bound<'py, PyModule>>);

impl<'py> GcPause<'py> {
    pub fn new(py: Python<'py>, rows_hint: usize) -> Self {
        if rows_hint < 512 {
            return GcPause(None);
        }
        let gc = py.import("gc").ok().filter(|gc| {
            gc.call_method0("isenabled").and_then(|v| v.extract::<bool>()).unwrap_or(false)
                && gc.call_method0("disable").is_ok()
        });
        GcPause(gc)
    }
}

impl Drop for GcPause<'_> {
    fn drop(&mut self) {
        if let Some(gc) = &self.0 {
            let _ = gc.call_method0("enable");
        }
    }
}


/// A Python progress callback `(rows, units)`, called as each request of a multi-request call
/// lands (from the runtime thread that received it). Its errors are reported, never raised: a
/// progress bar must not lose data that is already paid for.
#[derive(Clone, Default)]
pub struct Progress(Option<std::sync::Arc<Py<PyAny>>>);

impl Progress {
    pub fn new(callback: Option<Bound<'_, PyAny>>) -> Self {
        Progress(callback.filter(|c| !c.is_none()).map(|c| std::sync::Arc::new(c.unbind())))
    }

    pub fn tick(&self, rows: u64, units: u64) {
        if let Some(cb) = &self.0 {
            gate::attach(|py| {
                if let Err(e) = cb.call1(py, (rows, units)) {
                    e.write_unraisable(py, Some(cb.bind(py)));
                }
            });
        }
    }
}
