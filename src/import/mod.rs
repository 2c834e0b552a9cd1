//! `rotgen import`: a spec, as a person would write it, for the secrets an account
//! already rotates. Each secret's service and strategy come from its rotation function
//! (AWS's own rotation templates, from the Serverless Application Repository or the
//! `AWS::SecretsManager-2020-07-23` transform, or rotgen's own function), and where that
//! is not enough from two facts of the secret's value: its `engine` and its `masterarn`.
//! What it cannot decide becomes a comment that says why.
//!
//! The AWS reads sit behind [`Aws`] (the SDK in [`aws`]); everything else (filters,
//! recognising functions, ids, the VPC, the text) is plain code over what it answers.
//! It may not keep, print or log any other part of a secret's value: [`facts_of`] parses
//! a value into [`Facts`] and nothing else survives it. It writes no file: the command
//! line hands the text to `output`.

pub mod aws;
#[cfg(test)]
mod tests;

use crate::status::{AwsError, CONCURRENCY, Rules};
use futures_util::{StreamExt, stream};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::future::Future;

/// What `ListSecrets` says of a secret (never its value).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Listed {
    pub arn: String,
    pub name: String,
    pub kms_key_id: Option<String>,
    pub rotation_enabled: bool,
    pub rotation_lambda_arn: Option<String>,
    pub rules: Rules,
    pub tags: BTreeMap<String, String>,
    /// The AWS service that manages the secret (`rds` for `rds!db-…`), if any.
    pub owning_service: Option<String>,
}

/// A function's VPC configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vpc {
    pub vpc_id: String,
    pub subnet_ids: Vec<String>,
    pub security_group_ids: Vec<String>,
}

/// What `GetFunctionConfiguration` and `ListTags` say of a rotation function.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Function {
    pub arn: String,
    pub name: String,
    pub runtime: Option<String>,
    pub handler: Option<String>,
    pub description: Option<String>,
    pub environment: BTreeMap<String, String>,
    pub vpc: Option<Vpc>,
    pub tags: BTreeMap<String, String>,
}

/// The two facts `rotgen import` takes from a secret's value, and nothing else.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// The value is a JSON object.
    pub json: bool,
    /// Its `engine`, when a string.
    pub engine: Option<String>,
    /// Whether it has a `masterarn` key.
    pub has_master: bool,
    /// That `masterarn`, when it is the ARN of a secret (an ARN is no credential).
    pub master_arn: Option<String>,
}

/// Only these keys are read; serde skips every other one without keeping it.
#[derive(serde::Deserialize)]
struct Shape {
    engine: Option<serde_json::Value>,
    masterarn: Option<serde_json::Value>,
}

/// The [`Facts`] of a secret's value. Nothing of `text` but them is kept, and no error
/// quotes it.
pub fn facts_of(text: &str) -> Facts {
    if !text.trim_start().starts_with('{') {
        return Facts::default();
    }
    match serde_json::from_str::<Shape>(text) {
        Ok(shape) => {
            let master_arn = shape
                .masterarn
                .as_ref()
                .and_then(serde_json::Value::as_str)
                .filter(|a| crate::model::arn::check_secret_arn(a).is_ok())
                .map(str::to_string);
            Facts {
                json: true,
                engine: shape
                    .engine
                    .as_ref()
                    .and_then(serde_json::Value::as_str)
                    .map(|e| e.trim().to_string())
                    .filter(|e| !e.is_empty() && e.len() <= 64),
                has_master: shape.masterarn.is_some_and(|m| !m.is_null()),
                master_arn,
            }
        }
        Err(_) => Facts::default(),
    }
}

/// The AWS reads of `rotgen import`. Only [`Aws::facts`] reads a secret's value, and it
/// answers [`Facts`] alone.
pub trait Aws: Sync {
    /// `ListSecrets` (every page), filtered by AWS on `name_prefix` when given.
    fn secrets(
        &self,
        name_prefix: Option<&str>,
    ) -> impl Future<Output = Result<Vec<Listed>, AwsError>> + Send;
    /// `GetFunctionConfiguration` and `ListTags`; `None` when there is no such function.
    fn function(
        &self,
        arn: &str,
    ) -> impl Future<Output = Result<Option<Function>, AwsError>> + Send;
    /// `GetSecretValue` (AWSCURRENT), parsed with [`facts_of`] at once.
    fn facts(&self, arn: &str) -> impl Future<Output = Result<Facts, AwsError>> + Send;
}

/// Which secrets to import. Empty: every secret with rotation on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    /// The name starts with this (case-sensitive).
    pub name_prefix: Option<String>,
    /// Every `KEY=VALUE` must be one of the secret's tags.
    pub tags: Vec<(String, String)>,
    /// The rotation function is one of these (names or ARNs); any, when empty.
    pub functions: Vec<String>,
}

impl Filters {
    fn keeps(&self, s: &Listed) -> bool {
        self.name_prefix
            .as_deref()
            .is_none_or(|p| s.name.starts_with(p))
            && self
                .tags
                .iter()
                .all(|(k, v)| s.tags.get(k).is_some_and(|t| t == v))
            && (self.functions.is_empty()
                || s.rotation_lambda_arn
                    .as_deref()
                    .is_some_and(|arn| self.functions.iter().any(|f| same_function(f, arn))))
    }
}

/// Whether `given` (a name, or an ARN with or without a qualifier) names `arn`'s function.
fn same_function(given: &str, arn: &str) -> bool {
    if given.starts_with("arn:") {
        unqualified(given) == unqualified(arn)
    } else {
        function_name(given) == function_name(arn)
    }
}

/// A function's ARN without its version or alias.
fn unqualified(arn: &str) -> &str {
    match arn.split_once(":function:") {
        Some((head, rest)) => match rest.find(':') {
            Some(i) => &arn[..head.len() + ":function:".len() + i],
            None => arn,
        },
        None => arn,
    }
}

/// A function's name, from its ARN (or the name itself).
pub fn function_name(arn: &str) -> &str {
    match arn.split_once(":function:") {
        Some((_, rest)) => rest.split(':').next().unwrap_or(rest),
        None => arn,
    }
}

/// One of AWS's rotation templates: its Serverless Application Repository name, the
/// transform's `RotationType`, what it rotates, rotgen's service for it (if any) and
/// whether it alternates users.
struct Template {
    app: &'static str,
    hosted: &'static str,
    what: &'static str,
    service: Option<&'static str>,
    alternating: bool,
}

const fn t(
    app: &'static str,
    hosted: &'static str,
    what: &'static str,
    service: Option<&'static str>,
    alternating: bool,
) -> Template {
    Template {
        app,
        hosted,
        what,
        service,
        alternating,
    }
}

/// AWS's rotation templates (docs: "AWS Secrets Manager rotation function templates").
/// Longer names first, so that a name found inside another is not mistaken for it.
const TEMPLATES: &[Template] = &[
    t(
        "SecretsManagerRDSPostgreSQLRotationSingleUser",
        "PostgreSQLSingleUser",
        "PostgreSQL",
        Some("postgres"),
        false,
    ),
    t(
        "SecretsManagerRDSPostgreSQLRotationMultiUser",
        "PostgreSQLMultiUser",
        "PostgreSQL",
        Some("postgres"),
        true,
    ),
    t(
        "SecretsManagerRDSMySQLRotationSingleUser",
        "MySQLSingleUser",
        "MySQL",
        Some("mysql"),
        false,
    ),
    t(
        "SecretsManagerRDSMySQLRotationMultiUser",
        "MySQLMultiUser",
        "MySQL",
        Some("mysql"),
        true,
    ),
    t(
        "SecretsManagerRDSMariaDBRotationSingleUser",
        "MariaDBSingleUser",
        "MariaDB",
        Some("mariadb"),
        false,
    ),
    t(
        "SecretsManagerRDSMariaDBRotationMultiUser",
        "MariaDBMultiUser",
        "MariaDB",
        Some("mariadb"),
        true,
    ),
    t(
        "SecretsManagerRDSOracleRotationSingleUser",
        "OracleSingleUser",
        "Oracle",
        None,
        false,
    ),
    t(
        "SecretsManagerRDSOracleRotationMultiUser",
        "OracleMultiUser",
        "Oracle",
        None,
        true,
    ),
    t(
        "SecretsManagerRDSSQLServerRotationSingleUser",
        "SQLServerSingleUser",
        "SQL Server",
        None,
        false,
    ),
    t(
        "SecretsManagerRDSSQLServerRotationMultiUser",
        "SQLServerMultiUser",
        "SQL Server",
        None,
        true,
    ),
    t(
        "SecretsManagerRDSDb2RotationSingleUser",
        "Db2SingleUser",
        "Db2",
        None,
        false,
    ),
    t(
        "SecretsManagerRDSDb2RotationMultiUser",
        "Db2MultiUser",
        "Db2",
        None,
        true,
    ),
    t(
        "SecretsManagerRedshiftRotationSingleUser",
        "RedshiftSingleUser",
        "Amazon Redshift",
        None,
        false,
    ),
    t(
        "SecretsManagerRedshiftRotationMultiUser",
        "RedshiftMultiUser",
        "Amazon Redshift",
        None,
        true,
    ),
    t(
        "SecretsManagerMongoDBRotationSingleUser",
        "MongoDBSingleUser",
        "MongoDB",
        None,
        false,
    ),
    t(
        "SecretsManagerMongoDBRotationMultiUser",
        "MongoDBMultiUser",
        "MongoDB",
        None,
        true,
    ),
    t(
        "SecretsManagerElasticacheUserRotation",
        "ElastiCacheUser",
        "ElastiCache users (through the ElastiCache API)",
        None,
        false,
    ),
    t(
        "SecretsManagerActiveDirectoryRotationSingleUser",
        "ActiveDirectorySingleUser",
        "AWS Directory Service users",
        None,
        false,
    ),
];

/// The tag AWS SAM puts on the resources of a Serverless Application Repository app
/// (the templates the console deploys, and the transform's hosted functions).
pub const SAR_TAG: &str = "serverlessrepo:applicationId";

/// What a rotation function is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// One of AWS's templates (an index into `TEMPLATES`), and how it was told.
    Template(usize, &'static str),
    /// Looks like one of AWS's templates (handler, environment), but which is unknown.
    AwsLike,
    /// rotgen's own function: its `ROTGEN_SERVICE` and `ROTGEN_STRATEGY`.
    Rotgen {
        service: String,
        strategy: Option<String>,
        masters: Vec<String>,
    },
    /// Not a function rotgen recognises.
    Unknown,
}

/// What `f` is, from its tags, description, name, handler and environment.
pub fn recognise(f: &Function) -> Origin {
    let env = |k: &str| f.environment.get(k).filter(|v| !v.is_empty());
    if let Some(service) = env("ROTGEN_SERVICE") {
        return Origin::Rotgen {
            service: service.clone(),
            strategy: env("ROTGEN_STRATEGY").cloned(),
            masters: env(crate::rotation::trust::MASTERS_VAR)
                .map(|m| {
                    m.split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
        };
    }
    // The application's ARN ends in `applications/NAME`.
    if let Some(app) = f.tags.get(SAR_TAG) {
        let name = app.rsplit('/').next().unwrap_or(app);
        if let Some(i) = TEMPLATES.iter().position(|t| t.app == name) {
            return Origin::Template(i, "its serverlessrepo:applicationId tag");
        }
    }
    let lower = |s: &str| s.to_ascii_lowercase();
    let name = lower(&f.name);
    if let Some(i) = TEMPLATES
        .iter()
        .position(|t| name.contains(&lower(t.app)) || name.contains(&lower(t.hosted)))
    {
        return Origin::Template(i, "its name");
    }
    if let Some(i) = f.description.as_deref().and_then(describe) {
        return Origin::Template(i, "its description");
    }
    let python = f
        .runtime
        .as_deref()
        .is_some_and(|r| r.starts_with("python"));
    if python
        && f.handler.as_deref() == Some("lambda_function.lambda_handler")
        && f.environment.contains_key("SECRETS_MANAGER_ENDPOINT")
    {
        return Origin::AwsLike;
    }
    Origin::Unknown
}

/// The template AWS's description names ("Conducts an AWS SecretsManager secret rotation
/// for RDS PostgreSQL using single user rotation scheme").
fn describe(d: &str) -> Option<usize> {
    let d = d.to_ascii_lowercase();
    if !d.contains("secretsmanager secret rotation") {
        return None;
    }
    let alternating = d.contains("multi user") || d.contains("alternating");
    let engine = [
        ("postgresql", "PostgreSQL"),
        ("mysql", "MySQL"),
        ("mariadb", "MariaDB"),
        ("oracle", "Oracle"),
        ("sql server", "SQL Server"),
        ("sqlserver", "SQL Server"),
        ("redshift", "Amazon Redshift"),
        ("mongodb", "MongoDB"),
        ("db2", "Db2"),
    ]
    .into_iter()
    .find(|(word, _)| d.contains(word))?
    .1;
    TEMPLATES
        .iter()
        .position(|t| t.what == engine && t.alternating == alternating)
}

/// The service rotgen has a backend for, named by an `engine`, or what it is.
fn engine_service(engine: &str) -> Result<&'static str, String> {
    crate::function::service_of_engine(engine)
        .ok_or_else(|| format!("its engine \"{}\" has no rotgen backend", clean(engine)))
}

/// A value for a comment: one line, printable, short.
fn clean(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .take(80)
        .collect::<String>()
}

/// What the import makes of one secret.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub secret: Listed,
    /// The spec's id.
    pub id: String,
    /// Taken (service, strategy, master), or why not.
    pub outcome: Result<Taken, String>,
    /// Comment lines about it.
    pub notes: Vec<String>,
    /// Its function's VPC, if any.
    pub vpc: Option<Vpc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken {
    pub service: &'static str,
    pub alternating: bool,
    pub master: Option<String>,
}

/// What `rotgen import` found.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    pub region: Option<String>,
    pub entries: Vec<Entry>,
    /// How many secrets the filters kept but rotate nothing (rotation off).
    pub rotation_off: usize,
    pub vpc: Option<(Vpc, Vec<String>)>,
}

/// Reads what the account has and decides each secret: the whole of `rotgen import` but
/// the text ([`render`]).
pub async fn import<A: Aws>(
    aws: &A,
    filters: &Filters,
    region: Option<String>,
) -> Result<Imported, AwsError> {
    // AWS's `name` filter is a case-insensitive prefix of letters, digits and /_+=.@-:
    // sent only when it is that, and checked here anyway.
    let server_prefix = filters.name_prefix.as_deref().filter(|p| {
        !p.is_empty()
            && p.len() <= 512
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/_+=.@-".contains(&b))
    });
    let listed = aws.secrets(server_prefix).await?;
    let mut rotation_off = 0;
    let mut kept = Vec::new();
    for s in listed {
        if !filters.keeps(&s) {
            continue;
        }
        if s.rotation_enabled {
            kept.push(s);
        } else {
            rotation_off += 1;
        }
    }
    kept.sort_by(|a, b| a.name.cmp(&b.name).then(a.arn.cmp(&b.arn)));
    let arns: BTreeSet<&str> = kept
        .iter()
        .filter_map(|s| s.rotation_lambda_arn.as_deref())
        .collect();
    let arns: Vec<&str> = arns.into_iter().collect();
    let found: Vec<Result<Option<Function>, AwsError>> = stream::iter(arns.iter())
        .map(|a| aws.function(a))
        .buffered(CONCURRENCY)
        .collect()
        .await;
    let mut functions = BTreeMap::new();
    for (a, f) in arns.iter().zip(found) {
        functions.insert(a.to_string(), f?);
    }
    // What the function says, and whether the value's facts are needed too.
    let first: Vec<(Result<Partial, String>, Vec<String>)> =
        kept.iter().map(|s| decide(s, &functions)).collect();
    let facts: Vec<Result<Option<Facts>, AwsError>> = stream::iter(kept.iter().zip(&first))
        .map(|(s, (p, _))| async move {
            match p {
                Ok(p) if p.needs_facts() => aws.facts(&s.arn).await.map(Some),
                _ => Ok(None),
            }
        })
        .buffered(CONCURRENCY)
        .collect()
        .await;
    let mut entries = Vec::with_capacity(kept.len());
    let mut ids = BTreeSet::new();
    for ((s, (partial, mut notes)), facts) in kept.into_iter().zip(first).zip(facts) {
        let facts = facts?;
        let outcome = partial.and_then(|p| p.finish(facts.as_ref(), &mut notes));
        let vpc = s
            .rotation_lambda_arn
            .as_deref()
            .and_then(|a| functions.get(a))
            .and_then(|f| f.as_ref())
            .and_then(|f| f.vpc.clone());
        entries.push(Entry {
            id: unique_id(&s.name, &mut ids),
            secret: s,
            outcome,
            notes,
            vpc,
        });
    }
    let vpc = choose_vpc(&mut entries);
    Ok(Imported {
        region,
        entries,
        rotation_off,
        vpc,
    })
}

/// What the function alone decides of a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Partial {
    /// The service is known; `alternating` is known or needs the facts' `masterarn`.
    Service {
        service: &'static str,
        alternating: Option<bool>,
        masters: Vec<String>,
    },
    /// The service comes from the value's `engine`.
    FromEngine,
}

impl Partial {
    fn needs_facts(&self) -> bool {
        match self {
            Partial::FromEngine => true,
            Partial::Service {
                alternating,
                masters,
                ..
            } => alternating.is_none() || (*alternating == Some(true) && masters.len() != 1),
        }
    }

    fn finish(self, facts: Option<&Facts>, notes: &mut Vec<String>) -> Result<Taken, String> {
        let (service, alternating, masters) = match self {
            Partial::Service {
                service,
                alternating,
                masters,
            } => (service, alternating, masters),
            Partial::FromEngine => {
                let f = facts.ok_or("its value was not read")?;
                if !f.json {
                    return Err("its value is not JSON, so it names no engine".into());
                }
                let engine = f
                    .engine
                    .as_deref()
                    .ok_or("its value has no `engine` key to say which service it is")?;
                let service = engine_service(engine)?;
                notes.push(format!(
                    "service from the secret's engine \"{}\"{}",
                    clean(engine),
                    if f.has_master {
                        ", alternating users because it has a masterarn"
                    } else {
                        ""
                    }
                ));
                (service, None, Vec::new())
            }
        };
        let alternating = match alternating {
            Some(a) => a,
            None => facts.is_some_and(|f| f.has_master),
        };
        let alternates = matches!(
            crate::model::services::get(service).alternating,
            crate::model::services::Alternating::Takes
        );
        if alternating && !alternates {
            return Err(format!(
                "it alternates users, which rotgen's {service} does not"
            ));
        }
        let master = if !alternating {
            None
        } else if masters.len() == 1 {
            Some(masters[0].clone())
        } else {
            let f = facts.ok_or("its value was not read")?;
            match (&f.master_arn, f.has_master) {
                (Some(m), _) if masters.is_empty() || masters.iter().any(|x| x == m) => {
                    Some(m.clone())
                }
                (Some(_), _) => {
                    return Err(
                        "its masterarn is none of the master secrets its function may use".into(),
                    );
                }
                (None, true) => {
                    return Err("its masterarn is not a full secret ARN".into());
                }
                (None, false) => {
                    return Err(
                        "it alternates users but its value has no masterarn to name the master secret"
                            .into(),
                    );
                }
            }
        };
        Ok(Taken {
            service,
            alternating,
            master,
        })
    }
}

/// What the rotation function says of `s`, with the comment lines it gives.
fn decide(
    s: &Listed,
    functions: &BTreeMap<String, Option<Function>>,
) -> (Result<Partial, String>, Vec<String>) {
    let mut notes = Vec::new();
    if let Some(owner) = &s.owning_service {
        return (
            Err(format!(
                "{} manages this secret and rotates it itself (managed rotation, no function)",
                clean(owner)
            )),
            notes,
        );
    }
    let Some(arn) = s.rotation_lambda_arn.as_deref() else {
        return (
            Err("rotation is on but no rotation function is configured".into()),
            notes,
        );
    };
    let Some(Some(f)) = functions.get(arn) else {
        notes.push(format!(
            "its rotation function {} no longer exists",
            function_name(arn)
        ));
        return (Ok(Partial::FromEngine), notes);
    };
    let result = match recognise(f) {
        Origin::Template(i, how) => {
            let t = &TEMPLATES[i];
            notes.push(format!(
                "rotated by {} (AWS's {}, from {how})",
                f.name, t.app
            ));
            match t.service {
                Some(service) => Ok(Partial::Service {
                    service,
                    alternating: Some(t.alternating),
                    masters: Vec::new(),
                }),
                None => Err(format!(
                    "its function {} is AWS's {}, which rotates {}: rotgen has no backend for it",
                    f.name, t.app, t.what
                )),
            }
        }
        Origin::AwsLike => {
            notes.push(format!(
                "rotated by {}, which looks like one of AWS's templates (handler lambda_function.lambda_handler, SECRETS_MANAGER_ENDPOINT) but does not say which",
                f.name
            ));
            Ok(Partial::FromEngine)
        }
        Origin::Rotgen {
            service,
            strategy,
            masters,
        } => {
            notes.push(format!(
                "rotated by {}, rotgen's own function (ROTGEN_SERVICE={})",
                f.name,
                clean(&service)
            ));
            match crate::model::services::NAMES
                .iter()
                .find(|n| **n == service.as_str())
            {
                None => Err(format!(
                    "its function's ROTGEN_SERVICE \"{}\" is not a service this rotgen knows",
                    clean(&service)
                )),
                Some(&service) => {
                    let needs = crate::model::services::get(service).user;
                    if needs != crate::model::services::User::None {
                        Err(format!(
                            "its service {service} needs keys the function's configuration alone does not give (user{}): copy this secret's entry from the spec that deployed {}",
                            if service == "http-token" {
                                ", token_api"
                            } else {
                                ""
                            },
                            f.name
                        ))
                    } else {
                        Ok(Partial::Service {
                            service,
                            alternating: Some(strategy.as_deref() == Some("alternating-users")),
                            masters,
                        })
                    }
                }
            }
        }
        Origin::Unknown => {
            notes.push(format!(
                "rotated by {}, a function rotgen does not recognise: check that rotgen's rotation does what it did",
                f.name
            ));
            Ok(Partial::FromEngine)
        }
    };
    (result, notes)
}

/// A spec id from a secret's name: its words in CamelCase, letters and digits only,
/// unique ignoring case.
fn unique_id(name: &str, taken: &mut BTreeSet<String>) -> String {
    let mut id = String::new();
    for word in name.split(|c: char| !c.is_ascii_alphanumeric()) {
        let mut chars = word.chars();
        if let Some(c) = chars.next() {
            id.push(c.to_ascii_uppercase());
            id.extend(chars);
        }
    }
    if !id.starts_with(|c: char| c.is_ascii_alphabetic()) {
        id.insert_str(0, "Secret");
    }
    id.truncate(64);
    let mut candidate = id.clone();
    let mut n = 2;
    while taken.contains(&candidate.to_ascii_lowercase()) {
        candidate = format!("{id}{n}");
        n += 1;
    }
    taken.insert(candidate.to_ascii_lowercase());
    candidate
}

/// The spec's one `[vpc]`: the VPC most taken secrets' functions run in (ties: the first
/// in order), with every subnet and security group those functions use. A secret whose
/// function runs in another VPC is not taken (one spec, one VPC).
fn choose_vpc(entries: &mut [Entry]) -> Option<(Vpc, Vec<String>)> {
    let in_vpc = |e: &Entry| match &e.outcome {
        Ok(t) => crate::model::services::get(t.service).in_vpc,
        Err(_) => false,
    };
    let mut counts: Vec<(String, usize)> = Vec::new();
    for e in entries.iter().filter(|e| in_vpc(e)) {
        if let Some(v) = &e.vpc {
            match counts.iter_mut().find(|(id, _)| *id == v.vpc_id) {
                Some((_, n)) => *n += 1,
                None => counts.push((v.vpc_id.clone(), 1)),
            }
        }
    }
    let best = counts
        .iter()
        .fold(None::<&(String, usize)>, |best, c| match best {
            Some(b) if b.1 >= c.1 => Some(b),
            _ => Some(c),
        })?
        .0
        .clone();
    let mut subnets = BTreeSet::new();
    let mut groups = BTreeSet::new();
    let mut from = BTreeSet::new();
    for e in entries.iter_mut() {
        if !in_vpc(e) {
            continue;
        }
        match &e.vpc {
            Some(v) if v.vpc_id == best => {
                subnets.extend(v.subnet_ids.iter().cloned());
                groups.extend(v.security_group_ids.iter().cloned());
                if let Some(a) = &e.secret.rotation_lambda_arn {
                    from.insert(function_name(a).to_string());
                }
            }
            Some(v) => {
                e.outcome = Err(format!(
                    "its function runs in {}, and this spec's [vpc] is {best}: import it into a spec of its own (--function {})",
                    v.vpc_id,
                    e.secret
                        .rotation_lambda_arn
                        .as_deref()
                        .map_or("NAME", function_name)
                ));
            }
            None => e.notes.push(format!(
                "its function runs outside any VPC; rotgen's runs in {best} ([vpc])"
            )),
        }
    }
    Some((
        Vpc {
            vpc_id: best,
            subnet_ids: subnets.into_iter().collect(),
            security_group_ids: groups.into_iter().collect(),
        },
        from.into_iter().collect(),
    ))
}

/// A TOML basic string.
fn q(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn list(items: &[String]) -> String {
    format!(
        "[{}]",
        items.iter().map(|s| q(s)).collect::<Vec<_>>().join(", ")
    )
}

/// Whether a name would be ambiguous in a partial ARN (it ends in a hyphen and six
/// characters, like Secrets Manager's suffix), or not a name the spec takes.
fn needs_arn(name: &str) -> bool {
    let tail = name.rsplit_once('-').map(|(_, t)| t);
    tail.is_some_and(|t| t.len() == 6 && t.bytes().all(|b| b.is_ascii_alphanumeric()))
        || crate::model::arn::check_secret_name(name).is_err()
}

/// A KMS key ARN (not an alias or a bare key id).
fn is_key_arn(k: &str) -> bool {
    k.starts_with("arn:") && k.contains(":kms:") && k.contains(":key/")
}

/// The lines of one secret's `[[secret]]` table (uncommented), and comment lines.
fn secret_lines(e: &Entry) -> (Vec<String>, Vec<String>) {
    let s = &e.secret;
    let mut lines = vec!["[[secret]]".to_string(), format!("id = {}", q(&e.id))];
    let mut notes = e.notes.clone();
    if needs_arn(&s.name) {
        lines.push(format!("arn = {}", q(&s.arn)));
        notes.push("named by ARN: its name could be mistaken for a partial ARN".into());
    } else {
        lines.push(format!("name = {}", q(&s.name)));
    }
    if let Ok(t) = &e.outcome {
        lines.push(format!("service = {}", q(t.service)));
        if t.alternating {
            lines.push("strategy = \"alternating-users\"".into());
        }
        if let Some(m) = &t.master {
            lines.push(format!("master_secret_arn = {}", q(m)));
            notes.push(
                "the master secret's own KMS key, if a customer key: add master_kms_key_arn".into(),
            );
        }
    }
    match &s.kms_key_id {
        Some(k) if is_key_arn(k) => lines.push(format!("kms_key_arn = {}", q(k))),
        Some(k) if !k.is_empty() => notes.push(format!(
            "its KMS key is given as {}: write the key's ARN as kms_key_arn",
            q(&clean(k))
        )),
        _ => {}
    }
    let mut schedule = Vec::new();
    if let Some(e) = &s.rules.expression {
        schedule.push(format!("expression = {}", q(e)));
    } else if let Some(d) = s.rules.days {
        schedule.push(format!("days = {d}"));
    } else {
        notes.push("Secrets Manager gives no schedule: the spec's default applies".into());
    }
    if let Some(d) = &s.rules.duration {
        if d.strip_suffix('h').is_some_and(|n| n.parse::<u8>().is_ok()) {
            schedule.push(format!("window = {}", q(d)));
        } else {
            notes.push(format!(
                "its rotation window {} is not whole hours: the default window applies",
                q(&clean(d))
            ));
        }
    }
    // The takeover keeps the current credentials and the secret's cadence: see README.
    schedule.push("rotate_immediately = false".into());
    lines.push(format!("schedule = {{ {} }}", schedule.join(", ")));
    (lines, notes)
}

/// The spec's text. `refused` turns these entries (by index) into commented blocks, with
/// the reason the compiler gave.
pub fn render(
    imp: &Imported,
    refused: &BTreeMap<usize, String>,
) -> (String, Vec<(usize, std::ops::Range<usize>)>) {
    let taken: Vec<usize> = (0..imp.entries.len())
        .filter(|i| imp.entries[*i].outcome.is_ok() && !refused.contains_key(i))
        .collect();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Written by `rotgen import`{}: {} secret{} with rotation on, {} taken over.",
        imp.region
            .as_deref()
            .map_or(String::new(), |r| format!(" in {r}")),
        imp.entries.len(),
        if imp.entries.len() == 1 { "" } else { "s" },
        taken.len()
    );
    if imp.rotation_off > 0 {
        let _ = writeln!(
            out,
            "# {} more matched with rotation off: not imported.",
            imp.rotation_off
        );
    }
    out.push_str(
        "# Deploy it as README.md's \"Take over existing rotations\" says (old schedules first).\n\n",
    );
    out.push_str("[stack]\nname = \"rotgen-imported\"\n\n");
    out.push_str(
        "[alarms]\n# email = [\"oncall@example.com\"]   # who hears when a rotation fails\n\n",
    );
    let mut spans = Vec::new();
    if let Some((v, from)) = &imp.vpc {
        let _ = writeln!(
            out,
            "# From the rotation functions' configuration ({}).",
            from.join(", ")
        );
        let c = match refused.get(&VPC) {
            Some(why) => {
                let _ = writeln!(
                    out,
                    "# Not written: rotgen build refuses it: {}.",
                    clean_long(why)
                );
                "# "
            }
            None => "",
        };
        let start = out.len();
        let _ = writeln!(out, "{c}[vpc]");
        let _ = writeln!(out, "{c}vpc_id = {}", q(&v.vpc_id));
        let _ = writeln!(out, "{c}subnet_ids = {}", list(&v.subnet_ids));
        if !v.security_group_ids.is_empty() {
            let _ = writeln!(
                out,
                "{c}security_group_ids = {}",
                list(&v.security_group_ids)
            );
        }
        spans.push((VPC, start..out.len()));
        out.push_str("# The functions reach Secrets Manager through an endpoint the stack creates;\n# set endpoint = false if they already reach it (NAT or an endpoint with private DNS).\n\n");
    }
    for (i, e) in imp.entries.iter().enumerate() {
        let (lines, notes) = secret_lines(e);
        let why = match (&e.outcome, refused.get(&i)) {
            (Err(why), _) => Some(why.clone()),
            (Ok(_), Some(why)) => Some(format!("rotgen build refuses it: {why}")),
            (Ok(_), None) => None,
        };
        let start = out.len();
        match why {
            None => {
                let _ = writeln!(out, "# {}", clean_long(&e.secret.name));
                for n in &notes {
                    let _ = writeln!(out, "# {}", clean_long(n));
                }
                for l in &lines {
                    let _ = writeln!(out, "{l}");
                }
            }
            Some(why) => {
                let _ = writeln!(
                    out,
                    "# Not imported: {}: {}.",
                    clean_long(&e.secret.name),
                    clean_long(&why)
                );
                for n in &notes {
                    let _ = writeln!(out, "# {}", clean_long(n));
                }
                for l in &lines {
                    let _ = writeln!(out, "# {l}");
                }
            }
        }
        spans.push((i, start..out.len()));
        out.push('\n');
    }
    if taken.is_empty() {
        out.push_str("# Nothing to take over: the spec needs at least one [[secret]].\n");
    }
    (out, spans)
}

/// The key of `[vpc]` among the refused parts (entries are indexed from 0).
const VPC: usize = usize::MAX;

/// A comment's text on one line.
fn clean_long(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The spec's text, built clean: each secret the compiler refuses becomes a commented
/// block with the compiler's reason (the rest is compiled again). `Err` when the spec
/// still does not compile (a problem outside the secrets), with the compiler's words.
pub fn spec_text(imp: &Imported) -> Result<String, String> {
    let mut refused = BTreeMap::new();
    let nested = |label: &str| format!("template.{label}.yaml");
    for _ in 0..4 {
        let (text, spans) = render(imp, &refused);
        match crate::compile_toml(&text, &nested) {
            Ok(_) => return Ok(text),
            Err(crate::Error::Invalid(diags)) => {
                let mut outside = Vec::new();
                for d in &diags.0 {
                    let at = match &d.loc {
                        crate::diag::Loc::Span(r) => Some(r.start),
                        _ => None,
                    };
                    match at.and_then(|p| spans.iter().find(|(_, r)| r.contains(&p))) {
                        Some((i, _)) => {
                            refused.entry(*i).or_insert_with(|| d.message.clone());
                        }
                        None => outside.push(d.message.clone()),
                    }
                }
                if !outside.is_empty() {
                    if taken_count(imp, &refused) == 0 {
                        return Ok(text);
                    }
                    return Err(outside.join("; "));
                }
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    Err("the spec still does not build after leaving out the secrets it refused".into())
}

fn taken_count(imp: &Imported, refused: &BTreeMap<usize, String>) -> usize {
    imp.entries
        .iter()
        .enumerate()
        .filter(|(i, e)| e.outcome.is_ok() && !refused.contains_key(i))
        .count()
}
