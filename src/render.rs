//! **render**: lays the model out as CloudFormation with the templates in `templates/`.
//!
//! The templates are embedded in the binary, rendered with strict undefined (a typo in a
//! template is an error, never an empty string) and JSON auto-escaping (every value prints
//! as a JSON literal, which is valid YAML). The rendered text is parsed back into a
//! [`serde_json::Value`], so a template that yields broken YAML fails loudly here.

use crate::model::{Group, Model};
use crate::yaml;
use minijinja::{Environment, UndefinedBehavior, context};
use serde_json::{Value, json};
use std::sync::OnceLock;

const TEMPLATES: &[(&str, &str)] = &[
    ("stack.yaml", include_str!("../templates/stack.yaml")),
    ("nested.yaml", include_str!("../templates/nested.yaml")),
    ("group.yaml", include_str!("../templates/group.yaml")),
    ("vpc.yaml", include_str!("../templates/vpc.yaml")),
    ("outputs.yaml", include_str!("../templates/outputs.yaml")),
    (
        "macro-stack.yaml",
        include_str!("../templates/macro-stack.yaml"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("template {name} failed to render: {source}")]
    Template {
        name: String,
        #[source]
        source: minijinja::Error,
    },
    #[error("template {name} rendered invalid YAML at line {line}: {message}")]
    Yaml {
        name: String,
        line: usize,
        message: String,
    },
}

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .expect("embedded templates parse (checked by tests)");
        }
        env
    })
}

fn render(name: &str, ctx: minijinja::Value) -> Result<Value, RenderError> {
    let template = env()
        .get_template(name)
        .map_err(|source| RenderError::Template {
            name: name.into(),
            source,
        })?;
    let text = template
        .render(ctx)
        .map_err(|source| RenderError::Template {
            name: name.into(),
            source,
        })?;
    if std::env::var_os("ROTGEN_DEBUG_RENDER").is_some() {
        eprintln!("{text}");
    }
    yaml::parse(&text).map_err(|e| RenderError::Yaml {
        name: name.into(),
        line: e.line.unwrap_or(0),
        message: e.message,
    })
}

/// The main template.
pub fn main_template(model: &Model) -> Result<Value, RenderError> {
    let vpc = model.vpc.as_ref();
    // With nested stacks the main template lists groups, not their secrets.
    let slim;
    let model = if model.nested {
        slim = Model {
            groups: model
                .groups
                .iter()
                .map(|g| Group {
                    secrets: Vec::new(),
                    ..g.clone()
                })
                .collect(),
            ..model.clone()
        };
        &slim
    } else {
        model
    };
    render(
        "stack.yaml",
        context! {
            model => ser(model),
            function_sg_ids => ser(vpc.map(|v| &v.security_group_ids)),
            endpoint_id => vpc.and_then(|v| v.endpoint.as_ref()).map(|e| e.id.clone()),
        },
    )
}

/// The nested template of one group (nested layout only).
pub fn nested_template(model: &Model, group: &Group) -> Result<Value, RenderError> {
    let function_sg_ids = model.vpc.as_ref().map(|v| match &v.function_sg_id {
        Some(_) => json!([{"Ref": "FunctionSecurityGroupId"}]),
        None => v.security_group_ids.clone(),
    });
    // The nested template needs the model's settings, not every other group: leaving
    // them out keeps each render proportional to its own group.
    let head = Model {
        groups: Vec::new(),
        ..model.clone()
    };
    render(
        "nested.yaml",
        context! {
            model => ser(&head),
            g => ser(group),
            function_sg_ids => ser(function_sg_ids),
            endpoint_id => None::<String>,
        },
    )
}

fn ser<T: serde::Serialize>(value: T) -> minijinja::Value {
    minijinja::Value::from(minijinja::value::Serde(value))
}

/// The stack that deploys the macro itself (`rotgen macro-stack`).
pub fn macro_stack(m: &crate::cfn_macro::MacroStack) -> Result<Value, RenderError> {
    render("macro-stack.yaml", context! { m => ser(m) })
}

#[cfg(test)]
mod tests {
    #[test]
    fn templates_parse() {
        let env = super::env();
        for (name, _) in super::TEMPLATES {
            env.get_template(name).unwrap();
        }
    }
}
