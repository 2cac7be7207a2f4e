//! Reading use cases: a radiologist's worklist (list, watch), claiming and releasing a task,
//! and submitting a read. The caller's principal is the reader; nothing here reveals another
//! reader's identity or decision, except the two screening reads shown to the holder of a
//! consensus task.

use granska_worklist::model::NextStep;
use granska_worklist::model::{
    ClaimedTask, PageRequest, ReadDecision, Reader, Routing, Submission, SubmitOutcome, Task, TaskId, TaskKind,
    TaskState, WorklistEntry,
};
use tokio::sync::broadcast;

use crate::{Action, App, AppError, Caller, Change, ChangeKind, blocking};

/// One page of a reader's worklist, one entry per exam.
#[derive(Debug, Clone)]
pub struct WorklistView {
    /// Exams in priority order, each with its tasks.
    pub exams: Vec<ExamTasks>,
    /// The offset of the next page, when there is one.
    pub next_offset: Option<u64>,
}

/// One exam on a worklist: the entry of its first listed task and all its open tasks.
#[derive(Debug, Clone)]
pub struct ExamTasks {
    /// The listed entry (status, category, mode, flags, reason, overdue, waiting since).
    pub entry: WorklistEntry,
    /// The exam's tasks that are not cancelled.
    pub tasks: Vec<TaskView>,
}

/// A task as the asking reader sees it.
#[derive(Debug, Clone)]
pub struct TaskView {
    /// Task id.
    pub task_id: TaskId,
    /// Which read.
    pub kind: TaskKind,
    /// Its state.
    pub state: TaskState,
    /// The asking reader holds it.
    pub held_by_you: bool,
    /// The asking reader may claim it now.
    pub available_to_you: bool,
}

/// A claimed task with what the reader needs to read it.
#[derive(Debug, Clone)]
pub struct ClaimedExam {
    /// The claim (task, lease, resumed, prior reads the reader may see).
    pub claim: ClaimedTask,
    /// The exam's applied routing (status, category, mode, flags, reason).
    pub routing: Option<Routing>,
    /// The instances to show, in the order they were received.
    pub instances: Vec<ShownInstance>,
}

/// One instance of a claimed exam: what a viewer needs to hang it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShownInstance {
    /// SOP Instance UID.
    pub sop_instance_uid: String,
    /// Which breast.
    pub laterality: granska_types::Laterality,
    /// Which view.
    pub view: granska_types::View,
}

/// Worklist changes as they happen, until the application stops.
pub struct ChangeStream {
    changes: broadcast::Receiver<Change>,
    stopping: tokio::sync::watch::Receiver<bool>,
}

impl ChangeStream {
    /// The next change; [`ChangeKind::Resync`] when this watcher fell behind and missed some
    /// (list again); `None` when the application stops.
    pub async fn next(&mut self) -> Option<Change> {
        let change = tokio::select! {
            _ = self.stopping.wait_for(|s| *s) => return None,
            c = self.changes.recv() => c,
        };
        match change {
            Ok(c) => Some(c),
            Err(broadcast::error::RecvError::Lagged(_)) => Some(Change {
                study_uid: String::new(),
                change: ChangeKind::Resync,
                task: None,
                at_ms: crate::now_ms(),
            }),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}

fn reader(caller: &Caller) -> Reader {
    Reader::new(caller.principal.clone())
}

impl App {
    /// The caller's worklist page: their claimed tasks first, then what they may take.
    pub async fn list(&self, caller: &Caller, page: PageRequest) -> Result<WorklistView, AppError> {
        caller.authorize(Action::List)?;
        let (store, me) = (self.worklist.clone(), reader(caller));
        let result = blocking(move || {
            let page = store.worklist(&me, page)?;
            let mut exams: Vec<ExamTasks> = Vec::new();
            for e in &page.entries {
                if exams.last().is_some_and(|last| last.entry.study_uid == e.study_uid) {
                    continue; // the exam's other task, adjacent in the order; listed with it
                }
                let tasks = store
                    .study_tasks(&e.study_uid)?
                    .into_iter()
                    .filter(|t| t.state != TaskState::Cancelled)
                    .map(|t| TaskView {
                        task_id: t.id,
                        kind: t.kind,
                        state: t.state,
                        held_by_you: t.claimed_by.as_deref() == Some(me.id.as_str()),
                        available_to_you: page
                            .entries
                            .iter()
                            .any(|x| x.task_id == t.id && x.state == TaskState::Queued),
                    })
                    .collect();
                exams.push(ExamTasks { entry: e.clone(), tasks });
            }
            Ok::<_, AppError>(WorklistView { exams, next_offset: page.next_offset })
        })
        .await;
        let studies = match &result {
            Ok(v) => v.exams.iter().map(|e| Some(e.entry.study_uid.clone())).collect(),
            Err(_) => Vec::new(),
        };
        self.audited(caller, Action::List, studies, result).await
    }

    /// Follows worklist changes (no study data: ids and kinds only, so not audited per change).
    pub fn watch(&self, caller: &Caller) -> Result<ChangeStream, AppError> {
        caller.authorize(Action::Watch)?;
        Ok(ChangeStream { changes: self.changes.subscribe(), stopping: self.stopping.clone() })
    }

    /// Claims the highest-priority task the caller may take (or gives back the one they hold).
    pub async fn claim_next(&self, caller: &Caller) -> Result<Option<ClaimedExam>, AppError> {
        caller.authorize(Action::ClaimNext)?;
        let (store, archive, me) = (self.worklist.clone(), self.archive.clone(), reader(caller));
        let result = blocking(move || {
            let Some(claim) = store.claim_next(&me)? else {
                return Ok(None);
            };
            let uid = claim.task.study_uid.clone();
            let history = store.history(&uid)?;
            let routing = history.routings.into_iter().rev().find(|r| r.applied && !r.superseded);
            let instances = archive.study(&uid)?.map(|s| s.instances).unwrap_or_default();
            let instances = instances
                .into_iter()
                .map(|i| ShownInstance {
                    sop_instance_uid: i.instance.sop_instance_uid.into_string(),
                    laterality: i.instance.laterality,
                    view: i.instance.view,
                })
                .collect();
            Ok::<_, AppError>(Some(ClaimedExam { claim, routing, instances }))
        })
        .await;
        let study = result.as_ref().ok().and_then(|c| c.as_ref()).map(|c| c.claim.task.study_uid.clone());
        let result = self.audited(caller, Action::ClaimNext, vec![study], result).await?;
        if let Some(c) = &result
            && !c.resumed()
        {
            let task = &c.claim.task;
            self.publish(&task.study_uid, ChangeKind::Claimed, Some((task.id, task.kind)));
        }
        Ok(result)
    }

    /// Gives a held task back to the queue at once.
    pub async fn release(&self, caller: &Caller, task_id: TaskId) -> Result<Task, AppError> {
        caller.authorize(Action::Release)?;
        let (store, name) = (self.worklist.clone(), caller.principal.clone());
        let result = blocking(move || {
            let task = store.task(task_id)?;
            store.release(task_id, &name)?;
            Ok::<_, AppError>(task)
        })
        .await;
        let study = result.as_ref().ok().map(|t| t.study_uid.clone());
        let task = self.audited(caller, Action::Release, vec![study], result).await?;
        self.publish(&task.study_uid, ChangeKind::Released, Some((task.id, task.kind)));
        Ok(task)
    }

    /// Submits the caller's read of a task they hold; idempotent per `request_id`.
    pub async fn submit_read(
        &self,
        caller: &Caller,
        task_id: TaskId,
        decision: ReadDecision,
        note: Option<String>,
        request_id: String,
    ) -> Result<(Task, SubmitOutcome), AppError> {
        caller.authorize(Action::SubmitRead)?;
        if request_id.trim().is_empty() {
            return Err(AppError::InvalidArgument {
                field: "request_id".into(),
                message: "must be set (a unique id per read, e.g. a UUID)".into(),
            });
        }
        let submission = Submission { task_id, reader: caller.principal.clone(), decision, note, request_id };
        let store = self.worklist.clone();
        let result = blocking(move || {
            let task = store.task(submission.task_id)?;
            let out = store.submit(&submission)?;
            Ok::<_, AppError>((task, out))
        })
        .await;
        let study = result.as_ref().ok().map(|(t, _)| t.study_uid.clone());
        let (task, out) = self.audited(caller, Action::SubmitRead, vec![study], result).await?;
        if !out.duplicate {
            self.publish(&task.study_uid, ChangeKind::Read, Some((task.id, task.kind)));
            match out.next {
                NextStep::AwaitingOtherRead => {}
                NextStep::Consensus(id) => {
                    self.publish(&task.study_uid, ChangeKind::Consensus, Some((id, TaskKind::Consensus)))
                }
                NextStep::Final(..) => self.publish(&task.study_uid, ChangeKind::Final, None),
            }
        }
        Ok((task, out))
    }
}

impl App {
    /// The applied routing (the AI's result) of an exam the caller has submitted a read of: a
    /// station showing the AI only after the decision asks for it here. `NotYourExam` before
    /// the caller's read.
    pub async fn ai_result(&self, caller: &Caller, study_uid: &str) -> Result<Option<Routing>, AppError> {
        caller.authorize(Action::AiResult)?;
        let (store, who, uid) = (self.worklist.clone(), caller.principal.clone(), study_uid.to_owned());
        let result = blocking(move || {
            let history = match store.history(&uid) {
                Ok(h) => h,
                Err(granska_worklist::Error::UnknownStudy { .. }) => {
                    return Err(AppError::NotYourExam { study_uid: uid });
                }
                Err(e) => return Err(e.into()),
            };
            if !history.reads.iter().any(|r| r.reader == who) {
                return Err(AppError::NotYourExam { study_uid: uid });
            }
            Ok(history.routings.into_iter().rev().find(|r| r.applied && !r.superseded))
        })
        .await;
        self.audited(caller, Action::AiResult, vec![Some(study_uid.to_owned())], result).await
    }
}

impl ClaimedExam {
    /// The reader already held this task (a retried claim); its lease was renewed.
    pub fn resumed(&self) -> bool {
        self.claim.resumed
    }
}
