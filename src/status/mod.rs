//! `rotgen status`: whether every secret a stack rotates is rotating, from the AWS APIs
//! alone. It never reads a secret's value (no `GetSecretValue`): what it reports comes
//! from `DescribeSecret`, `ListSecretVersionIds`, the function's configuration, and the
//! `step failed` lines the function itself writes (already redacted), of which only
//! known fields are kept.
//!
//! The AWS reads sit behind [`Aws`] (the SDK in [`aws`]); everything else (which secrets
//! the templates rotate with which function, overdue, unfinished, failures, drift, the
//! table and the JSON) is plain code over what it answers.

pub mod aws;

use crate::model::schedule::{self, Recurrence};
use futures_util::{StreamExt, stream};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

/// How many AWS calls are in flight at once.
pub const CONCURRENCY: usize = 16;

/// The message of the function's log line for a failed step (`rotation::lambda`).
pub const FAILURE_MESSAGE: &str = "step failed";

/// A deployed stack, as CloudFormation lists it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StackInfo {
    /// Logical id → (resource type, physical id).
    pub resources: BTreeMap<String, (String, String)>,
    /// The stack's parameter values.
    pub parameters: BTreeMap<String, String>,
}

/// A rotation schedule's rules, as a template or Secrets Manager gives them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    pub days: Option<u32>,
    pub expression: Option<String>,
    pub duration: Option<String>,
}

impl Rules {
    fn is_empty(&self) -> bool {
        self.days.is_none() && self.expression.is_none()
    }

    /// The schedule as people write it, and when it opens its windows.
    fn recurrence(&self) -> Option<(String, Recurrence)> {
        if let Some(e) = &self.expression {
            return Recurrence::of_expression(e).ok().map(|r| (e.clone(), r));
        }
        self.days
            .filter(|d| *d > 0)
            .map(|d| (format!("every {d} days"), Recurrence::Days(d)))
    }
}

/// What `DescribeSecret` says of a secret (never its value).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SecretState {
    pub arn: String,
    pub name: String,
    pub rotation_enabled: bool,
    pub rotation_lambda_arn: Option<String>,
    pub rules: Rules,
    /// Seconds since the epoch.
    pub last_rotated: Option<i64>,
    pub next_rotation: Option<i64>,
    /// Version id → its staging labels.
    pub versions: BTreeMap<String, Vec<String>>,
}

/// What `GetFunctionConfiguration` says of a function.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FunctionConfig {
    pub arn: String,
    pub runtime: Option<String>,
    pub architecture: Option<String>,
    pub environment: BTreeMap<String, String>,
    /// Base64 of the SHA-256 of the code's zip, as Lambda gives it.
    pub code_sha256: Option<String>,
    pub log_group: Option<String>,
}

/// A failed step, from one of the function's `step failed` log lines: only the fields
/// the function writes for it, whose message it has redacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Milliseconds since the epoch.
    pub time_ms: i64,
    pub secret_id: String,
    pub step: String,
    pub kind: Option<String>,
    pub retryable: Option<bool>,
    pub message: String,
}

/// The longest failure message kept (the rest is cut, with `…`).
const MESSAGE_CHARS: usize = 500;

/// A `step failed` line of the function's JSON logs, or `None` for any other line. Only
/// `step`, `secret_id`, `kind`, `retryable` and `error` are read: the function writes
/// them from its own error, whose message it has passed through its redactor.
pub fn parse_failure(line: &str, time_ms: i64) -> Option<Failure> {
    let v: Value = serde_json::from_str(line.trim()).ok()?;
    if v.get("message").and_then(Value::as_str) != Some(FAILURE_MESSAGE) {
        return None;
    }
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(clean);
    Some(Failure {
        time_ms,
        secret_id: text("secret_id")?,
        step: text("step")?,
        kind: text("kind"),
        retryable: v.get("retryable").and_then(Value::as_bool),
        message: text("error").unwrap_or_default(),
    })
}

/// One line, without control characters, at most [`MESSAGE_CHARS`].
fn clean(s: &str) -> String {
    let one: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one.chars().count() > MESSAGE_CHARS {
        one.chars().take(MESSAGE_CHARS).chain(['…']).collect()
    } else {
        one
    }
}

/// A failed AWS call, in one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation} failed: {message}")]
pub struct AwsError {
    pub operation: &'static str,
    pub message: String,
}

/// The AWS reads of `rotgen status`. None reads a secret's value.
pub trait Aws: Sync {
    /// `ListStackResources` (every page) and `DescribeStacks`' parameters.
    fn stack(&self, name: &str) -> impl Future<Output = Result<StackInfo, AwsError>> + Send;
    /// `GetTemplate` (the processed template: SAM and macros expanded).
    fn template(&self, stack: &str) -> impl Future<Output = Result<Value, AwsError>> + Send;
    /// `DescribeSecret`; `None` when there is no such secret.
    fn secret(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<SecretState>, AwsError>> + Send;
    /// `ListSecretVersionIds` (every page): when `version` was created.
    fn version_created(
        &self,
        id: &str,
        version: &str,
    ) -> impl Future<Output = Result<Option<i64>, AwsError>> + Send;
    /// `GetFunctionConfiguration`; `None` when there is no such function.
    fn function(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<FunctionConfig>, AwsError>> + Send;
    /// `FilterLogEvents` (every page) of `log_group` since `since_ms` for the function's
    /// `step failed` lines, parsed with [`parse_failure`]; none when the group does not
    /// exist.
    fn failures(
        &self,
        log_group: &str,
        since_ms: i64,
    ) -> impl Future<Output = Result<Vec<Failure>, AwsError>> + Send;
}

/// Why there is no report: the input, or AWS (exit 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusError {
    #[error("{0}")]
    Template(String),
    #[error(transparent)]
    Aws(#[from] AwsError),
}

/// Where the templates come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A compiled spec (main and nested templates by file name) and the stack it is
    /// deployed as.
    Spec {
        main: Value,
        nested: Vec<(String, Value)>,
        stack: String,
    },
    /// A deployed stack: its templates come from CloudFormation.
    Stack(String),
}

impl Source {
    /// A compiled spec deployed as `stack`. Each nested template is named as its stack
    /// resource reads it: the file name, or for a StackSet the S3 key at the end of its
    /// `TemplateURL`.
    pub fn of_compiled(compiled: crate::Compiled, stack: String) -> Source {
        let keys: BTreeMap<String, String> = compiled.deploy.nested_keys.into_iter().collect();
        let nested = compiled
            .nested
            .into_iter()
            .map(|(file, t)| (keys.get(&file).cloned().unwrap_or(file), t))
            .collect();
        Source::Spec {
            main: compiled.main,
            nested,
            stack,
        }
    }

    pub fn stack(&self) -> &str {
        match self {
            Source::Spec { stack, .. } | Source::Stack(stack) => stack,
        }
    }
}

/// The code a function should run: a zip on disk, its hash computed here.
#[derive(Debug, Clone, Default)]
pub struct CodeCheck {
    /// The zip every function should run (`--code`).
    pub zip: Option<std::path::PathBuf>,
    /// The folder a template's relative code path is read from (the spec's).
    pub base: Option<std::path::PathBuf>,
}

/// What the options change.
#[derive(Debug, Clone)]
pub struct Options {
    /// Seconds since the epoch.
    pub now: i64,
    /// How far back the functions' logs are searched, in days.
    pub log_days: u32,
    pub code: CodeCheck,
}

/// A secret the templates rotate.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The RotationSchedule's logical id (`Nested/Id` in a nested stack).
    pub schedule_id: String,
    /// The SecretId, resolved (an ARN or a name).
    pub secret: String,
    /// Index into the functions.
    pub function: usize,
    pub rules: Rules,
}

/// A rotation function as the template sets it up.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedFunction {
    pub logical_id: String,
    /// The deployed function's name.
    pub name: String,
    pub log_group: Option<String>,
    pub runtime: Option<String>,
    pub architecture: Option<String>,
    /// The variables the template sets to a literal, and the names of every one.
    pub environment: BTreeMap<String, String>,
    pub environment_names: BTreeSet<String>,
    /// A local zip the template points at, as written.
    pub code_path: Option<String>,
}

/// A stack's template and what CloudFormation deployed of it.
#[derive(Debug, Clone)]
pub struct Deployed {
    pub label: Option<String>,
    pub template: Value,
    pub info: StackInfo,
}

/// Reads the stacks: the main one and each nested stack (one level, as rotgen nests).
pub async fn stacks<A: Aws>(aws: &A, source: &Source) -> Result<Vec<Deployed>, StatusError> {
    let name = source.stack();
    let info = aws.stack(name).await?;
    let main = match source {
        Source::Spec { main, .. } => main.clone(),
        Source::Stack(_) => aws.template(name).await?,
    };
    let mut children = Vec::new();
    for (id, r) in resources(&main) {
        let ty = r.get("Type").and_then(Value::as_str).unwrap_or_default();
        if !matches!(
            ty,
            "AWS::CloudFormation::Stack" | "AWS::Serverless::Application"
        ) {
            continue;
        }
        let Some((_, physical)) = info.resources.get(id) else {
            if r.get("Condition").is_some() {
                continue;
            }
            return Err(StatusError::Template(format!(
                "the stack {name} has no nested stack {id}: is it deployed from this template? (`rotgen status --stack {name}` reads the deployed one)"
            )));
        };
        children.push((id.clone(), physical.clone(), location(r)));
    }
    let nested: Vec<Result<Deployed, StatusError>> = stream::iter(children)
        .map(|(id, physical, file)| async move {
            let template = match source {
                Source::Spec { nested, .. } => nested
                    .iter()
                    .find(|(f, _)| *f == file)
                    .map(|(_, t)| t.clone())
                    .ok_or_else(|| {
                        StatusError::Template(format!("no nested template {file} for {id}"))
                    })?,
                Source::Stack(_) => aws.template(&physical).await?,
            };
            Ok(Deployed {
                label: Some(id),
                template,
                info: aws.stack(&physical).await?,
            })
        })
        .buffered(CONCURRENCY)
        .collect()
        .await;
    let mut all = vec![Deployed {
        label: None,
        template: main,
        info,
    }];
    for n in nested {
        all.push(n?);
    }
    Ok(all)
}

/// Where a stack resource reads its template: `TemplateURL` (or SAM's `Location`) as
/// written, or the last part of an `Fn::Sub` URL (a StackSet's nested templates are read
/// from each Region's bucket, under a key [`Source::of_compiled`] names them by).
fn location(resource: &Value) -> String {
    let Some(url) = resource
        .pointer("/Properties/TemplateURL")
        .or_else(|| resource.pointer("/Properties/Location"))
    else {
        return String::new();
    };
    if let Some(s) = url.as_str() {
        return s.to_string();
    }
    let sub = url.get("Fn::Sub");
    match sub.and_then(|s| s.as_str().or_else(|| s.get(0)?.as_str())) {
        Some(s) => s.rsplit('/').next().unwrap_or(s).to_string(),
        None => String::new(),
    }
}

fn resources(template: &Value) -> impl Iterator<Item = (&String, &Value)> {
    template
        .get("Resources")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
}

/// A template value CloudFormation resolved: a literal, or a `Ref` to a parameter or a
/// resource.
fn resolve(v: &Value, info: &StackInfo) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Object(m) if m.len() == 1 => {
            let r = m.get("Ref")?.as_str()?;
            info.parameters
                .get(r)
                .cloned()
                .or_else(|| info.resources.get(r).map(|(_, p)| p.clone()))
        }
        _ => None,
    }
}

fn rules_of(v: Option<&Value>, info: &StackInfo) -> Rules {
    let field = |k: &str| v.and_then(|r| r.get(k)).and_then(|x| resolve(x, info));
    Rules {
        days: field("AutomaticallyAfterDays").and_then(|d| d.parse().ok()),
        expression: field("ScheduleExpression").filter(|e| !e.is_empty()),
        duration: field("Duration").filter(|d| !d.is_empty()),
    }
}

/// The secrets the stacks rotate and their functions, in template order.
pub fn targets(stacks: &[Deployed]) -> Result<(Vec<Target>, Vec<ExpectedFunction>), StatusError> {
    let mut targets = Vec::new();
    let mut functions: Vec<ExpectedFunction> = Vec::new();
    for d in stacks {
        let prefix = d.label.as_ref().map_or(String::new(), |l| format!("{l}/"));
        for (id, r) in resources(&d.template) {
            if r.get("Type").and_then(Value::as_str)
                != Some("AWS::SecretsManager::RotationSchedule")
            {
                continue;
            }
            if r.get("Condition").is_some() && !d.info.resources.contains_key(id) {
                continue;
            }
            let props = r.get("Properties").unwrap_or(&Value::Null);
            let secret = props
                .get("SecretId")
                .and_then(|v| resolve(v, &d.info))
                .ok_or_else(|| {
                    StatusError::Template(format!(
                        "{prefix}{id}: its SecretId is neither a literal nor a Ref the stack resolves"
                    ))
                })?;
            let lambda = props.get("RotationLambdaARN");
            let function_id = lambda
                .and_then(|l| l.get("Fn::GetAtt"))
                .and_then(|g| g.get(0))
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    StatusError::Template(format!(
                        "{prefix}{id}: its RotationLambdaARN is not the Arn of a function of the stack"
                    ))
                })?;
            let name = d
                .info
                .resources
                .get(function_id)
                .map(|(_, p)| p.clone())
                .ok_or_else(|| {
                    StatusError::Template(format!(
                        "the stack has no function {prefix}{function_id}: is it deployed from this template? (`rotgen status --stack NAME` reads the deployed one)"
                    ))
                })?;
            let index = match functions.iter().position(|f| f.name == name) {
                Some(i) => i,
                None => {
                    let f = d
                        .template
                        .pointer(&format!("/Resources/{function_id}"))
                        .unwrap_or(&Value::Null);
                    functions.push(expected_function(
                        &format!("{prefix}{function_id}"),
                        name,
                        f,
                        &d.info,
                    ));
                    functions.len() - 1
                }
            };
            targets.push(Target {
                schedule_id: format!("{prefix}{id}"),
                secret,
                function: index,
                rules: rules_of(props.get("RotationRules"), &d.info),
            });
        }
    }
    Ok((targets, functions))
}

fn expected_function(
    logical_id: &str,
    name: String,
    resource: &Value,
    info: &StackInfo,
) -> ExpectedFunction {
    let p = resource.get("Properties").unwrap_or(&Value::Null);
    let lit = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let vars = p
        .pointer("/Environment/Variables")
        .and_then(Value::as_object);
    let environment = vars
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
        .collect();
    let environment_names = vars.into_iter().flatten().map(|(k, _)| k.clone()).collect();
    // A local path (SAM's CodeUri, or Code as `aws cloudformation package` reads it).
    let code_path = lit(p.get("CodeUri"))
        .or_else(|| lit(p.get("Code")))
        .filter(|c| !c.contains("://"));
    ExpectedFunction {
        logical_id: logical_id.to_string(),
        name,
        log_group: p
            .pointer("/LoggingConfig/LogGroup")
            .and_then(|g| resolve(g, info)),
        runtime: lit(p.get("Runtime")),
        // Lambda's default.
        architecture: match p.get("Architectures") {
            None => Some("x86_64".to_string()),
            Some(a) => lit(a.get(0)),
        },
        environment,
        environment_names,
        code_path,
    }
}

/// Base64 of the SHA-256 of a file, as Lambda's CodeSha256.
fn code_sha256(path: &std::path::Path) -> Option<String> {
    use base64::Engine;
    use sha2::Digest;
    let bytes = std::fs::read(path).ok()?;
    Some(base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&bytes)))
}

/// How a function differs from its template, field by field (names, never values of
/// the environment).
pub fn drift(
    expected: &ExpectedFunction,
    deployed: &FunctionConfig,
    code: Option<&str>,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut differ = |field: &str, want: &Option<String>, got: &Option<String>| {
        if let Some(w) = want
            && got.as_ref() != Some(w)
        {
            out.push(format!(
                "{field} {} (template: {w})",
                got.as_deref().unwrap_or("unset")
            ));
        }
    };
    differ("runtime", &expected.runtime, &deployed.runtime);
    differ(
        "architecture",
        &expected.architecture,
        &deployed.architecture,
    );
    for (k, v) in &expected.environment {
        match deployed.environment.get(k) {
            None => out.push(format!("environment {k} missing")),
            Some(d) if d != v => out.push(format!("environment {k} changed")),
            Some(_) => {}
        }
    }
    for k in deployed.environment.keys() {
        if !expected.environment_names.contains(k) {
            out.push(format!("environment {k} added"));
        }
    }
    if let Some(want) = code
        && deployed.code_sha256.as_deref() != Some(want)
    {
        out.push("code (another zip)".to_string());
    }
    out
}

/// How a secret's rotation stands.
#[derive(Debug, Clone, PartialEq)]
pub struct SecretReport {
    pub secret: String,
    pub arn: Option<String>,
    pub schedule_id: String,
    pub function: String,
    pub found: bool,
    pub rotation_enabled: bool,
    pub rotation_lambda_arn: Option<String>,
    pub by_this_stack: bool,
    pub schedule: Option<String>,
    pub window_hours: Option<u32>,
    pub last_rotated: Option<i64>,
    pub next_rotation: Option<i64>,
    pub overdue: bool,
    /// An AWSPENDING version that is not AWSCURRENT, and when it was created.
    pub unfinished: Option<Pending>,
    pub last_failure: Option<Failure>,
    /// The failure came before the last rotation, which succeeded after it.
    pub failure_resolved: bool,
    pub drift: Vec<String>,
    pub code_checked: bool,
}

/// What is wrong, as words (also the JSON's `problems`).
impl SecretReport {
    pub fn problems(&self) -> Vec<&'static str> {
        let mut p = Vec::new();
        if !self.found {
            p.push("missing");
            return p;
        }
        if !self.rotation_enabled {
            p.push("disabled");
        } else if !self.by_this_stack {
            p.push("other-function");
        }
        if self.overdue {
            p.push("overdue");
        }
        if self.unfinished.is_some() {
            p.push("unfinished");
        }
        if self.last_failure.is_some() && !self.failure_resolved {
            p.push("failed");
        }
        if !self.drift.is_empty() {
            p.push("drift");
        }
        p
    }

    pub fn healthy(&self) -> bool {
        self.problems().is_empty()
    }
}

/// The whole report.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub stack: String,
    pub now: i64,
    pub log_days: u32,
    pub secrets: Vec<SecretReport>,
}

impl Report {
    pub fn healthy(&self) -> bool {
        self.secrets.iter().all(SecretReport::healthy)
    }
}

/// A function's configuration (`None`: there is no such function) and its failures.
type FunctionSeen = (Option<FunctionConfig>, Vec<Failure>);

/// An AWSPENDING version that is not AWSCURRENT, and when it was created.
type Pending = (String, Option<i64>);

/// The function's name in a Lambda ARN (`arn:…:function:NAME[:QUALIFIER]`), or the
/// value itself.
fn function_name(arn: &str) -> &str {
    match arn.split_once(":function:") {
        Some((_, rest)) => rest.split(':').next().unwrap_or(rest),
        None => arn,
    }
}

/// Checks every secret of the stacks: the whole of `rotgen status` but the printing.
pub async fn check<A: Aws>(
    aws: &A,
    source: &Source,
    opts: &Options,
) -> Result<Report, StatusError> {
    let deployed = stacks(aws, source).await?;
    let (targets, functions) = targets(&deployed)?;
    let since_ms = (opts.now - i64::from(opts.log_days) * 86_400) * 1000;
    // Each function once: its configuration, then its failures (its log group is the
    // template's, else the one Lambda names, else Lambda's default).
    let per_function: Vec<Result<FunctionSeen, AwsError>> = stream::iter(functions.iter())
        .map(|f| async move {
            let config = aws.function(&f.name).await?;
            let group = f
                .log_group
                .clone()
                .or_else(|| config.as_ref().and_then(|c| c.log_group.clone()))
                .unwrap_or_else(|| format!("/aws/lambda/{}", f.name));
            let failures = aws.failures(&group, since_ms).await?;
            Ok((config, failures))
        })
        .buffered(CONCURRENCY)
        .collect()
        .await;
    let per_function: Vec<FunctionSeen> = per_function.into_iter().collect::<Result<_, _>>()?;
    let drifts: Vec<(Vec<String>, bool)> = functions
        .iter()
        .zip(&per_function)
        .map(|(f, (config, _))| {
            let code = opts.code.zip.clone().or_else(|| {
                f.code_path
                    .as_ref()
                    .map(|p| opts.code.base.clone().unwrap_or_default().join(p))
            });
            let want = code.as_deref().and_then(code_sha256);
            match config {
                None => (vec!["function missing".to_string()], false),
                Some(c) => (drift(f, c, want.as_deref()), want.is_some()),
            }
        })
        .collect();
    let states: Vec<Result<Option<SecretState>, AwsError>> = stream::iter(targets.iter())
        .map(|t| aws.secret(&t.secret))
        .buffered(CONCURRENCY)
        .collect()
        .await;
    let states: Vec<Option<SecretState>> = states.into_iter().collect::<Result<_, _>>()?;
    // When each unfinished rotation began (only those: one more call each).
    let pending: Vec<Result<Option<Pending>, AwsError>> = stream::iter(states.iter())
        .map(|s| async move {
            let Some(s) = s else { return Ok(None) };
            let Some(v) = unfinished_version(s) else {
                return Ok(None);
            };
            let created = aws.version_created(&s.arn, v).await?;
            Ok(Some((v.to_string(), created)))
        })
        .buffered(CONCURRENCY)
        .collect()
        .await;
    let mut secrets = Vec::with_capacity(targets.len());
    for ((t, state), unfinished) in targets.iter().zip(states).zip(pending) {
        let f = &functions[t.function];
        let (config, failures) = &per_function[t.function];
        let (drift, code_checked) = drifts[t.function].clone();
        secrets.push(evaluate(
            t,
            f,
            config.as_ref(),
            failures,
            state,
            unfinished?,
            drift,
            code_checked,
            opts.now,
        ));
    }
    Ok(Report {
        stack: source.stack().to_string(),
        now: opts.now,
        log_days: opts.log_days,
        secrets,
    })
}

/// The version holding AWSPENDING but not AWSCURRENT, if any.
fn unfinished_version(s: &SecretState) -> Option<&str> {
    s.versions
        .iter()
        .find(|(_, st)| {
            st.iter().any(|x| x == "AWSPENDING") && !st.iter().any(|x| x == "AWSCURRENT")
        })
        .map(|(v, _)| v.as_str())
}

/// One secret's report from what AWS said.
#[allow(clippy::too_many_arguments)]
pub fn evaluate(
    t: &Target,
    f: &ExpectedFunction,
    config: Option<&FunctionConfig>,
    failures: &[Failure],
    state: Option<SecretState>,
    unfinished: Option<Pending>,
    drift: Vec<String>,
    code_checked: bool,
    now: i64,
) -> SecretReport {
    let mut r = SecretReport {
        secret: t.secret.clone(),
        arn: None,
        schedule_id: t.schedule_id.clone(),
        function: f.name.clone(),
        found: false,
        rotation_enabled: false,
        rotation_lambda_arn: None,
        by_this_stack: false,
        schedule: None,
        window_hours: None,
        last_rotated: None,
        next_rotation: None,
        overdue: false,
        unfinished,
        last_failure: None,
        failure_resolved: false,
        drift,
        code_checked,
    };
    let Some(s) = state else { return r };
    r.found = true;
    r.secret = s.name.clone();
    r.arn = Some(s.arn.clone());
    r.rotation_enabled = s.rotation_enabled;
    r.by_this_stack = s
        .rotation_lambda_arn
        .as_deref()
        .is_some_and(|a| match config {
            Some(c) if !c.arn.is_empty() => {
                let strip = |x: &str| {
                    // Without a qualifier (`:$LATEST`, an alias or a version).
                    let name = function_name(x);
                    x.find(":function:")
                        .map_or(x.to_string(), |i| format!("{}:function:{name}", &x[..i]))
                };
                strip(a) == strip(&c.arn)
            }
            _ => function_name(a) == f.name,
        });
    r.rotation_lambda_arn = s.rotation_lambda_arn.clone();
    // The rules Secrets Manager has, else the template's.
    let rules = if s.rules.is_empty() {
        &t.rules
    } else {
        &s.rules
    };
    let duration = s.rules.duration.as_ref().or(t.rules.duration.as_ref());
    r.last_rotated = s.last_rotated;
    if let Some((text, recurrence)) = rules.recurrence() {
        let window = duration
            .and_then(|d| schedule::check_window_alone(d).ok())
            .unwrap_or_else(|| recurrence.default_window_hours());
        r.schedule = Some(text);
        r.window_hours = Some(window);
        r.next_rotation = s
            .next_rotation
            .or_else(|| s.last_rotated.and_then(|l| recurrence.next_start(l)));
        if s.rotation_enabled {
            r.overdue = match (s.last_rotated, s.next_rotation) {
                // Turned on without rotating at once: due when Secrets Manager says.
                (None, Some(next)) => next + i64::from(window) * 3600 <= now,
                (last, _) => schedule::overdue(&recurrence, window, last, None, now),
            };
        }
    } else if s.rotation_enabled {
        r.next_rotation = s.next_rotation;
        r.overdue = s.last_rotated.is_none();
    }
    r.last_failure = failures
        .iter()
        .filter(|x| x.secret_id == s.arn || x.secret_id == s.name)
        .max_by_key(|x| x.time_ms)
        .cloned();
    r.failure_resolved = match (&r.last_failure, s.last_rotated) {
        (Some(x), Some(last)) => last * 1000 > x.time_ms,
        _ => false,
    };
    r
}

/// `2026-12-04T16:49:33Z`.
pub fn iso(secs: i64) -> String {
    let (y, m, d) = schedule::civil_from_days(secs.div_euclid(86_400));
    let t = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        t / 3600,
        t / 60 % 60,
        t % 60
    )
}

/// `2026-12-04 16:49` (UTC), for the table.
fn short_time(secs: i64) -> String {
    let s = iso(secs);
    format!("{} {}", &s[..10], &s[11..16])
}

fn age(secs: i64) -> String {
    let secs = secs.max(0);
    if secs < 3600 {
        format!("{}m", secs / 60)
    } else if secs < 2 * 86_400 {
        format!("{}h", secs / 3600)
    } else {
        format!("{}d", secs / 86_400)
    }
}

/// What the table says of a secret.
fn status_words(r: &SecretReport, now: i64) -> String {
    if !r.found {
        return "secret not found".to_string();
    }
    let mut words = Vec::new();
    if !r.rotation_enabled {
        words.push("rotation off".to_string());
    } else if !r.by_this_stack {
        words.push(format!(
            "rotated by {}",
            r.rotation_lambda_arn
                .as_deref()
                .map_or("no function", function_name)
        ));
    }
    if r.overdue {
        words.push(match r.last_rotated {
            None => "overdue (never rotated)".to_string(),
            Some(_) => "overdue".to_string(),
        });
    }
    if let Some((v, created)) = &r.unfinished {
        let short: String = v.chars().take(8).collect();
        words.push(match created {
            Some(c) => format!("unfinished ({short}… pending {})", age(now - c)),
            None => format!("unfinished ({short}… pending)"),
        });
    }
    if let Some(f) = &r.last_failure
        && !r.failure_resolved
    {
        let mut m: String = f.message.chars().take(120).collect();
        if f.message.chars().count() > 120 {
            m.push('…');
        }
        words.push(format!(
            "failed {} {}: {m}",
            f.step,
            short_time(f.time_ms.div_euclid(1000))
        ));
    }
    if !r.drift.is_empty() {
        words.push(format!("drift: {}", r.drift.join(", ")));
    }
    if words.is_empty() {
        "ok".to_string()
    } else {
        words.join("; ")
    }
}

/// The summary line's counts, in a fixed order.
fn counts(report: &Report) -> Vec<(&'static str, usize)> {
    let n = |p: &str| {
        report
            .secrets
            .iter()
            .filter(|s| s.problems().contains(&p))
            .count()
    };
    vec![
        (
            "healthy",
            report.secrets.iter().filter(|s| s.healthy()).count(),
        ),
        ("overdue", n("overdue")),
        ("unfinished", n("unfinished")),
        ("failed", n("failed")),
        ("drift", n("drift")),
        ("other-function", n("other-function")),
        ("disabled", n("disabled")),
        ("missing", n("missing")),
    ]
}

/// The table for people: one line per secret, aligned, then a summary line.
pub fn table(report: &Report) -> String {
    let mut rows: Vec<[String; 5]> = vec![[
        "SECRET".into(),
        "ROTATION".into(),
        "LAST ROTATED".into(),
        "NEXT ROTATION".into(),
        "STATUS".into(),
    ]];
    for r in &report.secrets {
        rows.push([
            r.secret.clone(),
            match (r.found, r.rotation_enabled, r.by_this_stack) {
                (false, _, _) => "-".into(),
                (true, false, _) => "off".into(),
                (true, true, false) => "other".into(),
                (true, true, true) => r.schedule.clone().unwrap_or_else(|| "on".into()),
            },
            r.last_rotated.map_or_else(|| "never".into(), short_time),
            r.next_rotation.map_or_else(|| "-".into(), short_time),
            status_words(r, report.now),
        ]);
    }
    let widths: Vec<usize> = (0..4)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        for (i, w) in widths.iter().enumerate() {
            out.push_str(&row[i]);
            out.push_str(&" ".repeat(w - row[i].chars().count() + 2));
        }
        out.push_str(&row[4]);
        out.push('\n');
    }
    let c = counts(report);
    let problems: Vec<String> = c[1..]
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(w, n)| format!("{n} {w}"))
        .collect();
    let total = report.secrets.len();
    out.push_str(&format!(
        "{total} secret{} in stack {}: {} healthy{}{} (checked {})\n",
        if total == 1 { "" } else { "s" },
        report.stack,
        c[0].1,
        if problems.is_empty() { "" } else { ", " },
        problems.join(", "),
        iso(report.now)
    ));
    out
}

/// The report for machines (field names documented in docs/commands.md).
pub fn to_json(report: &Report) -> Value {
    let time = |t: Option<i64>| t.map_or(Value::Null, |t| json!(iso(t)));
    let secrets: Vec<Value> = report
        .secrets
        .iter()
        .map(|r| {
            json!({
                "secret": r.secret,
                "arn": r.arn,
                "schedule_id": r.schedule_id,
                "function": r.function,
                "healthy": r.healthy(),
                "problems": r.problems(),
                "found": r.found,
                "rotation_enabled": r.rotation_enabled,
                "rotation_lambda_arn": r.rotation_lambda_arn,
                "rotated_by_stack": r.by_this_stack,
                "schedule": r.schedule,
                "window_hours": r.window_hours,
                "last_rotated": time(r.last_rotated),
                "next_rotation": time(r.next_rotation),
                "overdue": r.overdue,
                "unfinished": r.unfinished.as_ref().map(|(v, c)| json!({
                    "version": v,
                    "created": time(*c),
                })),
                "last_failure": r.last_failure.as_ref().map(|f| json!({
                    "time": iso(f.time_ms.div_euclid(1000)),
                    "step": f.step,
                    "kind": f.kind,
                    "retryable": f.retryable,
                    "message": f.message,
                    "resolved": r.failure_resolved,
                })),
                "drift": r.drift,
                "code_checked": r.code_checked,
            })
        })
        .collect();
    let summary: serde_json::Map<String, Value> = counts(report)
        .into_iter()
        .map(|(k, n)| (k.to_string(), json!(n)))
        .collect();
    json!({
        "stack": report.stack,
        "checked_at": iso(report.now),
        "log_days": report.log_days,
        "healthy": report.healthy(),
        "summary": Value::Object(summary),
        "secrets": secrets,
    })
}

#[cfg(test)]
mod tests;
