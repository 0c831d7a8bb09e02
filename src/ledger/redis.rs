//! Redis backend: one ledger for every process on every machine. Reserve, commit and release are
//! one server-side script each (one round trip, atomic). Holds carry a lease, so a worker killed
//! mid-request frees its units when the lease ends; commits are idempotent per hold, so a commit
//! retried after a dropped connection never counts twice.

use std::sync::Mutex;
use std::time::Duration;

use redis::Script;

use super::{now_secs, refuse, Backend, CallRow, Hold, Record, Scope, SyncRow, UsageRow};
use crate::error::{Error, Kind, Result};

const PREFIX: &str = "seowire:v1";
const TIMEOUT: Duration = Duration::from_secs(2);

const RESERVE: &str = r#"
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[3])
for _, id in ipairs(expired) do redis.call('HDEL', KEYS[3], id) end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[3])
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'budget', ARGV[2]) end
redis.call('HSETNX', KEYS[1], 'spent', 0)
redis.call('HSETNX', KEYS[1], 'requests', 0)
local spent = tonumber(redis.call('HGET', KEYS[1], 'spent'))
local reserved = 0
for _, u in ipairs(redis.call('HVALS', KEYS[3])) do reserved = reserved + tonumber(u) end
if ARGV[2] ~= '' and spent + reserved + tonumber(ARGV[1]) > tonumber(ARGV[2]) then
  return {-1, spent, reserved}
end
local id = redis.call('INCR', KEYS[4])
redis.call('ZADD', KEYS[2], tonumber(ARGV[3]) + tonumber(ARGV[4]), id)
redis.call('HSET', KEYS[3], id, ARGV[1])
redis.call('SADD', KEYS[5], ARGV[6])
if tonumber(ARGV[5]) > 0 then
  for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[5]) end
end
return {id, spent, reserved}
"#;

const COMMIT: &str = r#"
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('HSETNX', KEYS[1], 'spent', 0)
local spent = tonumber(redis.call('HGET', KEYS[1], 'spent'))
if redis.call('SADD', KEYS[4], ARGV[1]) == 0 then
  return {spent - tonumber(ARGV[2]), spent}
end
local after = redis.call('HINCRBY', KEYS[1], 'spent', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'requests', 1)
if tonumber(ARGV[3]) > 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  redis.call('EXPIRE', KEYS[4], ARGV[3])
end
return {after - tonumber(ARGV[2]), after}
"#;

const RELEASE: &str = r#"
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
"#;

// Server time (TIME) so machines with skewed clocks still share one window.
const RATE: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local window = tonumber(ARGV[2])
if tonumber(ARGV[1]) == 1 then
  local nxt = tonumber(redis.call('GET', KEYS[2]) or '0')
  local slot = math.max(now, nxt)
  redis.call('SET', KEYS[2], tostring(slot + window), 'PX', math.ceil((slot - now + window) * 1000) + 1000)
  return {1, tostring(slot - now), 0}
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local n = redis.call('ZCARD', KEYS[1])
if n < tonumber(ARGV[1]) then
  local id = redis.call('INCR', KEYS[3])
  -- In flight: counted until its answer is in (or its lease ends, if the process died).
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), id)
  redis.call('PEXPIRE', KEYS[1], math.ceil((window + tonumber(ARGV[3])) * 1000) + 1000)
  return {1, '0', id}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local wait = math.min(math.max(tonumber(oldest[2]) + window - now, 0.001), 0.05)
return {0, tostring(wait), 0}
"#;

const COMPLETE: &str = r#"
local t = redis.call('TIME')
redis.call('ZADD', KEYS[1], 'XX', tonumber(t[1]) + tonumber(t[2]) / 1e6, ARGV[1])
return 1
"#;

// Renew an in-flight rate entry (only while unanswered) or a slot, by server time.
const RENEW: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and (ARGV[3] == '0' or tonumber(score) > now) then
  redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
  redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2]) * 1000) + 60000)
end
return 1
"#;

const SLOT: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  local id = redis.call('INCR', KEYS[2])
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), id)
  redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2]) * 1000) + 1000)
  return id
end
return -1
"#;

/// The call log: a sorted set of call ids by time and a hash of their records; a replayed
/// commit (same id) is logged once; calls older than the retention go as new ones come.
const LOG_CALL: &str = r#"
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[3]) == 1 then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
end
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[4], 'LIMIT', 0, 1000)
for _, id in ipairs(old) do redis.call('HDEL', KEYS[2], id) end
if #old > 0 then redis.call('ZREM', KEYS[1], unpack(old)) end
return 1
"#;

pub struct RedisBackend {
    client: redis::Client,
    /// For messages: the URL without its password.
    shown: String,
    /// One connection per process (a socket must not be shared across `fork`).
    conn: Mutex<Option<(u32, redis::Connection)>>,
    /// Idle connections for waiters blocked on a freed slot (a blocking pop would stall the
    /// shared connection), with the process that opened them.
    waiters: Mutex<Vec<(u32, redis::Connection)>>,
    reserve: Script,
    commit: Script,
    release: Script,
    rate: Script,
    complete: Script,
    slot: Script,
    renew: Script,
    log_call: Script,
    /// How long the call log keeps a call (seconds; 0: the default).
    keep: std::sync::atomic::AtomicU64,
}

fn scope_key(s: &Scope) -> String {
    format!("{PREFIX}:{}:{}:{}", s.provider, s.account, s.period)
}

/// Keys expire a while after their period ends: months after ~10 weeks, days after 3 days.
fn ttl(period: &str) -> u64 {
    match period.len() {
        7 => 70 * 86_400,
        10 => 3 * 86_400,
        _ => 0,
    }
}

impl RedisBackend {
    pub fn open(url: &str, shown: String) -> Result<RedisBackend> {
        let client = redis::Client::open(url).map_err(|e| Error::invalid(format!("bad Redis ledger URL {shown}: {e}")))?;
        let backend = RedisBackend {
            client,
            shown,
            conn: Mutex::new(None),
            waiters: Mutex::new(Vec::new()),
            reserve: Script::new(RESERVE),
            commit: Script::new(COMMIT),
            release: Script::new(RELEASE),
            rate: Script::new(RATE),
            complete: Script::new(COMPLETE),
            slot: Script::new(SLOT),
            renew: Script::new(RENEW),
            log_call: Script::new(LOG_CALL),
            keep: std::sync::atomic::AtomicU64::new(0),
        };
        // Fail at construction if Redis is not there, rather than at the first paid call.
        backend.with(|c| redis::cmd("PING").query::<String>(c).map(|_| ()))?;
        Ok(backend)
    }

    fn unavailable(&self, e: &redis::RedisError) -> Error {
        Error::new(
            Kind::LedgerUnavailable,
            format!("the Redis ledger at {} is unavailable ({})", self.shown, crate::secrets::scrub(&e.to_string())),
        )
    }

    /// Run `f` on this process's connection, reconnecting once if the connection broke.
    fn with<T>(&self, f: impl Fn(&mut redis::Connection) -> redis::RedisResult<T>) -> Result<T> {
        let mut guard = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let pid = std::process::id();
        for attempt in 0..2 {
            if !matches!(guard.as_ref(), Some((p, _)) if *p == pid) {
                if let Some((_, inherited)) = guard.take() {
                    std::mem::forget(inherited); // the parent's socket: closing it here would cut the parent off
                }
                let conn = self.client.get_connection_with_timeout(TIMEOUT).map_err(|e| self.unavailable(&e))?;
                conn.set_read_timeout(Some(TIMEOUT)).map_err(|e| self.unavailable(&e))?;
                conn.set_write_timeout(Some(TIMEOUT)).map_err(|e| self.unavailable(&e))?;
                *guard = Some((pid, conn));
            }
            let conn = &mut guard.as_mut().expect("connected above").1;
            match f(conn) {
                Ok(v) => return Ok(v),
                Err(e) if attempt == 0 && (e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal()) => {
                    *guard = None; // reconnect and try once more
                }
                Err(e) if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() || e.is_timeout() => {
                    *guard = None;
                    return Err(self.unavailable(&e));
                }
                Err(e) => return Err(Error::ledger(format!("Redis ledger error: {}", crate::secrets::scrub(&e.to_string())))),
            }
        }
        unreachable!("the loop returns")
    }
}

impl Backend for RedisBackend {
    fn reserve(&self, scope: &Scope, units: u64, budget: Option<u64>, lease: Duration) -> Result<u64> {
        let key = scope_key(scope);
        let member = format!("{}|{}|{}", scope.provider, scope.account, scope.period);
        let (id, spent, reserved): (i64, i64, i64) = self.with(|c| {
            self.reserve
                .key(&key)
                .key(format!("{key}:holds"))
                .key(format!("{key}:hold_units"))
                .key(format!("{PREFIX}:ids"))
                .key(format!("{PREFIX}:scopes"))
                .arg(units)
                .arg(budget.map(|b| b.to_string()).unwrap_or_default())
                .arg(now_secs())
                .arg(lease.as_secs_f64())
                .arg(ttl(&scope.period))
                .arg(&member)
                .invoke(c)
        })?;
        if id < 0 {
            return Err(refuse(scope, units, spent as u64, reserved as u64, budget.unwrap_or(0)));
        }
        Ok(id as u64)
    }

    fn commit(&self, scope: &Scope, id: u64, record: &Record) -> Result<(u64, u64)> {
        let key = scope_key(scope);
        let (before, after): (i64, i64) = self.with(|c| {
            self.commit
                .key(&key)
                .key(format!("{key}:holds"))
                .key(format!("{key}:hold_units"))
                .key(format!("{key}:done"))
                .arg(id)
                .arg(record.units)
                .arg(ttl(&scope.period))
                .invoke(c)
        })?;
        let now = now_secs();
        let keep = match self.keep.load(std::sync::atomic::Ordering::Relaxed) {
            0 => super::DEFAULT_RETENTION.as_secs(),
            k => k,
        } as f64;
        let row = serde_json::to_string(&CallRow::new(scope, record, now)).unwrap_or_default();
        // The spend is committed above; the log line is best effort (never fails the call).
        if let Err(e) = self.with(|c| {
            self.log_call.key(format!("{PREFIX}:calls")).key(format!("{PREFIX}:calls:rows")).arg(id).arg(now).arg(&row).arg(now - keep).invoke::<i64>(c)
        }) {
            log::warn!(target: "seowire", "the call log could not record a call: {}", e.message);
        }
        Ok((before.max(0) as u64, after.max(0) as u64))
    }

    fn calls(&self, since: f64) -> Result<Vec<CallRow>> {
        let ids: Vec<String> = self.with(|c| redis::cmd("ZRANGEBYSCORE").arg(format!("{PREFIX}:calls")).arg(since).arg("+inf").query(c))?;
        let mut rows = Vec::with_capacity(ids.len());
        for part in ids.chunks(1000) {
            let found: Vec<Option<String>> = self.with(|c| redis::cmd("HMGET").arg(format!("{PREFIX}:calls:rows")).arg(part).query(c))?;
            rows.extend(found.into_iter().flatten().filter_map(|j| serde_json::from_str::<CallRow>(&j).ok()));
        }
        Ok(rows)
    }

    fn set_retention(&self, keep: Duration) {
        self.keep.store(keep.as_secs().max(1), std::sync::atomic::Ordering::Relaxed);
    }

    fn release(&self, scope: &Scope, id: u64) -> Result<()> {
        let key = scope_key(scope);
        self.with(|c| self.release.key(format!("{key}:holds")).key(format!("{key}:hold_units")).arg(id).invoke::<i64>(c)).map(|_| ())
    }

    fn usage(&self) -> Result<Vec<UsageRow>> {
        let members: Vec<String> = self.with(|c| redis::cmd("SMEMBERS").arg(format!("{PREFIX}:scopes")).query(c))?;
        let now = now_secs();
        let mut rows = Vec::new();
        for m in members {
            let mut parts = m.splitn(3, '|');
            let (Some(provider), Some(account), Some(period)) = (parts.next(), parts.next(), parts.next()) else { continue };
            let scope = Scope { provider: provider.into(), account: account.into(), period: period.into() };
            let key = scope_key(&scope);
            let (fields, live): (Vec<Option<i64>>, Vec<String>) = self.with(|c| {
                let fields: Vec<Option<i64>> = redis::cmd("HMGET").arg(&key).arg("spent").arg("requests").arg("budget").query(c)?;
                let live: Vec<String> = redis::cmd("ZRANGEBYSCORE").arg(format!("{key}:holds")).arg(format!("({now}")).arg("+inf").query(c)?;
                Ok((fields, live))
            })?;
            if fields.iter().all(Option::is_none) {
                // Expired period: forget it.
                self.with(|c| redis::cmd("SREM").arg(format!("{PREFIX}:scopes")).arg(&m).query::<i64>(c))?;
                continue;
            }
            let reserved: u64 = if live.is_empty() {
                0
            } else {
                let units: Vec<Option<i64>> = self.with(|c| redis::cmd("HMGET").arg(format!("{key}:hold_units")).arg(&live).query(c))?;
                units.into_iter().flatten().map(|u| u.max(0) as u64).sum()
            };
            rows.push(UsageRow {
                provider: scope.provider,
                account: scope.account,
                period: scope.period,
                reserved,
                spent: fields[0].unwrap_or(0).max(0) as u64,
                requests: fields[1].unwrap_or(0).max(0) as u64,
                budget: fields[2].map(|b| b.max(0) as u64),
            });
        }
        rows.sort_by(|a, b| (&a.provider, &a.account, &a.period).cmp(&(&b.provider, &b.account, &b.period)));
        Ok(rows)
    }

    fn put_sync(&self, scope: &Scope, row: &SyncRow) -> Result<()> {
        let key = format!("{}:sync", scope_key(scope));
        self.with(|c| {
            let mut cmd = redis::cmd("HSET");
            cmd.arg(&key)
                .arg("provider_spent")
                .arg(row.provider_spent)
                .arg("ledger_spent")
                .arg(row.ledger_spent)
                .arg("drift")
                .arg(row.drift)
                .arg("at")
                .arg(row.at)
                .arg("provider_balance")
                .arg(row.provider_balance.map(|b| b.to_string()).unwrap_or_default());
            cmd.query::<i64>(c)
        })?;
        let t = ttl(&scope.period);
        if t > 0 {
            self.with(|c| redis::cmd("EXPIRE").arg(&key).arg(t).query::<i64>(c))?;
        }
        Ok(())
    }

    fn last_sync(&self, scope: &Scope) -> Result<Option<SyncRow>> {
        let key = format!("{}:sync", scope_key(scope));
        let v: Vec<Option<String>> =
            self.with(|c| redis::cmd("HMGET").arg(&key).arg("provider_spent").arg("ledger_spent").arg("drift").arg("at").arg("provider_balance").query(c))?;
        let num = |i: usize| v.get(i).cloned().flatten().and_then(|s| s.parse::<f64>().ok());
        Ok(match (num(0), num(1), num(2), num(3)) {
            (Some(p), Some(l), Some(d), Some(at)) => Some(SyncRow {
                provider_spent: p as u64,
                provider_balance: num(4).map(|b| b as u64),
                ledger_spent: l as u64,
                drift: d as i64,
                at,
            }),
            _ => None,
        })
    }

    fn shares_limits(&self) -> bool {
        true
    }

    fn renew(&self, hold: &Hold, lease: Duration) -> Result<()> {
        match hold {
            Hold::Units(scope, id) => {
                // Reservations are scored by client time (as `reserve` does).
                let key = format!("{}:holds", scope_key(scope));
                self.with(|c| redis::cmd("ZADD").arg(&key).arg("XX").arg(now_secs() + lease.as_secs_f64()).arg(*id).query::<i64>(c)).map(|_| ())
            }
            Hold::Rate(key, id) => self
                .with(|c| self.renew.key(format!("{PREFIX}:rate:{key}")).arg(*id).arg(lease.as_secs_f64()).arg(1).invoke::<i64>(c))
                .map(|_| ()),
            Hold::Slot(key, id) => self
                .with(|c| self.renew.key(format!("{PREFIX}:slots:{key}")).arg(*id).arg(lease.as_secs_f64()).arg(0).invoke::<i64>(c))
                .map(|_| ()),
        }
    }

    fn take_rate(&self, key: &str, count: u32, window: Duration, lease: Duration) -> Result<(bool, Duration, u64)> {
        let (taken, wait, id): (i64, String, i64) = self.with(|c| {
            self.rate
                .key(format!("{PREFIX}:rate:{key}"))
                .key(format!("{PREFIX}:rate_next:{key}"))
                .key(format!("{PREFIX}:ids"))
                .arg(count)
                .arg(window.as_secs_f64())
                .arg(lease.as_secs_f64())
                .invoke(c)
        })?;
        Ok((taken == 1, Duration::from_secs_f64(wait.parse::<f64>().unwrap_or(0.0).max(0.0)), id.max(0) as u64))
    }

    fn complete_rate(&self, key: &str, id: u64) -> Result<()> {
        self.with(|c| self.complete.key(format!("{PREFIX}:rate:{key}")).arg(id).invoke::<i64>(c)).map(|_| ())
    }

    fn take_slot(&self, key: &str, limit: u32, lease: Duration) -> Result<Option<u64>> {
        let id: i64 = self.with(|c| {
            self.slot.key(format!("{PREFIX}:slots:{key}")).key(format!("{PREFIX}:ids")).arg(limit).arg(lease.as_secs_f64()).invoke(c)
        })?;
        Ok((id >= 0).then_some(id as u64))
    }

    fn wait_slot(&self, key: &str, at_most: Duration) -> Result<bool> {
        let pid = std::process::id();
        let mut conn = {
            let mut idle = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
            // Connections opened before a fork belong to the parent: never used (or closed) here.
            idle.retain(|(p, _)| *p == pid);
            idle.pop()
        };
        if conn.is_none() {
            let c = self.client.get_connection_with_timeout(TIMEOUT).map_err(|e| self.unavailable(&e))?;
            c.set_read_timeout(Some(TIMEOUT + at_most)).map_err(|e| self.unavailable(&e))?;
            c.set_write_timeout(Some(TIMEOUT)).map_err(|e| self.unavailable(&e))?;
            conn = Some((pid, c));
        }
        let Some((p, mut c)) = conn else { return Ok(false) };
        let secs = at_most.as_secs_f64().max(0.001);
        let popped = redis::cmd("BLPOP").arg(format!("{PREFIX}:freed:{key}")).arg(secs).query::<Option<(String, String)>>(&mut c);
        match popped {
            Ok(_) => {
                self.waiters.lock().unwrap_or_else(|e| e.into_inner()).push((p, c));
                Ok(true)
            }
            Err(e) => Err(self.unavailable(&e)),
        }
    }

    fn cache_get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.with(|c| redis::cmd("GET").arg(format!("{PREFIX}:cache:{key}")).query::<Option<Vec<u8>>>(c))
    }

    fn cache_put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<()> {
        let ms = ttl.as_millis().max(1) as u64;
        self.with(|c| redis::cmd("SET").arg(format!("{PREFIX}:cache:{key}")).arg(value).arg("PX").arg(ms).query::<()>(c))
    }

    fn free_slot(&self, key: &str, id: u64) -> Result<()> {
        // Freed, and one waiter (of any process) woken: a token per freed slot, at most a few
        // kept, short-lived, so a late waiter finds the slot itself rather than stale tokens.
        let (slots, freed) = (format!("{PREFIX}:slots:{key}"), format!("{PREFIX}:freed:{key}"));
        self.with(|c| {
            redis::pipe()
                .cmd("ZREM").arg(&slots).arg(id).ignore()
                .cmd("RPUSH").arg(&freed).arg(1).ignore()
                .cmd("LTRIM").arg(&freed).arg(-64).arg(-1).ignore()
                .cmd("PEXPIRE").arg(&freed).arg(5000).ignore()
                .query::<()>(c)
        })
    }
}
