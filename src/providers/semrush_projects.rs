//! SEMrush Projects, Position Tracking and Site Audit (v3, JSON, `key=`; providers-next.md §2.5):
//! `management/v1/...` and `reports/v1/...` under `https://api.semrush.com/`. Their unit rules
//! need counts the call does not carry (keywords of a campaign, snapshots, competitors): the
//! caller gives them and the estimate refuses rather than under-reserve.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;

use super::{JsonPage, Unwrap};
use crate::error::{Error, Kind, Result};
use crate::http::{Call, Engine, Reply, Request};
use crate::ledger::{Budget, Ledger, Record};
use crate::limits::Limits;
use crate::retry::RetryPolicy;
use crate::secrets::encode;

pub const PROVIDER: &str = "semrush";
pub const DEFAULT_BASE: &str = "https://api.semrush.com";

fn bad(msg: impl Into<String>) -> Error {
    Error::invalid(msg).provider(PROVIDER)
}

#[derive(Debug, Clone)]
pub struct Prepared {
    pub method: reqwest::Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Option<Value>,
    pub estimate: u64,
    /// The unit rule in words, for the error that asks for a missing count.
    pub rule: &'static str,
}

fn count(counts: &[(String, u64)], name: &str) -> Option<u64> {
    counts.iter().find(|(k, _)| k == name).map(|(_, v)| *v)
}

/// The units of a call by its path [C SRMIR projects_*.md]: 100 per request, except 100 per
/// keyword (organic/adwords positions, keyword add), 1,000 per competitor or landing page
/// (discovery), 10,000 per snapshot, 10,000 x snapshots for history, 1,000 per page report.
pub fn price(path: &str, query: &[(String, String)], counts: &[(String, u64)]) -> Result<(u64, &'static str)> {
    let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let need = |what: &str, rule: &'static str| bad(format!("SEMrush {path}: {rule}; pass {what}= (the count this call covers) so the worst case can be reserved"));
    if path.contains("/tracking") && matches!(q("type"), Some("tracking_position_organic" | "tracking_position_adwords")) {
        let k = count(counts, "keywords").ok_or_else(|| need("keywords", "100 units per keyword"))?;
        return Ok((k.saturating_mul(100), "100 per keyword"));
    }
    if path.contains("/tracking") && matches!(q("type"), Some("tracking_competitors_discovery" | "tracking_landing_pages")) {
        let c = count(counts, "competitors").ok_or_else(|| need("competitors", "1,000 units per competitor or landing page"))?;
        return Ok((c.saturating_mul(1000), "1,000 per competitor or landing page"));
    }
    if path.contains("/siteaudit/history") {
        let s = count(counts, "snapshots").ok_or_else(|| need("snapshots", "10,000 units per snapshot"))?;
        return Ok((s.saturating_mul(10_000), "10,000 per snapshot"));
    }
    if path.contains("/siteaudit/snapshot/") || path.ends_with("/siteaudit/snapshot") {
        return Ok((10_000, "10,000 per snapshot"));
    }
    if path.contains("/siteaudit/page") {
        return Ok((1000, "1,000 per page report"));
    }
    Ok((100, "100 per request"))
}

pub fn prepare(method: &str, path: &str, params: Vec<(String, Value)>, counts: Vec<(String, u64)>, body: Option<Value>) -> Result<Prepared> {
    let method = match method.to_ascii_uppercase().as_str() {
        "GET" => reqwest::Method::GET,
        "POST" => reqwest::Method::POST,
        "PUT" => reqwest::Method::PUT,
        "DELETE" => reqwest::Method::DELETE,
        other => return Err(bad(format!("method must be GET, POST, PUT or DELETE, not {other:?}"))),
    };
    let path = path.trim().trim_matches('/').to_string();
    let ok = (path.starts_with("management/v1/") || path.starts_with("reports/v1/"))
        && path.split('/').all(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'));
    if !ok {
        return Err(bad(format!("{path:?} is not a Projects path (management/v1/... or reports/v1/...)")));
    }
    let mut query = Vec::new();
    for (k, v) in params {
        if k == "key" {
            return Err(bad("the key is the client's: pass api_key= to seowire.Semrush"));
        }
        let text = match v {
            Value::Null => continue,
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            // Several URL masks are joined with ':' [C SRMIR].
            Value::Array(items) if k == "url" => items.iter().filter_map(|i| i.as_str()).collect::<Vec<_>>().join(":"),
            other => return Err(bad(format!("{k} must be a string or a number, not {other}"))),
        };
        query.push((k, text));
    }
    let (estimate, rule) = price(&path, &query, &counts)?;
    Ok(Prepared { method, path, query, body, estimate, rule })
}

/// `{"code", "message"}` errors (HTTP 400 for Projects v3) as the shared exceptions.
pub fn check(reply: &Reply) -> Result<()> {
    if (200..300).contains(&reply.status) {
        return Ok(());
    }
    #[derive(serde::Deserialize)]
    struct E {
        code: Option<Value>,
        message: Option<String>,
    }
    let parsed: Option<E> = serde_json::from_slice(&reply.body).ok();
    let code = parsed.as_ref().and_then(|e| e.code.as_ref()).and_then(|c| c.as_u64().or_else(|| c.as_str().and_then(|s| s.parse().ok())));
    let message = parsed.and_then(|e| e.message).unwrap_or_else(|| super::error_text(&reply.body));
    let mut e = match code {
        Some(c) => {
            let mut e = super::semrush::error_for(c as u32, &message, reply.status);
            if matches!(c, 512 | 513 | 515 | 519 | 520 | 521 | 522) {
                e.kind = Kind::InvalidRequest;
            }
            e
        }
        None => Error::new(if reply.status >= 500 { Kind::Provider } else { Kind::InvalidRequest }, format!("SEMrush Projects HTTP {}: {message}", reply.status))
            .provider(PROVIDER)
            .status(reply.status)
            .retryable(reply.status >= 500),
    };
    e.retry_after = crate::http::retry_after(&reply.headers);
    Err(e)
}

pub struct Settings {
    pub key: String,
    pub base_url: Option<String>,
    pub ledger: Arc<Ledger>,
    pub budget: Option<Budget>,
    pub retry: RetryPolicy,
    pub timeout: Duration,
    pub limits: Arc<Limits>,
    pub account: String,
}

pub struct Client {
    pub engine: Engine,
    key: String,
    pub base: String,
}

impl Client {
    pub fn new(s: Settings) -> Result<Client> {
        let base = s.base_url.unwrap_or_else(|| DEFAULT_BASE.to_string());
        url::Url::parse(&base).map_err(|e| bad(format!("the Projects base URL is not a URL: {e}")))?;
        Ok(Client {
            engine: Engine::new(PROVIDER, s.account, s.ledger, s.budget, s.retry, s.timeout, s.limits, None),
            key: s.key,
            base: base.trim_end_matches('/').to_string(),
        })
    }

    pub async fn fetch(&self, p: &Prepared) -> Result<JsonPage> {
        let mut url = format!("{}/{}?key={}", self.base, p.path, encode(&self.key));
        let mut shown = format!("{}/{}?key=***", self.base, p.path);
        for (k, v) in &p.query {
            let pair = format!("&{}={}", encode(k), encode(v));
            url.push_str(&pair);
            shown.push_str(&pair);
        }
        let body = p.body.as_ref().map(|b| Bytes::from(serde_json::to_vec(b).unwrap_or_default()));
        let headers = if body.is_some() { vec![("content-type", "application/json".to_string())] } else { Vec::new() };
        let request = Request { method: p.method.clone(), url, shown, headers, body };
        let call = Call { report: &p.path, estimate: p.estimate, metered: true, cacheable: false, request, cache_basis: None };
        let estimate = p.estimate;
        let (page, committed) = self
            .engine
            .call(call, check, |reply| {
                if !reply.body.is_empty() {
                    serde_json::from_slice::<serde::de::IgnoredAny>(&reply.body)
                        .map_err(|e| Error::format(format!("SEMrush Projects answered a body that is not JSON ({e})")).provider(PROVIDER))?;
                }
                // The rules price what the request covers, so the estimate is what it costs.
                let page = JsonPage {
                    provider: PROVIDER,
                    report: p.path.clone(),
                    body: if reply.body.is_empty() { Bytes::from_static(b"null") } else { reply.body },
                    unwrap: Unwrap::Whole,
                    rows: 1,
                    units: estimate,
                    estimate,
                    next_token: None,
                    cached: false,
                    spent: None,
                    budget: None,
                    alerts: Vec::new(),
                };
                Ok((page, Record { units: estimate, rows: 1, ..Default::default() }))
            })
            .await?;
        Ok(page.settled(committed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_rules_ask_for_the_counts_they_need() {
        let q = |t: &str| vec![("action".to_string(), "report".to_string()), ("type".to_string(), t.to_string())];
        assert_eq!(price("management/v1/projects", &[], &[]).unwrap().0, 100);
        assert!(price("reports/v1/projects/1_2/tracking", &q("tracking_position_organic"), &[]).unwrap_err().message.contains("keywords="));
        assert_eq!(price("reports/v1/projects/1_2/tracking", &q("tracking_position_organic"), &[("keywords".into(), 30)]).unwrap().0, 3000);
        assert_eq!(price("reports/v1/projects/1/siteaudit/snapshot/9", &[], &[]).unwrap().0, 10_000);
        assert_eq!(price("reports/v1/projects/1/siteaudit/history", &[], &[("snapshots".into(), 3)]).unwrap().0, 30_000);
        assert!(prepare("GET", "../users", vec![], vec![], None).is_err());
        assert!(prepare("PATCH", "management/v1/projects", vec![], vec![], None).is_err());
    }
}
