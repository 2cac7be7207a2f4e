//! The permission matrix: every role × every RPC is allowed or refused exactly as specified,
//! and without a valid token nothing (health included) answers.

use granska_app::Action as Rpc;
use granska_server::proto::v1 as pb;
use granska_types::Role;
use strum::VariantArray;
use tonic::Code;
use tonic::transport::Channel;

use crate::support::{Authed, TestServer, with_token};

/// Calls `rpc` with a harmless request; the status code (Ok for success).
async fn call(ch: Authed, rpc: Rpc) -> Code {
    let mut ingest = pb::ingest_client::IngestClient::new(ch.clone());
    let mut worklist = pb::worklist_client::WorklistClient::new(ch.clone());
    let mut models = pb::models_client::ModelsClient::new(ch);
    let uid = "1.2.826.0.1.3680043.8.498.77".to_owned();
    let code = |r: Result<(), tonic::Status>| r.map_or_else(|s| s.code(), |()| Code::Ok);
    match rpc {
        Rpc::Upload => code(ingest.upload(tokio_stream::iter(Vec::<pb::UploadChunk>::new())).await.map(drop)),
        Rpc::CompleteStudy => {
            code(ingest.complete_study(pb::CompleteStudyRequest { study_instance_uid: uid }).await.map(drop))
        }
        Rpc::GetStudy => code(ingest.get_study(pb::GetStudyRequest { study_instance_uid: uid }).await.map(drop)),
        Rpc::List => code(worklist.list(pb::ListRequest::default()).await.map(drop)),
        Rpc::Watch => code(worklist.watch(pb::WatchRequest {}).await.map(drop)),
        Rpc::ClaimNext => code(worklist.claim_next(pb::ClaimNextRequest {}).await.map(drop)),
        Rpc::Release => code(worklist.release(pb::ReleaseRequest { task_id: 999 }).await.map(drop)),
        Rpc::SubmitRead => code(
            worklist
                .submit_read(pb::SubmitReadRequest {
                    task_id: 999,
                    decision: 1,
                    note: String::new(),
                    request_id: "r".into(),
                })
                .await
                .map(drop),
        ),
        Rpc::Models => code(models.get(pb::GetModelsRequest {}).await.map(drop)),
        Rpc::ListNeedsAttention => code(ingest.list_needs_attention(pb::ListNeedsAttentionRequest {}).await.map(drop)),
        Rpc::RetryStudy => code(ingest.retry_study(pb::RetryStudyRequest { study_instance_uid: uid }).await.map(drop)),
        Rpc::GetReport => code(
            ingest
                .get_report(pb::GetReportRequest { study_instance_uid: uid, sop_instance_uid: String::new() })
                .await
                .map(drop),
        ),
        // No RPC reads the audit log yet (the core's `read_audit` is tested in granska-app);
        // images, the AI result after a read and the overview are the reading station's (tested
        // in granska-http).
        Rpc::ReadAudit | Rpc::ViewImage | Rpc::AiResult | Rpc::Overview => unreachable!("skipped by the caller"),
        Rpc::RemoveInstance => code(
            ingest
                .remove_instance(pb::RemoveInstanceRequest { sop_instance_uid: uid, reason: "test".into() })
                .await
                .map(drop),
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_and_rpc_is_allowed_or_denied_as_specified() {
    let server = TestServer::start("masai").await;
    let channel = Channel::from_shared(format!("http://{}", server.addr)).unwrap().connect().await.unwrap();
    let principals =
        [("pacs-1", Role::Pacs), ("alice", Role::Radiologist), ("rita", Role::Researcher), ("root", Role::Admin)];
    let mut table = format!("{:<22} pacs        radiologist researcher  admin\n", "");
    let web_only = [Rpc::ReadAudit, Rpc::ViewImage, Rpc::AiResult, Rpc::Overview];
    for &rpc in Rpc::VARIANTS.iter().filter(|a| !web_only.contains(a)) {
        table += &format!("{:<22}", rpc.name());
        for (principal, role) in principals {
            let got = call(with_token(channel.clone(), Some(crate::support::token_of(principal))), rpc).await;
            let allowed = rpc.allowed(role);
            if allowed {
                // Allowed calls reach the handler: success, or a domain answer for the dummy ids.
                assert!(
                    matches!(got, Code::Ok | Code::NotFound),
                    "{} as {principal}: expected to reach the handler, got {got:?}",
                    rpc.name()
                );
            } else {
                assert_eq!(got, Code::PermissionDenied, "{} as {principal}", rpc.name());
            }
            table += &format!(" {:<11}", if allowed { "allowed" } else { "denied" });
        }
        for token in [None, Some("not-a-token")] {
            assert_eq!(
                call(with_token(channel.clone(), token), rpc).await,
                Code::Unauthenticated,
                "{} with {token:?}",
                rpc.name()
            );
        }
        table = table.trim_end().to_owned() + "\n";
    }
    expect_test::expect![[r#"
                               pacs        radiologist researcher  admin
        Ingest.Upload          allowed     denied      denied      allowed
        Ingest.CompleteStudy   allowed     denied      denied      allowed
        Ingest.GetStudy        denied      denied      allowed     allowed
        Worklist.List          denied      allowed     denied      allowed
        Worklist.Watch         denied      allowed     denied      allowed
        Worklist.ClaimNext     denied      allowed     denied      allowed
        Worklist.Release       denied      allowed     denied      allowed
        Worklist.SubmitRead    denied      allowed     denied      allowed
        Models.Get             denied      denied      allowed     allowed
        Ingest.ListNeedsAttention denied      denied      denied      allowed
        Ingest.RetryStudy      denied      denied      denied      allowed
        Ingest.RemoveInstance  denied      denied      denied      allowed
        Ingest.GetReport       denied      denied      denied      allowed
    "#]]
    .assert_eq(&table);
    // Health answers standard probes without a token (it reveals only SERVING); reflection
    // needs one.
    let mut health = tonic_health::pb::health_client::HealthClient::new(with_token(channel.clone(), None));
    let ok = health.check(tonic_health::pb::HealthCheckRequest { service: "granska.v1.Ingest".into() }).await.unwrap();
    assert_eq!(ok.get_ref().status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32);
    // Server paths are the admin's: a researcher sees what model runs, not where it lives.
    let mut models = pb::models_client::ModelsClient::new(with_token(channel.clone(), Some("token-rita")));
    let m = models.get(pb::GetModelsRequest {}).await.unwrap().into_inner().models.remove(0);
    assert_eq!((m.dir.as_str(), m.onnxruntime_library.as_str()), ("", ""));
    let mut models = pb::models_client::ModelsClient::new(with_token(channel, Some(crate::support::token_of("root"))));
    let m = models.get(pb::GetModelsRequest {}).await.unwrap().into_inner().models.remove(0);
    assert!(m.dir.ends_with("granska-phantom-v1") && m.onnxruntime_library.contains("onnxruntime"), "{m:?}");
    server.stop().await;

    // `auth.health_requires_token = true` puts health behind the token again.
    let data = tempfile::tempdir().unwrap();
    let mut config = crate::support::config("masai", data.path());
    config.auth.health_requires_token = true;
    let server = TestServer::start_with(config, data).await;
    let channel = Channel::from_shared(format!("http://{}", server.addr)).unwrap().connect().await.unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(with_token(channel.clone(), None));
    let err = health.check(tonic_health::pb::HealthCheckRequest::default()).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let mut health = tonic_health::pb::health_client::HealthClient::new(with_token(channel, Some("token-rita")));
    assert!(health.check(tonic_health::pb::HealthCheckRequest::default()).await.is_ok());
    server.stop().await;
}

/// TLS is one config switch: with `[server.tls]` the same calls work over https with the
/// server's CA, and a plaintext client gets nowhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_is_one_switch() {
    let data = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert_file, key_file) = (data.path().join("server.pem"), data.path().join("server.key"));
    std::fs::write(&cert_file, cert.cert.pem()).unwrap();
    std::fs::write(&key_file, cert.signing_key.serialize_pem()).unwrap();
    let mut config = crate::support::config("masai", data.path());
    config.server.tls = Some(granska_server::config::TlsSection { cert_file, key_file });
    let server = TestServer::start_with(config, data).await;
    let mut models = pb::models_client::ModelsClient::new(server.channel("rita").await);
    let got = models.get(pb::GetModelsRequest {}).await.unwrap().into_inner();
    assert_eq!(got.models[0].name, "granska-phantom-v1");
    assert_eq!(got.policy.unwrap().name, "masai");
    let plain = Channel::from_shared(format!("http://{}", server.addr)).unwrap().connect().await;
    if let Ok(plain) = plain {
        let mut models = pb::models_client::ModelsClient::new(with_token(plain, Some("token-rita")));
        assert!(models.get(pb::GetModelsRequest {}).await.is_err(), "plaintext must not work against TLS");
    }
    server.stop().await;
}
