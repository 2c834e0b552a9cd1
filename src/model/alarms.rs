//! Rotation failures reach someone: `[alarms]` (the SNS topic, its KMS key, email
//! subscriptions), and each function's EventBridge rules on its secrets' failures, split
//! so each event pattern fits EventBridge's quota.
//!
//! Checks and values only, no I/O.

use super::iam::value_len;
use super::{AlarmTopic, AlarmsModel, Cx, FailureRule, Naming, Resolved, arn, numbered};
use crate::diag::Diagnostic;
use crate::spec::{ListVal, Sp, Spec, Val};
use serde_json::{Value, json};

/// A plausible email address (SNS checks it for real when it sends the confirmation).
fn is_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((user, domain)) => {
            !user.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !s.contains(|c: char| c.is_whitespace() || c.is_control())
                && !domain.contains('@')
        }
        None => false,
    }
}

/// Whether the stack gets the failure rules and alarms (`[alarms] enabled`, default true).
pub(super) fn alarms_enabled(spec: &Spec) -> bool {
    spec.alarms
        .as_ref()
        .and_then(|a| a.enabled.as_ref())
        .is_none_or(|e| e.v)
}

/// EventBridge's default quota on an event pattern, in characters.
const EVENT_PATTERN_LIMIT: usize = 2048;

/// The EventBridge rules on the rotation failures of `members`: their ARNs (a `prefix`
/// for a secret named by name, whose ARN ends in six random characters), split so each
/// pattern, at its longest once resolved, fits EventBridge's quota.
pub(super) fn failure_rules(stem: &str, members: &[Resolved]) -> Vec<FailureRule> {
    // The pattern without the secret IDs (see templates/group.yaml), with room to spare.
    const FIXED: usize = 320;
    let mut rules: Vec<Vec<Value>> = vec![Vec::new()];
    let mut size = FIXED;
    for m in members {
        let entry = secret_id_match(&m.policy_arn);
        let len = value_len(&entry) + 1;
        let current = rules.last_mut().expect("one rule at least");
        if current.contains(&entry) {
            continue;
        }
        if size + len > EVENT_PATTERN_LIMIT && !current.is_empty() {
            rules.push(Vec::new());
            size = FIXED;
        }
        size += len;
        rules.last_mut().expect("one rule at least").push(entry);
    }
    let several = rules.len() > 1;
    rules
        .into_iter()
        .enumerate()
        .map(|(i, secret_ids)| FailureRule {
            id: numbered(&format!("{stem}FailureRule"), i, several),
            secret_ids,
        })
        .collect()
}

/// How an event's `SecretId` (the secret's full ARN) is matched for a secret whose role
/// may act on `policy_arn`: exactly, or by prefix when that ends in `-??????`.
fn secret_id_match(policy_arn: &Value) -> Value {
    const ANY_SUFFIX: &str = "??????";
    match policy_arn {
        Value::String(s) if s.ends_with(ANY_SUFFIX) => {
            json!({"prefix": &s[..s.len() - ANY_SUFFIX.len()]})
        }
        Value::Object(m) => match m.get("Fn::Sub") {
            Some(Value::String(s)) if m.len() == 1 && s.ends_with(ANY_SUFFIX) => {
                json!({"prefix": {"Fn::Sub": &s[..s.len() - ANY_SUFFIX.len()]}})
            }
            _ => policy_arn.clone(),
        },
        other => other.clone(),
    }
}

impl Cx {
    /// `[alarms]`: the topic rotation failures go to (none when turned off).
    pub(super) fn alarms(&mut self, spec: &Spec, naming: &Naming) -> Option<AlarmsModel> {
        let a = spec.alarms.as_ref();
        if !alarms_enabled(spec) {
            if let Some(a) = a {
                let extra = [
                    a.topic_arn.as_ref().map(|x| &x.loc),
                    a.kms_key_arn.as_ref().map(|x| &x.loc),
                    a.email.as_ref().map(|x| &x.loc),
                ];
                if let Some(loc) = extra.into_iter().flatten().next() {
                    self.err(
                        loc,
                        "alarms are turned off (enabled = false), so this key does nothing",
                        "remove it, or remove enabled = false",
                    );
                }
            }
            return None;
        }
        let p = &naming.shared_prefix;
        let topic_arn = a.and_then(|a| a.topic_arn.as_ref());
        let key = a.and_then(|a| a.kms_key_arn.as_ref());
        let email = a.and_then(|a| a.email.as_ref());
        self.check_lit(
            &topic_arn.cloned(),
            "topic_arn",
            arn::check_topic_arn,
            "write the topic's ARN: arn:aws:sns:REGION:ACCOUNT:NAME",
        );
        self.check_lit(
            &key.cloned(),
            "kms_key_arn",
            arn::check_topic_key,
            "write a key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID) or alias/NAME",
        );
        // An AWS managed key's policy is AWS's: EventBridge and CloudWatch cannot be let
        // use it, so every alarm would be dropped.
        if let Some(Sp {
            v: Val::Lit(k),
            loc,
        }) = key
            && (k.starts_with("alias/aws/") || k.contains(":alias/aws/"))
        {
            self.err(
                loc,
                format!("{k} is an AWS managed key: its policy cannot let EventBridge and CloudWatch use it, so no failure alarm would reach the topic"),
                "remove kms_key_arn (the stack then creates a key whose policy admits them), or name a customer managed key whose policy does",
            );
        }
        if let Some(t) = topic_arn {
            for x in [key.map(|k| &k.loc), email.map(|e| &e.loc)]
                .into_iter()
                .flatten()
            {
                self.err(x, "this applies to the topic the stack creates, but topic_arn names an existing one", "set it on that topic instead, or remove topic_arn");
            }
            return Some(AlarmsModel {
                topic: t.v.to_json(),
                output_id: format!("{p}AlarmTopicArn"),
                created: None,
            });
        }
        let mut subscriptions = Vec::new();
        if let Some(Sp { v, loc }) = email {
            match v {
                ListVal::Items(items) => {
                    for (i, item) in items.iter().enumerate() {
                        if let Val::Lit(s) = &item.v
                            && !is_email(s)
                        {
                            self.err(
                                &item.loc,
                                format!("\"{s}\" is not an email address"),
                                "write name@example.com",
                            );
                        }
                        subscriptions.push((format!("{p}AlarmEmail{}", i + 1), item.v.to_json()));
                    }
                }
                ListVal::Expr(_) => self.err(
                    loc,
                    "email must list the addresses",
                    "write email = [\"ops@example.com\"]",
                ),
            }
        }
        if subscriptions.is_empty()
            && let Some(loc) = a.map(|a| &a.loc).or(spec.secrets_loc.as_ref())
        {
            self.warnings.push(
                Diagnostic::new(loc, "the failure alarms go to a topic with no subscriber: a failed rotation reaches no one")
                    .help("add [alarms] email = [\"oncall@example.com\"] (each address confirms by email), or topic_arn = an existing topic your on-call tooling reads"),
            );
        }
        let key_id = key.is_none().then(|| format!("{p}AlarmTopicKey"));
        let topic_id = format!("{p}AlarmTopic");
        Some(AlarmsModel {
            topic: json!({"Ref": topic_id}),
            output_id: format!("{p}AlarmTopicArn"),
            created: Some(AlarmTopic {
                policy_id: format!("{p}AlarmTopicPolicy"),
                key: match (&key, &key_id) {
                    (Some(k), _) => k.v.to_json(),
                    (None, Some(id)) => json!({"Ref": id}),
                    (None, None) => Value::Null,
                },
                id: topic_id,
                key_id,
                subscriptions,
            }),
        })
    }
}
