//! The web page, compiled into the binary from `frontend/` so serving it needs no npm step,
//! and sent with headers that forbid inline script, framing and content sniffing.

use axum::http::{header, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::AppState;

struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

/// One file of `frontend/`, compiled in.
macro_rules! asset {
    ($path:literal, $file:literal, $content_type:literal) => {
        Asset {
            path: $path,
            content_type: $content_type,
            body: include_str!(concat!("../../../../frontend/", $file)),
        }
    };
}

const ASSETS: &[Asset] = &[
    asset!("/", "index.html", "text/html; charset=utf-8"),
    asset!("/app.css", "app.css", "text/css; charset=utf-8"),
    asset!("/app.js", "app.js", "text/javascript; charset=utf-8"),
    asset!("/api.js", "api.js", "text/javascript; charset=utf-8"),
    asset!("/term.js", "term.js", "text/javascript; charset=utf-8"),
    asset!(
        "/logview.js",
        "logview.js",
        "text/javascript; charset=utf-8"
    ),
    asset!(
        "/schedules.js",
        "schedules.js",
        "text/javascript; charset=utf-8"
    ),
    asset!("/ui.js", "ui.js", "text/javascript; charset=utf-8"),
    asset!(
        "/secrets.js",
        "secrets.js",
        "text/javascript; charset=utf-8"
    ),
];

/// Scripts and styles come from this origin only; logs may also be read from S3, and from
/// `reads_from` (the origin of a store on another S3 endpoint than AWS's, whose presigned
/// URLs the page follows).
pub fn content_security_policy(reads_from: Option<&str>) -> String {
    let also = reads_from.map(|o| format!(" {o}")).unwrap_or_default();
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self' https://*.amazonaws.com{also}; base-uri 'none'; \
         form-action 'none'; frame-ancestors 'none'"
    )
}

pub fn routes(reads_from: Option<String>) -> Router<AppState> {
    let csp = HeaderValue::from_str(&content_security_policy(reads_from.as_deref()))
        .unwrap_or_else(|_| HeaderValue::from_str(&content_security_policy(None)).expect("ASCII"));
    ASSETS.iter().fold(Router::new(), |router, asset| {
        let csp = csp.clone();
        router.route(asset.path, get(move || async move { serve(asset, csp) }))
    })
}

fn serve(asset: &'static Asset, csp: HeaderValue) -> Response {
    let mut resp = asset.body.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    // The page and its modules change with the binary; revalidate rather than go stale.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::CONTENT_SECURITY_POLICY, csp);
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
    );
    resp
}
