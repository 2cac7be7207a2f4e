//! STOW-RS over real sockets: what is stored, what fails and with which FailureReason, and the
//! HTTP status of each kind of request.

use std::time::{Duration, Instant};

use granska_archive::ArchiveStore;
use granska_http::HttpOptions;
use granska_types::{StudyState, Uid};
use proptest::prelude::*;
use serde_json::Value;

use crate::harness::{
    ADMIN, BOUNDARY, MG_FOR_PRESENTATION, PACS, RADIOLOGIST, STOW_TYPE, admin, body, chunked, exam, post, raw, roomy,
    start, start_with,
};

const STUDIES: &str = "/dicomweb/studies";
const CANNOT_UNDERSTAND: u64 = 0xC000;
const NOT_CONFORMANT: u64 = 0xA900;
const OUT_OF_RESOURCES: u64 = 0xA700;

/// ReferencedSOPSequence items: (class, instance); no item carries a WarningReason.
fn referenced(json: &Value) -> Vec<(String, String)> {
    let Some(items) = json["00081199"]["Value"].as_array() else { return Vec::new() };
    items
        .iter()
        .map(|item| {
            assert!(item.get("00081196").is_none(), "no warning expected: {item}");
            (uid(&item["00081150"]), uid(&item["00081155"]))
        })
        .collect()
}

/// FailedSOPSequence items: (class, instance, reason), UIDs empty when not known.
fn failed(json: &Value) -> Vec<(String, String, u64)> {
    let Some(items) = json["00081198"]["Value"].as_array() else { return Vec::new() };
    items
        .iter()
        .map(|item| {
            assert_eq!(item["00081197"]["vr"], "US", "{item}");
            (uid(&item["00081150"]), uid(&item["00081155"]), item["00081197"]["Value"][0].as_u64().unwrap())
        })
        .collect()
}

fn uid(element: &Value) -> String {
    if element.is_null() {
        return String::new();
    }
    assert_eq!(element["vr"], "UI", "{element}");
    element["Value"][0].as_str().unwrap().to_owned()
}

/// SOP Instance UID (0008,0018) of a view.
fn sop_instance_uid(view: &[u8]) -> String {
    let (_, instance) = granska_http::stow::meta_uids(view);
    instance.unwrap()
}

fn stored_count(server: &crate::harness::Server, study: &str) -> usize {
    server.archive.study(study).unwrap().map_or(0, |s| s.instances.len())
}

fn dicom_parts(views: &[Vec<u8>]) -> Vec<(&'static str, &[u8])> {
    views.iter().map(|v| ("application/dicom", v.as_slice())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_views_are_stored_listed_and_the_study_is_routed() {
    let server = start(roomy()).await;
    let (study, views) = exam(11);
    let reply = post(server.addr, STUDIES, Some(PACS), Some(STOW_TYPE), body(&dicom_parts(&views))).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let json = reply.json();
    let expected: Vec<(String, String)> =
        views.iter().map(|v| (MG_FOR_PRESENTATION.to_owned(), sop_instance_uid(v))).collect();
    assert_eq!(referenced(&json), expected);
    assert!(json.get("00081198").is_none(), "{json}");

    // Four standard views complete the study; the core scores and routes it.
    let uid = Uid::parse(&study).unwrap();
    let started = Instant::now();
    loop {
        let s = server.app.get_study(&admin(), &uid).await.unwrap();
        if s.record.state == StudyState::Routed {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "never routed: {:?}", s.record.state);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mix_of_good_and_bad_parts_is_partly_stored_with_reasons() {
    let server = start(roomy()).await;
    let (study, views) = exam(12);
    let parts = [
        ("application/dicom", views[0].as_slice()),
        ("application/dicom", b"this is not a DICOM file".as_slice()),
        // A readable instance under another media type: refused for its part's type.
        ("application/octet-stream", views[1].as_slice()),
        ("application/dicom; transfer-syntax=1.2.840.10008.1.2.1", views[2].as_slice()),
    ];
    let reply = post(server.addr, STUDIES, Some(PACS), Some(STOW_TYPE), body(&parts)).await;
    assert_eq!(reply.status, 202, "{}", reply.text());
    let json = reply.json();
    assert_eq!(
        referenced(&json),
        vec![
            (MG_FOR_PRESENTATION.to_owned(), sop_instance_uid(&views[0])),
            (MG_FOR_PRESENTATION.to_owned(), sop_instance_uid(&views[2])),
        ]
    );
    assert_eq!(
        failed(&json),
        vec![
            (String::new(), String::new(), CANNOT_UNDERSTAND),
            (MG_FOR_PRESENTATION.to_owned(), sop_instance_uid(&views[1]), CANNOT_UNDERSTAND),
        ]
    );
    assert_eq!(stored_count(&server, &study), 2);

    // Nothing but refused content: 409.
    let reply = post(server.addr, STUDIES, Some(PACS), Some(STOW_TYPE), body(&parts[1..3])).await;
    assert_eq!(reply.status, 409, "{}", reply.text());
    assert_eq!(failed(&reply.json()).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_of_another_study_than_the_paths_are_refused_before_storing() {
    let server = start(roomy()).await;
    let (study, views) = exam(13);
    let path = format!("{STUDIES}/1.2.826.0.1.3680043.99.1");
    let reply = post(server.addr, &path, Some(PACS), Some(STOW_TYPE), body(&dicom_parts(&views[..2]))).await;
    assert_eq!(reply.status, 409, "{}", reply.text());
    let json = reply.json();
    assert!(referenced(&json).is_empty());
    let expected: Vec<_> =
        views[..2].iter().map(|v| (MG_FOR_PRESENTATION.to_owned(), sop_instance_uid(v), NOT_CONFORMANT)).collect();
    assert_eq!(failed(&json), expected);
    assert_eq!(stored_count(&server, &study), 0, "nothing of the study is stored");

    // The right study in the path stores them.
    let path = format!("{STUDIES}/{study}");
    let reply = post(server.addr, &path, Some(PACS), Some(STOW_TYPE), body(&dicom_parts(&views[..2]))).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(stored_count(&server, &study), 2);

    // A path that is no UID is a bad request.
    let reply = post(server.addr, &format!("{STUDIES}/not-a-uid"), Some(PACS), Some(STOW_TYPE), body(&[])).await;
    assert_eq!(reply.status, 400, "{}", reply.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_content_types_are_415() {
    let server = start(roomy()).await;
    let (_, views) = exam(14);
    // Refused from the headers, the body unread: a small one, so that the server's close
    // cannot reset the connection before the client has read the answer.
    let small = body(&[("application/dicom", b"x".as_slice())]);
    for content_type in [
        Some(format!("multipart/form-data; boundary={BOUNDARY}")),
        Some(format!("multipart/related; type=\"application/dicom+json\"; boundary={BOUNDARY}")),
        Some("multipart/related; type=\"application/dicom\"".to_owned()),
        Some("application/dicom".to_owned()),
        None,
    ] {
        let reply = post(server.addr, STUDIES, Some(PACS), content_type.as_deref(), small.clone()).await;
        assert_eq!(reply.status, 415, "{content_type:?}: {}", reply.text());
        assert!(reply.text().starts_with("expected "), "{}", reply.text());
    }
    // Parameter names and values in any case, quoted or not.
    let relaxed = format!("Multipart/Related; TYPE=Application/DICOM; Boundary={BOUNDARY}");
    let reply = post(server.addr, STUDIES, Some(PACS), Some(&relaxed), body(&dicom_parts(&views[..1]))).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_body_is_stored() {
    let server = start(roomy()).await;
    let (study, views) = exam(15);
    let content = body(&dicom_parts(&views));
    let head = format!(
        "POST {STUDIES} HTTP/1.1\r\nHost: granska\r\nAuthorization: Bearer {PACS}\r\nContent-Type: {STOW_TYPE}\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    let reply = raw(server.addr, head, chunked(&content, 7001)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(referenced(&reply.json()).len(), 4);
    assert_eq!(stored_count(&server, &study), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_or_an_unknown_token_is_401_with_a_bearer_challenge() {
    let server = start(roomy()).await;
    let (study, views) = exam(16);
    let content = body(&dicom_parts(&views[..1]));
    for token in [None, Some("no-such-token")] {
        // Refused from the headers, the body unread: sent raw, the answer read while it is.
        let authorization = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
        let head = format!(
            "POST {STUDIES} HTTP/1.1\r\nHost: granska\r\n{authorization}Content-Type: {STOW_TYPE}\r\n\
             Content-Length: {}\r\n\r\n",
            content.len()
        );
        let reply = raw(server.addr, head, content.clone()).await;
        assert_eq!(reply.status, 401, "{token:?}");
        assert!(reply.header("www-authenticate").is_some_and(|v| v.starts_with("Bearer")), "{reply:?}");
    }
    assert_eq!(stored_count(&server, &study), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_radiologist_is_refused_before_the_body_is_read() {
    let server = start(roomy()).await;
    let (study, views) = exam(17);
    let content = body(&dicom_parts(&views));
    let head = format!(
        "POST {STUDIES} HTTP/1.1\r\nHost: granska\r\nAuthorization: Bearer {RADIOLOGIST}\r\n\
         Content-Type: {STOW_TYPE}\r\nContent-Length: {}\r\n\r\n",
        content.len()
    );
    let reply = raw(server.addr, head, content).await;
    assert_eq!(reply.status, 403, "{}", reply.text());
    assert_eq!(reply.text(), "role radiologist may not call Ingest.Upload");
    assert_eq!(stored_count(&server, &study), 0);
    // The answer comes from the headers alone: no body is ever sent.
    let head = format!(
        "POST {STUDIES} HTTP/1.1\r\nHost: granska\r\nAuthorization: Bearer {RADIOLOGIST}\r\nContent-Type: {STOW_TYPE}\r\n\
         Content-Length: 100000000\r\n\r\n"
    );
    assert_eq!(raw(server.addr, head, Vec::new()).await.status, 403);
    // An admin may store.
    let reply = post(server.addr, STUDIES, Some(ADMIN), Some(STOW_TYPE), body(&dicom_parts(&views[..1]))).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_cap_is_413() {
    let server = start(HttpOptions { max_request_bytes: 1 << 20, ..roomy() }).await;
    let (study, views) = exam(18);
    let content = body(&dicom_parts(&views));
    assert!(content.len() > 1 << 20);
    // Declared too large: refused from the headers, no body sent.
    let head = format!(
        "POST {STUDIES} HTTP/1.1\r\nHost: granska\r\nAuthorization: Bearer {PACS}\r\nContent-Type: {STOW_TYPE}\r\n\
         Content-Length: {}\r\n\r\n",
        content.len()
    );
    let reply = raw(server.addr, head, Vec::new()).await;
    assert_eq!(reply.status, 413, "{}", reply.text());
    assert_eq!(reply.text(), format!("expected a request body of at most {} bytes, found more", 1 << 20));
    // Chunked, so only counting finds it: the instances before the cap are stored and listed.
    let head = format!(
        "POST {STUDIES} HTTP/1.1\r\nHost: granska\r\nAuthorization: Bearer {PACS}\r\nContent-Type: {STOW_TYPE}\r\n\
         Transfer-Encoding: chunked\r\n\r\n"
    );
    let reply = raw(server.addr, head, chunked(&content, 64 << 10)).await;
    assert_eq!(reply.status, 413, "{}", reply.text());
    let listed = referenced(&reply.json()).len();
    assert_eq!(listed, stored_count(&server, &study));
    assert!(listed < 4, "{listed} stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_over_the_instance_cap_fails_with_a700() {
    let server = start(HttpOptions { max_instance_bytes: 100_000, ..roomy() }).await;
    let (study, views) = exam(19);
    let reply = post(server.addr, STUDIES, Some(PACS), Some(STOW_TYPE), body(&dicom_parts(&views))).await;
    assert_eq!(reply.status, 413, "{}", reply.text());
    assert_eq!(failed(&reply.json()), vec![(String::new(), String::new(), OUT_OF_RESOURCES)]);
    assert_eq!(stored_count(&server, &study), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_503_with_retry_after() {
    // No disk has this much free: the core refuses every instance as out of resources.
    let server = start_with(roomy(), u64::MAX).await;
    let (study, views) = exam(22);
    let reply = post(server.addr, STUDIES, Some(PACS), Some(STOW_TYPE), body(&dicom_parts(&views[..2]))).await;
    assert_eq!(reply.status, 503, "{}", reply.text());
    assert_eq!(reply.header("retry-after"), Some("60"));
    let expected: Vec<_> =
        views[..2].iter().map(|v| (MG_FOR_PRESENTATION.to_owned(), sop_instance_uid(v), OUT_OF_RESOURCES)).collect();
    assert_eq!(failed(&reply.json()), expected);
    assert_eq!(stored_count(&server, &study), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_re_posted_instance_is_stored_again_without_a_warning() {
    let server = start(roomy()).await;
    let (study, views) = exam(20);
    for _ in 0..2 {
        let reply = post(server.addr, STUDIES, Some(PACS), Some(STOW_TYPE), body(&dicom_parts(&views[..2]))).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(referenced(&reply.json()).len(), 2);
    }
    assert_eq!(stored_count(&server, &study), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_or_empty_bodies_are_400() {
    let server = start(roomy()).await;
    for content in [Vec::new(), b"garbage".to_vec(), format!("--{BOUNDARY}--\r\n").into_bytes()] {
        let reply = post(server.addr, STUDIES, Some(PACS), Some(STOW_TYPE), content.clone()).await;
        assert_eq!(reply.status, 400, "{:?}: {}", String::from_utf8_lossy(&content), reply.text());
    }
}

#[test]
fn arbitrary_bytes_as_a_body_never_break_the_edge() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let server = runtime.block_on(start(roomy()));
    let (_, views) = exam(21);
    let view = views[0].clone();
    // Arbitrary bytes, and arbitrary bytes around real boundaries and a real view.
    let strategy = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..2048),
        (proptest::collection::vec(any::<u8>(), 0..256), any::<bool>(), 0usize..4).prop_map(
            move |(noise, dicom, cut)| {
                let mut content = format!("--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n").into_bytes();
                if dicom {
                    content.extend_from_slice(&view[..view.len() / (cut + 1)]);
                }
                content.extend_from_slice(&noise);
                content.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
                content
            }
        ),
    ];
    let config = ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() };
    proptest::test_runner::TestRunner::new(config)
        .run(&strategy, |content| {
            let reply = runtime.block_on(post(server.addr, STUDIES, Some(PACS), Some(STOW_TYPE), content));
            prop_assert!(matches!(reply.status, 200..=299 | 400..=499), "status {}: {}", reply.status, reply.text());
            Ok(())
        })
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_and_drop_classes_are_listed_as_stored_but_not_kept() {
    // As a PACS forwards a study's presentation states and reports with it: here the MG class
    // itself is on the list, so that real views exercise the path.
    let server = start(HttpOptions { accept_and_drop: vec![MG_FOR_PRESENTATION.into()], ..roomy() }).await;
    let (study, views) = exam(17);
    let reply = post(server.addr, STUDIES, Some(PACS), Some(STOW_TYPE), body(&dicom_parts(&views[..2]))).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let expected: Vec<(String, String)> =
        views[..2].iter().map(|v| (MG_FOR_PRESENTATION.to_owned(), sop_instance_uid(v))).collect();
    assert_eq!(referenced(&reply.json()), expected);
    assert_eq!(stored_count(&server, &study), 0, "dropped, not stored");
    let metrics = server.app.metrics().render();
    assert!(
        metrics.contains(&format!("instances_dropped_total{{sop_class=\"{MG_FOR_PRESENTATION}\"}} 2")),
        "{metrics}"
    );
}
