//! Independent checkers over every template rotgen writes: cfn-lint (no error, warning or
//! informational finding), cfn-lint again on SAM translated to CloudFormation by
//! aws-sam-translator, checkov with every framework (no failed check), and AWS's Guard
//! Rules Registry with cfn-guard (no failed rule). The tools come from what
//! scripts/python-tools.sh installs; scripts/test.sh requires them (ROTGEN_REQUIRE_TOOLS=1).

mod common;

use common::{big_spec, build_to, cfn_guard, cfn_json, cfn_lint, checkov, root, scratch};
use std::fs;
use std::path::PathBuf;

#[test]
fn every_template_passes_cfn_lint_checkov_and_guard() {
    let dir = scratch("oracles");
    let mut files: Vec<PathBuf> = Vec::new();
    let mut specs: Vec<(String, PathBuf)> = Vec::new();
    for entry in fs::read_dir(root().join("examples")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "toml") {
            let name = p.file_stem().unwrap().to_str().unwrap().to_string();
            specs.push((name, p));
        }
    }
    specs.sort();
    // Both formats of each example: flip `format` to cover the other one.
    for (name, path) in &specs {
        let text = fs::read_to_string(path).unwrap();
        let flipped = if text.contains("format = \"cloudformation\"") {
            text.replace("format = \"cloudformation\"", "format = \"sam\"")
        } else if text.contains("format = \"sam\"") {
            text.replace("format = \"sam\"", "format = \"cloudformation\"")
        } else if text.contains("[stack]\n") {
            text.replace("[stack]\n", "[stack]\nformat = \"cloudformation\"\n")
        } else {
            format!("[stack]\nformat = \"cloudformation\"\n{text}")
        };
        let flipped_path = dir.join(format!("{name}-flipped.toml"));
        fs::write(&flipped_path, flipped).unwrap();
        for (stem, spec) in [
            (name.clone(), path.clone()),
            (format!("{name}-flipped"), flipped_path),
        ] {
            let sub = dir.join(&stem);
            fs::create_dir_all(&sub).unwrap();
            files.extend(build_to(&spec, &sub, "template"));
        }
    }
    // A spec big enough for nested stacks, in both formats.
    for (stem, format) in [("big-sam", "sam"), ("big-cfn", "cloudformation")] {
        let spec = dir.join(format!("{stem}.toml"));
        fs::write(
            &spec,
            big_spec(600).replace(
                "name = \"big\"",
                &format!("name = \"big\"\nformat = \"{format}\""),
            ),
        )
        .unwrap();
        let sub = dir.join(stem);
        fs::create_dir_all(&sub).unwrap();
        files.extend(build_to(&spec, &sub, "template"));
    }
    // The same, for a StackSet: nothing of one account or Region, the nested templates
    // read from each Region's bucket.
    let stackset = big_spec(600)
        .replace("name = \"big\"", "name = \"big\"\nstackset = true")
        .replace(
            "vpc_id = \"vpc-0abc1234def567890\"",
            "vpc_id = { param = \"VpcId\" }",
        )
        .replace(
            "subnet_ids = [\"subnet-0a1b2c3d4e5f60718\"]",
            "subnet_ids = { param = \"Subnets\" }",
        )
        .replace(
            "master_secret_arn = \"arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/master-AbCdEf\"",
            "master_secret_arn = { param = \"MasterArn\" }",
        )
        + "\n[parameters.VpcId]\ntype = \"AWS::SSM::Parameter::Value<AWS::EC2::VPC::Id>\"\n\n[parameters.Subnets]\ntype = \"AWS::SSM::Parameter::Value<List<AWS::EC2::Subnet::Id>>\"\n\n[parameters.MasterArn]\ntype = \"AWS::SSM::Parameter::Value<String>\"\n";
    let spec = dir.join("big-stackset.toml");
    fs::write(&spec, stackset).unwrap();
    let sub = dir.join("big-stackset");
    fs::create_dir_all(&sub).unwrap();
    let written = build_to(&spec, &sub, "template");
    assert!(written.len() > 2, "nested: {written:?}");
    files.extend(written);
    // The macro's own stack.
    let macro_stack = dir.join("macro-stack");
    fs::create_dir_all(&macro_stack).unwrap();
    let out = macro_stack.join("template.yaml");
    let o = common::run(&[
        "macro-stack",
        "-o",
        out.to_str().unwrap(),
        "--permissions-boundary",
        "arn:aws:iam::123456789012:policy/b",
    ]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    files.push(out);
    // The expanded macro fixtures: what CloudFormation deploys after the transform.
    let expanded = dir.join("expanded");
    fs::create_dir_all(&expanded).unwrap();
    for entry in fs::read_dir(root().join("tests/fixtures/macro")).unwrap() {
        let p = entry.unwrap().path();
        let out = expanded.join(p.file_name().unwrap());
        let o = common::run(&["expand", p.to_str().unwrap(), "-o", out.to_str().unwrap()]);
        assert!(
            o.status.success(),
            "{}: {}",
            p.display(),
            common::stderr(&o)
        );
        files.push(out);
    }
    // checkov sees what rotgen wrote, as a user's `checkov -d` would, before the JSON
    // copies below join it.
    checkov(&dir);
    let json = cfn_json(&files);
    let mut all = files.clone();
    all.extend(
        json.iter()
            .filter(|p| p.to_string_lossy().ends_with(".translated.json"))
            .cloned(),
    );
    cfn_lint(&all);
    cfn_guard(&json);
    fs::remove_dir_all(&dir).unwrap();
}
