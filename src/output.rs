//! **output**: templates to text, and the only code that writes files.
//!
//! Writes are atomic: every file is first written in full next to its destination and
//! only then renamed over it, so a failed build never leaves a half-written or clobbered
//! template.

use crate::yaml;
use serde_json::Value;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Yaml => "yaml",
            Format::Json => "json",
        }
    }
}

/// The template as text: short-form YAML a person would write, or pretty JSON.
pub fn to_text(value: &Value, format: Format) -> String {
    match format {
        Format::Yaml => yaml::to_string_with_notes(value, Some(scanner_note)),
        Format::Json => {
            let mut s = serde_json::to_string_pretty(value).expect("JSON values serialize");
            s.push('\n');
            s
        }
    }
}

/// What checkov's secrets scan needs to hear: a `SecretId` holding a secret's *name* (a
/// key with "secret" in it and a varied value) looks to it like a secret's value
/// (CKV_SECRET_6). Its skip comment, on the line above, is the only exception it honours
/// in a file that is not a resource's Metadata; JSON has no comments (see docs/generated.md).
fn scanner_note(key: &str, value: &Value) -> Option<&'static str> {
    match value {
        // A name: not an ARN (which has colons); intrinsics are objects.
        Value::String(s) if key == "SecretId" && !s.contains(':') => {
            Some("checkov:skip=CKV_SECRET_6: SecretId holds the secret's name, not its value")
        }
        _ => None,
    }
}

/// Several templates as text, on every core (nested stacks of a large spec).
pub fn to_texts(values: &[&Value], format: Format) -> Vec<String> {
    crate::par::map(values, |v| to_text(v, format))
}

/// The file a nested template goes to: `out/template.yaml` + `postgres` →
/// `template.postgres.yaml` (relative to the main template's folder).
pub fn nested_file_name(main: &Path, label: &str, format: Format) -> String {
    let stem = main
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("template");
    format!("{stem}.{label}.{}", format.extension())
}

/// The marker every nested template carries (`Metadata.rotgen.nested`).
pub const NESTED_MARKER: &str = "A nested stack written by rotgen build";

/// This running binary, as bytes (what `build --package` zips).
pub fn read_own_binary() -> io::Result<Vec<u8>> {
    fs::read(std::env::current_exe()?)
}

/// Nested templates of an earlier build that the current one no longer writes: files
/// named `STEM.LABEL.EXT` next to `main` that carry the nested marker.
pub fn stale_nested(main: &Path, format: Format, current: &[PathBuf]) -> Vec<PathBuf> {
    let dir = match main.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let stem = main
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("template");
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut stale: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let Some(name) = p.file_name().and_then(|n| n.to_str()) else {
                return false;
            };
            let label = name
                .strip_prefix(stem)
                .and_then(|r| r.strip_prefix('.'))
                .and_then(|r| r.strip_suffix(format.extension()))
                .and_then(|r| r.strip_suffix('.'));
            label.is_some_and(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric()))
                && !current.iter().any(|c| c.file_name() == p.file_name())
                && fs::read_to_string(p).is_ok_and(|t| t.contains(NESTED_MARKER))
        })
        .collect();
    stale.sort();
    stale
}

/// Writes every file or none: all are written to temporary files first, then renamed.
/// A path that is a symbolic link writes the file it points to (the link stays), and an
/// existing file keeps its permissions.
pub fn write_all_atomic<T: AsRef<[u8]>>(files: &[(PathBuf, T)]) -> io::Result<()> {
    let targets: Vec<PathBuf> = files
        .iter()
        .map(|(p, _)| resolve_links(p))
        .collect::<io::Result<_>>()?;
    let mut temps: Vec<(PathBuf, &Path)> = Vec::new();
    let result = (|| {
        for path in &targets {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                fs::create_dir_all(dir)?;
            }
        }
        for ((_, text), path) in files.iter().zip(&targets) {
            let temp = temp_path(path);
            temps.push((temp.clone(), path));
            // No fsync: the rename is what keeps a failed build from leaving a half-written
            // or clobbered template (these are files for git, not a database).
            let mut f = fs::File::create(&temp)?;
            f.write_all(text.as_ref())?;
            if let Ok(meta) = fs::metadata(path) {
                fs::set_permissions(&temp, meta.permissions())?;
            }
        }
        Ok(())
    })();
    if let Err(e) = result {
        for (temp, _) in &temps {
            let _ = fs::remove_file(temp);
        }
        return Err(e);
    }
    for (temp, path) in &temps {
        if let Err(e) = fs::rename(temp, path) {
            for (t, _) in &temps {
                let _ = fs::remove_file(t);
            }
            return Err(e);
        }
    }
    Ok(())
}

/// The file a path names, following symbolic links (a dangling link names its target).
fn resolve_links(path: &Path) -> io::Result<PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = fs::read_link(&p)?;
                p = match p.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                };
            }
            _ => return Ok(p),
        }
    }
    Err(io::Error::other(format!(
        "{}: too many levels of symbolic links",
        path.display()
    )))
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.rotgen-{}.tmp", std::process::id()))
}

/// A unified diff from what `path` holds to `expected`, or `None` when they match.
pub fn diff_against_file(path: &Path, expected: &str) -> Option<String> {
    let actual = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return Some(format!("{}: cannot read it ({e})\n", path.display())),
    };
    if actual == expected {
        return None;
    }
    let name = path.display().to_string();
    Some(unified(
        &actual,
        expected,
        &format!("{name} (on disk)"),
        &format!("{name} (from the spec)"),
    ))
}

/// How long the diff may search for the shortest edit script: committed templates are
/// usually a few edits from the spec's and take milliseconds; two unrelated 1 MB
/// templates would take seconds, and get a coarser (still correct) diff instead.
const DIFF_DEADLINE: std::time::Duration = std::time::Duration::from_millis(500);

/// A unified diff with three lines of context (`similar`'s Myers).
fn unified(old: &str, new: &str, old_name: &str, new_name: &str) -> String {
    similar::TextDiff::configure()
        .algorithm(similar::Algorithm::Myers)
        .deadline(std::time::Instant::now() + DIFF_DEADLINE)
        .diff_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .missing_newline_hint(true)
        .header(old_name, new_name)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_a_unified_diff_with_three_lines_of_context() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\n";
        let new = "a\nb\nc\nd\nE\nf\ng\nh\n";
        assert_eq!(
            unified(old, new, "x", "y"),
            "--- x\n+++ y\n@@ -2,7 +2,7 @@\n b\n c\n d\n-e\n+E\n f\n g\n h\n"
        );
        assert_eq!(
            unified("a", "", "x", "y"),
            "--- x\n+++ y\n@@ -1 +0,0 @@\n-a\n\\ No newline at end of file\n"
        );
    }

    /// Two unrelated files: every line of each is in the diff, whatever the search did.
    #[test]
    fn unrelated_files_give_a_complete_diff() {
        let old: String = (0..3000).map(|i| format!("old {i}\n")).collect();
        let new: String = (0..3000)
            .map(|i| format!("new {}\n", i * 7 % 3001))
            .collect();
        let d = unified(&old, &new, "x", "y");
        assert_eq!(d.lines().filter(|l| l.starts_with("-old")).count(), 3000);
        assert_eq!(d.lines().filter(|l| l.starts_with("+new")).count(), 3000);
    }

    #[test]
    fn nested_names() {
        assert_eq!(
            nested_file_name(Path::new("out/template.yaml"), "postgres", Format::Yaml),
            "template.postgres.yaml"
        );
        assert_eq!(
            nested_file_name(Path::new("stack.json"), "redis", Format::Json),
            "stack.redis.json"
        );
    }

    #[test]
    fn atomic_write_leaves_nothing_behind_on_failure() {
        let dir = std::env::temp_dir().join(format!("rotgen-out-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let good = dir.join("a.yaml");
        fs::write(&good, "old\n").unwrap();
        // A path under a file: its folder cannot be made.
        let bad = dir.join("a.yaml").join("b.yaml");
        let err = write_all_atomic(&[(good.clone(), "new\n"), (bad, "x")]);
        assert!(err.is_err());
        assert_eq!(fs::read_to_string(&good).unwrap(), "old\n");
        let leftovers: Vec<_> = fs::read_dir(&dir).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "{leftovers:?}");
        write_all_atomic(&[(good.clone(), "new\n")]).unwrap();
        assert_eq!(fs::read_to_string(&good).unwrap(), "new\n");
        fs::remove_dir_all(&dir).unwrap();
    }
}
