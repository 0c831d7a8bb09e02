//! Bindings: Python in, Python out. No HTTP here; provider modules do that.

pub mod ahrefs;
pub mod emulator;
pub mod frame;
pub mod json;
pub mod moz;
pub mod page;
pub mod scim;
pub mod ledger;
pub mod retry;
pub mod semrush;
pub mod values;

use std::future::Future;
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyModule};
use pyo3::IntoPyObjectExt;

use crate::error::{Error, Kind};
use crate::runtime::{runtime, ForkAwareTokio};

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
        Ok(PyErr::from_value(value))
    };
    build().unwrap_or_else(|err| err)
}

enum Stop {
    Core(Error),
    Py(PyErr),
}

/// Every blocking call goes through here: release the GIL, drive the future on this process's
/// runtime, poll for signals every 100 ms (Ctrl-C drops the future, which cancels the request
/// and releases its reservation), and map errors.
pub fn block_on<F, T>(py: Python<'_>, fut: F) -> PyResult<T>
where
    F: Future<Output = crate::error::Result<T>> + Send,
    T: Send,
{
    let rt = runtime();
    let out = py.detach(|| {
        rt.block_on(async {
            tokio::pin!(fut);
            loop {
                tokio::select! {
                    r = &mut fut => return r.map_err(Stop::Core),
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {
                        Python::attach(|py| py.check_signals()).map_err(Stop::Py)?;
                    }
                }
            }
        })
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

/// The async sibling: the same core future, awaited from asyncio. Cancelling the asyncio task
/// drops the future (cancelling the request and releasing its reservation).
pub fn future<'py, F, T>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = crate::error::Result<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    pyo3_async_runtimes::generic::future_into_py::<ForkAwareTokio, _, Done<T>>(py, async move { Ok(Done(fut.await)) })
}

/// A client's `timeout=` seconds, checked.
pub fn timeout(seconds: f64) -> crate::error::Result<Duration> {
    if seconds.is_finite() && seconds > 0.0 {
        Ok(Duration::from_secs_f64(seconds))
    } else {
        Err(invalid(format!("timeout must be a positive number of seconds, not {seconds}")))
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
            Python::attach(|py| {
                if let Err(e) = cb.call1(py, (rows, units)) {
                    e.write_unraisable(py, Some(cb.bind(py)));
                }
            });
        }
    }
}
