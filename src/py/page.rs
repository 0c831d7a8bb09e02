//! JSON pages (Moz, Ahrefs) as Python: `(value, meta)`, and one stream class for `for` and
//! `async for` over token-paged results.

use std::sync::Arc;

use futures::future::BoxFuture;
use pyo3::exceptions::{PyStopAsyncIteration, PyStopIteration};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use super::json::decode_body;
use super::block_on;
use crate::error::Result;
use crate::frame::Declared;
use crate::providers::{JsonPage, Unwrap};

/// Decode a page's body and take out the caller's value.
pub fn value<'py>(py: Python<'py>, page: &JsonPage) -> PyResult<Bound<'py, PyAny>> {
    let doc = decode_body(py, page.provider, &page.body)?;
    Ok(match page.unwrap {
        Unwrap::Whole => doc,
        Unwrap::Key(k) => match doc.cast::<PyDict>().ok().and_then(|d| d.get_item(k).ok().flatten()) {
            Some(v) => v,
            None => doc,
        },
        Unwrap::Path(outer, inner) => {
            let get = |d: &Bound<'py, PyAny>, k: &str| d.cast::<PyDict>().ok().and_then(|d| d.get_item(k).ok().flatten());
            match get(&doc, outer).and_then(|o| get(&o, inner)) {
                Some(v) => v,
                None => doc,
            }
        }
        Unwrap::Single => match doc.cast::<PyDict>() {
            Ok(d) if d.len() == 1 => d.values().get_item(0)?,
            _ => doc,
        },
    })
}

pub fn meta<'py>(py: Python<'py>, page: &JsonPage) -> PyResult<Bound<'py, PyDict>> {
    let meta = PyDict::new(py);
    meta.set_item("provider", page.provider)?;
    meta.set_item("report", &page.report)?;
    meta.set_item("units", page.units)?;
    meta.set_item("estimate", page.estimate)?;
    meta.set_item("lines", page.rows)?;
    meta.set_item("next_token", &page.next_token)?;
    meta.set_item("cached", page.cached)?;
    meta.set_item("spent", page.spent)?;
    meta.set_item("budget", page.budget)?;
    meta.set_item("alerts", &page.alerts)?;
    Ok(meta)
}

/// The meta of many pages merged into one answer (bulk url_metrics, batch_analysis).
pub fn merged_meta<'py>(py: Python<'py>, pages: &[JsonPage], provider: &str, report: &str, estimate: u64, lines: usize) -> PyResult<Bound<'py, PyDict>> {
    let m = PyDict::new(py);
    m.set_item("provider", provider)?;
    m.set_item("report", report)?;
    m.set_item("units", pages.iter().map(|p| p.units).sum::<u64>())?;
    m.set_item("estimate", estimate)?;
    m.set_item("lines", lines)?;
    m.set_item("requests", pages.len())?;
    m.set_item("cached", !pages.is_empty() && pages.iter().all(|p| p.cached))?;
    m.set_item("spent", pages.iter().filter_map(|p| p.spent).max())?;
    m.set_item("budget", pages.iter().find_map(|p| p.budget))?;
    let mut alerts: Vec<f64> = pages.iter().flat_map(|p| p.alerts.iter().copied()).collect();
    alerts.sort_by(f64::total_cmp);
    alerts.dedup();
    m.set_item("alerts", alerts)?;
    Ok(m)
}

/// A page as `(value, meta)`: Python objects, or with a frame's declared columns an Arrow
/// table read straight from the bytes (never through Python objects).
pub struct PyJsonPage(pub JsonPage, pub Option<Arc<Declared>>);

impl PyJsonPage {
    pub fn dicts(page: JsonPage) -> Self {
        PyJsonPage(page, None)
    }
}

impl<'py> IntoPyObject<'py> for PyJsonPage {
    type Target = PyTuple;
    type Output = Bound<'py, PyTuple>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        let page = &self.0;
        super::decoding(py, page.provider, &page.report, || {
            let rows = match &self.1 {
                Some(declared) => super::frame::page_table(py, page, declared)?,
                None => value(py, page)?,
            };
            PyTuple::new(py, [rows.into_any(), meta(py, page)?.into_any()])
        })
    }
}

/// `frame=(names, types)` from Python: the declared columns of a frame, or dicts (`None`).
pub type FrameArg = Option<(Option<Vec<String>>, Option<std::collections::HashMap<String, String>>)>;

pub fn frame_arg(frame: FrameArg) -> Option<Arc<Declared>> {
    frame.map(|(names, types)| Arc::new(super::frame::declared_of(names, types)))
}

/// Fetches the next page of something, or `None` at the end.
pub trait Pager: Send + Sync + 'static {
    fn next(self: Arc<Self>) -> BoxFuture<'static, Result<Option<JsonPage>>>;
}

/// Pages for `for` (blocking) or `async for`; yields `(rows, meta)`.
#[pyclass(frozen, module = "seowire._seowire")]
pub struct JsonPages {
    pub pager: Arc<dyn Pager>,
    /// Pages as frames with these declared columns, or dicts.
    pub frame: Option<Arc<Declared>>,
}

struct AsyncNext(Option<JsonPage>, Option<Arc<Declared>>);

impl<'py> IntoPyObject<'py> for AsyncNext {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        match self.0 {
            Some(p) => Ok(PyJsonPage(p, self.1).into_pyobject(py)?.into_any()),
            None => Err(PyStopAsyncIteration::new_err(())),
        }
    }
}

#[pymethods]
impl JsonPages {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match block_on(py, self.pager.clone().next())? {
            Some(p) => Ok(PyJsonPage(p, self.frame.clone()).into_pyobject(py)?.into_any().unbind()),
            None => Err(PyStopIteration::new_err(())),
        }
    }

    fn __aiter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let (pager, frame) = (self.pager.clone(), self.frame.clone());
        super::future(py, async move { pager.next().await.map(|p| AsyncNext(p, frame)) })
    }
}

/// Take the per-call `cache` flag out of the fields (default: use the client's cache).
pub fn take_cache(fields: &mut serde_json::Map<String, serde_json::Value>) -> Result<bool> {
    match fields.remove("cache") {
        None => Ok(true),
        Some(serde_json::Value::Bool(b)) => Ok(b),
        Some(other) => Err(super::invalid(format!("cache must be True or False, not {other}"))),
    }
}

/// Seconds from Python (None: no cache) to a TTL.
pub fn cache_ttl(seconds: Option<f64>) -> Result<Option<std::time::Duration>> {
    match seconds {
        None => Ok(None),
        Some(s) if s == 0.0 => Ok(None),
        Some(s) if s.is_finite() && s > 0.0 => Ok(Some(std::time::Duration::from_secs_f64(s))),
        Some(s) => Err(super::invalid(format!("cache TTL must be a positive number of seconds, not {s}"))),
    }
}

/// Python keyword arguments to JSON fields (`None` values dropped; tuples and Series become lists).
pub fn fields(kwargs: Option<&Bound<'_, PyDict>>) -> Result<serde_json::Map<String, serde_json::Value>> {
    let mut out = serde_json::Map::new();
    let Some(kwargs) = kwargs else { return Ok(out) };
    for (k, v) in kwargs.iter() {
        let name: String = k.extract().map_err(|_| super::invalid("parameter names must be strings"))?;
        if v.is_none() {
            continue;
        }
        out.insert(name.clone(), to_json(&name, &v)?);
    }
    Ok(out)
}

/// One Python value to JSON: scalars, dicts, and any iterable (list, tuple, pandas Series).
pub fn to_json(name: &str, v: &Bound<'_, PyAny>) -> Result<serde_json::Value> {
    use pyo3::types::{PyBool, PyFloat, PyInt, PyString};
    use serde_json::Value;
    if v.is_none() {
        return Ok(Value::Null);
    }
    if v.is_instance_of::<PyBool>() {
        return Ok(Value::Bool(v.extract().unwrap_or(false)));
    }
    if v.is_instance_of::<PyInt>() {
        return v
            .extract::<i64>()
            .map(Value::from)
            .or_else(|_| v.extract::<u64>().map(Value::from))
            .map_err(|_| super::invalid(format!("{name} is out of range")));
    }
    if v.is_instance_of::<PyFloat>() {
        let f: f64 = v.extract().unwrap_or(f64::NAN);
        return serde_json::Number::from_f64(f).map(Value::Number).ok_or_else(|| super::invalid(format!("{name} is not a finite number")));
    }
    if let Ok(s) = v.cast::<PyString>() {
        return Ok(Value::String(s.to_string()));
    }
    if let Ok(d) = v.cast::<PyDict>() {
        let mut m = serde_json::Map::new();
        for (k, item) in d.iter() {
            let key: String = k.extract().map_err(|_| super::invalid(format!("{name}: dict keys must be strings")))?;
            m.insert(key.clone(), to_json(&format!("{name}.{key}"), &item)?);
        }
        return Ok(Value::Object(m));
    }
    if v.is_instance_of::<pyo3::types::PyBytes>() || v.is_instance_of::<pyo3::types::PyByteArray>() {
        return Err(super::invalid(format!("{name} must be a str, not bytes (decode it first)")));
    }
    if let Ok(iter) = v.try_iter() {
        let mut items = Vec::new();
        for (i, item) in iter.enumerate() {
            let item = item.map_err(|_| super::invalid(format!("{name}: could not iterate")))?;
            items.push(to_json(&format!("{name}[{i}]"), &item)?);
        }
        return Ok(Value::Array(items));
    }
    let ty = v.get_type().name().map(|n| n.to_string()).unwrap_or_default();
    Err(super::invalid(format!("{name} must be a str, int, float, bool, dict or list, not {ty}")))
}
