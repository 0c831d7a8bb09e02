use std::time::Duration;

use pyo3::prelude::*;

use crate::retry::RetryPolicy as Core;

/// How failed requests are retried. Immutable; share one between clients freely.
#[pyclass(frozen, skip_from_py_object, name = "RetryPolicy", module = "seowire")]
#[derive(Clone)]
pub struct RetryPolicy {
    pub inner: Core,
}

fn secs(name: &str, v: f64) -> PyResult<Duration> {
    if v.is_finite() && v >= 0.0 {
        Ok(Duration::from_secs_f64(v))
    } else {
        Err(pyo3::exceptions::PyValueError::new_err(format!("{name} must be a non-negative number of seconds, not {v}")))
    }
}

#[pymethods]
impl RetryPolicy {
    #[new]
    #[pyo3(signature = (max_retries=3, base_delay=0.5, max_delay=30.0, jitter=true, respect_retry_after=true, deadline=None, max_retry_after=60.0))]
    fn new(
        max_retries: u32,
        base_delay: f64,
        max_delay: f64,
        jitter: bool,
        respect_retry_after: bool,
        deadline: Option<f64>,
        max_retry_after: f64,
    ) -> PyResult<Self> {
        Ok(RetryPolicy {
            inner: Core {
                max_retries,
                base_delay: secs("base_delay", base_delay)?,
                max_delay: secs("max_delay", max_delay)?,
                jitter,
                respect_retry_after,
                max_retry_after: secs("max_retry_after", max_retry_after)?,
                deadline: deadline.map(|d| secs("deadline", d)).transpose()?,
            },
        })
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
