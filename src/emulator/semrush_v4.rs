//! SEMrush API v4 as the reference describes it (providers-next.md §2.4): `GET /apis/v4/<op>`
//! with `Authorization: Apikey <key>`, the `{meta, data | error}` envelope with a request id and
//! `retryable`, `limit`/`offset` paging without a total, `fields=` sparse fieldsets, and units
//! per request or per line ([T] prices, the emulator's own copy). A v4 key shares its account's
//! balance and limits with the v3 key named in `semrush_v4_accounts`; whether a key is of the
//! wrong version is a setting (`semrush_v4_key_prefix`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::Request;
use serde_json::{json, Map, Value};

use super::{full, query_pairs, stable_hash, Admitted, Answer, State};

/// (op, units, per line) [T SREV; keywords: T third-party code].
const OPS: &[(&str, u64, bool)] = &[
    ("backlinks/v1/overview", 45, false),
    ("backlinks/v1/summary", 40, true),
    ("backlinks/v1/links", 45, true),
    ("backlinks/v1/ref-domains", 40, true),
    ("backlinks/v1/ref-ips", 20, true),
    ("keywords/v1/metrics", 20, false),
];

fn envelope_error(status: u16, message: &str, retryable: bool, id: &str) -> Answer {
    let body = json!({"meta": {"success": false, "status_code": status, "request_id": id}, "error": {"code": status, "message": message, "retryable": retryable, "details": {}}});
    Answer::Reply(full(status, "application/json", body.to_string()))
}

pub async fn handle(state: &Arc<State>, req: Request<Incoming>, ready_at: tokio::time::Instant) -> Answer {
    let op = req.uri().path().trim_start_matches("/semrush/apis/v4/").trim_matches('/').to_string();
    let q: HashMap<String, String> = query_pairs(req.uri()).into_iter().rev().collect();
    let n = { state.lock().counters.requests };
    let id = format!("{:016x}{:016x}", stable_hash(&[&op, &n.to_string()]), stable_hash(&[&n.to_string()]));
    let key = req.headers().get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Apikey ")).map(|k| k.trim().to_string());
    let config = state.lock().config.clone();
    let Some(key) = key.filter(|k| !k.is_empty()) else {
        return envelope_error(401, "Unauthorized: send the v4 key as Authorization: Apikey <key>", false, &id);
    };
    if q.contains_key("key") {
        return envelope_error(401, "Unauthorized: v4 takes the key in the Authorization header, not key=", false, &id);
    }
    if !config.keys.as_ref().is_none_or(|keys| keys.contains(&key)) {
        return envelope_error(403, "Forbidden", false, &id);
    }
    if let Some(prefix) = config.semrush_v4_key_prefix.as_deref() {
        if !key.starts_with(prefix) {
            return envelope_error(403, "Forbidden: this is a v3 API key; API v4 needs a v4 key (keys are version-specific)", false, &id);
        }
    }
    let account = config.semrush_v4_accounts.get(&key).cloned().unwrap_or_else(|| key.clone());
    let admitted = {
        let mut g = state.lock();
        let (rate, concurrency) = (g.config.rate_limit.map(|r| (r, Duration::from_secs(1))), g.config.concurrency_limit);
        g.admit(&account, rate, concurrency)
    };
    if admitted.is_err() {
        super::wait_until(ready_at).await;
        return envelope_error(429, "Too Many Requests", true, &id);
    }
    let _slot = Admitted(state, account.clone());
    let answer = reply(state, &op, &q, &account, &id);
    super::wait_until(ready_at).await;
    answer
}

fn reply(state: &State, op: &str, q: &HashMap<String, String>, account: &str, id: &str) -> Answer {
    if op == "projects/v1/projects" {
        // List Projects: meta adds scope, limit, offset and total_count [C SRDOC4].
        let mut g = state.lock();
        if g.balance(account) < 100 {
            drop(g);
            return envelope_error(403, "Forbidden: API units balance is zero", false, id);
        }
        g.charge("semrush", account, 100);
        drop(g);
        let data = json!([{"project_id": 643526670283248u64, "project_name": "myproject", "url": "mysite.com"}]);
        let body = json!({"meta": {"success": true, "status_code": 200, "request_id": id, "scope": "account", "limit": 100, "offset": 0, "total_count": 1}, "data": data});
        return Answer::Reply(full(200, "application/json", body.to_string()));
    }
    let Some(&(_, units, per_line)) = OPS.iter().find(|(o, _, _)| *o == op) else {
        // Operations the reference could not read (anchors, competitors, ...): their answer's
        // shape is unknown [Open], so it is a setting.
        let data = match state.lock().config.semrush_v4_unknown_ops.as_str() {
            "empty" => json!([]),
            "object" => json!({}),
            _ => return envelope_error(404, &format!("Not Found: no v4 operation {op}"), false, id),
        };
        let body = json!({"meta": {"success": true, "status_code": 200, "request_id": id}, "data": data});
        return Answer::Reply(full(200, "application/json", body.to_string()));
    };
    let subject = q.get("url").or(q.get("keyword")).cloned().unwrap_or_default();
    if subject.is_empty() {
        return envelope_error(400, "Bad Request: url (or keyword) is required", false, id);
    }
    if op.starts_with("backlinks/") && !matches!(q.get("scope").map(String::as_str), Some("ROOT_DOMAIN" | "SUBDOMAIN" | "SUBFOLDER" | "PAGE")) {
        return envelope_error(400, "Bad Request: scope must be ROOT_DOMAIN, SUBDOMAIN, SUBFOLDER or PAGE", false, id);
    }
    let limit: u64 = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(100);
    let offset: u64 = q.get("offset").and_then(|l| l.parse().ok()).unwrap_or(0);
    let fields: Option<Vec<&str>> = q.get("fields").map(|f| f.split(',').collect());
    let select = |mut row: Map<String, Value>| -> Value {
        if let Some(f) = &fields {
            row.retain(|k, _| f.contains(&k.as_str()));
        }
        Value::Object(row)
    };
    let mut g = state.lock();
    let balance = g.balance(account);
    let h = |salt: &str, i: u64| stable_hash(&[op, &subject, salt, &i.to_string()]);
    let (data, charged) = if per_line {
        let available = g.config.rows_per_target.get(&subject).copied().or(g.config.rows).unwrap_or(30 + h("n", 0) % 470);
        let end = offset.saturating_add(limit).min(available);
        // An answer cut short by the balance: as many lines as the units pay for.
        let affordable = balance / units;
        let end = end.min(offset.saturating_add(affordable));
        if end <= offset && available > offset {
            drop(g);
            return envelope_error(403, "Forbidden: API units balance is zero", false, id);
        }
        let rows: Vec<Value> = (offset..end.max(offset)).map(|i| select(line(op, &subject, i, h(op, i)))).collect();
        let charged = rows.len() as u64 * units;
        (Value::Array(rows), charged)
    } else {
        if balance < units {
            drop(g);
            return envelope_error(403, "Forbidden: API units balance is zero", false, id);
        }
        let row = match op {
            "backlinks/v1/overview" => json!({
                "url": subject, "scope": q.get("scope"), "authority_score": 1 + h("as", 0) % 100, "backlinks_num": h("bl", 0) % 10_000_000,
                "refdomains_num": h("rd", 0) % 100_000, "refips_num": h("ri", 0) % 50_000, "follows_num": h("f", 0) % 5_000_000, "nofollows_num": h("nf", 0) % 1_000_000,
            }),
            _ => json!({
                "keyword": subject, "country": q.get("country"), "month": q.get("month"), "volume": 10 * (1 + h("v", 0) % 100_000), "keyword_difficulty": h("kd", 0) % 101,
                "cpc": (h("cpc", 0) % 2000) as f64 / 100.0, "competitive_density": (h("cd", 0) % 100) as f64 / 100.0,
                "serp_features": ["featured_snippet", "people_also_ask"], "intents": ["informational"],
                "trend": (0..12).map(|i| (h("t", i) % 100) as f64 / 100.0).collect::<Vec<_>>(),
            }),
        };
        let Value::Object(row) = row else { unreachable!("an object literal") };
        (select(row), units)
    };
    g.charge("semrush", account, charged);
    drop(g);
    let body = json!({"meta": {"success": true, "status_code": 200, "request_id": id, "limit": limit, "offset": offset}, "data": data});
    Answer::Reply(full(200, "application/json", body.to_string()))
}

fn line(op: &str, subject: &str, i: u64, h: u64) -> Map<String, Value> {
    let site = format!("{}-{}.{}", ["news", "blog", "shop", "docs"][(h % 4) as usize], h % 997, ["com", "org", "net"][(h / 7 % 3) as usize]);
    let v = match op {
        "backlinks/v1/summary" => json!({"month": format!("2026-{:02}", 12 - (i % 12)), "backlinks_num": h % 1_000_000, "refdomains_num": h % 50_000}),
        "backlinks/v1/links" => json!({
            "source_url": format!("https://{site}/{i}"), "target_url": format!("https://{subject}/"), "anchor": format!("anchor {i}"),
            "page_score": h % 101, "nofollow": h % 4 == 0, "first_seen": format!("2025-{:02}-{:02}", 1 + h % 12, 1 + h % 28), "last_seen": "2026-11-30",
        }),
        "backlinks/v1/ref-domains" => json!({"domain": format!("d{i}-{site}"), "domain_score": h % 101, "backlinks_num": 1 + h % 5000, "first_seen": format!("2024-{:02}-01", 1 + h % 12)}),
        _ => json!({"ip": format!("10.{}.{}.{}", h % 256, (h >> 8) % 256, (h >> 16) % 256), "domains_num": 1 + h % 300, "backlinks_num": 1 + h % 9000}),
    };
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}
