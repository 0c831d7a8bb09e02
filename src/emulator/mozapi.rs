//! The Moz API (JSON-RPC) as the reference describes it (providers-next.md §1): `POST /jsonrpc`
//! with `x-moz-token`, the `{"jsonrpc","id","method","params":{"data"}}` envelope, results
//! shaped by Moz's method schema (echoes with `original_*` and a null suggestion, `offset` and
//! `page` objects, the 52 site metrics), rows charged per method's quota rule to its pool,
//! `quota.lookup` consistent with the charges, the error envelope and codes (with the -32600
//! `httpStatus` quirk), and the 4xx penalty. Unpublished behaviour follows `Config`.

use std::sync::Arc;
use tokio::time::Instant;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::{json, Map, Value};

use super::{full, stable_hash, Admitted, Answer, Body, Config, State};
use crate::catalog::MozMethod;

const WORDS: &[&str] = &["guide", "blog", "tools", "news", "learn", "shop", "docs", "about", "pricing", "help"];

/// An error envelope. `http_status_quirk`: the status sits in `httpStatus` (-32600 [T MOZEV]).
fn rpc_error(id: &Value, status: u16, code: i64, message: &str, issue: &str, key: Option<&str>) -> Response<Body> {
    let mut error = json!({"code": code, "message": message, "data": {"explanation": message, "issue": issue}});
    if code == -32600 {
        error["httpStatus"] = json!(status);
    } else {
        error["status"] = json!(status);
    }
    if let Some(k) = key {
        error["data"]["key"] = json!(k);
    }
    full(status, "application/json", json!({"id": id, "jsonrpc": "2.0", "error": error}).to_string())
}

type Failure = (u16, i64, String, &'static str, Option<String>);

fn camel(method: &str) -> String {
    method.split('.').map(|p| {
        let mut c = p.chars();
        c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
    }).collect()
}

pub async fn handle(state: &Arc<State>, req: Request<Incoming>, ready_at: Instant) -> Answer {
    let config = state.lock().config.clone();
    let token = req.headers().get("x-moz-token").and_then(|v| v.to_str().ok()).map(str::to_string).filter(|t| !t.is_empty());
    let post = req.method() == hyper::Method::POST;
    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let doc: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let id = doc.get("id").cloned().unwrap_or(Value::Null);
    let account = format!("mozapi:{}", token.clone().unwrap_or_default());
    // The penalty: more than 50 4xx in 5 minutes throttle the account to 50 requests per
    // 5 minutes, lifted after 30 s without a 4xx [C MOZDOCS error-handling].
    let refused = config.moz_api_penalty && token.is_some() && {
        let mut g = state.lock();
        let now = std::time::Instant::now();
        let p = g.moz_api_penalty.entry(account.clone()).or_default();
        p.errors.retain(|t| now.duration_since(*t).as_secs() < 300);
        p.requests.retain(|t| now.duration_since(*t).as_secs() < 300);
        let throttled = p.errors.len() > 50 && p.errors.back().is_some_and(|t| now.duration_since(*t).as_secs() < 30);
        p.requests.push_back(now);
        let refused = throttled && p.requests.len() > 50;
        if refused {
            p.errors.push_back(now);
            g.counters.rejected_rate += 1;
        }
        refused
    };
    if refused {
        super::wait_until(ready_at).await;
        return Answer::Reply(rpc_error(&id, config.moz_api_throttle_status, -32000, "Too many requests resulting in errors: rate limited to 50 requests per 5 minutes", "rate-limited", None));
    }
    // The plan's concurrency per token, as for Links v2 (how Moz refuses beyond it is unpublished).
    let busy = token.is_some() && state.lock().admit(&account, None, config.moz_concurrency).is_err();
    if busy {
        super::wait_until(ready_at).await;
        return Answer::Reply(rpc_error(&id, config.moz_throttle_status, -32000, "too many concurrent requests for this plan", "rate-limited", None));
    }
    let _slot = token.as_ref().map(|_| Admitted(state, account.clone()));
    let outcome = answer(state, &config, post, token.as_deref(), &doc, &account);
    let reply = match outcome {
        Ok(text) => full(200, "application/json", text),
        Err((status, code, message, issue, key)) => {
            if (400..500).contains(&status) {
                state.lock().moz_api_penalty.entry(account.clone()).or_default().errors.push_back(std::time::Instant::now());
            }
            rpc_error(&id, status, code, &message, issue, key.as_deref())
        }
    };
    super::wait_until(ready_at).await;
    Answer::Reply(reply)
}

fn answer(state: &State, config: &Config, post: bool, token: Option<&str>, doc: &Value, account: &str) -> Result<String, Failure> {
    if !post {
        return Err((400, -32600, "The JSON-RPC endpoint takes POST".into(), "invalid-request", None));
    }
    let Some(token) = token else { return Err((401, -32651, "Missing or invalid authentication".into(), "unauthorized", None)) };
    if !config.keys.as_ref().is_none_or(|keys| keys.iter().any(|k| k == token)) {
        return Err((401, -32651, "Missing or invalid authentication".into(), "unauthorized", None));
    }
    if doc.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err((400, -32600, "jsonrpc must be \"2.0\"".into(), "invalid-request", Some("jsonrpc".into())));
    }
    let id_len = doc.get("id").and_then(Value::as_str).map_or(0, |s| s.chars().count());
    if id_len < 24 {
        return Err((400, -32654, "Minimum Request ID length is 24.".into(), "invalid-request", Some("id".into())));
    }
    let name = doc.get("method").and_then(Value::as_str).unwrap_or("");
    let catalog = crate::catalog::moz();
    let m = catalog.operations.iter().find(|m| m.method == name || (config.moz_api_hyphen_names && m.method == name.replace('-', ".")));
    let Some(m) = m else { return Err((400, -32601, format!("Action not found: {}", camel(name)), "action-not-found", None)) };
    let data = match doc.get("params").and_then(|p| p.get("data")) {
        Some(Value::Object(d)) => d.clone(),
        None | Some(Value::Null) => Map::new(),
        Some(_) => return Err((400, -32602, "params.data must be an object".into(), "invalid-param", Some("data".into()))),
    };
    check(&m.data, &Value::Object(data.clone()), "")?;
    let (result, units) = build(state, config, m, &data, account)?;
    let result = match result {
        Built::Json(v) => v.to_string(),
        Built::Text(t) => t,
    };
    if units > 0 {
        let pool = m.pricing.pool.clone().unwrap_or_else(|| "data".into());
        let mut g = state.lock();
        let allotted = config.moz_api_allotted.get(&pool).copied().unwrap_or(0);
        let key = format!("{account}|{pool}");
        let used = g.moz_api_used.get(&key).copied().unwrap_or(0);
        if used.saturating_add(units) > allotted {
            return Err((config.moz_api_quota_status, -32000, format!("Quota exceeded for {}: {used} of {allotted} rows used", m.pricing.pool.as_deref().map(pool_path).unwrap_or("api.limits.data.rows")), "quota-exceeded", None));
        }
        g.moz_api_used.insert(key, used + units);
        g.counters.units_charged += units;
        *g.counters.units_by_provider.entry("moz".into()).or_default() += units;
    }
    Ok(format!("{{\"id\":{},\"jsonrpc\":\"2.0\",\"result\":{result}}}", doc.get("id").unwrap_or(&Value::Null)))
}

fn pool_path(pool: &str) -> &'static str {
    match pool {
        "beta" => "api.limits.beta.rows",
        "mozscape" => "api.limits.mozscape.rows",
        _ => "api.limits.data.rows",
    }
}

/// Required fields, types and enums of the method's schema (the server's own checks).
fn check(schema: &Value, v: &Value, path: &str) -> Result<(), Failure> {
    let at = |k: &str| if path.is_empty() { k.to_string() } else { format!("{path}.{k}") };
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        if v.is_string() && !values.contains(v) {
            return Err((400, -32602, format!("{} is not one of the allowed values", if path.is_empty() { "value" } else { path }), "invalid-param", Some(path.to_string())));
        }
    }
    if let Some(c) = schema.get("const") {
        if v.is_string() && v != c {
            return Err((400, -32602, format!("{path} must be {c}"), "invalid-param", Some(path.to_string())));
        }
    }
    if let (Some(props), Value::Object(obj)) = (schema.get("properties").and_then(Value::as_object), v) {
        for r in schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
            let has_default = props.get(r).is_some_and(|p| p.get("default").is_some_and(|d| !d.is_null()) || p.get("const").is_some());
            if !obj.contains_key(r) && !has_default && !(path.is_empty() && r == "page") && !(r == "sort" && path == "options") {
                return Err((400, -32652, format!("Please include a {}", at(r)), "param-is-missing", Some(at(r))));
            }
        }
        for (k, x) in obj {
            if let Some(p) = props.get(k) {
                check(p, x, &at(k))?;
            }
        }
    }
    if let (Some(item), Value::Array(items)) = (schema.get("items"), v) {
        for (i, x) in items.iter().enumerate() {
            check(item, x, &format!("{path}[{i}]"))?;
        }
    }
    Ok(())
}

fn h(parts: &[&str]) -> u64 {
    stable_hash(parts)
}

/// A site as Moz echoes it: scope applied (a domain keeps only the host), with the original.
fn echo_site(q: &Value) -> Value {
    let query = q.get("query").and_then(Value::as_str).unwrap_or("");
    let scope = q.get("scope").and_then(Value::as_str).unwrap_or("domain");
    let bare = query.split_once("://").map_or(query, |(_, r)| r).trim_end_matches('/');
    let cut = if matches!(scope, "domain" | "subdomain") { bare.split('/').next().unwrap_or("") } else { bare };
    let mut out = q.as_object().cloned().unwrap_or_default();
    out.insert("query".into(), json!(format!("https://{cut}")));
    out.insert("original_site_query".into(), json!({"query": bare, "scope": scope}));
    out.insert("site_query_suggestion".into(), Value::Null);
    Value::Object(out)
}

fn site_metrics(site: &str) -> Value {
    super::moz::url_metrics(site, &Map::new())
}

fn query_text(q: Option<&Value>) -> String {
    q.and_then(|q| q.get("query").or(q.get("keyword"))).and_then(Value::as_str).unwrap_or("").to_string()
}

fn random_site(salt: &[&str]) -> String {
    let x = h(salt);
    format!("{}-{}.{}", WORDS[(x % 10) as usize], x % 997, ["com", "org", "net", "io"][(x / 7 % 4) as usize])
}

/// One row of a list method.
fn row(m: &MozMethod, subject: &str, i: u64) -> Value {
    let s = i.to_string();
    let k = |salt: &str| h(&[&m.method, subject, &s, salt]);
    let source = format!("{}/{}/{}", random_site(&[&m.method, subject, &s, "src"]), WORDS[(k("w") % 10) as usize], i);
    let link = || {
        json!({
            "source_site_metrics": site_metrics(&source),
            "target_site_metrics": site_metrics(subject),
            "anchor_text": format!("{} {}", WORDS[(k("a") % 10) as usize], WORDS[(k("b") % 10) as usize]),
            "date_first_seen": format!("202{}-{:02}-{:02}", k("y") % 6, 1 + k("fm") % 12, 1 + k("fd") % 28),
            "date_last_seen": format!("2026-{:02}-{:02}", 1 + k("lm") % 10, 1 + k("ld") % 28),
            "date_disappeared": if k("gone") % 6 == 0 { "2026-09-01" } else { "" },
            "nofollow": k("nf") % 4 == 0,
            "redirect": k("rd") % 10 == 0,
            "rel_canonical": k("rc") % 12 == 0,
            "via_redirect": k("vr") % 15 == 0,
            "via_rel_canonical": k("vc") % 20 == 0,
        })
    };
    let linking_domain = |extra: Option<(&str, String)>| {
        let mut d = json!({
            "site_metrics": site_metrics(&random_site(&[&m.method, subject, &s, "ld"])),
            "link_propensity": (k("lp") % 1000) as f64 / 1000.0,
            "targeted_pages": 1 + k("tp") % 500,
            "targeted_nofollow_pages": k("tn") % 50,
            "targeted_redirect_pages": k("tr") % 20,
            "targeted_deleted_pages": k("td") % 10,
        });
        if let Some((key, v)) = extra {
            d[key] = json!(v);
        }
        d
    };
    match m.rows.as_deref().unwrap_or("") {
        "links" => link(),
        "linking_domains" => linking_domain(None),
        "gained_linking_domains" => linking_domain(Some(("date_gained", format!("2026-11-{:02}", 1 + k("dg") % 28)))),
        "lost_linking_domains" => linking_domain(Some(("date_lost", format!("2026-11-{:02}", 1 + k("dl") % 28)))),
        "anchor_texts" => json!({"text": format!("{} {} {i}", WORDS[(k("a") % 10) as usize], WORDS[(k("b") % 10) as usize]), "external_root_domains": 1000u64.saturating_sub(i), "external_pages": 1000u64.saturating_sub(i) * (1 + k("ep") % 5)}),
        "top_pages" | "top_domains" => site_metrics(&format!("{}/{}", random_site(&[&m.method, subject, &s, "tp"]), if m.rows.as_deref() == Some("top_pages") { WORDS[(k("p") % 10) as usize] } else { "" })),
        "ranking_keywords" => json!({
            "keyword": format!("{} {} {i}", subject.split('.').next().unwrap_or(subject), WORDS[(k("kw") % 10) as usize]),
            "ranking_page": format!("{}/{}", subject.split_once("://").map_or(subject, |(_, r)| r).trim_end_matches('/'), WORDS[(k("rp") % 10) as usize]),
            "rank_position": 1 + k("rank") % 50,
            "difficulty": if k("dn") % 9 == 0 { Value::Null } else { json!(1 + k("d") % 100) },
            "volume": if k("vn") % 11 == 0 { Value::Null } else { json!(10 * (1 + k("v") % 10_000)) },
        }),
        "suggestions" => json!({"keyword": format!("{subject} {} {i}", WORDS[(k("s") % 10) as usize]), "relevance": (1000 - (i.min(999))) as f64 / 1000.0}),
        "link_intersects" => json!({
            "page": format!("{}/{}", random_site(&[&m.method, subject, &s, "li"]), WORDS[(k("p") % 10) as usize]),
            "title": format!("{} {}", WORDS[(k("t") % 10) as usize], i),
            "domain_authority": 1 + k("da") % 100,
            "spam_score": k("ss") % 18,
            "matching_target_indexes": [0],
            "matching_source_pages": [],
        }),
        _ => json!({}),
    }
}

/// A result as a value, or already written as JSON text (the bulk site metrics: the hot path).
enum Built {
    Json(Value),
    Text(String),
}

/// The result of a call and the rows it costs under the method's rule.
fn build(state: &State, config: &Config, m: &MozMethod, data: &Map<String, Value>, account: &str) -> Result<(Built, u64), Failure> {
    let mut out = Map::new();
    // Echo what was asked, the way Moz does.
    for (k, v) in data {
        let echoed = match k.as_str() {
            "site_query" | "target_site_query" | "source_site_query" | "domain_site_query" => echo_site(v),
            "target_query" => {
                let mut e = echo_site(v);
                let original = e.get("original_site_query").cloned();
                if let Some(o) = e.as_object_mut() {
                    o.remove("original_site_query");
                    o.remove("site_query_suggestion");
                    o.insert("original_target_query".into(), original.unwrap_or(Value::Null));
                    o.insert("suggestion".into(), Value::Null);
                }
                e
            }
            "serp_query" => {
                let mut e = v.clone();
                if e.get("vicinity").is_none() {
                    e["vicinity"] = json!("");
                }
                e
            }
            "is_linking_to" | "not_linking_to" => Value::Array(v.as_array().into_iter().flatten().map(echo_site).collect()),
            "options" | "anchor_text" => v.clone(),
            _ => continue,
        };
        if m.result_keys.iter().any(|r| r == k) {
            out.insert(k.clone(), echoed);
        }
    }
    // Echoes of what was not sent: the schema's defaults (an empty list, the default options).
    if let Some(props) = m.data.get("properties").and_then(Value::as_object) {
        for k in &m.result_keys {
            if let (Some(s), false) = (props.get(k), out.contains_key(k)) {
                match s.get("type").and_then(Value::as_str) {
                    Some("array") => drop(out.insert(k.clone(), json!([]))),
                    Some("object") if k == "options" => {
                        let defaults: Map<String, Value> = s.get("properties").and_then(Value::as_object).into_iter().flatten()
                            .filter_map(|(name, p)| p.get("default").map(|d| (name.clone(), d.clone()))).collect();
                        out.insert(k.clone(), Value::Object(defaults));
                    }
                    _ => {}
                }
            }
        }
    }
    let mult = m.pricing.multiplier.unwrap_or(1);
    let subject = query_text(data.get("site_query").or(data.get("target_query")).or(data.get("serp_query")).or(data.get("is_linking_to").and_then(|a| a.get(0))));
    let rule = m.pricing.rule.as_str();
    let mut units = match rule {
        "per_call" => mult,
        _ => 0,
    };
    if let Some(rows_key) = m.rows.as_deref().filter(|_| m.paging != "none") {
        let available = config.rows_per_target.get(&subject).copied().or(config.rows).unwrap_or(match m.method.as_str() {
            "data.global.top.page.list" | "data.global.top.domain.list" => 500,
            _ => 30 + h(&[&m.method, &subject]) % 470,
        });
        let (start, limit, next) = if m.paging == "offset" {
            let o = data.get("offset");
            let limit = o.and_then(|o| o.get("limit")).and_then(Value::as_u64).unwrap_or(25);
            if !(1..=50).contains(&limit) {
                return Err((400, -32602, "offset.limit must be between 1 and 50".into(), "invalid-param", Some("offset.limit".into())));
            }
            let token = o.and_then(|o| o.get("token")).and_then(Value::as_str).filter(|t| !t.is_empty());
            let start = match token {
                None => 0,
                Some(t) => super::moz::decode_token(t, &m.method, &subject).ok_or((400, -32602, "Invalid offset token".to_string(), "invalid-param", Some("offset.token".to_string())))?,
            };
            (start, limit, token.map(str::to_string))
        } else {
            let p = data.get("page");
            let limit = p.and_then(|o| o.get("limit")).and_then(Value::as_u64).unwrap_or(m.limit.as_ref().map_or(50, |l| l.default));
            let n = p.and_then(|o| o.get("n")).and_then(Value::as_u64).unwrap_or(0);
            if limit == 0 || limit > 500 {
                return Err((400, -32602, "page.limit is out of range".into(), "invalid-param", Some("page.limit".into())));
            }
            (n.saturating_mul(limit), limit, None)
        };
        let end = start.saturating_add(limit).min(available);
        let rows: Vec<Value> = (start..end.max(start)).map(|i| row(m, &subject, i)).collect();
        let n = rows.len() as u64;
        out.insert(rows_key.into(), Value::Array(rows));
        if m.paging == "offset" {
            let token = (end < available).then(|| super::moz::encode_token(end, &m.method, &subject));
            out.insert("offset".into(), json!({"provided_token": next, "token": token, "limit": limit}));
        } else {
            out.insert("page".into(), json!({"n": data.get("page").and_then(|p| p.get("n")).cloned().unwrap_or(json!(0)), "limit": limit}));
        }
        units = match rule {
            "per_result" => n * mult,
            "dynamic" => {
                let targets: u64 = ["is_linking_to", "not_linking_to"].iter().map(|k| data.get(*k).and_then(Value::as_array).map_or(0, |a| a.len() as u64)).sum();
                n * targets.max(1) * mult
            }
            _ => units,
        };
        return Ok((Built::Json(Value::Object(out)), units));
    }
    if m.method == "data.site.metrics.fetch.multiple" {
        return Ok(site_metrics_multiple(config, m, data));
    }
    match m.method.as_str() {
        "data.site.metrics.fetch" => {
            out.insert("site_metrics".into(), site_metrics(&subject));
        }
        "data.site.metrics.brand.authority.fetch" => {
            out.insert("site_metrics".into(), json!({"brand_authority_score": 1 + h(&[&subject, "ba"]) % 100}));
        }
        "beta.data.site.metrics.brand.authority.fetch" => {
            out.insert("metrics".into(), json!({"brand_authority_score": 1 + h(&[&subject, "ba"]) % 100}));
        }
        "data.site.metrics.distributions.fetch" => {
            let names = ["page_authority", "domain_authority", "spam_score", "root_domains_to_page", "root_domains_to_root_domain", "pages_to_page", "pages_to_root_domain", "external_pages_to_page", "external_pages_to_root_domain", "nofollow_pages_to_page", "nofollow_pages_to_root_domain", "link_propensity", "brand_authority"];
            let mut d = Map::new();
            for n in names {
                d.insert(n.into(), json!((0..10).map(|i| h(&[&subject, n, &i.to_string()]) % 1000).collect::<Vec<_>>()));
            }
            out.insert("site_metrics_distributions".into(), Value::Object(d));
        }
        "data.site.metrics.histories.fetch" => {
            let mut hist = Map::new();
            let mut values = 0u64;
            for (key, out_key, deltas, len) in [
                ("get_daily_history_deltas_for", "daily_history_deltas", true, 60),
                ("get_daily_history_values_for", "daily_history_values", false, 60),
                ("get_monthly_history_deltas_for", "monthly_history_deltas", true, 32),
                ("get_monthly_history_values_for", "monthly_history_values", false, 32),
            ] {
                let metrics: Vec<&str> = data.get(key).and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
                values += metrics.len() as u64;
                let items: Vec<Value> = metrics
                    .iter()
                    .map(|metric| {
                        let dates = (0..len).map(|i| format!("2026-{:02}-{:02}", 1 + (i / 28) % 12, 1 + i % 28));
                        if deltas {
                            json!({"metric_name": metric, "metric_deltas": {
                                "gained": dates.clone().enumerate().map(|(i, d)| json!({"date": d, "value": h(&[&subject, metric, "g", &i.to_string()]) % 100})).collect::<Vec<_>>(),
                                "lost": dates.enumerate().map(|(i, d)| json!({"date": d, "value": h(&[&subject, metric, "l", &i.to_string()]) % 100})).collect::<Vec<_>>(),
                            }})
                        } else {
                            json!({"metric_name": metric, "metric_values": dates.enumerate().map(|(i, d)| json!({"date": d, "value": h(&[&subject, metric, &i.to_string()]) % 1000})).collect::<Vec<_>>()})
                        }
                    })
                    .collect();
                hist.insert(out_key.into(), Value::Array(items));
            }
            out.insert("site_metrics_histories".into(), Value::Object(hist));
            units = values.min(m.pricing.max_values.unwrap_or(u64::MAX)) * mult;
        }
        "data.site.link.status.fetch" => {
            let t = query_text(data.get("target_site_query"));
            let s = query_text(data.get("source_site_query"));
            out.insert("exists".into(), json!(h(&[&s, &t]) % 3 != 0));
        }
        "data.site.redirect.fetch" => {
            out.insert("destination".into(), if h(&[&subject, "r"]) % 2 == 0 { Value::Null } else { json!(format!("https://www.{}/", subject.trim_start_matches("https://").trim_end_matches('/'))) });
        }
        "data.site.ranking.keyword.count" => {
            let total = 100 + h(&[&subject, "rk"]) % 100_000;
            let mut pos = Map::new();
            for i in 1..=50 {
                pos.insert(format!("rank_{i}"), json!(total / 50 + h(&[&subject, &i.to_string()]) % 10));
            }
            out.insert("ranking_keyword_count".into(), json!({"total": total, "position": pos}));
        }
        "data.keyword.metrics.fetch" | "data.keyword.metrics.volume.fetch" | "data.keyword.metrics.difficulty.fetch" | "data.keyword.metrics.opportunity.fetch" | "data.keyword.metrics.priority.fetch" => {
            let unknown = config.moz_api_null_keywords.iter().any(|k| k.eq_ignore_ascii_case(&subject));
            let value = |metric: &str| -> Value {
                if unknown || h(&[&subject, metric, "null"]) % 5 == 0 {
                    return Value::Null;
                }
                match metric {
                    "volume" => json!(10 * (1 + h(&[&subject, metric]) % 50_000)),
                    "organic_ctr" => json!((h(&[&subject, metric]) % 100) as f64 / 100.0),
                    _ => json!(1 + h(&[&subject, metric]) % 100),
                }
            };
            let only = match m.method.as_str() {
                "data.keyword.metrics.volume.fetch" => Some("volume"),
                "data.keyword.metrics.difficulty.fetch" => Some("difficulty"),
                "data.keyword.metrics.opportunity.fetch" => Some("organic_ctr"),
                "data.keyword.metrics.priority.fetch" => Some("priority"),
                _ => None,
            };
            let mut km = Map::new();
            let mut non_null = 0;
            for metric in ["volume", "difficulty", "organic_ctr", "priority"] {
                let v = if only.is_none_or(|o| o == metric) { value(metric) } else { Value::Null };
                non_null += u64::from(!v.is_null());
                km.insert(metric.into(), v);
            }
            if let Some(o) = only {
                if km[o].is_null() {
                    return Err((404, -32602, format!("NotFoundError: no {o} for this keyword"), "not-found", None));
                }
            }
            out.insert("keyword_metrics".into(), Value::Object(km));
            if rule == "per_value" {
                units = non_null.min(m.pricing.max_values.unwrap_or(4)) * mult;
            }
        }
        "data.keyword.search.intent.fetch" => {
            let labels = ["informational", "navigational", "commercial", "transactional"];
            let scores: Vec<f64> = labels.iter().map(|l| (h(&[&subject, l]) % 1000) as f64 / 1000.0).collect();
            let top = scores.iter().cloned().fold(f64::MIN, f64::max);
            out.insert("keyword_intent".into(), json!({
                "primary_intents": labels.iter().zip(&scores).filter(|(_, s)| **s == top).map(|(l, _)| *l).collect::<Vec<_>>(),
                "all_intents": labels.iter().zip(&scores).map(|(l, s)| json!({"label": l, "score": s})).collect::<Vec<_>>(),
            }));
        }
        "data.site.link.status.fetch.multiple" => {
            let pair = m.method.contains("link.status");
            let (key, results_key, errors_key) = if pair { ("queries", "results_by_query", "errors_by_query") } else { ("site_queries", "results_by_site", "errors_by_site") };
            let mut results = Vec::new();
            let mut errors = Vec::new();
            for item in data.get(key).and_then(Value::as_array).into_iter().flatten() {
                let (echo, probe) = if pair {
                    let t = item.get("target_site_query").cloned().unwrap_or(Value::Null);
                    let s = item.get("source_site_query").cloned().unwrap_or(Value::Null);
                    (json!({"target_site_query": echo_site(&t), "source_site_query": echo_site(&s)}), query_text(Some(&s)))
                } else {
                    (json!({"site_query": echo_site(item)}), query_text(Some(item)))
                };
                if config.moz_api_item_errors.iter().any(|e| e.eq_ignore_ascii_case(&probe)) {
                    let mut e = echo;
                    e["error"] = json!({"name": "UnhandledError", "message": "An unexpected error occurred.", "data": {"key": key, "value": probe}, "httpStatus": 500, "jsonrpcCode": -32602});
                    errors.push(e);
                    continue;
                }
                let mut r = echo;
                if pair {
                    let t = query_text(item.get("target_site_query"));
                    r["exists"] = json!(h(&[&probe, &t]) % 3 != 0);
                } else {
                    r["site_metrics"] = site_metrics(&probe);
                }
                results.push(r);
            }
            if config.moz_api_unordered {
                // The API does not keep request order [C MOZSCHEMA example]: answer in hash order.
                results.sort_by_key(|r| h(&[&query_text(r.get("source_site_query")), &query_text(r.get("target_site_query")), "order"]));
            }
            units = results.len() as u64 * mult;
            out.insert(results_key.into(), Value::Array(results));
            out.insert(errors_key.into(), Value::Array(errors));
        }
        "quota.lookup" => {
            let path = data.get("path").and_then(Value::as_str).unwrap_or("api.limits.data.rows");
            let pool = match path {
                "api.limits.beta.rows" => "beta",
                "api.limits.mozscape.rows" => "mozscape",
                _ => "data",
            };
            let g = state.lock();
            let mut used = g.moz_api_used.get(&format!("{account}|{pool}")).copied().unwrap_or(0);
            if pool == "mozscape" {
                // Links v2 rows are the mozscape pool.
                let token = account.trim_start_matches("mozapi:");
                used += g.moz_rows_consumed.get(&format!("moz:{token}")).copied().unwrap_or(0);
            }
            let now = super::unix_now();
            out.insert("quota".into(), json!({
                "path": path, "account_id": h(&[account]) % 10_000_000, "allotted": config.moz_api_allotted.get(pool).copied().unwrap_or(0),
                "used": used, "reset": "month", "report": "day", "overage": false,
                "period_start": now - now % 2_592_000, "period_reset": now - now % 2_592_000 + 2_592_000,
            }));
        }
        "metadata.index.fetch" => {
            out.insert("index_id".into(), json!(format!("emulated-{}", config.moz_api_index_id)));
        }
        _ => {
            // Other actions (Moz Local, internal): the schema's shape with placeholder values.
            if let Some(props) = m.result.get("properties").and_then(Value::as_object) {
                for (k, s) in props {
                    out.entry(k.clone()).or_insert_with(|| placeholder(s, k));
                }
            }
        }
    }
    Ok((Built::Json(Value::Object(out)), units))
}

/// `data.site.metrics.fetch.multiple`, written straight out as JSON text: results out of request
/// order (as the documented example is), items named in `moz_api_item_errors` as errors.
fn site_metrics_multiple(config: &Config, m: &MozMethod, data: &Map<String, Value>) -> (Built, u64) {
    use std::fmt::Write;
    let items: Vec<&Value> = data.get("site_queries").and_then(Value::as_array).into_iter().flatten().collect();
    let mut results: Vec<(&Value, String)> = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for item in items {
        let probe = query_text(Some(item));
        if config.moz_api_item_errors.iter().any(|e| e.eq_ignore_ascii_case(&probe)) {
            errors.push(json!({"site_query": echo_site(item), "error": {"name": "UnhandledError", "message": "An unexpected error occurred.",
                "data": {"key": "site_queries", "value": probe}, "httpStatus": 500, "jsonrpcCode": -32602}}));
        } else {
            results.push((item, probe));
        }
    }
    if config.moz_api_unordered {
        results.sort_by_key(|(_, probe)| h(&[probe, "order"]));
    }
    let units = results.len() as u64 * m.pricing.multiplier.unwrap_or(1);
    let mut out = String::with_capacity(results.len() * 2300 + 64);
    out.push_str("{\"results_by_site\":[");
    for (i, (item, probe)) in results.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{{\"site_query\":{},\"site_metrics\":", echo_site(item));
        super::moz::write_url_metrics(&mut out, probe);
        out.push('}');
    }
    let _ = write!(out, "],\"errors_by_site\":{}}}", Value::Array(errors));
    (Built::Text(out), units)
}

fn placeholder(schema: &Value, name: &str) -> Value {
    let ty = match schema.get("type") {
        Some(Value::String(s)) => s.as_str(),
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).find(|t| *t != "null").unwrap_or("null"),
        _ => "null",
    };
    match ty {
        "object" => Value::Object(schema.get("properties").and_then(Value::as_object).into_iter().flatten().map(|(k, s)| (k.clone(), placeholder(s, k))).collect()),
        "array" => json!([]),
        "string" => schema.get("enum").and_then(|e| e.get(0)).cloned().unwrap_or_else(|| json!(name)),
        "number" | "integer" => json!(0),
        "boolean" => json!(false),
        _ => Value::Null,
    }
}
