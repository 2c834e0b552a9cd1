//! Where values are in a template's text, by their path in the template
//! (`Resources.AppRotation.Properties.secret[0].arn`), for `rotgen expand`'s diagnostics.
//!
//! One pass over the text finds every path asked for: YAML through libyaml's events (the
//! parser serde_yaml reads with, so the places are the ones it read), JSON with a small
//! scanner. The current path is kept in one buffer with a rolling hash, so each node
//! costs the length of its own key, never of its whole path: the pass stays linear in
//! the text, whatever its nesting or the number of paths asked for.
//!
//! A value written with a short-form tag (`!Ref X`) is at its own path and at the long
//! form's (`….Ref`, `….Fn::GetAtt[0]`). A value reached through an alias (`*base`) is at
//! the alias. A path the text does not hold is not found (the caller falls back to it).

use std::collections::{HashMap, HashSet};
use std::ops::Range;

/// Where one value is: its key's span (for a map's entry) and its own span, both within
/// the line the value starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub key: Option<Range<usize>>,
    pub value: Range<usize>,
}

/// What one pass over a template's text found.
#[derive(Debug, Default)]
pub struct Located {
    /// The place of each path asked for that the text holds.
    pub places: HashMap<String, Place>,
    /// The spans of the scalars whose key names a secret (`Password`, `SecretString`,
    /// `AuthToken`…; not a map such as the spec's own `password` policy): never to be
    /// shown.
    pub secrets: Vec<Range<usize>>,
}

/// Whether a key names a value that is (or holds) a secret.
fn names_a_secret(key: &str) -> bool {
    let k: String = key
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    !k.starts_with("generate")
        && [
            "password",
            "passwd",
            "passphrase",
            "secretstring",
            "secretbinary",
            "secretvalue",
            "secretaccesskey",
            "privatekey",
            "authtoken",
            "apikey",
            "token",
            "credentials",
        ]
        .iter()
        .any(|s| k.ends_with(s))
}

/// The places of `paths` in `text`, a template that `parse_template` read: JSON when it
/// starts with `{`, else YAML (the root's path is the empty string; a path not found is
/// left out), and where its secret values are.
pub fn locate(text: &str, paths: &[&str]) -> Located {
    let mut walk = Walk::new(text, paths);
    if text
        .trim_start_matches('\u{feff}')
        .trim_start()
        .starts_with('{')
    {
        json(text, &mut walk);
    } else {
        yaml(text, &mut walk);
    }
    let secrets = std::mem::take(&mut walk.secrets);
    Located {
        places: walk.finish(paths),
        secrets,
    }
}

const BASE: u64 = 0x100_0000_01b3;

fn step(hash: u64, byte: u8) -> u64 {
    hash.wrapping_mul(BASE).wrapping_add(u64::from(byte) + 1)
}

/// Whether byte `i` of a path starts a segment (`.key` or `[i]`).
fn boundary(path: &[u8], i: usize) -> bool {
    i > 0 && matches!(path[i], b'.' | b'[')
}

struct Walk<'w> {
    text: &'w str,
    path: String,
    hash: u64,
    /// Path length and hash before each segment pushed.
    saved: Vec<(usize, u64)>,
    /// Hashes of the paths asked for.
    wanted: HashSet<u64>,
    /// Hashes of the proper prefixes of the paths asked for, at segment boundaries: an
    /// alias there stands for the values under it.
    above: HashSet<u64>,
    found: HashMap<String, Place>,
    aliases: HashMap<String, Place>,
    /// The spans of the scalars whose key names a secret.
    secrets: Vec<Range<usize>>,
}

impl<'w> Walk<'w> {
    fn new(text: &'w str, paths: &[&str]) -> Self {
        let mut wanted = HashSet::new();
        let mut above = HashSet::new();
        for p in paths {
            let bytes = p.as_bytes();
            let mut h = 0;
            for (i, &b) in bytes.iter().enumerate() {
                if boundary(bytes, i) {
                    above.insert(h);
                }
                h = step(h, b);
            }
            wanted.insert(h);
        }
        Walk {
            text,
            path: String::new(),
            hash: 0,
            saved: Vec::new(),
            wanted,
            above,
            found: HashMap::new(),
            aliases: HashMap::new(),
            secrets: Vec::new(),
        }
    }

    fn push_str(&mut self, s: &str) {
        for &b in s.as_bytes() {
            self.hash = step(self.hash, b);
        }
        self.path.push_str(s);
    }

    fn push_key(&mut self, key: &str) {
        self.saved.push((self.path.len(), self.hash));
        if !self.path.is_empty() {
            self.push_str(".");
        }
        self.push_str(key);
    }

    fn push_index(&mut self, i: usize) {
        self.saved.push((self.path.len(), self.hash));
        self.push_str(&format!("[{i}]"));
    }

    fn pop(&mut self) {
        if let Some((len, hash)) = self.saved.pop() {
            self.path.truncate(len);
            self.hash = hash;
        }
    }

    /// `start..end`, cut at the end of the line it starts on.
    fn place(&self, key: Option<Range<usize>>, start: usize, end: usize) -> Place {
        let cut = |start: usize, end: usize| {
            let start = start.min(self.text.len());
            let end = end.clamp(start, self.text.len());
            let line_end = self.text.as_bytes()[start..end]
                .iter()
                .position(|&b| b == b'\n' || b == b'\r')
                .map_or(end, |i| start + i);
            start..line_end
        };
        Place {
            key: key.map(|k| cut(k.start, k.end)),
            value: cut(start, end),
        }
    }

    fn record(&mut self, place: &Place) {
        if self.wanted.contains(&self.hash) && !self.found.contains_key(&self.path) {
            self.found.insert(self.path.clone(), place.clone());
        }
    }

    fn record_alias(&mut self, place: &Place) {
        if self.above.contains(&self.hash) && !self.aliases.contains_key(&self.path) {
            self.aliases.insert(self.path.clone(), place.clone());
        }
    }

    /// Each path's place: its own, or that of the alias it lies under.
    fn finish(mut self, paths: &[&str]) -> HashMap<String, Place> {
        if self.aliases.is_empty() {
            return self.found;
        }
        for p in paths {
            if self.found.contains_key(*p) {
                continue;
            }
            let bytes = p.as_bytes();
            let under = (1..bytes.len())
                .rev()
                .filter(|&i| boundary(bytes, i))
                .find_map(|i| self.aliases.get(&p[..i]));
            if let Some(place) = under {
                let place = place.clone();
                self.found.insert((*p).to_string(), place);
            }
        }
        self.found
    }
}

/// The long form's key of a short-form tag (`!Ref` → `Ref`, `!Sub` → `Fn::Sub`), as
/// `yaml::long_form` writes it; `None` for a tag that names no function.
fn function_of(tag: &[u8]) -> Option<String> {
    let name = std::str::from_utf8(tag.strip_prefix(b"!")?).ok()?;
    match name {
        "" | "!" => None,
        n if n.starts_with('!') => None,
        "Ref" | "Condition" => Some(name.to_string()),
        _ => Some(format!("Fn::{name}")),
    }
}

/// A plain scalar key as the reader turns it into a string (`~` → `null`, `True` →
/// `true`, `+1` → `1`).
fn plain_key(text: &str) -> String {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return "null".into(),
        "true" | "True" | "TRUE" => return "true".into(),
        "false" | "False" | "FALSE" => return "false".into(),
        _ => {}
    }
    let digits = text.trim_start_matches(['+', '-']);
    let leading_zero = digits.len() > 1 && digits.starts_with('0');
    match text.parse::<i64>() {
        Ok(n) if !leading_zero && text.len() - digits.len() <= 1 => n.to_string(),
        _ => text.to_string(),
    }
}

// ---------------------------------------------------------------------------
// YAML
// ---------------------------------------------------------------------------

enum Ev {
    Scalar {
        anchor: Option<Vec<u8>>,
        tag: Option<Vec<u8>>,
        value: Vec<u8>,
        plain: bool,
    },
    Alias(Vec<u8>),
    SeqStart(Option<Vec<u8>>),
    MapStart(Option<Vec<u8>>),
    End,
    DocumentEnd,
    Other,
}

/// Calls `f` with each event of the first document and its byte span; `false` when
/// libyaml stops with an error (the places found so far stand).
fn events(text: &str, mut f: impl FnMut(Ev, usize, usize)) -> bool {
    use std::mem::MaybeUninit;

    /// A NUL-terminated string libyaml owns, copied (`None` for a null pointer).
    ///
    /// # Safety
    /// `p` is null or points to a NUL-terminated string alive for the call.
    unsafe fn owned(p: *const u8) -> Option<Vec<u8>> {
        if p.is_null() {
            return None;
        }
        // SAFETY: libyaml's strings are NUL-terminated, per the caller.
        Some(
            unsafe { std::ffi::CStr::from_ptr(p.cast()) }
                .to_bytes()
                .to_vec(),
        )
    }

    let mut parser = Box::new(MaybeUninit::<unsafe_libyaml::yaml_parser_t>::uninit());
    let p = parser.as_mut_ptr();
    // SAFETY: this follows libyaml's contract as serde_yaml's own wrapper does: the parser
    // is initialised before use and deleted once, its input (`text`) outlives it, each
    // event is read only in the union member its type names and deleted once, and
    // nothing libyaml owns is kept past its event.
    unsafe {
        if unsafe_libyaml::yaml_parser_initialize(p).fail {
            return false;
        }
        unsafe_libyaml::yaml_parser_set_encoding(p, unsafe_libyaml::YAML_UTF8_ENCODING);
        unsafe_libyaml::yaml_parser_set_input_string(p, text.as_ptr(), text.len() as _);
        let mut ok = true;
        loop {
            let mut event = MaybeUninit::<unsafe_libyaml::yaml_event_t>::uninit();
            let e = event.as_mut_ptr();
            if unsafe_libyaml::yaml_parser_parse(p, e).fail {
                ok = false;
                break;
            }
            let ev = &*e;
            let (start, end) = (ev.start_mark.index as usize, ev.end_mark.index as usize);
            let converted = match ev.type_ {
                unsafe_libyaml::YAML_SCALAR_EVENT => {
                    let s = &ev.data.scalar;
                    Ev::Scalar {
                        anchor: owned(s.anchor),
                        tag: owned(s.tag),
                        value: if s.value.is_null() {
                            Vec::new()
                        } else {
                            std::slice::from_raw_parts(s.value, s.length as usize).to_vec()
                        },
                        plain: s.style == unsafe_libyaml::YAML_PLAIN_SCALAR_STYLE,
                    }
                }
                unsafe_libyaml::YAML_ALIAS_EVENT => {
                    Ev::Alias(owned(ev.data.alias.anchor).unwrap_or_default())
                }
                unsafe_libyaml::YAML_SEQUENCE_START_EVENT => {
                    Ev::SeqStart(owned(ev.data.sequence_start.tag))
                }
                unsafe_libyaml::YAML_MAPPING_START_EVENT => {
                    Ev::MapStart(owned(ev.data.mapping_start.tag))
                }
                unsafe_libyaml::YAML_SEQUENCE_END_EVENT
                | unsafe_libyaml::YAML_MAPPING_END_EVENT => Ev::End,
                unsafe_libyaml::YAML_DOCUMENT_END_EVENT | unsafe_libyaml::YAML_STREAM_END_EVENT => {
                    Ev::DocumentEnd
                }
                _ => Ev::Other,
            };
            unsafe_libyaml::yaml_event_delete(e);
            if matches!(converted, Ev::DocumentEnd) {
                break;
            }
            f(converted, start, end);
        }
        unsafe_libyaml::yaml_parser_delete(p);
        ok
    }
}

enum Frame {
    /// A map, with the key whose value comes next (`None`: a key comes next).
    Map {
        key: Option<(String, Range<usize>)>,
        start: usize,
        own_key: Option<Range<usize>>,
        pops: usize,
    },
    Seq {
        next: usize,
        start: usize,
        own_key: Option<Range<usize>>,
        pops: usize,
    },
}

fn yaml(text: &str, walk: &mut Walk<'_>) {
    let mut frames: Vec<Frame> = Vec::new();
    // Anchored scalars' values, for an alias used as a key.
    let mut anchored: HashMap<Vec<u8>, String> = HashMap::new();
    events(text, |ev, start, end| {
        // A scalar (or alias) where a map expects a key is the key.
        if let Some(Frame::Map {
            key: key @ None, ..
        }) = frames.last_mut()
        {
            let name = match &ev {
                Ev::Scalar { value, plain, .. } => {
                    let s = String::from_utf8_lossy(value).into_owned();
                    if *plain { plain_key(&s) } else { s }
                }
                Ev::Alias(a) => anchored.get(a).cloned().unwrap_or_default(),
                // A collection as a key: the reader refuses it.
                _ => String::new(),
            };
            if matches!(ev, Ev::Scalar { .. } | Ev::Alias(_)) {
                *key = Some((name, start..end));
                return;
            }
        }
        if let Ev::End = ev {
            let Some(frame) = frames.pop() else { return };
            let (begin, own_key, pops) = match frame {
                Frame::Map {
                    start,
                    own_key,
                    pops,
                    ..
                }
                | Frame::Seq {
                    start,
                    own_key,
                    pops,
                    ..
                } => (start, own_key, pops),
            };
            let place = walk.place(own_key, begin, end);
            for _ in 0..pops {
                walk.record(&place);
                walk.pop();
            }
            if frames.is_empty() {
                walk.record(&place);
            }
            return;
        }
        if let Ev::Other = ev {
            return;
        }
        // A value: its path is its key's or its index's.
        let mut secret = false;
        let (own_key, mut pops) = match frames.last_mut() {
            None => (None, 0),
            Some(Frame::Map { key, .. }) => match key.take() {
                Some((name, span)) => {
                    secret = names_a_secret(&name);
                    walk.push_key(&name);
                    (Some(span), 1)
                }
                None => (None, 0),
            },
            Some(Frame::Seq { next, .. }) => {
                let i = *next;
                *next += 1;
                walk.push_index(i);
                (None, 1)
            }
        };
        let tag = match &ev {
            Ev::Scalar { tag, .. } | Ev::SeqStart(tag) | Ev::MapStart(tag) => tag.as_deref(),
            _ => None,
        };
        let function = tag.and_then(function_of);
        match ev {
            Ev::Scalar { anchor, value, .. } => {
                if secret {
                    walk.secrets.push(start..end);
                }
                let place = walk.place(own_key, start, end);
                walk.record(&place);
                if let Some(f) = &function {
                    walk.push_key(f);
                    walk.record(&place);
                    if f == "Fn::GetAtt" && value.contains(&b'.') {
                        for i in 0..2 {
                            walk.push_index(i);
                            walk.record(&place);
                            walk.pop();
                        }
                    }
                    pops += 1;
                }
                if let Some(a) = anchor {
                    anchored.insert(a, String::from_utf8_lossy(&value).into_owned());
                }
                for _ in 0..pops {
                    walk.pop();
                }
            }
            Ev::Alias(_) => {
                let place = walk.place(own_key, start, end);
                walk.record(&place);
                walk.record_alias(&place);
                for _ in 0..pops {
                    walk.pop();
                }
            }
            Ev::SeqStart(_) | Ev::MapStart(_) => {
                if let Some(f) = &function {
                    walk.push_key(f);
                    pops += 1;
                }
                frames.push(if matches!(ev, Ev::SeqStart(_)) {
                    Frame::Seq {
                        next: 0,
                        start,
                        own_key,
                        pops,
                    }
                } else {
                    Frame::Map {
                        key: None,
                        start,
                        own_key,
                        pops,
                    }
                });
            }
            Ev::End | Ev::DocumentEnd | Ev::Other => {}
        }
    });
}

// ---------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------

/// Walks a JSON text serde_json has read (so it is well formed; anything unexpected
/// ends the walk, keeping what was found).
fn json(text: &str, walk: &mut Walk<'_>) {
    let b = text.as_bytes();
    let mut i = if text.starts_with('\u{feff}') { 3 } else { 0 };
    let mut frames: Vec<Frame> = Vec::new();
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && matches!(b[*i], b' ' | b'\t' | b'\n' | b'\r') {
            *i += 1;
        }
    };
    // The end of the string starting at `i` (after its closing quote).
    let string_end = |i: usize| -> Option<usize> {
        let mut j = i + 1;
        while j < b.len() {
            match b[j] {
                b'"' => return Some(j + 1),
                b'\\' => j += 2,
                _ => j += 1,
            }
        }
        None
    };
    loop {
        skip_ws(&mut i);
        let Some(&c) = b.get(i) else { return };
        match frames.last_mut() {
            Some(Frame::Map {
                key: key @ None, ..
            }) if c == b'"' => {
                let Some(end) = string_end(i) else { return };
                let raw = &text[i..end];
                let name = if raw.contains('\\') {
                    serde_json::from_str::<String>(raw).unwrap_or_default()
                } else {
                    raw[1..raw.len() - 1].to_string()
                };
                *key = Some((name, i..end));
                i = end;
                skip_ws(&mut i);
                if b.get(i) != Some(&b':') {
                    return;
                }
                i += 1;
                continue;
            }
            Some(Frame::Map { key: None, .. } | Frame::Seq { .. }) if c == b',' => {
                i += 1;
                continue;
            }
            Some(Frame::Map { key: None, .. }) | Some(Frame::Seq { .. })
                if c == b'}' || c == b']' =>
            {
                let Some(frame) = frames.pop() else { return };
                let (begin, own_key, pops) = match frame {
                    Frame::Map {
                        start,
                        own_key,
                        pops,
                        ..
                    }
                    | Frame::Seq {
                        start,
                        own_key,
                        pops,
                        ..
                    } => (start, own_key, pops),
                };
                i += 1;
                let place = walk.place(own_key, begin, i);
                for _ in 0..pops {
                    walk.record(&place);
                    walk.pop();
                }
                if frames.is_empty() {
                    walk.record(&place);
                    return;
                }
                continue;
            }
            Some(Frame::Map { key: None, .. }) => return,
            _ => {}
        }
        // A value.
        let mut secret = false;
        let (own_key, pops) = match frames.last_mut() {
            None => (None, 0),
            Some(Frame::Map { key, .. }) => match key.take() {
                Some((name, span)) => {
                    secret = names_a_secret(&name);
                    walk.push_key(&name);
                    (Some(span), 1)
                }
                None => return,
            },
            Some(Frame::Seq { next, .. }) => {
                let n = *next;
                *next += 1;
                walk.push_index(n);
                (None, 1)
            }
        };
        let start = i;
        match c {
            b'{' | b'[' => {
                i += 1;
                frames.push(if c == b'{' {
                    Frame::Map {
                        key: None,
                        start,
                        own_key,
                        pops,
                    }
                } else {
                    Frame::Seq {
                        next: 0,
                        start,
                        own_key,
                        pops,
                    }
                });
                continue;
            }
            b'"' => {
                let Some(end) = string_end(i) else { return };
                i = end;
            }
            _ => {
                while i < b.len()
                    && !matches!(b[i], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
                {
                    i += 1;
                }
            }
        }
        if secret {
            walk.secrets.push(start..i);
        }
        let place = walk.place(own_key, start, i);
        walk.record(&place);
        for _ in 0..pops {
            walk.pop();
        }
        if frames.is_empty() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `path` → (line, column, text) of its value, 1-based.
    fn at(text: &str, path: &str) -> Option<(usize, usize, String)> {
        let found = locate(text, &[path]).places;
        let place = found.get(path)?;
        let (line, col) = crate::diag::line_col(text, place.value.start);
        Some((line, col, text[place.value.clone()].to_string()))
    }

    type Case<'a> = (&'a str, Option<(usize, usize, &'a str)>);

    fn check(text: &str, cases: &[Case<'_>]) {
        for (path, expected) in cases {
            assert_eq!(
                at(text, path),
                expected.map(|(l, c, t)| (l, c, t.to_string())),
                "{path} in:\n{text}"
            );
        }
    }

    #[test]
    fn yaml_block_flow_tags_and_aliases() {
        let text = "\
Transform: Rotgen
Base: &base {id: A, name: \"prod/a\"}
Resources:
  R:
    Type: Rotgen::Rotation
    Properties:
      schedule: {days: '30'}
      secret:
        - *base
        - id: B
          arn: !Ref Param
          kms_key_arn: !GetAtt Key.Arn
          other: !Join ['', [a, !Ref X]]
        - id: C
          service: |
            block
      1: one
      ~: none
";
        check(
            text,
            &[
                ("", Some((1, 1, "Transform: Rotgen"))),
                ("Transform", Some((1, 12, "Rotgen"))),
                ("Base.name", Some((2, 27, "\"prod/a\""))),
                (
                    "Resources.R.Properties.schedule.days",
                    Some((7, 24, "'30'")),
                ),
                (
                    "Resources.R.Properties.schedule",
                    Some((7, 17, "{days: '30'}")),
                ),
                // Through an alias: the alias.
                (
                    "Resources.R.Properties.secret[0].name",
                    Some((9, 11, "*base")),
                ),
                ("Resources.R.Properties.secret[0]", Some((9, 11, "*base"))),
                ("Resources.R.Properties.secret[1]", Some((10, 11, "id: B"))),
                (
                    "Resources.R.Properties.secret[1].arn",
                    Some((11, 16, "!Ref Param")),
                ),
                (
                    "Resources.R.Properties.secret[1].arn.Ref",
                    Some((11, 16, "!Ref Param")),
                ),
                (
                    "Resources.R.Properties.secret[1].kms_key_arn.Fn::GetAtt[1]",
                    Some((12, 24, "!GetAtt Key.Arn")),
                ),
                (
                    "Resources.R.Properties.secret[1].other.Fn::Join[1][1].Ref",
                    Some((13, 33, "!Ref X")),
                ),
                (
                    "Resources.R.Properties.secret[2].service",
                    Some((15, 20, "|")),
                ),
                ("Resources.R.Properties.1", Some((17, 10, "one"))),
                ("Resources.R.Properties.null", Some((18, 10, "none"))),
                ("Resources.R.Properties.secret[3]", None),
                ("Resources.R.Properties.nothing", None),
            ],
        );
        let found = locate(text, &["Resources.R.Properties.secret[1].arn"]).places;
        let key = found["Resources.R.Properties.secret[1].arn"]
            .key
            .clone()
            .unwrap();
        assert_eq!(&text[key], "arn");
    }

    #[test]
    fn json_nested_and_escaped() {
        let text = "\u{feff}{\n  \"Resources\": {\n    \"R\": {\"Type\": \"Rotgen::Rotation\",\n      \"Properties\": {\"secret\": [\n        {\"id\": \"A\", \"n\\u0061me\": \"x,]}\\\"\", \"days\": 30},\n        [1, {\"k\": null}]\n      ]}\n    }\n  }\n}\n";
        check(
            text,
            &[
                ("Resources.R.Type", Some((3, 19, "\"Rotgen::Rotation\""))),
                (
                    "Resources.R.Properties.secret[0].name",
                    Some((5, 34, "\"x,]}\\\"\"")),
                ),
                ("Resources.R.Properties.secret[0].days", Some((5, 52, "30"))),
                (
                    "Resources.R.Properties.secret[1][1].k",
                    Some((6, 19, "null")),
                ),
                (
                    "Resources.R.Properties.secret[0]",
                    Some((
                        5,
                        9,
                        "{\"id\": \"A\", \"n\\u0061me\": \"x,]}\\\"\", \"days\": 30}",
                    )),
                ),
                ("Resources.R.Properties.secret[2]", None),
            ],
        );
    }

    /// Deep nesting with long keys: each node costs its own key, not its path.
    #[test]
    fn long_paths_stay_linear() {
        let key = "k".repeat(1000);
        let mut text = String::new();
        for d in 0..100 {
            text.push_str(&" ".repeat(d));
            text.push_str(&key);
            text.push_str(":\n");
        }
        for i in 0..20_000 {
            text.push_str(&" ".repeat(100));
            text.push_str(&format!("x{i}: 1\n"));
        }
        let deepest = format!("{}.x19999", vec![key.as_str(); 100].join("."));
        let started = std::time::Instant::now();
        let found = locate(&text, &[&deepest]).places;
        assert!(found.contains_key(&deepest));
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
    }
}
