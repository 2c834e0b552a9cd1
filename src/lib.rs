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
pub mod model;
pub mod output;
mod par;
pub mod render;
pub mod rotation;
pub mod spec;
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
    let main = render::main_template(&model)?;
    let nested = if model.nested {
        render_nested(&model)?
    } else {
        Vec::new()
    };
    Ok(Compiled {
        main,
        nested,
        warnings: std::mem::take(&mut model.warnings),
    })
}

/// The nested templates, rendered on every core (each is independent).
fn render_nested(model: &Model) -> Result<Vec<(String, Value)>, Error> {
    par::map(&model.groups, |g| {
        Ok((g.template_file.clone(), render::nested_template(model, g)?))
    })
    .into_iter()
    .collect()
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
    let decoded = spec::decode_toml(text)?;
    compile_decoded(&decoded, &Options::default(), nested_file)
}
