//! SEMrush Trends API v3 as the reference describes it (providers-next.md §2.2): `GET
//! /analytics/ta/api/v3/<report>?key=`, CSV with the separator of `semrush_trends_separator`
//! (`;` as in every example), `n/a` cells, Trends' own allowance per key, and the free limits
//! endpoint, whose body format is unpublished (`semrush_trends_limits_body`).

use std::collections::HashMap;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::Request;

use super::{full, query_pairs, stable_hash, Answer, State};

/// (report, units, per line, billed when empty) [C SRMIR trends_*.md].
const REPORTS: &[(&str, u64, bool, bool)] = &[
    ("summary", 1, true, false),
    ("summary_by_day", 1, false, false),
    ("summary_by_week", 1, false, false),
    ("rank", 1, false, true),
    ("sources", 1, false, true),
    ("toppages", 1, false, true),
    ("geo", 1, false, true),
    ("subfolders", 1, false, true),
    ("accuracy", 1, false, true),
    ("audience_insights", 1, false, true),
    ("household_distribution", 1, false, true),
    ("education_distribution", 1, false, true),
    ("categories", 500, false, true),
];

fn text(status: u16, body: String) -> Answer {
    Answer::Reply(full(status, "text/csv; charset=UTF-8", body))
}

pub async fn handle(state: &Arc<State>, req: Request<Incoming>, ready_at: tokio::time::Instant) -> Answer {
    let path = req.uri().path().trim_start_matches("/semrush/analytics/ta/").to_string();
    let q: HashMap<String, String> = query_pairs(req.uri()).into_iter().rev().collect();
    let config = state.lock().config.clone();
    if let Some(key) = path.strip_prefix("limits/key/") {
        let used = state.lock().trends_used.get(key).copied().unwrap_or(0);
        let left = config.semrush_trends_allowance.saturating_sub(used);
        let body = config.semrush_trends_limits_body.clone().unwrap_or_else(|| format!("{{\"api_units\":{left},\"api_units_used\":{used}}}"));
        super::wait_until(ready_at).await;
        return Answer::Reply(full(200, "application/json", body));
    }
    let key = q.get("key").cloned().unwrap_or_default();
    if key.is_empty() || !config.keys.as_ref().is_none_or(|k| k.contains(&key)) {
        super::wait_until(ready_at).await;
        return text(200, format!("ERROR {} :: WRONG KEY - ID PAIR", if key.is_empty() { 122 } else { 120 }));
    }
    let report = path.trim_start_matches("api/v3/").trim_matches('/').to_string();
    let Some(&(_, units, per_line, empty_billed)) = REPORTS.iter().find(|r| r.0 == report) else {
        super::wait_until(ready_at).await;
        return text(200, "ERROR 135 :: REPORT TYPE UNAVAILABLE".into());
    };
    let sep = config.semrush_trends_separator.clone();
    let date = q.get("display_date").cloned().unwrap_or_else(|| "2026-10-01".into());
    let country = q.get("country").map(|c| c.to_ascii_uppercase()).unwrap_or_else(|| "GLOBAL".into());
    let h = |parts: &[&str]| stable_hash(parts);
    let no_data = |t: &str| config.semrush_trends_no_data.iter().any(|n| n.eq_ignore_ascii_case(t));
    let mut lines: Vec<Vec<String>> = Vec::new();
    let header: Vec<&str>;
    match report.as_str() {
        "summary" => {
            header = vec!["target", "visits", "users"];
            for t in q.get("targets").map(|t| t.split(',').map(str::trim).filter(|t| !t.is_empty()).collect::<Vec<_>>()).unwrap_or_default() {
                if !no_data(t) {
                    let v = 1000 + h(&[t, "v"]) % 10_000_000;
                    lines.push(vec![t.to_string(), v.to_string(), (v / 3).to_string()]);
                }
            }
        }
        "summary_by_day" | "summary_by_week" => {
            header = vec!["display_date", "country", "device_type", "target", "visits", "users", "direct", "ai_assistants", "ai_search", "bounce_rate", "is_forecasted"];
            let t = q.get("target").cloned().unwrap_or_default();
            if !no_data(&t) {
                let n = if report == "summary_by_day" { 30 } else { 4 };
                for i in 0..n {
                    let v = 1000 + h(&[&t, &i.to_string()]) % 1_000_000;
                    lines.push(vec![format!("{}-{:02}", &date[..7], 1 + i % 28), country.clone(), q.get("device_type").cloned().unwrap_or_else(|| "all".into()), t.clone(),
                        v.to_string(), (v / 2).to_string(), (v / 4).to_string(), (v / 50).to_string(), (v / 80).to_string(), format!("{:.4}", (h(&[&t, "b", &i.to_string()]) % 1000) as f64 / 1000.0), "false".into()]);
                }
            }
        }
        "sources" => {
            header = vec!["target", "from_target", "display_date", "country", "traffic_share", "traffic", "channel"];
            let t = q.get("target").cloned().unwrap_or_default();
            let limit: u64 = q.get("display_limit").and_then(|l| l.parse().ok()).unwrap_or(1000).min(if no_data(&t) { 0 } else { 40 });
            for i in 0..limit {
                let v = 10 + h(&[&t, "s", &i.to_string()]) % 100_000;
                lines.push(vec![t.clone(), format!("ref{i}.com"), date.clone(), country.clone(), format!("{:.8}", v as f64 / 1e8), v.to_string(), ["referral", "search", "social", "direct"][(i % 4) as usize].into()]);
            }
        }
        "categories" => {
            header = vec!["category", "domain", "visits", "categories"];
            for i in 0..10u64 {
                lines.push(vec![q.get("category").cloned().unwrap_or_default(), format!("site{i}.com"), (1000 * (10 - i)).to_string(),
                    if i % 3 == 0 { "n/a".into() } else { "\"Arts; Books\"".into() }]);
            }
        }
        _ => {
            header = vec!["target", "display_date", "name", "share", "visits"];
            let t = q.get("target").cloned().unwrap_or_else(|| "global".into());
            if !no_data(&t) {
                for i in 0..12u64 {
                    let v = h(&[&t, &report, &i.to_string()]);
                    lines.push(vec![t.clone(), date.clone(), format!("{report}-{i}"), format!("{:.4}", (v % 1000) as f64 / 1000.0), (v % 100_000).to_string()]);
                }
            }
        }
    }
    let cost = if per_line { units * lines.len() as u64 } else if lines.is_empty() && !empty_billed { 0 } else { units };
    let answer = {
        let mut g = state.lock();
        let used = g.trends_used.get(&key).copied().unwrap_or(0);
        if used.saturating_add(cost) > config.semrush_trends_allowance {
            text(200, "ERROR 132 :: API UNITS BALANCE IS ZERO".into())
        } else {
            *g.trends_used.entry(key.clone()).or_default() += cost;
            g.counters.units_charged += cost;
            if lines.is_empty() {
                text(200, "ERROR 50 :: NOTHING FOUND".into())
            } else {
                let mut body = header.join(&sep);
                for l in &lines {
                    body.push('\n');
                    body.push_str(&l.join(&sep));
                }
                body.push('\n');
                text(200, body)
            }
        }
    };
    super::wait_until(ready_at).await;
    answer
}
