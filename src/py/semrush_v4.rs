//! SEMrush API v4 for Python: calls, estimates and `limit`/`offset` pages. The same account,
//! ledger and limits as the v3 core when both keys are given.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use super::page::{meta, value, JsonPages, Pager};
use super::{block_on, future, to_pyerr};
use crate::error::Result;
use crate::http::account_hash;
use crate::limits::Limits;
use crate::providers::semrush_v4::{self as v4, Client, Prepared, Price};
use crate::providers::JsonPage;

#[pyclass(frozen, module = "seowire._seowire")]
pub struct SemrushV4Core {
    client: Arc<Client>,
}

/// A v4 page as `(value, meta)`, with the answer's request id in the meta.
struct PyV4Page(JsonPage, Option<String>);

impl<'py> IntoPyObject<'py> for PyV4Page {
    type Target = PyTuple;
    type Output = Bound<'py, PyTuple>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        let (page, id) = (self.0, self.1);
        super::decoding(py, page.provider, &page.report, || {
            let m = meta(py, &page)?;
            m.set_item("request_id", id)?;
            PyTuple::new(py, [value(py, &page)?.into_any(), m.into_any()])
        })
    }
}

fn params(kwargs: Option<&Bound<'_, PyDict>>) -> Result<(Vec<(String, serde_json::Value)>, bool, Option<bool>)> {
    let mut f = super::page::fields(kwargs)?;
    let cache = super::page::take_cache(&mut f)?;
    let strict = match f.remove("strict") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Bool(b)) => Some(b),
        Some(other) => return Err(super::invalid(format!("strict must be True or False, not {other}")).provider(v4::PROVIDER)),
    };
    Ok((f.into_iter().collect(), cache, strict))
}

struct Cursor {
    base: Prepared,
    offset: u64,
    page_size: u64,
    remaining: Option<u64>,
    done: bool,
}

struct V4Pager {
    client: Arc<Client>,
    cursor: tokio::sync::Mutex<Cursor>,
}

impl Pager for V4Pager {
    fn next(self: Arc<Self>) -> BoxFuture<'static, Result<Option<JsonPage>>> {
        Box::pin(async move {
            let mut c = self.cursor.lock().await;
            if c.done {
                return Ok(None);
            }
            let limit = c.remaining.map_or(c.page_size, |r| r.min(c.page_size));
            if limit == 0 {
                c.done = true;
                return Ok(None);
            }
            let request = c.base.page(c.offset, limit);
            // On error the cursor is unchanged: iterating again retries the same page.
            let (page, _) = self.client.fetch(&request).await?;
            if page.rows > limit {
                return Err(crate::error::Error::format(format!("SEMrush v4 {} answered {} lines for a page of {limit}", c.base.path, page.rows)).provider(v4::PROVIDER));
            }
            c.offset += page.rows;
            if let Some(r) = c.remaining.as_mut() {
                *r = r.saturating_sub(page.rows);
            }
            // No total and no cursor: a short page is the last [C SRDOC4].
            if page.rows < limit || c.remaining == Some(0) {
                c.done = true;
            }
            Ok(if page.rows == 0 { None } else { Some(page) })
        })
    }
}

#[pymethods]
impl SemrushV4Core {
    /// The tag the ledger's call log records for this client's calls (None: the Airflow
    /// DAG/task the call runs in, else none).
    #[pyo3(signature = (tag=None))]
    fn set_tag(&self, tag: Option<String>) {
        self.client.engine.set_tag(tag)
    }

    #[new]
    #[pyo3(signature = (v4_key, *, v3=None, base_url, ledger, budget, retry, timeout, rate_per_second, max_in_flight, cache_ttl=None, account=None, prices=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        v4_key: String,
        v3: Option<PyRef<'_, super::semrush::SemrushCore>>,
        base_url: Option<String>,
        ledger: PyRef<'_, super::ledger::Ledger>,
        budget: Option<(u64, String, Vec<f64>)>,
        retry: Option<PyRef<'_, super::retry::RetryPolicy>>,
        timeout: f64,
        rate_per_second: Option<f64>,
        max_in_flight: Option<usize>,
        cache_ttl: Option<f64>,
        account: Option<String>,
        prices: Option<BTreeMap<String, (String, u64)>>,
    ) -> PyResult<Self> {
        let err = |e| to_pyerr(py, e);
        let mut table = BTreeMap::new();
        for (path, (rule, units)) in prices.unwrap_or_default() {
            let price = match rule.as_str() {
                "line" => Price::PerLine(units),
                "request" => Price::PerRequest(units),
                other => return Err(err(super::invalid(format!("v4_prices[{path:?}]: the rule is \"line\" or \"request\", not {other:?}")).provider(v4::PROVIDER))),
            };
            table.insert(path.trim_matches('/').to_string(), price);
        }
        // One account for both keys: the v3 client's (its limits too), else account= or the v4 key's hash.
        let (account, limits) = match &v3 {
            Some(core) => (core.client().engine.account.clone(), core.client().engine.limits.clone()),
            None => {
                let account = match account {
                    Some(a) => super::semrush::account_name(&a).map_err(err)?,
                    None => account_hash(v4::PROVIDER, &v4_key),
                };
                let rate = super::semrush::rate_of(rate_per_second).map_err(err)?;
                let limits = Limits::shared(v4::PROVIDER, &account, rate, max_in_flight, &ledger.inner);
                (account, limits)
            }
        };
        let client = Client::new(v4::Settings {
            key: v4_key,
            base_url,
            ledger: ledger.inner.clone(),
            budget: super::ledger::budget(budget).map_err(err)?,
            retry: retry.map(|r| r.inner.clone()).unwrap_or_default(),
            timeout: super::timeout(timeout).map_err(err)?,
            limits,
            account,
            cache_ttl: super::page::cache_ttl(cache_ttl).map_err(err)?,
            prices: table,
        })
        .map_err(err)?;
        Ok(SemrushV4Core { client: Arc::new(client) })
    }

    #[getter]
    fn account(&self) -> String {
        self.client.engine.account.clone()
    }
    #[getter]
    fn base_url(&self) -> String {
        self.client.base.clone()
    }
    #[getter]
    fn ledger(&self) -> super::ledger::Ledger {
        super::ledger::Ledger { inner: self.client.engine.ledger.clone() }
    }

    #[pyo3(signature = (path, **kwargs))]
    fn estimate(&self, py: Python<'_>, path: &str, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<u64> {
        self.prepare(path, kwargs).map(|p| p.estimate).map_err(|e| to_pyerr(py, e))
    }

    #[pyo3(signature = (path, **kwargs))]
    fn call(&self, py: Python<'_>, path: &str, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Py<PyAny>> {
        let p = self.prepare(path, kwargs).map_err(|e| to_pyerr(py, e))?;
        let client = self.client.clone();
        let (page, id) = block_on(py, async move { client.fetch(&p).await })?;
        Ok(PyV4Page(page, id).into_pyobject(py)?.into_any().unbind())
    }

    #[pyo3(signature = (path, **kwargs))]
    fn call_async<'py>(&self, py: Python<'py>, path: &str, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Bound<'py, PyAny>> {
        let p = self.prepare(path, kwargs).map_err(|e| to_pyerr(py, e))?;
        let client = self.client.clone();
        future(py, async move { client.fetch(&p).await.map(|(page, id)| PyV4Page(page, id)) })
    }

    /// Pages of a list operation by `limit`/`offset`, each line once, stopping after `max_rows`.
    #[pyo3(signature = (path, page_size, max_rows, **kwargs))]
    fn pages(&self, py: Python<'_>, path: &str, page_size: u64, max_rows: Option<u64>, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<JsonPages> {
        let err = |e| to_pyerr(py, e);
        if !(1..=100_000).contains(&page_size) {
            return Err(err(super::invalid(format!("page_size must be in 1..=100000, not {page_size}")).provider(v4::PROVIDER)));
        }
        if kwargs.is_some_and(|k| k.contains("limit").unwrap_or(false)) {
            return Err(err(super::invalid("pages() sets limit itself: use page_size= and max_rows=").provider(v4::PROVIDER)));
        }
        let base = self.prepare(path, kwargs).map_err(err)?;
        let offset = base.offset;
        let cursor = Cursor { base, offset, page_size, remaining: max_rows, done: false };
        Ok(JsonPages { pager: Arc::new(V4Pager { client: self.client.clone(), cursor: tokio::sync::Mutex::new(cursor) }), frame: None })
    }

    /// A filter DSL value quoted safely (`'it''s'`, numbers as they are, lists in parentheses).
    #[staticmethod]
    fn quote(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<String> {
        let v = super::page::to_json("value", value).map_err(|e| to_pyerr(py, e))?;
        v4::quote(&v).map_err(|e| to_pyerr(py, e))
    }

    fn __repr__(&self) -> String {
        format!("SemrushV4Core(account={:?})", self.client.engine.account)
    }
}

impl SemrushV4Core {
    fn prepare(&self, path: &str, kwargs: Option<&Bound<'_, PyDict>>) -> Result<Prepared> {
        let (params, cache, strict) = params(kwargs)?;
        let mut p = super::guard(v4::PROVIDER, path, || v4::prepare(path, params, &self.client.prices, strict.unwrap_or(true)))?;
        p.cache = cache;
        Ok(p)
    }
}
