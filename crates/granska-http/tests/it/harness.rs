//! A running core with the HTTP edge on a free port, fixed tokens, phantom views, and two
//! clients: hyper-util's for ordinary requests, a raw socket for chunked and malformed ones.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use granska_app::auth::{Authenticate, Principal};
use granska_app::{App, AppOptions, Caller, Edge};
use granska_archive::Archive;
use granska_http::HttpOptions;
use granska_phantom::{Options, Size};
use granska_types::Role;
use http_body_util::{BodyExt, Full};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const PACS: &str = "pacs-token";
pub const RADIOLOGIST: &str = "radiologist-token";
pub const ADMIN: &str = "admin-token";
pub const MG_FOR_PRESENTATION: &str = "1.2.840.10008.5.1.4.1.1.1.2";
pub const STOW_TYPE: &str = "multipart/related; type=\"application/dicom\"; boundary=\"granska-boundary\"";
pub const BOUNDARY: &str = "granska-boundary";

/// Fixed tokens → principals.
struct Tokens(HashMap<&'static str, Principal>);

impl Authenticate for Tokens {
    fn principal(&self, token: &str) -> Option<Principal> {
        self.0.get(token).cloned()
    }
}

pub fn admin() -> Caller {
    Caller { principal: "root".into(), role: Role::Admin, edge: Edge::Grpc }
}

/// The core and the edge in front of it; dropping it stops both.
pub struct Server {
    pub addr: SocketAddr,
    pub app: Arc<App>,
    pub archive: Arc<Archive>,
    _core: granska_app::testing::TestCore,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

/// Roomy limits: 64 MiB per instance, 256 MiB per request.
pub fn roomy() -> HttpOptions {
    HttpOptions {
        max_instance_bytes: 64 << 20,
        max_request_bytes: 256 << 20,
        accept_and_drop: vec![],
        max_requests: 16,
        ..HttpOptions::default()
    }
}

pub async fn start(options: HttpOptions) -> Server {
    start_with(options, 0).await
}

/// With the core refusing ingest while the data disk has less than `min_free_bytes` free.
pub async fn start_with(options: HttpOptions, min_free_bytes: u64) -> Server {
    // The edge's log lines, shown with a failing test's output (RUST_LOG=granska_http=debug).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let core = granska_app::testing::start(AppOptions { min_free_bytes, ..granska_app::testing::options() });
    let (app, archive) = (core.app.clone(), core.archive.clone());
    let tokens = Tokens(HashMap::from([
        (PACS, Principal { name: "pacs-1".into(), role: Role::Pacs }),
        (RADIOLOGIST, Principal { name: "alice".into(), role: Role::Radiologist }),
        (ADMIN, Principal { name: "root".into(), role: Role::Admin }),
    ]));
    let router = granska_http::router(app.clone(), Arc::new(tokens), options);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (shutdown, down) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(granska_http::serve(listener, router, async move {
        let _ = down.await;
    }));
    Server { addr, app, archive, _core: core, _shutdown: shutdown }
}

/// The four views of phantom exam `seed` as Part 10 bytes, and its Study Instance UID.
pub fn exam(seed: u64) -> (String, Vec<Vec<u8>>) {
    let exam = granska_phantom::generate_exam(seed, 0, &Options { size: Size::Small, ..Options::default() });
    let views = (0..4)
        .map(|v| {
            let mut bytes = Vec::new();
            granska_phantom::to_dicom(&exam, v).write_all(&mut bytes).unwrap();
            bytes
        })
        .collect();
    (exam.study_uid.clone(), views)
}

/// A multipart/related body with `BOUNDARY`: each part with its Content-Type.
pub fn body(parts: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (content_type, bytes) in parts {
        out.extend_from_slice(format!("--{BOUNDARY}\r\nContent-Type: {content_type}\r\n\r\n").as_bytes());
        out.extend_from_slice(bytes);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    out
}

/// An answer: status, headers (names lower-case), body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        assert_eq!(self.header("content-type"), Some("application/dicom+json"), "{self:?}");
        serde_json::from_slice(&self.body).unwrap()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// POSTs with hyper-util's client.
pub async fn post(
    addr: SocketAddr,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Reply {
    let client =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut request = hyper::Request::post(format!("http://{addr}{path}"));
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response = client.request(request.body(Full::new(Bytes::from(body))).unwrap()).await.unwrap();
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let body = response.into_body().collect().await.unwrap().to_bytes().to_vec();
    Reply { status, headers, body }
}

/// Writes `head` and then `body` (in a task of its own, ignoring write errors: the server may
/// answer before it has read everything) on a raw socket, and reads the answer.
pub async fn raw(addr: SocketAddr, head: String, body: Vec<u8>) -> Reply {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let writing = tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await?;
        for chunk in body.chunks(16 << 10) {
            writer.write_all(chunk).await?;
        }
        writer.flush().await?;
        Ok::<_, std::io::Error>(writer)
    });
    let reply = tokio::time::timeout(Duration::from_secs(30), read_reply(&mut reader)).await.expect("an answer");
    drop(writing);
    reply
}

/// A chunked request: `body` sent as chunks of `chunk` bytes.
pub fn chunked(body: &[u8], chunk: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in body.chunks(chunk) {
        out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// Reads one HTTP/1.1 answer with a Content-Length (what axum sends for these bodies).
async fn read_reply(reader: &mut tokio::net::tcp::OwnedReadHalf) -> Reply {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = reader.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed before an answer: {:?}", String::from_utf8_lossy(&buffer));
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buffer[..head_end].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers.iter().find(|(n, _)| n == "content-length").map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = buffer[head_end + 4..].to_vec();
    while body.len() < length {
        let n = reader.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed inside the answer's body");
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    Reply { status, headers, body }
}

/// Stores an exam through the core as a PACS would (the edge under test is the station's).
pub async fn push_exam(server: &Server, seed: u64) -> String {
    let (study, views) = exam(seed);
    let pacs = granska_app::Caller {
        principal: "pacs-1".into(),
        role: granska_types::Role::Pacs,
        edge: granska_app::Edge::Grpc,
    };
    for (i, view) in views.into_iter().enumerate() {
        server.app.ingest(&pacs, view, format!("view {i}")).await.unwrap();
    }
    study
}

/// [`push_exam`], then waits until the core has routed it.
pub async fn push_routed(server: &Server, seed: u64) -> String {
    let study = push_exam(server, seed).await;
    let uid = granska_types::Uid::parse(&study).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while server.app.get_study(&admin(), &uid).await.unwrap().record.state != granska_types::StudyState::Routed {
        assert!(std::time::Instant::now() < deadline, "not routed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    study
}
