//! A server in-process on port 0 with one token per role, gRPC clients, and phantom exams.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use granska_phantom::{Exam, Options, Size};
use granska_server::Config;
use granska_server::auth::token_sha256;
use granska_server::config::TokenEntry;
use granska_server::proto::v1 as pb;
use tokio_stream::StreamExt;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// (principal, role, token)
pub const PRINCIPALS: [(&str, &str, &str); 6] = [
    ("pacs-1", "pacs", "token-pacs"),
    ("alice", "radiologist", "token-alice"),
    ("bob", "radiologist", "token-bob"),
    ("carol", "radiologist", "token-carol"),
    ("rita", "researcher", "token-rita"),
    ("root", "admin", "token-admin"),
];

pub fn token_of(principal: &str) -> &'static str {
    PRINCIPALS.iter().find(|p| p.0 == principal).expect("known principal").2
}

pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub struct TestServer {
    pub addr: SocketAddr,
    /// Where `/metrics` is served.
    pub metrics_addr: SocketAddr,
    /// The CA to trust when the server runs TLS.
    pub tls_ca: Option<Vec<u8>>,
    /// Its file.
    pub tls_ca_file: Option<PathBuf>,
    pub data: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: tokio::task::JoinHandle<Result<(), granska_server::ServerError>>,
}

pub fn config(policy: &str, data_dir: &std::path::Path) -> Config {
    let mut config = Config::default();
    config.server.data_dir = data_dir.to_path_buf();
    config.model.dir = workspace_root().join(granska_model::SHIPPED_MODEL);
    config.model.threads = 1;
    config.policy.name = policy.into();
    config.ingest.quiet_period_s = 2;
    config.auth.tokens = PRINCIPALS
        .iter()
        .map(|(p, r, t)| TokenEntry { principal: (*p).into(), role: (*r).into(), token_sha256: token_sha256(t) })
        .collect();
    config
}

impl TestServer {
    pub async fn start(policy: &str) -> TestServer {
        let data = tempfile::tempdir().unwrap();
        Self::start_with(config(policy, data.path()), data).await
    }

    pub async fn start_with(config: Config, data: tempfile::TempDir) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let metrics = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (addr, metrics_addr) = (listener.local_addr().unwrap(), metrics.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(granska_server::serve(
            config.clone(),
            granska_server::Listeners { grpc: listener, metrics: Some(metrics), dicom: None, http: None },
            async move {
                let _ = stopped.await;
            },
        ));
        let tls_ca = config.server.tls.as_ref().map(|t| std::fs::read(&t.cert_file).unwrap());
        let tls_ca_file = config.server.tls.as_ref().map(|t| t.cert_file.clone());
        let server = TestServer { addr, metrics_addr, tls_ca, tls_ca_file, data, stop: Some(stop), handle };
        // Ready when it answers a health check.
        let started = Instant::now();
        loop {
            if let Ok(ch) = server.try_channel("root").await {
                let mut health = tonic_health::pb::health_client::HealthClient::new(ch);
                if health.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await.is_ok() {
                    return server;
                }
            }
            assert!(!server.handle.is_finished(), "server exited during start-up");
            assert!(started.elapsed() < Duration::from_secs(60), "server did not become ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn try_channel(&self, principal: &str) -> Result<Authed, tonic::transport::Error> {
        let channel = match &self.tls_ca {
            None => Channel::from_shared(format!("http://{}", self.addr)).unwrap().connect().await?,
            Some(ca) => {
                let tls = tonic::transport::ClientTlsConfig::new()
                    .ca_certificate(tonic::transport::Certificate::from_pem(ca))
                    .domain_name("localhost");
                Channel::from_shared(format!("https://{}", self.addr)).unwrap().tls_config(tls)?.connect().await?
            }
        };
        Ok(with_token(channel, Some(token_of(principal))))
    }

    pub async fn channel(&self, principal: &str) -> Authed {
        self.try_channel(principal).await.unwrap()
    }

    /// The typed client (`granska-client`, as the CLI uses it) connected as `principal`.
    pub async fn client(&self, principal: &str) -> granska_client::Client {
        let url = match &self.tls_ca_file {
            None => format!("http://{}", self.addr),
            // The test certificate names `localhost`.
            Some(_) => format!("https://localhost:{}", self.addr.port()),
        };
        granska_client::Client::connect_with_token(&url, token_of(principal), self.tls_ca_file.as_deref())
            .await
            .unwrap()
    }

    pub async fn ingest(&self, principal: &str) -> pb::ingest_client::IngestClient<granska_client::Authed> {
        self.client(principal).await.ingest()
    }

    pub async fn worklist(&self, principal: &str) -> pb::worklist_client::WorklistClient<granska_client::Authed> {
        self.client(principal).await.worklist()
    }

    /// The `/metrics` text.
    pub async fn metrics(&self) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(self.metrics_addr).await.unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).await.unwrap();
        text
    }

    /// The value of one metric line (`name{labels}` as printed), 0 when absent.
    pub async fn metric(&self, name: &str) -> f64 {
        self.metrics()
            .await
            .lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')).map(|v| v.trim().parse().unwrap()))
            .unwrap_or(0.0)
    }

    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.handle.await.unwrap().unwrap();
    }
}

#[derive(Clone)]
pub struct Token(Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>);

impl tonic::service::Interceptor for Token {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(t) = &self.0 {
            req.metadata_mut().insert("authorization", t.clone());
        }
        Ok(req)
    }
}

pub type Authed = InterceptedService<Channel, Token>;

pub fn with_token(channel: Channel, token: Option<&str>) -> Authed {
    InterceptedService::new(channel, Token(token.map(|t| format!("Bearer {t}").parse().unwrap())))
}

/// Exam `i` of `seed`, small size.
pub fn exam(seed: u64, i: u64) -> Exam {
    granska_phantom::generate_exam(seed, i, &Options { size: Size::Small, ..Options::default() })
}

/// The four instances of an exam as Part 10 bytes, L-CC, L-MLO, R-CC, R-MLO.
pub fn exam_files(exam: &Exam) -> Vec<Vec<u8>> {
    (0..4)
        .map(|v| {
            let mut bytes = Vec::new();
            granska_phantom::to_dicom(exam, v).write_all(&mut bytes).unwrap();
            bytes
        })
        .collect()
}

/// Uploads `(name, bytes)` instances over one stream in 64 KiB chunks; the results in order.
pub async fn upload(
    client: &mut pb::ingest_client::IngestClient<granska_client::Authed>,
    files: Vec<(String, Vec<u8>)>,
) -> Result<Vec<pb::InstanceResult>, tonic::Status> {
    let mut chunks = Vec::new();
    for (name, bytes) in files {
        let parts: Vec<&[u8]> = if bytes.is_empty() { vec![&[][..]] } else { bytes.chunks(64 << 10).collect() };
        let n = parts.len();
        for (i, part) in parts.into_iter().enumerate() {
            chunks.push(pb::UploadChunk { instance_ref: name.clone(), data: part.to_vec(), last: i + 1 == n });
        }
    }
    let mut stream = client.upload(tokio_stream::iter(chunks)).await?.into_inner();
    let mut results = Vec::new();
    while let Some(r) = stream.next().await {
        results.push(r?);
    }
    Ok(results)
}

/// Pushes whole exams; asserts every instance is stored.
pub async fn push_exams(server: &TestServer, exams: &[Exam]) {
    let mut client = server.ingest("pacs-1").await;
    let files: Vec<(String, Vec<u8>)> = exams
        .iter()
        .flat_map(|e| exam_files(e).into_iter().enumerate().map(move |(v, b)| (format!("{}-{v}", e.study_uid), b)))
        .collect();
    let n = files.len();
    let results = upload(&mut client, files).await.unwrap();
    assert_eq!(results.len(), n);
    for r in &results {
        assert_eq!(r.outcome, pb::instance_result::Outcome::Stored as i32, "{r:?}");
    }
}

/// Waits until GetStudy says the study is routed; returns it.
pub async fn wait_routed(server: &TestServer, study_uid: &str) -> pb::Study {
    let mut client = server.ingest("root").await;
    let started = Instant::now();
    loop {
        let study = client.get_study(pb::GetStudyRequest { study_instance_uid: study_uid.into() }).await;
        if let Ok(s) = study
            && s.get_ref().state == pb::StudyState::Routed as i32
            && s.get_ref().routing.is_some()
        {
            return s.into_inner();
        }
        assert!(started.elapsed() < Duration::from_secs(120), "study {study_uid} was not routed in time");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The domain word of a received enum field (`double`, `extra-high`, …).
pub fn word<D: granska_proto::Vocabulary>(value: i32) -> String {
    granska_proto::name::<D>(value)
}
