//! The browser on the operator's own machine (SPEC §2 "Auth"). Loopback is not a boundary
//! against it: any page the operator opens can send requests to `127.0.0.1`. One middleware, run
//! before routing, refuses in the shape of the surface the path belongs to:
//! - a `Host` that is not a loopback name, the configured host or an allowed name (a
//!   DNS-rebinding page reaches us under its own name), except on the TradingView webhooks, which
//!   arrive through tunnels and proxies under any name and carry their secret;
//! - an `Origin` that is neither the server's own (an allowed `Host`) nor a configured CORS origin
//!   (403, WebSocket upgrades and preflights included); requests without `Origin` (curl, the
//!   bridge, TradingView) pass, unless the browser marks them cross-site (`Sec-Fetch-Site`);
//! - a body that is not `application/json` (415), except on the webhooks (TradingView sends
//!   text/plain) and the upload routes (`multipart/form-data`).
use super::errors::Surface;
use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use std::net::IpAddr;

/// Who may reach the server from a browser, from `[server]` in the config.
#[derive(Debug, Clone, Default)]
pub struct BrowserPolicy {
    /// Lower-case host names (no port) a `Host` may carry besides loopback names.
    hosts: Vec<String>,
    /// Bound to every interface: a `Host` that is an IP literal is allowed (an address cannot be
    /// rebound to another server, and the bridge on another host connects by address).
    any_ip: bool,
    /// Normalised `scheme://host:port` of each configured CORS origin.
    cors: Vec<String>,
}

impl BrowserPolicy {
    /// `bind_host` is where the server listens; `allowed_hosts` and `cors_origins` come from config
    /// (the origins are checked by `Config::validate`, a bad one is skipped here).
    pub fn new(bind_host: &str, allowed_hosts: &[String], cors_origins: &[String]) -> Self {
        let unspecified = bind_host
            .trim_matches(['[', ']'])
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_unspecified());
        let mut hosts: Vec<String> = allowed_hosts
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect();
        if !unspecified {
            hosts.push(bind_host.trim_matches(['[', ']']).to_ascii_lowercase());
        }
        BrowserPolicy {
            hosts,
            any_ip: unspecified,
            cors: cors_origins
                .iter()
                .filter_map(|o| parse_origin(o).ok())
                .collect(),
        }
    }

    /// Is any CORS origin configured?
    pub fn has_cors(&self) -> bool {
        !self.cors.is_empty()
    }

    /// Is `origin` one of the configured CORS origins (`http://host` ≡ `http://host:80`)?
    pub fn is_cors_origin(&self, origin: &str) -> bool {
        parse_origin(origin).is_ok_and(|o| self.cors.contains(&o))
    }

    /// May a request name this `Host` (with or without its port)?
    pub fn host_allowed(&self, host: &str) -> bool {
        let (name, _) = split_host_port(host);
        let name = name.to_ascii_lowercase();
        if name == "localhost" || name.ends_with(".localhost") {
            return true;
        }
        if let Ok(ip) = name.parse::<IpAddr>() {
            return ip.is_loopback() || self.any_ip || self.hosts.contains(&name);
        }
        self.hosts.contains(&name)
    }

    /// Is `origin` the server's own (its host and port are the request's allowed `Host`) or a
    /// configured CORS origin?
    pub fn origin_allowed(&self, origin: &str, host: Option<&str>) -> bool {
        let Ok(norm) = parse_origin(origin) else {
            return false; // `null` (sandboxed frames, file://) and garbage
        };
        if self.is_cors_origin(origin) {
            return true;
        }
        let Some(host) = host.filter(|h| self.host_allowed(h)) else {
            return false;
        };
        let (scheme, rest) = norm.split_once("://").unwrap_or(("http", &norm));
        let (o_name, o_port) = split_host_port(rest);
        let (h_name, h_port) = split_host_port(host);
        let default = if scheme == "https" { "443" } else { "80" };
        o_name.eq_ignore_ascii_case(h_name)
            && o_port.unwrap_or(default) == h_port.unwrap_or(default)
    }
}

/// `scheme://host[:port]` → `scheme://host:port` in lower case (default port filled in).
pub fn parse_origin(origin: &str) -> Result<String, &'static str> {
    let origin = origin.trim();
    let (scheme, rest) = origin.split_once("://").ok_or("no scheme")?;
    let scheme = scheme.to_ascii_lowercase();
    let default = match scheme.as_str() {
        "http" => "80",
        "https" => "443",
        _ => return Err("the scheme must be http or https"),
    };
    if rest.is_empty() || rest.contains(['/', '?', '#', '@']) || rest.contains(char::is_whitespace)
    {
        return Err("an origin has a host and an optional port, no path");
    }
    let (name, port) = split_host_port(rest);
    if name.is_empty() {
        return Err("no host");
    }
    let port = port.unwrap_or(default);
    if port.parse::<u16>().is_err() {
        return Err("the port is not a number");
    }
    Ok(format!("{scheme}://{}:{port}", name.to_ascii_lowercase()))
}

/// `host:port`, `[v6]:port`, `host` → (name without brackets, port).
fn split_host_port(s: &str) -> (&str, Option<&str>) {
    if let Some(rest) = s.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((name, tail)) => (name, tail.strip_prefix(':')),
            None => (rest, None),
        };
    }
    match s.rsplit_once(':') {
        // a bare IPv6 address has several colons and no port
        Some((name, port)) if !name.contains(':') => (name, Some(port)),
        _ => (s, None),
    }
}

fn is_webhook(path: &str) -> bool {
    path.starts_with("/tv_")
}

/// The routes that take a `multipart/form-data` upload besides JSON.
const UPLOAD_ROUTES: &[&str] = &["/data-sources/preview", "/data-sources/save", "/datasets"];

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Does the request carry a body (a length above 0, or a chunked one)?
fn has_body(headers: &HeaderMap) -> bool {
    match header_str(headers, header::CONTENT_LENGTH) {
        Some(n) => n.trim() != "0",
        None => headers.contains_key(header::TRANSFER_ENCODING),
    }
}

/// The media type without parameters, lower case.
fn media_type(headers: &HeaderMap) -> Option<String> {
    header_str(headers, header::CONTENT_TYPE).map(|v| {
        v.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    })
}

/// What is wrong with a request, if anything: the status and the words for the client.
pub fn check(
    policy: &BrowserPolicy,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
) -> Option<(StatusCode, String)> {
    let host = header_str(headers, header::HOST);
    if !is_webhook(path)
        && let Some(h) = host
        && !policy.host_allowed(h)
    {
        return Some((
            StatusCode::FORBIDDEN,
            format!(
                "Host {h:?} is not allowed (DNS-rebinding guard): reach the server by a loopback address or a name listed in [server] allowed_hosts"
            ),
        ));
    }
    match header_str(headers, header::ORIGIN) {
        Some(origin) if !policy.origin_allowed(origin, host) => {
            return Some((
                StatusCode::FORBIDDEN,
                format!(
                    "Origin {origin:?} is not allowed: a web page may call this server only from its own origin or one listed in [server] cors_origins"
                ),
            ));
        }
        Some(_) => {}
        None => {
            // a browser that sent no Origin still says where the request came from
            let site = header_str(headers, header::HeaderName::from_static("sec-fetch-site"));
            let navigate = header_str(headers, header::HeaderName::from_static("sec-fetch-mode"))
                == Some("navigate");
            let cross = matches!(site, Some("cross-site" | "same-site"));
            let read_only_navigation =
                navigate && *method == Method::GET && !path.starts_with("/api/orders/pending");
            if cross && !read_only_navigation {
                return Some((
                    StatusCode::FORBIDDEN,
                    "a request from another site's page is not allowed (Sec-Fetch-Site); list its origin in [server] cors_origins".into(),
                ));
            }
        }
    }
    let writes = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    if writes && !is_webhook(path) && has_body(headers) {
        let media = media_type(headers);
        let json = media.as_deref().is_some_and(|m| {
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        });
        let multipart =
            media.as_deref() == Some("multipart/form-data") && UPLOAD_ROUTES.contains(&path);
        if !json && !multipart {
            let sent = media.unwrap_or_else(|| "none".into());
            let accepted = if UPLOAD_ROUTES.contains(&path) {
                "application/json or multipart/form-data"
            } else {
                "application/json"
            };
            return Some((
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("unsupported content type {sent}: this route takes {accepted}"),
            ));
        }
    }
    None
}

/// The refusal of a request `check` refuses (logged), in its surface's shape; `None` passes it.
pub fn refusal(policy: &BrowserPolicy, req: &Request) -> Option<Response> {
    let path = req.uri().path();
    let (status, message) = check(policy, req.method(), path, req.headers())?;
    tracing::warn!(method = %req.method(), path, status = status.as_u16(), %message, "request refused by the browser guard");
    Some(Surface::for_path(path).error(status, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_origins() {
        let p = BrowserPolicy::new(
            "127.0.0.1",
            &["desk.lan".into()],
            &["http://localhost:5173".into()],
        );
        for ok in [
            "127.0.0.1:8000",
            "localhost",
            "LOCALHOST:1",
            "[::1]:8000",
            "desk.lan:8000",
            "app.localhost",
        ] {
            assert!(p.host_allowed(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:8000",
            "10.0.0.5:8000",
            "127.0.0.1.evil.example",
        ] {
            assert!(!p.host_allowed(bad), "{bad}");
        }
        let any = BrowserPolicy::new("0.0.0.0", &[], &[]);
        assert!(any.host_allowed("10.0.0.5:8000") && !any.host_allowed("evil.example"));

        let host = Some("127.0.0.1:8000");
        assert!(p.origin_allowed("http://127.0.0.1:8000", host));
        assert!(p.origin_allowed("http://localhost:5173", host));
        assert!(p.origin_allowed("HTTP://LOCALHOST:5173", None));
        assert!(
            !p.origin_allowed("http://127.0.0.1:9000", host),
            "another port is another origin"
        );
        assert!(!p.origin_allowed("http://evil.example", host));
        assert!(!p.origin_allowed("null", host));
        // a rebinding page is same-origin with its own Host, which is not allowed
        assert!(!p.origin_allowed("http://evil.example:8000", Some("evil.example:8000")));
        assert_eq!(parse_origin("https://a.b").unwrap(), "https://a.b:443");
        assert!(parse_origin("http://a.b/path").is_err() && parse_origin("ftp://a").is_err());
    }
}
