//! SEMrush as the reference describes it (providers.md §3): `;` CSV with per-report header
//! names, quoting only with `export_escape=1`, `ERROR nn :: MSG` bodies with a configurable
//! HTTP status, units charged per line (x5 historical) or per request, partial answers when the
//! balance runs short, countapiunits as plain text, 10 requests/s and 10 in flight per key.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Request, Response};

use super::{full, query_pairs, stable_hash, Admitted, Answer, Body, Config, State};

/// A report as the emulator knows it (its own facts, `facts::SEMRUSH_REPORTS`).
struct ReportDef {
    name: &'static str,
    database: bool,
    lines: &'static str,
    per_request: bool,
    columns: &'static str,
}

fn report_def(name: &str) -> Option<ReportDef> {
    let (name, database, lines, columns) = *super::facts::SEMRUSH_REPORTS.iter().find(|r| r.0 == name)?;
    let per_request = super::facts::semrush_price(name, false).is_some_and(|(_, per)| per);
    Some(ReportDef { name, database, lines, per_request, columns })
}

fn message(code: u32) -> &'static str {
    match code {
        40 => "MANDATORY PARAMETER NOT SET",
        41 => "MANDATORY PARAMETER TYPE NOT SET",
        42 => "MANDATORY PARAMETER DOMAIN NOT SET",
        43 => "MANDATORY PARAMETER PHRASE NOT SET",
        44 => "MANDATORY PARAMETER URL NOT SET",
        46 => "MANDATORY PARAMETER DATABASE NOT SET",
        48 => "WRONG METHOD",
        50 => "NOTHING FOUND",
        120 => "WRONG KEY - ID PAIR",
        122 => "WRONG FORMAT OR EMPTY KEY",
        130 => "API DISABLED",
        132 => "API UNITS BALANCE IS ZERO",
        133 => "DB ACCESS DENIED",
        134 => "TOTAL LIMIT EXCEEDED",
        135 => "API REPORT TYPE DISABLED",
        136 => "INTERNAL MULTI LIMIT ERROR",
        429 => "REQUEST RATE TOO HIGH",
        500 => "INTERNAL ERROR",
        605 => "DISPLAY_OFFSET MUST BE LESS THAN DISPLAY_LIMIT",
        _ => "ERROR",
    }
}

/// Default HTTP status per code; the real one is undocumented, so `error_status` overrides it.
fn status_for(config: &Config, code: u32) -> u16 {
    if let Some(s) = config.error_status.get(&code) {
        return *s;
    }
    match code {
        50 => 200,
        120 | 121 | 122 | 70 | 110 | 130..=135 => 403,
        429 => 429,
        500 | 136 => 500,
        _ => 400,
    }
}

pub fn error(config: &Config, code: u32, retry_after: Option<&str>) -> Response<Body> {
    let mut r = full(status_for(config, code), "text/plain", format!("ERROR {code} :: {}\n", message(code)));
    if let Some(ra) = retry_after.and_then(|v| v.parse().ok()) {
        r.headers_mut().insert("retry-after", ra);
    }
    r
}


pub async fn handle(state: &Arc<State>, req: Request<Incoming>, ready_at: tokio::time::Instant) -> Answer {
    let path = req.uri().path().trim_start_matches("/semrush").to_string();
    let q: HashMap<String, String> = query_pairs(req.uri()).into_iter().rev().collect();
    let key = q.get("key").cloned().unwrap_or_default();
    let fail = |code: u32| Answer::Reply(error(&state.lock().config, code, None));
    if req.method() != hyper::Method::GET {
        return fail(48);
    }
    let balance_call = path == "/users/countapiunits.html";
    {
        let g = state.lock();
        let known = g.config.keys.as_ref().is_none_or(|keys| keys.iter().any(|k| k == &key));
        if key.is_empty() || !known {
            drop(g);
            if balance_call {
                let body = r#"{"errors":[{"field":"key","message":"invalid api key"}]}"#;
                return Answer::Reply(full(403, "application/json", body));
            }
            return fail(if key.is_empty() { 122 } else { 120 });
        }
    }
    let admitted = {
        let mut g = state.lock();
        let (rate, concurrency) = (g.config.rate_limit.map(|r| (r, Duration::from_secs(1))), g.config.concurrency_limit);
        g.admit(&key, rate, concurrency)
    };
    if admitted.is_err() {
        return fail(429);
    }
    let _slot = Admitted(state, key.clone());
    let reply = reply(state, &path, &q, &key);
    super::wait_until(ready_at).await;
    reply
}

fn reply(state: &State, path: &str, q: &HashMap<String, String>, key: &str) -> Answer {
    let mut g = state.lock();
    match path {
        "/users/countapiunits.html" => {
            let units = g.balance(key);
            let text = if g.config.balance_thousands_separator { thousands(units) } else { units.to_string() };
            Answer::Reply(full(200, "text/html", text))
        }
        "/" | "" | "/analytics/v1/" | "/analytics/v1" => {
            let backlinks_host = path.starts_with("/analytics");
            let Some(report) = q.get("type") else { return Answer::Reply(error(&g.config, 41, None)) };
            let def = match report_def(report) {
                Some(d) if (d.name.starts_with("backlinks")) == backlinks_host => d,
                _ => return Answer::Reply(error(&g.config, 135, None)),
            };
            match report_answer(&mut g, &def, q, key) {
                Ok(body) => Answer::Reply(full(200, "text/csv; charset=utf-8", body)),
                Err(code) => Answer::Reply(error(&g.config, code, None)),
            }
        }
        _ => Answer::Reply(full(404, "text/html", "Not Found")),
    }
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

const WORDS: &[&str] = &[
    "seo", "tools", "backlinks", "keyword", "research", "audit", "rank", "tracker", "content", "marketing",
    "local", "agency", "free", "checker", "best", "guide", "analytics", "traffic", "domain", "authority",
    "link", "building", "strategy", "software", "serp", "api", "cheap", "online", "course", "tips",
    "ecommerce", "shopify", "wordpress", "plugin", "report", "competitor", "analysis", "meta", "tags", "schema",
    "sitemap", "speed", "mobile", "page", "crawl", "index", "google", "bing", "ads", "ppc",
    "cost", "per", "click", "brand", "monitor", "mentions", "outreach", "guest", "post", "blog",
];
const DATABASES: &[&str] = &[
    "us", "uk", "ca", "au", "de", "fr", "es", "it", "br", "ru", "jp", "in", "nl", "se", "pl", "tr", "mx", "ar", "be", "ch",
    "dk", "no", "fi", "ie", "at",
];

fn keyword(n: u64) -> String {
    let w = WORDS.len() as u64;
    let (a, mut b) = (n % w, (n / w) % w);
    if a == b {
        b = (b + 1) % w;
    }
    format!("{} {}", WORDS[a as usize], WORDS[b as usize])
}

fn rows_available(config: &Config, def: &ReportDef, target: &str, db: &str, q: &HashMap<String, String>) -> u64 {
    if let Some(n) = config.rows_per_target.get(target) {
        return *n;
    }
    match def.lines {
        _ if def.per_request => 1,
        "databases" => DATABASES.len() as u64,
        "history" => 24,
        "phrases" => q.get("phrase").map(|p| p.split(';').filter(|s| !s.trim().is_empty()).count() as u64).unwrap_or(0),
        "limit" => config.rows.unwrap_or_else(|| 100 + stable_hash(&[def.name, target, db]) % 900),
        _ => 1,
    }
}

/// The CSV body for a report request, or an error code. Charges the key's balance.
fn report_answer(g: &mut super::Inner, def: &ReportDef, q: &HashMap<String, String>, key: &str) -> Result<String, u32> {
    let target_param = match def.name {
        n if n.starts_with("backlinks") => "target",
        "domain_domains" => "domains",
        n if n.starts_with("phrase") => "phrase",
        n if n.starts_with("url") => "url",
        "rank" | "rank_difference" => "",
        _ => "domain",
    };
    let target = if target_param.is_empty() { String::new() } else { q.get(target_param).cloned().unwrap_or_default() };
    if !target_param.is_empty() && target.trim().is_empty() {
        return Err(match target_param {
            "phrase" => 43,
            "url" => 44,
            _ => 42,
        });
    }
    let db = q.get("database").cloned().unwrap_or_default();
    if def.database && db.is_empty() {
        return Err(46);
    }
    let num = |k: &str| q.get(k).and_then(|v| v.parse::<u64>().ok());
    let limit = num("display_limit").filter(|l| *l > 0).unwrap_or(10_000);
    let offset = num("display_offset").unwrap_or(0);
    // Too many rows for one call: display_limit at most 100,000 (domain organic; other
    // Analytics lists alike), backlinks 1,000,000 (reference §3.3).
    if limit > if def.name.starts_with("backlinks") { 1_000_000 } else { 100_000 } {
        return Err(613);
    }
    if offset >= limit {
        return Err(605);
    }
    let historical = q.get("display_date").is_some_and(|d| super::facts::semrush_is_past_month(d));
    let total = rows_available(&g.config, def, &target, &db, q);
    let wanted = limit.min(total).saturating_sub(offset);
    if wanted == 0 {
        return Err(50);
    }
    let Some((price, per_request)) = super::facts::semrush_price(def.name, historical) else { return Err(135) };
    let balance = g.balance(key);
    let lines = if per_request {
        if balance < price {
            return Err(132);
        }
        g.charge("semrush", key, price);
        wanted
    } else {
        let affordable = balance / price;
        if affordable == 0 {
            return Err(132);
        }
        let lines = wanted.min(affordable);
        g.charge("semrush", key, lines * price);
        lines
    };
    let codes: Vec<String> = match q.get("export_columns").filter(|c| !c.is_empty()) {
        Some(c) => c.split(',').map(|s| s.trim().to_string()).collect(),
        None if def.columns.is_empty() => ["domain", "backlinks_num", "first_seen", "last_seen"].map(String::from).to_vec(),
        None => def.columns.split(',').map(String::from).collect(),
    };
    let escape = q.get("export_escape").is_some_and(|v| v == "1");
    let domains: Vec<&str> = q.get("domains").map(|d| d.split('|').filter(|p| p.contains('.')).collect()).unwrap_or_default();
    let mut out = String::with_capacity((lines as usize + 1) * codes.len() * 12);
    let headers: Vec<String> = codes.iter().map(|c| header(def, c, &domains)).collect();
    out.push_str(&headers.join(";"));
    let phrases: Vec<&str> = q.get("phrase").map(|p| p.split(';').collect()).unwrap_or_default();
    for i in offset..offset + lines {
        out.push('\n');
        let ctx = Row { report: def.name, target: &target, db: &db, i, phrases: &phrases, escape };
        for (n, code) in codes.iter().enumerate() {
            if n > 0 {
                out.push(';');
            }
            let v = ctx.value(code);
            if escape {
                out.push('"');
                out.push_str(&v.replace('"', "\"\""));
                out.push('"');
            } else {
                out.push_str(&v);
            }
        }
    }
    if g.config.trailing_newline {
        out.push('\n');
    }
    Ok(out)
}

/// Header text per report: mostly the column's name, with the variants seen in real answers.
fn header(def: &ReportDef, code: &str, domains: &[&str]) -> String {
    match (def.name, code) {
        ("domain_adwords", "Po") => "Pos".into(),
        ("domain_adwords", "Nq") => "Average vol.".into(),
        (_, c) if c.len() == 2 && c.starts_with('P') && c[1..].parse::<usize>().is_ok() => {
            domains.get(c[1..].parse::<usize>().unwrap_or(0)).map(|d| d.to_string()).unwrap_or_else(|| c.into())
        }
        _ => super::facts::semrush_header(code),
    }
}

struct Row<'a> {
    report: &'a str,
    target: &'a str,
    db: &'a str,
    i: u64,
    phrases: &'a [&'a str],
    escape: bool,
}

impl Row<'_> {
    fn h(&self, salt: &str) -> u64 {
        stable_hash(&[self.report, self.target, self.db, &self.i.to_string(), salt])
    }

    fn value(&self, code: &str) -> String {
        let h = self.h(code);
        let host = self.target.trim_start_matches("https://").trim_start_matches("http://").split('/').next().unwrap_or("example.com");
        match code {
            "Ph" => match self.report {
                "phrase_this" | "phrase_all" => self.phrases.first().copied().unwrap_or(self.target).to_string(),
                "phrase_these" | "phrase_kdi" => self.phrases.get(self.i as usize).copied().unwrap_or("").to_string(),
                r if r.starts_with("phrase") => format!("{} {}", self.target, WORDS[(h % WORDS.len() as u64) as usize]),
                // Keywords a domain ranks for come from one shared universe, so domains overlap.
                _ => keyword(stable_hash(&["kw", self.target, &self.i.to_string()]) % 1500),
            },
            "Po" | "Pp" => (1 + stable_hash(&[self.target, &self.i.to_string(), "pos"]) % 60).to_string(),
            "Pd" => ((h % 11) as i64 - 5).to_string(),
            "Nq" => (10 * (1 + h % 50_000)).to_string(),
            "Cp" => format!("{:.2}", (h % 2500) as f64 / 100.0),
            "Co" | "Rr" | "Cr" => format!("{:.2}", (h % 101) as f64 / 100.0),
            "Nr" => (h % 900_000_000).to_string(),
            "Td" => (0..12).map(|m| format!("{:.2}", (self.h(&format!("td{m}")) % 100 + 1) as f64 / 100.0)).collect::<Vec<_>>().join(","),
            "Kd" => format!("{:.2}", (h % 10_000) as f64 / 100.0),
            "Ur" | "source_url" | "target_url" => format!("https://{host}/{}/{}", WORDS[(h % 60) as usize], self.i),
            "Tr" | "Tc" => format!("{:.2}", (h % 3000) as f64 / 100.0),
            "Db" => DATABASES[(self.i as usize) % DATABASES.len()].to_string(),
            "Dn" => format!("{}-{}.com", WORDS[(h % 60) as usize], h % 97),
            "Dt" => format!("{}{:02}15", 2024 + self.i / 12, 1 + self.i % 12),
            "Tt" | "source_title" => {
                if self.escape {
                    format!("Buy \"{}\"; best deals", keyword(h % 1500))
                } else {
                    format!("Buy {} best deals", keyword(h % 1500))
                }
            }
            "Ds" => {
                if self.escape {
                    format!("Compare {}.\nFree shipping; no fees", keyword(h % 1500))
                } else {
                    format!("Compare {} free shipping", keyword(h % 1500))
                }
            }
            "Vu" => format!("www.{host}"),
            "Ab" => ["t", "b"][(h % 2) as usize].to_string(),
            "In" | "Fk" | "Fp" => format!("{},{}", h % 4, 4 + h % 5),
            "anchor" => keyword(h % 1500),
            "domain" => format!("{}-{}.org", WORDS[(h % 60) as usize], h % 89),
            "ip" => format!("10.{}.{}.{}", h % 256, (h >> 8) % 256, (h >> 16) % 256),
            "country" => ["us", "gb", "de", "fr"][(h % 4) as usize].to_string(),
            "first_seen" | "last_seen" => (1_600_000_000 + h % 100_000_000).to_string(),
            // Every other column of the reference is a count, but for the text of Pt.
            "Pt" => format!("{code}-{}", h % 1000),
            _ => (h % 100_000).to_string(),
        }
    }
}
