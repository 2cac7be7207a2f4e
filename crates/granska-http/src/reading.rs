//! The reading page's API: `POST /web/api/claim-next` (the next task with what is needed to
//! hang and read it), `POST /web/api/tasks/{id}/submit` (a decision, idempotent per request
//! id), `POST /web/api/tasks/{id}/release` (the reader left without a decision), and
//! `GET /web/api/admin` (the admin page). Each is one call of the core; the core enforces who
//! may see what (blinding: prior reads only on a consensus task).
//!
//! The AI's result is shown as `[reading] show_ai` says ([`ShowAi`]): the claim carries it only
//! under `always`; under `after-decision` the submit's answer carries it (the core hands it
//! only to a reader who has read the exam); under `never` no station answer carries it.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use granska_types::ReadDecision;
use granska_worklist::model::Routing;

use crate::Shared;
use crate::station::{json, web_caller};

/// When the reading station shows the AI's result (category, score, flags) to a reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ShowAi {
    /// With the images, from the start (as in MASAI).
    #[default]
    Always,
    /// Only once the reader's decision is submitted.
    AfterDecision,
    /// Never (a reader study without AI support).
    Never,
}

impl ShowAi {
    /// The configuration word: `always`, `after-decision`, `never`.
    pub fn as_str(self) -> &'static str {
        match self {
            ShowAi::Always => "always",
            ShowAi::AfterDecision => "after-decision",
            ShowAi::Never => "never",
        }
    }

    /// Parses the configuration word.
    pub fn parse(text: &str) -> Option<ShowAi> {
        [ShowAi::Always, ShowAi::AfterDecision, ShowAi::Never].into_iter().find(|s| s.as_str() == text)
    }
}

/// The reading and admin routes.
pub(crate) fn routes(edge: Arc<Shared>) -> Router {
    Router::new()
        .route("/web/api/claim-next", post(claim_next))
        .route("/web/api/tasks/{task}/submit", post(submit))
        .route("/web/api/tasks/{task}/release", post(release))
        .route("/web/api/admin", get(admin))
        .with_state(edge)
}

/// The answer to a path whose task id is not a number.
fn bad_task_id() -> Response {
    (StatusCode::BAD_REQUEST, "expected a task id (a number) in the path").into_response()
}

/// The AI's part of a routing, as the page shows it.
fn ai_json(r: &Routing) -> serde_json::Value {
    serde_json::json!({
        "category": r.category,
        "raw_score": r.raw_score,
        "extra_high": r.extra_high,
        "flags": r.flags.iter().map(|f| f.as_str()).collect::<Vec<_>>(),
        "model": r.model.as_ref().map(|m| format!("{} {}", m.name, m.version)),
    })
}

async fn claim_next(State(edge): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let (caller, _) = match web_caller(&edge, &headers, true) {
        Ok(c) => c,
        Err(refused) => return refused.into_response(),
    };
    let claimed = match edge.app.claim_next(&caller).await {
        Ok(Some(c)) => c,
        Ok(None) => return StatusCode::NO_CONTENT.into_response(),
        Err(e) => return crate::error::response(&e),
    };
    let task = &claimed.claim.task;
    let routing = claimed.routing.as_ref();
    let show = edge.options.show_ai;
    let views: Vec<_> = claimed
        .instances
        .iter()
        .map(|i| {
            serde_json::json!({
                "sop_instance_uid": i.sop_instance_uid,
                "laterality": i.laterality.as_str(),
                "view": i.view.as_str(),
                "url": format!("/web/api/studies/{}/views/{}", task.study_uid, i.sop_instance_uid),
            })
        })
        .collect();
    let body = serde_json::json!({
        "task": {
            "task_id": task.id,
            "kind": task.kind.as_str(),
            "study_uid": task.study_uid,
            "lease_expires_unix_ms": task.lease_until_ms,
            "resumed": claimed.claim.resumed,
        },
        "reading_mode": routing.map(|r| r.mode.as_str()),
        "status": routing.map(|r| r.status.as_str()),
        "reason": routing.and_then(|r| r.reason.clone()),
        "ai": routing.filter(|_| show == ShowAi::Always).map(ai_json),
        "ai_pending": show == ShowAi::AfterDecision,
        "views": views,
        "prior_reads": claimed.claim.prior_reads.iter().map(|r| serde_json::json!({
            "kind": r.kind.as_str(),
            "reader": r.reader,
            "decision": r.decision.as_str(),
            "note": r.note,
        })).collect::<Vec<_>>(),
    });
    json(StatusCode::OK, body.to_string())
}

/// A submit's body.
#[derive(serde::Deserialize)]
struct SubmitBody {
    decision: String,
    #[serde(default)]
    note: Option<String>,
    request_id: String,
}

async fn submit(
    State(edge): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(task): Path<String>,
    body: Bytes,
) -> Response {
    let (caller, _) = match web_caller(&edge, &headers, true) {
        Ok(c) => c,
        Err(refused) => return refused.into_response(),
    };
    let Ok(task_id) = task.parse() else { return bad_task_id() };
    let body: SubmitBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            let message = format!("expected JSON {{\"decision\", \"note\", \"request_id\"}}: {e}");
            return (StatusCode::BAD_REQUEST, message).into_response();
        }
    };
    let Some(decision) = ReadDecision::parse(&body.decision) else {
        let message = format!("expected decision \"recall\" or \"no-recall\", found {:?}", body.decision);
        return (StatusCode::BAD_REQUEST, message).into_response();
    };
    let note = body.note.filter(|n| !n.trim().is_empty());
    let (task, outcome) = match edge.app.submit_read(&caller, task_id, decision, note, body.request_id).await {
        Ok(done) => done,
        Err(e) => return crate::error::response(&e),
    };
    let ai = match edge.options.show_ai {
        ShowAi::Never => None,
        ShowAi::Always | ShowAi::AfterDecision => match edge.app.ai_result(&caller, &task.study_uid).await {
            Ok(routing) => routing.as_ref().map(ai_json),
            Err(e) => return crate::error::response(&e),
        },
    };
    let body = serde_json::json!({
        "duplicate": outcome.duplicate,
        "next": outcome.next.kind().as_str(),
        "ai": ai,
    });
    json(StatusCode::OK, body.to_string())
}

async fn release(State(edge): State<Arc<Shared>>, headers: HeaderMap, Path(task): Path<String>) -> Response {
    let (caller, _) = match web_caller(&edge, &headers, true) {
        Ok(c) => c,
        Err(refused) => return refused.into_response(),
    };
    let Ok(task_id) = task.parse() else { return bad_task_id() };
    match edge.app.release(&caller, task_id).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => crate::error::response(&e),
    }
}

/// Rows the admin page shows of overdue tasks and of the audit log.
const ADMIN_ROWS: u32 = 50;

async fn admin(State(edge): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let (caller, _) = match web_caller(&edge, &headers, false) {
        Ok(c) => c,
        Err(refused) => return refused.into_response(),
    };
    let o = match edge.app.overview(&caller, ADMIN_ROWS).await {
        Ok(o) => o,
        Err(e) => return crate::error::response(&e),
    };
    let card = &o.models.card;
    let body = serde_json::json!({
        "counts": {
            "studies_by_mode": o.counts.studies_by_mode,
            "studies_by_state": o.counts.studies_by_state,
            "tasks": o.counts.tasks,
        },
        "overdue": o.overdue.iter().map(|e| serde_json::json!({
            "study_uid": e.study_uid,
            "task_id": e.task_id,
            "kind": e.kind.as_str(),
            "category": e.category,
            "reading_mode": e.mode.as_str(),
            "flags": e.flags.iter().map(|f| f.as_str()).collect::<Vec<_>>(),
            "reason": e.reason,
            "waiting_since_unix_ms": e.waiting_since_ms,
        })).collect::<Vec<_>>(),
        "model": {
            "name": card.identity.name,
            "version": card.identity.version,
            "sha256": card.identity.sha256,
            "device": o.models.device,
            "intended_use": card.identity.intended_use,
        },
        "policy": {
            "name": o.models.policy.name,
            "version": o.models.policy.version,
            "toml": o.models.policy_toml,
        },
        "audit": o.audit.iter().map(|r| serde_json::json!({
            "at_unix_ms": r.at_ms,
            "principal": r.principal,
            "role": r.role,
            "action": r.action,
            "study_uid": r.study_uid,
            "outcome": r.outcome,
        })).collect::<Vec<_>>(),
    });
    json(StatusCode::OK, body.to_string())
}
