//! Frames: report rows handed to Python as Arrow tables through the Arrow C stream interface
//! (pyo3-arrow), so pyarrow, pandas and polars take them without a Python loop.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use pyo3_arrow::PyTable;

use super::to_pyerr;
use crate::error::Error;
use crate::frame::{self, Value};

/// A batch as an Arrow table object (it has `__arrow_c_stream__`).
pub fn table(py: Python<'_>, batch: arrow_array::RecordBatch) -> PyResult<Bound<'_, PyAny>> {
    let schema = batch.schema();
    Ok(Bound::new(py, PyTable::try_new(vec![batch], schema)?)?.into_any())
}

/// Batches of one schema as one Arrow table (chunked: no copy).
pub fn tables(py: Python<'_>, batches: Vec<arrow_array::RecordBatch>, schema: arrow_schema::SchemaRef) -> PyResult<Bound<'_, PyAny>> {
    Ok(Bound::new(py, PyTable::try_new(batches, schema)?)?.into_any())
}

/// The catalog's (name, type) pairs as Arrow types.
pub fn declared(fields: &[(&str, &str)]) -> Vec<(String, arrow_schema::DataType)> {
    fields.iter().map(|(n, t)| (n.to_string(), frame::declared(t))).collect()
}

/// The rows of a bulk call as one table in input order. `decoded` holds each chunk's batch
/// (`None`: failed or not sent), chunks of `chunk` unique inputs; `slots` maps each input
/// position to its unique index. A repeated input gets its own row; a position whose chunk has
/// no answer is a null row, so the table has exactly one row per input.
/// Rows per batch of a bulk table: pages are joined up to this many (an Arrow table of 50-row
/// chunks is slow to use; joining all at once would hold the rows twice).
const GROUP_ROWS: usize = 1 << 13;

pub fn bulk_table(
    decoded: Vec<Option<arrow_array::RecordBatch>>,
    chunk: usize,
    slots: &[usize],
    declared: &[(String, arrow_schema::DataType)],
) -> Result<Vec<arrow_array::RecordBatch>, String> {
    let identity = slots.iter().enumerate().all(|(i, &u)| i == u) && decoded.iter().all(Option::is_some);
    if decoded.iter().all(Option::is_none) {
        let empty = frame::json_rows(b"[]", &crate::providers::Unwrap::Whole, declared, 0)?;
        let nulls = arrow_array::UInt64Array::from(vec![None::<u64>; slots.len()]);
        return Ok(vec![arrow_select::take::take_record_batch(&empty, &nulls).map_err(|e| e.to_string())?]);
    }
    let same = decoded.iter().flatten().all(|b| b.schema() == decoded.iter().flatten().next().map(|f| f.schema()).unwrap_or_else(|| b.schema()));
    if identity && same {
        // Every input once and answered: the pages in order, in groups of about 64k rows, each
        // group's pages freed as it is built (memory holds the rows about once, not twice).
        let mut groups = Vec::new();
        let mut group: Vec<arrow_array::RecordBatch> = Vec::new();
        let mut rows = 0;
        for b in decoded.into_iter().flatten() {
            rows += b.num_rows();
            group.push(b);
            if rows >= GROUP_ROWS {
                groups.push(frame::concat(&std::mem::take(&mut group))?);
                rows = 0;
            }
        }
        if !group.is_empty() {
            groups.push(frame::concat(&group)?);
        }
        return Ok(groups);
    }
    // Where each chunk's rows start in the concatenation.
    let mut starts = Vec::with_capacity(decoded.len());
    let mut at = 0usize;
    for d in &decoded {
        starts.push(d.as_ref().map(|b| (at, b.num_rows())));
        at += d.as_ref().map_or(0, |b| b.num_rows());
    }
    let present: Vec<arrow_array::RecordBatch> = decoded.into_iter().flatten().collect();
    let all = frame::concat(&present)?;
    drop(present);
    let indices: arrow_array::UInt64Array = slots
        .iter()
        .map(|&u| {
            let (c, off) = (u / chunk.max(1), u % chunk.max(1));
            match starts.get(c).copied().flatten() {
                Some((start, n)) if off < n => Some((start + off) as u64),
                _ => None,
            }
        })
        .collect();
    Ok(vec![arrow_select::take::take_record_batch(&all, &indices).map_err(|e| e.to_string())?])
}

/// One input's part of a table of many answers (see [`answers_table`]).
pub enum Part<'a> {
    /// An answered page: its rows.
    Page(&'a crate::providers::JsonPage),
    /// An input that failed on its own: `rows` rows holding only `error`.
    Error(String, usize),
    /// Inputs never answered (their request failed or was not sent): null rows.
    Missing(usize),
}

/// The rows of many answers as one table in input order, each page read from its bytes and
/// typed by `declared` (its columns first, even when no page came back).
pub fn answers_table(parts: &[Part<'_>], declared: &frame::Declared) -> Result<arrow_array::RecordBatch, String> {
    let mut batches = vec![frame::json_rows_at(b"[]", Some(&[]), declared, 0)?];
    for part in parts {
        batches.push(match part {
            Part::Page(p) => frame::json_rows_typed(&p.body, &p.unwrap, declared, p.rows as usize)?,
            Part::Error(message, rows) => {
                let errors: arrow_array::ArrayRef = std::sync::Arc::new(arrow_array::StringArray::from(vec![message.as_str(); *rows]));
                frame::batch(vec![("error".into(), errors)], *rows)?
            }
            Part::Missing(rows) => frame::batch(Vec::new(), *rows)?,
        });
    }
    frame::concat(&batches)
}

fn value(v: serde_json::Value) -> Value {
    use serde_json::Value as J;
    match v {
        J::Null => Value::Null,
        J::Bool(b) => Value::Bool(b),
        J::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Value::Int(i),
            (None, Some(u)) => Value::UInt(u),
            _ => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        J::String(s) => Value::Str(s),
        J::Array(items) => Value::List(items.into_iter().map(value).collect()),
        obj @ J::Object(_) => Value::Json(obj.to_string()),
    }
}

/// `rows_table(rows, names=None, types=None)`: a list of dicts (or one dict) as a typed Arrow
/// table. Columns come in first-seen key order; `names` gives the columns of an empty result;
/// `types` (field -> catalog type, see `frame::declared`) fixes a column's type whatever its values.
#[pyfunction]
#[pyo3(signature = (rows, names=None, types=None))]
pub fn rows_table<'py>(
    py: Python<'py>,
    rows: &Bound<'py, PyAny>,
    names: Option<Vec<String>>,
    types: Option<std::collections::HashMap<String, String>>,
) -> PyResult<Bound<'py, PyAny>> {
    let rows: Vec<Bound<'py, PyDict>> = match rows.cast::<PyDict>() {
        Ok(d) => vec![d.clone()],
        Err(_) => {
            let list = rows.cast::<PyList>().map_err(|_| to_pyerr(py, super::invalid("rows must be a list of dicts")))?;
            list.iter()
                .map(|r| r.cast_into::<PyDict>().map_err(|_| to_pyerr(py, super::invalid("rows must be a list of dicts"))))
                .collect::<PyResult<_>>()?
        }
    };
    let mut names: Vec<String> = names.unwrap_or_default();
    let mut index: std::collections::HashMap<String, usize> = names.iter().enumerate().map(|(i, n)| (n.clone(), i)).collect();
    let mut columns: Vec<Vec<Value>> = vec![Vec::new(); names.len()];
    for (r, row) in rows.iter().enumerate() {
        for (k, v) in row.iter() {
            let key: String = k.extract().map_err(|_| to_pyerr(py, super::invalid("row keys must be strings")))?;
            let at = *index.entry(key.clone()).or_insert_with(|| {
                names.push(key.clone());
                columns.push(vec![Value::Null; r]);
                names.len() - 1
            });
            let cell = super::page::to_json(&key, &v).map(value).unwrap_or_else(|_| Value::Str(v.to_string()));
            columns[at].push(cell);
        }
        for col in columns.iter_mut() {
            col.resize(r + 1, Value::Null); // keys this row lacks
        }
    }
    let types = types.unwrap_or_default();
    let arrays = names
        .into_iter()
        .zip(&columns)
        .map(|(n, values)| match types.get(&n) {
            Some(ty) => frame::typed_column(&n, values, &frame::declared(ty)).map(|a| (n, a)),
            None => Ok((n.clone(), frame::json_column(values))),
        })
        .collect::<Result<Vec<_>, String>>()
        .map_err(|e| to_pyerr(py, Error::format(e)))?;
    let batch = frame::batch(arrays, rows.len()).map_err(|e| to_pyerr(py, Error::format(e)))?;
    table(py, batch)
}

/// A frame's declared columns from Python: `names` first, `types` (field -> catalog type, see
/// `frame::declared`) for any column.
pub fn declared_of(names: Option<Vec<String>>, types: Option<std::collections::HashMap<String, String>>) -> frame::Declared {
    let types = types.unwrap_or_default().into_iter().map(|(n, t)| {
        let ty = frame::declared(&t);
        (n, ty)
    }).collect();
    frame::Declared::new(names.unwrap_or_default(), types)
}

/// A JSON page's rows as an Arrow table straight from its bytes (off the GIL), typed by
/// `declared`: the decoder of every `output=` frame of a JSON answer.
pub fn page_table<'py>(py: Python<'py>, page: &crate::providers::JsonPage, declared: &frame::Declared) -> PyResult<Bound<'py, PyAny>> {
    let batch = py
        .detach(|| frame::json_rows_typed(&page.body, &page.unwrap, declared, page.rows as usize))
        .map_err(|e| to_pyerr(py, Error::format(format!("could not read a {} {} answer as a frame: {e}", page.provider, page.report)).provider(page.provider)))?;
    table(py, batch)
}

/// `json_table(body, path=None, names=None, types=None)`: JSON rows as a typed Arrow table
/// straight from the bytes (the decoder bulk frames use). `path` is the member holding the
/// rows (`["results"]`; `None` or `[]`: the whole document); `names`/`types` as `rows_table`.
#[pyfunction]
#[pyo3(signature = (body, path=None, names=None, types=None))]
pub fn json_table<'py>(
    py: Python<'py>,
    body: &[u8],
    path: Option<Vec<String>>,
    names: Option<Vec<String>>,
    types: Option<std::collections::HashMap<String, String>>,
) -> PyResult<Bound<'py, PyAny>> {
    let path = path.unwrap_or_default();
    let declared = declared_of(names, types);
    let batch = py
        .detach(|| {
            let steps: Vec<&str> = path.iter().map(String::as_str).collect();
            frame::json_rows_at(body, Some(&steps), &declared, 0)
        })
        .map_err(|e| to_pyerr(py, Error::format(e)))?;
    table(py, batch)
}
