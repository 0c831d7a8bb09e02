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
use crate::secrets::scrub as redact;

static HTTP: PerProcess<reqwest::Client> = PerProcess::new(build_http);

fn build_http() -> reqwest::Client {
    install_crypto();
    reqwest::Client::builder()
        // Redirects are followed by `attempt`, same origin only: reqwest would carry custom
        // credential headers (x-moz-token) and the SEMrush key in the query to any origin.
        .redirect(reqwest::redirect::Policy::none())
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
    /// What identifies the answer for the response cache when the body alone does not (a
    /// JSON-RPC request carries a fresh id each time): hashed in place of the body.
    pub cache_basis: Option<Bytes>,
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
    /// The tag the call log records for this client's calls (`set_tag`).
    tag: std::sync::RwLock<Option<String>>,
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
        Engine { provider, account, ledger, budget, retry, retry_budget: RetryBudget::default(), timeout, limits, cache_ttl, tag: Default::default() }
    }

    pub fn set_tag(&self, tag: Option<String>) {
        *self.tag.write().unwrap_or_else(|e| e.into_inner()) = tag.filter(|t| !t.is_empty());
    }

    /// The tag of a call now: the client's, else the Airflow DAG and task running it (from the
    /// task's environment, read per call: a worker process runs many tasks), else empty.
    pub fn tag(&self) -> String {
        if let Some(t) = self.tag.read().unwrap_or_else(|e| e.into_inner()).clone() {
            return t;
        }
        match (std::env::var("AIRFLOW_CTX_DAG_ID"), std::env::var("AIRFLOW_CTX_TASK_ID")) {
            (Ok(dag), Ok(task)) if !dag.is_empty() => format!("{dag}.{task}"),
            (Ok(dag), _) if !dag.is_empty() => dag,
            _ => String::new(),
        }
    }

    /// What the call log says about a call: its report, worst case and tag.
    fn booked(&self, call: &Call<'_>, record: Record) -> Record {
        Record { report: call.report.to_string(), estimate: call.estimate, tag: self.tag(), ..record }
    }

    pub fn scope(&self) -> Scope {
        let period = self.budget.as_ref().map(|b| b.period).unwrap_or(crate::ledger::Period::Month);
        Scope { provider: self.provider.to_string(), account: self.account.clone(), period: period.label(SystemTime::now()) }
    }

    /// Reserve, send (with retries), check, then settle: `settle` turns the reply into the
    /// caller's value and the ledger record of what it actually cost. A panic anywhere below
    /// becomes `InternalError` naming the provider and call (the reservation is released).
    pub async fn call<T>(
        &self,
        call: Call<'_>,
        check: impl Fn(&Reply) -> Result<()>,
        settle: impl FnOnce(Reply) -> Result<(T, Record)>,
    ) -> Result<(T, Option<Committed>)> {
        use futures::FutureExt;
        let report = call.report.to_string();
        std::panic::AssertUnwindSafe(self.call_inner(call, check, settle))
            .catch_unwind()
            .await
            .unwrap_or_else(|p| Err(crate::error::panicked(p, Some(self.provider), &report)))
    }

    async fn call_inner<T>(
        &self,
        call: Call<'_>,
        check: impl Fn(&Reply) -> Result<()>,
        settle: impl FnOnce(Reply) -> Result<(T, Record)>,
    ) -> Result<(T, Option<Committed>)> {
        let cache_key = match self.cache_ttl {
            Some(_) if call.cacheable => Some(self.cache_key(&call.request, call.cache_basis.as_ref())),
            _ => None,
        };
        if let Some(key) = &cache_key {
            if let Some(stored) = self.ledger.backend().cache_get(key).map_err(|e| nothing_sent(e).provider(self.provider))? {
                if let Some(reply) = decode_cached(&stored) {
                    log::debug!(target: "seowire", "{} {} served from the response cache", self.provider, call.report);
                    let (value, record) = settle(reply)?;
                    // Recorded in the ledger as a cached request at 0 units.
                    let hold = self.ledger.reserve(self.scope(), 0, None).map_err(|e| nothing_sent(e).provider(self.provider))?;
                    let committed = hold.commit_or_journal(&self.booked(&call, Record { units: 0, cached: true, ..record }), self.budget.as_ref())?;
                    return Ok((value, Some(committed)));
                }
            }
        }
        let reservation = if call.metered {
            Some(self.ledger.reserve(self.scope(), call.estimate, self.budget.as_ref()).map_err(|e| nothing_sent(e).provider(self.provider))?)
        } else {
            None
        };
        let billed = call.metered && call.estimate > 0;
        let reply = match self.send(&call.request, &check, billed).await {
            Ok(reply) => reply,
            Err(mut e) => {
                if let (true, Some(hold)) = (billed && may_have_arrived(&e), reservation) {
                    // The provider may have charged it: book the worst case; ledger.sync
                    // reconciles it with the provider's own count.
                    let record = self.booked(&call, Record { units: call.estimate, ..Default::default() });
                    hold.commit_or_journal(&record, self.budget.as_ref())?;
                    e.charged = Some(call.estimate);
                    e.message = format!(
                        "{}; the request may have reached {} and been charged, so its worst case ({} units) is booked in the ledger until ledger.sync reconciles it",
                        e.message, self.provider, call.estimate
                    );
                }
                return Err(e);
            }
        };
        let to_store = cache_key.as_ref().map(|_| encode_cached(&reply));
        let (value, record) = match settle(reply) {
            Ok(v) => v,
            Err(e) => {
                // An answer we cannot use may still have been charged (a cost header said so).
                if let (Some(units), Some(hold)) = (e.charged.filter(|u| *u > 0), reservation) {
                    hold.commit_or_journal(&self.booked(&call, Record { units, ..Default::default() }), self.budget.as_ref())?;
                }
                return Err(e.provider(self.provider));
            }
        };
        if let (Some(key), Some(bytes), Some(ttl)) = (&cache_key, to_store, self.cache_ttl) {
            if crate::secrets::contains_secret(&bytes) {
                log::warn!(target: "seowire", "{}: the answer echoes a credential; not stored in the response cache", self.provider);
            } else if let Err(e) = self.ledger.backend().cache_put(key, &bytes, ttl) {
                log::warn!(target: "seowire", "{}: could not store the answer in the response cache: {}", self.provider, e.message);
            }
        }
        let committed = match reservation {
            Some(r) => Some(r.commit_or_journal(&self.booked(&call, record), self.budget.as_ref())?),
            None => None,
        };
        Ok((value, committed))
    }

    /// Send with retries. The reservation (held by the caller) stays in place across retries;
    /// limits are taken per attempt so a sleeping retry does not hold a slot. The deadline
    /// bounds everything: waiting for limits, each attempt (its timeout is the smaller of the
    /// client's and the time left) and the waits between attempts.
    pub async fn send(&self, request: &Request, check: &impl Fn(&Reply) -> Result<()>, billed: bool) -> Result<Reply> {
        let started = Instant::now();
        let until = self.retry.deadline.map(|d| started + d);
        let left = || until.map(|u| u.saturating_duration_since(Instant::now()));
        let past_deadline = |last: Option<&Error>| {
            let d = self.retry.deadline.unwrap_or_default().as_secs_f64();
            let mut e = Error::new(Kind::Transport, match last {
                Some(l) => format!("{} (deadline of {d:.2}s reached)", l.message),
                None => format!("{}: deadline of {d:.2}s reached before the request could be sent", request.shown),
            })
            .provider(self.provider);
            if let Some(l) = last {
                e.status = l.status;
                e.code = l.code.clone();
                e.before_send = l.before_send;
                e.kind = l.kind;
            } else {
                e.before_send = true;
            }
            e
        };
        let mut rng = rand::rngs::SmallRng::from_os_rng();
        let mut retry = 0u32;
        loop {
            let outcome = {
                let slot = match left() {
                    Some(l) if l.is_zero() => return Err(past_deadline(None)),
                    Some(l) => tokio::time::timeout(l, self.limits.acquire()).await.map_err(|_| past_deadline(None))?,
                    None => self.limits.acquire().await,
                };
                let _slot = slot.map_err(|e| e.provider(self.provider))?;
                let timeout = left().map_or(self.timeout, |l| l.min(self.timeout)).max(Duration::from_millis(1));
                log::debug!(target: "seowire", "{} {} {}", self.provider, request.method, request.shown);
                match self.attempt(request, timeout).await {
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
            if billed && may_have_arrived(&error) && !self.retry.retry_billed_timeouts {
                // A retry could pay twice; RetryPolicy(retry_billed_timeouts=True) allows it.
                return Err(exhausted(error, retry));
            }
            let delay = self.retry.delay(retry, &error, &mut rng);
            if let Some(l) = left() {
                if delay >= l {
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

    /// One attempt: the request and any same-origin redirects. Credentials never leave the
    /// origin: a redirect elsewhere is an error and is not followed.
    async fn attempt(&self, request: &Request, timeout: Duration) -> Result<Reply> {
        let client = http();
        let started = Instant::now();
        let mut method = request.method.clone();
        let mut body = request.body.clone();
        let mut url = request.url.clone();
        let mut shown = request.shown.clone();
        for hop in 0..=MAX_REDIRECTS {
            let left = timeout.saturating_sub(started.elapsed()).max(Duration::from_millis(1));
            let mut builder = client.request(method.clone(), &url).timeout(left);
            for (name, value) in &request.headers {
                builder = builder.header(*name, value);
            }
            if let Some(b) = &body {
                builder = builder.body(b.clone());
            }
            let response = builder.send().await.map_err(|e| transport(e, &shown))?;
            let status = response.status().as_u16();
            if matches!(status, 301 | 302 | 303 | 307 | 308) {
                let location = response.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                let here = url::Url::parse(&url).map_err(|e| Error::invalid(format!("bad URL {shown}: {e}")))?;
                let next = here.join(&location).map_err(|_| {
                    Error::new(Kind::Provider, format!("HTTP {status} redirect with an unreadable location {:?}", crate::secrets::scrub(&location))).status(status)
                })?;
                if next.origin() != here.origin() {
                    return Err(Error::new(
                        Kind::Provider,
                        format!(
                            "HTTP {status}: the server redirected to another origin ({}); seowire follows no cross-origin redirect, so no credential was sent there",
                            crate::secrets::scrub(next.as_str())
                        ),
                    )
                    .status(status));
                }
                if hop == MAX_REDIRECTS {
                    return Err(Error::new(Kind::Provider, format!("more than {MAX_REDIRECTS} redirects from {shown}")).status(status));
                }
                if status == 303 || (matches!(status, 301 | 302) && method == reqwest::Method::POST) {
                    method = reqwest::Method::GET;
                    body = None;
                }
                url = next.to_string();
                shown = crate::secrets::scrub(&url);
                continue;
            }
            let headers = response.headers().clone();
            let body = read_body(response, &shown).await?;
            return Ok(Reply { status, headers, body, cached: false });
        }
        unreachable!("the loop returns")
    }
}

/// Same-origin redirects followed per attempt.
const MAX_REDIRECTS: usize = 5;
/// The largest answer read (no report of any provider comes near it): a server that sends
/// more is refused, not buffered until memory runs out.
pub const MAX_BODY: u64 = 1 << 30;

/// A body read chunk by chunk into one buffer sized from `Content-Length` (bounded), so a large
/// answer is neither copied while it grows nor allowed past `MAX_BODY`.
async fn read_body(mut response: reqwest::Response, shown: &str) -> Result<Bytes> {
    let too_big = || Error::new(Kind::Provider, format!("the answer from {shown} is larger than {MAX_BODY} bytes; refused"));
    let declared = response.content_length().unwrap_or(0);
    if declared > MAX_BODY {
        return Err(too_big());
    }
    let mut buf = bytes::BytesMut::with_capacity(declared as usize);
    while let Some(chunk) = response.chunk().await.map_err(|e| transport(e, shown))? {
        if (buf.len() + chunk.len()) as u64 > MAX_BODY {
            return Err(too_big());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// A transport failure after the connection was made: the server may have the request.
fn may_have_arrived(e: &Error) -> bool {
    e.kind == Kind::Transport && !e.before_send
}

/// A ledger failure before sending says so: nothing was sent, nothing spent.
fn nothing_sent(mut e: Error) -> Error {
    if e.kind == Kind::LedgerUnavailable {
        e.message = format!("{}; nothing was sent, so no unit goes uncounted", e.message);
        e.before_send = true;
    }
    e
}

impl Engine {
    /// Provider, account, method, URL with its query sorted (the secret already `***`), body:
    /// hashed, so the key never holds the secret and identical requests meet.
    fn cache_key(&self, r: &Request, basis: Option<&Bytes>) -> String {
        use sha2::Digest;
        let (path, query) = r.shown.split_once('?').unwrap_or((&r.shown, ""));
        let mut pairs: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
        pairs.sort_unstable();
        let mut h = sha2::Sha256::new();
        for part in [self.provider, &self.account, r.method.as_str(), path, &pairs.join("&")] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        if let Some(b) = basis.or(r.body.as_ref()) {
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
    if e.is_builder() {
        // Our request could not be built (a header value, a URL): retrying cannot help.
        let mut err = Error::invalid(format!("the request to {shown} could not be built"));
        err.before_send = true;
        return err;
    }
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
    fn account_hash_is_stable_and_not_the_key() {
        let h = account_hash("semrush", "secret-key");
        assert_eq!(h.len(), 16);
        assert_eq!(h, account_hash("semrush", "secret-key"));
        assert_ne!(h, account_hash("ahrefs", "secret-key"));
        assert!(!h.contains("secret"));
    }
}
