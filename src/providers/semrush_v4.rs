//! SEMrush API v4 (providers-next.md §2.4): REST JSON under `https://api.semrush.com/apis/v4/`,
//! the v4 key only in `Authorization: Apikey <key>`, the `{meta, data | error}` envelope with a
//! request id and a `retryable` flag, `limit`/`offset` paging without a total. The named SEO
//! operations and their prices ([T]) are a table the user can override (`prices`); an operation
//! without a known price is refused rather than under-reserved.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::{JsonPage, Unwrap};
use crate::error::{Error, Kind, Result};
use crate::http::{retry_after, Call, Engine, Reply, Request};
use crate::ledger::{Budget, Ledger, Record};
use crate::limits::Limits;
use crate::retry::RetryPolicy;

pub const PROVIDER: &str = "semrush";
pub const DEFAULT_BASE: &str = "https://api.semrush.com/apis/v4";
/// Rows per v4 page when the caller gives no limit (unpublished [Open]; a setting of pages()).
pub const DEFAULT_LIMIT: u64 = 100;

/// How a v4 operation is priced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Price {
    PerRequest(u64),
    PerLine(u64),
}

/// A named v4 operation: path, parameters, required ones, price and its tag.
#[derive(Debug)]
pub struct Op {
    pub path: &'static str,
    pub name: &'static str,
    /// What it answers, in a line (the generated method's docstring).
    pub about: &'static str,
    pub params: &'static [&'static str],
    pub required: &'static [&'static str],
    pub price: Price,
    pub paged: bool,
    pub tag: &'static str,
}

const BACKLINKS: &[&str] = &["url", "scope", "fields", "filter", "limit", "offset", "sort", "format"];
pub const SCOPES: &[&str] = &["ROOT_DOMAIN", "SUBDOMAIN", "SUBFOLDER", "PAGE"];
/// What a parameter is when a call leaves it out (the named methods' default).
pub const DEFAULTS: &[(&str, &str)] = &[("scope", "ROOT_DOMAIN")];
/// The catalog type of each parameter (one fact per name; `scope` is one of [`SCOPES`],
/// `fields` a list or a comma-joined string, months YYYY-MM).
pub const PARAM_TYPES: &[(&str, &str)] = &[
    ("url", "string"),
    ("scope", "scope"),
    ("fields", "fields"),
    ("filter", "string"),
    ("limit", "integer"),
    ("offset", "integer"),
    ("sort", "string"),
    ("format", "string"),
    ("date_from", "month"),
    ("date_to", "month"),
    ("keyword", "string"),
    ("country", "string"),
    ("month", "month"),
];

pub static OPS: &[Op] = &[
    Op { path: "backlinks/v1/overview", name: "backlinks_v4_overview", about: "Backlinks overview of a URL or domain", params: &["url", "scope", "fields", "format"], required: &["url", "scope"], price: Price::PerRequest(45), paged: false, tag: "T SREV" },
    Op {
        path: "backlinks/v1/summary",
        name: "backlinks_v4_summary", about: "Backlinks history by month (date_from/date_to as YYYY-MM)",
        params: &["url", "scope", "fields", "limit", "offset", "date_from", "date_to", "format"],
        required: &["url", "scope"],
        price: Price::PerLine(40),
        paged: true,
        tag: "T SREV",
    },
    Op { path: "backlinks/v1/links", name: "backlinks_v4_links", about: "Backlinks of a URL or domain (limit/offset, fields, filter)", params: BACKLINKS, required: &["url", "scope"], price: Price::PerLine(45), paged: true, tag: "T SREV" },
    Op { path: "backlinks/v1/ref-domains", name: "backlinks_v4_ref_domains", about: "Referring domains of a URL or domain", params: BACKLINKS, required: &["url", "scope"], price: Price::PerLine(40), paged: true, tag: "T SREV" },
    Op { path: "backlinks/v1/ref-ips", name: "backlinks_v4_ref_ips", about: "Referring IPs of a URL or domain", params: BACKLINKS, required: &["url", "scope"], price: Price::PerLine(20), paged: true, tag: "T SREV" },
    Op { path: "keywords/v1/metrics", name: "keyword_v4_metrics", about: "Keyword metrics (volume, KD, CPC, competitive density, SERP features, intents, trend) for one keyword, month as YYYY-MM", params: &["keyword", "country", "month", "fields", "format"], required: &["keyword", "country"], price: Price::PerRequest(20), paged: false, tag: "T third-party code" },
];

fn bad(msg: impl Into<String>) -> Error {
    Error::invalid(msg).provider(PROVIDER)
}

pub fn op(path: &str) -> Option<&'static Op> {
    let p = path.trim_matches('/');
    OPS.iter().find(|o| o.path == p || o.name == p)
}

/// A validated v4 request.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub path: String,
    pub query: Vec<(String, String)>,
    pub price: Price,
    pub estimate: u64,
    pub limit: Option<u64>,
    pub offset: u64,
    pub paged: bool,
    pub cache: bool,
}

impl Prepared {
    pub fn page(&self, offset: u64, limit: u64) -> Prepared {
        let mut p = self.clone();
        p.query.retain(|(k, _)| k != "limit" && k != "offset");
        p.query.push(("limit".into(), limit.to_string()));
        p.query.push(("offset".into(), offset.to_string()));
        p.limit = Some(limit);
        p.offset = offset;
        p.estimate = worst(p.price, Some(limit));
        p
    }
}

fn worst(price: Price, limit: Option<u64>) -> u64 {
    match price {
        Price::PerRequest(n) => n,
        Price::PerLine(n) => n.saturating_mul(limit.unwrap_or(DEFAULT_LIMIT)),
    }
}

fn month(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 7 && b[4] == b'-' && b[..4].iter().all(u8::is_ascii_digit) && matches!(s[5..].parse::<u8>(), Ok(1..=12))
}

/// Validate one v4 call. `prices` overrides (or supplies) the price of an operation.
pub fn prepare(path: &str, params: Vec<(String, Value)>, prices: &BTreeMap<String, Price>, strict: bool) -> Result<Prepared> {
    let path = path.trim().trim_matches('/');
    if path.is_empty() || path.contains("..") || path.contains('?') || path.contains("://") || !path.chars().all(|c| c.is_ascii_alphanumeric() || "/-_".contains(c)) {
        return Err(bad(format!("{path:?} is not a v4 operation path (like \"backlinks/v1/overview\")")));
    }
    let named = op(path);
    let path = named.map_or(path, |o| o.path).to_string();
    // Projects v4 prices are unpublished [Open]: the v3 Projects rule (100 per request [C]) is
    // assumed for their plain calls [I]; v4_prices overrides it.
    let projects = ["projects/", "position-tracking/", "site-audit/"].iter().any(|p| path.starts_with(p));
    let price = prices.get(&path).copied().or(named.map(|o| o.price)).or(projects.then_some(Price::PerRequest(100))).ok_or_else(|| {
        bad(format!(
            "SEMrush v4 {path}: no published price, so seowire cannot reserve its worst case; pass v4_prices={{\"{path}\": (\"line\" or \"request\", units)}}"
        ))
    })?;
    let mut query = Vec::new();
    let (mut limit, mut offset) = (None, 0);
    for (k, v) in params {
        if v.is_null() {
            continue;
        }
        if matches!(k.to_ascii_lowercase().as_str(), "key" | "api_key" | "apikey" | "authorization") {
            return Err(bad("the v4 key travels only in the Authorization header: pass v4_key= to the client"));
        }
        if let Some(o) = named {
            if !o.params.contains(&k.as_str()) && strict {
                return Err(super::unknown_param(PROVIDER, &format!("SEMrush v4 {path}"), &k, o.params.iter().copied()));
            }
        }
        let text = match (&v, k.as_str()) {
            (Value::Array(items), "fields") => {
                let names: Vec<String> = items.iter().map(|i| i.as_str().map(str::to_string).ok_or_else(|| bad("fields must be a list of field names"))).collect::<Result<_>>()?;
                if names.iter().any(|n| n.is_empty() || !n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')) {
                    return Err(bad(format!("fields must be plain field names, not {names:?}")));
                }
                names.join(",")
            }
            (Value::String(s), _) => s.clone(),
            (Value::Number(n), _) => n.to_string(),
            (Value::Bool(b), _) => b.to_string(),
            (other, _) => return Err(bad(format!("{k} must be a string or a number, not {other}"))),
        };
        match k.as_str() {
            "scope" if !SCOPES.contains(&text.as_str()) => return Err(bad(format!("scope must be one of {}, not {text:?}", SCOPES.join(", ")))),
            "url" if text.trim().is_empty() || text.chars().count() > 2000 || text.chars().any(char::is_whitespace) => {
                return Err(bad(format!("url must be a URL or domain of at most 2000 characters without spaces, not {:?}", text.chars().take(60).collect::<String>())))
            }
            "date_from" | "date_to" | "month" if !month(&text) => return Err(bad(format!("{k} must be a month 'YYYY-MM', not {text:?}"))),
            "keyword" if text.trim().is_empty() || text.chars().count() > 255 => return Err(bad("keyword must be 1..=255 characters")),
            "country" if !(text.len() == 2 && text.chars().all(|c| c.is_ascii_alphabetic())) => return Err(bad(format!("country must be a two-letter code, not {text:?}"))),
            "limit" => match text.parse::<u64>() {
                Ok(n) if (1..=100_000).contains(&n) => limit = Some(n),
                _ => return Err(bad(format!("limit must be an integer in 1..=100000, not {text:?}"))),
            },
            "offset" => offset = text.parse::<u64>().map_err(|_| bad(format!("offset must be an integer >= 0, not {text:?}")))?,
            "format" if text != "json" => return Err(bad("format: seowire reads v4 JSON (csv is not supported here)")),
            _ => {}
        }
        query.push((k, text));
    }
    if let Some(o) = named {
        for r in o.required {
            if !query.iter().any(|(k, _)| k == r) {
                return Err(bad(format!("SEMrush v4 {} needs {r}", o.path)));
            }
        }
    }
    let paged = named.is_some_and(|o| o.paged) || query.iter().any(|(k, _)| k == "limit");
    if matches!(price, Price::PerLine(_)) && limit.is_none() {
        limit = Some(DEFAULT_LIMIT);
        query.push(("limit".into(), DEFAULT_LIMIT.to_string()));
    }
    let estimate = worst(price, limit);
    Ok(Prepared { path, query, price, estimate, limit, offset, paged, cache: true })
}

/// A filter DSL value, quoted safely: `'it''s'` for text (single quotes doubled), numbers as is.
pub fn quote(value: &Value) -> Result<String> {
    match value {
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::String(s) => {
            if s.chars().any(|c| c.is_control()) {
                return Err(bad("filter values cannot hold control characters"));
            }
            Ok(format!("'{}'", s.replace('\'', "''")))
        }
        Value::Array(items) => Ok(format!("({})", items.iter().map(quote).collect::<Result<Vec<_>>>()?.join(", "))),
        other => Err(bad(format!("a filter value is a string, number, bool or list, not {other}"))),
    }
}

// ---------------------------------------------------------------------------------------------
// Replies

#[derive(Deserialize, Default)]
struct Meta {
    #[serde(default)]
    request_id: Option<String>,
    #[serde(default)]
    status_code: Option<u16>,
}

#[derive(Deserialize)]
struct V4Error {
    #[serde(default)]
    code: Option<Value>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    retryable: Option<bool>,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    meta: Option<Meta>,
    #[serde(default)]
    error: Option<V4Error>,
}

#[derive(Deserialize)]
struct Lines {
    #[serde(default)]
    meta: Option<Meta>,
    data: Option<DataShape>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum DataShape {
    List(Vec<serde::de::IgnoredAny>),
    Object(serde::de::IgnoredAny),
}

/// The envelope's error (or an HTTP error without one) as the shared exceptions; `retryable`
/// decides retries, and the request id is in the message.
pub fn check(reply: &Reply) -> Result<()> {
    let env: Option<Envelope> = serde_json::from_slice(&reply.body).ok();
    let status = reply.status;
    let error = env.as_ref().and_then(|e| e.error.as_ref());
    if (200..300).contains(&status) && error.is_none() {
        return Ok(());
    }
    let id = env.as_ref().and_then(|e| e.meta.as_ref()).and_then(|m| m.request_id.clone());
    let status = env.as_ref().and_then(|e| e.meta.as_ref()).and_then(|m| m.status_code).filter(|_| (200..300).contains(&status)).unwrap_or(status);
    let message = error.and_then(|e| e.message.clone()).unwrap_or_else(|| super::error_text(&reply.body));
    let code = error.and_then(|e| e.code.as_ref()).map(|c| c.as_str().map(str::to_string).unwrap_or_else(|| c.to_string()));
    let retryable = error.and_then(|e| e.retryable).unwrap_or(status >= 500 || status == 429);
    let lower = message.to_ascii_lowercase();
    let kind = match status {
        _ if lower.contains("units") && (lower.contains("balance") || lower.contains("limit") || lower.contains("exhaust")) => Kind::UnitsExhausted,
        401 => Kind::Authentication,
        403 if lower.contains("key") || lower.contains("forbidden") || lower.contains("permission") => Kind::Authentication,
        402 => Kind::UnitsExhausted,
        429 => Kind::RateLimited,
        400 | 404 | 422 => Kind::InvalidRequest,
        _ => Kind::Provider,
    };
    let hint = if kind == Kind::Authentication {
        if lower.contains("v3") || lower.contains("version") {
            " (this looks like a v3 key: since 2026-07-15 keys are version-specific; create a v4 key under Subscription info > API keys)"
        } else {
            " (v4 operations need a v4 key, sent as Authorization: Apikey; v3 keys do not work on v4)"
        }
    } else {
        ""
    };
    let mut e = Error::new(kind, format!("SEMrush v4 error{} (HTTP {status}){}: {message}{hint}", code.as_deref().map(|c| format!(" {c}")).unwrap_or_default(), id.as_deref().map(|i| format!(", request id {i}")).unwrap_or_default()))
        .provider(PROVIDER)
        .status(status)
        .retryable(retryable);
    e.code = code;
    e.retry_after = retry_after(&reply.headers);
    Err(e)
}

/// Lines of a success answer (items of a `data` list, 1 for an object) and its request id.
pub fn read(body: &[u8]) -> Result<(u64, bool, Option<String>)> {
    let l: Lines = serde_json::from_slice(body).map_err(|e| Error::format(format!("SEMrush v4 answered a body that is not the v4 JSON envelope ({e})")).provider(PROVIDER))?;
    let id = l.meta.and_then(|m| m.request_id);
    match l.data {
        Some(DataShape::List(items)) => Ok((items.len() as u64, true, id)),
        Some(DataShape::Object(_)) => Ok((1, false, id)),
        None => Err(Error::format("SEMrush v4 answered without data or error").provider(PROVIDER)),
    }
}

// ---------------------------------------------------------------------------------------------
// Client

pub struct Settings {
    pub key: String,
    pub base_url: Option<String>,
    pub ledger: Arc<Ledger>,
    pub budget: Option<Budget>,
    pub retry: RetryPolicy,
    pub timeout: Duration,
    /// The account's limits, shared with the v3 client (one 10/s and 10-in-flight across both).
    pub limits: Arc<Limits>,
    pub account: String,
    pub cache_ttl: Option<Duration>,
    pub prices: BTreeMap<String, Price>,
}

pub struct Client {
    pub engine: Engine,
    key: String,
    pub base: String,
    pub prices: BTreeMap<String, Price>,
}

impl Client {
    pub fn new(s: Settings) -> Result<Client> {
        if s.key.trim().is_empty() {
            return Err(Error::new(Kind::Authentication, "no SEMrush v4 key: pass v4_key= or set SEMRUSH_V4_API_KEY").provider(PROVIDER));
        }
        super::credential(PROVIDER, "SEMrush v4 key", &s.key)?;
        let base = s.base_url.unwrap_or_else(|| DEFAULT_BASE.to_string());
        let parsed = url::Url::parse(&base).map_err(|e| bad(format!("v4_base_url is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.query().is_some() {
            return Err(bad("v4_base_url must be an http(s) URL without a query"));
        }
        Ok(Client {
            engine: Engine::new(PROVIDER, s.account, s.ledger, s.budget, s.retry, s.timeout, s.limits, s.cache_ttl),
            key: s.key,
            base: base.trim_end_matches('/').to_string(),
            prices: s.prices,
        })
    }

    fn request(&self, p: &Prepared) -> Request {
        let mut url = format!("{}/{}", self.base, p.path);
        let pairs: Vec<String> = p.query.iter().map(|(k, v)| format!("{}={}", crate::secrets::encode(k), crate::secrets::encode(v))).collect();
        if !pairs.is_empty() {
            url.push('?');
            url.push_str(&pairs.join("&"));
        }
        Request { method: reqwest::Method::GET, shown: url.clone(), url, headers: vec![("authorization", format!("Apikey {}", self.key))], body: None }
    }

    /// One v4 call: reserve the worst case, send, commit per line (or per request) returned.
    pub async fn fetch(&self, p: &Prepared) -> Result<(JsonPage, Option<String>)> {
        let call = Call { report: &p.path, estimate: p.estimate, metered: true, cacheable: p.cache, request: self.request(p), cache_basis: None };
        let ((page, id), committed) = self
            .engine
            .call(call, check, |reply| {
                let (lines, list, id) = read(&reply.body)?;
                let units = match (reply.cached, p.price) {
                    (true, _) => 0,
                    (_, Price::PerRequest(n)) => n,
                    (_, Price::PerLine(n)) => crate::units::mul(n, lines, &p.path)?,
                };
                let page = JsonPage {
                    provider: PROVIDER,
                    report: p.path.clone(),
                    body: reply.body,
                    unwrap: Unwrap::Key("data"),
                    rows: if list { lines } else { 1 },
                    units,
                    estimate: p.estimate,
                    next_token: None,
                    cached: reply.cached,
                    spent: None,
                    budget: None,
                    alerts: Vec::new(),
                };
                Ok(((page, id), Record { units, rows: lines, ..Default::default() }))
            })
            .await?;
        Ok((page.settled(committed), id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(v: Value) -> Vec<(String, Value)> {
        v.as_object().unwrap().clone().into_iter().collect()
    }

    #[test]
    fn validates_and_prices() {
        let none = BTreeMap::new();
        let p = prepare("backlinks/v1/links", params(json!({"url": "moz.com", "scope": "ROOT_DOMAIN", "limit": 10, "fields": ["source_url", "page_score"]})), &none, true).unwrap();
        assert_eq!(p.estimate, 450);
        assert!(p.query.contains(&("fields".into(), "source_url,page_score".into())));
        assert_eq!(prepare("backlinks/v1/overview", params(json!({"url": "moz.com", "scope": "PAGE"})), &none, true).unwrap().estimate, 45);
        for bad in [
            json!({"url": "moz.com", "scope": "domain"}),
            json!({"url": "moz.com"}),
            json!({"url": "x".repeat(2001), "scope": "PAGE"}),
            json!({"url": "moz.com", "scope": "PAGE", "colour": 1}),
            json!({"url": "moz.com", "scope": "PAGE", "key": "k"}),
        ] {
            assert!(prepare("backlinks/v1/links", params(bad.clone()), &none, true).is_err(), "{bad}");
        }
        assert!(prepare("keywords/v1/metrics", params(json!({"keyword": "seo", "country": "us", "month": "2026-13"})), &none, true).is_err());
        assert!(prepare("backlinks/v1/anchors", params(json!({"url": "moz.com"})), &none, true).unwrap_err().message.contains("v4_prices"));
        assert_eq!(prepare("projects/v1/projects", Vec::new(), &none, true).unwrap().estimate, 100);
        let mut prices = BTreeMap::new();
        prices.insert("backlinks/v1/anchors".to_string(), Price::PerLine(30));
        assert_eq!(prepare("backlinks/v1/anchors", params(json!({"url": "moz.com", "limit": 5})), &prices, true).unwrap().estimate, 150);
    }

    #[test]
    fn quoting_is_safe() {
        assert_eq!(quote(&json!("it's")).unwrap(), "'it''s'");
        assert_eq!(quote(&json!(50)).unwrap(), "50");
        assert_eq!(quote(&json!(["a", "b"])).unwrap(), "('a', 'b')");
        assert!(quote(&json!("a\nb")).is_err());
    }

    #[test]
    fn the_envelope_maps_to_the_shared_exceptions() {
        let reply = |status: u16, body: &str| Reply { status, headers: Default::default(), body: bytes::Bytes::from(body.to_string()), cached: false };
        let e = check(&reply(403, r#"{"meta":{"success":false,"status_code":403,"request_id":"a2995"},"error":{"code":403,"message":"Forbidden","retryable":false,"details":{}}}"#)).unwrap_err();
        assert_eq!(e.kind, Kind::Authentication);
        assert!(e.message.contains("a2995") && !e.retryable);
        let e = check(&reply(503, r#"{"meta":{"request_id":"x"},"error":{"code":503,"message":"busy","retryable":true}}"#)).unwrap_err();
        assert!(e.retryable && e.kind == Kind::Provider);
        assert!(check(&reply(200, r#"{"meta":{"success":true},"data":[]}"#)).is_ok());
        assert_eq!(read(br#"{"meta":{"request_id":"r1"},"data":[{},{}]}"#).unwrap(), (2, true, Some("r1".into())));
    }
}
