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

    /// Whether `other` lies within this problem's location (then it is a consequence).
    pub fn covers(&self, other: &Loc) -> bool {
        match (&self.loc, other) {
            (Loc::Span(a), Loc::Span(b)) => {
                (b.start <= a.start && a.end <= b.end) || (a.start <= b.start && b.end <= a.end)
            }
            (Loc::Path(a), Loc::Path(b)) => a.starts_with(b.as_str()) || b.starts_with(a.as_str()),
            _ => false,
        }
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// Every problem found in one input, in source order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn sorted(mut self) -> Self {
        self.0.sort_by_key(|d| match &d.loc {
            Loc::Span(r) => (0, r.start, String::new()),
            Loc::Path(p) => (1, 0, p.clone()),
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
                Loc::Path(p) => write!(f, "{p}: {}", d.message)?,
                _ => f.write_str(&d.message)?,
            }
            if let Some(help) = &d.help {
                write!(f, " ({help})")?;
            }
            if let Some((Loc::Path(p), what)) = &d.related {
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

/// Renders diagnostics against the source file they point into, the way `rotgen build`
/// prints them: `FILE:LINE:COL: message`, a snippet with the span marked, and the fix.
pub fn render_with_source(diags: &Diagnostics, file: &str, text: &str, color: bool) -> String {
    use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource};

    #[derive(Debug)]
    struct Report {
        message: String,
        help: Option<String>,
        src: NamedSource<String>,
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
            self.span.map(|_| &self.src as &dyn miette::SourceCode)
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
        .with_word_splitter(textwrap::WordSplitter::NoHyphenation);
    let mut out = String::new();
    for d in &diags.0 {
        let (prefix, span) = match &d.loc {
            Loc::Span(r) => {
                let (line, col) = line_col(text, r.start);
                let start = r.start.min(text.len());
                let len = r.end.min(text.len()).saturating_sub(start);
                (
                    format!("{file}:{line}:{col}"),
                    Some(miette::SourceSpan::from((start, len))),
                )
            }
            Loc::Path(p) => (format!("{file}: {p}"), None),
            Loc::Whole => (file.to_string(), None),
        };
        let related = d.related.as_ref().map(|(loc, what)| match loc {
            Loc::Span(r) => {
                let (line, col) = line_col(text, r.start);
                format!("{what}: {file}:{line}:{col}")
            }
            Loc::Path(p) => format!("{what}: {p}"),
            Loc::Whole => what.clone(),
        });
        let help = match (&d.help, related) {
            (Some(h), Some(r)) => Some(format!("{h}\n{r}")),
            (h, r) => h.clone().or(r),
        };
        let report = Report {
            message: format!("{prefix}: {}", d.message),
            help,
            src: NamedSource::new(file, text.to_string()),
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
