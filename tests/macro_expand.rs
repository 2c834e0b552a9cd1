//! The CloudFormation front door: every `tests/fixtures/macro/*.yaml` expands (snapshot,
//! cfn-lint clean), every `tests/fixtures/macro-invalid/*.yaml` is refused with messages
//! that name the resource and field, every `tests/fixtures/macro-events/*.json` gets a
//! well-formed `failure` answer, and random fragments never break the handler.

mod common;

use common::{cfn_lint, root, scratch};
use rotgen::cfn_macro::{ExpandOptions, expand, handle_request};
use serde_json::{Value, json};
use std::fs;

fn load(path: &std::path::Path) -> Value {
    rotgen::yaml::parse(&fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn templates_expand() {
    let dir = scratch("macro");
    insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
        insta::glob!("fixtures/macro", "*.yaml", |path| {
            let template = load(path);
            let expanded = expand(&template, &ExpandOptions::default())
                .unwrap_or_else(|d| panic!("{}: {d}", path.display()));
            // Nothing of the macro is left; everything else is as it was.
            let resources = expanded["Resources"].as_object().unwrap();
            assert!(!resources.values().any(|r| r["Type"] == "Rotgen::Rotation"));
            for (id, r) in template["Resources"].as_object().unwrap() {
                if r["Type"] != "Rotgen::Rotation" && r.get("DependsOn").is_none() {
                    assert_eq!(&resources[id], r, "{id} changed");
                }
            }
            assert!(!serde_json::to_string(&expanded["Transform"]).unwrap().contains("\"Rotgen\""));
            let text = rotgen::yaml::to_string(&expanded);
            fs::write(dir.join(path.file_name().unwrap()), &text).unwrap();
            insta::assert_snapshot!(text);
        });
    });
    let files: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cfn_lint(&files);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn condition_and_depends_on_carry_over() {
    let expanded = expand(
        &load(&root().join("tests/fixtures/macro/several.yaml")),
        &ExpandOptions::default(),
    )
    .unwrap();
    let res = expanded["Resources"].as_object().unwrap();
    let cache: Vec<(&String, &Value)> = res
        .iter()
        .filter(|(id, _)| id.starts_with("CacheRotation"))
        .collect();
    assert!(cache.len() >= 4);
    for (id, r) in &cache {
        assert_eq!(r["Condition"], "IsProd", "{id}");
    }
    for (id, o) in expanded["Outputs"].as_object().unwrap() {
        if id.starts_with("CacheRotation") {
            assert_eq!(o["Condition"], "IsProd", "{id}");
        }
    }
    // Everything OrdersRotation became waits for Key: by DependsOn, or by referring to it.
    for (id, r) in res
        .iter()
        .filter(|(id, _)| id.starts_with("OrdersRotation"))
    {
        let depends = r["DependsOn"]
            .as_array()
            .is_some_and(|d| d.contains(&json!("Key")));
        let text = serde_json::to_string(r).unwrap();
        let refers = text.contains(r#"{"Ref":"Key"}"#) || text.contains(r#"["Key","#);
        assert!(
            depends != refers,
            "{id}: depends {depends}, refers {refers}"
        );
    }
    // Alarm depended on OrdersRotation: now on its schedules.
    assert_eq!(
        res["Alarm"]["DependsOn"],
        "OrdersRotationOrdersRotationSchedule"
    );
    // Intrinsics passed through intact.
    let schedule = &res["OrdersRotationOrdersRotationSchedule"]["Properties"];
    assert_eq!(schedule["SecretId"], json!({"Ref": "Db"}));
    let fun = &res["OrdersRotationMysqlAlternatingFunction"]["Properties"];
    assert_eq!(fun["VpcConfig"]["SubnetIds"], json!({"Ref": "Subnets"}));
}

#[test]
fn invalid_templates_are_refused_with_the_field_at_fault() {
    insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
        insta::glob!("fixtures/macro-invalid", "*.yaml", |path| {
            let d = expand(&load(path), &ExpandOptions::default()).expect_err("must fail");
            // One problem per value: none is the consequence of another at the same place.
            let mut places: Vec<&rotgen::diag::Loc> = d.0.iter().map(|p| &p.loc).collect();
            places.dedup();
            assert_eq!(places.len(), d.0.len(), "two problems at one place: {d}");
            let text = d.to_string();
            assert!(text.contains("Resources.") || text.contains("Outputs."), "{text}");
            // No value that looks like a secret (secret-values.yaml) in the errorMessage.
            assert!(!text.contains("s3cr3t"), "{text}");
            insta::assert_snapshot!(text.replace("; ", ";\n"));
        });
    });
}

#[test]
fn broken_events_answer_failure_with_their_request_id() {
    insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
        insta::glob!("fixtures/macro-events", "*.json", |path| {
            let event: Value = serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap();
            let answer = handle_request(&event, &ExpandOptions::default());
            assert_eq!(answer["status"], "failure");
            assert_eq!(answer["requestId"], event.get("requestId").cloned().unwrap_or(json!("")));
            assert!(answer["errorMessage"].as_str().is_some_and(|m| !m.is_empty()));
            insta::assert_json_snapshot!(answer);
        });
    });
}

/// A schedule given by the template's parameters is checked with this deploy's values
/// (the request's templateParameterValues), and written with them.
#[test]
fn a_schedule_from_parameters_takes_this_deploys_values() {
    let event = |days: &str| {
        json!({"region": "us-east-1", "accountId": "123456789012", "transformId": "x", "requestId": "r-2",
        "params": {}, "templateParameterValues": {"RotationDays": days, "Every": "rate(12 hours)"},
        "fragment": {
            "Parameters": {"RotationDays": {"Type": "Number"}, "Every": {"Type": "String"}},
            "Resources": {"AppRotation": {"Type": "Rotgen::Rotation", "Properties": {
                "schedule": {"days": {"Ref": "RotationDays"}, "window": "2h"},
                "secret": [
                    {"id": "App", "name": "prod/app", "service": "postgres"},
                    {"id": "Other", "name": "prod/other", "service": "postgres",
                     "schedule": {"expression": {"Ref": "Every"}}}
                ]}}}}})
    };
    let answer = handle_request(&event("14"), &ExpandOptions::default());
    assert_eq!(answer["status"], "success", "{answer}");
    let res = &answer["fragment"]["Resources"];
    assert_eq!(
        res["AppRotationAppRotationSchedule"]["Properties"]["RotationRules"],
        json!({"AutomaticallyAfterDays": 14, "Duration": "2h"})
    );
    assert_eq!(
        res["AppRotationOtherRotationSchedule"]["Properties"]["RotationRules"]["ScheduleExpression"],
        "rate(12 hours)"
    );
    let answer = handle_request(&event("0"), &ExpandOptions::default());
    assert_eq!(answer["status"], "failure");
    assert!(
        answer["errorMessage"].as_str().unwrap().contains("days"),
        "{answer}"
    );
}

/// An ARN given by a parameter, or by a mapping whose key is a parameter, is checked with
/// the values this deploy gives (templateParameterValues), and passed on as written: the
/// same template deploys with one key's ARN and is refused with a wildcard.
#[test]
fn arns_from_parameters_take_this_deploys_values() {
    let fragment = json!({
        "Parameters": {"KeyArn": {"Type": "String"}, "Stage": {"Type": "String"}, "KeyId": {"Type": "String"}},
        "Mappings": {"MasterKeys": {
            "prod": {"arn": "arn:aws:kms:us-east-1:123456789012:key/abc*"},
            "dev": {"arn": "arn:aws:kms:us-east-1:123456789012:key/2222bbbb"}}},
        "Resources": {"AppRotation": {"Type": "Rotgen::Rotation", "Properties": {
            "schedule": {"days": 30},
            "secret": [{"id": "App", "name": "prod/app", "service": "postgres", "strategy": "alternating-users",
                "master_secret_arn": {"Fn::Sub": "arn:aws:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:prod/admin-AbCdEf"},
                "kms_key_arn": {"Ref": "KeyArn"},
                "master_kms_key_arn": {"Fn::FindInMap": ["MasterKeys", {"Ref": "Stage"}, "arn"]}},
              {"id": "Other", "name": "prod/other", "service": "postgres",
                "kms_key_arn": {"Fn::Sub": ["arn:aws:kms:us-east-1:123456789012:key/${Id}", {"Id": {"Ref": "KeyId"}}]}}]}}}});
    let event = |key: &str, stage: &str, id: &str| {
        json!({"region": "us-east-1", "accountId": "123456789012", "transformId": "x", "requestId": "r",
            "params": {}, "templateParameterValues": {"KeyArn": key, "Stage": stage, "KeyId": id},
            "fragment": fragment})
    };
    let one = "arn:aws:kms:us-east-1:123456789012:key/1111aaaa";
    let answer = handle_request(&event(one, "dev", "3333cccc"), &ExpandOptions::default());
    assert_eq!(answer["status"], "success", "{answer}");
    let policy = serde_json::to_string(&answer["fragment"]["Resources"]).unwrap();
    assert!(
        policy.contains(r#"{"Ref":"KeyArn"}"#),
        "passed on as written"
    );
    for (values, expected) in [
        (
            (format!("{one}*"), "dev", "3333cccc"),
            "secret[0].kms_key_arn: kms_key_arn can be \"arn:aws:kms:us-east-1:123456789012:key/1111aaaa*\" (from the parameter KeyArn), whose * IAM reads as a wildcard",
        ),
        (
            (one.to_string(), "prod", "3333cccc"),
            "secret[0].master_kms_key_arn: master_kms_key_arn can be \"arn:aws:kms:us-east-1:123456789012:key/abc*\" (from Mappings.MasterKeys.prod.arn)",
        ),
        (
            (one.to_string(), "dev", "?"),
            "secret[1].kms_key_arn: kms_key_arn can be \"arn:aws:kms:us-east-1:123456789012:key/?\" (from the parameter KeyId)",
        ),
        (
            ("alias/app".to_string(), "dev", "3333cccc"),
            "kms_key_arn can be \"alias/app\" (from the parameter KeyArn), which is not valid",
        ),
    ] {
        let answer = handle_request(
            &event(&values.0, values.1, values.2),
            &ExpandOptions::default(),
        );
        assert_eq!(answer["status"], "failure", "{values:?}");
        let message = answer["errorMessage"].as_str().unwrap();
        assert!(message.contains(expected), "{values:?}: {message}");
        assert_eq!(message.matches("Resources.").count(), 1, "{message}");
    }
    // Offline, with no values: a mapping's key that is a parameter may be any of the map's
    // keys, so every entry is checked; a parameter with no value is left to the deploy.
    let d = expand(&fragment, &ExpandOptions::default()).expect_err("prod's key is a wildcard");
    assert_eq!(d.0.len(), 1, "{d}");
    assert!(
        d.to_string().contains("Mappings.MasterKeys.prod.arn"),
        "{d}"
    );
}

/// Many ARNs looked up in a large mapping by a pseudo-parameter: every entry is a value
/// each may take, read once for them all, and each property gets one problem naming an
/// entry with a wildcard (the entries past the first thousand are looked at too).
#[test]
fn a_large_mapping_is_read_once_for_every_lookup() {
    let entries = 20_000;
    let mut keys = serde_json::Map::new();
    for i in 0..entries {
        let wild = if i == entries - 1 { "*" } else { "" };
        keys.insert(
            format!("r{i}"),
            json!({"key": format!("arn:aws:kms:us-east-1:123456789012:key/k{i}{wild}")}),
        );
    }
    let lookup = json!({"Fn::FindInMap": ["Keys", {"Ref": "AWS::Region"}, "key"]});
    let secrets: Vec<Value> = (0..100)
        .map(|i| {
            json!({"id": format!("S{i}"), "name": format!("prod/s{i}"), "service": "postgres",
            "strategy": "alternating-users",
            "master_secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/admin-AbCdEf",
            "kms_key_arn": lookup, "master_kms_key_arn": {"Fn::Join": ["", [lookup, lookup]]}})
        })
        .collect();
    let template = json!({"Mappings": {"Keys": keys}, "Resources": {"R": {"Type": "Rotgen::Rotation",
        "Properties": {"function": {"code": "s3://b/k.zip"}, "schedule": {"days": 30}, "secret": secrets}}}});
    let d = expand(&template, &ExpandOptions::default()).expect_err("wildcards");
    let wild: Vec<_> =
        d.0.iter()
            .filter(|p| p.message.contains("wildcard"))
            .collect();
    assert_eq!(wild.len(), 200, "{d}");
    let last = format!("Mappings.Keys.r{}.key", entries - 1);
    assert!(wild.iter().all(|p| p.message.contains(&last)), "{d}");
}

#[test]
fn a_valid_event_answers_success_with_the_expanded_fragment() {
    let mut fragment = load(&root().join("tests/fixtures/macro/issue-example.yaml"));
    fragment.as_object_mut().unwrap().remove("Transform");
    let event = json!({"region": "us-east-1", "accountId": "123456789012", "transformId": "x", "requestId": "r-1",
        "params": {}, "templateParameterValues": {"PrivateSubnets": ["subnet-1"]}, "fragment": fragment});
    let answer = handle_request(&event, &ExpandOptions::default());
    assert_eq!(answer["status"], "success", "{answer}");
    assert_eq!(answer["requestId"], "r-1");
    assert!(answer["fragment"]["Resources"]["AppRotationPostgresFunction"].is_object());
    // The macro's default format is plain CloudFormation: it cannot see the SAM transform.
    assert_eq!(
        answer["fragment"]["Resources"]["AppRotationPostgresFunction"]["Type"],
        "AWS::Lambda::Function"
    );
}

/// A tiny deterministic generator of JSON values, biased towards template shapes.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
    fn value(&mut self, depth: u32) -> Value {
        let keys = [
            "Resources",
            "Type",
            "Properties",
            "Rotgen::Rotation",
            "secret",
            "id",
            "service",
            "schedule",
            "days",
            "expression",
            "vpc",
            "subnet_ids",
            "Ref",
            "Fn::GetAtt",
            "Condition",
            "DependsOn",
            "function",
            "code",
            "name",
            "arn",
            "password",
            "length",
            "create",
            "x",
        ];
        match (self.next() % if depth == 0 { 5 } else { 8 }, depth) {
            (0, _) => Value::Null,
            (1, _) => json!(self.next().is_multiple_of(2)),
            (2, _) => json!((self.next() % 2000) as i64 - 500),
            (3, _) => json!(self.pick(&keys)),
            (4, _) => json!(self.pick(&[
                "postgres",
                "redis",
                "rate(30 days)",
                "s3://b/k",
                "App",
                "",
                "arn:aws:x"
            ])),
            (5 | 6, d) => {
                let n = self.next() % 4;
                Value::Object(
                    (0..n)
                        .map(|_| (self.pick(&keys).to_string(), self.value(d - 1)))
                        .collect(),
                )
            }
            (_, d) => {
                let n = self.next() % 3;
                Value::Array((0..n).map(|_| self.value(d - 1)).collect())
            }
        }
    }
}

/// The request says the stack's account: a secret of that account is invoked from it
/// (`SourceAccount: AWS::AccountId`), a secret of another account from that one, each
/// schedule waiting for its own account's permission.
#[test]
fn a_secret_of_another_account_gets_that_accounts_permission() {
    let arn = |account: &str, name: &str| {
        format!("arn:aws:secretsmanager:us-east-1:{account}:secret:{name}-AbCdEf")
    };
    let event = json!({
        "region": "us-east-1", "accountId": "123456789012", "requestId": "r", "params": {},
        "transformId": "123456789012::Rotgen", "templateParameterValues": {},
        "fragment": {"Resources": {"AppRotation": {"Type": "Rotgen::Rotation", "Properties": {
            "function": {"code": "s3://b/k.zip"},
            "schedule": {"days": 30},
            "secret": [
                {"id": "Own", "service": "random", "arn": arn("123456789012", "own")},
                {"id": "Shared", "service": "random", "arn": arn("210987654321", "shared")}
            ]}}}}
    });
    let answer = handle_request(&event, &ExpandOptions::default());
    assert_eq!(answer["status"], "success", "{answer}");
    let r = answer["fragment"]["Resources"].as_object().unwrap();
    for (schedule, account) in [
        (
            "AppRotationOwnRotationSchedule",
            json!({"Ref": "AWS::AccountId"}),
        ),
        ("AppRotationSharedRotationSchedule", json!("210987654321")),
    ] {
        let waits = r[schedule]["DependsOn"][0].as_str().unwrap();
        assert_eq!(r[waits]["Type"], "AWS::Lambda::Permission");
        assert_eq!(
            r[waits]["Properties"]["SourceAccount"], account,
            "{schedule}"
        );
    }
}

#[test]
fn random_fragments_always_get_a_well_formed_answer() {
    let mut g = Gen(0x5eed_1234_abcd_0001);
    for i in 0..3000u32 {
        let mut fragment = g.value(5);
        // Half the time, wrap it so it reaches the spec decoder.
        if i.is_multiple_of(2) {
            fragment =
                json!({"Resources": {"R": {"Type": "Rotgen::Rotation", "Properties": fragment}}});
        }
        let request = json!({"requestId": format!("req-{i}"), "fragment": fragment, "params": {}});
        let answer = handle_request(&request, &ExpandOptions::default());
        let text = serde_json::to_string(&answer).unwrap();
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["requestId"], format!("req-{i}"));
        match back["status"].as_str() {
            Some("success") => assert!(back["fragment"].is_object()),
            Some("failure") => {
                assert!(back["errorMessage"].as_str().is_some_and(|m| !m.is_empty()))
            }
            other => panic!("status {other:?} for {request}"),
        }
    }
}

/// One VPC gets one Secrets Manager endpoint, whatever the number of rotations in it, and
/// no endpoint rotgen makes turns private DNS on (which would reroute, and cut off, every
/// other workload of the VPC).
#[test]
fn one_endpoint_per_vpc_and_never_private_dns() {
    let expanded = expand(
        &load(&root().join("tests/fixtures/macro/shared-vpc.yaml")),
        &ExpandOptions::default(),
    )
    .unwrap();
    let res = expanded["Resources"].as_object().unwrap();
    let endpoints: Vec<&String> = res
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::EC2::VPCEndpoint")
        .map(|(id, _)| id)
        .collect();
    assert_eq!(endpoints.len(), 1, "{endpoints:?}");
    let endpoint = endpoints[0];
    assert_eq!(
        res[endpoint]["Properties"]["PrivateDnsEnabled"],
        json!(false)
    );
    // Both functions reach it by its own name, and its group admits both.
    for (id, r) in res
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Lambda::Function")
    {
        let url = &r["Properties"]["Environment"]["Variables"]["SECRETS_MANAGER_ENDPOINT"];
        assert!(
            serde_json::to_string(url)
                .unwrap()
                .contains(&format!("[\"{endpoint}\",\"DnsEntries\"]")),
            "{id}: {url}"
        );
    }
    let sg = res[endpoint]["Properties"]["SecurityGroupIds"][0]["Fn::GetAtt"][0]
        .as_str()
        .unwrap();
    // Its group admits both functions' groups (separate ingress resources), and both
    // functions' groups send 443 to it.
    let admitted: Vec<&Value> = res
        .values()
        .filter(|r| {
            r["Type"] == "AWS::EC2::SecurityGroupIngress"
                && r["Properties"]["GroupId"] == json!({"Fn::GetAtt": [sg, "GroupId"]})
        })
        .map(|r| &r["Properties"]["SourceSecurityGroupId"])
        .collect();
    assert_eq!(admitted.len(), 2, "the endpoint admits both functions");
    assert_ne!(admitted[0], admitted[1]);
    for source in admitted {
        let group = source["Fn::GetAtt"][0].as_str().unwrap();
        let egress = res[group]["Properties"]["SecurityGroupEgress"]
            .as_array()
            .unwrap();
        assert!(
            egress
                .iter()
                .any(|e| e["DestinationSecurityGroupId"] == json!({"Fn::GetAtt": [sg, "GroupId"]})),
            "{group} reaches the shared endpoint"
        );
    }
    // Nothing names the removed endpoint or its group.
    fn targets<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::Array(a)) = m.get("Fn::GetAtt") {
                    out.extend(a.first().and_then(Value::as_str));
                }
                m.values().for_each(|x| targets(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| targets(x, out)),
            _ => {}
        }
    }
    let mut named = Vec::new();
    targets(&expanded["Resources"], &mut named);
    for t in named {
        assert!(
            res.contains_key(t),
            "GetAtt of a resource that is gone: {t}"
        );
    }
    // Every template rotgen writes: no private DNS anywhere.
    for entry in fs::read_dir(root().join("examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let built = rotgen::compile_toml(&fs::read_to_string(&path).unwrap(), &|l| l.to_string())
            .unwrap_or_else(|_| panic!("{} builds", path.display()));
        let text = serde_json::to_string(&built.main).unwrap();
        assert!(
            !text.contains("\"PrivateDnsEnabled\":true"),
            "{}",
            path.display()
        );
    }
}

/// Rotations in one VPC whose masters RDS manages share one RDS endpoint too, in the one
/// group the Secrets Manager endpoint kept: only their functions name it, only their
/// schedules wait for it, and nothing names an endpoint or group that was dropped.
#[test]
fn one_rds_endpoint_per_vpc_for_the_rotations_that_need_it() {
    let expanded = expand(
        &load(&root().join("tests/fixtures/macro/shared-vpc-rds.yaml")),
        &ExpandOptions::default(),
    )
    .unwrap();
    let res = expanded["Resources"].as_object().unwrap();
    let endpoints = |service: &str| -> Vec<&String> {
        res.iter()
            .filter(|(_, r)| {
                r["Type"] == "AWS::EC2::VPCEndpoint"
                    && r["Properties"]["ServiceName"]
                        == json!({"Fn::Sub": format!("com.amazonaws.${{AWS::Region}}.{service}")})
            })
            .map(|(id, _)| id)
            .collect()
    };
    let (sm, rds) = (endpoints("secretsmanager"), endpoints("rds"));
    assert_eq!((sm.len(), rds.len()), (1, 1), "{sm:?} {rds:?}");
    assert_eq!(
        res.values()
            .filter(|r| r["Type"] == "AWS::EC2::VPCEndpoint")
            .count(),
        2
    );
    let (sm, rds) = (sm[0], rds[0]);
    // The first rotation has no RDS master: the RDS endpoint kept is the second's, moved
    // into the first's group.
    assert_eq!(rds, "OrdersRotationRdsEndpoint");
    assert_eq!(
        res[rds]["Properties"]["SecurityGroupIds"],
        res[sm]["Properties"]["SecurityGroupIds"]
    );
    assert_eq!(res[rds]["Properties"]["PrivateDnsEnabled"], json!(false));
    assert_eq!(
        res[rds]["Properties"]["VpcEndpointType"],
        json!("Interface")
    );
    let sg = res[sm]["Properties"]["SecurityGroupIds"][0]["Fn::GetAtt"][0]
        .as_str()
        .unwrap();
    assert_eq!(
        res.values()
            .filter(|r| r["Type"] == "AWS::EC2::SecurityGroup"
                && r["Properties"]["GroupDescription"]
                    .as_str()
                    .is_some_and(|d| d.contains("endpoint")))
            .count(),
        1,
        "one endpoint group"
    );
    for (id, r) in res
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Lambda::Function")
    {
        let vars = &r["Properties"]["Environment"]["Variables"];
        let needs = !id.starts_with("CacheRotation");
        match vars.get("ROTGEN_RDS_ENDPOINT") {
            Some(url) => {
                assert!(needs, "{id} has no RDS master");
                assert!(
                    serde_json::to_string(url)
                        .unwrap()
                        .contains(&format!("[\"{rds}\",\"DnsEntries\"]")),
                    "{id}: {url}"
                );
            }
            None => assert!(!needs, "{id} needs the RDS endpoint"),
        }
    }
    for (id, r) in res
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::SecretsManager::RotationSchedule")
    {
        let waits = r["DependsOn"].as_array().unwrap();
        assert!(waits.contains(&json!(sm)), "{id}");
        assert_eq!(
            waits.contains(&json!(rds)),
            !id.starts_with("CacheRotation"),
            "{id}: {waits:?}"
        );
    }
    // Every function's group reaches the shared group on 443, which admits all three.
    let admitted = res
        .values()
        .filter(|r| {
            r["Type"] == "AWS::EC2::SecurityGroupIngress"
                && r["Properties"]["GroupId"] == json!({"Fn::GetAtt": [sg, "GroupId"]})
        })
        .count();
    assert_eq!(admitted, 3);
    for (id, r) in res.iter().filter(|(id, r)| {
        r["Type"] == "AWS::EC2::SecurityGroup" && id.ends_with("FunctionSecurityGroup")
    }) {
        assert!(
            r["Properties"]["SecurityGroupEgress"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["FromPort"] == json!(443)
                    && e["DestinationSecurityGroupId"] == json!({"Fn::GetAtt": [sg, "GroupId"]})),
            "{id}"
        );
    }
    // Nothing names a resource that is gone.
    fn names<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::Array(a)) = m.get("Fn::GetAtt") {
                    out.extend(a.first().and_then(Value::as_str));
                }
                if let Some(Value::String(r)) = m.get("Ref") {
                    out.push(r);
                }
                match m.get("DependsOn") {
                    Some(Value::Array(a)) => out.extend(a.iter().filter_map(Value::as_str)),
                    Some(Value::String(d)) => out.push(d),
                    _ => {}
                }
                m.values().for_each(|x| names(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| names(x, out)),
            _ => {}
        }
    }
    let mut named = Vec::new();
    names(&expanded["Resources"], &mut named);
    let params = expanded["Parameters"].as_object().unwrap();
    for n in named {
        assert!(
            n.starts_with("AWS::") || res.contains_key(n) || params.contains_key(n),
            "names a resource that is gone: {n}"
        );
    }
}

/// An error message over the length the console shows is cut at a character boundary,
/// whatever characters the template's names hold.
#[test]
fn long_error_messages_are_cut_between_characters() {
    for pad in 0..3 {
        let mut resources = serde_json::Map::new();
        for i in 0..120 {
            let key = format!("{}€€€€€€€€€€{i}", "x".repeat(pad));
            resources.insert(
                format!("R{i}"),
                json!({"Type": "Rotgen::Rotation", "Properties": {key: 1}}),
            );
        }
        let request = json!({"requestId": "r", "fragment": {"Resources": resources}, "params": {}});
        let answer = handle_request(&request, &ExpandOptions::default());
        assert_eq!(answer["status"], "failure");
        let message = answer["errorMessage"].as_str().unwrap();
        assert!(
            message.len() <= 4010 && message.ends_with('…'),
            "{}",
            message.len()
        );
    }
}
