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

    std::fs::remove_dir_all(&dir).unwrap();
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// A spec of `n` created secrets, more than one stack holds past about 200: nested
/// stacks.
fn big(n: usize, arch: &str) -> String {
    let mut big = format!(
        "[stack]\nname = \"big\"\nstackset = true\n\n[function]\narchitecture = \"{arch}\"\n\n[schedule]\ndays = 30\n\n[alarms]\nenabled = false\n"
    );
    for i in 0..n {
        big.push_str(&format!(
            "\n[[secret]]\nid = \"S{i}\"\nservice = \"random\"\ncreate = {{ name = \"team/s{i}\" }}\npassword = {{ length = {} }}\n",
            32 + i % 3
        ));
    }
    big
}

/// What `build -o` printed, as commands to run in moto's organization: the printed
/// lines, and the placeholders each stands for.
struct Printed(String);

impl Printed {
    /// Every printed line that starts with `start`.
    fn lines(&self, start: &str) -> Vec<String> {
        let found: Vec<String> = self
            .0
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with(start))
            .map(str::to_string)
            .collect();
        assert!(!found.is_empty(), "build prints `{start}`: {}", self.0);
        found
    }

    fn line(&self, start: &str) -> String {
        self.lines(start).swap_remove(0)
    }
}

/// An OU of moto's organization (made if no other test made it: moto keeps one per
/// server) holding `n` new accounts, in the StackSet's two Regions.
struct Org {
    dir: std::path::PathBuf,
    tag: String,
    ou: String,
    accounts: Vec<String>,
    bucket: String,
}

const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];

impl Org {
    fn new(dir: &Path, n: usize) -> Org {
        let q = |args: &[&str]| common::aws_cli(dir, args);
        let org = std::process::Command::new(common::tool(".venv", "aws").unwrap())
            .args(["organizations", "describe-organization"])
            .output()
            .unwrap();
        if !org.status.success() {
            // Another test may create the organization between the two calls: that is
            // the organization this one wanted.
            let made = std::process::Command::new(common::tool(".venv", "aws").unwrap())
                .args([
                    "organizations",
                    "create-organization",
                    "--feature-set",
                    "ALL",
                ])
                .current_dir(dir)
                .output()
                .unwrap();
            assert!(
                made.status.success()
                    || String::from_utf8_lossy(&made.stderr).contains("AlreadyInOrganization"),
                "{}",
                String::from_utf8_lossy(&made.stderr)
            );
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
        let accounts = (1..=n)
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
        let bucket = tag.to_ascii_lowercase().replace('_', "-");
        Org {
            dir: dir.to_path_buf(),
            tag,
            ou,
            accounts,
            bucket,
        }
    }

    fn q(&self, args: &[&str]) -> String {
        common::aws_cli(&self.dir, args)
    }

    /// A printed command's words, its placeholders filled in (`REGION` with `region`),
    /// the StackSet named for this test run (moto keeps StackSets per server).
    fn fill(&self, line: &str, region: &str, printed_name: &str) -> Vec<String> {
        line.split_whitespace()
            .skip(1)
            .map(|w| {
                if w == printed_name {
                    return self.tag.clone();
                }
                w.replace("REGION_1", REGIONS[0])
                    .replace("REGION_2", REGIONS[1])
                    .replace("BUCKET", &self.bucket)
                    .replace("REGION", region)
                    .replace("OU_ID", &self.ou)
            })
            .collect()
    }

    fn run(&self, words: &[String]) -> String {
        self.q(&words.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// Runs what `build -o` printed: each upload into each Region's bucket (made here),
    /// `create-stack-set` and `create-stack-instances`. Returns the printed StackSet
    /// name's words of `create-stack-set`, for a second StackSet of the same template.
    fn deploy(&self, printed: &Printed) -> Vec<String> {
        let create_set = printed.line("aws cloudformation create-stack-set ");
        let create_instances = printed.line("aws cloudformation create-stack-instances ");
        let words: Vec<&str> = create_set.split_whitespace().collect();
        let name = words[words.iter().position(|w| *w == "--stack-set-name").unwrap() + 1];
        for region in REGIONS {
            self.q(&[
                "s3",
                "mb",
                &format!("s3://{}-{region}", self.bucket),
                "--region",
                region,
            ]);
            for upload in printed.lines("aws s3 cp ") {
                self.run(&self.fill(&upload, region, name));
            }
        }
        let set = self.fill(&create_set, "", name);
        self.run(&set);
        self.run(&self.fill(&create_instances, "", name));
        set
    }

    /// Asserts the StackSet has a CURRENT stack instance in every account of the OU in
    /// both Regions.
    fn all_current(&self) {
        let set = json(&self.q(&[
            "cloudformation",
            "describe-stack-set",
            "--stack-set-name",
            &self.tag,
        ]));
        assert_eq!(set["StackSet"]["PermissionModel"], "SERVICE_MANAGED");
        let instances = json(&self.q(&[
            "cloudformation",
            "list-stack-instances",
            "--stack-set-name",
            &self.tag,
        ]));
        let mut placed: Vec<(String, String)> = instances["Summaries"]
            .as_array()
            .unwrap()
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
        let mut wanted: Vec<(String, String)> = self
            .accounts
            .iter()
            .flat_map(|a| REGIONS.iter().map(move |r| (a.clone(), r.to_string())))
            .collect();
        wanted.sort();
        assert_eq!(placed, wanted, "every account of the OU, in both Regions");
    }

    /// `aws` in `account` (through OrganizationAccountAccessRole) and `region`.
    fn in_account(&self, account: &str, region: &str, args: &[&str]) -> Value {
        let creds = json(&self.q(&[
            "sts",
            "assume-role",
            "--role-arn",
            &format!("arn:aws:iam::{account}:role/OrganizationAccountAccessRole"),
            "--role-session-name",
            "stackset-check",
        ]));
        let c = &creds["Credentials"];
        let o = std::process::Command::new(common::tool(".venv", "aws").unwrap())
            .args(args)
            .args(["--region", region])
            .env("AWS_ACCESS_KEY_ID", c["AccessKeyId"].as_str().unwrap())
            .env(
                "AWS_SECRET_ACCESS_KEY",
                c["SecretAccessKey"].as_str().unwrap(),
            )
            .env("AWS_SESSION_TOKEN", c["SessionToken"].as_str().unwrap())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", common::stderr(&o));
        json(&common::stdout(&o))
    }
}

/// SHA-256 of `bytes`, base64, as Lambda's `CodeSha256` says it.
fn code_sha256(bytes: &[u8]) -> String {
    use std::io::Write;
    let python = common::tool(".venv", "python").unwrap();
    let mut child = std::process::Command::new(python)
        .args(["-c", "import base64,hashlib,sys; print(base64.b64encode(hashlib.sha256(sys.stdin.buffer.read()).digest()).decode())"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let o = child.wait_with_output().unwrap();
    common::stdout(&o).trim().to_string()
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
    let printed = Printed(common::stderr(&o));
    let create_set = printed.line("aws cloudformation create-stack-set ");
    for want in [
        "--permission-model SERVICE_MANAGED",
        "--auto-deployment Enabled=true,RetainStacksOnAccountRemoval=false",
        "--capabilities CAPABILITY_IAM ",
        "--template-body file://out/template.yaml",
    ] {
        assert!(create_set.contains(want), "{want} in {create_set}");
    }
    assert!(
        printed
            .line("aws cloudformation create-stack-instances ")
            .contains("--deployment-targets OrganizationalUnitIds=OU_ID")
    );
    assert_eq!(printed.lines("aws s3 cp ").len(), 1, "the zip alone");

    let org = Org::new(&dir, 3);
    let mut words = org.deploy(&printed);
    org.all_current();

    // In each account and Region, the two functions run the packaged zip.
    let sha = code_sha256(&std::fs::read(dir.join(format!("out/rotgen-{arch}.zip"))).unwrap());
    for account in &org.accounts {
        for region in REGIONS {
            let shas = org.in_account(
                account,
                region,
                &[
                    "lambda",
                    "list-functions",
                    "--query",
                    "Functions[].CodeSha256",
                ],
            );
            assert_eq!(
                shas,
                serde_json::json!([sha, sha]),
                "{account} {region}: both functions run the zip"
            );
        }
    }

    // A Region without its bucket: the stack instance fails there (moto refuses the
    // function's code), so the Region is in the bucket's name.
    let lonely = format!("{}-lonely", org.tag);
    let at = words.iter().position(|w| *w == org.tag).unwrap();
    words[at] = lonely.clone();
    org.run(&words);
    let o = std::process::Command::new(common::tool(".venv", "aws").unwrap())
        .current_dir(&dir)
        .args([
            "cloudformation",
            "create-stack-instances",
            "--stack-set-name",
            &lonely,
            "--deployment-targets",
            &format!("OrganizationalUnitIds={}", org.ou),
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

/// A spec too big for one stack: its nested stacks read their templates from their own
/// Region's bucket, under keys named by their content, which `build -o` prints the
/// uploads for. Deployed as printed into an OU in two Regions, every instance is CURRENT
/// and builds each nested stack from its file; a changed secret changes the key of the
/// nested template that holds it, and only that one.
#[test]
fn nested_stacks_from_each_regions_bucket() {
    let dir = common::scratch("stackset-nested");
    let arch = rotgen::package::host_architecture().unwrap_or("x86_64");
    let n = 260;
    let o = build(&dir, &big(n, arch), &["-o", "out/template.json"]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let printed = Printed(common::stderr(&o));
    let main = json(&std::fs::read_to_string(dir.join("out/template.json")).unwrap());
    let stacks: Vec<(&String, &Value)> = main["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::CloudFormation::Stack")
        .collect();
    assert!(stacks.len() >= 2, "nested: {}", stacks.len());
    let uploads = printed.lines("aws s3 cp out/template.");
    assert_eq!(
        uploads.len(),
        stacks.len(),
        "one upload per nested template"
    );
    let (mut keys, mut files) = (Vec::new(), Vec::new());
    for (id, r) in &stacks {
        assert!(
            r.get("Metadata").is_none(),
            "{id}: no W3002 exception needed"
        );
        let url = r["Properties"]["TemplateURL"]["Fn::Sub"]
            .as_str()
            .unwrap_or_else(|| panic!("{id}: {}", r["Properties"]["TemplateURL"]));
        let key = url
            .strip_prefix(
                "https://${CodeBucket}-${AWS::Region}.s3.${AWS::Region}.${AWS::URLSuffix}/",
            )
            .unwrap_or_else(|| panic!("{id}: {url}"));
        let upload = uploads
            .iter()
            .find(|u| u.ends_with(&format!("s3://BUCKET-REGION/{key} --region REGION")))
            .unwrap_or_else(|| panic!("no upload of {key}: {uploads:?}"));
        let file = upload.split_whitespace().nth(3).unwrap();
        files.push(json(&std::fs::read_to_string(dir.join(file)).unwrap()));
        keys.push(key.to_string());
    }

    // One secret's description changes: the nested template holding it gets a new key.
    let changed = big(n, arch).replace(
        "create = { name = \"team/s7\" }",
        "create = { name = \"team/s7\", description = \"Seven\" }",
    );
    assert_ne!(changed, big(n, arch));
    let dir2 = dir.join("changed");
    std::fs::create_dir_all(&dir2).unwrap();
    let o = build(&dir2, &changed, &["-o", "out/template.json"]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let main2 = json(&std::fs::read_to_string(dir2.join("out/template.json")).unwrap());
    let moved = stacks
        .iter()
        .zip(&keys)
        .filter(|((id, _), key)| {
            let url = main2["Resources"][id.as_str()]["Properties"]["TemplateURL"]["Fn::Sub"]
                .as_str()
                .unwrap();
            !url.ends_with(key.as_str())
        })
        .count();
    assert_eq!(
        moved, 1,
        "only the nested template holding S7 has a new key"
    );

    if common::moto().is_none() || common::tool(".venv", "aws").is_none() {
        return;
    }
    let o = build(
        &dir,
        &big(n, arch),
        &["-o", "out/template.json", "--package"],
    );
    assert!(o.status.success(), "{}", common::stderr(&o));
    let printed = Printed(common::stderr(&o));
    let org = Org::new(&dir, 1);
    org.deploy(&printed);
    org.all_current();
    // moto builds no AWS::SecretsManager::Secret from a template (it keeps them as
    // resources without a type): what shows each nested template was read from its
    // Region's bucket is its stack, holding every resource of the file, and its function.
    let account = &org.accounts[0];
    for region in REGIONS {
        let functions = org.in_account(
            account,
            region,
            &["lambda", "list-functions", "--query", "length(Functions)"],
        );
        assert_eq!(
            functions,
            stacks.len(),
            "{account} {region}: a function per nested stack"
        );
        for ((id, _), file) in stacks.iter().zip(&files) {
            let nested = org.in_account(
                account,
                region,
                &[
                    "cloudformation",
                    "list-stacks",
                    "--query",
                    &format!("StackSummaries[?contains(StackName, '-{id}-')].StackName"),
                ],
            );
            let name = nested[0]
                .as_str()
                .unwrap_or_else(|| panic!("{id} in {region}: {nested}"));
            let held = org.in_account(
                account,
                region,
                &[
                    "cloudformation",
                    "describe-stack-resources",
                    "--stack-name",
                    name,
                    "--query",
                    "length(StackResources)",
                ],
            );
            assert_eq!(
                held,
                file["Resources"].as_object().unwrap().len(),
                "{id} in {region}: every resource of its file"
            );
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A list parameter's value holds commas, which the AWS CLI's `--parameters` shorthand
/// splits on: `build -o` prints it escaped inside double quotes, and the printed
/// `create-stack-set`, run by a shell with its placeholders filled in, gives moto the
/// whole list.
#[test]
fn a_list_parameter_reaches_the_stackset_whole() {
    let dir = common::scratch("stackset-list");
    let spec = std::fs::read_to_string(common::root().join("examples/environments.toml")).unwrap();
    let o = build(&dir, &spec, &["--stackset", "-o", "out/template.yaml"]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let printed = Printed(common::stderr(&o));
    let create_set = printed.line("aws cloudformation create-stack-set ");
    assert!(
        create_set.contains(r#" "ParameterKey=PrivateSubnets,ParameterValue=VALUE1\,VALUE2" "#),
        "{create_set}"
    );
    if common::moto().is_none() || common::tool(".venv", "aws").is_none() {
        return;
    }
    let name = common::unique("sslist");
    let filled = create_set
        .replace(
            "--stack-set-name orders-rotation",
            &format!("--stack-set-name {name}"),
        )
        .replace("VALUE1", "subnet-0aaaaaaaaaaaaaaa1")
        .replace("VALUE2", "subnet-0aaaaaaaaaaaaaaa2")
        .replace("BUCKET", "artifacts")
        .replace("VALUE", "x");
    let aws = common::tool(".venv", "aws").unwrap();
    let bin = aws.parent().unwrap().display().to_string();
    let o = std::process::Command::new("bash")
        .current_dir(&dir)
        .args(["-c", &filled])
        .env("PATH", format!("{bin}:{}", std::env::var("PATH").unwrap()))
        .output()
        .unwrap();
    assert!(o.status.success(), "{filled}: {}", common::stderr(&o));
    let set = json(&common::aws_cli(
        &dir,
        &[
            "cloudformation",
            "describe-stack-set",
            "--stack-set-name",
            &name,
        ],
    ));
    let subnets = set["StackSet"]["Parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["ParameterKey"] == "PrivateSubnets")
        .unwrap_or_else(|| panic!("{set}"));
    assert_eq!(
        subnets["ParameterValue"],
        "subnet-0aaaaaaaaaaaaaaa1,subnet-0aaaaaaaaaaaaaaa2"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
