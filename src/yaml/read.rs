//! Reading YAML into rotgen's JSON form: short-form tags (`!Ref X`, `!GetAtt A.B`,
//! `!Sub ...`) become their long form, keys become strings, duplicate keys are errors
//! with a line and column. serde_yaml's deserializer streams straight into
//! `serde_json::Value` here, and nowhere else (`depth::check` runs first). JSON
//! templates go to serde_json, and the templates' own renders to `fast` when it can.
//!
//! No file I/O: text in, a value or a `YamlError` out.

use std::fmt;

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
};
use serde_json::{Map, Value};

use super::{YamlError, depth, fast};

impl YamlError {
    fn from_backend(err: &serde_yaml::Error) -> Self {
        let location = err.location();
        YamlError {
            message: err.to_string(),
            line: location.as_ref().map(|l| l.line()),
            column: location.as_ref().map(|l| l.column()),
        }
    }
}

/// Whether the fast reader takes `text` (for tests of the templates).
pub fn in_fast_subset(text: &str) -> bool {
    fast::parse(text).is_some()
}

/// Reads what rotgen's own templates render: the fast reader for their YAML subset, or
/// the full parser when the text holds anything else. Debug builds (every test run)
/// check that the two agree.
pub fn parse_rendered(text: &str) -> Result<Value, YamlError> {
    match fast::parse(text) {
        Some(value) => {
            #[cfg(debug_assertions)]
            {
                let full = parse(text);
                assert!(
                    full.as_ref().is_ok_and(|v| *v == value),
                    "the fast YAML reader disagrees with the full parser on:\n{text}"
                );
            }
            Ok(value)
        }
        None => parse(text),
    }
}

/// Reads a template file: JSON (it starts with `{`) as JSON, with serde_json's nesting
/// limit (128) and every JSON string it allows; anything else as YAML ([`parse`]).
pub fn parse_template(text: &str) -> Result<Value, YamlError> {
    if text
        .trim_start_matches('\u{feff}')
        .trim_start()
        .starts_with('{')
    {
        return serde_json::from_str(text.trim_start_matches('\u{feff}')).map_err(|e| YamlError {
            message: e
                .to_string()
                .split(" at line ")
                .next()
                .unwrap_or_default()
                .to_string(),
            line: Some(e.line()),
            column: Some(e.column()),
        });
    }
    parse(text)
}

/// Parses one YAML document into the long-form JSON representation.
///
/// Short-form tags become single-key objects: `!Ref x` -> `{"Ref": x}`,
/// `!Condition x` -> `{"Condition": x}`, `!GetAtt A.B.C` ->
/// `{"Fn::GetAtt": ["A", "B.C"]}` and any other `!Name v` ->
/// `{"Fn::Name": v}`. Scalar mapping keys that are not strings are turned into
/// strings; duplicate keys (also after that conversion) are an error pointing
/// at the second occurrence. An empty document is `null`. A document that nests more
/// than 128 lists and maps is refused before the parser reads it (it would take the
/// parser time that grows with the square of the depth to say so).
pub fn parse(text: &str) -> Result<Value, YamlError> {
    depth::check(text)?;
    // The document is streamed straight into `serde_json::Value` instead of
    // going through `serde_yaml::Value`: that way every error (duplicate keys
    // included) is raised while serde_yaml still knows which node it is
    // reading, so it carries the line and column of that node.
    Node.deserialize(serde_yaml::Deserializer::from_str(text))
        .map_err(|err| YamlError::from_backend(&err))
}

/// Reads any node, converting short-form tags on the way.
pub(super) struct Node;

impl<'de> DeserializeSeed<'de> for Node {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a YAML node")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        Err(E::custom(format!("the integer {v} is out of range")))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        Err(E::custom(format!("the integer {v} is out of range")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom(format!("the number {v} cannot be represented in JSON")))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Node)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key_seed(Key { existing: &map })? {
            let value = access.next_value_seed(Node)?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }

    /// serde_yaml reports a node with a `!Tag` as an enum variant named after
    /// the tag (without the `!`).
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Value, A::Error> {
        let (tag, variant): (String, _) = data.variant()?;
        let argument = variant.newtype_variant_seed(Node)?;
        Ok(long_form(&tag, argument))
    }
}

/// Reads a mapping key as a string and rejects duplicates. Failing here,
/// rather than after the key was read, makes serde_yaml attach the position
/// of the offending key to the error.
struct Key<'a> {
    existing: &'a Map<String, Value>,
}

impl Key<'_> {
    fn check<E: de::Error>(&self, key: String) -> Result<String, E> {
        if self.existing.contains_key(&key) {
            Err(E::custom(format!("duplicate mapping key {key:?}")))
        } else {
            Ok(key)
        }
    }
}

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = String;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a mapping key that is a plain scalar (no list, map or tag)")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        self.check(v.to_string())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        self.check(v.to_string())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        self.check(v.to_string())
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<String, E> {
        self.check(v.to_string())
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<String, E> {
        self.check(v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        match serde_json::Number::from_f64(v) {
            Some(n) => self.check(n.to_string()),
            None => self.check(v.to_string()),
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        self.check(v.to_owned())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        self.check(v)
    }

    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        self.check("null".to_owned())
    }
}

/// Turns the short-form tag `!name` applied to `argument` into its long form.
fn long_form(name: &str, argument: Value) -> Value {
    let (key, argument) = match name {
        // The non-specific tag `!` names no function.
        "" | "!" => return argument,
        "Ref" | "Condition" => (name.to_owned(), argument),
        "GetAtt" => {
            let argument = match argument {
                Value::String(s) => match s.split_once('.') {
                    Some((resource, attribute)) => Value::Array(vec![
                        Value::String(resource.to_owned()),
                        Value::String(attribute.to_owned()),
                    ]),
                    None => Value::String(s),
                },
                other => other,
            };
            ("Fn::GetAtt".to_owned(), argument)
        }
        _ => (format!("Fn::{name}"), argument),
    };
    let mut map = Map::new();
    map.insert(key, argument);
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_ref_and_condition() {
        let v = parse("a: !Ref Bucket\nb: !Condition IsProd\nc: !Ref AWS::Region\n").unwrap();
        assert_eq!(
            v,
            json!({
                "a": {"Ref": "Bucket"},
                "b": {"Condition": "IsProd"},
                "c": {"Ref": "AWS::Region"},
            })
        );
    }

    #[test]
    fn parses_every_fn_tag() {
        for name in [
            "Sub",
            "Join",
            "Select",
            "Split",
            "If",
            "Equals",
            "And",
            "Or",
            "Not",
            "ImportValue",
            "FindInMap",
            "GetAZs",
            "Base64",
            "Cidr",
            "Length",
            "ToJsonString",
            "Transform",
            "Foo",
        ] {
            let v = parse(&format!("x: !{name} arg\n")).unwrap();
            assert_eq!(v, json!({"x": {format!("Fn::{name}"): "arg"}}), "{name}");
        }
    }

    #[test]
    fn parses_tags_on_collections() {
        let text = "\
a: !Join ['', [x, y]]
b: !If
  - IsProd
  - !Ref A
  - !Ref AWS::NoValue
c: !ToJsonString
  k: v
d: !Sub
  - ${A}-x
  - A: !Ref B
e: !GetAZs ''
f: !GetAZs
";
        assert_eq!(
            parse(text).unwrap(),
            json!({
                "a": {"Fn::Join": ["", ["x", "y"]]},
                "b": {"Fn::If": ["IsProd", {"Ref": "A"}, {"Ref": "AWS::NoValue"}]},
                "c": {"Fn::ToJsonString": {"k": "v"}},
                "d": {"Fn::Sub": ["${A}-x", {"A": {"Ref": "B"}}]},
                "e": {"Fn::GetAZs": ""},
                "f": {"Fn::GetAZs": null},
            })
        );
    }

    #[test]
    fn parses_nested_tags() {
        let v = parse("x: !Split [',', !ImportValue Subnets]\ny: !Not [!Condition A]\n").unwrap();
        assert_eq!(
            v,
            json!({
                "x": {"Fn::Split": [",", {"Fn::ImportValue": "Subnets"}]},
                "y": {"Fn::Not": [{"Condition": "A"}]},
            })
        );
        let v = parse("- !Select [0, !GetAZs {Ref: AWS::Region}]\n").unwrap();
        assert_eq!(
            v,
            json!([{"Fn::Select": [0, {"Fn::GetAZs": {"Ref": "AWS::Region"}}]}])
        );
        // Two tags on one node is not YAML.
        assert!(parse("x: !Base64 !Sub y\n").is_err());
    }

    #[test]
    fn parses_getatt_forms() {
        let v = parse(
            "a: !GetAtt Fn.Arn\nb: !GetAtt Db.Endpoint.Address\nc: !GetAtt [Fn, Arn]\nd: !GetAtt NoDot\ne: !GetAtt [X, !Ref Attr]\n",
        )
        .unwrap();
        assert_eq!(
            v,
            json!({
                "a": {"Fn::GetAtt": ["Fn", "Arn"]},
                "b": {"Fn::GetAtt": ["Db", "Endpoint.Address"]},
                "c": {"Fn::GetAtt": ["Fn", "Arn"]},
                "d": {"Fn::GetAtt": "NoDot"},
                "e": {"Fn::GetAtt": ["X", {"Ref": "Attr"}]},
            })
        );
    }

    #[test]
    fn long_form_is_left_alone() {
        let v = parse("a:\n  Fn::GetAtt: [A, B]\nb:\n  Fn::Sub: x\nc:\n  Ref: y\n").unwrap();
        assert_eq!(
            v,
            json!({"a": {"Fn::GetAtt": ["A", "B"]}, "b": {"Fn::Sub": "x"}, "c": {"Ref": "y"}})
        );
    }

    #[test]
    fn parses_scalars_and_numbers() {
        let v = parse(
            "i: 42\nn: -7\nbig: 18446744073709551615\nf: 1.5\ng: 2.0\nh: 1e3\nt: true\nz: null\ns: '42'\ny: yes\nd: 2010-09-09\n",
        )
        .unwrap();
        assert_eq!(
            v,
            json!({
                "i": 42, "n": -7, "big": 18446744073709551615u64, "f": 1.5, "g": 2.0, "h": 1000.0,
                "t": true, "z": null, "s": "42", "y": "yes", "d": "2010-09-09",
            })
        );
        assert!(v["i"].is_i64() && v["big"].is_u64());
        assert!(v["g"].is_f64() && v["h"].is_f64());
    }

    #[test]
    fn non_string_keys_become_strings() {
        let v = parse("1: a\ntrue: b\n~: c\n2.5: d\n").unwrap();
        assert_eq!(v, json!({"1": "a", "true": "b", "null": "c", "2.5": "d"}));
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["1", "true", "null", "2.5"]);
    }

    #[test]
    fn duplicate_key_is_an_error_with_location() {
        let err = parse("Resources:\n  A:\n    Type: x\n  A:\n    Type: y\n").unwrap_err();
        assert!(err.message.contains("duplicate"), "{err}");
        assert_eq!(err.line, Some(4));
        assert_eq!(err.column, Some(3));
    }

    #[test]
    fn duplicate_key_after_key_conversion_is_an_error() {
        let err = parse("x:\n  1: a\n  '1': b\n").unwrap_err();
        assert!(err.message.contains("duplicate"), "{err}");
        assert_eq!((err.line, err.column), (Some(3), Some(3)), "{err}");
        let err = parse("a: 1\ntrue: 2\n'true': 3\n").unwrap_err();
        assert_eq!(err.line, Some(3), "{err}");
    }

    #[test]
    fn syntax_errors_carry_location() {
        let err = parse("a: [1, 2\nb: c\n").unwrap_err();
        assert!(err.line.is_some() && err.column.is_some(), "{err:?}");
        let err = parse("a:\n  b: 1\n c: 2\n").unwrap_err();
        assert_eq!(err.line, Some(3), "{err:?}");
    }

    #[test]
    fn rejects_what_json_cannot_hold() {
        assert!(parse("a: .inf\n").is_err());
        assert!(parse("? [a]\n: b\n").is_err());
        assert!(parse("!Ref a: b\n").is_err());
        assert!(parse("a: 1\n---\nb: 2\n").is_err());
    }

    #[test]
    fn anchors_and_aliases_are_expanded() {
        let v = parse("a: &tags {k: !Ref V}\nb: *tags\n").unwrap();
        assert_eq!(
            v,
            json!({"a": {"k": {"Ref": "V"}}, "b": {"k": {"Ref": "V"}}})
        );
    }

    #[test]
    fn empty_document_is_null() {
        assert_eq!(parse("").unwrap(), Value::Null);
        assert_eq!(parse("# only a comment\n").unwrap(), Value::Null);
    }
}
