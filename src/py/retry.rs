use std::time::Duration;

use pyo3::prelude::*;

use crate::retry::RetryPolicy as Core;

/// How failed requests are retried. Immutable; share one between clients freely.
#[pyclass(frozen, skip_from_py_object, name = "RetryPolicy", module = "seowire")]
#[derive(Clone)]
pub struct RetryPolicy {
    pub inner: Core,
}

fn secs(py: Python<'_>, name: &str, v: f64) -> PyResult<Duration> {
    super::seconds(name, v).map_err(|e| super::to_pyerr(py, e))
}

#[pymethods]
impl RetryPolicy {
    #[new]
    #[pyo3(signature = (max_retries=None, base_delay=0.5, max_delay=30.0, jitter=true, respect_retry_after=true, deadline=None, max_retry_after=60.0, retry_billed_timeouts=false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        max_retries: Option<&Bound<'_, PyAny>>,
        base_delay: f64,
        max_delay: f64,
        jitter: bool,
        respect_retry_after: bool,
        deadline: Option<f64>,
        max_retry_after: f64,
        retry_billed_timeouts: bool,
    ) -> PyResult<Self> {
        let max_retries = match max_retries {
            Some(v) => super::unsigned("max_retries", v, 100).map_err(|e| super::to_pyerr(py, e))? as u32,
            None => 3,
        };
        Ok(RetryPolicy {
            inner: Core {
                max_retries,
                base_delay: secs(py, "base_delay", base_delay)?,
                max_delay: secs(py, "max_delay", max_delay)?,
                jitter,
                respect_retry_after,
                max_retry_after: secs(py, "max_retry_after", max_retry_after)?,
                deadline: deadline.map(|d| secs(py, "deadline", d)).transpose()?,
                retry_billed_timeouts,
            },
        })
    }

    #[getter]
    fn retry_billed_timeouts(&self) -> bool {
        self.inner.retry_billed_timeouts
    }

    #[getter]
    fn max_retries(&self) -> u32 {
        self.inner.max_retries
    }
    #[getter]
    fn base_delay(&self) -> f64 {
        self.inner.base_delay.as_secs_f64()
    }
    #[getter]
    fn max_delay(&self) -> f64 {
        self.inner.max_delay.as_secs_f64()
    }
    #[getter]
    fn jitter(&self) -> bool {
        self.inner.jitter
    }
    #[getter]
    fn respect_retry_after(&self) -> bool {
        self.inner.respect_retry_after
    }
    #[getter]
    fn deadline(&self) -> Option<f64> {
        self.inner.deadline.map(|d| d.as_secs_f64())
    }
    #[getter]
    fn max_retry_after(&self) -> f64 {
        self.inner.max_retry_after.as_secs_f64()
    }

    /// The backoff before each retry, in seconds, for a seeded jitter (deterministic).
    #[pyo3(signature = (seed=0))]
    fn schedule(&self, seed: u64) -> Vec<f64> {
        self.inner.schedule(seed).iter().map(|d| d.as_secs_f64()).collect()
    }

    fn __repr__(&self) -> String {
        let p = &self.inner;
        format!(
            "RetryPolicy(max_retries={}, base_delay={}, max_delay={}, jitter={}, respect_retry_after={}, deadline={})",
            p.max_retries,
            p.base_delay.as_secs_f64(),
            p.max_delay.as_secs_f64(),
            if p.jitter { "True" } else { "False" },
            if p.respect_retry_after { "True" } else { "False" },
            p.deadline.map(|d| d.as_secs_f64().to_string()).unwrap_or_else(|| "None".into())
        )
    }
}
