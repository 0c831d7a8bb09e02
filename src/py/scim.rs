use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde_json::Value;

use super::page::to_json;
use super::{block_on, future, to_pyerr};
use crate::error::Result;
use crate::providers::scim::{Client, Created};

/// A JSON value handed to Python.
struct Json(Value);

impl<'py> IntoPyObject<'py> for Json {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;
    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        pythonize::pythonize(py, &self.0).map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))
    }
}

/// `(outcome, user, message)`: outcome is "created", "recovered" or "conflict".
struct Outcome(Created);

impl<'py> IntoPyObject<'py> for Outcome {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;
    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        let (what, user, message) = match self.0 {
            Created::New(u) => ("created", Some(u), None),
            Created::Recovered(u) => ("recovered", Some(u), None),
            Created::Conflict(e, u) => ("conflict", u, Some(e.message)),
        };
        let user = match user {
            Some(u) => Json(u).into_pyobject(py)?,
            None => py.None().into_bound(py),
        };
        Ok((what, user, message).into_pyobject(py)?.into_any())
    }
}

#[pyclass(frozen, module = "seowire._seowire")]
pub struct ScimCore {
    client: Arc<Client>,
}

fn list_json(v: Vec<Value>) -> Json {
    Json(Value::Array(v))
}

#[pymethods]
impl ScimCore {
    #[new]
    #[pyo3(signature = (base_url, token, *, retry, timeout))]
    fn new(py: Python<'_>, base_url: &str, token: &str, retry: Option<PyRef<'_, super::retry::RetryPolicy>>, timeout: f64) -> PyResult<Self> {
        let timeout = super::timeout(timeout).map_err(|e| to_pyerr(py, e))?;
        let client = Client::new(base_url, token, retry.map(|r| r.inner.clone()).unwrap_or_default(), timeout)
            .map_err(|e| to_pyerr(py, e))?;
        Ok(ScimCore { client: Arc::new(client) })
    }

    #[getter]
    fn base_url(&self) -> String {
        self.client.base_url.clone()
    }

    #[pyo3(signature = (filter=None))]
    fn list_users(&self, py: Python<'_>, filter: Option<String>) -> PyResult<Py<PyAny>> {
        let c = self.client.clone();
        let v = block_on(py, async move { c.list(filter.as_deref()).await })?;
        Ok(list_json(v).into_pyobject(py)?.unbind())
    }

    #[pyo3(signature = (filter=None))]
    fn list_users_async<'py>(&self, py: Python<'py>, filter: Option<String>) -> PyResult<Bound<'py, PyAny>> {
        let c = self.client.clone();
        future(py, async move { c.list(filter.as_deref()).await.map(list_json) })
    }

    fn get_user(&self, py: Python<'_>, id: String) -> PyResult<Py<PyAny>> {
        let c = self.client.clone();
        let v = block_on(py, async move { c.get(&id).await })?;
        Ok(Json(v).into_pyobject(py)?.unbind())
    }

    fn get_user_async<'py>(&self, py: Python<'py>, id: String) -> PyResult<Bound<'py, PyAny>> {
        let c = self.client.clone();
        future(py, async move { c.get(&id).await.map(Json) })
    }

    fn find_user(&self, py: Python<'_>, user_name: String) -> PyResult<Py<PyAny>> {
        let c = self.client.clone();
        let v = block_on(py, async move { c.find(&user_name).await })?;
        Ok(Json(v.unwrap_or(Value::Null)).into_pyobject(py)?.unbind())
    }

    fn find_user_async<'py>(&self, py: Python<'py>, user_name: String) -> PyResult<Bound<'py, PyAny>> {
        let c = self.client.clone();
        future(py, async move { c.find(&user_name).await.map(|v| Json(v.unwrap_or(Value::Null))) })
    }

    fn create_user(&self, py: Python<'_>, user: &Bound<'_, PyDict>) -> PyResult<Py<PyAny>> {
        let body = to_json("user", user.as_any()).map_err(|e| to_pyerr(py, e))?;
        let c = self.client.clone();
        let out = block_on(py, async move { c.create(body).await })?;
        Ok(Outcome(out).into_pyobject(py)?.unbind())
    }

    fn create_user_async<'py>(&self, py: Python<'py>, user: &Bound<'_, PyDict>) -> PyResult<Bound<'py, PyAny>> {
        let body = to_json("user", user.as_any()).map_err(|e| to_pyerr(py, e))?;
        let c = self.client.clone();
        future(py, async move { c.create(body).await.map(Outcome) })
    }

    /// PATCH replace operations: `[(path, value), ...]`.
    fn patch_user(&self, py: Python<'_>, id: String, replace: Vec<(String, Bound<'_, PyAny>)>) -> PyResult<Py<PyAny>> {
        let ops = ops(py, replace)?;
        let c = self.client.clone();
        let v = block_on(py, async move { c.patch(&id, ops).await })?;
        Ok(Json(v).into_pyobject(py)?.unbind())
    }

    fn patch_user_async<'py>(&self, py: Python<'py>, id: String, replace: Vec<(String, Bound<'_, PyAny>)>) -> PyResult<Bound<'py, PyAny>> {
        let ops = ops(py, replace)?;
        let c = self.client.clone();
        future(py, async move { c.patch(&id, ops).await.map(Json) })
    }

    fn delete_user(&self, py: Python<'_>, id: String) -> PyResult<()> {
        let c = self.client.clone();
        block_on(py, async move { c.delete(&id).await })
    }

    fn delete_user_async<'py>(&self, py: Python<'py>, id: String) -> PyResult<Bound<'py, PyAny>> {
        let c = self.client.clone();
        future(py, async move { c.delete(&id).await })
    }
}

fn ops(py: Python<'_>, replace: Vec<(String, Bound<'_, PyAny>)>) -> PyResult<Vec<(String, Value)>> {
    replace
        .into_iter()
        .map(|(k, v)| -> Result<(String, Value)> { Ok((k.clone(), to_json(&k, &v)?)) })
        .collect::<Result<_>>()
        .map_err(|e| to_pyerr(py, e))
}
