//! `rotgen status` against moto (scripts/services.sh): a stack deployed from a spec, its
//! secrets in every state (healthy, rotation off, unfinished, rotated by another
//! function, a failed step in the function's own log format, a drifted function), the
//! table, the JSON and the exit status; and no secret value in anything it prints.
//!
//! Without moto these tests print "skipping"; with ROTGEN_REQUIRE_SERVICES set, its
//! absence is a failure.

mod common;

use serde_json::{Value, json};
use std::path::Path;
use std::time::Instant;

struct Clients {
    secrets: aws_sdk_secretsmanager::Client,
    lambda: aws_sdk_lambda::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
    cloudformation: aws_sdk_cloudformation::Client,
    iam: aws_sdk_iam::Client,
}

async fn clients() -> Clients {
    let c = rotgen::sdk::config(None).await;
    Clients {
        secrets: aws_sdk_secretsmanager::Client::new(&c),
        lambda: aws_sdk_lambda::Client::new(&c),
        logs: aws_sdk_cloudwatchlogs::Client::new(&c),
        cloudformation: aws_sdk_cloudformation::Client::new(&c),
        iam: aws_sdk_iam::Client::new(&c),
    }
}

/// A tiny Lambda zip in S3 (moto makes functions from it), and its path on disk.
fn code(dir: &Path, bucket: &str, body: &[u8]) -> std::path::PathBuf {
    let zip = dir.join("code.zip");
    std::fs::write(&zip, rotgen::package::zip_executable("bootstrap", body)).unwrap();
    common::aws_cli(dir, &["s3", "mb", &format!("s3://{bucket}")]);
    common::aws_cli(
        dir,
        &["s3", "cp", "code.zip", &format!("s3://{bucket}/code.zip")],
    );
    zip
}

/// Builds `spec` and deploys it to moto as `stack` (code from `bucket`); the stack's
/// resources, logical id → physical id.
async fn deploy(
    c: &Clients,
    dir: &Path,
    spec: &str,
    stack: &str,
    bucket: &str,
) -> std::collections::HashMap<String, String> {
    let spec_path = dir.join("spec.toml");
    std::fs::write(&spec_path, spec).unwrap();
    let o = common::run(&["build", spec_path.to_str().unwrap(), "--format", "json"]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let p = |k: &str, v: &str| {
        aws_sdk_cloudformation::types::Parameter::builder()
            .parameter_key(k)
            .parameter_value(v)
            .build()
    };
    c.cloudformation
        .create_stack()
        .stack_name(stack)
        .template_body(common::stdout(&o))
        .parameters(p("CodeBucket", bucket))
        .parameters(p("CodeKey", "code.zip"))
        .capabilities(aws_sdk_cloudformation::types::Capability::CapabilityIam)
        .send()
        .await
        .unwrap();
    resources(c, stack).await
}

/// A deployed stack's resources, logical id → physical id.
async fn resources(c: &Clients, stack: &str) -> std::collections::HashMap<String, String> {
    let out = c
        .cloudformation
        .list_stack_resources()
        .stack_name(stack)
        .send()
        .await
        .unwrap();
    out.stack_resource_summaries()
        .iter()
        .map(|r| {
            (
                r.logical_resource_id().unwrap().to_string(),
                r.physical_resource_id().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Turns rotation on with `function` (moto starts a rotation: an AWSPENDING version) and,
/// when `finish`, finishes it as the function would (AWSCURRENT moves to it).
async fn rotate(c: &Clients, id: &str, function_arn: &str, finish: bool) {
    let out = c
        .secrets
        .rotate_secret()
        .secret_id(id)
        .rotation_lambda_arn(function_arn)
        .rotation_rules(
            aws_sdk_secretsmanager::types::RotationRulesType::builder()
                .automatically_after_days(30)
                .build(),
        )
        .send()
        .await
        .unwrap();
    if !finish {
        return;
    }
    let new = out.version_id().unwrap();
    let d = c
        .secrets
        .describe_secret()
        .secret_id(id)
        .send()
        .await
        .unwrap();
    let current = d
        .version_ids_to_stages()
        .unwrap()
        .iter()
        .find(|(_, s)| s.iter().any(|x| x == "AWSCURRENT"))
        .map(|(v, _)| v.clone())
        .unwrap();
    c.secrets
        .update_secret_version_stage()
        .secret_id(id)
        .version_stage("AWSCURRENT")
        .move_to_version_id(new)
        .remove_from_version_id(current)
        .send()
        .await
        .unwrap();
    c.secrets
        .update_secret_version_stage()
        .secret_id(id)
        .version_stage("AWSPENDING")
        .remove_from_version_id(new)
        .send()
        .await
        .unwrap();
}

async fn function_arn(c: &Clients, name: &str) -> String {
    c.lambda
        .get_function_configuration()
        .function_name(name)
        .send()
        .await
        .unwrap()
        .function_arn()
        .unwrap()
        .to_string()
}

/// A function of no stack (another team's rotation function).
async fn other_function(c: &Clients, name: &str) -> String {
    let role = c
        .iam
        .create_role()
        .role_name(name)
        .assume_role_policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    c.lambda
        .create_function()
        .function_name(name)
        .runtime(aws_sdk_lambda::types::Runtime::Providedal2023)
        .role(role.role().unwrap().arn())
        .handler("bootstrap")
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(aws_sdk_lambda::primitives::Blob::new(
                    rotgen::package::zip_executable("bootstrap", b"other"),
                ))
                .build(),
        )
        .send()
        .await
        .unwrap()
        .function_arn()
        .unwrap()
        .to_string()
}

/// The `step failed` line the rotation function itself writes in Lambda (JSON logs): a
/// real one, from `rotgen invoke` with Lambda's environment, for a step on `arn` with a
/// token that is no version of it.
fn failure_line(arn: &str) -> String {
    let dir = common::scratch("status-invoke");
    let event = dir.join("event.json");
    std::fs::write(
        &event,
        json!({"Step": "createSecret", "SecretId": arn, "ClientRequestToken": "no-such-version"})
            .to_string(),
    )
    .unwrap();
    let out = common::rotgen()
        .args(["invoke", event.to_str().unwrap(), "--service", "random"])
        .env("AWS_LAMBDA_FUNCTION_NAME", "rotation")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", common::stderr(&out));
    common::stderr(&out)
        .lines()
        .find(|l| l.contains("step failed"))
        .unwrap_or_else(|| panic!("no failure line: {}", common::stderr(&out)))
        .to_string()
}

async fn put_log(c: &Clients, group: &str, line: &str) {
    let _ = c.logs.create_log_group().log_group_name(group).send().await;
    let _ = c
        .logs
        .create_log_stream()
        .log_group_name(group)
        .log_stream_name("2026/12/04/[$LATEST]abc")
        .send()
        .await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    c.logs
        .put_log_events()
        .log_group_name(group)
        .log_stream_name("2026/12/04/[$LATEST]abc")
        .log_events(
            aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                .timestamp(now)
                .message(line)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

fn status(args: &[&str]) -> std::process::Output {
    common::rotgen()
        .arg("status")
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn spec(stack: &str, names: &[(&str, &str, bool)]) -> String {
    let mut s = format!(
        "[stack]\nname = \"{stack}\"\nformat = \"cloudformation\"\n\n[function]\narchitecture = \"x86_64\"\n\n[schedule]\ndays = 30\n"
    );
    for (id, name, other_group) in names {
        s.push_str(&format!(
            "\n[[secret]]\nid = \"{id}\"\nservice = \"random\"\nname = \"{name}\"\n"
        ));
        if *other_group {
            // Another password policy: another function.
            s.push_str("password = { length = 40 }\n");
        }
    }
    s
}

#[test]
fn every_state_against_moto() {
    if common::moto().is_none() {
        return;
    }
    common::rt().block_on(async {
        let c = clients().await;
        let u = common::unique("st");
        let dir = common::scratch(&format!("status-{u}"));
        let value = |n: &str| format!("Status-Secret-Value-{n}-{u}");
        let name = |n: &str| format!("status/{u}/{n}");
        let mut arns = std::collections::HashMap::new();
        for n in ["healthy", "never", "pending", "other", "failed", "drifted"] {
            arns.insert(n, common::create_secret(&name(n), &value(n)).await);
        }
        let bucket = format!("rotgen-status-{u}");
        let zip = code(&dir, &bucket, b"stack code");
        let stack = format!("status-{u}");
        let ids: Vec<(String, String, bool)> =
            ["healthy", "never", "pending", "other", "failed", "drifted"]
                .iter()
                .map(|n| (format!("S{n}"), name(n), *n == "drifted"))
                .collect();
        let ids_ref: Vec<(&str, &str, bool)> = ids
            .iter()
            .map(|(i, n, o)| (i.as_str(), n.as_str(), *o))
            .collect();
        let spec_text = spec(&stack, &ids_ref);
        let resources = deploy(&c, &dir, &spec_text, &stack, &bucket).await;
        let main_fn = function_arn(&c, &resources["Random1RotationFunction"]).await;
        let drift_fn = function_arn(&c, &resources["Random2RotationFunction"]).await;

        rotate(&c, &arns["healthy"], &main_fn, true).await;
        rotate(&c, &arns["pending"], &main_fn, false).await;
        let other = other_function(&c, &format!("other-{u}")).await;
        rotate(&c, &arns["other"], &other, true).await;
        rotate(&c, &arns["failed"], &main_fn, true).await;
        rotate(&c, &arns["drifted"], &drift_fn, true).await;
        // A failed step, in the function's own log group and format.
        let line = failure_line(&arns["failed"]);
        put_log(&c, &resources["Random1RotationLogGroup"], &line).await;
        // Someone changed the second function's password policy by hand.
        let config = c
            .lambda
            .get_function_configuration()
            .function_name(&resources["Random2RotationFunction"])
            .send()
            .await
            .unwrap();
        let mut vars = config.environment().unwrap().variables().unwrap().clone();
        vars.insert("PASSWORD_LENGTH".into(), "12".into());
        c.lambda
            .update_function_configuration()
            .function_name(&resources["Random2RotationFunction"])
            .environment(
                aws_sdk_lambda::types::Environment::builder()
                    .set_variables(Some(vars))
                    .build(),
            )
            .send()
            .await
            .unwrap();

        let spec_path = dir.join("spec.toml");
        let spec_arg = spec_path.to_str().unwrap();
        let table = status(&[spec_arg, "--code", zip.to_str().unwrap()]);
        let json_out = status(&[spec_arg, "--json"]);
        let by_stack = status(&["--stack", &stack, "--json"]);
        for o in [&table, &json_out, &by_stack] {
            assert_eq!(o.status.code(), Some(1), "{}", common::stderr(o));
            let all = format!("{}{}", common::stdout(o), common::stderr(o));
            for n in arns.keys() {
                assert!(
                    !all.contains(&value(n)),
                    "a secret value in the output:\n{all}"
                );
            }
        }
        let text = common::stdout(&table);
        println!("{text}");
        let report: Value = serde_json::from_str(&common::stdout(&json_out)).unwrap();
        // Apart from the clock (and moto's ListSecretVersionIds, whose CreatedDate is the
        // time of the call), the same report.
        let timeless = |mut v: Value| {
            v["checked_at"] = Value::Null;
            for s in v["secrets"].as_array_mut().unwrap() {
                if s["unfinished"].is_object() {
                    s["unfinished"]["created"] = Value::Null;
                }
            }
            v
        };
        assert_eq!(
            timeless(report.clone()),
            timeless(serde_json::from_str::<Value>(&common::stdout(&by_stack)).unwrap()),
            "--stack reads the same templates CloudFormation has"
        );
        let get = |n: &str| -> Value {
            report["secrets"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["secret"] == name(n))
                .unwrap_or_else(|| panic!("no {n} in {report:#}"))
                .clone()
        };
        let problems = |n: &str| get(n)["problems"].clone();
        assert_eq!(problems("healthy"), json!([]), "{:#}", get("healthy"));
        assert_eq!(get("healthy")["rotated_by_stack"], true);
        assert!(get("healthy")["last_rotated"].is_string());
        assert!(get("healthy")["next_rotation"].is_string());
        assert_eq!(problems("never"), json!(["disabled"]));
        assert_eq!(get("never")["last_rotated"], Value::Null);
        assert_eq!(problems("pending"), json!(["unfinished"]));
        assert!(get("pending")["unfinished"]["version"].is_string());
        assert_eq!(problems("other"), json!(["other-function"]));
        assert_eq!(get("other")["rotation_lambda_arn"], other.as_str());
        assert_eq!(problems("failed"), json!(["failed"]));
        let failure = &get("failed")["last_failure"];
        assert_eq!(failure["step"], "createSecret");
        assert!(
            failure["message"]
                .as_str()
                .unwrap()
                .contains("no-such-version"),
            "{failure}"
        );
        assert_eq!(problems("drifted"), json!(["drift"]));
        assert_eq!(
            get("drifted")["drift"],
            json!(["environment PASSWORD_LENGTH changed"])
        );
        assert_eq!(report["summary"]["healthy"], 1);
        assert_eq!(report["healthy"], false);
        // The table: one aligned line per secret and the summary.
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 8, "{text}");
        let col = lines[0].find("STATUS").unwrap();
        for (l, n) in lines[1..7]
            .iter()
            .zip(["healthy", "never", "pending", "other", "failed", "drifted"])
        {
            assert!(l.starts_with(&name(n)), "{text}");
            assert!(
                l.len() > col && !l[..col].ends_with(|c: char| !c.is_whitespace()),
                "{text}"
            );
        }
        assert!(
            lines[1].ends_with("ok"),
            "the code is the zip given: {text}"
        );
        assert!(
            lines[6].contains("drift: environment PASSWORD_LENGTH changed"),
            "{text}"
        );
        assert!(
            lines[7].starts_with("6 secrets in stack ")
                && lines[7].contains(
                    ": 1 healthy, 1 unfinished, 1 failed, 1 drift, 1 other-function, 1 disabled"
                ),
            "{text}"
        );
        // Another zip than the one the functions run: drift, on both functions.
        std::fs::write(dir.join("other.zip"), b"not the code").unwrap();
        let o = status(&[
            spec_arg,
            "--code",
            dir.join("other.zip").to_str().unwrap(),
            "--json",
        ]);
        let r: Value = serde_json::from_str(&common::stdout(&o)).unwrap();
        assert_eq!(
            r["summary"]["drift"], 6,
            "every secret of the drifted functions: {r:#}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    });
}

/// Invalid input and an AWS that cannot be reached: exit 2 and one line saying what to do.
#[test]
fn invalid_input_and_no_aws_exit_2() {
    let dir = common::scratch("status-invalid");
    let spec_path = dir.join("spec.toml");
    std::fs::write(
        &spec_path,
        spec("x", &[("A", "a", false)]).replace("[stack]\nname = \"x\"\n", "[stack]\n"),
    )
    .unwrap();
    let unreachable = |args: &[&str]| {
        common::rotgen()
            .arg("status")
            .args(args)
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_MAX_ATTEMPTS", "1")
            .output()
            .unwrap()
    };
    let o = unreachable(&[spec_path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        common::stderr(&o)
            .contains("names no stack: give the deployed stack's name with --stack NAME"),
        "{}",
        common::stderr(&o)
    );
    let o = unreachable(&[spec_path.to_str().unwrap(), "--stack", "s"]);
    assert_eq!(o.status.code(), Some(2));
    let err = common::stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("could not reach AWS"), "{err}");
    let o = unreachable(&[]);
    assert_eq!(o.status.code(), Some(2), "SPEC or --stack");
    let o = unreachable(&["--stack", "s", "--code", "/nonexistent.zip"]);
    assert_eq!(o.status.code(), Some(2));
    std::fs::write(&spec_path, "[stack\n").unwrap();
    let o = unreachable(&[spec_path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    if common::moto().is_some() {
        let o = status(&["--stack", "no-such-stack-anywhere"]);
        assert_eq!(o.status.code(), Some(2));
        assert!(
            common::stderr(&o).contains("give its name with --stack NAME"),
            "{}",
            common::stderr(&o)
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_healthy_stack_exits_0() {
    if common::moto().is_none() {
        return;
    }
    common::rt().block_on(async {
        let c = clients().await;
        let u = common::unique("ok");
        let dir = common::scratch(&format!("status-{u}"));
        let n = format!("status/{u}/fine");
        let arn = common::create_secret(&n, "Fine-Secret-Value-1").await;
        let bucket = format!("rotgen-status-{u}");
        let zip = code(&dir, &bucket, b"fine code");
        let stack = format!("status-{u}");
        let resources = deploy(
            &c,
            &dir,
            &spec(&stack, &[("Fine", &n, false)]),
            &stack,
            &bucket,
        )
        .await;
        let function = resources
            .iter()
            .find(|(k, _)| k.ends_with("RotationFunction"))
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{resources:?}"));
        let f = function_arn(&c, &function).await;
        rotate(&c, &arn, &f, true).await;
        let o = status(&["--stack", &stack, "--code", zip.to_str().unwrap()]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}{}",
            common::stdout(&o),
            common::stderr(&o)
        );
        assert!(
            common::stdout(&o).contains("1 secret in stack"),
            "{}",
            common::stdout(&o)
        );
        assert!(!common::stdout(&o).contains("Fine-Secret-Value-1"));
        std::fs::remove_dir_all(&dir).unwrap();
    });
}

/// Builds `spec` into nested stacks and deploys them to moto as `aws cloudformation
/// package` and `deploy` do; each secret's function ARN, from the templates.
async fn deploy_nested(
    c: &Clients,
    dir: &Path,
    spec: &Path,
    stack: &str,
    bucket: &str,
) -> std::collections::HashMap<String, String> {
    let files = common::build_to(spec, dir, "t");
    assert!(files.len() > 2, "nested stacks: {files:?}");
    common::aws_cli(
        dir,
        &[
            "cloudformation",
            "package",
            "--template-file",
            "t.yaml",
            "--s3-bucket",
            bucket,
            "--output-template-file",
            "packaged.yaml",
        ],
    );
    // moto reads a nested template from an S3 URL of AWS's form.
    let port = std::env::var("MOTO_PORT").unwrap();
    let packaged = std::fs::read_to_string(dir.join("packaged.yaml"))
        .unwrap()
        .replace(
            &format!("http://127.0.0.1:{port}/"),
            "https://s3.amazonaws.com/",
        );
    std::fs::write(dir.join("packaged.yaml"), packaged).unwrap();
    common::aws_cli(
        dir,
        &[
            "cloudformation",
            "deploy",
            "--template-file",
            "packaged.yaml",
            "--stack-name",
            stack,
            "--capabilities",
            "CAPABILITY_IAM",
            "CAPABILITY_AUTO_EXPAND",
            "--parameter-overrides",
            &format!("CodeBucket={bucket}"),
            "CodeKey=code.zip",
        ],
    );
    let main = resources(c, stack).await;
    let template: Value =
        rotgen::yaml::parse_template(&std::fs::read_to_string(dir.join("t.yaml")).unwrap())
            .unwrap();
    let mut by_secret = std::collections::HashMap::new();
    for (id, r) in template["Resources"].as_object().unwrap() {
        let Some(file) = r["Properties"]["TemplateURL"].as_str() else {
            continue;
        };
        let nested: Value =
            rotgen::yaml::parse_template(&std::fs::read_to_string(dir.join(file)).unwrap())
                .unwrap();
        let inner = resources(c, &main[id]).await;
        for r in nested["Resources"].as_object().unwrap().values() {
            if r["Type"] == "AWS::SecretsManager::RotationSchedule" {
                let f = r["Properties"]["RotationLambdaARN"]["Fn::GetAtt"][0]
                    .as_str()
                    .unwrap();
                by_secret.insert(
                    r["Properties"]["SecretId"].as_str().unwrap().to_string(),
                    function_arn(c, &inner[f]).await,
                );
            }
        }
    }
    by_secret
}

/// 500 secrets of one stack (nested stacks, as rotgen splits them), each rotated by its
/// function: every one reported healthy, and how long it took (a figure, not a limit).
#[test]
fn five_hundred_secrets() {
    if common::moto().is_none() {
        return;
    }
    common::rt().block_on(async {
        let c = clients().await;
        let u = common::unique("k");
        let dir = common::scratch(&format!("status-{u}"));
        let n = 500;
        let names: Vec<String> = (0..n).map(|i| format!("status/{u}/s{i:03}")).collect();
        let started = Instant::now();
        let arns: Vec<String> = futures_util::future::join_all(
            names
                .iter()
                .map(|name| common::create_secret(name, "Bulk-Secret-Value-xyz")),
        )
        .await;
        let bucket = format!("rotgen-status-{u}");
        code(&dir, &bucket, b"bulk code");
        let stack = format!("status-{u}");
        let ids: Vec<(String, &str, bool)> = names
            .iter()
            .enumerate()
            .map(|(i, name)| (format!("S{i:03}"), name.as_str(), false))
            .collect();
        let ids_ref: Vec<(&str, &str, bool)> =
            ids.iter().map(|(i, n, o)| (i.as_str(), *n, *o)).collect();
        let spec_path = dir.join("spec.toml");
        std::fs::write(&spec_path, spec(&stack, &ids_ref)).unwrap();
        let functions = deploy_nested(&c, &dir, &spec_path, &stack, &bucket).await;
        for chunk in names.iter().zip(&arns).collect::<Vec<_>>().chunks(50) {
            futures_util::future::join_all(
                chunk
                    .iter()
                    .map(|(name, arn)| rotate(&c, arn, &functions[*name], true)),
            )
            .await;
        }
        println!(
            "set up {n} secrets and their stack in {:.2?}",
            started.elapsed()
        );
        let started = Instant::now();
        let o = status(&[spec_path.to_str().unwrap(), "--json"]);
        let elapsed = started.elapsed();
        let r: Value = serde_json::from_str(&common::stdout(&o))
            .unwrap_or_else(|e| panic!("{e}: {}", common::stderr(&o)));
        assert_eq!(r["secrets"].as_array().unwrap().len(), n);
        assert_eq!(r["summary"]["healthy"], n, "{:#}", r["summary"]);
        assert_eq!(o.status.code(), Some(0), "{}", common::stderr(&o));
        assert!(!common::stdout(&o).contains("Bulk-Secret-Value-xyz"));
        println!("rotgen status: {n} secrets in {elapsed:.2?} against moto");
        std::fs::remove_dir_all(&dir).unwrap();
    });
}
