//! **spec**: the user's input, parsed 1:1 into typed values that keep their locations.
//!
//! Nothing here applies defaults or cross-field rules: that is the model's job. This layer
//! reports every unknown key (with the nearest valid name), wrong type, out-of-range number
//! and unknown enum value, all at once.

pub mod node;
pub mod schema;

use crate::diag::{Diagnostic, Diagnostics, Loc, nearest};
use node::{Kind, Node};
use schema::{Table, Ty};
use serde_json::Value;

/// A value with the place it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Sp<T> {
    pub v: T,
    pub loc: Loc,
}

/// A string, or (macro input only) an intrinsic function that CloudFormation evaluates.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Lit(String),
    Expr(Value),
}

impl Val {
    pub fn lit(&self) -> Option<&str> {
        match self {
            Val::Lit(s) => Some(s),
            Val::Expr(_) => None,
        }
    }

    /// As a template value.
    pub fn to_json(&self) -> Value {
        match self {
            Val::Lit(s) => Value::String(s.clone()),
            Val::Expr(v) => v.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum IntVal {
    Lit(i64),
    Expr(Value),
}

impl IntVal {
    pub fn to_json(&self) -> Value {
        match self {
            IntVal::Lit(n) => Value::from(*n),
            IntVal::Expr(v) => v.clone(),
        }
    }
}

/// A list of strings; in macro input also an intrinsic yielding a list (`!Ref Subnets`).
#[derive(Debug, Clone, PartialEq)]
pub enum ListVal {
    Items(Vec<Sp<Val>>),
    Expr(Value),
}

impl ListVal {
    pub fn to_json(&self) -> Value {
        match self {
            ListVal::Items(items) => Value::Array(items.iter().map(|i| i.v.to_json()).collect()),
            ListVal::Expr(v) => v.clone(),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Spec {
    pub stack: Stack,
    pub function: Function,
    pub vpc: Option<Vpc>,
    pub alarms: Option<Alarms>,
    pub parameters: Vec<Parameter>,
    pub schedule: Option<Schedule>,
    pub password: Option<Password>,
    pub secrets: Vec<Secret>,
    /// Where `secret` is (or the whole input, when it is missing).
    pub secrets_loc: Option<Loc>,
    /// Top-level keys given but refused (or misspelt): the model reports none of them
    /// missing.
    pub rejected: Vec<&'static str>,
}

#[derive(Debug, Clone)]
pub struct Alarms {
    pub loc: Loc,
    pub enabled: Option<Sp<bool>>,
    pub topic_arn: Option<Sp<Val>>,
    pub kms_key_arn: Option<Sp<Val>>,
    pub email: Option<Sp<ListVal>>,
}

#[derive(Debug, Clone, Default)]
pub struct Stack {
    pub name: Option<Sp<String>>,
    pub description: Option<Sp<String>>,
    pub format: Option<Sp<String>>,
    pub tags: Vec<(Sp<String>, Sp<Val>)>,
    pub exports: Option<Sp<bool>>,
    /// The template is for a StackSet with service-managed permissions (`rotgen build
    /// --stackset` says the same).
    pub stackset: Option<Sp<bool>>,
}

/// `[parameters.NAME]`.
#[derive(Debug, Clone)]
pub struct Parameter {
    pub name: Sp<String>,
    pub ty: Option<Sp<String>>,
    pub description: Option<Sp<String>>,
    pub default: Option<Sp<String>>,
}

#[derive(Debug, Clone, Default)]
pub struct Function {
    /// Keys given but refused by the decoder (reported there).
    pub rejected: Vec<&'static str>,
    pub name: Option<Sp<Val>>,
    pub architecture: Option<Sp<String>>,
    pub memory_mb: Option<Sp<IntVal>>,
    pub timeout_s: Option<Sp<IntVal>>,
    pub log_retention_days: Option<Sp<i64>>,
    pub log_kms_key_arn: Option<Sp<Val>>,
    pub permissions_boundary: Option<Sp<Val>>,
    pub role_name: Option<Sp<Val>>,
    pub code: Option<Sp<Val>>,
    pub reserved_concurrency: Option<Sp<IntVal>>,
    pub environment_kms_key_arn: Option<Sp<Val>>,
    pub ca_file: Option<Sp<String>>,
    pub layers: Option<Sp<ListVal>>,
    pub require_tls: Option<Sp<bool>>,
    /// aws-iam: what finishSecret does with AWSPREVIOUS's key (`keep`, `deactivate`).
    pub previous_key: Option<Sp<String>>,
}

#[derive(Debug, Clone)]
pub struct Vpc {
    pub loc: Loc,
    pub vpc_id: Option<Sp<Val>>,
    pub subnet_ids: Option<Sp<ListVal>>,
    pub security_group_ids: Option<Sp<ListVal>>,
    pub endpoint: Option<Sp<bool>>,
    pub endpoint_subnet_ids: Option<Sp<ListVal>>,
    pub service_security_group_ids: Option<Sp<ListVal>>,
    pub service_cidrs: Option<Sp<ListVal>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub loc: Loc,
    /// Keys given but refused by the decoder (reported there).
    pub rejected: Vec<&'static str>,
    pub days: Option<Sp<i64>>,
    pub expression: Option<Sp<Val>>,
    pub window: Option<Sp<String>>,
    pub rotate_immediately: Option<Sp<bool>>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Password {
    pub length: Option<Sp<i64>>,
    pub exclude_characters: Option<Sp<String>>,
    pub exclude_numbers: Option<Sp<bool>>,
    pub exclude_punctuation: Option<Sp<bool>>,
    pub exclude_uppercase: Option<Sp<bool>>,
    pub exclude_lowercase: Option<Sp<bool>>,
    pub require_each_included_type: Option<Sp<bool>>,
}

#[derive(Debug, Clone)]
pub struct Create {
    pub loc: Loc,
    /// Keys given but refused by the decoder (reported there).
    pub rejected: Vec<&'static str>,
    pub name: Option<Sp<Val>>,
    pub description: Option<Sp<String>>,
    pub username: Option<Sp<Val>>,
    pub host: Option<Sp<Val>>,
    pub port: Option<Sp<i64>>,
    pub dbname: Option<Sp<Val>>,
    pub ssl: Option<Sp<bool>>,
    pub url: Option<Sp<Val>>,
}

#[derive(Debug, Clone)]
pub struct Secret {
    pub loc: Loc,
    /// Keys given but refused by the decoder (reported there).
    pub rejected: Vec<&'static str>,
    pub id: Option<Sp<String>>,
    pub arn: Option<Sp<Val>>,
    pub name: Option<Sp<Val>>,
    pub service: Option<Sp<String>>,
    pub strategy: Option<Sp<String>>,
    pub master_secret_arn: Option<Sp<Val>>,
    /// The RDS DB instance, or Aurora cluster, whose RDS-managed master password
    /// `master_secret_arn` holds.
    pub master_rds_instance: Option<Sp<String>>,
    pub master_rds_cluster: Option<Sp<String>>,
    pub kms_key_arn: Option<Sp<Val>>,
    /// The customer KMS key of the master secret, if any.
    pub master_kms_key_arn: Option<Sp<Val>>,
    /// The port of an existing secret's service (created secrets say it in `create`).
    pub port: Option<Sp<i64>>,
    /// aws-iam: the IAM user whose access keys the secret holds.
    pub user: Option<Sp<String>>,
    pub schedule: Option<Schedule>,
    pub password: Option<Password>,
    pub create: Option<Create>,
    /// http-token: the contract of the API that issues the tokens.
    pub token_api: Option<TokenApi>,
}

/// A token API's contract (`token_api`), as written.
#[derive(Debug, Clone)]
pub struct TokenApi {
    pub loc: Loc,
    /// Each string field given, by name, in the order of `schema::TOKEN_API`.
    pub fields: Vec<(&'static str, Sp<String>)>,
    pub limit: Option<Sp<i64>>,
}

/// A spec decoded as far as it could be, with the problems found on the way. The spec
/// holds only the values that passed their checks, so the model can still look for
/// problems of its own.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub spec: Spec,
    pub errors: Vec<Diagnostic>,
}

/// Parses TOML spec text. Syntax errors and schema errors come back together.
pub fn from_toml(text: &str) -> Result<Spec, Diagnostics> {
    let d = decode_toml(text)?;
    if d.errors.is_empty() {
        Ok(d.spec)
    } else {
        Err(Diagnostics(d.errors).sorted())
    }
}

/// Parses TOML spec text, keeping what decodes. Only a TOML syntax error stops it.
pub fn decode_toml(text: &str) -> Result<Decoded, Diagnostics> {
    let root = node::from_toml(text).map_err(|errors| {
        Diagnostics(
            errors
                .into_iter()
                .map(|(message, span)| {
                    let loc = span.map_or(Loc::Whole, Loc::Span);
                    Diagnostic::new(&loc, format!("invalid TOML: {message}"))
                        .help("see https://toml.io for the syntax")
                })
                .collect(),
        )
    })?;
    let mut decoded = decode(&root);
    check_parameter_uses(&root, &mut decoded);
    Ok(decoded)
}

/// Every `{ param = "NAME" }` of a TOML spec names a declared parameter, and every
/// declared parameter is used (CloudFormation warns of unused ones).
fn check_parameter_uses(root: &Node, decoded: &mut Decoded) {
    fn uses<'a>(n: &'a Node, out: &mut Vec<(&'a str, &'a Loc)>) {
        match &n.kind {
            Kind::Expr(e) => {
                if let Some(name) = e.get("Ref").and_then(|r| r.as_str()) {
                    out.push((name, &n.loc));
                }
            }
            Kind::Array(items) => items.iter().for_each(|i| uses(i, out)),
            Kind::Table(entries) => entries.iter().for_each(|e| uses(&e.value, out)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    uses(root, &mut found);
    let declared = &decoded.spec.parameters;
    for (name, loc) in &found {
        if !declared.iter().any(|p| p.name.v == *name) {
            let help = match nearest(name, declared.iter().map(|p| p.name.v.as_str())) {
                Some(n) => format!("did you mean \"{n}\"?"),
                None => format!(
                    "declare it: [parameters.{name}] with type = \"String\" (or an AWS-specific type)"
                ),
            };
            decoded.errors.push(
                Diagnostic::new(
                    loc,
                    format!("parameter \"{name}\" is not declared under [parameters]"),
                )
                .help(help),
            );
        }
    }
    for p in declared {
        if !found.iter().any(|(name, _)| *name == p.name.v) {
            decoded.errors.push(
                Diagnostic::new(
                    &p.name.loc,
                    format!(
                        "parameter \"{}\" is declared but no value uses it",
                        p.name.v
                    ),
                )
                .help(format!(
                    "use it as {{ param = \"{}\" }}, or remove it",
                    p.name.v
                )),
            );
        }
    }
}

/// Decodes a lowered input tree against the schema.
pub fn decode(root: &Node) -> Decoded {
    let mut d = Decoder::default();
    let spec = match d.table(root, &schema::SPEC) {
        Some(t) => spec_from(&mut d, &t, root),
        None => Spec::default(),
    };
    Decoded {
        spec,
        errors: d.errors,
    }
}

fn spec_from(d: &mut Decoder, t: &Fields<'_>, root: &Node) -> Spec {
    let stack = t
        .table(d, "stack")
        .map(|s| Stack {
            name: s.lit("name"),
            description: s.lit("description"),
            format: s.lit("format"),
            tags: s.str_map("tags"),
            exports: s.bool("exports"),
            stackset: s.bool("stackset"),
        })
        .unwrap_or_default();
    let parameters = t
        .map(d, "parameters")
        .into_iter()
        .map(|(name, p)| Parameter {
            name,
            ty: p.lit("type"),
            description: p.lit("description"),
            default: p.lit("default"),
        })
        .collect();
    let function = t
        .table(d, "function")
        .map(|s| Function {
            rejected: s.rejected.clone(),
            name: s.val("name"),
            architecture: s.lit("architecture"),
            memory_mb: s.int("memory_mb"),
            timeout_s: s.int("timeout_s"),
            log_retention_days: s.int_lit("log_retention_days"),
            log_kms_key_arn: s.val("log_kms_key_arn"),
            permissions_boundary: s.val("permissions_boundary"),
            role_name: s.val("role_name"),
            code: s.val("code"),
            reserved_concurrency: s.int("reserved_concurrency"),
            environment_kms_key_arn: s.val("environment_kms_key_arn"),
            ca_file: s.lit("ca_file"),
            layers: s.list("layers"),
            require_tls: s.bool("require_tls"),
            previous_key: s.lit("previous_key"),
        })
        .unwrap_or_default();
    let vpc = t.table(d, "vpc").map(|s| Vpc {
        loc: s.loc.clone(),
        vpc_id: s.val("vpc_id"),
        subnet_ids: s.list("subnet_ids"),
        security_group_ids: s.list("security_group_ids"),
        endpoint: s.bool("endpoint"),
        endpoint_subnet_ids: s.list("endpoint_subnet_ids"),
        service_security_group_ids: s.list("service_security_group_ids"),
        service_cidrs: s.list("service_cidrs"),
    });
    let alarms = t.table(d, "alarms").map(|s| Alarms {
        loc: s.loc.clone(),
        enabled: s.bool("enabled"),
        topic_arn: s.val("topic_arn"),
        kms_key_arn: s.val("kms_key_arn"),
        email: s.list("email"),
    });
    let schedule = t.table(d, "schedule").map(|s| schedule_from(&s));
    let password = t.table(d, "password").map(|s| password_from(&s));
    let secrets_loc = Some(
        t.get("secret")
            .map_or_else(|| root.loc.clone(), |n| n.loc.clone()),
    );
    let secrets = t
        .tables(d, "secret")
        .into_iter()
        .map(|s| Secret {
            loc: s.loc.clone(),
            rejected: s.rejected.clone(),
            id: s.lit("id"),
            arn: s.val("arn"),
            name: s.val("name"),
            service: s.lit("service"),
            strategy: s.lit("strategy"),
            master_secret_arn: s.val("master_secret_arn"),
            master_rds_instance: s.lit("master_rds_instance"),
            master_rds_cluster: s.lit("master_rds_cluster"),
            kms_key_arn: s.val("kms_key_arn"),
            master_kms_key_arn: s.val("master_kms_key_arn"),
            port: s.int_lit("port"),
            user: s.lit("user"),
            schedule: s.table(d, "schedule").map(|x| schedule_from(&x)),
            password: s.table(d, "password").map(|x| password_from(&x)),
            token_api: s.table(d, "token_api").map(|t| TokenApi {
                loc: t.loc.clone(),
                fields: schema::TOKEN_API
                    .fields
                    .iter()
                    .filter_map(|f| Some((f.name, t.lit(f.name)?)))
                    .collect(),
                limit: t.int_lit("limit"),
            }),
            create: s.table(d, "create").map(|c| Create {
                loc: c.loc.clone(),
                rejected: c.rejected.clone(),
                name: c.val("name"),
                description: c.lit("description"),
                username: c.val("username"),
                host: c.val("host"),
                port: c.int_lit("port"),
                dbname: c.val("dbname"),
                ssl: c.bool("ssl"),
                url: c.val("url"),
            }),
        })
        .collect();
    Spec {
        stack,
        function,
        vpc,
        alarms,
        parameters,
        schedule,
        password,
        secrets,
        secrets_loc,
        rejected: t.rejected.clone(),
    }
}

fn schedule_from(s: &Fields<'_>) -> Schedule {
    Schedule {
        loc: s.loc.clone(),
        rejected: s.rejected.clone(),
        days: s.int_lit("days"),
        expression: s.val("expression"),
        window: s.lit("window"),
        rotate_immediately: s.bool("rotate_immediately"),
    }
}

fn password_from(s: &Fields<'_>) -> Password {
    Password {
        length: s.int_lit("length"),
        exclude_characters: s.lit("exclude_characters"),
        exclude_numbers: s.bool("exclude_numbers"),
        exclude_punctuation: s.bool("exclude_punctuation"),
        exclude_uppercase: s.bool("exclude_uppercase"),
        exclude_lowercase: s.bool("exclude_lowercase"),
        require_each_included_type: s.bool("require_each_included_type"),
    }
}

#[derive(Default)]
struct Decoder {
    errors: Vec<Diagnostic>,
}

/// The fields of one table that passed their checks: getters below never fail.
struct Fields<'n> {
    schema: &'static Table,
    loc: Loc,
    valid: Vec<(&'static str, &'n Node)>,
    /// Keys that are there but were refused (already reported): the model must not
    /// report them missing too.
    rejected: Vec<&'static str>,
}

impl Decoder {
    fn err(&mut self, d: Diagnostic) {
        self.errors.push(d);
    }

    /// Checks `node` against `table`; returns the fields that are well-typed.
    fn table<'n>(&mut self, node: &'n Node, table: &'static Table) -> Option<Fields<'n>> {
        let Kind::Table(entries) = &node.kind else {
            self.err(
                Diagnostic::new(
                    &node.loc,
                    format!(
                        "{} must be a table, found {}",
                        table.title,
                        node.kind.describe()
                    ),
                )
                .help(format!("write it as a table: {}", table_example(table))),
            );
            return None;
        };
        let mut valid = Vec::new();
        let mut rejected = Vec::new();
        for entry in entries {
            match table.field(&entry.key) {
                None => {
                    let names = table.fields.iter().map(|f| f.name);
                    let help = match nearest(&entry.key, names) {
                        Some(n) => {
                            // A misspelt key counts as the key given and refused: the
                            // model reports nothing as missing on its account.
                            if let Some(f) = table.field(n) {
                                rejected.push(f.name);
                            }
                            format!("did you mean `{n}`?")
                        }
                        None => format!(
                            "{} takes: {}",
                            table.title,
                            table
                                .fields
                                .iter()
                                .map(|f| f.name)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    };
                    self.err(
                        Diagnostic::new(
                            &entry.key_loc,
                            format!("unknown key `{}` in {}", entry.key, table.title),
                        )
                        .help(help),
                    );
                }
                Some(field) => {
                    if self.check(&entry.value, field, table) {
                        valid.push((field.name, &entry.value));
                    } else {
                        rejected.push(field.name);
                    }
                }
            }
        }
        for field in table.fields.iter().filter(|f| f.required) {
            if !entries.iter().any(|e| e.key == field.name) && !rejected.contains(&field.name) {
                self.err(
                    Diagnostic::new(
                        &node.loc,
                        format!("{} is missing `{}`", table.title, field.name),
                    )
                    .help(format!("add `{}`: {}", field.name, field.doc)),
                );
            }
        }
        Some(Fields {
            schema: table,
            loc: node.loc.clone(),
            valid,
            rejected,
        })
    }

    fn check(&mut self, node: &Node, field: &'static schema::Field, table: &Table) -> bool {
        let name = format!("`{}` in {}", field.name, table.title);
        let wrong = |expected: &str| {
            Diagnostic::new(
                &node.loc,
                format!("{name} must be {expected}, found {}", node.kind.describe()),
            )
        };
        match (&field.ty, &node.kind) {
            (Ty::Str { .. }, Kind::Str(_)) => true,
            (Ty::Str { expr: true }, Kind::Expr(_)) => true,
            (Ty::Str { expr: false }, Kind::Expr(_)) => {
                self.err(
                    wrong("a literal string").help(format!(
                        "`{}` decides what rotgen generates, so it cannot be left to CloudFormation; write the value itself",
                        field.name
                    )),
                );
                false
            }
            (Ty::Str { .. }, _) => {
                self.err(wrong("a string").help("quote the value: \"...\""));
                false
            }
            (Ty::Int { min, max, .. }, Kind::Int(n)) => {
                if n < min || n > max {
                    // A bound with a reason beyond the service's own number says it.
                    let why = match field.name {
                        "limit" => format!(" ({})", crate::backends::http_token::LIMIT_REASON),
                        _ => String::new(),
                    };
                    self.err(
                        Diagnostic::new(
                            &node.loc,
                            format!("{name} is {n}, outside {min} to {max}{why}"),
                        )
                        .help(format!("use a whole number from {min} to {max}")),
                    );
                    false
                } else {
                    true
                }
            }
            (Ty::Int { expr: true, .. }, Kind::Expr(_)) => true,
            (Ty::Int { min, max, .. }, _) => {
                self.err(wrong("an integer").help(format!(
                    "write a whole number from {min} to {max}, without quotes"
                )));
                false
            }
            (Ty::IntIn(values), Kind::Int(n)) => {
                if values.contains(n) {
                    true
                } else {
                    let closest = values.iter().min_by_key(|v| (*v - n).abs()).copied();
                    self.err(
                        Diagnostic::new(&node.loc, format!("{name} cannot be {n}")).help(format!(
                            "CloudFormation accepts only {}; the closest is {}",
                            join(values),
                            closest.unwrap_or(values[0])
                        )),
                    );
                    false
                }
            }
            (Ty::IntIn(values), _) => {
                self.err(wrong("an integer").help(format!("one of {}", join(values))));
                false
            }
            (Ty::Bool, Kind::Bool(_)) => true,
            (Ty::Bool, _) => {
                self.err(wrong("a boolean").help("write true or false, without quotes"));
                false
            }
            (Ty::Enum(values), Kind::Str(s)) => {
                if values.contains(&s.as_str()) {
                    true
                } else {
                    let help = match nearest(s, values.iter().copied()) {
                        Some(n) => format!("did you mean \"{n}\"? ({})", quoted(values)),
                        None => format!("use one of {}", quoted(values)),
                    };
                    self.err(
                        Diagnostic::new(&node.loc, format!("{name} cannot be \"{s}\"")).help(help),
                    );
                    false
                }
            }
            (Ty::Enum(values), _) => {
                self.err(wrong("a string").help(format!("use one of {}", quoted(values))));
                false
            }
            (Ty::StrList, Kind::Expr(_)) => true,
            (Ty::StrList, Kind::Array(items)) => {
                let mut ok = true;
                if items.is_empty() {
                    self.err(
                        Diagnostic::new(&node.loc, format!("{name} is empty"))
                            .help("list at least one id, or leave the key out"),
                    );
                    ok = false;
                }
                for item in items {
                    if !matches!(item.kind, Kind::Str(_) | Kind::Expr(_)) {
                        self.err(
                            Diagnostic::new(
                                &item.loc,
                                format!(
                                    "items of {name} must be strings, found {}",
                                    item.kind.describe()
                                ),
                            )
                            .help("quote each id: [\"subnet-...\", \"subnet-...\"]"),
                        );
                        ok = false;
                    }
                }
                ok
            }
            (Ty::StrList, _) => {
                self.err(wrong("a list of strings").help("write [\"...\", \"...\"]"));
                false
            }
            (Ty::Table(_), Kind::Table(_)) => true,
            (Ty::Table(t), _) => {
                self.err(wrong("a table").help(table_example(t)));
                false
            }
            (Ty::TableArray(_), Kind::Array(items)) if !items.is_empty() => true,
            (Ty::TableArray(t), Kind::Array(_)) => {
                self.err(
                    Diagnostic::new(&node.loc, format!("{name} is empty"))
                        .help(format!("add at least one {}", t.title)),
                );
                false
            }
            (Ty::TableArray(t), _) => {
                self.err(
                    wrong("an array of tables")
                        .help(format!("write each entry under its own {} header", t.title)),
                );
                false
            }
            (Ty::Map(_), Kind::Table(_)) => true,
            (Ty::Map(t), _) => {
                self.err(
                    wrong("a table of tables")
                        .help(format!("write each under its own {} header", t.title)),
                );
                false
            }
            (Ty::StrMap, Kind::Table(entries)) => {
                let mut ok = true;
                for e in entries {
                    if !matches!(e.value.kind, Kind::Str(_) | Kind::Expr(_)) {
                        self.err(
                            Diagnostic::new(
                                &e.value.loc,
                                format!(
                                    "`{}` in {name} must be a string, found {}",
                                    e.key,
                                    e.value.kind.describe()
                                ),
                            )
                            .help("quote the value: \"...\""),
                        );
                        ok = false;
                    }
                }
                ok
            }
            (Ty::StrMap, _) => {
                self.err(wrong("a table of strings").help("write { key = \"value\" }"));
                false
            }
        }
    }
}

impl<'n> Fields<'n> {
    fn get(&self, name: &str) -> Option<&'n Node> {
        debug_assert!(self.schema.field(name).is_some(), "{name} not in schema");
        self.valid.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }

    fn lit(&self, name: &str) -> Option<Sp<String>> {
        self.get(name).and_then(|n| match &n.kind {
            Kind::Str(s) => Some(Sp {
                v: s.clone(),
                loc: n.loc.clone(),
            }),
            _ => None,
        })
    }

    fn val(&self, name: &str) -> Option<Sp<Val>> {
        self.get(name).and_then(to_val)
    }

    fn int(&self, name: &str) -> Option<Sp<IntVal>> {
        self.get(name).and_then(|n| {
            let v = match &n.kind {
                Kind::Int(i) => IntVal::Lit(*i),
                Kind::Expr(e) => IntVal::Expr(e.clone()),
                _ => return None,
            };
            Some(Sp {
                v,
                loc: n.loc.clone(),
            })
        })
    }

    fn int_lit(&self, name: &str) -> Option<Sp<i64>> {
        self.get(name).and_then(|n| match n.kind {
            Kind::Int(i) => Some(Sp {
                v: i,
                loc: n.loc.clone(),
            }),
            _ => None,
        })
    }

    fn bool(&self, name: &str) -> Option<Sp<bool>> {
        self.get(name).and_then(|n| match n.kind {
            Kind::Bool(b) => Some(Sp {
                v: b,
                loc: n.loc.clone(),
            }),
            _ => None,
        })
    }

    fn list(&self, name: &str) -> Option<Sp<ListVal>> {
        self.get(name).and_then(|n| {
            let v = match &n.kind {
                Kind::Expr(e) => ListVal::Expr(e.clone()),
                Kind::Array(items) => ListVal::Items(items.iter().filter_map(to_val).collect()),
                _ => return None,
            };
            Some(Sp {
                v,
                loc: n.loc.clone(),
            })
        })
    }

    fn table(&self, d: &mut Decoder, name: &str) -> Option<Fields<'n>> {
        let node = self.get(name)?;
        let Some(schema::Field {
            ty: Ty::Table(t), ..
        }) = self.schema.field(name)
        else {
            return None;
        };
        d.table(node, t)
    }

    /// `[name.KEY]` tables: each key (with where it is) and its checked fields.
    fn map(&self, d: &mut Decoder, name: &str) -> Vec<(Sp<String>, Fields<'n>)> {
        let (Some(node), Some(schema::Field { ty: Ty::Map(t), .. })) =
            (self.get(name), self.schema.field(name))
        else {
            return Vec::new();
        };
        let Kind::Table(entries) = &node.kind else {
            return Vec::new();
        };
        entries
            .iter()
            .filter_map(|e| {
                let fields = d.table(&e.value, t)?;
                Some((
                    Sp {
                        v: e.key.clone(),
                        loc: e.key_loc.clone(),
                    },
                    fields,
                ))
            })
            .collect()
    }

    /// `name = { KEY = "value" }`: each key and its value.
    fn str_map(&self, name: &str) -> Vec<(Sp<String>, Sp<Val>)> {
        let Some(Node {
            kind: Kind::Table(entries),
            ..
        }) = self.get(name)
        else {
            return Vec::new();
        };
        entries
            .iter()
            .filter_map(|e| {
                Some((
                    Sp {
                        v: e.key.clone(),
                        loc: e.key_loc.clone(),
                    },
                    to_val(&e.value)?,
                ))
            })
            .collect()
    }

    fn tables(&self, d: &mut Decoder, name: &str) -> Vec<Fields<'n>> {
        let (
            Some(node),
            Some(schema::Field {
                ty: Ty::TableArray(t),
                ..
            }),
        ) = (self.get(name), self.schema.field(name))
        else {
            return Vec::new();
        };
        let Kind::Array(items) = &node.kind else {
            return Vec::new();
        };
        items.iter().filter_map(|item| d.table(item, t)).collect()
    }
}

fn to_val(n: &Node) -> Option<Sp<Val>> {
    let v = match &n.kind {
        Kind::Str(s) => Val::Lit(s.clone()),
        Kind::Expr(e) => Val::Expr(e.clone()),
        _ => return None,
    };
    Some(Sp {
        v,
        loc: n.loc.clone(),
    })
}

fn join(values: &[i64]) -> String {
    values
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn quoted(values: &[&str]) -> String {
    values
        .iter()
        .map(|v| format!("\"{v}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

fn table_example(t: &Table) -> String {
    let first = t.fields.first().map_or("key", |f| f.name);
    format!("{} with keys such as `{first}`", t.title)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        match from_toml(text) {
            Ok(_) => Vec::new(),
            Err(d) => {
                d.0.iter()
                    .map(|d| format!("{} | {}", d.message, d.help.clone().unwrap_or_default()))
                    .collect()
            }
        }
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let e = errors(
            r#"
[function]
timout_s = 60
memory_mb = "256"
[[secret]]
id = "A"
service = "postgress"
"#,
        );
        assert_eq!(e.len(), 3, "{e:#?}");
        assert!(e[0].contains("unknown key `timout_s`") && e[0].contains("`timeout_s`"));
        assert!(e[1].contains("must be an integer, found a string"));
        assert!(e[2].contains("cannot be \"postgress\"") && e[2].contains("\"postgres\"?"));
    }

    #[test]
    fn missing_secrets() {
        let e = errors("[stack]\nname = \"x\"\n");
        assert_eq!(e.len(), 1);
        assert!(e[0].contains("missing `secret`"));
    }

    #[test]
    fn log_retention_suggests_closest() {
        let e =
            errors("[function]\nlog_retention_days = 31\n[[secret]]\nid='A'\nservice='random'\n");
        assert!(e[0].contains("the closest is 30"), "{e:?}");
    }
}
