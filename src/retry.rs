//! Retry policy: exponential backoff with jitter, `Retry-After`, a deadline, and a retry budget.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use rand::{Rng, SeedableRng};

use crate::error::Error;

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    pub jitter: bool,
    pub respect_retry_after: bool,
    /// Longest server-directed wait we honour; longer ones are capped to it.
    pub max_retry_after: Duration,
    /// Total time allowed for all attempts and waits.
    pub deadline: Option<Duration>,
    /// Retry a billed request whose answer was lost after it was sent (timeout, reset, cut
    /// body). Off by default: the provider may have charged it, so a retry could pay twice.
    pub retry_billed_timeouts: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            jitter: true,
            respect_retry_after: true,
            max_retry_after: Duration::from_secs(60),
            deadline: None,
            retry_billed_timeouts: false,
        }
    }
}

impl RetryPolicy {
    /// The backoff before retry number `retry` (0-based), ignoring any `Retry-After`.
    /// With jitter the wait is uniform in [d/2, d] ("equal jitter"): never zero, so a retry
    /// storm cannot form, and never above the exponential envelope.
    pub fn backoff<R: Rng>(&self, retry: u32, rng: &mut R) -> Duration {
        let exp = self.base_delay.as_secs_f64() * 2f64.powi(retry.min(62) as i32);
        let capped = exp.min(self.max_delay.as_secs_f64());
        let secs = if self.jitter { rng.random_range(capped / 2.0..=capped) } else { capped };
        Duration::from_secs_f64(secs)
    }

    /// The wait before retry number `retry` after `error`.
    pub fn delay<R: Rng>(&self, retry: u32, error: &Error, rng: &mut R) -> Duration {
        match error.retry_after {
            Some(server) if self.respect_retry_after => server.min(self.max_retry_after),
            _ => self.backoff(retry, rng),
        }
    }

    /// The whole schedule of backoffs for a seeded generator (deterministic, for tests and docs).
    pub fn schedule(&self, seed: u64) -> Vec<Duration> {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
        (0..self.max_retries).map(|n| self.backoff(n, &mut rng)).collect()
    }
}

/// Longest wait a server can direct: anything longer is read as this (the policy caps it
/// further with `max_retry_after`). A day is beyond any provider's window.
pub const RETRY_AFTER_CEILING: Duration = Duration::from_secs(86_400);

/// Parse a `Retry-After` value: delta-seconds or an HTTP-date. A server's value is untrusted:
/// negative, NaN or unreadable values are ignored (`None`), huge ones are capped.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if value.len() > 64 {
        return None;
    }
    if value.bytes().next().is_some_and(|b| b.is_ascii_digit() || b == b'.' || b == b'-' || b == b'+') {
        let secs = value.parse::<f64>().ok()?;
        if !secs.is_finite() || secs < 0.0 {
            return None;
        }
        return Some(Duration::try_from_secs_f64(secs.min(RETRY_AFTER_CEILING.as_secs_f64())).unwrap_or(RETRY_AFTER_CEILING));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO).min(RETRY_AFTER_CEILING))
}

/// A retry budget as in botocore's standard mode: retries drain a token bucket, successes refill
/// it, so a provider that fails everything cannot turn each call into `max_retries` more calls.
#[derive(Debug)]
pub struct RetryBudget {
    tokens: Mutex<u32>,
    capacity: u32,
}

pub const RETRY_COST: u32 = 5;
pub const TIMEOUT_RETRY_COST: u32 = 10;
pub const SUCCESS_REFUND: u32 = 1;

impl RetryBudget {
    pub fn new(capacity: u32) -> Self {
        RetryBudget { tokens: Mutex::new(capacity), capacity }
    }

    /// Take the cost of one retry; false when the budget is empty (do not retry).
    pub fn try_acquire(&self, cost: u32) -> bool {
        let mut t = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        if *t >= cost {
            *t -= cost;
            true
        } else {
            false
        }
    }

    pub fn on_success(&self) {
        let mut t = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        *t = (*t + SUCCESS_REFUND).min(self.capacity);
    }

    pub fn available(&self) -> u32 {
        *self.tokens.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Default for RetryBudget {
    fn default() -> Self {
        RetryBudget::new(500)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Kind;

    #[test]
    fn schedule_is_deterministic_and_bounded() {
        let p = RetryPolicy { max_retries: 6, ..Default::default() };
        let a = p.schedule(42);
        assert_eq!(a, p.schedule(42));
        assert_ne!(a, p.schedule(43));
        for (n, d) in a.iter().enumerate() {
            let envelope = (0.5 * 2f64.powi(n as i32)).min(30.0);
            assert!(d.as_secs_f64() >= envelope / 2.0 - 1e-9 && d.as_secs_f64() <= envelope + 1e-9, "{n}: {d:?}");
        }
    }

    #[test]
    fn no_jitter_is_exact_exponential_capped() {
        let p = RetryPolicy { max_retries: 8, jitter: false, ..Default::default() };
        let secs: Vec<f64> = p.schedule(0).iter().map(|d| d.as_secs_f64()).collect();
        assert_eq!(secs, vec![0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]);
    }

    #[test]
    fn retry_after_seconds_and_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        let date = httpdate::fmt_http_date(now + Duration::from_secs(12));
        assert_eq!(parse_retry_after(&date, now), Some(Duration::from_secs(12)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(12));
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
        for huge in ["1e20", "18446744073709551616", "99999999999999999999999"] {
            assert_eq!(parse_retry_after(huge, now), Some(RETRY_AFTER_CEILING), "{huge}");
        }
        for junk in ["NaN", "nan", "inf", "-inf", "1e400", "-5", "", "1e", "++1", "\u{0}"] {
            assert_eq!(parse_retry_after(junk, now), None, "{junk}");
        }
        let far = httpdate::fmt_http_date(SystemTime::UNIX_EPOCH + Duration::from_secs(253_402_300_000));
        assert_eq!(parse_retry_after(&far, now), Some(RETRY_AFTER_CEILING));
    }

    #[test]
    fn retry_after_is_capped_and_can_be_ignored() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        let mut e = Error::new(Kind::RateLimited, "x");
        e.retry_after = Some(Duration::from_secs(3600));
        let p = RetryPolicy::default();
        assert_eq!(p.delay(0, &e, &mut rng), Duration::from_secs(60));
        let p = RetryPolicy { respect_retry_after: false, jitter: false, ..Default::default() };
        assert_eq!(p.delay(0, &e, &mut rng), Duration::from_millis(500));
    }

    #[test]
    fn budget_drains_and_refills() {
        let b = RetryBudget::new(10);
        assert!(b.try_acquire(RETRY_COST));
        assert!(b.try_acquire(RETRY_COST));
        assert!(!b.try_acquire(RETRY_COST));
        for _ in 0..5 {
            b.on_success();
        }
        assert!(b.try_acquire(RETRY_COST));
        for _ in 0..100 {
            b.on_success();
        }
        assert_eq!(b.available(), 10);
    }

    proptest::proptest! {
        /// Any Retry-After a server sends: ignored or a wait within the ceiling, never a panic.
        #[test]
        fn any_retry_after_is_bounded(text in "\\PC{0,70}") {
            let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
            if let Some(d) = parse_retry_after(&text, now) {
                proptest::prop_assert!(d <= RETRY_AFTER_CEILING);
            }
        }

        #[test]
        fn any_number_as_retry_after_is_bounded(x in proptest::num::f64::ANY) {
            let now = SystemTime::UNIX_EPOCH;
            for text in [x.to_string(), format!("{x:e}")] {
                if let Some(d) = parse_retry_after(&text, now) {
                    proptest::prop_assert!(d <= RETRY_AFTER_CEILING);
                }
            }
        }
    }
}
