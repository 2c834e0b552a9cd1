//! Writing rotgen's JSON form as YAML a person would write: block style, 2-space
//! indentation, short-form tags, flow lists for short intrinsic arguments, and quotes
//! wherever a YAML 1.1 reader would see a boolean, a number, a date or an indicator.
//! Deterministic, and read back by `parse` to the same value. Done by hand: serde_yaml
//! writes nothing here.
//!
//! No file I/O: a value in, text out.

use std::borrow::Cow;
use std::fmt::Write as _;

use serde_json::{Map, Value};

/// Flow sequences (`[a, b]`) are used for intrinsic arguments only when the
/// whole line stays within this many columns.
const MAX_FLOW_WIDTH: usize = 80;

/// YAML readers refuse implicit keys longer than 1024 characters; longer keys
/// are written as explicit `? key` entries.
const MAX_IMPLICIT_KEY: usize = 1000;

/// Writes `value` as a block-style YAML document with CloudFormation
/// short-form tags. The output is deterministic, uses 2-space indentation,
/// keeps the key order of the value and ends with exactly one newline.
/// `parse(&to_string(v))` gives back `v` for every value without
/// non-finite numbers (which JSON cannot hold anyway).
pub fn to_string(value: &Value) -> String {
    to_string_with_notes(value, None)
}

/// A comment to write on the line above a mapping entry, given its key and value (one
/// line of text, without the `# `).
pub type Note = fn(&str, &Value) -> Option<&'static str>;

/// [`to_string`], with the comments `note` asks for above mapping entries (not above the
/// first entry of a mapping that is a sequence item, which shares the `- ` line).
pub fn to_string_with_notes(value: &Value, note: Option<Note>) -> String {
    let mut emitter = Emitter::new(true, note);
    emitter.document(value);
    if emitter.kept_block_end == Some(emitter.out.len()) {
        // A `|+` block scalar at the very end would need extra blank lines
        // after it; write such strings double-quoted instead.
        let mut emitter = Emitter::new(false, note);
        emitter.document(value);
        return emitter.out;
    }
    emitter.out
}

/// What has already been written on the current line before a node.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pos {
    /// Nothing: the node is the whole document.
    Root,
    /// `key:`
    AfterKey,
    /// `- `
    AfterDash,
    /// `!Tag` (the node is the argument of a short-form intrinsic).
    AfterTag,
}

struct Emitter {
    out: String,
    /// Whether `|+` block scalars may be used.
    allow_keep: bool,
    /// Output length right after the last `|+` block scalar written.
    kept_block_end: Option<usize>,
    note: Option<Note>,
}

impl Emitter {
    fn new(allow_keep: bool, note: Option<Note>) -> Self {
        Emitter {
            out: String::new(),
            allow_keep,
            kept_block_end: None,
            note,
        }
    }

    fn document(&mut self, value: &Value) {
        self.node(value, 0, false, Pos::Root);
    }

    fn indent(&mut self, width: usize) {
        const SPACES: &str = "                                                                ";
        let mut left = width;
        while left > 0 {
            let n = left.min(SPACES.len());
            self.out.push_str(&SPACES[..n]);
            left -= n;
        }
    }

    fn column(&self) -> usize {
        let start = self.out.rfind('\n').map_or(0, |i| i + 1);
        self.out[start..].chars().count()
    }

    /// Writes `text` as the rest of the current line.
    fn finish_line(&mut self, space: bool, text: &str) {
        if space {
            self.out.push(' ');
        }
        self.out.push_str(text);
        self.out.push('\n');
    }

    /// Writes one node. `indent` is the column of block content belonging to
    /// it (entries of a block mapping or sequence, lines of a block scalar);
    /// `in_intrinsic` says whether the node is (part of) an intrinsic
    /// function's argument.
    fn node(&mut self, value: &Value, indent: usize, in_intrinsic: bool, pos: Pos) {
        let space = matches!(pos, Pos::AfterKey | Pos::AfterTag);
        // At the root there is no parent, so nested content gets 2 columns.
        let content_indent = if pos == Pos::Root { 2 } else { indent };
        match value {
            Value::Object(map) if map.is_empty() => self.finish_line(space, "{}"),
            Value::Array(items) if items.is_empty() => self.finish_line(space, "[]"),
            Value::Object(map) => {
                // YAML allows a single tag per node, so the argument of a tag
                // is always written as a plain mapping.
                if pos != Pos::AfterTag
                    && let Some((name, argument)) = short_form(map, in_intrinsic)
                {
                    if space {
                        self.out.push(' ');
                    }
                    self.out.push('!');
                    self.out.push_str(name);
                    self.node(&argument, content_indent, true, Pos::AfterTag);
                    return;
                }
                match pos {
                    Pos::Root => self.entries(map, 0, false, in_intrinsic),
                    Pos::AfterDash => self.entries(map, indent, true, in_intrinsic),
                    Pos::AfterKey | Pos::AfterTag => {
                        self.out.push('\n');
                        self.entries(map, indent, false, in_intrinsic);
                    }
                }
            }
            Value::Array(items) => {
                if in_intrinsic && let Some(flow) = flow_repr(value, true) {
                    let width = self.column() + usize::from(space) + flow.chars().count();
                    if width <= MAX_FLOW_WIDTH {
                        self.finish_line(space, &flow);
                        return;
                    }
                }
                match pos {
                    Pos::Root => self.items(items, 0, false, in_intrinsic),
                    Pos::AfterDash => self.items(items, indent, true, in_intrinsic),
                    Pos::AfterKey | Pos::AfterTag => {
                        self.out.push('\n');
                        self.items(items, indent, false, in_intrinsic);
                    }
                }
            }
            Value::String(s) if s.contains('\n') && literal_allowed(s, self.allow_keep) => {
                self.literal(s, content_indent, space);
            }
            Value::String(s) => {
                if space {
                    self.out.push(' ');
                }
                push_inline(&mut self.out, s, false);
                self.out.push('\n');
            }
            Value::Null => self.finish_line(space, "null"),
            Value::Bool(b) => self.finish_line(space, if *b { "true" } else { "false" }),
            Value::Number(n) => self.finish_line(space, &number(n)),
        }
    }

    /// Block mapping entries at column `indent`. With `first_inline` the
    /// first entry continues the current line (after `- `).
    fn entries(
        &mut self,
        map: &Map<String, Value>,
        indent: usize,
        first_inline: bool,
        in_intrinsic: bool,
    ) {
        // A single-key intrinsic written in long form (`Fn::Base64: !Sub ..`)
        // still has an intrinsic argument.
        let value_in_intrinsic =
            map.len() == 1 && map.keys().all(|k| is_intrinsic_key(k, in_intrinsic));
        for (index, (key, value)) in map.iter().enumerate() {
            if index > 0 || !first_inline {
                if let Some(text) = self.note.and_then(|note| note(key, value)) {
                    self.indent(indent);
                    self.out.push_str("# ");
                    self.out.push_str(text);
                    self.out.push('\n');
                }
                self.indent(indent);
            }
            let start = self.out.len();
            push_inline(&mut self.out, key, false);
            let written = &self.out[start..];
            let long = if written.is_ascii() {
                written.len() > MAX_IMPLICIT_KEY
            } else {
                written.chars().count() > MAX_IMPLICIT_KEY
            };
            if long {
                self.out.insert_str(start, "? ");
                self.out.push('\n');
                self.indent(indent);
            }
            self.out.push(':');
            self.node(value, indent + 2, value_in_intrinsic, Pos::AfterKey);
        }
    }

    /// Block sequence entries at column `indent`. With `first_inline` the
    /// first entry continues the current line (after `- `).
    fn items(&mut self, items: &[Value], indent: usize, first_inline: bool, in_intrinsic: bool) {
        for (index, item) in items.iter().enumerate() {
            if index > 0 || !first_inline {
                self.indent(indent);
            }
            self.out.push_str("- ");
            self.node(item, indent + 2, in_intrinsic, Pos::AfterDash);
        }
    }

    /// A literal block scalar (`|`, `|-` or `|+`) with content at `indent`.
    fn literal(&mut self, s: &str, indent: usize, space: bool) {
        let body = s.trim_end_matches('\n');
        let trailing_newlines = s.len() - body.len();
        let header = match trailing_newlines {
            0 => "|-",
            1 => "|",
            _ => "|+",
        };
        self.finish_line(space, header);
        for line in body.split('\n') {
            if !line.is_empty() {
                self.indent(indent);
                self.out.push_str(line);
            }
            self.out.push('\n');
        }
        for _ in 1..trailing_newlines {
            self.out.push('\n');
        }
        if trailing_newlines > 1 {
            self.kept_block_end = Some(self.out.len());
        }
    }
}

/// Whether a single-key object with this key is an intrinsic function call.
/// `Condition` only counts inside another intrinsic's arguments: elsewhere it
/// is the resource/output attribute.
fn is_intrinsic_key(key: &str, in_intrinsic: bool) -> bool {
    key == "Ref" || key.starts_with("Fn::") || (key == "Condition" && in_intrinsic)
}

/// If `map` should be written as a short-form tag, returns the tag name
/// (without `!`) and the node to write after it.
fn short_form(map: &Map<String, Value>, in_intrinsic: bool) -> Option<(&str, Cow<'_, Value>)> {
    if map.len() != 1 {
        return None;
    }
    let (key, argument) = map.iter().next()?;
    let name = match key.as_str() {
        "Ref" => "Ref",
        "Condition" if in_intrinsic && argument.is_string() => "Condition",
        _ => {
            let name = key.strip_prefix("Fn::")?;
            let usable = !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric())
                // `!Ref`/`!Condition` mean the keys without `Fn::`, and
                // `Fn::Transform` has to stay in long form.
                && !matches!(name, "Ref" | "Condition" | "Transform");
            if !usable {
                return None;
            }
            name
        }
    };
    // Two tags cannot sit on one node: when the argument is itself written as
    // a tag, this intrinsic goes in long form (`Fn::Base64: !Sub ...`).
    if let Value::Object(inner) = argument
        && short_form(inner, true).is_some()
    {
        return None;
    }
    if name == "GetAtt" {
        match argument {
            // `!GetAtt A.B` would read back as a list.
            Value::String(s) if s.contains('.') => return None,
            Value::Array(parts) => {
                if let [Value::String(resource), Value::String(attribute)] = parts.as_slice()
                    && !resource.contains('.')
                {
                    let dotted = format!("{resource}.{attribute}");
                    return Some((name, Cow::Owned(Value::String(dotted))));
                }
            }
            _ => {}
        }
    }
    Some((name, Cow::Borrowed(argument)))
}

/// One-line flow representation of `value` (`[a, !Ref B, [c]]`), or `None`
/// when it contains a non-empty mapping that is not a short-form intrinsic.
fn flow_repr(value: &Value, in_intrinsic: bool) -> Option<String> {
    Some(match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number(n),
        Value::String(s) => inline_string(s, true),
        Value::Array(items) => {
            let parts = items
                .iter()
                .map(|item| flow_repr(item, in_intrinsic))
                .collect::<Option<Vec<_>>>()?;
            format!("[{}]", parts.join(", "))
        }
        Value::Object(map) if map.is_empty() => "{}".to_owned(),
        Value::Object(map) => {
            let (name, argument) = short_form(map, in_intrinsic)?;
            format!("!{name} {}", flow_repr(&argument, true)?)
        }
    })
}

/// A number as YAML 1.1 readers (PyYAML, cfn-lint) take it for one: a float with an
/// exponent needs a `.` in its mantissa and a sign on its exponent (`1e-7` would read as
/// a string; `1.0e-7` is a float).
fn number(n: &serde_json::Number) -> String {
    let text = n.to_string();
    if !n.is_f64() {
        return text;
    }
    match text.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => {
            let mantissa = if mantissa.contains('.') {
                mantissa.to_string()
            } else {
                format!("{mantissa}.0")
            };
            let exponent = if exponent.starts_with(['-', '+']) {
                exponent.to_string()
            } else {
                format!("+{exponent}")
            };
            format!("{mantissa}e{exponent}")
        }
        None => text,
    }
}

/// A string written on a single line: plain when that reads back as the same
/// string, otherwise single-quoted, or double-quoted when it contains
/// characters that need escapes. `flow` is for elements of `[...]`.
fn inline_string(s: &str, flow: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_inline(&mut out, s, flow);
    out
}

/// [`inline_string`], written straight into `out` (no string of its own).
fn push_inline(out: &mut String, s: &str, flow: bool) {
    let (escape, pair) = if s.is_ascii() {
        scan_ascii(s.as_bytes(), flow)
    } else {
        (s.chars().any(needs_escape), has_indicator_pair(s, flow))
    };
    if escape {
        out.push_str(&double_quoted(s));
    } else if pair || needs_quotes(s, flow) {
        out.push('\'');
        for (i, part) in s.split('\'').enumerate() {
            if i > 0 {
                out.push_str("''");
            }
            out.push_str(part);
        }
        out.push('\'');
    } else {
        out.push_str(s);
    }
}

/// One pass over an ASCII string: whether it holds a character that needs an escape,
/// and whether it holds an indicator pair (see [`has_indicator_pair`]).
fn scan_ascii(bytes: &[u8], flow: bool) -> (bool, bool) {
    let mut pair = false;
    let mut prev = 0u8;
    for &b in bytes {
        if b < b' ' || b == 0x7f {
            return (true, pair);
        }
        pair |= (prev == b':' && (b == b' ' || (flow && b == b'?'))) || (prev == b' ' && b == b'#');
        prev = b;
    }
    (false, pair)
}

/// Characters that cannot appear literally in a single-line scalar: control
/// characters (tab and line breaks included), YAML's extra line breaks
/// (NEL, LS, PS) and non-printable code points.
fn needs_escape(c: char) -> bool {
    c < ' '
        || ('\u{7f}'..='\u{9f}').contains(&c)
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
        )
}

fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if needs_escape(c) => {
                let code = u32::from(c);
                if code <= 0xff {
                    let _ = write!(out, "\\x{code:02X}");
                } else {
                    let _ = write!(out, "\\u{code:04X}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whether a string without control characters or indicator pairs (which the caller
/// checks) must be quoted so that a YAML 1.1 or 1.2 reader takes it as that very string.
fn needs_quotes(s: &str, flow: bool) -> bool {
    const START: &[char] = &[
        '-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@',
        '`', ' ',
    ];
    const FLOW_INDICATORS: &[char] = &[',', '[', ']', '{', '}'];
    s.is_empty()
        || s.starts_with(START)
        || s.starts_with("...")
        || s.ends_with([' ', ':'])
        // libyaml rejects a flow indicator in flow.
        || (flow && s.contains(FLOW_INDICATORS))
        || is_reserved_word(s)
        || looks_numeric(s)
        || looks_like_timestamp(s)
}

/// Whether `s` holds `: ` or ` #` (which end a plain scalar), or in flow `:?` (which
/// libyaml rejects): one pass over the bytes.
fn has_indicator_pair(s: &str, flow: bool) -> bool {
    let mut prev = 0u8;
    for &b in s.as_bytes() {
        if (prev == b':' && (b == b' ' || (flow && b == b'?'))) || (prev == b' ' && b == b'#') {
            return true;
        }
        prev = b;
    }
    false
}

/// Booleans and nulls of YAML 1.1 and 1.2 (any case), plus the YAML 1.1
/// merge (`<<`) and value (`=`) keys.
fn is_reserved_word(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "true", "false", "yes", "no", "y", "n", "on", "off", "null", "~", "<<", "=",
    ];
    WORDS.iter().any(|w| w.eq_ignore_ascii_case(s))
}

/// Anything that might be read as an integer or float: decimal, hex, octal,
/// binary, with `_` separators, YAML 1.1 sexagesimal, exponents, `.inf`,
/// `.nan`. Errs on the side of quoting (`1.2.3` is quoted too).
fn looks_numeric(s: &str) -> bool {
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    if [".inf", ".nan", "inf", "nan", "infinity"]
        .iter()
        .any(|w| w.eq_ignore_ascii_case(unsigned))
    {
        return true;
    }
    let starts_like_number = match unsigned.as_bytes() {
        [first, ..] if first.is_ascii_digit() => true,
        [b'.', second, ..] => second.is_ascii_digit(),
        _ => false,
    };
    starts_like_number
        && unsigned
            .chars()
            .all(|c| c.is_ascii_hexdigit() || "xXoO._+-:".contains(c))
}

/// YAML 1.1 timestamps all start with a four-digit year and a dash
/// (`2010-09-09`, `2001-12-14t21:59:43.10-05:00`).
fn looks_like_timestamp(s: &str) -> bool {
    let bytes = s.as_bytes();
    bytes.len() >= 5 && bytes[..4].iter().all(u8::is_ascii_digit) && bytes[4] == b'-'
}

/// Whether a multi-line string can be written as a literal block scalar and
/// read back unchanged.
fn literal_allowed(s: &str, allow_keep: bool) -> bool {
    let body = s.trim_end_matches('\n');
    let trailing_newlines = s.len() - body.len();
    if trailing_newlines > 1 && !allow_keep {
        return false;
    }
    if body
        .chars()
        .any(|c| c != '\n' && c != '\t' && needs_escape(c))
    {
        return false;
    }
    // The first non-empty line fixes the indentation, so it must not start
    // with white space; trailing white space would be invisible.
    match body.split('\n').find(|line| !line.is_empty()) {
        None => return false,
        Some(first) if first.starts_with([' ', '\t']) => return false,
        Some(_) => {}
    }
    !body.split('\n').any(|line| line.ends_with([' ', '\t']))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse;
    use serde_json::json;

    fn round_trip(value: &Value) -> String {
        let text = to_string(value);
        match parse(&text) {
            Ok(back) => assert_eq!(
                &back, value,
                "round trip changed the value; YAML was:\n{text}"
            ),
            Err(err) => panic!("output does not parse ({err}); YAML was:\n{text}"),
        }
        assert!(text.ends_with('\n') && !text.ends_with("\n\n"), "{text:?}");
        text
    }

    // ----- writing -----

    #[test]
    fn writes_block_style_with_compact_sequences() {
        let v = json!({
            "Statement": [
                {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "*"},
                ["nested", "list"],
                "plain",
            ],
            "Empty": {},
            "None": [],
            "Nothing": null,
            "Count": 3,
            "Ratio": 0.5,
            "On": false,
        });
        let text = round_trip(&v);
        assert_eq!(
            text,
            "\
Statement:
  - Effect: Allow
    Action:
      - s3:GetObject
      - s3:PutObject
    Resource: '*'
  - - nested
    - list
  - plain
Empty: {}
None: []
Nothing: null
Count: 3
Ratio: 0.5
'On': false
"
        );
    }

    #[test]
    fn keeps_key_order() {
        let v = json!({"Zeta": 1, "Alpha": 2, "Mid": {"b": 1, "a": 2}});
        let text = round_trip(&v);
        assert_eq!(text, "Zeta: 1\nAlpha: 2\nMid:\n  b: 1\n  a: 2\n");
        let keys: Vec<String> = parse(&text)
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(keys, ["Zeta", "Alpha", "Mid"]);
    }

    #[test]
    fn writes_short_form_intrinsics() {
        let v = json!({
            "R": {"Ref": "Bucket"},
            "G": {"Fn::GetAtt": ["Role", "Arn"]},
            "G2": {"Fn::GetAtt": ["Db", "Endpoint.Address"]},
            "G3": {"Fn::GetAtt": ["My.Res", "Arn"]},
            "G4": {"Fn::GetAtt": ["Res", {"Ref": "Attr"}]},
            "S": {"Fn::Sub": "arn:aws:s3:::${Bucket}/*"},
            "J": {"Fn::Join": ["", ["arn:aws:s3:::", {"Ref": "Bucket"}, "/*"]]},
            "I": {"Fn::If": ["IsProd", {"Ref": "A"}, {"Ref": "AWS::NoValue"}]},
            "Z": {"Fn::Select": [0, {"Fn::GetAZs": ""}]},
            "U": {"Fn::Foo": "bar"},
        });
        let text = round_trip(&v);
        assert_eq!(
            text,
            "\
R: !Ref Bucket
G: !GetAtt Role.Arn
G2: !GetAtt Db.Endpoint.Address
G3: !GetAtt [My.Res, Arn]
G4: !GetAtt [Res, !Ref Attr]
S: !Sub arn:aws:s3:::${Bucket}/*
J: !Join ['', ['arn:aws:s3:::', !Ref Bucket, /*]]
I: !If [IsProd, !Ref A, !Ref AWS::NoValue]
Z: !Select [0, !GetAZs '']
U: !Foo bar
"
        );
    }

    #[test]
    fn long_intrinsic_arguments_use_block_sequences() {
        let v = json!({"Value": {"Fn::Join": [",", [
            {"Fn::GetAtt": ["FirstVeryLongResourceName", "Arn"]},
            {"Fn::GetAtt": ["SecondVeryLongResourceName", "Arn"]},
            {"Fn::Sub": ["${A}", {"A": {"Ref": "B"}}]},
        ]]}});
        let text = round_trip(&v);
        assert_eq!(
            text,
            "\
Value: !Join
  - ','
  - - !GetAtt FirstVeryLongResourceName.Arn
    - !GetAtt SecondVeryLongResourceName.Arn
    - !Sub
      - ${A}
      - A: !Ref B
"
        );
    }

    #[test]
    fn tag_on_a_mapping_argument() {
        let v = json!({"Doc": {"Fn::ToJsonString": {"Version": "2012-10-17", "Id": {"Ref": "X"}}}});
        let text = round_trip(&v);
        assert_eq!(
            text,
            "Doc: !ToJsonString\n  Version: '2012-10-17'\n  Id: !Ref X\n"
        );
    }

    #[test]
    fn getatt_oddities_round_trip() {
        for arg in [
            json!("NoDot"),
            json!("Has.Dot"),
            json!(["A", "B", "C"]),
            json!(["A"]),
            json!([]),
            json!(["A", 1]),
            json!(["", ""]),
            json!(["A", "b: c"]),
            json!(5),
            json!({"Ref": "X"}),
        ] {
            round_trip(&json!({"x": {"Fn::GetAtt": arg.clone()}}));
            round_trip(&json!([{"Fn::GetAtt": arg}]));
        }
    }

    #[test]
    fn tag_of_a_tag_uses_long_form_outside() {
        let v =
            json!({"UserData": {"Fn::Base64": {"Fn::Sub": "#!/bin/bash\necho ${AWS::Region}\n"}}});
        let text = round_trip(&v);
        assert_eq!(
            text,
            "UserData:\n  Fn::Base64: !Sub |\n    #!/bin/bash\n    echo ${AWS::Region}\n"
        );
        let v = json!({"x": {"Ref": {"Ref": "z"}}});
        assert_eq!(round_trip(&v), "x:\n  Ref: !Ref z\n");
        // Only the innermost pair clashes: Sub goes long, Base64 can be short.
        let v = json!({"x": {"Fn::Base64": {"Fn::Sub": {"Ref": "z"}}}});
        assert_eq!(round_trip(&v), "x: !Base64\n  Fn::Sub: !Ref z\n");
        let v = json!([{"Fn::Not": {"Condition": "A"}}]);
        assert_eq!(round_trip(&v), "- Fn::Not: !Condition A\n");
    }

    #[test]
    fn transform_stays_long() {
        let v = json!({"Fn::Transform": {"Name": "AWS::Include", "Parameters": {"Location": "s3://b/k"}}});
        let text = round_trip(&v);
        assert_eq!(
            text,
            "Fn::Transform:\n  Name: AWS::Include\n  Parameters:\n    Location: s3://b/k\n"
        );
        assert_eq!(
            parse("x: !Transform {Name: T}\n").unwrap(),
            json!({"x": {"Fn::Transform": {"Name": "T"}}})
        );
    }

    #[test]
    fn condition_is_a_tag_only_inside_intrinsics() {
        let v = json!({
            "Resources": {
                "Bucket": {"Type": "AWS::S3::Bucket", "Condition": "IsProd"},
                "Lonely": {"Condition": "IsProd"},
            },
            "Conditions": {
                "Both": {"Fn::And": [{"Condition": "IsProd"}, {"Fn::Not": [{"Condition": "IsDev"}]}]},
            },
            "Odd": {"Fn::And": [{"Condition": ["x"]}]},
        });
        let text = round_trip(&v);
        assert_eq!(
            text,
            "\
Resources:
  Bucket:
    Type: AWS::S3::Bucket
    Condition: IsProd
  Lonely:
    Condition: IsProd
Conditions:
  Both: !And [!Condition IsProd, !Not [!Condition IsDev]]
Odd: !And
  - Condition: [x]
"
        );
    }

    #[test]
    fn ref_is_always_a_tag() {
        assert_eq!(round_trip(&json!({"Ref": "X"})), "!Ref X\n");
        assert_eq!(round_trip(&json!([{"Ref": "X"}])), "- !Ref X\n");
        assert_eq!(round_trip(&json!({"a": {"Ref": 1}})), "a: !Ref 1\n");
        assert_eq!(round_trip(&json!({"a": {"Ref": "1"}})), "a: !Ref '1'\n");
        assert_eq!(round_trip(&json!({"a": {"Ref": null}})), "a: !Ref null\n");
        assert_eq!(round_trip(&json!({"a": {"Ref": []}})), "a: !Ref []\n");
        assert_eq!(round_trip(&json!({"a": {"Ref": {}}})), "a: !Ref {}\n");
        // Keys that only look like intrinsics stay keys.
        round_trip(&json!({"Fn::": 1}));
        round_trip(&json!({"Fn::Ref": "x"}));
        round_trip(&json!({"Fn::Condition": "x"}));
        round_trip(&json!({"Fn::Has Space": "x"}));
        round_trip(&json!({"Ref": "x", "Other": 1}));
    }

    const MUST_QUOTE: &[&str] = &[
        "",
        "true",
        "False",
        "TRUE",
        "yes",
        "No",
        "Y",
        "n",
        "on",
        "OFF",
        "null",
        "Null",
        "~",
        "0",
        "42",
        "-1",
        "+1",
        "1.0",
        "-0.5",
        ".5",
        "1.",
        "1e3",
        "1E-3",
        ".inf",
        "-.Inf",
        ".NaN",
        "inf",
        "nan",
        "0x1F",
        "0o17",
        "012",
        "0b101",
        "1_000",
        "190:20:30",
        "2010-09-09",
        "2001-12-14t21:59:43.10-05:00",
        "2001-12-14 21:59:43.10 -5",
        "-",
        "- x",
        "-x",
        "?",
        "? x",
        ":",
        ":x",
        ",",
        "[x]",
        "]",
        "{y}",
        "}",
        "#x",
        "&anchor",
        "*alias",
        "!Ref",
        "|",
        "> x",
        "'q'",
        "\"dq\"",
        "%p",
        "@at",
        "`bt",
        " lead",
        "trail ",
        "key:",
        "a: b",
        "a #b",
        "...",
        "---",
        "<<",
        "=",
    ];

    #[test]
    fn quotes_every_ambiguous_string() {
        for s in MUST_QUOTE {
            let text = to_string(&json!({"k": s}));
            assert_ne!(text, format!("k: {s}\n"), "{s:?} was not quoted");
            assert!(
                text.starts_with("k: '") || text.starts_with("k: \""),
                "{s:?} -> {text:?}"
            );
            round_trip(&json!({"k": s}));
            round_trip(&json!({ s.to_string(): s }));
            round_trip(&json!([s, [s], {"Fn::Join": [s, [s, s]]}]));
            round_trip(&Value::String(s.to_string()));
        }
    }

    #[test]
    fn quoting_styles() {
        assert_eq!(to_string(&json!("it's")), "it's\n");
        assert_eq!(to_string(&json!("'it'")), "'''it'''\n");
        assert_eq!(to_string(&json!("tab\tx")), "\"tab\\tx\"\n");
        assert_eq!(to_string(&json!("bell\u{7}")), "\"bell\\x07\"\n");
        assert_eq!(to_string(&json!("ls\u{2028}")), "\"ls\\u2028\"\n");
        assert_eq!(
            to_string(&json!("back\\slash \"q\"")),
            "back\\slash \"q\"\n"
        );
        assert_eq!(to_string(&json!("cr\r\n")), "\"cr\\r\\n\"\n");
        // Plain when unambiguous.
        for s in [
            "AWS::S3::Bucket",
            "arn:aws:s3:::bucket/*",
            "${AWS::StackName}-x",
            "ümlaut",
            "a-b",
            "10 apples",
            "a:b",
            "a#b",
            "x?",
            "Fn::Sub",
            "1.2.3a beta",
            "+",
            ".",
            "emoji 🎉",
        ] {
            assert_eq!(to_string(&json!({"k": s})), format!("k: {s}\n"));
            round_trip(&json!({"k": s}));
        }
        // In flow sequences flow indicators need quotes as well.
        assert_eq!(
            round_trip(&json!({"k": {"Fn::Join": ["a,b", ["{x}", "[y]", "x:?", "a:b"]]}})),
            "k: !Join ['a,b', ['{x}', '[y]', 'x:?', a:b]]\n"
        );
        assert_eq!(round_trip(&json!({"k": "x:?"})), "k: x:?\n");
    }

    #[test]
    fn multi_line_strings() {
        let cases = [
            ("a\nb", "k: |-\n  a\n  b\n"),
            ("a\nb\n", "k: |\n  a\n  b\n"),
            ("a\n\nb\n", "k: |\n  a\n\n  b\n"),
            ("a\n  indented\n", "k: |\n  a\n    indented\n"),
            ("\nfirst empty\n", "k: |\n\n  first empty\n"),
            ("a\n\tb\n", "k: |\n  a\n  \tb\n"),
            ("#!/bin/bash\n--- x\n", "k: |\n  #!/bin/bash\n  --- x\n"),
            ("trailing \nspace\n", "k: \"trailing \\nspace\\n\"\n"),
            (" leading\nspace\n", "k: \" leading\\nspace\\n\"\n"),
            ("\tleading\ntab\n", "k: \"\\tleading\\ntab\\n\"\n"),
            ("\n\n", "k: \"\\n\\n\"\n"),
            ("cr\r\nlf\n", "k: \"cr\\r\\nlf\\n\"\n"),
        ];
        for (s, expected) in cases {
            assert_eq!(round_trip(&json!({"k": s})), expected, "{s:?}");
        }
        // Several trailing newlines need `|+`, except at the very end of the
        // document where the blank lines would run into the end of the file.
        assert_eq!(
            round_trip(&json!({"k": "a\n\n", "z": 1})),
            "k: |+\n  a\n\nz: 1\n"
        );
        assert_eq!(round_trip(&json!({"k": "a\n\n"})), "k: \"a\\n\\n\"\n");
        // Block scalars nested in sequences and compact mappings.
        assert_eq!(
            round_trip(&json!([{"a": "x\ny\n", "b": ["p\nq"]}])),
            "- a: |\n    x\n    y\n  b:\n    - |-\n      p\n      q\n"
        );
        assert_eq!(round_trip(&json!("x\ny\n")), "|\n  x\n  y\n");
        // Multi-line keys and flow elements are double-quoted.
        assert_eq!(round_trip(&json!({"a\nb": 1})), "\"a\\nb\": 1\n");
        assert_eq!(
            round_trip(&json!({"k": {"Fn::Join": ["\n", ["a"]]}})),
            "k: !Join [\"\\n\", [a]]\n"
        );
    }

    #[test]
    fn very_long_keys_are_explicit() {
        let key = "k".repeat(1500);
        let v = json!({ key.clone(): {"a": 1}, "short": [{ key: "v" }] });
        let text = round_trip(&v);
        assert!(text.starts_with("? kkk"), "{}", &text[..20]);
    }

    #[test]
    fn floats_with_exponents_read_as_floats_in_yaml_1_1() {
        let n = |v: f64| number(&serde_json::Number::from_f64(v).unwrap());
        assert_eq!(n(1e-7), "1.0e-7");
        assert_eq!(n(2.5e20), "2.5e+20");
        assert_eq!(n(0.5), "0.5");
        assert_eq!(number(&serde_json::Number::from(7)), "7");
        let text = to_string(&serde_json::json!({"Threshold": 1e-7}));
        assert!(text.contains("Threshold: 1.0e-7"), "{text}");
    }

    #[test]
    fn scalar_and_empty_documents() {
        assert_eq!(round_trip(&Value::Null), "null\n");
        assert_eq!(round_trip(&json!(true)), "true\n");
        assert_eq!(round_trip(&json!(-3)), "-3\n");
        assert_eq!(round_trip(&json!(2.5)), "2.5\n");
        assert_eq!(round_trip(&json!("")), "''\n");
        assert_eq!(round_trip(&json!({})), "{}\n");
        assert_eq!(round_trip(&json!([])), "[]\n");
        assert_eq!(
            round_trip(&json!({"Fn::Join": ["", [{"Ref": "A"}, {"k": 1}]]})),
            "!Join\n  - ''\n  - - !Ref A\n    - k: 1\n"
        );
    }

    #[test]
    fn numbers_round_trip_with_their_kind() {
        for n in [
            json!(0),
            json!(-1),
            json!(i64::MIN),
            json!(u64::MAX),
            json!(0.0),
            json!(-0.0),
            json!(1.0),
            json!(1e300),
            json!(1.5e-7),
            json!(123456789.125),
        ] {
            let back = parse(&to_string(&json!({"n": n.clone()}))).unwrap();
            assert_eq!(back["n"], n);
            assert_eq!(back["n"].is_f64(), n.is_f64(), "{n}");
        }
    }

    const TEMPLATE: &str = r#"AWSTemplateFormatVersion: '2010-09-09'
Description: Rotates the secret every 30 days
Parameters:
  Env:
    Type: String
    AllowedValues:
      - dev
      - prod
    Default: 'yes'
Conditions:
  IsProd: !Equals [!Ref Env, prod]
  NotProd: !Not [!Condition IsProd]
Resources:
  RotationRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: '2012-10-17'
        Statement:
          - Effect: Allow
            Principal:
              Service: lambda.amazonaws.com
            Action: sts:AssumeRole
      ManagedPolicyArns:
        - !Sub arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole
      Policies:
        - PolicyName: rotate
          PolicyDocument:
            Version: '2012-10-17'
            Statement:
              - Effect: Allow
                Action:
                  - secretsmanager:GetSecretValue
                  - secretsmanager:PutSecretValue
                Resource: !Ref Secret
                Condition:
                  StringEquals:
                    secretsmanager:resource/AllowRotationLambdaArn: !Sub arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:rotate
  RotationFunction:
    Type: AWS::Lambda::Function
    Condition: IsProd
    Properties:
      Runtime: python3.12
      Handler: index.handler
      Timeout: 30
      MemorySize: 128
      Role: !GetAtt RotationRole.Arn
      Environment:
        Variables:
          SECRETS_MANAGER_ENDPOINT: !Sub https://secretsmanager.${AWS::Region}.${AWS::URLSuffix}
          DEBUG: 'off'
      Code:
        ZipFile: |
          import boto3

          def handler(event, context):
              return {"ok": True}
      VpcConfig: !If
        - IsProd
        - SubnetIds: !Split [',', !ImportValue shared-subnets]
          SecurityGroupIds:
            - !GetAtt Sg.GroupId
        - !Ref AWS::NoValue
  RotationSchedule:
    Type: AWS::SecretsManager::RotationSchedule
    DependsOn: RotationPermission
    Properties:
      SecretId: !Ref Secret
      RotationLambdaARN: !GetAtt RotationFunction.Arn
      RotationRules:
        ScheduleExpression: rate(30 days)
      RotateImmediatelyOnUpdate: false
Outputs:
  FunctionArn:
    Condition: IsProd
    Value: !GetAtt RotationFunction.Arn
    Export:
      Name: !Sub ${AWS::StackName}-rotation-function
  Azs:
    Value: !Join [',', !GetAZs '']
"#;

    fn template_value() -> Value {
        json!({
            "AWSTemplateFormatVersion": "2010-09-09",
            "Description": "Rotates the secret every 30 days",
            "Parameters": {
                "Env": {"Type": "String", "AllowedValues": ["dev", "prod"], "Default": "yes"},
            },
            "Conditions": {
                "IsProd": {"Fn::Equals": [{"Ref": "Env"}, "prod"]},
                "NotProd": {"Fn::Not": [{"Condition": "IsProd"}]},
            },
            "Resources": {
                "RotationRole": {
                    "Type": "AWS::IAM::Role",
                    "Properties": {
                        "AssumeRolePolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": [{
                                "Effect": "Allow",
                                "Principal": {"Service": "lambda.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                            }],
                        },
                        "ManagedPolicyArns": [
                            {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"},
                        ],
                        "Policies": [{
                            "PolicyName": "rotate",
                            "PolicyDocument": {
                                "Version": "2012-10-17",
                                "Statement": [{
                                    "Effect": "Allow",
                                    "Action": ["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"],
                                    "Resource": {"Ref": "Secret"},
                                    "Condition": {"StringEquals": {
                                        "secretsmanager:resource/AllowRotationLambdaArn":
                                            {"Fn::Sub": "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:rotate"},
                                    }},
                                }],
                            },
                        }],
                    },
                },
                "RotationFunction": {
                    "Type": "AWS::Lambda::Function",
                    "Condition": "IsProd",
                    "Properties": {
                        "Runtime": "python3.12",
                        "Handler": "index.handler",
                        "Timeout": 30,
                        "MemorySize": 128,
                        "Role": {"Fn::GetAtt": ["RotationRole", "Arn"]},
                        "Environment": {"Variables": {
                            "SECRETS_MANAGER_ENDPOINT": {"Fn::Sub": "https://secretsmanager.${AWS::Region}.${AWS::URLSuffix}"},
                            "DEBUG": "off",
                        }},
                        "Code": {"ZipFile": "import boto3\n\ndef handler(event, context):\n    return {\"ok\": True}\n"},
                        "VpcConfig": {"Fn::If": [
                            "IsProd",
                            {
                                "SubnetIds": {"Fn::Split": [",", {"Fn::ImportValue": "shared-subnets"}]},
                                "SecurityGroupIds": [{"Fn::GetAtt": ["Sg", "GroupId"]}],
                            },
                            {"Ref": "AWS::NoValue"},
                        ]},
                    },
                },
                "RotationSchedule": {
                    "Type": "AWS::SecretsManager::RotationSchedule",
                    "DependsOn": "RotationPermission",
                    "Properties": {
                        "SecretId": {"Ref": "Secret"},
                        "RotationLambdaARN": {"Fn::GetAtt": ["RotationFunction", "Arn"]},
                        "RotationRules": {"ScheduleExpression": "rate(30 days)"},
                        "RotateImmediatelyOnUpdate": false,
                    },
                },
            },
            "Outputs": {
                "FunctionArn": {
                    "Condition": "IsProd",
                    "Value": {"Fn::GetAtt": ["RotationFunction", "Arn"]},
                    "Export": {"Name": {"Fn::Sub": "${AWS::StackName}-rotation-function"}},
                },
                "Azs": {"Value": {"Fn::Join": [",", {"Fn::GetAZs": ""}]}},
            },
        })
    }

    /// A template nested as deep as the parser reads (128 lists and maps), in every form
    /// at once, with brackets in its text, still parses: only deeper is refused.
    #[test]
    fn deep_but_legal_templates_parse() {
        let mut text = String::from("Resources:\n");
        let mut depth = 1;
        // Block maps, one more level per line, with text that looks like structure.
        for i in 0..40 {
            let pad = " ".repeat(2 * (i + 1));
            text.push_str(&format!(
                "{pad}Note{i}: \"[[{{ #\" # [[[\n{pad}Doc{i}: |\n{pad}  [[[[ {{{{\n{pad}Plain{i}: it's [\n{pad}  {{{{ [[[\n{pad}Level{i}:\n"
            ));
            depth += 1;
        }
        // Compact block sequences, then a flow collection with tags and quoted brackets.
        let pad = " ".repeat(2 * 41);
        text.push_str(&format!("{pad}{}", "- ".repeat(40)));
        depth += 40;
        let flow = 128 - depth;
        text.push_str(&"[!Sub '[[', ".repeat(flow));
        text.push_str(&"]".repeat(flow));
        text.push('\n');
        let v = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let mut inner = &v["Resources"];
        for i in 0..40 {
            assert_eq!(inner[format!("Note{i}")], "[[{ #");
            assert_eq!(inner[format!("Plain{i}")], "it's [ {{ [[[");
            inner = &inner[format!("Level{i}")];
        }
        for _ in 0..40 {
            inner = &inner[0];
        }
        for _ in 0..flow - 1 {
            inner = &inner[1];
        }
        assert_eq!(inner, &json!([{"Fn::Sub": "[["}]));
        // One more level is refused, where it happens.
        let deeper = text.replacen("[!Sub", "[[!Sub", 1).replacen("]", "]]", 1);
        let e = parse(&deeper).unwrap_err();
        assert_eq!(e.line, Some(text.lines().count()), "{e}");
        assert!(e.message.contains("nest more than 128"), "{e}");
    }

    #[test]
    fn realistic_template() {
        let value = template_value();
        assert_eq!(parse(TEMPLATE).unwrap(), value);
        assert_eq!(round_trip(&value), TEMPLATE);
    }

    // ----- randomized round trip -----

    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
            &items[self.below(items.len())]
        }
    }

    const FRAGMENTS: &[&str] = &[
        "yes",
        "No",
        "ON",
        "y",
        "1.0",
        "1e3",
        "0x1F",
        "0o17",
        "012",
        "1_000",
        ".inf",
        "-.Inf",
        ".NaN",
        "12:30",
        "a: b",
        "#x",
        "a #b",
        "-",
        "- x",
        "?",
        ":",
        ":x",
        "x:",
        " lead",
        "trail ",
        "multi\nline\n",
        "multi\nline",
        "x\n\n",
        "\nnl",
        "  indented\nblock",
        "",
        "2010-09-09",
        "!Ref",
        "&a",
        "*b",
        "|",
        "> x",
        "'",
        "\"",
        "%",
        "@",
        "`",
        "ümlaut",
        "tab\tx",
        "\t",
        "null",
        "~",
        "true",
        "FALSE",
        "AWS::Region",
        "Fn::Sub",
        "Ref",
        "Condition",
        "A.B.C",
        "a,b",
        "[x]",
        "{y}",
        "...",
        "---",
        "<<",
        "=",
        "\r",
        "\u{85}",
        "\u{2028}",
        "\u{feff}",
        "🎉",
        "\u{1}",
        "\u{7f}",
        " ",
        "\n",
        "\n ",
        " \n",
        "\\",
        "${X}",
        "plain",
        "Arn",
        "a-fairly-long-fragment-that-pushes-flow-sequences-over-the-width-limit",
        "x",
        "0",
        "-1",
        ".",
        ",",
    ];

    const FN_NAMES: &[&str] = &[
        "Fn::Sub",
        "Fn::Join",
        "Fn::GetAtt",
        "Fn::If",
        "Fn::Base64",
        "Fn::Transform",
        "Fn::Not",
        "Fn::And",
        "Fn::Select",
        "Fn::GetAZs",
        "Fn::Foo",
        "Fn::",
        "Fn::Ref",
        "Ref",
        "Condition",
    ];

    fn random_string(rng: &mut XorShift) -> String {
        let parts = 1 + rng.below(3);
        (0..parts).map(|_| *rng.pick(FRAGMENTS)).collect()
    }

    fn random_value(rng: &mut XorShift, depth: usize) -> Value {
        let choice = if depth == 0 {
            rng.below(6)
        } else {
            rng.below(14)
        };
        match choice {
            0..=2 => Value::String(random_string(rng)),
            3 => match rng.below(5) {
                0 => json!(rng.next() as i64),
                1 => json!(rng.next()),
                2 => json!(rng.below(100)),
                3 => json!((rng.next() >> 11) as f64 / 1024.0),
                _ => json!(f64::from_bits(rng.next() >> 2)),
            },
            4 => json!(rng.below(2) == 0),
            5 => Value::Null,
            6..=8 => {
                let len = rng.below(5);
                Value::Array((0..len).map(|_| random_value(rng, depth - 1)).collect())
            }
            9..=11 => {
                let len = rng.below(5);
                let mut map = Map::new();
                for _ in 0..len {
                    let key = if rng.below(4) == 0 {
                        rng.pick(FN_NAMES).to_string()
                    } else {
                        random_string(rng)
                    };
                    map.insert(key, random_value(rng, depth - 1));
                }
                Value::Object(map)
            }
            _ => {
                let name = rng.pick(FN_NAMES).to_string();
                let argument = match rng.below(4) {
                    0 => json!([random_string(rng), random_string(rng)]),
                    1 => json!([random_string(rng), [random_value(rng, depth - 1)]]),
                    _ => random_value(rng, depth - 1),
                };
                let mut map = Map::new();
                map.insert(name, argument);
                Value::Object(map)
            }
        }
    }

    #[test]
    fn randomized_round_trip() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        for _ in 0..4000 {
            // Mostly collections at the top, sometimes a bare scalar.
            let value = loop {
                let value = random_value(&mut rng, 4);
                if value.is_object() || value.is_array() || rng.below(10) == 0 {
                    break value;
                }
            };
            round_trip(&value);
        }
    }
}
