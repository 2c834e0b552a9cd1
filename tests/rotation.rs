//! Whole rotations with the shipped backends against moto (as Secrets Manager) and real
//! PostgreSQL, MariaDB and Redis on 127.0.0.1, started by scripts/services.sh:
//!
//! - each backend and strategy rotates: the new password logs in, the old one no longer
//!   does (single user; Redis keeps it until the next rotation) or still does (alternating),
//!   AWSCURRENT and AWSPREVIOUS are where AWS puts them;
//! - a failure injected at every call of a rotation, before or after the call takes effect
//!   (a process killed between two calls), then a retry, ends with working AWSCURRENT;
//! - the logs of whole rotations, passing and failing, hold no password.
//!
//! Without the services these tests print "skipping"; scripts/test.sh sets
//! ROTGEN_REQUIRE_SERVICES=1, which makes their absence a failure.

mod common;

use aws_sdk_secretsmanager::Client;
use rotgen::backends::{self, Shipped};
use rotgen::function::rotate;
use rotgen::rotation::backend::{Backend, BackendError, ErrorKind, SetPassword, Strategy};
use rotgen::rotation::lambda::Handler;
use rotgen::rotation::password::PasswordPolicy;
use rotgen::rotation::secret::SecretValue;
use rotgen::rotation::steps::{Caller, Rotator};
use rotgen::rotation::store::AwsStore;
use rotgen::rotation::testing::{Faults, FaultyBackend, FaultyStore};
use rotgen::rotation::trust::Masters;
use rotgen::rotation::{RotationEvent, Step};
use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, Connection};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The services, or `None` (skip) when scripts/services.sh has not started them.
fn services() -> Option<()> {
    let needed = ["AWS_ENDPOINT_URL", "PG_PORT", "MYSQL_PORT", "REDIS_PORT"];
    if needed.iter().all(|n| env(n).is_some()) {
        return Some(());
    }
    assert!(
        env("ROTGEN_REQUIRE_SERVICES").is_none(),
        "services are missing: run `scripts/services.sh start` and source target/services/env"
    );
    eprintln!("skipping: services are not running (scripts/services.sh start)");
    None
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

static UNIQUE: AtomicUsize = AtomicUsize::new(0);

/// A name unique to this test process and call.
fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}x{}",
        std::process::id() % 100_000,
        UNIQUE.fetch_add(1, Ordering::SeqCst)
    )
}

async fn sm() -> Client {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    Client::new(&config)
}

async fn create_secret(name: &str, value: &Value) -> String {
    let out = sm()
        .await
        .create_secret()
        .name(name)
        .secret_string(value.to_string())
        .send()
        .await
        .unwrap();
    out.arn().unwrap().to_string()
}

async fn stage(arn: &str, stage: &str) -> Option<SecretValue> {
    let out = sm()
        .await
        .get_secret_value()
        .secret_id(arn)
        .version_stage(stage)
        .send()
        .await
        .ok()?;
    Some(SecretValue::parse(out.secret_string()?))
}

/// The admin connections the tests set services up with (not the backends under test).
mod admin {
    use super::*;

    pub fn pg_url(user: &str, password: &str) -> String {
        format!(
            "postgres://{}:{}@127.0.0.1:{}/postgres?sslmode=disable",
            urlencode(user),
            urlencode(password),
            env("PG_PORT").unwrap()
        )
    }

    pub fn mysql_url(user: &str, password: &str) -> String {
        format!(
            "mysql://{}:{}@127.0.0.1:{}/?ssl-mode=disabled",
            urlencode(user),
            urlencode(password),
            env("MYSQL_PORT").unwrap()
        )
    }

    fn urlencode(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    }

    /// Runs `sql` on a fresh connection to `url`; whether it worked.
    async fn run<C>(url: &str, sql: &str) -> bool
    where
        C: Connection,
        for<'c> &'c mut C: sqlx::Executor<'c, Database = C::Database>,
    {
        let Ok(mut c) = C::connect(url).await else {
            return false;
        };
        sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
            .execute(&mut c)
            .await
            .is_ok()
    }

    pub async fn pg(sql: &str) {
        let url = pg_url(
            &env("PG_SUPERUSER").unwrap(),
            &env("PG_SUPERPASSWORD").unwrap(),
        );
        assert!(
            run::<sqlx::PgConnection>(&url, sql).await,
            "setup failed: {sql}"
        );
    }

    pub async fn mysql(sql: &str) {
        let url = mysql_url(
            &env("MYSQL_ADMIN_USER").unwrap(),
            &env("MYSQL_ADMIN_PASSWORD").unwrap(),
        );
        assert!(
            run::<sqlx::MySqlConnection>(&url, sql).await,
            "setup failed: {sql}"
        );
    }

    pub async fn redis(args: &[&str]) {
        let url = format!(
            "redis://{}:{}@127.0.0.1:{}/",
            env("REDIS_ADMIN_USER").unwrap(),
            env("REDIS_ADMIN_PASSWORD").unwrap(),
            env("REDIS_PORT").unwrap()
        );
        let client = redis::Client::open(url).unwrap();
        let mut c = client.get_multiplexed_async_connection().await.unwrap();
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        let _: redis::Value = cmd.query_async(&mut c).await.unwrap();
    }

    /// Whether `creds` log in and can read what they should, checked with the drivers
    /// directly, not with the backend under test.
    pub async fn works(service: &str, creds: &SecretValue) -> bool {
        let (Ok(user), Ok(password)) = (creds.username(), creds.password()) else {
            return false;
        };
        match service {
            "postgres" | "mariadb" => {
                let table = creds.json().unwrap()["table"].as_str().unwrap().to_string();
                let read = format!("SELECT count(*) FROM {table}");
                if service == "postgres" {
                    run::<sqlx::PgConnection>(&pg_url(user, password), &read).await
                } else {
                    run::<sqlx::MySqlConnection>(&mysql_url(user, password), &read).await
                }
            }
            "redis" => {
                let url = format!("redis://127.0.0.1:{}/", env("REDIS_PORT").unwrap());
                let Ok(client) = redis::Client::open(url) else {
                    return false;
                };
                let Ok(mut c) = client.get_multiplexed_async_connection().await else {
                    return false;
                };
                let auth: Result<redis::Value, _> = redis::cmd("AUTH")
                    .arg(user)
                    .arg(password)
                    .query_async(&mut c)
                    .await;
                auth.is_ok()
            }
            other => panic!("no check for {other}"),
        }
    }
}

/// One rotation case: a service user (and master) made on the real service, its secret
/// in moto.
struct Case {
    service: &'static str,
    strategy: Strategy,
    arn: String,
    old: SecretValue,
    /// The master secret's ARN, when the case has one.
    master: Option<String>,
}

impl Case {
    /// The function's configuration names this case's master secret.
    fn masters(&self) -> Masters {
        Masters::of(self.master.iter())
    }
}

async fn case(service: &'static str, strategy: Strategy) -> Case {
    let user = unique("rg");
    let old_password = format!("Old-{}-pw", unique("p"));
    let port: u16 = match service {
        "postgres" => env("PG_PORT").unwrap().parse().unwrap(),
        "mariadb" => env("MYSQL_PORT").unwrap().parse().unwrap(),
        _ => env("REDIS_PORT").unwrap().parse().unwrap(),
    };
    let table = format!("t_{user}");
    let mut value = json!({"engine": service, "host": "127.0.0.1", "port": port, "username": user, "password": old_password});
    match service {
        "postgres" => {
            admin::pg(&format!(
                "CREATE ROLE {user} LOGIN PASSWORD '{old_password}'; CREATE TABLE {table} (id int); GRANT SELECT ON {table} TO {user};"
            ))
            .await;
            value["dbname"] = json!("postgres");
            value["table"] = json!(table);
        }
        "mariadb" => {
            let table = format!("rotgen_test.{table}");
            admin::mysql(&format!(
                "CREATE DATABASE IF NOT EXISTS rotgen_test; CREATE TABLE {table} (id int); CREATE USER '{user}'@'%' IDENTIFIED BY '{old_password}'; GRANT SELECT ON {table} TO '{user}'@'%';"
            ))
            .await;
            value["table"] = json!(table);
        }
        "redis" => {
            admin::redis(&[
                "ACL",
                "SETUSER",
                &user,
                "on",
                &format!(">{old_password}"),
                "~app:*",
                "+@read",
                "+ping",
            ])
            .await;
        }
        _ => unreachable!(),
    }
    let needs_master = strategy == Strategy::AlternatingUsers || service == "redis";
    let mut master_arn = None;
    if needs_master {
        let master = match service {
            "postgres" => {
                json!({"engine": "postgres", "host": "127.0.0.1", "port": port, "dbname": "postgres",
                "username": env("PG_SUPERUSER").unwrap(), "password": env("PG_SUPERPASSWORD").unwrap()})
            }
            "mariadb" => json!({"engine": "mariadb", "host": "127.0.0.1", "port": port,
                "username": env("MYSQL_ADMIN_USER").unwrap(), "password": env("MYSQL_ADMIN_PASSWORD").unwrap()}),
            _ => json!({"engine": "redis", "host": "127.0.0.1", "port": port,
                "username": env("REDIS_ADMIN_USER").unwrap(), "password": env("REDIS_ADMIN_PASSWORD").unwrap()}),
        };
        let arn = create_secret(&unique("master-"), &master).await;
        value["masterarn"] = json!(arn);
        master_arn = Some(arn);
    }
    let arn = create_secret(&format!("prod/{user}"), &value).await;
    Case {
        service,
        strategy,
        arn,
        old: SecretValue::parse(&value.to_string()),
        master: master_arn,
    }
}

fn policy(service: &str) -> PasswordPolicy {
    PasswordPolicy::from_vars(&HashMap::new(), service).unwrap()
}

async fn handler(c: &Case) -> Handler<AwsStore, Shipped> {
    Handler {
        rotator: Rotator {
            store: AwsStore::from_env().await,
            backend: backends::for_service(c.service).unwrap(),
            strategy: c.strategy,
            policy: policy(c.service),
            masters: c.masters(),
        },
    }
}

/// After a rotation: where AWS puts the stages, and who logs in.
async fn check_rotated(c: &Case, rotations: usize) {
    let current = stage(&c.arn, "AWSCURRENT").await.unwrap();
    let previous = stage(&c.arn, "AWSPREVIOUS").await.unwrap();
    assert!(
        admin::works(c.service, &current).await,
        "{}: the new AWSCURRENT works",
        c.service
    );
    assert_ne!(current.password().unwrap(), c.old.password().unwrap());
    if rotations == 1 {
        assert_eq!(
            previous.password().unwrap(),
            c.old.password().unwrap(),
            "AWSPREVIOUS is the old value"
        );
    }
    match (c.strategy, c.service) {
        (Strategy::AlternatingUsers, _) => {
            assert_ne!(current.username().unwrap(), previous.username().unwrap());
            assert!(
                admin::works(c.service, &previous).await,
                "the other user still works until the next rotation"
            );
        }
        (Strategy::SingleUser, "redis") => {
            assert!(
                admin::works(c.service, &previous).await,
                "redis keeps the previous password for one rotation"
            );
            if rotations >= 2 {
                assert!(
                    !admin::works(c.service, &c.old).await,
                    "the password before it no longer works"
                );
            }
        }
        (Strategy::SingleUser, _) => {
            assert!(
                !admin::works(c.service, &c.old).await,
                "{}: the old password no longer works",
                c.service
            );
        }
    }
}

const CASES: &[(&str, Strategy)] = &[
    ("postgres", Strategy::SingleUser),
    ("postgres", Strategy::AlternatingUsers),
    ("mariadb", Strategy::SingleUser),
    ("mariadb", Strategy::AlternatingUsers),
    ("redis", Strategy::SingleUser),
    ("redis", Strategy::AlternatingUsers),
];

#[test]
fn full_rotations_for_every_backend_and_strategy() {
    if services().is_none() {
        return;
    }
    rt().block_on(async {
        for (service, strategy) in CASES {
            let c = case(service, *strategy).await;
            let h = handler(&c).await;
            rotate(&h, &c.arn, false)
                .await
                .unwrap_or_else(|e| panic!("{service} {strategy:?}: {e}"));
            check_rotated(&c, 1).await;
            // And again: the pair flips back (alternating), the window moves (redis).
            rotate(&h, &c.arn, false)
                .await
                .unwrap_or_else(|e| panic!("{service} {strategy:?}, second: {e}"));
            check_rotated(&c, 2).await;
        }
    });
}

/// Runs the four steps of one rotation (token `token`) with a fault plan, retrying each
/// failed step up to three times as Secrets Manager would.
async fn rotate_with_faults(c: &Case, token: &str, faults: &Faults) -> Result<(), String> {
    let rotator = Rotator {
        store: FaultyStore {
            inner: AwsStore::from_env().await,
            faults,
        },
        backend: FaultyBackend {
            inner: backends::for_service(c.service).unwrap(),
            faults,
        },
        strategy: c.strategy,
        policy: policy(c.service),
        masters: c.masters(),
    };
    for step in Step::ALL {
        let event = RotationEvent {
            step,
            secret_id: c.arn.clone(),
            token: token.to_string(),
            rotation_token: None,
        };
        let mut result = Err(String::new());
        for _ in 0..3 {
            result = rotator
                .handle(&event, Caller::Cli)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string());
            if result.is_ok() {
                break;
            }
        }
        result?;
    }
    Ok(())
}

#[test]
fn a_failure_at_any_call_ends_with_working_credentials_after_a_retry() {
    if services().is_none() {
        return;
    }
    rt().block_on(async {
        for (service, strategy) in CASES {
            // The calls of an undisturbed rotation.
            let c = case(service, *strategy).await;
            let counter = Faults::default();
            rotate_with_faults(&c, &uuid::Uuid::new_v4().to_string(), &counter)
                .await
                .unwrap();
            let total = counter.calls();
            for n in 0..total {
                for after in [false, true] {
                    let c = case(service, *strategy).await;
                    let faults = Faults::at(n, after);
                    let token = uuid::Uuid::new_v4().to_string();
                    rotate_with_faults(&c, &token, &faults)
                        .await
                        .unwrap_or_else(|e| {
                            panic!(
                                "{service} {strategy:?}, failure at call {n} (after: {after}): {e}"
                            )
                        });
                    assert!(faults.fired.load(Ordering::SeqCst));
                    check_rotated(&c, 1).await;
                }
            }
        }
    });
}

/// A service that cannot be reached for password changes (logins still answer).
struct Down<B>(B);

impl<B: Backend> Backend for Down<B> {
    async fn login(&self, creds: &SecretValue) -> Result<bool, BackendError> {
        self.0.login(creds).await
    }
    async fn set_password(&self, _req: SetPassword<'_>) -> Result<(), BackendError> {
        Err(BackendError::new(
            ErrorKind::Unavailable,
            "connection refused (injected)",
        ))
    }
    async fn test(&self, creds: &SecretValue) -> Result<(), BackendError> {
        self.0.test(creds).await
    }
}

#[test]
fn a_rotation_whose_service_is_down_resumes_later() {
    if services().is_none() {
        return;
    }
    rt().block_on(async {
        let c = case("postgres", Strategy::SingleUser).await;
        let down = Handler {
            rotator: Rotator {
                store: AwsStore::from_env().await,
                backend: Down(backends::for_service("postgres").unwrap()),
                strategy: c.strategy,
                policy: policy(c.service),
                masters: c.masters(),
            },
        };
        let e = rotate(&down, &c.arn, false).await.unwrap_err().to_string();
        assert!(
            e.contains("setSecret failed") && e.contains("(retryable)"),
            "{e}"
        );
        // AWSCURRENT is untouched and still works.
        let current = stage(&c.arn, "AWSCURRENT").await.unwrap();
        assert_eq!(current.password().unwrap(), c.old.password().unwrap());
        assert!(admin::works("postgres", &current).await);
        // The service is back: `rotate` refuses to start another rotation beside the
        // unfinished one, and `--resume` finishes it, same token.
        let h = handler(&c).await;
        let e = rotate(&h, &c.arn, false).await.unwrap_err().to_string();
        assert!(
            e.contains("unfinished rotation") && e.contains("--resume"),
            "{e}"
        );
        let done = rotate(&h, &c.arn, true).await.unwrap();
        assert!(done.resumed, "the unfinished rotation is resumed");
        check_rotated(&c, 1).await;
    });
}

#[test]
fn logs_of_whole_rotations_hold_no_password() {
    if services().is_none() {
        return;
    }
    let (arn, old, master_password, master) = rt().block_on(async {
        let c = case("postgres", Strategy::AlternatingUsers).await;
        (
            c.arn.clone(),
            c.old.clone(),
            env("PG_SUPERPASSWORD").unwrap(),
            c.master.clone().unwrap(),
        )
    });
    let run = |args: &[&str]| {
        common::rotgen()
            .args(args)
            .env("RUST_LOG", "trace")
            .env("AWS_LAMBDA_FUNCTION_NAME", "rotgen-test")
            .output()
            .unwrap()
    };
    let ok = run(&[
        "rotate",
        "--secret-id",
        &arn,
        "--service",
        "postgres",
        "--strategy",
        "alternating-users",
        "--master",
        &master,
    ]);
    assert!(ok.status.success(), "{}", common::stderr(&ok));
    // A failing one too: wrong strategy for this secret's users is refused by the service.
    let bad = run(&[
        "rotate",
        "--secret-id",
        &arn,
        "--service",
        "mariadb",
        "--master",
        &master,
    ]);
    assert!(!bad.status.success());
    let (new, previous) = rt().block_on(async {
        (
            stage(&arn, "AWSCURRENT").await.unwrap(),
            stage(&arn, "AWSPREVIOUS").await.unwrap(),
        )
    });
    let logs = format!(
        "{}{}{}{}",
        common::stdout(&ok),
        common::stderr(&ok),
        common::stdout(&bad),
        common::stderr(&bad)
    );
    assert!(logs.contains("step finished"), "the logs are there: {logs}");
    for secret in [
        old.password().unwrap(),
        new.password().unwrap(),
        previous.password().unwrap(),
        &master_password,
    ] {
        assert!(!logs.contains(secret), "a password is in the logs:\n{logs}");
    }
}

#[test]
fn rotate_tells_the_service_from_the_secret() {
    if services().is_none() {
        return;
    }
    let c = rt().block_on(case("postgres", Strategy::AlternatingUsers));
    let o = common::rotgen()
        .args(["rotate", "--secret-id", &c.arn, "--master"])
        .arg(c.master.as_deref().unwrap())
        .env_remove("ROTGEN_SERVICE")
        .env_remove("ROTGEN_STRATEGY")
        .output()
        .unwrap();
    let err = common::stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("rotating as postgres (alternating-users)"),
        "{err}"
    );
    rt().block_on(check_rotated(&c, 1));
}
