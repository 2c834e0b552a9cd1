//! **model**: the spec validated and resolved into exactly what the templates lay out.
//!
//! Defaults, cross-field rules, logical IDs, IAM statements, schedules and the split into
//! functions and nested stacks are all decided here, with no I/O. The templates in
//! `templates/` only arrange what this module computed.
//!
//! This file holds `resolve` and its order (`Cx::resolve`), `Cx` and its small checks,
//! and what the children share (`Resolved`, `Password`, the quotas). Each concern has its
//! own file, an `impl Cx` block where it reports problems: `types` (the public types),
//! `services` (what the compiler knows of each service), `stack`, `function`, `secrets`,
//! `create`, `schedule`, `groups`, `network`, `alarms`, `places`, `stackset`, `iam` and
//! `arn`. None of them does I/O.

mod alarms;
pub mod arn;
mod create;
mod function;
mod groups;
mod iam;
mod network;
mod places;
pub mod schedule;
mod secrets;
pub mod services;
mod stack;
mod stackset;
mod types;

use crate::diag::{Diagnostic, Diagnostics, Loc};
use crate::rotation::rds::{ENDPOINT_VAR as RDS_ENDPOINT_VAR, RdsResource};
use crate::spec::{ListVal, Sp, Spec, Val};
pub use iam::policy_len;
pub use network::endpoint_url;
use serde_json::{Value, json};
pub use types::{
    AlarmTopic, AlarmsModel, Code, CreateModel, Endpoint, FailureRule, FunctionSettings, Group,
    GroupAlarms, Ingress, Model, Naming, Options, ParamModel, PermissionModel, SecretModel,
    StackPlace, VpcModel,
};

/// CloudFormation's quota is 500 resources per stack; keep room for the user's own edits.
pub const MAX_RESOURCES: usize = 450;
/// CloudFormation's quota is 200 outputs per template.
pub const MAX_OUTPUTS: usize = 200;
/// IAM's quota is 10,240 characters for all inline policies of a role (whitespace excluded).
pub const ROLE_POLICY_LIMIT: usize = 10_240;
/// What rotgen lets one role's inline policy grow to, leaving room for the fixed statements.
pub const ROLE_POLICY_BUDGET: usize = 9_000;
/// What a secret's id becomes in its schedule's logical ID (the longest ID made from it).
const SCHEDULE_SUFFIX: &str = "RotationSchedule";
/// Secrets Manager's quota for a secret's description.
pub const MAX_SECRET_DESCRIPTION: usize = 2048;
/// Lambda's quota for a function's environment variables, all together.
pub const ENVIRONMENT_LIMIT: usize = 4_096;
/// What rotgen lets the lists of a function's environment (master secrets, IAM users)
/// grow to, leaving room for the fixed variables (endpoint, service, password policy, CA
/// file).
pub const ENVIRONMENT_BUDGET: usize = 2_800;
/// The most secrets one function (and one nested template) serves: its outputs (two
/// plus one per secret) stay within CloudFormation's 200.
pub const MAX_GROUP_SECRETS: usize = 190;

/// A literal ARN of the spec, where it is.
struct SeenArn {
    what: String,
    partition: String,
    region: String,
    /// The account the ARN names (empty for S3's; `aws` for AWS's managed policies).
    account: String,
    loc: Loc,
}

/// Validates a spec and resolves it. Every problem is reported, not just the first.
pub fn resolve(spec: &Spec, opts: &Options) -> Result<Model, Diagnostics> {
    let mut cx = Cx::default();
    let model = cx.resolve(spec, opts);
    match model {
        Some(mut m) if cx.errors.is_empty() => {
            m.warnings = Diagnostics(std::mem::take(&mut cx.warnings)).sorted().0;
            Ok(m)
        }
        _ => Err(Diagnostics(cx.errors).sorted()),
    }
}

#[derive(Default)]
struct Cx {
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
    /// The literal ARNs the spec gives, in order: one stack lives in one partition and
    /// one Region (see `check_arn_places`).
    arns: Vec<SeenArn>,
    /// The spec's own schedule, resolved for the first secret without one of its own
    /// (every such secret gets the same).
    default_schedule: Option<(Value, Option<bool>)>,
    /// Template parameters whose value lands in an ARN of the role's policy: their
    /// values are checked for wildcards at deploy (`ParamModel::no_wildcard`).
    arn_params: std::collections::BTreeSet<String>,
}

/// The names a function's `Ref`s name (pseudo parameters left out).
fn refs_in(v: &Value, out: &mut std::collections::BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("Ref")
                && !r.starts_with("AWS::")
            {
                out.insert(r.clone());
            }
            m.values().for_each(|x| refs_in(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| refs_in(x, out)),
        _ => {}
    }
}

/// A secret after validation, before it is placed in a group.
struct Resolved {
    /// The account that owns the secret, named by its ARN (`None`: the stack's own).
    owner: Option<String>,
    id: String,
    service: String,
    strategy: String,
    password: Password,
    schedule_rules: Value,
    rotate_immediately: Option<bool>,
    /// SecretId of the schedule.
    secret_id: Value,
    /// The ARN(s) the role may act on.
    policy_arn: Value,
    master_arn: Option<Value>,
    /// The RDS instance or cluster that owns the master, when RDS manages it.
    master_rds: Option<RdsResource>,
    kms_keys: Vec<Value>,
    create: Option<CreateModel>,
    port: u16,
    /// aws-iam: the IAM user whose keys the secret holds.
    iam_user: Option<String>,
    /// http-token: the owner of the secret's tokens, and the API's contract (JSON, as
    /// `ROTGEN_API_CONTRACT` carries it).
    token_user: Option<String>,
    token_api: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
struct Password {
    length: i64,
    exclude_characters: String,
    exclude_numbers: bool,
    exclude_punctuation: bool,
    exclude_uppercase: bool,
    exclude_lowercase: bool,
    require_each_included_type: bool,
}

fn sub(template: &str) -> Value {
    json!({ "Fn::Sub": template })
}

fn get_att(id: &str, attr: &str) -> Value {
    json!({ "Fn::GetAtt": [id, attr] })
}

fn reference(id: &str) -> Value {
    json!({ "Ref": id })
}

impl Cx {
    fn err(&mut self, loc: &Loc, message: impl Into<String>, help: impl Into<String>) {
        self.errors
            .push(Diagnostic::new(loc, message).help(help.into()));
    }

    fn check_lit(
        &mut self,
        v: &Option<Sp<Val>>,
        what: &str,
        check: fn(&str) -> Result<(), String>,
        help: &str,
    ) {
        match v {
            Some(Sp {
                v: Val::Lit(s),
                loc,
            }) => {
                if let Some(c) = s.chars().find(|c| matches!(c, '*' | '?')) {
                    let noun = arn_noun(what);
                    self.err(
                        loc,
                        format!("{what} \"{s}\" holds {c}, which IAM reads as a wildcard: the role would be granted every {noun} that matches, not one"),
                        format!("name exactly one {noun} by its full ARN, with no * or ?"),
                    );
                } else if let Err(why) = check(s) {
                    self.err(loc, format!("{what} \"{s}\" is not valid: {why}"), help);
                } else if let Some(a) = arn::parse(s) {
                    self.arns.push(SeenArn {
                        what: what.to_string(),
                        partition: a.partition.to_string(),
                        region: a.region.to_string(),
                        account: a.account.to_string(),
                        loc: loc.clone(),
                    });
                }
            }
            // A function's value is known only at deploy time; what can be seen now is
            // its text, and a `*` or `?` there would be an IAM wildcard.
            Some(Sp {
                v: v @ Val::Expr(_),
                loc,
            }) => {
                let v = v.to_json();
                if holds_wildcard(&v) {
                    self.err(
                        loc,
                        format!("{what} is a CloudFormation function whose text holds * or ?, which IAM reads as a wildcard: the role would reach more than this resource"),
                        "name exactly one: a full ARN, or a Ref, GetAtt or ImportValue of one",
                    );
                }
                // A parameter's value is checked when the stack deploys.
                refs_in(&v, &mut self.arn_params);
            }
            None => {}
        }
    }

    /// Each literal item of a list that `ok` refuses is an error (intrinsics are known only
    /// at deploy).
    fn check_literal_items(
        &mut self,
        list: &Option<Sp<ListVal>>,
        ok: fn(&str) -> bool,
        message: impl Fn(&str) -> String,
        help: &str,
    ) {
        if let Some(Sp {
            v: ListVal::Items(items),
            ..
        }) = list
        {
            for item in items {
                if let Val::Lit(s) = &item.v
                    && !ok(s)
                {
                    self.err(&item.loc, message(s), help);
                }
            }
        }
    }

    /// A list longer than an AWS quota: one error at the first item over it.
    fn check_count(&mut self, v: &Option<Sp<ListVal>>, max: usize, what: &str, why: &str) {
        if let Some(Sp {
            v: ListVal::Items(items),
            ..
        }) = v
            && let Some(over) = items.get(max)
        {
            self.err(
                &over.loc,
                format!("{what} lists {} items: {why}", items.len()),
                format!("list at most {max}"),
            );
        }
    }

    fn check_list(&mut self, v: &Option<Sp<ListVal>>, what: &str, prefix: &str) {
        if let Some(Sp {
            v: ListVal::Items(items),
            ..
        }) = v
        {
            for item in items {
                if let Val::Lit(s) = &item.v
                    && let Err(why) = arn::check_ec2_id(s, prefix)
                {
                    self.err(
                        &item.loc,
                        format!("{what}: {why}"),
                        format!(
                            "copy the id from the VPC console, e.g. {prefix}-0123456789abcdef0"
                        ),
                    );
                }
            }
            let mut seen = std::collections::HashSet::new();
            for item in items {
                if let Val::Lit(s) = &item.v
                    && !seen.insert(s.clone())
                {
                    self.err(
                        &item.loc,
                        format!("{what} lists \"{s}\" twice"),
                        "remove the duplicate",
                    );
                }
            }
        }
    }

    fn resolve(&mut self, spec: &Spec, opts: &Options) -> Option<Model> {
        let stackset = Cx::stackset_wanted(spec, opts);
        let sam = if stackset {
            self.stackset_format(spec)
        } else {
            spec.stack
                .format
                .as_ref()
                .map_or(opts.default_sam, |f| f.v == "sam")
        };
        if opts.forbid_sam
            && let Some(fmt) = spec.stack.format.as_ref().filter(|f| f.v == "sam")
        {
            self.err(&fmt.loc, "the macro writes plain CloudFormation: it cannot see whether the SAM transform runs after it, and AWS::Serverless resources without it do not deploy", "leave format out (or write \"cloudformation\"); for SAM output use rotgen build");
        }
        let (architecture, code, function) = self.function(spec, opts);
        let code = if stackset {
            self.stackset_code(spec, opts, code)
        } else {
            code
        };

        let alarms = self.alarms(spec, &opts.naming);
        let parameters = self.parameters(spec, opts);
        let tag_pairs = self.tags(spec);
        let tags = (!tag_pairs.is_empty()).then(|| {
            Value::Array(
                tag_pairs
                    .iter()
                    .map(|(k, v)| json!({"Key": k, "Value": v}))
                    .collect(),
            )
        });
        let tag_map =
            (!tag_pairs.is_empty()).then(|| Value::Object(tag_pairs.into_iter().collect()));
        let resolved = self.secrets(spec, &opts.naming, opts.stack.as_ref());
        let vpc = self.network(spec, &opts.naming, &resolved);
        let groups = self.groups(spec, resolved, &opts.naming);
        let mut parameters = parameters;
        for p in &mut parameters {
            p.no_wildcard = self.arn_params.contains(&p.name);
        }

        let description = self.description(spec);

        let shared =
            1 + vpc.as_ref().map_or(0, |v| {
                usize::from(v.function_sg_id.is_some())
                    + v.endpoint
                        .as_ref()
                        .map_or(0, |e| 2 + usize::from(e.rds_id.is_some()) + e.ingress.len())
                    + v.service_ingress.len()
            }) + alarms
                .as_ref()
                .and_then(|a| a.created.as_ref())
                .map_or(0, |t| {
                    2 + usize::from(t.key_id.is_some()) + t.subscriptions.len()
                });
        let group_resources = |g: &Group| {
            3 + g.permissions.len()
                + g.secrets.len()
                + g.secrets.iter().filter(|s| s.create.is_some()).count()
                + g.alarms.as_ref().map_or(0, |a| 1 + a.rules.len())
        };
        let resources: usize = shared + groups.iter().map(group_resources).sum::<usize>();
        let outputs: usize = usize::from(alarms.is_some())
            + usize::from(vpc.as_ref().is_some_and(|v| v.function_sg_id.is_some()))
            + groups.iter().map(|g| 2 + g.secrets.len()).sum::<usize>();
        let nested = resources > MAX_RESOURCES || outputs > MAX_OUTPUTS;
        if nested && !opts.allow_nested {
            let loc = spec.secrets_loc.clone().unwrap_or(Loc::Whole);
            self.err(
                &loc,
                format!("these secrets need {resources} resources and {outputs} outputs, more than one stack holds ({MAX_RESOURCES} resources, {MAX_OUTPUTS} outputs)"),
                "split the secrets over several Rotgen::Rotation resources in several stacks, or use `rotgen build`, which writes nested stacks",
            );
        }
        let mut groups = groups;
        network::reach_endpoints(vpc.as_ref(), &mut groups, nested);
        if nested {
            // Every template within every quota: the parent holds a stack and two outputs
            // per group; each nested template one group (its size is capped in groups()).
            let max = groups.iter().map(group_resources).max().unwrap_or(0);
            let parent_outputs = 2 * groups.len();
            if groups.len() + shared > MAX_RESOURCES
                || max > MAX_RESOURCES
                || parent_outputs > MAX_OUTPUTS
            {
                let loc = spec.secrets_loc.clone().unwrap_or(Loc::Whole);
                self.err(
                    &loc,
                    format!(
                        "too many secrets for one deployment: {} functions, whose parent template would hold {} resources and {parent_outputs} outputs (CloudFormation allows {MAX_RESOURCES} and {MAX_OUTPUTS})",
                        groups.len(),
                        groups.len() + shared
                    ),
                    "split the spec into several specs (several stacks)",
                );
            }
        }
        self.check_arn_places(opts);
        if stackset {
            self.check_stackset(spec);
        }
        // The Region the spec's ARNs name: the deploy command says it.
        let region = self
            .arns
            .iter()
            .find(|a| !a.region.is_empty())
            .map(|a| a.region.clone());
        Some(Model {
            region,
            sam,
            stackset,
            description,
            nested,
            architecture,
            code,
            function,
            vpc,
            alarms,
            parameters,
            tags,
            tag_map,
            groups,
            warnings: Vec::new(),
        })
    }
}

/// What an ARN-valued field names, for messages.
fn arn_noun(field: &str) -> &'static str {
    if field.contains("kms_key") {
        "key"
    } else if field.contains("topic") {
        "topic"
    } else if field == "permissions_boundary" {
        "policy"
    } else {
        "secret"
    }
}

/// Whether any text inside a CloudFormation function holds an IAM wildcard.
pub(crate) fn holds_wildcard(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains(['*', '?']),
        Value::Array(a) => a.iter().any(holds_wildcard),
        Value::Object(m) => m.values().any(holds_wildcard),
        _ => false,
    }
}

/// The nested templates' parameter carrying the endpoint's URL.
pub const ENDPOINT_URL_PARAM: &str = "SecretsManagerEndpointUrl";
/// The nested templates' parameter carrying the RDS endpoint's URL (the groups with
/// `rds_endpoint` only).
pub const RDS_ENDPOINT_URL_PARAM: &str = "RdsEndpointUrl";

/// The logical ID of the `index`th of several like resources (`Stem1`, `Stem2`...), or
/// the stem alone when there is one.
fn numbered(stem: &str, index: usize, several: bool) -> String {
    if several {
        format!("{stem}{}", index + 1)
    } else {
        stem.to_string()
    }
}

/// The nested templates' parameter for the alarm topic's ARN.
pub const ALARM_TOPIC_PARAM: &str = "AlarmTopicArn";
