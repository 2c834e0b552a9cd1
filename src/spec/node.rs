//! A format-neutral tree of the user's input, with the location of every value.
//!
//! The TOML front door (`rotgen build`) and the CloudFormation front door (the macro and
//! `rotgen expand`) both lower their input to [`Node`]; everything after that is shared.

use crate::diag::Loc;
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Node {
    pub kind: Kind,
    pub loc: Loc,
}

#[derive(Debug, Clone)]
pub enum Kind {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Array(Vec<Node>),
    Table(Vec<Entry>),
    /// A CloudFormation intrinsic function (`{"Ref": ..}`, `{"Fn::Sub": ..}`...), kept as written.
    Expr(Value),
    /// Anything else the source format has that a spec never takes (a TOML date, a JSON null).
    Other(&'static str),
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub key: String,
    pub key_loc: Loc,
    pub value: Node,
}

impl Kind {
    /// How the value is called in error messages ("a string", "a table"...).
    pub fn describe(&self) -> &'static str {
        match self {
            Kind::Str(_) => "a string",
            Kind::Int(_) => "an integer",
            Kind::Float(_) => "a float",
            Kind::Bool(_) => "a boolean",
            Kind::Array(_) => "an array",
            Kind::Table(_) => "a table",
            Kind::Expr(_) => "an intrinsic function",
            Kind::Other(what) => what,
        }
    }
}

/// A TOML syntax error: its message and byte span.
pub type SyntaxError = (String, Option<std::ops::Range<usize>>);

/// Parses TOML text into a [`Node`]; syntax errors come back with their byte span.
pub fn from_toml(text: &str) -> Result<Node, Vec<SyntaxError>> {
    use toml::de::{DeTable, DeValue};
    fn lower(value: &DeValue<'_>, span: std::ops::Range<usize>) -> Node {
        let kind = match value {
            DeValue::String(s) => Kind::Str(s.to_string()),
            DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(n) => Kind::Int(n),
                Err(_) => Kind::Other("an integer too large"),
            },
            DeValue::Float(f) => Kind::Float(f.as_str().parse().unwrap_or(f64::NAN)),
            DeValue::Boolean(b) => Kind::Bool(*b),
            DeValue::Datetime(_) => Kind::Other("a date-time"),
            DeValue::Array(items) => Kind::Array(
                items
                    .iter()
                    .map(|item| lower(item.get_ref(), item.span()))
                    .collect(),
            ),
            // `{ param = "NAME" }`: the value of a template parameter.
            DeValue::Table(table) if table.len() == 1 => match table.iter().next() {
                Some((k, v)) if k.get_ref() == PARAM_KEY => match v.get_ref() {
                    DeValue::String(name) => Kind::Expr(serde_json::json!({"Ref": name.as_ref()})),
                    _ => Kind::Table(lower_table(table)),
                },
                _ => Kind::Table(lower_table(table)),
            },
            DeValue::Table(table) => Kind::Table(lower_table(table)),
        };
        Node {
            kind,
            loc: Loc::Span(span),
        }
    }
    fn lower_table(table: &DeTable<'_>) -> Vec<Entry> {
        table
            .iter()
            .map(|(key, value)| Entry {
                key: key.get_ref().to_string(),
                key_loc: Loc::Span(key.span()),
                value: lower(value.get_ref(), value.span()),
            })
            .collect()
    }
    let (root, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        return Err(errors
            .into_iter()
            .map(|e| (e.message().trim().to_string(), e.span()))
            .collect());
    }
    Ok(Node {
        kind: Kind::Table(lower_table(root.get_ref())),
        loc: Loc::Span(root.span()),
    })
}

/// The key of `{ param = "NAME" }`, a template parameter's value in TOML specs.
pub const PARAM_KEY: &str = "param";

/// The intrinsic functions a CloudFormation value may be, in their long (JSON) form.
pub fn is_intrinsic(map: &serde_json::Map<String, Value>) -> bool {
    map.len() == 1
        && map
            .keys()
            .next()
            .is_some_and(|k| k == "Ref" || k == "Condition" || k.starts_with("Fn::"))
}

/// Lowers a JSON value (a `Rotgen::Rotation` resource's `Properties`) to a [`Node`].
/// `path` names the value in the template, e.g. `Resources.AppRotation.Properties`.
pub fn from_json(value: &Value, path: &str) -> Node {
    let kind = match value {
        Value::String(s) => Kind::Str(s.clone()),
        Value::Bool(b) => Kind::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Kind::Int(i),
            None => Kind::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::Null => Kind::Other("null"),
        Value::Array(items) => Kind::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| from_json(item, &format!("{path}[{i}]")))
                .collect(),
        ),
        Value::Object(map) if is_intrinsic(map) => Kind::Expr(value.clone()),
        Value::Object(map) => Kind::Table(
            map.iter()
                .map(|(k, v)| {
                    let child = format!("{path}.{k}");
                    Entry {
                        key: k.clone(),
                        key_loc: Loc::Key(child.clone()),
                        value: from_json(v, &child),
                    }
                })
                .collect(),
        ),
    };
    Node {
        kind,
        loc: Loc::Path(path.to_string()),
    }
}
