//! DICOMweb STOW-RS (PS3.18 §10.5): `POST /dicomweb/studies[/{study}]` with a
//! `multipart/related; type="application/dicom"` body, one Part 10 instance per part, each
//! stored through the core's ingest use case as it streams in; the answer is one
//! `application/dicom+json` object listing what was stored and what failed, and why.
//!
//! Decisions, where the standard leaves room:
//! - An identical re-sent instance is stored (the core keeps the first copy): it is listed in
//!   ReferencedSOPSequence (0008,1199) with no WarningReason (0008,1196), since nothing was
//!   coerced or discarded (the warnings PS3.18 defines, B000/B006/B007, do not apply). Senders
//!   such as Orthanc fail a job unless every instance is listed there.
//! - Granska offers no WADO-RS, so RetrieveURL (0008,1190) is left out, for the study and for
//!   every instance.
//! - A part whose own `Content-Type` is not `application/dicom` fails with C000H (cannot
//!   understand): the request as a whole is well-formed, that one part is not an instance.
//! - With `{study}` in the path, a part of another study fails with A900H and is not stored;
//!   it is checked before ingest.
//! - A part over `max_instance_bytes` fails with A700H and ends the reading: the parser cannot
//!   resynchronise after it, so later parts are neither stored nor listed.
//! - The HTTP status: 200 when every part was stored; 202 when some were; when none was, the
//!   status every failure shares (409 for refused content, 503 with `Retry-After` for a full
//!   disk or a busy store, 413 for an instance over the size cap, 500 when the server failed,
//!   e.g. the audit log), else 409 if any failure was about content. A failure of the request
//!   as a whole (401, 403, 415, 413 for the body, 400 for a malformed or empty body) wins
//!   over the per-part outcome; if instances were stored before it was found, the body still
//!   lists them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use futures_util::{FutureExt, TryStreamExt};
use granska_app::{Action, AppError, Caller};
use granska_dicom::{DicomFile, Uid};
use serde_json::{Value, json};

use crate::error::{FailureReason, failure_reason, status};
use crate::{HttpOptions, Shared, auth};

/// The media type of every part, and of the request's `type` parameter.
const DICOM: &str = "application/dicom";
/// The response's media type.
const DICOM_JSON: &str = "application/dicom+json";
/// The longest boundary accepted. RFC 2046 §5.1.1 allows 70 characters, but Orthanc's
/// DICOMweb plugin sends 73: be liberal, the parser takes any length.
pub const MAX_BOUNDARY: usize = 256;
/// What a 503 asks the sender to wait before re-sending.
const RETRY_AFTER_S: u64 = 60;

/// The STOW-RS routes; axum's 2 MB body limit is off here: [`HttpOptions`] bounds the body.
pub(crate) fn routes(edge: Arc<Shared>) -> Router {
    Router::new()
        .route("/dicomweb/studies", post(store_any_study))
        .route("/dicomweb/studies/{study}", post(store_in_study))
        .layer(DefaultBodyLimit::disable())
        .with_state(edge)
}

/// Why a request's `Content-Type` is refused (415).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentTypeError {
    /// No `Content-Type` header.
    #[error("expected content type multipart/related; type=\"application/dicom\", found none")]
    Missing,
    /// Another media type.
    #[error("expected content type multipart/related, found {found:?}")]
    NotMultipartRelated {
        /// The media type sent (at most 100 characters of it).
        found: String,
    },
    /// A parameter that is not `name=value`, or a quoted value without its closing quote.
    #[error("expected content type parameters name=value, found {found:?}")]
    MalformedParameter {
        /// The rest of the header from the bad parameter on (at most 100 characters).
        found: String,
    },
    /// No `type` parameter, or one other than `application/dicom`.
    #[error("expected the type parameter \"application/dicom\", found {found:?}")]
    WrongType {
        /// The type sent; empty when there was none.
        found: String,
    },
    /// No `boundary` parameter, or one that is empty or over [`MAX_BOUNDARY`] characters.
    #[error("expected a boundary parameter of 1 to 256 characters, found {found} characters")]
    BadBoundary {
        /// Its length; 0 when there was none.
        found: usize,
    },
}

/// Why a multipart body could not be read to its end.
#[derive(Debug, thiserror::Error)]
pub enum MultipartError {
    /// The body is over [`HttpOptions::max_request_bytes`] (413).
    #[error("expected a request body of at most {limit} bytes, found more")]
    BodyTooLarge {
        /// The limit.
        limit: u64,
    },
    /// One part is over [`HttpOptions::max_instance_bytes`].
    #[error("expected parts of at most {limit} bytes, found part {part} larger")]
    PartTooLarge {
        /// The part, counting from 1.
        part: usize,
        /// The limit.
        limit: u64,
    },
    /// Not a well-formed multipart body (400).
    #[error("malformed multipart body at part {part}: {source}")]
    Malformed {
        /// The part being read, counting from 1.
        part: usize,
        /// The parser's finding.
        #[source]
        source: multer::Error,
    },
    /// The body stream failed (the client went away, or the connection broke).
    #[error("reading the request body at part {part}: {source}")]
    Read {
        /// The part being read, counting from 1.
        part: usize,
        /// The stream's error.
        #[source]
        source: multer::Error,
    },
    /// [`split_body`] only: the parser asked for more of a body it already had whole (a parser
    /// defect, reported rather than waited on).
    #[error("the multipart parser waited for more of a complete body")]
    Stalled,
}

/// One part of a STOW-RS body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Whether it may be an instance: its `Content-Type` is `application/dicom` (with any
    /// parameters) or absent.
    pub dicom: bool,
    /// Its bytes.
    pub bytes: Bytes,
}

/// The boundary of a STOW-RS request's `Content-Type`: the media type must be
/// `multipart/related` with the parameter `type` `application/dicom` (names and values
/// compared case-insensitively, values quoted or not) and a `boundary` of 1 to
/// [`MAX_BOUNDARY`] characters.
pub fn parse_content_type(value: &str) -> Result<String, ContentTypeError> {
    let (media, rest) = value.split_once(';').unwrap_or((value, ""));
    if !media.trim().eq_ignore_ascii_case("multipart/related") {
        return Err(ContentTypeError::NotMultipartRelated { found: clip(media.trim()) });
    }
    let parameters = parameters(rest)?;
    let get = |name: &str| parameters.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
    let kind = get("type").unwrap_or("");
    if !kind.trim().eq_ignore_ascii_case(DICOM) {
        return Err(ContentTypeError::WrongType { found: clip(kind) });
    }
    let boundary = get("boundary").unwrap_or("");
    if boundary.is_empty() || boundary.chars().count() > MAX_BOUNDARY {
        return Err(ContentTypeError::BadBoundary { found: boundary.chars().count() });
    }
    Ok(boundary.to_owned())
}

/// Whether a part's `Content-Type` value allows an instance: absent, or `application/dicom`
/// with any parameters (e.g. `transfer-syntax=…`).
pub fn is_dicom_part(content_type: Option<&[u8]>) -> bool {
    let Some(value) = content_type else { return true };
    let Ok(value) = std::str::from_utf8(value) else { return false };
    let media = value.split_once(';').map_or(value, |(m, _)| m);
    media.trim().eq_ignore_ascii_case(DICOM)
}

/// Splits a complete multipart body into its parts under the same limits and parser as a
/// request: what the handler streams, for tests and fuzzing.
pub fn split_body(body: Bytes, boundary: &str, options: &HttpOptions) -> Result<Vec<Part>, MultipartError> {
    let stream = futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
    let mut multipart = multipart(stream, boundary, options);
    let parse = async move {
        let mut parts = Vec::new();
        while let Some(part) = next_part(&mut multipart, parts.len() + 1).await? {
            parts.push(part);
        }
        Ok(parts)
    };
    // Every poll is ready: the whole body is in memory.
    parse.now_or_never().unwrap_or(Err(MultipartError::Stalled))
}

/// The SOP Class UID (0002,0002) and SOP Instance UID (0002,0003) of a Part 10 file's meta
/// group, when present and readable: a bounded walk of the explicit VR little endian group
/// that allocates nothing by a declared length, so it is safe on any bytes.
pub fn meta_uids(bytes: &[u8]) -> (Option<String>, Option<String>) {
    let start = if bytes.get(128..132) == Some(b"DICM") {
        132
    } else if bytes.starts_with(b"DICM") {
        4
    } else {
        return (None, None);
    };
    let (mut class, mut instance) = (None, None);
    let mut at = start;
    // A meta group has a dozen elements; a longer walk is not a meta group.
    for _ in 0..64 {
        let Some(h) = bytes.get(at..at + 8) else { break };
        let (group, element) = (u16::from_le_bytes([h[0], h[1]]), u16::from_le_bytes([h[2], h[3]]));
        if group != 0x0002 {
            break;
        }
        let (header, len) = match &h[4..6] {
            b"OB" | b"OW" | b"OF" | b"OD" | b"OL" | b"OV" | b"SQ" | b"UT" | b"UN" | b"UC" | b"UR" | b"SV" | b"UV" => {
                let Some(l) = bytes.get(at + 8..at + 12) else { break };
                (12, u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize)
            }
            _ => (8, usize::from(u16::from_le_bytes([h[6], h[7]]))),
        };
        let Some(value) = at.checked_add(header).and_then(|s| Some(s..s.checked_add(len)?)).and_then(|r| bytes.get(r))
        else {
            break;
        };
        match element {
            0x0002 => class = uid_text(value),
            0x0003 => instance = uid_text(value),
            _ => {}
        }
        at += header + len;
    }
    (class, instance)
}

/// A UID value as text: at most 64 characters of digits and dots, NUL/space padding trimmed.
fn uid_text(value: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(value).ok()?.trim_end_matches(['\0', ' ']).trim();
    let ok = !text.is_empty() && text.len() <= 64 && text.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    ok.then(|| text.to_owned())
}

/// `;`-separated `name=value` parameters (RFC 9110 §5.6.6), values as tokens or quoted strings
/// with backslash escapes; names lower-cased.
fn parameters(mut s: &str) -> Result<Vec<(String, String)>, ContentTypeError> {
    let mut out = Vec::new();
    loop {
        s = s.trim_start_matches(|c: char| c == ';' || c.is_ascii_whitespace());
        if s.is_empty() {
            return Ok(out);
        }
        let malformed = |at: &str| ContentTypeError::MalformedParameter { found: clip(at) };
        let (name, rest) = s.split_once('=').ok_or_else(|| malformed(s))?;
        let name = name.trim();
        if name.is_empty() || name.contains(|c: char| c == ';' || c == '"' || c.is_ascii_whitespace()) {
            return Err(malformed(s));
        }
        let rest = rest.trim_start();
        let (value, rest) = if let Some(quoted) = rest.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some((_, escaped)) => value.push(escaped),
                        None => break,
                    },
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => value.push(c),
                }
            }
            let after = &quoted[end.ok_or_else(|| malformed(s))?..];
            let after = after.trim_start();
            if !(after.is_empty() || after.starts_with(';')) {
                return Err(malformed(s));
            }
            (value, after)
        } else {
            let (value, rest) = rest.split_once(';').unwrap_or((rest, ""));
            (value.trim().to_owned(), rest)
        };
        out.push((name.to_ascii_lowercase(), value));
        s = rest;
    }
}

/// At most 100 characters of client-sent text, for an error message.
fn clip(text: &str) -> String {
    text.chars().take(100).collect()
}

/// The parser of a body, with the per-part and whole-body limits of `options`.
fn multipart<S, E>(stream: S, boundary: &str, options: &HttpOptions) -> multer::Multipart<'static>
where
    S: futures_util::Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
{
    let limits = multer::SizeLimit::new()
        .whole_stream(options.max_request_bytes)
        .per_field(u64::try_from(options.max_instance_bytes).unwrap_or(u64::MAX));
    multer::Multipart::with_constraints(stream, boundary, multer::Constraints::new().size_limit(limits))
}

/// The next part, read whole (within the per-part limit), or `None` after the last.
async fn next_part(multipart: &mut multer::Multipart<'static>, part: usize) -> Result<Option<Part>, MultipartError> {
    let classify = |e: multer::Error| match e {
        multer::Error::FieldSizeExceeded { limit, .. } => MultipartError::PartTooLarge { part, limit },
        multer::Error::StreamSizeExceeded { limit } => MultipartError::BodyTooLarge { limit },
        e @ multer::Error::StreamReadFailed(_) => MultipartError::Read { part, source: e },
        // multer's errors are non-exhaustive; every other one is about the body's syntax.
        e => MultipartError::Malformed { part, source: e },
    };
    let Some(field) = multipart.next_field().await.map_err(classify)? else { return Ok(None) };
    let dicom = is_dicom_part(field.headers().get(header::CONTENT_TYPE).map(HeaderValue::as_bytes));
    let bytes = field.bytes().await.map_err(classify)?;
    Ok(Some(Part { dicom, bytes }))
}

async fn store_any_study(State(edge): State<Arc<Shared>>, headers: HeaderMap, body: Body) -> Response {
    store(edge, None, headers, body).await
}

async fn store_in_study(
    State(edge): State<Arc<Shared>>,
    Path(study): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    store(edge, Some(study), headers, body).await
}

/// A stored instance, as listed in ReferencedSOPSequence.
struct Stored {
    class_uid: Option<String>,
    instance_uid: String,
}

/// A part not stored, as listed in FailedSOPSequence, with what it alone would make of the
/// request's status.
struct Failed {
    class_uid: Option<String>,
    instance_uid: Option<String>,
    reason: FailureReason,
    status: StatusCode,
}

/// What the request log line says besides the status.
#[derive(Default)]
struct Tally {
    principal: String,
    stored: usize,
    failed: usize,
}

/// Handles one STOW-RS request and logs it (no patient data: principal, counts, status,
/// bytes, duration).
async fn store(edge: Arc<Shared>, study: Option<String>, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let Ok(_permit) = edge.requests.clone().try_acquire_owned() else {
        edge.app.metrics().refused.with_label_values(&["http.max_requests"]).inc();
        tracing::warn!("stow-rs request refused: http.max_requests requests are being handled");
        let mut busy = (StatusCode::SERVICE_UNAVAILABLE, "busy: http.max_requests STOW-RS requests are being handled")
            .into_response();
        busy.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_S));
        return busy;
    };
    let received = Arc::new(AtomicU64::new(0));
    let mut tally = Tally::default();
    let response = stow(&edge, study, &headers, body, received.clone(), &mut tally).await;
    tracing::info!(
        principal = %tally.principal,
        stored = tally.stored,
        failed = tally.failed,
        status = response.status().as_u16(),
        bytes = received.load(Ordering::Relaxed),
        duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "stow-rs request"
    );
    response
}

async fn stow(
    edge: &Shared,
    study: Option<String>,
    headers: &HeaderMap,
    body: Body,
    received: Arc<AtomicU64>,
    tally: &mut Tally,
) -> Response {
    let caller = match auth::caller(headers, &*edge.auth, granska_app::Edge::Dicom) {
        Ok(caller) => caller,
        Err(e) => return e.into_response(),
    };
    tally.principal.clone_from(&caller.principal);
    // The core checks the role again on every part; checking here too refuses a forbidden
    // caller before a byte of its body is read.
    if let Err(e) = caller.authorize(Action::Upload) {
        return text(status(&e), &e.to_string());
    }
    let study = match study.map(|s| Uid::parse(&s)).transpose() {
        Ok(study) => study,
        Err(e) => return text(StatusCode::BAD_REQUEST, &format!("study in the path: {e}")),
    };
    let content_type = headers.get(header::CONTENT_TYPE).map(|v| String::from_utf8_lossy(v.as_bytes()));
    let boundary = match content_type.as_deref().map(parse_content_type) {
        Some(Ok(boundary)) => boundary,
        Some(Err(e)) => {
            tracing::debug!(error = %e, "stow-rs content type refused");
            return text(StatusCode::UNSUPPORTED_MEDIA_TYPE, &e.to_string());
        }
        None => return text(StatusCode::UNSUPPORTED_MEDIA_TYPE, &ContentTypeError::Missing.to_string()),
    };
    let limit = edge.options.max_request_bytes;
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if let Some(length) = declared
        && length > limit
    {
        let e = MultipartError::BodyTooLarge { limit };
        return text(StatusCode::PAYLOAD_TOO_LARGE, &e.to_string());
    }

    let stream = body.into_data_stream().inspect_ok(move |chunk| {
        received.fetch_add(chunk.len() as u64, Ordering::Relaxed);
    });
    let mut multipart = multipart(stream, &boundary, &edge.options);
    let (mut stored, mut failed) = (Vec::new(), Vec::new());
    let mut parts = 0;
    let ended = loop {
        let part = match next_part(&mut multipart, parts + 1).await {
            Ok(Some(part)) => part,
            Ok(None) => break None,
            Err(MultipartError::PartTooLarge { part, limit }) => {
                parts += 1;
                tracing::debug!(part, limit, "stow-rs part over the instance size cap; reading stops");
                let too_large = Failed {
                    class_uid: None,
                    instance_uid: None,
                    reason: FailureReason::OutOfResources,
                    status: StatusCode::PAYLOAD_TOO_LARGE,
                };
                failed.push(refused(edge, &caller, "too-large", too_large).await);
                break None;
            }
            Err(e) => break Some(e),
        };
        parts += 1;
        match store_part(edge, &caller, study.as_ref(), parts, part).await {
            Ok(s) => stored.push(s),
            Err(PartError::Failed(f)) => failed.push(f),
            Err(PartError::Forbidden(e)) => return text(status(&e), &e.to_string()),
        }
    };
    (tally.stored, tally.failed) = (stored.len(), failed.len());

    let request_error = match ended {
        Some(e) => {
            tracing::debug!(error = %e, "stow-rs body refused");
            let code = match e {
                MultipartError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                MultipartError::PartTooLarge { .. }
                | MultipartError::Malformed { .. }
                | MultipartError::Read { .. }
                | MultipartError::Stalled => StatusCode::BAD_REQUEST,
            };
            Some((code, e.to_string()))
        }
        None if parts == 0 => Some((StatusCode::BAD_REQUEST, "expected at least one part, found none".to_owned())),
        None => None,
    };
    let code = match request_error {
        Some((code, message)) if stored.is_empty() => return text(code, &message),
        Some((code, _)) => code,
        None => outcome_status(stored.len(), &failed),
    };
    let mut response =
        (code, [(header::CONTENT_TYPE, DICOM_JSON)], response_body(&stored, &failed).to_string()).into_response();
    if code == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_S));
    }
    response
}

/// Why a part was not stored.
enum PartError {
    /// Listed in FailedSOPSequence.
    Failed(Failed),
    /// The caller may not store at all: the request is refused (403).
    Forbidden(AppError),
}

/// Checks one part (media type, study) and stores it through the core.
async fn store_part(
    edge: &Shared,
    caller: &Caller,
    study: Option<&Uid>,
    index: usize,
    part: Part,
) -> Result<Stored, PartError> {
    let (class_uid, meta_instance) = meta_uids(&part.bytes);
    let refusal = |reason, instance_uid: Option<String>| Failed {
        class_uid: class_uid.clone(),
        instance_uid,
        reason,
        status: StatusCode::CONFLICT,
    };
    if !part.dicom {
        let failure = refusal(FailureReason::CannotUnderstand, meta_instance.clone());
        return Err(PartError::Failed(refused(edge, caller, "wrong-media-type", failure).await));
    }
    if let (Some(class), Some(instance)) = (&class_uid, &meta_instance)
        && edge.options.accept_and_drop.iter().any(|c| c == class)
    {
        // Answered as stored (the sender's job must not fail on it), not kept, counted.
        return match edge.app.drop_instance(caller, class).await {
            Ok(()) => Ok(Stored { class_uid: class_uid.clone(), instance_uid: instance.clone() }),
            Err(e @ AppError::Forbidden { .. }) => Err(PartError::Forbidden(e)),
            Err(e) => Err(PartError::Failed(Failed {
                reason: failure_reason(&e),
                status: status(&e),
                ..refusal(FailureReason::ProcessingFailure, meta_instance.clone())
            })),
        };
    }
    let instance_ref = format!("stow part {index}");
    if let Some(study) = study {
        let (bytes, name) = (part.bytes.clone(), instance_ref.clone());
        // The guarded parse of granska-dicom: an unreadable part goes on to ingest, whose
        // finding is the one to report.
        let uids =
            granska_app::blocking(move || DicomFile::from_bytes(&bytes, &name).ok().map(|f| f.identifying_uids()))
                .await;
        if let Some((sop, found)) = uids
            && found != study.as_str()
        {
            tracing::debug!(part = index, "stow-rs part of another study than the path's; not stored");
            let instance = Some(sop).filter(|s| !s.is_empty()).or(meta_instance);
            let failure = refusal(FailureReason::DataSetDoesNotMatchSopClass, instance);
            return Err(PartError::Failed(refused(edge, caller, "wrong-study", failure).await));
        }
    }
    match edge.app.ingest(caller, Vec::from(part.bytes), instance_ref).await {
        Ok(ingested) => Ok(Stored { class_uid, instance_uid: ingested.sop_instance_uid.into_string() }),
        Err(rejected) => {
            if let AppError::Forbidden { .. } = rejected.error {
                return Err(PartError::Forbidden(rejected.error));
            }
            tracing::debug!(part = index, error = %rejected.error, "stow-rs part refused by the core");
            let instance = Some(rejected.sop_instance_uid).filter(|s| !s.is_empty()).or(meta_instance);
            Err(PartError::Failed(Failed {
                class_uid,
                instance_uid: instance,
                reason: failure_reason(&rejected.error),
                status: status(&rejected.error),
            }))
        }
    }
}

/// Counts and audits a part this edge refused before ingest; if that cannot be audited, the
/// audit failure is what the part reports.
async fn refused(edge: &Shared, caller: &Caller, reason: &'static str, failure: Failed) -> Failed {
    match edge.app.refused_upload(caller, reason).await {
        Ok(()) => failure,
        Err(e) => Failed { reason: failure_reason(&e), status: status(&e), ..failure },
    }
}

/// The request's status from its parts' outcomes (at least one part).
fn outcome_status(stored: usize, failed: &[Failed]) -> StatusCode {
    let Some(first) = failed.first() else { return StatusCode::OK };
    if stored > 0 {
        return StatusCode::ACCEPTED;
    }
    let any = |code| failed.iter().any(|f| f.status == code);
    if failed.iter().all(|f| f.status == first.status) {
        first.status
    } else if any(StatusCode::CONFLICT) {
        StatusCode::CONFLICT
    } else if any(StatusCode::SERVICE_UNAVAILABLE) {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    }
}

/// The STOW-RS response object (DICOM JSON, PS3.18 F.2): ReferencedSOPSequence (0008,1199)
/// when something was stored, FailedSOPSequence (0008,1198) when something failed.
fn response_body(stored: &[Stored], failed: &[Failed]) -> Value {
    fn uid(value: &str) -> Value {
        json!({ "vr": "UI", "Value": [value] })
    }
    let mut object = serde_json::Map::new();
    if !stored.is_empty() {
        let items: Vec<Value> = stored
            .iter()
            .map(|s| {
                let mut item = serde_json::Map::new();
                if let Some(class) = &s.class_uid {
                    item.insert("00081150".into(), uid(class));
                }
                item.insert("00081155".into(), uid(&s.instance_uid));
                Value::Object(item)
            })
            .collect();
        object.insert("00081199".into(), json!({ "vr": "SQ", "Value": items }));
    }
    if !failed.is_empty() {
        let items: Vec<Value> = failed
            .iter()
            .map(|f| {
                let mut item = serde_json::Map::new();
                if let Some(class) = &f.class_uid {
                    item.insert("00081150".into(), uid(class));
                }
                if let Some(instance) = &f.instance_uid {
                    item.insert("00081155".into(), uid(instance));
                }
                item.insert("00081197".into(), json!({ "vr": "US", "Value": [f.reason.code()] }));
                Value::Object(item)
            })
            .collect();
        object.insert("00081198".into(), json!({ "vr": "SQ", "Value": items }));
    }
    Value::Object(object)
}

/// A plain-text answer for a request refused as a whole.
fn text(code: StatusCode, message: &str) -> Response {
    (code, message.to_owned()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_parameters_are_case_insensitive_and_quoted_or_not() {
        for value in [
            "multipart/related; type=\"application/dicom\"; boundary=abc",
            "Multipart/Related;TYPE=Application/DICOM;Boundary=\"abc\"",
            "multipart/related; boundary=abc; type=application/dicom",
            "multipart/related ; type = \"application/dicom\" ; boundary = \"abc\" ",
        ] {
            assert_eq!(parse_content_type(value), Ok("abc".to_owned()), "{value}");
        }
        assert_eq!(
            parse_content_type("multipart/related; type=\"application/dicom\"; boundary=\"a;b\\\"c\""),
            Ok("a;b\"c".to_owned())
        );
    }

    #[test]
    fn other_content_types_are_refused_saying_what_was_found() {
        let cases = [
            (
                "multipart/form-data; boundary=abc",
                "expected content type multipart/related, found \"multipart/form-data\"",
            ),
            ("multipart/related; boundary=abc", "expected the type parameter \"application/dicom\", found \"\""),
            (
                "multipart/related; type=\"application/dicom+xml\"; boundary=abc",
                "expected the type parameter \"application/dicom\", found \"application/dicom+xml\"",
            ),
            (
                "multipart/related; type=application/dicom",
                "expected a boundary parameter of 1 to 256 characters, found 0 characters",
            ),
            (
                "multipart/related; type=application/dicom; boundary=\"abc",
                "expected content type parameters name=value, found \"boundary=\\\"abc\"",
            ),
            ("multipart/related; type", "expected content type parameters name=value, found \"type\""),
        ];
        for (value, message) in cases {
            assert_eq!(parse_content_type(value).unwrap_err().to_string(), message, "{value}");
        }
        // Orthanc's 73 characters pass; RFC 2046's 70 is not enforced.
        let orthanc = format!("multipart/related; type=application/dicom; boundary={}", "b".repeat(73));
        assert_eq!(parse_content_type(&orthanc).map(|b| b.len()), Ok(73));
        let long = format!("multipart/related; type=application/dicom; boundary={}", "b".repeat(257));
        assert_eq!(parse_content_type(&long), Err(ContentTypeError::BadBoundary { found: 257 }));
    }

    #[test]
    fn part_media_types() {
        assert!(is_dicom_part(None));
        assert!(is_dicom_part(Some(b"application/dicom")));
        assert!(is_dicom_part(Some(b"Application/DICOM; transfer-syntax=1.2.840.10008.1.2.1")));
        assert!(!is_dicom_part(Some(b"application/dicom+json")));
        assert!(!is_dicom_part(Some(b"text/plain")));
        assert!(!is_dicom_part(Some(b"\xff")));
    }

    #[test]
    fn a_body_splits_into_its_parts_within_the_limits() {
        let options = HttpOptions {
            max_instance_bytes: 5,
            max_request_bytes: 1000,
            accept_and_drop: vec![],
            max_requests: 1,
            ..HttpOptions::default()
        };
        let body = "--b\r\nContent-Type: application/dicom\r\n\r\nhello\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n";
        let parts = split_body(Bytes::from(body), "b", &options).unwrap();
        let got: Vec<(bool, &[u8])> = parts.iter().map(|p| (p.dicom, &p.bytes[..])).collect();
        assert_eq!(got, vec![(true, &b"hello"[..]), (false, &b"x"[..])]);
        let over = "--b\r\nContent-Type: application/dicom\r\n\r\nhello!\r\n--b--\r\n";
        let r = split_body(Bytes::from(over), "b", &options);
        assert!(matches!(r, Err(MultipartError::PartTooLarge { part: 1, limit: 5 })), "{r:?}");
        let small = HttpOptions {
            max_instance_bytes: 5,
            max_request_bytes: 10,
            accept_and_drop: vec![],
            max_requests: 1,
            ..HttpOptions::default()
        };
        assert!(matches!(split_body(Bytes::from(body), "b", &small), Err(MultipartError::BodyTooLarge { limit: 10 })));
        assert!(matches!(split_body(Bytes::from("garbage"), "b", &options), Err(MultipartError::Malformed { .. })));
        assert_eq!(split_body(Bytes::from("--b--\r\n"), "b", &options).unwrap(), vec![]);
        // multer 3.1 needs at least one header line per part (RFC 2046 allows none); every
        // STOW-RS sender names the part's Content-Type.
        let bare = "--b\r\n\r\nhello\r\n--b--\r\n";
        assert!(matches!(split_body(Bytes::from(bare), "b", &options), Err(MultipartError::Malformed { .. })));
    }

    #[test]
    fn meta_uids_walk_the_meta_group_only() {
        let mut file = vec![0u8; 128];
        file.extend_from_slice(b"DICM");
        let element = |file: &mut Vec<u8>, elem: u16, vr: &[u8; 2], value: &[u8]| {
            file.extend_from_slice(&2u16.to_le_bytes());
            file.extend_from_slice(&elem.to_le_bytes());
            file.extend_from_slice(vr);
            if vr == b"OB" {
                file.extend_from_slice(&[0, 0]);
                file.extend_from_slice(&(value.len() as u32).to_le_bytes());
            } else {
                file.extend_from_slice(&(value.len() as u16).to_le_bytes());
            }
            file.extend_from_slice(value);
        };
        element(&mut file, 0x0001, b"OB", &[0, 1]);
        element(&mut file, 0x0002, b"UI", b"1.2.840.10008.5.1.4.1.1.1.2\0");
        element(&mut file, 0x0003, b"UI", b"1.2.3.4 ");
        assert_eq!(meta_uids(&file), (Some("1.2.840.10008.5.1.4.1.1.1.2".to_owned()), Some("1.2.3.4".to_owned())));
        assert_eq!(meta_uids(&file[..file.len() - 3]), (Some("1.2.840.10008.5.1.4.1.1.1.2".to_owned()), None));
        assert_eq!(meta_uids(b"not dicom"), (None, None));
    }
}
