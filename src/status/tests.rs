//! `rotgen status`'s logic against a fake AWS: what each state of a secret reports.

use super::*;
use std::sync::Mutex;

/// 2026-12-06 00:00:00 UTC.
const NOW: i64 = 1_796_515_200;
const DAY: i64 = 86_400;
const ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:";

#[derive(Default)]
struct Fake {
    stacks: BTreeMap<String, StackInfo>,
    templates: BTreeMap<String, Value>,
    secrets: BTreeMap<String, SecretState>,
    created: BTreeMap<String, i64>,
    functions: BTreeMap<String, FunctionConfig>,
    logs: BTreeMap<String, Vec<Failure>>,
    calls: Mutex<Vec<String>>,
}

impl Fake {
    fn call(&self, c: String) {
        self.calls.lock().unwrap().push(c);
    }
}

impl Aws for Fake {
    async fn stack(&self, name: &str) -> Result<StackInfo, AwsError> {
        self.call(format!("stack {name}"));
        self.stacks.get(name).cloned().ok_or(AwsError {
            operation: "DescribeStacks",
            message: format!("ValidationError: Stack with id {name} does not exist"),
        })
    }
    async fn template(&self, stack: &str) -> Result<Value, AwsError> {
        self.call(format!("template {stack}"));
        Ok(self.templates[stack].clone())
    }
    async fn secret(&self, id: &str) -> Result<Option<SecretState>, AwsError> {
        self.call(format!("secret {id}"));
        Ok(self.secrets.get(id).cloned())
    }
    async fn version_created(&self, _id: &str, version: &str) -> Result<Option<i64>, AwsError> {
        self.call(format!("version {version}"));
        Ok(self.created.get(version).copied())
    }
    async fn function(&self, name: &str) -> Result<Option<FunctionConfig>, AwsError> {
        self.call(format!("function {name}"));
        Ok(self.functions.get(name).cloned())
    }
    async fn failures(&self, group: &str, since_ms: i64) -> Result<Vec<Failure>, AwsError> {
        self.call(format!("logs {group}"));
        Ok(self
            .logs
            .get(group)
            .into_iter()
            .flatten()
            .filter(|f| f.time_ms >= since_ms)
            .cloned()
            .collect())
    }
}

fn block<T>(f: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

fn function(arch: &str) -> Value {
    json!({"Type": "AWS::Lambda::Function", "Properties": {
        "Runtime": "provided.al2023", "Architectures": [arch],
        "Code": {"S3Bucket": {"Ref": "CodeBucket"}, "S3Key": {"Ref": "CodeKey"}},
        "Environment": {"Variables": {"ROTGEN_SERVICE": "random", "PASSWORD_LENGTH": "32",
            "SECRETS_MANAGER_ENDPOINT": {"Fn::GetAtt": ["Endpoint", "DnsEntries"]}}},
        "LoggingConfig": {"LogFormat": "JSON", "LogGroup": {"Ref": "FnLogs"}}}})
}

fn schedule(secret: Value, function: &str, rules: Value) -> Value {
    json!({"Type": "AWS::SecretsManager::RotationSchedule", "Properties": {
        "SecretId": secret, "RotationLambdaARN": {"Fn::GetAtt": [function, "Arn"]},
        "RotationRules": rules}})
}

fn config(name: &str) -> FunctionConfig {
    FunctionConfig {
        arn: format!("{ARN}{name}"),
        runtime: Some("provided.al2023".into()),
        architecture: Some("arm64".into()),
        environment: [
            ("ROTGEN_SERVICE", "random"),
            ("PASSWORD_LENGTH", "32"),
            ("SECRETS_MANAGER_ENDPOINT", "https://vpce"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        code_sha256: Some("abc=".into()),
        log_group: None,
    }
}

fn secret(name: &str, function: Option<&str>, last: Option<i64>) -> SecretState {
    SecretState {
        arn: format!("arn:aws:secretsmanager:us-east-1:123456789012:secret:{name}-AbCdEf"),
        name: name.to_string(),
        rotation_enabled: function.is_some(),
        rotation_lambda_arn: function.map(|f| format!("{ARN}{f}")),
        rules: Rules {
            days: Some(30),
            expression: None,
            duration: None,
        },
        last_rotated: last,
        next_rotation: None,
        versions: [("v1".to_string(), vec!["AWSCURRENT".to_string()])].into(),
    }
}

/// A stack of two functions (the second in a nested stack) and a secret in each state.
fn fake() -> Fake {
    let mut f = Fake::default();
    let main = json!({"Resources": {
        "Fn": function("arm64"),
        "FnLogs": {"Type": "AWS::Logs::LogGroup"},
        "Created": {"Type": "AWS::SecretsManager::Secret"},
        "HealthySchedule": schedule(json!("app/healthy"), "Fn", json!({"AutomaticallyAfterDays": 30})),
        "CreatedSchedule": schedule(json!({"Ref": "Created"}), "Fn", json!({"ScheduleExpression": "rate(30 days)", "Duration": "4h"})),
        "ParamSchedule": schedule(json!({"Ref": "AppSecret"}), "Fn", json!({"ScheduleExpression": {"Ref": "Schedule"}})),
        "OverdueSchedule": schedule(json!("app/overdue"), "Fn", json!({"AutomaticallyAfterDays": 30})),
        "NeverSchedule": schedule(json!("app/never"), "Fn", json!({"AutomaticallyAfterDays": 30})),
        "PendingSchedule": schedule(json!("app/pending"), "Fn", json!({"AutomaticallyAfterDays": 30})),
        "OtherSchedule": schedule(json!("app/other"), "Fn", json!({"AutomaticallyAfterDays": 30})),
        "FailedSchedule": schedule(json!("app/failed"), "Fn", json!({"AutomaticallyAfterDays": 30})),
        "GoneSchedule": schedule(json!("app/gone"), "Fn", json!({"AutomaticallyAfterDays": 30})),
        "Skipped": {"Type": "AWS::SecretsManager::RotationSchedule", "Condition": "Never", "Properties": {}},
        "Nested": {"Type": "AWS::CloudFormation::Stack", "Properties": {"TemplateURL": "template.nested.yaml"}}
    }});
    let nested = json!({"Resources": {
        "Fn": function("x86_64"),
        "DriftSchedule": schedule(json!("app/drift"), "Fn", json!({"AutomaticallyAfterDays": 30}))
    }});
    let info = |r: &[(&str, &str)], p: &[(&str, &str)]| StackInfo {
        resources: r
            .iter()
            .map(|(l, ph)| (l.to_string(), ("T".to_string(), ph.to_string())))
            .collect(),
        parameters: p
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    f.stacks.insert(
        "app".into(),
        info(
            &[
                ("Fn", "app-Fn-1"),
                ("FnLogs", "/rotgen/app"),
                ("Created", "arn:created"),
                ("Nested", "arn:nested"),
            ],
            &[("AppSecret", "app/param"), ("Schedule", "rate(7 days)")],
        ),
    );
    f.stacks
        .insert("arn:nested".into(), info(&[("Fn", "app-Nested-Fn-2")], &[]));
    f.templates.insert("app".into(), main);
    f.templates.insert("arn:nested".into(), nested);
    f.functions.insert("app-Fn-1".into(), config("app-Fn-1"));
    let mut drifted = config("app-Nested-Fn-2");
    drifted.architecture = Some("x86_64".into());
    drifted
        .environment
        .insert("ROTGEN_SERVICE".into(), "postgres".into());
    drifted.environment.insert("EXTRA".into(), "1".into());
    f.functions.insert("app-Nested-Fn-2".into(), drifted);
    let fresh = Some(NOW - 3 * DAY);
    for name in ["app/healthy", "app/param", "app/drift"] {
        f.secrets
            .insert(name.into(), secret(name, Some("app-Fn-1"), fresh));
    }
    f.secrets.get_mut("app/drift").unwrap().rotation_lambda_arn =
        Some(format!("{ARN}app-Nested-Fn-2:$LATEST"));
    // Secrets Manager has rate(30 days) with a window; the template's parameter says 7 days.
    let mut created = secret("app/created", Some("app-Fn-1"), Some(NOW - 20 * DAY));
    created.rules = Rules {
        days: None,
        expression: Some("rate(30 days)".into()),
        duration: Some("4h".into()),
    };
    f.secrets.insert("arn:created".into(), created);
    f.secrets.get_mut("app/param").unwrap().rules = Rules::default();
    f.secrets.get_mut("app/param").unwrap().last_rotated = Some(NOW - 10 * DAY);
    f.secrets.insert(
        "app/overdue".into(),
        secret("app/overdue", Some("app-Fn-1"), Some(NOW - 31 * DAY)),
    );
    f.secrets
        .insert("app/never".into(), secret("app/never", None, None));
    let mut pending = secret("app/pending", Some("app-Fn-1"), fresh);
    pending
        .versions
        .insert("0b5c7e2a-pending".into(), vec!["AWSPENDING".into()]);
    f.created.insert("0b5c7e2a-pending".into(), NOW - 2 * 3600);
    f.secrets.insert("app/pending".into(), pending);
    f.secrets.insert(
        "app/other".into(),
        secret("app/other", Some("someone-elses"), fresh),
    );
    let failed = secret("app/failed", Some("app-Fn-1"), fresh);
    let failure = |id: &str, at: i64, message: &str| Failure {
        time_ms: at * 1000,
        secret_id: id.to_string(),
        step: "setSecret".into(),
        kind: Some("Auth".into()),
        retryable: Some(false),
        message: message.into(),
    };
    f.logs.insert(
        "/rotgen/app".into(),
        vec![
            failure(
                &failed.arn,
                NOW - 3600,
                "the current password does not log in",
            ),
            failure(&failed.arn, NOW - 7200, "an earlier failure"),
            // Before the healthy secret's last rotation: resolved.
            failure(
                &secret("app/healthy", None, None).arn,
                NOW - 4 * DAY,
                "resolved since",
            ),
        ],
    );
    f.secrets.insert("app/failed".into(), failed);
    f
}

fn opts() -> Options {
    Options {
        now: NOW,
        log_days: 14,
        code: CodeCheck::default(),
    }
}

fn by_name<'a>(r: &'a Report, name: &str) -> &'a SecretReport {
    r.secrets
        .iter()
        .find(|s| s.secret == name || s.schedule_id.contains(name))
        .unwrap_or_else(|| panic!("no {name} in {r:#?}"))
}

#[test]
fn every_state_of_a_secret() {
    let f = fake();
    let report = block(check(&f, &Source::Stack("app".into()), &opts())).unwrap();
    let problems = |n: &str| by_name(&report, n).problems();
    assert_eq!(
        report.secrets.len(),
        10,
        "the conditional schedule is skipped"
    );
    assert!(problems("app/healthy").is_empty());
    assert!(by_name(&report, "app/healthy").failure_resolved);
    assert!(
        problems("app/created").is_empty(),
        "{:?}",
        by_name(&report, "app/created")
    );
    assert_eq!(
        by_name(&report, "app/created").schedule.as_deref(),
        Some("rate(30 days)")
    );
    assert_eq!(by_name(&report, "app/created").window_hours, Some(4));
    // Secrets Manager gives no rules: the template's, through the stack's parameter.
    assert_eq!(problems("app/param"), ["overdue"]);
    assert_eq!(
        by_name(&report, "app/param").schedule.as_deref(),
        Some("rate(7 days)")
    );
    assert_eq!(problems("app/overdue"), ["overdue"]);
    assert_eq!(problems("app/never"), ["disabled"]);
    assert_eq!(problems("app/pending"), ["unfinished"]);
    assert_eq!(
        by_name(&report, "app/pending").unfinished,
        Some(("0b5c7e2a-pending".into(), Some(NOW - 7200)))
    );
    assert_eq!(problems("app/other"), ["other-function"]);
    assert_eq!(problems("app/failed"), ["failed"]);
    assert_eq!(
        by_name(&report, "app/failed")
            .last_failure
            .as_ref()
            .unwrap()
            .message,
        "the current password does not log in"
    );
    assert_eq!(problems("GoneSchedule"), ["missing"]);
    // The qualifier of the secret's function ARN does not matter.
    assert_eq!(problems("app/drift"), ["drift"]);
    assert_eq!(
        by_name(&report, "app/drift").drift,
        [
            "environment ROTGEN_SERVICE changed",
            "environment EXTRA added"
        ]
    );
    assert_eq!(
        by_name(&report, "app/drift").schedule_id,
        "Nested/DriftSchedule"
    );
    assert!(!report.healthy());
    // One ListSecretVersionIds, for the unfinished rotation only; each function once.
    let calls = f.calls.lock().unwrap().clone();
    assert_eq!(
        calls.iter().filter(|c| c.starts_with("version ")).count(),
        1
    );
    assert_eq!(
        calls.iter().filter(|c| c.starts_with("function ")).count(),
        2
    );
    assert!(calls.contains(&"logs /rotgen/app".to_string()));
    assert!(calls.contains(&"logs /aws/lambda/app-Nested-Fn-2".to_string()));

    let table = table(&report);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 12, "{table}");
    let column = lines[0].find("STATUS").unwrap();
    assert!(lines[1..11].iter().all(|l| l.len() > column), "{table}");
    assert!(
        table.contains("failed setSecret 2026-12-05 23:00: the current password does not log in"),
        "{table}"
    );
    assert!(table.contains("rotated by someone-elses"), "{table}");
    assert!(
        table.contains("unfinished (0b5c7e2a… pending 2h)"),
        "{table}"
    );
    assert!(
        table.contains("drift: environment ROTGEN_SERVICE changed, environment EXTRA added"),
        "{table}"
    );
    assert!(lines[11].starts_with("10 secrets in stack app: 2 healthy, 2 overdue, 1 unfinished, 1 failed, 1 drift, 1 other-function, 1 disabled, 1 missing"), "{table}");

    let j = to_json(&report);
    assert_eq!(j["healthy"], false);
    assert_eq!(j["summary"]["healthy"], 2);
    let failed = j["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["secret"] == "app/failed")
        .unwrap();
    assert_eq!(failed["last_failure"]["step"], "setSecret");
    assert_eq!(failed["last_failure"]["resolved"], false);
    assert_eq!(failed["problems"], json!(["failed"]));
}

#[test]
fn a_spec_reads_no_template_from_cloudformation() {
    let f = fake();
    let source = Source::Spec {
        main: f.templates["app"].clone(),
        nested: vec![(
            "template.nested.yaml".into(),
            f.templates["arn:nested"].clone(),
        )],
        stack: "app".into(),
    };
    let report = block(check(&f, &source, &opts())).unwrap();
    assert_eq!(report.secrets.len(), 10);
    assert!(
        !f.calls
            .lock()
            .unwrap()
            .iter()
            .any(|c| c.starts_with("template ")),
        "the spec's own templates"
    );
}

#[test]
fn a_stacksets_nested_template_is_found_by_its_key() {
    let f = fake();
    let mut main = f.templates["app"].clone();
    main["Resources"]["Nested"]["Properties"]["TemplateURL"] = json!({"Fn::Sub":
        "https://${CodeBucket}-${AWS::Region}.s3.${AWS::Region}.${AWS::URLSuffix}/template.nested-0a1b2c.yaml"});
    let source = |name: &str| Source::Spec {
        main: main.clone(),
        nested: vec![(name.into(), f.templates["arn:nested"].clone())],
        stack: "app".into(),
    };
    let report = block(check(&f, &source("template.nested-0a1b2c.yaml"), &opts())).unwrap();
    assert_eq!(report.secrets.len(), 10);
    let err = block(check(&f, &source("template.nested.yaml"), &opts())).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no nested template template.nested-0a1b2c.yaml for Nested"
    );
}

/// A compiled StackSet spec names its nested templates by the keys its stack resources
/// read them from, so `rotgen status SPEC` pairs each.
#[test]
fn a_compiled_stackset_pairs_every_nested_stack() {
    let mut text = "[stack]\nname = \"big\"\nstackset = true\n\n[schedule]\ndays = 30\n\n[alarms]\nenabled = false\n".to_string();
    for i in 0..260 {
        text.push_str(&format!(
            "\n[[secret]]\nid = \"S{i}\"\nservice = \"random\"\ncreate = {{ name = \"team/s{i}\" }}\n"
        ));
    }
    let compiled =
        crate::compile_toml(&text, &|label: &str| format!("template.{label}.yaml")).unwrap();
    assert!(!compiled.deploy.nested_keys.is_empty());
    let Source::Spec { main, nested, .. } = Source::of_compiled(compiled, "big".into()) else {
        unreachable!()
    };
    let names: BTreeSet<&str> = nested.iter().map(|(n, _)| n.as_str()).collect();
    let stacks: Vec<String> = resources(&main)
        .filter(|(_, r)| r["Type"] == "AWS::CloudFormation::Stack")
        .map(|(_, r)| location(r))
        .collect();
    assert_eq!(stacks.len(), nested.len());
    for l in &stacks {
        assert!(names.contains(l.as_str()), "{l} in {names:?}");
    }
}

#[test]
fn drift_by_field() {
    let expected = ExpectedFunction {
        logical_id: "Fn".into(),
        name: "fn".into(),
        log_group: None,
        runtime: Some("provided.al2023".into()),
        architecture: Some("arm64".into()),
        environment: [("ROTGEN_SERVICE".to_string(), "random".to_string())].into(),
        environment_names: ["ROTGEN_SERVICE".to_string(), "ENDPOINT".to_string()].into(),
        code_path: None,
    };
    let mut c = config("fn");
    c.environment = [("ENDPOINT".to_string(), "x".to_string())].into();
    c.architecture = Some("x86_64".into());
    c.runtime = Some("python3.12".into());
    assert_eq!(
        drift(&expected, &c, Some("other=")),
        [
            "runtime python3.12 (template: provided.al2023)",
            "architecture x86_64 (template: arm64)",
            "environment ROTGEN_SERVICE missing",
            "code (another zip)"
        ]
    );
    c.runtime = Some("provided.al2023".into());
    c.architecture = Some("arm64".into());
    c.environment
        .insert("ROTGEN_SERVICE".into(), "random".into());
    assert!(drift(&expected, &c, Some("abc=")).is_empty());
}

#[test]
fn missing_stack_and_unresolvable_secret_are_errors() {
    let f = fake();
    let e = block(check(&f, &Source::Stack("nope".into()), &opts())).unwrap_err();
    assert!(e.to_string().contains("does not exist"), "{e}");
    let mut f = fake();
    f.templates.get_mut("app").unwrap()["Resources"]["HealthySchedule"]["Properties"]["SecretId"] =
        json!({"Fn::ImportValue": "x"});
    let e = block(check(&f, &Source::Stack("app".into()), &opts())).unwrap_err();
    assert!(e.to_string().contains("HealthySchedule"), "{e}");
}

#[test]
fn failure_lines() {
    let line = r#"{"level":"ERROR","message":"step failed","step":"testSecret","secret_id":"arn:s","token":"t","kind":"Auth","retryable":true,"error":"login refused\nfor app"}"#;
    assert_eq!(
        parse_failure(line, 5),
        Some(Failure {
            time_ms: 5,
            secret_id: "arn:s".into(),
            step: "testSecret".into(),
            kind: Some("Auth".into()),
            retryable: Some(true),
            message: "login refused for app".into(),
        })
    );
    assert_eq!(
        parse_failure(
            r#"{"message":"step finished","step":"x","secret_id":"y"}"#,
            0
        ),
        None
    );
    assert_eq!(parse_failure("step failed, not JSON", 0), None);
    let long = format!(
        r#"{{"message":"step failed","step":"a","secret_id":"b","error":"{}"}}"#,
        "x".repeat(2000)
    );
    assert_eq!(
        parse_failure(&long, 0).unwrap().message.chars().count(),
        MESSAGE_CHARS + 1
    );
}

#[test]
fn times() {
    assert_eq!(iso(NOW + 3661), "2026-12-06T01:01:01Z");
    assert_eq!(iso(0), "1970-01-01T00:00:00Z");
}
