//! `rotgen import` against moto (scripts/services.sh): secrets rotated by functions that
//! look like AWS's own templates (PostgreSQL single and alternating users from the
//! Serverless Application Repository tag, MySQL from the hosted function's description),
//! one by a function rotgen does not know, one with rotation off (not imported); the
//! filters; the written spec is a snapshot, builds clean and passes cfn-lint; no secret
//! value reaches the output.
//!
//! Without moto these tests print "skipping"; with ROTGEN_REQUIRE_SERVICES set, its
//! absence is a failure.

mod common;

use serde_json::json;

const PASSWORD: &str = "import-test-password-never-printed";

fn moto() -> bool {
    match std::env::var("AWS_ENDPOINT_URL") {
        Ok(url) if !url.is_empty() => true,
        _ => {
            assert!(
                std::env::var_os("ROTGEN_REQUIRE_SERVICES").is_none(),
                "moto is missing: run `scripts/services.sh start moto` and source target/services/env"
            );
            eprintln!("skipping: moto is not running (scripts/services.sh start moto)");
            false
        }
    }
}

/// A rotation function in moto with these tags, description, environment and VPC.
async fn function(
    lambda: &aws_sdk_lambda::Client,
    role: &str,
    name: &str,
    tags: &[(&str, &str)],
    description: &str,
    python: bool,
) -> String {
    let mut call = lambda
        .create_function()
        .function_name(name)
        .role(role)
        .description(description)
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(aws_sdk_lambda::primitives::Blob::new(
                    rotgen::package::zip_executable("bootstrap", b"fn"),
                ))
                .build(),
        )
        .vpc_config(
            aws_sdk_lambda::types::VpcConfig::builder()
                .subnet_ids("subnet-0a1b2c3d4e5f60718")
                .security_group_ids("sg-0123456789abcdef0")
                .build(),
        );
    call = if python {
        call.runtime(aws_sdk_lambda::types::Runtime::Python312)
            .handler("lambda_function.lambda_handler")
            .environment(
                aws_sdk_lambda::types::Environment::builder()
                    .variables(
                        "SECRETS_MANAGER_ENDPOINT",
                        "https://secretsmanager.us-east-1.amazonaws.com",
                    )
                    .build(),
            )
    } else {
        call.runtime(aws_sdk_lambda::types::Runtime::Nodejs20x)
            .handler("index.handler")
    };
    for (k, v) in tags {
        call = call.tags(*k, *v);
    }
    call.send()
        .await
        .unwrap()
        .function_arn()
        .unwrap()
        .to_string()
}

async fn rotation(secrets: &aws_sdk_secretsmanager::Client, id: &str, function: &str) {
    secrets
        .rotate_secret()
        .secret_id(id)
        .rotation_lambda_arn(function)
        .rotation_rules(
            aws_sdk_secretsmanager::types::RotationRulesType::builder()
                .automatically_after_days(30)
                .build(),
        )
        .rotate_immediately(false)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn imports_what_the_account_rotates() {
    if !moto() {
        return;
    }
    let run = format!("imp{}", std::process::id());
    let config = rotgen::sdk::config(None).await;
    let secrets = aws_sdk_secretsmanager::Client::new(&config);
    let lambda = aws_sdk_lambda::Client::new(&config);
    let iam = aws_sdk_iam::Client::new(&config);
    let role = iam
        .create_role()
        .role_name(format!("{run}-rotation"))
        .assume_role_policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap()
        .role()
        .unwrap()
        .arn()
        .to_string();
    let app = |n: &str| format!("arn:aws:serverlessrepo:us-east-1:297356227824:applications/{n}");
    let single_app = app("SecretsManagerRDSPostgreSQLRotationSingleUser");
    let multi_app = app("SecretsManagerRDSPostgreSQLRotationMultiUser");
    let pg_single = function(
        &lambda,
        &role,
        &format!("{run}-pg-single"),
        &[("serverlessrepo:applicationId", &single_app)],
        "",
        true,
    )
    .await;
    let pg_multi = function(
        &lambda,
        &role,
        &format!("{run}-pg-multi"),
        &[("serverlessrepo:applicationId", &multi_app)],
        "",
        true,
    )
    .await;
    let mysql = function(&lambda, &role, &format!("{run}-hosted"), &[], "Conducts an AWS SecretsManager secret rotation for RDS MySQL using single user rotation scheme", true).await;
    let custom = function(
        &lambda,
        &role,
        &format!("{run}-custom"),
        &[],
        "our own",
        false,
    )
    .await;

    let name = |n: &str| format!("{run}/{n}");
    let master = common::create_secret(
        &name("master"),
        &json!({"engine": "postgres", "host": "db", "username": "admin", "password": PASSWORD})
            .to_string(),
    )
    .await;
    let db = |extra: serde_json::Value| {
        let mut v = json!({"engine": "postgres", "host": "db.internal", "port": 5432, "username": "app", "password": PASSWORD, "dbname": "orders"});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        v.to_string()
    };
    let orders = common::create_secret(&name("orders"), &db(json!({}))).await;
    let app_user = common::create_secret(&name("app"), &db(json!({"masterarn": master}))).await;
    let shop = common::create_secret(&name("shop"), &db(json!({"engine": "mysql"}))).await;
    let legacy = common::create_secret(&name("legacy"), &db(json!({"engine": "mariadb"}))).await;
    let _off = common::create_secret(&name("off"), &db(json!({}))).await;
    rotation(&secrets, &orders, &pg_single).await;
    rotation(&secrets, &app_user, &pg_multi).await;
    rotation(&secrets, &shop, &mysql).await;
    rotation(&secrets, &legacy, &custom).await;
    secrets
        .tag_resource()
        .secret_id(&shop)
        .tags(
            aws_sdk_secretsmanager::types::Tag::builder()
                .key("team")
                .value("shop")
                .build(),
        )
        .send()
        .await
        .unwrap();

    let dir = common::scratch("import");
    let spec = dir.join("imported.toml");
    let prefix = format!("{run}/");
    let o = common::run(&[
        "import",
        "--name-prefix",
        &prefix,
        "-o",
        spec.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let text = std::fs::read_to_string(&spec).unwrap();
    for shown in [&text, &common::stderr(&o), &common::stdout(&o)] {
        assert!(
            !shown.contains(PASSWORD),
            "a secret value was printed: {shown}"
        );
    }
    // The snapshot without this run's names and moto's random suffixes.
    let upper = format!("I{}", &run[1..]);
    let mut shown = text.replace(&run, "test").replace(&upper, "Test");
    for arn in [&master, &orders, &app_user, &shop, &legacy] {
        let n = arn.rsplit_once(":secret:").unwrap().1.replace(&run, "test");
        shown = shown.replace(
            &arn.replace(&run, "test"),
            &format!(
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:{}",
                n.rsplit_once('-').unwrap().0
            ),
        );
    }
    insta::assert_snapshot!("imported_spec", shown);

    // It builds clean, and the template passes cfn-lint.
    let files = common::build_to(&spec, &dir, "template");
    common::cfn_lint(&files);

    // Filters: a tag, a function (by name), and a function by ARN.
    let names = |args: &[&str]| {
        let mut all = vec!["import", "--name-prefix", prefix.as_str()];
        all.extend_from_slice(args);
        let o = common::run(&all);
        assert!(o.status.success(), "{}", common::stderr(&o));
        let out = common::stdout(&o);
        assert!(!out.contains(PASSWORD));
        out.lines()
            .filter_map(|l| l.strip_prefix("name = \""))
            .filter(|n| !n.starts_with("rotgen-imported"))
            .map(|l| l.trim_end_matches('"').replace(&run, "test"))
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&["--tag", "team=shop"]), vec!["test/shop"]);
    assert_eq!(
        names(&["--function", &format!("{run}-pg-multi")]),
        vec!["test/app"]
    );
    assert_eq!(names(&["--function", &pg_single]), vec!["test/orders"]);
    let o = common::run(&["import", "--tag", "novalue"]);
    assert_eq!(o.status.code(), Some(2));
}

/// When AWS cannot be read, an existing output file is left as it was (exit 2); no moto
/// needed: the endpoint is a closed port.
#[test]
fn an_error_leaves_the_output_file_alone() {
    let dir = common::scratch("import-error");
    let out = dir.join("imported.toml");
    std::fs::write(&out, "kept\n").unwrap();
    let o = common::rotgen()
        .args(["import", "-o", out.to_str().unwrap()])
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_MAX_ATTEMPTS", "1")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", common::stderr(&o));
    assert!(
        common::stderr(&o).contains("ListSecrets"),
        "{}",
        common::stderr(&o)
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "kept\n");
}
