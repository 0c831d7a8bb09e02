//! Moz Links API v2 as the reference describes it (providers.md §1): POST + JSON on
//! `/v2/<endpoint>`, `x-moz-token` or Basic auth, the 52-field url-metrics object (counts past
//! 2^32, scheme-less `page`, spam_score -1, empty titles), opaque base64 `next_token`, rows
//! charged per the weights, `usage_data`, and the plan's concurrency (429 beyond it).
//! Unpublished behaviour (error bodies, the last page, modifier weights) follows `Config`.

use std::sync::Arc;
use tokio::time::Instant;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::{json, Map, Value};

use super::{full, stable_hash, Admitted, StableHash, Answer, Body, Config, State};
use crate::secrets::base64;

/// Targets per url_metrics request. [C providers.md §1.2]
const MAX_TARGETS: usize = 50;

/// The Links API v2 endpoints as the reference lists them (providers.md §1.2-1.4), the emulator's
/// own copy: body fields, required fields, and rows charged per result (`link_status`: per
/// source; `url_metrics`: per target plus the modifier weight; 0: free).
struct Endpoint {
    name: &'static str,
    fields: &'static [&'static str],
    required: &'static [&'static str],
    rows_each: u64,
}

const PAGED: &[&str] = &["limit", "next_token"];
const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        name: "url_metrics",
        fields: &["targets", "daily_history_deltas", "daily_history_values", "monthly_history_deltas", "monthly_history_values", "distributions"],
        required: &["targets"],
        rows_each: 1,
    },
    Endpoint {
        name: "links",
        fields: &["target", "target_scope", "sort", "filter", "anchor_text", "source_root_domain", "source_scope", "subdomains_limited_to_one", "limit", "next_token"],
        required: &["target"],
        rows_each: 1,
    },
    Endpoint { name: "anchor_text", fields: &["target", "scope", "limit", "next_token"], required: &["target"], rows_each: 1 },
    Endpoint { name: "final_redirect", fields: &["page"], required: &["page"], rows_each: 1 },
    Endpoint { name: "global_top_pages", fields: PAGED, required: &[], rows_each: 1 },
    Endpoint { name: "global_top_root_domains", fields: PAGED, required: &[], rows_each: 1 },
    Endpoint { name: "index_metadata", fields: &[], required: &[], rows_each: 0 },
    Endpoint { name: "link_intersect", fields: &["positive_targets", "negative_targets", "source_scope", "sort", "limit", "next_token"], required: &["positive_targets"], rows_each: 5 },
    Endpoint { name: "link_status", fields: &["target", "sources", "source_scope", "target_scope"], required: &["target", "sources"], rows_each: 2 },
    Endpoint {
        name: "linking_root_domains",
        fields: &["target", "target_scope", "sort", "filter", "begin_date", "end_date", "limit", "next_token"],
        required: &["target"],
        rows_each: 1,
    },
    Endpoint { name: "top_pages", fields: &["target", "scope", "limit", "next_token"], required: &["target"], rows_each: 1 },
    Endpoint { name: "usage_data", fields: &["start", "end"], required: &[], rows_each: 0 },
];

/// A target the emulator accepts: a URL or domain, http(s) if a scheme is given, with a dotted host.
fn valid_target(t: &str) -> bool {
    let t = t.trim();
    let rest = match t.split_once("://") {
        Some((s, rest)) if s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https") => rest,
        Some(_) => return false,
        None => t,
    };
    let host = rest.split(['/', '?', '#', ':']).next().unwrap_or("");
    !t.is_empty() && t.len() <= 2048 && !t.chars().any(char::is_whitespace) && host.contains('.') && !host.starts_with('.')
}

const NAME: &str = "moz";

/// An error in the configured shape (the v2 format is unpublished).
fn error(config: &Config, status: u16, name: &str, message: &str) -> Response<Body> {
    let body = match config.moz_error_format.as_str() {
        "list" => json!([name, message]).to_string(),
        "text" => format!("{name}: {message}"),
        _ => json!({"name": name, "message": message, "status": status}).to_string(),
    };
    let ct = if config.moz_error_format == "text" { "text/plain" } else { "application/json" };
    full(status, ct, body)
}

fn credential(req: &Request<Incoming>) -> Option<String> {
    if let Some(t) = req.headers().get("x-moz-token").and_then(|v| v.to_str().ok()) {
        return Some(t.to_string()).filter(|t| !t.is_empty());
    }
    let basic = req.headers().get("authorization")?.to_str().ok()?.strip_prefix("Basic ")?;
    let decoded = decode_b64(basic.trim())?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    (!id.is_empty() && !secret.is_empty()).then(|| id.to_string())
}

fn decode_b64(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let bytes: Vec<u8> = s.bytes().filter(|b| *b != b'=').collect();
    let mut out = Vec::new();
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= val(*c)? << (18 - 6 * i);
        }
        for i in 0..chunk.len().saturating_sub(1) {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

pub async fn handle(state: &Arc<State>, req: Request<Incoming>, ready_at: Instant) -> Answer {
    let path = req.uri().path().trim_start_matches("/moz").trim_start_matches("/v2").trim_matches('/').to_string();
    let config = state.lock().config.clone();
    if req.method() != hyper::Method::POST {
        return Answer::Reply(error(&config, 405, "MethodNotAllowed", "Links API v2 endpoints take POST"));
    }
    let Some(key) = credential(&req) else {
        return Answer::Reply(error(&config, 401, "Unauthorized", "missing or malformed credentials"));
    };
    if !config.keys.as_ref().is_none_or(|keys| keys.contains(&key)) {
        return Answer::Reply(error(&config, 401, "Unauthorized", "invalid credentials"));
    }
    let Some(def) = ENDPOINTS.iter().find(|e| e.name == path) else {
        return Answer::Reply(error(&config, 404, "NotFound", &format!("no endpoint {path}")));
    };
    let account = format!("{NAME}:{key}");
    if state.lock().admit(&account, None, config.moz_concurrency).is_err() {
        // How v2 throttles is unknown (429, or 503 with Retry-After): a setting.
        let mut r = error(&config, config.moz_throttle_status, "TooManyRequests", "too many concurrent requests for this plan");
        if let Some(secs) = config.moz_throttle_retry_after.and_then(|s| hyper::header::HeaderValue::from_str(&s.to_string()).ok()) {
            r.headers_mut().insert("retry-after", secs);
        }
        return Answer::Reply(r);
    }
    let _slot = Admitted(state, account.clone());
    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    // Build the answer without holding the state lock (it is the slow part), then charge.
    let reply = match serde_json::from_slice(&body) {
        Ok(Value::Object(fields)) => match answer(state, &config, def, &fields, &account) {
            Ok(body) => full(200, "application/json", body),
            Err((status, name, message)) => error(&config, status, name, &message),
        },
        _ => error(&config, 400, "BadRequest", "the body must be a JSON object"),
    };
    super::wait_until(ready_at).await;
    Answer::Reply(reply)
}

type Failure = (u16, &'static str, String);

fn bad(message: impl Into<String>) -> Failure {
    (400, "BadRequest", message.into())
}

fn answer(state: &State, config: &Config, def: &Endpoint, f: &Map<String, Value>, account: &str) -> Result<String, Failure> {
    let str_field = |k: &str| f.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let limit = match f.get("limit") {
        None => 25,
        Some(v) => match v.as_u64() {
            Some(l) if (1..=50).contains(&l) => l,
            _ => return Err(bad("limit must be between 1 and 50")),
        },
    };
    for k in f.keys() {
        if !def.fields.contains(&k.as_str()) {
            return Err(bad(format!("unknown field {k}")));
        }
    }
    for r in def.required {
        if !f.contains_key(*r) {
            return Err(bad(format!("missing required field {r}")));
        }
    }
    let target = str_field("target").unwrap_or_default();
    let offset = match f.get("next_token").and_then(|t| t.as_str()).filter(|t| !t.is_empty()) {
        None => 0,
        Some(t) => decode_token(t, def.name, &target).ok_or_else(|| bad("invalid next_token"))?,
    };
    // What the call would cost, charged only if the account can pay for all of it.
    let (value, results, rows) = match def.name {
        "url_metrics" => {
            let targets: Vec<String> = f.get("targets").and_then(|v| v.as_array()).map(|a| a.iter().filter_map(|t| t.as_str().map(str::to_string)).collect()).unwrap_or_default();
            if targets.is_empty() || targets.len() > MAX_TARGETS {
                return Err(bad(format!("targets must hold 1 to {MAX_TARGETS} URLs")));
            }
            if let Some(t) = targets.iter().find(|t| !valid_target(t)) {
                return Err(bad(format!("invalid target {t}")));
            }
            let modifiers = ["daily_history_deltas", "daily_history_values", "monthly_history_deltas", "monthly_history_values"]
                .iter()
                .filter(|m| f.get(**m).and_then(|v| v.as_array()).is_some_and(|a| !a.is_empty()))
                .count() as u64
                + u64::from(f.get("distributions").and_then(|v| v.as_bool()).unwrap_or(false));
            let n = targets.len() as u64;
            let body = if modifiers == 0 {
                // The common case, written straight out: this is the emulator's hottest path.
                let mut out = String::with_capacity(targets.len() * 2100 + 16);
                out.push_str("{\"results\":[");
                for (i, t) in targets.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_url_metrics(&mut out, t);
                }
                out.push_str("]}");
                out
            } else {
                json!({"results": targets.iter().map(|t| url_metrics(t, f)).collect::<Vec<_>>()}).to_string()
            };
            (Ready::Text(body), n, n * (1 + modifiers * config.moz_modifier_weight))
        }
        "final_redirect" => {
            let page = str_field("page").unwrap_or_default();
            let to = if page.contains("seomoz.org") { page.replace("seomoz.org", "moz.com") } else { normalise(&page) };
            (Ready::Json(json!({"page": to})), 1, 1)
        }
        "index_metadata" => (Ready::Json(json!({"index_id": base64(b"emulated-index-2026"), "spam_score_update_days": ["2026-01-14", "2026-04-15", "2026-07-15", "2026-10-14"]})), 1, 0),
        "usage_data" => {
            // Unix seconds as strings; start < end; start defaults to the month's start [C MOZDOC];
            // calls of the last `moz_usage_lag_seconds` are not counted yet (up to an hour [C]).
            let secs = |k: &str| -> Result<Option<u64>, Failure> {
                match f.get(k) {
                    None | Some(Value::Null) => Ok(None),
                    Some(Value::String(s)) => s.trim().parse::<u64>().map(Some).map_err(|_| bad(format!("{k} must be unix seconds as a string"))),
                    Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| bad(format!("{k} must be unix seconds"))),
                    Some(_) => Err(bad(format!("{k} must be unix seconds as a string"))),
                }
            };
            let now = super::unix_now();
            let (start, end) = (secs("start")?.unwrap_or_else(|| month_start(now)), secs("end")?.unwrap_or(now));
            if start >= end {
                return Err(bad("start must be before end"));
            }
            let lag = config.moz_usage_lag_seconds;
            let g = state.lock();
            let counted = |at: u64| at >= start && at <= end && at.saturating_add(lag) <= now;
            let used: u64 = g.moz_usage.get(account).into_iter().flatten().filter(|(at, _)| counted(*at)).map(|(_, n)| n).sum();
            (Ready::Json(json!({"rows_consumed": used})), 1, 0)
        }
        "link_status" => {
            let sources: Vec<String> = f.get("sources").and_then(|v| v.as_array()).map(|a| a.iter().filter_map(|t| t.as_str().map(str::to_string)).collect()).unwrap_or_default();
            if sources.is_empty() {
                return Err(bad("sources must not be empty"));
            }
            let exists: Vec<bool> = sources.iter().map(|s| stable_hash(&[s, &target]) % 3 != 0).collect();
            (Ready::Json(json!({"exists": exists})), sources.len() as u64, sources.len() as u64 * def.rows_each)
        }
        name => {
            let available = match name {
                "global_top_pages" | "global_top_root_domains" => 500,
                _ => config.rows_per_target.get(&target).copied().or(config.rows).unwrap_or_else(|| 30 + stable_hash(&[name, &target]) % 470),
            };
            let end = (offset + limit).min(available);
            let results: Vec<Value> = (offset..end).map(|i| row(name, &target, i)).collect();
            let n = results.len() as u64;
            let weight = def.rows_each;
            let mut out = Map::new();
            out.insert("results".into(), Value::Array(results));
            if end < available {
                out.insert("next_token".into(), Value::String(encode_token(end, name, &target)));
            } else {
                match config.moz_last_page.as_str() {
                    "empty" => drop(out.insert("next_token".into(), Value::String(String::new()))),
                    "null" => drop(out.insert("next_token".into(), Value::Null)),
                    _ => {}
                }
            }
            (Ready::Json(Value::Object(out)), n, n * weight)
        }
    };
    let _ = results;
    if rows > 0 {
        let mut g = state.lock();
        let left = g.balance(account);
        if left < rows {
            return Err((config.moz_quota_status, "QuotaExceeded", config.moz_quota_message.clone()));
        }
        g.charge(NAME, account, rows);
        *g.moz_rows_consumed.entry(account.to_string()).or_default() += rows;
        g.moz_usage.entry(account.to_string()).or_default().push((super::unix_now(), rows));
    }
    Ok(match value {
        Ready::Json(v) => v.to_string(),
        Ready::Text(t) => t,
    })
}

/// Unix seconds of the first day of `now`'s month (UTC).
fn month_start(now: u64) -> u64 {
    let days = now / 86_400;
    let (_, _, d) = crate::ledger::civil_from_days(days as i64);
    (days - (u64::from(d) - 1)) * 86_400
}

enum Ready {
    Json(Value),
    Text(String),
}

/// Opaque page token: base64 of the offset and a check of what it pages.
pub(super) fn encode_token(offset: u64, endpoint: &str, target: &str) -> String {
    let check = stable_hash(&[endpoint, target]) % 1_000_000;
    base64(format!("{offset}:{check}").as_bytes())
}

pub(super) fn decode_token(token: &str, endpoint: &str, target: &str) -> Option<u64> {
    let text = String::from_utf8(decode_b64(token)?).ok()?;
    let (offset, check) = text.split_once(':')?;
    (check.parse::<u64>().ok()? == stable_hash(&[endpoint, target]) % 1_000_000).then(|| offset.parse().ok())?
}

/// `https://www.Moz.com` -> `www.moz.com/`: Moz answers without the scheme.
fn normalise(target: &str) -> String {
    let rest = target.split_once("://").map_or(target, |(_, r)| r);
    let (host, path) = rest.split_once('/').map_or((rest, ""), |(h, p)| (h, p));
    format!("{}/{}", host.to_ascii_lowercase(), path)
}

fn hosts(page: &str) -> (String, String) {
    let host = page.split('/').next().unwrap_or("").to_string();
    let labels: Vec<&str> = host.split('.').collect();
    let root = if labels.len() >= 2 { labels[labels.len() - 2..].join(".") } else { host.clone() };
    (host, root)
}

const WORDS: &[&str] = &["guide", "blog", "tools", "news", "learn", "shop", "docs", "about", "pricing", "help"];

/// `url_metrics(target, {})` written as JSON text without building a `Value`; same content.
pub(super) fn write_url_metrics(out: &mut String, target: &str) {
    use std::fmt::Write;
    let v = url_metrics_fields(target);
    out.push('{');
    for (i, (k, val)) in v.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        out.push_str(k);
        out.push_str("\":");
        match val {
            Field::U(n) => drop(write!(out, "{n}")),
            Field::I(n) => drop(write!(out, "{n}")),
            Field::F(x) => out.push_str(&serde_json::Number::from_f64(*x).map(|n| n.to_string()).unwrap_or_else(|| "0".into())),
            Field::S(t) => out.push_str(&serde_json::to_string(t).unwrap_or_default()),
        }
    }
    out.push('}');
}

enum Field {
    U(u64),
    I(i64),
    F(f64),
    S(String),
}

fn field_names() -> &'static [(String, u8)] {
    // (name, kind): 0 count, 1..=9 special fields handled in url_metrics_fields; sorted like Moz's print.
    static NAMES: std::sync::OnceLock<Vec<(String, u8)>> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| {
        let mut v: Vec<(String, u8)> = Vec::new();
        for stem in ["deleted_pages_to", "deleted_root_domains_to", "external_nofollow_pages_to", "external_pages_to", "external_redirect_pages_to", "nofollow_pages_to", "nofollow_root_domains_to", "pages_to", "redirect_pages_to", "root_domains_to"] {
            for scope in ["page", "root_domain", "subdomain"] {
                v.push((format!("{stem}_{scope}"), 0));
            }
        }
        for name in [
            "external_indirect_pages_to_root_domain", "indirect_root_domains_to_page", "indirect_root_domains_to_root_domain",
            "nofollow_pages_from_page", "nofollow_pages_from_root_domain", "nofollow_root_domains_from_page",
            "nofollow_root_domains_from_root_domain", "pages_crawled_from_root_domain", "pages_from_page", "pages_from_root_domain",
            "root_domains_from_page", "root_domains_from_root_domain",
        ] {
            v.push((name.to_string(), 0));
        }
        for (name, kind) in [("domain_authority", 1), ("page_authority", 2), ("http_code", 3), ("last_crawled", 4), ("link_propensity", 5), ("spam_score", 6), ("title", 7), ("page", 8), ("subdomain", 9), ("root_domain", 10)] {
            v.push((name.to_string(), kind));
        }
        v.sort();
        v
    })
}

fn url_metrics_fields(target: &str) -> Vec<(&'static str, Field)> {
    let page = normalise(target);
    let (subdomain, root) = hosts(&page);
    let prefix = StableHash::default().part(&page);
    let h = |salt: &str| prefix.part(salt).finish();
    // Big sites get counts past 2^32, as real ones do.
    let scale = 10u64.pow(3 + (h("scale") % 9) as u32);
    field_names()
        .iter()
        .map(|(name, kind)| {
            let v = match kind {
                0 => Field::U(h(name) % scale),
                1 => Field::U(1 + h("da") % 100),
                2 => Field::U(1 + h("pa") % 100),
                // http_code sometimes holds small codes rather than an HTTP status (seen in real answers).
                3 => Field::U(match h("http") % 20 {
                    0 => 3,
                    1 => 5,
                    2 => 301,
                    3 => 404,
                    _ => 200,
                }),
                4 => Field::S(format!("2026-{:02}-{:02}", 1 + h("m") % 10, 1 + h("d") % 28)),
                5 => Field::F((h("lp") % 1_000_000) as f64 / 1e7),
                6 => Field::I(if h("spam") % 5 == 0 { -1 } else { (h("ss") % 18) as i64 }),
                7 => Field::S(if h("title") % 3 == 0 { String::new() } else { format!("{} {}", root, WORDS[(h("tw") % 10) as usize]) }),
                8 => Field::S(page.clone()),
                9 => Field::S(subdomain.clone()),
                _ => Field::S(root.clone()),
            };
            (name.as_str(), v)
        })
        .collect()
}

/// The 52-field url-metrics object for a page, deterministic per page.
pub fn url_metrics(target: &str, f: &Map<String, Value>) -> Value {
    let mut m = Map::new();
    for (k, v) in url_metrics_fields(target) {
        m.insert(k.to_string(), match v {
            Field::U(n) => json!(n),
            Field::I(n) => json!(n),
            Field::F(x) => json!(x),
            Field::S(s) => json!(s),
        });
    }
    let page = normalise(target);
    let h = |salt: &str| stable_hash(&[&page, salt]);
    // History modifiers: shape unpublished [I]; one value per requested metric and month.
    for modifier in ["daily_history_deltas", "daily_history_values", "monthly_history_deltas", "monthly_history_values"] {
        if let Some(Value::Array(metrics)) = f.get(modifier) {
            let mut hist = Map::new();
            for metric in metrics.iter().filter_map(|x| x.as_str()) {
                hist.insert(metric.into(), json!((0..12).map(|i| h(&format!("{modifier}{metric}{i}")) % 100).collect::<Vec<_>>()));
            }
            m.insert(modifier.into(), Value::Object(hist));
        }
    }
    Value::Object(m)
}

fn row(endpoint: &str, target: &str, i: u64) -> Value {
    let h = |salt: &str| stable_hash(&[endpoint, target, &i.to_string(), salt]);
    let site = |salt: &str| format!("{}-{}.{}", WORDS[(h(salt) % 10) as usize], h(salt) % 997, ["com", "org", "net", "io"][(h(salt) % 4) as usize]);
    let to_target = || json!({"pages": h("p") % 5000, "nofollow_pages": h("n") % 100, "redirect_pages": h("r") % 50, "deleted_pages": h("d") % 40});
    match endpoint {
        "links" => {
            let source = format!("{}/{}/{}", site("src"), WORDS[(h("w") % 10) as usize], i);
            json!({
                "anchor_text": if h("a") % 7 == 0 { String::new() } else { format!("{} {}", WORDS[(h("a") % 10) as usize], WORDS[(h("b") % 10) as usize]) },
                "date_disappeared": if h("gone") % 6 == 0 { "2026-09-01".to_string() } else { String::new() },
                "date_first_seen": format!("202{}-{:02}-{:02}", h("y") % 6, 1 + h("fm") % 12, 1 + h("fd") % 28),
                "date_last_seen": format!("2026-{:02}-{:02}", 1 + h("lm") % 10, 1 + h("ld") % 28),
                "nofollow": h("nf") % 4 == 0,
                "redirect": h("rd") % 10 == 0,
                "rel_canonical": h("rc") % 12 == 0,
                "via_redirect": h("vr") % 15 == 0,
                "via_rel_canonical": h("vc") % 20 == 0,
                "source": url_metrics(&source, &Map::new()),
                "target": url_metrics(target, &Map::new()),
            })
        }
        "anchor_text" => json!({
            "anchor_text": format!("{} {} {}", WORDS[(h("a") % 10) as usize], WORDS[(h("b") % 10) as usize], i),
            "external_pages": 1000u64.saturating_sub(i) * (1 + h("ep") % 5),
            "external_root_domains": 1000u64.saturating_sub(i),
        }),
        "global_top_pages" => url_metrics(&format!("{}/{}", site("gtp"), i), &Map::new()),
        "top_pages" => url_metrics(&format!("{}/{}/{}", normalise(target).trim_end_matches('/'), WORDS[(h("w") % 10) as usize], i), &Map::new()),
        "link_intersect" => json!({
            "page": format!("{}/{}", site("li"), i),
            "title": if h("t") % 3 == 0 { String::new() } else { format!("Page {i}") },
            "domain_authority": 1 + h("da") % 100,
            "spam_score": if h("s") % 5 == 0 { -1 } else { (h("ss") % 18) as i64 },
            "matching_target_indexes": [0],
        }),
        // global_top_root_domains, linking_root_domains
        _ => json!({
            "root_domain": site("rd"),
            "root_domains_to_root_domain": h("rr") % 10_000_000,
            "domain_authority": 100u64.saturating_sub(i / 10).max(1),
            "link_propensity": (h("lp") % 1_000_000) as f64 / 1e7,
            "spam_score": if h("s") % 5 == 0 { -1 } else { (h("ss") % 18) as i64 },
            "to_target": to_target(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_url_metrics_equal_the_value_form() {
        for t in ["moz.com", "https://www.Example.org/a/b?x=1", "nytimes.com/section"] {
            let mut out = String::new();
            write_url_metrics(&mut out, t);
            let parsed: Value = serde_json::from_str(&out).unwrap();
            assert_eq!(parsed, url_metrics(t, &Map::new()));
            assert_eq!(parsed.as_object().unwrap().len(), 52);
        }
    }
}
