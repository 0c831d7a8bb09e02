//! SEMrush Trends API v3 for Python: typed rows (numbers, booleans, `n/a` as None) straight
//! from the CSV, on the v3 key's account under its own allowance.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use super::{block_on, future, to_pyerr};
use crate::error::Result;
use crate::providers::semrush_trends::{self as tr, Client, Page, Prepared};

#[pyclass(frozen, module = "seowire._seowire")]
pub struct SemrushTrendsCore {
    client: Arc<Client>,
}

/// One cell as Python: None for "" and "n/a", int, float, bool, else the text.
fn cell<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    Ok(match text {
        "" | "n/a" | "N/A" => py.None().into_bound(py),
        "true" => true.into_pyobject(py)?.to_owned().into_any(),
        "false" => false.into_pyobject(py)?.to_owned().into_any(),
        t => {
            if let Ok(i) = t.parse::<i64>() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(f) = t.parse::<f64>().ok().filter(|f| f.is_finite() && t.bytes().all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))) {
                f.into_pyobject(py)?.into_any()
            } else {
                t.into_pyobject(py)?.into_any()
            }
        }
    })
}

struct PyTrendsPage(Page);

impl<'py> IntoPyObject<'py> for PyTrendsPage {
    type Target = PyTuple;
    type Output = Bound<'py, PyTuple>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        let page = self.0;
        let keys: Vec<Bound<'py, PyAny>> = page.table.header.iter().map(|h| pyo3::types::PyString::new(py, h).into_any()).collect();
        let rows = PyList::empty(py);
        for r in &page.table.rows {
            let d = PyDict::new(py);
            for (k, v) in keys.iter().zip(r) {
                d.set_item(k, cell(py, v)?)?;
            }
            rows.append(d)?;
        }
        let m = PyDict::new(py);
        m.set_item("provider", tr::PROVIDER)?;
        m.set_item("report", format!("trends {}", page.report))?;
        m.set_item("units", page.units)?;
        m.set_item("estimate", page.estimate)?;
        m.set_item("lines", page.table.rows.len())?;
        m.set_item("cached", page.cached)?;
        m.set_item("spent", page.spent)?;
        m.set_item("budget", page.budget)?;
        m.set_item("alerts", &page.alerts)?;
        m.set_item("columns", &page.table.header)?;
        PyTuple::new(py, [rows.into_any(), m.into_any()])
    }
}

fn params(kwargs: Option<&Bound<'_, PyDict>>) -> Result<(Vec<(String, String)>, bool)> {
    let mut f = super::page::fields(kwargs)?;
    let cache = super::page::take_cache(&mut f)?;
    let mut out = Vec::new();
    for (k, v) in f {
        let text = match v {
            serde_json::Value::String(s) => s,
            serde_json::Value::Array(items) => items.iter().map(|i| i.as_str().map(str::to_string).unwrap_or_else(|| i.to_string())).collect::<Vec<_>>().join(","),
            serde_json::Value::Bool(b) => b.to_string(),
            other => other.to_string(),
        };
        out.push((k, text));
    }
    Ok((out, cache))
}

#[pymethods]
impl SemrushTrendsCore {
    /// The tag the ledger's call log records for this client's calls (None: the Airflow
    /// DAG/task the call runs in, else none).
    #[pyo3(signature = (tag=None))]
    fn set_tag(&self, tag: Option<String>) {
        self.client.engine.set_tag(tag)
    }

    #[new]
    #[pyo3(signature = (v3, *, base_url, budget, retry, timeout, cache_ttl=None))]
    fn new(
        py: Python<'_>,
        v3: PyRef<'_, super::semrush::SemrushCore>,
        base_url: Option<String>,
        budget: Option<(u64, String, Vec<f64>)>,
        retry: Option<PyRef<'_, super::retry::RetryPolicy>>,
        timeout: f64,
        cache_ttl: Option<f64>,
    ) -> PyResult<Self> {
        let err = |e| to_pyerr(py, e);
        let c = v3.client();
        let client = Client::new(tr::Settings {
            key: c.key().to_string(),
            base_url,
            ledger: c.engine.ledger.clone(),
            budget: super::ledger::budget(budget).map_err(err)?,
            retry: retry.map(|r| r.inner.clone()).unwrap_or_else(|| c.engine.retry.clone()),
            timeout: super::timeout(timeout).map_err(err)?,
            limits: c.engine.limits.clone(),
            account: c.engine.account.clone(),
            cache_ttl: super::page::cache_ttl(cache_ttl).map_err(err)?,
        })
        .map_err(err)?;
        Ok(SemrushTrendsCore { client: Arc::new(client) })
    }

    #[getter]
    fn account(&self) -> String {
        self.client.engine.account.clone()
    }

    #[pyo3(signature = (report, **kwargs))]
    fn estimate(&self, py: Python<'_>, report: &str, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<u64> {
        self.prepare(report, kwargs).map(|p| p.estimate).map_err(|e| to_pyerr(py, e))
    }

    #[pyo3(signature = (report, **kwargs))]
    fn report(&self, py: Python<'_>, report: &str, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Py<PyAny>> {
        let p = self.prepare(report, kwargs).map_err(|e| to_pyerr(py, e))?;
        let client = self.client.clone();
        let page = block_on(py, async move { client.fetch(&p).await })?;
        Ok(PyTrendsPage(page).into_pyobject(py)?.into_any().unbind())
    }

    #[pyo3(signature = (report, **kwargs))]
    fn report_async<'py>(&self, py: Python<'py>, report: &str, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Bound<'py, PyAny>> {
        let p = self.prepare(report, kwargs).map_err(|e| to_pyerr(py, e))?;
        let client = self.client.clone();
        future(py, async move { client.fetch(&p).await.map(PyTrendsPage) })
    }

    /// The free limits endpoint as-is: `(status, body text)` (its format is unpublished).
    fn limits(&self, py: Python<'_>) -> PyResult<(u16, String)> {
        let client = self.client.clone();
        let (status, body) = block_on(py, async move { client.limits().await })?;
        Ok((status, crate::secrets::scrub(&String::from_utf8_lossy(&body))))
    }
}

impl SemrushTrendsCore {
    fn prepare(&self, report: &str, kwargs: Option<&Bound<'_, PyDict>>) -> Result<Prepared> {
        let (params, cache) = params(kwargs)?;
        let mut p = super::guard(tr::PROVIDER, report, || tr::prepare(report, params))?;
        p.cache = cache;
        Ok(p)
    }
}
