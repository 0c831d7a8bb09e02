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
