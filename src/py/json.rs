//! JSON bytes straight to Python objects in one pass (no intermediate `serde_json::Value`).
//! Object keys repeat on every row, so each distinct key becomes one interned `str` per decode.
//! Integers stay exact up to 64 bits (Moz counts exceed 2^32); larger ones become floats.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat, PyList, PyString};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::GcPause;

struct Ctx<'de, 'py> {
    py: Python<'py>,
    keys: RefCell<HashMap<&'de str, Bound<'py, PyString>>>,
    failed: RefCell<Option<PyErr>>,
}

impl<'py> Ctx<'_, 'py> {
    fn fail<E: de::Error, T>(&self, r: PyResult<T>) -> Result<T, E> {
        r.map_err(|e| {
            *self.failed.borrow_mut() = Some(e);
            E::custom("python error")
        })
    }
}

struct Any<'c, 'de, 'py>(&'c Ctx<'de, 'py>);
struct Key<'c, 'de, 'py>(&'c Ctx<'de, 'py>);

impl<'de, 'py> DeserializeSeed<'de> for Any<'_, 'de, 'py> {
    type Value = Bound<'py, PyAny>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, 'py> Visitor<'de> for Any<'_, 'de, 'py> {
    type Value = Bound<'py, PyAny>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(pyo3::types::PyBool::new(self.0.py, v).to_owned().into_any())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(v.into_pyobject(self.0.py).map(|o| o.into_any()).unwrap_or_else(|n| match n {}))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(v.into_pyobject(self.0.py).map(|o| o.into_any()).unwrap_or_else(|n| match n {}))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(PyFloat::new(self.0.py, v).into_any())
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(PyString::new(self.0.py, v).into_any())
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(self.0.py.None().into_bound(self.0.py))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let list = PyList::empty(self.0.py);
        while let Some(v) = seq.next_element_seed(Any(self.0))? {
            self.0.fail(list.append(v))?;
        }
        Ok(list.into_any())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let dict = PyDict::new(self.0.py);
        while let Some(k) = map.next_key_seed(Key(self.0))? {
            let v = map.next_value_seed(Any(self.0))?;
            self.0.fail(dict.set_item(k, v))?;
        }
        Ok(dict.into_any())
    }
}

impl<'de, 'py> DeserializeSeed<'de> for Key<'_, 'de, 'py> {
    type Value = Bound<'py, PyString>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de, 'py> Visitor<'de> for Key<'_, 'de, 'py> {
    type Value = Bound<'py, PyString>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        let mut keys = self.0.keys.borrow_mut();
        Ok(keys.entry(v).or_insert_with(|| PyString::intern(self.0.py, v)).clone())
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        // An escaped key: rare, not cached.
        Ok(PyString::new(self.0.py, v))
    }
}

/// Decode a whole JSON document. Errors are `ValueError`-free: the caller maps them.
pub fn decode<'py>(py: Python<'py>, body: &[u8]) -> Result<Bound<'py, PyAny>, DecodeError> {
    let ctx = Ctx { py, keys: RefCell::new(HashMap::new()), failed: RefCell::new(None) };
    let _gc = GcPause::new(py, body.len() / 256);
    let mut de = serde_json::Deserializer::from_slice(body);
    let out = Any(&ctx).deserialize(&mut de).and_then(|v| de.end().map(|_| v));
    match out {
        Ok(v) => Ok(v),
        Err(e) => match ctx.failed.into_inner() {
            Some(py_err) => Err(DecodeError::Py(py_err)),
            None => Err(DecodeError::Json(e.to_string())),
        },
    }
}

pub enum DecodeError {
    Json(String),
    Py(PyErr),
}

/// Decode, mapping a malformed body to `ResponseFormatError` of `provider`.
pub fn decode_body<'py>(py: Python<'py>, provider: &'static str, body: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    decode(py, body).map_err(|e| match e {
        DecodeError::Py(e) => e,
        DecodeError::Json(m) => super::to_pyerr(
            py,
            crate::error::Error::format(format!("{provider} answered with a body that is not JSON ({m})")).provider(provider),
        ),
    })
}

/// `seowire._seowire.loads`: the decoder on its own (benchmarks, saved payloads).
#[pyfunction]
pub fn loads<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    decode(py, data).map_err(|e| match e {
        DecodeError::Py(e) => e,
        DecodeError::Json(m) => pyo3::exceptions::PyValueError::new_err(m),
    })
}
