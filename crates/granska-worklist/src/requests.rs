//! What every store does with a request around its storage, written once so that the backends
//! refuse the same inputs with the same errors and write the same audit texts: the input
//! checks made before touching the database, the holder check, and the routing summary.

use crate::error::{Error, Result};
use crate::model::{PageRequest, RouteInput, Submission, Task, TaskState};

/// Longest accepted reader id, request id and note (bytes).
const MAX_ID: usize = 256;
const MAX_NOTE: usize = 8192;

fn invalid(field: &'static str, expected: &'static str, found: impl Into<String>) -> Error {
    Error::InvalidInput { field, expected, found: found.into() }
}

/// A reader or request id: not blank, at most 256 bytes.
pub(crate) fn check_id(field: &'static str, value: &str) -> Result<()> {
    if value.trim().is_empty() || value.len() > MAX_ID {
        return Err(invalid(field, "1–256 bytes, not blank", format!("{} bytes", value.len())));
    }
    Ok(())
}

/// A routing input the store can record.
pub(crate) fn check_route(input: &RouteInput) -> Result<()> {
    // The same rule ingest applied (granska_types::Uid), so an acknowledged study is routable.
    if granska_types::Uid::parse(&input.study_uid).is_err() {
        return Err(invalid("study_uid", "a DICOM UID (digits and dots, at most 64)", input.study_uid.clone()));
    }
    if let Some(c) = input.category
        && !(1..=10).contains(&c)
    {
        return Err(invalid("category", "1–10", c.to_string()));
    }
    if !(1..=10).contains(&input.decision.rank) {
        return Err(invalid("decision.rank", "1–10", input.decision.rank.to_string()));
    }
    if let Some(score) = input.raw_score
        && !score.is_finite()
    {
        return Err(invalid("raw_score", "a finite number", score.to_string()));
    }
    Ok(())
}

/// A submission's ids and note.
pub(crate) fn check_submission(sub: &Submission) -> Result<()> {
    check_id("reader", &sub.reader)?;
    check_id("request_id", &sub.request_id)?;
    if let Some(note) = &sub.note
        && note.len() > MAX_NOTE
    {
        return Err(invalid("note", "at most 8192 bytes", format!("{} bytes", note.len())));
    }
    Ok(())
}

/// A worklist page size.
pub(crate) fn check_page(page: PageRequest) -> Result<()> {
    if page.limit == 0 || page.limit > 1000 {
        return Err(invalid("limit", "1–1000", page.limit.to_string()));
    }
    Ok(())
}

/// `Ok` when `reader` holds `task` now.
pub(crate) fn ensure_held_by(task: &Task, reader: &str) -> Result<()> {
    if task.state == TaskState::Claimed && task.claimed_by.as_deref() == Some(reader) {
        return Ok(());
    }
    Err(Error::NotHolder {
        task_id: task.id,
        reader: reader.to_owned(),
        state: task.state,
        holder: task.claimed_by.clone(),
    })
}

/// The decision's flags as stored: comma-separated names.
pub(crate) fn flag_list(input: &RouteInput) -> String {
    input.decision.flags.iter().map(|f| f.as_str()).collect::<Vec<_>>().join(",")
}

/// The routing as the audit trail words it, e.g. `single reading (masai v1): scored category 3`.
pub(crate) fn route_summary(input: &RouteInput, flags: &str) -> String {
    let d = &input.decision;
    format!(
        "{} reading ({} v{}): {}{}{}",
        d.mode,
        input.policy.name,
        input.policy.version,
        match input.category {
            Some(c) => format!("{} category {c}", input.status.as_str()),
            None => input.status.as_str().to_owned(),
        },
        if flags.is_empty() { String::new() } else { format!(", flags {flags}") },
        d.reason.as_ref().map(|r| format!(", reason: {r}")).unwrap_or_default(),
    )
}
