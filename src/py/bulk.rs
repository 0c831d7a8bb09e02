//! Streaming bulk calls (`stream=True`): inputs are pulled from the caller's iterable a chunk at
//! a time, chunks are sent at the plan's concurrency and answered in input order (a window of
//! `concurrency` requests, never the whole input), and rows are handed out in batches of
//! `batch_rows` as dicts or Arrow record batches. Memory holds the window and one batch, so a
//! million inputs cost what a few thousand do.
//!
//! Chunking is deterministic (the same inputs give the same requests), and every answered chunk
//! is in the response cache before its rows are handed on, so a job that is interrupted and run
//! again pays only for the chunks it had not finished. When a chunk fails, no new chunk is
//! sent, the ones in flight finish (they are charged, committed and cached), and the failure is
//! raised after the rows before it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;
use arrow_schema::DataType;
use futures::future::BoxFuture;
use futures::StreamExt;
use pyo3::exceptions::{PyStopAsyncIteration, PyStopIteration};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use serde_json::Value;

use super::{block_on, future, gate, to_pyerr, Progress};
use crate::error::{Error, Result};
use crate::providers::JsonPage;
use crate::runtime::runtime;

/// One request for a chunk of (distinct) items.
pub type Fetch = Arc<dyn Fn(Vec<Value>) -> BoxFuture<'static, Result<JsonPage>> + Send + Sync>;
/// An input item as the request's item, checked (`index`: its input position, for messages).
pub type Item = Arc<dyn Fn(&Bound<'_, PyAny>, usize) -> Result<Value> + Send + Sync>;
/// A chunk's answer as its rows in the order of the chunk's distinct items (as a frame with
/// `true`), for answers that do not hold one row per item in that order (Moz's `*.multiple`
/// answer out of order, failed items apart). Runs on the blocking pool.
pub type Arrange = Arc<dyn Fn(&JsonPage, &[Value], bool) -> Result<Arranged> + Send + Sync>;

pub enum Arranged {
    Frame(RecordBatch),
    Dicts(Py<PyList>),
}

pub struct Spec {
    pub provider: &'static str,
    pub report: String,
    /// Items per request.
    pub chunk: usize,
    pub concurrency: usize,
    pub batch_rows: usize,
    pub fetch: Fetch,
    pub item: Item,
    /// Frames with these declared columns, or dicts (`None`).
    pub frame: Option<Vec<(String, DataType)>>,
    pub progress: Progress,
    /// How an answer's rows are put in item order (None: they already are, one per item).
    pub arrange: Option<Arrange>,
}

/// What the stream has done so far.
#[derive(Default, Clone, Copy)]
struct Tally {
    units: u64,
    requests: u64,
    cached: u64,
    rows: u64,
}

enum Out {
    Frame(RecordBatch),
    Dicts(Vec<Py<PyAny>>),
}

struct Batch {
    out: Out,
    first: u64,
    tally: Tally,
}

type Rx = tokio::sync::mpsc::Receiver<Result<Batch>>;

/// Batches of a bulk call, for `for` and `async for`: `(rows, meta)` each, `rows` a list of
/// dicts or an Arrow table, `meta` what the batch cost and where it starts in the input.
#[pyclass(frozen, module = "seowire._seowire")]
pub struct BulkStream {
    rx: Arc<tokio::sync::Mutex<Rx>>,
    tally: Arc<Mutex<Tally>>,
    provider: &'static str,
    report: String,
}

pub fn start(py: Python<'_>, inputs: &Bound<'_, PyAny>, spec: Spec) -> PyResult<BulkStream> {
    let provider = spec.provider;
    if inputs.is_instance_of::<PyString>() {
        return Err(to_pyerr(py, super::invalid(format!("{} takes an iterable of inputs; wrap a single one in a list", spec.report)).provider(provider)));
    }
    let iter = inputs
        .try_iter()
        .map_err(|_| to_pyerr(py, super::invalid(format!("{} inputs must be an iterable", spec.report)).provider(provider)))?
        .into_any()
        .unbind();
    if spec.chunk == 0 || spec.batch_rows == 0 || spec.concurrency == 0 {
        return Err(to_pyerr(py, super::invalid("chunk, batch_rows and concurrency must be at least 1").provider(provider)));
    }
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let tally = Arc::new(Mutex::new(Tally::default()));
    let report = spec.report.clone();
    runtime().spawn(run(iter, spec, tx, tally.clone()));
    Ok(BulkStream { rx: Arc::new(tokio::sync::Mutex::new(rx)), tally, provider, report })
}

/// The next chunk of items from the Python iterator (fewer at its end, none after it).
fn pull(iter: &Arc<Mutex<Option<Py<PyAny>>>>, spec: &Spec, first: usize) -> Result<Vec<Value>> {
    gate::attach(|py| {
        let mut guard = iter.lock().unwrap_or_else(|e| e.into_inner());
        let Some(it) = guard.as_ref() else { return Ok(Vec::new()) };
        let it = it.bind(py).clone();
        let mut items = Vec::with_capacity(spec.chunk);
        while items.len() < spec.chunk {
            match it.call_method0("__next__") {
                Ok(v) => items.push((spec.item)(&v, first + items.len())?),
                Err(e) if e.is_instance_of::<PyStopIteration>(py) => {
                    *guard = None;
                    break;
                }
                Err(e) => {
                    *guard = None;
                    return Err(Error::invalid(format!("reading input {} failed: {e}", first + items.len())).provider(spec.provider));
                }
            }
        }
        Ok(items)
    })
    .unwrap_or_else(|| Err(Error::new(crate::error::Kind::Transport, "the interpreter is shutting down").provider(spec.provider)))
}

/// A chunk's items without repeats, and each item's place among them.
fn distinct(items: &[Value]) -> (Vec<Value>, Vec<usize>) {
    let mut unique = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let slots = items
        .iter()
        .map(|v| {
            *index.entry(v.to_string()).or_insert_with(|| {
                unique.push(v.clone());
                unique.len() - 1
            })
        })
        .collect();
    (unique, slots)
}

struct Answered {
    first: usize,
    slots: Vec<usize>,
    page: JsonPage,
    /// The chunk's distinct items (kept only where the answer must be arranged).
    unique: Vec<Value>,
}

async fn run(iter: Py<PyAny>, spec: Spec, tx: tokio::sync::mpsc::Sender<Result<Batch>>, tally: Arc<Mutex<Tally>>) {
    let spec = Arc::new(spec);
    let iter = Arc::new(Mutex::new(Some(iter)));
    let stop = Arc::new(AtomicBool::new(false));
    let chunks = {
        let (spec, iter, stop) = (spec.clone(), iter.clone(), stop.clone());
        futures::stream::unfold(0usize, move |first| {
            let (spec, iter, stop) = (spec.clone(), iter.clone(), stop.clone());
            async move {
                if stop.load(Ordering::SeqCst) {
                    return None;
                }
                let pulled = {
                    let (spec, iter) = (spec.clone(), iter.clone());
                    tokio::task::spawn_blocking(move || pull(&iter, &spec, first)).await
                };
                match pulled {
                    Ok(Ok(items)) if items.is_empty() => None,
                    Ok(Ok(items)) => {
                        let n = items.len();
                        Some((Ok((first, items)), first + n))
                    }
                    Ok(Err(e)) => {
                        stop.store(true, Ordering::SeqCst);
                        Some((Err(e), first))
                    }
                    Err(e) => {
                        stop.store(true, Ordering::SeqCst);
                        Some((Err(Error::format(format!("reading the inputs failed: {e}")).provider(spec.provider)), first))
                    }
                }
            }
        })
    };
    let requests = {
        let (spec, stop) = (spec.clone(), stop.clone());
        chunks.map(move |chunk| {
            let (spec, stop) = (spec.clone(), stop.clone());
            // Its own task: a request goes on while the batcher decodes the one before it.
            let task = runtime().spawn(async move {
                let (first, items) = chunk?;
                let (unique, slots) = distinct(&items);
                let expected = unique.len() as u64;
                let kept = if spec.arrange.is_some() { unique.clone() } else { Vec::new() };
                let page = (spec.fetch)(unique).await.map_err(|mut e| {
                    stop.store(true, Ordering::SeqCst);
                    e.message = format!("{} inputs {}..={} failed: {}", spec.report, first, first + items.len() - 1, e.message);
                    e
                })?;
                // An arranged answer accounts for each item itself (failed or dropped ones in place).
                if page.rows != expected && spec.arrange.is_none() {
                    stop.store(true, Ordering::SeqCst);
                    return Err(Error::format(format!("{} returned {} results for {expected} inputs ({first}..)", spec.report, page.rows)).provider(spec.provider));
                }
                Ok(Answered { first, slots, page, unique: kept })
            });
            async move { task.await.unwrap_or_else(|e| Err(Error::format(format!("a request task failed: {e}")))) }
        })
    };
    // In input order; a window of `concurrency` requests (the next ones wait for the oldest).
    let mut answers = std::pin::pin!(requests.buffered(spec.concurrency));
    let mut batcher = Batcher::new(&spec);
    let mut failure: Option<Error> = None;
    let mut gone = false;
    while let Some(answer) = answers.next().await {
        let a = match answer {
            Ok(a) => a,
            Err(e) => {
                failure.get_or_insert(e);
                continue; // the requests in flight still land (and are committed and cached)
            }
        };
        {
            let mut t = tally.lock().unwrap_or_else(|e| e.into_inner());
            t.units += a.page.units;
            t.requests += 1;
            t.cached += u64::from(a.page.cached);
            t.rows += a.slots.len() as u64;
        }
        batcher.batch_tally.units += a.page.units;
        batcher.batch_tally.requests += 1;
        batcher.batch_tally.cached += u64::from(a.page.cached);
        spec.progress.tick(a.page.rows, a.page.units);
        if failure.is_some() || gone {
            continue;
        }
        if let Err(e) = batcher.add(a).await {
            stop.store(true, Ordering::SeqCst);
            failure.get_or_insert(e);
            continue;
        }
        while let Some(b) = batcher.full(false) {
            if tx.send(b).await.is_err() {
                // Nobody is reading: send nothing new, let what is in flight land.
                stop.store(true, Ordering::SeqCst);
                gone = true;
                break;
            }
        }
    }
    if !gone {
        while let Some(b) = batcher.full(true) {
            if tx.send(b).await.is_err() {
                break;
            }
        }
        if let Some(e) = failure {
            let _ = tx.send(Err(e)).await;
        }
    }
    // Python objects are dropped with the GIL.
    gate::attach(|_| {
        iter.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(batcher);
    });
}

/// Rows waiting to make up a batch.
struct Batcher {
    frame: Option<Vec<(String, DataType)>>,
    provider: &'static str,
    report: String,
    batch_rows: usize,
    frames: Vec<RecordBatch>,
    dicts: Vec<Py<PyAny>>,
    rows: usize,
    /// Input position of the first waiting row.
    first: u64,
    batch_tally: Tally,
    /// A batch's schema is the first page's: later pages are read with it, so every batch of a
    /// stream has one schema (what a Parquet file needs).
    locked: bool,
    arrange: Option<Arrange>,
}

impl Batcher {
    fn new(spec: &Spec) -> Self {
        Batcher {
            frame: spec.frame.clone(),
            provider: spec.provider,
            report: spec.report.clone(),
            batch_rows: spec.batch_rows,
            frames: Vec::new(),
            dicts: Vec::new(),
            rows: 0,
            first: 0,
            batch_tally: Tally::default(),
            locked: false,
            arrange: spec.arrange.clone(),
        }
    }

    async fn add(&mut self, a: Answered) -> Result<()> {
        if self.rows == 0 {
            self.first = a.first as u64;
        }
        let n = a.slots.len();
        let identity = a.slots.iter().enumerate().all(|(i, &s)| i == s);
        match self.frame.clone() {
            Some(declared) => {
                let (provider, report, arrange) = (self.provider, self.report.clone(), self.arrange.clone());
                let batch = tokio::task::spawn_blocking(move || -> Result<RecordBatch> {
                    let b = match arrange {
                        Some(arrange) => match arrange(&a.page, &a.unique, true)? {
                            Arranged::Frame(b) => b,
                            Arranged::Dicts(_) => return Err(Error::format("a frame was asked for, dicts came").provider(provider)),
                        },
                        None => crate::frame::json_rows(&a.page.body, &a.page.unwrap, &declared, a.page.rows as usize)
                            .map_err(|e| Error::format(format!("could not read a {report} answer as a frame: {e}")).provider(provider))?,
                    };
                    if identity {
                        return Ok(b);
                    }
                    let idx = arrow_array::UInt64Array::from(a.slots.iter().map(|&s| s as u64).collect::<Vec<_>>());
                    arrow_select::take::take_record_batch(&b, &idx).map_err(|e| Error::format(e.to_string()).provider(provider))
                })
                .await
                .map_err(|e| Error::format(format!("decoding failed: {e}")).provider(self.provider))??;
                if !self.locked {
                    self.locked = true;
                    let known: std::collections::HashSet<String> = self.frame.iter().flatten().map(|(n, _)| n.clone()).collect();
                    let extra = batch.schema().fields().iter().filter(|f| !known.contains(f.name()) && f.data_type() != &DataType::Null).map(|f| (f.name().clone(), f.data_type().clone())).collect::<Vec<_>>();
                    if let Some(d) = self.frame.as_mut() {
                        d.extend(extra);
                    }
                }
                self.frames.push(batch);
            }
            None => {
                let arrange = self.arrange.clone();
                let rows = tokio::task::spawn_blocking(move || {
                    let arranged = match &arrange {
                        Some(arrange) => match arrange(&a.page, &a.unique, false)? {
                            Arranged::Dicts(list) => Some(list),
                            Arranged::Frame(_) => return Err(Error::format("dicts were asked for, a frame came").provider(a.page.provider)),
                        },
                        None => None,
                    };
                    gate::attach(|py| -> Result<Vec<Py<PyAny>>> {
                        let value = match arranged {
                            Some(list) => list.into_bound(py).into_any(),
                            None => super::page::value(py, &a.page).map_err(|e| Error::format(format!("could not decode an answer: {e}")).provider(a.page.provider))?,
                        };
                        let list: Vec<Bound<'_, PyAny>> = value.try_iter().and_then(|i| i.collect()).map_err(|e| Error::format(format!("the answer has no rows: {e}")).provider(a.page.provider))?;
                        let mut used = vec![false; list.len()];
                        let mut out = Vec::with_capacity(a.slots.len());
                        for &s in &a.slots {
                            let row = list.get(s).ok_or_else(|| Error::format("an answer with fewer rows than asked").provider(a.page.provider))?;
                            if std::mem::replace(&mut used[s], true) {
                                // A repeated input gets its own copy.
                                let copy = row.cast::<PyDict>().map(|d| d.copy().map(|c| c.into_any())).unwrap_or_else(|_| Ok(row.clone()));
                                out.push(copy.map_err(|e| Error::format(e.to_string()))?.unbind());
                            } else {
                                out.push(row.clone().unbind());
                            }
                        }
                        Ok(out)
                    })
                    .unwrap_or_else(|| Err(Error::new(crate::error::Kind::Transport, "the interpreter is shutting down")))
                })
                .await
                .map_err(|e| Error::format(format!("decoding failed: {e}")).provider(self.provider))??;
                self.dicts.extend(rows);
            }
        }
        self.rows += n;
        Ok(())
    }

    /// The next batch of `batch_rows` rows (with `last`: whatever waits, if anything).
    fn full(&mut self, last: bool) -> Option<Result<Batch>> {
        if self.rows == 0 || (self.rows < self.batch_rows && !last) {
            return None;
        }
        let take = self.rows.min(self.batch_rows);
        let first = self.first;
        let tally = std::mem::take(&mut self.batch_tally);
        let out = if self.frame.is_some() {
            let all = match crate::frame::concat(&std::mem::take(&mut self.frames)) {
                Ok(b) => b,
                Err(e) => return Some(Err(Error::format(e).provider(self.provider))),
            };
            if all.num_rows() > take {
                self.frames.push(all.slice(take, all.num_rows() - take));
            }
            Out::Frame(all.slice(0, take))
        } else {
            let rest = self.dicts.split_off(take);
            Out::Dicts(std::mem::replace(&mut self.dicts, rest))
        };
        self.rows -= take;
        self.first += take as u64;
        Some(Ok(Batch { out, first, tally: Tally { rows: take as u64, ..tally } }))
    }
}

struct Next {
    batch: Option<Batch>,
    provider: &'static str,
    report: String,
    sync: bool,
}

impl<'py> IntoPyObject<'py> for Next {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        let Some(b) = self.batch else {
            return Err(if self.sync { PyStopIteration::new_err(()) } else { PyStopAsyncIteration::new_err(()) });
        };
        let rows = match b.out {
            Out::Frame(batch) => super::frame::table(py, batch)?,
            Out::Dicts(rows) => PyList::new(py, rows)?.into_any(),
        };
        let meta = tally_dict(py, self.provider, &self.report, b.tally)?;
        meta.set_item("first", b.first)?;
        Ok(pyo3::types::PyTuple::new(py, [rows, meta.into_any()])?.into_any())
    }
}

fn tally_dict<'py>(py: Python<'py>, provider: &str, report: &str, t: Tally) -> PyResult<Bound<'py, PyDict>> {
    let m = PyDict::new(py);
    m.set_item("provider", provider)?;
    m.set_item("report", report)?;
    m.set_item("units", t.units)?;
    m.set_item("requests", t.requests)?;
    m.set_item("cached_requests", t.cached)?;
    m.set_item("lines", t.rows)?;
    Ok(m)
}

#[pymethods]
impl BulkStream {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let rx = self.rx.clone();
        let batch = block_on(py, async move { rx.lock().await.recv().await.transpose() })?;
        Ok(Next { batch, provider: self.provider, report: self.report.clone(), sync: true }.into_pyobject(py)?.unbind())
    }

    fn __aiter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let rx = self.rx.clone();
        let (provider, report) = (self.provider, self.report.clone());
        future(py, async move { rx.lock().await.recv().await.transpose().map(|batch| Next { batch, provider, report, sync: false }) })
    }

    /// What the stream has spent and fetched so far (all batches, including ones not yet read).
    #[getter]
    fn meta<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let t = *self.tally.lock().unwrap_or_else(|e| e.into_inner());
        tally_dict(py, self.provider, &self.report, t)
    }
}
