//! Upload: files are read and cut into chunks on a task of their own (a bounded channel keeps
//! a few MiB in flight), sent over one Ingest.Upload stream, and every instance's result is
//! handed to the caller the moment the server acknowledges it, so a cut-off upload still
//! reports what was stored.

use std::path::PathBuf;

use granska_proto::v1 as pb;
use tokio_stream::StreamExt;

use crate::{Client, Error};

/// Chunk size: well under gRPC's 4 MiB message limit (the server refuses larger messages).
pub const CHUNK: usize = 1 << 20;

/// What an upload reports as it goes.
#[derive(Debug)]
pub enum UploadEvent<'a> {
    /// The server answered one instance (stored, duplicate or rejected).
    Result(&'a pb::InstanceResult),
}

/// The totals of a finished upload.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UploadSummary {
    /// Instances the server answered.
    pub answered: usize,
    /// Stored now.
    pub stored: u64,
    /// Stored before.
    pub duplicate: u64,
    /// Refused (with a reason in their result).
    pub rejected: u64,
    /// Bytes of the answered instances.
    pub bytes: u64,
    /// The studies of the stored and duplicate instances, sorted.
    pub studies: Vec<String>,
}

impl Client {
    /// Uploads `files` (each one instance, `instance_ref` = its path) over one stream, calling
    /// `on_event` for each result as it arrives. An `Err` after some results still leaves those
    /// instances stored; re-sending is safe (they come back as duplicates).
    pub async fn upload(
        &self,
        files: Vec<PathBuf>,
        mut on_event: impl FnMut(UploadEvent<'_>),
    ) -> Result<UploadSummary, Error> {
        let (tx, rx) = tokio::sync::mpsc::channel::<pb::UploadChunk>(4);
        let producer = tokio::spawn(async move {
            for path in files {
                let bytes =
                    tokio::fs::read(&path).await.map_err(|source| Error::Read { path: path.clone(), source })?;
                let instance_ref = path.display().to_string();
                if bytes.is_empty() {
                    let _ = tx.send(pb::UploadChunk { instance_ref, data: Vec::new(), last: true }).await;
                    continue;
                }
                let mut chunks = bytes.chunks(CHUNK).peekable();
                while let Some(chunk) = chunks.next() {
                    let last = chunks.peek().is_none();
                    let msg = pb::UploadChunk { instance_ref: instance_ref.clone(), data: chunk.to_vec(), last };
                    if tx.send(msg).await.is_err() {
                        return Ok(()); // the server ended the stream; its error is reported below
                    }
                }
            }
            Ok::<_, Error>(())
        });
        let status = |status| Error::Status { call: "Ingest.Upload".into(), status };
        let mut results =
            self.ingest().upload(tokio_stream::wrappers::ReceiverStream::new(rx)).await.map_err(status)?.into_inner();
        let mut summary = UploadSummary::default();
        let mut studies = std::collections::BTreeSet::new();
        while let Some(next) = results.next().await {
            let r = next.map_err(status)?;
            summary.answered += 1;
            summary.bytes += r.size_bytes;
            match pb::instance_result::Outcome::try_from(r.outcome) {
                Ok(pb::instance_result::Outcome::Stored) => summary.stored += 1,
                Ok(pb::instance_result::Outcome::Duplicate) => summary.duplicate += 1,
                _ => summary.rejected += 1,
            }
            if !r.study_instance_uid.is_empty() && r.rejection.is_none() {
                studies.insert(r.study_instance_uid.clone());
            }
            on_event(UploadEvent::Result(&r));
        }
        match producer.await {
            Ok(read) => read?,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
        summary.studies = studies.into_iter().collect();
        Ok(summary)
    }
}
