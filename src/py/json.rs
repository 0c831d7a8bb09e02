//! JSON bytes straight to Python objects in one pass (no intermediate `serde_json::Value`).
//! Object keys repeat on every row, so each distinct key becomes one interned `str` per decode.
//! Integers stay exact up to 64 bits (Moz counts exceed 2^32); larger ones become floats.

use std::cell::RefCell;
use std::fmt;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::GcPause;

struct Ctx<'de, 'py> {
    py: Python<'py>,
    keys: RefCell<Keys<'de, 'py>>,
    /// Dicts already built per key sequence: a row with the same keys starts as a copy
    /// (one allocation of the right size) instead of growing key by key.
    shapes: RefCell<Vec<(Vec<usize>, Bound<'py, PyDict>)>>,
    /// Reused per-object buffers (one per nesting level in use), to avoid an allocation per row.
    pool: RefCell<Vec<Buffers<'py>>>,
    values: RefCell<super::values::ValueCache<'py>>,
    failed: RefCell<Option<PyErr>>,
}

type Buffers<'py> = (Vec<usize>, Vec<(Option<Bound<'py, PyString>>, Bound<'py, PyAny>)>);

const UNCACHED: usize = usize::MAX;
const MAX_SHAPES: usize = 16;

/// Distinct object keys, in order of first appearance. Rows repeat their keys in the same
/// order, so the key after the last hit is almost always the next one: one string compare
/// instead of hashing every key.
struct Keys<'de, 'py> {
    list: Vec<(&'de str, Bound<'py, PyString>)>,
    next: usize,
}

impl<'de, 'py> Keys<'de, 'py> {
    fn get(&mut self, py: Python<'py>, k: &'de str) -> usize {
        let i = match self.list.get(self.next) {
            Some((name, _)) if *name == k => self.next,
            _ => match self.list.iter().position(|(name, _)| *name == k) {
                Some(i) => i,
                None => {
                    self.list.push((k, PyString::intern(py, k)));
                    self.list.len() - 1
                }
            },
        };
        self.next = i + 1;
        i
    }
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
        Ok(self.0.values.borrow_mut().float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(self.0.values.borrow_mut().string(v))
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
        let ctx = self.0;
        let (mut shape, mut pairs) = ctx.pool.borrow_mut().pop().unwrap_or_default();
        shape.clear();
        pairs.clear();
        while let Some((i, k)) = map.next_key_seed(Key(ctx))? {
            let v = map.next_value_seed(Any(ctx))?;
            shape.push(i);
            pairs.push((k, v));
        }
        let cacheable = pairs.len() >= 4 && !shape.contains(&UNCACHED);
        let template = if cacheable { ctx.shapes.borrow().iter().find(|(s, _)| *s == shape).map(|(_, d)| d.clone()) } else { None };
        let dict = match template {
            Some(t) => ctx.fail(t.copy())?,
            None => PyDict::new(ctx.py),
        };
        {
            // Cached keys are borrowed from the key list: no reference counting per key.
            let keys = ctx.keys.borrow();
            for (i, (k, v)) in shape.iter().zip(pairs.drain(..)) {
                match k {
                    Some(k) => ctx.fail(dict.set_item(k, v))?,
                    None => ctx.fail(dict.set_item(&keys.list[*i].1, v))?,
                }
            }
        }
        if cacheable && template_missing(&ctx.shapes.borrow(), &shape) {
            let mut shapes = ctx.shapes.borrow_mut();
            if shapes.len() < MAX_SHAPES {
                let copy = ctx.fail(dict.copy())?;
                shapes.push((shape.clone(), copy));
            }
        }
        ctx.pool.borrow_mut().push((shape, pairs));
        Ok(dict.into_any())
    }
}

fn template_missing(shapes: &[(Vec<usize>, Bound<'_, PyDict>)], shape: &[usize]) -> bool {
    !shapes.iter().any(|(s, _)| s == shape)
}

impl<'de, 'py> DeserializeSeed<'de> for Key<'_, 'de, 'py> {
    type Value = (usize, Option<Bound<'py, PyString>>);
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de, 'py> Visitor<'de> for Key<'_, 'de, 'py> {
    type Value = (usize, Option<Bound<'py, PyString>>);
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok((self.0.keys.borrow_mut().get(self.0.py, v), None))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        // An escaped key: rare, not cached.
        Ok((UNCACHED, Some(PyString::new(self.0.py, v))))
    }
}

/// Decode a whole JSON document. Errors are `ValueError`-free: the caller maps them.
pub fn decode<'py>(py: Python<'py>, body: &[u8]) -> Result<Bound<'py, PyAny>, DecodeError> {
    let ctx = Ctx { py, keys: RefCell::new(Keys { list: Vec::new(), next: 0 }), shapes: RefCell::new(Vec::new()), pool: RefCell::new(Vec::new()), values: RefCell::new(super::values::ValueCache::for_values(py, body.len() / 16)), failed: RefCell::new(None) };
    let _gc = GcPause::new(py, body.len() / 256);
    // Validate UTF-8 once for the whole body (fast on ASCII) so strings need no check each.
    let text = std::str::from_utf8(body).map_err(|e| DecodeError::Json(format!("not UTF-8: {e}")))?;
    let mut de = serde_json::Deserializer::from_str(text);
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
