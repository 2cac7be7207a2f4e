//! The reading station's sign-in and its first API: `POST /web/sign-in` exchanges a bearer
//! token (form field `token`) for a session cookie, `GET /web/api/session` says who is signed in
//! and gives the CSRF token, `POST /web/sign-out` ends the session; `GET /web/api/worklist` is
//! the reader's worklist in the core's priority order and `GET /web/api/events` its changes as
//! server-sent events (the core's change feed); `GET /web/api/studies/{study}/views/{sop}` one
//! stored view for display.
//!
//! A view is sent as its stored values (little-endian, `X-Image-Dtype` u8/u16/i16/…), not as
//! a rendered picture: the page windows them itself (rescale, VOI window, MONOCHROME1
//! inversion from the `X-Image-Meta` JSON), so window/level and zoom are exact at every
//! setting. A 16-bit PNG would not do: browsers decode PNGs to 8 bits per channel for a canvas.
//! The ETag is the instance's sha256 (an image never changes under its UID). Only a role that may read the worklist
//! (radiologist, admin: the core's table) may sign in; a PACS or researcher token may not.
//! The station's pages and API (worklist, reading, images) build on `web_caller`: a signed-in
//! [`granska_app::Caller`] with edge `Web`, the CSRF check on state-changing requests.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use granska_app::{Action, Caller, Edge};

use crate::Shared;
use crate::session::{CSRF_HEADER, Session, same_secret, session_id};

/// The sign-in and session routes.
pub(crate) fn routes(edge: Arc<Shared>) -> Router {
    Router::new()
        .route("/web/sign-in", post(sign_in))
        .route("/web/sign-out", post(sign_out))
        .route("/web/api/session", get(session))
        .route("/web/api/worklist", get(worklist))
        .route("/web/api/events", get(events))
        .route("/web/api/studies/{study}/views/{sop}", get(view))
        .with_state(edge)
}

/// Why a station request is refused before it reaches the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refused {
    /// No session cookie, or one that is unknown or expired (401).
    #[error("not signed in (or the session expired): sign in at /web/sign-in")]
    NoSession,
    /// A state-changing request without the session's CSRF token (403).
    #[error("expected the session's CSRF token in the X-CSRF-Token header")]
    Csrf,
    /// A request from another site (its Origin is not this host) (403).
    #[error("cross-site request refused: the Origin is not this station")]
    CrossSite,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let status = match self {
            Refused::NoSession => StatusCode::UNAUTHORIZED,
            Refused::Csrf | Refused::CrossSite => StatusCode::FORBIDDEN,
        };
        (status, self.to_string()).into_response()
    }
}

/// The signed-in caller of a station request. A state-changing request must also carry the
/// session's CSRF token and come from this origin.
pub(crate) fn web_caller(
    edge: &Shared,
    headers: &HeaderMap,
    changes_state: bool,
) -> Result<(Caller, Session), Refused> {
    let id = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(session_id)
        .ok_or(Refused::NoSession)?;
    let session = edge.sessions.touch(id).ok_or(Refused::NoSession)?;
    if changes_state {
        same_origin(headers)?;
        let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
        if !same_secret(sent, &session.csrf) {
            return Err(Refused::Csrf);
        }
    }
    let caller = Caller { principal: session.principal.name.clone(), role: session.principal.role, edge: Edge::Web };
    Ok((caller, session))
}

/// Refuses a request whose `Origin` names another host than its `Host` (a browser sends
/// `Origin` on every cross-site POST; SameSite=Strict keeps the cookie away too).
fn same_origin(headers: &HeaderMap) -> Result<(), Refused> {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else { return Ok(()) };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    let origin_host = origin.split_once("://").map_or("", |(_, rest)| rest.trim_end_matches('/'));
    if !host.is_empty() && origin_host.eq_ignore_ascii_case(host) { Ok(()) } else { Err(Refused::CrossSite) }
}

/// What the station's script needs of its session.
fn session_json(edge: &Shared, session: &Session) -> String {
    serde_json::json!({
        "principal": session.principal.name,
        "role": session.principal.role.as_str(),
        "csrf_token": session.csrf,
        "idle_timeout_s": edge.sessions.options().idle.as_secs(),
        "show_ai": edge.options.show_ai.as_str(),
    })
    .to_string()
}

pub(crate) fn json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn sign_in(State(edge): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(refused) = same_origin(&headers) {
        return refused.into_response();
    }
    let token = form_field(&body, "token").unwrap_or_default();
    let Some(principal) = (!token.is_empty()).then(|| edge.auth.principal(&token)).flatten() else {
        tracing::info!("station sign-in refused: unknown token");
        return (StatusCode::UNAUTHORIZED, "the token is not known").into_response();
    };
    if !Action::List.allowed(principal.role) {
        tracing::info!(principal = %principal.name, role = %principal.role, "station sign-in refused: role");
        return (StatusCode::FORBIDDEN, format!("the {} role cannot use the reading station", principal.role))
            .into_response();
    }
    let name = principal.name.clone();
    let (id, session) = match edge.sessions.open(principal) {
        Ok(opened) => opened,
        Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    };
    tracing::info!(principal = %name, "station sign-in");
    let mut response = json(StatusCode::OK, session_json(&edge, &session));
    if let Ok(cookie) = HeaderValue::from_str(&edge.sessions.cookie(&id)) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

async fn session(State(edge): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    match web_caller(&edge, &headers, false) {
        Ok((_, session)) => json(StatusCode::OK, session_json(&edge, &session)),
        Err(refused) => refused.into_response(),
    }
}

async fn sign_out(State(edge): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let caller = match web_caller(&edge, &headers, true) {
        Ok((caller, _)) => caller,
        Err(refused) => return refused.into_response(),
    };
    let id = headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(session_id);
    if let Some(id) = id {
        edge.sessions.close(id);
    }
    tracing::info!(principal = %caller.principal, "station sign-out");
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(cookie) = HeaderValue::from_str(&edge.sessions.clear_cookie()) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

async fn worklist(State(edge): State<Arc<Shared>>, headers: HeaderMap, uri: axum::http::Uri) -> Response {
    let (caller, _) = match web_caller(&edge, &headers, false) {
        Ok(c) => c,
        Err(refused) => return refused.into_response(),
    };
    let query = uri.query().unwrap_or("").as_bytes();
    let number = |name| form_field(query, name).and_then(|v| v.parse::<u64>().ok());
    let page = granska_worklist::model::PageRequest {
        offset: number("offset").unwrap_or(0),
        limit: number("limit").unwrap_or(100).clamp(1, 1000) as u32,
    };
    match edge.app.list(&caller, page).await {
        Ok(view) => json(StatusCode::OK, worklist_json(&view, edge.options.show_ai).to_string()),
        Err(e) => crate::error::response(&e),
    }
}

/// The worklist as the station's script reads it: exams in priority order with their tasks.
/// The AI's category and flags only when `show_ai` is `always`: the list is read before any
/// decision.
fn worklist_json(view: &granska_app::WorklistView, show_ai: crate::reading::ShowAi) -> serde_json::Value {
    let ai = show_ai == crate::reading::ShowAi::Always;
    let exams: Vec<serde_json::Value> = view
        .exams
        .iter()
        .map(|exam| {
            let e = &exam.entry;
            serde_json::json!({
                "study_uid": e.study_uid,
                "status": e.status.as_str(),
                "category": e.category.filter(|_| ai),
                "reading_mode": e.mode.as_str(),
                "flags": e.flags.iter().filter(|_| ai).map(|f| f.as_str()).collect::<Vec<_>>(),
                "reason": e.reason,
                "overdue": e.overdue,
                "waiting_since_unix_ms": e.waiting_since_ms,
                "tasks": exam.tasks.iter().map(|t| serde_json::json!({
                    "task_id": t.task_id,
                    "kind": t.kind.as_str(),
                    "state": t.state.as_str(),
                    "held_by_you": t.held_by_you,
                    "available_to_you": t.available_to_you,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::json!({ "exams": exams, "next_offset": view.next_offset })
}

async fn events(State(edge): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    use axum::response::sse::{Event, KeepAlive, Sse};
    let (caller, _) = match web_caller(&edge, &headers, false) {
        Ok(c) => c,
        Err(refused) => return refused.into_response(),
    };
    let changes = match edge.app.watch(&caller) {
        Ok(changes) => changes,
        Err(e) => return crate::error::response(&e),
    };
    let stream = futures_util::stream::unfold(changes, |mut changes| async move {
        let change = changes.next().await?;
        let data = serde_json::json!({
            "study_uid": change.study_uid,
            "change": change.change.as_str(),
            "task_id": change.task.map(|(id, _)| id),
            "at_unix_ms": change.at_ms,
        });
        Some((Ok::<_, std::convert::Infallible>(Event::default().event("change").data(data.to_string())), changes))
    });
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}

async fn view(
    State(edge): State<Arc<Shared>>,
    headers: HeaderMap,
    axum::extract::Path((study, sop)): axum::extract::Path<(String, String)>,
) -> Response {
    let (caller, _) = match web_caller(&edge, &headers, false) {
        Ok(c) => c,
        Err(refused) => return refused.into_response(),
    };
    let (Ok(study), Ok(sop)) = (granska_dicom::Uid::parse(&study), granska_dicom::Uid::parse(&sop)) else {
        return (StatusCode::BAD_REQUEST, "expected a study and a SOP Instance UID in the path").into_response();
    };
    let known = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().trim_start_matches("W/").trim_matches('"').to_owned());
    let image = match edge.app.view_image(&caller, &study, &sop, known.as_deref()).await {
        Ok(image) => image,
        Err(e) => return crate::error::response(&e),
    };
    let etag = |sha: &str| HeaderValue::from_str(&format!("\"{sha}\"")).ok();
    match image {
        granska_app::ViewImage::NotModified { sha256 } => {
            let mut response = StatusCode::NOT_MODIFIED.into_response();
            if let Some(tag) = etag(&sha256) {
                response.headers_mut().insert(header::ETAG, tag);
            }
            response
        }
        granska_app::ViewImage::Image { sha256, meta, samples } => {
            let (dtype, bytes) = little_endian(samples);
            let meta = ascii_json(&serde_json::to_string(&meta).unwrap_or_default());
            let mut response = (StatusCode::OK, bytes).into_response();
            let h = response.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
            h.insert("x-image-dtype", HeaderValue::from_static(dtype));
            if let (Some(tag), Ok(meta)) = (etag(&sha256), HeaderValue::from_str(&meta)) {
                h.insert(header::ETAG, tag);
                h.insert("x-image-meta", meta);
            }
            response
        }
    }
}

/// JSON with every non-ASCII character written as `\uXXXX` (a header value must be ASCII, and
/// a window's explanation or a code meaning may not be): the same JSON value.
fn ascii_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out += &format!("\\u{unit:04x}");
            }
        }
    }
    out
}

/// Stored values as little-endian bytes, with their type's name.
fn little_endian(samples: granska_dicom::Samples) -> (&'static str, Vec<u8>) {
    use granska_dicom::Samples::*;
    match samples {
        U8(v) => ("u8", v),
        I8(v) => ("i8", v.into_iter().map(|x| x as u8).collect()),
        U16(v) => ("u16", v.into_iter().flat_map(u16::to_le_bytes).collect()),
        I16(v) => ("i16", v.into_iter().flat_map(i16::to_le_bytes).collect()),
        U32(v) => ("u32", v.into_iter().flat_map(u32::to_le_bytes).collect()),
        I32(v) => ("i32", v.into_iter().flat_map(i32::to_le_bytes).collect()),
    }
}

/// The value of `name` in an `application/x-www-form-urlencoded` body, decoded.
pub fn form_field(body: &[u8], name: &str) -> Option<String> {
    body.split(|&b| b == b'&').find_map(|pair| {
        let mut it = pair.splitn(2, |&b| b == b'=');
        let key = decode(it.next()?)?;
        (key == name).then(|| decode(it.next().unwrap_or_default())).flatten()
    })
}

fn decode(raw: &[u8]) -> Option<String> {
    let plus_as_space: Vec<u8> = raw.iter().map(|&b| if b == b'+' { b' ' } else { b }).collect();
    percent_encoding::percent_decode(&plus_as_space).decode_utf8().ok().map(|s| s.into_owned())
}

#[cfg(test)]
mod tests {
    use super::form_field;

    #[test]
    fn header_json_is_ascii_and_the_same_value() {
        let value = serde_json::json!({"explanation": "Fönster 𝄞", "center": 1.5});
        let text = super::ascii_json(&value.to_string());
        assert!(text.is_ascii(), "{text}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&text).unwrap(), value);
    }

    #[test]
    fn form_fields_are_url_decoded() {
        assert_eq!(form_field(b"token=ab%20c+d&x=1", "token").as_deref(), Some("ab c d"));
        assert_eq!(form_field(b"x=1&token=", "token").as_deref(), Some(""));
        assert_eq!(form_field(b"x=1", "token"), None);
        assert_eq!(form_field(b"token=%ff", "token"), None, "not UTF-8");
    }
}
