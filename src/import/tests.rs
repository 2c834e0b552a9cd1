//! `rotgen import` through a fake [`Aws`]: AWS's templates told by tag, name and
//! description, rotgen's own function, an unknown one, rotation off, filters, the VPC,
//! ids, and the spec that builds. No secret value reaches the text.

use super::*;

const ACCOUNT: &str = "123456789012";
const PASSWORD: &str = "hunter2-never-printed";

fn secret_arn(name: &str) -> String {
    format!("arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:{name}-AbCdEf")
}

fn function_arn(name: &str) -> String {
    format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}")
}

#[derive(Default)]
struct Fake {
    secrets: Vec<Listed>,
    functions: Vec<Function>,
    values: BTreeMap<String, String>,
    reads: std::sync::Mutex<Vec<String>>,
}

impl Aws for Fake {
    async fn secrets(&self, _prefix: Option<&str>) -> Result<Vec<Listed>, AwsError> {
        Ok(self.secrets.clone())
    }
    async fn function(&self, arn: &str) -> Result<Option<Function>, AwsError> {
        Ok(self.functions.iter().find(|f| f.arn == arn).cloned())
    }
    async fn facts(&self, arn: &str) -> Result<Facts, AwsError> {
        self.reads.lock().unwrap().push(arn.to_string());
        Ok(self
            .values
            .get(arn)
            .map(|v| facts_of(v))
            .unwrap_or_default())
    }
}

fn listed(name: &str, function: &str) -> Listed {
    Listed {
        arn: secret_arn(name),
        name: name.into(),
        rotation_enabled: true,
        rotation_lambda_arn: Some(function_arn(function)),
        rules: Rules {
            days: None,
            expression: Some("rate(30 days)".into()),
            duration: Some("4h".into()),
        },
        ..Listed::default()
    }
}

fn vpc() -> Option<Vpc> {
    Some(Vpc {
        vpc_id: "vpc-0abc1234def567890".into(),
        subnet_ids: vec!["subnet-0a1b2c3d4e5f60718".into()],
        security_group_ids: vec!["sg-0123456789abcdef0".into()],
    })
}

fn sar(name: &str, app: &str) -> Function {
    Function {
        arn: function_arn(name),
        name: name.into(),
        runtime: Some("python3.12".into()),
        handler: Some("lambda_function.lambda_handler".into()),
        environment: [(
            "SECRETS_MANAGER_ENDPOINT".to_string(),
            "https://secretsmanager.us-east-1.amazonaws.com".to_string(),
        )]
        .into(),
        tags: [(
            SAR_TAG.to_string(),
            format!("arn:aws:serverlessrepo:us-east-1:297356227824:applications/{app}"),
        )]
        .into(),
        vpc: vpc(),
        ..Function::default()
    }
}

fn fake() -> Fake {
    let master = secret_arn("prod/master");
    let mut off = listed("prod/off", "pg-single");
    off.rotation_enabled = false;
    let mut tagged = listed("prod/tagged", "pg-single");
    tagged.tags.insert("team".into(), "payments".into());
    let unknown = Function {
        arn: function_arn("custom-rotator"),
        name: "custom-rotator".into(),
        runtime: Some("nodejs20.x".into()),
        handler: Some("index.handler".into()),
        ..Function::default()
    };
    let hosted = Function {
        description: Some("Conducts an AWS SecretsManager secret rotation for RDS MySQL using single user rotation scheme".into()),
        tags: BTreeMap::new(),
        ..sar("hosted-fn", "x")
    };
    Fake {
        secrets: vec![
            listed("prod/orders/db", "pg-single"),
            listed("prod/orders/app", "pg-multi"),
            listed("prod/mysql", "hosted-fn"),
            listed("prod/custom", "custom-rotator"),
            listed("prod/custom-noengine", "custom-rotator"),
            listed("prod/oracle", "oracle-fn"),
            off,
            tagged,
        ],
        functions: vec![
            sar("pg-single", "SecretsManagerRDSPostgreSQLRotationSingleUser"),
            sar("pg-multi", "SecretsManagerRDSPostgreSQLRotationMultiUser"),
            sar("oracle-fn", "SecretsManagerRDSOracleRotationSingleUser"),
            hosted,
            unknown,
        ],
        values: [
            (secret_arn("prod/orders/app"), format!(r#"{{"engine":"postgres","username":"app","password":"{PASSWORD}","masterarn":"{master}"}}"#)),
            (secret_arn("prod/custom"), format!(r#"{{"engine":"mysql","password":"{PASSWORD}"}}"#)),
            (secret_arn("prod/custom-noengine"), format!(r#"{{"password":"{PASSWORD}"}}"#)),
        ]
        .into(),
        ..Fake::default()
    }
}

fn run(f: &Fake, filters: &Filters) -> Imported {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(import(f, filters, Some("us-east-1".into())))
        .unwrap()
}

fn entry<'a>(imp: &'a Imported, name: &str) -> &'a Entry {
    imp.entries.iter().find(|e| e.secret.name == name).unwrap()
}

#[test]
fn each_kind_of_function() {
    let f = fake();
    let imp = run(&f, &Filters::default());
    assert_eq!(imp.rotation_off, 1);
    assert_eq!(imp.entries.len(), 7);
    let taken = |n: &str| entry(&imp, n).outcome.clone().unwrap();
    assert_eq!(taken("prod/orders/db").service, "postgres");
    assert!(!taken("prod/orders/db").alternating);
    let multi = taken("prod/orders/app");
    assert!(multi.alternating);
    assert_eq!(
        multi.master.as_deref(),
        Some(secret_arn("prod/master").as_str())
    );
    assert_eq!(taken("prod/mysql").service, "mysql");
    assert_eq!(taken("prod/custom").service, "mysql");
    assert!(
        entry(&imp, "prod/custom-noengine")
            .outcome
            .as_ref()
            .unwrap_err()
            .contains("no `engine`")
    );
    assert!(
        entry(&imp, "prod/oracle")
            .outcome
            .as_ref()
            .unwrap_err()
            .contains("no backend")
    );
    // Only the secrets the functions could not decide were read.
    let mut reads = f.reads.lock().unwrap().clone();
    reads.sort();
    assert_eq!(
        reads,
        vec![
            secret_arn("prod/custom"),
            secret_arn("prod/custom-noengine"),
            secret_arn("prod/orders/app")
        ]
    );
    let text = spec_text(&imp).unwrap();
    assert!(!text.contains(PASSWORD), "{text}");
    assert!(
        text.contains("[vpc]\nvpc_id = \"vpc-0abc1234def567890\""),
        "{text}"
    );
    assert!(text.contains("# Not imported: prod/oracle"), "{text}");
    assert!(text.contains("rotate_immediately = false"));
    crate::compile_toml(&text, &|l| format!("t.{l}.yaml")).unwrap();
}

#[test]
fn filters() {
    let f = fake();
    let by = |filters: Filters| {
        run(&f, &filters)
            .entries
            .iter()
            .map(|e| e.secret.name.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        by(Filters {
            tags: vec![("team".into(), "payments".into())],
            ..Filters::default()
        }),
        vec!["prod/tagged"]
    );
    assert_eq!(
        by(Filters {
            name_prefix: Some("prod/orders/".into()),
            ..Filters::default()
        }),
        vec!["prod/orders/app", "prod/orders/db"]
    );
    assert_eq!(
        by(Filters {
            functions: vec![function_arn("pg-multi")],
            ..Filters::default()
        }),
        vec!["prod/orders/app"]
    );
    assert_eq!(
        by(Filters {
            functions: vec!["custom-rotator".into()],
            ..Filters::default()
        }),
        vec!["prod/custom", "prod/custom-noengine"]
    );
}

#[test]
fn facts_keep_nothing_else() {
    let f = facts_of(&format!(
        r#"{{"engine":"postgres","password":"{PASSWORD}","masterarn":"{}"}}"#,
        secret_arn("m")
    ));
    assert_eq!(f.engine.as_deref(), Some("postgres"));
    assert!(f.has_master);
    assert!(!format!("{f:?}").contains(PASSWORD));
    assert_eq!(facts_of(PASSWORD), Facts::default());
    assert_eq!(facts_of("{not json"), Facts::default());
    let bad = facts_of(r#"{"engine": 5, "masterarn": "not-an-arn"}"#);
    assert!(bad.json && bad.engine.is_none() && bad.has_master && bad.master_arn.is_none());
}

#[test]
fn recognises_rotgen_and_aws_like() {
    let mut f = Function {
        name: "mine".into(),
        environment: [("ROTGEN_SERVICE".to_string(), "redis".to_string())].into(),
        ..Function::default()
    };
    assert!(matches!(recognise(&f), Origin::Rotgen { ref service, .. } if service == "redis"));
    f.environment.clear();
    f.name = "stack-SecretsManagerRDSMariaDBRotationMultiUser-X".into();
    assert_eq!(recognise(&f), Origin::Template(5, "its name"));
    let mut like = sar("x", "nothing");
    like.tags.clear();
    assert_eq!(recognise(&like), Origin::AwsLike);
}

#[test]
fn ids_are_unique_and_valid() {
    let mut taken = BTreeSet::new();
    assert_eq!(unique_id("prod/orders-db", &mut taken), "ProdOrdersDb");
    assert_eq!(unique_id("prod/orders_db", &mut taken), "ProdOrdersDb2");
    assert_eq!(unique_id("9lives", &mut taken), "Secret9lives");
    assert_eq!(unique_id("///", &mut taken), "Secret");
    assert!(needs_arn("app-AbCdEf"));
    assert!(!needs_arn("prod/orders/db"));
}

#[test]
fn another_vpc_is_not_taken() {
    let mut f = fake();
    let mut other = sar("pg-other", "SecretsManagerRDSPostgreSQLRotationSingleUser");
    other.vpc = Some(Vpc {
        vpc_id: "vpc-0fff".into(),
        ..Vpc::default()
    });
    f.functions.push(other);
    f.secrets.push(listed("prod/elsewhere", "pg-other"));
    let imp = run(&f, &Filters::default());
    assert!(
        entry(&imp, "prod/elsewhere")
            .outcome
            .as_ref()
            .unwrap_err()
            .contains("vpc-0fff")
    );
}

#[test]
fn names_keys_and_windows_as_the_spec_takes_them() {
    let mut f = fake();
    let mut ambiguous = listed("app-AbCdEf", "pg-single");
    ambiguous.kms_key_id = Some("alias/payments".into());
    ambiguous.rules.duration = Some("90m".into());
    let mut keyed = listed("prod/keyed", "pg-single");
    keyed.kms_key_id = Some(format!(
        "arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    ));
    keyed.rules = Rules {
        days: Some(7),
        expression: None,
        duration: None,
    };
    f.secrets = vec![ambiguous, keyed];
    let imp = run(&f, &Filters::default());
    let text = spec_text(&imp).unwrap();
    assert!(
        text.contains(&format!("arn = \"{}\"", secret_arn("app-AbCdEf"))),
        "{text}"
    );
    assert!(
        text.contains("write the key's ARN as kms_key_arn"),
        "{text}"
    );
    assert!(text.contains("not whole hours"), "{text}");
    assert!(text.contains("kms_key_arn = \"arn:aws:kms:"), "{text}");
    assert!(
        text.contains("schedule = { days = 7, rotate_immediately = false }"),
        "{text}"
    );
}
