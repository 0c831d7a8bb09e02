use std::sync::Arc;
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use super::page::{fields, frame_arg, to_json, value, FrameArg, PyJsonPage};
use super::{block_on, future, to_pyerr};
use crate::error::Result;
use crate::limits::Rate;
use crate::providers::ahrefs::{self, Client, Rules, Prepared};
use crate::providers::{oauth, JsonPage};

#[pyclass(frozen, module = "seowire._seowire")]
pub struct AhrefsCore {
    client: Arc<Client>,
}

/// batch-analysis over any number of targets: pages of 100, merged in input order.
/// Answered pages in chunk order, the estimate, failed input positions and the first failure.
/// With declared columns, the rows are one Arrow table read from the pages' bytes.
struct PyBatch(Vec<JsonPage>, u64, Vec<usize>, Option<crate::error::Error>, usize, Option<Arc<crate::frame::Declared>>);

impl PyBatch {
    fn table<'py>(&self, py: Python<'py>, declared: &crate::frame::Declared) -> PyResult<Bound<'py, PyAny>> {
        use super::frame::Part;
        let failed: std::collections::HashSet<usize> = self.2.iter().copied().collect();
        let mut pages = self.0.iter();
        let mut parts = Vec::new();
        let mut position = 0;
        while position < self.4 {
            let end = (position + ahrefs::MAX_BATCH).min(self.4);
            if failed.contains(&position) {
                parts.push(Part::Missing(end - position));
            } else if let Some(page) = pages.next() {
                parts.push(Part::Page(page));
            }
            position = end;
        }
        let batch = py
            .detach(|| super::frame::answers_table(&parts, declared))
            .map_err(|e| to_pyerr(py, crate::error::Error::format(format!("could not read a batch-analysis answer as a frame: {e}")).provider(ahrefs::PROVIDER)))?;
        super::frame::table(py, batch)
    }
}

impl<'py> IntoPyObject<'py> for PyBatch {
    type Target = PyTuple;
    type Output = Bound<'py, PyTuple>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        if let Some(declared) = self.5.clone() {
            let table = self.table(py, &declared)?;
            let m = super::page::merged_meta(py, &self.0, ahrefs::PROVIDER, "batch-analysis/batch-analysis", self.1, self.4 - self.2.len())?;
            return super::bulk_outcome(py, self.3.filter(|_| !self.2.is_empty()), !self.0.is_empty(), table, self.2, m);
        }
        let _gc = super::GcPause::new(py, self.0.iter().map(|p| p.rows as usize).sum::<usize>() * 8);
        let out = PyList::empty(py);
        let mut pages = self.0.iter();
        let failed: std::collections::HashSet<usize> = self.2.iter().copied().collect();
        let mut position = 0;
        while position < self.4 {
            // Chunks are MAX_BATCH inputs each; a failed chunk leaves None in its places.
            let end = (position + ahrefs::MAX_BATCH).min(self.4);
            if failed.contains(&position) {
                for _ in position..end {
                    out.append(py.None())?;
                }
            } else if let Some(page) = pages.next() {
                for row in value(py, page)?.try_iter()? {
                    out.append(row?)?;
                }
            }
            position = end;
        }
        let m = super::page::merged_meta(py, &self.0, ahrefs::PROVIDER, "batch-analysis/batch-analysis", self.1, out.len() - self.2.len())?;
        super::bulk_outcome(py, self.3.filter(|_| !self.2.is_empty()), !self.0.is_empty(), out.into_any(), self.2, m)
    }
}

#[pymethods]
impl AhrefsCore {
    /// The tag the ledger's call log records for this client's calls (None: the Airflow
    /// DAG/task the call runs in, else none).
    #[pyo3(signature = (tag=None))]
    fn set_tag(&self, tag: Option<String>) {
        self.client.engine.set_tag(tag)
    }

    #[new]
    #[pyo3(signature = (api_key, *, base_url, ledger, budget, retry, timeout, rate_per_minute, free_targets=None, free_keywords=None, cache_ttl=None, plan=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        api_key: String,
        base_url: Option<String>,
        ledger: PyRef<'_, super::ledger::Ledger>,
        budget: Option<(u64, String, Vec<f64>)>,
        retry: Option<PyRef<'_, super::retry::RetryPolicy>>,
        timeout: f64,
        rate_per_minute: Option<f64>,
        free_targets: Option<Vec<String>>,
        free_keywords: Option<Vec<String>>,
        cache_ttl: Option<f64>,
        plan: Option<String>,
    ) -> PyResult<Self> {
        let err = |e| to_pyerr(py, e);
        let timeout = super::timeout(timeout).map_err(|e| to_pyerr(py, e))?;
        let rate = match rate_per_minute {
            None => None,
            // Evenly spaced, no bursts: Ahrefs also throttles dynamically, and bursts invite it.
            Some(r) if r.is_finite() && r >= 1.0 => Some(Rate { count: 1, per: Duration::from_secs_f64(60.0 / r) }),
            Some(r) => return Err(err(super::invalid(format!("rate_limit must be at least 1 request per minute, not {r}")))),
        };
        let defaults = Rules::default();
        let plan_rows = match plan.as_deref() {
            None => None,
            Some(name) => ahrefs::plan_rows(name).map_err(err)?,
        };
        let client = Client::new(ahrefs::Settings {
            key: api_key,
            base_url,
            ledger: ledger.inner.clone(),
            budget: super::ledger::budget(budget).map_err(err)?,
            retry: retry.map(|r| r.inner.clone()).unwrap_or_default(),
            timeout,
            rate,
            rules: Rules { targets: free_targets.unwrap_or(defaults.targets), keywords: free_keywords.unwrap_or(defaults.keywords), plan_rows },
            cache_ttl: super::page::cache_ttl(cache_ttl).map_err(err)?,
        })
        .map_err(err)?;
        Ok(AhrefsCore { client: Arc::new(client) })
    }

    #[getter]
    fn account(&self) -> String {
        self.client.engine.account.clone()
    }
    #[getter]
    fn base_url(&self) -> String {
        self.client.base_url.clone()
    }
    #[getter]
    fn ledger(&self) -> super::ledger::Ledger {
        super::ledger::Ledger { inner: self.client.engine.ledger.clone() }
    }
    #[getter]
    fn free_targets(&self) -> Vec<String> {
        self.client.rules.targets.clone()
    }

    /// Rows per request the client's plan allows (None: no cap).
    #[getter]
    fn plan_rows(&self) -> Option<u64> {
        self.client.rules.plan_rows
    }

    /// Worst-case units, offline. `strict` checks the call against the catalog.
    #[pyo3(signature = (method, path, strict, **kwargs))]
    fn estimate(&self, py: Python<'_>, method: &str, path: &str, strict: bool, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<u64> {
        self.prepare(method, path, strict, kwargs).map(|p| p.estimate).map_err(|e| to_pyerr(py, e))
    }

    /// The request URL (the key travels in a header, never in the URL).
    #[pyo3(signature = (method, path, strict, **kwargs))]
    fn url(&self, py: Python<'_>, method: &str, path: &str, strict: bool, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<String> {
        self.prepare(method, path, strict, kwargs).map(|p| self.client.url(&p)).map_err(|e| to_pyerr(py, e))
    }

    /// One call: `(value, meta)`; with `_frame=(names, types)` the value is an Arrow table
    /// read from the answer's bytes.
    #[pyo3(signature = (method, path, strict, _frame=None, **kwargs))]
    fn call(&self, py: Python<'_>, method: &str, path: &str, strict: bool, _frame: FrameArg, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Py<PyAny>> {
        let p = self.prepare(method, path, strict, kwargs).map_err(|e| to_pyerr(py, e))?;
        let client = self.client.clone();
        let page = block_on(py, async move { client.fetch(&p).await })?;
        Ok(PyJsonPage(page, frame_arg(_frame)).into_pyobject(py)?.into_any().unbind())
    }

    #[pyo3(signature = (method, path, strict, _frame=None, **kwargs))]
    fn call_async<'py>(&self, py: Python<'py>, method: &str, path: &str, strict: bool, _frame: FrameArg, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Bound<'py, PyAny>> {
        let p = self.prepare(method, path, strict, kwargs).map_err(|e| to_pyerr(py, e))?;
        let (client, frame) = (self.client.clone(), frame_arg(_frame));
        future(py, async move { client.fetch(&p).await.map(|page| PyJsonPage(page, frame)) })
    }

    /// With `_frame=(names, types)` the rows are one Arrow table read from the answers' bytes.
    #[pyo3(signature = (targets, *, progress=None, _frame=None, **kwargs))]
    fn batch_analysis(
        &self,
        py: Python<'_>,
        targets: &Bound<'_, PyAny>,
        progress: Option<Bound<'_, PyAny>>,
        _frame: FrameArg,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        let chunks = self.batches(targets, kwargs).map_err(|e| to_pyerr(py, e))?;
        let (client, progress, frame) = (self.client.clone(), super::Progress::new(progress), frame_arg(_frame));
        let out = block_on(py, async move { run_batches(client, chunks, progress, frame).await })?;
        Ok(out.into_pyobject(py)?.into_any().unbind())
    }

    #[pyo3(signature = (targets, *, progress=None, _frame=None, **kwargs))]
    fn batch_analysis_async<'py>(
        &self,
        py: Python<'py>,
        targets: &Bound<'_, PyAny>,
        progress: Option<Bound<'_, PyAny>>,
        _frame: FrameArg,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let chunks = self.batches(targets, kwargs).map_err(|e| to_pyerr(py, e))?;
        let (client, progress, frame) = (self.client.clone(), super::Progress::new(progress), frame_arg(_frame));
        future(py, async move { run_batches(client, chunks, progress, frame).await })
    }

    /// `batch_analysis` as a stream of batches (see `py::bulk`): targets pulled 100 at a time,
    /// requests in input order. `names`/`types` give a frame's declared columns (the catalog's).
    #[pyo3(signature = (targets, *, batch_rows=10_000, frame=false, names=None, types=None, progress=None, **kwargs))]
    #[allow(clippy::too_many_arguments)]
    fn batch_analysis_stream(
        &self,
        py: Python<'_>,
        targets: &Bound<'_, PyAny>,
        batch_rows: usize,
        frame: bool,
        names: Option<Vec<String>>,
        types: Option<std::collections::HashMap<String, String>>,
        progress: Option<Bound<'_, PyAny>>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<super::bulk::BulkStream> {
        let mut extra = fields(kwargs).map_err(|e| to_pyerr(py, e))?;
        let cache = super::page::take_cache(&mut extra).map_err(|e| to_pyerr(py, e))?;
        // Parameters and select fields are checked now, before anything is read or sent.
        let mut probe = extra.clone();
        probe.insert("targets".into(), serde_json::json!([{"url": "example.com", "mode": "subdomains", "protocol": "both"}]));
        ahrefs::prepare("POST", "batch-analysis/batch-analysis", probe, true, &self.client.rules).map_err(|e| to_pyerr(py, e))?;
        let client = self.client.clone();
        let fetch: super::bulk::Fetch = Arc::new(move |items| {
            let client = client.clone();
            let mut f = extra.clone();
            f.insert("targets".into(), serde_json::Value::Array(items));
            Box::pin(async move {
                let mut p = ahrefs::prepare("POST", "batch-analysis/batch-analysis", f, true, &client.rules)?;
                p.cache = cache;
                client.fetch(&p).await
            })
        });
        let item: super::bulk::Item = Arc::new(|v, i| batch_target(to_json("target", v)?, i));
        let types = types.unwrap_or_default();
        let declared = names.map(|names| {
            names.into_iter().map(|n| {
                let ty = types.get(&n).map_or(arrow_schema::DataType::Null, |t| crate::frame::declared(t));
                (n, ty)
            }).collect()
        });
        let spec = super::bulk::Spec {
            provider: ahrefs::PROVIDER,
            report: "batch_analysis".into(),
            chunk: ahrefs::MAX_BATCH,
            concurrency: 4,
            batch_rows,
            fetch,
            item,
            frame: frame.then(|| declared.unwrap_or_default()),
            progress: super::Progress::new(progress),
            arrange: None,
        };
        super::bulk::start(py, targets, spec)
    }

    fn __repr__(&self) -> String {
        format!("AhrefsCore(account={:?})", self.client.engine.account)
    }
}

async fn run_batches(client: Arc<Client>, chunks: Vec<Prepared>, progress: super::Progress, frame: Option<Arc<crate::frame::Declared>>) -> Result<PyBatch> {
    use futures::StreamExt;
    let estimate = chunks.iter().map(|c| c.estimate).sum();
    let sizes: Vec<usize> = chunks.iter().map(|c| c.rows as usize).collect();
    let inputs = sizes.iter().sum();
    // After a failure no new chunk is sent; those in flight finish and are committed.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // The rate limit paces them; order is kept by `buffered`.
    let outcomes: Vec<Option<Result<JsonPage>>> = futures::stream::iter(chunks.into_iter().map(|c| {
        let (client, progress, stop) = (client.clone(), progress.clone(), stop.clone());
        async move {
            if stop.load(std::sync::atomic::Ordering::SeqCst) {
                return None;
            }
            let r = client.fetch(&c).await.inspect(|p| progress.tick(p.rows, p.units));
            if r.is_err() {
                stop.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            Some(r)
        }
    }))
    .buffered(4)
    .collect()
    .await;
    let (mut pages, mut failed, mut error) = (Vec::new(), Vec::new(), None);
    let mut position = 0;
    for (outcome, size) in outcomes.into_iter().zip(sizes) {
        match outcome {
            Some(Ok(p)) => pages.push(p),
            Some(Err(e)) => {
                error.get_or_insert(e);
                failed.extend(position..position + size);
            }
            None => failed.extend(position..position + size),
        }
        position += size;
    }
    Ok(PyBatch(pages, estimate, failed, error, inputs, frame))
}

impl AhrefsCore {
    fn prepare(&self, method: &str, path: &str, strict: bool, kwargs: Option<&Bound<'_, PyDict>>) -> Result<Prepared> {
        let mut f = fields(kwargs)?;
        let cache = super::page::take_cache(&mut f)?;
        let mut p = super::guard(ahrefs::PROVIDER, path, || ahrefs::prepare(method, path, f, strict, &self.client.rules))?;
        p.cache = cache;
        Ok(p)
    }

    fn batches(&self, targets: &Bound<'_, PyAny>, kwargs: Option<&Bound<'_, PyDict>>) -> Result<Vec<Prepared>> {
        let serde_json::Value::Array(all) = to_json("targets", targets)? else {
            return Err(super::invalid("batch_analysis targets must be a list").provider(ahrefs::PROVIDER));
        };
        let items: Vec<serde_json::Value> = all
            .into_iter()
            .enumerate()
            .map(|(i, t)| batch_target(t, i))
            .collect::<Result<_>>()?;
        let mut extra = fields(kwargs)?;
        let cache = super::page::take_cache(&mut extra)?;
        items
            .chunks(ahrefs::MAX_BATCH)
            .map(|chunk| {
                let mut f = extra.clone();
                f.insert("targets".into(), serde_json::Value::Array(chunk.to_vec()));
                ahrefs::prepare("POST", "batch-analysis/batch-analysis", f, true, &self.client.rules).map(|mut p| {
                    p.cache = cache;
                    p
                })
            })
            .collect()
    }
}

/// One batch-analysis target: a URL string (as `{url, mode: subdomains, protocol: both}`) or
/// such an object; anything else is refused naming its input position.
fn batch_target(t: serde_json::Value, i: usize) -> Result<serde_json::Value> {
    match t {
        serde_json::Value::String(s) if !s.trim().is_empty() => Ok(serde_json::json!({"url": s.trim(), "mode": "subdomains", "protocol": "both"})),
        serde_json::Value::Object(m) if m.get("url").and_then(|u| u.as_str()).is_some_and(|u| !u.trim().is_empty()) => Ok(serde_json::Value::Object(m)),
        other => Err(super::invalid(format!("batch_analysis target {i} must be a URL string or {{url, mode, protocol}}, not {other}")).provider(ahrefs::PROVIDER)),
    }
}

/// `(code_verifier, code_challenge)` for PKCE S256.
#[pyfunction]
pub fn oauth_pkce() -> (String, String) {
    let verifier = oauth::random_token(64);
    let challenge = oauth::challenge(&verifier);
    (verifier, challenge)
}

#[pyfunction]
pub fn oauth_challenge(py: Python<'_>, verifier: &str) -> PyResult<String> {
    oauth::check_verifier(verifier).map_err(|e| to_pyerr(py, e))?;
    Ok(oauth::challenge(verifier))
}

#[pyfunction]
pub fn oauth_state() -> String {
    oauth::random_token(32)
}

#[pyfunction]
pub fn oauth_authorize_query(pairs: Vec<(String, String)>) -> String {
    let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    oauth::authorize_query(&refs)
}

/// Exchange an authorization code; returns the token endpoint's JSON as a dict.
#[pyfunction]
pub fn oauth_exchange<'py>(py: Python<'py>, token_url: String, form: Vec<(String, String)>, timeout: f64) -> PyResult<Bound<'py, PyAny>> {
    let body = block_on(py, async move {
        let refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        oauth::exchange(&token_url, &refs, Duration::from_secs_f64(timeout), ahrefs::PROVIDER).await
    })?;
    super::json::decode_body(py, ahrefs::PROVIDER, &body)
}

struct TokenJson(bytes::Bytes);

impl<'py> IntoPyObject<'py> for TokenJson {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;
    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        super::json::decode_body(py, ahrefs::PROVIDER, &self.0)
    }
}

#[pyfunction]
pub fn oauth_exchange_async<'py>(py: Python<'py>, token_url: String, form: Vec<(String, String)>, timeout: f64) -> PyResult<Bound<'py, PyAny>> {
    future(py, async move {
        let refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        oauth::exchange(&token_url, &refs, Duration::from_secs_f64(timeout), ahrefs::PROVIDER).await.map(TokenJson)
    })
}
