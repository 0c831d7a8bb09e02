//! Moz Links API v2: twelve POST+JSON endpoints, rows as the quota, `next_token` paging, plan
//! concurrency. Facts from the reference (providers.md §1); unpublished ones are settings.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{error_text, is_date, JsonPage, Unwrap};
use crate::error::{Error, Kind, Result};
use crate::http::{account_hash, retry_after, Call, Engine, Reply, Request};
pub use crate::secrets::base64;
use crate::ledger::{Budget, Ledger, Record};
use crate::limits::Limits;
use crate::retry::RetryPolicy;

pub const PROVIDER: &str = "moz";
pub const DEFAULT_BASE: &str = "https://lsapi.seomoz.com/v2";
/// Targets per url_metrics request. [C]
pub const MAX_TARGETS: usize = 50;
/// The fields of a url_metrics result and their catalog types, in Moz's order (every field of
/// the answer in fixtures/moz_url_metrics_1.json [C]). Frames get this schema whatever a page
/// holds; fields the history and distribution modifiers add follow, typed by their values.
pub const URL_METRICS_FIELDS: &[(&str, &str)] = &[
    ("deleted_pages_to_page", "integer"),
    ("deleted_pages_to_root_domain", "integer"),
    ("deleted_pages_to_subdomain", "integer"),
    ("deleted_root_domains_to_page", "integer"),
    ("deleted_root_domains_to_root_domain", "integer"),
    ("deleted_root_domains_to_subdomain", "integer"),
    ("domain_authority", "integer"),
    ("external_indirect_pages_to_root_domain", "integer"),
    ("external_nofollow_pages_to_page", "integer"),
    ("external_nofollow_pages_to_root_domain", "integer"),
    ("external_nofollow_pages_to_subdomain", "integer"),
    ("external_pages_to_page", "integer"),
    ("external_pages_to_root_domain", "integer"),
    ("external_pages_to_subdomain", "integer"),
    ("external_redirect_pages_to_page", "integer"),
    ("external_redirect_pages_to_root_domain", "integer"),
    ("external_redirect_pages_to_subdomain", "integer"),
    ("http_code", "integer"),
    ("indirect_root_domains_to_page", "integer"),
    ("indirect_root_domains_to_root_domain", "integer"),
    ("last_crawled", "date"),
    ("link_propensity", "number"),
    ("nofollow_pages_from_page", "integer"),
    ("nofollow_pages_from_root_domain", "integer"),
    ("nofollow_pages_to_page", "integer"),
    ("nofollow_pages_to_root_domain", "integer"),
    ("nofollow_pages_to_subdomain", "integer"),
    ("nofollow_root_domains_from_page", "integer"),
    ("nofollow_root_domains_from_root_domain", "integer"),
    ("nofollow_root_domains_to_page", "integer"),
    ("nofollow_root_domains_to_root_domain", "integer"),
    ("nofollow_root_domains_to_subdomain", "integer"),
    ("page", "string"),
    ("page_authority", "integer"),
    ("pages_crawled_from_root_domain", "integer"),
    ("pages_from_page", "integer"),
    ("pages_from_root_domain", "integer"),
    ("pages_to_page", "integer"),
    ("pages_to_root_domain", "integer"),
    ("pages_to_subdomain", "integer"),
    ("redirect_pages_to_page", "integer"),
    ("redirect_pages_to_root_domain", "integer"),
    ("redirect_pages_to_subdomain", "integer"),
    ("root_domain", "string"),
    ("root_domains_from_page", "integer"),
    ("root_domains_from_root_domain", "integer"),
    ("root_domains_to_page", "integer"),
    ("root_domains_to_root_domain", "integer"),
    ("root_domains_to_subdomain", "integer"),
    ("spam_score", "integer"),
    ("subdomain", "string"),
    ("title", "string"),
];
const DEFAULT_LIMIT: u64 = 25;
const MAX_LIMIT: u64 = 50;

/// Concurrent requests per plan, from the seed page.
pub fn plan_concurrency(plan: &str) -> Result<usize> {
    match plan.to_ascii_lowercase().as_str() {
        "free" | "trial" => Ok(1),
        "medium" => Ok(5),
        "large" => Ok(10),
        "premium" => Ok(25),
        other => Err(Error::invalid(format!("unknown Moz plan {other:?}: use free, trial, medium, large or premium, or pass concurrency="))),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cost {
    Free,
    /// Rows per result returned (`link_intersect`: 5).
    PerResult(u64),
    /// Rows per entry of `sources`, whatever comes back (`link_status`: 2).
    PerSource(u64),
    /// One row per target, plus the modifier weight for each history/distribution modifier.
    UrlMetrics,
}

#[derive(Debug)]
pub struct EndpointDef {
    pub name: &'static str,
    /// What it answers, in a line (the generated method's docstring).
    pub about: &'static str,
    pub fields: &'static [&'static str],
    pub required: &'static [&'static str],
    /// Row endpoints answer `{"results": [...], "next_token"?}`; the others one object.
    pub rows: bool,
    pub pageable: bool,
    pub cost: Cost,
    /// The answer's fields (a row's, or the object's) and their catalog types; nested objects
    /// as `parent.` + the url-metrics fields (`links`: `source.`, `target.`).
    pub answer: Answer,
}

/// The fields of an answer (providers.md §1.2 and the fixtures [C MOZPOST]).
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    /// The 52 url-metrics fields.
    UrlMetrics,
    /// These fields, then a url-metrics object under each prefix.
    With(&'static [(&'static str, &'static str)], &'static [&'static str]),
}

impl Answer {
    /// Every field as (dotted name, catalog type).
    pub fn fields(self) -> Vec<(String, &'static str)> {
        match self {
            Answer::UrlMetrics => URL_METRICS_FIELDS.iter().map(|(n, t)| (n.to_string(), *t)).collect(),
            Answer::With(own, nested) => own
                .iter()
                .map(|(n, t)| (n.to_string(), *t))
                .chain(nested.iter().flat_map(|p| URL_METRICS_FIELDS.iter().map(move |(n, t)| (format!("{p}.{n}"), *t))))
                .collect(),
        }
    }
}

/// The catalog type of each request field (one fact per name; `scope` is one of [`SCOPES`],
/// `filter` terms joined by `+`, `unix` seconds, `targets` strings or `{target, scope}`).
pub const PARAM_TYPES: &[(&str, &str)] = &[
    ("targets", "array:string"),
    ("daily_history_deltas", "array:string"),
    ("daily_history_values", "array:string"),
    ("monthly_history_deltas", "array:string"),
    ("monthly_history_values", "array:string"),
    ("distributions", "boolean"),
    ("target", "string"),
    ("target_scope", "scope"),
    ("scope", "scope"),
    ("source_scope", "scope"),
    ("sort", "string"),
    ("filter", "filter"),
    ("anchor_text", "string"),
    ("source_root_domain", "string"),
    ("subdomains_limited_to_one", "array:string"),
    ("limit", "integer"),
    ("next_token", "string"),
    ("page", "string"),
    ("positive_targets", "targets"),
    ("negative_targets", "targets"),
    ("sources", "array:string"),
    ("begin_date", "date"),
    ("end_date", "date"),
    ("start", "unix"),
    ("end", "unix"),
];

const TO_TARGET: &[(&str, &str)] = &[
    ("root_domain", "string"),
    ("root_domains_to_root_domain", "integer"),
    ("domain_authority", "integer"),
    ("link_propensity", "number"),
    ("spam_score", "integer"),
    ("to_target.pages", "integer"),
    ("to_target.nofollow_pages", "integer"),
    ("to_target.redirect_pages", "integer"),
    ("to_target.deleted_pages", "integer"),
];

const PAGING: &[&str] = &["limit", "next_token"];

pub static ENDPOINTS: &[EndpointDef] = &[
    EndpointDef {
        name: "url_metrics",
        about: "Metrics of up to 50 URLs or domains per request (any number through url_metrics()).",
        fields: &["targets", "daily_history_deltas", "daily_history_values", "monthly_history_deltas", "monthly_history_values", "distributions"],
        required: &["targets"],
        rows: true,
        pageable: false,
        cost: Cost::UrlMetrics,
        answer: Answer::UrlMetrics,
    },
    EndpointDef {
        name: "links",
        about: "Links to a target; filter terms (e.g. [\"external\", \"nofollow\"]) are joined by +.",
        fields: &["target", "target_scope", "sort", "filter", "anchor_text", "source_root_domain", "source_scope", "subdomains_limited_to_one", "limit", "next_token"],
        required: &["target"],
        rows: true,
        pageable: true,
        cost: Cost::PerResult(1),
        answer: Answer::With(
            &[
                ("anchor_text", "string"),
                ("date_disappeared", "date"),
                ("date_first_seen", "date"),
                ("date_last_seen", "date"),
                ("nofollow", "boolean"),
                ("redirect", "boolean"),
                ("rel_canonical", "boolean"),
                ("via_redirect", "boolean"),
                ("via_rel_canonical", "boolean"),
            ],
            &["source", "target"],
        ),
    },
    EndpointDef {
        name: "anchor_text",
        about: "Anchor texts of links to a target, by external root domains.",
        fields: &["target", "scope", "limit", "next_token"],
        required: &["target"],
        rows: true,
        pageable: true,
        cost: Cost::PerResult(1),
        answer: Answer::With(&[("anchor_text", "string"), ("external_pages", "integer"), ("external_root_domains", "integer")], &[]),
    },
    EndpointDef {
        name: "final_redirect",
        about: "Where a page finally redirects to: {\"page\": ...}.",
        fields: &["page"],
        required: &["page"],
        rows: false,
        pageable: false,
        cost: Cost::PerResult(1),
        answer: Answer::With(&[("page", "string")], &[]),
    },
    EndpointDef {
        name: "global_top_pages",
        about: "The top 500 pages by Page Authority.",
        fields: PAGING,
        required: &[],
        rows: true,
        pageable: true,
        cost: Cost::PerResult(1),
        answer: Answer::UrlMetrics,
    },
    EndpointDef {
        name: "global_top_root_domains",
        about: "The top 500 root domains by Domain Authority.",
        fields: PAGING,
        required: &[],
        rows: true,
        pageable: true,
        cost: Cost::PerResult(1),
        answer: Answer::With(TO_TARGET, &[]),
    },
    EndpointDef {
        name: "index_metadata",
        about: "The index ID and spam-score update days.",
        fields: &[],
        required: &[],
        rows: false,
        pageable: false,
        cost: Cost::Free,
        answer: Answer::With(&[("index_id", "string"), ("spam_score_update_days", "array:date")], &[]),
    },
    EndpointDef {
        name: "link_intersect",
        about: "Sources linking to the positive targets but not the negative ones; targets are {\"target\", \"scope\"} dicts or plain strings (scope root_domain).",
        fields: &["positive_targets", "negative_targets", "source_scope", "sort", "limit", "next_token"],
        required: &["positive_targets"],
        rows: true,
        pageable: true,
        cost: Cost::PerResult(5),
        answer: Answer::With(
            &[("page", "string"), ("title", "string"), ("domain_authority", "integer"), ("spam_score", "integer"), ("matching_target_indexes", "array:integer")],
            &[],
        ),
    },
    EndpointDef {
        name: "link_status",
        about: "Whether each source links to the target: {\"exists\": [bool, ...]}, one per source in order.",
        fields: &["target", "sources", "source_scope", "target_scope"],
        required: &["target", "sources"],
        rows: false,
        pageable: false,
        cost: Cost::PerSource(2),
        answer: Answer::With(&[("exists", "array:boolean")], &[]),
    },
    EndpointDef {
        name: "linking_root_domains",
        about: "Root domains linking to a target.",
        fields: &["target", "target_scope", "sort", "filter", "begin_date", "end_date", "limit", "next_token"],
        required: &["target"],
        rows: true,
        pageable: true,
        cost: Cost::PerResult(1),
        answer: Answer::With(TO_TARGET, &[]),
    },
    EndpointDef {
        name: "top_pages",
        about: "A site's top pages by Page Authority.",
        fields: &["target", "scope", "limit", "next_token"],
        required: &["target"],
        rows: true,
        pageable: true,
        cost: Cost::PerResult(1),
        answer: Answer::UrlMetrics,
    },
    EndpointDef {
        name: "usage_data",
        about: "Rows consumed in the period (default: this month), as Moz counts them; may lag an hour; covers v1 and v2.",
        fields: &["start", "end"],
        required: &[],
        rows: false,
        pageable: false,
        cost: Cost::Free,
        answer: Answer::With(&[("rows_consumed", "integer")], &[]),
    },
];

pub fn endpoint(name: &str) -> Result<&'static EndpointDef> {
    ENDPOINTS.iter().find(|e| e.name == name).ok_or_else(|| {
        let names: Vec<&str> = ENDPOINTS.iter().map(|e| e.name).collect();
        Error::invalid(format!("unknown Moz endpoint {name:?}; Links API v2 has: {}", names.join(", "))).provider(PROVIDER)
    })
}

pub const SCOPES: &[&str] = &["page", "subdomain", "root_domain"];
const MODIFIERS: &[&str] = &["daily_history_deltas", "daily_history_values", "monthly_history_deltas", "monthly_history_values"];

/// Rows charged per url_metrics target: 1, plus `modifier_weight` per history modifier and per
/// `distributions`. Moz does not publish the multiplier; the default is deliberately high.
#[derive(Debug, Clone, Copy)]
pub struct Weights {
    pub modifier: u64,
}

impl Default for Weights {
    fn default() -> Self {
        Weights { modifier: 2 }
    }
}

pub fn url_metrics_rows_per_target(body: &Map<String, Value>, w: Weights) -> u64 {
    let modifiers = MODIFIERS.iter().filter(|m| body.get(**m).and_then(|v| v.as_array()).is_some_and(|a| !a.is_empty())).count() as u64
        + u64::from(body.get("distributions").and_then(|v| v.as_bool()).unwrap_or(false));
    1 + modifiers * w.modifier
}

/// A validated request: the JSON body and its worst-case rows.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub endpoint: &'static EndpointDef,
    pub body: Map<String, Value>,
    pub estimate: u64,
    /// May be served from the response cache.
    pub cache: bool,
}

impl Prepared {
    /// The same request for the page after `token`, asking for at most `limit` results.
    pub fn page(&self, token: Option<&str>, limit: Option<u64>, w: Weights) -> Prepared {
        let mut body = self.body.clone();
        match token {
            Some(t) => body.insert("next_token".into(), Value::String(t.into())),
            None => body.remove("next_token"),
        };
        if let Some(l) = limit {
            body.insert("limit".into(), Value::from(l));
        }
        let estimate = estimate(self.endpoint, &body, w);
        Prepared { endpoint: self.endpoint, body, estimate, cache: self.cache }
    }
}

fn estimate(def: &EndpointDef, body: &Map<String, Value>, w: Weights) -> u64 {
    let limit = body.get("limit").and_then(|v| v.as_u64()).unwrap_or(DEFAULT_LIMIT);
    match def.cost {
        Cost::Free => 0,
        Cost::PerResult(n) if !def.rows => n,
        Cost::PerResult(n) => n * limit,
        Cost::PerSource(n) => n * body.get("sources").and_then(|v| v.as_array()).map_or(0, |a| a.len() as u64),
        Cost::UrlMetrics => {
            let targets = body.get("targets").and_then(|v| v.as_array()).map_or(0, |a| a.len() as u64);
            targets * url_metrics_rows_per_target(body, w)
        }
    }
}

fn bad(msg: impl Into<String>) -> Error {
    Error::invalid(msg).provider(PROVIDER)
}

fn string_list(name: &str, v: &Value) -> Result<Vec<String>> {
    let items = match v {
        Value::Array(a) => a,
        _ => return Err(bad(format!("{name} must be a list of strings"))),
    };
    items
        .iter()
        .enumerate()
        .map(|(i, x)| match x {
            Value::String(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
            _ => Err(bad(format!("{name}[{i}] must be a non-empty string, not {x}"))),
        })
        .collect()
}

fn check_scope(name: &str, v: &Value) -> Result<()> {
    match v.as_str() {
        Some(s) if SCOPES.contains(&s) => Ok(()),
        _ => Err(bad(format!("{name} must be one of {}, not {v}", SCOPES.join(", ")))),
    }
}


/// A target URL or domain as Moz takes it: no blanks, no spaces, a host with a dot.
pub fn check_target(t: &str) -> std::result::Result<String, String> {
    let t = t.trim();
    if t.is_empty() {
        return Err("is blank".into());
    }
    if t.len() > 2048 || t.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{t:?} is not a URL or domain"));
    }
    let rest = match t.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") => rest,
        Some(_) => return Err(format!("{t:?} has a scheme other than http(s)")),
        None => t,
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host = host.split(':').next().unwrap_or("");
    let ok = host.contains('.')
        && !host.starts_with('.')
        && !host.ends_with("..")
        && host.chars().all(|c| c.is_alphanumeric() || c == '.' || c == '-' || c == '_');
    if !ok {
        return Err(format!("{t:?} has no valid host"));
    }
    Ok(t.to_string())
}

/// Validate the fields of one request and price it. Nothing is sent on error.
pub fn prepare(name: &str, mut fields: Map<String, Value>, w: Weights) -> Result<Prepared> {
    let def = endpoint(name)?;
    // strict=False sends fields the endpoint table does not know (one Moz added later), as given.
    let strict = match fields.remove("strict") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => b,
        Some(other) => return Err(bad(format!("strict must be a bool, not {other}"))),
    };
    let mut body = Map::new();
    for (k, v) in fields {
        if v.is_null() {
            continue;
        }
        if !def.fields.contains(&k.as_str()) {
            if !strict && !matches!(k.as_str(), "token" | "access_id" | "secret_key") {
                body.insert(k, v);
                continue;
            }
            return Err(crate::providers::unknown_param(PROVIDER, &format!("Moz {name}"), &k, def.fields.iter().copied()));
        }
        let v = match k.as_str() {
            "target" | "page" | "source_root_domain" => match &v {
                Value::String(s) => Value::String(check_target(s).map_err(|e| bad(format!("{k} {e}")))?),
                _ => return Err(bad(format!("{k} must be a string"))),
            },
            "targets" => {
                let list = string_list(&k, &v)?;
                if list.is_empty() || list.len() > MAX_TARGETS {
                    return Err(bad(format!("one url_metrics request takes 1..={MAX_TARGETS} targets, not {}", list.len())));
                }
                for (i, t) in list.iter().enumerate() {
                    check_target(t).map_err(|e| bad(format!("targets[{i}] {e}")))?;
                }
                Value::from(list)
            }
            "sources" => {
                let list = string_list(&k, &v)?;
                if list.is_empty() {
                    return Err(bad("sources must not be empty"));
                }
                Value::from(list)
            }
            "subdomains_limited_to_one" | "daily_history_deltas" | "daily_history_values" | "monthly_history_deltas" | "monthly_history_values" => {
                Value::from(string_list(&k, &v)?)
            }
            "scope" | "target_scope" | "source_scope" => {
                check_scope(&k, &v)?;
                v
            }
            "filter" => {
                let parts = match &v {
                    Value::String(s) => s.split('+').map(str::to_string).collect(),
                    other => string_list(&k, other)?,
                };
                if parts.iter().any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')) {
                    return Err(bad(format!("filter terms are lowercase words joined by '+', e.g. external+nofollow, not {v}")));
                }
                Value::String(parts.join("+"))
            }
            "limit" => match v.as_u64() {
                Some(l) if (1..=MAX_LIMIT).contains(&l) => v,
                _ => return Err(bad(format!("limit must be an integer in 1..={MAX_LIMIT}, not {v}"))),
            },
            "begin_date" | "end_date" => match v.as_str() {
                Some(s) if is_date(s) => v,
                _ => return Err(bad(format!("{k} must be a date 'YYYY-MM-DD', not {v}"))),
            },
            "start" | "end" => {
                let secs = match &v {
                    Value::Number(n) => n.as_u64(),
                    Value::String(s) => s.parse::<u64>().ok(),
                    _ => None,
                };
                // Moz wants unix seconds as a string.
                Value::String(secs.ok_or_else(|| bad(format!("{k} must be unix seconds (int or digit string), not {v}")))?.to_string())
            }
            "positive_targets" | "negative_targets" => {
                let Value::Array(items) = &v else { return Err(bad(format!("{k} must be a list of {{target, scope}}"))) };
                let mut out = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    let obj = match item {
                        Value::String(s) => {
                            let mut m = Map::new();
                            m.insert("target".into(), Value::String(s.clone()));
                            m.insert("scope".into(), Value::String("root_domain".into()));
                            m
                        }
                        Value::Object(m) => m.clone(),
                        _ => return Err(bad(format!("{k}[{i}] must be a target string or {{target, scope}}"))),
                    };
                    let t = obj.get("target").and_then(|t| t.as_str()).ok_or_else(|| bad(format!("{k}[{i}] has no target")))?;
                    check_target(t).map_err(|e| bad(format!("{k}[{i}] {e}")))?;
                    check_scope(&format!("{k}[{i}].scope"), obj.get("scope").unwrap_or(&Value::Null))?;
                    out.push(Value::Object(obj));
                }
                if k == "positive_targets" && out.is_empty() {
                    return Err(bad("positive_targets must not be empty"));
                }
                Value::Array(out)
            }
            "distributions" => match v {
                Value::Bool(_) => v,
                _ => return Err(bad("distributions must be a bool")),
            },
            "sort" | "anchor_text" | "next_token" => match v {
                Value::String(_) => v,
                _ => return Err(bad(format!("{k} must be a string"))),
            },
            _ => v,
        };
        body.insert(k, v);
    }
    for r in def.required {
        if !body.contains_key(*r) {
            return Err(bad(format!("Moz {name} needs {r}")));
        }
    }
    if let (Some(s), Some(e)) = (body.get("start"), body.get("end")) {
        let n = |v: &Value| v.as_str().and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
        if n(s) >= n(e) {
            return Err(bad("usage_data start must be before end"));
        }
    }
    let estimate = estimate(def, &body, w);
    Ok(Prepared { endpoint: def, body, estimate, cache: true })
}

// ---------------------------------------------------------------------------------------------
// Replies

fn is_quota(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    ["quota", "allowance", "row limit", "rows limit", "out of rows", "no rows", "monthly limit", "plan limit"].iter().any(|w| t.contains(w))
}

/// Classify a reply. The v2 error body is unpublished: read it leniently.
pub fn check(reply: &Reply) -> Result<()> {
    let status = reply.status;
    if (200..300).contains(&status) {
        return Ok(());
    }
    let text = error_text(&reply.body);
    let (kind, retryable, what) = match status {
        _ if is_quota(&text) => (Kind::UnitsExhausted, false, "row quota exhausted"),
        400 | 422 => (Kind::InvalidRequest, false, "bad request"),
        401 | 403 => (Kind::Authentication, false, "not authorised: check the token or the access ID and secret key"),
        402 => (Kind::UnitsExhausted, false, "row quota exhausted"),
        404 => (Kind::Provider, false, "not found"),
        429 => (Kind::RateLimited, true, "throttled"),
        503 => (Kind::RateLimited, true, "throttled or unavailable"),
        500..=599 => (Kind::Provider, true, "server error"),
        _ => (Kind::Provider, false, "unexpected status"),
    };
    let mut e = Error::new(kind, format!("Moz {what} (HTTP {status}): {text}")).provider(PROVIDER).status(status).retryable(retryable);
    e.retry_after = retry_after(&reply.headers);
    Err(e)
}

#[derive(Deserialize)]
struct Shape {
    #[serde(default)]
    results: Option<Vec<IgnoredAny>>,
    #[serde(default)]
    next_token: Option<Value>,
    #[serde(default)]
    exists: Option<Vec<IgnoredAny>>,
}

/// Results in a reply and the token of the next page (`None` whether missing, empty or null).
pub fn read_shape(def: &EndpointDef, body: &[u8]) -> Result<(u64, Option<String>)> {
    let shape: Shape = serde_json::from_slice(body)
        .map_err(|e| Error::format(format!("Moz {} answered with a body that is not the expected JSON ({e})", def.name)).provider(PROVIDER))?;
    let token = match shape.next_token {
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        _ => None,
    };
    let results = if def.rows {
        shape.results.map(|r| r.len() as u64).ok_or_else(|| Error::format(format!("Moz {} answer has no results", def.name)).provider(PROVIDER))?
    } else if def.name == "link_status" {
        shape.exists.map(|r| r.len() as u64).ok_or_else(|| Error::format("Moz link_status answer has no exists list").provider(PROVIDER))?
    } else {
        1
    };
    Ok((results, token))
}

// ---------------------------------------------------------------------------------------------
// Client

#[derive(Clone)]
pub enum Auth {
    Token(String),
    Basic { access_id: String, secret_key: String },
}

pub struct Settings {
    pub auth: Auth,
    pub base_url: Option<String>,
    pub ledger: Arc<Ledger>,
    pub budget: Option<Budget>,
    pub retry: RetryPolicy,
    pub timeout: Duration,
    pub concurrency: usize,
    pub weights: Weights,
    pub cache_ttl: Option<Duration>,
}

pub struct Client {
    pub engine: Engine,
    auth: Auth,
    pub base_url: String,
    pub concurrency: usize,
    pub weights: Weights,
}

impl Client {
    pub fn new(s: Settings) -> Result<Client> {
        let identity = match &s.auth {
            Auth::Token(t) if !t.trim().is_empty() => t.clone(),
            Auth::Basic { access_id, secret_key } if !access_id.trim().is_empty() && !secret_key.is_empty() => access_id.clone(),
            _ => return Err(Error::new(Kind::Authentication, "no Moz credentials: pass token= (or MOZ_TOKEN), or access_id= and secret_key=").provider(PROVIDER)),
        };
        match &s.auth {
            Auth::Token(t) => crate::providers::credential(PROVIDER, "Moz token", t)?,
            Auth::Basic { access_id, secret_key } => {
                crate::providers::check(PROVIDER, "Moz access ID", access_id)?;
                crate::providers::credential(PROVIDER, "Moz secret key", secret_key)?;
                crate::secrets::register_basic(access_id, secret_key);
            }
        }
        let base = s.base_url.unwrap_or_else(|| DEFAULT_BASE.to_string());
        let parsed = url::Url::parse(&base).map_err(|e| bad(format!("base_url is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(bad("base_url must be http(s)"));
        }
        if parsed.path().contains("/linkscape") {
            return Err(bad(
                "base_url points at the legacy v1 (linkscape) API; seowire speaks Links API v2, whose auth is a token or Basic \
                 access ID/secret key; v1 signed queries must not be mixed with v2 (Moz fails silently)",
            ));
        }
        if s.concurrency == 0 {
            return Err(bad("concurrency must be at least 1"));
        }
        let account = account_hash(PROVIDER, &identity);
        let limits = Limits::shared(PROVIDER, &account, None, Some(s.concurrency), &s.ledger);
        Ok(Client {
            engine: Engine::new(PROVIDER, account, s.ledger, s.budget, s.retry, s.timeout, limits, s.cache_ttl),
            auth: s.auth,
            base_url: base.trim_end_matches('/').to_string(),
            concurrency: s.concurrency,
            weights: s.weights,
        })
    }

    fn request(&self, p: &Prepared) -> Request {
        let url = format!("{}/{}", self.base_url, p.endpoint.name);
        let auth = match &self.auth {
            Auth::Token(t) => ("x-moz-token", t.clone()),
            Auth::Basic { access_id, secret_key } => ("authorization", format!("Basic {}", base64(format!("{access_id}:{secret_key}").as_bytes()))),
        };
        let body = serde_json::to_vec(&p.body).unwrap_or_else(|_| b"{}".to_vec());
        Request {
            method: reqwest::Method::POST,
            shown: url.clone(),
            url,
            headers: vec![auth, ("content-type", "application/json".into())],
            body: Some(Bytes::from(body)),
        }
    }

    /// One request: reserve its worst case, send, commit the rows that came back.
    pub async fn fetch(&self, p: &Prepared) -> Result<JsonPage> {
        let def = p.endpoint;
        let per_target = url_metrics_rows_per_target(&p.body, self.weights);
        let sources = p.body.get("sources").and_then(|v| v.as_array()).map_or(0, |a| a.len() as u64);
        // Free calls report live state (usage, index metadata): never reuse them.
        let cacheable = p.cache && def.cost != Cost::Free;
        let call = Call { report: def.name, estimate: p.estimate, metered: def.cost != Cost::Free, cacheable, request: self.request(p), cache_basis: None };
        let (page, committed) = self
            .engine
            .call(call, check, |reply| {
                let (results, next_token) = match def.cost {
                    // The hot bulk path: count the results by skipping (the decode parses them).
                    Cost::UrlMetrics => (
                        crate::tape::rows_in(&reply.body, "results")
                            .map_err(|e| Error::format(format!("Moz url_metrics answered with a body that is not the expected JSON ({e})")).provider(PROVIDER))?
                            .ok_or_else(|| Error::format("Moz url_metrics answer has no results").provider(PROVIDER))?,
                        None,
                    ),
                    _ => read_shape(def, &reply.body)?,
                };
                let units = match def.cost {
                    _ if reply.cached => 0,
                    Cost::Free => 0,
                    Cost::PerResult(n) => crate::units::mul(n, results, def.name)?,
                    Cost::PerSource(n) => crate::units::mul(n, sources, def.name)?,
                    Cost::UrlMetrics => crate::units::mul(per_target, results, def.name)?,
                };
                let page = JsonPage {
                    provider: PROVIDER,
                    report: def.name.to_string(),
                    body: reply.body,
                    unwrap: if def.rows { Unwrap::Key("results") } else { Unwrap::Whole },
                    rows: results,
                    units,
                    estimate: p.estimate,
                    next_token: if def.pageable { next_token } else { None },
                    cached: reply.cached,
                    spent: None,
                    budget: None,
                    alerts: Vec::new(),
                };
                Ok((page, Record { units, rows: results, ..Default::default() }))
            })
            .await?;
        Ok(page.settled(committed))
    }

    /// url_metrics for any number of targets: unique targets in requests of 50, at most
    /// `concurrency` at once. Returns the pages in chunk order and, per input position, the
    /// (chunk, index) of its result.
    /// `decode` runs on each page as it arrives (while other requests are still in flight).
    /// `decode` runs on the blocking pool as each page lands, so a request's slot is handed to
    /// the next request the moment its answer arrives, not after the page is decoded.
    pub async fn url_metrics_bulk<T: Send + 'static>(
        &self,
        targets: Vec<String>,
        extra: Map<String, Value>,
        cache: bool,
        decode: Decoder<T>,
    ) -> Result<Bulk<T>> {
        let mut unique: Vec<String> = Vec::new();
        let mut first_seen: Vec<usize> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut slots = Vec::with_capacity(targets.len());
        for (i, t) in targets.into_iter().enumerate() {
            let t = check_target(&t).map_err(|e| bad(format!("target {i} {e}")))?;
            let slot = *index.entry(t.clone()).or_insert_with(|| {
                unique.push(t);
                first_seen.push(i);
                unique.len() - 1
            });
            slots.push(slot);
        }
        let mut requests = Vec::new();
        for chunk in unique.chunks(MAX_TARGETS) {
            let mut fields = extra.clone();
            fields.insert("targets".into(), Value::from(chunk.to_vec()));
            let mut p = prepare("url_metrics", fields, self.weights)?;
            p.cache = cache;
            requests.push(p);
        }
        let total: u64 = requests.iter().map(|r| r.estimate).sum();
        let chunks = requests.len();
        let (unique, first_seen) = (&unique, &first_seen);
        let decode = &decode;
        // After a failure no new chunk is sent, but the ones in flight finish and are committed:
        // dropping them would lose answers the provider has already charged.
        let stop = std::sync::atomic::AtomicBool::new(false);
        let stop = &stop;
        // Answers waiting for their decode hold their bodies: at most two per slot, so a decode
        // slower than the network slows the requests instead of piling bodies up in memory.
        let waiting = Arc::new(tokio::sync::Semaphore::new(2 * self.concurrency.max(1)));
        let waiting = &waiting;
        type Decoding<T> = tokio::task::JoinHandle<(JsonPage, Result<T>)>;
        let outcomes: Vec<(usize, std::result::Result<Decoding<T>, Option<Error>>)> =
            futures::stream::iter(requests.into_iter().enumerate().map(|(c, p)| async move {
                if stop.load(std::sync::atomic::Ordering::SeqCst) {
                    return (c, Err(None));
                }
                let Ok(permit) = waiting.clone().acquire_owned().await else {
                    return (c, Err(None));
                };
                let page = match self.fetch(&p).await {
                    Ok(page) => page,
                    Err(mut e) => {
                        stop.store(true, std::sync::atomic::Ordering::SeqCst);
                        let (lo, hi) = (c * MAX_TARGETS, ((c + 1) * MAX_TARGETS).min(unique.len()) - 1);
                        e.message = format!(
                            "url_metrics chunk {c} (unique targets {lo}..={hi}, input positions {}..={}) failed: {}",
                            first_seen[lo], first_seen[hi], e.message
                        );
                        return (c, Err(Some(e)));
                    }
                };
                let expected = p.body.get("targets").and_then(|t| t.as_array()).map_or(0, |a| a.len() as u64);
                if page.rows != expected {
                    stop.store(true, std::sync::atomic::Ordering::SeqCst);
                    return (c, Err(Some(Error::format(format!("Moz url_metrics returned {} results for {expected} targets", page.rows)).provider(PROVIDER))));
                }
                let decode = decode.clone();
                let work = move || {
                    let decoded = decode(&page);
                    drop(permit);
                    (JsonPage { body: bytes::Bytes::new(), ..page }, decoded)
                };
                let decoding = tokio::task::spawn_blocking(work);
                (c, Ok(decoding))
            }))
            // Unordered: a slow chunk must not hold finished ones in the buffer and stall new ones.
            .buffer_unordered(self.concurrency.max(1))
            .collect()
            .await;
        let mut by_chunk: Vec<Option<std::result::Result<Decoding<T>, Option<Error>>>> = (0..chunks).map(|_| None).collect();
        for (c, o) in outcomes {
            by_chunk[c] = Some(o);
        }
        let (mut done, mut decoded) = (Vec::with_capacity(chunks), Vec::with_capacity(chunks));
        let mut failed_chunks = vec![false; chunks];
        let mut error: Option<Error> = None;
        for (c, outcome) in by_chunk.into_iter().enumerate() {
            let value = match outcome {
                Some(Ok(decoding)) => match decoding.await {
                    Ok((page, value)) => {
                        done.push(page);
                        value.map(Some)
                    }
                    Err(e) => Err(Error::format(format!("decoding a url_metrics page failed: {e}")).provider(PROVIDER)),
                },
                Some(Err(Some(e))) => Err(e),
                Some(Err(None)) | None => Ok(None),
            };
            match value {
                Ok(Some(v)) => decoded.push(Some(v)),
                Ok(None) => {
                    failed_chunks[c] = true;
                    decoded.push(None);
                }
                Err(e) => {
                    failed_chunks[c] = true;
                    decoded.push(None);
                    error.get_or_insert(e);
                }
            }
        }
        let failed: Vec<usize> = slots.iter().enumerate().filter(|(_, s)| failed_chunks[**s / MAX_TARGETS]).map(|(i, _)| i).collect();
        Ok(Bulk { pages: done, decoded, slots, estimate: total, failed, error })
    }

    /// Rows consumed in the billing period, as Moz counts them (free).
    pub async fn usage_data(&self, start: Option<u64>, end: Option<u64>) -> Result<u64> {
        let mut fields = Map::new();
        if let Some(s) = start {
            fields.insert("start".into(), Value::from(s));
        }
        if let Some(e) = end {
            fields.insert("end".into(), Value::from(e));
        }
        let page = self.fetch(&prepare("usage_data", fields, self.weights)?).await?;
        #[derive(Deserialize)]
        struct Usage {
            rows_consumed: u64,
        }
        let u: Usage = serde_json::from_slice(&page.body)
            .map_err(|e| Error::format(format!("Moz usage_data answer has no rows_consumed ({e})")).provider(PROVIDER))?;
        Ok(u.rows_consumed)
    }
}

/// Turns a url_metrics page into the caller's value (Python objects, in the bindings).
pub type Decoder<T> = std::sync::Arc<dyn Fn(&JsonPage) -> Result<T> + Send + Sync>;

pub struct Bulk<T = ()> {
    /// Answered pages in chunk order (bodies dropped once `decode` has read them).
    pub pages: Vec<JsonPage>,
    /// What `decode` made of each chunk's page, by chunk (`None`: failed or not sent).
    pub decoded: Vec<Option<T>>,
    /// For each input position, the unique-target index (chunk = i / 50, offset = i % 50).
    pub slots: Vec<usize>,
    pub estimate: u64,
    /// Input positions without a result (their chunk failed or was not sent after a failure).
    pub failed: Vec<usize>,
    /// The first failure, when there was one.
    pub error: Option<Error>,
}

impl<T> Bulk<T> {
    pub fn empty() -> Self {
        Bulk { pages: Vec::new(), decoded: Vec::new(), slots: Vec::new(), estimate: 0, failed: Vec::new(), error: None }
    }
}


/// Legacy Mozscape v1 signature: URL-encoded base64 of HMAC-SHA1(secret, "AccessID\nExpires").
pub fn sign_v1(access_id: &str, secret_key: &str, expires: u64) -> String {
    let mac = hmac_sha1(secret_key.as_bytes(), format!("{access_id}\n{expires}").as_bytes());
    percent_encoding::utf8_percent_encode(&base64(&mac), percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn hmac_sha1(key: &[u8], msg: &[u8]) -> [u8; 20] {
    use sha1::{Digest, Sha1};
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..20].copy_from_slice(&Sha1::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha1::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(msg);
    let mut outer = Sha1::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn validates_and_prices() {
        let w = Weights::default();
        let p = prepare("links", obj(serde_json::json!({"target": "moz.com/blog", "filter": ["external", "nofollow"], "limit": 10})), w).unwrap();
        assert_eq!(p.body["filter"], "external+nofollow");
        assert_eq!(p.estimate, 10);
        assert_eq!(prepare("links", obj(serde_json::json!({"target": "moz.com"})), w).unwrap().estimate, 25);
        assert_eq!(prepare("link_intersect", obj(serde_json::json!({"positive_targets": ["a.com", "b.com"], "limit": 50})), w).unwrap().estimate, 250);
        assert_eq!(prepare("link_status", obj(serde_json::json!({"target": "moz.com", "sources": ["a.com", "b.com"]})), w).unwrap().estimate, 4);
        let p = prepare("url_metrics", obj(serde_json::json!({"targets": ["a.com", "b.com"], "distributions": true, "monthly_history_values": ["page_authority"]})), w).unwrap();
        assert_eq!(p.estimate, 2 * (1 + 2 * 2));
        assert_eq!(prepare("index_metadata", Map::new(), w).unwrap().estimate, 0);
        for bad in [
            serde_json::json!({"target": "moz.com", "limit": 51}),
            serde_json::json!({"target": "moz.com", "limit": 0}),
            serde_json::json!({"target": "moz.com", "target_scope": "domain"}),
            serde_json::json!({"target": "  "}),
            serde_json::json!({"target": "moz.com", "colour": 1}),
            serde_json::json!({"target": "moz.com", "filter": "external nofollow"}),
        ] {
            assert_eq!(prepare("links", obj(bad.clone()), w).unwrap_err().kind, Kind::InvalidRequest, "{bad}");
        }
        assert!(prepare("linking_root_domains", obj(serde_json::json!({"target": "moz.com", "begin_date": "2024-13-01"})), w).is_err());
        assert!(prepare("usage_data", obj(serde_json::json!({"start": 10, "end": 5})), w).is_err());
        assert_eq!(prepare("usage_data", obj(serde_json::json!({"start": 5, "end": "10"})), w).unwrap().body["start"], "5");
    }

    #[test]
    fn targets() {
        assert!(check_target("moz.com").is_ok());
        assert!(check_target("https://moz.com/blog?x=1").is_ok());
        assert!(check_target("").is_err());
        assert!(check_target("not a url").is_err());
        assert!(check_target("ftp://moz.com").is_err());
        assert!(check_target("localhost").is_err());
    }

    #[test]
    fn shapes_and_end_of_paging() {
        let def = endpoint("links").unwrap();
        assert_eq!(read_shape(def, br#"{"results":[1,2],"next_token":"abc"}"#).unwrap(), (2, Some("abc".into())));
        assert_eq!(read_shape(def, br#"{"results":[1],"next_token":""}"#).unwrap(), (1, None));
        assert_eq!(read_shape(def, br#"{"results":[],"next_token":null}"#).unwrap(), (0, None));
        assert_eq!(read_shape(def, br#"{"results":[1]}"#).unwrap(), (1, None));
        assert!(read_shape(def, b"<html>").is_err());
    }

    #[test]
    fn v1_signature_matches_rfc2202() {
        // RFC 2202 test case 2: key "Jefe", data "what do ya want for nothing?".
        let mac = hmac_sha1(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
        assert_eq!(base64(b"any carnal pleas"), "YW55IGNhcm5hbCBwbGVhcw==");
        assert_eq!(base64(b"ab"), "YWI=");
        let s = sign_v1("member-123", "secret", 1_700_000_000);
        assert!(!s.contains('+') && !s.contains('/') && !s.contains('='));
    }
}
