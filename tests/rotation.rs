//! Whole rotations with the shipped backends against moto (as Secrets Manager) and real
//! PostgreSQL, MariaDB, Redis, RabbitMQ and OpenLDAP on 127.0.0.1, started by
//! scripts/services.sh:
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
use rotgen::backends::ldap::Ldap;
use rotgen::backends::{self, Rabbitmq, Shipped, Trust};
use rotgen::function::rotate;
use rotgen::rotation::backend::{Backend, BackendError, ErrorKind, SetPassword, Strategy};
use rotgen::rotation::lambda::Handler;
use rotgen::rotation::password::PasswordPolicy;
use rotgen::rotation::secret::SecretValue;
use rotgen::rotation::steps::{Caller, Rotator};
use rotgen::rotation::store::AwsStore;
use rotgen::rotation::testing::{Faults, FaultyBackend, FaultyStore, run_steps};
use rotgen::rotation::trust::Masters;
use rotgen::rotation::{RotationEvent, Step};
use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, Connection};
use std::collections::HashMap;
use std::sync::atomic::Ordering;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The services, or `None` (skip) when scripts/services.sh has not started them.
fn services() -> Option<()> {
    common::services_running(&[
        "AWS_ENDPOINT_URL",
        "PG_PORT",
        "MYSQL_PORT",
        "REDIS_PORT",
        "RABBITMQ_PORT",
        "LDAP_PORT",
    ])
    .then_some(())
}

use common::{rt, stage, unique};

async fn sm() -> Client {
    let config = rotgen::sdk::config(None).await;
    Client::new(&config)
}

async fn create_secret(name: &str, value: &Value) -> String {
    common::create_secret(name, &value.to_string()).await
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
    pub async fn run<C>(url: &str, sql: &str) -> bool
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

    /// Whether `user` logs in to PostgreSQL with `password`.
    pub async fn pg_login(user: &str, password: &str) -> bool {
        run::<sqlx::PgConnection>(&pg_url(user, password), "SELECT 1").await
    }

    /// Whether `user` logs in to MariaDB with `password`.
    pub async fn mysql_login(user: &str, password: &str) -> bool {
        run::<sqlx::MySqlConnection>(&mysql_url(user, password), "SELECT 1").await
    }

    /// Whether `creds` log in (to a SQL service), whatever they may do then.
    pub async fn logs_in(service: &str, creds: &SecretValue) -> bool {
        let (Ok(user), Ok(password)) = (creds.username(), creds.password()) else {
            return false;
        };
        match service {
            "postgres" => pg_login(user, password).await,
            "mariadb" => mysql_login(user, password).await,
            other => panic!("no login check for {other}"),
        }
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

    /// One RabbitMQ management API call as `user`: the status and the answer.
    pub async fn rabbitmq_as(
        user: &str,
        password: &str,
        method: reqwest::Method,
        path: &[&str],
        body: Option<Value>,
    ) -> (u16, Value) {
        let ca = std::fs::read(env("RABBITMQ_CA_FILE").unwrap()).unwrap();
        let port = env("RABBITMQ_PORT").unwrap().parse().unwrap();
        common::rabbitmq_api(
            ("127.0.0.1", port, &ca),
            (user, password),
            method,
            path,
            body,
        )
        .await
    }

    /// A management API call as the broker's admin, which must succeed.
    pub async fn rabbitmq(method: reqwest::Method, path: &[&str], body: Value) {
        let (status, v) = rabbitmq_as(
            &env("RABBITMQ_ADMIN_USER").unwrap(),
            &env("RABBITMQ_ADMIN_PASSWORD").unwrap(),
            method,
            path,
            Some(body),
        )
        .await;
        assert!(status < 300, "setup failed: {path:?}: {status} {v}");
    }

    /// Whether `creds` log in to RabbitMQ and may read the virtual host `/`'s queues
    /// (what the case's users are given).
    async fn rabbitmq_works(creds: &SecretValue) -> bool {
        let (Ok(user), Ok(password)) = (creds.username(), creds.password()) else {
            return false;
        };
        let admin = (
            env("RABBITMQ_ADMIN_USER").unwrap(),
            env("RABBITMQ_ADMIN_PASSWORD").unwrap(),
        );
        let (status, v) =
            rabbitmq_as(user, password, reqwest::Method::GET, &["whoami"], None).await;
        if !(status == 200 || v["reason"] == "Not management user") {
            return false;
        }
        // Its permissions on `/` (asked as the admin: the user has no management tag).
        let (_, perms) = rabbitmq_as(
            &admin.0,
            &admin.1,
            reqwest::Method::GET,
            &["users", user, "permissions"],
            None,
        )
        .await;
        perms
            .as_array()
            .is_some_and(|a| a.iter().any(|p| p["vhost"] == "/" && p["read"] == ".*"))
    }

    fn ldap_at() -> (&'static str, u16) {
        ("127.0.0.1", env("LDAP_PORT").unwrap().parse().unwrap())
    }

    /// Runs an ldap-utils tool as the directory's admin with `ldif` on stdin.
    pub fn ldap(tool: &str, ldif: &str) {
        let (dn, pw) = (
            env("LDAP_ADMIN_DN").unwrap(),
            env("LDAP_ADMIN_PASSWORD").unwrap(),
        );
        assert!(
            common::ldap_tool(tool, ldap_at(), (&dn, &pw), ldif),
            "setup failed: {ldif}"
        );
    }

    /// Whether `creds` bind to the directory (ldapwhoami, not the backend).
    fn ldap_binds(creds: &SecretValue) -> bool {
        let (Ok(dn), Ok(password)) = (creds.username(), creds.password()) else {
            return false;
        };
        common::ldap_binds(ldap_at(), dn, password)
    }

    /// A Redis connection logged in with `creds`, or `None` when the login fails.
    async fn redis_as(creds: &SecretValue) -> Option<redis::aio::MultiplexedConnection> {
        let url = format!("redis://127.0.0.1:{}/", env("REDIS_PORT").unwrap());
        let client = redis::Client::open(url).ok()?;
        let mut c = client.get_multiplexed_async_connection().await.ok()?;
        let auth: Result<redis::Value, _> = redis::cmd("AUTH")
            .arg(creds.username().ok()?)
            .arg(creds.password().ok()?)
            .query_async(&mut c)
            .await;
        auth.ok().map(|_| c)
    }

    /// Whether `creds` log in to Redis and may run `args`.
    pub async fn redis_can(creds: &SecretValue, args: &[&str]) -> bool {
        let Some(mut c) = redis_as(creds).await else {
            return false;
        };
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        let r: Result<redis::Value, _> = cmd.query_async(&mut c).await;
        r.is_ok()
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
            "redis" => redis_as(creds).await.is_some(),
            "rabbitmq" => rabbitmq_works(creds).await,
            "ldap" => ldap_binds(creds),
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

/// The port of the real `service`.
fn port_of(service: &str) -> u16 {
    match service {
        "postgres" => env("PG_PORT").unwrap().parse().unwrap(),
        "mariadb" => env("MYSQL_PORT").unwrap().parse().unwrap(),
        "rabbitmq" => env("RABBITMQ_PORT").unwrap().parse().unwrap(),
        "ldap" => env("LDAP_PORT").unwrap().parse().unwrap(),
        _ => env("REDIS_PORT").unwrap().parse().unwrap(),
    }
}

async fn case(service: &'static str, strategy: Strategy) -> Case {
    case_at(service, strategy, port_of(service)).await
}

/// A case whose secrets (the master's too) name `port` (a proxy in front of the service).
async fn case_at(service: &'static str, strategy: Strategy, port: u16) -> Case {
    let user = unique("rg");
    let old_password = format!("Old-{}-pw", unique("p"));
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
        "rabbitmq" => {
            // An application user: no tags, reads and writes on `/`.
            admin::rabbitmq(
                reqwest::Method::PUT,
                &["users", &user],
                json!({"password": old_password, "tags": ""}),
            )
            .await;
            admin::rabbitmq(
                reqwest::Method::PUT,
                &["permissions", "/", &user],
                json!({"configure": "^app\\.", "write": ".*", "read": ".*"}),
            )
            .await;
        }
        "ldap" => {
            let uid = user.clone();
            let dn = format!("uid={uid},ou=people,{}", env("LDAP_BASE").unwrap());
            admin::ldap(
                "ldapadd",
                &format!(
                    "dn: {dn}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid}\nsn: {uid}\nuserPassword: {old_password}\n"
                ),
            );
            value["username"] = json!(dn);
        }
        _ => unreachable!(),
    }
    // Redis and RabbitMQ users do not change their own passwords: an admin does.
    let needs_master =
        strategy == Strategy::AlternatingUsers || matches!(service, "redis" | "rabbitmq");
    let mut master_arn = None;
    if needs_master {
        let master = match service {
            "postgres" => {
                json!({"engine": "postgres", "host": "127.0.0.1", "port": port, "dbname": "postgres",
                "username": env("PG_SUPERUSER").unwrap(), "password": env("PG_SUPERPASSWORD").unwrap()})
            }
            "mariadb" => json!({"engine": "mariadb", "host": "127.0.0.1", "port": port,
                "username": env("MYSQL_ADMIN_USER").unwrap(), "password": env("MYSQL_ADMIN_PASSWORD").unwrap()}),
            "rabbitmq" => json!({"engine": "rabbitmq", "host": "127.0.0.1", "port": port,
                "username": env("RABBITMQ_ADMIN_USER").unwrap(), "password": env("RABBITMQ_ADMIN_PASSWORD").unwrap()}),
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

/// The shipped backend of `service`, trusting the test CA (RabbitMQ's certificate).
fn backend(service: &str) -> Shipped {
    match service {
        "rabbitmq" => {
            let ca = std::fs::read(env("RABBITMQ_CA_FILE").unwrap()).unwrap();
            Shipped::Rabbitmq(Rabbitmq::new(Trust::from_pem(ca).unwrap().requiring_tls()))
        }
        "ldap" => {
            let ca = std::fs::read(env("LDAP_CA_FILE").unwrap()).unwrap();
            Shipped::Ldap(Ldap::new(Trust::from_pem(ca).unwrap().requiring_tls()))
        }
        other => backends::for_service(other).unwrap(),
    }
}

fn policy(service: &str) -> PasswordPolicy {
    PasswordPolicy::from_vars(&HashMap::new(), service).unwrap()
}

async fn handler(c: &Case) -> Handler<AwsStore, Shipped> {
    Handler {
        rotator: Rotator {
            store: AwsStore::from_env().await,
            backend: backend(c.service),
            strategy: c.strategy,
            policy: policy(c.service),
            masters: c.masters(),
            rds: rotgen::rotation::rds::NoRds,
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
    ("rabbitmq", Strategy::SingleUser),
    ("rabbitmq", Strategy::AlternatingUsers),
    ("ldap", Strategy::SingleUser),
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
            inner: backend(c.service),
            faults,
        },
        strategy: c.strategy,
        policy: policy(c.service),
        masters: c.masters(),
        rds: rotgen::rotation::rds::NoRds,
    };
    run_steps(&rotator, &c.arn, token, 3).await
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
                rds: rotgen::rotation::rds::NoRds,
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
        "--allow-plaintext",
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
        "--allow-plaintext",
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
    // RUST_LOG=trace reached the filter: debug events (every Secrets Manager call) are
    // in the logs too, so they were checked as well.
    assert!(
        logs.contains("calling Secrets Manager"),
        "debug events are logged under RUST_LOG=trace: {logs}"
    );
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
        .args([
            "rotate",
            "--secret-id",
            &c.arn,
            "--allow-plaintext",
            "--master",
        ])
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

/// `rotgen rotate` requires verified TLS by default, as the generated functions do: the
/// test PostgreSQL has no TLS, and the secret (which others may write) does not ask for
/// it. Nothing is sent or changed until the operator says `--allow-plaintext`.
#[test]
fn rotate_requires_tls_unless_the_operator_allows_plaintext() {
    if services().is_none() {
        return;
    }
    let c = rt().block_on(case("postgres", Strategy::SingleUser));
    let rotate = |extra: &[&str]| {
        common::rotgen()
            .args(["rotate", "--secret-id", &c.arn, "--service", "postgres"])
            .args(extra)
            .env_remove("ROTGEN_REQUIRE_TLS")
            .output()
            .unwrap()
    };
    let o = rotate(&[]);
    let err = common::stderr(&o);
    assert!(!o.status.success(), "{err}");
    assert!(err.contains("--allow-plaintext"), "{err}");
    assert!(!err.contains(c.old.password().unwrap()));
    rt().block_on(async {
        let current = stage(&c.arn, "AWSCURRENT").await.unwrap();
        assert_eq!(current.password().unwrap(), c.old.password().unwrap());
        assert!(admin::works("postgres", &c.old).await);
    });
    // The operator's word: the rotation runs (resuming the one the refusal left).
    let o = rotate(&["--allow-plaintext", "--resume"]);
    let o = if o.status.success() {
        o
    } else {
        rotate(&["--allow-plaintext"])
    };
    assert!(o.status.success(), "{}", common::stderr(&o));
    rt().block_on(check_rotated(&c, 1));
}

// ---------------------------------------------------------------- attacks and faults
//
// Whoever can write the application's secret can write any of its fields; the network
// can cut or stall any call. None of it may change the wrong password, send one in the
// clear, or leave AWSCURRENT without a working login.

/// One step of `c`'s rotation `token`, as `rotgen rotate` runs it.
async fn run_step(
    h: &Handler<AwsStore, Shipped>,
    c: &Case,
    step: Step,
    token: &str,
) -> Result<rotgen::rotation::steps::Outcome, rotgen::rotation::RotationError> {
    let event = RotationEvent {
        step,
        secret_id: c.arn.clone(),
        token: token.to_string(),
        rotation_token: None,
    };
    h.rotator.handle(&event, Caller::Cli).await
}

/// Writes `value` into `c`'s secret as the version `token` with `stage`, as anyone who
/// may write the secret can.
async fn tamper(c: &Case, token: Option<&str>, stage: &str, value: &Value) {
    let mut put = sm()
        .await
        .put_secret_value()
        .secret_id(&c.arn)
        .secret_string(value.to_string())
        .version_stages(stage);
    if let Some(t) = token {
        put = put.client_request_token(t);
    }
    put.send().await.unwrap();
}

fn json_of(v: &SecretValue) -> Value {
    serde_json::from_str(&v.to_secret_string()).unwrap()
}

#[test]
fn a_tampered_pending_value_cannot_name_another_user() {
    if services().is_none() {
        return;
    }
    rt().block_on(async {
        for strategy in [Strategy::SingleUser, Strategy::AlternatingUsers] {
            let c = case("postgres", strategy).await;
            let victim = unique("victim");
            admin::pg(&format!(
                "CREATE ROLE {victim} LOGIN PASSWORD 'Victim-pw-1'"
            ))
            .await;
            let h = handler(&c).await;
            let token = uuid::Uuid::new_v4().to_string();
            run_step(&h, &c, Step::Create, &token).await.unwrap();
            let mut pending = json_of(&stage(&c.arn, "AWSPENDING").await.unwrap());
            pending["username"] = json!(victim);
            tamper(&c, Some(&token), "AWSPENDING", &pending).await;
            let e = run_step(&h, &c, Step::Set, &token).await.unwrap_err();
            assert!(!e.retryable, "{e}");
            assert!(
                e.to_string()
                    .contains(&format!("AWSPENDING names user {victim}")),
                "{e}"
            );
            assert!(
                e.to_string().contains(&c.arn),
                "the refusal names the secret: {e}"
            );
            assert!(
                admin::pg_login(&victim, "Victim-pw-1").await,
                "{strategy:?}: the victim's password is unchanged"
            );
            assert!(admin::works("postgres", &stage(&c.arn, "AWSCURRENT").await.unwrap()).await);
        }
    });
}

#[test]
fn the_master_acts_only_for_a_user_of_its_own_server_that_logs_in() {
    if services().is_none() {
        return;
    }
    rt().block_on(async {
        let superuser = env("PG_SUPERUSER").unwrap();
        let superpass = env("PG_SUPERPASSWORD").unwrap();
        // (a) The secret names another existing user, with a made-up password: the master
        // would otherwise clone that user's privileges into a login the secret holds.
        let c = case("postgres", Strategy::AlternatingUsers).await;
        let victim = unique("victim");
        admin::pg(&format!("CREATE ROLE {victim} LOGIN PASSWORD 'Victim-pw-2'; GRANT pg_read_all_data TO {victim}")).await;
        let mut forged = json_of(&c.old);
        forged["username"] = json!(victim);
        forged["password"] = json!("made-up-password");
        tamper(&c, None, "AWSCURRENT", &forged).await;
        let e = rotate(&handler(&c).await, &c.arn, false).await.unwrap_err().to_string();
        assert!(e.contains("AWSCURRENT credentials do not log in"), "{e}");
        assert!(admin::pg_login(&victim, "Victim-pw-2").await);
        assert!(
            !admin::pg_login(&format!("{victim}_clone"), "made-up-password").await,
            "no clone of the victim was made"
        );

        // (b) The secret names the master's own user (the pair's other name): refused
        // before any login, and the master's password is unchanged.
        let c = case("postgres", Strategy::AlternatingUsers).await;
        let mut forged = json_of(&c.old);
        forged["username"] = json!(format!("{superuser}_clone"));
        tamper(&c, None, "AWSCURRENT", &forged).await;
        let e = rotate(&handler(&c).await, &c.arn, false).await.unwrap_err().to_string();
        assert!(e.contains("master's own user"), "{e}");
        assert!(admin::pg_login(&superuser, &superpass).await, "the master still logs in");

        // (b) The same through a single-user secret with an admin (Redis).
        let c = case("redis", Strategy::SingleUser).await;
        let mut forged = json_of(&c.old);
        forged["username"] = json!(env("REDIS_ADMIN_USER").unwrap());
        tamper(&c, None, "AWSCURRENT", &forged).await;
        let e = rotate(&handler(&c).await, &c.arn, false).await.unwrap_err().to_string();
        assert!(e.contains("master's own user"), "{e}");
        let admin_creds = SecretValue::parse(
            &json!({"username": env("REDIS_ADMIN_USER").unwrap(), "password": env("REDIS_ADMIN_PASSWORD").unwrap()}).to_string(),
        );
        assert!(admin::works("redis", &admin_creds).await, "the admin still logs in");

        // (c) The secret points at another server (a recording fake): the master's
        // credentials never leave.
        let (port, seen) = common::net::fake(common::net::Fake::PostgresDeclines).await;
        let c = case("postgres", Strategy::AlternatingUsers).await;
        let mut forged = json_of(&c.old);
        forged["port"] = json!(port);
        tamper(&c, None, "AWSCURRENT", &forged).await;
        let e = rotate(&handler(&c).await, &c.arn, false).await.unwrap_err().to_string();
        assert!(e.contains("`port`"), "{e}");
        let seen = common::net::Seen::of(&seen);
        assert_eq!(seen.connections, 0, "nothing was sent to the other server");

        // (d) A master the function's configuration does not name is never read.
        let c = case("postgres", Strategy::AlternatingUsers).await;
        let mut h = handler(&c).await;
        h.rotator.masters = Masters::none();
        let e = rotate(&h, &c.arn, false).await.unwrap_err().to_string();
        assert!(e.contains("ROTGEN_MASTER_SECRETS"), "{e}");
        assert!(admin::works("postgres", &stage(&c.arn, "AWSCURRENT").await.unwrap()).await);
    });
}

#[test]
fn a_login_that_proves_nothing_never_lets_the_master_act() {
    if services().is_none() {
        return;
    }
    rt().block_on(async {
        // Redis: a `nopass` user takes any password. The secret names it with a password
        // its writer made up; the master would otherwise set a password on it (ending
        // `nopass`, so its own clients fail) and hand the writer a working login.
        let c = case("redis", Strategy::SingleUser).await;
        let open = unique("open");
        admin::redis(&["ACL", "SETUSER", &open, "on", "nopass", "~app:*", "+@read", "+ping"]).await;
        let mut forged = json_of(&c.old);
        forged["username"] = json!(open);
        forged["password"] = json!("Made-up-by-the-writer-1");
        tamper(&c, None, "AWSCURRENT", &forged).await;
        let e = rotate(&handler(&c).await, &c.arn, false).await.unwrap_err().to_string();
        assert!(e.contains("made-up password too"), "{e}");
        let any = SecretValue::parse(&json!({"username": open, "password": "Any-other-1"}).to_string());
        assert!(admin::works("redis", &any).await, "the user is left as it was");

        // MariaDB: an anonymous account for the client's host (127.0.0.2, through a
        // proxy) matches before `victim@'%'`, whatever the user name. The secret names the
        // victim with the anonymous account's password (which a made-up one does not
        // pass); alternating users would otherwise clone the victim's privileges into a
        // login the secret holds.
        let proxy = common::net::Proxy::start_from(
            common::net::Proto::Mysql,
            port_of("mariadb"),
            std::net::Ipv4Addr::new(127, 0, 0, 2),
        )
        .await;
        let c = case_at("mariadb", Strategy::AlternatingUsers, proxy.port).await;
        let victim = unique("victim");
        let table = json_of(&c.old)["table"].as_str().unwrap().to_string();
        admin::mysql(&format!(
            "CREATE USER IF NOT EXISTS ''@'127.0.0.2' IDENTIFIED BY 'Anonymous-pw-1'; CREATE USER '{victim}'@'%' IDENTIFIED BY 'Victim-pw-3'; GRANT SELECT ON {table} TO '{victim}'@'%';"
        ))
        .await;
        let mut forged = json_of(&c.old);
        forged["username"] = json!(victim);
        forged["password"] = json!("Anonymous-pw-1");
        tamper(&c, None, "AWSCURRENT", &forged).await;
        let e = rotate(&handler(&c).await, &c.arn, false).await.unwrap_err().to_string();
        admin::mysql("DROP USER IF EXISTS ''@'127.0.0.2'").await;
        assert!(e.contains("proves nothing"), "{e}");
        let admin_url = admin::mysql_url(
            &env("MYSQL_ADMIN_USER").unwrap(),
            &env("MYSQL_ADMIN_PASSWORD").unwrap(),
        );
        assert!(
            !admin::run::<sqlx::MySqlConnection>(
                &admin_url,
                &format!("SHOW GRANTS FOR '{victim}_clone'@'%'")
            )
            .await,
            "no clone of the victim was made"
        );
        assert!(admin::mysql_login(&victim, "Victim-pw-3").await);
    });
}

#[test]
fn a_url_the_secret_shares_with_its_master_does_not_skip_the_host_check() {
    if services().is_none() {
        return;
    }
    rt().block_on(async {
        // A `url` the secret shares with its master does not skip the host check
        // (only the http service is reached by URL): the secret points at another server,
        // a proxy in front of the real one that accepts the user's own login, and the
        // master's credentials never go there.
        let c = case("postgres", Strategy::AlternatingUsers).await;
        let master_arn = c.master.clone().unwrap();
        let mut master = json_of(&stage(&master_arn, "AWSCURRENT").await.unwrap());
        master["url"] = json!("https://db.example/");
        sm().await
            .put_secret_value()
            .secret_id(&master_arn)
            .secret_string(master.to_string())
            .version_stages("AWSCURRENT")
            .send()
            .await
            .unwrap();
        let proxy =
            common::net::Proxy::start(common::net::Proto::Postgres, port_of("postgres")).await;
        let mut forged = json_of(&c.old);
        forged["port"] = json!(proxy.port);
        forged["url"] = json!("https://db.example/");
        tamper(&c, None, "AWSCURRENT", &forged).await;
        let e = rotate(&handler(&c).await, &c.arn, false)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("`port`"), "{e}");
        assert_eq!(proxy.messages(), 0, "nothing was sent to the other server");
    });
}

/// After every cut: a pending password that logs in has every privilege it should.
async fn assert_no_login_without_privileges(c: &Case, when: &str) {
    if let Some(p) = stage(&c.arn, "AWSPENDING").await
        && admin::logs_in(c.service, &p).await
    {
        assert!(
            admin::works(c.service, &p).await,
            "{} {when}: the pending user logs in without its privileges",
            c.service
        );
    }
}

#[test]
fn alternating_users_cut_between_any_two_statements_then_retried() {
    if services().is_none() {
        return;
    }
    rt().block_on(async {
        for (service, proto) in [
            ("mariadb", common::net::Proto::Mysql),
            ("postgres", common::net::Proto::Postgres),
        ] {
            let proxy = common::net::Proxy::start(proto, port_of(service)).await;
            let mut c = case_at(service, Strategy::AlternatingUsers, proxy.port).await;
            // The tests' own checks go to the service directly; the secret has `table`.
            c.old = stage(&c.arn, "AWSCURRENT").await.unwrap();
            let h = handler(&c).await;
            let token = uuid::Uuid::new_v4().to_string();
            run_step(&h, &c, Step::Create, &token).await.unwrap();
            let mut cuts = 0;
            for n in 0.. {
                proxy.limit(common::net::Limit::Cut { after: n });
                let r = run_step(&h, &c, Step::Set, &token).await;
                let cut = proxy.fired();
                proxy.limit(common::net::Limit::None);
                assert_no_login_without_privileges(&c, &format!("cut after message {n}")).await;
                if !cut {
                    r.unwrap_or_else(|e| panic!("{service}: setSecret without a cut: {e}"));
                    break;
                }
                assert!(r.is_err(), "{service}: a cut step reports a failure");
                cuts += 1;
            }
            assert!(cuts > 5, "{service}: the step was cut {cuts} times");
            run_step(&h, &c, Step::Set, &token).await.unwrap();
            run_step(&h, &c, Step::Test, &token).await.unwrap();
            run_step(&h, &c, Step::Finish, &token).await.unwrap();
            let current = stage(&c.arn, "AWSCURRENT").await.unwrap();
            assert!(
                admin::works(service, &current).await,
                "{service}: the new AWSCURRENT works"
            );
        }
    });
}

#[test]
fn privileges_granted_between_rotations_are_never_revoked() {
    if services().is_none() {
        return;
    }
    rt().block_on(Box::pin(async {
        for service in ["postgres", "mariadb"] {
            let c = case(service, Strategy::AlternatingUsers).await;
            let h = handler(&c).await;
            let base = c.old.username().unwrap().to_string();
            let clone = format!("{base}_clone");
            rotate(&h, &c.arn, false).await.unwrap();
            // A DBA grants the base user (and, separately, the clone) something new.
            let (later, mine) = (format!("later_{base}"), format!("mine_{base}"));
            grant_new_table(service, &later, &base).await;
            grant_new_table(service, &mine, &clone).await;
            for round in 2..=3 {
                Box::pin(rotate(&h, &c.arn, false)).await.unwrap();
                let current = stage(&c.arn, "AWSCURRENT").await.unwrap();
                let previous = stage(&c.arn, "AWSPREVIOUS").await.unwrap();
                assert!(
                    reads(service, &current, &later).await,
                    "{service} rotation {round}: AWSCURRENT can do what the base user can"
                );
                let clone_creds = if current.username().unwrap() == clone {
                    current
                } else {
                    previous
                };
                assert!(
                    reads(service, &clone_creds, &mine).await,
                    "{service} rotation {round}: the clone keeps what it was granted"
                );
            }
        }
        // Redis: the same with ACL rules.
        let c = case("redis", Strategy::AlternatingUsers).await;
        let h = handler(&c).await;
        let base = c.old.username().unwrap().to_string();
        let clone = format!("{base}_clone");
        rotate(&h, &c.arn, false).await.unwrap();
        admin::redis(&["ACL", "SETUSER", &base, "+set"]).await;
        admin::redis(&["ACL", "SETUSER", &clone, "+hset"]).await;
        for round in 2..=3 {
            rotate(&h, &c.arn, false).await.unwrap();
            let current = stage(&c.arn, "AWSCURRENT").await.unwrap();
            let previous = stage(&c.arn, "AWSPREVIOUS").await.unwrap();
            assert!(
                admin::redis_can(&current, &["SET", "app:k", "v"]).await,
                "redis rotation {round}: AWSCURRENT can do what the base user can"
            );
            let clone_creds = if current.username().unwrap() == clone {
                current
            } else {
                previous
            };
            assert!(
                admin::redis_can(&clone_creds, &["HSET", "app:h", "f", "v"]).await,
                "redis rotation {round}: the clone keeps what it was granted"
            );
        }
    }));
}

/// Creates `table` and lets `to` read it, as a DBA would.
async fn grant_new_table(service: &str, table: &str, to: &str) {
    if service == "postgres" {
        admin::pg(&format!(
            "CREATE TABLE {table} (id int); GRANT SELECT ON {table} TO {to};"
        ))
        .await
    } else {
        admin::mysql(&format!(
            "CREATE TABLE rotgen_test.{table} (id int); GRANT SELECT ON rotgen_test.{table} TO '{to}'@'%';"
        ))
        .await
    }
}

/// Whether `creds` log in and read `table`.
async fn reads(service: &str, creds: &SecretValue, table: &str) -> bool {
    let mut v = json_of(creds);
    v["table"] = json!(if service == "postgres" {
        table.to_string()
    } else {
        format!("rotgen_test.{table}")
    });
    admin::works(service, &SecretValue::parse(&v.to_string())).await
}

#[test]
fn a_refused_acl_save_is_retried_and_the_rotation_survives_acl_load() {
    if services().is_none() {
        return;
    }
    rt().block_on(async {
        let mut c = case("redis", Strategy::SingleUser).await;
        // An admin that may change users but not save the ACL file.
        let admin_user = unique("nosave");
        admin::redis(&["ACL", "SETUSER", &admin_user, "on", ">Admin-pw-3", "~*", "&*", "+@all", "-acl|save"]).await;
        let master = json!({"engine": "redis", "host": "127.0.0.1", "port": port_of("redis"), "username": admin_user, "password": "Admin-pw-3"});
        let master_arn = create_secret(&unique("nosave-master-"), &master).await;
        let mut value = json_of(&c.old);
        value["masterarn"] = json!(master_arn);
        tamper(&c, None, "AWSCURRENT", &value).await;
        c.old = SecretValue::parse(&value.to_string());
        c.master = Some(master_arn);
        let h = handler(&c).await;
        let e = rotate(&h, &c.arn, false).await.unwrap_err();
        let text = e.to_string();
        assert!(text.contains("ACL SAVE failed (NOPERM)") && text.contains("(retryable)"), "{text}");
        assert!(admin::works("redis", &stage(&c.arn, "AWSCURRENT").await.unwrap()).await);
        // Allowed now: the retry saves, and a reload from the file keeps the new password.
        admin::redis(&["ACL", "SETUSER", &admin_user, "+acl|save"]).await;
        rotate(&h, &c.arn, true).await.unwrap();
        admin::redis(&["ACL", "LOAD"]).await;
        let current = stage(&c.arn, "AWSCURRENT").await.unwrap();
        assert!(admin::works("redis", &current).await, "AWSCURRENT logs in after ACL LOAD");
    });
}

#[test]
fn a_step_whose_deadline_runs_out_mid_call_stops_cleanly() {
    if services().is_none() {
        return;
    }
    rt().block_on(async {
        let proxy =
            common::net::Proxy::start(common::net::Proto::Postgres, port_of("postgres")).await;
        let mut c = case_at("postgres", Strategy::SingleUser, proxy.port).await;
        c.old = stage(&c.arn, "AWSCURRENT").await.unwrap();
        let h = handler(&c).await;
        let token = uuid::Uuid::new_v4().to_string();
        run_step(&h, &c, Step::Create, &token).await.unwrap();
        // The service stops answering in the middle of the login.
        proxy.limit(common::net::Limit::Stall { after: 1 });
        let started = std::time::Instant::now();
        let event = RotationEvent {
            step: Step::Set,
            secret_id: c.arn.clone(),
            token: token.clone(),
            rotation_token: None,
        };
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(1500);
        let e = h
            .rotator
            .handle_until(&event, Caller::Cli, Some(deadline))
            .await
            .unwrap_err();
        let took = started.elapsed();
        assert!(proxy.fired(), "the call was in flight");
        assert_eq!(e.kind, "Deadline", "{e}");
        assert!(e.retryable, "{e}");
        assert!(
            took < std::time::Duration::from_secs(5),
            "stopped at the deadline, not at a timeout: {took:?}"
        );
        assert!(admin::works("postgres", &stage(&c.arn, "AWSCURRENT").await.unwrap()).await);
        // The service answers again: the retry completes the rotation.
        proxy.limit(common::net::Limit::None);
        for step in [Step::Set, Step::Test, Step::Finish] {
            run_step(&h, &c, step, &token).await.unwrap();
        }
        check_rotated(&c, 1).await;
    });
}

#[test]
fn rotate_refuses_a_secret_whose_rotation_secrets_manager_runs() {
    if services().is_none() {
        return;
    }
    rt().block_on(async {
        let c = case("postgres", Strategy::SingleUser).await;
        // What a deployed RotationSchedule leaves (moto: see shared/reference/oracles.md).
        let client = sm().await;
        let _ = client
            .rotate_secret()
            .secret_id(&c.arn)
            .rotation_lambda_arn("arn:aws:lambda:us-east-1:123456789012:function:rotgen")
            .rotation_rules(
                aws_sdk_secretsmanager::types::RotationRulesType::builder()
                    .automatically_after_days(30)
                    .build(),
            )
            .rotate_immediately(false)
            .send()
            .await;
        let d = client
            .describe_secret()
            .secret_id(&c.arn)
            .send()
            .await
            .unwrap();
        assert_eq!(d.rotation_enabled(), Some(true));
        let h = handler(&c).await;
        // A rotation in progress (moto's stray AWSPENDING) is refused...
        if let Some(stray) = d.version_ids_to_stages().and_then(|m| {
            m.iter()
                .find(|(_, s)| {
                    s.iter().any(|x| x == "AWSPENDING") && !s.iter().any(|x| x == "AWSCURRENT")
                })
                .map(|(v, _)| v.clone())
        }) {
            let e = rotate(&h, &c.arn, false).await.unwrap_err().to_string();
            assert!(e.contains("unfinished rotation"), "{e}");
            client
                .update_secret_version_stage()
                .secret_id(&c.arn)
                .version_stage("AWSPENDING")
                .remove_from_version_id(stray)
                .send()
                .await
                .unwrap();
        }
        // ...and so is starting one while Secrets Manager may.
        let e = rotate(&h, &c.arn, false).await.unwrap_err().to_string();
        assert!(
            e.contains("has rotation enabled") && e.contains("rotate-secret"),
            "{e}"
        );
        assert_eq!(
            stage(&c.arn, "AWSCURRENT")
                .await
                .unwrap()
                .password()
                .unwrap(),
            c.old.password().unwrap()
        );
    });
}

#[test]
fn database_logs_never_hold_a_new_password() {
    if services().is_none() {
        return;
    }
    let (Some(pg_log), Some(my_log)) = (env("PG_LOG"), env("MYSQL_GENERAL_LOG")) else {
        panic!("scripts/services.sh exports PG_LOG and MYSQL_GENERAL_LOG");
    };
    rt().block_on(async {
        let mut passwords = Vec::new();
        for (service, strategy) in CASES
            .iter()
            .filter(|(s, _)| matches!(*s, "postgres" | "mariadb"))
        {
            let c = case(service, *strategy).await;
            let h = handler(&c).await;
            for _ in 0..2 {
                rotate(&h, &c.arn, false).await.unwrap();
                passwords.push(
                    stage(&c.arn, "AWSCURRENT")
                        .await
                        .unwrap()
                        .password()
                        .unwrap()
                        .to_string(),
                );
            }
        }
        // Give the servers a moment to write their logs.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let pg = std::fs::read_to_string(&pg_log).unwrap();
        let my = std::fs::read_to_string(&my_log).unwrap();
        assert!(pg.contains("ALTER ROLE"), "log_statement = 'all' is on");
        assert!(my.contains("SET PASSWORD"), "the general log is on");
        for p in &passwords {
            assert!(
                !pg.contains(p.as_str()),
                "a new password is in PostgreSQL's log"
            );
            assert!(
                !my.contains(p.as_str()),
                "a new password is in MariaDB's general log"
            );
        }
    });
}

#[test]
fn tls_verifies_against_the_system_store_and_never_without_it() {
    if services().is_none() {
        return;
    }
    let ca = common::root().join("tests/fixtures/backends/ca.pem");
    let empty = common::scratch("no-roots").join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    // The front must outlive the subprocesses: a runtime of its own on another thread.
    let front_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let port = front_rt.block_on(common::net::postgres_tls_front(port_of("postgres")));
    let c = rt().block_on(async {
        let mut c = case("postgres", Strategy::SingleUser).await;
        let mut v = json_of(&c.old);
        v["port"] = json!(port);
        v["ssl"] = json!(true);
        tamper(&c, None, "AWSCURRENT", &v).await;
        c.old = SecretValue::parse(&v.to_string());
        c
    });
    let rotate_with_store = |store: &std::path::Path, resume: bool| {
        common::rotgen()
            .args(["rotate", "--secret-id", &c.arn, "--service", "postgres"])
            .args(resume.then_some("--resume"))
            .env("SSL_CERT_FILE", store)
            .env_remove("ROTGEN_CA_FILE")
            .output()
            .unwrap()
    };
    // The test CA is in no store: the certificate is refused, nothing changes.
    let o = rotate_with_store(&empty, false);
    let err = common::stderr(&o);
    assert!(!o.status.success(), "{err}");
    assert!(err.contains("not signed by a trusted CA"), "{err}");
    rt().block_on(async {
        let current = stage(&c.arn, "AWSCURRENT").await.unwrap();
        assert_eq!(current.password().unwrap(), c.old.password().unwrap());
        let mut direct = json_of(&current);
        direct["port"] = json!(port_of("postgres"));
        assert!(admin::works("postgres", &SecretValue::parse(&direct.to_string())).await);
    });
    // The system's store holds it (as Amazon Linux's holds its CAs): verified TLS works.
    let o = rotate_with_store(&ca, true);
    assert!(o.status.success(), "{}", common::stderr(&o));
    rt().block_on(check_rotated(&c, 1));
    // Or the bundle ROTGEN_CA_FILE names, with the system's store empty.
    let o = common::rotgen()
        .args(["rotate", "--secret-id", &c.arn, "--service", "postgres"])
        .env("SSL_CERT_FILE", &empty)
        .env("ROTGEN_CA_FILE", &ca)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", common::stderr(&o));
    rt().block_on(check_rotated(&c, 2));
    drop(front_rt);
}

#[test]
fn a_secret_without_masterarn_uses_the_one_master_the_function_names() {
    if services().is_none() {
        return;
    }
    rt().block_on(async {
        let mut c = case("postgres", Strategy::AlternatingUsers).await;
        let mut v = json_of(&c.old);
        v.as_object_mut().unwrap().remove("masterarn");
        tamper(&c, None, "AWSCURRENT", &v).await;
        c.old = SecretValue::parse(&v.to_string());
        // Two masters configured: which one is the secret's cannot be told.
        let mut h = handler(&c).await;
        h.rotator.masters = Masters::of([c.master.clone().unwrap(), "prod/other-master".into()]);
        let e = rotate(&h, &c.arn, false).await.unwrap_err().to_string();
        assert!(
            e.contains("has no `masterarn`") && e.contains("names 2 master secrets"),
            "{e}"
        );
        // One: it is the one.
        let h = handler(&c).await;
        rotate(&h, &c.arn, true).await.unwrap();
        check_rotated(&c, 1).await;
    });
}

/// A Redis user that changes its own password (no master), and its secret.
async fn redis_self_case() -> Case {
    let user = unique("self");
    let old = format!("Old-{}-pw", unique("p"));
    admin::redis(&[
        "ACL",
        "SETUSER",
        &user,
        "on",
        &format!(">{old}"),
        "~app:*",
        "+@read",
        "+ping",
        "+acl|setuser",
        "+acl|getuser",
        "+acl|save",
    ])
    .await;
    let value = json!({"engine": "redis", "host": "127.0.0.1", "port": port_of("redis"), "username": user, "password": old});
    Case {
        service: "redis",
        strategy: Strategy::SingleUser,
        arn: create_secret(&format!("prod/{user}"), &value).await,
        old: SecretValue::parse(&value.to_string()),
        master: None,
    }
}

#[test]
fn a_current_value_pointed_elsewhere_never_sends_the_previous_password_there() {
    if services().is_none() {
        return;
    }
    rt().block_on(async {
        // A Redis user that changes its own password, with a working password in
        // AWSPREVIOUS (as after a rotation, in Redis's two-password window).
        let c = redis_self_case().await;
        let value = json_of(&c.old);
        let old = c.old.password().unwrap().to_string();
        // Someone who may write the secret points AWSCURRENT at their own server.
        let (port, seen) = common::net::fake(common::net::Fake::RedisPlaintext).await;
        let mut forged = value.clone();
        forged["port"] = json!(port);
        forged["password"] = json!("made-up");
        tamper(&c, None, "AWSCURRENT", &forged).await;
        assert_eq!(
            stage(&c.arn, "AWSPREVIOUS")
                .await
                .unwrap()
                .password()
                .unwrap(),
            old
        );
        let e = rotate(&handler(&c).await, &c.arn, false)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("AWSPREVIOUS has another `port`"), "{e}");
        assert!(
            !common::net::Seen::of(&seen).contains(&old),
            "the previous password never reached the other server"
        );
        assert!(admin::works("redis", &c.old).await, "and it still works");
    });
}

#[test]
fn a_password_written_into_awscurrent_is_never_installed_unproven() {
    if services().is_none() {
        return;
    }
    rt().block_on(async {
        // A Redis user that changes its own password; Redis keeps the password that
        // changed it beside the new one, for the applications still using it.
        let c = redis_self_case().await;
        let value = json_of(&c.old);
        // Someone who may write the secret (but not read it) writes a password of their
        // choosing into AWSCURRENT; the working one moves to AWSPREVIOUS.
        let mut forged = value.clone();
        forged["password"] = json!("Chosen-by-the-writer-1");
        tamper(&c, None, "AWSCURRENT", &forged).await;
        let forged = SecretValue::parse(&forged.to_string());
        assert!(!admin::works("redis", &forged).await);
        rotate(&handler(&c).await, &c.arn, false).await.unwrap();
        assert!(
            !admin::works("redis", &forged).await,
            "the writer's password, which never logged in, does not log in after the rotation"
        );
        assert!(admin::works("redis", &stage(&c.arn, "AWSCURRENT").await.unwrap()).await);
        assert!(
            admin::works("redis", &c.old).await,
            "the password that changed it is the one kept beside the new one"
        );
    });
}

#[test]
fn rotgen_rotate_rotates_a_rabbitmq_user_twice() {
    if services().is_none() {
        return;
    }
    for strategy in [Strategy::SingleUser, Strategy::AlternatingUsers] {
        let c = rt().block_on(case("rabbitmq", strategy));
        let master = c.master.clone().unwrap();
        let name = match strategy {
            Strategy::SingleUser => "single-user",
            Strategy::AlternatingUsers => "alternating-users",
        };
        for round in 1..=2 {
            let out = common::rotgen()
                .args(["rotate", "--secret-id", &c.arn, "--service", "rabbitmq"])
                .args(["--strategy", name, "--master", &master])
                .env("ROTGEN_CA_FILE", env("RABBITMQ_CA_FILE").unwrap())
                .env("ROTGEN_REQUIRE_TLS", "true")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{name}, round {round}: {}",
                common::stderr(&out)
            );
            rt().block_on(check_rotated(&c, round));
            let current = rt().block_on(stage(&c.arn, "AWSCURRENT")).unwrap();
            let logs = format!("{}{}", common::stdout(&out), common::stderr(&out));
            assert!(!logs.contains(current.password().unwrap()));
            assert!(!logs.contains(&env("RABBITMQ_ADMIN_PASSWORD").unwrap()));
        }
    }
    // Without the test CA the broker's certificate is not trusted: nothing changes.
    let c = rt().block_on(case("rabbitmq", Strategy::SingleUser));
    let out = common::rotgen()
        .args(["rotate", "--secret-id", &c.arn, "--service", "rabbitmq"])
        .args(["--master", c.master.as_deref().unwrap()])
        .env_remove("ROTGEN_CA_FILE")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        common::stderr(&out).contains("not signed by a trusted CA"),
        "{}",
        common::stderr(&out)
    );
    assert!(rt().block_on(admin::works("rabbitmq", &c.old)));
}

#[test]
fn rotgen_rotate_rotates_an_ldap_user_twice() {
    if services().is_none() {
        return;
    }
    let c = rt().block_on(case("ldap", Strategy::SingleUser));
    for round in 1..=2 {
        let out = common::rotgen()
            .args(["rotate", "--secret-id", &c.arn, "--service", "ldap"])
            .env("ROTGEN_CA_FILE", env("LDAP_CA_FILE").unwrap())
            .env("ROTGEN_REQUIRE_TLS", "true")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "round {round}: {}",
            common::stderr(&out)
        );
        rt().block_on(check_rotated(&c, round));
        let current = rt().block_on(stage(&c.arn, "AWSCURRENT")).unwrap();
        let logs = format!("{}{}", common::stdout(&out), common::stderr(&out));
        assert!(!logs.contains(current.password().unwrap()));
        assert!(!logs.contains(c.old.password().unwrap()));
    }
}
