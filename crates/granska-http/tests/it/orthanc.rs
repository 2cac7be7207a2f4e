//! A real STOW-RS sender: Orthanc with its DICOMweb plugin pushes a study to the edge (it
//! sends chunked bodies, and fails its job unless every instance is listed as stored).

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use granska_archive::ArchiveStore;

use crate::harness::{PACS, exam, post, roomy, start};

/// Orthanc in the foreground on free loopback ports; killed when dropped.
struct Orthanc {
    child: Child,
    http: SocketAddr,
    dir: tempfile::TempDir,
}

impl Drop for Orthanc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn orthanc(granska: SocketAddr) -> Orthanc {
    let dir = tempfile::tempdir().unwrap();
    let (http, dicom) = (free_port(), free_port());
    let config = serde_json::json!({
        "Name": "granska-test",
        "StorageDirectory": dir.path().join("db"),
        "IndexDirectory": dir.path().join("db"),
        "HttpPort": http,
        "DicomPort": dicom,
        "DicomAet": "PACS",
        "RemoteAccessAllowed": false,
        "AuthenticationEnabled": false,
        "Plugins": ["/usr/share/orthanc/plugins/libOrthancDicomWeb.so"],
        "DicomWeb": {
            "Enable": true,
            "Servers": {
                "granska": {
                    "Url": format!("http://{granska}/dicomweb/"),
                    "HttpHeaders": { "Authorization": format!("Bearer {PACS}") }
                }
            }
        }
    });
    let path = dir.path().join("orthanc.json");
    std::fs::write(&path, config.to_string()).unwrap();
    let log = std::fs::File::create(dir.path().join("orthanc.log")).unwrap();
    let child = Command::new("Orthanc")
        .arg(&path)
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("Orthanc is installed (scripts/setup.sh --test)");
    let orthanc = Orthanc { child, http: SocketAddr::from(([127, 0, 0, 1], http)), dir };
    let started = Instant::now();
    while tokio::net::TcpStream::connect(orthanc.http).await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "Orthanc did not start: {}", orthanc.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    orthanc
}

impl Orthanc {
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("orthanc.log")).unwrap_or_default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orthanc_pushes_a_study_by_stow_rs() {
    let server = start(roomy()).await;
    let orthanc = orthanc(server.addr).await;
    let (study, views) = exam(30);
    let mut study_id = String::new();
    for view in &views {
        let reply = post(orthanc.http, "/instances", None, Some("application/dicom"), view.clone()).await;
        assert_eq!(reply.status, 200, "{}\n{}", reply.text(), orthanc.log());
        let json: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        study_id = json["ParentStudy"].as_str().unwrap().to_owned();
    }
    let request = serde_json::json!({ "Resources": [study_id] }).to_string().into_bytes();
    let reply = post(orthanc.http, "/dicom-web/servers/granska/stow", None, Some("application/json"), request).await;
    assert_eq!(reply.status, 200, "{}\n{}", reply.text(), orthanc.log());
    assert_eq!(server.archive.study(&study).unwrap().map_or(0, |s| s.instances.len()), 4);
}
