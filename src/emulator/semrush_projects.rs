//! SEMrush Projects, Position Tracking and Site Audit v3 (providers-next.md §2.5): JSON under
//! `/management/v1/` and `/reports/v1/` with `key=`, the documented unit rules, `{code, message}`
//! errors under HTTP 400, and position-tracking data as an index-keyed object with some numbers
//! sent as strings (as the documented example does).

use std::collections::HashMap;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::Request;
use serde_json::{json, Map, Value};

use super::{full, query_pairs, stable_hash, Answer, State};

fn error(code: u32, message: &str) -> Answer {
    Answer::Reply(full(400, "application/json", json!({"code": code, "message": message}).to_string()))
}

pub async fn handle(state: &Arc<State>, req: Request<Incoming>, ready_at: tokio::time::Instant) -> Answer {
    let path = req.uri().path().trim_start_matches("/semrush/").trim_matches('/').to_string();
    let q: HashMap<String, String> = query_pairs(req.uri()).into_iter().rev().collect();
    let key = q.get("key").cloned().unwrap_or_default();
    let config = state.lock().config.clone();
    let answer = if key.is_empty() || !config.keys.as_ref().is_none_or(|k| k.contains(&key)) {
        error(if key.is_empty() { 122 } else { 120 }, "WRONG KEY - ID PAIR")
    } else {
        reply(state, &path, &q, &key)
    };
    super::wait_until(ready_at).await;
    answer
}

fn reply(state: &State, path: &str, q: &HashMap<String, String>, key: &str) -> Answer {
    let parts: Vec<&str> = path.split('/').collect();
    let keywords = state.lock().config.semrush_tracking_keywords;
    let h = |s: &str| stable_hash(&[path, s]);
    let (body, units): (Value, u64) = match parts.as_slice() {
        ["management", "v1", "projects"] => (json!([{"url": "mysite.com", "tools": [], "project_id": 643526670283248u64, "project_name": "myproject"},
                                                    {"url": "shop.example.com", "tools": ["siteaudit", "tracking"], "project_id": 643526670283249u64, "project_name": "shop"}]), 100),
        ["management", "v1", "projects", "0", ..] | ["reports", "v1", "projects", "0", ..] => return error(512, "NO PROJECT WITH THIS ID"),
        ["management", "v1", "projects", id] => (json!({"url": "mysite.com", "tools": [], "project_id": id.parse::<u64>().unwrap_or(0), "project_name": "myproject"}), 100),
        ["reports", "v1", "projects", _, "tracking"] => match q.get("type").map(String::as_str) {
            Some("tracking_position_organic" | "tracking_position_adwords") => {
                let mut data = Map::new();
                for i in 0..keywords {
                    let k = |s: &str| stable_hash(&[path, s, &i.to_string()]);
                    data.insert(i.to_string(), json!({
                        "Pi": (k("pi") % 1_000_000_000_000).to_string(), "Ph": format!("keyword {i}"), "Kb": 20210908,
                        "Cp": format!("{:.2}", (k("cp") % 500) as f64 / 100.0), "Nq": (k("nq") % 1_000_000).to_string(), "Gs": (k("gs") % 3).to_string(),
                        "Be": {"*.example.com/*": 1 + k("be") % 100}, "Fi": {"*.example.com/*": 1 + k("fi") % 100},
                    }));
                }
                (json!({"total": keywords, "state": "0", "limit": keywords, "offset": 0, "data": data}), 100 * keywords)
            }
            _ => (json!({"total": 0, "data": {}}), 100),
        },
        ["reports", "v1", "projects", id, "siteaudit", "info"] => (json!({"id": id.parse::<u64>().unwrap_or(0), "name": "myproject", "url": "mysite.com", "status": "FINISHED",
            "errors": h("e") % 500, "warnings": h("w") % 2000, "notices": h("n") % 900, "pages_crawled": 100 + h("p") % 5000, "last_audit": 1_764_547_200_000u64}), 100),
        ["reports", "v1", "projects", _, "siteaudit", "snapshots"] => (json!({"snapshots": (0..3).map(|i| json!({"snapshot_id": format!("{:x}", h(&i.to_string())), "finish_date": 1_764_547_200_000u64 - i * 604_800_000})).collect::<Vec<_>>()}), 100),
        ["reports", "v1", "projects", _, "siteaudit", "snapshot", _] => (json!({"errors": [{"id": 1, "count": h("e1") % 50}, {"id": 4, "count": h("e4") % 20}], "warnings": [{"id": 12, "count": h("w") % 90}], "notices": [{"id": 201, "count": h("n") % 30}]}), 10_000),
        _ => (json!({}), 100),
    };
    let mut g = state.lock();
    if g.balance(key) < units {
        drop(g);
        return error(132, "API UNITS BALANCE IS ZERO");
    }
    g.charge("semrush", key, units);
    drop(g);
    Answer::Reply(full(200, "application/json", body.to_string()))
}
