//! Problems found in the user's input, with where they are and how to fix them.
//!
//! The library reports [`Diagnostic`]s; only the edges (the CLI and the macro handler)
//! decide how they look: a source snippet for a TOML file, a template path for the macro.

use std::fmt;
use std::ops::Range;

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loc {
    /// Byte range in the spec file.
    Span(Range<usize>),
    /// Path inside a CloudFormation template, e.g. `Resources.AppRotation.Properties.vpc`.
    Path(String),
    /// The key of the entry at a template path (the problem is the key, not its value):
    /// shown as the path, and at the key in the file.
    Key(String),
    /// Not tied to one place (a limit of the whole spec).
    Whole,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub loc: Loc,
    pub message: String,
    pub help: Option<String>,
    /// Another place the problem involves (the first of two duplicates), with what it is.
    pub related: Option<(Loc, String)>,
}

impl Diagnostic {
    pub fn new(loc: &Loc, message: impl Into<String>) -> Self {
        Diagnostic {
            loc: loc.clone(),
            message: message.into(),
            help: None,
            related: None,
        }
    }

    pub fn related(mut self, loc: &Loc, what: impl Into<String>) -> Self {
        self.related = Some((loc.clone(), what.into()));
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// The places of some problems, to tell whether another problem lies within one of
/// them (then it is their consequence). Each question costs O(log n), so filtering the
/// model's problems against the decoder's stays linear-logarithmic. (A problem of a whole
/// table that holds a refused key is not a consequence: the model knows which keys the
/// decoder refused, and says only what is still wrong.)
pub struct Coverage {
    /// Spans sorted by start, with the largest end among those starting at or before
    /// each.
    spans: Vec<(usize, usize)>,
    max_end_before: Vec<usize>,
    paths: std::collections::HashSet<String>,
}

impl Coverage {
    pub fn new(problems: &[Diagnostic]) -> Coverage {
        let mut spans: Vec<(usize, usize)> = Vec::new();
        let mut paths = std::collections::HashSet::new();
        for d in problems {
            match &d.loc {
                Loc::Span(r) => spans.push((r.start, r.end)),
                Loc::Path(p) | Loc::Key(p) => {
                    paths.insert(p.clone());
                }
                Loc::Whole => {}
            }
        }
        spans.sort_unstable();
        let max_end_before = spans
            .iter()
            .scan(0, |m, (_, end)| {
                *m = (*m).max(*end);
                Some(*m)
            })
            .collect();
        Coverage {
            spans,
            max_end_before,
            paths,
        }
    }

    /// Whether `loc` lies within one of the places.
    pub fn within(&self, loc: &Loc) -> bool {
        match loc {
            Loc::Span(b) => {
                let upto = self.spans.partition_point(|(s, _)| *s <= b.start);
                upto > 0 && self.max_end_before[upto - 1] >= b.end
            }
            // A path lies within another when the other is the whole of it or ends where
            // one of its segments starts (`secret[1]` holds `secret[1].name`, not
            // `secret[10]`).
            Loc::Path(b) | Loc::Key(b) => (0..=b.len()).any(|i| {
                (i == b.len() || matches!(b.as_bytes()[i], b'.' | b'['))
                    && self.paths.contains(&b[..i])
            }),
            Loc::Whole => false,
        }
    }
}

/// Every problem found in one input, in source order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn sorted(mut self) -> Self {
        self.0.sort_by_key(|d| match &d.loc {
            Loc::Span(r) => (0, r.start, String::new()),
            Loc::Path(p) | Loc::Key(p) => (1, 0, p.clone()),
            Loc::Whole => (2, 0, String::new()),
        });
        self.0.dedup();
        self
    }
}

impl fmt::Display for Diagnostics {
    /// Plain rendering, one problem per line, used where there is no source text
    /// (the macro's `errorMessage`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            match &d.loc {
                Loc::Path(p) | Loc::Key(p) => write!(f, "{p}: {}", d.message)?,
                _ => f.write_str(&d.message)?,
            }
            if let Some(help) = &d.help {
                write!(f, " ({help})")?;
            }
            if let Some((Loc::Path(p) | Loc::Key(p), what)) = &d.related {
                write!(f, " ({what}: {p})")?;
            }
        }
        Ok(())
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..floor_char_boundary(text, offset)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The first char boundary of `text` at or after `i` (at most its length).
fn ceil_char_boundary(text: &str, mut i: usize) -> usize {
    while i < text.len() && !text.is_char_boundary(i) {
        i += 1;
    }
    i.min(text.len())
}

/// Byte offsets of the starts of a text's lines: line and column of any offset in
/// O(log n), so reporting stays linear in the size of the input.
struct Lines<'t> {
    text: &'t str,
    starts: Vec<usize>,
}

impl<'t> Lines<'t> {
    fn new(text: &'t str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Lines { text, starts }
    }

    /// 0-based line of a byte offset.
    fn line_of(&self, offset: usize) -> usize {
        self.starts
            .partition_point(|s| *s <= offset)
            .saturating_sub(1)
    }

    /// 1-based line and column (in characters), as [`line_col`].
    fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(self.text, offset.min(self.text.len()));
        let line = self.line_of(offset);
        let col = self.text[self.starts[line]..offset].chars().count() + 1;
        (line + 1, col)
    }

    /// The text of lines `first..=last` (0-based, clamped) and its byte offset.
    fn window(&self, first: usize, last: usize) -> (usize, &'t str) {
        let last = last.min(self.starts.len() - 1);
        let start = self.starts[first.min(last)];
        let end = self
            .starts
            .get(last + 1)
            .copied()
            .unwrap_or(self.text.len());
        (start, &self.text[start..end])
    }
}

/// A few lines of the spec around one problem, standing in for the whole file: miette
/// reads only these, and numbers them as the file does.
#[derive(Debug)]
struct Window {
    name: String,
    text: String,
    /// Byte offset of `text` in the file.
    offset: usize,
    /// 0-based line of `text`'s first line in the file.
    first_line: usize,
    /// Characters of that line before `text` starts: a long line is shown in part.
    first_col: usize,
}

impl miette::SourceCode for Window {
    fn read_span<'a>(
        &'a self,
        span: &miette::SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let local =
            miette::SourceSpan::from((span.offset().saturating_sub(self.offset), span.len()));
        let inner = self.text.read_span(&local, before, after)?;
        // The column in characters, as rotgen's own `FILE:LINE:COL` counts it (miette
        // counts bytes), and from the file's line start when the window starts mid-line.
        let data_start = inner.span().offset();
        let line_start = self
            .text
            .get(..data_start)
            .and_then(|t| t.rfind('\n'))
            .map_or(0, |i| i + 1);
        let column = self
            .text
            .get(line_start..data_start)
            .map_or(inner.column(), |t| t.chars().count())
            + if line_start == 0 { self.first_col } else { 0 };
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.name.clone(),
            inner.data(),
            miette::SourceSpan::from((inner.span().offset() + self.offset, inner.span().len())),
            inner.line() + self.first_line,
            column,
            inner.line_count(),
        )))
    }
}

/// Bytes of a line shown around a problem; a longer line is shown in part.
const LONG_LINE: usize = 400;
/// Problems shown in full; the rest are one line each, up to [`MAX_LINES`].
const MAX_FULL: usize = 30;
/// Problems listed at all; beyond, a count.
const MAX_LINES: usize = 200;
/// Places listed for a problem repeated word for word.
const MAX_PLACES: usize = 5;

/// Renders diagnostics against the source file they point into, the way `rotgen build`
/// prints them: `FILE:LINE:COL: message`, a snippet with the span marked, and the fix.
/// A problem repeated word for word (one typo's consequences) is shown once, with a
/// count and its first places; past [`MAX_FULL`] problems each is one line, and past
/// [`MAX_LINES`] only counted. The whole stays linear in the size of the input.
pub fn render_with_source(diags: &Diagnostics, file: &str, text: &str, color: bool) -> String {
    use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan};

    #[derive(Debug)]
    struct Report {
        message: String,
        help: Option<String>,
        src: Option<Window>,
        span: Option<miette::SourceSpan>,
    }
    impl fmt::Display for Report {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(&self.message)
        }
    }
    impl std::error::Error for Report {}
    impl miette::Diagnostic for Report {
        fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
            self.help
                .as_ref()
                .map(|h| Box::new(h) as Box<dyn fmt::Display>)
        }
        fn source_code(&self) -> Option<&dyn miette::SourceCode> {
            self.src.as_ref().map(|w| w as &dyn miette::SourceCode)
        }
        fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
            self.span
                .map(|s| Box::new(std::iter::once(LabeledSpan::new_with_span(None, s))) as _)
        }
    }

    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    // Lines wrap between words only: an ARN, a path or a name breaks at no hyphen, so
    // it can be copied whole.
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_break_words(false)
        .with_word_separator(textwrap::WordSeparator::AsciiSpace)
        .with_word_splitter(textwrap::WordSplitter::NoHyphenation);
    let lines = Lines::new(text);
    let place = |loc: &Loc| match loc {
        Loc::Span(r) => {
            let (line, col) = lines.line_col(r.start);
            format!("{file}:{line}:{col}")
        }
        Loc::Path(p) | Loc::Key(p) => format!("{file}: {p}"),
        Loc::Whole => file.to_string(),
    };

    // Problems said word for word more than once: shown once, with their places.
    let mut groups: Vec<(&Diagnostic, Vec<&Loc>)> = Vec::new();
    let mut index: std::collections::HashMap<(&str, Option<&str>, Option<String>), usize> =
        std::collections::HashMap::new();
    for d in &diags.0 {
        let related = d.related.as_ref().map(|(l, w)| format!("{w} {}", place(l)));
        let key = (d.message.as_str(), d.help.as_deref(), related);
        match index.get(&key) {
            Some(&i) => groups[i].1.push(&d.loc),
            None => {
                index.insert(key, groups.len());
                groups.push((d, vec![&d.loc]));
            }
        }
    }

    let mut out = String::new();
    for (n, (d, places)) in groups.iter().enumerate() {
        if n == MAX_LINES {
            let rest: usize = groups[n..].iter().map(|(_, p)| p.len()).sum();
            out.push_str(&format!("  … and {rest} more problems\n"));
            break;
        }
        let also = if places.len() > 1 {
            let shown: Vec<String> = places[1..]
                .iter()
                .take(MAX_PLACES)
                .map(|l| place(l))
                .collect();
            format!(
                " (and {} more {}, at {}{})",
                places.len() - 1,
                if places.len() == 2 { "time" } else { "times" },
                shown.join(", "),
                if places.len() - 1 > MAX_PLACES {
                    ", …"
                } else {
                    ""
                }
            )
        } else {
            String::new()
        };
        let prefix = place(&d.loc);
        if n >= MAX_FULL {
            out.push_str(&format!("  × {prefix}: {}{also}\n", d.message));
            continue;
        }
        let (src, span) = match &d.loc {
            Loc::Span(r) => {
                let start = floor_char_boundary(text, r.start.min(text.len()));
                let mut len = r.end.min(text.len()).saturating_sub(start);
                let line = lines.line_of(start);
                let (line_start, line_text) = lines.window(line, line);
                let line_end = line_start + line_text.trim_end_matches(['\n', '\r']).len();
                let window = if line_end - line_start > LONG_LINE {
                    // A long line (a template written as one line of JSON): the part
                    // around the problem, not the whole line.
                    let from = floor_char_boundary(
                        text,
                        start.saturating_sub(LONG_LINE / 2).max(line_start),
                    );
                    let to = ceil_char_boundary(text, (start + LONG_LINE / 2).min(line_end));
                    len = len.min(to - start);
                    Window {
                        name: file.to_string(),
                        text: text[from..to].to_string(),
                        offset: from,
                        first_line: line,
                        first_col: text[line_start..from].chars().count(),
                    }
                } else {
                    // Two lines of context each side, unless one of them is long: then
                    // the problem's line alone.
                    let first = line.saturating_sub(2);
                    let last = lines.line_of(start + len) + 2;
                    let (mut offset, mut window) = lines.window(first, last);
                    let mut first_line = first;
                    if window.split('\n').any(|l| l.len() > LONG_LINE) {
                        (offset, window) = (line_start, &text[line_start..line_end]);
                        first_line = line;
                        len = len.min(line_end - start);
                    }
                    Window {
                        name: file.to_string(),
                        text: window.to_string(),
                        offset,
                        first_line,
                        first_col: 0,
                    }
                };
                (Some(window), Some(miette::SourceSpan::from((start, len))))
            }
            _ => (None, None),
        };
        let related = d.related.as_ref().map(|(loc, what)| match loc {
            Loc::Span(_) => format!("{what}: {}", place(loc)),
            Loc::Path(p) | Loc::Key(p) => format!("{what}: {p}"),
            Loc::Whole => what.clone(),
        });
        let help = match (&d.help, related) {
            (Some(h), Some(r)) => Some(format!("{h}\n{r}")),
            (h, r) => h.clone().or(r),
        };
        let report = Report {
            message: format!("{prefix}: {}{also}", d.message),
            help,
            src,
            span,
        };
        let _ = handler.render_report(&mut out, &report);
    }
    out
}

/// Edit distance, for "did you mean" suggestions.
pub fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(row[j]).min(row[j + 1])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

/// The candidate closest to `word`, when it is close enough to be a likely typo.
pub fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase().replace('-', "_");
    candidates
        .into_iter()
        .map(|c| {
            (
                levenshtein(&lower, &c.to_ascii_lowercase().replace('-', "_")),
                c,
            )
        })
        .filter(|(d, c)| *d <= (c.len() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Coverage answers what comparing every pair would, on random places.
    #[test]
    fn coverage_agrees_with_comparing_every_pair() {
        // b lies within a.
        let naive = |a: &Loc, b: &Loc| match (a, b) {
            (Loc::Span(a), Loc::Span(b)) => a.start <= b.start && b.end <= a.end,
            (Loc::Path(a), Loc::Path(b)) => {
                b.starts_with(a.as_str())
                    && matches!(b.as_bytes().get(a.len()), None | Some(b'.' | b'['))
            }
            _ => false,
        };
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n) as usize
        };
        for _ in 0..200 {
            let loc = |next: &mut dyn FnMut(u64) -> usize| match next(3) {
                0 => {
                    let s = next(50);
                    Loc::Span(s..s + next(20))
                }
                1 => Loc::Path(
                    ["R", "R.P", "R.P.s", "R.Q", "S", "R.Ps", "R[1]", "R[10]"][next(8)].to_string(),
                ),
                _ => Loc::Whole,
            };
            let problems: Vec<Diagnostic> = (0..next(8))
                .map(|_| Diagnostic::new(&loc(&mut next), "x"))
                .collect();
            let cov = Coverage::new(&problems);
            for _ in 0..20 {
                let q = loc(&mut next);
                assert_eq!(
                    cov.within(&q),
                    problems.iter().any(|d| naive(&d.loc, &q)),
                    "{q:?} against {problems:?}"
                );
            }
        }
    }

    /// A problem on a long line (a template written as one line of JSON) shows the part
    /// of the line around it, numbered as the file is, not the whole line.
    #[test]
    fn a_long_line_is_shown_around_the_problem() {
        let mut text = String::from("{\"a\": 1,\n");
        for i in 0..2_000 {
            text.push_str(&format!("\"k{i}\": \"é{i}\", "));
        }
        text.push_str("\"z\": 0}\n");
        let at = text.find("\"k1000\"").unwrap();
        let d = Diagnostics(vec![Diagnostic::new(&Loc::Span(at..at + 7), "bad key")]);
        let (line, col) = line_col(&text, at);
        let out = render_with_source(&d, "t.json", &text, false);
        assert!(out.contains(&format!("[t.json:{line}:{col}]")), "{out}");
        assert!(out.contains("\"k1000\""), "{out}");
        assert!(
            !out.contains("\"k900\"") && !out.contains("\"k1100\""),
            "{out}"
        );
        assert!(out.len() < 2_000, "{} bytes: {out}", out.len());
        // A problem near either end of the line, and a short line, are shown too.
        for at in [text.find("\"k0\"").unwrap(), text.find("\"z\"").unwrap(), 1] {
            let d = Diagnostics(vec![Diagnostic::new(&Loc::Span(at..at + 3), "here")]);
            let (line, col) = line_col(&text, at);
            let out = render_with_source(&d, "t.json", &text, false);
            assert!(out.contains(&format!("[t.json:{line}:{col}]")), "{out}");
            assert!(out.len() < 2_000, "{} bytes", out.len());
        }
    }

    #[test]
    fn line_col_counts_from_one() {
        let t = "a = 1\nbé = 2\n";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 6), (2, 1));
        assert_eq!(line_col(t, 10), (2, 4));
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            nearest("timout_s", ["memory_mb", "timeout_s"]),
            Some("timeout_s")
        );
        assert_eq!(
            nearest("subnets", ["subnet_ids", "vpc_id"]),
            Some("subnet_ids")
        );
        assert_eq!(nearest("region", ["subnet_ids", "vpc_id"]), None);
        assert_eq!(nearest("zzzzzz", ["timeout_s"]), None);
        assert_eq!(
            nearest("Master-Secret-Arn", ["master_secret_arn"]),
            Some("master_secret_arn")
        );
    }
}
