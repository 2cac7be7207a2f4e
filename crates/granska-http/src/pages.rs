//! The reading station's pages and their assets, embedded in the binary (no CDN, nothing
//! fetched at run time): `GET /web/{sign-in,worklist,read,admin}` and `GET /web/assets/{file}`.
//! A page other than sign-in without a session redirects to `/web/sign-in?next=<page>`.
//!
//! Every `/web` response carries a strict Content-Security-Policy (scripts and styles only from
//! this origin, no inline script, no framing), `nosniff` and `no-referrer`. The pages are
//! hand-written HTML, CSS and ES modules with no build step, so what is served is what is in
//! `assets/`. `http.assets_dir` (for working on the pages) serves them from a directory
//! instead, read on every request.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::Shared;
use crate::station::web_caller;

/// The station's Content-Security-Policy.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; \
     connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// `(file name, media type, contents)` of every embedded asset.
const ASSETS: &[(&str, &str, &str)] = &[
    ("sign-in.html", HTML, include_str!("../assets/sign-in.html")),
    ("worklist.html", HTML, include_str!("../assets/worklist.html")),
    ("read.html", HTML, include_str!("../assets/read.html")),
    ("admin.html", HTML, include_str!("../assets/admin.html")),
    ("station.css", "text/css; charset=utf-8", include_str!("../assets/station.css")),
    ("station.js", JS, include_str!("../assets/station.js")),
    ("sign-in.js", JS, include_str!("../assets/sign-in.js")),
    ("worklist.js", JS, include_str!("../assets/worklist.js")),
    ("read.js", JS, include_str!("../assets/read.js")),
    ("viewer.js", JS, include_str!("../assets/viewer.js")),
    ("admin.js", JS, include_str!("../assets/admin.js")),
];
const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

/// The page routes and the assets.
pub(crate) fn routes(edge: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/web/worklist") }))
        .route("/web", get(|| async { Redirect::to("/web/worklist") }))
        .route("/web/", get(|| async { Redirect::to("/web/worklist") }))
        .route("/web/sign-in", get(sign_in_page))
        .route("/web/worklist", get(|s: State<Arc<Shared>>, h: HeaderMap| page(s, h, "worklist")))
        .route("/web/read", get(|s: State<Arc<Shared>>, h: HeaderMap| page(s, h, "read")))
        .route("/web/admin", get(|s: State<Arc<Shared>>, h: HeaderMap| page(s, h, "admin")))
        .route("/web/assets/{file}", get(asset))
        .with_state(edge)
}

/// Adds the station's security headers to a `/web` response.
pub(crate) async fn secure(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

async fn sign_in_page(State(edge): State<Arc<Shared>>) -> Response {
    serve(&edge, "sign-in.html", "no-store", None)
}

async fn page(State(edge): State<Arc<Shared>>, headers: HeaderMap, name: &'static str) -> Response {
    let (caller, _) = match web_caller(&edge, &headers, false) {
        Ok(c) => c,
        Err(_) => return Redirect::to(&format!("/web/sign-in?next=/web/{name}")).into_response(),
    };
    if name == "admin" && !granska_app::Action::Overview.allowed(caller.role) {
        return (StatusCode::FORBIDDEN, "the admin page is for the admin role").into_response();
    }
    serve(&edge, &format!("{name}.html"), "no-store", None)
}

async fn asset(State(edge): State<Arc<Shared>>, headers: HeaderMap, Path(file): Path<String>) -> Response {
    let known = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).map(str::to_owned);
    serve(&edge, &file, "no-cache", known.as_deref())
}

/// One asset by name: embedded, or read from `assets_dir` when set; 304 when `if_none_match`
/// is its ETag.
fn serve(edge: &Shared, file: &str, cache: &'static str, if_none_match: Option<&str>) -> Response {
    let Some(&(name, media_type, embedded)) = ASSETS.iter().find(|(name, ..)| *name == file) else {
        return (StatusCode::NOT_FOUND, format!("no station asset named {file:?}")).into_response();
    };
    let contents = match &edge.options.assets_dir {
        None => std::borrow::Cow::Borrowed(embedded),
        Some(dir) => match std::fs::read_to_string(dir.join(name)) {
            Ok(text) => std::borrow::Cow::Owned(text),
            Err(e) => {
                let message = format!("reading {} from http.assets_dir: {e}", dir.join(name).display());
                return (StatusCode::INTERNAL_SERVER_ERROR, message).into_response();
            }
        },
    };
    let etag = format!("\"{}\"", &granska_app::auth::token_sha256(&contents)[..32]);
    let mut response = if if_none_match == Some(etag.as_str()) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, media_type)], contents.into_owned()).into_response()
    };
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(tag) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, tag);
    }
    response
}
