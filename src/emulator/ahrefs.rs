//! Ahrefs API v3 as the reference describes it (providers.md §2): Bearer auth, one top-level
//! key per answer, `{"error": ...}` bodies, `x-api-*` cost headers on every answer, units =
//! max(50, per-row field cost x rows) with free families and free test targets at 0 (limit
//! capped at 100), cache hits at 0, `limits-and-usage` consistent with what was charged, and
//! 60 requests/minute per key (429 beyond it).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::{json, Map, Value};

use super::{full, query_pairs, stable_hash, Admitted, Answer, Body, State};
use crate::catalog::{self, Operation};

// The emulator's own reading of the reference (providers.md §2), not the client's constants.
const BASE_COST: u64 = 50;
const DEFAULT_LIMIT: u64 = 1000;
const FREE_LIMIT: u64 = 100;
/// Families that cost nothing, and the fixed-price site-audit reports. [C AHOAS]
const FREE_FAMILIES: &[&str] = &["rank-tracker/", "management/", "public/", "gsc/", "web-analytics/", "social-media/", "subscription-info/", "site-audit/projects"];
const FIXED: &[&str] = &["site-audit/issues", "site-audit/page-explorer", "site-audit/page-content"];

/// The fields a `where` filter names (the grammar of providers.md §2.4: and/or/not around
/// `{field, is|list_is}`), read by the emulator itself; `None` when it is not that grammar.
fn where_fields(v: &Value, out: &mut Vec<String>) -> Option<()> {
    let m = v.as_object()?;
    if let Some(items) = m.get("and").or_else(|| m.get("or")) {
        items.as_array()?.iter().try_for_each(|i| where_fields(i, out))
    } else if let Some(inner) = m.get("not") {
        where_fields(inner, out)
    } else {
        let field = m.get("field")?.as_str()?;
        if !m.contains_key("is") && !m.contains_key("list_is") {
            return None;
        }
        out.push(field.split('.').next().unwrap_or(field).to_string());
        Some(())
    }
}

fn field_units(op: &Operation, name: &str) -> Option<u64> {
    op.field_units(name).or_else(|| op.params.get("where").and_then(|w| w.fields.as_ref()).filter(|f| f.iter().any(|x| x == name)).map(|_| 1))
}

const NAME: &str = "ahrefs";

pub fn error(status: u16, message: &str, retry_after: Option<&str>) -> Response<Body> {
    let mut r = full(status, "application/json", json!({ "error": message }).to_string());
    if let Some(ra) = retry_after.and_then(|v| v.parse().ok()) {
        r.headers_mut().insert("retry-after", ra);
    }
    r
}

struct Cost {
    rows: u64,
    per_row: u64,
    total: u64,
    actual: u64,
    cache: &'static str,
}

fn with_headers(mut r: Response<Body>, c: &Cost, actual_header: bool) -> Response<Body> {
    let h = r.headers_mut();
    let mut set = |k: &'static str, v: String| {
        h.insert(k, v.parse().expect("header value"));
    };
    set("x-api-rows", c.rows.to_string());
    set("x-api-units-cost-row", c.per_row.to_string());
    set("x-api-units-cost-total", c.total.to_string());
    if actual_header {
        set("x-api-units-cost-total-actual", c.actual.to_string());
    }
    set("x-api-cache", c.cache.to_string());
    r
}


/// Ahrefs Connect: the authorize page (redirects straight back with a code, as if the user
/// agreed) and the token endpoint (checks the PKCE verifier against the challenge).
async fn oauth(state: &Arc<State>, req: Request<Incoming>, path: &str) -> Answer {
    let q: HashMap<String, String> = query_pairs(req.uri()).into_iter().collect();
    let oauth_error = |status: u16, error: &str, description: &str| {
        Answer::Reply(full(status, "application/json", json!({"error": error, "error_description": description}).to_string()))
    };
    if path == "web/oauth/authorize" {
        let get = |k: &str| q.get(k).cloned().unwrap_or_default();
        if get("response_type") != "code" || get("client_id").is_empty() || get("redirect_uri").is_empty() {
            return oauth_error(400, "invalid_request", "response_type=code, client_id and redirect_uri are required");
        }
        if !get("code_challenge_method").eq_ignore_ascii_case("s256") || get("code_challenge").len() != 43 {
            return oauth_error(400, "invalid_request", "PKCE with code_challenge_method=s256 is required");
        }
        let code = format!("code-{:016x}", stable_hash(&[&get("code_challenge"), &get("state")]));
        state.lock().oauth_codes.insert(code.clone(), (get("code_challenge"), get("client_id"), get("redirect_uri"), get("scope")));
        let sep = if get("redirect_uri").contains('?') { '&' } else { '?' };
        let location = format!("{}{sep}code={code}&state={}", get("redirect_uri"), crate::secrets::encode(&get("state")));
        let mut r = full(302, "text/plain", "redirecting");
        r.headers_mut().insert("location", location.parse().unwrap_or_else(|_| "/".parse().expect("static")));
        return Answer::Reply(r);
    }
    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    if get("grant_type") != "authorization_code" {
        return oauth_error(400, "unsupported_grant_type", "grant_type must be authorization_code");
    }
    let Some((challenge, client_id, redirect_uri, scope)) = state.lock().oauth_codes.remove(&get("code")) else {
        return oauth_error(400, "invalid_grant", "unknown or already used code");
    };
    if client_id != get("client_id") || redirect_uri != get("redirect_uri") {
        return oauth_error(400, "invalid_grant", "client_id or redirect_uri does not match the authorization");
    }
    // PKCE S256, computed here: base64url (no padding) of SHA-256 of the verifier (RFC 7636).
    let digest = <sha2::Sha256 as sha2::Digest>::digest(get("code_verifier").as_bytes());
    let expected = crate::secrets::base64(&digest).trim_end_matches('=').replace('+', "-").replace('/', "_");
    if expected != challenge {
        return oauth_error(400, "invalid_grant", "code_verifier does not match the code_challenge");
    }
    let token = format!("ahc-{:032x}", stable_hash(&[&challenge, "token"]) as u128 * 31 + 7);
    let mut g = state.lock();
    if let Some(keys) = g.config.keys.as_mut() {
        keys.push(token.clone());
    }
    Answer::Reply(full(200, "application/json", json!({"access_token": token, "token_type": "bearer", "expires_in": 31_536_000, "scope": scope}).to_string()))
}

pub async fn handle(state: &Arc<State>, req: Request<Incoming>, ready_at: tokio::time::Instant) -> Answer {
    let path = req.uri().path().trim_start_matches("/ahrefs").trim_start_matches("/v3").trim_matches('/').to_string();
    if path == "web/oauth/authorize" || path == "oauth/token" {
        return oauth(state, req, &path).await;
    }
    let config = state.lock().config.clone();
    let key = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string)
        .filter(|k| !k.is_empty());
    let public = path.starts_with("public/crawler-ip");
    let key = match key {
        Some(k) if config.keys.as_ref().is_none_or(|keys| keys.contains(&k)) => k,
        _ if public => String::new(),
        _ => return Answer::Reply(error(401, "Unauthorized: missing or invalid API key", None)),
    };
    let account = format!("{NAME}:{key}");
    let rate = config.ahrefs_rate_per_minute.map(|r| (r, Duration::from_secs(60)));
    if state.lock().admit(&account, rate, None).is_err() {
        return Answer::Reply(error(429, "Too many requests: the limit is 60 requests per minute", None));
    }
    let _slot = Admitted(state, account.clone());
    let q: HashMap<String, String> = query_pairs(req.uri()).into_iter().collect();
    let method = req.method().as_str().to_string();
    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let reply = reply(state, &path, q, &method, &body, &account);
    super::wait_until(ready_at).await;
    reply
}

fn reply(state: &State, path: &str, mut q: HashMap<String, String>, method: &str, body: &[u8], account: &str) -> Answer {
    let spec = catalog::ahrefs();
    let Some(def) = spec.find(method, path) else {
        if spec.operations.iter().any(|o| o.path == path) {
            return Answer::Reply(error(405, &format!("method {method} is not allowed on {path}"), None));
        }
        return Answer::Reply(error(404, &format!("no such endpoint: {path}"), None));
    };
    let mut batch: Option<Vec<Value>> = None;
    if method != "GET" && !(method == "DELETE" && body.is_empty()) {
        let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(body) else {
            return Answer::Reply(error(400, "the body must be a JSON object", None));
        };
        for (k, v) in &m {
            match (k.as_str(), v) {
                ("targets", Value::Array(t)) => batch = Some(t.clone()),
                (_, Value::Array(a)) => drop(q.insert(k.clone(), a.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join(","))),
                (_, Value::String(s)) => drop(q.insert(k.clone(), s.clone())),
                (_, other) => drop(q.insert(k.clone(), other.to_string())),
            }
        }
    }
    let mut g = state.lock();
    match answer(&mut g, def, &q, batch, account) {
        Ok((value, cost)) => {
            let actual = g.config.ahrefs_actual_header;
            Answer::Reply(with_headers(full(200, "application/json", value.to_string()), &cost, actual))
        }
        Err((status, message)) => Answer::Reply(error(status, &message, None)),
    }
}

fn answer(g: &mut super::Inner, def: &'static Operation, q: &HashMap<String, String>, batch: Option<Vec<Value>>, account: &str) -> Result<(Value, Cost), (u16, String)> {
    let config = g.config.clone();
    let bad = |m: String| Err((400, m));
    let required = def.params.iter().filter(|(_, p)| p.required).map(|(n, _)| n.as_str()).chain(def.body_required.iter().map(String::as_str));
    for r in required {
        // A single-object report answers every field when select is left out.
        let present = q.contains_key(r) || (r == "targets" && batch.is_some()) || (r == "select" && !def.list);
        if !present {
            return bad(format!("missing required parameter: {r}"));
        }
    }
    for (k, v) in q {
        let Some(p) = def.params.get(k) else {
            if def.body.as_ref().is_some_and(|b| b.contains_key(k)) {
                continue;
            }
            return bad(format!("unknown parameter: {k}"));
        };
        if let Some(allowed) = catalog::ahrefs().allowed(p) {
            if !allowed.contains(&v.as_str()) {
                return bad(format!("invalid value for {k}: {v}"));
            }
        }
    }
    // Fields used: select, where, order_by; each distinct field counted once.
    let mut used: Vec<String> = Vec::new();
    let select: Vec<String> = match q.get("select") {
        Some(s) => s.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect(),
        None => def.fields.keys().cloned().collect(),
    };
    used.extend(select.iter().cloned());
    if let Some(w) = q.get("where") {
        let Ok(v) = serde_json::from_str::<Value>(w) else { return bad("where is not valid JSON".into()) };
        if where_fields(&v, &mut used).is_none() {
            return bad("where is not a valid filter expression".into());
        }
    }
    if let Some(o) = q.get("order_by") {
        used.extend(o.split(',').map(|x| x.split(':').next().unwrap_or("").trim().to_string()));
    }
    used.sort();
    used.dedup();
    if let Some(unknown) = used.iter().find(|f| field_units(def, f).is_none()) {
        return bad(format!("unknown field: {unknown}"));
    }
    let per_row: u64 = used.iter().map(|f| field_units(def, f).unwrap_or(1)).sum();
    let path = def.path.as_str();
    let family_free = FREE_FAMILIES.iter().any(|f| path.starts_with(f));
    let target = q.get("target").cloned().unwrap_or_default();
    let keywords = q.get("keywords").or_else(|| q.get("keyword")).cloned().unwrap_or_default();
    let free_test = if !keywords.is_empty() {
        let list: Vec<&str> = keywords.split(',').map(str::trim).filter(|k| !k.is_empty()).collect();
        !q.contains_key("keyword_list_id") && !list.is_empty() && list.iter().all(|k| config.ahrefs_free_keywords.iter().any(|f| f.eq_ignore_ascii_case(k)))
    } else {
        free_target(&config, &target)
    };
    // serp-overview pages by top_positions, everything else by limit.
    let mut limit = match q.get("limit").or_else(|| q.get("top_positions")) {
        None => DEFAULT_LIMIT,
        Some(l) => match l.parse::<u64>() {
            Ok(l) if l >= 1 => l,
            _ => return bad(format!("invalid limit: {l}")),
        },
    };
    if free_test {
        limit = limit.min(FREE_LIMIT);
    }
    let offset = q.get("offset").and_then(|o| o.parse::<u64>().ok()).unwrap_or(0);
    let value_rows: Vec<Value>;
    let list = def.list;
    if let Some(targets) = batch {
        if targets.is_empty() || targets.len() > 100 {
            return bad("targets must hold 1 to 100 items".into());
        }
        value_rows = targets
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let url = t.get("url").and_then(|u| u.as_str()).unwrap_or("").to_string();
                let mut row = Map::new();
                for f in &select {
                    let v = match f.as_str() {
                        "url" => json!(url),
                        "mode" => t.get("mode").cloned().unwrap_or(json!("subdomains")),
                        "protocol" => t.get("protocol").cloned().unwrap_or(json!("both")),
                        "index" => json!(i),
                        _ => field_value(def, f, &url, 0),
                    };
                    row.insert(f.clone(), v);
                }
                Value::Object(row)
            })
            .collect();
    } else if let Some(periods) = def.path.ends_with("-history").then(|| history_periods(&q)).flatten() {
        // History reports: one row per period of the requested range, in date order.
        value_rows = periods
            .iter()
            .enumerate()
            .skip(offset as usize)
            .take(limit as usize)
            .map(|(i, date)| {
                let mut row = Map::new();
                for f in &select {
                    let v = if f == "date" { json!(date) } else { field_value(def, f, &target, i as u64) };
                    row.insert(f.clone(), v);
                }
                Value::Object(row)
            })
            .collect();
    } else if list {
        let available = match path {
            // One row per keyword asked about.
            "keywords-explorer/overview" => keywords.split(',').filter(|k| !k.trim().is_empty()).count() as u64,
            _ => config.rows_per_target.get(&target).copied().or(config.rows).unwrap_or_else(|| 50 + stable_hash(&[path, &target, &keywords]) % 950),
        };
        let end = (offset + limit).min(available);
        value_rows = (offset..end)
            .map(|i| {
                let mut row = Map::new();
                for f in &select {
                    row.insert(f.clone(), field_value(def, f, if target.is_empty() { &keywords } else { &target }, i));
                }
                Value::Object(row)
            })
            .collect();
    } else {
        value_rows = vec![single(g, def, &target, account)];
    }
    let rows = value_rows.len() as u64;
    let model = if family_free {
        0
    } else if FIXED.contains(&path) {
        BASE_COST
    } else {
        BASE_COST.max(per_row.saturating_mul(rows))
    };
    let fingerprint = format!("{account}|{} {path}|{:?}", def.method, {
        let mut v: Vec<_> = q.iter().collect();
        v.sort();
        v
    });
    let cache_hit = config.ahrefs_cache_hits && !family_free && !g.ahrefs_seen.insert(fingerprint);
    let actual = if family_free || free_test || cache_hit { 0 } else { model };
    if actual > 0 {
        let used_units = g.ahrefs_usage.get(account).copied().unwrap_or(0);
        // A balance set through the control API (Emulator.set_balance) caps the key as well.
        let balance_short = g.balances.get(account).is_some_and(|b| *b < actual);
        if balance_short || config.ahrefs_units_limit.is_some_and(|cap| used_units + actual > cap) {
            return Err((403, config.ahrefs_quota_message.clone()));
        }
        *g.ahrefs_usage.entry(account.to_string()).or_default() += actual;
        g.charge(NAME, account, actual);
    }
    let key = def.key.as_deref().unwrap_or("data");
    let value = if list { json!({ key: value_rows }) } else { json!({ key: value_rows.into_iter().next().unwrap_or(Value::Null) }) };
    let cache = if family_free { "no_cache" } else if cache_hit { "hit" } else { "miss" };
    Ok((value, Cost { rows, per_row, total: model, actual, cache }))
}

fn single(g: &mut super::Inner, def: &Operation, target: &str, account: &str) -> Value {
    let h = |salt: &str| stable_hash(&[&def.path, target, salt]);
    match def.path.as_str() {
        "site-explorer/domain-rating" => json!({"domain_rating": (h("dr") % 1000) as f64 / 10.0, "ahrefs_rank": 1 + h("rank") % 50_000_000}),
        "subscription-info/limits-and-usage" => {
            let key_usage = g.ahrefs_usage.get(account).copied().unwrap_or(0);
            let workspace: u64 = g.ahrefs_usage.values().sum();
            let limit = g.config.ahrefs_units_limit;
            json!({
                "subscription": "Enterprise",
                "usage_reset_date": next_month(),
                "units_limit_workspace": limit.map(|l| l * 4),
                "units_usage_workspace": workspace,
                "units_limit_api_key": limit,
                "units_usage_api_key": key_usage,
                "api_key_expiration_date": g.config.ahrefs_key_expiration,
            })
        }
        _ => {
            let mut m = Map::new();
            for f in def.fields.keys() {
                m.insert(f.clone(), field_value(def, f, target, 0));
            }
            Value::Object(m)
        }
    }
}

fn next_month() -> String {
    let (y, m, _) = crate::ledger::civil_from_days((std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs() / 86_400) as i64);
    if m == 12 { format!("{}-01-01", y + 1) } else { format!("{y}-{:02}-01", m + 1) }
}

const WORDS: &[&str] = &["seo", "backlinks", "keyword", "audit", "content", "rank", "tools", "guide", "blog", "agency"];

/// A deterministic value for a field: of the spec's type, made plausible by its name.
fn field_value(op: &Operation, field: &str, target: &str, i: u64) -> Value {
    let v = named_value(field, target, i);
    let Some(spec) = op.fields.get(field) else { return v };
    let h = stable_hash(&[field, target, &i.to_string(), "typed"]);
    if spec.nullable && h % 11 == 0 {
        return Value::Null;
    }
    if let (Some("date-time"), Value::String(s)) = (spec.format.as_deref(), &v) {
        if s.len() == 10 {
            return json!(format!("{s}T{:02}:{:02}:{:02}Z", h % 24, (h >> 8) % 60, (h >> 16) % 60));
        }
    }
    match (spec.ty.as_deref(), &v) {
        (Some("integer"), Value::Number(n)) if n.is_u64() => v,
        (Some("integer"), _) => json!(h % 1_000_000),
        (Some("number"), Value::Number(_)) => v,
        (Some("number"), _) => json!((h % 100_000) as f64 / 100.0),
        (Some("boolean"), Value::Bool(_)) => v,
        (Some("boolean"), _) => json!(h % 3 == 0),
        (Some("string"), Value::String(_)) => v,
        (Some("string"), _) => json!(format!("{field}-{}", h % 1000)),
        (Some("array"), Value::Array(_)) => v,
        (Some("array"), _) => json!([format!("{field}-{}", h % 100)]),
        (Some("object"), _) => json!({"id": h % 1000, "name": format!("{field}-{}", h % 100)}),
        _ => v,
    }
}

/// A value typed by the field's name alone (the spec's type is applied over it).
fn named_value(field: &str, target: &str, i: u64) -> Value {
    let h = stable_hash(&[field, target, &i.to_string()]);
    let host = target.split_once("://").map_or(target, |(_, r)| r).split('/').next().unwrap_or("example.com");
    let word = |n: u64| WORDS[(n % WORDS.len() as u64) as usize];
    match field {
        f if f.starts_with("is_") => json!(h % 3 == 0),
        "http_code" => json!([200, 200, 200, 200, 301, 302, 404, 410][(h % 8) as usize]),
        "url_from" | "competitor_url" => json!(format!("https://{}-{}.com/{}/{}", word(h), h % 500, word(h >> 8), i)),
        "url_to" | "url" | "raw_url" | "best_position_url" => json!(format!("https://{host}/{}/{i}", word(h))),
        "anchor" | "title" | "name_source" | "name_target" | "snippet_left" | "snippet_right" | "top_keyword" | "parent_topic" => {
            json!(format!("{} {}", word(h), word(h >> 16)))
        }
        "keyword" => json!(format!("{} {} {i}", word(h), word(h >> 16))),
        "domain" | "competitor_domain" | "root_name_source" | "root_name_target" => json!(format!("{}-{}.com", word(h), h % 900)),
        f if f.contains("date") || f.starts_with("first_seen") || f.starts_with("last_seen") || f == "last_visited" || f == "broken_at" || f == "last_update" => {
            json!(format!("2026-{:02}-{:02}", 1 + h % 10, 1 + (h >> 8) % 28))
        }
        f if f.starts_with("domain_rating") || f.starts_with("url_rating") || f == "ur" || f == "share" || f == "cpc" => json!((h % 1000) as f64 / 10.0),
        "country" | "keyword_country" | "lang_source" | "language" => json!(["us", "gb", "de", "fr"][(h % 4) as usize]),
        "intents" | "serp_features" | "positions" => json!([word(h), word(h >> 8)]),
        "type" | "link_type" | "best_position_kind" | "discovered_status" | "lost_reason" | "importance" | "category" | "content_type" => {
            json!(["organic", "paid", "featured", "image"][(h % 4) as usize])
        }
        // Counts and money (USD cents) as integers.
        _ => json!(h % 1_000_000),
    }
}

/// The emulator's own reading of the free test targets (see `Config::ahrefs_free_subdomains`).
fn free_target(config: &super::Config, target: &str) -> bool {
    let rest = target.split_once("://").map_or(target, |(_, r)| r);
    let host = rest.split(['/', '?', '#', ':']).next().unwrap_or("").to_ascii_lowercase();
    let host = host.strip_prefix("www.").unwrap_or(&host);
    config.ahrefs_free_targets.iter().any(|t| host == t.as_str() || (config.ahrefs_free_subdomains && host.ends_with(&format!(".{t}"))))
}

/// The periods a history report covers: `date_from`..=`date_to` (default: the year up to
/// today) by `history_grouping` (`daily`, `weekly`, `monthly`; default monthly, the 1st of
/// each month). `None` when the dates cannot be read (the request is answered as a list).
fn history_periods(q: &HashMap<String, String>) -> Option<Vec<String>> {
    let parse = |s: &str| -> Option<i64> {
        let (y, rest) = s.split_once('-')?;
        let (m, d) = rest.split_once('-')?;
        Some(days_from_civil(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?))
    };
    let today = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()?.as_secs() / 86_400) as i64;
    let to = q.get("date_to").map_or(Some(today), |s| parse(s))?;
    let from = q.get("date_from").map_or(Some(to - 365), |s| parse(s))?;
    if from > to || to - from > 20 * 366 {
        return Some(Vec::new());
    }
    let fmt = |d: i64| {
        let (y, m, dd) = crate::ledger::civil_from_days(d);
        format!("{y:04}-{m:02}-{dd:02}")
    };
    let days: Vec<i64> = match q.get("history_grouping").map(String::as_str).unwrap_or("monthly") {
        "daily" => (from..=to).collect(),
        "weekly" => (from..=to).step_by(7).collect(),
        _ => (from..=to).filter(|d| crate::ledger::civil_from_days(*d).2 == 1).collect(),
    };
    Some(days.into_iter().map(fmt).collect())
}

/// (year, month, day) to days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}
