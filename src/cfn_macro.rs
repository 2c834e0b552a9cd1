//! The CloudFormation front door: `Transform: Rotgen` and `rotgen expand`.
//!
//! Each `Rotgen::Rotation` resource's `Properties` is the spec (the same fields as the
//! TOML, any value may be an intrinsic). It is lowered to a [`Node`](crate::spec::node::Node),
//! compiled by the same pipeline as `rotgen build`, and the resulting resources, outputs
//! and parameters replace it in the template. Everything else is kept as it was.

use crate::diag::{Diagnostic, Diagnostics, Loc};
use crate::model::{Code, Naming, Options};
use crate::spec::node;
use serde_json::{Map, Value, json};

mod arns;

pub const RESOURCE_TYPE: &str = "Rotgen::Rotation";

/// What `rotgen macro-stack` varies.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MacroStack {
    /// The macro's name (unique per account and region).
    pub name: String,
    pub architecture: String,
    pub log_retention_days: i64,
    pub permissions_boundary: Option<String>,
}

pub const MACRO_NAME: &str = "Rotgen";

/// Resource attributes a `Rotgen::Rotation` may carry.
const ATTRIBUTES: &[&str] = &["Type", "Properties", "Condition", "DependsOn", "Metadata"];

/// How expansion fills in what the spec leaves out.
#[derive(Debug, Clone, Default)]
pub struct ExpandOptions {
    /// The code location when a rotation gives no `function.code`: the macro passes its
    /// own zip; `None` adds template parameters (`{Id}CodeBucket`, `{Id}CodeKey`).
    pub code: Option<Code>,
    /// The architecture `code` is built for (`arm64` or `x86_64`).
    pub code_architecture: Option<String>,
    /// The template's parameter values for this deploy (the request's
    /// `templateParameterValues`): a schedule given by a parameter is checked with them.
    pub parameter_values: Map<String, Value>,
    /// The Region and account of the stack (the request's `region` and `accountId`):
    /// ARNs of another partition or Region are refused, and a secret of another account
    /// gets a permission for that account.
    pub stack: Option<crate::model::StackPlace>,
}

impl ExpandOptions {
    /// `ROTGEN_CODE_BUCKET` / `ROTGEN_CODE_KEY`, which `rotgen macro-stack` sets on the macro
    /// function: functions the macro creates run the macro's own zip by default.
    pub fn from_env() -> Self {
        let bucket = std::env::var("ROTGEN_CODE_BUCKET")
            .ok()
            .filter(|s| !s.is_empty());
        let key = std::env::var("ROTGEN_CODE_KEY")
            .ok()
            .filter(|s| !s.is_empty());
        ExpandOptions {
            code: match (bucket, key) {
                (Some(bucket), Some(key)) => Some(Code::S3 {
                    bucket: json!(bucket),
                    key: json!(key),
                }),
                _ => None,
            },
            // The macro function runs the zip it passes on: its own architecture.
            code_architecture: Some(
                match std::env::consts::ARCH {
                    "aarch64" => "arm64",
                    _ => "x86_64",
                }
                .to_string(),
            ),
            parameter_values: Map::new(),
            stack: None,
        }
    }
}

/// A rotation's schedules (`schedule`, and each secret's) with `Ref`s to the template's
/// parameters replaced by this deploy's values, so they are checked like literals (the
/// macro runs again, with the new values, on every stack update).
fn with_schedule_values(props: &Value, values: &Map<String, Value>) -> Value {
    fn resolve(v: &mut Value, values: &Map<String, Value>) {
        match v {
            Value::Object(m) => {
                if m.len() == 1
                    && let Some(Value::String(name)) = m.get("Ref")
                    && let Some(Value::String(given)) = values.get(name)
                {
                    *v = match given.parse::<i64>() {
                        Ok(n) => json!(n),
                        Err(_) => json!(given),
                    };
                    return;
                }
                m.values_mut().for_each(|x| resolve(x, values));
            }
            Value::Array(a) => a.iter_mut().for_each(|x| resolve(x, values)),
            _ => {}
        }
    }
    let mut props = props.clone();
    if values.is_empty() {
        return props;
    }
    if let Some(s) = props.get_mut("schedule") {
        resolve(s, values);
    }
    if let Some(Value::Array(secrets)) = props.get_mut("secret") {
        for s in secrets {
            if let Some(sched) = s.get_mut("schedule") {
                resolve(sched, values);
            }
        }
    }
    props
}

fn err(path: &str, message: impl Into<String>, help: impl Into<String>) -> Diagnostic {
    Diagnostic::new(&Loc::Path(path.to_string()), message).help(help.into())
}

/// Expands every `Rotgen::Rotation` in a template. Problems in all of them are reported
/// together.
pub fn expand(template: &Value, opts: &ExpandOptions) -> Result<Value, Diagnostics> {
    let Some(root) = template.as_object() else {
        return Err(Diagnostics(vec![err(
            "(template)",
            "the template is not an object",
            "a template is a map with Resources",
        )]));
    };
    let Some(resources) = root.get("Resources").and_then(Value::as_object) else {
        return Err(Diagnostics(vec![err(
            "Resources",
            "the template has no Resources map",
            "Transform: Rotgen goes in a template with a Resources section holding Rotgen::Rotation resources",
        )]));
    };
    let rotations: Vec<&String> = resources
        .iter()
        .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some(RESOURCE_TYPE))
        .map(|(id, _)| id)
        .collect();
    let mut out = root.clone();
    // ARN-valued functions, with the values this deploy (or, offline, the template) gives
    // them: a wildcard must not reach an IAM policy by a mapping or a parameter either.
    let wildcards = arns::check(root, &rotations, &opts.parameter_values);
    let mut errors: Vec<Diagnostic> = Vec::new();
    let mut new_resources: Map<String, Value> = Map::new();
    let mut new_outputs: Map<String, Value> = Map::new();
    let mut new_parameters: Map<String, Value> = Map::new();
    // What each expanded resource leaves for `DependsOn: ThatResource` elsewhere.
    let mut stand_ins: Vec<(String, Vec<String>)> = Vec::new();

    // Each rotation compiles on its own, so they compile on every core; the results are
    // merged in the template's order.
    let compiled = crate::par::map(&rotations, |id| {
        expand_one(
            id,
            &resources[id.as_str()],
            &format!("Resources.{id}"),
            opts,
        )
    });
    for (id, result) in rotations.iter().zip(compiled) {
        let path = format!("Resources.{id}");
        match result {
            Err(mut d) => errors.append(&mut d),
            Ok(generated) => {
                let mut schedules = Vec::new();
                for (rid, r) in generated.resources {
                    if resources.contains_key(&rid) || new_resources.contains_key(&rid) {
                        errors.push(err(
                            &path,
                            format!("{id} would create the resource {rid}, but the template already has one"),
                            format!("rename {id} or the other {rid}: rotgen names what it creates after the Rotgen::Rotation's logical ID"),
                        ));
                        continue;
                    }
                    if r["Type"] == "AWS::SecretsManager::RotationSchedule" {
                        schedules.push(rid.clone());
                    }
                    new_resources.insert(rid, r);
                }
                stand_ins.push(((*id).clone(), schedules));
                let outputs = root.get("Outputs").and_then(Value::as_object);
                for (oid, o) in generated.outputs {
                    if outputs.is_some_and(|m| m.contains_key(&oid))
                        || new_outputs.contains_key(&oid)
                    {
                        errors.push(err(
                            &path,
                            format!("{id} would create the output {oid}, but the template already has one"),
                            format!("rename {id} or the output {oid}"),
                        ));
                        continue;
                    }
                    new_outputs.insert(oid, o);
                }
                let params = root.get("Parameters").and_then(Value::as_object);
                for (pid, p) in generated.parameters {
                    if params.is_some_and(|m| m.contains_key(&pid)) {
                        errors.push(err(
                            &path,
                            format!("{id} needs the parameter {pid}, but the template already has one"),
                            "give function.code in the rotation's properties, or rename the parameter",
                        ));
                        continue;
                    }
                    new_parameters.insert(pid, p);
                }
            }
        }
    }
    // A property the decoder or the model refused (a field the secret must not have, a
    // value of the wrong type) has that one problem: what its value could be is moot.
    let refused: std::collections::HashSet<&str> = errors
        .iter()
        .filter_map(|d| match &d.loc {
            Loc::Path(p) | Loc::Key(p) => Some(p.as_str()),
            _ => None,
        })
        .collect();
    let wildcards: Vec<Diagnostic> = wildcards
        .into_iter()
        .filter(|d| !matches!(&d.loc, Loc::Path(p) if refused.contains(p.as_str())))
        .collect();
    errors.extend(wildcards);
    if !errors.is_empty() {
        return Err(Diagnostics(errors).sorted());
    }
    share_endpoints(&mut new_resources);

    // References to an expanded resource: DependsOn moves to its schedules; Ref, GetAtt and
    // ${...} have nothing to point at.
    let mut kept: Map<String, Value> = Map::new();
    for (rid, r) in resources {
        if rotations.contains(&rid) {
            continue;
        }
        let mut r = r.clone();
        if let Some(obj) = r.as_object_mut()
            && let Some(deps) = obj.get_mut("DependsOn")
        {
            *deps = rewrite_depends_on(deps, &stand_ins);
        }
        kept.insert(rid.clone(), r);
    }
    kept.extend(new_resources);
    out.insert("Resources".into(), Value::Object(kept));
    if !new_outputs.is_empty() {
        let mut outputs = root
            .get("Outputs")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        outputs.extend(new_outputs);
        out.insert("Outputs".into(), Value::Object(outputs));
    }
    if !new_parameters.is_empty() {
        let mut params = root
            .get("Parameters")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        params.extend(new_parameters);
        out.insert("Parameters".into(), Value::Object(params));
    }
    let expanded_ids: Vec<&str> = rotations.iter().map(|s| s.as_str()).collect();
    let expanded: std::collections::HashSet<&str> = expanded_ids.iter().copied().collect();
    let out_value = Value::Object(out);
    if mentions_any(&out_value, &expanded) {
        find_references(&out_value, &expanded_ids, "", &mut errors);
    }
    let Value::Object(mut out) = out_value else {
        unreachable!("built as an object above")
    };
    remove_own_transform(&mut out);

    let out = Value::Object(out);
    errors.extend(template_limits(&out, &rotations));
    let Value::Object(out) = out else {
        unreachable!("built as an object above")
    };
    if errors.is_empty() {
        Ok(Value::Object(out))
    } else {
        Err(Diagnostics(errors).sorted())
    }
}

/// CloudFormation's quotas on the expanded template (see `crate::limits`), each problem
/// at the `Rotgen::Rotation` whose generated ID or parameter it is, or at the template's
/// own section.
fn template_limits(out: &Value, rotations: &[&String]) -> Vec<Diagnostic> {
    let mut problems = crate::limits::check(out, "the expanded template");
    // What CloudFormation receives: the expanded template, as JSON.
    problems.extend(crate::limits::check_body_len(
        crate::limits::json_len(out),
        "the expanded template",
    ));
    // The rotation a generated name comes from: the longest logical ID it starts with.
    let owner = |name: &str| {
        rotations
            .iter()
            .filter(|r| name.starts_with(r.as_str()))
            .max_by_key(|r| r.len())
            .map(|r| format!("Resources.{r}"))
    };
    problems
        .into_iter()
        .map(|p| {
            let path = match &p.subject {
                crate::limits::Subject::Parameter(n)
                | crate::limits::Subject::ParameterDescription(n) => {
                    owner(n).unwrap_or_else(|| format!("Parameters.{n}"))
                }
                crate::limits::Subject::Resource(n) => {
                    owner(n).unwrap_or_else(|| format!("Resources.{n}"))
                }
                crate::limits::Subject::Output(n) => {
                    owner(n).unwrap_or_else(|| format!("Outputs.{n}"))
                }
                crate::limits::Subject::Mapping(n) => format!("Mappings.{n}"),
                crate::limits::Subject::Description => "Description".into(),
                crate::limits::Subject::Section(s) => (*s).into(),
                crate::limits::Subject::Template => "(template)".into(),
            };
            let help = match &p.subject {
                crate::limits::Subject::Section("Resources" | "Outputs") => {
                    "move some rotations to another stack, or use `rotgen build`, which splits large specs into nested stacks".to_string()
                }
                _ => p.help,
            };
            err(&path, p.message, help)
        })
        .collect()
}

/// Several rotations in one VPC would each make a Secrets Manager endpoint (and, with
/// masters RDS manages, an RDS endpoint): one of each serves them all. For each later
/// endpoint of a service in the same VPC (under the same Condition), every reference to
/// it (the functions' `SECRETS_MANAGER_ENDPOINT` or `ROTGEN_RDS_ENDPOINT`, the schedules'
/// `DependsOn`) moves to the first one of that service, and it is dropped. A rotation's
/// two endpoints share one security group, which goes with its Secrets Manager endpoint:
/// a dropped group's ingress rules move to the kept Secrets Manager endpoint's group, and
/// so does the first RDS endpoint of a VPC when an earlier rotation there had none (its
/// own Secrets Manager endpoint, and group, are then the dropped ones).
fn share_endpoints(resources: &mut Map<String, Value>) {
    let service_of = |r: &Value| -> Option<&'static str> {
        if r["Type"] != "AWS::EC2::VPCEndpoint" {
            return None;
        }
        ["secretsmanager", "rds"].into_iter().find(|s| {
            r["Properties"]["ServiceName"]
                == serde_json::json!({"Fn::Sub": format!("com.amazonaws.${{AWS::Region}}.{s}")})
        })
    };
    let group_of = |r: &Value| {
        r["Properties"]["SecurityGroupIds"][0]["Fn::GetAtt"][0]
            .as_str()
            .map(str::to_string)
    };
    // (service, vpc, condition) -> the first endpoint's id and group.
    let mut first: Vec<(&str, Value, Value, String, String)> = Vec::new();
    // (duplicate, its group, kept, kept's group, whether the group goes too)
    let mut moves: Vec<(String, String, String, String, bool)> = Vec::new();
    for (id, r) in resources.iter() {
        let Some(service) = service_of(r) else {
            continue;
        };
        let Some(sg) = group_of(r) else { continue };
        let vpc = r["Properties"]["VpcId"].clone();
        let cond = r.get("Condition").cloned().unwrap_or(Value::Null);
        match first
            .iter()
            .find(|(s, v, c, _, _)| *s == service && *v == vpc && *c == cond)
        {
            Some((_, _, _, kept, kept_sg)) => moves.push((
                id.clone(),
                sg,
                kept.clone(),
                kept_sg.clone(),
                service == "secretsmanager",
            )),
            None => first.push((service, vpc, cond, id.clone(), sg)),
        }
    }
    // The endpoints' group admits the functions through separate ingress resources, and
    // the functions' groups name it in their egress: pointing them at the kept group
    // admits every function there.
    for (dup, dup_sg, kept, kept_sg, with_group) in moves {
        resources.remove(&dup);
        if with_group {
            resources.remove(&dup_sg);
        }
        for r in resources.values_mut() {
            rename_resource(r, &dup, &kept);
            if with_group {
                rename_resource(r, &dup_sg, &kept_sg);
            }
        }
    }
}

/// Makes every `Ref`, `Fn::GetAtt` and `DependsOn` naming `from` name `to`.
fn rename_resource(v: &mut Value, from: &str, to: &str) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                match (k.as_str(), &mut *x) {
                    ("Ref", Value::String(s)) if s == from => *s = to.to_string(),
                    ("Fn::GetAtt", Value::Array(a)) if a.first().is_some_and(|f| f == from) => {
                        a[0] = Value::String(to.to_string());
                    }
                    ("DependsOn", Value::String(s)) if s == from => *s = to.to_string(),
                    ("DependsOn", Value::Array(a)) => {
                        for d in a.iter_mut() {
                            if d == from {
                                *d = Value::String(to.to_string());
                            }
                        }
                        let mut seen = Vec::new();
                        a.retain(|d| {
                            let fresh = !seen.contains(d);
                            seen.push(d.clone());
                            fresh
                        });
                    }
                    _ => rename_resource(x, from, to),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| rename_resource(x, from, to)),
        _ => {}
    }
}

struct Generated {
    resources: Map<String, Value>,
    outputs: Map<String, Value>,
    parameters: Map<String, Value>,
}

fn expand_one(
    id: &str,
    resource: &Value,
    path: &str,
    opts: &ExpandOptions,
) -> Result<Generated, Vec<Diagnostic>> {
    let Some(obj) = resource.as_object() else {
        return Err(vec![err(
            path,
            "the resource is not an object",
            "write Type and Properties",
        )]);
    };
    let mut errors = Vec::new();
    for key in obj.keys() {
        if !ATTRIBUTES.contains(&key.as_str()) {
            errors.push(
                Diagnostic::new(
                    &Loc::Key(format!("{path}.{key}")),
                    format!("a Rotgen::Rotation does not take {key}"),
                )
                .help(format!("it takes {}", ATTRIBUTES.join(", "))),
            );
        }
    }
    let Some(props) = obj.get("Properties") else {
        errors.push(err(path, "the Rotgen::Rotation has no Properties", "give the spec in Properties: secret: [...], and optionally vpc, schedule, function, password"));
        return Err(errors);
    };
    let props = with_schedule_values(props, &opts.parameter_values);
    let decoded = crate::spec::decode(&node::from_json(&props, &format!("{path}.Properties")));
    let options = Options {
        naming: Naming::macro_resource(id),
        allow_nested: false,
        default_sam: false,
        default_code: opts.code.clone(),
        default_code_architecture: opts.code_architecture.clone(),
        forbid_sam: true,
        stack: opts.stack.clone(),
        ..Options::default()
    };
    let compiled = match crate::compile_decoded(&decoded, &options, &|label| label.to_string()) {
        Ok(c) => c,
        Err(crate::Error::Invalid(d)) => {
            // A limit of the whole spec is the resource's.
            errors.extend(d.0.into_iter().map(|mut p| {
                if p.loc == Loc::Whole {
                    p.loc = Loc::Path(path.to_string());
                }
                p
            }));
            return Err(errors);
        }
        Err(other) => {
            errors.push(err(
                path,
                other.to_string(),
                "this is a bug in rotgen; please report it with the template",
            ));
            return Err(errors);
        }
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    // The compiled template's sections, taken (not copied) out of it.
    let mut main = compiled.main;
    let mut section = |name: &str| match main.get_mut(name) {
        Some(Value::Object(m)) => std::mem::take(m),
        _ => Map::new(),
    };
    let mut resources = section("Resources");
    let mut outputs = section("Outputs");
    let parameters = section("Parameters");
    // The Rotgen resource's Condition and DependsOn hold for everything it becomes.
    if let Some(condition) = obj.get("Condition") {
        for r in resources.values_mut().chain(outputs.values_mut()) {
            if let Some(o) = r.as_object_mut() {
                o.insert("Condition".into(), condition.clone());
            }
        }
    }
    if let Some(deps) = obj.get("DependsOn") {
        let extra: Vec<Value> = match deps {
            Value::Array(a) => a.clone(),
            other => vec![other.clone()],
        };
        for r in resources.values_mut() {
            if let Some(o) = r.as_object_mut() {
                let mut list: Vec<Value> = match o.remove("DependsOn") {
                    Some(Value::Array(a)) => a,
                    Some(other) => vec![other],
                    None => Vec::new(),
                };
                // A dependency the resource already has through Ref/GetAtt/Sub is implied
                // (and cfn-lint warns about stating it twice).
                let referenced = referenced_ids(&Value::Object(o.clone()));
                for d in &extra {
                    let implied = d
                        .as_str()
                        .is_some_and(|id| referenced.iter().any(|r| r == id));
                    if !list.contains(d) && !implied {
                        list.push(d.clone());
                    }
                }
                if !list.is_empty() {
                    o.insert("DependsOn".into(), Value::Array(list));
                }
            }
        }
    }
    Ok(Generated {
        resources,
        outputs,
        parameters,
    })
}

/// Logical IDs a value refers to with `Ref`, `Fn::GetAtt` or `${...}` in `Fn::Sub`.
fn referenced_ids(v: &Value) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if m.len() == 1 {
                    let (k, arg) = m.iter().next().expect("one entry");
                    match (k.as_str(), arg) {
                        ("Ref", Value::String(s)) => out.push(s.clone()),
                        ("Fn::GetAtt", Value::Array(a)) => {
                            if let Some(s) = a.first().and_then(Value::as_str) {
                                out.push(s.to_string());
                            }
                        }
                        ("Fn::GetAtt", Value::String(s)) => {
                            out.push(s.split('.').next().unwrap_or_default().to_string());
                        }
                        ("Fn::Sub", sub) => {
                            let text = match sub {
                                Value::String(s) => Some(s.as_str()),
                                Value::Array(a) => a.first().and_then(Value::as_str),
                                _ => None,
                            };
                            for part in text.unwrap_or_default().split("${").skip(1) {
                                if let Some(name) = part.split('}').next() {
                                    out.push(
                                        name.split('.').next().unwrap_or_default().to_string(),
                                    );
                                }
                            }
                        }
                        _ => {}
                    }
                }
                for child in m.values() {
                    walk(child, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|c| walk(c, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, &mut out);
    out
}

fn rewrite_depends_on(deps: &Value, stand_ins: &[(String, Vec<String>)]) -> Value {
    let list: Vec<Value> = match deps {
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    };
    let mut out: Vec<Value> = Vec::new();
    for d in list {
        match stand_ins
            .iter()
            .find(|(id, _)| Some(id.as_str()) == d.as_str())
        {
            Some((_, schedules)) => {
                for s in schedules {
                    let v = Value::String(s.clone());
                    if !out.contains(&v) {
                        out.push(v);
                    }
                }
            }
            None => {
                if !out.contains(&d) {
                    out.push(d);
                }
            }
        }
    }
    if out.len() == 1 {
        out.pop().unwrap_or(Value::Null)
    } else {
        Value::Array(out)
    }
}

/// Whether `v` refers to any of `ids` by `Ref`, `Fn::GetAtt` or `${...}`: a quick look that
/// allocates nothing, before [`find_references`] walks again to say where.
fn mentions_any(v: &Value, ids: &std::collections::HashSet<&str>) -> bool {
    match v {
        Value::Object(m) => {
            if m.len() == 1 {
                let (k, arg) = m.iter().next().expect("one entry");
                let hit = match (k.as_str(), arg) {
                    ("Ref", Value::String(s)) => ids.contains(s.as_str()),
                    ("Fn::GetAtt", Value::Array(a)) => a
                        .first()
                        .and_then(Value::as_str)
                        .is_some_and(|t| ids.contains(t)),
                    ("Fn::GetAtt", Value::String(s)) => {
                        ids.contains(s.split('.').next().unwrap_or_default())
                    }
                    ("Fn::Sub", sub) => {
                        let text = match sub {
                            Value::String(s) => s.as_str(),
                            Value::Array(a) => {
                                a.first().and_then(Value::as_str).unwrap_or_default()
                            }
                            _ => "",
                        };
                        text.split("${").skip(1).any(|part| {
                            let name = part.split('}').next().unwrap_or_default();
                            ids.contains(name.split('.').next().unwrap_or_default())
                        })
                    }
                    _ => false,
                };
                if hit {
                    return true;
                }
            }
            m.values().any(|child| mentions_any(child, ids))
        }
        Value::Array(a) => a.iter().any(|child| mentions_any(child, ids)),
        _ => false,
    }
}

/// Reports `Ref`, `Fn::GetAtt` and `${...}` references to expanded resources: after the
/// expansion they name nothing.
fn find_references(v: &Value, ids: &[&str], path: &str, errors: &mut Vec<Diagnostic>) {
    let here = |p: &str| {
        if p.is_empty() {
            "(template)".to_string()
        } else {
            p.to_string()
        }
    };
    match v {
        Value::Object(m) => {
            if m.len() == 1 {
                let (k, arg) = m.iter().next().expect("one entry");
                let target = match (k.as_str(), arg) {
                    ("Ref", Value::String(s)) => Some(s.as_str()),
                    ("Fn::GetAtt", Value::Array(a)) => a.first().and_then(Value::as_str),
                    ("Fn::GetAtt", Value::String(s)) => s.split('.').next(),
                    _ => None,
                };
                if let Some(t) = target.filter(|t| ids.contains(t)) {
                    errors.push(err(
                        &here(path),
                        format!("{k} {t}: {t} is a Rotgen::Rotation, which the macro replaces with the resources it generates"),
                        format!("refer to those instead, e.g. !GetAtt {t}<Service>Function.Arn (see the expanded template with `rotgen expand`)"),
                    ));
                }
                if let ("Fn::Sub", sub) = (k.as_str(), arg) {
                    let text = match sub {
                        Value::String(s) => Some(s.as_str()),
                        Value::Array(a) => a.first().and_then(Value::as_str),
                        _ => None,
                    };
                    for t in ids {
                        if text.is_some_and(|s| {
                            s.contains(&format!("${{{t}}}")) || s.contains(&format!("${{{t}."))
                        }) {
                            errors.push(err(
                                &here(path),
                                format!(
                                    "Fn::Sub refers to {t}, a Rotgen::Rotation the macro replaces"
                                ),
                                "refer to a generated resource instead (see `rotgen expand`)",
                            ));
                        }
                    }
                }
            }
            for (k, child) in m {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                find_references(child, ids, &p, errors);
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                find_references(child, ids, &format!("{path}[{i}]"), errors);
            }
        }
        _ => {}
    }
}

/// `rotgen expand` reads templates that still list the transform: drop `Rotgen` from it.
fn remove_own_transform(t: &mut Map<String, Value>) {
    let Some(transform) = t.get("Transform").cloned() else {
        return;
    };
    let keep: Vec<Value> = match transform {
        Value::String(s) if s == MACRO_NAME => Vec::new(),
        Value::Array(a) => a
            .into_iter()
            .filter(|x| x.as_str() != Some(MACRO_NAME))
            .collect(),
        other => vec![other],
    };
    match keep.len() {
        0 => {
            t.remove("Transform");
        }
        1 => {
            t.insert(
                "Transform".into(),
                keep.into_iter().next().unwrap_or(Value::Null),
            );
        }
        _ => {
            t.insert("Transform".into(), Value::Array(keep));
        }
    }
}

/// What CloudFormation would do with a whole template's transforms, checked before an
/// offline expansion (the macro's Lambda never sees the `Transform` section): the
/// template must name Rotgen at template level, not through `Fn::Transform` (the snippet
/// form the Lambda refuses), and not after the SAM transform (which would run first and
/// refuse the unknown Rotgen::Rotation type).
pub fn check_transforms(template: &Value) -> Result<(), Diagnostics> {
    /// The path of the first `Fn::Transform` of Rotgen.
    fn snippet(v: &Value, path: &str) -> Option<String> {
        let at = |key: &str| {
            if path.is_empty() {
                key.to_string()
            } else {
                format!("{path}.{key}")
            }
        };
        match v {
            Value::Object(m) => {
                if m.get("Fn::Transform")
                    .is_some_and(|t| t["Name"] == MACRO_NAME)
                {
                    return Some(at("Fn::Transform"));
                }
                m.iter().find_map(|(k, v)| snippet(v, &at(k)))
            }
            Value::Array(a) => a
                .iter()
                .enumerate()
                .find_map(|(i, v)| snippet(v, &format!("{path}[{i}]"))),
            _ => None,
        }
    }
    if let Some(path) = snippet(template, "") {
        return Err(Diagnostics(vec![err(
            &path,
            "Rotgen works at template level only; the snippet form Fn::Transform cannot add the outputs and parameters a rotation needs",
            "write Transform: [Rotgen] at the top of the template",
        )]));
    }
    let list: Vec<&str> = match template.get("Transform") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let Some(at) = list.iter().position(|t| *t == MACRO_NAME) else {
        return Err(Diagnostics(vec![err(
            "Transform",
            "the template does not name the Rotgen transform, so CloudFormation would not expand it",
            "add Transform: [Rotgen] at the top of the template",
        )]));
    };
    if list[..at].contains(&"AWS::Serverless-2016-10-31") {
        return Err(Diagnostics(vec![err(
            "Transform",
            "the SAM transform comes before Rotgen: CloudFormation runs transforms in order, and SAM refuses the Rotgen::Rotation resources it does not know",
            "write Transform: [Rotgen, AWS::Serverless-2016-10-31]",
        )]));
    }
    Ok(())
}

/// Places each problem of an expansion (a template path) in the template's text, for
/// `rotgen expand`: the value's line and column, or for a problem of a key, the key's. A
/// path the text does not hold (a value the expansion made) stays a path. One pass over
/// the text places them all. Also gives the text to show around them: the template with
/// every value whose key names a secret (`Password`, `SecretString`…) starred out, byte
/// for byte, so no snippet echoes one.
pub fn in_text(diags: Diagnostics, text: &str) -> (Diagnostics, String) {
    fn path_of(loc: &Loc) -> Option<&str> {
        match loc {
            Loc::Path(p) | Loc::Key(p) if p == "(template)" => Some(""),
            Loc::Path(p) | Loc::Key(p) => Some(p),
            _ => None,
        }
    }
    let mut paths: Vec<&str> = diags
        .0
        .iter()
        .flat_map(|d| [Some(&d.loc), d.related.as_ref().map(|(l, _)| l)])
        .flatten()
        .filter_map(path_of)
        .collect();
    paths.sort_unstable();
    paths.dedup();
    let located = crate::yaml::locate(text, &paths);
    let places = &located.places;
    let place = |loc: &Loc| -> Loc {
        let Some(found) = path_of(loc).and_then(|p| places.get(p)) else {
            return loc.clone();
        };
        match loc {
            Loc::Key(_) => Loc::Span(found.key.clone().unwrap_or(found.value.clone())),
            _ => Loc::Span(found.value.clone()),
        }
    };
    let placed = diags
        .0
        .iter()
        .map(|d| Diagnostic {
            loc: place(&d.loc),
            related: d.related.as_ref().map(|(l, w)| (place(l), w.clone())),
            ..d.clone()
        })
        .collect();
    let mut secrets = located.secrets.clone();
    secrets.sort_unstable_by_key(|r| (r.start, std::cmp::Reverse(r.end)));
    let mut shown = String::with_capacity(text.len());
    let mut at = 0;
    for r in &secrets {
        if r.start < at || r.end > text.len() || !text.is_char_boundary(r.start) {
            continue;
        }
        shown.push_str(&text[at..r.start]);
        for c in text[r.start..].chars() {
            if shown.len() >= r.end {
                break;
            }
            match c {
                '\n' | '\r' => shown.push(c),
                _ => shown.extend(std::iter::repeat_n('*', c.len_utf8())),
            }
        }
        at = shown.len();
    }
    shown.push_str(&text[at.min(text.len())..]);
    (Diagnostics(placed).sorted(), shown)
}

/// Answers a macro request (section 5 of the contract): `requestId` echoed, and either
/// `status: success` with the expanded fragment or `status: failure` with a message that
/// names the resource and the field. Never panics, whatever the input.
pub fn handle_request(request: &Value, opts: &ExpandOptions) -> Value {
    let request_id = request
        .get("requestId")
        .cloned()
        .unwrap_or_else(|| json!(""));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| respond(request, opts)));
    let result = match outcome {
        Ok(r) => r,
        Err(_) => Err(
            "rotgen failed unexpectedly while expanding this template (a bug: please report it)"
                .to_string(),
        ),
    };
    match result {
        Ok(fragment) => json!({"requestId": request_id, "status": "success", "fragment": fragment}),
        Err(message) => {
            json!({"requestId": request_id, "status": "failure", "errorMessage": message})
        }
    }
}

fn respond(request: &Value, opts: &ExpandOptions) -> Result<Value, String> {
    let Some(fragment) = request.get("fragment") else {
        return Err("the macro request has no fragment".into());
    };
    let params = request.get("params").and_then(Value::as_object);
    if params.is_some_and(|p| !p.is_empty())
        || (fragment.is_object() && fragment.get("Resources").is_none())
    {
        return Err(
            "Rotgen works at template level only: write `Transform: [Rotgen]` (or `Transform: [Rotgen, AWS::Serverless-2016-10-31]`) and Rotgen::Rotation resources; the snippet form Fn::Transform cannot add the outputs and parameters a rotation needs".into(),
        );
    }
    let mut opts = opts.clone();
    if let Some(values) = request
        .get("templateParameterValues")
        .and_then(Value::as_object)
    {
        opts.parameter_values = values.clone();
    }
    if let (Some(region), Some(account)) = (
        request.get("region").and_then(Value::as_str),
        request.get("accountId").and_then(Value::as_str),
    ) {
        opts.stack = Some(crate::model::StackPlace {
            region: region.to_string(),
            account: account.to_string(),
        });
    }
    let expanded = expand(fragment, &opts).map_err(|d| {
        let mut text = d.to_string();
        // errorMessage is shown in the console; keep it readable.
        if text.len() > 4000 {
            // At a character boundary: a message may hold any character of the template.
            let mut end = 4000;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            text.push_str(" …");
        }
        text
    })?;
    Ok(expanded)
}
