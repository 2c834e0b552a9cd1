//! The values an ARN-valued property may take when it is a CloudFormation function, found
//! from the macro's request, so that they get the checks a literal gets.
//!
//! The model sees a function's text only: `!Sub "…key/*"` is refused there, but a
//! wildcard that arrives through `Fn::FindInMap` (the template's `Mappings`) or a `Ref` to
//! a template parameter (the request's `templateParameterValues`) would reach the role's
//! IAM policy. Here each such value is worked out: a parameter is this deploy's value (or,
//! offline, each of its `AllowedValues`, or its `Default`), a `FindInMap` is the entry its
//! keys name (every entry a key could name, when a key is a pseudo-parameter), `Fn::If`
//! either branch, `Fn::Join` and `Fn::Sub` every combination of their parts. Pseudo
//! parameters and the `Ref` or ARN of an AWS resource of the template are one resource's
//! own identifiers. What cannot be known before the deploy (`Fn::ImportValue`, an
//! attribute of a custom resource or of a nested stack, a parameter read from Systems
//! Manager) is refused in a property that reaches an IAM policy.

use crate::diag::Diagnostic;
use crate::model::arn;
use crate::model::holds_wildcard;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// Beyond this many values, a property's values are looked at for wildcards only.
const MAX_VALUES: usize = 1024;

/// Beyond this many combinations of `Fn::Join`'s or `Fn::Sub`'s parts, likewise.
const MAX_COMBINATIONS: usize = 64;

/// A value's text is kept to this length (an ARN has at most 2,048 characters): a longer
/// one is not whole, and only its wildcards still count.
const MAX_TEXT: usize = 2048;

/// An ARN-valued property and the check its literal gets.
struct Field {
    key: &'static str,
    check: fn(&str) -> Result<(), String>,
    help: &'static str,
    noun: &'static str,
    /// Whether its value goes into the role's IAM policy as a `Resource`.
    iam: bool,
}

const KEY_HELP: &str = "write a key ARN: arn:aws:kms:REGION:ACCOUNT:key/ID";

const SECRET_FIELDS: [Field; 5] = [
    Field {
        key: "arn",
        check: arn::check_secret_arn,
        help: "give the full ARN (ending in -XXXXXX), or use name",
        noun: "secret",
        iam: true,
    },
    Field {
        key: "name",
        check: arn::check_secret_name,
        help: "give the secret's name as Secrets Manager shows it",
        noun: "secret",
        iam: true,
    },
    Field {
        key: "master_secret_arn",
        check: arn::check_secret_arn,
        help: "give the master secret's full ARN",
        noun: "secret",
        iam: true,
    },
    Field {
        key: "kms_key_arn",
        check: arn::check_kms_key_arn,
        help: KEY_HELP,
        noun: "key",
        iam: true,
    },
    Field {
        key: "master_kms_key_arn",
        check: arn::check_kms_key_arn,
        help: KEY_HELP,
        noun: "key",
        iam: true,
    },
];

const FUNCTION_FIELDS: [Field; 3] = [
    Field {
        key: "log_kms_key_arn",
        check: arn::check_kms_key_arn,
        help: KEY_HELP,
        noun: "key",
        iam: false,
    },
    Field {
        key: "environment_kms_key_arn",
        check: arn::check_kms_key_arn,
        help: KEY_HELP,
        noun: "key",
        iam: false,
    },
    Field {
        key: "permissions_boundary",
        check: arn::check_policy_arn,
        help: "write the ARN of a managed policy: arn:aws:iam::123456789012:policy/NAME",
        noun: "policy",
        iam: false,
    },
];

const ALARM_FIELDS: [Field; 2] = [
    Field {
        key: "topic_arn",
        check: arn::check_topic_arn,
        help: "write the topic's ARN: arn:aws:sns:REGION:ACCOUNT:NAME",
        noun: "topic",
        iam: false,
    },
    Field {
        key: "kms_key_arn",
        check: arn::check_topic_key,
        help: "write a key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID) or alias/NAME",
        noun: "key",
        iam: false,
    },
];

/// One value a function may take.
#[derive(Clone, Debug)]
struct Possible {
    /// The value, with what is known only at deploy shown as `${Name}`.
    text: String,
    /// Nothing in it is known only at deploy.
    whole: bool,
    /// The first `*` or `?` in its known parts.
    wild: Option<char>,
    /// Where it comes from, for messages.
    from: String,
    /// It holds a `NoEcho` parameter's value, which no message may show.
    hidden: bool,
}

impl Possible {
    fn known(text: &str, from: String) -> Self {
        Possible {
            text: text.to_string(),
            whole: true,
            wild: text.chars().find(|c| matches!(c, '*' | '?')),
            from,
            hidden: false,
        }
    }

    /// A part known only at deploy, which names one resource (a pseudo-parameter, a
    /// resource's own id or ARN) or is checked by the macro at deploy (a parameter).
    fn hole(name: &str) -> Self {
        Possible {
            text: format!("${{{name}}}"),
            whole: false,
            wild: None,
            from: String::new(),
            hidden: false,
        }
    }

    /// Appends `next`, in time bounded by `next` (the text stops growing at MAX_TEXT).
    fn append(&mut self, next: &Possible) {
        let room = MAX_TEXT.saturating_sub(self.text.len());
        if next.text.len() <= room {
            self.text.push_str(&next.text);
        } else {
            let mut end = room;
            while !next.text.is_char_boundary(end) {
                end -= 1;
            }
            self.text.push_str(&next.text[..end]);
            self.whole = false;
        }
        self.whole &= next.whole;
        self.hidden |= next.hidden;
        self.wild = self.wild.or(next.wild);
        if self.from.is_empty() {
            self.from.clone_from(&next.from);
        } else if !next.from.is_empty() && self.from.len() < MAX_TEXT {
            self.from.push_str(", ");
            self.from.push_str(&next.from);
        }
    }
}

/// Too many values to keep: one that holds a wildcard stands for them all (or one
/// unknown value, when none does).
fn bounded(mut values: Vec<Possible>) -> Vec<Possible> {
    if values.len() <= MAX_VALUES {
        return values;
    }
    match values.iter().position(|p| p.wild.is_some()) {
        Some(i) => vec![values.swap_remove(i)],
        None => vec![Possible::hole("one of many values")],
    }
}

/// Every combination of one value of each part, in order.
fn concat(parts: Vec<Vec<Possible>>) -> Vec<Possible> {
    let mut acc = vec![Possible::known("", String::new())];
    for mut part in parts {
        if acc.len().saturating_mul(part.len()) > MAX_COMBINATIONS {
            acc = bounded_to_one(acc);
            part = bounded_to_one(part);
        }
        match part.as_slice() {
            [] => return Vec::new(),
            [one] => acc.iter_mut().for_each(|a| a.append(one)),
            _ => {
                acc = acc
                    .iter()
                    .flat_map(|a| {
                        part.iter().map(move |p| {
                            let mut a = a.clone();
                            a.append(p);
                            a
                        })
                    })
                    .collect();
            }
        }
    }
    acc
}

fn bounded_to_one(values: Vec<Possible>) -> Vec<Possible> {
    if values.len() <= 1 {
        return values;
    }
    let n = values.len();
    match values.into_iter().find(|p| p.wild.is_some()) {
        Some(p) => vec![p],
        None => vec![Possible::hole(&format!("one of {n} values"))],
    }
}

struct Template<'a> {
    parameters: Option<&'a Map<String, Value>>,
    mappings: Option<&'a Map<String, Value>>,
    resources: Option<&'a Map<String, Value>>,
    values: &'a Map<String, Value>,
    /// The values a `FindInMap` may take, by map and keys (`None`: any key).
    entries: HashMap<(String, Option<String>, Option<String>), Vec<Possible>>,
}

type Resolved = Result<Vec<Possible>, String>;

impl Template<'_> {
    fn eval(&mut self, v: &Value) -> Resolved {
        match v {
            Value::String(s) => Ok(vec![Possible::known(s, String::new())]),
            Value::Number(n) => Ok(vec![Possible::known(&n.to_string(), String::new())]),
            Value::Bool(b) => Ok(vec![Possible::known(&b.to_string(), String::new())]),
            Value::Array(items) => self.union(items),
            Value::Object(m) if m.len() == 1 => {
                let (k, arg) = m.iter().next().expect("one entry");
                let args = arg.as_array().map(Vec::as_slice).unwrap_or_default();
                match k.as_str() {
                    "Ref" => match arg.as_str() {
                        Some(name) => self.reference(name),
                        None => Ok(Vec::new()),
                    },
                    "Fn::GetAtt" => self.get_att(arg),
                    "Fn::Sub" => self.sub(arg),
                    "Fn::Join" => match args {
                        [Value::String(sep), Value::Array(items)] => {
                            let mut parts = Vec::new();
                            for (i, item) in items.iter().enumerate() {
                                if i > 0 {
                                    parts.push(vec![Possible::known(sep, String::new())]);
                                }
                                parts.push(self.eval(item)?);
                            }
                            Ok(concat(parts))
                        }
                        // A list known at deploy: its items, joined in some way.
                        [sep, list] => {
                            let sep = self.eval(sep)?;
                            let items = self.eval(list)?;
                            Ok(concat(vec![items.clone(), sep, items]))
                        }
                        _ => Ok(Vec::new()),
                    },
                    "Fn::If" => match args {
                        [_, yes, no] => self.union([yes, no]),
                        _ => Ok(Vec::new()),
                    },
                    "Fn::Select" => match args {
                        [index, Value::Array(items)] => {
                            match index
                                .as_u64()
                                .or_else(|| index.as_str().and_then(|s| s.parse().ok()))
                                .and_then(|i| items.get(usize::try_from(i).ok()?))
                            {
                                Some(item) => self.eval(item),
                                None => self.union(items),
                            }
                        }
                        [_, list] => self.eval(list),
                        _ => Ok(Vec::new()),
                    },
                    "Fn::Split" => match args {
                        [Value::String(sep), s] if !sep.is_empty() => {
                            let mut out = Vec::new();
                            for p in self.eval(s)? {
                                if p.whole {
                                    out.extend(
                                        p.text
                                            .split(sep.as_str())
                                            .map(|piece| Possible::known(piece, p.from.clone())),
                                    );
                                } else {
                                    out.push(p);
                                }
                            }
                            Ok(bounded(out))
                        }
                        [_, s] => self.eval(s),
                        _ => Ok(Vec::new()),
                    },
                    "Fn::FindInMap" => self.find_in_map(args),
                    "Fn::ImportValue" => Err("Fn::ImportValue, another stack's export".to_string()),
                    other if other.starts_with("Fn::") => Err(other.to_string()),
                    // Not a function: the decoder says what it is.
                    _ => Ok(Vec::new()),
                }
            }
            // Not a value CloudFormation makes text of: the decoder says so.
            _ => Ok(Vec::new()),
        }
    }

    fn union<'v>(&mut self, items: impl IntoIterator<Item = &'v Value>) -> Resolved {
        let mut out = Vec::new();
        for item in items {
            out.extend(self.eval(item)?);
            out = bounded(out);
        }
        Ok(out)
    }

    fn resource_type(&self, id: &str) -> Option<&str> {
        self.resources?.get(id)?.get("Type")?.as_str()
    }

    /// A resource whose `Ref` and ARNs AWS sets: one resource's own identifiers, never a
    /// pattern. A custom resource's or a nested stack's values are whatever their code or
    /// template say.
    fn aws_resource(&self, id: &str) -> Result<(), String> {
        match self.resource_type(id) {
            Some(t) if t.starts_with("AWS::") && !t.starts_with("AWS::CloudFormation::") => Ok(()),
            Some(t) => Err(format!(
                "{id}, a {t}, whose values its own code or template chooses"
            )),
            None => Err(format!("{id}, which is not a resource of this template")),
        }
    }

    fn reference(&mut self, name: &str) -> Resolved {
        if name.starts_with("AWS::") {
            return Ok(vec![Possible::hole(name)]);
        }
        if let Some(decl) = self.parameters.and_then(|p| p.get(name)) {
            return self.parameter(name, decl);
        }
        if self.resource_type(name).is_some() {
            self.aws_resource(name)
                .map_err(|why| format!("Ref {name}, the id of {why}"))?;
            return Ok(vec![Possible::hole(name)]);
        }
        // Not declared: CloudFormation refuses the template.
        Ok(Vec::new())
    }

    fn parameter(&mut self, name: &str, decl: &Value) -> Resolved {
        let from = format!("the parameter {name}");
        // CloudFormation masks a NoEcho parameter's value: so do messages.
        let hidden = matches!(decl.get("NoEcho"), Some(Value::Bool(true)))
            || decl
                .get("NoEcho")
                .and_then(Value::as_str)
                .is_some_and(|s| s.eq_ignore_ascii_case("true"));
        let ty = decl.get("Type").and_then(Value::as_str).unwrap_or("String");
        if ty.starts_with("AWS::SSM::Parameter::Value") {
            return Err(format!(
                "the parameter {name} of type {ty}, whose value CloudFormation reads from Systems Manager after the macro has run"
            ));
        }
        let text = |v: &Value| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        let known = |s: String| Possible {
            hidden,
            ..Possible::known(&s, from.clone())
        };
        let listed = |v: &Value| -> Vec<Possible> {
            match v {
                Value::Array(items) => items.iter().filter_map(text).map(known).collect(),
                other => text(other).map(known).into_iter().collect(),
            }
        };
        if let Some(given) = self.values.get(name) {
            return Ok(bounded(listed(given)));
        }
        // Offline (`rotgen expand`): every value the parameter allows, or its default; the
        // macro checks the value of each deploy.
        if let Some(allowed) = decl.get("AllowedValues").filter(|a| a.is_array()) {
            return Ok(bounded(listed(allowed)));
        }
        let mut out = decl.get("Default").map(listed).unwrap_or_default();
        out.push(Possible::hole(name));
        Ok(bounded(out))
    }

    fn get_att(&mut self, arg: &Value) -> Resolved {
        let (id, attr) = match arg {
            Value::String(s) => match s.split_once('.') {
                Some((id, attr)) => (id.to_string(), attr.to_string()),
                None => return Ok(Vec::new()),
            },
            Value::Array(a) => match (a.first().and_then(Value::as_str), a.get(1)) {
                (Some(id), Some(Value::String(attr))) => (id.to_string(), attr.clone()),
                (Some(id), _) => (id.to_string(), String::new()),
                _ => return Ok(Vec::new()),
            },
            _ => return Ok(Vec::new()),
        };
        let what = format!("Fn::GetAtt {id}.{attr}");
        self.aws_resource(&id)
            .map_err(|why| format!("{what}, an attribute of {why}"))?;
        if !attr.ends_with("Arn") {
            return Err(format!("{what}, an attribute that is not an ARN AWS sets"));
        }
        Ok(vec![Possible::hole(&format!("{id}.{attr}"))])
    }

    fn sub(&mut self, arg: &Value) -> Resolved {
        let (text, vars) = match arg {
            Value::String(s) => (s.as_str(), None),
            Value::Array(a) => match (a.first().and_then(Value::as_str), a.get(1)) {
                (Some(s), vars) => (s, vars.and_then(Value::as_object)),
                _ => return Ok(Vec::new()),
            },
            _ => return Ok(Vec::new()),
        };
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            let (before, after) = rest.split_at(start);
            let Some(end) = after.find('}') else { break };
            parts.push(vec![Possible::known(before, String::new())]);
            let name = &after[2..end];
            rest = &after[end + 1..];
            if let Some(literal) = name.strip_prefix('!') {
                parts.push(vec![Possible::known(
                    &format!("${{{literal}}}"),
                    String::new(),
                )]);
            } else if let Some(v) = vars.and_then(|m| m.get(name)) {
                parts.push(self.eval(v)?);
            } else if let Some((id, attr)) = name.split_once('.') {
                parts.push(self.get_att(&Value::Array(vec![id.into(), attr.into()]))?);
            } else {
                parts.push(self.reference(name)?);
            }
        }
        parts.push(vec![Possible::known(rest, String::new())]);
        Ok(concat(parts))
    }

    /// The keys a `FindInMap` key may be: `None` when it may be any (a pseudo-parameter, a
    /// parameter with no value yet).
    fn keys(&mut self, v: &Value) -> Result<Option<Vec<String>>, String> {
        let values = self.eval(v)?;
        Ok(values
            .iter()
            .all(|p| p.whole)
            .then(|| values.into_iter().map(|p| p.text).collect()))
    }

    fn find_in_map(&mut self, args: &[Value]) -> Resolved {
        let [map, top, second, rest @ ..] = args else {
            return Ok(Vec::new());
        };
        let Some(mappings) = self.mappings else {
            return Ok(Vec::new());
        };
        let maps = match self.keys(map)? {
            Some(names) => names,
            None => mappings.keys().cloned().collect(),
        };
        // A key that may be anything is `None`: every key of its level.
        let tops = self
            .keys(top)?
            .map_or(vec![None], |k| k.into_iter().map(Some).collect());
        let seconds = self
            .keys(second)?
            .map_or(vec![None], |k| k.into_iter().map(Some).collect());
        let mut out = Vec::new();
        for name in &maps {
            for t in &tops {
                for s in &seconds {
                    out.extend(self.entries(name, t.as_deref(), s.as_deref()));
                    out = bounded(out);
                }
            }
        }
        // Fn::FindInMap's default (the language extensions).
        if let Some(default) = rest.first().and_then(|d| d.get("DefaultValue")) {
            out.extend(self.eval(default)?);
        }
        Ok(bounded(out))
    }

    /// The values of map `name` under a top-level key and a second-level key (`None`:
    /// any), each set worked out once per template.
    fn entries(&mut self, name: &str, top: Option<&str>, second: Option<&str>) -> Vec<Possible> {
        let key = (
            name.to_string(),
            top.map(str::to_string),
            second.map(str::to_string),
        );
        if let Some(found) = self.entries.get(&key) {
            return found.clone();
        }
        let Some(m) = self
            .mappings
            .and_then(|all| all.get(name))
            .and_then(Value::as_object)
        else {
            return Vec::new();
        };
        // Past MAX_VALUES values only one with a wildcard is kept (see `bounded`); the rest
        // are only looked at.
        let mut out: Vec<Possible> = Vec::new();
        let mut count = 0usize;
        let mut wild_kept = false;
        let mut keep = |v: &Value, from: &dyn Fn() -> String| {
            for text in leaves(v) {
                count += 1;
                let wild = text.contains(['*', '?']);
                if out.len() < MAX_VALUES || (wild && !wild_kept) {
                    out.push(Possible::known(text, from()));
                    wild_kept |= wild;
                }
            }
        };
        let mut visit = |t: &str, e: &Value| {
            let Some(e) = e.as_object() else { return };
            match second {
                Some(s) => {
                    if let Some(v) = e.get(s) {
                        keep(v, &|| format!("Mappings.{name}.{t}.{s}"));
                    }
                }
                None => {
                    for (s, v) in e {
                        keep(v, &|| format!("Mappings.{name}.{t}.{s}"));
                    }
                }
            }
        };
        match top {
            Some(t) => {
                if let Some(e) = m.get(t) {
                    visit(t, e);
                }
            }
            None => {
                for (t, e) in m {
                    visit(t, e);
                }
            }
        }
        if count > MAX_VALUES {
            out = match out.into_iter().find(|p| p.wild.is_some()) {
                Some(p) => vec![p],
                None => vec![Possible::hole(&format!("one of {count} values"))],
            };
        }
        self.entries.insert(key, out.clone());
        out
    }
}

/// The texts of a mapping's value: a string or number, or a list of them.
fn leaves(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Checks every ARN-valued property of the rotations that is a function, with the values
/// it may take.
pub(super) fn check(
    root: &Map<String, Value>,
    rotations: &[&String],
    values: &Map<String, Value>,
) -> Vec<Diagnostic> {
    let mut t = Template {
        parameters: root.get("Parameters").and_then(Value::as_object),
        mappings: root.get("Mappings").and_then(Value::as_object),
        resources: root.get("Resources").and_then(Value::as_object),
        values,
        entries: HashMap::new(),
    };
    let mut errors = Vec::new();
    for id in rotations {
        let Some(props) = t
            .resources
            .and_then(|r| r.get(id.as_str()))
            .and_then(|r| r.get("Properties"))
        else {
            continue;
        };
        let path = format!("Resources.{id}.Properties");
        if let Some(Value::Array(secrets)) = props.get("secret") {
            for (i, s) in secrets.iter().enumerate() {
                t.fields(
                    s,
                    &SECRET_FIELDS,
                    &format!("{path}.secret[{i}]"),
                    &mut errors,
                );
            }
        }
        if let Some(f) = props.get("function") {
            t.fields(
                f,
                &FUNCTION_FIELDS,
                &format!("{path}.function"),
                &mut errors,
            );
        }
        if let Some(a) = props.get("alarms") {
            t.fields(a, &ALARM_FIELDS, &format!("{path}.alarms"), &mut errors);
        }
    }
    errors
}

impl Template<'_> {
    fn fields(&mut self, table: &Value, fields: &[Field], path: &str, out: &mut Vec<Diagnostic>) {
        for f in fields {
            let Some(v) = table.get(f.key) else { continue };
            // Literals, and functions whose own text holds a wildcard, are the model's.
            if !v.is_object() || holds_wildcard(v) {
                continue;
            }
            let at = format!("{path}.{}", f.key);
            let key = f.key;
            let noun = f.noun;
            let values = match self.eval(v) {
                Ok(values) => values,
                Err(what) if f.iam => {
                    out.push(super::err(
                        &at,
                        format!("{key} is {what}: rotgen cannot see its value before the deploy, and it goes into the role's IAM policy, where a * or ? in it would grant every {noun} that matches"),
                        format!("write the {noun}'s ARN out, or pass it as a template parameter: the macro checks the value each deploy gives"),
                    ));
                    continue;
                }
                Err(_) => continue,
            };
            for p in values {
                // A NoEcho parameter's value is not shown (CloudFormation masks it too).
                let (text, from) = match (p.hidden, p.from.is_empty()) {
                    (true, _) => (
                        "a value".to_string(),
                        format!(" (from {}, NoEcho: not shown)", p.from),
                    ),
                    (false, true) => (format!("\"{}\"", p.text), String::new()),
                    (false, false) => (format!("\"{}\"", p.text), format!(" (from {})", p.from)),
                };
                if let Some(c) = p.wild {
                    out.push(super::err(
                        &at,
                        format!("{key} can be {text}{from}, whose {c} IAM reads as a wildcard: the role would be granted every {noun} that matches, not one"),
                        format!("name exactly one {noun} by its full ARN, with no * or ?"),
                    ));
                    break;
                }
                if p.whole
                    && let Err(why) = (f.check)(&p.text)
                {
                    // The check's reason may quote the value.
                    let why = if p.hidden {
                        "it is not a valid ARN of this kind".to_string()
                    } else {
                        why
                    };
                    out.push(super::err(
                        &at,
                        format!("{key} can be {text}{from}, which is not valid: {why}"),
                        f.help,
                    ));
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn values(v: &Value, template: &Value, given: &Value) -> Resolved {
        let root = template.as_object().unwrap();
        let mut t = Template {
            parameters: root.get("Parameters").and_then(Value::as_object),
            mappings: root.get("Mappings").and_then(Value::as_object),
            resources: root.get("Resources").and_then(Value::as_object),
            values: given.as_object().unwrap(),
            entries: HashMap::new(),
        };
        t.eval(v)
    }

    #[test]
    fn functions_take_every_value_they_can() {
        let template = json!({
            "Parameters": {"Stage": {"Type": "String", "AllowedValues": ["prod", "dev"]}, "Free": {"Type": "String"}},
            "Mappings": {"M": {"prod": {"k": "a"}, "dev": {"k": ["b", "c"]}}},
            "Resources": {"Key": {"Type": "AWS::KMS::Key"}, "Own": {"Type": "Custom::Thing"}}});
        let texts = |v: Value, given: Value| -> Vec<(String, bool)> {
            values(&v, &template, &given)
                .unwrap()
                .into_iter()
                .map(|p| (p.text, p.whole))
                .collect()
        };
        let none = json!({});
        let lookup = json!({"Fn::FindInMap": ["M", {"Ref": "Stage"}, "k"]});
        let owned = |v: &[(&str, bool)]| -> Vec<(String, bool)> {
            v.iter().map(|(t, w)| (t.to_string(), *w)).collect()
        };
        assert_eq!(
            texts(lookup.clone(), none.clone()),
            owned(&[("a", true), ("b", true), ("c", true)])
        );
        assert_eq!(
            texts(lookup, json!({"Stage": "dev"})),
            owned(&[("b", true), ("c", true)])
        );
        assert_eq!(
            texts(
                json!({"Fn::Sub": "x-${Stage}-${AWS::Region}-${Key.Arn}"}),
                json!({"Stage": "prod"})
            ),
            owned(&[("x-prod-${AWS::Region}-${Key.Arn}", false)])
        );
        assert_eq!(
            texts(
                json!({"Fn::Join": ["/", [{"Ref": "Stage"}, {"Fn::If": ["C", "y", "z"]}]]}),
                none.clone()
            ),
            owned(&[
                ("prod/y", true),
                ("prod/z", true),
                ("dev/y", true),
                ("dev/z", true)
            ])
        );
        // A parameter with no value and no allowed values is left to the deploy.
        assert_eq!(
            texts(json!({"Ref": "Free"}), none.clone()),
            owned(&[("${Free}", false)])
        );
        for unseen in [
            json!({"Fn::ImportValue": "x"}),
            json!({"Fn::GetAtt": ["Own", "Arn"]}),
            json!({"Ref": "Own"}),
            json!({"Fn::GetAtt": ["Key", "KeyId"]}),
            json!({"Fn::Base64": "x"}),
        ] {
            assert!(values(&unseen, &template, &none).is_err(), "{unseen}");
        }
    }

    /// A function of many parts costs time in proportion to its size: at most
    /// MAX_COMBINATIONS values of at most MAX_TEXT bytes are kept, and a wildcard in any
    /// part is still found.
    #[test]
    fn long_functions_stay_bounded() {
        let template =
            json!({"Parameters": {"P": {"Type": "String", "AllowedValues": ["a", "b", "c"]}}});
        let mut parts: Vec<Value> = (0..100_000)
            .map(|i| {
                if i % 2 == 0 {
                    json!("xy")
                } else {
                    json!({"Ref": "P"})
                }
            })
            .collect();
        parts.push(json!("*"));
        let found = values(&json!({"Fn::Join": ["", parts]}), &template, &json!({})).unwrap();
        assert!(found.len() <= MAX_COMBINATIONS);
        assert!(found.iter().all(|p| p.text.len() <= MAX_TEXT && !p.whole));
        assert!(found.iter().any(|p| p.wild == Some('*')));
    }
}
