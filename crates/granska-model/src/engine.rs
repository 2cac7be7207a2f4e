//! The inference engine: one ONNX Runtime session per model, owned by one thread that batches
//! views from any number of callers (up to `max_batch`, waiting at most `max_wait`).
//!
//! Why a thread: `ort` sessions run through `&mut self`, and batching across exams is what
//! makes inference cheap; one owner thread fed by a bounded channel gives both, and the
//! channel's bound is the backpressure (callers block when `queue` views are pending).
//!
//! ONNX Runtime is loaded at run time (`ort`'s `load-dynamic`), from the first of: the
//! configured `ort_library`, `ORT_DYLIB_PATH`, the path `build.rs` found in the onnxruntime
//! wheel at build time. A path that is given but does not load is an error, never skipped.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ort::session::Session;
use ort::value::{Tensor, TensorElementType};
use serde::Serialize;

use crate::{Error, Model};

/// Where inference runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    /// ONNX Runtime's CPU execution provider.
    #[default]
    Cpu,
    /// The CUDA execution provider (Cargo feature `cuda`, onnxruntime-gpu's library).
    Cuda {
        /// CUDA device index.
        device_id: i32,
    },
}

impl std::str::FromStr for Device {
    type Err = String;

    /// `cpu`, `cuda` (device 0) or `cuda:N`.
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda { device_id: 0 }),
            other => match other.strip_prefix("cuda:").and_then(|n| n.parse().ok()) {
                Some(device_id) => Ok(Device::Cuda { device_id }),
                None => Err(format!("device must be cpu, cuda or cuda:N, found {other:?}")),
            },
        }
    }
}

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// ONNX Runtime shared library; `None`: `ORT_DYLIB_PATH`, then the build-time path.
    pub ort_library: Option<PathBuf>,
    /// Intra-op threads of the session; 0 lets ONNX Runtime choose (one per core).
    pub intra_threads: usize,
    /// Most views per `run`.
    pub max_batch: usize,
    /// Longest a view waits for others to fill its batch.
    pub max_wait: Duration,
    /// Views that may wait in the queue before callers block.
    pub queue: usize,
    /// Execution provider.
    pub device: Device,
    /// When CUDA cannot be used: run on CPU (logged at error level) instead of failing.
    pub cuda_fallback_to_cpu: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            ort_library: None,
            intra_threads: 0,
            max_batch: 16,
            max_wait: Duration::from_millis(5),
            queue: 256,
            device: Device::Cpu,
            cuda_fallback_to_cpu: false,
        }
    }
}

/// What the engine runs on, for reports and logs.
#[derive(Debug, Clone, Serialize)]
pub struct EngineInfo {
    /// The ONNX Runtime library in use.
    pub library: PathBuf,
    /// ONNX Runtime's build string (version, commit).
    pub runtime: String,
    /// The device actually used: `cpu`, `cuda:N`, or `cpu (CUDA unavailable)`.
    pub device: String,
    /// Batch limit.
    pub max_batch: usize,
    /// Intra-op threads (0: ONNX Runtime's default).
    pub intra_threads: usize,
}

/// One view's inference result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Inferred {
    /// The model's output for the view.
    pub probability: f32,
    /// This view's share of its batch's `run` time (batch time / batch size), in ms.
    pub run_ms: f64,
}

struct Job {
    input: Vec<f32>,
    reply: SyncSender<Result<Inferred, String>>,
}

/// A running engine; cheap to share by reference across threads.
pub struct Engine {
    tx: Mutex<Option<SyncSender<Job>>>,
    worker: Option<JoinHandle<()>>,
    info: EngineInfo,
    input_len: usize,
}

static RUNTIME: OnceLock<(PathBuf, ort::environment::Environment)> = OnceLock::new();
static RUNTIME_INIT: Mutex<()> = Mutex::new(());

/// The library path the build script found in the onnxruntime wheel, if any.
pub fn build_time_library() -> Option<&'static str> {
    option_env!("GRANSKA_ORT_BUILD_PATH").filter(|s| !s.is_empty())
}

/// Loads ONNX Runtime once per process and returns its environment.
fn runtime(configured: Option<&Path>) -> Result<&'static (PathBuf, ort::environment::Environment), Error> {
    let _guard = RUNTIME_INIT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(rt) = RUNTIME.get() {
        if let Some(p) = configured.filter(|p| *p != rt.0) {
            tracing::warn!(requested = %p.display(), loaded = %rt.0.display(), "ONNX Runtime is already loaded in this process; using the loaded library");
        }
        return Ok(rt);
    }
    let env_path = std::env::var_os("ORT_DYLIB_PATH").filter(|s| !s.is_empty()).map(PathBuf::from);
    let (path, origin) = if let Some(p) = configured {
        (p.to_path_buf(), "configured ort_library")
    } else if let Some(p) = env_path {
        (p, "ORT_DYLIB_PATH")
    } else if let Some(p) = build_time_library() {
        (PathBuf::from(p), "path found at build time")
    } else {
        return Err(Error::RuntimeNotFound {
            tried: "no library configured, ORT_DYLIB_PATH unset, and none was found at build time".into(),
        });
    };
    if !path.is_file() {
        return Err(Error::RuntimeNotFound { tried: format!("{} ({origin}) does not exist", path.display()) });
    }
    let builder = ort::init_from(&path)
        .map_err(|e| Error::RuntimeNotFound { tried: format!("{} ({origin}) failed to load: {e}", path.display()) })?;
    let env = builder
        .with_name("granska")
        .build()
        .map_err(|e| Error::RuntimeNotFound { tried: format!("{} ({origin}): {e}", path.display()) })?;
    tracing::info!(library = %path.display(), origin, "loaded ONNX Runtime");
    Ok(RUNTIME.get_or_init(|| (path, env)))
}

impl Engine {
    /// Loads ONNX Runtime, creates the session, checks the graph against model.toml and starts
    /// the batching thread.
    pub fn start(model: &Model, config: &EngineConfig) -> Result<Engine, Error> {
        let (library, env) = runtime(config.ort_library.as_deref())?;
        let (mut session, device) = create_session(env, model, config)?;
        check_signature(&session, model)?;
        let card = &model.card;
        let (h, w) = (card.input.height(), card.input.width());
        let input_len = h * w;
        let info = EngineInfo {
            library: library.clone(),
            runtime: ort::info().to_string(),
            device,
            max_batch: card.input.fixed_batch().unwrap_or(config.max_batch.max(1)),
            intra_threads: config.intra_threads,
        };
        let (tx, rx) = mpsc::sync_channel::<Job>(config.queue.max(1));
        let spec = BatchSpec {
            input: card.input.name.clone(),
            output: card.output.name.clone(),
            h,
            w,
            max_batch: info.max_batch,
            fixed_batch: card.input.fixed_batch(),
            max_wait: config.max_wait,
        };
        let worker = std::thread::Builder::new()
            .name("granska-infer".into())
            .spawn(move || batch_loop(&mut session, &spec, rx))
            .map_err(|e| Error::Session {
                path: model.onnx_path.clone(),
                message: format!("cannot start thread: {e}"),
            })?;
        Ok(Engine { tx: Mutex::new(Some(tx)), worker: Some(worker), info, input_len })
    }

    /// What the engine runs on.
    pub fn info(&self) -> &EngineInfo {
        &self.info
    }

    /// Runs views (each `H × W` values) and returns their outputs in order. Views from
    /// concurrent callers share batches.
    pub fn infer(&self, views: Vec<Vec<f32>>) -> Result<Vec<Inferred>, Error> {
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner()).clone().ok_or(Error::EngineStopped)?;
        let mut replies = Vec::with_capacity(views.len());
        for input in views {
            if input.len() != self.input_len {
                return Err(Error::Inference {
                    message: format!("a view has {} values, the model takes {}", input.len(), self.input_len),
                });
            }
            let (reply, rx) = mpsc::sync_channel(1);
            tx.send(Job { input, reply }).map_err(|_| Error::EngineStopped)?;
            replies.push(rx);
        }
        replies
            .into_iter()
            .map(|rx| rx.recv().map_err(|_| Error::EngineStopped)?.map_err(|message| Error::Inference { message }))
            .collect()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

fn create_session(
    env: &ort::environment::Environment,
    model: &Model,
    config: &EngineConfig,
) -> Result<(Session, String), Error> {
    let session_err = |message: String| Error::Session { path: model.onnx_path.clone(), message };
    let build = |cuda: Option<i32>| -> Result<Session, Error> {
        let mut b = Session::builder(env).map_err(|e| session_err(e.to_string()))?;
        if config.intra_threads > 0 {
            b = b.with_intra_threads(config.intra_threads).map_err(|e| session_err(e.to_string()))?;
        }
        if let Some(id) = cuda {
            b = with_cuda(b, id)?;
        }
        b.commit_from_file(&model.onnx_path).map_err(|e| session_err(e.to_string()))
    };
    match config.device {
        Device::Cpu => Ok((build(None)?, "cpu".into())),
        Device::Cuda { device_id } => match build(Some(device_id)) {
            Ok(s) => Ok((s, format!("cuda:{device_id}"))),
            Err(e @ (Error::Cuda { .. } | Error::CudaNotBuilt)) if config.cuda_fallback_to_cpu => {
                tracing::error!(error = %e, "CUDA REQUESTED BUT UNAVAILABLE: FALLING BACK TO CPU (inference will be much slower)");
                Ok((build(None)?, "cpu (CUDA unavailable)".into()))
            }
            Err(e) => Err(e),
        },
    }
}

#[cfg(feature = "cuda")]
fn with_cuda(
    b: ort::session::builder::SessionBuilder,
    device_id: i32,
) -> Result<ort::session::builder::SessionBuilder, Error> {
    let ep = ort::ep::CUDA::default().with_device_id(device_id).build().error_on_failure();
    b.with_execution_providers([ep]).map_err(|e| Error::Cuda { message: e.to_string() })
}

#[cfg(not(feature = "cuda"))]
fn with_cuda(_: ort::session::builder::SessionBuilder, _: i32) -> Result<ort::session::builder::SessionBuilder, Error> {
    Err(Error::CudaNotBuilt)
}

fn check_signature(session: &Session, model: &Model) -> Result<(), Error> {
    let card = &model.card;
    let names = |o: &[ort::value::Outlet]| o.iter().map(|x| x.name().to_string()).collect::<Vec<_>>();
    let input = session.inputs().iter().find(|i| i.name() == card.input.name).ok_or_else(|| Error::Signature {
        what: format!("input name: model.toml says {:?}, the graph has {:?}", card.input.name, names(session.inputs())),
    })?;
    if session.inputs().len() != 1 {
        return Err(Error::Signature {
            what: format!("the graph takes {} inputs, expected one", session.inputs().len()),
        });
    }
    let dtype = input.dtype();
    if dtype.tensor_type() != Some(TensorElementType::Float32) {
        return Err(Error::Signature {
            what: format!("input {:?} is {dtype}, expected a float32 tensor", card.input.name),
        });
    }
    let shape: Vec<i64> = dtype.tensor_shape().map(|s| s.iter().copied().collect()).unwrap_or_default();
    let want = card.input.shape;
    let fits = shape.len() == 4 && shape.iter().zip(want).all(|(&g, t)| g == t || g < 0);
    if !fits {
        return Err(Error::Signature {
            what: format!("input shape: model.toml says {want:?}, the graph has {shape:?}"),
        });
    }
    let output = session.outputs().iter().find(|o| o.name() == card.output.name).ok_or_else(|| Error::Signature {
        what: format!(
            "output name: model.toml says {:?}, the graph has {:?}",
            card.output.name,
            names(session.outputs())
        ),
    })?;
    let oshape: Vec<i64> = output.dtype().tensor_shape().map(|s| s.iter().copied().collect()).unwrap_or_default();
    if !(oshape.len() == 1 || (oshape.len() == 2 && oshape[1] == 1)) {
        return Err(Error::Signature {
            what: format!("output {:?} has shape {oshape:?}, expected [N] or [N, 1]", card.output.name),
        });
    }
    Ok(())
}

struct BatchSpec {
    input: String,
    output: String,
    h: usize,
    w: usize,
    max_batch: usize,
    fixed_batch: Option<usize>,
    max_wait: Duration,
}

fn batch_loop(session: &mut Session, spec: &BatchSpec, rx: Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        let deadline = Instant::now() + spec.max_wait;
        while batch.len() < spec.max_batch {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(job) => batch.push(job),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        let started = Instant::now();
        let result = run_batch(session, spec, &batch);
        let run_ms = started.elapsed().as_secs_f64() * 1e3 / batch.len() as f64;
        match result {
            Ok(probs) => {
                for (job, p) in batch.into_iter().zip(probs) {
                    let _ = job.reply.send(Ok(Inferred { probability: p, run_ms }));
                }
            }
            Err(message) => {
                tracing::error!(%message, views = batch.len(), "inference failed");
                for job in batch {
                    let _ = job.reply.send(Err(message.clone()));
                }
            }
        }
    }
}

fn run_batch(session: &mut Session, spec: &BatchSpec, batch: &[Job]) -> Result<Vec<f32>, String> {
    let n = spec.fixed_batch.unwrap_or(batch.len());
    let per = spec.h * spec.w;
    let mut data = vec![0.0f32; n * per];
    for (chunk, job) in data.chunks_exact_mut(per).zip(batch) {
        chunk.copy_from_slice(&job.input);
    }
    let tensor = Tensor::from_array(([n, 1, spec.h, spec.w], data)).map_err(|e| e.to_string())?;
    let outputs = session.run(ort::inputs![spec.input.as_str() => tensor]).map_err(|e| e.to_string())?;
    let value = outputs.get(&spec.output).ok_or_else(|| format!("the graph returned no output {:?}", spec.output))?;
    let (shape, probs) = value.try_extract_tensor::<f32>().map_err(|e| e.to_string())?;
    if probs.len() != n {
        return Err(format!("output {:?} has shape {shape:?}, expected {n} values", spec.output));
    }
    if let Some(bad) = probs[..batch.len()].iter().find(|p| !p.is_finite()) {
        return Err(format!("the model returned a non-finite probability ({bad})"));
    }
    Ok(probs[..batch.len()].to_vec())
}
