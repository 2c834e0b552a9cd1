//! Secrets into functions: one function per (service, strategy, password policy, API
//! contract), each split so its role's inline policy, its environment and its nested
//! template stay within their quotas; then each function's logical IDs, environment,
//! statements, permissions and alarms, built in parallel and merged in order. Also the
//! checks on the whole function: its environment against Lambda's 4 KB, and the names
//! `function.name` and `role_name` make.
//!
//! Checks and values only, no I/O.

use super::alarms::{alarms_enabled, failure_rules};
use super::iam::{policy_items, policy_len, statements, value_len};
use super::services::{self, User};
use super::{
    Cx, ENVIRONMENT_BUDGET, ENVIRONMENT_LIMIT, Group, GroupAlarms, MAX_GROUP_SECRETS, Naming,
    Password, PermissionModel, RDS_ENDPOINT_VAR, ROLE_POLICY_BUDGET, ROLE_POLICY_LIMIT, Resolved,
    SCHEDULE_SUFFIX, SecretModel, reference, sub,
};
use crate::diag::Loc;
use crate::spec::{Sp, Spec, Val};
use serde_json::{Value, json};

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

impl Cx {
    pub(super) fn groups(
        &mut self,
        spec: &Spec,
        secrets: Vec<Resolved>,
        naming: &Naming,
    ) -> Vec<Group> {
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
                let svc = services::get(service);
                let rds_endpoint = svc.in_vpc
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
                if spec.function.require_tls.as_ref().is_none_or(|r| r.v) && svc.tls_floor {
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
                if !svc.issues {
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
                } else if svc.user == User::TokenOwner {
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
                let group_in_vpc = spec.vpc.is_some() && svc.in_vpc;
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
    pub(super) fn check_environment(&mut self, spec: &Spec, g: &Group) {
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
    pub(super) fn check_names(&mut self, spec: &Spec, groups: &[Group], single: bool) {
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
