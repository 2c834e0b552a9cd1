//! The `rotgen` command as users run it: output files, --check, formats, scale, init, schema.

mod common;

use common::{big_spec, root, run, scratch, stderr, stdout};
use serde_json::{Value, json};
use std::fs;

fn example(name: &str) -> String {
    root()
        .join("examples")
        .join(name)
        .to_str()
        .unwrap()
        .to_string()
}

#[test]
fn stdout_and_file_agree_and_are_deterministic() {
    let dir = scratch("determinism");
    let out = dir.join("t.yaml");
    let a = run(&["build", &example("payments.toml")]);
    let b = run(&["build", &example("payments.toml")]);
    assert!(a.status.success(), "{}", stderr(&a));
    assert_eq!(a.stdout, b.stdout);
    let c = run(&[
        "build",
        &example("payments.toml"),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(c.status.success());
    assert_eq!(fs::read(&out).unwrap(), a.stdout);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn json_and_yaml_hold_the_same_template() {
    for spec in ["payments.toml", "cloudformation.toml", "no-vpc.toml"] {
        let y = run(&["build", &example(spec)]);
        let j = run(&["build", &example(spec), "--format", "json"]);
        assert!(y.status.success() && j.status.success());
        let from_yaml = rotgen::yaml::parse(&stdout(&y)).unwrap();
        let from_json: Value = serde_json::from_slice(&j.stdout).unwrap();
        assert_eq!(from_yaml, from_json, "{spec}");
        // Intrinsics are in long form in JSON, short form in YAML.
        assert!(stdout(&j).contains("\"Fn::GetAtt\""));
        assert!(stdout(&y).contains("!GetAtt "));
    }
    // -o FILE.json picks JSON by itself.
    let dir = scratch("json-ext");
    let out = dir.join("t.json");
    assert!(
        run(&[
            "build",
            &example("payments.toml"),
            "-o",
            out.to_str().unwrap()
        ])
        .status
        .success()
    );
    serde_json::from_str::<Value>(&fs::read_to_string(&out).unwrap()).unwrap();
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn check_reports_drift_and_writes_nothing() {
    let dir = scratch("check");
    let out = dir.join("template.yaml");
    let path = out.to_str().unwrap();
    // Missing file: drift.
    let o = run(&["build", &example("payments.toml"), "-o", path, "--check"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!out.exists());
    assert!(
        run(&["build", &example("payments.toml"), "-o", path])
            .status
            .success()
    );
    let o = run(&["build", &example("payments.toml"), "-o", path, "--check"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let edited = fs::read_to_string(&out)
        .unwrap()
        .replace("rate(30 days)", "rate(31 days)");
    fs::write(&out, &edited).unwrap();
    let o = run(&["build", &example("payments.toml"), "-o", path, "--check"]);
    assert_eq!(o.status.code(), Some(1));
    let diff = stdout(&o);
    assert!(
        diff.contains("-        ScheduleExpression: rate(31 days)"),
        "{diff}"
    );
    assert!(
        diff.contains("+        ScheduleExpression: rate(30 days)"),
        "{diff}"
    );
    assert!(stderr(&o).contains("is not what"));
    assert_eq!(
        fs::read_to_string(&out).unwrap(),
        edited,
        "--check never writes"
    );
    // --check needs -o.
    let o = run(&["build", &example("payments.toml"), "--check"]);
    assert_eq!(o.status.code(), Some(2));
    fs::remove_dir_all(&dir).unwrap();
}

/// Resources of a parsed template.
fn resources(t: &Value) -> &serde_json::Map<String, Value> {
    t["Resources"].as_object().unwrap()
}

/// The size IAM counts for a policy document: compact JSON with pseudo-parameters at
/// their longest and references at the length of a full secret ARN.
fn iam_size(doc: &Value) -> usize {
    fn expand(v: &Value) -> Value {
        match v {
            Value::Object(m) if m.len() == 1 && m.contains_key("Fn::Sub") => Value::String(
                m["Fn::Sub"]
                    .as_str()
                    .unwrap()
                    .replace("${AWS::Partition}", "aws-us-gov")
                    .replace("${AWS::Region}", "ap-southeast-12")
                    .replace("${AWS::AccountId}", "123456789012")
                    .replace("${AWS::URLSuffix}", "amazonaws.com.cn"),
            ),
            Value::Object(m)
                if m.len() == 1 && (m.contains_key("Ref") || m.contains_key("Fn::GetAtt")) =>
            {
                Value::String("x".repeat(120))
            }
            Value::Object(m) => {
                Value::Object(m.iter().map(|(k, v)| (k.clone(), expand(v))).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(expand).collect()),
            other => other.clone(),
        }
    }
    serde_json::to_string(&expand(doc)).unwrap().len()
}

#[test]
fn six_hundred_secrets_split_into_nested_stacks_within_every_limit() {
    let dir = scratch("scale");
    let spec = dir.join("big.toml");
    fs::write(&spec, big_spec(600)).unwrap();
    let out = dir.join("template.yaml");
    let o = run(&["build", spec.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let main = rotgen::yaml::parse(&fs::read_to_string(&out).unwrap()).unwrap();
    let stacks: Vec<&Value> = resources(&main)
        .values()
        .filter(|r| r["Type"] == "AWS::Serverless::Application")
        .collect();
    assert!(stacks.len() >= 3, "{}", stacks.len());
    let mut schedules = 0;
    for stack in &stacks {
        let file = dir.join(stack["Properties"]["Location"].as_str().unwrap());
        let t = rotgen::yaml::parse(&fs::read_to_string(&file).unwrap()).unwrap();
        let res = resources(&t);
        assert!(
            res.len() <= 500,
            "{} has {} resources",
            file.display(),
            res.len()
        );
        assert!(t["Outputs"].as_object().unwrap().len() <= 200);
        for r in res.values().filter(|r| r["Type"] == "AWS::IAM::Role") {
            let size: usize = r["Properties"]["Policies"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| iam_size(&p["PolicyDocument"]))
                .sum();
            assert!(
                size <= 10_240,
                "{}: inline policy of {size} characters",
                file.display()
            );
        }
        schedules += res
            .values()
            .filter(|r| r["Type"] == "AWS::SecretsManager::RotationSchedule")
            .count();
        // Nested stacks wait for the endpoint in the parent: they take its URL.
        let url =
            serde_json::to_string(&stack["Properties"]["Parameters"]["SecretsManagerEndpointUrl"])
                .unwrap();
        assert!(
            url.contains(r#"["RotationSecretsManagerEndpoint","DnsEntries"]"#),
            "{url}"
        );
    }
    assert_eq!(schedules, 600, "every secret has its schedule");
    assert!(resources(&main).len() <= 500);
    // Without -o there is nowhere to put the nested templates.
    let o = run(&["build", spec.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("write them to files with -o FILE"));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn small_specs_stay_in_one_stack() {
    let dir = scratch("small");
    let spec = dir.join("s.toml");
    fs::write(&spec, big_spec(60)).unwrap();
    let o = run(&["build", spec.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let t = rotgen::yaml::parse(&stdout(&o)).unwrap();
    let res = resources(&t);
    assert_eq!(
        res.values()
            .filter(|r| r["Type"] == "AWS::SecretsManager::RotationSchedule")
            .count(),
        60
    );
    assert!(
        !res.values()
            .any(|r| r["Type"] == "AWS::Serverless::Application")
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn init_writes_a_starter_that_builds_and_never_clobbers() {
    let dir = scratch("init");
    let spec = dir.join("rotgen.toml");
    let p = spec.to_str().unwrap();
    assert!(run(&["init", "-o", p]).status.success());
    assert!(run(&["build", p]).status.success());
    fs::write(&spec, "mine = true\n").unwrap();
    let o = run(&["init", "-o", p]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--force"));
    assert_eq!(fs::read_to_string(&spec).unwrap(), "mine = true\n");
    assert!(run(&["init", "-o", p, "--force"]).status.success());
    assert_eq!(
        fs::read_to_string(&spec).unwrap(),
        rotgen::cli::STARTER_SPEC
    );
    let o = run(&["init"]);
    assert_eq!(stdout(&o), rotgen::cli::STARTER_SPEC);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn schema_describes_every_key_of_the_examples() {
    let o = run(&["schema"]);
    assert!(o.status.success());
    let schema: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(schema["additionalProperties"], false);
    // Every key used in the examples is in the schema, at the same place.
    fn walk(schema: &Value, value: &toml::Value, path: &str) {
        // `anyOf`: the alternative of the value's kind (a string, or `{ param = ... }`).
        if let Some(alternatives) = schema["anyOf"].as_array() {
            let kind = match value {
                toml::Value::Table(_) => "object",
                toml::Value::Array(_) => "array",
                toml::Value::String(_) => "string",
                toml::Value::Integer(_) => "integer",
                toml::Value::Boolean(_) => "boolean",
                _ => "other",
            };
            let alt = alternatives
                .iter()
                .find(|a| a["type"] == kind)
                .unwrap_or_else(|| panic!("{path}: the schema takes no {kind} here"));
            return walk(alt, value, path);
        }
        match value {
            toml::Value::Table(t) => {
                let props = &schema["properties"];
                for (k, v) in t {
                    let sub = if props[k].is_null() {
                        &schema["additionalProperties"]
                    } else {
                        &props[k]
                    };
                    assert!(sub.is_object(), "{path}.{k} missing from the schema");
                    walk(sub, v, &format!("{path}.{k}"));
                }
            }
            toml::Value::Array(items) if schema["items"].is_object() => {
                for item in items {
                    walk(&schema["items"], item, path);
                }
            }
            _ => {}
        }
    }
    for entry in fs::read_dir(root().join("examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let value: toml::Value = toml::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        walk(&schema, &value, &path.display().to_string());
    }
}

#[test]
fn readme_documents_every_key_of_the_schema() {
    // The README and the pages of docs/ it links to (the reference is docs/spec.md).
    let mut readme = fs::read_to_string(root().join("README.md")).unwrap();
    let mut pages: Vec<_> = fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    for page in pages {
        readme.push('\n');
        readme.push_str(&fs::read_to_string(page).unwrap());
    }
    fn walk(schema: &Value, readme: &str, path: &str) {
        if let Some(props) = schema["properties"].as_object() {
            for (k, v) in props {
                let documented = [format!("`{k}`"), format!("`[{k}]`"), format!("`[[{k}]]`")]
                    .iter()
                    .any(|form| readme.contains(form.as_str()));
                assert!(
                    documented,
                    "neither README.md nor docs/*.md documents `{k}` ({path})"
                );
                walk(v, readme, &format!("{path}.{k}"));
            }
        }
        if schema["items"].is_object() {
            walk(&schema["items"], readme, path);
        }
        if schema["additionalProperties"].is_object() {
            walk(&schema["additionalProperties"], readme, path);
        }
        for alternative in schema["anyOf"].as_array().into_iter().flatten() {
            walk(alternative, readme, path);
        }
    }
    walk(&rotgen::spec::schema::json_schema(), &readme, "spec");
}

#[test]
fn expand_writes_what_cloudformation_will_deploy() {
    let dir = scratch("expand");
    let out = dir.join("expanded.json");
    let template = root().join("tests/fixtures/macro/issue-example.yaml");
    let o = run(&[
        "expand",
        template.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--code",
        "s3://bucket/rotgen.zip",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let expanded: Value = serde_json::from_str(&fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(expanded["Transform"], "AWS::Serverless-2016-10-31");
    let code = &expanded["Resources"]["AppRotationPostgresFunction"]["Properties"]["Code"];
    assert_eq!(code["S3Bucket"], "bucket");
    assert!(
        expanded["Parameters"]
            .get("AppRotationCodeBucket")
            .is_none(),
        "--code replaces the parameters"
    );
    // Broken templates: exit 2, each problem at its line and column, the output untouched.
    fs::write(&out, "keep\n").unwrap();
    let bad = root().join("tests/fixtures/macro-invalid/bad-fields.yaml");
    let o = run(&["expand", bad.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("bad-fields.yaml:8:37: unknown key `servce`"),
        "{err}"
    );
    assert!(err.contains("did you mean `service`?"), "{err}");
    assert_eq!(fs::read_to_string(&out).unwrap(), "keep\n");
    let o = run(&["expand", "/nonexistent.yaml"]);
    assert_eq!(o.status.code(), Some(2));
    fs::remove_dir_all(&dir).unwrap();
}

/// Hostile nesting in a YAML template: `rotgen expand` refuses it at once, at the line and
/// column where it passes 128 levels (the parser alone took time that grew with the square
/// of the depth: about 10 s for each of these in a debug build, minutes for 600 KB).
#[test]
fn expand_refuses_hostile_nesting_at_once() {
    let dir = scratch("expand-deep");
    let out = dir.join("expanded.yaml");
    let n = 50_000;
    let cases = [
        (
            "flow-sequences",
            format!("Resources: {}{}\n", "[".repeat(n), "]".repeat(n)),
            (1, 11 + 128),
        ),
        (
            "flow-maps",
            format!(
                "Resources: {}1{}\n",
                "{a: ".repeat(n / 2),
                "}".repeat(n / 2)
            ),
            (1, 11 + 4 * 127 + 1),
        ),
        (
            "flow-in-block",
            format!(
                "Transform: Rotgen\nResources:\n  R:\n    Properties: {}{}\n",
                "[".repeat(n),
                "]".repeat(n)
            ),
            (4, 17 + 125),
        ),
        (
            "block-sequences",
            format!("Resources:\n{}x\n", "- ".repeat(n)),
            (2, 2 * 128 + 1),
        ),
        (
            "block-maps",
            format!(
                "Resources:\n{}",
                (0..200)
                    .map(|i| format!("{}k{i}:\n", " ".repeat(i + 1)))
                    .collect::<String>()
            ),
            (129, 129),
        ),
    ];
    for (name, text, (line, column)) in cases {
        let path = dir.join(format!("{name}.yaml"));
        fs::write(&path, &text).unwrap();
        let o = run(&[
            "expand",
            path.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(2), "{name}");
        let err = stderr(&o);
        assert!(
            err.contains(&format!("{}:{line}:{column}: not a YAML or JSON template: lists and maps nest more than 128 deep", path.display())),
            "{name}: {err}"
        );
        assert!(!out.exists(), "{name}: nothing is written");
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn macro_stack_registers_the_macro() {
    let o = run(&[
        "macro-stack",
        "--name",
        "RotgenDev",
        "--architecture",
        "x86_64",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let t = rotgen::yaml::parse(&stdout(&o)).unwrap();
    let res = resources(&t);
    assert_eq!(res["Macro"]["Type"], "AWS::CloudFormation::Macro");
    assert_eq!(res["Macro"]["Properties"]["Name"], "RotgenDev");
    assert_eq!(
        res["MacroFunction"]["Properties"]["Architectures"][0],
        "x86_64"
    );
    // The macro passes its own zip to the functions it creates.
    let vars = &res["MacroFunction"]["Properties"]["Environment"]["Variables"];
    assert_eq!(
        vars["ROTGEN_CODE_BUCKET"],
        serde_json::json!({"Ref": "CodeBucket"})
    );
}

#[test]
fn nested_templates_of_an_earlier_build_are_reported() {
    let dir = scratch("stale");
    let spec = dir.join("spec.toml");
    let out = dir.join("template.yaml");
    let path = out.to_str().unwrap();
    fs::write(&spec, big_spec(600)).unwrap();
    assert!(
        run(&["build", spec.to_str().unwrap(), "-o", path])
            .status
            .success()
    );
    let nested: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("template.") && n != "template.yaml")
        .collect();
    assert!(nested.len() > 3);
    // Someone's own file that merely looks like one is left alone.
    fs::write(dir.join("template.notes.yaml"), "mine: true\n").unwrap();
    // The spec shrinks to one stack: the nested files are stale.
    fs::write(&spec, big_spec(10)).unwrap();
    let o = run(&["build", spec.to_str().unwrap(), "-o", path]);
    assert!(o.status.success());
    let err = stderr(&o);
    for n in &nested {
        assert!(
            err.contains(&format!("{n} is a nested template of an earlier build")),
            "{n}: {err}"
        );
    }
    assert!(!err.contains("template.notes.yaml"), "{err}");
    let o = run(&["build", spec.to_str().unwrap(), "-o", path, "--check"]);
    assert_eq!(o.status.code(), Some(1), "stale files are drift");
    assert!(stdout(&o).contains("no longer uses it"));
    for n in &nested {
        fs::remove_file(dir.join(n)).unwrap();
    }
    let o = run(&["build", spec.to_str().unwrap(), "-o", path, "--check"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    fs::remove_dir_all(&dir).unwrap();
}

/// Characters JSON allows raw but YAML reads otherwise (NEL, LS, PS are line breaks;
/// DEL and C1 controls are not printable) in every free-text field: the build (a debug
/// build, as the README's first command is) succeeds, and the template reads back with
/// the text unchanged.
#[test]
fn any_character_in_free_text_survives_the_build() {
    let dir = common::scratch("chars");
    for c in [
        '\u{85}', '\u{7f}', '\u{80}', '\u{9f}', '\u{2028}', '\u{2029}', '\u{feff}', '\u{ffff}',
        '\t', 'é', '💡',
    ] {
        let text = format!("a{c}b \"q\" \\\\ 'x'");
        let spec = format!(
            "[stack]\nname = \"chars\"\ndescription = {0}\n[schedule]\ndays = 30\n[[secret]]\nid = \"A\"\nservice = \"postgres\"\ncreate = {{ name = \"prod/a\", description = {0}, username = \"app\", host = \"db.example.com\" }}\n",
            toml_string(&text)
        );
        let path = dir.join("chars.toml");
        std::fs::write(&path, &spec).unwrap();
        for format in ["yaml", "json"] {
            let o = run(&["build", path.to_str().unwrap(), "--format", format]);
            assert!(
                o.status.success(),
                "U+{:04X} ({format}): {}",
                c as u32,
                stderr(&o)
            );
            let t: Value = if format == "json" {
                serde_json::from_str(&stdout(&o)).unwrap()
            } else {
                rotgen::yaml::parse(&stdout(&o)).unwrap()
            };
            assert_eq!(
                t["Description"],
                text.as_str(),
                "U+{:04X} ({format})",
                c as u32
            );
            let secret = resources(&t)
                .values()
                .find(|r| r["Type"] == "AWS::SecretsManager::Secret")
                .unwrap();
            assert_eq!(secret["Properties"]["Description"], text.as_str());
        }
    }
}

/// A TOML basic string holding `s` (every character escaped as \uXXXX but letters).
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || c == ' ' {
            out.push(c);
        } else if (c as u32) < 0x10000 {
            out.push_str(&format!("\\u{:04X}", c as u32));
        } else {
            out.push_str(&format!("\\U{:08X}", c as u32));
        }
    }
    out.push('"');
    out
}

/// A reader that stops early (`rotgen build … | head -1`) is no error: a quiet exit 0,
/// no panic message.
#[test]
fn a_closed_pipe_is_a_quiet_exit() {
    use std::process::Stdio;
    for args in [
        vec!["build".to_string(), example("payments.toml")],
        vec!["schema".to_string()],
        vec![
            "expand".to_string(),
            common::root()
                .join("tests/fixtures/macro/several.yaml")
                .display()
                .to_string(),
        ],
    ] {
        let mut child = common::rotgen()
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

/// `expand` reads a JSON template as JSON: any key length, escaped surrogate pairs, and a
/// nesting limit that refuses a too-deep template at once (exit 2, with its position).
#[test]
fn expand_reads_json_as_json() {
    let dir = common::scratch("expand-json");
    let long_key = "K".repeat(2000);
    let mut deep = json!("leaf");
    for _ in 0..100 {
        deep = json!([deep]);
    }
    let template = json!({
        "Transform": "Rotgen",
        "Metadata": {long_key.clone(): "\u{1F600}", "Deep": deep},
        "Resources": {"R": {"Type": "Rotgen::Rotation", "Properties": {
            "function": {"code": "s3://b/k.zip"},
            "schedule": {"days": 30},
            "secret": [{"id": "A", "name": "prod/a", "service": "postgres"}]
        }}}
    });
    // serde_json writes the emoji raw; escape it as a surrogate pair, as other tools do.
    let text = template.to_string().replace('\u{1F600}', "\\ud83d\\ude00");
    let path = dir.join("t.json");
    fs::write(&path, &text).unwrap();
    let o = run(&["expand", path.to_str().unwrap(), "--format", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(out["Metadata"][&long_key], "\u{1F600}");

    let too_deep = format!(
        "{{\"Resources\": {}1{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    fs::write(&path, &too_deep).unwrap();
    let started = std::time::Instant::now();
    let o = run(&["expand", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("t.json:1:"), "{}", stderr(&o));
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

/// An existing secret on a port of its own gets egress on that port.
#[test]
fn an_existing_secrets_port_opens_egress() {
    let dir = common::scratch("port");
    let spec = dir.join("port.toml");
    fs::write(
        &spec,
        "[vpc]\nvpc_id = \"vpc-0abc1234def567890\"\nsubnet_ids = [\"subnet-0a1b2c3d4e5f60718\"]\n[schedule]\ndays = 30\n[[secret]]\nid = \"Cache\"\nname = \"prod/cache\"\nservice = \"redis\"\nport = 6380\n",
    )
    .unwrap();
    let o = run(&["build", spec.to_str().unwrap(), "--format", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let t: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let sg = resources(&t)
        .values()
        .find(|r| {
            r["Type"] == "AWS::EC2::SecurityGroup"
                && r["Properties"]["SecurityGroupEgress"].is_array()
        })
        .unwrap();
    let ports: Vec<i64> = sg["Properties"]["SecurityGroupEgress"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["FromPort"].as_i64().unwrap())
        .collect();
    assert_eq!(ports, vec![443, 6380]);
}

/// `expand` refuses what CloudFormation would not deploy, as the macro's Lambda does:
/// the snippet form, a template without the Rotgen transform or with SAM before it, SAM
/// output, and a rotation whose architecture is not that of the macro's own zip.
/// A report's words on one line: miette wraps a message at 100 columns.
fn flat(report: &str) -> String {
    report
        .split_whitespace()
        .filter(|w| *w != "│")
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn expand_refuses_what_cannot_deploy() {
    let dir = common::scratch("expand-refuses");
    let rotation = "    Type: Rotgen::Rotation\n    Properties:\n      schedule: {days: 30}\n      secret: [{id: A, name: prod/a, service: postgres}]\n";
    let cases = [
        (
            "snippet",
            format!("Resources:\n  R:\n    Fn::Transform: {{Name: Rotgen}}\n{rotation}"),
            "template level only",
        ),
        (
            "none",
            format!("Resources:\n  R:\n{rotation}"),
            "does not name the Rotgen transform",
        ),
        (
            "sam-first",
            format!(
                "Transform: [AWS::Serverless-2016-10-31, Rotgen]\nResources:\n  R:\n{rotation}"
            ),
            "SAM transform comes before Rotgen",
        ),
        (
            "sam-format",
            format!(
                "Transform: [Rotgen, AWS::Serverless-2016-10-31]\nResources:\n  R:\n{rotation}      stack: {{format: sam}}\n"
            ),
            "writes plain CloudFormation",
        ),
        (
            "arch",
            format!(
                "Transform: Rotgen\nResources:\n  R:\n{rotation}      function: {{architecture: x86_64}}\n"
            ),
            "built for arm64",
        ),
    ];
    for (name, text, expected) in cases {
        let path = dir.join(format!("{name}.yaml"));
        fs::write(&path, text).unwrap();
        let o = run(&[
            "expand",
            path.to_str().unwrap(),
            "--code",
            "s3://b/rotgen-arm64.zip",
        ]);
        assert_eq!(o.status.code(), Some(2), "{name}: {}", stderr(&o));
        assert!(
            flat(&stderr(&o)).contains(expected),
            "{name}: {}",
            stderr(&o)
        );
    }
    // A function.code of the wrong type is that one problem, not a mismatch of
    // architectures as well (the code was given).
    let path = dir.join("bad-code.yaml");
    fs::write(
        &path,
        format!("Transform: Rotgen\nResources:\n  R:\n{rotation}      function: {{architecture: x86_64, code: 5}}\n"),
    )
    .unwrap();
    let o = run(&[
        "expand",
        path.to_str().unwrap(),
        "--code",
        "s3://b/rotgen-arm64.zip",
    ]);
    let err = flat(&stderr(&o));
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("bad-code.yaml:8:46: `code` in [function] must be a string"),
        "{err}"
    );
    assert!(err.contains("has 1 problem;"), "{err}");
    // Without an architecture, a rotation running the macro's zip takes the zip's.
    let path = dir.join("x86.yaml");
    fs::write(
        &path,
        format!("Transform: Rotgen\nResources:\n  R:\n{rotation}"),
    )
    .unwrap();
    let o = run(&[
        "expand",
        path.to_str().unwrap(),
        "--code",
        "s3://b/rotgen-x86_64.zip",
        "--code-architecture",
        "x86_64",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let t: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let f = resources(&t)
        .values()
        .find(|r| r["Type"] == "AWS::Lambda::Function")
        .unwrap();
    assert_eq!(f["Properties"]["Architectures"], json!(["x86_64"]));
}

/// The small promises of the command line: `build -` reads standard input, `-o x.JSON`
/// writes JSON, `-o` onto a symbolic link writes its target and keeps the file's mode,
/// `macro-stack` checks its flags, `invoke` fails on a failed macro answer, and missing
/// AWS settings are one line each.
#[test]
fn command_line_details() {
    use std::os::unix::fs::PermissionsExt;
    let dir = common::scratch("details");
    // build -
    let o = common::run_with_stdin(
        common::rotgen().args(["build", "-"]),
        &fs::read_to_string(example("payments.toml")).unwrap(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("AWSTemplateFormatVersion"));
    // -o t.JSON
    let upper = dir.join("t.JSON");
    let o = run(&[
        "build",
        &example("payments.toml"),
        "-o",
        upper.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(serde_json::from_str::<Value>(&fs::read_to_string(&upper).unwrap()).is_ok());
    // -o onto a link
    let target = dir.join("real.yaml");
    fs::write(&target, "old\n").unwrap();
    fs::set_permissions(&target, fs::Permissions::from_mode(0o640)).unwrap();
    let link = dir.join("link.yaml");
    std::os::unix::fs::symlink("real.yaml", &link).unwrap();
    let o = run(&[
        "build",
        &example("payments.toml"),
        "-o",
        link.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link stays"
    );
    assert!(
        fs::read_to_string(&target)
            .unwrap()
            .starts_with("AWSTemplateFormatVersion")
    );
    assert_eq!(
        fs::metadata(&target).unwrap().permissions().mode() & 0o777,
        0o640
    );
    // macro-stack flags
    for args in [
        ["macro-stack", "--name", "bad name"],
        [
            "macro-stack",
            "--permissions-boundary",
            "arn:aws:iam::123456789012:role/x",
        ],
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    }
    // invoke: a macro failure is a failure
    let event = dir.join("bad-macro.json");
    fs::write(&event, json!({"requestId": "r", "params": {}, "fragment": {"Resources": {"R": {"Type": "Rotgen::Rotation", "Properties": {}}}}}).to_string()).unwrap();
    let o = common::rotgen()
        .args(["invoke", event.to_str().unwrap()])
        .env_remove("ROTGEN_SERVICE")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stdout(&o).contains("\"failure\""));
    // No region, no credentials: one line each, no SDK dump.
    let no_aws = |extra: &[(&str, &str)]| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_rotgen"));
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap())
            .env("HOME", &dir);
        c.env("AWS_EC2_METADATA_DISABLED", "true");
        for (k, v) in extra {
            c.env(k, v);
        }
        c.args(["rotate", "--secret-id", "prod/x", "--service", "postgres"])
            .output()
            .unwrap()
    };
    let o = no_aws(&[]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o).trim(),
        "error: no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, or a region in the AWS_PROFILE's configuration)"
    );
    let o = no_aws(&[("AWS_REGION", "us-east-1")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).trim().starts_with("error: no AWS credentials"),
        "{}",
        stderr(&o)
    );
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
}

/// Every template within every quota, the parent's outputs too: small-policy secrets
/// are split by count, and a spec too big for one deployment is refused at build.
#[test]
fn every_file_within_its_quotas_or_refused() {
    let dir = common::scratch("quotas");
    let mut spec = String::from("[schedule]\ndays = 30\n");
    for i in 0..1000 {
        spec.push_str(&format!(
            "[[secret]]\nid = \"R{i}\"\nname = \"tokens/t{i}\"\nservice = \"random\"\n"
        ));
    }
    let path = dir.join("random.toml");
    fs::write(&path, &spec).unwrap();
    let out = dir.join("random.yaml");
    let o = run(&["build", path.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut files = 0;
    for entry in fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "yaml") {
            let t = rotgen::yaml::parse(&fs::read_to_string(&p).unwrap()).unwrap();
            assert!(resources(&t).len() <= 500, "{}", p.display());
            let outputs = t["Outputs"].as_object().map_or(0, |o| o.len());
            assert!(outputs <= 200, "{}: {outputs} outputs", p.display());
            files += 1;
        }
    }
    assert!(files > 2, "nested templates were written");

    let mut spec = String::from("[schedule]\ndays = 30\n");
    for i in 0..20_000 {
        spec.push_str(&format!(
            "[[secret]]\nid = \"P{i}\"\nname = \"db/p{i}\"\nservice = \"postgres\"\n"
        ));
    }
    fs::write(&path, &spec).unwrap();
    let o = run(&["build", path.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("too many secrets for one deployment"),
        "{}",
        stderr(&o)
    );
}

/// An ARN whose last six characters read like a word is probably a partial ARN: the
/// build goes on, and says why it may be wrong.
#[test]
fn a_partial_looking_arn_is_a_warning() {
    let dir = common::scratch("partial");
    let spec = dir.join("partial.toml");
    fs::write(&spec, "[schedule]\ndays = 30\n[[secret]]\nid = \"Api\"\narn = \"arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/api-tokens\"\nservice = \"http\"\n").unwrap();
    let o = run(&["build", spec.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("warning:")
            && err.contains("partial.toml:5:7")
            && err.contains("name = \"prod/api-tokens\""),
        "{err}"
    );
    // A real suffix: no warning.
    fs::write(&spec, "[alarms]\nemail = [\"oncall@example.com\"]\n[schedule]\ndays = 30\n[[secret]]\nid = \"Api\"\narn = \"arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/api-tokens-Ab3dEf\"\nservice = \"http\"\n").unwrap();
    let o = run(&["build", spec.to_str().unwrap()]);
    assert!(
        o.status.success() && !stderr(&o).contains("warning"),
        "{}",
        stderr(&o)
    );
}

/// What `build` warns of, where a template would deploy and still fail its users: failure
/// alarms nobody receives, and a database reached over the public internet. Each warning
/// goes away with the setting it names.
#[test]
fn alarms_without_a_subscriber_and_databases_without_a_vpc_are_warnings() {
    let dir = common::scratch("warnings");
    let spec = dir.join("w.toml");
    let db = "[schedule]\ndays = 30\n[[secret]]\nid = \"Db\"\nservice = \"postgres\"\nname = \"prod/db\"\n";
    let build = |text: &str| {
        fs::write(&spec, text).unwrap();
        let o = run(&["build", spec.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
        stderr(&o)
    };
    let err = build(db);
    assert!(err.contains("a topic with no subscriber"), "{err}");
    assert!(
        err.contains("w.toml:5:11") && err.contains("postgres secret without [vpc]"),
        "{err}"
    );
    let vpc =
        "[vpc]\nvpc_id = \"vpc-0abc1234def567890\"\nsubnet_ids = [\"subnet-0a1b2c3d4e5f60718\"]\n";
    for alarms in [
        "[alarms]\nemail = [\"oncall@example.com\"]\n",
        "[alarms]\ntopic_arn = \"arn:aws:sns:us-east-1:123456789012:oncall\"\n",
    ] {
        let err = build(&format!("{vpc}{alarms}{db}"));
        assert!(!err.contains("warning"), "{err}");
    }
    // Turned off on purpose: nothing to warn of.
    let err = build(&format!("{vpc}[alarms]\nenabled = false\n{db}"));
    assert!(!err.contains("warning"), "{err}");
    // The AWS managed key for SNS, by ARN (by alias: tests/fixtures/invalid): refused.
    fs::write(&spec, format!("{vpc}[alarms]\nemail = [\"oncall@example.com\"]\nkms_key_arn = \"arn:aws:kms:us-east-1:123456789012:alias/aws/sns\"\n{db}")).unwrap();
    let o = run(&["build", spec.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("AWS managed key"), "{}", stderr(&o));
}

/// The created topic's key admits EventBridge and CloudWatch as the SNS Developer Guide's
/// key policy for event sources does: no aws:SourceAccount or aws:SourceArn condition,
/// which EventBridge-to-encrypted-topic delivery does not support (every RotationFailed
/// event would be dropped). The topic policy keeps the account condition.
#[test]
fn the_alarm_topics_key_policy_is_the_documented_one() {
    let o = run(&["build", "examples/payments.toml", "--format", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let t: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let resources = t["Resources"].as_object().unwrap();
    let key = resources
        .values()
        .find(|r| {
            r["Type"] == "AWS::KMS::Key"
                && r["Properties"]["Description"]
                    .as_str()
                    .is_some_and(|d| d.contains("rotation-failure topic"))
        })
        .expect("the topic's key");
    let statements = key["Properties"]["KeyPolicy"]["Statement"]
        .as_array()
        .unwrap();
    let publish = statements
        .iter()
        .find(|s| s["Principal"]["Service"].is_array())
        .expect("a statement for the event sources");
    assert_eq!(
        publish["Principal"]["Service"],
        serde_json::json!(["events.amazonaws.com", "cloudwatch.amazonaws.com"])
    );
    assert_eq!(
        publish["Action"],
        serde_json::json!(["kms:Decrypt", "kms:GenerateDataKey*"])
    );
    assert_eq!(publish["Resource"], "*");
    assert!(publish.get("Condition").is_none(), "{publish}");
    let topic_policy = resources
        .values()
        .find(|r| r["Type"] == "AWS::SNS::TopicPolicy")
        .unwrap();
    let condition = &topic_policy["Properties"]["PolicyDocument"]["Statement"][0]["Condition"];
    assert!(
        condition["StringEquals"]["aws:SourceAccount"].is_object(),
        "{condition}"
    );
}

/// The deploy command `build -o` prints runs as printed: a template over the 51,200 bytes
/// `aws cloudformation deploy` sends inline gets `--s3-bucket` (the last size without it
/// and the first with it), and every parameter without a default gets a placeholder.
#[test]
fn the_printed_deploy_command_names_the_bucket_and_every_parameter_it_needs() {
    let dir = common::scratch("deploy-command");
    let spec = dir.join("s.toml");
    let build = |n: usize, params: &str| {
        let mut text = format!(
            "[stack]\nname = \"big\"\nformat = \"cloudformation\"\n[alarms]\nemail = [\"a@example.com\"]\n[vpc]\nvpc_id = \"vpc-0abc1234def567890\"\nsubnet_ids = [\"subnet-0a1b2c3d4e5f60718\"]\n[schedule]\ndays = 30\n{params}"
        );
        for i in 0..n {
            text.push_str(&format!(
                "[[secret]]\nid = \"S{i}\"\nname = \"prod/s{i}\"\nservice = \"postgres\"\n"
            ));
        }
        fs::write(&spec, text).unwrap();
        let out = dir.join(format!("o{n}/t.yaml"));
        let o = run(&["build", spec.to_str().unwrap(), "-o", out.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
        let deploy = stderr(&o)
            .lines()
            .find(|l| l.trim_start().starts_with("aws cloudformation deploy"))
            .unwrap()
            .to_string();
        (fs::metadata(&out).unwrap().len(), deploy)
    };
    // The largest template under the limit and the smallest over it, by secret count.
    let (mut below, mut above) = (None, None);
    for n in 30..60 {
        let (size, deploy) = build(n, "");
        if size <= 51_200 {
            below = Some((size, deploy));
        } else {
            above = Some((size, deploy));
            break;
        }
    }
    let (size, deploy) = below.unwrap();
    assert!(!deploy.contains("--s3-bucket"), "{size} bytes: {deploy}");
    let (size, deploy) = above.unwrap();
    assert!(
        deploy.contains(" --s3-bucket BUCKET "),
        "{size} bytes: {deploy}"
    );
    // A stack name at CloudFormation's limit (128 characters) is accepted, one more is not.
    for (len, ok) in [(128, true), (129, false)] {
        let name = format!("a{}", "-".repeat(len - 1));
        fs::write(&spec, format!("[stack]\nname = \"{name}\"\n[alarms]\nemail = [\"a@example.com\"]\n[schedule]\ndays = 30\n[[secret]]\nid = \"T\"\nname = \"t\"\nservice = \"random\"\n")).unwrap();
        let o = run(&["build", spec.to_str().unwrap()]);
        assert_eq!(o.status.success(), ok, "{len}: {}", stderr(&o));
    }
    // Parameters: those without a default need a value; the others may be left out.
    fs::write(&spec, "[stack]\nname = \"p\"\nformat = \"cloudformation\"\n[alarms]\nemail = [\"a@example.com\"]\n[parameters.AppSecretArn]\ntype = \"String\"\n[parameters.Schedule]\ntype = \"String\"\ndefault = \"rate(30 days)\"\n[parameters.Team]\ntype = \"String\"\n[stack.tags]\nteam = { param = \"Team\" }\n[schedule]\nexpression = { param = \"Schedule\" }\n[[secret]]\nid = \"T\"\narn = { param = \"AppSecretArn\" }\nservice = \"random\"\n").unwrap();
    let out = dir.join("p/t.yaml");
    let o = run(&["build", spec.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    let deploy = err
        .lines()
        .find(|l| l.trim_start().starts_with("aws cloudformation deploy"))
        .unwrap();
    assert!(
        deploy.ends_with(
            "--parameter-overrides CodeBucket=BUCKET CodeKey=KEY AppSecretArn=VALUE Team=VALUE"
        ),
        "{err}"
    );
}

/// The CI example installs rotgen from its repository, pinned, never by a bare name from
/// a registry where the name is not rotgen's (anyone could publish it).
#[test]
fn the_ci_example_installs_rotgen_from_where_it_lives() {
    let text = fs::read_to_string(root().join("examples/ci/github-actions.yml")).unwrap();
    let installs: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("cargo install"))
        .collect();
    assert!(!installs.is_empty(), "{text}");
    for l in installs {
        assert!(
            (l.contains("--git") && l.contains("--rev")) || l.contains("--path"),
            "installs from a registry: {l}"
        );
    }
}

/// Every documented AWS limit the spec can reach is checked at build, at its edge: the
/// last accepted value builds, the first refused one is one located error naming the
/// limit.
#[test]
fn aws_limits_are_checked_at_their_edges() {
    let dir = common::scratch("limits");
    let spec = dir.join("l.toml");
    let vpc = |subnets: usize, groups: usize| {
        let s: Vec<String> = (0..subnets)
            .map(|i| format!("\"subnet-0a1b2c3d4e5f607{i:02}\""))
            .collect();
        let g: Vec<String> = (0..groups)
            .map(|i| format!("\"sg-0a1b2c3d4e5f607{i:02}\""))
            .collect();
        let groups = if groups == 0 {
            String::new()
        } else {
            format!("security_group_ids = [{}]\n", g.join(", "))
        };
        format!(
            "[vpc]\nvpc_id = \"vpc-0abc1234def567890\"\nsubnet_ids = [{}]\n{groups}",
            s.join(", ")
        )
    };
    let tags = |n: usize, format: &str| {
        let t: Vec<String> = (0..n).map(|i| format!("t{i} = \"v\"")).collect();
        format!(
            "[stack]\nformat = \"{format}\"\n[stack.tags]\n{}\n",
            t.join("\n")
        )
    };
    let layers = |n: usize| {
        let l: Vec<String> = (0..n)
            .map(|i| format!("\"arn:aws:lambda:us-east-1:123456789012:layer:l{i}:1\""))
            .collect();
        format!("[function]\nlayers = [{}]\n", l.join(", "))
    };
    let db = |service: &str, user: &str, strategy: &str| {
        let master = if strategy == "alternating-users" {
            "master_secret_arn = \"arn:aws:secretsmanager:us-east-1:123456789012:secret:m-AbCdEf\"\n"
        } else {
            ""
        };
        format!(
            "[[secret]]\nid = \"Db\"\nservice = \"{service}\"\nstrategy = \"{strategy}\"\n{master}create = {{ name = \"prod/db\", username = \"{user}\", host = \"db.internal\" }}\n"
        )
    };
    let iam = |id: &str, user: &str| {
        format!(
            "[[secret]]\nid = \"{id}\"\nservice = \"aws-iam\"\nname = \"ci/{id}\"\nuser = \"{user}\"\n"
        )
    };
    let plain = "[[secret]]\nid = \"Db\"\nservice = \"postgres\"\nname = \"prod/db\"\n".to_string();
    // n parameters, each naming one secret (a parameter no value uses is refused).
    let params = |n: usize| -> String {
        (0..n)
            .map(|i| format!("[parameters.P{i}]\ntype = \"String\"\ndefault = \"v{i}\"\n[[secret]]\nid = \"S{i}\"\nservice = \"random\"\nname = {{ param = \"P{i}\" }}\n"))
            .collect()
    };
    let described = |n: usize| {
        format!(
            "[parameters.Env]\ntype = \"String\"\ndescription = \"{}\"\n[stack.tags]\nenv = {{ param = \"Env\" }}\n",
            "é".repeat(n)
        )
    };
    let with_id =
        |id: &str| format!("[[secret]]\nid = \"{id}\"\nservice = \"random\"\nname = \"prod/r\"\n");
    let created = |description: &str| {
        format!(
            "[[secret]]\nid = \"Db\"\nservice = \"postgres\"\ncreate = {{ name = \"prod/db\", username = \"app\", host = \"db.internal\", description = \"{description}\" }}\n"
        )
    };
    let stack_description = |n: usize| {
        format!(
            "[stack]\ndescription = \"{}\"\n",
            "é".repeat(n / 2) + &"a".repeat(n % 2)
        )
    };
    let cases: Vec<(&str, String, Option<&str>)> = vec![
        // The template's parameters: the spec's 198 and rotgen's CodeBucket and CodeKey.
        ("200 parameters", params(198), None),
        (
            "201 parameters",
            params(199),
            Some("would declare 201 parameters; CloudFormation allows 200"),
        ),
        (
            "a parameter named as a generated resource",
            format!(
                "[parameters.PostgresRotationFunction]\ntype = \"String\"\n{}[[secret]]\nid = \"Db\"\nservice = \"postgres\"\nname = {{ param = \"PostgresRotationFunction\" }}\n",
                vpc(1, 0)
            ),
            Some("both as a parameter and as a resource"),
        ),
        (
            "a 4000-character parameter description",
            format!("{}{}{plain}", described(4000), vpc(1, 0)),
            None,
        ),
        (
            "a 4001-character parameter description",
            format!("{}{}{plain}", described(4001), vpc(1, 0)),
            Some("has 4001 characters; CloudFormation allows 4000"),
        ),
        ("a 239-character id", with_id(&"I".repeat(239)), None),
        (
            "a 240-character id",
            with_id(&"I".repeat(240)),
            Some("shorten the id to at most 239 characters"),
        ),
        (
            "a 2048-character secret description",
            format!("{}{}", vpc(1, 0), created(&"d".repeat(2048))),
            None,
        ),
        (
            "a 2049-character secret description",
            format!("{}{}", vpc(1, 0), created(&"d".repeat(2049))),
            Some("has 2049 characters; Secrets Manager allows 2048"),
        ),
        (
            "a 1024-byte description",
            format!("{}{}{plain}", stack_description(1024), vpc(1, 0)),
            None,
        ),
        (
            "a 1025-byte description",
            format!("{}{}{plain}", stack_description(1025), vpc(1, 0)),
            Some("longer than 1024"),
        ),
        ("16 subnets", format!("{}{plain}", vpc(16, 0)), None),
        (
            "17 subnets",
            format!("{}{plain}", vpc(17, 0)),
            Some("at most 16 subnets"),
        ),
        ("5 security groups", format!("{}{plain}", vpc(1, 5)), None),
        (
            "6 security groups",
            format!("{}{plain}", vpc(1, 6)),
            Some("at most 5 security groups"),
        ),
        (
            "5 layers",
            format!("{}{}{plain}", vpc(1, 0), layers(5)),
            None,
        ),
        (
            "6 layers",
            format!("{}{}{plain}", vpc(1, 0), layers(6)),
            Some("at most 5 layers"),
        ),
        (
            "49 tags, SAM",
            format!("{}{}{plain}", tags(49, "sam"), vpc(1, 0)),
            None,
        ),
        (
            "50 tags, SAM",
            format!("{}{}{plain}", tags(50, "sam"), vpc(1, 0)),
            Some("lambda:createdBy"),
        ),
        (
            "50 tags",
            format!("{}{}{plain}", tags(50, "cloudformation"), vpc(1, 0)),
            None,
        ),
        (
            "51 tags",
            format!("{}{}{plain}", tags(51, "cloudformation"), vpc(1, 0)),
            Some("at most 50"),
        ),
        (
            "AWS: in upper case",
            format!("[stack.tags]\n\"AWS:team\" = \"x\"\n{}{plain}", vpc(1, 0)),
            Some("AWS reserves"),
        ),
        (
            "a tag value AWS does not take",
            format!("[stack.tags]\nteam = \"a#b\"\n{}{plain}", vpc(1, 0)),
            Some("does not take"),
        ),
        (
            "mysql, 32",
            format!(
                "{}{}",
                vpc(1, 0),
                db("mysql", &"u".repeat(32), "single-user")
            ),
            None,
        ),
        (
            "mysql, 33",
            format!(
                "{}{}",
                vpc(1, 0),
                db("mysql", &"u".repeat(33), "single-user")
            ),
            Some("at most 32"),
        ),
        (
            "mysql alternating, 26",
            format!(
                "{}{}",
                vpc(1, 0),
                db("mysql", &"u".repeat(26), "alternating-users")
            ),
            None,
        ),
        (
            "mysql alternating, 27",
            format!(
                "{}{}",
                vpc(1, 0),
                db("mysql", &"u".repeat(27), "alternating-users")
            ),
            Some("_clone"),
        ),
        (
            "postgres, 63 bytes",
            format!(
                "{}{}",
                vpc(1, 0),
                db(
                    "postgres",
                    &format!("{}{}", "é".repeat(31), "u"),
                    "single-user"
                )
            ),
            None,
        ),
        (
            "postgres, 64 bytes",
            format!(
                "{}{}",
                vpc(1, 0),
                db("postgres", &"é".repeat(32), "single-user")
            ),
            Some("at most 63"),
        ),
        (
            "an LDAP DN",
            format!(
                "{}{}",
                vpc(1, 0),
                db("ldap", "uid=app,ou=people,dc=example,dc=com", "single-user")
            ),
            None,
        ),
        (
            "an LDAP name that is no DN",
            format!("{}{}", vpc(1, 0), db("ldap", "app", "single-user")),
            Some("is not a DN"),
        ),
        (
            "two IAM users",
            format!("{}{}", iam("A", "deployer"), iam("B", "other")),
            None,
        ),
        (
            "one IAM user twice",
            format!("{}{}", iam("A", "deployer"), iam("B", "ci/Deployer")),
            Some("already has a secret"),
        ),
    ];
    for (what, body, refused) in cases {
        fs::write(
            &spec,
            format!("[alarms]\nemail = [\"a@example.com\"]\n[schedule]\ndays = 30\n{body}"),
        )
        .unwrap();
        let o = run(&[
            "build",
            spec.to_str().unwrap(),
            "-o",
            dir.join("out.yaml").to_str().unwrap(),
        ]);
        let err = stderr(&o);
        match refused {
            None => assert!(o.status.success(), "{what}: {err}"),
            Some(words) => {
                assert_eq!(o.status.code(), Some(2), "{what}: {err}");
                // miette wraps long lines: read the words across the wrap.
                let flat = err
                    .replace('│', " ")
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ");
                assert!(
                    flat.contains(words) && err.contains("l.toml:"),
                    "{what}: {err}"
                );
                assert!(err.contains("has 1 problem"), "{what}: one problem: {err}");
            }
        }
    }
}

/// The largest size in `lo..hi` that `ok` accepts, where `ok` accepts `lo`, refuses `hi`,
/// and accepts every size below one it accepts (a limit's edge, found by bisection).
fn last_accepted(mut lo: usize, mut hi: usize, ok: impl Fn(usize) -> bool) -> usize {
    assert!(ok(lo) && !ok(hi), "the edge is not within {lo}..{hi}");
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if ok(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

/// One stack operation handles at most 2,500 resources, nested stacks included: the
/// largest spec that builds stays within it, and one more secret is refused with that
/// limit (not another).
#[test]
fn resources_across_nested_stacks_are_checked_at_their_edge() {
    let total = |n: usize| -> Result<usize, String> {
        let mut spec =
            String::from("[alarms]\nemail = [\"a@example.com\"]\n[schedule]\ndays = 30\n");
        for i in 0..n {
            spec.push_str(&format!(
                "[[secret]]\nid = \"S{i}\"\nservice = \"random\"\nname = \"app/s{i}\"\n"
            ));
        }
        let count = |t: &Value| t["Resources"].as_object().map_or(0, |m| m.len());
        match rotgen::compile_toml(&spec, &|l| format!("t.{l}.yaml")) {
            Ok(c) => Ok(count(&c.main) + c.nested.iter().map(|(_, t)| count(t)).sum::<usize>()),
            Err(rotgen::Error::Invalid(d)) => Err(d
                .0
                .iter()
                .map(|d| d.message.clone())
                .collect::<Vec<_>>()
                .join("; ")),
            Err(e) => Err(e.to_string()),
        }
    };
    let lo = last_accepted(1_000, 3_000, |n| total(n).is_ok());
    let hi = lo + 1;
    let last = total(lo).unwrap();
    assert!(
        (2_490..=2_500).contains(&last),
        "{lo} secrets: {last} resources"
    );
    let refused = total(hi).unwrap_err();
    assert!(
        refused.contains("one CloudFormation stack operation handles at most 2500"),
        "{hi} secrets: {refused}"
    );
}

/// Lambda takes 4 KB of environment variables per function, all together: the longest
/// exclusion list that builds makes exactly 4,096 bytes, one more character is refused at
/// the list, naming the limit.
#[test]
fn a_functions_environment_is_checked_at_its_edge() {
    let build = |n: usize| -> Result<(), String> {
        let spec = format!(
            "[alarms]\nemail = [\"a@example.com\"]\n[schedule]\ndays = 30\n[password]\nexclude_characters = \"{}\"\n[[secret]]\nid = \"App\"\nservice = \"random\"\nname = \"app\"\n",
            "x".repeat(n)
        );
        match rotgen::compile_toml(&spec, &|l| format!("t.{l}.yaml")) {
            Ok(_) => Ok(()),
            Err(rotgen::Error::Invalid(d)) => Err(format!("{:?}", d.0)),
            Err(e) => Err(e.to_string()),
        }
    };
    let hi = last_accepted(1, 6_000, |n| build(n).is_ok()) + 1;
    let refused = build(hi).unwrap_err();
    assert!(
        refused.contains("would hold 4097 bytes (the largest variable, EXCLUDE_CHARACTERS")
            && refused.contains("Lambda allows 4096"),
        "{hi}: {refused}"
    );
    assert!(refused.contains("Span("), "located at the list: {refused}");
}

/// CloudFormation reads at most 1 MB of a template: a spec whose template would pass it
/// (here by long parameter descriptions) is refused, and the file already there stays.
#[test]
fn a_template_over_one_megabyte_is_refused_and_nothing_is_written() {
    let dir = common::scratch("megabyte");
    let spec = dir.join("big.toml");
    let out = dir.join("template.yaml");
    fs::write(&out, "kept\n").unwrap();
    let mut text = String::from("[alarms]\nemail = [\"a@example.com\"]\n[schedule]\ndays = 30\n");
    for i in 0..140 {
        text.push_str(&format!(
            "[parameters.P{i}]\ntype = \"String\"\ndescription = \"{}\"\n[[secret]]\nid = \"S{i}\"\nservice = \"random\"\nname = {{ param = \"P{i}\" }}\n",
            "é".repeat(4000)
        ));
    }
    fs::write(&spec, text).unwrap();
    let o = run(&["build", spec.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("reads at most 1048576 bytes (1 MB) of a template"),
        "{}",
        stderr(&o)
    );
    assert_eq!(fs::read_to_string(&out).unwrap(), "kept\n");
}

/// One stack lives in one partition and one Region: ARNs that disagree are refused, each
/// at its place; ARNs that agree name the Region the printed deploy command targets. A
/// secret of another account gets a permission of its own, whose SourceAccount is that
/// account (Secrets Manager invokes the function from the secret's account).
#[test]
fn arns_agree_on_partition_and_region_and_each_owner_gets_its_permission() {
    let dir = common::scratch("arn-places");
    let spec = dir.join("s.toml");
    let head = "[alarms]\nemail = [\"a@example.com\"]\n[schedule]\ndays = 30\n";
    let secret = |id: &str, arn: &str| {
        format!("[[secret]]\nid = \"{id}\"\nservice = \"random\"\narn = \"{arn}\"\n")
    };
    let a = secret(
        "A",
        "arn:aws:secretsmanager:eu-west-1:111111111111:secret:a-AbCdEf",
    );
    let b = secret(
        "B",
        "arn:aws:secretsmanager:eu-west-1:222222222222:secret:b-AbCdEf",
    );
    let c = secret(
        "C",
        "arn:aws:secretsmanager:eu-west-1:111111111111:secret:c-AbCdEf",
    );
    let other_region = secret(
        "D",
        "arn:aws:secretsmanager:us-east-1:111111111111:secret:d-AbCdEf",
    );
    let china = secret(
        "E",
        "arn:aws-cn:secretsmanager:eu-west-1:111111111111:secret:e-AbCdEf",
    );

    fs::write(&spec, format!("{head}{a}{b}{c}")).unwrap();
    let out = dir.join("t.json");
    let o = run(&[
        "build",
        spec.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--region eu-west-1"),
        "the deploy command targets the ARNs' Region: {}",
        stderr(&o)
    );
    let t: Value = serde_json::from_str(&fs::read_to_string(&out).unwrap()).unwrap();
    let r = resources(&t);
    let permissions: Vec<(&String, &Value)> = r
        .iter()
        .filter(|(_, v)| v["Type"] == "AWS::Lambda::Permission")
        .collect();
    let accounts: Vec<&Value> = permissions
        .iter()
        .map(|(_, p)| &p["Properties"]["SourceAccount"])
        .collect();
    assert_eq!(accounts, [&json!("111111111111"), &json!("222222222222")]);
    for (id, account) in [
        ("A", "111111111111"),
        ("B", "222222222222"),
        ("C", "111111111111"),
    ] {
        let waits = &r[&format!("{id}RotationSchedule")]["DependsOn"][0];
        let permission = &r[waits.as_str().unwrap()];
        assert_eq!(permission["Properties"]["SourceAccount"], account, "{id}");
    }

    for (what, body, words) in [
        (
            "another Region",
            format!("{a}{other_region}"),
            "is in the Region us-east-1, but arn is in eu-west-1",
        ),
        (
            "another partition",
            format!("{a}{china}"),
            "is an ARN of the partition aws-cn, but arn is in aws",
        ),
    ] {
        fs::write(&spec, format!("{head}{body}")).unwrap();
        let o = run(&["build", spec.to_str().unwrap()]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{what}: {err}");
        let flat = err
            .replace('│', " ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert!(flat.contains(words), "{what}: {err}");
        assert!(
            err.contains("has 1 problem") && err.contains("s.toml:"),
            "{what}: {err}"
        );
    }
}

/// `rotgen expand --region --account` checks as the macro does with CloudFormation's
/// request: an ARN of another Region is refused at its line, and a secret of another
/// account gets a permission for it.
#[test]
fn expand_takes_the_stacks_region_and_account_like_the_macro() {
    let dir = common::scratch("expand-place");
    let t = dir.join("t.yaml");
    fs::write(&t, "Transform: Rotgen\nResources:\n  AppRotation:\n    Type: Rotgen::Rotation\n    Properties:\n      function: {code: \"s3://b/k.zip\"}\n      schedule: {days: 30}\n      secret:\n        - {id: App, service: random, arn: \"arn:aws:secretsmanager:eu-west-1:123456789012:secret:app-AbCdEf\"}\n").unwrap();
    let p = t.to_str().unwrap();
    let o = run(&[
        "expand",
        p,
        "--region",
        "us-east-1",
        "--account",
        "123456789012",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let flat = stderr(&o)
        .replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        flat.contains("t.yaml:9:43: arn is in the Region eu-west-1, but the stack is in us-east-1"),
        "{flat}"
    );
    let o = run(&[
        "expand",
        p,
        "--region",
        "eu-west-1",
        "--account",
        "210987654321",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        out["Resources"]["AppRotationRandomPermission"]["Properties"]["SourceAccount"],
        "123456789012"
    );
    let o = run(&["expand", p, "--region", "eu-west-1", "--account", "12345"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("is not an account id"),
        "{}",
        stderr(&o)
    );
}

/// A spec parameter whose value lands in an ARN of the role's policy is checked for
/// wildcards when the stack deploys (`AllowedPattern`): the deployer cannot pass `key/*`.
/// A parameter used elsewhere gets no such pattern.
#[test]
fn parameters_that_reach_an_arn_refuse_wildcards_at_deploy() {
    let dir = common::scratch("arn-params");
    let spec = dir.join("p.toml");
    fs::write(&spec, "[parameters.Key]\ntype = \"String\"\n[parameters.Team]\ntype = \"String\"\n[stack.tags]\nteam = { param = \"Team\" }\n[alarms]\nemail = [\"a@example.com\"]\n[schedule]\ndays = 30\n[[secret]]\nid = \"T\"\nname = \"t\"\nservice = \"random\"\nkms_key_arn = { param = \"Key\" }\n").unwrap();
    let o = run(&["build", spec.to_str().unwrap(), "--format", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let t: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(t["Parameters"]["Key"]["AllowedPattern"], "^[^*?]*$");
    assert!(t["Parameters"]["Team"].get("AllowedPattern").is_none());
}

/// A [vpc] that only aws-iam secrets would use (their function runs outside it): a
/// warning, and no security group or endpoint in the template.
#[test]
fn a_vpc_no_function_uses_is_a_warning_and_costs_nothing() {
    let dir = common::scratch("unused-vpc");
    let spec = dir.join("keys.toml");
    let out = dir.join("keys.yaml");
    let iam = "[[secret]]\nid = \"Deployer\"\nservice = \"aws-iam\"\nname = \"ci/keys\"\nuser = \"ci-deployer\"\n";
    let vpc = "[vpc]\nvpc_id = \"vpc-0abc1234def567890\"\nsubnet_ids = [\"subnet-0a1b2c3d4e5f60718\"]\n[alarms]\nemail = [\"oncall@example.com\"]\n[schedule]\ndays = 30\n";
    fs::write(&spec, format!("{vpc}{iam}")).unwrap();
    let o = run(&["build", spec.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("warning:") && stderr(&o).contains("[vpc] is not used"),
        "{}",
        stderr(&o)
    );
    let template = fs::read_to_string(&out).unwrap();
    assert!(!template.contains("AWS::EC2::"), "{template}");
    // With a database beside it, the VPC is used, and no warning.
    let db = "[[secret]]\nid = \"Db\"\nservice = \"postgres\"\nname = \"prod/db\"\n";
    fs::write(&spec, format!("{vpc}{iam}{db}")).unwrap();
    let o = run(&["build", spec.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert!(
        o.status.success() && !stderr(&o).contains("warning"),
        "{}",
        stderr(&o)
    );
    assert!(
        fs::read_to_string(&out)
            .unwrap()
            .contains("AWS::EC2::SecurityGroup")
    );
}

/// One spec gives one template wherever it is built: the architecture is the spec's
/// (default arm64), never the build machine's. `--package` refuses a binary of another
/// architecture, naming the setting; `--check --package` writes no zip, so it passes on
/// any machine; `rotgen package` and `rotgen macro-stack` agree by default, and each
/// names the flag that changes it.
#[test]
fn the_architecture_comes_from_the_spec_not_the_build_machine() {
    let Some(host) = rotgen::package::host_architecture() else {
        return;
    };
    let other = if host == "arm64" { "x86_64" } else { "arm64" };
    let dir = scratch("architecture");
    let spec = dir.join("spec.toml");
    let out = dir.join("out/template.yaml");
    let body = "[alarms]\nemail = [\"a@example.com\"]\n[schedule]\ndays = 30\n[[secret]]\nid = \"Key\"\nservice = \"random\"\ncreate = { name = \"k\" }\n";
    let build = |arch: Option<&str>, extra: &[&str]| {
        let function = arch.map_or(String::new(), |a| {
            format!("[function]\narchitecture = \"{a}\"\n")
        });
        fs::write(&spec, format!("{function}{body}")).unwrap();
        let mut args = vec!["build", spec.to_str().unwrap(), "-o", out.to_str().unwrap()];
        args.extend_from_slice(extra);
        run(&args)
    };
    // Another architecture than this binary's: refused, nothing written.
    let o = build(Some(other), &["--package"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("function.architecture = \"{host}\"")),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists());
    // Without --package, and with --check --package against a template built where the
    // binary matched (here: the same template text, made by hand from a build without
    // the zip), the other architecture is fine: the template does not depend on us.
    let o = build(Some(other), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        fs::read_to_string(&out)
            .unwrap()
            .contains(&format!("- {other}"))
    );
    // The default is the same everywhere.
    let o = build(None, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(fs::read_to_string(&out).unwrap().contains("- arm64"));
    // --check --package compares without writing a zip: it passes after --package built
    // the template, and needs no binary of the spec's architecture to say so.
    let o = build(Some(host), &["--package"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = build(Some(host), &["--package", "--check"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = build(Some(host), &["--check"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("--package"),
        "the hint names the flag: {}",
        stderr(&o)
    );
    let template = fs::read_to_string(&out).unwrap().replace(host, other);
    fs::write(&out, &template).unwrap();
    let o = build(Some(other), &["--package", "--check"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // rotgen package and rotgen macro-stack: arm64 by default, both.
    let o = run(&[
        "package",
        "-o",
        dir.to_str().unwrap(),
        "--architecture",
        other,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(&format!("rotgen package --architecture {host}")),
        "{}",
        stderr(&o)
    );
    let o = run(&["macro-stack"]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("- arm64") || stdout(&o).contains("arm64"));
    assert!(
        stderr(&o).contains("--architecture changes it"),
        "{}",
        stderr(&o)
    );
    fs::remove_dir_all(&dir).unwrap();
}

/// `build --package` writes the template and the zip it points at: this very binary as
/// `bootstrap`, mode 0755, deflated; `rotgen package` names its zip by content.
#[test]
fn build_package_writes_the_zip_the_template_points_at() {
    let dir = scratch("package");
    let spec = dir.join("spec.toml");
    let Some(arch) = rotgen::package::host_architecture() else {
        return;
    };
    fs::write(
        &spec,
        format!("[function]\narchitecture = \"{arch}\"\n[schedule]\ndays = 30\n[[secret]]\nid = \"Key\"\nservice = \"random\"\ncreate = {{ name = \"k\" }}\n"),
    )
    .unwrap();
    let out = dir.join("out/template.yaml");
    let o = run(&[
        "build",
        spec.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--package",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("sam deploy --guided"), "{}", stderr(&o));
    let zip_name = format!("rotgen-{arch}.zip");
    let template = fs::read_to_string(&out).unwrap();
    assert!(
        template.contains(&format!("CodeUri: {zip_name}")),
        "{template}"
    );
    assert!(
        template.contains(&format!("- {arch}")),
        "the binary's architecture"
    );
    let zip = fs::read(dir.join("out").join(&zip_name)).unwrap();
    // One local entry: `bootstrap`, deflated, holding this binary.
    assert_eq!(&zip[..4], b"PK\x03\x04");
    let u16_at = |o: usize| u16::from_le_bytes([zip[o], zip[o + 1]]) as usize;
    let u32_at = |o: usize| u32::from_le_bytes(zip[o..o + 4].try_into().unwrap()) as usize;
    assert_eq!(u16_at(8), 8, "deflate");
    let (packed, name_len, extra) = (u32_at(18), u16_at(26), u16_at(28));
    assert_eq!(&zip[30..30 + name_len], b"bootstrap");
    let data = &zip[30 + name_len + extra..30 + name_len + extra + packed];
    let inflated = miniz_oxide::inflate::decompress_to_vec(data).unwrap();
    let binary = fs::read(env!("CARGO_BIN_EXE_rotgen")).unwrap();
    assert!(inflated == binary, "the zip holds this rotgen binary");
    // The central directory says -rwxr-xr-x (Lambda runs it).
    let central = u32_at(zip.len() - 6);
    assert_eq!(&zip[central..central + 4], b"PK\x01\x02");
    assert_eq!(u32_at(central + 38) >> 16, 0o100_755);

    // A spec that says where the code is cannot also be packaged.
    fs::write(
        &spec,
        "[function]\ncode = \"s3://b/k.zip\"\n[schedule]\ndays = 30\n[[secret]]\nid = \"Key\"\nservice = \"random\"\ncreate = { name = \"k\" }\n",
    )
    .unwrap();
    let o = run(&[
        "build",
        spec.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--package",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("remove function.code"),
        "{}",
        stderr(&o)
    );

    // `rotgen package`: the same zip, under a name that changes with its content.
    let o = run(&[
        "package",
        "-o",
        dir.to_str().unwrap(),
        "--architecture",
        arch,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let named: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().into_string().ok())
        .filter(|n| n.starts_with(&format!("rotgen-{arch}-")) && n.ends_with(".zip"))
        .collect();
    assert_eq!(named.len(), 1, "{named:?}");
    assert_eq!(fs::read(dir.join(&named[0])).unwrap(), zip);
    fs::remove_dir_all(&dir).unwrap();
}

/// Completions and the man pages come from clap's own generators: every command and
/// every option is in each script, the bash script parses, every command has its page
/// with its options, each page renders without warnings, and `--dir` writes them all.
#[test]
fn completions_and_man_pages_cover_every_command_and_option() {
    use clap::CommandFactory;
    let cli = rotgen::cli::Cli::command();
    let mut commands: Vec<(String, Vec<String>)> = Vec::new();
    for sub in cli.get_subcommands() {
        let longs = sub
            .get_arguments()
            .filter_map(|a| a.get_long())
            .map(str::to_string)
            .collect();
        commands.push((sub.get_name().to_string(), longs));
    }
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let o = run(&["completions", shell]);
        assert!(o.status.success(), "{}", stderr(&o));
        let script = stdout(&o);
        for (name, longs) in &commands {
            assert!(script.contains(name.as_str()), "{shell}: no {name}");
            for l in longs {
                // fish writes `-l NAME`, the others `--NAME`.
                assert!(
                    script.contains(&format!("--{l}")) || script.contains(&format!("-l {l}")),
                    "{shell}: no --{l} of {name}"
                );
            }
        }
        if shell == "bash" {
            let path = scratch("completions").join("rotgen.bash");
            fs::write(&path, &script).unwrap();
            let check = std::process::Command::new("bash")
                .arg("-n")
                .arg(&path)
                .output()
                .unwrap();
            assert!(check.status.success(), "{}", stderr(&check));
        }
    }
    let groff_clean = |page: &str| {
        let Ok(mut child) = std::process::Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
        else {
            return;
        };
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(page.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "groff: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let o = run(&["man"]);
    assert!(o.status.success());
    let main = stdout(&o);
    assert!(main.contains(".TH rotgen 1"), "{main}");
    groff_clean(&main);
    for (name, longs) in &commands {
        let listed = format!("rotgen\\-{}(1)", name.replace('-', "\\-"));
        assert!(main.contains(&listed), "rotgen.1 lists {name}");
        let o = run(&["man", name]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        let page = stdout(&o);
        assert!(page.contains(&format!(".TH rotgen-{name} 1")), "{page}");
        for l in longs {
            let roff = format!("\\-\\-{}", l.replace('-', "\\-"));
            assert!(page.contains(&roff), "rotgen-{name}.1: no --{l}");
        }
        groff_clean(&page);
    }
    let o = run(&["man", "nope"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no command nope"), "{}", stderr(&o));
    let dir = scratch("man-pages");
    let o = run(&["man", "--dir", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(dir.join("rotgen.1").exists());
    for (name, _) in &commands {
        assert!(dir.join(format!("rotgen-{name}.1")).exists(), "{name}");
    }
}

/// Lambda allows 4 KB of environment per function. The lists the environment holds (the
/// master secrets a function may use, IAM users) split secrets over functions before
/// they pass it: here 120 secrets, each with its own long master secret.
#[test]
fn many_master_secrets_split_functions_within_lambdas_environment_quota() {
    let dir = scratch("env-quota");
    let mut spec = String::from("[schedule]\ndays = 30\n");
    for i in 0..120 {
        spec.push_str(&format!(
            "[[secret]]\nid = \"S{i}\"\nname = \"prod/app-{i}\"\nservice = \"postgres\"\nstrategy = \"alternating-users\"\nmaster_secret_arn = \"arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/masters/a-rather-long-master-secret-name-{i:03}-AbCdEf\"\n"
        ));
    }
    let path = dir.join("masters.toml");
    fs::write(&path, spec).unwrap();
    let out = dir.join("template.yaml");
    let o = run(&["build", path.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut functions = 0;
    for entry in fs::read_dir(&dir).unwrap() {
        let file = entry.unwrap().path();
        if file.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let t = rotgen::yaml::parse(&fs::read_to_string(&file).unwrap()).unwrap();
        for r in resources(&t)
            .values()
            .filter(|r| r["Type"] == "AWS::Serverless::Function")
        {
            functions += 1;
            let vars = r["Properties"]["Environment"]["Variables"]
                .as_object()
                .unwrap();
            let size: usize = vars
                .iter()
                .map(|(k, v)| {
                    k.len()
                        + match v {
                            Value::String(s) => s.len(),
                            // Fn::Sub of pseudo-parameters, at their longest.
                            other => iam_size(other),
                        }
                })
                .sum();
            assert!(
                size <= 4_096,
                "{}: {size} bytes of environment",
                file.display()
            );
        }
    }
    assert!(functions >= 3, "{functions} functions");
    fs::remove_dir_all(&dir).unwrap();
}

/// The functions and roles of a build, from every template (main and nested).
fn functions_and_roles(c: &rotgen::Compiled) -> (Vec<Value>, Vec<Value>) {
    let mut functions = Vec::new();
    let mut roles = Vec::new();
    for t in std::iter::once(&c.main).chain(c.nested.iter().map(|(_, t)| t)) {
        for r in resources(t).values() {
            match r["Type"].as_str() {
                Some("AWS::Serverless::Function" | "AWS::Lambda::Function") => {
                    functions.push(r.clone())
                }
                Some("AWS::IAM::Role") => roles.push(r.clone()),
                _ => {}
            }
        }
    }
    (functions, roles)
}

const RDS_MASTERS: &str = r#"
[schedule]
days = 30

[[secret]]
id = "Orders"
name = "prod/orders"
service = "postgres"
strategy = "alternating-users"
master_secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d-AbCdEf"
master_rds_instance = "orders-db"

[[secret]]
id = "Reports"
name = "prod/reports"
service = "postgres"
strategy = "alternating-users"
master_secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!cluster-9a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d-XyZ123"
master_rds_cluster = "reports"

[[secret]]
id = "Own"
name = "prod/own"
service = "postgres"
strategy = "alternating-users"
master_secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/pg-admin-AbCdEf"
"#;

#[test]
fn rds_managed_masters_are_bound_to_their_instance_or_cluster() {
    let c = rotgen::compile_toml(RDS_MASTERS, &|l| l.to_string()).unwrap();
    let (functions, roles) = functions_and_roles(&c);
    assert_eq!((functions.len(), roles.len()), (1, 1));
    let env = &functions[0]["Properties"]["Environment"]["Variables"];
    let statements = roles[0]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        .as_array()
        .unwrap();
    let rds: Vec<&Value> = statements
        .iter()
        .filter(|s| s["Action"].as_str().is_some_and(|a| a.starts_with("rds:")))
        .collect();
    // Only the two Describe calls, each on its own resource: no `*`, no other action.
    assert!(
        statements
            .iter()
            .flat_map(|s| s["Action"].as_array().cloned().unwrap_or_default())
            .all(|a| !a.as_str().unwrap().starts_with("rds:"))
    );
    insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_json_snapshot!("rds_masters", json!({
            "ROTGEN_MASTER_SECRETS": env["ROTGEN_MASTER_SECRETS"],
            "ROTGEN_MASTER_RDS": env["ROTGEN_MASTER_RDS"],
            "statements": rds,
        }));
    });

    // A spec without such a master gets neither the variable nor the statements.
    let own = RDS_MASTERS.split("[[secret]]").last().unwrap();
    let c = rotgen::compile_toml(&format!("[schedule]\ndays = 30\n[[secret]]{own}"), &|l| {
        l.to_string()
    })
    .unwrap();
    let (functions, roles) = functions_and_roles(&c);
    assert!(
        functions[0]["Properties"]["Environment"]["Variables"]
            .get("ROTGEN_MASTER_RDS")
            .is_none()
    );
    assert!(!roles[0].to_string().contains("rds:"));
}

#[test]
fn rds_bindings_count_in_the_environment_budget() {
    let mut spec = String::from("[schedule]\ndays = 30\n");
    for i in 0..120 {
        spec.push_str(&format!(
            "[[secret]]\nid = \"S{i}\"\nname = \"prod/app-{i}\"\nservice = \"postgres\"\nstrategy = \"alternating-users\"\nmaster_secret_arn = \"arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-{i:08}-5e6f-7a8b-9c0d-1e2f3a4b5c6d-AbCdEf\"\nmaster_rds_instance = \"a-rather-long-database-instance-identifier-number-{i:03}\"\n"
        ));
    }
    let c = rotgen::compile_toml(&spec, &|l| format!("{l}.yaml")).unwrap();
    let (functions, _) = functions_and_roles(&c);
    assert!(functions.len() >= 3, "{} functions", functions.len());
    for f in &functions {
        let vars = f["Properties"]["Environment"]["Variables"]
            .as_object()
            .unwrap();
        let size: usize = vars
            .iter()
            .map(|(k, v)| k.len() + v.as_str().map_or_else(|| iam_size(v), str::len))
            .sum();
        assert!(size <= 4_096, "{size} bytes of environment");
    }
}

/// In a `[vpc]` with rotgen's endpoint, a function whose secrets' masters RDS manages
/// reaches the RDS API through an RDS interface endpoint rotgen makes beside Secrets
/// Manager's (no private DNS, same subnets, the same security group): the endpoint, the
/// function's `ROTGEN_RDS_ENDPOINT`, the egress rule's word for it and the schedules'
/// wait appear exactly where they are needed, and nowhere without such a master, with
/// `endpoint = false` (the VPC's own routing) or outside a VPC.
#[test]
fn rds_masters_in_a_vpc_get_an_rds_endpoint_only_where_needed() {
    const VPC: &str =
        "[vpc]\nvpc_id = \"vpc-0123456789abcdef0\"\nsubnet_ids = [\"subnet-0123456789abcdef0\"]\n";
    let cache = "\n[[secret]]\nid = \"Cache\"\nname = \"prod/cache\"\nservice = \"redis\"\n";
    let rds_endpoints = |t: &Value| -> Vec<(String, Value)> {
        resources(t)
            .iter()
            .filter(|(_, r)| {
                r["Type"] == "AWS::EC2::VPCEndpoint"
                    && r["Properties"]["ServiceName"]
                        == json!({"Fn::Sub": "com.amazonaws.${AWS::Region}.rds"})
            })
            .map(|(id, r)| (id.clone(), r.clone()))
            .collect()
    };
    let function = |t: &Value, service: &str| -> Value {
        resources(t)
            .values()
            .find(|r| {
                r["Type"] == "AWS::Serverless::Function"
                    && r["Properties"]["Environment"]["Variables"]["ROTGEN_SERVICE"] == service
            })
            .unwrap()
            .clone()
    };
    let waits = |t: &Value, schedule: &str| -> Vec<Value> {
        resources(t)[schedule]["DependsOn"]
            .as_array()
            .unwrap()
            .clone()
    };

    // RDS_MASTERS: Orders (an instance's master), Reports (a cluster's), Own (a master of
    // its own), all in one PostgreSQL function; and a Redis function beside it.
    let spec = format!("{VPC}{RDS_MASTERS}{cache}");
    let c = rotgen::compile_toml(&spec, &|l| l.to_string()).unwrap();
    let t = &c.main;
    let rds = rds_endpoints(t);
    assert_eq!(rds.len(), 1, "one RDS endpoint for the stack");
    let (id, e) = &rds[0];
    let sm = &resources(t)["RotationSecretsManagerEndpoint"];
    assert_eq!(e["Properties"]["VpcEndpointType"], "Interface");
    assert_eq!(e["Properties"]["PrivateDnsEnabled"], json!(false));
    for k in ["VpcId", "SubnetIds", "SecurityGroupIds"] {
        assert_eq!(e["Properties"][k], sm["Properties"][k], "{k}");
    }
    let url = |f: &Value| {
        f["Properties"]["Environment"]["Variables"]
            .get("ROTGEN_RDS_ENDPOINT")
            .cloned()
    };
    let pg = function(t, "postgres");
    let pg_url =
        serde_json::to_string(&url(&pg).expect("the PostgreSQL function names it")).unwrap();
    assert!(
        pg_url.contains(&format!("[\"{id}\",\"DnsEntries\"]")),
        "{pg_url}"
    );
    assert!(pg_url.contains("https://"), "{pg_url}");
    assert_eq!(url(&function(t, "redis")), None, "Redis has no RDS master");
    // One 443 rule reaches both endpoints through their shared group.
    let egress = resources(t)["RotationFunctionSecurityGroup"]["Properties"]["SecurityGroupEgress"]
        .as_array()
        .unwrap()
        .clone();
    let https: Vec<&Value> = egress.iter().filter(|r| r["FromPort"] == 443).collect();
    assert_eq!(https.len(), 1, "{https:?}");
    assert_eq!(
        https[0]["DestinationSecurityGroupId"],
        e["Properties"]["SecurityGroupIds"][0]
    );
    assert_eq!(
        https[0]["Description"],
        "Secrets Manager and RDS, through the interface endpoints"
    );
    // The schedules of secrets with RDS masters wait for it; the others do not.
    for (schedule, needs) in [
        ("OrdersRotationSchedule", true),
        ("ReportsRotationSchedule", true),
        ("OwnRotationSchedule", false),
        ("CacheRotationSchedule", false),
    ] {
        let w = waits(t, schedule);
        assert!(
            w.contains(&json!("RotationSecretsManagerEndpoint")),
            "{schedule}"
        );
        assert_eq!(w.contains(&json!(id)), needs, "{schedule}: {w:?}");
    }

    // Without an RDS master: nothing of it, and the egress rule says what it did.
    let own = RDS_MASTERS.split("[[secret]]").last().unwrap();
    let c = rotgen::compile_toml(
        &format!("{VPC}[schedule]\ndays = 30\n[[secret]]{own}"),
        &|l| l.to_string(),
    )
    .unwrap();
    assert!(rds_endpoints(&c.main).is_empty());
    assert_eq!(url(&function(&c.main, "postgres")), None);
    assert!(!serde_json::to_string(&c.main).unwrap().contains("RDS"));

    // endpoint = false: the VPC's own routing (a NAT gateway, endpoints with private DNS)
    // reaches RDS; the build accepts it and makes no endpoint.
    let off = format!("{VPC}endpoint = false\n{RDS_MASTERS}");
    let c = rotgen::compile_toml(&off, &|l| l.to_string()).unwrap();
    assert!(
        !resources(&c.main)
            .values()
            .any(|r| r["Type"] == "AWS::EC2::VPCEndpoint")
    );
    assert_eq!(url(&function(&c.main, "postgres")), None);
    assert!(
        !serde_json::to_string(&c.main)
            .unwrap()
            .contains("RdsEndpoint")
    );

    // Outside a VPC: the public RDS API, no variable.
    let c = rotgen::compile_toml(RDS_MASTERS, &|l| l.to_string()).unwrap();
    assert_eq!(url(&function(&c.main, "postgres")), None);
}

/// Nested stacks: the parent makes the RDS endpoint and passes its URL only to the
/// stacks whose function needs it (`RdsEndpointUrl`), which set `ROTGEN_RDS_ENDPOINT`
/// from it and wait for it through that reference.
#[test]
fn nested_stacks_take_the_rds_endpoint_as_a_parameter_where_needed() {
    let mut spec = String::from(
        "[vpc]\nvpc_id = \"vpc-0123456789abcdef0\"\nsubnet_ids = [\"subnet-0123456789abcdef0\"]\n[schedule]\ndays = 30\n",
    );
    for i in 0..500 {
        spec.push_str(&format!(
            "[[secret]]\nid = \"S{i}\"\nname = \"s/{i}\"\nservice = \"postgres\"\n"
        ));
        if i % 5 == 0 {
            spec.push_str(&format!("strategy = \"alternating-users\"\nmaster_secret_arn = \"arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-{i:08}-AbCdEf\"\nmaster_rds_instance = \"db-{i}\"\n"));
        }
    }
    let c = rotgen::compile_toml(&spec, &|l| format!("t.{l}.yaml")).unwrap();
    assert!(!c.nested.is_empty());
    let main = resources(&c.main);
    assert!(main.contains_key("RotationRdsEndpoint"));
    let (mut with, mut without) = (0, 0);
    for (file, t) in &c.nested {
        let stack = main
            .values()
            .find(|r| r["Properties"]["Location"] == json!(file))
            .unwrap_or_else(|| panic!("{file} has a stack"));
        let passed = stack["Properties"]["Parameters"].get("RdsEndpointUrl");
        let declared = t["Parameters"].get("RdsEndpointUrl").is_some();
        let f = resources(t)
            .values()
            .find(|r| r["Type"] == "AWS::Serverless::Function")
            .unwrap();
        let var = &f["Properties"]["Environment"]["Variables"]["ROTGEN_RDS_ENDPOINT"];
        let needs = f["Properties"]["Environment"]["Variables"]
            .get("ROTGEN_MASTER_RDS")
            .is_some();
        assert_eq!(passed.is_some(), needs, "{file}");
        assert_eq!(declared, needs, "{file}");
        if needs {
            with += 1;
            assert_eq!(var, &json!({"Ref": "RdsEndpointUrl"}), "{file}");
            assert!(
                serde_json::to_string(passed.unwrap())
                    .unwrap()
                    .contains(r#"["RotationRdsEndpoint","DnsEntries"]"#)
            );
        } else {
            without += 1;
            assert!(var.is_null(), "{file}");
        }
        // A nested template names nothing of the parent's but through parameters.
        assert!(
            !serde_json::to_string(t)
                .unwrap()
                .contains("RotationRdsEndpoint")
        );
    }
    assert!(with > 0 && without > 0, "{with} with, {without} without");
}
