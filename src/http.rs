//! The one call path every provider uses: reserve units, send under the account's limits with
//! retries, classify the reply, commit the actual cost. Provider modules supply the request,
//! the error mapping and the cost; this module knows nothing of their wire formats.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use rand::SeedableRng;
use reqwest::header::HeaderMap;

use crate::error::{Error, Kind, Result};
use crate::ledger::{Budget, Committed, Ledger, Record, Scope};
use crate::limits::Limits;
use crate::retry::{parse_retry_after, RetryBudget, RetryPolicy, RETRY_COST, TIMEOUT_RETRY_COST};
use crate::runtime::{install_crypto, PerProcess};

static HTTP: PerProcess<reqwest::Client> = PerProcess::new(build_http);

fn build_http() -> reqwest::Client {
    install_crypto();
    reqwest::Client::builder()
        .user_agent(concat!("seowire/", env!("CARGO_PKG_VERSION")))
        .tcp_nodelay(true)
        .pool_idle_timeout(Duration::from_secs(60))
        .connect_timeout(Duration::from_secs(15))
        .build()
        .expect("cannot build the HTTP client")
}

/// The connection pool of this process (rebuilt after fork: pooled sockets are the parent's).
pub fn http() -> Arc<reqwest::Client> {
    HTTP.get()
}

#[derive(Debug, Clone)]
pub struct Request {
    pub method: reqwest::Method,
    /// The full URL; may carry a secret (SEMrush `key=`). Never display it: use `shown`.
    pub url: String,
    /// The URL with secrets replaced by `***`.
    pub shown: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<Bytes>,
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Served from the response cache: costs nothing.
    pub cached: bool,
}

/// What a provider gives the engine to make one call.
pub struct Call<'a> {
    pub report: &'a str,
    /// Worst-case units, reserved before anything is sent. 0 for free calls.
    pub estimate: u64,
    /// Whether the call touches the ledger at all (free metadata calls do not).
    pub metered: bool,
    /// Whether an identical earlier answer may be reused (data calls, unless the caller said no).
    pub cacheable: bool,
    pub request: Request,
}

/// Everything a client of one provider account shares.
pub struct Engine {
    pub provider: &'static str,
    pub account: String,
    pub ledger: Arc<Ledger>,
    pub budget: Option<Budget>,
    pub retry: RetryPolicy,
    pub retry_budget: RetryBudget,
    pub timeout: Duration,
    pub limits: Arc<Limits>,
    /// How long answers are reused (`None`: no response cache).
    pub cache_ttl: Option<Duration>,
}

impl Engine {
    /// An engine with a fresh retry budget.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        provider: &'static str,
        account: String,
        ledger: Arc<Ledger>,
        budget: Option<Budget>,
        retry: RetryPolicy,
        timeout: Duration,
        limits: Arc<Limits>,
        cache_ttl: Option<Duration>,
    ) -> Engine {
        Engine { provider, account, ledger, budget, retry, retry_budget: RetryBudget::default(), timeout, limits, cache_ttl }
    }

    pub fn scope(&self) -> Scope {
        let period = self.budget.as_ref().map(|b| b.period).unwrap_or(crate::ledger::Period::Month);
        Scope { provider: self.provider.to_string(), account: self.account.clone(), period: period.label(SystemTime::now()) }
    }

    /// Reserve, send (with retries), check, then settle: `settle` turns the reply into the
    /// caller's value and the ledger record of what it actually cost.
    pub async fn call<T>(
        &self,
        call: Call<'_>,
        check: impl Fn(&Reply) -> Result<()>,
        settle: impl FnOnce(Reply) -> Result<(T, Record)>,
    ) -> Result<(T, Option<Committed>)> {
        let cache_key = match self.cache_ttl {
            Some(_) if call.cacheable => Some(self.cache_key(&call.request)),
            _ => None,
        };
        if let Some(key) = &cache_key {
            if let Some(stored) = self.ledger.backend().cache_get(key).map_err(|e| e.provider(self.provider))? {
                if let Some(reply) = decode_cached(&stored) {
                    log::debug!(target: "seowire", "{} {} served from the response cache", self.provider, call.report);
                    let (value, record) = settle(reply)?;
                    // Recorded in the ledger as a cached request at 0 units.
                    let hold = self.ledger.reserve(self.scope(), 0, None).map_err(|e| e.provider(self.provider))?;
                    let committed = hold.commit(&Record { report: call.report.to_string(), units: 0, cached: true, ..record }, self.budget.as_ref())?;
                    return Ok((value, Some(committed)));
                }
            }
        }
        let reservation = if call.metered {
            Some(self.ledger.reserve(self.scope(), call.estimate, self.budget.as_ref()).map_err(|e| e.provider(self.provider))?)
        } else {
            None
        };
        let reply = self.send(&call.request, &check).await?;
        let to_store = cache_key.as_ref().map(|_| encode_cached(&reply));
        let (value, record) = settle(reply)?;
        if let (Some(key), Some(bytes), Some(ttl)) = (&cache_key, to_store, self.cache_ttl) {
            if let Err(e) = self.ledger.backend().cache_put(key, &bytes, ttl) {
                log::warn!(target: "seowire", "{}: could not store the answer in the response cache: {}", self.provider, e.message);
            }
        }
        let committed = match reservation {
            Some(r) => Some(r.commit(&Record { report: call.report.to_string(), ..record }, self.budget.as_ref())?),
            None => None,
        };
        Ok((value, committed))
    }

    /// Send with retries. The reservation (held by the caller) stays in place across retries;
    /// limits are taken per attempt so a sleeping retry does not hold a slot.
    pub async fn send(&self, request: &Request, check: &impl Fn(&Reply) -> Result<()>) -> Result<Reply> {
        let started = Instant::now();
        let mut rng = rand::rngs::SmallRng::from_os_rng();
        let mut retry = 0u32;
        loop {
            let outcome = {
                let _slot = self.limits.acquire().await.map_err(|e| e.provider(self.provider))?;
                log::debug!(target: "seowire", "{} {} {}", self.provider, request.method, request.shown);
                match self.attempt(request).await {
                    Ok(reply) => check(&reply).map(|_| reply),
                    Err(e) => Err(e),
                }
            };
            let error = match outcome {
                Ok(reply) => {
                    self.retry_budget.on_success();
                    return Ok(reply);
                }
                Err(e) => e.provider(self.provider),
            };
            if !error.retryable || retry >= self.retry.max_retries {
                return Err(exhausted(error, retry));
            }
            let delay = self.retry.delay(retry, &error, &mut rng);
            if let Some(deadline) = self.retry.deadline {
                if started.elapsed() + delay >= deadline {
                    return Err(exhausted(error, retry));
                }
            }
            let cost = if error.kind == Kind::Transport { TIMEOUT_RETRY_COST } else { RETRY_COST };
            if !self.retry_budget.try_acquire(cost) {
                log::warn!(target: "seowire", "{}: retry budget empty, not retrying: {}", self.provider, error.message);
                return Err(exhausted(error, retry));
            }
            log::warn!(
                target: "seowire",
                "{}: {} (retry {} of {} in {:.2}s)",
                self.provider,
                error.message,
                retry + 1,
                self.retry.max_retries,
                delay.as_secs_f64()
            );
            tokio::time::sleep(delay).await;
            retry += 1;
        }
    }

    async fn attempt(&self, request: &Request) -> Result<Reply> {
        let client = http();
        let mut builder = client.request(request.method.clone(), &request.url).timeout(self.timeout);
        for (name, value) in &request.headers {
            builder = builder.header(*name, value);
        }
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }
        let response = builder.send().await.map_err(|e| transport(e, &request.shown))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(|e| transport(e, &request.shown))?;
        Ok(Reply { status, headers, body, cached: false })
    }
}

impl Engine {
    /// Provider, account, method, URL with its query sorted (the secret already `***`), body:
    /// hashed, so the key never holds the secret and identical requests meet.
    fn cache_key(&self, r: &Request) -> String {
        use sha2::Digest;
        let (path, query) = r.shown.split_once('?').unwrap_or((&r.shown, ""));
        let mut pairs: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
        pairs.sort_unstable();
        let mut h = sha2::Sha256::new();
        for part in [self.provider, &self.account, r.method.as_str(), path, &pairs.join("&")] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        if let Some(b) = &r.body {
            h.update(b);
        }
        let digest = h.finalize();
        format!("{}:{}", self.provider, digest.iter().take(20).map(|b| format!("{b:02x}")).collect::<String>())
    }
}

/// Cached answer: the `x-api-*` and content-type headers as JSON, a newline, the body.
fn encode_cached(reply: &Reply) -> Vec<u8> {
    let headers: Vec<(String, String)> = reply
        .headers
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("x-api-") || k.as_str() == "content-type")
        .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.to_string(), v.to_string())))
        .collect();
    let mut out = serde_json::to_vec(&headers).unwrap_or_else(|_| b"[]".to_vec());
    out.push(b'\n');
    out.extend_from_slice(&reply.body);
    out
}

fn decode_cached(bytes: &[u8]) -> Option<Reply> {
    let split = bytes.iter().position(|b| *b == b'\n')?;
    let pairs: Vec<(String, String)> = serde_json::from_slice(&bytes[..split]).ok()?;
    let mut headers = HeaderMap::new();
    for (k, v) in pairs {
        if let (Ok(k), Ok(v)) = (reqwest::header::HeaderName::from_bytes(k.as_bytes()), reqwest::header::HeaderValue::from_str(&v)) {
            headers.insert(k, v);
        }
    }
    Some(Reply { status: 200, headers, body: Bytes::copy_from_slice(&bytes[split + 1..]), cached: true })
}

fn exhausted(mut error: Error, retries: u32) -> Error {
    if retries > 0 {
        error.message = format!("{} (after {retries} retries)", error.message);
    }
    error
}

/// A transport failure, described without the URL (reqwest's message would include the key).
fn transport(e: reqwest::Error, shown: &str) -> Error {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "connection broke while reading the response"
    } else {
        "connection failed"
    };
    let mut source = std::error::Error::source(&e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    let mut err = Error::new(Kind::Transport, format!("{what}: {shown}{}", if detail.is_empty() { String::new() } else { format!(" ({})", redact(&detail)) }))
        .retryable(true);
    err.before_send = e.is_connect();
    err
}

/// Percent-encode a query component (commas stay: both APIs use them as list separators).
pub fn encode(s: &str) -> percent_encoding::PercentEncode<'_> {
    const SET: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b',');
    percent_encoding::utf8_percent_encode(s, SET)
}

/// Names of query parameters that carry secrets.
const SECRET_PARAMS: &[&str] = &["key", "api_key", "apikey", "token", "access_token", "secret", "secret_key", "signature", "client_secret", "code_verifier"];

/// Replace the values of secret query parameters with `***` anywhere in `text`.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < text.len() {
        let at_param = i == 0 || matches!(bytes[i - 1], b'?' | b'&' | b' ' | b'(');
        if at_param {
            if let Some(name) = SECRET_PARAMS.iter().find(|n| {
                let end = i + n.len();
                end < text.len() && text[i..end].eq_ignore_ascii_case(n) && bytes[end] == b'='
            }) {
                out.push_str(&text[i..i + name.len() + 1]);
                out.push_str("***");
                i += name.len() + 1;
                while i < text.len() && !matches!(bytes[i], b'&' | b' ' | b'#' | b')' | b'"' | b'\'') {
                    i += 1;
                }
                continue;
            }
        }
        let ch = text[i..].chars().next().expect("in bounds");
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

/// `Retry-After` of a reply, if it has one we can read.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers.get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| parse_retry_after(v, SystemTime::now()))
}

/// A one-way hash naming an account in the ledger, limits and logs; never the key itself.
pub fn account_hash(provider: &str, secret: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("seowire:{provider}:{secret}").as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_keys_in_urls_and_text() {
        assert_eq!(
            redact("http://h/?type=x&key=abc123&database=us"),
            "http://h/?type=x&key=***&database=us"
        );
        assert_eq!(redact("GET http://h/?key=abc"), "GET http://h/?key=***");
        assert_eq!(redact("http://h/?monkey=1&key=s"), "http://h/?monkey=1&key=***");
        assert_eq!(redact("no secrets here"), "no secrets here");
        assert_eq!(redact("ünïcode?token=x y"), "ünïcode?token=*** y");
    }

    #[test]
    fn account_hash_is_stable_and_not_the_key() {
        let h = account_hash("semrush", "secret-key");
        assert_eq!(h.len(), 16);
        assert_eq!(h, account_hash("semrush", "secret-key"));
        assert_ne!(h, account_hash("ahrefs", "secret-key"));
        assert!(!h.contains("secret"));
    }
}
