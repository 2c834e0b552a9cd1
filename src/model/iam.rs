//! The rotation role's inline policy: its statements, computed from the secrets a
//! function rotates, and their size as IAM counts it (to split roles before the quota).

use super::{Resolved, get_att, services, sub};
use crate::rotation::rds::{RdsKind, RdsResource};
use serde_json::{Value, json};

/// The inline policy statements of a role that rotates `members`.
pub(super) fn statements(members: &[Resolved], log_group_id: &str) -> Vec<Value> {
    let mut arns = Unique::default();
    let mut masters = Unique::default();
    let mut keys = Unique::default();
    for m in members {
        arns.push(&m.policy_arn);
        if let Some(a) = &m.master_arn {
            masters.push(a);
        }
        for k in &m.kms_keys {
            keys.push(k);
        }
        if let Some(c) = &m.create
            && let Some(k) = &c.kms_key
        {
            keys.push(k);
        }
    }
    let (arns, masters, keys) = (arns.values, masters.values, keys.values);
    let users: Vec<&str> = members
        .iter()
        .filter_map(|m| m.iam_user.as_deref())
        .collect();
    let mut actions = vec![
        "secretsmanager:DescribeSecret",
        "secretsmanager:GetSecretValue",
        "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecretVersionStage",
    ];
    // An issuing service reads when the rotation began (the date of the version
    // RotateSecret staged), to tell its own orphans from anyone else's credentials.
    if members.iter().any(|m| services::get(&m.service).issues) {
        actions.insert(2, "secretsmanager:ListSecretVersionIds");
    }
    let mut out = vec![json!({
        "Sid": "RotateSecrets",
        "Effect": "Allow",
        "Action": actions,
        "Resource": arns,
    })];
    // aws-iam and http-token functions are issued credentials, and choose no password.
    if members.iter().any(|m| !services::get(&m.service).issues) {
        out.push(json!({
            "Sid": "GeneratePasswords",
            "Effect": "Allow",
            "Action": "secretsmanager:GetRandomPassword",
            "Resource": "*",
        }));
    }
    if !masters.is_empty() {
        out.push(json!({
            "Sid": "ReadMasterSecrets",
            "Effect": "Allow",
            "Action": ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"],
            "Resource": masters,
        }));
    }
    if !keys.is_empty() {
        out.push(json!({
            "Sid": "UseSecretKeys",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"],
            "Resource": keys,
            "Condition": {"StringEquals": {"kms:ViaService": sub("secretsmanager.${AWS::Region}.${AWS::URLSuffix}")}},
        }));
    }
    // Masters RDS manages: the function asks RDS for the endpoint of the instance or
    // cluster that owns each, and may describe those alone.
    for (kind, sid) in [
        (RdsKind::Instance, "FindMasterInstances"),
        (RdsKind::Cluster, "FindMasterClusters"),
    ] {
        let mut seen = std::collections::HashSet::new();
        let resources: Vec<Value> = members
            .iter()
            .filter_map(|m| m.master_rds.as_ref())
            .filter(|r| r.kind == kind && seen.insert(&r.id))
            .map(rds_arn)
            .collect();
        if !resources.is_empty() {
            out.push(json!({
                "Sid": sid,
                "Effect": "Allow",
                "Action": format!("rds:{}", kind.operation()),
                "Resource": resources,
            }));
        }
    }
    if !users.is_empty() {
        let mut seen = std::collections::HashSet::new();
        let resources: Vec<Value> = users
            .iter()
            .filter(|u| seen.insert(**u))
            .map(|u| iam_user_arn(u))
            .collect();
        out.push(json!({
            "Sid": "ManageAccessKeys",
            "Effect": "Allow",
            "Action": ["iam:CreateAccessKey", "iam:DeleteAccessKey", "iam:ListAccessKeys", "iam:UpdateAccessKey"],
            "Resource": resources,
        }));
    }
    out.push(json!({
        "Sid": "WriteLogs",
        "Effect": "Allow",
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": get_att(log_group_id, "Arn"),
    }));
    out
}

/// Values in first-seen order, each once. Strings and one-key intrinsics of a string
/// (`{"Fn::Sub": "arn:…"}`: nearly every ARN) are found by hash, so a role of many
/// secrets costs linear time; anything else by comparison.
#[derive(Default)]
struct Unique<'a> {
    values: Vec<Value>,
    seen: std::collections::HashSet<(Option<&'a str>, &'a str)>,
}

impl<'a> Unique<'a> {
    fn push(&mut self, x: &'a Value) {
        let key = match x {
            Value::String(s) => Some((None, s.as_str())),
            Value::Object(m) if m.len() == 1 => match m.iter().next() {
                Some((k, Value::String(s))) => Some((Some(k.as_str()), s.as_str())),
                _ => None,
            },
            _ => None,
        };
        let new = match key {
            Some(key) => self.seen.insert(key),
            None => !self.values.iter().any(|v| v == x),
        };
        if new {
            self.values.push(x.clone());
        }
    }
}

/// The ARN of an RDS DB instance (`…:db:ID`) or cluster (`…:cluster:ID`).
pub(super) fn rds_arn(r: &RdsResource) -> Value {
    sub(&format!(
        "arn:${{AWS::Partition}}:rds:${{AWS::Region}}:${{AWS::AccountId}}:{}:{}",
        r.kind.arn_type(),
        r.id
    ))
}

/// The ARN of an IAM user given as `NAME` or `PATH/NAME`.
pub(super) fn iam_user_arn(user: &str) -> Value {
    sub(&format!(
        "arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:user/{user}"
    ))
}

/// What a secret adds to its role's policy: its ARN, master secret and keys (keyed by
/// their JSON text, for de-duplication).
pub(super) fn policy_items(r: &Resolved) -> Vec<(String, Value)> {
    let mut out = vec![r.policy_arn.clone()];
    out.extend(r.master_arn.iter().cloned());
    out.extend(r.kms_keys.iter().cloned());
    if let Some(k) = r.create.as_ref().and_then(|c| c.kms_key.clone()) {
        out.push(k);
    }
    if let Some(u) = &r.iam_user {
        out.push(iam_user_arn(u));
    }
    if let Some(res) = &r.master_rds {
        out.push(rds_arn(res));
    }
    out.into_iter().map(|v| (v.to_string(), v)).collect()
}

/// The size IAM will count for these statements, at worst: pseudo-parameters and
/// references replaced by the longest values they can take.
pub fn policy_len(statements: &[Value]) -> usize {
    // The policy document around the statements.
    60 + statements.iter().map(|s| value_len(s) + 1).sum::<usize>()
}

/// The worst-case size of one policy value (see [`policy_len`]).
pub(super) fn value_len(v: &Value) -> usize {
    match v {
        Value::Object(m) if m.len() == 1 => {
            let (k, inner) = m.iter().next().expect("one entry");
            match (k.as_str(), inner) {
                ("Fn::Sub", Value::String(s)) => {
                    // Each pseudo-parameter at its longest value, counted without
                    // building the string.
                    const LONGEST: [(&str, usize); 4] = [
                        ("${AWS::Partition}", "aws-us-gov".len()),
                        ("${AWS::Region}", "ap-southeast-12".len()),
                        ("${AWS::AccountId}", "123456789012".len()),
                        ("${AWS::URLSuffix}", "amazonaws.com.cn".len()),
                    ];
                    let mut len = s.len();
                    let mut rest = s.as_str();
                    while let Some(at) = rest.find("${") {
                        rest = &rest[at..];
                        if let Some((name, value)) =
                            LONGEST.iter().find(|(name, _)| rest.starts_with(name))
                        {
                            // len holds the name, so this never goes below zero.
                            len = len + value - name.len();
                            rest = &rest[name.len()..];
                        } else {
                            rest = &rest[2..];
                        }
                    }
                    len + 2
                }
                ("Ref" | "Fn::GetAtt" | "Fn::ImportValue", _) => 2 + 160,
                ("Fn::Join", _) => {
                    2 + 2048_usize.min(20 + serde_json::to_string(inner).map_or(0, |s| s.len()) * 2)
                }
                _ => 3 + k.len() + value_len(inner),
            }
        }
        Value::Object(m) => {
            2 + m
                .iter()
                .map(|(k, v)| k.len() + 3 + value_len(v) + 1)
                .sum::<usize>()
        }
        Value::Array(a) => 2 + a.iter().map(|x| value_len(x) + 1).sum::<usize>(),
        other => serde_json::to_string(other).map_or(0, |s| s.len()),
    }
}
