//! A real core and the SCP on 127.0.0.1:0, phantom exams as files, and helpers to run dcmtk and
//! wait for a study's routing.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use granska_app::{App, AppOptions, Caller, Edge, StudyView};
use granska_dimse::ScpOptions;
use granska_phantom::{Options, Size};
use granska_types::{Role, StudyState, Uid};

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The core and the SCP serving it.
pub struct Scp {
    pub app: Arc<App>,
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<Result<(), granska_dimse::DimseError>>>,
    /// The core (stopped and its data removed when dropped).
    _core: granska_app::testing::TestCore,
}

/// Core settings a test changes.
pub struct CoreOptions {
    pub quiet: Duration,
    pub max_instance_bytes: usize,
}

impl Default for CoreOptions {
    fn default() -> Self {
        CoreOptions { quiet: Duration::from_secs(600), max_instance_bytes: 64 << 20 }
    }
}

pub fn start_core(options: &CoreOptions) -> granska_app::testing::TestCore {
    granska_app::testing::start(AppOptions {
        quiet: options.quiet,
        max_instance_bytes: options.max_instance_bytes,
        ..granska_app::testing::options()
    })
}

impl Scp {
    /// A core (quiet period 10 minutes unless changed) and the SCP `GRANSKA` on a free port.
    pub async fn start(options: ScpOptions) -> Scp {
        Scp::start_with(options, &CoreOptions::default()).await
    }

    pub async fn start_with(options: ScpOptions, core: &CoreOptions) -> Scp {
        let core = start_core(core);
        let app = core.app.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(granska_dimse::serve(listener, app.clone(), options, async {
            let _ = stopped.await;
        }));
        Scp { app, addr, stop: Some(stop), served: Some(served), _core: core }
    }

    pub fn port(&self) -> String {
        self.addr.port().to_string()
    }

    /// Stops the SCP and checks that `serve` returned cleanly.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(served) = self.served.take() {
            tokio::time::timeout(Duration::from_secs(20), served).await.unwrap().unwrap().unwrap();
        }
    }

    /// The count of a labelled metric line, e.g. `granska_dicom_associations_total{outcome="refused"}`.
    pub fn metric(&self, line_prefix: &str) -> u64 {
        self.app
            .metrics()
            .render()
            .lines()
            .find_map(|l| l.strip_prefix(line_prefix).map(|v| v.trim().parse::<f64>().unwrap() as u64))
            .unwrap_or(0)
    }

    /// Waits (up to 20 s) for a metric to reach `expected`, then checks it is exactly that: an
    /// association is counted just after its last answer, when the peer may already be gone.
    pub async fn wait_metric(&self, line_prefix: &str, expected: u64) {
        let started = Instant::now();
        while self.metric(line_prefix) < expected && started.elapsed() < Duration::from_secs(20) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(self.metric(line_prefix), expected, "{line_prefix}");
    }

    /// Waits (up to 60 s) until the study is routed.
    pub async fn wait_routed(&self, study_uid: &str) -> StudyView {
        let uid = Uid::parse(study_uid).unwrap();
        let started = Instant::now();
        loop {
            let study = self.app.get_study(&admin(), &uid).await;
            if let Ok(s) = &study
                && s.record.state == StudyState::Routed
            {
                return study.unwrap();
            }
            let state = study.map(|s| (s.record.state, s.record.completion, s.record.instances.len()));
            assert!(started.elapsed() < Duration::from_secs(60), "study {study_uid} never routed: {state:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The study as stored now (`None` if unknown).
    pub async fn study(&self, study_uid: &str) -> Option<StudyView> {
        self.app.get_study(&admin(), &Uid::parse(study_uid).unwrap()).await.ok()
    }
}

impl Drop for Scp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub fn admin() -> Caller {
    Caller { principal: "root".into(), role: Role::Admin, edge: Edge::Grpc }
}

/// SCP options for tests: AE `GRANSKA`, a 5 s idle timeout unless changed.
pub fn scp_options() -> ScpOptions {
    ScpOptions { idle_timeout: Duration::from_secs(5), ..ScpOptions::new("GRANSKA") }
}

pub fn exam(seed: u64, index: u64) -> granska_phantom::Exam {
    granska_phantom::generate_exam(seed, index, &Options { size: Size::Small, ..Options::default() })
}

/// The exam's four views as Part 10 bytes.
pub fn exam_files(exam: &granska_phantom::Exam) -> Vec<Vec<u8>> {
    (0..exam.views.len())
        .map(|v| {
            let mut bytes = Vec::new();
            granska_phantom::to_dicom(exam, v).write_all(&mut bytes).unwrap();
            bytes
        })
        .collect()
}

/// Writes files to `dir` as `view<i>.dcm`; their paths.
pub fn write_files(dir: &Path, files: &[Vec<u8>]) -> Vec<PathBuf> {
    files
        .iter()
        .enumerate()
        .map(|(i, bytes)| {
            let path = dir.join(format!("view{i}.dcm"));
            std::fs::write(&path, bytes).unwrap();
            path
        })
        .collect()
}

/// The dcmtk program `name` on PATH: the first whose `--version` says dcmtk (pynetdicom's venv
/// also has an `echoscu` and a `storescu`, with other options).
pub fn dcmtk_tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .filter(|candidate| candidate.is_file())
        .find(|candidate| {
            std::process::Command::new(candidate)
                .arg("--version")
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("dcmtk"))
        })
        .unwrap_or_else(|| {
            panic!("dcmtk's {name} is not on PATH: apt-get install dcmtk (scripts/setup.sh --test does)")
        })
}

/// Runs a dcmtk tool (off the async threads); `(success, stdout + stderr)`.
pub async fn dcmtk(tool: &str, args: Vec<String>) -> (bool, String) {
    let tool = dcmtk_tool(tool);
    tokio::task::spawn_blocking(move || {
        let output = std::process::Command::new(&tool).args(&args).output().unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}): install dcmtk (`source scripts/setup.sh --test` puts it on PATH)",
                tool.display()
            )
        });
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        (output.status.success(), text)
    })
    .await
    .unwrap()
}

/// Halves a view's pixel data, keeping the header valid: it is stored, and fails when decoded.
pub fn halve_pixels(bytes: &[u8]) -> Vec<u8> {
    let at = bytes.windows(8).rposition(|w| w == b"\xe0\x7f\x10\x00OW\x00\x00").unwrap();
    let len = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
    let mut short = bytes[..at + 8].to_vec();
    short.extend_from_slice(&((len / 2) as u32).to_le_bytes());
    short.extend_from_slice(&bytes[at + 12..at + 12 + len / 2]);
    short
}

/// `$GRANSKA_PYTHON`, else the workspace's venv.
pub fn python() -> PathBuf {
    let python = std::env::var_os("GRANSKA_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"));
    assert!(
        python.exists(),
        "{} missing: run `source scripts/setup.sh --test` (it installs pynetdicom)",
        python.display()
    );
    python
}
