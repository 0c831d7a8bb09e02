use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::ledger::{Budget, Ledger as Core, Period};

/// A unit ledger: `memory://`, `sqlite:///path` or `sqlite://` (default file).
#[pyclass(frozen, name = "Ledger", module = "seowire")]
pub struct Ledger {
    pub inner: Arc<Core>,
}

#[pymethods]
impl Ledger {
    #[new]
    #[pyo3(signature = (url=None))]
    fn new(py: Python<'_>, url: Option<String>) -> PyResult<Self> {
        let url = url
            .or_else(|| std::env::var("SEOWIRE_LEDGER").ok().filter(|s| !s.is_empty()))
            .unwrap_or_else(|| "sqlite://".to_string());
        let core = Core::open(&url).map_err(|e| super::to_pyerr(py, e))?;
        Ok(Ledger { inner: Arc::new(core) })
    }

    #[getter]
    fn url(&self) -> String {
        self.inner.url.clone()
    }

    /// One dict per (provider, account, period): reserved, spent, budget, remaining.
    fn usage<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let rows = self.inner.usage().map_err(|e| super::to_pyerr(py, e))?;
        let out = PyList::empty(py);
        for r in rows {
            let d = PyDict::new(py);
            d.set_item("provider", &r.provider)?;
            d.set_item("account", &r.account)?;
            d.set_item("period", &r.period)?;
            d.set_item("reserved", r.reserved)?;
            d.set_item("spent", r.spent)?;
            d.set_item("requests", r.requests)?;
            d.set_item("budget", r.budget)?;
            d.set_item("remaining", r.remaining())?;
            out.append(d)?;
        }
        Ok(out)
    }

    fn __repr__(&self) -> String {
        format!("Ledger({:?})", self.inner.url)
    }
}

/// `(units, period, thresholds)` from the facade's `Budget`.
pub fn budget(spec: Option<(u64, String, Vec<f64>)>) -> crate::error::Result<Option<Budget>> {
    spec.map(|(units, period, thresholds)| Ok(Budget { units, period: Period::parse(&period)?, thresholds })).transpose()
}
