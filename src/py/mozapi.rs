//! The Moz API (JSON-RPC) for Python: calls, estimates, pages of both kinds and the bulk
//! `*.multiple` methods. The same account, ledger and limits as the Links v2 core.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use super::page::{frame_arg, merged_meta, value, FrameArg, JsonPages, Pager, PyJsonPage};
use super::{block_on, future, to_pyerr};
use crate::error::{Error, Result};
use crate::providers::mozapi::{self, Client, Defaults, Multiple, Placed, Prepared};
use crate::providers::JsonPage;

#[pyclass(frozen, module = "seowire._seowire")]
pub struct MozApiCore {
    client: Arc<Client>,
    concurrency: usize,
}

/// `data` from Python: a dict (or None), plus the per-call `_cache` / `_strict` flags.
fn data_of(data: Option<&Bound<'_, PyDict>>) -> Result<(serde_json::Map<String, serde_json::Value>, bool, Option<bool>)> {
    let mut map = serde_json::Map::new();
    if let Some(d) = data {
        for (k, v) in d.iter() {
            let name: String = k.extract().map_err(|_| super::invalid("data keys must be strings").provider(mozapi::PROVIDER))?;
            map.insert(name.clone(), super::page::to_json(&name, &v).map_err(|e| e.provider(mozapi::PROVIDER))?);
        }
    }
    let flag = |map: &mut serde_json::Map<String, serde_json::Value>, k: &str| -> Result<Option<bool>> {
        match map.remove(k) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::Bool(b)) => Ok(Some(b)),
            Some(other) => Err(super::invalid(format!("{} must be True or False, not {other}", k.trim_start_matches('_'))).provider(mozapi::PROVIDER)),
        }
    };
    let cache = flag(&mut map, "_cache")?.unwrap_or(true);
    let strict = flag(&mut map, "_strict")?;
    Ok((map, cache, strict))
}

struct Cursor {
    base: Prepared,
    token: Option<String>,
    /// Rows fetched so far (page paging computes `page.n` from it).
    fetched: u64,
    page_size: u64,
    remaining: Option<u64>,
    done: bool,
}

struct RpcPager {
    client: Arc<Client>,
    cursor: tokio::sync::Mutex<Cursor>,
}

/// The page size and index that continue page paging exactly after `fetched` rows with at most
/// `want` rows: the largest size <= want that divides `fetched` (so no row is skipped or repeated).
pub fn page_step(fetched: u64, want: u64) -> (u64, u64) {
    if fetched == 0 {
        return (want, 0);
    }
    let size = (1..=want).rev().find(|d| fetched % d == 0).unwrap_or(1);
    (size, fetched / size)
}

impl Pager for RpcPager {
    fn next(self: Arc<Self>) -> BoxFuture<'static, Result<Option<JsonPage>>> {
        Box::pin(async move {
            let mut c = self.cursor.lock().await;
            if c.done {
                return Ok(None);
            }
            let want = c.remaining.map_or(c.page_size, |r| r.min(c.page_size));
            if want == 0 {
                c.done = true;
                return Ok(None);
            }
            let request = if c.base.method.paging == "offset" {
                c.base.page(c.token.as_deref(), None, want)
            } else {
                let (size, n) = page_step(c.fetched, want);
                c.base.page(None, Some(n), size)
            };
            let asked = request.limit();
            // On error the cursor is unchanged: iterating again retries the same page.
            let (page, _) = self.client.fetch(&request, true).await?;
            if page.rows > asked {
                return Err(Error::format(format!("Moz {} answered {} rows for a page of {asked}", c.base.method.method, page.rows)).provider(mozapi::PROVIDER));
            }
            c.fetched += page.rows;
            if let Some(r) = c.remaining.as_mut() {
                *r = r.saturating_sub(page.rows);
            }
            let end = if c.base.method.paging == "offset" {
                c.token = page.next_token.clone();
                c.token.is_none()
            } else {
                page.rows < asked // a short page is the last (page paging has no total) [I]
            };
            if end || page.rows == 0 || c.remaining == Some(0) {
                c.done = true;
            }
            Ok(if page.rows == 0 { None } else { Some(page) })
        })
    }
}

/// A chunk's answers as a Python list by place (result dict, or ItemError), built under the
/// GIL on the blocking pool as the page lands.
fn decode_placed(page: &JsonPage, placed: &[Placed], lists: (&'static str, &'static str)) -> Result<Py<PyList>> {
    let shutting_down = || Error::new(crate::error::Kind::Transport, "the interpreter is shutting down").provider(mozapi::PROVIDER);
    super::gate::attach(|py| -> Result<Py<PyList>> {
        let build = || -> PyResult<Py<PyList>> {
            let item_error = py.import("seowire.exceptions")?.getattr("ItemError")?;
            let result = value(py, page)?;
            let get = |k: &str| result.cast::<PyDict>().ok().and_then(|d| d.get_item(k).ok().flatten()).and_then(|l| l.cast_into::<PyList>().ok());
            let (results, errors) = (get(lists.0), get(lists.1));
            let out = PyList::empty(py);
            for p in placed {
                match p {
                    Placed::Result(j) => out.append(results.as_ref().map(|l| l.get_item(*j)).transpose()?)?,
                    Placed::Error(j) => {
                        let entry = errors.as_ref().map(|l| l.get_item(*j)).transpose()?;
                        out.append(item_error.call_method1("from_entry", (entry, &page.report))?)?
                    }
                    Placed::Missing => out.append(item_error.call_method1("missing", (&page.report,))?)?,
                }
            }
            Ok(out.unbind())
        };
        build().map_err(|e| Error::format(format!("could not decode a Moz {} page: {e}", page.report)).provider(mozapi::PROVIDER))
    })
    .unwrap_or_else(|| Err(shutting_down()))
}

/// Bulk results as Python: one value per input position, in input order; per-item failures
/// in place as `seowire.exceptions.ItemError` values.
struct PyMultiple(Multiple<Py<PyList>>, String);

impl<'py> IntoPyObject<'py> for PyMultiple {
    type Target = PyTuple;
    type Output = Bound<'py, PyTuple>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        let (bulk, method) = (self.0, self.1);
        let _gc = super::GcPause::new(py, bulk.slots.len() * 8);
        let chunks = bulk.slots.iter().map(|u| u / bulk.chunk_size + 1).max().unwrap_or(0);
        // Per unique item: its answer (result dict or ItemError), None if its chunk failed.
        let mut by_unique: Vec<Option<Bound<'py, PyAny>>> = vec![None; chunks * bulk.chunk_size];
        let mut pages = Vec::with_capacity(bulk.pages.len());
        for (c, page, values) in bulk.pages {
            for (i, v) in values.bind(py).iter().enumerate() {
                by_unique[c * bulk.chunk_size + i] = Some(v);
            }
            pages.push(page);
        }
        let out = PyList::empty(py);
        let mut used = vec![false; by_unique.len()];
        for u in &bulk.slots {
            match by_unique.get(*u).and_then(|v| v.as_ref()) {
                None => out.append(py.None())?,
                Some(v) => {
                    if std::mem::replace(&mut used[*u], true) {
                        // A repeated input gets its own copy: editing one row must not change another.
                        out.append(v.cast::<PyDict>().map(|d| d.copy()).map_or_else(|_| Ok(v.clone()), |c| c.map(|c| c.into_any()))?)?;
                    } else {
                        out.append(v)?;
                    }
                }
            }
        }
        let m = merged_meta(py, &pages, mozapi::PROVIDER, &method, bulk.estimate, out.len() - bulk.failed.len())?;
        super::bulk_outcome(py, bulk.error.filter(|_| !bulk.failed.is_empty()), !pages.is_empty(), out.into_any(), bulk.failed, m)
    }
}

/// How a bulk method's answers are laid out as frame rows, one per item: the query as Moz
/// echoed it (its `original_site_query` when Moz rewrote it), the values of the result, and
/// `error` (the ItemError's text) where the item failed.
#[derive(Clone)]
pub struct Layout {
    method: String,
    lists: (&'static str, &'static str),
    /// (column, echo object, field of the query).
    echoes: Vec<(&'static str, &'static str, &'static str)>,
    /// (column, path in a result entry, type).
    values: Vec<(String, String, arrow_schema::DataType)>,
    /// Where a result's values are (`site_metrics.`): members the schema does not name are
    /// kept too (Moz sends `title`), typed by their values.
    prefix: &'static str,
}

impl Layout {
    /// The layout of `method`'s frame, `declared` being its columns (as `seowire.moz` names them).
    pub fn new(method: &str, declared: &crate::frame::Declared) -> Result<Layout> {
        let m = mozapi::resolve(method)?;
        let (lists, echoes, prefix): (_, Vec<(&'static str, &'static str, &'static str)>, &'static str) = match m.method.as_str() {
            "data.site.link.status.fetch.multiple" => (
                ("results_by_query", "errors_by_query"),
                vec![("target", "target_site_query", "query"), ("target_scope", "target_site_query", "scope"), ("source", "source_site_query", "query"), ("source_scope", "source_site_query", "scope")],
                "",
            ),
            _ => (("results_by_site", "errors_by_site"), vec![("query", "site_query", "query"), ("scope", "site_query", "scope")], "site_metrics."),
        };
        let values = declared
            .first
            .iter()
            .filter(|(n, _)| n != "error" && !echoes.iter().any(|e| e.0 == n))
            .map(|(n, t)| (n.clone(), format!("{prefix}{n}"), t.clone()))
            .collect();
        Ok(Layout { method: m.method.clone(), lists, echoes, values, prefix })
    }

    /// The output columns (what an answer with no rows still has).
    pub fn columns(&self) -> Vec<(String, arrow_schema::DataType)> {
        let text = arrow_schema::DataType::Utf8;
        self.echoes.iter().map(|e| (e.0.to_string(), text.clone()))
            .chain(self.values.iter().map(|(n, _, t)| (n.clone(), t.clone())))
            .chain([("error".to_string(), arrow_schema::DataType::Utf8)])
            .collect()
    }

    /// A chunk's answer as rows in the chunk's item order (`placed`), read from the bytes.
    pub fn frame(&self, page: &JsonPage, placed: &[Placed]) -> std::result::Result<arrow_array::RecordBatch, String> {
        use arrow_array::cast::AsArray;
        use arrow_array::Array;
        use arrow_schema::DataType;
        let echo_columns = || {
            self.echoes.iter().flat_map(|(_, obj, field)| {
                [(format!("{obj}.original_site_query.{field}"), DataType::Utf8), (format!("{obj}.{field}"), DataType::Utf8)]
            })
        };
        let results = crate::frame::Declared::columns(echo_columns().chain(self.values.iter().map(|(_, p, t)| (p.clone(), t.clone()))).collect());
        let errors = crate::frame::Declared::columns(echo_columns().chain([("error.name".to_string(), DataType::Utf8), ("error.message".to_string(), DataType::Utf8)]).collect());
        let r = crate::frame::json_rows_at(&page.body, Some(&["result", self.lists.0]), &results, placed.len())?;
        let e = crate::frame::json_rows_at(&page.body, Some(&["result", self.lists.1]), &errors, 0)?;
        // A text column of a batch, looked up once (not per row).
        let strings = |b: &'_ arrow_array::RecordBatch, name: &str| b.column_by_name(name).and_then(|c| c.as_string_opt::<i32>().cloned());
        let text = |c: &Option<arrow_array::StringArray>, i: usize| -> Option<String> {
            c.as_ref().filter(|c| i < c.len() && !c.is_null(i)).map(|c| c.value(i).to_string())
        };
        let mut columns: Vec<(String, arrow_array::ArrayRef)> = Vec::new();
        for (name, obj, field) in &self.echoes {
            let (original, echoed) = (format!("{obj}.original_site_query.{field}"), format!("{obj}.{field}"));
            let (r_original, r_echoed) = (strings(&r, &original), strings(&r, &echoed));
            let (e_original, e_echoed) = (strings(&e, &original), strings(&e, &echoed));
            let mut b = arrow_array::builder::StringBuilder::new();
            for p in placed {
                b.append_option(match p {
                    Placed::Result(j) => text(&r_original, *j).or_else(|| text(&r_echoed, *j)),
                    Placed::Error(j) => text(&e_original, *j).or_else(|| text(&e_echoed, *j)),
                    Placed::Missing => None,
                });
            }
            columns.push((name.to_string(), std::sync::Arc::new(b.finish())));
        }
        let (error_names, error_messages) = (strings(&e, "error.name"), strings(&e, "error.message"));
        let take: arrow_array::UInt64Array = placed.iter().map(|p| if let Placed::Result(j) = p { Some(*j as u64) } else { None }).collect();
        for (name, path, _) in &self.values {
            let col = r.column_by_name(path).ok_or_else(|| format!("no column {path}"))?;
            columns.push((name.clone(), arrow_select::take::take(col, &take, None).map_err(|x| x.to_string())?));
        }
        if !self.prefix.is_empty() {
            let schema = r.schema();
            for (i, f) in schema.fields().iter().enumerate() {
                let Some(name) = f.name().strip_prefix(self.prefix) else { continue };
                if !self.values.iter().any(|v| v.0 == name) {
                    columns.push((name.to_string(), arrow_select::take::take(r.column(i), &take, None).map_err(|x| x.to_string())?));
                }
            }
        }
        let mut b = arrow_array::builder::StringBuilder::new();
        for p in placed {
            match p {
                Placed::Result(_) => b.append_null(),
                Placed::Error(j) => b.append_value(format!(
                    "Moz {}: {}: {}",
                    self.method,
                    text(&error_names, *j).unwrap_or_else(|| "error".into()),
                    text(&error_messages, *j).unwrap_or_else(|| "no message".into())
                )),
                Placed::Missing => b.append_value(format!("Moz {} answered without a result or an error for this item", self.method)),
            }
        }
        columns.push(("error".into(), std::sync::Arc::new(b.finish())));
        crate::frame::batch(columns, placed.len())
    }
}

/// Bulk results as one Arrow table, a row per input in input order.
struct PyMultipleFrame(Multiple<arrow_array::RecordBatch>, String, Layout);

impl<'py> IntoPyObject<'py> for PyMultipleFrame {
    type Target = PyTuple;
    type Output = Bound<'py, PyTuple>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        let (bulk, method, layout) = (self.0, self.1, self.2);
        let chunks = bulk.slots.iter().map(|u| u / bulk.chunk_size + 1).max().unwrap_or(0);
        let mut decoded: Vec<Option<arrow_array::RecordBatch>> = vec![None; chunks];
        let mut pages = Vec::with_capacity(bulk.pages.len());
        for (c, page, batch) in bulk.pages {
            decoded[c] = Some(batch);
            pages.push(page);
        }
        let columns = layout.columns();
        let (slots, chunk) = (bulk.slots, bulk.chunk_size);
        let groups = py
            .detach(|| super::frame::bulk_table(decoded, chunk, &slots, &columns))
            .map_err(|e| to_pyerr(py, Error::format(e).provider(mozapi::PROVIDER)))?;
        let schema = groups[0].schema();
        let table = super::frame::tables(py, groups, schema)?;
        let m = merged_meta(py, &pages, mozapi::PROVIDER, &method, bulk.estimate, slots.len() - bulk.failed.len())?;
        super::bulk_outcome(py, bulk.error.filter(|_| !bulk.failed.is_empty()), !pages.is_empty(), table, bulk.failed, m)
    }
}

/// The decoder of a bulk call: places each answer, ticks progress.
fn bulk_decoder(method: &str, progress: super::Progress) -> PyResult<mozapi::PlaceDecoder<Py<PyList>>> {
    let lists = match mozapi::resolve(method).map(|m| m.method.as_str()) {
        Ok("data.site.link.status.fetch.multiple") => ("results_by_query", "errors_by_query"),
        _ => ("results_by_site", "errors_by_site"),
    };
    Ok(Arc::new(move |page: &JsonPage, placed: &[Placed]| decode_placed(page, placed, lists).inspect(|_| progress.tick(page.rows, page.units))))
}

/// The frame decoder of a bulk call: each chunk's rows read from its bytes as it lands.
fn frame_decoder(method: &str, declared: &crate::frame::Declared, progress: super::Progress) -> Result<(Layout, mozapi::PlaceDecoder<arrow_array::RecordBatch>)> {
    let layout = Layout::new(method, declared)?;
    let l = layout.clone();
    let decode: mozapi::PlaceDecoder<arrow_array::RecordBatch> = Arc::new(move |page: &JsonPage, placed: &[Placed]| {
        l.frame(page, placed)
            .map_err(|e| Error::format(format!("could not read a Moz {} page as a frame: {e}", page.report)).provider(mozapi::PROVIDER))
            .inspect(|_| progress.tick(page.rows, page.units))
    });
    Ok((layout, decode))
}

/// `each` results as Python: the result per input, an ItemError where the item failed, None
/// where it was never sent (then a BulkError carries them). With declared columns: one Arrow
/// table, a row per input read from its answer's bytes (`error` where it failed).
struct PyEach(mozapi::Each, String, Option<Arc<crate::frame::Declared>>);

impl PyEach {
    fn frame<'py>(each: mozapi::Each, method: String, declared: &crate::frame::Declared, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        use super::frame::Part;
        let parts: Vec<Part<'_>> = each
            .answers
            .iter()
            .map(|a| match a {
                Some(Ok(page)) => Part::Page(page),
                Some(Err(e)) => Part::Error(e.message.clone(), 1),
                None => Part::Missing(1),
            })
            .collect();
        let batch = py
            .detach(|| super::frame::answers_table(&parts, declared))
            .map_err(|e| to_pyerr(py, Error::format(format!("could not read a Moz {method} answer as a frame: {e}")).provider(mozapi::PROVIDER)))?;
        let table = super::frame::table(py, batch)?;
        let pages: Vec<JsonPage> = each.answers.iter().filter_map(|a| a.as_ref().and_then(|r| r.as_ref().ok())).map(|p| JsonPage { body: bytes::Bytes::new(), ..p.clone() }).collect();
        let failed: Vec<usize> = each.answers.iter().enumerate().filter(|(_, a)| a.is_none()).map(|(i, _)| i).collect();
        let m = merged_meta(py, &pages, mozapi::PROVIDER, &method, each.estimate, pages.len())?;
        super::bulk_outcome(py, each.error, !pages.is_empty(), table, failed, m)
    }
}

impl<'py> IntoPyObject<'py> for PyEach {
    type Target = PyTuple;
    type Output = Bound<'py, PyTuple>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        if let Some(declared) = self.2 {
            return PyEach::frame(self.0, self.1, &declared, py);
        }
        let (each, method) = (self.0, self.1);
        let item_error = py.import("seowire.exceptions")?.getattr("ItemError")?;
        let out = PyList::empty(py);
        let mut pages = Vec::new();
        let mut failed = Vec::new();
        for (i, answer) in each.answers.into_iter().enumerate() {
            match answer {
                Some(Ok(page)) => {
                    out.append(value(py, &page)?)?;
                    pages.push(JsonPage { body: bytes::Bytes::new(), ..page });
                }
                Some(Err(e)) => out.append(item_error.call_method1("from_error", (&method, e.message, e.status, e.code))?)?,
                None => {
                    failed.push(i);
                    out.append(py.None())?;
                }
            }
        }
        let m = merged_meta(py, &pages, mozapi::PROVIDER, &method, each.estimate, pages.len())?;
        super::bulk_outcome(py, each.error, !pages.is_empty(), out.into_any(), failed, m)
    }
}

/// Progress ticks per answered page.
fn ticker(progress: Option<Bound<'_, PyAny>>) -> Arc<dyn Fn(&JsonPage) + Send + Sync> {
    let progress = super::Progress::new(progress);
    Arc::new(move |p: &JsonPage| progress.tick(p.rows, p.units))
}

#[pymethods]
impl MozApiCore {
    /// The tag the ledger's call log records for this client's calls (None: the Airflow
    /// DAG/task the call runs in, else none).
    #[pyo3(signature = (tag=None))]
    fn set_tag(&self, tag: Option<String>) {
        self.client.set_tag(tag)
    }

    /// `method` once per item (the item as its `subject` field), at the plan's concurrency.
    #[pyo3(signature = (method, subject, items, extra=None, strict=true, progress=None, frame=None))]
    #[allow(clippy::too_many_arguments)]
    fn each(
        &self,
        py: Python<'_>,
        method: &str,
        subject: &str,
        items: &Bound<'_, PyAny>,
        extra: Option<&Bound<'_, PyDict>>,
        strict: bool,
        progress: Option<Bound<'_, PyAny>>,
        frame: FrameArg,
    ) -> PyResult<Py<PyAny>> {
        let frame = frame_arg(frame);
        let (items, extra, cache) = self.bulk_args(py, items, extra)?;
        let client = self.client.clone();
        let (method, subject, concurrency) = (method.to_string(), subject.to_string(), self.concurrency);
        let on_page = ticker(progress);
        let name = mozapi::resolve(&method).map(|m| m.method.clone()).map_err(|e| to_pyerr(py, e))?;
        let each = block_on(py, async move { client.each(&method, &subject, items, extra, concurrency, strict, cache, on_page).await })?;
        Ok(PyEach(each, name, frame).into_pyobject(py)?.into_any().unbind())
    }

    #[pyo3(signature = (method, subject, items, extra=None, strict=true, progress=None, frame=None))]
    #[allow(clippy::too_many_arguments)]
    fn each_async<'py>(
        &self,
        py: Python<'py>,
        method: &str,
        subject: &str,
        items: &Bound<'_, PyAny>,
        extra: Option<&Bound<'_, PyDict>>,
        strict: bool,
        progress: Option<Bound<'_, PyAny>>,
        frame: FrameArg,
    ) -> PyResult<Bound<'py, PyAny>> {
        let frame = frame_arg(frame);
        let (items, extra, cache) = self.bulk_args(py, items, extra)?;
        let client = self.client.clone();
        let (method, subject, concurrency) = (method.to_string(), subject.to_string(), self.concurrency);
        let on_page = ticker(progress);
        let name = mozapi::resolve(&method).map(|m| m.method.clone()).map_err(|e| to_pyerr(py, e))?;
        future(py, async move { client.each(&method, &subject, items, extra, concurrency, strict, cache, on_page).await.map(|e| PyEach(e, name, frame)) })
    }

    #[new]
    #[pyo3(signature = (links, *, token, api_url, budgets, retry, timeout, cache_ttl, scope, locale, device, engine, breaker))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        links: PyRef<'_, super::moz::MozCore>,
        token: Option<String>,
        api_url: Option<String>,
        budgets: BTreeMap<String, (u64, String, Vec<f64>)>,
        retry: Option<PyRef<'_, super::retry::RetryPolicy>>,
        timeout: f64,
        cache_ttl: Option<f64>,
        scope: String,
        locale: String,
        device: String,
        engine: String,
        breaker: u32,
    ) -> PyResult<Self> {
        let err = |e| to_pyerr(py, e);
        let mut pools = BTreeMap::new();
        for (pool, spec) in budgets {
            if !mozapi::POOLS.contains(&pool.as_str()) {
                return Err(err(super::invalid(format!("unknown Moz quota pool {pool:?}: one of {}", mozapi::POOLS.join(", "))).provider(mozapi::PROVIDER)));
            }
            if let Some(b) = super::ledger::budget(Some(spec)).map_err(err)? {
                pools.insert(pool, b);
            }
        }
        let v2 = links.client();
        let client = Client::new(mozapi::Settings {
            token,
            api_url,
            ledger: v2.engine.ledger.clone(),
            budgets: pools,
            retry: retry.map(|r| r.inner.clone()).unwrap_or_else(|| v2.engine.retry.clone()),
            timeout: super::timeout(timeout).map_err(err)?,
            limits: v2.engine.limits.clone(),
            account: v2.engine.account.clone(),
            cache_ttl: super::page::cache_ttl(cache_ttl).map_err(err)?,
            defaults: Defaults { scope, locale, device, engine },
            breaker_threshold: breaker,
        })
        .map_err(err)?;
        // Validate the defaults once, now, rather than on the first call.
        for (what, m, d) in [("scope", "data.site.metrics.fetch", serde_json::json!({"site_query": "example.com"})), ("locale", "data.keyword.metrics.fetch", serde_json::json!({"serp_query": "seo"}))] {
            let data = d.as_object().cloned().unwrap_or_default();
            client.prepare(m, data, true).map_err(|e| err(super::invalid(format!("the client's default {what} is not valid: {}", e.message)).provider(mozapi::PROVIDER)))?;
        }
        Ok(MozApiCore { client: Arc::new(client), concurrency: v2.concurrency })
    }

    #[getter]
    fn api_url(&self) -> String {
        self.client.api_url.clone()
    }

    /// The ledger account of each quota pool.
    fn accounts(&self) -> BTreeMap<String, String> {
        self.client.engines().map(|(p, e)| (p.to_string(), e.account.clone())).collect()
    }

    /// The method's dotted name, pool and paging kind.
    fn describe(&self, py: Python<'_>, method: &str) -> PyResult<(String, String, String, Option<String>)> {
        let m = mozapi::resolve(method).map_err(|e| to_pyerr(py, e))?;
        Ok((m.method.clone(), mozapi::pool_of(m).to_string(), m.paging.clone(), m.rows.clone()))
    }

    #[pyo3(signature = (method, data=None, strict=true))]
    fn estimate(&self, py: Python<'_>, method: &str, data: Option<&Bound<'_, PyDict>>, strict: bool) -> PyResult<u64> {
        self.prepare(method, data, strict).map(|p| p.estimate).map_err(|e| to_pyerr(py, e))
    }

    /// One call: `(result or rows, meta)`.
    /// With `frame=(names, types)` the rows are an Arrow table read from the answer's bytes.
    #[pyo3(signature = (method, data=None, rows=false, strict=true, frame=None))]
    fn call(&self, py: Python<'_>, method: &str, data: Option<&Bound<'_, PyDict>>, rows: bool, strict: bool, frame: FrameArg) -> PyResult<Py<PyAny>> {
        let p = self.prepare(method, data, strict).map_err(|e| to_pyerr(py, e))?;
        let client = self.client.clone();
        let page = block_on(py, async move { client.fetch(&p, rows).await.map(|(page, _)| page) })?;
        Ok(PyJsonPage(page, frame_arg(frame)).into_pyobject(py)?.into_any().unbind())
    }

    #[pyo3(signature = (method, data=None, rows=false, strict=true, frame=None))]
    fn call_async<'py>(&self, py: Python<'py>, method: &str, data: Option<&Bound<'_, PyDict>>, rows: bool, strict: bool, frame: FrameArg) -> PyResult<Bound<'py, PyAny>> {
        let p = self.prepare(method, data, strict).map_err(|e| to_pyerr(py, e))?;
        let (client, frame) = (self.client.clone(), frame_arg(frame));
        future(py, async move { client.fetch(&p, rows).await.map(|(page, _)| PyJsonPage(page, frame)) })
    }

    /// Pages of an `offset.token` or `page.n` method, each row once, stopping after `max_rows`.
    #[pyo3(signature = (method, data, page_size, max_rows, strict=true, frame=None))]
    #[allow(clippy::too_many_arguments)]
    fn pages(&self, py: Python<'_>, method: &str, data: Option<&Bound<'_, PyDict>>, page_size: Option<u64>, max_rows: Option<u64>, strict: bool, frame: FrameArg) -> PyResult<JsonPages> {
        let err = |e| to_pyerr(py, e);
        let p = self.prepare(method, data, strict).map_err(err)?;
        let m = p.method;
        let Some(limit) = m.limit.as_ref().filter(|_| m.paging != "none") else {
            return Err(err(super::invalid(format!("Moz {} is not paged; call it directly", m.method)).provider(mozapi::PROVIDER)));
        };
        let [lo, hi] = limit.bounds;
        let page_size = page_size.unwrap_or(if m.paging == "offset" { hi } else { limit.default.clamp(lo, hi) });
        if !(lo..=hi).contains(&page_size) {
            return Err(err(super::invalid(format!("page_size of {} must be in {lo}..={hi}, not {page_size}", m.method)).provider(mozapi::PROVIDER)));
        }
        let (token, fetched) = match m.paging.as_str() {
            "offset" => (p.data.get("offset").and_then(|o| o.get("token")).and_then(|t| t.as_str()).map(str::to_string), 0),
            _ => {
                let page = p.data.get("page");
                let n = page.and_then(|o| o.get("n")).and_then(|n| n.as_u64()).unwrap_or(0);
                let size = page.and_then(|o| o.get("limit")).and_then(|n| n.as_u64()).unwrap_or(page_size);
                (None, n.saturating_mul(size))
            }
        };
        let cursor = Cursor { base: p, token, fetched, page_size, remaining: max_rows, done: false };
        Ok(JsonPages { pager: Arc::new(RpcPager { client: self.client.clone(), cursor: tokio::sync::Mutex::new(cursor) }), frame: frame_arg(frame) })
    }

    /// A `*.multiple` method for any number of items, in input order: dicts (ItemErrors in
    /// place), or with `frame=(names, types)` one Arrow table read from the answers' bytes.
    #[pyo3(signature = (method, items, extra=None, chunk_size=50, strict=true, progress=None, frame=None))]
    #[allow(clippy::too_many_arguments)]
    fn multiple(
        &self,
        py: Python<'_>,
        method: &str,
        items: &Bound<'_, PyAny>,
        extra: Option<&Bound<'_, PyDict>>,
        chunk_size: usize,
        strict: bool,
        progress: Option<Bound<'_, PyAny>>,
        frame: FrameArg,
    ) -> PyResult<Py<PyAny>> {
        let (items, extra, cache) = self.bulk_args(py, items, extra)?;
        let client = self.client.clone();
        let (method, concurrency) = (method.to_string(), self.concurrency);
        let name = mozapi::resolve(&method).map(|m| m.method.clone()).map_err(|e| to_pyerr(py, e))?;
        if let Some(declared) = frame_arg(frame) {
            let (layout, decode) = frame_decoder(&method, &declared, super::Progress::new(progress)).map_err(|e| to_pyerr(py, e))?;
            let bulk = block_on(py, async move { client.multiple(&method, items, extra, chunk_size, concurrency, strict, cache, decode).await })?;
            return Ok(PyMultipleFrame(bulk, name, layout).into_pyobject(py)?.into_any().unbind());
        }
        let decode = bulk_decoder(&method, super::Progress::new(progress))?;
        // Pages are decoded while the rest are in flight; keep the cyclic GC out of that stretch.
        let _gc = super::GcPause::new(py, items.len() * 8);
        let bulk = block_on(py, async move { client.multiple(&method, items, extra, chunk_size, concurrency, strict, cache, decode).await })?;
        Ok(PyMultiple(bulk, name).into_pyobject(py)?.into_any().unbind())
    }

    #[pyo3(signature = (method, items, extra=None, chunk_size=50, strict=true, progress=None, frame=None))]
    #[allow(clippy::too_many_arguments)]
    fn multiple_async<'py>(
        &self,
        py: Python<'py>,
        method: &str,
        items: &Bound<'_, PyAny>,
        extra: Option<&Bound<'_, PyDict>>,
        chunk_size: usize,
        strict: bool,
        progress: Option<Bound<'_, PyAny>>,
        frame: FrameArg,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (items, extra, cache) = self.bulk_args(py, items, extra)?;
        let client = self.client.clone();
        let (method, concurrency) = (method.to_string(), self.concurrency);
        let name = mozapi::resolve(&method).map(|m| m.method.clone()).map_err(|e| to_pyerr(py, e))?;
        if let Some(declared) = frame_arg(frame) {
            let (layout, decode) = frame_decoder(&method, &declared, super::Progress::new(progress)).map_err(|e| to_pyerr(py, e))?;
            return future(py, async move {
                client.multiple(&method, items, extra, chunk_size, concurrency, strict, cache, decode).await.map(|b| PyMultipleFrame(b, name, layout))
            });
        }
        let decode = bulk_decoder(&method, super::Progress::new(progress))?;
        future(py, async move { client.multiple(&method, items, extra, chunk_size, concurrency, strict, cache, decode).await.map(|b| PyMultiple(b, name)) })
    }

    /// A `*.multiple` method as a stream of batches (see `py::bulk`): items pulled from any
    /// iterable a chunk at a time, each checked (and expanded) as it is read, chunks at the
    /// plan's concurrency in input order, answers placed by their echoes.
    #[pyo3(signature = (method, items, extra=None, chunk_size=50, strict=true, batch_rows=10_000, progress=None, frame=None))]
    #[allow(clippy::too_many_arguments)]
    fn multiple_stream(
        &self,
        py: Python<'_>,
        method: &str,
        items: &Bound<'_, PyAny>,
        extra: Option<&Bound<'_, PyDict>>,
        chunk_size: usize,
        strict: bool,
        batch_rows: usize,
        progress: Option<Bound<'_, PyAny>>,
        frame: FrameArg,
    ) -> PyResult<super::bulk::BulkStream> {
        let err = |e: Error| to_pyerr(py, e.provider(mozapi::PROVIDER));
        let (shared, cache, _) = data_of(extra).map_err(err)?;
        let name = mozapi::resolve(method).map(|m| m.method.clone()).map_err(err)?;
        let (key, lists, _) = mozapi::multiple_shape(&name).map_err(err)?;
        let layout = match frame_arg(frame) {
            Some(declared) => Some(Layout::new(&name, &declared).map_err(err)?),
            None => None,
        };
        // One item alone, as the request would carry it: checked and expanded (strings become
        // query objects), or refused naming its input position.
        let (client, s, n) = (self.client.clone(), shared.clone(), name.clone());
        let item: super::bulk::Item = Arc::new(move |v, i| {
            let mut data = s.clone();
            data.insert(key.into(), serde_json::Value::Array(vec![super::page::to_json("item", v)?]));
            let p = client.prepare(&n, data, strict).map_err(|mut e| {
                e.message = format!("item {i}: {}", e.message);
                e
            })?;
            p.data.get(key).and_then(|l| l.get(0)).cloned().ok_or_else(|| super::invalid(format!("item {i} is empty")))
        });
        let (client, n) = (self.client.clone(), name.clone());
        let fetch: super::bulk::Fetch = Arc::new(move |items| {
            let (client, n) = (client.clone(), n.clone());
            let mut data = shared.clone();
            data.insert(key.into(), serde_json::Value::Array(items));
            Box::pin(async move {
                let mut p = client.prepare(&n, data, strict)?;
                p.cache = cache;
                client.fetch(&p, false).await.map(|(page, _)| page)
            })
        });
        let n = name.clone();
        let l = layout.clone();
        let arrange: super::bulk::Arrange = Arc::new(move |page, items, as_frame| {
            let placed = mozapi::place_items(&n, &page.body, items)?;
            match (&l, as_frame) {
                (Some(l), true) => l
                    .frame(page, &placed)
                    .map(super::bulk::Arranged::Frame)
                    .map_err(|e| Error::format(format!("could not read a Moz {n} page as a frame: {e}")).provider(mozapi::PROVIDER)),
                _ => decode_placed(page, &placed, lists).map(super::bulk::Arranged::Dicts),
            }
        });
        let spec = super::bulk::Spec {
            provider: mozapi::PROVIDER,
            report: name,
            chunk: chunk_size,
            concurrency: self.concurrency,
            batch_rows,
            fetch,
            item,
            frame: layout.map(|l| l.columns()),
            progress: super::Progress::new(progress),
            arrange: Some(arrange),
        };
        super::bulk::start(py, items, spec)
    }

    fn __repr__(&self) -> String {
        format!("MozApiCore(api_url={:?})", self.client.api_url)
    }
}

impl MozApiCore {
    fn prepare(&self, method: &str, data: Option<&Bound<'_, PyDict>>, strict: bool) -> Result<Prepared> {
        let (data, cache, per_call) = data_of(data)?;
        let mut p = super::guard(mozapi::PROVIDER, method, || self.client.prepare(method, data, per_call.unwrap_or(strict)))?;
        p.cache = cache;
        Ok(p)
    }

    fn bulk_args(&self, py: Python<'_>, items: &Bound<'_, PyAny>, extra: Option<&Bound<'_, PyDict>>) -> PyResult<(Vec<serde_json::Value>, serde_json::Map<String, serde_json::Value>, bool)> {
        let err = |e: Error| to_pyerr(py, e.provider(mozapi::PROVIDER));
        if items.is_instance_of::<pyo3::types::PyString>() {
            return Err(err(super::invalid("the bulk methods take an iterable of items; wrap a single one in a list")));
        }
        let list = match super::page::to_json("items", items).map_err(err)? {
            serde_json::Value::Array(a) => a,
            _ => return Err(err(super::invalid("the bulk methods take an iterable of items"))),
        };
        let (extra, cache, _) = data_of(extra).map_err(err)?;
        Ok((list, extra, cache))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn page_steps_never_skip_or_repeat_a_row() {
        for fetched in [0u64, 25, 50, 100, 125, 7] {
            for want in 1..=60u64 {
                let (size, n) = super::page_step(fetched, want);
                assert!(size >= 1 && size <= want);
                assert_eq!(n * size, fetched, "fetched {fetched} want {want}");
            }
        }
    }
}
