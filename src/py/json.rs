//! JSON bytes to Python objects: the tape parser (crate::tape) reads the body, on a second core
//! for a large one, and this builder turns its events into dicts, lists and scalars under the GIL.
//! Integers stay exact up to 64 bits (Moz counts exceed 2^32); larger ones become floats.

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyList, PyString};

use std::sync::Mutex;

use super::GcPause;
use crate::tape::{self, Chunk, Ev, FxMap, Tape};

/// Turns a tape into Python objects, pulling chunks as it goes (the parser may still be
/// running on the other core).
struct Build<'a, 'py> {
    py: Python<'py>,
    body: &'a [u8],
    tape: Tape,
    chunk: Chunk,
    pos: usize,
    keys: Vec<Bound<'py, PyString>>,
    /// One dict per shape id, built once: a row with the same keys starts as a copy (one
    /// allocation of the right size, hashes known) instead of growing key by key.
    templates: Vec<Option<Bound<'py, PyDict>>>,
    /// The object last made for each repeat slot of the tape.
    slots: Vec<Option<Bound<'py, PyAny>>>,
    error: Option<DecodeError>,
}

/// The build stopped; the reason is in `Build::error`. A unit error keeps every result small.
struct Stop;

impl<'py> Build<'_, 'py> {
    fn fail(&mut self, e: impl Into<DecodeError>) -> Stop {
        self.error = Some(e.into());
        Stop
    }

    /// The next event, not consumed (the chunk is refilled when used up).
    #[inline]
    fn peek(&mut self) -> Result<Ev, Stop> {
        if self.pos == self.chunk.events.len() {
            self.refill()?;
        }
        Ok(self.chunk.events[self.pos])
    }

    #[inline]
    fn next(&mut self) -> Result<Ev, Stop> {
        let e = self.peek()?;
        self.pos += 1;
        Ok(e)
    }

    /// Whether the next event is `end` (then consumed).
    #[inline]
    fn ends(&mut self, end: Ev) -> Result<bool, Stop> {
        let hit = self.peek()? == end;
        self.pos += hit as usize;
        Ok(hit)
    }

    #[cold]
    fn refill(&mut self) -> Result<(), Stop> {
        let next = match self.tape.next_chunk() {
            Ok(Some(c)) if !c.events.is_empty() => c,
            Ok(_) => return Err(self.fail(DecodeError::Json("the tape ended early".into()))),
            Err(m) => return Err(self.fail(DecodeError::Json(m))),
        };
        self.tape.recycle(std::mem::replace(&mut self.chunk, next));
        self.pos = 0;
        Ok(())
    }

    fn str(&self, at: u32, len: u32) -> &str {
        let bytes = &self.body[at as usize..(at + len) as usize];
        // SAFETY: the parser emits spans only of strings it has checked to be UTF-8.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }

    fn keep(&mut self, slot: u16, v: Bound<'py, PyAny>) -> Bound<'py, PyAny> {
        if let Some(s) = self.slots.get_mut(slot as usize) {
            *s = Some(v.clone());
        }
        v
    }

    /// The next value. Scalars are made here, inline in the caller's loop; containers out of line.
    #[inline(always)]
    fn value(&mut self) -> Result<Bound<'py, PyAny>, Stop> {
        let py = self.py;
        Ok(match self.next()? {
            Ev::Str(at, len, slot) => {
                let v = PyString::new(py, self.str(at, len)).into_any();
                self.keep(slot, v)
            }
            Ev::Hit(slot) => match self.slots.get(slot as usize) {
                Some(Some(v)) => v.clone(),
                _ => return Err(self.fail(DecodeError::Json("a repeat of nothing on the tape".into()))),
            },
            Ev::Int(v) => v.into_pyobject(py).unwrap_or_else(|n| match n {}).into_any(),
            Ev::UInt(v) => v.into_pyobject(py).unwrap_or_else(|n| match n {}).into_any(),
            Ev::Float(slot, v) => {
                let v = PyFloat::new(py, v).into_any();
                self.keep(slot, v)
            }
            Ev::Bool(b) => PyBool::new(py, b).to_owned().into_any(),
            Ev::Null => py.None().into_bound(py),
            Ev::Own(at, len) => PyString::new(py, self.chunk.own(at, len)).into_any(),
            e => self.container(e)?,
        })
    }

    #[inline(never)]
    fn container(&mut self, e: Ev) -> Result<Bound<'py, PyAny>, Stop> {
        Ok(match e {
            Ev::Obj(shape) => self.object(shape)?.into_any(),
            Ev::Arr => {
                let mut items = Vec::new();
                while !self.ends(Ev::EndArr)? {
                    items.push(self.value()?);
                }
                PyList::new(self.py, items).map_err(|e| self.fail(e))?.into_any()
            }
            e => return Err(self.fail(DecodeError::Json(format!("unexpected {e:?} on the tape")))),
        })
    }

    fn object(&mut self, shape: u32) -> Result<Bound<'py, PyDict>, Stop> {
        let template = self.templates.get(shape as usize).and_then(|t| t.as_ref());
        let known = template.is_some();
        let dict = match template {
            Some(t) => t.copy().map_err(|e| self.fail(e))?,
            None => PyDict::new(self.py),
        };
        loop {
            let key = match self.next()? {
                Ev::EndObj => break,
                Ev::Key(id) => Ok(id as usize),
                Ev::NewKey(at, len) => {
                    let k = key_str(self.py, self.str(at, len));
                    self.keys.push(k);
                    Ok(self.keys.len() - 1)
                }
                Ev::RawKey(at, len) => Err(PyString::new(self.py, self.str(at, len))),
                Ev::OwnKey(at, len) => Err(PyString::new(self.py, self.chunk.own(at, len))),
                e => return Err(self.fail(DecodeError::Json(format!("unexpected {e:?} for a key")))),
            };
            let v = self.value()?;
            let set = match key {
                Ok(id) => match self.keys.get(id) {
                    Some(k) => dict.set_item(k, v),
                    None => return Err(self.fail(DecodeError::Json("an unknown key id on the tape".into()))),
                },
                Err(k) => dict.set_item(k, v),
            };
            set.map_err(|e| self.fail(e))?;
        }
        if shape != tape::NO_SHAPE && !known {
            let i = shape as usize;
            if self.templates.len() <= i {
                self.templates.resize(i + 1, None);
            }
            self.templates[i] = Some(dict.copy().map_err(|e| self.fail(e))?);
        }
        Ok(dict)
    }
}

/// Object keys across decodes: the same few hundred names come back in every reply, and making
/// and interning a `str` for each costs more than the rest of a small decode. Never waited on:
/// a decode that finds the cache busy (another thread, or a lock inherited through `fork`)
/// interns on its own. Python is never called with the lock held.
static KEY_CACHE: Mutex<Option<KeyStrs>> = Mutex::new(None);
type KeyStrs = FxMap<Box<[u8]>, Py<PyString>>;
const KEY_CACHE_MAX: usize = 4096;

fn key_str<'py>(py: Python<'py>, s: &str) -> Bound<'py, PyString> {
    if let Ok(mut cache) = KEY_CACHE.try_lock() {
        if let Some(k) = cache.get_or_insert_with(Default::default).get(s.as_bytes()) {
            return k.bind(py).clone();
        }
    }
    let k = PyString::intern(py, s);
    let evicted = match KEY_CACHE.try_lock() {
        Ok(mut cache) => {
            let map = cache.get_or_insert_with(Default::default);
            let full = (map.len() >= KEY_CACHE_MAX).then(|| std::mem::take(map));
            map.insert(s.as_bytes().into(), k.clone().unbind());
            full
        }
        Err(_) => None,
    };
    // Dropped (decref'd) here, with the lock released.
    drop(evicted);
    k
}

/// Decode a whole JSON document. Errors are `ValueError`-free: the caller maps them.
pub fn decode<'py>(py: Python<'py>, body: &[u8]) -> Result<Bound<'py, PyAny>, DecodeError> {
    let _gc = GcPause::new(py, body.len() / 256);
    let built = tape::with_tape(body, |tape| {
        let mut b = Build { py, body, tape, chunk: Chunk::default(), pos: 0, keys: Vec::new(), templates: Vec::new(), slots: if tape::keeps_repeats(body.len()) { vec![None; tape::SLOTS] } else { Vec::new() }, error: None };
        let out = b.value();
        out.map_err(|Stop| b.error.take().unwrap_or_else(|| DecodeError::Json("decode stopped".into())))
    });
    built.map_err(DecodeError::Json)?
}

pub enum DecodeError {
    Json(String),
    Py(PyErr),
}

impl From<PyErr> for DecodeError {
    fn from(e: PyErr) -> Self {
        DecodeError::Py(e)
    }
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
