//! Every `tests/fixtures/invalid/*.toml` is a case: `rotgen build` exits 2, reports every
//! problem as FILE:LINE:COL with a fix, and leaves an existing output file untouched.

mod common;

use common::{run, scratch, stderr};

#[test]
fn invalid_specs() {
    insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
        insta::glob!("fixtures/invalid", "*.toml", |spec| {
            let name = spec.file_stem().unwrap().to_str().unwrap();
            let dir = scratch(&format!("err-{name}"));
            let out = dir.join("template.yaml");
            std::fs::write(&out, "precious: true\n").unwrap();
            // Relative path, so the snapshot does not depend on where the checkout is.
            let rel = spec.strip_prefix(common::root()).unwrap();
            let o = common::rotgen()
                .current_dir(common::root())
                .args(["build", rel.to_str().unwrap(), "-o", out.to_str().unwrap()])
                .env("NO_COLOR", "1")
                .output()
                .unwrap();
            assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
            assert!(o.stdout.is_empty());
            assert_eq!(std::fs::read_to_string(&out).unwrap(), "precious: true\n");
            assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "no stray files");
            let err = stderr(&o);
            // Every problem names FILE:LINE:COL.
            for line in err.lines().filter(|l| l.trim_start().starts_with('×')) {
                let loc = format!("{}:", rel.display());
                assert!(line.contains(&loc), "no location in {line:?}");
            }
            // Wrapped lines break between words, never inside an ARN or a name.
            let lines: Vec<&str> = err.lines().collect();
            for pair in lines.windows(2) {
                assert!(
                    !(pair[0].ends_with('-') && pair[1].trim_start().starts_with('│')),
                    "a line breaks at a hyphen: {pair:?}"
                );
            }
            insta::assert_snapshot!(err);
            std::fs::remove_dir_all(&dir).unwrap();
        });
    });
}

#[test]
fn unreadable_spec_is_invalid_input() {
    let o = run(&["build", "/nonexistent/spec.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cannot read the spec /nonexistent/spec.toml"));
}

/// A large spec full of problems, one typo's consequences among them, is reported in
/// bounded output: repeated problems once with a count, the rest one line each, then a
/// count. (How fast: `scripts/bench.py`, "report a broken spec".)
#[test]
fn many_problems_are_reported_in_bounded_output() {
    let mut spec = String::from("[schedul]\ndays = 30\n");
    for i in 0..5000 {
        match i % 3 {
            0 => spec.push_str(&format!("[[secret]]\nid = \"Same\"\nname = \"prod/s{i}\"\nservice = \"postgres\"\n")),
            1 => spec.push_str(&format!("[[secret]]\nid = \"S{i}\"\nname = \"prod/s{i}\"\nservice = \"postgres\"\nbogus{i} = 1\n")),
            _ => spec.push_str(&format!("[[secret]]\nid = \"T{i}\"\nservice = \"http\"\ncreate = {{ url = \"x\", port = 70000 }}\n")),
        }
    }
    let dir = scratch("many");
    let path = dir.join("many.toml");
    std::fs::write(&path, &spec).unwrap();
    let o = run(&["build", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.lines().count() < 600, "{} lines", err.lines().count());
    assert!(err.contains("more times, at"), "repeats are counted");
    assert!(err.contains("more problems"), "the rest is counted");
    assert!(
        err.lines()
            .last()
            .unwrap()
            .contains("problems; nothing was written")
    );
}

/// `rotgen expand` on every `tests/fixtures/macro-invalid/*` template (YAML and JSON):
/// exit 2, every problem at its FILE:LINE:COL with the template's lines around it, and no
/// value whose key names a secret (nor a NoEcho parameter's) in the report.
#[test]
fn invalid_templates_expand_to_located_problems() {
    insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
        insta::glob!("fixtures/macro-invalid", "*.{yaml,json}", |template| {
            let rel = template.strip_prefix(common::root()).unwrap();
            let o = common::rotgen()
                .current_dir(common::root())
                .args(["expand", rel.to_str().unwrap(), "--code", "s3://b/rotgen.zip"])
                .env("NO_COLOR", "1")
                .output()
                .unwrap();
            assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
            assert!(o.stdout.is_empty());
            let err = stderr(&o);
            let file = rel.display().to_string();
            for line in err.lines().filter(|l| l.trim_start().starts_with('×')) {
                let at = line.split_once(&format!("{file}:")).map(|(_, rest)| rest);
                let located = at.is_some_and(|rest| {
                    let mut parts = rest.splitn(3, ':');
                    parts.next().is_some_and(|l| l.parse::<usize>().is_ok())
                        && parts.next().is_some_and(|c| c.parse::<usize>().is_ok())
                });
                assert!(located, "no FILE:LINE:COL in {line:?}");
            }
            assert!(!err.contains("s3cr3t"), "a secret value is shown:\n{err}");
            insta::assert_snapshot!(err);
        });
    });
}

/// The exact line and column of problems in YAML (flow style, a nested block, an alias, a
/// short-form tag) and JSON templates; a path the file does not hold falls back to the
/// path.
#[test]
fn expand_problems_are_at_their_line_and_column() {
    let cases: &[(&str, &[&str])] = &[
        (
            "located.yaml",
            &[
                // Flow style: the value.
                "located.yaml:14:24: `days` in schedule must be an integer",
                // Through an alias: the alias.
                "located.yaml:16:11: `port` in [[secret]] is 0",
                // Nested block, short-form tag: the tag.
                "located.yaml:21:23: username of a created secret is a CloudFormation function",
            ],
        ),
        (
            "located.json",
            &[
                "located.json:8:44: window \"30m\"",
                "located.json:11:60: `service` in [[secret]] cannot be \"postgress\"",
                // Nested two maps down in a list.
                "located.json:12:31: `port` in create is 70000",
            ],
        ),
        (
            "bad-fields.yaml",
            &[
                // A problem of a key: the key.
                "bad-fields.yaml:5:5: a Rotgen::Rotation does not take DeletionPolicy",
                "bad-fields.yaml:8:37: unknown key `servce`",
            ],
        ),
        (
            "secret-values.yaml",
            &["secret-values.yaml:12:40: unknown key `Password` in [function]"],
        ),
    ];
    for (name, expected) in cases {
        let path = format!("tests/fixtures/macro-invalid/{name}");
        let o = common::rotgen()
            .current_dir(common::root())
            .args(["expand", &path])
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let err = stderr(&o);
        let flat = err
            .split_whitespace()
            .filter(|w| *w != "│")
            .collect::<Vec<_>>()
            .join(" ");
        for e in *expected {
            assert!(
                flat.contains(&format!("{path}:{}", e.split_once(':').unwrap().1)),
                "{e} in:\n{err}"
            );
        }
    }
    // A template without the transform: the path it would be at, as no line holds it.
    let dir = scratch("expand-fallback");
    let path = dir.join("none.yaml");
    std::fs::write(
        &path,
        "Resources:\n  R: {Type: Rotgen::Rotation, Properties: {}}\n",
    )
    .unwrap();
    let o = run(&["expand", path.to_str().unwrap()]);
    assert!(
        stderr(&o).contains(&format!(
            "{}: Transform: the template does not name",
            path.display()
        )),
        "{}",
        stderr(&o)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
