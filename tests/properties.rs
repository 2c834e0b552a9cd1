//! Properties over random input: specs and macro templates built from the schema, with
//! valid, plausible and hostile values in every field (quotes, YAML line breaks, control
//! characters, wildcards, intrinsics, huge and negative numbers, long strings).
//!
//! For every input: no panic; `rotgen build` would exit 0 or 2 (the compiler answers a
//! template or problems, and the problems render); the macro answers `success` or
//! `failure` with its request id. For every template produced: cfn-lint is clean (after
//! SAM translation where SAM), and no Secrets Manager endpoint turns private DNS on.

mod common;

use common::{cfn_lint, sam_translate, scratch};
use rotgen::spec::schema::{self, Table, Ty};
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::path::PathBuf;

/// xorshift64*: small, deterministic, good enough to pick.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }
}

const HOSTILE: &[&str] = &[
    "",
    "a\"b",
    "x\u{85}y",
    "x\u{2028}y",
    "\u{7f}",
    "\u{feff}",
    "tab\there",
    "*",
    "prod/*",
    "adm?n",
    "💡",
    "${AWS::Region}",
    "back\\slash",
    "new\nline",
    "'single'",
    "-",
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:*",
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/api-tokens",
    "rds!db-1a2b3c4d",
    "yes",
    "2010-09-09",
    "1e-7",
];

/// A plausible value for a string field, by its name.
fn plausible(g: &mut Gen, name: &str) -> String {
    let arn = |g: &mut Gen, s: &str| {
        format!(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:{s}-{}",
            g.pick(&["AbCdEf", "Zz9Yy8", "q1W2e3"])
        )
    };
    match name {
        "id" => g.pick(&["Db", "Cache", "App1", "Orders"]).to_string(),
        "name" => format!("prod/{}", g.pick(&["db", "cache", "api", "orders/app"])),
        "arn" | "master_secret_arn" => {
            let name = g.pick(&["prod/db", "prod/master", "edge/admin"]);
            arn(g, name)
        }
        "kms_key_arn" | "master_kms_key_arn" | "log_kms_key_arn" | "environment_kms_key_arn" => {
            "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab".into()
        }
        "permissions_boundary" => "arn:aws:iam::123456789012:policy/boundary".into(),
        "vpc_id" => "vpc-0abc1234def567890".into(),
        "code" => g
            .pick(&["s3://artifacts/rotgen/rotgen.zip", "dist/rotgen-arm64.zip"])
            .to_string(),
        "expression" => g
            .pick(&[
                "rate(30 days)",
                "rate(12 hours)",
                "cron(0 4 ? * SUN *)",
                "cron(0 1,22 ? * MON-FRI *)",
                "rate(1 hours)",
            ])
            .to_string(),
        "window" => g.pick(&["2h", "4h", "24h", "99h"]).to_string(),
        "host" => "db.internal.example.com".into(),
        "url" => "https://api.example.com/v1/password".into(),
        "username" => g.pick(&["app", "svc_user"]).to_string(),
        "exclude_characters" => "/@\"'\\".into(),
        "description" => "Rotation of the orders database".into(),
        "role_name" | "function_name" => "orders-rotation".into(),
        _ => g.pick(&["orders", "x"]).to_string(),
    }
}

/// A TOML basic string (every non-printable character escaped).
fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || ('\u{7f}'..='\u{9f}').contains(&c) => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A value for a field of type `ty`, as TOML text.
fn toml_value(g: &mut Gen, name: &str, ty: &Ty, depth: usize) -> String {
    if g.chance(8) {
        // The wrong type altogether.
        return g
            .pick(&["true", "-1", "99999999999", "1.5", "[]", "{}", "\"\""])
            .to_string();
    }
    match ty {
        Ty::Str { .. } => {
            if g.chance(25) {
                toml_str(g.pick(HOSTILE))
            } else if g.chance(5) {
                toml_str(&"x".repeat(g.below(700)))
            } else {
                toml_str(&plausible(g, name))
            }
        }
        Ty::Int { min, max, .. } => {
            let n = match g.below(5) {
                0 => *min,
                1 => *max,
                2 => *min - 1,
                3 => *max + 1,
                _ => *min + (g.next() % ((*max - *min + 1) as u64)) as i64,
            };
            n.to_string()
        }
        Ty::IntIn(values) => {
            if g.chance(80) {
                g.pick(values).to_string()
            } else {
                "4".into()
            }
        }
        Ty::Bool => g.pick(&["true", "false"]).to_string(),
        Ty::Enum(values) => {
            if g.chance(85) {
                toml_str(g.pick(values))
            } else {
                toml_str(g.pick(&["postgress", "", "SAM"]))
            }
        }
        Ty::StrList => {
            let prefix = if name.contains("subnet") {
                "subnet"
            } else {
                "sg"
            };
            let n = g.below(3);
            let items: Vec<String> = (0..n)
                .map(|i| {
                    if g.chance(80) {
                        toml_str(&format!("{prefix}-0a1b2c3d4e5f6071{i}"))
                    } else {
                        toml_str(g.pick(HOSTILE))
                    }
                })
                .collect();
            format!("[{}]", items.join(", "))
        }
        Ty::Table(t) | Ty::TableArray(t) if depth < 2 => inline_table(g, t, depth + 1),
        _ => "{}".into(),
    }
}

fn fields(g: &mut Gen, t: &Table, depth: usize) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for f in t.fields {
        if f.required || g.chance(35) {
            out.push((f.name.to_string(), toml_value(g, f.name, &f.ty, depth)));
        }
    }
    if g.chance(5) {
        out.push(("bogus".into(), "1".into()));
    }
    out
}

fn inline_table(g: &mut Gen, t: &Table, depth: usize) -> String {
    let body: Vec<String> = fields(g, t, depth)
        .into_iter()
        .map(|(k, v)| format!("{k} = {v}"))
        .collect();
    format!("{{ {} }}", body.join(", "))
}

/// A whole spec: the top-level tables as sections, secrets as `[[secret]]`.
fn spec(g: &mut Gen) -> String {
    let mut text = String::new();
    for f in schema::SPEC.fields {
        match &f.ty {
            Ty::Table(t) if g.chance(if f.name == "schedule" { 90 } else { 50 }) => {
                let _ = writeln!(text, "[{}]", f.name);
                for (k, v) in fields(g, t, 1) {
                    let _ = writeln!(text, "{k} = {v}");
                }
            }
            Ty::TableArray(t) => {
                for _ in 0..1 + g.below(4) {
                    let _ = writeln!(text, "[[{}]]", f.name);
                    for (k, v) in fields(g, t, 1) {
                        let _ = writeln!(text, "{k} = {v}");
                    }
                }
            }
            _ => {}
        }
    }
    text
}

/// A spec meant to be valid (plausible values, consistent choices): the compiler must
/// take most of these, and what it writes must lint clean.
fn clean_spec(g: &mut Gen) -> String {
    let mut t = String::new();
    if g.chance(60) {
        let _ = writeln!(
            t,
            "[stack]\nname = \"orders\"\nformat = {}",
            toml_str(g.pick(schema::FORMATS))
        );
        if g.chance(50) {
            let _ = writeln!(
                t,
                "description = {}",
                toml_str(g.pick(&["Orders rotation", "x\u{85}y \"q\" 💡"]))
            );
        }
    }
    if g.chance(60) {
        let _ = writeln!(t, "[function]");
        if g.chance(60) {
            let _ = writeln!(t, "code = \"s3://artifacts/rotgen/rotgen.zip\"");
        }
        if g.chance(30) {
            let _ = writeln!(
                t,
                "name = \"orders-rotation\"\nrole_name = \"orders-rotation\""
            );
        }
        if g.chance(40) {
            let _ = writeln!(t, "timeout_s = {}\nmemory_mb = 256", 10 + g.below(891));
        }
        if g.chance(30) {
            let _ = writeln!(
                t,
                "architecture = {}",
                toml_str(g.pick(schema::ARCHITECTURES))
            );
        }
    }
    if g.chance(50) {
        let _ = writeln!(
            t,
            "[vpc]\nvpc_id = \"vpc-0abc1234def567890\"\nsubnet_ids = [\"subnet-0a1b2c3d4e5f60718\", \"subnet-0f1e2d3c4b5a69788\"]"
        );
        if g.chance(40) {
            let _ = writeln!(t, "security_group_ids = [\"sg-0123456789abcdef0\"]");
        }
        if g.chance(30) {
            let _ = writeln!(t, "endpoint = {}", g.pick(&["true", "false"]));
        }
    }
    let _ = writeln!(t, "[schedule]");
    match g.below(3) {
        0 => {
            let _ = writeln!(t, "days = {}", 1 + g.below(1000));
        }
        1 => {
            let _ = writeln!(
                t,
                "expression = {}",
                toml_str(g.pick(&["rate(30 days)", "rate(12 hours)", "cron(0 4 ? * SUN *)"]))
            );
        }
        _ => {
            let _ = writeln!(t, "days = 30\nwindow = \"4h\"");
        }
    }
    for i in 0..1 + g.below(6) {
        let service = g.pick(schema::SERVICES);
        let _ = writeln!(t, "[[secret]]\nid = \"S{i}\"\nservice = \"{service}\"");
        match g.below(3) {
            0 => {
                let _ = writeln!(
                    t,
                    "arn = \"arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/s{i}-AbC{i}Ef\""
                );
            }
            1 => {
                let _ = writeln!(t, "name = \"prod/s{i}\"");
            }
            _ => {
                let body = match service {
                    "http" => {
                        "username = \"app\", url = \"https://api.example.com/pw\"".to_string()
                    }
                    "random" => String::new(),
                    _ => "username = \"app\", host = \"db.example.com\"".to_string(),
                };
                let sep = if body.is_empty() { "" } else { ", " };
                let _ = writeln!(t, "create = {{ name = \"prod/c{i}\"{sep}{body} }}");
            }
        }
        if service != "random" && service != "http" && g.chance(30) {
            let _ = writeln!(
                t,
                "strategy = \"alternating-users\"\nmaster_secret_arn = \"arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/master-Mm{i}Nn1\""
            );
        }
        if g.chance(30) {
            let _ = writeln!(
                t,
                "kms_key_arn = \"arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab\""
            );
        }
        if g.chance(20) {
            let _ = writeln!(t, "password = {{ length = {} }}", 8 + g.below(100));
        }
    }
    t
}

/// Whether no endpoint in a template turns private DNS on.
fn no_private_dns(t: &Value) -> bool {
    !serde_json::to_string(t)
        .unwrap()
        .contains("\"PrivateDnsEnabled\":true")
}

#[test]
fn random_specs_compile_or_are_refused_and_what_compiles_lints_clean() {
    let dir = scratch("prop-specs");
    let mut g = Gen(0x0dd_ba11_5eed_2026);
    let (mut ok, mut refused) = (0, 0);
    let mut cfn: Vec<PathBuf> = Vec::new();
    let mut sam: Vec<PathBuf> = Vec::new();
    for i in 0..400 {
        // Two in five meant to be valid, the rest anything.
        let text = if i % 5 < 2 {
            clean_spec(&mut g)
        } else {
            spec(&mut g)
        };
        let result = std::panic::catch_unwind(|| {
            rotgen::compile_toml(&text, &|label| format!("spec{i}.{label}.yaml"))
        })
        .unwrap_or_else(|_| panic!("compiling panicked on:\n{text}"));
        match result {
            Ok(compiled) => {
                ok += 1;
                assert!(no_private_dns(&compiled.main), "{text}");
                let is_sam = compiled.main["Transform"] == json!("AWS::Serverless-2016-10-31");
                let main = dir.join(format!("spec{i}.yaml"));
                std::fs::write(&main, rotgen::yaml::to_string(&compiled.main)).unwrap();
                for (name, nested) in &compiled.nested {
                    std::fs::write(dir.join(name), rotgen::yaml::to_string(nested)).unwrap();
                }
                // The local-zip form (`code = "dist/…"`) is for `package` to rewrite; the
                // linters see it as a missing file, as they would any unpackaged template.
                if compiled.main.to_string().contains("dist/rotgen-arm64.zip") {
                    continue;
                }
                if is_sam {
                    sam.push(main)
                } else {
                    cfn.push(main)
                }
            }
            Err(rotgen::Error::Invalid(d)) => {
                refused += 1;
                let rendered = std::panic::catch_unwind(|| {
                    rotgen::diag::render_with_source(&d, "spec.toml", &text, false)
                })
                .unwrap_or_else(|_| panic!("rendering the problems panicked on:\n{text}"));
                assert!(rendered.contains('×'), "{rendered}");
            }
            Err(other) => panic!("neither a template nor problems ({other}) for:\n{text}"),
        }
    }
    eprintln!("{ok} compiled, {refused} refused");
    assert!(
        ok >= 20 && refused >= 100,
        "{ok} compiled, {refused} refused: the generator lost its balance"
    );
    let translated = sam_translate(&sam);
    cfn.extend(translated);
    cfn_lint(&cfn);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A random value for a macro property: the TOML generator's ideas, in JSON, plus
/// intrinsic functions.
fn json_value(g: &mut Gen, name: &str, ty: &Ty, depth: usize) -> Value {
    if g.chance(10) {
        return g.pick(&[
            json!({"Ref": "Param"}),
            json!({"Fn::Sub": "${Param}-x"}),
            json!({"Fn::ImportValue": "shared"}),
            json!({"Fn::Sub": "arn:*"}),
            json!(null),
            json!([1, {"a": []}]),
        ]);
    }
    match ty {
        Ty::Table(t) | Ty::TableArray(t) if depth < 2 => {
            let mut m = serde_json::Map::new();
            for f in t.fields {
                if f.required || g.chance(35) {
                    m.insert(f.name.into(), json_value(g, f.name, &f.ty, depth + 1));
                }
            }
            if matches!(ty, Ty::TableArray(_)) {
                json!([Value::Object(m)])
            } else {
                Value::Object(m)
            }
        }
        _ => {
            let text = toml_value(g, name, ty, depth);
            // The TOML text of a scalar or list is (nearly) JSON; what is not becomes a string.
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        }
    }
}

#[test]
fn random_macro_templates_get_a_well_formed_answer_and_what_expands_lints_clean() {
    let dir = scratch("prop-macro");
    let mut g = Gen(0xface_b00c_2026_0001);
    let mut expanded_files = Vec::new();
    let (mut ok, mut failed) = (0, 0);
    for i in 0..300 {
        let mut props = serde_json::Map::new();
        if i % 5 < 2 {
            // A spec meant to be valid, as the macro's properties.
            let text = clean_spec(&mut g);
            let v: Value = toml::from_str(&text).unwrap();
            props = v.as_object().unwrap().clone();
            // An intrinsic here and there, where the macro takes one.
            // (Not where the template would not use the VPC id: its own security groups
            // and no endpoint. Then the parameter would be unused; see the note on
            // issue 12.)
            if g.chance(50)
                && let Some(vpc) = props.get_mut("vpc").and_then(Value::as_object_mut)
                && !(vpc.contains_key("security_group_ids")
                    && vpc.get("endpoint") == Some(&json!(false)))
            {
                vpc.insert("vpc_id".into(), json!({"Ref": "Param"}));
            }
        } else {
            for f in schema::SPEC.fields {
                if f.name == "secret" || g.chance(40) {
                    props.insert(f.name.into(), json_value(&mut g, f.name, &f.ty, 1));
                }
            }
        }
        let props = Value::Object(props);
        let mut fragment = json!({
            "AWSTemplateFormatVersion": "2010-09-09",
            "Resources": {"Rot": {"Type": "Rotgen::Rotation", "Properties": props}}
        });
        if props.to_string().contains("Param") {
            fragment["Parameters"] = json!({"Param": {"Type": "String"}});
        }
        let request = json!({"requestId": format!("r{i}"), "params": {}, "fragment": fragment, "region": "us-east-1", "accountId": "123456789012", "transformId": "Rotgen", "templateParameterValues": {"Param": "x"}});
        let answer = std::panic::catch_unwind(|| {
            rotgen::cfn_macro::handle_request(
                &request,
                &rotgen::cfn_macro::ExpandOptions::default(),
            )
        })
        .unwrap_or_else(|_| panic!("the macro panicked on:\n{request}"));
        assert_eq!(answer["requestId"], format!("r{i}"));
        match answer["status"].as_str() {
            Some("success") => {
                ok += 1;
                let t = &answer["fragment"];
                assert!(no_private_dns(t));
                let p = dir.join(format!("m{i}.json"));
                std::fs::write(&p, t.to_string()).unwrap();
                expanded_files.push(p);
            }
            Some("failure") => {
                failed += 1;
                assert!(
                    answer["errorMessage"]
                        .as_str()
                        .is_some_and(|m| !m.is_empty())
                );
            }
            other => panic!("status {other:?}"),
        }
    }
    eprintln!("{ok} expanded, {failed} refused");
    assert!(
        ok >= 10 && failed >= 50,
        "{ok} expanded, {failed} refused: the generator lost its balance"
    );
    cfn_lint(&expanded_files);
    std::fs::remove_dir_all(&dir).unwrap();
}
