//! The reading station's sessions over real sockets: a radiologist's token is exchanged for a
//! cookie (flags as specified), a PACS token cannot sign in, the session names its CSRF token,
//! a state-changing request without it or from another site is refused, sign-out ends the
//! session, and an unused session expires.

use std::time::Duration;

use granska_http::HttpOptions;
use granska_http::session::SessionOptions;

use crate::harness::{PACS, RADIOLOGIST, Reply, raw, roomy, start};

fn request(addr: std::net::SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        head += &format!("{name}: {value}\r\n");
    }
    head + "Connection: close\r\n\r\n"
}

pub(crate) async fn send(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    raw(addr, request(addr, method, path, headers, body), body.as_bytes().to_vec()).await
}

pub(crate) const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

/// Signs in with `token`: `(cookie header value, csrf token)`.
pub(crate) async fn sign_in(addr: std::net::SocketAddr, token: &str) -> (String, String) {
    let reply = send(addr, "POST", "/web/sign-in", &[FORM], &format!("token={token}")).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let set_cookie = reply.header("set-cookie").expect("a session cookie").to_owned();
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let session: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    (cookie, session["csrf_token"].as_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_radiologist_signs_in_with_a_token_and_out_with_the_csrf_token() {
    let server = start(roomy()).await;
    let addr = server.addr;
    let reply = send(addr, "POST", "/web/sign-in", &[FORM], &format!("token={RADIOLOGIST}")).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let set_cookie = reply.header("set-cookie").unwrap();
    let flags: Vec<&str> = set_cookie.split(';').skip(1).map(str::trim).collect();
    assert_eq!(flags, ["Path=/", "HttpOnly", "SameSite=Strict"], "no Secure on plain HTTP: {set_cookie}");
    let session: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!((session["principal"].as_str(), session["role"].as_str()), (Some("alice"), Some("radiologist")));
    let csrf = session["csrf_token"].as_str().unwrap().to_owned();
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    assert!(!cookie.contains(RADIOLOGIST), "the cookie is a new id, not the token");

    let me = send(addr, "GET", "/web/api/session", &[("cookie", &cookie)], "").await;
    assert_eq!(me.status, 200);
    let me: serde_json::Value = serde_json::from_slice(&me.body).unwrap();
    assert_eq!(me["csrf_token"].as_str(), Some(csrf.as_str()));

    // State-changing requests need the CSRF token, and come from this origin.
    let no_csrf = send(addr, "POST", "/web/sign-out", &[("cookie", &cookie)], "").await;
    assert_eq!(no_csrf.status, 403, "{}", no_csrf.text());
    let wrong = send(addr, "POST", "/web/sign-out", &[("cookie", &cookie), ("x-csrf-token", "0000")], "").await;
    assert_eq!(wrong.status, 403);
    let cross_site = send(
        addr,
        "POST",
        "/web/sign-out",
        &[("cookie", &cookie), ("x-csrf-token", &csrf), ("origin", "https://evil.example")],
        "",
    )
    .await;
    assert_eq!(cross_site.status, 403, "{}", cross_site.text());
    let origin = format!("http://{addr}");
    let out =
        send(addr, "POST", "/web/sign-out", &[("cookie", &cookie), ("x-csrf-token", &csrf), ("origin", &origin)], "")
            .await;
    assert_eq!(out.status, 204, "{}", out.text());
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    let gone = send(addr, "GET", "/web/api/session", &[("cookie", &cookie)], "").await;
    assert_eq!(gone.status, 401, "signed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_readers_with_a_known_token_sign_in() {
    let server = start(roomy()).await;
    let addr = server.addr;
    let pacs = send(addr, "POST", "/web/sign-in", &[FORM], &format!("token={PACS}")).await;
    assert_eq!(pacs.status, 403, "{}", pacs.text());
    assert!(pacs.header("set-cookie").is_none());
    assert!(pacs.text().contains("pacs role cannot use the reading station"), "{}", pacs.text());
    for body in ["token=not-a-token", "token=", "other=1"] {
        let reply = send(addr, "POST", "/web/sign-in", &[FORM], body).await;
        assert_eq!(reply.status, 401, "{body}: {}", reply.text());
    }
    let cross_site = send(
        addr,
        "POST",
        "/web/sign-in",
        &[FORM, ("origin", "https://evil.example")],
        &format!("token={RADIOLOGIST}"),
    )
    .await;
    assert_eq!(cross_site.status, 403, "a login from another site is refused");
    let no_cookie = send(addr, "GET", "/web/api/session", &[], "").await;
    assert_eq!(no_cookie.status, 401);
    let forged = send(addr, "GET", "/web/api/session", &[("cookie", "granska_session=forged")], "").await;
    assert_eq!(forged.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unused_session_expires() {
    let idle = SessionOptions { idle: Duration::from_millis(500), ..SessionOptions::default() };
    let server = start(HttpOptions { sessions: idle, ..roomy() }).await;
    let (cookie, _) = sign_in(server.addr, RADIOLOGIST).await;
    // Used within the idle time, it lives on.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(send(server.addr, "GET", "/web/api/session", &[("cookie", &cookie)], "").await.status, 200);
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(send(server.addr, "GET", "/web/api/session", &[("cookie", &cookie)], "").await.status, 401);
}

pub(crate) async fn get_json(addr: std::net::SocketAddr, path: &str, cookie: &str) -> serde_json::Value {
    let reply = send(addr, "GET", path, &[("cookie", cookie)], "").await;
    assert_eq!(reply.status, 200, "{path}: {}", reply.text());
    serde_json::from_slice(&reply.body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worklist_is_the_cores_and_changes_arrive_as_server_sent_events() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let server = start(roomy()).await;
    let addr = server.addr;
    let (cookie, _) = sign_in(addr, RADIOLOGIST).await;
    assert_eq!(send(addr, "GET", "/web/api/worklist", &[], "").await.status, 401, "signed in only");

    // The change feed, open before the exams arrive.
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(format!("GET /web/api/events HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut events = tokio::io::BufReader::new(stream).lines();

    let first = crate::harness::push_exam(&server, 21).await;
    let second = crate::harness::push_exam(&server, 22).await;
    // Both routed: each appears on the feed as it is routed, without asking again.
    let mut routed = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while routed.len() < 2 {
        let line =
            tokio::time::timeout_at(deadline, events.next_line()).await.expect("routed in time").unwrap().unwrap();
        if let Some(data) = line.strip_prefix("data: ") {
            let change: serde_json::Value = serde_json::from_str(data).unwrap();
            if change["change"] == "routed" {
                routed.push(change["study_uid"].as_str().unwrap().to_owned());
            }
        }
    }
    routed.sort();
    let mut expected = vec![first.clone(), second.clone()];
    expected.sort();
    assert_eq!(routed, expected);

    // The station lists what the core lists for this reader, in the same order (what gRPC's
    // Worklist.List answers too: one core).
    let listed = get_json(addr, "/web/api/worklist", &cookie).await;
    let alice = granska_app::Caller {
        principal: "alice".into(),
        role: granska_types::Role::Radiologist,
        edge: granska_app::Edge::Grpc,
    };
    let core = server.app.list(&alice, granska_worklist::model::PageRequest { offset: 0, limit: 100 }).await.unwrap();
    let from_core: Vec<&str> = core.exams.iter().map(|e| e.entry.study_uid.as_str()).collect();
    let from_station: Vec<&str> =
        listed["exams"].as_array().unwrap().iter().map(|e| e["study_uid"].as_str().unwrap()).collect();
    assert_eq!(from_station, from_core);
    assert_eq!(from_station.len(), 2);
    let exam = &listed["exams"][0];
    assert!(exam["category"].is_u64() && exam["reading_mode"].is_string(), "{exam}");
    assert!(exam["tasks"][0]["available_to_you"].as_bool().unwrap(), "{exam}");
    let paged = get_json(addr, "/web/api/worklist?limit=1", &cookie).await;
    assert_eq!(paged["exams"].as_array().unwrap().len(), 1);
    assert_eq!(paged["next_offset"], 1);
}

/// A view's `(status, headers, body)` for the session `cookie`.
async fn view(addr: std::net::SocketAddr, study: &str, sop: &str, cookie: &str, etag: Option<&str>) -> Reply {
    let path = format!("/web/api/studies/{study}/views/{sop}");
    let mut headers = vec![("cookie", cookie)];
    if let Some(tag) = etag {
        headers.push(("if-none-match", tag));
    }
    send(addr, "GET", &path, &headers, "").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_is_served_to_its_reader_exactly_with_an_etag_and_every_look_is_audited() {
    use granska_archive::{ArchiveStore, AuditFilter};
    let server = start(roomy()).await;
    let addr = server.addr;
    let study = crate::harness::push_routed(&server, 31).await;
    let record = server.archive.study(&study).unwrap().unwrap();
    let sop = record.instances[0].instance.sop_instance_uid.to_string();
    let (cookie, _) = sign_in(addr, RADIOLOGIST).await;

    // Before alice has a task on the exam: refused, and the refusal is on record.
    let refused = view(addr, &study, &sop, &cookie, None).await;
    assert_eq!(refused.status, 403, "{}", refused.text());
    let audit = server
        .archive
        .audit_records(&AuditFilter { study_uid: Some(study.clone()), principal: Some("alice".into()), last: None })
        .unwrap();
    assert!(audit.iter().any(|r| r.action == "Station.ViewImage" && r.outcome.starts_with("failed")), "{audit:?}");

    // Once she has claimed it: the stored values, exactly, with what a display needs.
    let alice = granska_app::Caller {
        principal: "alice".into(),
        role: granska_types::Role::Radiologist,
        edge: granska_app::Edge::Grpc,
    };
    server.app.claim_next(&alice).await.unwrap().expect("a task for alice");
    let shown = view(addr, &study, &sop, &cookie, None).await;
    assert_eq!(shown.status, 200, "{}", shown.text());
    assert_eq!(shown.header("content-type"), Some("application/octet-stream"));
    assert_eq!(shown.header("x-image-dtype"), Some("u16"));
    let meta: serde_json::Value = serde_json::from_str(shown.header("x-image-meta").unwrap()).unwrap();
    let (rows, columns) = (meta["rows"].as_u64().unwrap() as usize, meta["columns"].as_u64().unwrap() as usize);
    assert_eq!(shown.body.len(), rows * columns * 2, "full resolution, no downscaling");
    assert!(meta.get("patient_name").is_none() && meta["photometric"].is_string(), "{meta}");
    let blob = server.archive.read_blob(&record.instances[0].sha256).unwrap();
    let decoded = granska_dicom::DicomFile::from_bytes(&blob, "view").unwrap().pixels().unwrap();
    let granska_dicom::Samples::U16(expected) = decoded.samples else { panic!("16-bit phantom") };
    let sent: Vec<u16> = shown.body.chunks(2).map(|b| u16::from_le_bytes([b[0], b[1]])).collect();
    assert_eq!(sent, expected, "the same decode as scoring, value for value");
    assert!(sent.iter().any(|&v| v != sent[0]), "not blank");

    // Cached: the ETag answers 304 without the pixels.
    let etag = shown.header("etag").unwrap().to_owned();
    assert_eq!(etag, format!("\"{}\"", record.instances[0].sha256));
    let again = view(addr, &study, &sop, &cookie, Some(&etag)).await;
    assert_eq!((again.status, again.body.len()), (304, 0));
    let looks = server
        .archive
        .audit_records(&AuditFilter { study_uid: Some(study.clone()), principal: Some("alice".into()), last: None })
        .unwrap()
        .into_iter()
        .filter(|r| r.action == "Station.ViewImage")
        .count();
    assert_eq!(looks, 3, "every look, refused, served or cached, is audited");
    let missing = view(addr, &study, "1.2.3.4", &cookie, None).await;
    assert_eq!(missing.status, 404);
}
