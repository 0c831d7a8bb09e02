use std::sync::Arc;

use futures::future::BoxFuture;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

use super::page::{fields, frame_arg, merged_meta, take_cache, value, FrameArg, JsonPages, Pager, PyJsonPage};
use super::{block_on, future, to_pyerr};
use crate::error::Result;
use crate::providers::moz::{self, Auth, Bulk, Client, Decoder, Prepared, Weights};
use crate::providers::JsonPage;

#[pyclass(frozen, module = "seowire._seowire")]
pub struct MozCore {
    client: Arc<Client>,
}

/// Targets from any iterable of strings; anything else is an `InvalidRequest` naming its index.
fn targets(py: Python<'_>, items: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    let err = |m: String| to_pyerr(py, super::invalid(m).provider(moz::PROVIDER));
    if items.is_instance_of::<PyString>() {
        return Err(err("url_metrics takes an iterable of targets; wrap a single target in a list".into()));
    }
    let iter = items.try_iter().map_err(|_| err("url_metrics targets must be an iterable of strings".into()))?;
    let mut out = Vec::new();
    for (i, item) in iter.enumerate() {
        let item = item?;
        match item.cast::<PyString>() {
            Ok(s) => out.push(s.to_string()),
            Err(_) => {
                let ty = item.get_type().name().map(|n| n.to_string()).unwrap_or_default();
                return Err(err(format!("target {i} is not a string but {ty}")));
            }
        }
    }
    Ok(out)
}

/// Bulk url_metrics results, one dict per input position in input order.
struct PyBulk(Bulk<Py<PyAny>>);

/// Decode a page to Python as soon as it arrives, on the runtime thread that received it, so
/// decoding overlaps the requests still in flight instead of following them.
fn decode_page(page: &JsonPage) -> Result<Py<PyAny>> {
    super::gate::attach(|py| {
        value(py, page)
            .map(|v| v.unbind())
            .map_err(|e| crate::error::Error::format(format!("could not decode a Moz url_metrics page: {e}")).provider(moz::PROVIDER))
    })
    .unwrap_or_else(|| Err(crate::error::Error::new(crate::error::Kind::Transport, "the interpreter is shutting down").provider(moz::PROVIDER)))
}

/// Bulk url_metrics results as one Arrow table, a row per input position in input order.
struct PyFrameBulk(Bulk<arrow_array::RecordBatch>);

/// A page as a record batch straight from its bytes (no Python objects), off the GIL.
fn frame_page(page: &JsonPage) -> Result<arrow_array::RecordBatch> {
    let declared = super::frame::declared(moz::URL_METRICS_FIELDS);
    crate::frame::json_rows(&page.body, &page.unwrap, &declared, page.rows as usize)
        .map_err(|e| crate::error::Error::format(format!("could not read a Moz url_metrics page as a frame: {e}")).provider(moz::PROVIDER))
}

impl<'py> IntoPyObject<'py> for PyFrameBulk {
    type Target = PyTuple;
    type Output = Bound<'py, PyTuple>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        let bulk = self.0;
        let declared = super::frame::declared(moz::URL_METRICS_FIELDS);
        let (decoded, slots) = (bulk.decoded, bulk.slots);
        let groups = py
            .detach(|| super::frame::bulk_table(decoded, moz::MAX_TARGETS, &slots, &declared))
            .map_err(|e| to_pyerr(py, crate::error::Error::format(e).provider(moz::PROVIDER)))?;
        let schema = groups[0].schema();
        let table = super::frame::tables(py, groups, schema)?;
        let m = merged_meta(py, &bulk.pages, moz::PROVIDER, "url_metrics", bulk.estimate, slots.len() - bulk.failed.len())?;
        super::bulk_outcome(py, bulk.error.filter(|_| !bulk.failed.is_empty()), !bulk.pages.is_empty(), table, bulk.failed, m)
    }
}

impl<'py> IntoPyObject<'py> for PyBulk {
    type Target = PyTuple;
    type Output = Bound<'py, PyTuple>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        let bulk = self.0;
        // Many pages of rows: keep the cyclic GC out of the whole conversion, not page by page.
        let _gc = super::GcPause::new(py, bulk.slots.len() * 8);
        // Rows by unique-target index; a failed chunk leaves its 50 places empty.
        let mut unique: Vec<Option<Bound<'py, PyAny>>> = Vec::new();
        for rows in &bulk.decoded {
            match rows {
                Some(rows) => {
                    for row in rows.bind(py).try_iter()? {
                        unique.push(Some(row?));
                    }
                }
                None => unique.extend((0..moz::MAX_TARGETS).map(|_| None)),
            }
        }
        let out = PyList::empty(py);
        let mut used = vec![false; unique.len()];
        for slot in &bulk.slots {
            let Some(row) = unique.get(*slot).and_then(|r| r.as_ref()) else {
                out.append(py.None())?;
                continue;
            };
            if std::mem::replace(&mut used[*slot], true) {
                // A repeated target gets its own copy: editing one row must not change another.
                out.append(row.cast::<PyDict>().map(|d| d.copy()).map_or_else(|_| Ok(row.clone()), |c| c.map(|c| c.into_any()))?)?;
            } else {
                out.append(row)?;
            }
        }
        let m = merged_meta(py, &bulk.pages, moz::PROVIDER, "url_metrics", bulk.estimate, out.len() - bulk.failed.len())?;
        super::bulk_outcome(py, bulk.error.filter(|_| !bulk.failed.is_empty()), !bulk.pages.is_empty(), out.into_any(), bulk.failed, m)
    }
}

struct Cursor {
    base: Prepared,
    token: Option<String>,
    page_size: u64,
    remaining: Option<u64>,
    done: bool,
}

struct MozPager {
    client: Arc<Client>,
    cursor: tokio::sync::Mutex<Cursor>,
}

impl Pager for MozPager {
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
            let request = c.base.page(c.token.as_deref(), Some(limit), self.client.weights);
            // On error the cursor is unchanged: iterating again retries the same page.
            let page = self.client.fetch(&request).await?;
            if let Some(r) = c.remaining.as_mut() {
                *r = r.saturating_sub(page.rows);
            }
            c.token = page.next_token.clone();
            if c.token.is_none() || page.rows == 0 || c.remaining == Some(0) {
                c.done = true;
            }
            Ok(if page.rows == 0 { None } else { Some(page) })
        })
    }
}

#[pymethods]
impl MozCore {
    /// The tag the ledger's call log records for this client's calls (None: the Airflow
    /// DAG/task the call runs in, else none).
    #[pyo3(signature = (tag=None))]
    fn set_tag(&self, tag: Option<String>) {
        self.client.engine.set_tag(tag)
    }

    #[new]
    #[pyo3(signature = (*, token, access_id, secret_key, base_url, ledger, budget, retry, timeout, concurrency, modifier_weight=None, cache_ttl=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        token: Option<String>,
        access_id: Option<String>,
        secret_key: Option<String>,
        base_url: Option<String>,
        ledger: PyRef<'_, super::ledger::Ledger>,
        budget: Option<(u64, String, Vec<f64>)>,
        retry: Option<PyRef<'_, super::retry::RetryPolicy>>,
        timeout: f64,
        concurrency: usize,
        modifier_weight: Option<u64>,
        cache_ttl: Option<f64>,
    ) -> PyResult<Self> {
        let err = |e| to_pyerr(py, e);
        let timeout = super::timeout(timeout).map_err(|e| to_pyerr(py, e))?;
        let auth = match (token, access_id, secret_key) {
            (Some(t), None, None) => Auth::Token(t),
            (None, Some(access_id), Some(secret_key)) => Auth::Basic { access_id, secret_key },
            (None, None, None) => Auth::Token(String::new()),
            (Some(_), _, _) => return Err(err(super::invalid("give a Moz token or an access ID and secret key, not both").provider(moz::PROVIDER))),
            _ => return Err(err(super::invalid("Basic auth needs both access_id and secret_key").provider(moz::PROVIDER))),
        };
        let client = Client::new(moz::Settings {
            auth,
            base_url,
            ledger: ledger.inner.clone(),
            budget: super::ledger::budget(budget).map_err(err)?,
            retry: retry.map(|r| r.inner.clone()).unwrap_or_default(),
            timeout,
            concurrency,
            weights: Weights { modifier: modifier_weight.unwrap_or(Weights::default().modifier) },
            cache_ttl: super::page::cache_ttl(cache_ttl).map_err(err)?,
        })
        .map_err(err)?;
        Ok(MozCore { client: Arc::new(client) })
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
    fn concurrency(&self) -> usize {
        self.client.concurrency
    }
    #[getter]
    fn ledger(&self) -> super::ledger::Ledger {
        super::ledger::Ledger { inner: self.client.engine.ledger.clone() }
    }

    /// Worst-case rows of a call, computed offline.
    #[pyo3(signature = (endpoint, **kwargs))]
    fn estimate(&self, py: Python<'_>, endpoint: &str, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<u64> {
        self.prepare(endpoint, kwargs).map(|p| p.estimate).map_err(|e| to_pyerr(py, e))
    }

    /// One call: `(value, meta)`; with `_frame=(names, types)` the rows are an Arrow table read
    /// from the answer's bytes.
    #[pyo3(signature = (endpoint, _frame=None, **kwargs))]
    fn call(&self, py: Python<'_>, endpoint: &str, _frame: FrameArg, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Py<PyAny>> {
        let p = self.prepare(endpoint, kwargs).map_err(|e| to_pyerr(py, e))?;
        let client = self.client.clone();
        let page = block_on(py, async move { client.fetch(&p).await })?;
        Ok(PyJsonPage(page, frame_arg(_frame)).into_pyobject(py)?.into_any().unbind())
    }

    #[pyo3(signature = (endpoint, _frame=None, **kwargs))]
    fn call_async<'py>(&self, py: Python<'py>, endpoint: &str, _frame: FrameArg, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Bound<'py, PyAny>> {
        let p = self.prepare(endpoint, kwargs).map_err(|e| to_pyerr(py, e))?;
        let (client, frame) = (self.client.clone(), frame_arg(_frame));
        future(py, async move { client.fetch(&p).await.map(|page| PyJsonPage(page, frame)) })
    }

    #[pyo3(signature = (targets, *, progress=None, frame=false, **kwargs))]
    fn url_metrics(&self, py: Python<'_>, targets: &Bound<'_, PyAny>, progress: Option<Bound<'_, PyAny>>, frame: bool, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Py<PyAny>> {
        let (list, extra) = self.bulk_args(py, targets, kwargs)?;
        let client = self.client.clone();
        if frame {
            let progress = super::Progress::new(progress);
            let decode: Decoder<arrow_array::RecordBatch> = Arc::new(move |page: &JsonPage| frame_page(page).inspect(|_| progress.tick(page.rows, page.units)));
            let bulk = if list.is_empty() { Bulk::empty() } else { block_on(py, async move { client.url_metrics_bulk(list, extra.0, extra.1, decode).await })? };
            return Ok(PyFrameBulk(bulk).into_pyobject(py)?.into_any().unbind());
        }
        if list.is_empty() {
            return Ok(PyBulk(Bulk::empty()).into_pyobject(py)?.into_any().unbind());
        }
        // Pages are decoded while the rest are in flight; keep the cyclic GC out of that stretch.
        let _gc = super::GcPause::new(py, list.len() * 8);
        let progress = super::Progress::new(progress);
        let decode: Decoder<Py<PyAny>> = Arc::new(move |page: &JsonPage| decode_page(page).inspect(|_| progress.tick(page.rows, page.units)));
        let bulk = block_on(py, async move { client.url_metrics_bulk(list, extra.0, extra.1, decode).await })?;
        Ok(PyBulk(bulk).into_pyobject(py)?.into_any().unbind())
    }

    #[pyo3(signature = (targets, *, progress=None, frame=false, **kwargs))]
    fn url_metrics_async<'py>(
        &self,
        py: Python<'py>,
        targets: &Bound<'_, PyAny>,
        progress: Option<Bound<'_, PyAny>>,
        frame: bool,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let progress = super::Progress::new(progress);
        let (list, extra) = self.bulk_args(py, targets, kwargs)?;
        let client = self.client.clone();
        if frame {
            return future(py, async move {
                if list.is_empty() {
                    return Ok(PyFrameBulk(Bulk::empty()));
                }
                let decode: Decoder<arrow_array::RecordBatch> = Arc::new(move |page: &JsonPage| frame_page(page).inspect(|_| progress.tick(page.rows, page.units)));
                client.url_metrics_bulk(list, extra.0, extra.1, decode).await.map(PyFrameBulk)
            });
        }
        future(py, async move {
            if list.is_empty() {
                return Ok(PyBulk(Bulk::empty()));
            }
            let decode: Decoder<Py<PyAny>> = Arc::new(move |page: &JsonPage| decode_page(page).inspect(|_| progress.tick(page.rows, page.units)));
            client.url_metrics_bulk(list, extra.0, extra.1, decode).await.map(PyBulk)
        })
    }

    /// `url_metrics` as a stream of batches (see `py::bulk`): targets pulled from any iterable
    /// 50 at a time, requests at the plan's concurrency in input order, rows in batches of
    /// `batch_rows` (dicts, or Arrow with `frame`). Repeats are fetched once per request.
    #[pyo3(signature = (targets, *, batch_rows=10_000, frame=false, progress=None, **kwargs))]
    fn url_metrics_stream(
        &self,
        py: Python<'_>,
        targets: &Bound<'_, PyAny>,
        batch_rows: usize,
        frame: bool,
        progress: Option<Bound<'_, PyAny>>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<super::bulk::BulkStream> {
        let mut extra = fields(kwargs).map_err(|e| to_pyerr(py, e))?;
        let cache = take_cache(&mut extra).map_err(|e| to_pyerr(py, e))?;
        // The modifiers are checked now, before anything is read or sent.
        let mut probe = extra.clone();
        probe.insert("targets".into(), serde_json::Value::from(vec!["example.com"]));
        moz::prepare("url_metrics", probe, self.client.weights).map_err(|e| to_pyerr(py, e))?;
        let (client, weights) = (self.client.clone(), self.client.weights);
        let fetch: super::bulk::Fetch = Arc::new(move |items| {
            let client = client.clone();
            let mut fields = extra.clone();
            fields.insert("targets".into(), serde_json::Value::Array(items));
            Box::pin(async move {
                let mut p = moz::prepare("url_metrics", fields, weights)?;
                p.cache = cache;
                client.fetch(&p).await
            })
        });
        let item: super::bulk::Item = Arc::new(|v, i| {
            let bad = |m: String| super::invalid(format!("target {i} {m}")).provider(moz::PROVIDER);
            let s = v.cast::<PyString>().map_err(|_| bad(format!("is not a string but {}", v.get_type().name().map(|n| n.to_string()).unwrap_or_default())))?;
            moz::check_target(&s.to_string_lossy()).map(serde_json::Value::String).map_err(bad)
        });
        let spec = super::bulk::Spec {
            provider: moz::PROVIDER,
            report: "url_metrics".into(),
            chunk: moz::MAX_TARGETS,
            concurrency: self.client.concurrency,
            batch_rows,
            fetch,
            item,
            frame: frame.then(|| super::frame::declared(moz::URL_METRICS_FIELDS)),
            progress: super::Progress::new(progress),
            arrange: None,
        };
        super::bulk::start(py, targets, spec)
    }

    /// Worst-case rows of `url_metrics(targets, ...)` (duplicates counted once).
    #[pyo3(signature = (targets, **kwargs))]
    fn estimate_url_metrics(&self, py: Python<'_>, targets: &Bound<'_, PyAny>, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<u64> {
        let (list, extra) = self.bulk_args(py, targets, kwargs)?;
        let mut seen = std::collections::HashSet::new();
        let unique = list.iter().filter(|t| seen.insert(t.trim().to_string())).count() as u64;
        let mut probe = extra.0;
        probe.insert("targets".into(), serde_json::Value::from(vec!["example.com"]));
        let per = moz::url_metrics_rows_per_target(&probe, self.client.weights);
        Ok(unique * per)
    }

    /// Pages of a `next_token` endpoint, each result once, stopping after `max_rows`.
    #[pyo3(signature = (endpoint, page_size, max_rows, _frame=None, **kwargs))]
    fn pages(&self, py: Python<'_>, endpoint: &str, page_size: u64, max_rows: Option<u64>, _frame: FrameArg, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<JsonPages> {
        let err = |e| to_pyerr(py, e);
        if !(1..=50).contains(&page_size) {
            return Err(err(super::invalid(format!("page_size must be in 1..=50, not {page_size}")).provider(moz::PROVIDER)));
        }
        let mut f = fields(kwargs).map_err(err)?;
        let cache = take_cache(&mut f).map_err(err)?;
        if f.contains_key("limit") {
            return Err(err(super::invalid("pages() sets limit itself: use page_size= and max_rows=").provider(moz::PROVIDER)));
        }
        let token = f.remove("next_token").and_then(|v| v.as_str().map(str::to_string));
        let mut base = super::guard(moz::PROVIDER, endpoint, || moz::prepare(endpoint, f, self.client.weights)).map_err(err)?;
        base.cache = cache;
        if !base.endpoint.pageable {
            return Err(err(super::invalid(format!("Moz {endpoint} is not paged; call it directly")).provider(moz::PROVIDER)));
        }
        let cursor = Cursor { base, token, page_size, remaining: max_rows, done: false };
        Ok(JsonPages { pager: Arc::new(MozPager { client: self.client.clone(), cursor: tokio::sync::Mutex::new(cursor) }), frame: frame_arg(_frame) })
    }

    #[pyo3(signature = (start=None, end=None))]
    fn rows_consumed(&self, py: Python<'_>, start: Option<u64>, end: Option<u64>) -> PyResult<u64> {
        let client = self.client.clone();
        block_on(py, async move { client.usage_data(start, end).await })
    }

    fn __repr__(&self) -> String {
        format!("MozCore(account={:?})", self.client.engine.account)
    }
}

impl MozCore {
    pub fn client(&self) -> &Arc<Client> {
        &self.client
    }

    fn prepare(&self, endpoint: &str, kwargs: Option<&Bound<'_, PyDict>>) -> Result<Prepared> {
        let mut f = fields(kwargs)?;
        let cache = take_cache(&mut f)?;
        let mut p = super::guard(moz::PROVIDER, endpoint, || moz::prepare(endpoint, f, self.client.weights))?;
        p.cache = cache;
        Ok(p)
    }

    fn bulk_args(
        &self,
        py: Python<'_>,
        items: &Bound<'_, PyAny>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<(Vec<String>, (serde_json::Map<String, serde_json::Value>, bool))> {
        let list = targets(py, items)?;
        let mut extra = fields(kwargs).map_err(|e| to_pyerr(py, e))?;
        let cache = take_cache(&mut extra).map_err(|e| to_pyerr(py, e))?;
        // Validate every target and the modifiers before anything is sent.
        for (i, t) in list.iter().enumerate() {
            moz::check_target(t).map_err(|e| to_pyerr(py, super::invalid(format!("target {i} {e}")).provider(moz::PROVIDER)))?;
        }
        let mut probe = extra.clone();
        probe.insert("targets".into(), serde_json::Value::from(vec!["example.com"]));
        moz::prepare("url_metrics", probe, self.client.weights).map_err(|e| to_pyerr(py, e))?;
        Ok((list, (extra, cache)))
    }
}

/// `seowire.moz.sign_v1`: the legacy v1 signature (for v1 endpoints only).
#[pyfunction]
pub fn moz_sign_v1(access_id: &str, secret_key: &str, expires: u64) -> String {
    moz::sign_v1(access_id, secret_key, expires)
}
