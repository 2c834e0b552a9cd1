//! Master secrets RDS manages (`rds!db-…`): they hold only `username` and `password`, and
//! the function binds them to their server through RDS (`rotation::rds`).
//!
//! - `AwsRds` against moto's RDS: DescribeDBInstances and DescribeDBClusters are read
//!   into the endpoint, and a resource RDS does not have is one clear, final line;
//!   `ROTGEN_RDS_ENDPOINT` is the URL it asks unless AWS's own variables give one;
//! - whole rotations against moto (Secrets Manager) and the real PostgreSQL on 127.0.0.1,
//!   with RDS's answer given through the `RdsLookup` trait (moto's endpoint names do not
//!   resolve): the rotation succeeds when the secret's `host` and `port` are the endpoint;
//!   a secret pointing elsewhere is refused before anything reaches that server; a master
//!   whose resource the function's configuration does not name is refused and RDS is never
//!   asked.
//!
//! Without moto and PostgreSQL (scripts/services.sh start moto postgres) these tests print
//! "skipping"; ROTGEN_REQUIRE_SERVICES=1 makes their absence a failure.

mod common;

use common::{rt, stage, unique};
use rotgen::backends;
use rotgen::function::rotate;
use rotgen::rotation::backend::{Backend, Strategy};
use rotgen::rotation::lambda::Handler;
use rotgen::rotation::password::PasswordPolicy;
use rotgen::rotation::rds::{
    AwsRds, ENDPOINT_VAR, RdsEndpoint, RdsError, RdsKind, RdsLookup, RdsMasters, RdsResource,
};
use rotgen::rotation::secret::SecretValue;
use rotgen::rotation::steps::Rotator;
use rotgen::rotation::store::AwsStore;
use rotgen::rotation::trust::Masters;
use serde_json::{Value, json};
use std::sync::Mutex;

fn env(name: &str) -> String {
    std::env::var(name).unwrap()
}

async fn aws() -> aws_config::SdkConfig {
    rotgen::sdk::config(None).await
}

/// RDS's answers, given by the test; every question is recorded.
#[derive(Default)]
struct TestRds {
    answers: Vec<(RdsResource, RdsEndpoint)>,
    asked: Mutex<Vec<RdsResource>>,
}

impl RdsLookup for TestRds {
    async fn endpoint(&self, resource: &RdsResource) -> Result<RdsEndpoint, RdsError> {
        self.asked.lock().unwrap().push(resource.clone());
        self.answers
            .iter()
            .find(|(r, _)| r == resource)
            .map(|(_, e)| e.clone())
            .ok_or_else(|| RdsError {
                message: format!("RDS has no {resource}"),
                retryable: false,
            })
    }
}

fn instance(id: &str) -> RdsResource {
    RdsResource {
        kind: RdsKind::Instance,
        id: id.into(),
    }
}

#[test]
fn aws_rds_reads_moto_instances_and_clusters() {
    if !common::services_running(&["AWS_ENDPOINT_URL"]) {
        return;
    }
    rt().block_on(async {
        let client = aws_sdk_rds::Client::new(&aws().await);
        let id = unique("orders-").replace('_', "-");
        client
            .create_db_instance()
            .db_instance_identifier(&id)
            .db_instance_class("db.t3.micro")
            .engine("postgres")
            .master_username("postgres")
            .manage_master_user_password(true)
            .allocated_storage(20)
            .port(6432)
            .send()
            .await
            .unwrap();
        let rds = AwsRds::from_env().await;
        let e = rds.endpoint(&instance(&id)).await.unwrap();
        assert_eq!(e.port, 6432);
        assert!(
            e.address
                .to_ascii_lowercase()
                .starts_with(&id.to_ascii_lowercase()),
            "{}",
            e.address
        );

        let cluster = unique("reports-").replace('_', "-");
        client
            .create_db_cluster()
            .db_cluster_identifier(&cluster)
            .engine("aurora-postgresql")
            .master_username("postgres")
            .master_user_password("Cluster-pw-123")
            .port(5433)
            .send()
            .await
            .unwrap();
        let e = rds
            .endpoint(&RdsResource {
                kind: RdsKind::Cluster,
                id: cluster.clone(),
            })
            .await
            .unwrap();
        assert_eq!(e.port, 5433);
        assert!(e.address.contains(&cluster), "{}", e.address);

        // A resource RDS does not have: one line naming it, not retried.
        let e = rds.endpoint(&instance("no-such-db")).await.unwrap_err();
        assert!(!e.retryable, "{e:?}");
        assert!(
            e.message.contains("instance no-such-db") && !e.message.contains('\n'),
            "{}",
            e.message
        );
    });
}

/// In a `[vpc]` the function reaches RDS through the endpoint rotgen makes, which has no
/// private DNS: `ROTGEN_RDS_ENDPOINT` is the URL its client asks when AWS's own endpoint
/// variables are not set (a deployed function), and AWS's win when they are (tests, an
/// operator's `rotgen rotate`). An endpoint that cannot be reached is one retryable line
/// naming the variable.
#[test]
fn aws_rds_asks_the_url_rotgen_rds_endpoint_gives() {
    if !common::services_running(&["AWS_ENDPOINT_URL"]) {
        return;
    }
    rt().block_on(async {
        let moto = env("AWS_ENDPOINT_URL");
        let config = aws().await;
        let id = unique("ledger-").replace('_', "-");
        aws_sdk_rds::Client::new(&config)
            .create_db_instance()
            .db_instance_identifier(&id)
            .db_instance_class("db.t3.micro")
            .engine("postgres")
            .master_username("postgres")
            .manage_master_user_password(true)
            .allocated_storage(20)
            .port(6433)
            .send()
            .await
            .unwrap();
        // The configuration of a function in a VPC: no AWS endpoint variable (and the
        // test's AWS_ENDPOINT_URL_RDS, if any, left out of what the function reads).
        let mut deployed = config.to_builder();
        deployed.set_endpoint_url(None);
        let deployed = deployed.build();
        let vars = |pairs: Vec<(&'static str, String)>| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
        };
        const DEAD: &str = "http://127.0.0.1:9";

        // Only ROTGEN_RDS_ENDPOINT leads to moto.
        let rds = AwsRds::from_config(&deployed, vars(vec![(ENDPOINT_VAR, moto.clone())]));
        let e = rds.endpoint(&instance(&id)).await.unwrap();
        assert_eq!(e.port, 6433);

        // AWS's own variable wins over it.
        let rds = AwsRds::from_config(&config, vars(vec![(ENDPOINT_VAR, DEAD.into())]));
        assert_eq!(rds.endpoint(&instance(&id)).await.unwrap().port, 6433);

        // An endpoint nothing answers at: one retryable line that names the variable.
        let rds = AwsRds::from_config(&deployed, vars(vec![(ENDPOINT_VAR, DEAD.into())]));
        let e = rds.endpoint(&instance(&id)).await.unwrap_err();
        assert!(e.retryable, "{e:?}");
        assert!(
            e.message.contains("could not reach the RDS API")
                && e.message.contains(ENDPOINT_VAR)
                && !e.message.contains('\n'),
            "{}",
            e.message
        );
    });
}

/// A PostgreSQL user made on the real server, its secret in moto with a master secret
/// that RDS would manage: `username` and `password` only.
struct Case {
    arn: String,
    master: String,
    old: Value,
}

async fn create_secret(name: &str, value: &Value) -> String {
    common::create_secret(name, &value.to_string()).await
}

async fn pg(sql: &str) {
    use sqlx::Connection;
    let url = format!(
        "postgres://{}:{}@127.0.0.1:{}/postgres?sslmode=disable",
        env("PG_SUPERUSER"),
        env("PG_SUPERPASSWORD"),
        env("PG_PORT")
    );
    let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut c)
        .await
        .unwrap();
}

async fn logs_in(v: &SecretValue) -> bool {
    backends::for_service("postgres")
        .unwrap()
        .login(v)
        .await
        .unwrap_or(false)
}

async fn case(host: &str, port: u16) -> Case {
    let user = unique("rds");
    let password = format!("Old-{}-pw", unique("p"));
    pg(&format!("CREATE ROLE {user} LOGIN PASSWORD '{password}'")).await;
    let master = json!({"username": env("PG_SUPERUSER"), "password": env("PG_SUPERPASSWORD")});
    // The name RDS gives the master secrets it manages.
    let master = create_secret(&format!("rds!db-{}", unique("").replace('x', "-")), &master).await;
    let old = json!({"engine": "postgres", "host": host, "port": port, "dbname": "postgres",
        "username": user, "password": password, "masterarn": master});
    let arn = create_secret(&format!("prod/{user}"), &old).await;
    Case { arn, master, old }
}

async fn handler<'a>(
    c: &Case,
    bound: Option<&str>,
    rds: &'a TestRds,
) -> Handler<AwsStore, backends::Shipped, &'a TestRds> {
    let bindings = bound.map(|id| (c.master.clone(), instance(id)));
    Handler {
        rotator: Rotator {
            store: AwsStore::from_env().await,
            backend: backends::for_service("postgres").unwrap(),
            strategy: Strategy::AlternatingUsers,
            policy: PasswordPolicy::from_vars(&Default::default(), "postgres").unwrap(),
            masters: Masters::of([&c.master]).with_rds(RdsMasters::of(bindings)),
            rds,
        },
    }
}

#[test]
fn a_master_rds_manages_acts_only_on_the_endpoint_rds_gives() {
    if !common::services_running(&["AWS_ENDPOINT_URL", "PG_PORT"]) {
        return;
    }
    rt().block_on(Box::pin(async {
        let pg_port: u16 = env("PG_PORT").parse().unwrap();

        // (a) The secret's host and port are the instance's endpoint: the rotation runs,
        // the master acting as RDS's master user on that server.
        let c = case("127.0.0.1", pg_port).await;
        let rds = TestRds {
            answers: vec![(
                instance("orders-db"),
                RdsEndpoint {
                    address: "127.0.0.1".into(),
                    port: pg_port,
                },
            )],
            ..TestRds::default()
        };
        let h = handler(&c, Some("orders-db"), &rds).await;
        Box::pin(rotate(&h, &c.arn, false)).await.unwrap();
        let now = stage(&c.arn, "AWSCURRENT").await.unwrap();
        assert_eq!(
            now.username().unwrap(),
            format!("{}_clone", c.old["username"].as_str().unwrap())
        );
        assert!(logs_in(&now).await, "the new AWSCURRENT logs in");
        assert_eq!(
            rds.asked.lock().unwrap().first(),
            Some(&instance("orders-db"))
        );
        // And back again.
        Box::pin(rotate(&h, &c.arn, false)).await.unwrap();
        let back = stage(&c.arn, "AWSCURRENT").await.unwrap();
        assert_eq!(
            back.username().unwrap(),
            c.old["username"].as_str().unwrap()
        );
        assert!(logs_in(&back).await);

        // (b) The secret names another server (a recording fake) while RDS says the
        // instance is elsewhere: refused before the master's credentials go anywhere.
        let (fake_port, seen) = common::net::fake(common::net::Fake::PostgresDeclines).await;
        for (answer, word) in [
            (
                RdsEndpoint {
                    address: "orders-db.abc.us-east-1.rds.amazonaws.com".into(),
                    port: fake_port,
                },
                "`host`",
            ),
            (
                RdsEndpoint {
                    address: "127.0.0.1".into(),
                    port: pg_port,
                },
                "`port`",
            ),
        ] {
            let c = case("127.0.0.1", fake_port).await;
            let rds = TestRds {
                answers: vec![(instance("orders-db"), answer)],
                ..TestRds::default()
            };
            let e = Box::pin(rotate(
                &handler(&c, Some("orders-db"), &rds).await,
                &c.arn,
                false,
            ))
            .await
            .unwrap_err()
            .to_string();
            assert!(e.contains(word) && e.contains("instance orders-db"), "{e}");
            assert!(!e.contains('\n'), "{e}");
            assert!(!e.contains(&env("PG_SUPERPASSWORD")), "{e}");
            assert_eq!(
                common::net::Seen::of(&seen).connections,
                0,
                "nothing reached the other server"
            );
        }

        // (c) A master RDS manages that the function's configuration binds to no
        // resource (or to another master): refused, RDS never asked, nothing changed.
        let c = case("127.0.0.1", pg_port).await;
        let rds = TestRds::default();
        let e = Box::pin(rotate(&handler(&c, None, &rds).await, &c.arn, false))
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("ROTGEN_MASTER_RDS"), "{e}");
        assert!(rds.asked.lock().unwrap().is_empty());
        let mut h = handler(&c, None, &rds).await;
        h.rotator.masters = Masters::of([&c.master]).with_rds(RdsMasters::of([(
            "rds!db-someone-else".to_string(),
            instance("orders-db"),
        )]));
        // (The refused rotation's AWSPENDING is still there: resume it.)
        let e = Box::pin(rotate(&h, &c.arn, true))
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("ROTGEN_MASTER_RDS"), "{e}");
        let current = stage(&c.arn, "AWSCURRENT").await.unwrap();
        assert_eq!(
            current.username().unwrap(),
            c.old["username"].as_str().unwrap()
        );
        assert!(logs_in(&current).await, "AWSCURRENT still logs in");

        // (d) RDS's own failure (no such instance) is one final line.
        let c = case("127.0.0.1", pg_port).await;
        let rds = TestRds::default();
        let e = Box::pin(rotate(
            &handler(&c, Some("orders-db"), &rds).await,
            &c.arn,
            false,
        ))
        .await
        .unwrap_err()
        .to_string();
        assert!(e.contains("RDS has no instance orders-db"), "{e}");
    }));
}
