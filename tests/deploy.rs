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

/// moto's endpoint, or `None` (skip) when scripts/services.sh has not started it.
fn moto() -> Option<String> {
    match std::env::var("AWS_ENDPOINT_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("ROTGEN_REQUIRE_SERVICES").is_none(),
                "moto is missing: run `scripts/services.sh start` and source target/services/env"
            );
            eprintln!("skipping: moto is not running (scripts/services.sh start)");
            None
        }
    }
}

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
    if moto().is_none() {
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
        // would match too; the README says so.)
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
