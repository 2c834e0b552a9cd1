//! **model**: the spec validated and resolved into exactly what the templates lay out.
//!
//! Defaults, cross-field rules, logical IDs, IAM statements, schedules and the split into
//! functions and nested stacks are all decided here, with no I/O. The templates in
//! `templates/` only arrange what this module computed.

mod alarms;
pub mod arn;
mod function;
mod iam;
mod network;
pub mod schedule;
mod stack;
mod types;

use crate::diag::{Diagnostic, Diagnostics, Loc};
use crate::rotation::rds::{ENDPOINT_VAR as RDS_ENDPOINT_VAR, RdsResource};
use crate::spec::{self, ListVal, Sp, Spec, Val};
use alarms::{alarms_enabled, failure_rules};
pub use iam::policy_len;
use iam::{policy_items, statements, value_len};
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

/// The longest `SECRETS_MANAGER_ENDPOINT` a function gets, quoted: the interface
/// endpoint's DNS name (`https://vpce-<17>-<8>.secretsmanager.<region>.vpce.<suffix>`).
const ENDPOINT_URL_BYTES: usize = 100;

/// What a value CloudFormation computes may grow to in JSON: its literal text, and 200
/// bytes for each value it takes from elsewhere (a Ref, a GetAtt, a `${}`).
fn computed_len(v: &Value) -> usize {
    match v {
        Value::String(s) => s.len() + 2,
        Value::Object(m) => match m.iter().next() {
            Some((k, Value::String(s))) if k == "Fn::Sub" => {
                s.len() + 2 + s.matches("${").count() * 200
            }
            Some((k, Value::Array(a))) if k == "Fn::Join" => {
                let sep = a.first().and_then(Value::as_str).map_or(0, str::len);
                match a.get(1) {
                    Some(Value::Array(parts)) => {
                        parts.iter().map(computed_len).sum::<usize>()
                            + sep * parts.len().saturating_sub(1)
                    }
                    _ => 200,
                }
            }
            _ => 200,
        },
        other => other.to_string().len(),
    }
}

/// What a secret adds to its function's environment lists: its master secret
/// (`ROTGEN_MASTER_SECRETS`; a value CloudFormation computes counts as a full ARN) and its
/// IAM user's name (`ROTGEN_IAM_USERS`).
fn environment_items(r: &Resolved) -> Vec<String> {
    let mut out = Vec::new();
    match &r.master_arn {
        Some(Value::String(arn)) => out.push(arn.clone()),
        Some(other) => out.push(format!("{:<200}", other)),
        None => {}
    }
    if let Some(res) = &r.master_rds {
        // `instance:ID=MASTER` in ROTGEN_MASTER_RDS.
        let master = match &r.master_arn {
            Some(Value::String(arn)) => arn.clone(),
            _ => format!("{:<200}", ""),
        };
        out.push(format!(
            "{}{master}",
            crate::rotation::rds::binding_prefix(res)
        ));
    }
    if let Some(u) = &r.iam_user {
        out.push(format!("user:{}", u.rsplit('/').next().unwrap_or(u)));
    }
    if let Some(u) = &r.token_user {
        out.push(format!("user:{u}"));
    }
    if let Some(c) = &r.token_api {
        out.push(c.clone());
    }
    out
}

/// The optional statements of a role's policy a secret needs (see `iam::statements`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Extras {
    masters: bool,
    keys: bool,
    users: bool,
    rds: bool,
}

impl Extras {
    fn of(r: &Resolved) -> Extras {
        Extras {
            masters: r.master_arn.is_some(),
            keys: !r.kms_keys.is_empty() || r.create.as_ref().is_some_and(|c| c.kms_key.is_some()),
            users: r.iam_user.is_some(),
            rds: r.master_rds.is_some(),
        }
    }

    /// Whether `self` needs a statement that `had` does not have.
    fn beyond(self, had: Extras) -> bool {
        (self.masters && !had.masters)
            || (self.keys && !had.keys)
            || (self.users && !had.users)
            || (self.rds && !had.rds)
    }

    fn with(self, other: Extras) -> Extras {
        Extras {
            masters: self.masters || other.masters,
            keys: self.keys || other.keys,
            users: self.users || other.users,
            rds: self.rds || other.rds,
        }
    }
}

/// Below this many groups, they are built on one thread (see `par::map_from`).
const GROUPS_IN_PARALLEL: usize = 6;

/// Secrets of one (service, strategy, password policy) that one function rotates.
type Chunk = (String, String, Password, Vec<Resolved>);

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

/// Whether the service issues its credentials (the issue-and-revoke model): its function
/// chooses no password.
fn issues(service: &str) -> bool {
    matches!(service, "aws-iam" | "http-token")
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

/// AWS's rotation functions' default `EXCLUDE_CHARACTERS`.
const DEFAULT_EXCLUDE: &str = "/@\"'\\";

/// Whether the function of `service` runs in the spec's VPC. aws-iam's does not: IAM and
/// STS are public AWS endpoints (IAM has no interface endpoint), and it reaches no
/// private network.
/// RFC 4514 in the small: comma-separated RDNs of `type=value` (`+` joins several), a
/// type that is a name or an OID, specials in values escaped with a backslash.
fn check_dn(dn: &str) -> Result<(), String> {
    if dn.is_empty() {
        return Err("it is empty (an anonymous bind)".into());
    }
    let mut rdns: Vec<String> = vec![String::new()];
    let mut chars = dn.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(next) = chars.next() else {
                    return Err("it ends in a lone backslash".into());
                };
                let last = rdns.last_mut().expect("one rdn");
                last.push('\\');
                last.push(next);
            }
            ',' => rdns.push(String::new()),
            c => rdns.last_mut().expect("one rdn").push(c),
        }
    }
    for rdn in &rdns {
        for ava in rdn.split('+') {
            let Some((ty, value)) = ava.split_once('=') else {
                return Err(format!("`{}` has no `=`", ava.trim()));
            };
            let ty = ty.trim();
            let name = ty.starts_with(|c: char| c.is_ascii_alphabetic())
                && ty.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            let oid = !ty.is_empty()
                && ty
                    .split('.')
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
            if !name && !oid {
                return Err(format!("`{ty}` is not an attribute type"));
            }
            if value.trim().is_empty() {
                return Err(format!("`{ty}` has no value"));
            }
            if value.contains(['"', ';', '<', '>']) && !value.contains('\\') {
                return Err(format!("the value of `{ty}` has a character to escape"));
            }
        }
    }
    Ok(())
}

fn in_vpc(service: &str) -> bool {
    service != "aws-iam"
}

fn default_port(service: &str) -> u16 {
    match service {
        "postgres" => 5432,
        "mysql" | "mariadb" => 3306,
        "redis" => 6379,
        "rabbitmq" => 15671,
        "ldap" => 636,
        _ => 443,
    }
}

/// `postgres` → `Postgres`, `aws-iam` → `AwsIam`: a service's name as a logical ID part.
fn capitalize(s: &str) -> String {
    s.split('-')
        .map(|part| {
            let mut c = part.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
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
        let sam = spec
            .stack
            .format
            .as_ref()
            .map_or(opts.default_sam, |f| f.v == "sam");
        if opts.forbid_sam
            && let Some(fmt) = spec.stack.format.as_ref().filter(|f| f.v == "sam")
        {
            self.err(&fmt.loc, "the macro writes plain CloudFormation: it cannot see whether the SAM transform runs after it, and AWS::Serverless resources without it do not deploy", "leave format out (or write \"cloudformation\"); for SAM output use rotgen build");
        }
        let (architecture, code, function) = self.function(spec, opts);

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
        // The Region the spec's ARNs name: the deploy command says it.
        let region = self
            .arns
            .iter()
            .find(|a| !a.region.is_empty())
            .map(|a| a.region.clone());
        Some(Model {
            region,
            sam,
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

    /// One stack deploys into one partition and one Region: every literal ARN of the spec
    /// must agree on its partition, and every regional one (a secret, a key, a topic, a
    /// layer; not IAM's) on its Region, with each other and with the stack's place when
    /// it is known (the macro's request). Secrets Manager invokes only a function of its
    /// own Region, and KMS keys, topics and layers serve only their Region's callers.
    fn check_arn_places(&mut self, opts: &Options) {
        let stack = opts.stack.as_ref();
        let mut partition: Option<(String, String, Option<Loc>)> =
            stack.map(|s| (s.partition().to_string(), "the stack".to_string(), None));
        let mut region: Option<(String, String, Option<Loc>)> =
            stack.map(|s| (s.region.clone(), "the stack".to_string(), None));
        let seen = std::mem::take(&mut self.arns);
        for a in &seen {
            match &partition {
                None => {
                    partition = Some((a.partition.clone(), a.what.clone(), Some(a.loc.clone())))
                }
                Some((p, first, first_loc)) if *p != a.partition => {
                    let mut d = Diagnostic::new(
                        &a.loc,
                        format!(
                            "{} is an ARN of the partition {}, but {first} is in {p}: one stack deploys into one partition",
                            a.what, a.partition
                        ),
                    )
                    .help(format!("use an ARN of {p} (arn:{p}:…), or deploy the secrets of each partition from their own spec"));
                    if let Some(l) = first_loc {
                        d = d.related(l, format!("{first}, in {p}"));
                    }
                    self.errors.push(d);
                    continue;
                }
                Some(_) => {}
            }
            if a.region.is_empty() {
                continue;
            }
            match &region {
                None => region = Some((a.region.clone(), a.what.clone(), Some(a.loc.clone()))),
                Some((r, first, first_loc)) if *r != a.region => {
                    let mut d = Diagnostic::new(
                        &a.loc,
                        format!(
                            "{} is in the Region {}, but {first} is in {r}: one stack deploys into one Region, and Secrets Manager, KMS keys, topics and layers serve only their own Region",
                            a.what, a.region
                        ),
                    )
                    .help(format!("use an ARN of {r}, or rotate the secrets of each Region from their own stack"));
                    if let Some(l) = first_loc {
                        d = d.related(l, format!("{first}, in {r}"));
                    }
                    self.errors.push(d);
                }
                Some(_) => {}
            }
        }
        self.arns = seen;
    }

    fn password(&mut self, spec: &Spec, secret: &spec::Secret, service: &str) -> Password {
        let layers = [secret.password.as_ref(), spec.password.as_ref()];
        macro_rules! pick {
            ($field:ident, $default:expr) => {
                layers
                    .iter()
                    .flatten()
                    .find_map(|p| p.$field.as_ref())
                    .map_or($default, |v| v.v.clone())
            };
        }
        let default_exclude = if service == "postgres" {
            format!("{DEFAULT_EXCLUDE}:")
        } else {
            DEFAULT_EXCLUDE.to_string()
        };
        let p = Password {
            length: pick!(length, 32),
            exclude_characters: pick!(exclude_characters, default_exclude),
            exclude_numbers: pick!(exclude_numbers, false),
            exclude_punctuation: pick!(exclude_punctuation, false),
            exclude_uppercase: pick!(exclude_uppercase, false),
            exclude_lowercase: pick!(exclude_lowercase, false),
            require_each_included_type: pick!(require_each_included_type, true),
        };
        if p.exclude_numbers && p.exclude_punctuation && p.exclude_uppercase && p.exclude_lowercase
        {
            let loc = layers
                .iter()
                .flatten()
                .find_map(|p| p.exclude_lowercase.as_ref().map(|v| v.loc.clone()))
                .unwrap_or_else(|| secret.loc.clone());
            self.err(
                &loc,
                "the password policy excludes every kind of character",
                "keep at least one of numbers, punctuation, uppercase and lowercase",
            );
        }
        p
    }

    fn schedule(&mut self, spec: &Spec, secret: &spec::Secret) -> Option<(Value, Option<bool>)> {
        if secret.schedule.is_some() {
            return self.resolve_schedule(spec, secret);
        }
        if let Some(known) = &self.default_schedule {
            return Some(known.clone());
        }
        let resolved = self.resolve_schedule(spec, secret);
        self.default_schedule.clone_from(&resolved);
        resolved
    }

    fn resolve_schedule(
        &mut self,
        spec: &Spec,
        secret: &spec::Secret,
    ) -> Option<(Value, Option<bool>)> {
        let own = secret.schedule.as_ref();
        let default = spec.schedule.as_ref();
        // The secret's own timing replaces the default's; window and rotate_immediately
        // fall back field by field.
        // A timing given but refused by the decoder counts as given: it is reported
        // there, not again as missing.
        let has_timing = |s: &&spec::Schedule| {
            s.days.is_some()
                || s.expression.is_some()
                || s.rejected
                    .iter()
                    .any(|k| matches!(*k, "days" | "expression"))
        };
        let timing_src = own.filter(has_timing).or(default);
        // A `schedule` the decoder refused (a misspelt [schedul], a secret's schedul = …)
        // was reported there; its absence is a consequence, not a second problem.
        if timing_src.is_none()
            && (spec.rejected.contains(&"schedule") || secret.rejected.contains(&"schedule"))
        {
            return None;
        }
        let Some(timing_src) = timing_src else {
            let loc = own.map_or_else(|| secret.loc.clone(), |s| s.loc.clone());
            self.err(&loc, "this secret has no schedule", "add a [schedule] table with days = N or expression = \"rate(30 days)\", or schedule = { days = 30 } on the secret");
            return None;
        };
        let window = own
            .and_then(|s| s.window.as_ref())
            .or_else(|| default.and_then(|s| s.window.as_ref()));
        let rotate_immediately = own
            .and_then(|s| s.rotate_immediately.as_ref())
            .or_else(|| default.and_then(|s| s.rotate_immediately.as_ref()))
            .map(|b| b.v);
        let (mut rules, shape, text) = match (&timing_src.days, &timing_src.expression) {
            (Some(d), Some(e)) => {
                self.err(
                    &e.loc,
                    "a schedule takes days or expression, not both",
                    format!("keep days = {} or expression", d.v),
                );
                return None;
            }
            (None, None) if has_timing(&timing_src) => {
                // The decoder refused the timing; the window can still be checked alone.
                if let Some(w) = window
                    && let Err(p) = schedule::check_window_alone(&w.v)
                {
                    self.err(&w.loc, p.message, p.help);
                }
                return None;
            }
            (None, None) => {
                self.err(
                    &timing_src.loc,
                    "this schedule has neither days nor expression",
                    "add days = 30 or expression = \"rate(30 days)\"",
                );
                return None;
            }
            (Some(d), None) => {
                let days = d.v as u32;
                (
                    json!({"AutomaticallyAfterDays": days}),
                    schedule::days_shape(days),
                    format!("days = {days}"),
                )
            }
            (
                None,
                Some(Sp {
                    v: Val::Expr(expr), ..
                }),
            ) => {
                // Known at deploy only: Secrets Manager checks it then. The window can be
                // checked alone.
                let mut rules = json!({"ScheduleExpression": expr});
                if let Some(w) = window {
                    match schedule::check_window_alone(&w.v) {
                        Ok(h) => rules["Duration"] = json!(format!("{h}h")),
                        Err(p) => {
                            self.err(&w.loc, p.message, p.help);
                            return None;
                        }
                    }
                }
                return Some((rules, rotate_immediately));
            }
            (
                None,
                Some(Sp {
                    v: Val::Lit(e),
                    loc,
                }),
            ) => match schedule::parse_expression(e) {
                Ok((normal, shape)) => (json!({"ScheduleExpression": normal}), shape, normal),
                Err(p) => {
                    self.err(loc, p.message, p.help);
                    return None;
                }
            },
        };
        if let Some(w) = window {
            match schedule::check_window(&w.v, &shape, &text) {
                Ok(h) => rules["Duration"] = json!(format!("{h}h")),
                Err(p) => {
                    self.err(&w.loc, p.message, p.help);
                    return None;
                }
            }
        }
        Some((rules, rotate_immediately))
    }

    fn secrets(
        &mut self,
        spec: &Spec,
        naming: &Naming,
        stack: Option<&StackPlace>,
    ) -> Vec<Resolved> {
        let mut out = Vec::new();
        let mut ids: std::collections::HashMap<String, Loc> = std::collections::HashMap::new();
        let mut refs: std::collections::HashMap<String, Loc> = std::collections::HashMap::new();
        let mut iam_users: std::collections::HashMap<String, Loc> =
            std::collections::HashMap::new();
        for secret in &spec.secrets {
            let Some(id) = &secret.id else { continue };
            if id.v.is_empty() || !id.v.bytes().all(|b| b.is_ascii_alphanumeric()) {
                self.err(
                    &id.loc,
                    format!("id \"{}\" is not letters and digits only", id.v),
                    format!(
                        "CloudFormation logical IDs are alphanumeric: try \"{}\"",
                        id.v.chars()
                            .filter(char::is_ascii_alphanumeric)
                            .collect::<String>()
                    ),
                );
            } else if naming.secret_prefix.len() + id.v.len() + SCHEDULE_SUFFIX.len()
                > crate::limits::MAX_NAME
            {
                // The longest ID made from it: its schedule's (also an output's name).
                let prefix = &naming.secret_prefix;
                let max =
                    crate::limits::MAX_NAME.saturating_sub(prefix.len() + SCHEDULE_SUFFIX.len());
                let short = |s: &str| {
                    if s.chars().count() > 12 {
                        format!("{}…", s.chars().take(12).collect::<String>())
                    } else {
                        s.to_string()
                    }
                };
                self.err(
                    &id.loc,
                    format!(
                        "its schedule's logical ID {}{}{SCHEDULE_SUFFIX} would have {} characters; CloudFormation allows 255",
                        short(prefix),
                        short(&id.v),
                        prefix.len() + id.v.len() + SCHEDULE_SUFFIX.len(),
                    ),
                    if prefix.is_empty() {
                        format!("shorten the id to at most {max} characters")
                    } else if max == 0 {
                        format!("shorten the logical ID {} of the Rotgen::Rotation", short(prefix))
                    } else {
                        format!("shorten the id to at most {max} characters, or the Rotgen::Rotation's logical ID")
                    },
                );
            }
            if let Some((_, first)) = ids.get(&id.v.to_ascii_lowercase()).map(|l| ((), l)) {
                let first = first.clone();
                self.errors.push(
                    Diagnostic::new(&id.loc, format!("id \"{}\" is used twice", id.v))
                        .help("ids must be unique, ignoring case (they become logical IDs): rename one")
                        .related(&first, "the first"),
                );
            } else {
                ids.insert(id.v.to_ascii_lowercase(), id.loc.clone());
            }
            let Some(service) = &secret.service else {
                // A service the decoder refused: what does not depend on it is still
                // checked, so that fixing it brings no new problem to light.
                self.schedule(spec, secret);
                continue;
            };
            let service = service.v.as_str();

            let strategy = secret
                .strategy
                .as_ref()
                .map_or("single-user", |s| s.v.as_str());
            let alternates = matches!(
                service,
                "postgres" | "mysql" | "mariadb" | "redis" | "rabbitmq"
            );
            match (strategy, &secret.master_secret_arn) {
                // A master_secret_arn the decoder refused is reported there.
                ("alternating-users", None)
                    if alternates && !secret.rejected.contains(&"master_secret_arn") =>
                {
                    let loc = secret
                        .strategy
                        .as_ref()
                        .map_or(&secret.loc, |s| &s.loc)
                        .clone();
                    self.err(&loc, "alternating-users needs master_secret_arn", "add master_secret_arn = \"arn:aws:secretsmanager:...\": the secret of a user that can create users and grant privileges");
                }
                ("single-user", Some(m)) if service == "random" => {
                    self.err(
                        &m.loc,
                        "a random secret has no user, so no master changes its password",
                        "remove master_secret_arn",
                    );
                }
                ("single-user", Some(m)) if service == "aws-iam" => {
                    self.err(
                        &m.loc,
                        "an aws-iam secret needs no master: the function's own role manages the user's access keys",
                        "remove master_secret_arn",
                    );
                }
                _ => {}
            }
            if strategy == "alternating-users"
                && !matches!(
                    service,
                    "postgres" | "mysql" | "mariadb" | "redis" | "rabbitmq"
                )
            {
                let loc = secret
                    .strategy
                    .as_ref()
                    .map_or(&secret.loc, |s| &s.loc)
                    .clone();
                self.err(&loc, format!("{service} does not rotate with alternating users"), match service {
                    "http" => "use single-user: how an http service keeps two users is its own business (see the http contract)",
                    "aws-iam" => "use single-user: a user holds two access keys, which gives the same zero downtime",
                    "http-token" => "use single-user: the owner holds two tokens, which gives the same zero downtime",
                    "ldap" => "use single-user: a directory user's group memberships and rights are not copied to a second user",
                    _ => "use strategy = \"single-user\": there are no users to alternate",
                });
            }
            self.check_lit(
                &secret.master_secret_arn,
                "master_secret_arn",
                arn::check_secret_arn,
                "copy the full ARN from the Secrets Manager console",
            );
            if let Some(Sp {
                v: Val::Lit(m),
                loc,
            }) = &secret.master_secret_arn
                && let Some(managed) = arn::managed_by(m)
                && (managed != "rds" || !matches!(service, "postgres" | "mysql" | "mariadb"))
            {
                self.err(loc, format!("master_secret_arn names a secret {managed} manages, which holds no host: the function checks that a secret belongs to its master's server by the master's host and port"), "name a master secret of your own, in AWS's shape with host and port (for RDS: a user with CREATEROLE, or CREATE USER on MySQL)");
            }
            let master_rds = self.master_rds(secret, service);
            for v in [&secret.arn, &secret.name].into_iter().flatten() {
                if let Val::Lit(s) = &v.v
                    && let Some(service) = arn::managed_by(s)
                {
                    self.err(
                        &v.loc,
                        format!("this secret is managed by {service}, which rotates it itself"),
                        format!("leave its rotation to {service}; rotgen rotates secrets you own"),
                    );
                }
            }
            self.check_lit(
                &secret.kms_key_arn,
                "kms_key_arn",
                arn::check_kms_key_arn,
                "write a key ARN: arn:aws:kms:REGION:ACCOUNT:key/ID",
            );

            let p = &naming.secret_prefix;
            let given = |key: &str, v: bool| v || secret.rejected.contains(&key);
            let sources = [
                given("arn", secret.arn.is_some()),
                given("name", secret.name.is_some()),
                given("create", secret.create.is_some()),
            ];
            let count = sources.iter().filter(|b| **b).count();
            if count != 1 {
                self.err(&secret.loc, if count == 0 { format!("secret \"{}\" says neither arn, name nor create", id.v) } else { format!("secret \"{}\" gives more than one of arn, name and create", id.v) }, "name an existing secret with arn = \"...\" or name = \"...\", or create one with create = { ... }");
            }
            let mut create = None;
            let (secret_id, policy_arn) = if let Some(a) = &secret.arn {
                self.check_lit(&secret.arn, "arn", arn::check_secret_arn, "copy the full ARN (ending in -XXXXXX) from the Secrets Manager console, or use name = \"...\"");
                if let Val::Lit(s) = &a.v
                    && arn::check_secret_arn(s).is_ok()
                    && let Some(sfx) = s.rsplit_once('-').map(|(_, x)| x)
                    && sfx.bytes().all(|b| b.is_ascii_lowercase())
                {
                    self.warnings.push(Diagnostic::new(&a.loc, format!("arn ends in \"-{sfx}\", which looks like part of the secret's name rather than the six random characters Secrets Manager appends: if it is a partial ARN, IAM will not match the real secret")).help(format!("copy the full ARN from the console (it ends in -XXXXXX), or write name = \"{}\" instead", s.rsplit_once(":secret:").map_or(s.as_str(), |(_, n)| n))));
                }
                (a.v.to_json(), a.v.to_json())
            } else if let Some(n) = &secret.name {
                match &n.v {
                    Val::Lit(s) => {
                        if let Err(why) = arn::check_secret_name(s) {
                            self.err(
                                &n.loc,
                                format!("name \"{s}\" is not valid: {why}"),
                                "use the secret's name as Secrets Manager shows it",
                            );
                        } else if s.starts_with("arn:") {
                            self.err(&n.loc, "name holds an ARN", "write it as arn = \"...\"");
                        }
                        (
                            json!(s),
                            sub(&format!(
                                "arn:${{AWS::Partition}}:secretsmanager:${{AWS::Region}}:${{AWS::AccountId}}:secret:{s}-??????"
                            )),
                        )
                    }
                    Val::Expr(e) => {
                        if holds_wildcard(e) {
                            self.err(&n.loc, "name is a CloudFormation function whose text holds * or ?, which IAM reads as a wildcard: the role would reach more than this secret", "name exactly one secret: a literal name, or a Ref or ImportValue of one");
                        }
                        refs_in(e, &mut self.arn_params);
                        (
                            e.clone(),
                            json!({"Fn::Join": ["", [sub("arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:"), e, "-??????"]]}),
                        )
                    }
                }
            } else if let Some(c) = &secret.create {
                let rid = format!("{p}{}Secret", id.v);
                create = self.create(c, &rid, service, secret, spec);
                (reference(&rid), reference(&rid))
            } else {
                (Value::Null, Value::Null)
            };
            // The secret's name, however it is reached (ARN, name, or the name of the
            // secret created here): one secret has one schedule.
            let key = match &secret_id {
                Value::String(s) => Some(s.clone()),
                _ => secret
                    .create
                    .as_ref()
                    .and_then(|c| c.name.as_ref())
                    .and_then(|n| match &n.v {
                        Val::Lit(s) => Some(s.clone()),
                        Val::Expr(_) => None,
                    }),
            };
            if let Some(key) = key {
                let short = key
                    .strip_prefix("arn:")
                    .and_then(|a| a.split_once(":secret:"))
                    .map_or(key.clone(), |(_, n)| match n.rsplit_once('-') {
                        Some((name, sfx))
                            if sfx.len() == 6 && sfx.bytes().all(|b| b.is_ascii_alphanumeric()) =>
                        {
                            name.to_string()
                        }
                        _ => n.to_string(),
                    });
                if let Some((_, first)) = refs.get(&short).map(|l| ((), l)) {
                    let first = first.clone();
                    self.errors.push(
                        Diagnostic::new(
                            &secret.loc,
                            format!("secret \"{short}\" is rotated twice"),
                        )
                        .help("a secret has one rotation schedule: remove one of the entries")
                        .related(&first, "the other entry"),
                    );
                } else {
                    refs.insert(short, secret.loc.clone());
                }
            }
            let iam_user = self.iam_user(secret, service);
            // One IAM user, one secret: two secrets of one user would each take the
            // other's key for someone else's (names are case-insensitive, and a path
            // does not make another user).
            if let (Some(u), Some(at)) = (&iam_user, secret.user.as_ref()) {
                let key = u.rsplit('/').next().unwrap_or(u).to_ascii_lowercase();
                match iam_users.get(&key) {
                    Some(first) => {
                        let first: Loc = Clone::clone(first);
                        self.errors.push(
                            Diagnostic::new(&at.loc, format!("IAM user {u} already has a secret in this spec"))
                                .help("rotate one user's keys with one secret (IAM user names are case-insensitive; a path does not make another user): remove one, or name another user")
                                .related(&first, "the first"),
                        );
                    }
                    None => {
                        iam_users.insert(key, at.loc.clone());
                    }
                }
            }
            let (token_user, token_api) = self.token_api(secret, service);
            let password = self.password(spec, secret, service);
            let schedule = self.schedule(spec, secret);
            self.check_lit(
                &secret.master_kms_key_arn,
                "master_kms_key_arn",
                arn::check_kms_key_arn,
                "write a key ARN: arn:aws:kms:REGION:ACCOUNT:key/ID",
            );
            if let (Some(k), None) = (&secret.master_kms_key_arn, &secret.master_secret_arn)
                && !secret.rejected.contains(&"master_secret_arn")
            {
                self.err(&k.loc, "master_kms_key_arn without master_secret_arn", "name the master secret it encrypts with master_secret_arn, or remove master_kms_key_arn");
            }
            let mut kms_keys: Vec<Value> = secret
                .kms_key_arn
                .iter()
                .chain(secret.master_kms_key_arn.iter())
                .map(|k| k.v.to_json())
                .collect();
            kms_keys.dedup();
            if let (Some(p), Some(_)) = (&secret.port, &secret.create) {
                self.err(
                    &p.loc,
                    "port is for existing secrets; a created secret says its port in create",
                    "write create = { ..., port = N }",
                );
            }
            let port = secret
                .create
                .as_ref()
                .and_then(|c| c.port.as_ref())
                .or(secret.port.as_ref())
                .map_or(default_port(service), |p| p.v as u16);
            let Some((schedule_rules, mut rotate_immediately)) = schedule else {
                continue;
            };
            // A secret created here holds a password the service has never seen: a
            // rotation can only start once someone set it there (see docs/spec.md, "The
            // first password"), so the schedule does not rotate at once.
            if secret.create.is_some() && service != "random" {
                if rotate_immediately == Some(true) {
                    let loc = secret
                        .schedule
                        .as_ref()
                        .and_then(|s| s.rotate_immediately.as_ref())
                        .or_else(|| {
                            spec.schedule
                                .as_ref()
                                .and_then(|s| s.rotate_immediately.as_ref())
                        })
                        .map_or(&secret.loc, |r| &r.loc)
                        .clone();
                    self.err(&loc, format!("secret \"{}\" is created here, so the service does not know its password yet and an immediate rotation would fail", id.v), "leave rotate_immediately out (false for created secrets): set the first password on the service, then let the schedule rotate (docs/spec.md: \"The first password\")");
                }
                rotate_immediately = Some(false);
            }
            // The account that owns the secret, when its ARN says and it is not the
            // stack's own: Secrets Manager invokes the function from there.
            let owner = match &secret.arn {
                Some(Sp { v: Val::Lit(a), .. }) => arn::parse(a)
                    .map(|a| a.account.to_string())
                    .filter(|acct| stack.is_none_or(|s| s.account != *acct)),
                _ => None,
            };
            out.push(Resolved {
                owner,
                id: id.v.clone(),
                service: service.to_string(),
                strategy: strategy.to_string(),
                password,
                schedule_rules,
                rotate_immediately,
                secret_id,
                policy_arn,
                master_arn: secret.master_secret_arn.as_ref().map(|m| m.v.to_json()),
                master_rds,
                kms_keys,
                create,
                port,
                iam_user,
                token_user,
                token_api,
            });
        }
        out
    }

    /// The RDS instance or cluster that owns the secret's master, when RDS manages the
    /// master (`rds!db-…`, `rds!cluster-…`: no host, so the function binds it to its server
    /// through RDS): required then, refused otherwise.
    fn master_rds(&mut self, secret: &spec::Secret, service: &str) -> Option<RdsResource> {
        use crate::rotation::rds::{self, RdsKind};
        let given: Vec<(RdsKind, &Sp<String>)> = [
            (RdsKind::Instance, &secret.master_rds_instance),
            (RdsKind::Cluster, &secret.master_rds_cluster),
        ]
        .into_iter()
        .filter_map(|(k, v)| Some((k, v.as_ref()?)))
        .collect();
        let key = |k: RdsKind| format!("master_rds_{}", k.as_str());
        let master = secret.master_secret_arn.as_ref();
        let managed = match master.map(|m| &m.v) {
            Some(Val::Lit(m)) if rds::is_rds_managed(m) => Some(rds::managed_master(m)),
            _ => None,
        };
        let decoder_refused = secret.rejected.contains(&"master_rds_instance")
            || secret.rejected.contains(&"master_rds_cluster");
        if let [(_, a), (_, _)] = given.as_slice() {
            self.err(&a.loc, "master_rds_instance and master_rds_cluster both name the master's owner", "keep the one RDS manages the master password for: master_rds_instance for rds!db-…, master_rds_cluster for rds!cluster-…");
            return None;
        }
        let Some(&(kind, id)) = given.first() else {
            if let (Some(_), Some(m)) = (managed, master)
                && !decoder_refused
            {
                let which = match managed.flatten() {
                    Some(RdsKind::Cluster) => {
                        "master_rds_cluster = \"CLUSTER-ID\" (the Aurora cluster"
                    }
                    _ => "master_rds_instance = \"DB-INSTANCE-ID\" (the DB instance",
                };
                self.err(&m.loc, "master_secret_arn names a master password RDS manages, which holds no host, and the secret names no RDS resource that owns it: the function could not tell which server the master belongs to", format!("add {which} whose master password this is); the function then asks RDS for its endpoint and uses the master only there"));
            }
            return None;
        };
        let name = key(kind);
        let mut ok = true;
        if let Err(why) = rds::check_identifier(&id.v) {
            self.err(&id.loc, format!("{name} \"{}\" is not an RDS identifier: {why}", id.v), "write the identifier as the RDS console shows it: 1 to 63 letters, digits or hyphens, starting with a letter, no trailing hyphen and no two in a row");
            ok = false;
        }
        if !matches!(service, "postgres" | "mysql" | "mariadb") {
            self.err(
                &id.loc,
                format!("{name} is for postgres, mysql and mariadb secrets, not {service}"),
                format!("remove {name}"),
            );
            return None;
        }
        match (master, managed) {
            (None, _) => {
                self.err(&id.loc, format!("{name} without master_secret_arn"), format!("name the master secret RDS manages for it with master_secret_arn, or remove {name}"));
                return None;
            }
            (Some(Sp { v: Val::Lit(_), .. }), None) => {
                self.err(&id.loc, format!("{name} is only for a master secret RDS manages (rds!db-… or rds!cluster-…), and master_secret_arn names one of your own"), format!("remove {name}: a master secret of your own says its server with host and port"));
                return None;
            }
            (Some(_), Some(Some(k))) if k != kind => {
                self.err(&id.loc, format!("{name} names {}, but master_secret_arn names the master secret of an RDS {} ({}…)", if kind == RdsKind::Instance { "an instance" } else { "a cluster" }, k.as_str(), k.secret_prefix()), format!("write master_rds_{} instead, or check master_secret_arn", k.as_str()));
                return None;
            }
            _ => {}
        }
        // In a `[vpc]` the function reaches the RDS API through the RDS endpoint rotgen
        // makes beside Secrets Manager's (`vpc`), or, with `endpoint = false`, the way
        // the VPC reaches AWS's APIs (the user's NAT gateway or endpoints).
        ok.then(|| RdsResource {
            kind,
            id: id.v.clone(),
        })
    }

    /// An http-token secret's `user` and `token_api` (the contract, as JSON): required
    /// there, `token_api` refused elsewhere.
    fn token_api(
        &mut self,
        secret: &spec::Secret,
        service: &str,
    ) -> (Option<String>, Option<String>) {
        use crate::backends::http_token;
        if service != "http-token" {
            if let Some(t) = &secret.token_api {
                self.err(
                    &t.loc,
                    format!("`token_api` is for http-token secrets; this one is {service}"),
                    "remove token_api, or set service = \"http-token\"",
                );
            }
            return (None, None);
        }
        let user = match &secret.user {
            Some(u) if !u.v.is_empty() && !u.v.contains(',') && u.v.trim() == u.v => {
                Some(u.v.clone())
            }
            Some(u) => {
                self.err(
                    &u.loc,
                    format!("`{}` cannot be a token owner's name", u.v),
                    "write the owner as the who-am-i answer names it (no commas, no surrounding spaces)",
                );
                None
            }
            None if secret.rejected.contains(&"user") => None,
            None => {
                self.err(
                    &secret.loc,
                    "an http-token secret needs `user`",
                    "add user = \"NAME\": the owner of the tokens, as the API's who-am-i answer names it",
                );
                None
            }
        };
        let Some(t) = &secret.token_api else {
            if secret.rejected.contains(&"token_api") {
                return (user, None);
            }
            self.err(
                &secret.loc,
                "an http-token secret needs `token_api`",
                "add token_api = { issue_url = \"https://…\", list_url = \"https://…\", revoke_url = \"https://…/{id}\", whoami_url = \"https://…\" }",
            );
            return (user, None);
        };
        let mut ok = true;
        let mut contract = serde_json::Map::new();
        for (name, v) in &t.fields {
            let problem = if http_token::URL_FIELDS.contains(name) {
                http_token::check_url(name, &v.v).err()
            } else {
                http_token::check_pointer(name, &v.v).err()
            };
            if let Some(why) = problem {
                self.err(&v.loc, why, match *name {
                    "revoke_url" => "write the revoke URL with {id} where the token's id goes: https://api.example/tokens/{id}",
                    n if n.ends_with("_url") => "write an https:// URL without user or password",
                    _ => "write a JSON Pointer (RFC 6901), like /data/token",
                });
                ok = false;
            }
            contract.insert((*name).into(), json!(v.v));
        }
        if let Some(l) = &t.limit {
            contract.insert("limit".into(), json!(l.v));
        }
        if !ok {
            return (user, None);
        }
        // Missing required fields were reported by the decoder; the contract must parse
        // as the function will read it.
        let text = Value::Object(contract).to_string();
        match http_token::Contract::parse(&text) {
            Ok(_) => (user, Some(text)),
            Err(_) => (user, None),
        }
    }

    /// An aws-iam secret's `user`: required there, refused elsewhere.
    fn iam_user(&mut self, secret: &spec::Secret, service: &str) -> Option<String> {
        match (&secret.user, service) {
            (Some(u), "aws-iam") => {
                // NAME, or PATH/NAME for a user with a path (its ARN holds the path).
                let part_ok = |p: &str| {
                    !p.is_empty()
                        && p.chars()
                            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
                };
                let name = u.v.rsplit('/').next().unwrap_or("");
                if name.len() > 64 || u.v.len() > 512 || !u.v.split('/').all(part_ok) {
                    self.err(
                        &u.loc,
                        format!("`{}` is not an IAM user name", u.v),
                        "write the user's name (1 to 64 letters, digits and + = , . @ _ -), or PATH/NAME for a user with a path",
                    );
                }
                Some(u.v.clone())
            }
            (None, "aws-iam") if !secret.rejected.contains(&"user") => {
                self.err(
                    &secret.loc,
                    "an aws-iam secret needs `user`",
                    "add user = \"NAME\": the IAM user whose access keys the secret holds",
                );
                None
            }
            (_, "http-token") => None,
            (Some(u), _) => {
                self.err(
                    &u.loc,
                    format!("`user` is for aws-iam and http-token secrets; this one is {service}"),
                    "remove user (a database secret names its user in its value)",
                );
                None
            }
            (None, _) => None,
        }
    }

    /// A created secret's user name against its service's limit (the alternating pair's
    /// `NAME_clone` too) and, for LDAP, the DN syntax.
    fn check_username(&mut self, name: &str, loc: &Loc, service: &str, alternating: bool) {
        let clone = if alternating { "_clone".len() } else { 0 };
        let (limit, unit, len) = match service {
            "postgres" => (63, "bytes", name.len()),
            "mysql" => (32, "characters", name.chars().count()),
            "mariadb" => (80, "characters", name.chars().count()),
            "ldap" => {
                if let Err(why) = check_dn(name) {
                    self.err(
                        loc,
                        format!("username \"{name}\" is not a DN: {why}"),
                        "write the user's distinguished name, like uid=app,ou=people,dc=example,dc=com (RFC 4514: escape , + \" \\ < > ; with a backslash)",
                    );
                }
                return;
            }
            _ => return,
        };
        if len + clone > limit {
            let why = if alternating {
                format!(
                    ", and alternating users need room for {name}_clone ({} {unit})",
                    len + clone
                )
            } else {
                String::new()
            };
            self.err(
                loc,
                format!(
                    "user name \"{name}\" is {len} {unit}; {service} takes at most {limit}{why}"
                ),
                format!("shorten it to at most {} {unit}", limit - clone),
            );
        }
    }

    fn create(
        &mut self,
        c: &spec::Create,
        rid: &str,
        service: &str,
        secret: &spec::Secret,
        spec: &Spec,
    ) -> Option<CreateModel> {
        let id = secret.id.as_ref().map_or("", |i| i.v.as_str());
        if service == "http-token" {
            self.err(
                &c.loc,
                "an http-token secret cannot be created here: its value is a token, which only the API issues",
                "issue the first token with the API, store it in a secret as {\"username\", \"token\", \"token_id\"}, and name that secret with name or arn",
            );
            return None;
        }
        if service == "aws-iam" {
            self.err(
                &c.loc,
                "an aws-iam secret cannot be created here: its value is an access key, which only IAM issues",
                "create the user's first key (aws iam create-access-key), store it in a secret as {\"UserName\", \"AccessKeyId\", \"SecretAccessKey\"}, and name that secret with name or arn",
            );
            return None;
        }
        let needs: &[&str] = match service {
            "postgres" | "mysql" | "mariadb" | "redis" | "rabbitmq" | "ldap" => {
                &["username", "host"]
            }
            "http" => &["username", "url"],
            _ => &[],
        };
        let given = [
            ("username", c.username.is_some()),
            ("host", c.host.is_some()),
            ("dbname", c.dbname.is_some()),
            ("url", c.url.is_some()),
            ("port", c.port.is_some()),
            ("ssl", c.ssl.is_some()),
        ]
        .map(|(k, v)| (k, v || c.rejected.contains(&k)));
        // These go inside the secret's JSON, where CloudFormation would splice a
        // function's value unescaped (a `"` in it would add keys): literals only.
        for (field, value) in [
            ("username", &c.username),
            ("host", &c.host),
            ("dbname", &c.dbname),
            ("url", &c.url),
            ("master_secret_arn", &secret.master_secret_arn),
        ] {
            if let Some(Sp {
                v: Val::Expr(_),
                loc,
            }) = value
            {
                self.err(loc, format!("{field} of a created secret is a CloudFormation function: CloudFormation would put its value into the secret's JSON without escaping it"), format!("write {field} as a literal value (a secret created elsewhere may take any value: name it with arn or name)"));
            }
        }
        for need in needs {
            if !given.iter().any(|(n, g)| n == need && *g) {
                self.err(
                    &c.loc,
                    format!("create for {service} needs `{need}`"),
                    format!("add {need} = \"...\" to create"),
                );
            }
        }
        let allowed: &[&str] = match service {
            "postgres" | "mysql" | "mariadb" => &["username", "host", "dbname", "port", "ssl"],
            "redis" | "rabbitmq" | "ldap" => &["username", "host", "port", "ssl"],
            "http" => &["username", "url"],
            _ => &["username"],
        };
        for (name, g) in given {
            if g && !allowed.contains(&name) {
                self.err(
                    &c.loc,
                    format!("create for {service} does not take `{name}`"),
                    format!("{service} secrets hold {}", allowed.join(", ")),
                );
            }
        }
        if let Some(Sp {
            v: Val::Lit(u),
            loc,
        }) = &c.url
            && !u.starts_with("https://")
        {
            self.err(
                loc,
                format!("url \"{u}\" is not https://"),
                "the http backend sends the credentials, so it requires TLS: use https://",
            );
        }
        if let Some(Sp {
            v: Val::Lit(n),
            loc,
        }) = &c.name
            && let Err(why) = arn::check_user_secret_name(n)
        {
            self.err(
                loc,
                format!("name \"{n}\" is not valid: {why}"),
                "use letters, digits and /_+=.@-",
            );
        }
        if let Some(Sp { v: false, loc }) = &c.ssl
            && spec.function.require_tls.as_ref().is_none_or(|r| r.v)
        {
            self.err(
                loc,
                "ssl = false, but the function requires verified TLS (function.require_tls, default true)",
                "enable TLS on the server and drop `ssl`, or, for a server without TLS, set require_tls = false in [function]",
            );
        }
        // The secret's JSON, in the shape AWS's own rotation functions read.
        let mut fields: Vec<(&str, Value)> = Vec::new();
        let engine = match service {
            "random" => None,
            s => Some(s),
        };
        if let Some(e) = engine {
            fields.push(("engine", json!(e)));
        }
        if let Some(h) = &c.host {
            fields.push(("host", h.v.to_json()));
        }
        if matches!(
            service,
            "postgres" | "mysql" | "mariadb" | "redis" | "rabbitmq" | "ldap"
        ) {
            fields.push((
                "port",
                json!(
                    c.port
                        .as_ref()
                        .map_or(default_port(service) as i64, |p| p.v)
                ),
            ));
        }
        if let Some(u) = &c.username {
            fields.push(("username", u.v.to_json()));
            if let Val::Lit(name) = &u.v {
                let alternating = secret
                    .strategy
                    .as_ref()
                    .is_some_and(|s| s.v == "alternating-users");
                self.check_username(name, &u.loc, service, alternating);
            }
        }
        if let Some(d) = &c.dbname {
            fields.push(("dbname", d.v.to_json()));
        } else if service == "postgres" {
            fields.push(("dbname", json!("postgres")));
        }
        // Secrets rotgen creates ask for verified TLS unless the spec says otherwise: with
        // `ssl` absent a server that declines TLS would get the password in plaintext.
        match &c.ssl {
            Some(s) => fields.push(("ssl", json!(s.v))),
            None if matches!(
                service,
                "postgres" | "mysql" | "mariadb" | "redis" | "rabbitmq" | "ldap"
            ) =>
            {
                fields.push(("ssl", json!(true)))
            }
            None => {}
        }
        if let Some(u) = &c.url {
            fields.push(("url", u.v.to_json()));
        }
        if let Some(m) = &secret.master_secret_arn {
            fields.push(("masterarn", m.v.to_json()));
        }
        let template = secret_string_template(&fields);
        let password = self.password(spec, secret, service);
        let mut generate = json!({
            "SecretStringTemplate": template,
            "GenerateStringKey": "password",
            "PasswordLength": password.length,
            "ExcludeCharacters": password.exclude_characters,
        });
        for (key, on) in [
            ("ExcludeNumbers", password.exclude_numbers),
            ("ExcludePunctuation", password.exclude_punctuation),
            ("ExcludeUppercase", password.exclude_uppercase),
            ("ExcludeLowercase", password.exclude_lowercase),
        ] {
            if on {
                generate[key] = json!(true);
            }
        }
        if !password.require_each_included_type {
            generate["RequireEachIncludedType"] = json!(false);
        }
        if let Some(d) = &c.description
            && d.v.chars().count() > MAX_SECRET_DESCRIPTION
        {
            self.err(
                &d.loc,
                format!(
                    "the description has {} characters; Secrets Manager allows {MAX_SECRET_DESCRIPTION}",
                    d.v.chars().count()
                ),
                "shorten it",
            );
        }
        Some(CreateModel {
            id: rid.to_string(),
            name: c.name.as_ref().map(|n| n.v.to_json()),
            description: c.description.as_ref().map_or_else(
                || format!("{service} credentials for {id}, rotated by rotgen"),
                |d| d.v.clone(),
            ),
            kms_key: secret.kms_key_arn.as_ref().map(|k| k.v.to_json()),
            generate,
        })
    }

    fn groups(&mut self, spec: &Spec, secrets: Vec<Resolved>, naming: &Naming) -> Vec<Group> {
        // One function per (service, strategy, password policy): the function's environment
        // carries the policy, and its role reaches only the secrets of its kind.
        let mut keyed: Vec<(String, String, Password, Vec<Resolved>)> = Vec::new();
        for s in secrets {
            match keyed.iter_mut().find(|(sv, st, pw, members)| {
                *sv == s.service
                    && *st == s.strategy
                    && *pw == s.password
                    && members[0].token_api == s.token_api
            }) {
                Some(k) => k.3.push(s),
                None => keyed.push((
                    s.service.clone(),
                    s.strategy.clone(),
                    s.password.clone(),
                    vec![s],
                )),
            }
        }
        // Split each kind so no role's inline policy passes IAM's limit. The policy's size
        // is kept up to date as secrets join a chunk (recomputed whole only when a secret
        // brings the first master secret or key, which adds a statement).
        let mut chunks: Vec<(String, String, Password, Vec<Resolved>)> = Vec::new();
        for (service, strategy, password, members) in keyed {
            let mut current: Vec<Resolved> = Vec::new();
            let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
            let mut size = 0;
            // The statements the current chunk's policy has beyond the fixed ones: a secret
            // that brings a new one makes the size be recomputed whole.
            let mut has = Extras::default();
            // The function's environment lists masters and IAM users: its size too.
            let mut listed: std::collections::HashSet<String> = std::collections::HashSet::new();
            let mut listed_len = 0;
            for s in members {
                let env_items = environment_items(&s);
                let env_added: usize = env_items
                    .iter()
                    .filter(|k| !listed.contains(*k))
                    .map(|k| k.len() + 1)
                    .sum();
                let items = policy_items(&s);
                let brings = Extras::of(&s);
                let new_statement = brings.beyond(has);
                let added: usize = items
                    .iter()
                    .filter(|(k, _)| !seen.contains(k))
                    .map(|(_, v)| value_len(v) + 1)
                    .sum();
                current.push(s);
                let tentative = if current.len() == 1 || new_statement {
                    policy_len(&statements(&current, "LogGroup"))
                } else {
                    size + added
                };
                // A group fits one nested template: two outputs and two resources per
                // secret at most, within the quotas.
                if current.len() > 1
                    && (tentative > ROLE_POLICY_BUDGET
                        || current.len() > MAX_GROUP_SECRETS
                        || listed_len + env_added > ENVIRONMENT_BUDGET)
                {
                    let last = current.pop().expect("just pushed");
                    chunks.push((
                        service.clone(),
                        strategy.clone(),
                        password.clone(),
                        std::mem::take(&mut current),
                    ));
                    seen.clear();
                    has = Extras::default();
                    listed.clear();
                    listed_len = 0;
                    current.push(last);
                    size = policy_len(&statements(&current, "LogGroup"));
                } else {
                    size = tentative;
                }
                has = has.with(brings);
                seen.extend(items.into_iter().map(|(k, _)| k));
                for k in env_items {
                    if !listed.contains(&k) {
                        listed_len += k.len() + 1;
                        listed.insert(k);
                    }
                }
            }
            if !current.is_empty() {
                chunks.push((service, strategy, password, current));
            }
        }
        let base_label = |service: &str, strategy: &str| {
            format!(
                "{}{}",
                capitalize(service),
                if strategy == "alternating-users" {
                    "Alternating"
                } else {
                    ""
                }
            )
        };
        let single = chunks.len() == 1;
        let alarms_on = alarms_enabled(spec);
        // Each group is built on its own (on every core for a large spec); the one problem
        // a group can have is reported afterwards, in order.
        let indexed: Vec<(usize, &Chunk)> = chunks.iter().enumerate().collect();
        let built = crate::par::map_from(
            GROUPS_IN_PARALLEL,
            &indexed,
            |&(i, (service, strategy, password, members))| {
                let mut too_long = None;
                let base = base_label(service, strategy);
                let same: Vec<usize> = chunks
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| base_label(&c.0, &c.1) == base)
                    .map(|(j, _)| j)
                    .collect();
                let label = if same.len() > 1 {
                    format!(
                        "{base}{}",
                        same.iter().position(|j| *j == i).unwrap_or(0) + 1
                    )
                } else {
                    base
                };
                let stem = format!("{}{label}{}", naming.group_prefix, naming.group_suffix);
                let log_group_id = format!("{stem}LogGroup");
                let mut statements = statements(members, &log_group_id);
                let len = policy_len(&statements);
                if len > ROLE_POLICY_LIMIT {
                    too_long = Some(format!(
                        "the role for {label} would need a {len}-character policy"
                    ));
                }
                statements.retain(|s| !s.is_null());
                let suffix_name = |v: &Sp<Val>| -> Value {
                    if single {
                        v.v.to_json()
                    } else {
                        match &v.v {
                            Val::Lit(s) => json!(format!("{s}-{}", label.to_ascii_lowercase())),
                            Val::Expr(e) => {
                                json!({"Fn::Join": ["-", [e, label.to_ascii_lowercase()]]})
                            }
                        }
                    }
                };
                let mut environment = serde_json::Map::new();
                environment.insert(
                    "SECRETS_MANAGER_ENDPOINT".into(),
                    sub("https://secretsmanager.${AWS::Region}.${AWS::URLSuffix}"),
                );
                // Its masters RDS manages, in a `[vpc]` with rotgen's endpoints: the RDS
                // endpoint's URL, set in `resolve` once the endpoint is known.
                let rds_endpoint = in_vpc(service)
                    && spec
                        .vpc
                        .as_ref()
                        .is_some_and(|v| v.endpoint.as_ref().is_none_or(|e| e.v))
                    && members.iter().any(|m| m.master_rds.is_some());
                if rds_endpoint {
                    environment.insert(
                        RDS_ENDPOINT_VAR.into(),
                        sub("https://rds.${AWS::Region}.${AWS::URLSuffix}"),
                    );
                }
                environment.insert("ROTGEN_SERVICE".into(), json!(service));
                if let Some(ca) = &spec.function.ca_file {
                    environment.insert(crate::backends::CA_FILE_VAR.into(), json!(ca.v));
                }
                if spec.function.require_tls.as_ref().is_none_or(|r| r.v)
                    && matches!(
                        service.as_str(),
                        "postgres" | "mysql" | "mariadb" | "redis" | "rabbitmq" | "ldap"
                    )
                {
                    environment.insert(crate::backends::REQUIRE_TLS_VAR.into(), json!("true"));
                }
                environment.insert("ROTGEN_STRATEGY".into(), json!(strategy));
                // The master secrets this function may use: a secret's own `masterarn` is
                // never enough (see rotation::trust).
                let mut masters: Vec<&Value> = Vec::new();
                for m in members.iter().filter_map(|s| s.master_arn.as_ref()) {
                    if !masters.contains(&m) {
                        masters.push(m);
                    }
                }
                if !masters.is_empty() {
                    let value = if masters.iter().all(|m| m.is_string()) {
                        json!(
                            masters
                                .iter()
                                .filter_map(|m| m.as_str())
                                .collect::<Vec<_>>()
                                .join(",")
                        )
                    } else {
                        json!({"Fn::Join": [",", masters]})
                    };
                    environment.insert(crate::rotation::trust::MASTERS_VAR.into(), value);
                }
                // The masters RDS manages, each bound to the instance or cluster that owns
                // it (see rotation::rds): the function asks RDS for that endpoint.
                let mut bindings: Vec<Value> = Vec::new();
                for m in members {
                    if let (Some(res), Some(master)) = (&m.master_rds, &m.master_arn) {
                        let prefix = crate::rotation::rds::binding_prefix(res);
                        let entry = match master {
                            Value::String(s) => json!(format!("{prefix}{s}")),
                            other => json!({"Fn::Join": ["", [prefix, other]]}),
                        };
                        if !bindings.contains(&entry) {
                            bindings.push(entry);
                        }
                    }
                }
                if !bindings.is_empty() {
                    let value = if bindings.iter().all(Value::is_string) {
                        json!(
                            bindings
                                .iter()
                                .filter_map(Value::as_str)
                                .collect::<Vec<_>>()
                                .join(",")
                        )
                    } else {
                        json!({"Fn::Join": [",", bindings]})
                    };
                    environment.insert(crate::rotation::rds::MASTER_RDS_VAR.into(), value);
                }
                // The password policy, as AWS's own variables (aws-iam functions choose
                // no password).
                if !issues(service) {
                    for (name, value) in [
                        ("PASSWORD_LENGTH", password.length.to_string()),
                        ("EXCLUDE_CHARACTERS", password.exclude_characters.clone()),
                        ("EXCLUDE_NUMBERS", password.exclude_numbers.to_string()),
                        (
                            "EXCLUDE_PUNCTUATION",
                            password.exclude_punctuation.to_string(),
                        ),
                        ("EXCLUDE_UPPERCASE", password.exclude_uppercase.to_string()),
                        ("EXCLUDE_LOWERCASE", password.exclude_lowercase.to_string()),
                        (
                            "REQUIRE_EACH_INCLUDED_TYPE",
                            password.require_each_included_type.to_string(),
                        ),
                    ] {
                        environment.insert(name.into(), json!(value));
                    }
                } else if service == "http-token" {
                    // One contract per function (the groups are keyed by it).
                    if let Some(c) = &members[0].token_api {
                        environment
                            .insert(crate::backends::http_token::CONTRACT_VAR.into(), json!(c));
                    }
                    let mut users: Vec<&str> = Vec::new();
                    for u in members.iter().filter_map(|m| m.token_user.as_deref()) {
                        if !users.contains(&u) {
                            users.push(u);
                        }
                    }
                    environment.insert(
                        crate::backends::http_token::USERS_VAR.into(),
                        json!(users.join(",")),
                    );
                } else {
                    // The users' names, without their paths (what the secrets say).
                    let mut users: Vec<&str> = Vec::new();
                    for u in members.iter().filter_map(|m| m.iam_user.as_deref()) {
                        let name = u.rsplit('/').next().unwrap_or(u);
                        if !users.contains(&name) {
                            users.push(name);
                        }
                    }
                    environment.insert(
                        crate::backends::aws_iam::USERS_VAR.into(),
                        json!(users.join(",")),
                    );
                    if let Some(p) = &spec.function.previous_key {
                        environment
                            .insert(crate::backends::aws_iam::PREVIOUS_VAR.into(), json!(p.v));
                    }
                }
                // The accounts whose secrets this function rotates: the stack's own
                // first, then each other one.
                let mut owners: Vec<Option<String>> =
                    members.iter().map(|m| m.owner.clone()).collect();
                owners.sort();
                owners.dedup();
                let permission_id = |i: usize, owner: &Option<String>| match (i, owner) {
                    (0, _) | (_, None) => format!("{stem}Permission"),
                    (_, Some(account)) => format!("{stem}Permission{account}"),
                };
                let group_in_vpc = spec.vpc.is_some() && in_vpc(service);
                let mut managed_policies = Vec::new();
                if group_in_vpc {
                    managed_policies.push(sub("arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"));
                }
                let alarms = alarms_on.then(|| GroupAlarms {
                    errors_alarm_id: format!("{stem}ErrorsAlarm"),
                    rules: failure_rules(&stem, members),
                });
                let group = Group {
                    in_vpc: group_in_vpc,
                    rds_endpoint,
                    alarms,
                    label: label.clone(),
                    service: service.clone(),
                    strategy: strategy.clone(),
                    function_id: format!("{stem}Function"),
                    role_id: format!("{stem}Role"),
                    log_group_id,
                    permissions: owners
                        .iter()
                        .enumerate()
                        .map(|(i, o)| PermissionModel {
                            id: permission_id(i, o),
                            source_account: o
                                .as_ref()
                                .map_or_else(|| reference("AWS::AccountId"), |a| json!(a)),
                        })
                        .collect(),
                    stack_id: format!("{stem}Stack"),
                    template_file: label.to_ascii_lowercase(),
                    function_name: spec.function.name.as_ref().map(suffix_name),
                    role_name: spec.function.role_name.as_ref().map(suffix_name),
                    environment,
                    statements,
                    managed_policies,
                    secrets: members
                        .iter()
                        .map(|s| SecretModel {
                            permission_id: permission_id(
                                owners.iter().position(|o| *o == s.owner).unwrap_or(0),
                                &s.owner,
                            ),
                            id: s.id.clone(),
                            service: s.service.clone(),
                            schedule_id: format!(
                                "{}{}{SCHEDULE_SUFFIX}",
                                naming.secret_prefix, s.id
                            ),
                            secret_id: s.secret_id.clone(),
                            rules: s.schedule_rules.clone(),
                            rotate_immediately: s.rotate_immediately,
                            create: s.create.clone(),
                            rds_master: s.master_rds.is_some(),
                            waits: Vec::new(),
                        })
                        .collect(),
                };
                (group, too_long)
            },
        );
        let mut groups = Vec::with_capacity(built.len());
        for (group, too_long) in built {
            if let Some(message) = too_long {
                self.err(&Loc::Whole, message, "IAM allows 10,240 characters; fewer KMS keys or master secrets per secret would fit");
            }
            self.check_environment(spec, &group);
            groups.push(group);
        }
        self.check_names(spec, &groups, single);
        groups
    }

    /// Lambda's quota of 4 KB for all of a function's environment variables together, as
    /// their JSON counts: the lists are kept within `ENVIRONMENT_BUDGET` as secrets join a
    /// function, but the password policy's exclusions and an API contract are the spec's
    /// to make long. A value CloudFormation computes counts at its largest likely size.
    fn check_environment(&mut self, spec: &Spec, g: &Group) {
        let quoted = |s: &str| serde_json::to_string(s).map_or(s.len(), |q| q.len());
        let mut total = 2usize;
        let mut largest = ("", 0usize);
        for (i, (k, v)) in g.environment.iter().enumerate() {
            let value = match v {
                // Set to the VPC endpoint's DNS name in a VPC: at most this long (`rds` is
                // shorter than `secretsmanager`).
                _ if k == "SECRETS_MANAGER_ENDPOINT" || k == RDS_ENDPOINT_VAR => ENDPOINT_URL_BYTES,
                Value::String(s) => quoted(s),
                other => computed_len(other),
            };
            total += quoted(k) + 1 + value + usize::from(i > 0);
            if value > largest.1 {
                largest = (k.as_str(), value);
            }
        }
        if total <= ENVIRONMENT_LIMIT {
            return;
        }
        let first = g.secrets.first().map(|s| s.id.as_str());
        let secret = spec
            .secrets
            .iter()
            .find(|s| s.id.as_ref().map(|i| i.v.as_str()) == first);
        let (loc, help) = match largest.0 {
            "EXCLUDE_CHARACTERS" => (
                secret
                    .and_then(|s| s.password.as_ref())
                    .into_iter()
                    .chain(spec.password.as_ref())
                    .find_map(|p| p.exclude_characters.as_ref())
                    .map_or(Loc::Whole, |x| x.loc.clone()),
                "shorten exclude_characters (each character once is enough)",
            ),
            crate::backends::http_token::CONTRACT_VAR => (
                secret.map_or(Loc::Whole, |s| s.loc.clone()),
                "shorten token_api's URLs and pointers",
            ),
            _ => (
                secret.map_or(Loc::Whole, |s| s.loc.clone()),
                "name fewer master secrets or users in one spec, or shorter ones",
            ),
        };
        self.err(
            &loc,
            format!(
                "the {} function's environment would hold {total} bytes (the largest variable, {}, {} bytes); Lambda allows {ENVIRONMENT_LIMIT} for all variables together",
                g.label, largest.0, largest.1
            ),
            help,
        );
    }

    /// `function.name` and `function.role_name`, with the `-label` each function adds
    /// when there are several, must be names Lambda and IAM accept.
    fn check_names(&mut self, spec: &Spec, groups: &[Group], single: bool) {
        let suffix = if single {
            String::new()
        } else {
            groups
                .iter()
                .map(|g| format!("-{}", g.label.to_ascii_lowercase()))
                .max_by_key(String::len)
                .unwrap_or_default()
        };
        let lambda_chars = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_');
        let iam_chars = |c: char| {
            c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '=' | ',' | '.' | '@' | '-')
        };
        type CharRule<'a> = &'a dyn Fn(char) -> bool;
        let fields: [(&str, &Option<Sp<Val>>, CharRule, &str); 2] = [
            (
                "function.name",
                &spec.function.name,
                &lambda_chars,
                "letters, digits, - and _",
            ),
            (
                "function.role_name",
                &spec.function.role_name,
                &iam_chars,
                "letters, digits and _+=,.@-",
            ),
        ];
        for (field, value, allowed, chars) in fields {
            let Some(Sp {
                v: Val::Lit(name),
                loc,
            }) = value
            else {
                continue;
            };
            if name.is_empty() || !name.chars().all(allowed) {
                self.err(
                    loc,
                    format!("{field} \"{name}\" is not a valid name"),
                    format!("use only {chars}"),
                );
                continue;
            }
            let len = name.chars().count() + suffix.len();
            if len > 64 {
                self.err(
                    loc,
                    format!(
                        "{field} \"{name}\" makes names of {len} characters (with the suffix \"{suffix}\" rotgen adds for each of the {} functions); AWS allows 64",
                        groups.len()
                    ),
                    format!("shorten it to at most {} characters", 64usize.saturating_sub(suffix.len())),
                );
            }
        }
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

/// `SecretStringTemplate`: a JSON string, or a `Fn::Join` building one when a value is
/// an intrinsic function (macro input).
fn secret_string_template(fields: &[(&str, Value)]) -> Value {
    if fields.iter().all(|(_, v)| !v.is_object()) {
        let map: serde_json::Map<String, Value> = fields
            .iter()
            .map(|(k, v)| ((*k).to_string(), v.clone()))
            .collect();
        return json!(Value::Object(map).to_string());
    }
    let mut parts: Vec<Value> = Vec::new();
    let mut lit = String::from("{");
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            lit.push(',');
        }
        lit.push_str(&json!(k).to_string());
        lit.push(':');
        if v.is_object() {
            lit.push('"');
            parts.push(json!(std::mem::take(&mut lit)));
            parts.push(v.clone());
            lit.push('"');
        } else {
            lit.push_str(&v.to_string());
        }
    }
    lit.push('}');
    parts.push(json!(lit));
    json!({"Fn::Join": ["", parts]})
}
