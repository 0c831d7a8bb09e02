use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::ledger::{Budget, Ledger as Core, Period, Reading, Scope, SyncRow};

/// A unit ledger: `memory://`, `sqlite:///path` or `sqlite://` (default file).
#[pyclass(frozen, name = "Ledger", module = "seowire")]
pub struct Ledger {
    pub inner: Arc<Core>,
}

#[pymethods]
impl Ledger {
    /// `on_ledger_error`: "raise" (default: an unreachable shared ledger fails the call with
    /// `LedgerUnavailable`) or "local" (count in the local SQLite ledger, with a warning).
    #[new]
    /// `retention_days`: how long the call log (`calls()`, `usage(by=...)`) keeps a call (90).
    #[pyo3(signature = (url=None, *, on_ledger_error="raise", lease=None, retention_days=None))]
    fn new(py: Python<'_>, url: Option<String>, on_ledger_error: &str, lease: Option<f64>, retention_days: Option<f64>) -> PyResult<Self> {
        let url = url
            .or_else(|| std::env::var("SEOWIRE_LEDGER").ok().filter(|s| !s.is_empty()))
            .unwrap_or_else(|| "sqlite://".to_string());
        let err = |e| super::to_pyerr(py, e);
        let mut core = py
            .detach(|| match on_ledger_error {
                "raise" => Core::open(&url),
                "local" => Core::open_with_fallback(&url, "sqlite://"),
                other => Err(crate::error::Error::invalid(format!("on_ledger_error must be 'raise' or 'local', not {other:?}"))),
            })
            .map_err(err)?;
        if let Some(secs) = lease {
            if !(secs.is_finite() && secs > 0.0) {
                return Err(err(crate::error::Error::invalid(format!("lease must be a positive number of seconds, not {secs}"))));
            }
            core.lease = std::time::Duration::from_secs_f64(secs);
        }
        if let Some(days) = retention_days {
            if !(days.is_finite() && days > 0.0 && days <= 36_500.0) {
                return Err(err(crate::error::Error::invalid(format!("retention_days must be a number of days in (0, 36500], not {days}"))));
            }
            core.set_retention(std::time::Duration::from_secs_f64(days * 86_400.0));
        }
        Ok(Ledger { inner: Arc::new(core) })
    }

    /// How long a reservation holds its units if its process dies before settling it.
    #[getter]
    fn lease(&self) -> f64 {
        self.inner.lease.as_secs_f64()
    }

    #[getter]
    fn url(&self) -> String {
        self.inner.url.clone()
    }

    /// The ledger in a notebook: spending per account and period with budget bars, and the
    /// last 24 hours by report.
    fn _repr_html_(slf: &Bound<'_, Self>) -> PyResult<String> {
        slf.py().import("seowire._usage")?.call_method1("ledger_html", (slf,))?.extract()
    }

    /// The period's burn-down as a matplotlib figure (extra `seowire[plot]`): spend so far, the
    /// budget, the alert thresholds and the projection to the period's end at the current rate.
    #[pyo3(signature = (provider=None, period=None, account=None, thresholds=None))]
    fn plot<'py>(
        slf: &Bound<'py, Self>,
        provider: Option<String>,
        period: Option<String>,
        account: Option<String>,
        thresholds: Option<Vec<f64>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let usage = slf.py().import("seowire._usage")?;
        let kwargs = PyDict::new(slf.py());
        kwargs.set_item("provider", provider)?;
        kwargs.set_item("period", period)?;
        kwargs.set_item("account", account)?;
        if let Some(t) = thresholds {
            kwargs.set_item("thresholds", pyo3::types::PyTuple::new(slf.py(), t)?)?;
        }
        usage.getattr("plot")?.call((slf,), Some(&kwargs))
    }

    /// The ledger's log of committed calls since `since` ("24h", "30d", a datetime or unix
    /// seconds; None: all it keeps), oldest first: time, provider, account, period (the budget
    /// pool), report, units estimated and spent, rows, cached, tag. Every process sharing the
    /// ledger writes to it.
    #[pyo3(signature = (since=None))]
    fn calls<'py>(&self, py: Python<'py>, since: Option<Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyList>> {
        let usage = py.import("seowire._usage")?;
        let since: f64 = usage.call_method1("since_seconds", (since,))?.extract()?;
        let inner = self.inner.clone();
        let rows = py.detach(|| inner.calls(since)).map_err(|e| super::to_pyerr(py, e))?;
        let out = PyList::empty(py);
        for r in rows {
            let d = PyDict::new(py);
            d.set_item("at", r.at)?;
            d.set_item("provider", &r.provider)?;
            d.set_item("account", &r.account)?;
            d.set_item("period", &r.period)?;
            d.set_item("report", &r.report)?;
            d.set_item("estimate", r.estimate)?;
            d.set_item("units", r.units)?;
            d.set_item("rows", r.rows)?;
            d.set_item("cached", r.cached)?;
            d.set_item("tag", &r.tag)?;
            out.append(d)?;
        }
        Ok(out)
    }

    /// Without `by`: one dict per (provider, account, period): reserved, spent, budget,
    /// remaining. With `by="day"|"report"|"tag"|"provider"|"account"` (and `since=`): the call
    /// log summed per group (requests, cached, estimated, spent, rows), a frame with `output=`.
    #[pyo3(signature = (by=None, since=None, output="dicts"))]
    fn usage<'py>(&self, py: Python<'py>, by: Option<&str>, since: Option<Bound<'py, PyAny>>, output: &str) -> PyResult<Bound<'py, PyAny>> {
        if let Some(by) = by {
            let calls = self.calls(py, since)?;
            return py.import("seowire._usage")?.call_method1("summarize", (calls, by, output));
        }
        if since.is_some() || output != "dicts" {
            return Err(super::to_pyerr(py, crate::error::Error::invalid("since= and output= go with by= ('day', 'report', 'tag', 'provider' or 'account')")));
        }
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
            let scope = Scope { provider: r.provider.clone(), account: r.account.clone(), period: r.period.clone() };
            let sync = self.inner.last_sync(&scope).map_err(|e| super::to_pyerr(py, e))?;
            d.set_item("provider_spent", sync.as_ref().map(|s| s.provider_spent))?;
            d.set_item("drift", sync.as_ref().map(|s| s.drift))?;
            d.set_item("synced_at", sync.as_ref().map(|s| s.at))?;
            out.append(d)?;
        }
        Ok(out.into_any())
    }

    /// Reconcile with the provider's own count: `client` (Semrush, Moz or Ahrefs) reads it
    /// (countapiunits, usage_data, limits-and-usage; all free), and the difference from this
    /// ledger's spending this month is recorded and shown by `usage()` as `drift`.
    fn sync<'py>(&self, py: Python<'py>, client: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        // A client with several quota pools (Moz) gives one reading per pool: one row each.
        if client.hasattr("_provider_readings")? {
            let readings: Vec<(String, String, String, u64)> = client.call_method0("_provider_readings")?.extract()?;
            let out = pyo3::types::PyList::empty(py);
            for r in readings {
                out.append(self.sync_one(py, r)?)?;
            }
            return Ok(out.into_any());
        }
        let reading: (String, String, String, u64) = client.call_method0("_provider_reading")?.extract()?;
        Ok(self.sync_one(py, reading)?.into_any())
    }

    fn __repr__(&self) -> String {
        format!("Ledger({:?})", self.inner.url)
    }
}

impl Ledger {
    fn sync_one<'py>(&self, py: Python<'py>, (provider, account, kind, value): (String, String, String, u64)) -> PyResult<Bound<'py, PyDict>> {
        let reading = match kind.as_str() {
            "spent" => Reading::Spent(value),
            "balance" => Reading::Balance(value),
            other => return Err(pyo3::exceptions::PyValueError::new_err(format!("unknown reading kind {other:?}"))),
        };
        let scope = Scope { provider: provider.clone(), account: account.clone(), period: Period::Month.label(std::time::SystemTime::now()) };
        let row: SyncRow = self.inner.sync(&scope, reading).map_err(|e| super::to_pyerr(py, e))?;
        let d = PyDict::new(py);
        d.set_item("provider", provider)?;
        d.set_item("account", account)?;
        d.set_item("period", scope.period)?;
        d.set_item("provider_spent", row.provider_spent)?;
        d.set_item("provider_balance", row.provider_balance)?;
        d.set_item("ledger_spent", row.ledger_spent)?;
        d.set_item("drift", row.drift)?;
        Ok(d)
    }
}

/// `(units, period, thresholds)` from the facade's `Budget`.
pub fn budget(spec: Option<(u64, String, Vec<f64>)>) -> crate::error::Result<Option<Budget>> {
    spec.map(|(units, period, thresholds)| Ok(Budget { units, period: Period::parse(&period)?, thresholds })).transpose()
}
