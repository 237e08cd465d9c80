//! `GET /ui`: seed 004's local dashboard, one page built into the binary (HTML, CSS and JS at
//! compile time; no build step, no CDN). It uses only seed 004's routes. With a password set and
//! no session, the answer is a 401 page with a login form (the one place it calls `/api/login`).
use super::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

const PAGE_HTML: &str = include_str!("ui/index.html");
const PAGE_CSS: &str = include_str!("ui/app.css");
const PAGE_JS: &str = include_str!("ui/app.js");

fn page() -> &'static str {
    static PAGE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PAGE.get_or_init(|| {
        PAGE_HTML
            .replace("/*CSS*/", PAGE_CSS)
            .replace("/*JS*/", PAGE_JS)
    })
}

const LOGIN: &str = r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>brickdesk · log in</title>
<style>body{background:#0f1419;color:#d8dee9;font:14px system-ui,sans-serif;display:grid;place-items:center;height:100vh;margin:0}
form{background:#161d25;border:1px solid #263040;border-radius:8px;padding:20px;display:flex;flex-direction:column;gap:10px;width:280px}
input,button{padding:6px;border-radius:4px;border:1px solid #263040;background:#0f1419;color:#d8dee9}button{background:#58a6ff;color:#0b1220;font-weight:600}
#err{color:#f85149;min-height:1.2em}</style></head><body>
<form id="f"><b>brickdesk</b><span>The dashboard needs the operator's password.</span>
<input id="p" type="password" placeholder="password" autofocus><button>Log in</button><span id="err"></span></form>
<script>document.getElementById("f").onsubmit=async(e)=>{e.preventDefault();
const r=await fetch("/api/login",{method:"POST",headers:{"Content-Type":"application/json"},credentials:"same-origin",body:JSON.stringify({password:document.getElementById("p").value})});
if(r.ok)location.reload();else{let m="login refused";try{m=(await r.json()).error||m}catch(_){}document.getElementById("err").textContent=m}};</script></body></html>"#;

pub async fn ui(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let html = [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    if super::auth::is_authenticated(&s, &headers) {
        (StatusCode::OK, html, page()).into_response()
    } else {
        (StatusCode::UNAUTHORIZED, html, LOGIN).into_response()
    }
}
