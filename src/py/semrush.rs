use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use pyo3::exceptions::{PyStopAsyncIteration, PyStopIteration};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

use super::values::ValueCache;
use super::{block_on, future, to_pyerr, GcPause};
use crate::error::{Error, Result};
use crate::limits::Rate;
use crate::providers::csv::Records;
use crate::providers::semrush::{self as sr, column, Cell, Client, Column, Page, Param, Prepared};

/// Python keyword arguments -> report parameters. `None` values are dropped.
pub fn params(kwargs: Option<&Bound<'_, PyDict>>) -> Result<Vec<(String, Param)>> {
    let mut out = Vec::new();
    let Some(kwargs) = kwargs else { return Ok(out) };
    for (k, v) in kwargs.iter() {
        let name: String = k.extract().map_err(|_| super::invalid("parameter names must be strings"))?;
        if v.is_none() {
            continue;
        }
        out.push((name.clone(), param(&name, &v)?));
    }
    Ok(out)
}

fn scalar(name: &str, v: &Bound<'_, PyAny>) -> Result<Param> {
    if v.is_instance_of::<PyBool>() {
        Ok(Param::Bool(v.extract().unwrap_or(false)))
    } else if v.is_instance_of::<PyInt>() {
        v.extract::<i64>().map(Param::Int).map_err(|_| super::invalid(format!("{name} is out of range")))
    } else if v.is_instance_of::<PyFloat>() {
        Ok(Param::Float(v.extract().unwrap_or(f64::NAN)))
    } else if let Ok(s) = v.cast::<PyString>() {
        Ok(Param::Str(s.to_string()))
    } else {
        let ty = v.get_type().name().map(|n| n.to_string()).unwrap_or_default();
        Err(super::invalid(format!("{name} must be a str, int, float, bool or a list of them, not {ty}")))
    }
}

fn param(name: &str, v: &Bound<'_, PyAny>) -> Result<Param> {
    if v.is_instance_of::<PyString>() || v.is_instance_of::<PyInt>() || v.is_instance_of::<PyFloat>() {
        return scalar(name, v);
    }
    // Bytes iterate as integers and a dict as its keys: neither is what the caller meant.
    if v.is_instance_of::<PyBytes>() || v.is_instance_of::<PyByteArray>() || v.is_instance_of::<PyDict>() {
        let ty = v.get_type().name().map(|n| n.to_string()).unwrap_or_default();
        return Err(super::invalid(format!("{name} must be a str, int, float, bool or a list of them, not {ty}")));
    }
    if let Ok(iter) = v.try_iter() {
        let mut items = Vec::new();
        for item in iter {
            let item = item.map_err(|_| super::invalid(format!("{name}: could not iterate")))?;
            items.push(scalar(name, &item)?.render(","));
        }
        return Ok(Param::List(items));
    }
    scalar(name, v)
}

fn py_cell<'py>(py: Python<'py>, values: &mut ValueCache<'py>, cell: &Cell<'_>) -> PyResult<Bound<'py, PyAny>> {
    Ok(match cell {
        Cell::Null => py.None().into_bound(py),
        Cell::Int(i) => i.into_pyobject(py)?.into_any(),
        Cell::Float(f) => values.float(*f),
        Cell::Text(t) => values.string(t),
        Cell::Floats(v) => PyList::new(py, v.iter().map(|f| values.float(*f)))?.into_any(),
    })
}

/// Decode a SEMrush CSV body into a list of dicts keyed by stable names: cells are parsed to
/// typed values in Rust (for large bodies, on another core while earlier rows are built), then
/// turned into Python objects.
pub fn rows<'py>(py: Python<'py>, body: &[u8], columns: Option<&[Column]>) -> PyResult<Bound<'py, PyList>> {
    let out = PyList::empty(py);
    if sr::parse_error_body(body).is_some() {
        return Ok(out);
    }
    let fail = |m: String| to_pyerr(py, Error::format(m).provider(sr::PROVIDER));
    let mut records = Records::new(body, b';');
    let mut header: Vec<Cow<'_, str>> = Vec::new();
    if !records.next_into(&mut header).map_err(fail)? {
        return Ok(out);
    }
    let columns = sr::header_columns(&header, columns).map_err(fail)?;
    let data = &body[records.position()..];
    let keys: Vec<Bound<'py, PyString>> = columns.iter().map(|c| PyString::intern(py, &c.name)).collect();
    let _gc = GcPause::new(py, body.len() / 64);
    // Every row has the same keys: start each from a copy of a keys-only template (one
    // allocation of the right size) instead of growing a fresh dict key by key.
    let template = PyDict::new(py);
    for key in &keys {
        template.set_item(key, py.None())?;
    }
    let width = keys.len().max(1);
    let mut values = ValueCache::for_values(py, data.len() / 8);
    let mut dicts = Vec::new();
    let mut build = |cells: &[Cell<'_>]| -> PyResult<()> {
        for row in cells.chunks(width) {
            let d = template.copy()?;
            for (key, cell) in keys.iter().zip(row) {
                d.set_item(key, py_cell(py, &mut values, cell)?)?;
            }
            dicts.push(d);
        }
        Ok(())
    };
    let mut failed: Option<PyErr> = None;
    let parsed = sr::parse_cells(data, &columns, |cells| match build(&cells) {
        Ok(()) => true,
        Err(e) => {
            failed = Some(e);
            false
        }
    });
    if let Some(e) = failed {
        return Err(e);
    }
    parsed.map_err(fail)?;
    // One list of the final size, items moved in (no growth, no reference count per append).
    PyList::new(py, dicts)
}

/// A page as Python: `(rows, meta)`, rows as dicts or (with the flag) as an Arrow table.
pub struct PyPage(pub Page, pub bool);

impl<'py> IntoPyObject<'py> for PyPage {
    type Target = PyTuple;
    type Output = Bound<'py, PyTuple>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        let report = self.0.report;
        super::decoding(py, sr::PROVIDER, &report, move || self.build(py))
    }
}

impl PyPage {
    fn build<'py>(self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let p = self.0;
        let columns = p.columns.as_deref().map(|c| c.as_slice());
        let list = if self.1 {
            // Pure Rust from here to the table: let other Python threads run meanwhile.
            let batch = py.detach(|| crate::frame::semrush_batch(&p.body, columns));
            super::frame::table(py, batch.map_err(|m| to_pyerr(py, Error::format(m).provider(sr::PROVIDER)))?)?
        } else {
            rows(py, &p.body, columns)?.into_any()
        };
        let meta = PyDict::new(py);
        meta.set_item("provider", sr::PROVIDER)?;
        meta.set_item("report", p.report)?;
        meta.set_item("units", p.units)?;
        meta.set_item("estimate", p.estimate)?;
        meta.set_item("lines", p.lines)?;
        meta.set_item("requested", p.requested)?;
        meta.set_item("offset", p.offset)?;
        meta.set_item("partial", p.partial)?;
        meta.set_item("missing", p.missing)?;
        meta.set_item("cached", p.cached)?;
        meta.set_item("spent", p.spent)?;
        meta.set_item("budget", p.budget)?;
        meta.set_item("alerts", p.alerts)?;
        PyTuple::new(py, [list, meta.into_any()])
    }
}

/// `seowire.semrush.parse_csv`: decode a saved SEMrush export (or a raw reply body) to dicts,
/// or (`frame=True`) to an Arrow table.
#[pyfunction]
#[pyo3(signature = (data, columns=None, *, frame=false))]
pub fn parse_semrush_csv<'py>(py: Python<'py>, data: &[u8], columns: Option<Vec<String>>, frame: bool) -> PyResult<Bound<'py, PyAny>> {
    let cols: Option<Vec<Column>> = columns.map(|c| c.iter().map(|code| column(code)).collect());
    if frame {
        let batch = py.detach(|| crate::frame::semrush_batch(data, cols.as_deref()));
        return super::frame::table(py, batch.map_err(|m| to_pyerr(py, Error::format(m).provider(sr::PROVIDER)))?);
    }
    Ok(rows(py, data, cols.as_deref())?.into_any())
}

#[pyclass(frozen, module = "seowire._seowire")]
pub struct SemrushCore {
    client: Arc<Client>,
}

impl SemrushCore {
    pub fn client(&self) -> &Arc<Client> {
        &self.client
    }
}

/// N requests per second as "count per window": integral rates keep a 1 s window.
pub fn rate_of(rate_per_second: Option<f64>) -> crate::error::Result<Option<Rate>> {
    match rate_per_second {
        None => Ok(None),
        Some(r) if r.is_finite() && r > 0.0 => {
            let count = r.ceil().max(1.0);
            Ok(Some(Rate { count: count as u32, per: Duration::from_secs_f64(count / r) }))
        }
        Some(r) => Err(super::invalid(format!("rate_per_second must be positive, not {r}"))),
    }
}

/// A ledger account name given by the user (`account=`): short, printable, no separators.
pub fn account_name(name: &str) -> crate::error::Result<String> {
    let ok = !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if ok {
        Ok(name.to_string())
    } else {
        Err(super::invalid(format!("account must be 1..=64 letters, digits, '-', '_' or '.', not {name:?}")).provider(sr::PROVIDER))
    }
}

#[pymethods]
impl SemrushCore {
    /// The tag the ledger's call log records for this client's calls (None: the Airflow
    /// DAG/task the call runs in, else none).
    #[pyo3(signature = (tag=None))]
    fn set_tag(&self, tag: Option<String>) {
        self.client.engine.set_tag(tag)
    }

    #[new]
    #[pyo3(signature = (api_key, *, base_url, ledger, budget, retry, timeout, rate_per_second, max_in_flight, check_partial=true, cache_ttl=None, account=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        api_key: String,
        base_url: Option<String>,
        ledger: PyRef<'_, super::ledger::Ledger>,
        budget: Option<(u64, String, Vec<f64>)>,
        retry: Option<PyRef<'_, super::retry::RetryPolicy>>,
        timeout: f64,
        rate_per_second: Option<f64>,
        max_in_flight: Option<usize>,
        check_partial: bool,
        cache_ttl: Option<f64>,
        account: Option<String>,
    ) -> PyResult<Self> {
        let err = |e| to_pyerr(py, e);
        let timeout = super::timeout(timeout).map_err(|e| to_pyerr(py, e))?;
        let rate = rate_of(rate_per_second).map_err(err)?;
        let mut client = Client::new(sr::Settings {
            key: api_key,
            base_url,
            ledger: ledger.inner.clone(),
            budget: super::ledger::budget(budget).map_err(err)?,
            retry: retry.map(|r| r.inner.clone()).unwrap_or_default(),
            timeout,
            rate,
            concurrency: max_in_flight,
            cache_ttl: super::page::cache_ttl(cache_ttl).map_err(err)?,
            account: account.map(|a| account_name(&a)).transpose().map_err(err)?,
        })
        .map_err(err)?;
        client.check_partial = check_partial;
        Ok(SemrushCore { client: Arc::new(client) })
    }

    #[getter]
    fn account(&self) -> String {
        self.client.engine.account.clone()
    }

    #[getter]
    fn base_url(&self) -> String {
        self.client.endpoints.analytics.trim_end_matches('/').to_string()
    }

    #[getter]
    fn ledger(&self) -> super::ledger::Ledger {
        super::ledger::Ledger { inner: self.client.engine.ledger.clone() }
    }

    /// Worst-case units of a call, computed offline.
    #[pyo3(signature = (report, **kwargs))]
    fn estimate(&self, py: Python<'_>, report: &str, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<u64> {
        prepare(report, kwargs).map(|p| p.estimate).map_err(|e| to_pyerr(py, e))
    }

    /// The URL a call would use, key shown as `***`.
    #[pyo3(signature = (report, **kwargs))]
    fn url(&self, py: Python<'_>, report: &str, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<String> {
        prepare(report, kwargs).map(|p| self.client.shown_url(&p)).map_err(|e| to_pyerr(py, e))
    }

    #[pyo3(signature = (report, *, frame=false, **kwargs))]
    fn report(&self, py: Python<'_>, report: &str, frame: bool, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Py<PyAny>> {
        let p = prepare(report, kwargs).map_err(|e| to_pyerr(py, e))?;
        let client = self.client.clone();
        let page = block_on(py, async move { client.fetch(&p).await })?;
        Ok(PyPage(page, frame).into_pyobject(py)?.into_any().unbind())
    }

    #[pyo3(signature = (report, *, frame=false, **kwargs))]
    fn report_async<'py>(&self, py: Python<'py>, report: &str, frame: bool, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Bound<'py, PyAny>> {
        let p = prepare(report, kwargs).map_err(|e| to_pyerr(py, e))?;
        let client = self.client.clone();
        future(py, async move { client.fetch(&p).await.map(|page| PyPage(page, frame)) })
    }

    fn balance(&self, py: Python<'_>) -> PyResult<u64> {
        let client = self.client.clone();
        block_on(py, async move { client.balance().await })
    }

    fn balance_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client.clone();
        future(py, async move { client.balance().await })
    }

    /// Pages of a report (`display_offset` paging), each row exactly once.
    #[pyo3(signature = (report, page_size, max_rows, *, frame=false, **kwargs))]
    #[allow(clippy::too_many_arguments)]
    fn pages(
        &self,
        py: Python<'_>,
        report: &str,
        page_size: u64,
        max_rows: Option<u64>,
        frame: bool,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<PageStream> {
        let err = |e| to_pyerr(py, e);
        if page_size == 0 {
            return Err(err(super::invalid("page_size must be at least 1")));
        }
        let mut list = params(kwargs).map_err(err)?;
        if list.iter().any(|(k, _)| k == "display_limit") {
            return Err(err(super::invalid("pages() sets display_limit itself: use page_size= and max_rows=")));
        }
        let start = list
            .iter()
            .position(|(k, _)| k == "display_offset")
            .map(|i| list.remove(i).1)
            .map(|v| match v {
                Param::Int(i) if i >= 0 => Ok(i as u64),
                other => Err(super::invalid(format!("display_offset must be a non-negative integer, not {other}"))),
            })
            .transpose()
            .map_err(err)?
            .unwrap_or(0);
        let cache = take_cache(&mut list).map_err(err)?;
        let mut base = super::guard(sr::PROVIDER, report, || sr::prepare(report, list)).map_err(err)?;
        base.cache = cache;
        Ok(PageStream {
            client: self.client.clone(),
            cursor: Arc::new(tokio::sync::Mutex::new(Cursor { base, offset: start, page_size, remaining: max_rows, done: false, frame })),
        })
    }
}

fn prepare(report: &str, kwargs: Option<&Bound<'_, PyDict>>) -> Result<Prepared> {
    let mut list = params(kwargs)?;
    let cache = take_cache(&mut list)?;
    let mut p = super::guard(sr::PROVIDER, report, || sr::prepare(report, list))?;
    p.cache = cache;
    Ok(p)
}

/// The per-call `cache=False` switch (default: use the client's cache).
fn take_cache(list: &mut Vec<(String, Param)>) -> Result<bool> {
    match list.iter().position(|(k, _)| k == "cache").map(|i| list.remove(i).1) {
        None => Ok(true),
        Some(Param::Bool(b)) => Ok(b),
        Some(other) => Err(super::invalid(format!("cache must be True or False, not {other}"))),
    }
}

struct Cursor {
    base: Prepared,
    offset: u64,
    page_size: u64,
    remaining: Option<u64>,
    done: bool,
    frame: bool,
}

async fn next_page(client: Arc<Client>, cursor: Arc<tokio::sync::Mutex<Cursor>>) -> Result<Option<PyPage>> {
    let mut c = cursor.lock().await;
    if c.done {
        return Ok(None);
    }
    if !c.base.report.pageable() {
        let page = client.fetch(&c.base).await?;
        c.done = true;
        return Ok(Some(PyPage(page, c.frame)));
    }
    let rows = c.remaining.map_or(c.page_size, |r| r.min(c.page_size));
    if rows == 0 {
        c.done = true;
        return Ok(None);
    }
    let request = c.base.page(c.offset, rows);
    // On error the cursor is unchanged, so iterating again retries the same page.
    let page = client.fetch(&request).await?;
    c.offset += page.lines;
    if let Some(r) = c.remaining.as_mut() {
        *r = r.saturating_sub(page.lines);
    }
    if page.lines < rows || page.partial || c.remaining == Some(0) {
        c.done = true;
    }
    if page.lines == 0 {
        return Ok(None);
    }
    Ok(Some(PyPage(page, c.frame)))
}

/// Iterates report pages with `for` (blocking) or `async for`; yields `(rows, meta)`.
#[pyclass(frozen, module = "seowire._seowire")]
pub struct PageStream {
    client: Arc<Client>,
    cursor: Arc<tokio::sync::Mutex<Cursor>>,
}

struct AsyncNext(Option<PyPage>);

impl<'py> IntoPyObject<'py> for AsyncNext {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        match self.0 {
            Some(p) => Ok(p.into_pyobject(py)?.into_any()),
            None => Err(PyStopAsyncIteration::new_err(())),
        }
    }
}

#[pymethods]
impl PageStream {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let (client, cursor) = (self.client.clone(), self.cursor.clone());
        match block_on(py, next_page(client, cursor))? {
            Some(p) => Ok(p.into_pyobject(py)?.into_any().unbind()),
            None => Err(PyStopIteration::new_err(())),
        }
    }

    fn __aiter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let (client, cursor) = (self.client.clone(), self.cursor.clone());
        future(py, async move { next_page(client, cursor).await.map(AsyncNext) })
    }
}
