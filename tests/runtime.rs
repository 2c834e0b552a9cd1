//! The binary as Lambda runs it: `AWS_LAMBDA_RUNTIME_API` set, events from a minimal local
//! Runtime API (tests/common/runtime_api.rs), answers recorded.

mod common;

use common::runtime_api::{Reply, RuntimeApi};
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn lambda(api: &RuntimeApi, envs: &[(&str, &str)]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rotgen"));
    cmd.env("AWS_LAMBDA_RUNTIME_API", &api.addr)
        .env("AWS_LAMBDA_FUNCTION_NAME", "rotgen-test")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env_remove("ROTGEN_SERVICE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

fn stop(mut child: Child) -> String {
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn the_macro_function_serves_events_through_the_runtime_api() {
    let fragment = json!({"Resources": {"R": {"Type": "Rotgen::Rotation", "Properties": {
        "function": {"code": "s3://b/rotgen.zip"}, "schedule": {"days": 30},
        "secret": [{"id": "Tok", "name": "tok", "service": "random"}]}}}});
    let events = vec![
        (
            "req-1".to_string(),
            json!({"requestId": "m-1", "fragment": fragment, "params": {}}).to_string(),
        ),
        (
            "req-2".to_string(),
            json!({"requestId": "m-2", "fragment": {"Resources": 3}, "params": {}}).to_string(),
        ),
        ("req-3".to_string(), json!({"hello": "world"}).to_string()),
        (
            "req-4".to_string(),
            json!({"Step": "createSecret", "SecretId": "s", "ClientRequestToken": "t"}).to_string(),
        ),
    ];
    let api = RuntimeApi::start(events);
    let child = lambda(&api, &[]);
    let replies = api.wait_for(4, Duration::from_secs(30));
    let logs = stop(child);
    assert_eq!(replies.len(), 4, "{replies:?}\n{logs}");
    let body = |r: &Reply| -> Value {
        match r {
            Reply::Response(b) | Reply::Error(b) | Reply::InitError(b) => {
                serde_json::from_str(b).unwrap()
            }
        }
    };
    let (id, r) = &replies[0];
    assert_eq!(id, "req-1");
    let answer = body(r);
    assert_eq!(answer["status"], "success", "{answer}");
    assert_eq!(answer["requestId"], "m-1");
    assert!(answer["fragment"]["Resources"]["RRandomFunction"].is_object());
    let answer = body(&replies[1].1);
    assert_eq!(
        (answer["status"].as_str(), answer["requestId"].as_str()),
        (Some("failure"), Some("m-2"))
    );
    // An event that is neither: a Lambda error with a useful type.
    assert!(matches!(&replies[2].1, Reply::Error(_)));
    assert_eq!(body(&replies[2].1)["errorType"], "UnrecognisedEvent");
    // A rotation event to the macro's function: it says what is missing.
    assert_eq!(body(&replies[3].1)["errorType"], "NotConfigured");
}

#[test]
fn a_rotation_function_without_aws_reports_a_retryable_error() {
    // Secrets Manager unreachable (a closed port): the step fails, retryable, and the
    // function keeps serving.
    let events = vec![
        (
            "a".to_string(),
            json!({"Step": "createSecret", "SecretId": "s", "ClientRequestToken": "t"}).to_string(),
        ),
        (
            "b".to_string(),
            json!({"Step": "testSecret", "SecretId": "s", "ClientRequestToken": "t"}).to_string(),
        ),
    ];
    let api = RuntimeApi::start(events);
    let child = lambda(
        &api,
        &[
            ("ROTGEN_SERVICE", "random"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_MAX_ATTEMPTS", "1"),
        ],
    );
    let replies = api.wait_for(2, Duration::from_secs(60));
    let logs = stop(child);
    assert_eq!(replies.len(), 2, "{replies:?}\n{logs}");
    for (_, r) in &replies {
        let Reply::Error(b) = r else { panic!("{r:?}") };
        let e: Value = serde_json::from_str(b).unwrap();
        assert_eq!(e["errorType"], "Rotation.SecretsManager", "{e}");
        let message = e["errorMessage"].as_str().unwrap();
        assert!(
            message.contains("failed for s") && message.contains("(retryable)"),
            "{message}"
        );
    }
    // JSON log lines in Lambda.
    let line = logs
        .lines()
        .find(|l| l.contains("step failed"))
        .unwrap_or_else(|| panic!("{logs}"));
    let parsed: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(parsed["level"], "ERROR");
}

/// The AWS SDK's TLS (src/sdk.rs): in Lambda the function trusts the Mozilla roots
/// alone; on the command line the system's store joins them. Moto behind a TLS front
/// whose certificate the test CA signed, named as the system's store by SSL_CERT_FILE:
/// the command line reaches moto through it, the function refuses it.
#[test]
fn the_sdk_trusts_the_systems_store_on_the_command_line_and_not_in_lambda() {
    let Some(moto) = common::moto() else { return };
    let moto_port: u16 = moto
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let ca = common::root().join("tests/fixtures/backends/ca.pem");
    let ca = ca.to_str().unwrap();
    let rt = common::rt();
    let front = rt.block_on(common::net::tls_front(moto_port));
    let endpoint = format!("https://localhost:{front}");
    let stack = common::unique("nosuch");
    let status = |cert_file: Option<&str>| {
        let mut cmd = common::rotgen();
        cmd.args(["status", "--stack", &stack])
            .env("AWS_ENDPOINT_URL", &endpoint)
            .env("AWS_MAX_ATTEMPTS", "1")
            .env("NO_COLOR", "1");
        match cert_file {
            Some(f) => cmd.env("SSL_CERT_FILE", f),
            None => cmd.env("SSL_CERT_FILE", "/nonexistent"),
        };
        let out = rt.block_on(async move {
            tokio::task::spawn_blocking(move || cmd.output().unwrap())
                .await
                .unwrap()
        });
        common::stderr(&out) + &common::stdout(&out)
    };
    let trusted = status(Some(ca));
    assert!(
        trusted.contains("does not exist"),
        "moto answered through TLS: {trusted}"
    );
    let untrusted = status(None);
    assert!(
        untrusted.contains("the endpoint was refused: its certificate is not signed by a CA among the Mozilla roots or the system's store"),
        "{untrusted}"
    );

    let events = vec![(
        "a".to_string(),
        json!({"Step": "createSecret", "SecretId": stack, "ClientRequestToken": "t"}).to_string(),
    )];
    let api = RuntimeApi::start(events);
    let child = lambda(
        &api,
        &[
            ("ROTGEN_SERVICE", "random"),
            ("AWS_ENDPOINT_URL", &endpoint),
            ("SSL_CERT_FILE", ca),
            ("AWS_MAX_ATTEMPTS", "1"),
        ],
    );
    let replies = rt.block_on(async {
        tokio::task::spawn_blocking(move || api.wait_for(1, Duration::from_secs(60)))
            .await
            .unwrap()
    });
    let logs = stop(child);
    assert_eq!(replies.len(), 1, "{replies:?}\n{logs}");
    let Reply::Error(b) = &replies[0].1 else {
        panic!("{replies:?}")
    };
    let e: Value = serde_json::from_str(b).unwrap();
    assert_eq!(e["errorType"], "Rotation.SecretsManager", "{e}");
    let message = e["errorMessage"].as_str().unwrap();
    assert!(
        message.contains("Secrets Manager's endpoint was refused: its certificate is not signed by a CA among the Mozilla roots the function trusts"),
        "{message}"
    );
}

#[test]
fn invoke_runs_an_event_through_the_same_dispatch() {
    // A macro request on standard input: no AWS needed.
    let request = json!({"requestId": "inv-1", "params": {}, "fragment": {"Resources": {"R": {"Type": "Rotgen::Rotation",
        "Properties": {"function": {"code": "s3://b/k.zip"}, "schedule": {"days": 30},
        "secret": [{"id": "Tok", "name": "tok", "service": "random"}]}}}}});
    let out = common::run_with_stdin(
        common::rotgen()
            .args(["invoke", "-"])
            .env_remove("ROTGEN_SERVICE"),
        &request.to_string(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (answer["requestId"].as_str(), answer["status"].as_str()),
        (Some("inv-1"), Some("success"))
    );
    // A rotation event whose Secrets Manager is unreachable: exit 1, the error as Lambda
    // would report it.
    let dir = common::scratch("invoke");
    let event = dir.join("event.json");
    std::fs::write(
        &event,
        json!({"Step": "setSecret", "SecretId": "s", "ClientRequestToken": "t"}).to_string(),
    )
    .unwrap();
    let out = common::rotgen()
        .args(["invoke", event.to_str().unwrap(), "--service", "postgres"])
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_MAX_ATTEMPTS", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["errorType"], "Rotation.SecretsManager");
    // Not JSON: invalid input.
    std::fs::write(&event, "{not json").unwrap();
    let out = common::rotgen()
        .args(["invoke", event.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
}
