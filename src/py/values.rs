//! Reuse of small immutable values while decoding a page: rows repeat dates, countries, link
//! types and two-decimal floats, and an existing `str`/`float` is cheaper to share than to
//! allocate again. Direct-mapped, so a miss costs one compare; Python objects are immutable, so
//! sharing them is safe.

use pyo3::prelude::*;
use pyo3::types::{PyFloat, PyString};

const STR_SLOTS: usize = 1024;
const FLOAT_SLOTS: usize = 256;
const MAX_LEN: usize = 24;

pub struct ValueCache<'py> {
    py: Python<'py>,
    strings: Vec<Option<(u8, [u8; MAX_LEN], Bound<'py, PyString>)>>,
    floats: Vec<Option<(u64, Bound<'py, PyFloat>)>>,
}

fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h ^ (h >> 29)
}

impl<'py> ValueCache<'py> {
    pub fn new(py: Python<'py>) -> Self {
        ValueCache { py, strings: (0..STR_SLOTS).map(|_| None).collect(), floats: (0..FLOAT_SLOTS).map(|_| None).collect() }
    }

    /// A cache sized for about `values` values: none at all for a small reply, where setting
    /// up the slots would cost more than the sharing saves.
    pub fn for_values(py: Python<'py>, values: usize) -> Self {
        if values < 256 {
            return ValueCache { py, strings: Vec::new(), floats: Vec::new() };
        }
        Self::new(py)
    }

    pub fn string(&mut self, s: &str) -> Bound<'py, PyAny> {
        let b = s.as_bytes();
        if b.len() > MAX_LEN || self.strings.is_empty() {
            return PyString::new(self.py, s).into_any();
        }
        let slot = &mut self.strings[(fnv(b) as usize) % STR_SLOTS];
        if let Some((len, bytes, obj)) = slot {
            if *len as usize == b.len() && &bytes[..b.len()] == b {
                return obj.clone().into_any();
            }
        }
        let obj = PyString::new(self.py, s);
        let mut bytes = [0u8; MAX_LEN];
        bytes[..b.len()].copy_from_slice(b);
        *slot = Some((b.len() as u8, bytes, obj.clone()));
        obj.into_any()
    }

    pub fn float(&mut self, f: f64) -> Bound<'py, PyAny> {
        if self.floats.is_empty() {
            return PyFloat::new(self.py, f).into_any();
        }
        let bits = f.to_bits();
        // One multiply (Fibonacci hashing): the top bits mix every input bit.
        let slot = &mut self.floats[(bits.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as usize % FLOAT_SLOTS];
        if let Some((b, obj)) = slot {
            if *b == bits {
                return obj.clone().into_any();
            }
        }
        let obj = PyFloat::new(self.py, f);
        *slot = Some((bits, obj.clone()));
        obj.into_any()
    }
}
