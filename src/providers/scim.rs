//! SCIM 2.0 `/Users` (RFC 7643/7644) as Ahrefs provisions Enterprise seats: Bearer auth, base URL
//! and token from Ahrefs support. Free (no units); reads, PATCH and DELETE retry per the shared
//! policy; a create is retried only when nothing reached the server, otherwise the user is
//! looked up by userName first, so a retry never makes a second account.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rand::SeedableRng;
use serde_json::{json, Value};

use super::error_text;
use crate::error::{Error, Kind, Result};
use crate::http::{account_hash, Call, Engine, Reply, Request};
use crate::secrets::encode;
use crate::ledger::{Ledger, Record};
use crate::limits::Limits;
use crate::retry::RetryPolicy;

pub const PROVIDER: &str = "ahrefs";
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const PAGE: u64 = 100;

/// `userName eq "..."` with the value's quotes and backslashes escaped (RFC 7644 §3.4.2.2).
pub fn eq_filter(attribute: &str, value: &str) -> String {
    let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
    format!("{attribute} eq \"{escaped}\"")
}

/// Map a SCIM reply to the shared errors; `status`, `scimType` and `detail` from the Error schema.
pub fn check(reply: &Reply) -> Result<()> {
    let status = reply.status;
    if (200..300).contains(&status) {
        return Ok(());
    }
    let body: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
    let scim_type = body.get("scimType").and_then(|v| v.as_str()).map(str::to_string);
    let detail = body.get("detail").and_then(|v| v.as_str()).map(crate::secrets::scrub).unwrap_or_else(|| error_text(&reply.body));
    let (kind, retryable) = match status {
        400 => (Kind::InvalidRequest, false),
        401 | 403 => (Kind::Authentication, false),
        404 => (Kind::Provider, false),
        409 => (Kind::Provider, false),
        429 => (Kind::RateLimited, true),
        500..=599 => (Kind::Provider, true),
        _ => (Kind::Provider, false),
    };
    let what = scim_type.as_deref().map(|t| format!(" ({t})")).unwrap_or_default();
    let mut e = Error::new(kind, format!("SCIM HTTP {status}{what}: {detail}")).provider(PROVIDER).status(status).retryable(retryable);
    e.code = scim_type.or_else(|| (status == 409).then(|| "uniqueness".to_string()));
    e.retry_after = crate::http::retry_after(&reply.headers);
    Err(e)
}

pub struct Client {
    engine: Engine,
    /// The same engine without retries: creates decide for themselves.
    once: Engine,
    token: String,
    pub base_url: String,
}

/// What `create` did.
pub enum Created {
    New(Value),
    /// The create reached the server on an attempt whose answer was lost; this is that user.
    Recovered(Value),
    /// 409: the userName is taken; the existing user when it could be found.
    Conflict(Error, Option<Value>),
}

impl Client {
    pub fn new(base_url: &str, token: &str, retry: RetryPolicy, timeout: Duration) -> Result<Client> {
        if token.trim().is_empty() {
            return Err(Error::new(Kind::Authentication, "no SCIM token: Ahrefs support issues it with the SCIM base URL").provider(PROVIDER));
        }
        crate::providers::credential(PROVIDER, "SCIM token", token)?;
        let parsed = url::Url::parse(base_url).map_err(|e| Error::invalid(format!("SCIM base_url is not a URL: {e}")).provider(PROVIDER))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::invalid("SCIM base_url must be http(s)").provider(PROVIDER));
        }
        let account = account_hash("ahrefs-scim", token);
        let ledger = Arc::new(Ledger::open("memory://")?);
        let engine = |retry: RetryPolicy| Engine::new(PROVIDER, account.clone(), ledger.clone(), None, retry, timeout, Arc::new(Limits::new(None, None)), None);
        Ok(Client {
            once: engine(RetryPolicy { max_retries: 0, ..retry.clone() }),
            engine: engine(retry),
            token: token.to_string(),
            base_url: base_url.trim_end_matches('/').to_string(),
        })
    }

    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.engine.retry
    }

    fn request(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Request {
        let url = format!("{}{path}", self.base_url);
        let mut headers = vec![("authorization", format!("Bearer {}", self.token)), ("accept", "application/scim+json, application/json".into())];
        if body.is_some() {
            headers.push(("content-type", "application/scim+json".into()));
        }
        Request { method, shown: url.clone(), url, headers, body: body.map(|b| Bytes::from(b.to_string())) }
    }

    async fn send(&self, engine: &Engine, method: reqwest::Method, path: &str, body: Option<&Value>) -> Result<Value> {
        let call = Call { report: "scim", estimate: 0, metered: false, cacheable: false, request: self.request(method, path, body), cache_basis: None };
        let (v, _) = engine
            .call(call, check, |reply| {
                if reply.body.is_empty() || reply.status == 204 {
                    return Ok((Value::Null, Record::default()));
                }
                let v: Value = serde_json::from_slice(&reply.body)
                    .map_err(|e| Error::format(format!("SCIM answered with a body that is not JSON ({e})")).provider(PROVIDER))?;
                Ok((v, Record::default()))
            })
            .await?;
        Ok(v)
    }

    /// Every user (or those matching `filter`), following `startIndex`/`count` to the end.
    pub async fn list(&self, filter: Option<&str>) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        let mut start = 1u64;
        loop {
            let mut path = format!("/Users?startIndex={start}&count={PAGE}");
            if let Some(f) = filter {
                path.push_str(&format!("&filter={}", encode(f)));
            }
            let page = self.send(&self.engine, reqwest::Method::GET, &path, None).await?;
            let resources = page.get("Resources").and_then(|r| r.as_array()).cloned().unwrap_or_default();
            let total = page.get("totalResults").and_then(|t| t.as_u64()).unwrap_or(0);
            let got = resources.len() as u64;
            out.extend(resources);
            // Stop on an empty page too: a server that miscounts must not loop forever.
            if got == 0 || start - 1 + got >= total {
                break;
            }
            start += got;
        }
        Ok(out)
    }

    pub async fn get(&self, id: &str) -> Result<Value> {
        self.send(&self.engine, reqwest::Method::GET, &format!("/Users/{}", encode(id)), None).await
    }

    pub async fn find(&self, user_name: &str) -> Result<Option<Value>> {
        Ok(self.list(Some(&eq_filter("userName", user_name))).await?.into_iter().next())
    }

    pub async fn create(&self, user: Value) -> Result<Created> {
        let user_name = user.get("userName").and_then(|u| u.as_str()).unwrap_or("").to_string();
        let policy = self.engine.retry.clone();
        let mut rng = rand::rngs::SmallRng::from_os_rng();
        let mut attempt = 0u32;
        let mut maybe_sent = false;
        loop {
            match self.send(&self.once, reqwest::Method::POST, "/Users", Some(&user)).await {
                Ok(v) if maybe_sent => return Ok(Created::Recovered(v)),
                Ok(v) => return Ok(Created::New(v)),
                Err(e) if e.status == Some(409) => {
                    let existing = self.find(&user_name).await.ok().flatten();
                    // Our own earlier attempt may be the one that took the name.
                    if maybe_sent {
                        if let Some(u) = existing {
                            return Ok(Created::Recovered(u));
                        }
                    }
                    return Ok(Created::Conflict(e, existing));
                }
                Err(e) if e.retryable && attempt < policy.max_retries => {
                    if !e.before_send {
                        // The server may have created the user: look before trying again.
                        maybe_sent = true;
                        if let Some(u) = self.find(&user_name).await? {
                            log::warn!(target: "seowire", "SCIM create: the user was created by an attempt whose answer was lost; not creating again");
                            return Ok(Created::Recovered(u));
                        }
                    }
                    let delay = policy.delay(attempt, &e, &mut rng);
                    log::warn!(target: "seowire", "SCIM create: {} (retry {} of {} in {:.2}s)", e.message, attempt + 1, policy.max_retries, delay.as_secs_f64());
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// PATCH with `replace` operations, one per attribute path.
    pub async fn patch(&self, id: &str, replace: Vec<(String, Value)>) -> Result<Value> {
        let ops: Vec<Value> = replace.into_iter().map(|(path, value)| json!({"op": "replace", "path": path, "value": value})).collect();
        let body = json!({"schemas": [PATCH_SCHEMA], "Operations": ops});
        self.send(&self.engine, reqwest::Method::PATCH, &format!("/Users/{}", encode(id)), Some(&body)).await
    }

    pub async fn delete(&self, id: &str) -> Result<()> {
        self.send(&self.engine, reqwest::Method::DELETE, &format!("/Users/{}", encode(id)), None).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn filters_escape_quotes() {
        assert_eq!(super::eq_filter("userName", r#"a"b\c@x.com"#), r#"userName eq "a\"b\\c@x.com""#);
    }
}
