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
    ("alarms.yaml", include_str!("../templates/alarms.yaml")),
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

/// Compiles the templates now, on another thread, so that `rotgen build` does it while
/// it reads the spec instead of after.
pub fn warm_up() {
    std::thread::spawn(|| {
        env();
    });
}

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_formatter(yaml_safe_json);
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .expect("embedded templates parse (checked by tests)");
        }
        env
    })
}

/// Prints a value as minijinja's JSON auto-escaping does, then escapes what JSON allows
/// raw but YAML reads otherwise: DEL and the C1 controls (not printable in YAML), NEL,
/// LS and PS (YAML line breaks), the BOM and the non-characters. `\uXXXX` means the same
/// character in both.
fn yaml_safe_json(
    out: &mut minijinja::Output,
    state: &mut minijinja::State,
    value: &minijinja::Value,
) -> Result<(), minijinja::Error> {
    if !matches!(state.auto_escape(), minijinja::AutoEscape::Json) || value.is_safe() {
        return minijinja::escape_formatter(out, state, value);
    }
    let json = serde_json::to_string(value).map_err(|e| {
        minijinja::Error::new(minijinja::ErrorKind::BadSerialization, e.to_string())
    })?;
    let unsafe_chars = if json.is_ascii() {
        json.as_bytes().contains(&0x7f)
    } else {
        json.chars().any(yaml_unsafe)
    };
    if !unsafe_chars {
        return out.write_str(&json).map_err(minijinja::Error::from);
    }
    let mut escaped = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if yaml_unsafe(c) {
            escaped.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            escaped.push(c);
        }
    }
    out.write_str(&escaped).map_err(minijinja::Error::from)
}

fn yaml_unsafe(c: char) -> bool {
    ('\u{7f}'..='\u{9f}').contains(&c)
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
        )
}

fn render(name: &str, ctx: minijinja::Value) -> Result<Value, RenderError> {
    let text = render_text(name, ctx)?;
    yaml::parse_rendered(&text).map_err(|e| RenderError::Yaml {
        name: name.into(),
        line: e.line.unwrap_or(0),
        message: e.message,
    })
}

fn render_text(name: &str, ctx: minijinja::Value) -> Result<String, RenderError> {
    let template = env()
        .get_template(name)
        .map_err(|source| RenderError::Template {
            name: name.into(),
            source,
        })?;
    template
        .render(ctx)
        .map_err(|source| RenderError::Template {
            name: name.into(),
            source,
        })
}

/// The main template.
pub fn main_template(model: &Model) -> Result<Value, RenderError> {
    let vpc = model.vpc.as_ref();
    // With nested stacks the main template lists groups, not their secrets.
    let slim;
    let model = if model.nested {
        slim = model.with_groups(model.groups.iter().map(Group::without_secrets).collect());
        &slim
    } else {
        model
    };
    render(
        "stack.yaml",
        context! {
            model => ser(model),
            function_sg_ids => ser(vpc.map(|v| &v.security_group_ids)),
            waits => ser(vpc.map_or(&[][..], |v| &v.waits[..])),
            endpoint_url => ser(vpc.and_then(|v| v.endpoint.as_ref()).map(|e| crate::model::endpoint_url(&e.id))),
            rds_endpoint_url => ser(vpc.and_then(|v| v.endpoint.as_ref()).and_then(|e| e.rds_id.as_deref()).map(crate::model::endpoint_url)),
            alarm_topic => ser(model.alarms.as_ref().map(|a| &a.topic)),
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
    let head = model.with_groups(Vec::new());
    render(
        "nested.yaml",
        context! {
            model => ser(&head),
            g => ser(group),
            function_sg_ids => ser(function_sg_ids),
            waits => ser(Vec::<String>::new()),
            alarm_topic => ser(json!({"Ref": crate::model::ALARM_TOPIC_PARAM})),
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
    use super::*;

    /// The fast YAML reader takes what the templates render for every example (so the
    /// fast path is the path taken; debug builds check it agrees with the full parser).
    #[test]
    fn rendered_templates_stay_in_the_fast_subset() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "toml") {
                continue;
            }
            let spec = crate::spec::from_toml(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let model = crate::model::resolve(&spec, &crate::model::Options::default()).unwrap();
            let text = render_text(
                "stack.yaml",
                context! {
                    model => ser(&model),
                    function_sg_ids => ser(model.vpc.as_ref().map(|v| &v.security_group_ids)),
                    waits => ser(model.vpc.as_ref().map_or(&[][..], |v| &v.waits[..])),
                    endpoint_url => ser(model.vpc.as_ref().and_then(|v| v.endpoint.as_ref()).map(|e| crate::model::endpoint_url(&e.id))),
                    rds_endpoint_url => ser(model.vpc.as_ref().and_then(|v| v.endpoint.as_ref()).and_then(|e| e.rds_id.as_deref()).map(crate::model::endpoint_url)),
                    alarm_topic => ser(model.alarms.as_ref().map(|a| &a.topic)),
                },
            )
            .unwrap();
            assert!(
                yaml::in_fast_subset(&text),
                "{}: the fast reader refused\n{text}",
                path.display()
            );
        }
        // A spec big enough for nested stacks: their templates too.
        let mut big = String::from(
            "[vpc]\nvpc_id = \"vpc-0abc1234def567890\"\nsubnet_ids = [\"subnet-0a1b2c3d4e5f60718\"]\n[schedule]\ndays = 30\n",
        );
        for i in 0..500 {
            big.push_str(&format!(
                "[[secret]]\nid = \"S{i}\"\nname = \"s/{i}\"\nservice = \"postgres\"\n"
            ));
        }
        let spec = crate::spec::from_toml(&big).unwrap();
        let model = crate::model::resolve(&spec, &crate::model::Options::default()).unwrap();
        assert!(model.nested);
        let head = model.with_groups(Vec::new());
        let text = render_text(
            "nested.yaml",
            context! {
                model => ser(&head),
                g => ser(&model.groups[0]),
                function_sg_ids => ser(serde_json::json!([{"Ref": "FunctionSecurityGroupId"}])),
                waits => ser(Vec::<String>::new()),
                alarm_topic => ser(serde_json::json!({"Ref": crate::model::ALARM_TOPIC_PARAM})),
            },
        )
        .unwrap();
        assert!(
            yaml::in_fast_subset(&text),
            "nested: the fast reader refused\n{text}"
        );
    }

    #[test]
    fn templates_parse() {
        let env = super::env();
        for (name, _) in super::TEMPLATES {
            env.get_template(name).unwrap();
        }
    }
}
