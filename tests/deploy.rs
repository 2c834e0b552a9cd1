//! What the generated stacks do once deployed, checked against moto (scripts/services.sh):
//! the EventBridge rules on rotation failures match the stack's own secrets and no other.
//!
//! Without moto these tests print "skipping"; scripts/test.sh sets
//! ROTGEN_REQUIRE_SERVICES=1, which makes its absence a failure.

mod common;

use serde_json::{Value, json};
use std::collections::HashMap;

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";

/// A template value as CloudFormation resolves it: pseudo parameters in `Fn::Sub`, and
/// `Ref`s from `refs`.
fn resolve(v: &Value, refs: &HashMap<&str, String>) -> Value {
    match v {
        Value::Object(m) if m.len() == 1 && m.contains_key("Fn::Sub") => {
            let s = m["Fn::Sub"].as_str().expect("Fn::Sub of a string");
            json!(
                s.replace("${AWS::Partition}", "aws")
                    .replace("${AWS::Region}", REGION)
                    .replace("${AWS::AccountId}", ACCOUNT)
                    .replace("${AWS::URLSuffix}", "amazonaws.com")
            )
        }
        Value::Object(m) if m.len() == 1 && m.contains_key("Ref") => {
            let id = m["Ref"].as_str().unwrap();
            json!(
                refs.get(id)
                    .unwrap_or_else(|| panic!("no value for Ref {id}"))
            )
        }
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), resolve(v, refs)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|x| resolve(x, refs)).collect()),
        other => other.clone(),
    }
}

/// A RotationFailed event as Secrets Manager sends it through CloudTrail.
fn failure_event(event_name: &str, secret_arn: &str) -> Value {
    json!({
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "AWS Service Event via CloudTrail",
        "source": "aws.secretsmanager",
        "account": ACCOUNT,
        "time": "2026-11-30T04:00:00Z",
        "region": REGION,
        "resources": [],
        "detail": {
            "eventVersion": "1.08",
            "eventSource": "secretsmanager.amazonaws.com",
            "eventName": event_name,
            "awsRegion": REGION,
            "requestParameters": null,
            "responseElements": null,
            "additionalEventData": {"SecretId": secret_arn},
            "eventType": "AwsServiceEvent",
            "managementEvent": true,
            "eventCategory": "Management"
        }
    })
}

/// Per event, the indexes of the patterns that match it, as moto's EventBridge decides
/// (tests/aws/event_matches.py).
fn matching(patterns: &[Value], events: &[Value]) -> Vec<Vec<usize>> {
    let python = common::tool(".venv", "python").expect("the venv of scripts/python-tools.sh");
    let script = common::root().join("tests/aws/event_matches.py");
    let input = json!({"patterns": patterns, "events": events}).to_string();
    let o = common::run_with_stdin(std::process::Command::new(python).arg(script), &input);
    assert!(o.status.success(), "{}", common::stderr(&o));
    serde_json::from_str(&common::stdout(&o)).expect("a JSON list")
}

#[test]
fn the_failure_rules_match_this_stacks_secrets_and_no_other() {
    if common::moto().is_none() {
        return;
    }
    // payments.toml names a secret by ARN, one by name and creates one.
    let o = common::run(&[
        "build",
        common::root()
            .join("examples/payments.toml")
            .to_str()
            .unwrap(),
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let template: Value = serde_json::from_str(&common::stdout(&o)).unwrap();
    let resources = template["Resources"].as_object().unwrap();
    let created =
        format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:CacheUserSecret-Ab12Cd");
    let refs: HashMap<&str, String> = [("CacheUserSecret", created.clone())].into();
    let rules: Vec<Value> = resources
        .values()
        .filter(|r| r["Type"] == "AWS::Events::Rule")
        .map(|r| resolve(&r["Properties"]["EventPattern"], &refs))
        .collect();
    assert_eq!(rules.len(), 3, "one rule per function");

    let ours = [
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/payments/db-AbCdEf".to_string(),
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/reporting/db-Q1w2E3".to_string(),
        created,
    ];
    let others: [&str; 5] = [
        // Other secrets, the same names in another account or region. (A secret named by
        // name is matched by prefix, its ARN's suffix being random: `prod/reporting/db-x`
        // would match too; docs/spec.md says so.)
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/payments/other-AbCdEf",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/reporting/dbx-Q1w2E3",
        "arn:aws:secretsmanager:us-east-1:999999999999:secret:prod/payments/db-AbCdEf",
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/reporting/db-Q1w2E3",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:CacheUserSecret-Zz99Yy",
    ];
    let mut events = Vec::new();
    let mut expected = Vec::new();
    for arn in &ours {
        for name in ["RotationFailed", "RotationAbandoned"] {
            events.push(failure_event(name, arn));
            expected.push(1);
        }
        events.push(failure_event("RotationSucceeded", arn));
        expected.push(0);
    }
    for arn in others {
        events.push(failure_event("RotationFailed", arn));
        expected.push(0);
    }
    let verdicts = matching(&rules, &events);
    for ((event, hits), want) in events.iter().zip(&verdicts).zip(expected) {
        assert_eq!(
            hits.len(),
            want,
            "{} of {}: {want} rule(s) should fire, not {hits:?}",
            event["detail"]["eventName"],
            event["detail"]["additionalEventData"]["SecretId"]
        );
    }
}

/// Lambda's CodeSha256 of a zip: base64 of its SHA-256.
fn code_sha256(zip: &std::path::Path) -> String {
    let python = common::tool(".venv", "python").unwrap();
    let o = std::process::Command::new(python)
        .args([
            "-c",
            "import base64,hashlib,sys; print(base64.b64encode(hashlib.sha256(open(sys.argv[1],'rb').read()).digest()).decode())",
        ])
        .arg(zip)
        .output()
        .unwrap();
    assert!(o.status.success());
    common::stdout(&o).trim().to_string()
}

/// As a new user would, from an empty folder: `rotgen init`, the spec edited to take what
/// differs per environment as parameters, `rotgen build --package` (template and zip),
/// `aws cloudformation package` into S3, then `aws cloudformation deploy` of the one
/// template twice, for two environments with their own VPC, subnet, database group and
/// secret. Both reach CREATE_COMPLETE, and each function runs the packaged zip.
///
/// moto's limits shape the spec and the checks: no `[vpc] endpoint` (moto has no
/// `Fn::GetAtt` of a VPC endpoint's DnsEntries), no `[stack] tags` (moto's KMS key reads
/// CloudFormation tags under the wrong key), and a RotationSchedule that moto keeps as a
/// placeholder without turning rotation on. cfn-lint and the Guard rules cover those.
#[test]
fn from_an_empty_folder_to_two_deployed_environments() {
    if common::moto().is_none() || common::tool(".venv", "aws").is_none() {
        return;
    }
    let dir = common::scratch("deploy");
    let o = common::rotgen()
        .current_dir(&dir)
        .args(["init", "-o", "spec.toml"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", common::stderr(&o));
    let starter = std::fs::read_to_string(dir.join("spec.toml")).unwrap();
    // The edits: plain CloudFormation, and the environment's values as parameters.
    let head = starter.split("[[secret]]").next().unwrap();
    let arch = rotgen::package::host_architecture().unwrap();
    let spec = head
        .replace("format = \"sam\"", "format = \"cloudformation\"")
        .replace(
            "architecture = \"x86_64\"",
            &format!("architecture = \"{arch}\""),
        )
        + r#"
[parameters.VpcId]
type = "AWS::EC2::VPC::Id"
[parameters.Subnets]
type = "List<AWS::EC2::Subnet::Id>"
[parameters.DatabaseGroup]
type = "AWS::EC2::SecurityGroup::Id"
[parameters.AppSecretArn]
type = "String"
[parameters.Schedule]
type = "String"
default = "rate(30 days)"

[vpc]
vpc_id = { param = "VpcId" }
subnet_ids = { param = "Subnets" }
service_security_group_ids = [{ param = "DatabaseGroup" }]
endpoint = false

[[secret]]
id = "AppDb"
arn = { param = "AppSecretArn" }
service = "postgres"
schedule = { expression = { param = "Schedule" } }
"#;
    std::fs::write(dir.join("spec.toml"), spec).unwrap();

    let o = common::rotgen()
        .current_dir(&dir)
        .args(["build", "spec.toml", "-o", "out/template.yaml", "--package"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", common::stderr(&o));
    let zip = dir.join(format!("out/rotgen-{arch}.zip"));
    assert!(zip.exists(), "the zip is next to the template");
    // The commands `build -o` prints, run as printed: only the placeholders (upper-case
    // words) are filled in.
    let printed = common::stderr(&o);
    let command = |verb: &str| -> Vec<String> {
        let line = printed
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with(&format!("aws cloudformation {verb} ")))
            .unwrap_or_else(|| panic!("build prints `aws cloudformation {verb}`: {printed}"));
        line.split_whitespace()
            .skip(1)
            .map(str::to_string)
            .collect()
    };
    let (package, deploy) = (command("package"), command("deploy"));
    let printed_parameters: Vec<&str> = deploy
        .iter()
        .filter_map(|w| w.strip_suffix("=VALUE"))
        .collect();
    assert_eq!(
        printed_parameters,
        ["VpcId", "Subnets", "DatabaseGroup", "AppSecretArn"],
        "every parameter without a default, and only those: {printed}"
    );
    let fill = |words: &[String], values: &[(&str, &str)]| -> Vec<String> {
        words
            .iter()
            .map(|w| match w.split_once('=') {
                Some((k, "VALUE")) => {
                    let v = values
                        .iter()
                        .find(|(n, _)| *n == k)
                        .unwrap_or_else(|| panic!("no value for {k}"));
                    format!("{k}={}", v.1)
                }
                _ if w == "BUCKET" => values
                    .iter()
                    .find(|(n, _)| *n == "BUCKET")
                    .unwrap()
                    .1
                    .to_string(),
                _ => w.clone(),
            })
            .collect()
    };

    let bucket = format!("rotgen-deploy-{}", std::process::id());
    common::aws_cli(&dir, &["s3", "mb", &format!("s3://{bucket}")]);
    let package = fill(&package, &[("BUCKET", &bucket)]);
    common::aws_cli(
        &dir,
        &package.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let expected_code = code_sha256(&zip);
    for (env, cidr, schedule) in [
        ("dev", "10.41.0.0/16", "rate(7 days)"),
        ("prod", "10.42.0.0/16", "cron(0 4 ? * SUN *)"),
    ] {
        let q = |args: &[&str]| common::aws_cli(&dir, args);
        let vpc = q(&[
            "ec2",
            "create-vpc",
            "--cidr-block",
            cidr,
            "--query",
            "Vpc.VpcId",
            "--output",
            "text",
        ]);
        let subnet_cidr = cidr.replace(".0.0/16", ".1.0/24");
        let subnet = q(&[
            "ec2",
            "create-subnet",
            "--vpc-id",
            &vpc,
            "--cidr-block",
            &subnet_cidr,
            "--query",
            "Subnet.SubnetId",
            "--output",
            "text",
        ]);
        let group = q(&[
            "ec2",
            "create-security-group",
            "--group-name",
            &format!("{env}-db-{}", std::process::id()),
            "--description",
            "database",
            "--vpc-id",
            &vpc,
            "--query",
            "GroupId",
            "--output",
            "text",
        ]);
        let secret = q(&[
            "secretsmanager",
            "create-secret",
            "--name",
            &format!("{env}/app/db-{}", std::process::id()),
            "--secret-string",
            r#"{"engine":"postgres","host":"db.internal","username":"app","password":"Initial-pw-1"}"#,
            "--query",
            "ARN",
            "--output",
            "text",
        ]);
        // The printed deploy, with this environment's values; `Schedule` has a default,
        // which this environment overrides (as a user would add it).
        let mut words = fill(
            &deploy,
            &[
                ("BUCKET", &bucket),
                ("VpcId", &vpc),
                ("Subnets", &subnet),
                ("DatabaseGroup", &group),
                ("AppSecretArn", &secret),
            ],
        );
        words.push(format!("Schedule={schedule}"));
        let stack = words[words.iter().position(|w| w == "--stack-name").unwrap() + 1].clone();
        q(&words.iter().map(String::as_str).collect::<Vec<_>>());
        let status = q(&[
            "cloudformation",
            "describe-stacks",
            "--stack-name",
            &stack,
            "--query",
            "Stacks[0].StackStatus",
            "--output",
            "text",
        ]);
        assert_eq!(status, "CREATE_COMPLETE", "{env}");
        let resources: Value = serde_json::from_str(&q(&[
            "cloudformation",
            "describe-stack-resources",
            "--stack-name",
            &stack,
        ]))
        .unwrap();
        let physical = |logical: &str| -> String {
            resources["StackResources"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["LogicalResourceId"] == logical)
                .and_then(|r| r["PhysicalResourceId"].as_str())
                .unwrap_or_else(|| panic!("{env}: no {logical}"))
                .to_string()
        };
        let function = physical("PostgresRotationFunction");
        let config: Value = serde_json::from_str(&q(&[
            "lambda",
            "get-function-configuration",
            "--function-name",
            &function,
        ]))
        .unwrap();
        assert_eq!(
            config["CodeSha256"],
            expected_code.as_str(),
            "{env}: the function runs the packaged zip"
        );
        assert_eq!(config["Architectures"], json!([arch]));
        assert_eq!(config["Runtime"], "provided.al2023");
        assert_eq!(
            config["VpcConfig"]["SubnetIds"],
            json!([subnet]),
            "{env}: its own subnet"
        );
        // moto keeps a RotationSchedule as a nameless placeholder (it does not turn
        // rotation on); what it shows is that the stack took this environment's values.
        let parameters: Value = serde_json::from_str(&q(&[
            "cloudformation",
            "describe-stacks",
            "--stack-name",
            &stack,
            "--query",
            "Stacks[0].Parameters",
        ]))
        .unwrap();
        for (key, want) in [
            ("AppSecretArn", secret.as_str()),
            ("Schedule", schedule),
            ("VpcId", vpc.as_str()),
        ] {
            assert!(
                parameters
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["ParameterKey"] == key && p["ParameterValue"] == want),
                "{env}: {key} = {want} in {parameters}"
            );
        }
        q(&["cloudformation", "delete-stack", "--stack-name", &stack]);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
