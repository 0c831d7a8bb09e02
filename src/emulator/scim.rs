//! A SCIM 2.0 `/Users` service (RFC 7643/7644) standing in for Ahrefs' Enterprise provisioning:
//! Bearer auth, ListResponse with `startIndex`/`count` paging, `eq` filters (joined by `and`),
//! PatchOp (including the string "False" some identity providers send), case-insensitive
//! uniqueness on userName (409), and the Error schema.

use std::collections::HashMap;
use std::sync::Arc;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::{json, Value};

use super::{full, query_pairs, Answer, Body, Config, State};
// The schema URNs of SCIM 2.0 (RFC 7643 §4.1, RFC 7644 §3.4.2 and §3.12).
const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

fn error(status: u16, scim_type: Option<&str>, detail: &str) -> Response<Body> {
    let mut v = json!({"schemas": [ERROR_SCHEMA], "status": status.to_string(), "detail": detail});
    if let Some(t) = scim_type {
        v["scimType"] = json!(t);
    }
    full(status, "application/scim+json", v.to_string())
}

fn reply(status: u16, v: &Value) -> Response<Body> {
    full(status, "application/scim+json", v.to_string())
}

/// `attr eq "value" [and attr eq "value"]...` -> pairs; None if the filter is not understood.
fn parse_filter(f: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut rest = f.trim();
    loop {
        let (attr, after) = rest.split_once(char::is_whitespace)?;
        let after = after.trim_start();
        let after = after.strip_prefix("eq").or_else(|| after.strip_prefix("EQ"))?.trim_start();
        let mut chars = after.strip_prefix('"')?.char_indices();
        let mut value = String::new();
        let end = loop {
            let (i, c) = chars.next()?;
            match c {
                '\\' => value.push(chars.next()?.1),
                '"' => break i,
                c => value.push(c),
            }
        };
        out.push((attr.to_string(), value));
        rest = after[end + 2..].trim_start();
        if rest.is_empty() {
            return Some(out);
        }
        rest = rest.strip_prefix("and").or_else(|| rest.strip_prefix("AND"))?.trim_start();
    }
}

fn attr_matches(user: &Value, attr: &str, value: &str) -> bool {
    let eq = |v: Option<&Value>| v.and_then(|x| x.as_str()).is_some_and(|s| s.eq_ignore_ascii_case(value));
    match attr {
        "userName" | "externalId" | "id" | "displayName" => eq(user.get(attr)),
        "emails.value" | "emails" => user.get("emails").and_then(|e| e.as_array()).is_some_and(|a| a.iter().any(|e| eq(e.get("value")))),
        "name.givenName" => eq(user.get("name").and_then(|n| n.get("givenName"))),
        "name.familyName" => eq(user.get("name").and_then(|n| n.get("familyName"))),
        "active" => user.get("active").and_then(|a| a.as_bool()).map(|b| b.to_string()).is_some_and(|b| b == value.to_ascii_lowercase()),
        _ => false,
    }
}

/// Booleans as identity providers send them: true/false, or the strings "True"/"False".
fn boolish(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn set_path(user: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let value = if path == "active" { Value::Bool(boolish(&value).ok_or("active must be a boolean")?) } else { value };
    match path.split_once('.') {
        Some((outer, inner)) => {
            let obj = user.as_object_mut().ok_or("bad user")?;
            let entry = obj.entry(outer.to_string()).or_insert_with(|| json!({}));
            entry.as_object_mut().ok_or("not an object")?.insert(inner.to_string(), value);
        }
        None => {
            user.as_object_mut().ok_or("bad user")?.insert(path.to_string(), value);
        }
    }
    Ok(())
}

pub async fn handle(state: &Arc<State>, req: Request<Incoming>, ready_at: tokio::time::Instant) -> Answer {
    let path = req.uri().path().trim_start_matches("/scim").trim_start_matches("/v2").trim_end_matches('/').to_string();
    let config = state.lock().config.clone();
    let token = req.headers().get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).unwrap_or("").to_string();
    if token.is_empty() || config.keys.as_ref().is_some_and(|k| !k.contains(&token)) {
        return Answer::Reply(error(401, None, "invalid or missing bearer token"));
    }
    let method = req.method().clone();
    let q: HashMap<String, String> = query_pairs(req.uri()).into_iter().collect();
    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let answer = respond(state, &config, &path, method, &q, &body);
    super::wait_until(ready_at).await;
    answer
}

fn respond(state: &State, config: &Config, path: &str, method: hyper::Method, q: &HashMap<String, String>, body: &[u8]) -> Answer {
    let id = path.strip_prefix("/Users/").map(str::to_string);
    if path != "/Users" && id.is_none() {
        return Answer::Reply(error(404, None, &format!("no resource at {path}")));
    }
    let parsed: Option<Value> = if body.is_empty() { None } else { serde_json::from_slice(body).ok() };
    let mut g = state.lock();
    let users = &mut g.scim_users;
    let find = |users: &Vec<Value>, id: &str| users.iter().position(|u| u.get("id").and_then(|i| i.as_str()) == Some(id));
    let answer = match (method.as_str(), id) {
        ("GET", None) => {
            let filter = match q.get("filter") {
                None => Vec::new(),
                Some(f) => match parse_filter(f) {
                    Some(p) => p,
                    None => return Answer::Reply(error(400, Some("invalidFilter"), &format!("unsupported filter {f:?}"))),
                },
            };
            let matching: Vec<&Value> = users.iter().filter(|u| filter.iter().all(|(a, v)| attr_matches(u, a, v))).collect();
            let start = q.get("startIndex").and_then(|s| s.parse::<usize>().ok()).unwrap_or(1).max(1);
            let count = q.get("count").and_then(|s| s.parse::<usize>().ok()).unwrap_or(100).min(config.scim_max_count as usize);
            let page: Vec<Value> = matching.iter().skip(start - 1).take(count).map(|u| (*u).clone()).collect();
            reply(200, &json!({"schemas": [LIST_SCHEMA], "totalResults": matching.len(), "startIndex": start, "itemsPerPage": page.len(), "Resources": page}))
        }
        ("GET", Some(id)) => match find(users, &id) {
            Some(i) => reply(200, &users[i]),
            None => error(404, None, &format!("user {id} not found")),
        },
        ("POST", None) => {
            let Some(Value::Object(mut user)) = parsed else { return Answer::Reply(error(400, Some("invalidSyntax"), "the body must be a User")) };
            let Some(name) = user.get("userName").and_then(|n| n.as_str()).map(str::to_string).filter(|n| !n.is_empty()) else {
                return Answer::Reply(error(400, Some("invalidValue"), "userName is required"));
            };
            if users.iter().any(|u| u.get("userName").and_then(|n| n.as_str()).is_some_and(|n| n.eq_ignore_ascii_case(&name))) {
                return Answer::Reply(error(409, Some("uniqueness"), &format!("userName {name} is already taken")));
            }
            g.scim_next_id += 1;
            let id = format!("u{:06}", g.scim_next_id);
            user.insert("id".into(), json!(id));
            user.insert("schemas".into(), json!([USER_SCHEMA]));
            let active = user.get("active").and_then(boolish).unwrap_or(true);
            user.insert("active".into(), json!(active));
            user.insert("meta".into(), json!({"resourceType": "User", "location": format!("/Users/{id}")}));
            let user = Value::Object(user);
            g.scim_users.push(user.clone());
            reply(201, &user)
        }
        ("PATCH", Some(id)) => {
            let Some(i) = find(users, &id) else { return Answer::Reply(error(404, None, &format!("user {id} not found"))) };
            let ops = parsed.as_ref().and_then(|p| p.get("Operations")).and_then(|o| o.as_array()).cloned().unwrap_or_default();
            if ops.is_empty() {
                return Answer::Reply(error(400, Some("invalidSyntax"), "PatchOp needs Operations"));
            }
            let mut user = users[i].clone();
            for op in &ops {
                let kind = op.get("op").and_then(|o| o.as_str()).unwrap_or("").to_ascii_lowercase();
                if !matches!(kind.as_str(), "replace" | "add" | "remove") {
                    return Answer::Reply(error(400, Some("invalidSyntax"), &format!("unsupported op {kind:?}")));
                }
                let value = op.get("value").cloned().unwrap_or(Value::Null);
                let result = match (kind.as_str(), op.get("path").and_then(|p| p.as_str())) {
                    ("remove", Some(path)) => {
                        user.as_object_mut().map(|o| o.remove(path));
                        Ok(())
                    }
                    (_, Some(path)) => set_path(&mut user, path, value),
                    // No path: the value is an object of attributes to set.
                    (_, None) => match value {
                        Value::Object(m) => m.into_iter().try_for_each(|(k, v)| set_path(&mut user, &k, v)),
                        _ => Err("an operation without a path needs an object value".to_string()),
                    },
                };
                if let Err(e) = result {
                    return Answer::Reply(error(400, Some("invalidValue"), &e));
                }
            }
            let new_name = user.get("userName").and_then(|n| n.as_str()).unwrap_or("").to_string();
            if users.iter().enumerate().any(|(j, u)| j != i && u.get("userName").and_then(|n| n.as_str()).is_some_and(|n| n.eq_ignore_ascii_case(&new_name))) {
                return Answer::Reply(error(409, Some("uniqueness"), &format!("userName {new_name} is already taken")));
            }
            users[i] = user.clone();
            reply(200, &user)
        }
        ("DELETE", Some(id)) => match find(users, &id) {
            Some(i) => {
                users.remove(i);
                full(204, "application/scim+json", "")
            }
            None => error(404, None, &format!("user {id} not found")),
        },
        _ => error(405, None, "method not allowed"),
    };
    Answer::Reply(answer)
}

#[cfg(test)]
mod tests {
    #[test]
    fn filters() {
        assert_eq!(super::parse_filter(r#"userName eq "a\"b@x.com""#), Some(vec![("userName".into(), "a\"b@x.com".into())]));
        assert_eq!(super::parse_filter(r#"userName eq "a" and active eq "true""#).map(|v| v.len()), Some(2));
        assert_eq!(super::parse_filter("userName co \"a\""), None);
    }
}
