//! Logins as a password guesser makes them, and sessions over days and restarts: failures from
//! one address lock it out for longer each time; a session ends when idle or too old, on the
//! server; a session from before a restart still works.
use crate::support::*;
use reqwest::StatusCode;

async fn try_login(d: &TestDesk, password: &str) -> (StatusCode, Option<u64>) {
    let resp = d.login_with(password).await;
    let retry = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    let code = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["ok"], false, "{body}");
    (code, retry)
}

#[tokio::test]
async fn wrong_passwords_in_a_row_lock_the_address_out_for_longer_each_time() {
    let d = TestDesk::start().await;
    // 20 guesses as fast as they come: from the fifth failure on, the address is locked out
    let mut codes = Vec::new();
    for _ in 0..20 {
        codes.push(try_login(&d, "guess").await);
    }
    assert!(
        codes[..5]
            .iter()
            .all(|(c, _)| *c == StatusCode::UNAUTHORIZED),
        "{codes:?}"
    );
    assert!(
        codes[5..]
            .iter()
            .all(|(c, r)| *c == StatusCode::TOO_MANY_REQUESTS && r.is_some()),
        "{codes:?}"
    );
    // the right password is not even tried while locked out
    let (c, _) = try_login(&d, PASSWORD).await;
    assert_eq!(c, StatusCode::TOO_MANY_REQUESTS);
    // a patient guesser waits each lock out: every next one is twice as long
    let mut locks = Vec::new();
    for _ in 0..5 {
        let (_, retry) = try_login(&d, "guess").await;
        let wait = retry.unwrap();
        locks.push(wait);
        d.clock.advance(chrono::Duration::seconds(wait as i64));
        let (c, _) = try_login(&d, "guess").await;
        assert_eq!(c, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(locks, [1, 2, 4, 8, 16]);
    assert!(
        d.logged("10 failed logins in a row from 127.0.0.1: locked out")
            .await
    );
    // after the lock, the operator gets in, and the count starts again
    d.clock.advance(chrono::Duration::seconds(64));
    assert_eq!(d.login_with(PASSWORD).await.status(), StatusCode::OK);
    let (c, _) = try_login(&d, "guess").await;
    assert_eq!(c, StatusCode::UNAUTHORIZED);
}

async fn state_with(d: &TestDesk, cookie: &str) -> StatusCode {
    d.anon
        .get(d.url("/api/state"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn sessions_end_on_the_server_when_idle_or_too_old() {
    let d = TestDesk::start().await;
    let idle = d.session_cookie().await;
    assert_eq!(state_with(&d, &idle).await, StatusCode::OK);
    let busy = d.session_cookie().await;
    // used every 11 hours: alive until 7 days after login
    let mut alive_hours = 0;
    for _ in 0..16 {
        d.clock.advance(chrono::Duration::hours(11));
        if state_with(&d, &busy).await != StatusCode::OK {
            break;
        }
        alive_hours += 11;
    }
    assert_eq!(
        alive_hours, 165,
        "a used session lives 7 days (168 h), no more"
    );
    // the idle one ended 12 hours after its last use, long ago
    let (c, b) = read(
        d.anon
            .get(d.url("/api/state"))
            .header("cookie", &idle)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(c, StatusCode::UNAUTHORIZED, "{b}");
    assert!(
        b["error"].as_str().unwrap().contains("login required"),
        "{b}"
    );
    // the bearer token is not a session: it keeps working
    let resp = d
        .anon
        .get(d.url("/api/state"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_session_from_before_a_restart_still_works_and_a_logged_out_one_does_not() {
    let d = TestDesk::start().await;
    let kept = d.session_cookie().await;
    let ended = d.session_cookie().await;
    let resp = d
        .anon
        .post(d.url("/api/logout"))
        .header("cookie", &ended)
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let d = d.restart().await;
    assert_eq!(state_with(&d, &kept).await, StatusCode::OK);
    assert_eq!(state_with(&d, &ended).await, StatusCode::UNAUTHORIZED);
    // only a hash of the token is stored
    let token = kept.split_once('=').unwrap().1.to_string();
    let db = std::fs::read(d.dir.path().join("desk.sqlite3")).unwrap();
    let wal = std::fs::read(d.dir.path().join("desk.sqlite3-wal")).unwrap_or_default();
    for bytes in [db, wal] {
        assert!(!bytes.windows(token.len()).any(|w| w == token.as_bytes()));
    }
}
