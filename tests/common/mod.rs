//! Helpers shared by the integration tests: one per kind of check.
#![allow(dead_code)]

pub mod net;
pub mod runtime_api;
pub mod token_api;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Whether the services these variables name are running (scripts/services.sh sets
/// them). Without them the test skips, with a note, unless `ROTGEN_REQUIRE_SERVICES` is
/// set: then their absence is a failure.
pub fn services_running(needed: &[&str]) -> bool {
    let set = |n: &str| std::env::var(n).is_ok_and(|v| !v.is_empty());
    if needed.iter().all(|n| set(n)) {
        return true;
    }
    assert!(
        !set("ROTGEN_REQUIRE_SERVICES"),
        "services are missing: run `scripts/services.sh start` and source target/services/env"
    );
    eprintln!("skipping: services are not running (scripts/services.sh start)");
    false
}

/// The value of `arn` at `stage` in Secrets Manager (moto), if it has one.
pub async fn stage(arn: &str, stage: &str) -> Option<rotgen::rotation::secret::SecretValue> {
    let config = rotgen::sdk::config(None).await;
    let out = aws_sdk_secretsmanager::Client::new(&config)
        .get_secret_value()
        .secret_id(arn)
        .version_stage(stage)
        .send()
        .await
        .ok()?;
    Some(rotgen::rotation::secret::SecretValue::parse(
        out.secret_string()?,
    ))
}

/// A new secret in Secrets Manager (moto, through `AWS_ENDPOINT_URL`) holding `value`:
/// its ARN.
pub async fn create_secret(name: &str, value: &str) -> String {
    let config = rotgen::sdk::config(None).await;
    aws_sdk_secretsmanager::Client::new(&config)
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_string()
}

/// `.venv/bin/aws` (awscli, from scripts/python-tools.sh) in `dir`, against moto: its
/// standard output, trimmed, or a failure with what it said.
pub fn aws_cli(dir: &Path, args: &[&str]) -> String {
    let cli = tool(".venv", "aws").expect("awscli in .venv (scripts/python-tools.sh)");
    let o = Command::new(cli)
        .current_dir(dir)
        .args(args)
        .output()
        .expect("aws runs");
    assert!(
        o.status.success(),
        "aws {}: {}{}",
        args.join(" "),
        stdout(&o),
        stderr(&o)
    );
    stdout(&o).trim().to_string()
}

/// A runtime for a test's async part.
/// moto's endpoint, or `None` (skip) when scripts/services.sh has not started it; with
/// `ROTGEN_REQUIRE_SERVICES` set, its absence fails the test.
pub fn moto() -> Option<String> {
    match std::env::var("AWS_ENDPOINT_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("ROTGEN_REQUIRE_SERVICES").is_none(),
                "moto is missing: run `scripts/services.sh start moto` and source target/services/env"
            );
            eprintln!("skipping: moto is not running (scripts/services.sh start moto)");
            None
        }
    }
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

static UNIQUE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A name unique to this test process and call.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}x{}",
        std::process::id() % 100_000,
        UNIQUE.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    )
}

/// The rotgen binary under test.
pub fn rotgen() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rotgen"))
}

pub fn run(args: &[&str]) -> Output {
    rotgen()
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("rotgen runs")
}

/// Runs `cmd` (stdin piped) with `input` on its standard input.
pub fn run_with_stdin(cmd: &mut Command, input: &str) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rotgen runs");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(input.as_bytes())
        .expect("rotgen reads its input");
    child.wait_with_output().expect("rotgen ends")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A fresh scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rotgen-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Builds `spec` into `dir/stem.yaml` (plus nested files); returns every file written.
pub fn build_to(spec: &Path, dir: &Path, stem: &str) -> Vec<PathBuf> {
    let out = dir.join(format!("{stem}.yaml"));
    let o = run(&["build", spec.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert!(
        o.status.success(),
        "build {} failed: {}",
        spec.display(),
        stderr(&o)
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{stem}.")))
        })
        .collect();
    files.sort();
    files
}

/// A spec of `n` secrets of mixed kinds, for scale tests.
pub fn big_spec(n: usize) -> String {
    let mut s = String::from(
        "[stack]\nname = \"big\"\n\n[vpc]\nvpc_id = \"vpc-0abc1234def567890\"\nsubnet_ids = [\"subnet-0a1b2c3d4e5f60718\"]\n\n[schedule]\ndays = 30\n",
    );
    for i in 0..n {
        let (service, extra) = match i % 3 {
            0 => ("postgres", String::new()),
            1 => (
                "mysql",
                "strategy = \"alternating-users\"\nmaster_secret_arn = \"arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/master-AbCdEf\"\n".to_string(),
            ),
            _ => ("redis", String::new()),
        };
        s.push_str(&format!(
            "\n[[secret]]\nid = \"S{i}\"\nname = \"prod/team-{}/service-{i}/credentials\"\nservice = \"{service}\"\n{extra}",
            i % 7
        ));
    }
    s
}

/// Python tools from the venvs scripts/python-tools.sh makes. `None` when they are not
/// installed: the caller decides whether that is a failure (`ROTGEN_REQUIRE_TOOLS=1`,
/// which scripts/test.sh sets, makes it one).
pub fn tool(venv: &str, name: &str) -> Option<PathBuf> {
    let p = root().join(venv).join("bin").join(name);
    if p.exists() {
        return Some(p);
    }
    assert!(
        std::env::var_os("ROTGEN_REQUIRE_TOOLS").is_none(),
        "{} is missing: run scripts/python-tools.sh",
        p.display()
    );
    eprintln!(
        "skipping: {} is missing (run scripts/python-tools.sh)",
        p.display()
    );
    None
}

/// cfn-lint over files: must report no error, warning or informational finding.
pub fn cfn_lint(files: &[PathBuf]) {
    let Some(lint) = tool(".venv", "cfn-lint") else {
        return;
    };
    for chunk in files.chunks(200) {
        let o = Command::new(&lint)
            .args(["--format", "parseable"])
            .args(chunk)
            .output()
            .expect("cfn-lint runs");
        assert!(
            o.status.success() && o.stdout.is_empty(),
            "cfn-lint found problems (exit {:?}):\n{}{}",
            o.status.code(),
            stdout(&o),
            stderr(&o)
        );
    }
}

/// checkov over a directory of templates, every framework (its default, as users run
/// it: the secrets scan included): must report no failed check.
pub fn checkov(dir: &Path) {
    let Some(checkov) = tool(".venv-checkov", "checkov") else {
        return;
    };
    let o = Command::new(&checkov)
        .args([
            "-d",
            dir.to_str().unwrap(),
            "--compact",
            "--quiet",
            "--skip-download",
            "-o",
            "cli",
        ])
        .env("BC_SKIP_MAPPING", "TRUE")
        .output()
        .expect("checkov runs");
    let out = stdout(&o);
    assert!(
        o.status.success() && out.contains("Failed checks: 0"),
        "checkov failed (exit {:?}):\n{out}\n{}",
        o.status.code(),
        stderr(&o)
    );
}

/// SAM templates translated to plain CloudFormation by aws-sam-translator, written next
/// to them as NAME.translated.json, so cfn-lint checks what SAM would deploy.
pub fn sam_translate(files: &[PathBuf]) -> Vec<PathBuf> {
    translate(files, false)
}

/// Every template as plain CloudFormation JSON (what cfn-guard reads): SAM translated
/// (NAME.translated.json), the others converted (NAME.plain.json).
pub fn cfn_json(files: &[PathBuf]) -> Vec<PathBuf> {
    translate(files, true)
}

fn translate(files: &[PathBuf], plain_too: bool) -> Vec<PathBuf> {
    let Some(python) = tool(".venv", "python") else {
        return Vec::new();
    };
    let script = root().join("scripts").join("sam-translate.py");
    let o = Command::new(&python)
        .arg(&script)
        .args(plain_too.then_some("--plain-too"))
        .args(files)
        .output()
        .expect("sam translator runs");
    assert!(
        o.status.success(),
        "SAM translation failed:\n{}{}",
        stdout(&o),
        stderr(&o)
    );
    stdout(&o).lines().map(PathBuf::from).collect()
}

/// AWS's Guard Rules Registry (tests/guard-rules) over plain CloudFormation JSON files
/// (see [`cfn_json`]) with cfn-guard: no rule may fail.
pub fn cfn_guard(json_files: &[PathBuf]) {
    let guard = root().join(".tools/guard/bin/cfn-guard");
    if !guard.exists() {
        assert!(
            std::env::var_os("ROTGEN_REQUIRE_TOOLS").is_none(),
            "{} is missing: run scripts/python-tools.sh guard",
            guard.display()
        );
        eprintln!("skipping: cfn-guard is missing (scripts/python-tools.sh guard)");
        return;
    }
    let rules = root().join("tests/guard-rules");
    let mut failed = String::new();
    for f in json_files {
        let o = Command::new(&guard)
            .args(["validate", "--show-summary", "fail", "--rules"])
            .arg(&rules)
            .arg("--data")
            .arg(f)
            .output()
            .expect("cfn-guard runs");
        if !o.status.success() {
            failed.push_str(&format!(
                "{} (exit {:?}):\n{}{}\n",
                f.display(),
                o.status.code(),
                stdout(&o),
                stderr(&o)
            ));
        }
    }
    assert!(failed.is_empty(), "Guard rules fail:\n{failed}");
}

/// One call of RabbitMQ's management API at `https://host:port/api/PATH…` as `user`,
/// trusting the CA `ca` (PEM): the status and the JSON answer (`Null` if none). The
/// tests drive the broker with it, never with the backend under test.
pub async fn rabbitmq_api(
    (host, port, ca): (&str, u16, &[u8]),
    (user, password): (&str, &str),
    method: reqwest::Method,
    path: &[&str],
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let client = reqwest::Client::builder()
        .tls_certs_merge(reqwest::Certificate::from_pem_bundle(ca).unwrap())
        .build()
        .unwrap();
    let mut url = reqwest::Url::parse(&format!("https://{host}:{port}/api/")).unwrap();
    url.path_segments_mut().unwrap().pop_if_empty().extend(path);
    let mut req = client.request(method, url).basic_auth(user, Some(password));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(serde_json::Value::Null))
}

/// Runs an ldap-utils tool (`ldapadd`, `ldapmodify`) against `ldap://host:port` bound
/// as `dn`, with `ldif` on stdin; whether it succeeded. The tests set the directory up
/// with it, never with the backend under test.
pub fn ldap_tool(
    tool: &str,
    (host, port): (&str, u16),
    (dn, password): (&str, &str),
    ldif: &str,
) -> bool {
    use std::io::Write;
    let mut child = Command::new(tool)
        .args([
            "-x",
            "-H",
            &format!("ldap://{host}:{port}"),
            "-D",
            dn,
            "-w",
            password,
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(ldif.as_bytes())
        .unwrap();
    child.wait().unwrap().success()
}

/// Whether `dn` binds to `ldap://host:port` with `password` (ldapwhoami).
pub fn ldap_binds((host, port): (&str, u16), dn: &str, password: &str) -> bool {
    Command::new("ldapwhoami")
        .args([
            "-x",
            "-H",
            &format!("ldap://{host}:{port}"),
            "-D",
            dn,
            "-w",
            password,
        ])
        .output()
        .unwrap()
        .status
        .success()
}
