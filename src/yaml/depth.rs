//! How deep a YAML document nests, found in one linear pass before the full parser reads
//! it.
//!
//! libyaml's scanner takes time that grows with the square of the flow nesting depth
//! (600 KB of `[` takes minutes) before serde_yaml's recursion limit (128) refuses the
//! document. This pass counts the lists and maps open at each point (flow brackets, and
//! block collections by the columns of their `- `, `? ` and `key: `) and refuses a
//! document that opens more than [`LIMIT`], with the line and column where it does.
//!
//! It never counts more than the document nests: it skips quoted scalars, comments, block
//! scalars (`|`, `>`) and plain scalars (their continuation lines too) as libyaml reads
//! them, and a block collection it cannot tell apart from its parent (a sequence under a
//! key, at the key's column) counts once. So whatever it refuses, the parser would refuse
//! too, only much later.

use super::YamlError;

/// The most lists and maps open inside each other: serde_yaml's recursion limit, and
/// serde_json's for templates written in JSON.
pub const LIMIT: usize = 128;

/// Refuses `text` when it nests more than [`LIMIT`] collections inside each other.
pub fn check(text: &str) -> Result<(), YamlError> {
    let mut s = Scan {
        b: text.as_bytes(),
        text,
        i: 0,
        line: 1,
        line_start: 0,
        block: Vec::new(),
    };
    if text.starts_with('\u{feff}') {
        s.i = '\u{feff}'.len_utf8();
        s.line_start = s.i;
    }
    s.run()
}

/// What the lines after the current one are, before they are known to be structure.
#[derive(Clone, Copy)]
enum Pending {
    None,
    /// A block scalar (`|`, `>`) opened in a collection at column `parent` (-1 at the
    /// root); its content is indented by `content` once known.
    BlockScalar {
        parent: i64,
        content: Option<i64>,
    },
    /// A plain scalar that continues on every line indented more than `parent`.
    Plain {
        parent: i64,
    },
}

struct Scan<'a> {
    b: &'a [u8],
    text: &'a str,
    /// The byte being read.
    i: usize,
    /// The 1-based line of `i`, and the byte where that line starts.
    line: usize,
    line_start: usize,
    /// The columns of the open block collections, strictly increasing.
    block: Vec<usize>,
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r')
}

impl Scan<'_> {
    fn at(&self, i: usize) -> Option<u8> {
        self.b.get(i).copied()
    }

    /// Whether the byte at `i` ends a token: a space, the end of the line, or the end.
    fn ends_token(&self, i: usize) -> bool {
        self.at(i).is_none_or(|c| is_space(c) || c == b'\n')
    }

    fn too_deep(&self, at: usize) -> YamlError {
        let column = self.text[self.line_start..at].chars().count() + 1;
        YamlError {
            message: format!(
                "lists and maps nest more than {LIMIT} deep at line {} column {column}, deeper than rotgen reads (in YAML as in JSON): flatten the template",
                self.line
            ),
            line: Some(self.line),
            column: Some(column),
        }
    }

    /// Moves past the end of the current line (to the start of the next one).
    fn next_line(&mut self) {
        match self.b[self.i..].iter().position(|&c| c == b'\n') {
            Some(n) => {
                self.i += n + 1;
                self.line += 1;
                self.line_start = self.i;
            }
            None => self.i = self.b.len(),
        }
    }

    /// Moves to the end of the current line (its `\n`, or the end).
    fn skip_to_line_end(&mut self) {
        self.i += self.b[self.i..]
            .iter()
            .position(|&c| c == b'\n')
            .unwrap_or(self.b.len() - self.i);
    }

    fn run(&mut self) -> Result<(), YamlError> {
        let mut pending = Pending::None;
        while self.i < self.b.len() {
            let start = self.i;
            let indent = self.b[start..].iter().take_while(|&&c| c == b' ').count();
            let rest = &self.b[start + indent..];
            let blank = rest
                .iter()
                .take_while(|&&c| c != b'\n')
                .all(|&c| is_space(c));
            let comment = rest.first() == Some(&b'#');
            let level = indent as i64;
            // A document marker ends any scalar.
            let marker = |m: &[u8]| {
                indent == 0
                    && rest.starts_with(m)
                    && rest.get(3).is_none_or(|&c| is_space(c) || c == b'\n')
            };
            let is_marker = marker(b"---") || marker(b"...");
            pending = match pending {
                _ if is_marker => Pending::None,
                Pending::BlockScalar {
                    content: Some(c), ..
                } if blank || level >= c => {
                    self.next_line();
                    continue;
                }
                Pending::BlockScalar {
                    parent,
                    content: None,
                } if blank || level > parent => {
                    if !blank {
                        pending = Pending::BlockScalar {
                            parent,
                            content: Some(level),
                        };
                    }
                    self.next_line();
                    continue;
                }
                Pending::Plain { parent } if blank || (!comment && level > parent) => {
                    self.next_line();
                    continue;
                }
                _ => Pending::None,
            };
            if is_marker {
                self.block.clear();
                if rest.starts_with(b"...") {
                    self.next_line();
                    continue;
                }
                self.i = start + 3;
            } else if blank || comment || (indent == 0 && rest.first() == Some(&b'%')) {
                self.next_line();
                continue;
            } else {
                // A line closes every block collection indented more than it.
                while self.block.last().is_some_and(|&c| c > indent) {
                    self.block.pop();
                }
                self.i = start + indent;
            }
            pending = self.block_line()?;
            if self.i < self.b.len() {
                self.next_line();
            }
        }
        Ok(())
    }

    /// A block collection whose entries start at `column` (of the current line).
    fn open_block(&mut self, column: usize) -> Result<(), YamlError> {
        while self.block.last().is_some_and(|&c| c >= column) {
            self.block.pop();
        }
        self.block.push(column);
        if self.block.len() > LIMIT {
            return Err(self.too_deep(self.line_start + column));
        }
        Ok(())
    }

    fn parent(&self) -> i64 {
        self.block.last().map_or(-1, |&c| c as i64)
    }

    /// Reads the rest of a line in block context, from where a node may start; stops at
    /// its end (`self.i` at the `\n` of the line where it ends: quoted scalars and flow
    /// collections may run over several lines).
    fn block_line(&mut self) -> Result<Pending, YamlError> {
        loop {
            while self.at(self.i).is_some_and(is_space) {
                self.i += 1;
            }
            let Some(c) = self.at(self.i) else {
                return Ok(Pending::None);
            };
            let column = self.i - self.line_start;
            match c {
                b'\n' => return Ok(Pending::None),
                b'#' => {
                    self.skip_to_line_end();
                    return Ok(Pending::None);
                }
                b'-' | b'?' | b':' if self.ends_token(self.i + 1) => {
                    self.open_block(column)?;
                    self.i += 1;
                }
                b'[' | b'{' | b'\'' | b'"' => {
                    if c == b'[' || c == b'{' {
                        self.flow()?;
                    } else {
                        self.quoted();
                    }
                    // A key (`"a": 1`, rarely `[a]: 1`), or the end of the node.
                    while self.at(self.i).is_some_and(is_space) {
                        self.i += 1;
                    }
                    if self.at(self.i) == Some(b':') && self.ends_token(self.i + 1) {
                        self.open_block(column)?;
                        self.i += 1;
                    } else {
                        self.skip_to_line_end();
                        return Ok(Pending::None);
                    }
                }
                b'|' | b'>' => {
                    // The header: an indentation digit and a chomping sign, in any order.
                    let digit = self.b[self.i + 1..]
                        .iter()
                        .take(2)
                        .find(|c| c.is_ascii_digit())
                        .map(|d| i64::from(d - b'0'));
                    let parent = self.parent();
                    self.skip_to_line_end();
                    return Ok(Pending::BlockScalar {
                        parent,
                        content: digit.map(|d| parent.max(0) + d),
                    });
                }
                b'!' | b'&' => {
                    // A tag or an anchor, then the node it applies to.
                    while !self.ends_token(self.i) {
                        self.i += 1;
                    }
                }
                _ => {
                    // A plain scalar: a key when `: ` follows on this line.
                    let mut j = self.i;
                    loop {
                        match self.at(j) {
                            None | Some(b'\n') => {
                                self.i = j;
                                return Ok(Pending::Plain {
                                    parent: self.parent(),
                                });
                            }
                            Some(b':') if self.ends_token(j + 1) => {
                                self.open_block(column)?;
                                self.i = j + 1;
                                break;
                            }
                            Some(b'#') if is_space(self.b[j - 1]) => {
                                self.i = j;
                                self.skip_to_line_end();
                                return Ok(Pending::None);
                            }
                            _ => j += 1,
                        }
                    }
                }
            }
        }
    }

    /// Moves past a quoted scalar (`self.i` at its opening quote), over as many lines as
    /// it takes.
    fn quoted(&mut self) {
        let quote = self.b[self.i];
        self.i += 1;
        while let Some(c) = self.at(self.i) {
            self.i += 1;
            match c {
                b'\n' => {
                    self.line += 1;
                    self.line_start = self.i;
                }
                b'\\' if quote == b'"' => {
                    if self.at(self.i) == Some(b'\n') {
                        continue;
                    }
                    self.i += 1;
                }
                b'\'' if quote == b'\'' && self.at(self.i) == Some(b'\'') => self.i += 1,
                c if c == quote => return,
                _ => {}
            }
        }
    }

    /// Moves past a flow collection (`self.i` at its `[` or `{`), counting how deep it
    /// nests inside the block collections around it.
    fn flow(&mut self) -> Result<(), YamlError> {
        let mut depth = 0usize;
        // Inside a plain scalar, quotes, `!` and `&` are text.
        let mut plain = false;
        while let Some(c) = self.at(self.i) {
            match c {
                b'\n' => {
                    self.i += 1;
                    self.line += 1;
                    self.line_start = self.i;
                    continue;
                }
                b' ' | b'\t' | b'\r' => {}
                b'#' if self.i == self.line_start || is_space(self.b[self.i - 1]) => {
                    plain = false;
                    self.skip_to_line_end();
                    continue;
                }
                b'[' | b'{' => {
                    depth += 1;
                    plain = false;
                    if self.block.len() + depth > LIMIT {
                        return Err(self.too_deep(self.i));
                    }
                }
                b']' | b'}' => {
                    plain = false;
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        self.i += 1;
                        return Ok(());
                    }
                }
                b',' => plain = false,
                b':' if !plain
                    || self.ends_token(self.i + 1)
                    || matches!(self.at(self.i + 1), Some(b',' | b'[' | b']' | b'{' | b'}')) =>
                {
                    plain = false;
                }
                b'\'' | b'"' if !plain => {
                    self.quoted();
                    continue;
                }
                b'!' | b'&' if !plain => {
                    while self
                        .at(self.i)
                        .is_some_and(|c| !(is_space(c) || c == b'\n' || b",[]{}".contains(&c)))
                    {
                        self.i += 1;
                    }
                    continue;
                }
                b'?' | b'-' if !plain && self.ends_token(self.i + 1) => {}
                _ => plain = true,
            }
            self.i += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth_error(text: &str) -> YamlError {
        check(text).expect_err("too deep")
    }

    #[test]
    fn counts_flow_and_block_nesting() {
        let ok = |t: &str| check(t).unwrap_or_else(|e| panic!("{t:?}: {e}"));
        let flow = |n: usize| format!("a: {}{}\n", "[".repeat(n), "]".repeat(n));
        ok(&flow(LIMIT - 1));
        let e = depth_error(&flow(LIMIT));
        assert_eq!((e.line, e.column), (Some(1), Some(3 + LIMIT)), "{e}");
        assert!(e.message.contains("128"), "{e}");
        // Block collections count by column: `- - -` on one line, or indentation.
        let dashes = |n: usize| format!("{}x\n", "- ".repeat(n));
        ok(&dashes(LIMIT));
        let e = depth_error(&dashes(LIMIT + 1));
        assert_eq!((e.line, e.column), (Some(1), Some(2 * LIMIT + 1)), "{e}");
        let mut keys = String::new();
        for i in 0..=LIMIT {
            keys.push_str(&format!("{}k{i}:\n", " ".repeat(i)));
        }
        assert_eq!(depth_error(&keys).line, Some(LIMIT + 1));
        // A document marker ends a block scalar: what follows is structure.
        let after = format!("--- |\n{}\n---\n{}\n", "[".repeat(200), "[".repeat(200));
        assert_eq!(depth_error(&after).line, Some(4));
        // Block and flow add up.
        let both = format!("{}[{}]\n", "- ".repeat(100), "[".repeat(28));
        assert_eq!(depth_error(&both).column, Some(2 * 100 + 1 + 28));
    }

    /// Random documents, as rotgen writes YAML and as JSON (which is YAML too), with
    /// strings full of brackets, quotes and comment signs: whatever the parser reads, the
    /// check lets through, and it refuses exactly the JSON texts nested too deep.
    #[test]
    fn never_refuses_what_the_parser_reads() {
        use serde::de::DeserializeSeed;
        use serde_json::{Value, json};
        struct Gen(u64);
        impl Gen {
            fn next(&mut self) -> u64 {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                self.0
            }
            fn value(&mut self, depth: usize) -> Value {
                const TEXTS: [&str; 10] = [
                    "[[{",
                    "it's [",
                    "a: [b",
                    "x # [[",
                    "\"[q\"",
                    "line\n[[[\n  {{",
                    "- [",
                    "|",
                    "'[[",
                    "}]",
                ];
                if depth == 0 || self.next().is_multiple_of(64) {
                    return json!(TEXTS[(self.next() % 10) as usize]);
                }
                // One branch, but near the leaves: the size stays linear in the depth.
                let width = if depth < 5 { 1 + self.next() % 3 } else { 1 };
                if self.next().is_multiple_of(2) {
                    Value::Array((0..width).map(|_| self.value(depth - 1)).collect())
                } else {
                    Value::Object(
                        (0..width)
                            .map(|i| (format!("k{i} [x"), self.value(depth - 1)))
                            .collect(),
                    )
                }
            }
        }
        fn parser_reads(text: &str) -> bool {
            super::super::read::Node
                .deserialize(serde_yaml::Deserializer::from_str(text))
                .is_ok()
        }
        fn nesting(v: &Value) -> usize {
            match v {
                Value::Array(a) => 1 + a.iter().map(nesting).max().unwrap_or(0),
                Value::Object(m) => 1 + m.values().map(nesting).max().unwrap_or(0),
                _ => 0,
            }
        }
        let mut g = Gen(0x0dee_9b10_c4ed_0001);
        let (mut read, mut refused) = (0, 0);
        for round in 0..300 {
            let v = g.value(if round % 3 == 0 { 140 } else { 30 });
            let block = crate::yaml::to_string(&v);
            if parser_reads(&block) {
                read += 1;
                check(&block).unwrap_or_else(|e| panic!("{e} in:\n{block}"));
            }
            let flow = v.to_string();
            assert_eq!(check(&flow).is_ok(), nesting(&v) <= LIMIT, "{flow}");
            refused += usize::from(nesting(&v) > LIMIT);
            if parser_reads(&flow) {
                check(&flow).unwrap_or_else(|e| panic!("{e} in:\n{flow}"));
            }
        }
        assert!(read > 200 && refused > 5, "{read} read, {refused} too deep");
    }

    #[test]
    fn skips_what_is_text() {
        let deep = "[".repeat(300);
        for text in [
            format!("a: '{deep}'\nb: 1\n"),
            format!("a: \"{deep}\\\"\"\nb: 1\n"),
            format!("a: 'it''s {deep}\n  more'\n"),
            format!("a: 1 # {deep}\n"),
            format!("# {deep}\na: 1\n"),
            format!("a: b{deep}\n"),
            format!("a: it's\n  {deep}\nb: 1\n"),
            format!("a: |\n  {deep}\n\n  {deep}\nb: 1\n"),
            format!("- a: >-\n    {deep}\n  b: 1\n"),
            format!("a: |2\n    {deep}\n   {deep}\n"),
            format!("a: [x, '{deep}', \"{deep}\", y # {deep}\n  ]\n"),
            format!("a: [don't, '{deep}']\n"),
            format!("a: !Sub |\n  {deep}\n"),
            format!("a: [!Ref '{deep}', x]\n"),
            format!("\u{feff}a: '{deep}'\n"),
        ] {
            check(&text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        }
    }
}
