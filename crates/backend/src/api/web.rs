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

/// Scripts and styles come from this origin only; logs may also be read from S3.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self' https://*.amazonaws.com; \
    base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

pub fn routes() -> Router<AppState> {
    ASSETS.iter().fold(Router::new(), |router, asset| {
        router.route(asset.path, get(move || async move { serve(asset) }))
    })
}

fn serve(asset: &'static Asset) -> Response {
    let mut resp = asset.body.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    // The page and its modules change with the binary; revalidate rather than go stale.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
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
