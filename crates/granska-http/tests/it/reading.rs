//! The reading page's API and the station's pages over real sockets: claim (views to hang, the
//! AI's result as `show_ai` says), release, an idempotent submit, the admin overview for the
//! admin only; pages behind the sign-in with a strict CSP and no inline script.

use granska_http::HttpOptions;
use granska_http::reading::ShowAi;

use crate::harness::{ADMIN, RADIOLOGIST, Reply, push_routed, roomy, start};
use crate::station::{get_json, send, sign_in};

/// A state-changing request from the page: cookie, CSRF token, same origin.
async fn post(addr: std::net::SocketAddr, path: &str, cookie: &str, csrf: &str, body: &str) -> Reply {
    let origin = format!("http://{addr}");
    let headers =
        [("cookie", cookie), ("x-csrf-token", csrf), ("origin", origin.as_str()), ("content-type", "application/json")];
    send(addr, "POST", path, &headers, body).await
}

trait Parsed {
    fn parsed(&self) -> serde_json::Value;
}

impl Parsed for Reply {
    /// The body as JSON (the station's API answers `application/json`).
    fn parsed(&self) -> serde_json::Value {
        assert_eq!(self.header("content-type"), Some("application/json"), "{}", self.text());
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_claims_releases_and_submits_once_through_the_station() {
    let server = start(roomy()).await;
    let addr = server.addr;
    let study = push_routed(&server, 41).await;
    let (cookie, csrf) = sign_in(addr, RADIOLOGIST).await;

    let no_csrf = send(addr, "POST", "/web/api/claim-next", &[("cookie", &cookie)], "").await;
    assert_eq!(no_csrf.status, 403, "claiming changes state: {}", no_csrf.text());
    let claim = post(addr, "/web/api/claim-next", &cookie, &csrf, "").await;
    assert_eq!(claim.status, 200, "{}", claim.text());
    let claim = claim.parsed();
    assert_eq!(claim["task"]["study_uid"], study.as_str());
    assert_eq!(claim["task"]["kind"], "first");
    let mut hung: Vec<String> = claim["views"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let url = v["url"].as_str().unwrap();
            assert!(url.ends_with(v["sop_instance_uid"].as_str().unwrap()) && url.contains(&study), "{v}");
            format!("{}-{}", v["laterality"].as_str().unwrap(), v["view"].as_str().unwrap())
        })
        .collect();
    hung.sort();
    assert_eq!(hung, ["L-CC", "L-MLO", "R-CC", "R-MLO"]);
    assert!(claim["ai"]["category"].is_u64() && claim["ai"]["raw_score"].is_f64(), "show_ai = always: {claim}");
    assert_eq!(claim["ai_pending"], false);
    assert_eq!(claim["prior_reads"].as_array().unwrap().len(), 0, "a screening read is blinded");
    let task = claim["task"]["task_id"].as_u64().unwrap();

    // Leaving the page gives the task back; it is queued again and claimed again.
    let released = post(addr, &format!("/web/api/tasks/{task}/release"), &cookie, &csrf, "").await;
    assert_eq!(released.status, 204, "{}", released.text());
    let listed = get_json(addr, "/web/api/worklist", &cookie).await;
    assert_eq!(listed["exams"][0]["tasks"][0]["state"], "queued", "{listed}");
    let again = post(addr, "/web/api/claim-next", &cookie, &csrf, "").await.parsed();
    assert_eq!(again["task"]["task_id"].as_u64(), Some(task));

    let submit = |decision: &str, id: &str| {
        format!(r#"{{"decision":"{decision}","note":"dense, no finding","request_id":"{id}"}}"#)
    };
    let path = format!("/web/api/tasks/{task}/submit");
    let bad = post(addr, &path, &cookie, &csrf, &submit("maybe", "r-1")).await;
    assert_eq!(bad.status, 400);
    assert!(bad.text().contains("\"recall\" or \"no-recall\""), "{}", bad.text());
    assert_eq!(post(addr, &path, &cookie, &csrf, "not json").await.status, 400);
    let done = post(addr, &path, &cookie, &csrf, &submit("no-recall", "r-1")).await;
    assert_eq!(done.status, 200, "{}", done.text());
    let done = done.parsed();
    let expected_next = if claim["reading_mode"] == "double" { "awaiting-other-read" } else { "final" };
    assert_eq!((done["duplicate"].as_bool(), done["next"].as_str()), (Some(false), Some(expected_next)));
    assert_eq!(done["ai"], claim["ai"], "the same routing");
    let retried = post(addr, &path, &cookie, &csrf, &submit("no-recall", "r-1")).await.parsed();
    assert_eq!(retried["duplicate"], true, "a retried submit changes nothing");
    assert_eq!(post(addr, "/web/api/claim-next", &cookie, &csrf, "").await.status, 204, "nothing left for alice");

    // The read is the core's: gRPC and `granska study` see it.
    let uid = granska_types::Uid::parse(&study).unwrap();
    let history = server.app.get_study(&crate::harness::admin(), &uid).await.unwrap().history.unwrap();
    let reads: Vec<_> = history.reads.iter().map(|r| (r.reader.as_str(), r.decision.as_str())).collect();
    assert_eq!(reads, [("alice", "no-recall")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ai_result_is_shown_as_show_ai_says() {
    for show in [ShowAi::AfterDecision, ShowAi::Never] {
        let server = start(HttpOptions { show_ai: show, ..roomy() }).await;
        let addr = server.addr;
        push_routed(&server, 42).await;
        let (cookie, csrf) = sign_in(addr, RADIOLOGIST).await;
        assert_eq!(get_json(addr, "/web/api/session", &cookie).await["show_ai"], show.as_str());
        let listed = get_json(addr, "/web/api/worklist", &cookie).await;
        let exam = &listed["exams"][0];
        assert!(exam["category"].is_null() && exam["flags"] == serde_json::json!([]), "{show:?}: {exam}");
        let claim = post(addr, "/web/api/claim-next", &cookie, &csrf, "").await.parsed();
        assert!(claim["ai"].is_null(), "{show:?}: {claim}");
        assert_eq!(claim["ai_pending"], show == ShowAi::AfterDecision);
        let task = claim["task"]["task_id"].as_u64().unwrap();
        let body = r#"{"decision":"recall","request_id":"r-2"}"#;
        let done = post(addr, &format!("/web/api/tasks/{task}/submit"), &cookie, &csrf, body).await.parsed();
        match show {
            ShowAi::AfterDecision => assert!(done["ai"]["category"].is_u64(), "after the decision: {done}"),
            _ => assert!(done["ai"].is_null(), "never: {done}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_page_is_the_admins() {
    let server = start(roomy()).await;
    let addr = server.addr;
    let study = push_routed(&server, 43).await;
    let (reader, _) = sign_in(addr, RADIOLOGIST).await;
    assert_eq!(send(addr, "GET", "/web/api/admin", &[("cookie", &reader)], "").await.status, 403);
    assert_eq!(send(addr, "GET", "/web/admin", &[("cookie", &reader)], "").await.status, 403);
    let (admin, _) = sign_in(addr, ADMIN).await;
    let overview = get_json(addr, "/web/api/admin", &admin).await;
    let tasks: u64 = overview["counts"]["tasks"].as_object().unwrap().values().filter_map(|v| v.as_u64()).sum();
    assert!(tasks >= 1, "{overview}");
    assert_eq!(overview["counts"]["studies_by_state"]["reading"], 1, "{overview}");
    assert_eq!(overview["model"]["name"], "granska-phantom-v1");
    assert_eq!(overview["policy"]["name"], "masai");
    assert_eq!(overview["overdue"], serde_json::json!([]), "nothing waits past the policy's limit yet");
    let audit = overview["audit"].as_array().unwrap();
    assert!(audit.iter().any(|r| r["action"] == "Ingest.Upload" && r["study_uid"] == study.as_str()), "{overview}");
    assert!(audit.len() <= 50);
}

/// Every station response carries the CSP; pages need a session; the embedded pages have no
/// inline script or style, so the CSP holds without `unsafe-inline`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_are_behind_the_sign_in_with_a_strict_csp() {
    let server = start(roomy()).await;
    let addr = server.addr;
    for page in ["/web/worklist", "/web/read", "/web/admin"] {
        let reply = send(addr, "GET", page, &[], "").await;
        assert_eq!(reply.status, 303, "{page}");
        assert_eq!(reply.header("location"), Some(format!("/web/sign-in?next={page}").as_str()));
    }
    let sign_in_page = send(addr, "GET", "/web/sign-in", &[], "").await;
    assert_eq!(sign_in_page.status, 200);
    let csp = sign_in_page.header("content-security-policy").unwrap();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe"), "{csp}");
    assert_eq!(sign_in_page.header("x-frame-options"), Some("DENY"));
    let (cookie, _) = sign_in(addr, RADIOLOGIST).await;
    for page in ["/web/sign-in", "/web/worklist", "/web/read"] {
        let reply = send(addr, "GET", page, &[("cookie", &cookie)], "").await;
        assert_eq!(reply.status, 200, "{page}");
        assert!(reply.header("content-type").unwrap().starts_with("text/html"));
        let html = reply.text();
        assert_no_inline_code(page, &html);
        for script in html.split("<script").skip(1) {
            let src = script.split("src=\"").nth(1).and_then(|s| s.split('"').next()).unwrap_or("");
            let asset = send(addr, "GET", src, &[], "").await;
            assert_eq!(asset.status, 200, "{page} loads {src}");
            assert!(asset.header("content-type").unwrap().starts_with("text/javascript"), "{src}");
            let etag = asset.header("etag").unwrap().to_owned();
            let cached = send(addr, "GET", src, &[("if-none-match", &etag)], "").await;
            assert_eq!(cached.status, 304, "{src}");
        }
    }
    let missing = send(addr, "GET", "/web/assets/nothing.js", &[], "").await;
    assert_eq!(missing.status, 404);
    assert!(missing.header("content-security-policy").is_some());
}

/// No `<script>` without `src`, no `on…=` handler attributes, no `style=` attributes.
fn assert_no_inline_code(page: &str, html: &str) {
    let lower = html.to_ascii_lowercase();
    for script in lower.split("<script").skip(1) {
        let tag = script.split('>').next().unwrap_or("");
        assert!(tag.contains("src="), "{page}: an inline <script>");
    }
    for (at, _) in lower.match_indices(" on") {
        let attr: String = lower[at + 1..].chars().take_while(|c| c.is_ascii_alphabetic()).collect();
        let inside_tag = lower[..at].rfind('<') > lower[..at].rfind('>');
        assert!(!(inside_tag && lower[at + 1 + attr.len()..].starts_with('=')), "{page}: a handler attribute {attr}");
    }
    assert!(!lower.contains(" style="), "{page}: a style attribute");
}
