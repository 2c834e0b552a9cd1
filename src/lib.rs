//! rotgen: AWS Secrets Manager rotation, generated.
//!
//! One compiler, shared by `rotgen build` (TOML in) and the CloudFormation macro
//! (template fragment in): **spec** → **model** → **render** → **output**.
//! See ARCHITECTURE.md for the map.

pub mod backends;
pub mod cfn_macro;
pub mod cli;
pub mod diag;
pub mod function;
pub mod fuzz;
pub mod import;
pub mod limits;
pub mod model;
pub mod output;
pub mod package;
mod par;
pub mod render;
pub mod rotation;
pub mod sdk;
pub mod shell;
pub mod spec;
pub mod status;
pub mod yaml;

use diag::Diagnostics;
use model::{Model, Options};
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the spec is invalid")]
    Invalid(Diagnostics),
    #[error(transparent)]
    Render(#[from] render::RenderError),
}

impl From<Diagnostics> for Error {
    fn from(d: Diagnostics) -> Self {
        Error::Invalid(d)
    }
}

/// What one compilation produces: the main template and, for specs too big for one
/// stack, the nested templates it refers to (file name relative to the main one).
#[derive(Debug, Clone, PartialEq)]
pub struct Compiled {
    pub main: Value,
    pub nested: Vec<(String, Value)>,
    /// Probable mistakes the build went on with.
    pub warnings: Vec<diag::Diagnostic>,
    /// What deploying the templates takes.
    pub deploy: Deploy,
}

/// What deploying a build takes: the capabilities CloudFormation must be granted and how
/// the code reaches it (what `rotgen build -o` prints as the next command).
#[derive(Debug, Clone, PartialEq)]
pub struct Deploy {
    pub sam: bool,
    pub nested: bool,
    /// Named IAM resources (`function.role_name`): CAPABILITY_NAMED_IAM.
    pub named_iam: bool,
    /// The code location: template parameters (`CodeBucket`, `CodeKey`), a local path
    /// to upload, or a fixed S3 object.
    pub code: &'static str,
    pub stack_name: Option<String>,
    /// The Region the spec's ARNs name: the deploy command targets it.
    pub region: Option<String>,
    /// The spec's template parameters without a default: a deploy must give each.
    pub required_parameters: Vec<String>,
    /// Those of them whose value is a list (a CommaDelimitedList or `List<…>`): the AWS
    /// CLI's `--parameters` shorthand needs their commas escaped.
    pub list_parameters: Vec<String>,
    /// For a StackSet with service-managed permissions: `build -o` prints
    /// `create-stack-set` and `create-stack-instances` instead of a deploy.
    pub stackset: bool,
    /// A StackSet's nested templates: each file (as in [`Compiled::nested`]) and the S3
    /// key its stack resource reads it from, in every Region's code bucket.
    pub nested_keys: Vec<(String, String)>,
}

impl Deploy {
    /// The `--capabilities` a deploy of these templates needs.
    pub fn capabilities(&self) -> Vec<&'static str> {
        let mut c = vec![if self.named_iam {
            "CAPABILITY_NAMED_IAM"
        } else {
            "CAPABILITY_IAM"
        }];
        if self.sam || self.nested {
            c.push("CAPABILITY_AUTO_EXPAND");
        }
        c
    }
}

/// Compiles a decoded spec. `nested_file` names the file of a nested template from its
/// group's label (e.g. `postgres` → `template.postgres.yaml`).
pub fn compile(
    spec: &spec::Spec,
    opts: &Options,
    nested_file: &dyn Fn(&str) -> String,
) -> Result<Compiled, Error> {
    let mut model: Model = model::resolve(spec, opts)?;
    for g in &mut model.groups {
        g.template_file = nested_file(&g.template_file);
    }
    let (mut main, mut nested) = render_all(&model)?;
    if !model.parameters.is_empty() {
        pass_parameters(&model, &mut main, &mut nested);
    }
    if spec.stack.exports.as_ref().is_some_and(|e| e.v) {
        export_outputs(&mut main);
    }
    let nested_keys = if model.stackset {
        nested_template_urls(&model, &mut main, &nested)
    } else {
        Vec::new()
    };
    check_limits(spec, &main, &nested)?;
    let deploy = Deploy {
        sam: model.sam,
        nested: model.nested,
        named_iam: model.function.named,
        code: match model.code {
            model::Code::Params { .. } => "params",
            model::Code::Local { .. } => "local",
            model::Code::S3 { .. } => "s3",
        },
        stack_name: spec.stack.name.as_ref().map(|n| n.v.clone()),
        region: model.region.clone(),
        required_parameters: model
            .parameters
            .iter()
            .filter(|p| p.default.is_none())
            .map(|p| p.name.clone())
            .collect(),
        list_parameters: model
            .parameters
            .iter()
            .filter(|p| p.default.is_none() && p.takes_items())
            .map(|p| p.name.clone())
            .collect(),
        stackset: model.stackset,
        nested_keys,
    };
    let warnings = std::mem::take(&mut model.warnings);
    if opts.keep_until_exit {
        std::mem::forget(model);
    }
    Ok(Compiled {
        main,
        nested,
        warnings,
        deploy,
    })
}

/// CloudFormation's quotas on the rendered templates (see `limits`), each problem placed
/// at what in the spec it comes from.
fn check_limits(spec: &spec::Spec, main: &Value, nested: &[(String, Value)]) -> Result<(), Error> {
    let mut problems = limits::check(main, "the template");
    for (file, t) in nested {
        problems.extend(limits::check(t, &format!("the nested template {file}")));
    }
    problems.extend(limits::check_operation(
        std::iter::once(main).chain(nested.iter().map(|(_, t)| t)),
    ));
    if problems.is_empty() {
        return Ok(());
    }
    let whole = || spec.secrets_loc.clone().unwrap_or(diag::Loc::Whole);
    // The secret whose id a generated ID is made from (the longest such id).
    let secret_of = |id: &str| {
        spec.secrets
            .iter()
            .filter_map(|s| s.id.as_ref())
            .filter(|sid| id.contains(sid.v.as_str()))
            .max_by_key(|sid| sid.v.len())
            .map_or_else(whole, |sid| sid.loc.clone())
    };
    let param = |name: &str| spec.parameters.iter().find(|p| p.name.v == name);
    let diags = problems
        .into_iter()
        .map(|p| {
            let loc = match &p.subject {
                limits::Subject::Parameter(n) => {
                    param(n).map_or_else(whole, |sp| sp.name.loc.clone())
                }
                limits::Subject::ParameterDescription(n) => param(n).map_or_else(whole, |sp| {
                    sp.description
                        .as_ref()
                        .map_or_else(|| sp.name.loc.clone(), |d| d.loc.clone())
                }),
                limits::Subject::Resource(id)
                | limits::Subject::Output(id)
                | limits::Subject::Mapping(id) => secret_of(id),
                limits::Subject::Description => spec
                    .stack
                    .description
                    .as_ref()
                    .map_or(diag::Loc::Whole, |d| d.loc.clone()),
                // The first spec parameter past the quota, when the spec's own
                // parameters take it there.
                limits::Subject::Section("Parameters") => spec
                    .parameters
                    .get(
                        limits::MAX_PARAMETERS.saturating_sub(
                            main.get("Parameters")
                                .and_then(Value::as_object)
                                .map_or(0, serde_json::Map::len)
                                .saturating_sub(spec.parameters.len()),
                        ),
                    )
                    .map_or_else(whole, |p| p.name.loc.clone()),
                limits::Subject::Section(_) | limits::Subject::Template => whole(),
            };
            diag::Diagnostic::new(&loc, p.message).help(p.help)
        })
        .collect();
    Err(Error::Invalid(Diagnostics(diags).sorted()))
}

/// The spec's parameters that a nested template uses: declared there (as text, a list as
/// CommaDelimitedList), and passed on by its stack resource in the main template.
fn pass_parameters(model: &Model, main: &mut Value, nested: &mut [(String, Value)]) {
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("Ref")
                    && m.len() == 1
                    && !out.contains(r)
                {
                    out.push(r.clone());
                }
                m.values().for_each(|x| refs(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    for (g, (_, template)) in model.groups.iter().zip(nested.iter_mut()) {
        let mut used = Vec::new();
        refs(&template["Resources"], &mut used);
        let params: Vec<&model::ParamModel> = model
            .parameters
            .iter()
            .filter(|p| used.contains(&p.name))
            .collect();
        if params.is_empty() {
            continue;
        }
        let declared = template
            .as_object_mut()
            .expect("a template is an object")
            .entry("Parameters")
            .or_insert_with(|| Value::Object(Default::default()));
        for p in &params {
            declared[p.name.as_str()] = serde_json::json!({
                "Type": p.nested_type(),
                "Description": format!("The parent stack's parameter {}", p.name),
            });
        }
        let passed = main["Resources"][g.stack_id.as_str()]["Properties"]
            .as_object_mut()
            .expect("a nested stack has Properties")
            .entry("Parameters")
            .or_insert_with(|| Value::Object(Default::default()));
        for p in params {
            let value = if p.is_list() {
                serde_json::json!({"Fn::Join": [",", {"Ref": p.name}]})
            } else {
                serde_json::json!({"Ref": p.name})
            };
            passed[p.name.as_str()] = value;
        }
    }
}

/// A StackSet's nested stacks read their templates from the bucket of their own Region,
/// the one that holds the function's zip (`CodeBucket-${AWS::Region}`): the stack
/// instances of every account and Region find them there, where a local file name
/// (which `aws cloudformation package` uploads to one bucket) would not. Each key is
/// the file's name with an id of its content, so a changed nested template is a new
/// URL and every stack instance updates it. Returns each file with its key.
fn nested_template_urls(
    model: &Model,
    main: &mut Value,
    nested: &[(String, Value)],
) -> Vec<(String, String)> {
    let model::Code::Params { bucket_param, .. } = &model.code else {
        return Vec::new();
    };
    model
        .groups
        .iter()
        .zip(nested)
        .map(|(g, (file, template))| {
            let text = serde_json::to_vec(template).expect("a template serializes");
            let (stem, ext) = file.rsplit_once('.').unwrap_or((file.as_str(), "yaml"));
            let key = format!("{stem}-{}.{ext}", package::content_id(&text));
            main["Resources"][g.stack_id.as_str()]["Properties"]["TemplateURL"] = serde_json::json!({
                "Fn::Sub": format!("https://${{{bucket_param}}}-${{AWS::Region}}.s3.${{AWS::Region}}.${{AWS::URLSuffix}}/{key}")
            });
            (file.clone(), key)
        })
        .collect()
}

/// Every output of the main template exported as `STACK_NAME-OUTPUT`.
fn export_outputs(main: &mut Value) {
    if let Some(outputs) = main.get_mut("Outputs").and_then(Value::as_object_mut) {
        for (id, output) in outputs.iter_mut() {
            output["Export"] =
                serde_json::json!({"Name": {"Fn::Sub": format!("${{AWS::StackName}}-{id}")}});
        }
    }
}

/// The main template and the nested ones, rendered on every core (each is independent).
fn render_all(model: &Model) -> Result<(Value, Vec<(String, Value)>), Error> {
    let mut jobs: Vec<Option<&model::Group>> = vec![None];
    if model.nested {
        jobs.extend(model.groups.iter().map(Some));
    }
    let mut rendered = par::map(&jobs, |job| match job {
        None => render::main_template(model),
        Some(g) => render::nested_template(model, g),
    })
    .into_iter();
    let main = rendered.next().expect("the main template's job")?;
    let nested = model
        .groups
        .iter()
        .zip(rendered)
        .map(|(g, v)| Ok((g.template_file.clone(), v?)))
        .collect::<Result<_, Error>>()?;
    Ok((main, nested))
}

/// Compiles a spec decoded with problems or not: every problem of the decoder and of the
/// model is reported together, except model problems inside a value the decoder already
/// rejected (they are consequences of it).
pub fn compile_decoded(
    decoded: &spec::Decoded,
    opts: &Options,
    nested_file: &dyn Fn(&str) -> String,
) -> Result<Compiled, Error> {
    if decoded.errors.is_empty() {
        return compile(&decoded.spec, opts, nested_file);
    }
    let mut all = decoded.errors.clone();
    if let Err(model) = model::resolve(&decoded.spec, opts) {
        let decoder = diag::Coverage::new(&decoded.errors);
        all.extend(model.0.into_iter().filter(|m| !decoder.within(&m.loc)));
    }
    Err(Error::Invalid(Diagnostics(all).sorted()))
}

/// Compiles TOML spec text (the `rotgen build` path, without the filesystem).
pub fn compile_toml(text: &str, nested_file: &dyn Fn(&str) -> String) -> Result<Compiled, Error> {
    compile_toml_with(text, &Options::default(), nested_file)
}

/// [`compile_toml`] with options (`build --package` sets the code).
pub fn compile_toml_with(
    text: &str,
    opts: &Options,
    nested_file: &dyn Fn(&str) -> String,
) -> Result<Compiled, Error> {
    let decoded = spec::decode_toml(text)?;
    let compiled = compile_decoded(&decoded, opts, nested_file);
    if opts.keep_until_exit {
        std::mem::forget(decoded);
    }
    compiled
}
