//! A loopback HTTP server that speaks the providers' wire formats, for tests, benchmarks and
//! users' own pipelines. Deterministic data, a unit balance per key, the providers' limits,
//! injectable faults and latency, and a JSON control API under `/_emulator/`.
//!
//! Routes: `/semrush/...` (analytics `/`, backlinks `/analytics/v1/`, `/users/countapiunits.html`),
//! `/moz/v2/<endpoint>`, `/ahrefs/v3/<tool>/<report>`, `/scim/v2/Users` (Ahrefs SCIM).
//! Each provider lives in its own module; this one holds the server, state and faults.

mod ahrefs;
pub mod facts;
mod moz;
mod mozapi;
mod scim;
mod semrush;
mod semrush_projects;
mod semrush_trends;
mod semrush_v4;

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::net::TcpListener;

pub type Body = BoxBody<Bytes, std::io::Error>;

/// Settings a test can change at run time (`POST /_emulator/config`). Unknown provider
/// behaviours (reference: [T]/[I]/Open) are settings, not hard-coded guesses.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Units (SEMrush) each new key starts with.
    pub balance: u64,
    /// Accepted keys; `None` accepts any well-formed key.
    pub keys: Option<Vec<String>>,
    /// Added before every answer.
    pub latency_ms: u64,
    /// Requests per second per key (`None`: unlimited).
    pub rate_limit: Option<u32>,
    /// Requests in flight per key (`None`: unlimited).
    pub concurrency_limit: Option<u32>,
    /// HTTP status per SEMrush error code (the real status is undocumented).
    pub error_status: HashMap<u32, u16>,
    /// Rows available in every list report (default: varies by target).
    pub rows: Option<u64>,
    /// Rows available per target, overriding `rows`.
    pub rows_per_target: HashMap<String, u64>,
    /// End the CSV with a newline (the real API has done both).
    pub trailing_newline: bool,
    /// countapiunits answers `1,000` rather than `1000`.
    pub balance_thousands_separator: bool,
    /// Moz: requests in flight per credential (the plan's limit; large = 10).
    pub moz_concurrency: Option<u32>,
    /// Moz: extra rows per url_metrics target for each history/distribution modifier (unpublished).
    pub moz_modifier_weight: u64,
    /// Moz: how the last page ends: `missing` next_token, `empty` string or `null` (unpublished).
    pub moz_last_page: String,
    /// Moz: error body shape: `object`, `list` or `text` (unpublished).
    pub moz_error_format: String,
    /// Moz: HTTP status when the row quota is gone (unpublished).
    pub moz_quota_status: u16,
    /// Moz: the message of that error (unpublished).
    pub moz_quota_message: String,
    /// Moz: status when a credential is throttled, 429 or 503 (unpublished), and its
    /// `Retry-After` in seconds (`None`: no header).
    pub moz_throttle_status: u16,
    pub moz_throttle_retry_after: Option<u64>,
    /// Moz: `usage_data` leaves out calls this recent (the reference: up to an hour).
    pub moz_usage_lag_seconds: u64,
    /// Moz API: rows allotted per quota pool (data, beta, mozscape) for each token.
    pub moz_api_allotted: std::collections::BTreeMap<String, u64>,
    /// Moz API: HTTP status of an out-of-quota call (unpublished [Open]).
    pub moz_api_quota_status: u16,
    /// Moz API: status once the 4xx penalty throttles a token (unpublished [Open]).
    pub moz_api_throttle_status: u16,
    /// Moz API: apply the 4xx penalty (more than 50 4xx in 5 minutes: 50 requests per 5 minutes).
    pub moz_api_penalty: bool,
    /// Moz API: sites (or link-status sources) answered in `errors_by_*` by the bulk methods.
    pub moz_api_item_errors: Vec<String>,
    /// Moz API: the bulk methods answer out of request order (the documented example does).
    pub moz_api_unordered: bool,
    /// Moz API: keywords whose metrics are all null (unknown to the index).
    pub moz_api_null_keywords: Vec<String>,
    /// Moz API: the hyphenated doc titles resolve like the dotted names (assumed [I]).
    pub moz_api_hyphen_names: bool,
    /// Moz API: what `metadata.index.fetch` reports (change it to emulate an index update).
    pub moz_api_index_id: String,
    /// SEMrush v4: v4 key -> the account (v3 key) whose balance and limits it shares.
    pub semrush_v4_accounts: HashMap<String, String>,
    /// SEMrush v4: a prefix every v4 key has (`semrtkn` in public code [T]); a key without it is
    /// answered as a v3 key on v4. `None`: any key works on v4 (the default: unknown [Open]).
    pub semrush_v4_key_prefix: Option<String>,
    /// SEMrush v4: how operations of unknown shape answer: `not_found` (404), `empty` (a `data`
    /// list with nothing) or `object` (an empty `data` object) [Open].
    pub semrush_v4_unknown_ops: String,
    /// SEMrush Trends: its own allowance per key (units; a default of 10,000 requests a month [T]).
    pub semrush_trends_allowance: u64,
    /// SEMrush Trends: the CSV separator (the docs say `,`, every example uses `;`).
    pub semrush_trends_separator: String,
    /// SEMrush Trends: targets without data (summary bills only targets with data).
    pub semrush_trends_no_data: Vec<String>,
    /// SEMrush Trends: the limits endpoint's body (unpublished [Open]; default a small JSON).
    pub semrush_trends_limits_body: Option<String>,
    /// SEMrush Position Tracking: keywords of every emulated campaign (they set its price).
    pub semrush_tracking_keywords: u64,
    /// Ahrefs: requests per minute per key (`None`: unlimited).
    pub ahrefs_rate_per_minute: Option<u32>,
    /// Ahrefs: units per key (`units_limit_api_key`; `None`: no per-key cap).
    pub ahrefs_units_limit: Option<u64>,
    /// Ahrefs: the key's `api_key_expiration_date` in `limits-and-usage`.
    pub ahrefs_key_expiration: String,
    /// Ahrefs: the 403 text when the key's units are gone (unpublished).
    pub ahrefs_quota_message: String,
    /// Ahrefs: a repeated identical request is a cache hit (0 units).
    pub ahrefs_cache_hits: bool,
    /// Ahrefs: send `x-api-units-cost-total-actual` (else clients must use `x-api-rows`).
    pub ahrefs_actual_header: bool,
    /// Ahrefs: free test targets (host names) and keywords.
    pub ahrefs_free_targets: Vec<String>,
    pub ahrefs_free_keywords: Vec<String>,
    /// Whether subdomains of a free target are free too ("any URL on them" [C]; subdomains
    /// are unconfirmed, so a setting; on by default, unlike the client, which assumes not).
    pub ahrefs_free_subdomains: bool,
    /// SCIM: the most users one ListResponse page carries.
    pub scim_max_count: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            balance: 1_000_000,
            keys: None,
            latency_ms: 0,
            rate_limit: Some(10),
            concurrency_limit: Some(10),
            error_status: HashMap::new(),
            rows: None,
            rows_per_target: HashMap::new(),
            trailing_newline: true,
            balance_thousands_separator: true,
            moz_concurrency: Some(10),
            // Unpublished [Open providers.md §1.5]: the emulator's own guess, a setting.
            moz_modifier_weight: 2,
            moz_last_page: "missing".into(),
            moz_error_format: "object".into(),
            moz_quota_status: 403,
            moz_quota_message: "row limit reached: your plan's rows quota for this billing period is exhausted".into(),
            moz_throttle_status: 429,
            moz_throttle_retry_after: None,
            moz_usage_lag_seconds: 0,
            moz_api_allotted: [("data", 1_000_000u64), ("beta", 10_000), ("mozscape", 1_000_000)].into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            moz_api_quota_status: 429,
            moz_api_throttle_status: 429,
            moz_api_penalty: true,
            moz_api_item_errors: Vec::new(),
            moz_api_unordered: true,
            moz_api_null_keywords: vec!["zzqx unknown keyword".into()],
            moz_api_hyphen_names: true,
            moz_api_index_id: "2026-11".into(),
            semrush_v4_accounts: HashMap::new(),
            semrush_v4_unknown_ops: "not_found".into(),
            semrush_trends_allowance: 10_000,
            semrush_tracking_keywords: 5,
            semrush_trends_separator: ";".into(),
            semrush_trends_no_data: Vec::new(),
            semrush_trends_limits_body: None,
            semrush_v4_key_prefix: None,
            ahrefs_rate_per_minute: Some(60),
            ahrefs_units_limit: Some(1_000_000),
            ahrefs_key_expiration: "2027-11-01T00:00:00Z".into(),
            ahrefs_quota_message: "API units limit reached for this key: insufficient units".into(),
            ahrefs_cache_hits: false,
            ahrefs_actual_header: true,
            // The emulator's own facts (reference providers.md, free test queries [C via AHEV]),
            // not the client's table.
            ahrefs_free_targets: ["ahrefs.com", "yep.com", "firehose.com"].map(String::from).to_vec(),
            ahrefs_free_keywords: ["ahrefs", "yep", "firehose"].map(String::from).to_vec(),
            ahrefs_free_subdomains: true,
            scim_max_count: 100,
        }
    }
}

/// A fault to inject into the next matching request(s).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fault {
    /// `status` (HTTP status with a generic body), `error` (provider error body, e.g. SEMrush
    /// `ERROR nn`), `reset` (close the connection, no answer), `truncate` (body shorter than
    /// Content-Length), `slow_body` (body trickles out), `stall` (headers, then a body that
    /// never ends), `latency` (extra delay), `html` (a proxy/CDN challenge page under 200),
    /// `echo` (an error body quoting the credential the request carried), `redirect` (to
    /// `location`), `headers` (the normal answer with `headers` added).
    pub kind: String,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub code: Option<u32>,
    #[serde(default)]
    pub retry_after: Option<String>,
    #[serde(default)]
    pub delay_ms: Option<u64>,
    /// Body of a `status` fault (default: a short text).
    #[serde(default)]
    pub body: Option<String>,
    /// Where a `redirect` fault points (any URL, e.g. another origin).
    #[serde(default)]
    pub location: Option<String>,
    /// Headers set on the answer, whatever the fault (hostile values: `Retry-After: 1e20`,
    /// `x-api-units-cost-total-actual: 1e400`).
    #[serde(default)]
    pub headers: Option<std::collections::BTreeMap<String, String>>,
    /// How many requests it hits (default 1).
    #[serde(default = "one")]
    pub count: u32,
    /// Only requests to this provider (default: any).
    #[serde(default)]
    pub provider: Option<String>,
    /// Let this many matching requests pass first (spreads faults over a run).
    #[serde(default)]
    pub after: u32,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct Counters {
    pub requests: u64,
    pub units_charged: u64,
    pub peak_in_flight: u64,
    pub in_flight: u64,
    pub rejected_rate: u64,
    pub rejected_concurrency: u64,
    pub faults_injected: u64,
    pub by_provider: HashMap<String, u64>,
    pub units_by_provider: HashMap<String, u64>,
}

#[derive(Default)]
pub struct Inner {
    pub config: Config,
    pub counters: Counters,
    pub balances: HashMap<String, u64>,
    pub faults: VecDeque<Fault>,
    /// Arrival times (seconds since start) per provider, for checking rate limits from tests.
    pub arrivals: HashMap<String, Vec<f64>>,
    pub recent: HashMap<String, VecDeque<Instant>>,
    pub in_flight_by_key: HashMap<String, u64>,
    pub moz_rows_consumed: HashMap<String, u64>,
    /// Moz rows charged per account, with the unix second of each charge (for `usage_data`).
    pub moz_usage: HashMap<String, Vec<(u64, u64)>>,
    /// Moz API rows used per `token|pool`, and each token's recent 4xx answers and requests.
    pub moz_api_used: HashMap<String, u64>,
    /// SEMrush Trends units used per key (its own allowance).
    pub trends_used: HashMap<String, u64>,
    pub moz_api_penalty: HashMap<String, Penalty>,
    /// Ahrefs units charged per key, and requests seen (for cache hits).
    pub ahrefs_usage: HashMap<String, u64>,
    pub ahrefs_seen: std::collections::HashSet<String>,
    /// Ahrefs Connect: issued codes -> (code_challenge, client_id, redirect_uri, scope).
    pub oauth_codes: HashMap<String, (String, String, String, String)>,
    pub scim_users: Vec<serde_json::Value>,
    pub scim_next_id: u64,
}

/// A token's recent 4xx answers and requests (Moz's penalty rule).
#[derive(Default)]
pub struct Penalty {
    pub errors: VecDeque<std::time::Instant>,
    pub requests: VecDeque<std::time::Instant>,
}

pub struct State {
    pub inner: Mutex<Inner>,
    pub started: Instant,
}

impl State {
    pub fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Inner {
    /// Balance of a key, created on first use.
    pub fn balance(&mut self, key: &str) -> u64 {
        let start = self.config.balance;
        *self.balances.entry(key.to_string()).or_insert(start)
    }

    pub fn charge(&mut self, provider: &str, key: &str, units: u64) {
        let b = self.balance(key);
        self.balances.insert(key.to_string(), b.saturating_sub(units));
        self.counters.units_charged += units;
        *self.counters.units_by_provider.entry(provider.to_string()).or_default() += units;
    }

    fn take_fault(&mut self, provider: &str) -> Option<Fault> {
        let matches = |f: &Fault| f.provider.as_deref().is_none_or(|p| p == provider);
        let idx = self.faults.iter().position(|f| matches(f) && f.after == 0);
        for f in self.faults.iter_mut().filter(|f| matches(f) && f.after > 0) {
            f.after -= 1;
        }
        let idx = idx?;
        let f = self.faults[idx].clone();
        if f.count <= 1 {
            self.faults.remove(idx);
        } else {
            self.faults[idx].count -= 1;
        }
        self.counters.faults_injected += 1;
        Some(f)
    }

    /// Admit a request under a per-key rate (count per window) and concurrency limit.
    pub fn admit(&mut self, key: &str, rate: Option<(u32, Duration)>, concurrency: Option<u32>) -> Result<(), &'static str> {
        let now = Instant::now();
        if let Some(limit) = concurrency {
            if self.in_flight_by_key.get(key).copied().unwrap_or(0) >= limit as u64 {
                self.counters.rejected_concurrency += 1;
                return Err("concurrency");
            }
        }
        if let Some((limit, window)) = rate {
            let q = self.recent.entry(key.to_string()).or_default();
            while q.front().is_some_and(|t| now.duration_since(*t) >= window) {
                q.pop_front();
            }
            if q.len() >= limit as usize {
                self.counters.rejected_rate += 1;
                return Err("rate");
            }
            q.push_back(now);
        }
        *self.in_flight_by_key.entry(key.to_string()).or_default() += 1;
        Ok(())
    }

    pub fn done(&mut self, key: &str) {
        if let Some(n) = self.in_flight_by_key.get_mut(key) {
            *n = n.saturating_sub(1);
        }
    }
}

/// Releases a per-key in-flight slot when the request is answered.
pub struct Admitted<'a>(pub &'a State, pub String);

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        self.0.lock().done(&self.1);
    }
}

/// Tracks one request in flight for the global counters.
struct InFlight(Arc<State>);

impl InFlight {
    fn new(state: Arc<State>) -> Self {
        {
            let mut g = state.lock();
            g.counters.in_flight += 1;
            g.counters.peak_in_flight = g.counters.peak_in_flight.max(g.counters.in_flight);
        }
        InFlight(state)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.lock().counters.in_flight -= 1;
    }
}

pub fn full(status: u16, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()).map_err(|never: Infallible| match never {}).boxed());
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert("content-type", content_type.parse().expect("static header"));
    r
}

fn json_response(status: u16, v: serde_json::Value) -> Response<Body> {
    full(status, "application/json", v.to_string())
}

/// What a provider handler returns before faults shape it.
pub enum Answer {
    Reply(Response<Body>),
    /// Close the connection without answering.
    Reset,
}

/// The running server.
pub struct Server {
    pub addr: SocketAddr,
    pub state: Arc<State>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Server {
    pub async fn start(port: u16, config: Config) -> std::io::Result<Server> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State { inner: Mutex::new(Inner { config, ..Default::default() }), started: Instant::now() });
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let st = state.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = &mut rx => break,
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        let _ = stream.set_nodelay(true);
                        let st = st.clone();
                        tokio::spawn(async move {
                            let io = hyper_util::rt::TokioIo::new(stream);
                            let svc = hyper::service::service_fn(move |req| handle(st.clone(), req));
                            let _ = hyper::server::conn::http1::Builder::new().keep_alive(true).serve_connection(io, svc).await;
                        });
                    }
                }
            }
        });
        Ok(Server { addr, state, stop: Some(tx) })
    }

    pub fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

#[derive(Debug)]
struct Closed;
impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset by emulator fault")
    }
}
impl std::error::Error for Closed {}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Response<Body>, Closed> {
    let path = req.uri().path().to_string();
    if let Some(control) = path.strip_prefix("/_emulator/") {
        let control = control.to_string();
        let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        return Ok(control_api(&state, &control, &body));
    }
    let provider = path.trim_start_matches('/').split('/').next().unwrap_or("").to_string();
    // What an `echo` fault quotes back: the credential the request carried.
    let credential = {
        let h = req.headers();
        let header = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
        header("x-moz-token").or_else(|| header("authorization")).or_else(|| {
            url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes()).find(|(k, _)| k == "key").map(|(_, v)| v.into_owned())
        })
    };
    let _flight = InFlight::new(state.clone());
    let (fault, latency) = {
        let mut g = state.lock();
        g.counters.requests += 1;
        *g.counters.by_provider.entry(provider.clone()).or_default() += 1;
        let t = state.started.elapsed().as_secs_f64();
        let arrivals = g.arrivals.entry(provider.clone()).or_default();
        if arrivals.len() < 1_000_000 {
            arrivals.push(t);
        }
        (g.take_fault(&provider), g.config.latency_ms)
    };
    let delay = Duration::from_millis(
        latency + fault.as_ref().filter(|f| f.kind == "latency").and_then(|f| f.delay_ms).unwrap_or(0),
    );
    // Latency is the server's response time, its own work included, as a real API's would be:
    // handlers build the reply first and then wait out what is left of it.
    let ready_at = tokio::time::Instant::now() + delay;
    let is_fault = fault.as_ref().is_some_and(|f| matches!(f.kind.as_str(), "reset" | "status" | "error" | "html" | "echo" | "redirect"));
    if is_fault {
        wait_until(ready_at).await;
    }
    let answer = match fault.as_ref().map(|f| f.kind.as_str()) {
        Some("reset") => Answer::Reset,
        Some("html") => Answer::Reply(full(
            fault.as_ref().and_then(|f| f.status).unwrap_or(200),
            "text/html; charset=UTF-8",
            "<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>Checking your browser before accessing the site.</body></html>",
        )),
        Some("echo") => {
            let f = fault.as_ref().expect("matched");
            let shown = credential.clone().unwrap_or_default();
            match provider.as_str() {
                "semrush" => Answer::Reply(full(200, "text/html; charset=UTF-8", format!("ERROR 120 :: WRONG KEY - ID PAIR {shown}"))),
                _ => Answer::Reply(json_response(f.status.unwrap_or(401), json!({"error": format!("invalid credentials: {shown}")}))),
            }
        }
        Some("redirect") => {
            let f = fault.as_ref().expect("matched");
            let mut r = full(f.status.unwrap_or(307), "text/plain", "moved");
            if let Some(Ok(loc)) = f.location.as_deref().map(|l| l.parse()) {
                r.headers_mut().insert("location", loc);
            }
            Answer::Reply(r)
        }
        Some("status") => {
            let f = fault.as_ref().expect("matched");
            let status = f.status.unwrap_or(503);
            let mut r = match &f.body {
                Some(b) => full(status, if b.starts_with(['{', '[']) { "application/json" } else { "text/plain" }, b.clone()),
                None => full(status, "text/plain", format!("emulated HTTP {status}")),
            };
            if let Some(ra) = &f.retry_after {
                r.headers_mut().insert("retry-after", ra.parse().unwrap_or_else(|_| "1".parse().expect("static")));
            }
            Answer::Reply(r)
        }
        Some("error") => {
            let f = fault.as_ref().expect("matched");
            let code = f.code.unwrap_or(500);
            match provider.as_str() {
                "semrush" => Answer::Reply(semrush::error(&state.lock().config, code, f.retry_after.as_deref())),
                "ahrefs" => Answer::Reply(ahrefs::error(f.status.unwrap_or(500), "emulated provider error", f.retry_after.as_deref())),
                // The Moz API's error envelope; the code defaults to the generic -32602.
                "moz" if path.trim_end_matches('/').ends_with("/jsonrpc") => {
                    let status = f.status.unwrap_or(500);
                    let code = f.code.map_or(-32602, |c| -(c as i64));
                    Answer::Reply(json_response(status, json!({"id": null, "jsonrpc": "2.0", "error": {"code": code, "status": status, "message": "emulated provider error", "data": {"issue": "emulated"}}})))
                }
                _ => Answer::Reply(full(f.status.unwrap_or(500), "text/plain", format!("emulated error {code}"))),
            }
        }
        _ => match provider.as_str() {
            "semrush" if path.starts_with("/semrush/apis/v4/") => semrush_v4::handle(&state, req, ready_at).await,
            "semrush" if path.starts_with("/semrush/analytics/ta/") => semrush_trends::handle(&state, req, ready_at).await,
            "semrush" if path.starts_with("/semrush/management/v1/") || path.starts_with("/semrush/reports/v1/") => semrush_projects::handle(&state, req, ready_at).await,
            "semrush" => semrush::handle(&state, req, ready_at).await,
            "moz" if path.trim_end_matches('/').ends_with("/jsonrpc") => mozapi::handle(&state, req, ready_at).await,
            "moz" => moz::handle(&state, req, ready_at).await,
            "ahrefs" => ahrefs::handle(&state, req, ready_at).await,
            "scim" => scim::handle(&state, req, ready_at).await,
            _ => Answer::Reply(json_response(404, json!({"error": format!("no emulated provider at {path}")}))),
        },
    };
    let mut response = match answer {
        Answer::Reset => return Err(Closed),
        Answer::Reply(r) => r,
    };
    for (name, value) in fault.as_ref().and_then(|f| f.headers.as_ref()).into_iter().flatten() {
        if let (Ok(n), Ok(v)) = (hyper::header::HeaderName::from_bytes(name.as_bytes()), hyper::header::HeaderValue::from_str(value)) {
            response.headers_mut().insert(n, v);
        }
    }
    Ok(match fault.as_ref().map(|f| f.kind.as_str()) {
        Some("truncate") => truncate(response).await,
        Some("slow_body") => slow(response, fault.as_ref().and_then(|f| f.delay_ms).unwrap_or(200)).await,
        Some("stall") => stall(response).await,
        _ => response,
    })
}

async fn truncate(response: Response<Body>) -> Response<Body> {
    let (mut parts, body) = response.into_parts();
    let bytes = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let cut = bytes.slice(..bytes.len() / 2);
    parts.headers.insert("content-length", (bytes.len().max(1)).to_string().parse().expect("number"));
    let stream = futures::stream::iter(vec![
        Ok::<_, std::io::Error>(Frame::data(cut)),
        Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "truncated by emulator fault")),
    ]);
    Response::from_parts(parts, StreamBody::new(stream).boxed())
}

/// Headers and the first bytes, then nothing: a body that never ends.
async fn stall(response: Response<Body>) -> Response<Body> {
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let first = bytes.slice(..bytes.len().min(8));
    let stream = futures::StreamExt::chain(futures::stream::iter(vec![Ok::<_, std::io::Error>(Frame::data(first))]), futures::stream::pending());
    Response::from_parts(parts, StreamBody::new(stream).boxed())
}

async fn slow(response: Response<Body>, delay_ms: u64) -> Response<Body> {
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let chunks: Vec<Bytes> = bytes.chunks(bytes.len().div_ceil(4).max(1)).map(Bytes::copy_from_slice).collect();
    let stream = futures::stream::unfold(chunks.into_iter(), move |mut it| async move {
        let next = it.next()?;
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        Some((Ok::<_, std::io::Error>(Frame::data(next)), it))
    });
    Response::from_parts(parts, StreamBody::new(stream).boxed())
}

fn control_api(state: &State, what: &str, body: &[u8]) -> Response<Body> {
    let parse = |b: &[u8]| -> Result<serde_json::Value, String> {
        if b.is_empty() {
            Ok(json!({}))
        } else {
            serde_json::from_slice(b).map_err(|e| e.to_string())
        }
    };
    let mut g = state.lock();
    match what {
        "stats" => json_response(200, json!({
            "counters": g.counters,
            "balances": g.balances.len(),
            "faults_pending": g.faults.len(),
        })),
        "arrivals" => json_response(200, json!(g.arrivals)),
        "reset" => match parse(body).and_then(|v| merge(&Config::default(), v)) {
            Ok(config) => {
                *g = Inner { config, ..Default::default() };
                json_response(200, json!({"ok": true}))
            }
            Err(e) => json_response(400, json!({"error": e})),
        },
        "config" => match parse(body).and_then(|v| merge(&g.config, v)) {
            Ok(config) => {
                g.config = config;
                json_response(200, json!(g.config))
            }
            Err(e) => json_response(400, json!({"error": e})),
        },
        "faults" => match parse(body).and_then(|v| {
            let list = if v.is_array() { v } else { json!([v]) };
            serde_json::from_value::<Vec<Fault>>(list).map_err(|e| e.to_string())
        }) {
            Ok(faults) => {
                g.faults.extend(faults);
                json_response(200, json!({"pending": g.faults.len()}))
            }
            Err(e) => json_response(400, json!({"error": e})),
        },
        "balance" => match parse(body) {
            Ok(v) => {
                let key = v.get("key").and_then(|k| k.as_str()).unwrap_or("").to_string();
                if let Some(units) = v.get("units").and_then(|u| u.as_u64()) {
                    g.balances.insert(key.clone(), units);
                }
                let b = g.balance(&key);
                json_response(200, json!({"units": b}))
            }
            Err(e) => json_response(400, json!({"error": e})),
        },
        _ => json_response(404, json!({"error": format!("unknown control endpoint {what}")})),
    }
}

fn merge(base: &Config, patch: serde_json::Value) -> Result<Config, String> {
    let mut v = serde_json::to_value(base).map_err(|e| e.to_string())?;
    let (Some(obj), Some(p)) = (v.as_object_mut(), patch.as_object()) else {
        return Err("config must be a JSON object".into());
    };
    for (k, val) in p {
        if !obj.contains_key(k) {
            return Err(format!("unknown emulator setting {k:?}"));
        }
        obj.insert(k.clone(), val.clone());
    }
    serde_json::from_value(v).map_err(|e| e.to_string())
}

/// Stable 64-bit hash (FNV-1a) for deterministic synthetic data.
pub fn stable_hash(parts: &[&str]) -> u64 {
    parts.iter().fold(StableHash::default(), |h, p| h.part(p)).finish()
}

/// `stable_hash` in steps, so that a shared prefix (a page hashed with 52 field names) is
/// hashed once.
#[derive(Clone, Copy)]
pub struct StableHash(u64);

impl Default for StableHash {
    fn default() -> Self {
        Self(0xcbf29ce484222325)
    }
}

impl StableHash {
    pub fn part(self, p: &str) -> Self {
        let mut h = self.0;
        for &b in p.as_bytes() {
            h = (h ^ b as u64).wrapping_mul(0x100000001b3);
        }
        Self((h ^ 0xff).wrapping_mul(0x100000001b3))
    }

    pub fn finish(self) -> u64 {
        // splitmix finaliser: neighbouring inputs give unrelated outputs.
        let mut h = self.0;
        h ^= h >> 30;
        h = h.wrapping_mul(0xbf58476d1ce4e5b9);
        h ^= h >> 27;
        h = h.wrapping_mul(0x94d049bb133111eb);
        h ^ (h >> 31)
    }
}

/// Query string to pairs (percent-decoded).
pub fn query_pairs(uri: &hyper::Uri) -> Vec<(String, String)> {
    uri.query().map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default()
}

/// Waits until `t`, to within a fraction of a millisecond. tokio's timer works in whole
/// milliseconds and wakes 1 to 2 ms late (an elapsed deadline still waits for the next tick),
/// which would make every emulated latency that much longer; the last stretch is slept on a
/// blocking thread instead, whose sleep is precise.
async fn wait_until(t: tokio::time::Instant) {
    const COARSE: Duration = Duration::from_millis(3);
    let now = tokio::time::Instant::now();
    if now >= t {
        return;
    }
    if t - now > COARSE {
        tokio::time::sleep_until(t - COARSE).await;
    }
    let rest = t.saturating_duration_since(tokio::time::Instant::now());
    if !rest.is_zero() {
        let _ = tokio::task::spawn_blocking(move || std::thread::sleep(rest)).await;
    }
}

/// Seconds since the epoch, now.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
