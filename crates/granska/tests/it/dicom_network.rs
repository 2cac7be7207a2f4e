//! The DICOM network edge as a hospital connects it: Orthanc (Debian's `orthanc` with its
//! DICOMweb plugin) as the PACS forwards one study by C-STORE (Lua `OnStableStudy`) and one by
//! its STOW-RS client, both reach the worklist, and Granska's CAD SRs arrive back in Orthanc;
//! and the SR outbox across a SIGKILL: the destination down, Granska killed and restarted, the
//! destination up, every SR delivered exactly once.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::service::{Served, json, serve_full};
use super::{granska, phantoms, run_ok, workspace_root};

/// dcmtk's storescu (Debian's dcmtk): pynetdicom, in the test venv, puts its own `storescu` first
/// on PATH.
const DCMTK_STORESCU: &str = "/usr/bin/storescu";

/// A peer process (Orthanc, a receiver), killed when dropped.
struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free loopback port (bound, then released for the peer to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One HTTP/1.1 request with `Connection: close`: `(status, body)`. A connection reset before
/// an answer is retried (Orthanc's embedded server resets a few under load); every request
/// the tests send is idempotent (storing the same instance again changes nothing).
fn http(method: &str, port: u16, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, Vec<u8>) {
    let mut attempt = 0;
    loop {
        match try_http(method, port, path, headers, body) {
            Ok(answer) => return answer,
            Err(e) if attempt < 5 => {
                attempt += 1;
                eprintln!("{method} {path}: {e}; retrying");
                std::thread::sleep(Duration::from_millis(200 * attempt));
            }
            Err(e) => panic!("{method} 127.0.0.1:{port}{path}: {e}"),
        }
    }
}

fn try_http(
    method: &str,
    port: u16,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| bad("no HTTP answer"))?;
    let head_text = String::from_utf8_lossy(&answer[..split]).into_owned();
    let status = head_text
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status code"))?;
    let mut body = answer[split + 4..].to_vec();
    if head_text.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body = unchunk(&body);
    }
    Ok((status, body))
}

fn unchunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = data.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&data[..end]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[end + 2..end + 2 + size]);
        data = &data[end + 2 + size + 2..];
    }
    out
}

fn orthanc_json(port: u16, method: &str, path: &str, body: &str) -> serde_json::Value {
    let (status, answer) = http(method, port, path, &[("Content-Type", "application/json")], body.as_bytes());
    assert!(
        (200..300).contains(&status),
        "Orthanc {method} {path}: HTTP {status}: {}",
        String::from_utf8_lossy(&answer)
    );
    serde_json::from_slice(&answer).unwrap_or(serde_json::Value::Null)
}

/// Orthanc as the PACS on `dicom_port` and `http_port`: AE `PACS`, forwarding every stable
/// study whose description is not `STOW` to Granska by C-STORE (one association), and knowing
/// Granska as a DICOMweb server that takes `token`.
fn start_orthanc(dir: &Path, served: &Served, token: &str, dicom_port: u16, http_port: u16) -> Peer {
    let (granska_http, (host, port)) = (&served.http, served.dicom.rsplit_once(':').unwrap());
    std::fs::write(
        dir.join("forward.lua"),
        "function OnStableStudy(studyId, tags, metadata)\n\
           if tags['StudyDescription'] ~= 'STOW' then\n\
             RestApiPost('/modalities/granska/store', DumpJson({Resources={studyId}, Synchronous=true}), false)\n\
           end\n\
         end\n",
    )
    .unwrap();
    let config = serde_json::json!({
        "Name": "granska-test-pacs",
        "StorageDirectory": dir.join("storage"),
        "IndexDirectory": dir.join("index"),
        "DicomAet": "PACS",
        "DicomPort": dicom_port,
        "HttpPort": http_port,
        "RemoteAccessAllowed": false,
        "AuthenticationEnabled": false,
        "DicomCheckCalledAet": false,
        "StableAge": 1,
        "DicomModalities": { "granska": ["GRANSKA", host, port.parse::<u16>().unwrap()] },
        "LuaScripts": [dir.join("forward.lua")],
        "Plugins": ["/usr/share/orthanc/plugins/libOrthancDicomWeb.so"],
        "DicomWeb": {
            "Enable": true,
            "Root": "/dicom-web/",
            "Servers": {
                "granska": {
                    "Url": format!("http://{granska_http}/dicomweb/"),
                    "HttpHeaders": { "Authorization": format!("Bearer {token}") }
                }
            }
        }
    });
    let config_file = dir.join("orthanc.json");
    std::fs::write(&config_file, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    let child = Command::new("Orthanc")
        .arg("--verbose")
        .arg(&config_file)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("orthanc.log")).unwrap())
        .spawn()
        .expect("Orthanc runs (Debian's orthanc package, installed by scripts/setup.sh --test)");
    let peer = Peer(child);
    // Ready when our Orthanc (not another process that took the port) answers.
    let started = Instant::now();
    while !try_http("GET", http_port, "/system", &[], b"")
        .is_ok_and(|(status, body)| status == 200 && String::from_utf8_lossy(&body).contains("granska-test-pacs"))
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "Orthanc did not start: see {}",
            dir.join("orthanc.log").display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    peer
}

/// A token for `role` and its `[[auth.tokens]]` entry, made by `granska token`.
pub(super) fn token(principal: &str, role: &str) -> (String, String) {
    let out = granska(&["token", "--principal", principal, "--role", role]);
    assert!(out.status.success());
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let entry = stderr.split("add to the server's config:").nth(1).expect("config entry printed").trim().to_owned();
    (token, entry)
}

/// `granska study UID --json` once its routing's report is in `state`.
fn wait_for_report(served: &Served, admin: &str, study: &str, state: &str, within: Duration) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let out = granska(&["study", "--server", &served.grpc, "--token", admin, "--json", study]);
        if out.status.success() {
            let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            if s["state"] == "routed"
                && s["reports"].as_array().is_some_and(|r| r.last().is_some_and(|r| r["state"] == state))
            {
                return s;
            }
            assert!(started.elapsed() < within, "study {study}: no {state} report in {within:?}: {s:#}");
        } else {
            assert!(
                started.elapsed() < within,
                "study {study} never arrived: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

pub(super) fn study_dirs(root: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> =
        std::fs::read_dir(root).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    dirs
}

fn dcm_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "dcm"))
        .collect();
    files.sort();
    files
}

pub(super) fn admin_token(data: &Path) -> String {
    let text = std::fs::read_to_string(data.join("tokens.toml")).unwrap();
    let parsed: toml::Value = toml::from_str(&text).unwrap();
    parsed["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["role"].as_str() == Some("admin"))
        .and_then(|t| t["token"].as_str())
        .unwrap()
        .to_owned()
}

#[test]
fn orthanc_forwards_by_c_store_and_stow_and_receives_the_cad_srs() {
    let work = tempfile::tempdir().unwrap();
    let (data, images, pacs) = (work.path().join("data"), work.path().join("images"), work.path().join("pacs"));
    std::fs::create_dir_all(&pacs).unwrap();
    phantoms(&images, 2, 31, &[]);
    let studies = study_dirs(&images);
    // The second study goes by STOW: Orthanc's Lua forwards every other study by C-STORE.
    let stow_files = dcm_files(&studies[1]);
    let status =
        Command::new("/usr/bin/dcmodify").args(["-nb", "-m", "(0008,1030)=STOW"]).args(&stow_files).status().unwrap();
    assert!(status.success(), "dcmodify");

    let (pacs_token, pacs_entry) = token("orthanc-stow", "pacs");
    let (admin, admin_entry) = token("root", "admin");
    // Orthanc's ports are needed in Granska's config and Granska's in Orthanc's: Granska
    // first, on fixed free ports.
    let (orthanc_dicom, orthanc_http) = (free_port(), free_port());
    let config = work.path().join("granska.toml");
    std::fs::write(
        &config,
        format!(
            "[ingest]\nquiet_period_s = 600\n\n[results]\ndestination = \"PACS@127.0.0.1:{orthanc_dicom}\"\nretry_backoff_s = 1\n\n\
             [[dicom.peers]]\nae_title = \"PACS\"\nhost = \"127.0.0.1\"\nprincipal = \"orthanc\"\n\n{pacs_entry}\n\n{admin_entry}\n"
        ),
    )
    .unwrap();
    let served = serve_full(&data, Some(&config), &[]);
    let _orthanc = start_orthanc(&pacs, &served, &pacs_token, orthanc_dicom, orthanc_http);
    let http_port = orthanc_http;

    let mut orthanc_ids = Vec::new();
    for dir in &studies {
        for file in dcm_files(dir) {
            let (status, answer) = http(
                "POST",
                http_port,
                "/instances",
                &[("Content-Type", "application/dicom")],
                &std::fs::read(&file).unwrap(),
            );
            assert_eq!(status, 200, "Orthanc stores {}: {}", file.display(), String::from_utf8_lossy(&answer));
            let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
            orthanc_ids.push(answer["ParentStudy"].as_str().unwrap().to_owned());
        }
    }
    let uid = |dir: &PathBuf| dir.file_name().unwrap().to_str().unwrap().to_owned();
    let (by_c_store, by_stow) = (uid(&studies[0]), uid(&studies[1]));
    // Study A: Orthanc's OnStableStudy → C-STORE of the whole study in one association; it is
    // scored, routed and its SR is stored in Orthanc.
    let a = wait_for_report(&served, &admin, &by_c_store, "sent", Duration::from_secs(120));
    assert_eq!(a["completion"], "four-views", "{a:#}");
    // Study B: Orthanc's STOW-RS client.
    let stow_study = orthanc_ids.last().unwrap();
    let stow = format!("{{\"Resources\":[\"{stow_study}\"]}}");
    let (status, answer) = http("POST", http_port, "/dicom-web/servers/granska/stow", &[], stow.as_bytes());
    let log = std::fs::read_to_string(pacs.join("orthanc.log")).unwrap_or_default();
    assert_eq!(status, 200, "Orthanc's STOW client: {}\n{log}", String::from_utf8_lossy(&answer));
    let b = wait_for_report(&served, &admin, &by_stow, "sent", Duration::from_secs(120));
    assert_eq!(b["views"].as_array().unwrap().len(), 4, "{b:#}");
    assert!(b["reports"][0]["destination"].as_str().unwrap().starts_with("PACS@127.0.0.1:"));

    // Both SRs are in Orthanc, by SOP Instance UID, in their studies.
    let found = orthanc_json(
        http_port,
        "POST",
        "/tools/find",
        r#"{"Level":"Instance","Query":{"Modality":"SR"},"Expand":true}"#,
    );
    let mut in_pacs: Vec<String> = found
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["MainDicomTags"]["SOPInstanceUID"].as_str().unwrap().to_owned())
        .collect();
    in_pacs.sort();
    let mut sent = vec![
        a["reports"][0]["sop_instance_uid"].as_str().unwrap().to_owned(),
        b["reports"][0]["sop_instance_uid"].as_str().unwrap().to_owned(),
    ];
    sent.sort();
    assert_eq!(in_pacs, sent, "Orthanc holds exactly Granska's SRs");
    // The worklist holds both exams; the audit names the DICOM peer.
    let audit = run_ok(&["audit", "--data-dir", data.to_str().unwrap(), "--study", &by_c_store]);
    assert!(audit.contains("orthanc"), "{audit}");
}

#[test]
fn the_sr_outbox_survives_sigkill_and_delivers_every_report_exactly_once() {
    let work = tempfile::tempdir().unwrap();
    let (data, images) = (work.path().join("data"), work.path().join("images"));
    // Full-size exams (2294 × 1914, 8.8 MB a view), as a PACS sends them.
    phantoms(&images, 2, 47, &["--size", "full"]);
    let studies = study_dirs(&images);
    let receiver_port = free_port();
    let config = work.path().join("granska.toml");
    std::fs::write(
        &config,
        format!("[ingest]\nquiet_period_s = 600\n\n[results]\ndestination = \"PACS@127.0.0.1:{receiver_port}\"\nretry_backoff_s = 1\n"),
    )
    .unwrap();
    let mut served = serve_full(&data, Some(&config), &[]);
    let admin = admin_token(&data);
    // dcmtk's storescu sends each exam in one association. The second exam lacks a view: the
    // release of its association completes it (the quiet period is ten minutes).
    let (host, port) = served.dicom.rsplit_once(':').unwrap();
    for (i, dir) in studies.iter().enumerate() {
        let files = dcm_files(dir);
        let out = Command::new(DCMTK_STORESCU)
            .args(["-aet", "PACS", "-aec", "GRANSKA", host, port])
            .args(&files[..files.len() - i])
            .output()
            .unwrap();
        assert!(out.status.success(), "storescu: {}", String::from_utf8_lossy(&out.stderr));
    }
    let uids: Vec<String> = studies.iter().map(|d| d.file_name().unwrap().to_str().unwrap().to_owned()).collect();
    // The destination is down: the reports wait, attempted and pending.
    let mut pending = Vec::new();
    for uid in &uids {
        let started = Instant::now();
        loop {
            let s = wait_for_report(&served, &admin, uid, "pending", Duration::from_secs(120));
            let expected = if *uid == uids[0] { "four-views" } else { "association-released" };
            assert_eq!(s["completion"], expected, "{s:#}");
            let r = &s["reports"][0];
            if r["attempts"].as_u64().unwrap() >= 1 {
                assert!(r["last_status"].as_str().unwrap().contains("cannot connect"), "{r:#}");
                pending.push(r["sop_instance_uid"].as_str().unwrap().to_owned());
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "no attempt recorded: {r:#}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    served.server.kill();

    let log = work.path().join("received.jsonl");
    let received = work.path().join("received");
    let python = std::env::var("GRANSKA_PYTHON")
        .unwrap_or_else(|_| workspace_root().join(".venv/bin/python").display().to_string());
    let mut receiver = Command::new(python)
        .arg(workspace_root().join("crates/granska/tests/peers/sr_receiver.py"))
        .args([&receiver_port.to_string(), "PACS", log.to_str().unwrap(), received.to_str().unwrap()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("the pynetdicom receiver starts");
    let mut ready = String::new();
    BufReader::new(receiver.stdout.take().unwrap()).read_line(&mut ready).unwrap();
    assert_eq!(ready.trim(), "listening");
    let _receiver = Peer(receiver);

    let served = serve_full(&data, Some(&config), &[]);
    for uid in &uids {
        wait_for_report(&served, &admin, uid, "sent", Duration::from_secs(120));
    }
    // Exactly once each, by SOP Instance UID; nothing else.
    std::thread::sleep(Duration::from_secs(3));
    let mut delivered: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["sop_instance_uid"].as_str().unwrap().to_owned())
        .collect();
    delivered.sort();
    pending.sort();
    assert_eq!(delivered, pending);

    // What was delivered is what `granska report` writes, and it is a valid SR.
    let sr = work.path().join("sr.dcm");
    run_ok(&["report", "--server", &served.grpc, "--token", &admin, &uids[0], "-o", sr.to_str().unwrap()]);
    let s = json(&["study", "--server", &served.grpc, "--token", &admin, "--json", &uids[0]]);
    let sop = s["reports"][0]["sop_instance_uid"].as_str().unwrap();
    assert!(received.join(format!("{sop}.dcm")).is_file(), "the destination holds report {sop}");
    let out = Command::new("/usr/bin/dciodvfy").arg("-filename").arg(&sr).output().unwrap();
    let report = String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(!report.lines().any(|l| l.starts_with("Error")), "dciodvfy: {report}");
}
