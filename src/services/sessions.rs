//! Operator sessions and the login throttle. A session is a random token in an HttpOnly cookie;
//! the server keeps only its SHA-256, in memory and in the database (a connection of its own),
//! so a session survives a restart and a stolen database holds no usable token. A session ends
//! after `idle` without use or `max` after login, whichever comes first.
//!
//! Failed logins are counted per client address: from the fifth in a row each one locks the
//! address out for twice as long as the last (1 s, 2 s, 4 s … up to 15 min), and the tenth is
//! logged as a lockout. A success clears the count.
use crate::engine::clock::SharedClock;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use rusqlite::{Connection, params};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Failures in a row before the first lockout, and the count logged as a lockout.
pub const FREE_FAILURES: u32 = 4;
pub const LOCKOUT_LOGGED_AT: u32 = 10;
const MAX_LOCK: i64 = 15 * 60;

#[derive(Clone, Copy)]
struct Session {
    created: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    /// When `last_seen` was last written to the database.
    saved: DateTime<Utc>,
}

#[derive(Default, Clone, Copy)]
struct Failures {
    count: u32,
    locked_until: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
}

/// What a login attempt may do.
pub enum Gate {
    Open,
    /// Locked out for this many more seconds.
    Locked(i64),
}

pub struct Sessions {
    clock: SharedClock,
    idle: Duration,
    max: Duration,
    db: Option<Arc<Mutex<Connection>>>,
    live: Mutex<HashMap<String, Session>>,
    failures: Mutex<HashMap<IpAddr, Failures>>,
}

/// Lower-case hex of `bytes`, in one allocation.
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

fn write(db: &Mutex<Connection>, sql: &str, p: impl rusqlite::Params) {
    if let Err(e) = db.lock().expect("sessions db").execute(sql, p) {
        tracing::error!(error = %e, "session not saved");
    }
}

impl Sessions {
    /// Sessions kept in the database at `db` (its migrations made the table), or in memory only.
    pub fn open(db: Option<&Path>, clock: SharedClock, idle: Duration, max: Duration) -> Self {
        let conn = db.and_then(|p| {
            crate::engine::store::Store::side_connection(p)
                .inspect_err(|e| tracing::error!(error = %e, "sessions kept in memory only"))
                .ok()
        });
        let now = clock.now();
        let mut live = HashMap::new();
        if let Some(c) = &conn {
            let loaded = (|| -> rusqlite::Result<()> {
                let ms = |d: DateTime<Utc>| d.timestamp_millis();
                c.execute(
                    "DELETE FROM sessions WHERE last_seen < ?1 OR created_at < ?2",
                    params![ms(now - idle), ms(now - max)],
                )?;
                let mut q = c.prepare("SELECT token_hash, created_at, last_seen FROM sessions")?;
                let rows = q.query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                })?;
                for row in rows {
                    let (h, c, l) = row?;
                    let at = |v: i64| DateTime::from_timestamp_millis(v).unwrap_or(now);
                    live.insert(
                        h,
                        Session {
                            created: at(c),
                            last_seen: at(l),
                            saved: at(l),
                        },
                    );
                }
                Ok(())
            })();
            if let Err(e) = loaded {
                tracing::error!(error = %e, "stored sessions could not be read");
            }
        }
        Sessions {
            clock,
            idle,
            max,
            db: conn.map(|c| Arc::new(Mutex::new(c))),
            live: Mutex::new(live),
            failures: Mutex::default(),
        }
    }

    fn store(&self, sql: &str, p: impl rusqlite::Params) {
        if let Some(db) = &self.db {
            write(db, sql, p);
        }
    }

    /// `store` off the async workers when there are some (a request's keep-alive write must not
    /// wait behind the desk's commits); logins and logouts stay synchronous, so they are on disk
    /// before they are answered.
    fn store_later(&self, sql: &'static str, hash: String, at: i64) {
        let Some(db) = self.db.clone() else { return };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn_blocking(move || write(&db, sql, params![hash, at]));
            }
            Err(_) => write(&db, sql, params![hash, at]),
        }
    }

    /// A new session; answers its token (for the cookie).
    pub fn create(&self) -> String {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let token = hex(&bytes);
        let now = self.clock.now();
        let h = hash(&token);
        self.store(
            "INSERT OR REPLACE INTO sessions(token_hash, created_at, last_seen) VALUES (?1, ?2, ?2)",
            params![h, now.timestamp_millis()],
        );
        self.live.lock().expect("sessions").insert(
            h,
            Session {
                created: now,
                last_seen: now,
                saved: now,
            },
        );
        token
    }

    /// Is `token` a live session? Using it keeps it alive (saved at most once a minute).
    pub fn check(&self, token: &str) -> bool {
        let now = self.clock.now();
        let h = hash(token);
        let mut live = self.live.lock().expect("sessions");
        let Some(s) = live.get_mut(&h) else {
            return false;
        };
        if now - s.last_seen > self.idle || now - s.created > self.max {
            live.remove(&h);
            drop(live);
            self.store("DELETE FROM sessions WHERE token_hash = ?1", params![h]);
            return false;
        }
        s.last_seen = now;
        if now - s.saved > Duration::minutes(1) {
            s.saved = now;
            drop(live);
            self.store_later(
                "UPDATE sessions SET last_seen = ?2 WHERE token_hash = ?1",
                h,
                now.timestamp_millis(),
            );
        }
        true
    }

    pub fn remove(&self, token: &str) {
        let h = hash(token);
        self.live.lock().expect("sessions").remove(&h);
        self.store("DELETE FROM sessions WHERE token_hash = ?1", params![h]);
    }

    /// Whether `from` may try a password now.
    pub fn gate(&self, from: Option<IpAddr>) -> Gate {
        let Some(ip) = from else { return Gate::Open };
        let now = self.clock.now();
        match self.failures.lock().expect("failures").get(&ip) {
            Some(Failures {
                locked_until: Some(t),
                ..
            }) if *t > now => Gate::Locked((*t - now).num_seconds().max(1)),
            _ => Gate::Open,
        }
    }

    /// Records a login's outcome for `from`; answers the failures in a row.
    pub fn record(&self, from: Option<IpAddr>, ok: bool) -> u32 {
        let Some(ip) = from else { return 0 };
        let now = self.clock.now();
        let mut all = self.failures.lock().expect("failures");
        if ok {
            all.remove(&ip);
            return 0;
        }
        if all.len() > 10_000 {
            // addresses quiet for an hour are forgotten
            all.retain(|_, f| f.last.is_some_and(|t| now - t < Duration::hours(1)));
        }
        let f = all.entry(ip).or_default();
        f.count += 1;
        f.last = Some(now);
        if f.count > FREE_FAILURES {
            let secs = (1i64 << (f.count - FREE_FAILURES - 1).min(20)).min(MAX_LOCK);
            f.locked_until = Some(now + Duration::seconds(secs));
        }
        f.count
    }
}
