//! SEMrush Projects, Position Tracking and Site Audit for Python (v3, on the v3 key's account).

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::page::PyJsonPage;
use super::{block_on, future, to_pyerr};
use crate::error::Result;
use crate::providers::semrush_projects::{self as pr, Client, Prepared};

#[pyclass(frozen, module = "seowire._seowire")]
pub struct SemrushProjectsCore {
    client: Arc<Client>,
}

#[pymethods]
impl SemrushProjectsCore {
    /// The tag the ledger's call log records for this client's calls (None: the Airflow
    /// DAG/task the call runs in, else none).
    #[pyo3(signature = (tag=None))]
    fn set_tag(&self, tag: Option<String>) {
        self.client.engine.set_tag(tag)
    }

    #[new]
    #[pyo3(signature = (v3, *, base_url, retry, timeout))]
    fn new(py: Python<'_>, v3: PyRef<'_, super::semrush::SemrushCore>, base_url: Option<String>, retry: Option<PyRef<'_, super::retry::RetryPolicy>>, timeout: f64) -> PyResult<Self> {
        let err = |e| to_pyerr(py, e);
        let c = v3.client();
        let client = Client::new(pr::Settings {
            key: c.key().to_string(),
            base_url,
            ledger: c.engine.ledger.clone(),
            budget: c.engine.budget.clone(),
            retry: retry.map(|r| r.inner.clone()).unwrap_or_else(|| c.engine.retry.clone()),
            timeout: super::timeout(timeout).map_err(err)?,
            limits: c.engine.limits.clone(),
            account: c.engine.account.clone(),
        })
        .map_err(err)?;
        Ok(SemrushProjectsCore { client: Arc::new(client) })
    }

    #[pyo3(signature = (method, path, params=None, counts=None, body=None))]
    fn estimate(&self, py: Python<'_>, method: &str, path: &str, params: Option<&Bound<'_, PyDict>>, counts: Option<Vec<(String, u64)>>, body: Option<&Bound<'_, PyAny>>) -> PyResult<u64> {
        self.prepare(method, path, params, counts, body).map(|p| p.estimate).map_err(|e| to_pyerr(py, e))
    }

    #[pyo3(signature = (method, path, params=None, counts=None, body=None))]
    fn call(&self, py: Python<'_>, method: &str, path: &str, params: Option<&Bound<'_, PyDict>>, counts: Option<Vec<(String, u64)>>, body: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
        let p = self.prepare(method, path, params, counts, body).map_err(|e| to_pyerr(py, e))?;
        let client = self.client.clone();
        let page = block_on(py, async move { client.fetch(&p).await })?;
        Ok(PyJsonPage::dicts(page).into_pyobject(py)?.into_any().unbind())
    }

    #[pyo3(signature = (method, path, params=None, counts=None, body=None))]
    fn call_async<'py>(
        &self,
        py: Python<'py>,
        method: &str,
        path: &str,
        params: Option<&Bound<'_, PyDict>>,
        counts: Option<Vec<(String, u64)>>,
        body: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let p = self.prepare(method, path, params, counts, body).map_err(|e| to_pyerr(py, e))?;
        let client = self.client.clone();
        future(py, async move { client.fetch(&p).await.map(PyJsonPage::dicts) })
    }
}

impl SemrushProjectsCore {
    fn prepare(&self, method: &str, path: &str, params: Option<&Bound<'_, PyDict>>, counts: Option<Vec<(String, u64)>>, body: Option<&Bound<'_, PyAny>>) -> Result<Prepared> {
        let params: Vec<(String, serde_json::Value)> = super::page::fields(params)?.into_iter().collect();
        let body = body.filter(|b| !b.is_none()).map(|b| super::page::to_json("json", b)).transpose()?;
        super::guard(pr::PROVIDER, path, || pr::prepare(method, path, params, counts.unwrap_or_default(), body))
    }
}
