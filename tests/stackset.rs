//! StackSets with service-managed permissions (`[stack] stackset = true`, `build
//! --stackset`): the template holds nothing of one account or Region, each refusal is
//! reported at its line and column, and the commands `build -o` prints deploy one spec
//! into three accounts of an OU in two Regions of moto, every stack instance CURRENT
//! with its functions running the zip from its own Region's bucket.
//!
//! The moto test prints "skipping" without moto; scripts/test.sh sets
//! ROTGEN_REQUIRE_SERVICES=1, which makes its absence a failure.

mod common;

use serde_json::Value;
use std::path::Path;

fn example() -> String {
    std::fs::read_to_string(common::root().join("examples/stackset.toml")).unwrap()
}

/// `rotgen build` of spec text (through a file in `dir`) with extra arguments.
fn build(dir: &Path, spec: &str, extra: &[&str]) -> std::process::Output {
    std::fs::write(dir.join("spec.toml"), spec).unwrap();
    common::rotgen()
        .current_dir(dir)
        .args(["build", "spec.toml"])
        .args(extra)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

/// Every string in a template.
fn strings<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(m) => m.iter().for_each(|(k, x)| {
            out.push(k);
            strings(x, out)
        }),
        _ => {}
    }
}

#[test]
fn the_flag_and_the_spec_write_the_same_portable_template() {
    let dir = common::scratch("stackset-flag");
    let by_spec = build(&dir, &example(), &["--format", "json"]);
    assert!(by_spec.status.success(), "{}", common::stderr(&by_spec));
    let without = example().replace("stackset = true\n", "");
    assert_ne!(without, example());
    let by_flag = build(&dir, &without, &["--format", "json", "--stackset"]);
    assert!(by_flag.status.success(), "{}", common::stderr(&by_flag));
    assert_eq!(common::stdout(&by_spec), common::stdout(&by_flag));
    let plain = build(&dir, &without, &["--format", "json"]);
    assert_ne!(
        common::stdout(&plain),
        common::stdout(&by_flag),
        "without the flag, a SAM template with one code bucket"
    );

    let t: Value = serde_json::from_str(&common::stdout(&by_spec)).unwrap();
    assert!(t.get("Transform").is_none(), "no macro: {}", t["Transform"]);
    let functions: Vec<&Value> = t["Resources"]
        .as_object()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::Lambda::Function")
        .collect();
    assert_eq!(functions.len(), 2);
    for f in functions {
        assert_eq!(
            f["Properties"]["Code"]["S3Bucket"],
            serde_json::json!({"Fn::Sub": "${CodeBucket}-${AWS::Region}"}),
            "the zip from the function's own Region"
        );
    }
    // Nothing names an account or a Region: no 12 digits, no Region name.
    let mut all = Vec::new();
    strings(&t, &mut all);
    for s in all {
        let digits = s
            .split(|c: char| !c.is_ascii_digit())
            .any(|run| run.len() == 12);
        assert!(!digits, "an account id in {s:?}");
        for region in ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1"] {
            assert!(!s.contains(region), "a Region in {s:?}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Each refusal (`tests/fixtures/invalid/stackset.toml` has them all, snapshotted by
/// tests/errors.rs) is reported at its line and column by the flag too, and specs the
/// fixture cannot hold beside the others: a local zip, and nested stacks.
#[test]
fn each_refusal_at_its_line_and_column() {
    let fixture =
        std::fs::read_to_string(common::root().join("tests/fixtures/invalid/stackset.toml"))
            .unwrap();
    let spec = fixture.replace("stackset = true\n", "");
    let dir = common::scratch("stackset-refusals");
    let o = build(&dir, &spec, &["--stackset"]);
    assert_eq!(o.status.code(), Some(2), "{}", common::stderr(&o));
    let err = common::stderr(&o);
    // The fixture less its line 6 (`stackset = true`): lines after it move up one.
    let expected: &[(&str, &str)] = &[
        ("5:10", "runs no macros, and the SAM transform"),
        ("8:8", "names one bucket"),
        ("9:13", "IAM names are per account"),
        ("10:24", "permissions_boundary is an ARN of the account"),
        ("11:19", "log_kms_key_arn is an ARN"),
        ("12:11", "a layer is an ARN"),
        (
            "15:10",
            "vpc_id \"vpc-0abc1234def567890\" is a VPC of one account and Region",
        ),
        ("16:15", "subnet_ids lists \"subnet-0a1b2c3d4e5f60718\""),
        ("17:31", "service_security_group_ids lists"),
        ("26:13", "topic_arn is an ARN"),
        ("30:7", "arn is an ARN of the account"),
        ("33:21", "master_secret_arn is an ARN"),
        ("34:15", "kms_key_arn is an ARN"),
    ];
    for (at, what) in expected {
        let head = format!("× spec.toml:{at}: ");
        let start = err
            .find(&head)
            .unwrap_or_else(|| panic!("nothing at {at}: {err}"));
        let end = err[start + head.len()..]
            .find("× ")
            .map_or(err.len(), |e| start + head.len() + e);
        // The message as one line (the report wraps it at the terminal's width).
        let problem = err[start..end]
            .lines()
            .map(|l| l.trim_start().trim_start_matches('│').trim())
            .collect::<Vec<_>>()
            .join(" ");
        assert!(problem.contains(what), "{at}: {what:?} not in {problem}");
        assert!(problem.contains("help: "), "{at}: no help in {problem}");
    }
    assert!(
        err.contains(&format!("has {} problems", expected.len())),
        "exactly these: {err}"
    );

    // A local zip: `aws cloudformation package` would put it in one Region.
    let local = example().replace(
        "architecture = \"arm64\"",
        "architecture = \"arm64\"\ncode = \"dist/rotgen-arm64.zip\"",
    );
    let o = build(&dir, &local, &[]);
    assert_eq!(o.status.code(), Some(2));
    let err = common::stderr(&o);
    assert!(
        err.contains("spec.toml:13:8: function.code \"dist/rotgen-arm64.zip\" is a local zip"),
        "{err}"
    );

    // More secrets than one stack holds: nested stacks, not written for StackSets yet.
    let mut big = String::from(
        "[stack]\nname = \"big\"\nstackset = true\n\n[schedule]\ndays = 30\n\n[alarms]\nenabled = false\n",
    );
    for i in 0..260 {
        big.push_str(&format!(
            "\n[[secret]]\nid = \"S{i}\"\nservice = \"random\"\ncreate = {{ name = \"team/s{i}\" }}\npassword = {{ length = {} }}\n",
            32 + i % 3
        ));
    }
    let o = build(&dir, &big, &["-o", "out/template.yaml"]);
    assert_eq!(o.status.code(), Some(2));
    let err = common::stderr(&o);
    assert!(
        err.contains(
            "spec.toml:11:1: these secrets need nested stacks, and rotgen does not write a StackSet"
        ),
        "{err}"
    );
    assert!(!dir.join("out").exists(), "nothing written");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// The example, built with `--package` on this machine's architecture, deployed with the
/// commands `build -o` prints, run as printed (only the upper-case placeholders filled
/// in): the zip into a bucket per Region, `create-stack-set` with service-managed
/// permissions, and `create-stack-instances` for an OU of three accounts in two Regions.
/// moto runs each instance's stack in its own account and Region, and fails one whose
/// Region has no bucket (`${CodeBucket}-${AWS::Region}` is what finds it).
#[test]
fn one_spec_three_accounts_two_regions() {
    if common::moto().is_none() || common::tool(".venv", "aws").is_none() {
        return;
    }
    let dir = common::scratch("stackset-moto");
    let arch = rotgen::package::host_architecture().unwrap();
    let spec = example().replace(
        "architecture = \"arm64\"",
        &format!("architecture = \"{arch}\""),
    );
    let o = build(&dir, &spec, &["-o", "out/template.yaml", "--package"]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let printed = common::stderr(&o);
    let line = |start: &str| -> String {
        printed
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("build prints `{start}`: {printed}"))
            .to_string()
    };
    let (upload, create_set, create_instances) = (
        line("aws s3 cp "),
        line("aws cloudformation create-stack-set "),
        line("aws cloudformation create-stack-instances "),
    );
    for want in [
        "--permission-model SERVICE_MANAGED",
        "--auto-deployment Enabled=true,RetainStacksOnAccountRemoval=false",
        "--capabilities CAPABILITY_IAM ",
        "--template-body file://out/template.yaml",
    ] {
        assert!(create_set.contains(want), "{want} in {create_set}");
    }
    assert!(create_instances.contains("--deployment-targets OrganizationalUnitIds=OU_ID"));

    let q = |args: &[&str]| common::aws_cli(&dir, args);
    // The organization (moto's is per server: another test may have made it), an OU of
    // three accounts.
    let org = std::process::Command::new(common::tool(".venv", "aws").unwrap())
        .args(["organizations", "describe-organization"])
        .output()
        .unwrap();
    if !org.status.success() {
        q(&[
            "organizations",
            "create-organization",
            "--feature-set",
            "ALL",
        ]);
    }
    let root = q(&[
        "organizations",
        "list-roots",
        "--query",
        "Roots[0].Id",
        "--output",
        "text",
    ]);
    let tag = common::unique("ss");
    let ou = q(&[
        "organizations",
        "create-organizational-unit",
        "--parent-id",
        &root,
        "--name",
        &tag,
        "--query",
        "OrganizationalUnit.Id",
        "--output",
        "text",
    ]);
    let accounts: Vec<String> = (1..=3)
        .map(|i| {
            let id = q(&[
                "organizations",
                "create-account",
                "--email",
                &format!("{tag}-{i}@example.com"),
                "--account-name",
                &format!("{tag}-{i}"),
                "--query",
                "CreateAccountStatus.AccountId",
                "--output",
                "text",
            ]);
            q(&[
                "organizations",
                "move-account",
                "--account-id",
                &id,
                "--source-parent-id",
                &root,
                "--destination-parent-id",
                &ou,
            ]);
            id
        })
        .collect();

    let regions = ["us-east-1", "eu-west-1"];
    let bucket = tag.to_ascii_lowercase().replace('_', "-");
    let fill = |line: &str, region: &str| -> Vec<String> {
        line.split_whitespace()
            .skip(1)
            .map(|w| {
                w.replace("REGION_1", regions[0])
                    .replace("REGION_2", regions[1])
                    .replace("BUCKET", &bucket)
                    .replace("REGION", region)
                    .replace("OU_ID", &ou)
            })
            .collect()
    };
    let run = |words: Vec<String>| q(&words.iter().map(String::as_str).collect::<Vec<_>>());
    for region in regions {
        q(&[
            "s3",
            "mb",
            &format!("s3://{bucket}-{region}"),
            "--region",
            region,
        ]);
        run(fill(&upload, region));
    }
    let name = fill(&create_set, "")[fill(&create_set, "")
        .iter()
        .position(|w| w == "--stack-set-name")
        .unwrap()
        + 1]
    .clone();
    // Each test run its own StackSet (moto keeps them per server).
    let rename = |words: Vec<String>| -> Vec<String> {
        words
            .into_iter()
            .map(|w| if w == name { tag.clone() } else { w })
            .collect()
    };
    run(rename(fill(&create_set, "")));
    run(rename(fill(&create_instances, "")));

    let set = json(&q(&[
        "cloudformation",
        "describe-stack-set",
        "--stack-set-name",
        &tag,
    ]));
    assert_eq!(set["StackSet"]["PermissionModel"], "SERVICE_MANAGED");
    let instances = json(&q(&[
        "cloudformation",
        "list-stack-instances",
        "--stack-set-name",
        &tag,
    ]));
    let summaries = instances["Summaries"].as_array().unwrap();
    let mut placed: Vec<(String, String)> = summaries
        .iter()
        .map(|s| {
            assert_eq!(s["Status"], "CURRENT", "{s}");
            (
                s["Account"].as_str().unwrap().to_string(),
                s["Region"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    placed.sort();
    let mut wanted: Vec<(String, String)> = accounts
        .iter()
        .flat_map(|a| regions.iter().map(move |r| (a.clone(), r.to_string())))
        .collect();
    wanted.sort();
    assert_eq!(placed, wanted, "every account of the OU, in both Regions");

    // In each account and Region, the two functions run the packaged zip.
    let zip = std::fs::read(dir.join(format!("out/rotgen-{arch}.zip"))).unwrap();
    let sha = {
        use std::io::Write;
        let python = common::tool(".venv", "python").unwrap();
        let mut child = std::process::Command::new(python)
            .args(["-c", "import base64,hashlib,sys; print(base64.b64encode(hashlib.sha256(sys.stdin.buffer.read()).digest()).decode())"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&zip).unwrap();
        let o = child.wait_with_output().unwrap();
        common::stdout(&o).trim().to_string()
    };
    for account in &accounts {
        let creds = json(&q(&[
            "sts",
            "assume-role",
            "--role-arn",
            &format!("arn:aws:iam::{account}:role/OrganizationAccountAccessRole"),
            "--role-session-name",
            "stackset-check",
        ]));
        let c = &creds["Credentials"];
        for region in regions {
            let o = std::process::Command::new(common::tool(".venv", "aws").unwrap())
                .args([
                    "lambda",
                    "list-functions",
                    "--region",
                    region,
                    "--query",
                    "Functions[].CodeSha256",
                ])
                .env("AWS_ACCESS_KEY_ID", c["AccessKeyId"].as_str().unwrap())
                .env(
                    "AWS_SECRET_ACCESS_KEY",
                    c["SecretAccessKey"].as_str().unwrap(),
                )
                .env("AWS_SESSION_TOKEN", c["SessionToken"].as_str().unwrap())
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", common::stderr(&o));
            let shas = json(&common::stdout(&o));
            assert_eq!(
                shas,
                serde_json::json!([sha, sha]),
                "{account} {region}: both functions run the zip"
            );
        }
    }

    // A Region without its bucket: the stack instance fails there (moto refuses the
    // function's code), so the Region is in the bucket's name.
    let lonely = format!("{tag}-lonely");
    let mut words = rename(fill(&create_set, ""));
    let at = words.iter().position(|w| *w == tag).unwrap();
    words[at] = lonely.clone();
    run(words);
    let o = std::process::Command::new(common::tool(".venv", "aws").unwrap())
        .current_dir(&dir)
        .args([
            "cloudformation",
            "create-stack-instances",
            "--stack-set-name",
            &lonely,
            "--deployment-targets",
            &format!("OrganizationalUnitIds={ou}"),
            "--regions",
            "ap-south-1",
        ])
        .output()
        .unwrap();
    assert!(!o.status.success(), "no bucket in ap-south-1");
    assert!(
        common::stderr(&o).contains("NoSuchBucket"),
        "{}",
        common::stderr(&o)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
