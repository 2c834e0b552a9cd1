//! The shipped backends against real services on 127.0.0.1.
//!
//! Start them with `scripts/services.sh start postgres mariadb redis rabbitmq ldap`, then run with
//! `target/services/env` in the environment:
//!
//! ```sh
//! (. target/services/env && cargo test --test backends)
//! ```
//!
//! A test whose service variables are absent prints "skipping" and passes, unless
//! `ROTGEN_REQUIRE_SERVICES=1` is set: then it fails. The `http` tests need no service:
//! they run a tiny server of their own. Every test makes its own uniquely named users
//! and databases, and drops them at the end (also when it fails).

use rotgen::backends::ldap::Ldap;
use rotgen::backends::{self, Flavour, Http, Mysql, Postgres, Rabbitmq, Redis, Shipped, Trust};
use rotgen::rotation::backend::{Backend, BackendError, ErrorKind, SetPassword, Strategy};
use rotgen::rotation::secret::SecretValue;
use serde_json::{Value, json};
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlSslMode};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod common;

// ------------------------------------------------------------------ helpers

/// Passwords with every character a quoting bug would trip on.
const NASTY: &str = "p'a\"s\\s `w%o_r;d$1 --";

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The named variables, or `None` ("skipping") — a failure under ROTGEN_REQUIRE_SERVICES=1.
fn service_env(service: &str, names: &[&str]) -> Option<Vec<String>> {
    let values: Vec<Option<String>> = names.iter().map(|n| var(n)).collect();
    if values.iter().all(Option::is_some) {
        return Some(values.into_iter().map(Option::unwrap).collect());
    }
    let missing: Vec<&str> = names
        .iter()
        .zip(&values)
        .filter(|(_, v)| v.is_none())
        .map(|(n, _)| *n)
        .collect();
    if var("ROTGEN_REQUIRE_SERVICES").as_deref() == Some("1") {
        panic!(
            "ROTGEN_REQUIRE_SERVICES=1 but {} is not set: run scripts/services.sh start {service} and source target/services/env",
            missing.join(", ")
        );
    }
    eprintln!(
        "skipping: {} not set (scripts/services.sh start {service})",
        missing.join(", ")
    );
    None
}

/// A name no other test (or run) uses: short enough for MySQL's 32 with `_clone`.
fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "rg{tag}{:x}{:x}{}",
        std::process::id() % 0xfff,
        t % 0xfffff,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn secret(v: Value) -> SecretValue {
    SecretValue::parse(&v.to_string())
}

fn with(base: &SecretValue, extra: Value) -> SecretValue {
    let mut map = base.json().unwrap().clone();
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            map.remove(k);
        } else {
            map.insert(k.clone(), v.clone());
        }
    }
    SecretValue::Json(map)
}

fn single<'a>(
    admin: &'a SecretValue,
    current: &'a SecretValue,
    pending: &'a SecretValue,
) -> SetPassword<'a> {
    SetPassword {
        strategy: Strategy::SingleUser,
        admin,
        current,
        pending,
    }
}

fn alternating<'a>(
    admin: &'a SecretValue,
    current: &'a SecretValue,
    pending: &'a SecretValue,
) -> SetPassword<'a> {
    SetPassword {
        strategy: Strategy::AlternatingUsers,
        admin,
        current,
        pending,
    }
}

/// The error's message holds none of `secrets`.
fn assert_clean(e: &BackendError, secrets: &[&str]) {
    for s in secrets {
        assert!(
            !e.message.contains(s),
            "the message shows a password: {}",
            e.message
        );
    }
}

/// Runs `body`, then `cleanup` even if `body` panicked, then passes the panic on.
async fn guarded<B, C>(body: B, cleanup: C)
where
    B: Future<Output = ()> + Send + 'static,
    C: Future<Output = ()>,
{
    let r = tokio::spawn(body).await;
    cleanup.await;
    if let Err(e) = r {
        std::panic::resume_unwind(e.into_panic());
    }
}

// ------------------------------------------------------------------ PostgreSQL

#[derive(Clone)]
struct Pg {
    host: String,
    port: u16,
    user: String,
    password: String,
}

impl Pg {
    fn from_env() -> Option<Pg> {
        let v = service_env(
            "postgres",
            &["PG_HOST", "PG_PORT", "PG_SUPERUSER", "PG_SUPERPASSWORD"],
        )?;
        Some(Pg {
            host: v[0].clone(),
            port: v[1].parse().unwrap(),
            user: v[2].clone(),
            password: v[3].clone(),
        })
    }

    async fn conn_as(
        &self,
        db: &str,
        user: &str,
        password: &str,
    ) -> Result<PgConnection, sqlx::Error> {
        PgConnectOptions::new_without_pgpass()
            .host(&self.host)
            .port(self.port)
            .username(user)
            .password(password)
            .database(db)
            .ssl_mode(PgSslMode::Disable)
            .disable_statement_logging()
            .connect()
            .await
    }

    async fn conn(&self, db: &str) -> PgConnection {
        self.conn_as(db, &self.user, &self.password).await.unwrap()
    }

    async fn exec(&self, db: &str, sql: &str) {
        let mut c = self.conn(db).await;
        sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
            .execute(&mut c)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        c.close().await.unwrap();
    }

    /// The value `SELECT v FROM <table>` gives as `user`, or the SQLSTATE that refused it.
    async fn read_as(
        &self,
        db: &str,
        user: &str,
        password: &str,
        table: &str,
    ) -> Result<i32, String> {
        let mut c = self
            .conn_as(db, user, password)
            .await
            .map_err(|e| e.to_string())?;
        let r = sqlx::query_scalar::<_, i32>(AssertSqlSafe(format!("SELECT v FROM {table}")))
            .fetch_one(&mut c)
            .await
            .map_err(|e| match e {
                sqlx::Error::Database(d) => d.code().unwrap_or_default().to_string(),
                other => other.to_string(),
            });
        c.close().await.ok();
        r
    }

    async fn member_of(&self, user: &str, role: &str) -> bool {
        let mut c = self.conn("postgres").await;
        let b = sqlx::query_scalar::<_, bool>("SELECT pg_has_role($1, $2, 'MEMBER')")
            .bind(user)
            .bind(role)
            .fetch_one(&mut c)
            .await
            .unwrap();
        c.close().await.unwrap();
        b
    }

    fn master(&self) -> SecretValue {
        secret(json!({
            "engine": "postgres", "host": self.host, "port": self.port,
            "username": self.user, "password": self.password,
        }))
    }

    fn user_secret(&self, db: &str, user: &str, password: &str) -> SecretValue {
        // No `ssl`: TLS is tried first and these servers have none, so this also
        // exercises the plaintext fallback.
        secret(json!({
            "engine": "postgres", "host": self.host, "port": self.port.to_string(),
            "dbname": db, "username": user, "password": password,
        }))
    }
}

#[tokio::test]
async fn postgres_single_user() {
    let Some(pg) = Pg::from_env() else { return };
    let user = unique("pu");
    let other = unique("po");
    let p1 = format!("{NASTY}-1");
    pg.exec(
        "postgres",
        &format!(
            "CREATE ROLE \"{user}\" LOGIN PASSWORD 'first-pw'; CREATE ROLE \"{other}\" LOGIN PASSWORD 'x-pw'"
        ),
    )
    .await;
    pg.exec(
        "postgres",
        &format!("ALTER ROLE \"{user}\" PASSWORD {}", sql_literal(&p1)),
    )
    .await;

    let (pg2, user2, other2) = (pg.clone(), user.clone(), other.clone());
    let body = async move {
        let (pg, user, other) = (pg2, user2, other2);
        // Through `for_service`, as the Lambda builds it.
        let b = backends::for_service("postgres").unwrap();
        let p2 = format!("{NASTY}-2");
        let cur = pg.user_secret("postgres", &user, &p1);
        assert!(b.login(&cur).await.unwrap(), "the current password logs in");
        assert!(!b.login(&cur.with_credentials(None, "wrong")).await.unwrap());
        assert!(
            !b.login(&cur.with_credentials(Some("rg_nobody_here"), "x"))
                .await
                .unwrap(),
            "an unknown user is a rejected login"
        );

        let pending = cur.with_credentials(None, &p2);
        assert!(!b.login(&pending).await.unwrap());
        b.set_password(single(&cur, &cur, &pending)).await.unwrap();
        assert!(b.login(&pending).await.unwrap(), "the new password logs in");
        assert!(!b.login(&cur).await.unwrap(), "the old one does not");
        b.test(&pending).await.unwrap();
        // Again, with the new credentials as admin (a retried step): harmless.
        b.set_password(single(&pending, &cur, &pending))
            .await
            .unwrap();
        assert!(b.login(&pending).await.unwrap());

        // The old credentials as admin: an Auth error without the passwords.
        let e = b
            .set_password(single(&cur, &cur, &pending))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Auth, "{}", e.message);
        assert_clean(&e, &[&p1, &p2]);
        let e = b.test(&cur).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Auth);
        assert_clean(&e, &[&p1]);
        assert!(e.message.contains(&user), "{}", e.message);

        // A user may not change another's password: Permission, no password shown.
        let p3 = format!("{NASTY}-3");
        let victim = pg.user_secret("postgres", &other, &p3);
        let e = b
            .set_password(single(&pending, &victim, &victim))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Permission, "{}", e.message);
        assert!(e.message.contains("42501"), "{}", e.message);
        assert_clean(&e, &[&p2, &p3]);

        // ssl: true against a server without TLS fails (no plaintext fallback)...
        for ssl in [json!(true), json!("true")] {
            let strict = with(&pending, json!({ "ssl": ssl }));
            let e = b.login(&strict).await.unwrap_err();
            assert_ne!(e.kind, ErrorKind::Auth);
            assert_eq!(e.kind, ErrorKind::Unavailable, "{}", e.message);
            assert!(e.message.contains("TLS"), "{}", e.message);
            assert_clean(&e, &[&p2]);
            let e = b
                .set_password(single(&strict, &strict, &strict))
                .await
                .unwrap_err();
            assert_ne!(e.kind, ErrorKind::Auth);
        }
        // ...ssl: false is plaintext, and ssl absent fell back to it all along.
        assert!(
            b.login(&with(&pending, json!({"ssl": false})))
                .await
                .unwrap()
        );
        assert!(
            b.login(&with(&pending, json!({"ssl": null})))
                .await
                .unwrap()
        );
        // A missing database is a Config error.
        let e = b
            .login(&with(&pending, json!({"dbname": "rg_no_such_db"})))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Config, "{}", e.message);
    };
    guarded(body, async {
        pg.exec(
            "postgres",
            &format!("DROP ROLE IF EXISTS \"{user}\", \"{other}\""),
        )
        .await
    })
    .await;
}

/// A literal for the tests' own setup SQL.
fn sql_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

#[tokio::test]
async fn postgres_alternating_users() {
    let Some(pg) = Pg::from_env() else { return };
    let db = unique("pd");
    let app = unique("pa");
    let clone = format!("{app}_clone");
    let grp = unique("pg");
    let p1 = format!("{NASTY}-a1");
    pg.exec("postgres", &format!("CREATE DATABASE \"{db}\""))
        .await;
    pg.exec(
        "postgres",
        &format!(
            "CREATE ROLE \"{app}\" LOGIN PASSWORD {}; CREATE ROLE \"{grp}\" NOLOGIN; GRANT \"{grp}\" TO \"{app}\"",
            sql_literal(&p1)
        ),
    )
    .await;
    pg.exec(
        &db,
        &format!(
            "CREATE SCHEMA s;
             CREATE TABLE s.t (v int); INSERT INTO s.t VALUES (7);
             CREATE TABLE s.later (v int); INSERT INTO s.later VALUES (8);
             CREATE TABLE s.owned (v int); INSERT INTO s.owned VALUES (9);
             ALTER TABLE s.owned OWNER TO \"{app}\";
             CREATE SEQUENCE s.seq;
             REVOKE CONNECT ON DATABASE \"{db}\" FROM PUBLIC;
             GRANT CONNECT ON DATABASE \"{db}\" TO \"{app}\";
             GRANT USAGE ON SCHEMA s TO \"{app}\";
             GRANT SELECT ON s.t TO \"{app}\";
             GRANT USAGE ON SEQUENCE s.seq TO \"{app}\";"
        ),
    )
    .await;

    let (pg2, db2, app2, clone2, grp2) = (
        pg.clone(),
        db.clone(),
        app.clone(),
        clone.clone(),
        grp.clone(),
    );
    let body = async move {
        let (pg, db, app, clone, grp) = (pg2, db2, app2, clone2, grp2);
        let b = Postgres::new(Trust::none());
        let master = pg.master();
        let cur = pg.user_secret(&db, &app, &p1);
        let p2 = format!("{NASTY}-a2");
        let pending = cur.with_credentials(Some(&clone), &p2);
        assert!(b.login(&cur).await.unwrap());
        assert!(
            !b.login(&pending).await.unwrap(),
            "the clone does not exist yet"
        );

        b.set_password(alternating(&master, &cur, &pending))
            .await
            .unwrap();
        assert!(b.login(&pending).await.unwrap(), "the clone logs in");
        b.test(&pending).await.unwrap();
        // The clone reads what the template reads, including the template's own table.
        assert_eq!(pg.read_as(&db, &clone, &p2, "s.t").await, Ok(7));
        assert_eq!(pg.read_as(&db, &clone, &p2, "s.owned").await, Ok(9));
        assert_eq!(
            pg.read_as(&db, &clone, &p2, "s.later").await,
            Err("42501".into())
        );
        assert!(
            pg.member_of(&clone, &grp).await,
            "role memberships are copied"
        );
        // Twice: harmless.
        b.set_password(alternating(&master, &cur, &pending))
            .await
            .unwrap();
        assert!(b.login(&pending).await.unwrap());

        // The template gains a privilege and loses one and a role: the next rotation
        // (a new password for the clone) gives the clone the new one and takes nothing
        // away (revocations are made on both users of the pair).
        pg.exec(
            &db,
            &format!("GRANT SELECT ON s.later TO \"{app}\"; REVOKE SELECT ON s.t FROM \"{app}\"; REVOKE \"{grp}\" FROM \"{app}\""),
        )
        .await;
        let p3 = format!("{NASTY}-a3");
        let pending3 = cur.with_credentials(Some(&clone), &p3);
        b.set_password(alternating(&master, &cur, &pending3))
            .await
            .unwrap();
        assert!(b.login(&pending3).await.unwrap());
        assert!(
            !b.login(&pending).await.unwrap(),
            "the clone's old password is gone"
        );
        assert_eq!(pg.read_as(&db, &clone, &p3, "s.later").await, Ok(8));
        assert_eq!(
            pg.read_as(&db, &clone, &p3, "s.t").await,
            Ok(7),
            "nothing is revoked from the clone"
        );
        assert!(
            pg.member_of(&clone, &grp).await,
            "a role the clone holds is kept"
        );

        // The pair flips: the clone is current, the original gets a new password and
        // keeps its privileges (and its own table).
        let p4 = format!("{NASTY}-a4");
        let back = pending3.with_credentials(Some(&app), &p4);
        b.set_password(alternating(&master, &pending3, &back))
            .await
            .unwrap();
        assert!(b.login(&back).await.unwrap());
        assert!(!b.login(&cur).await.unwrap());
        assert_eq!(pg.read_as(&db, &app, &p4, "s.later").await, Ok(8));
        assert_eq!(pg.read_as(&db, &app, &p4, "s.owned").await, Ok(9));

        // Errors with the passwords in play never show them.
        let bad_master = with(&master, json!({"password": "wrong-master-pw"}));
        let e = b
            .set_password(alternating(&bad_master, &cur, &pending))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Auth);
        assert_clean(&e, &["wrong-master-pw", &p1, &p2, &pg.password]);
        // A non-superuser "master" may not create roles: Permission.
        let e = b
            .set_password(alternating(
                &back,
                &back,
                &cur.with_credentials(Some(&format!("{app}_x")), &p2),
            ))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Permission, "{}", e.message);
        assert_clean(&e, &[&p2, &p4]);
        // A template that does not exist is a Config error.
        let ghost = cur.with_credentials(Some("rg_ghost_template"), "x");
        let e = b
            .set_password(alternating(&master, &ghost, &pending))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Config, "{}", e.message);
    };
    let cleanup = async {
        let mut c = pg.conn(&db).await;
        sqlx::raw_sql(AssertSqlSafe(format!(
            "DROP OWNED BY \"{app}\", \"{clone}\" CASCADE"
        )))
        .execute(&mut c)
        .await
        .ok();
        c.close().await.ok();
        pg.exec(
            "postgres",
            &format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"),
        )
        .await;
        pg.exec(
            "postgres",
            &format!("DROP ROLE IF EXISTS \"{app}\", \"{clone}\", \"{app}_x\", \"{grp}\""),
        )
        .await;
    };
    guarded(body, cleanup).await;
}

#[tokio::test]
async fn postgres_keeps_an_aws_style_pair_working() {
    // AWS's functions made the clone a member of the original. Re-syncing must not
    // revoke what the clone only has through that membership.
    let Some(pg) = Pg::from_env() else { return };
    let db = unique("pd");
    let app = unique("pl");
    let clone = format!("{app}_clone");
    pg.exec("postgres", &format!("CREATE DATABASE \"{db}\""))
        .await;
    pg.exec(
        "postgres",
        &format!(
            "CREATE ROLE \"{app}\" LOGIN PASSWORD 'pl-1'; CREATE ROLE \"{clone}\" LOGIN PASSWORD 'pl-2'; GRANT \"{app}\" TO \"{clone}\""
        ),
    )
    .await;
    pg.exec(
        &db,
        &format!(
            "CREATE TABLE t (v int); INSERT INTO t VALUES (5); GRANT SELECT ON t TO \"{app}\""
        ),
    )
    .await;
    let (pg2, db2, app2, clone2) = (pg.clone(), db.clone(), app.clone(), clone.clone());
    let body = async move {
        let (pg, db, app, clone) = (pg2, db2, app2, clone2);
        let b = Postgres::new(Trust::none());
        // The clone is current; the original is pending.
        let cur = pg.user_secret(&db, &clone, "pl-2");
        let pending = cur.with_credentials(Some(&app), "pl-3");
        b.set_password(alternating(&pg.master(), &cur, &pending))
            .await
            .unwrap();
        assert_eq!(pg.read_as(&db, &app, "pl-3", "t").await, Ok(5));
        assert_eq!(pg.read_as(&db, &clone, "pl-2", "t").await, Ok(5));
        assert!(pg.member_of(&clone, &app).await, "the pair's link is kept");
    };
    let cleanup = async {
        pg.exec(
            "postgres",
            &format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"),
        )
        .await;
        pg.exec(
            "postgres",
            &format!("DROP ROLE IF EXISTS \"{clone}\", \"{app}\""),
        )
        .await;
    };
    guarded(body, cleanup).await;
}

// ------------------------------------------------------------------ MariaDB / MySQL

#[derive(Clone)]
struct My {
    host: String,
    port: u16,
    user: String,
    password: String,
}

impl My {
    fn from_env() -> Option<My> {
        let v = service_env(
            "mariadb",
            &[
                "MYSQL_HOST",
                "MYSQL_PORT",
                "MYSQL_ADMIN_USER",
                "MYSQL_ADMIN_PASSWORD",
            ],
        )?;
        Some(My {
            host: v[0].clone(),
            port: v[1].parse().unwrap(),
            user: v[2].clone(),
            password: v[3].clone(),
        })
    }

    async fn conn_as(&self, user: &str, password: &str) -> Result<MySqlConnection, sqlx::Error> {
        MySqlConnectOptions::new()
            .host(&self.host)
            .port(self.port)
            .username(user)
            .password(password)
            .ssl_mode(MySqlSslMode::Disabled)
            .disable_statement_logging()
            .connect()
            .await
    }

    async fn exec(&self, sqls: &[String]) {
        let mut c = self.conn_as(&self.user, &self.password).await.unwrap();
        for sql in sqls {
            sqlx::raw_sql(AssertSqlSafe(sql.clone()))
                .execute(&mut c)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        c.close().await.unwrap();
    }

    /// Runs `sql` as `user`: Ok, or the MySQL error number that refused it.
    async fn run_as(&self, user: &str, password: &str, sql: &str) -> Result<(), String> {
        let mut c = self
            .conn_as(user, password)
            .await
            .map_err(|e| e.to_string())?;
        let r = sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
            .execute(&mut c)
            .await
            .map(|_| ())
            .map_err(|e| match e {
                sqlx::Error::Database(d) => d
                    .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
                    .map(|m| m.number().to_string())
                    .unwrap_or_default(),
                other => other.to_string(),
            });
        c.close().await.ok();
        r
    }

    fn master(&self) -> SecretValue {
        secret(json!({
            "engine": "mariadb", "host": self.host, "port": self.port,
            "username": self.user, "password": self.password,
        }))
    }

    fn user_secret(&self, user: &str, password: &str) -> SecretValue {
        secret(json!({
            "engine": "mariadb", "host": self.host, "port": self.port,
            "username": user, "password": password,
        }))
    }
}

fn my_lit(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

#[tokio::test]
async fn mariadb_single_user() {
    let Some(my) = My::from_env() else { return };
    let db = unique("md");
    let user = unique("mu");
    let p1 = format!("{NASTY}-1");
    my.exec(&[
        format!("CREATE DATABASE `{db}`"),
        format!("CREATE TABLE `{db}`.t (v int)"),
        format!("INSERT INTO `{db}`.t VALUES (3)"),
        format!("CREATE USER '{user}'@'%' IDENTIFIED BY {}", my_lit(&p1)),
        format!("GRANT SELECT ON `{db}`.* TO '{user}'@'%'"),
    ])
    .await;
    let (my2, db2, user2) = (my.clone(), db.clone(), user.clone());
    let body = async move {
        let (my, db, user) = (my2, db2, user2);
        let b = backends::for_service("mariadb").unwrap();
        assert_eq!(b.max_username_len(), 80);
        assert_eq!(
            Mysql::new(Flavour::Mysql, Trust::none()).max_username_len(),
            32
        );
        let cur = with(&my.user_secret(&user, &p1), json!({"dbname": db}));
        assert!(b.login(&cur).await.unwrap());
        assert!(!b.login(&cur.with_credentials(None, "wrong")).await.unwrap());
        assert!(
            !b.login(&cur.with_credentials(Some("rg_nobody"), "x"))
                .await
                .unwrap()
        );

        let p2 = format!("{NASTY}-2");
        let pending = cur.with_credentials(None, &p2);
        b.set_password(single(&cur, &cur, &pending)).await.unwrap();
        assert!(b.login(&pending).await.unwrap(), "the new password logs in");
        assert!(!b.login(&cur).await.unwrap(), "the old one does not");
        b.test(&pending).await.unwrap();
        b.set_password(single(&pending, &cur, &pending))
            .await
            .unwrap();
        assert!(b.login(&pending).await.unwrap(), "twice is harmless");
        assert_eq!(
            my.run_as(&user, &p2, &format!("SELECT v FROM `{db}`.t"))
                .await,
            Ok(())
        );

        let e = b.test(&cur).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Auth);
        assert_clean(&e, &[&p1]);
        let e = b
            .set_password(single(&cur, &cur, &pending))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Auth);
        assert_clean(&e, &[&p1, &p2]);
        // This user may not change another user's password (it cannot even read
        // mysql.user): Permission, without the passwords.
        let other = my.user_secret(&my.user, "an0ther-pw");
        let e = b
            .set_password(single(&pending, &other, &other))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Permission, "{}", e.message);
        assert_clean(&e, &[&p2, "an0ther-pw", &my.password]);

        for ssl in [json!(true), json!("TRUE")] {
            let strict = with(&pending, json!({ "ssl": ssl }));
            let e = b.login(&strict).await.unwrap_err();
            assert_eq!(e.kind, ErrorKind::Unavailable, "{}", e.message);
            assert!(e.message.contains("TLS"), "{}", e.message);
            assert_clean(&e, &[&p2]);
        }
        assert!(
            b.login(&with(&pending, json!({"ssl": false})))
                .await
                .unwrap()
        );
        let e = b
            .login(&with(&pending, json!({"dbname": "rg_no_such_db"})))
            .await
            .unwrap_err();
        assert_ne!(e.kind, ErrorKind::Auth, "{}", e.message);
    };
    let cleanup = async {
        my.exec(&[
            format!("DROP USER IF EXISTS '{user}'@'%'"),
            format!("DROP DATABASE IF EXISTS `{db}`"),
        ])
        .await
    };
    guarded(body, cleanup).await;
}

#[tokio::test]
async fn mariadb_alternating_users() {
    let Some(my) = My::from_env() else { return };
    let db = unique("md");
    let app = unique("ma");
    let clone = format!("{app}_clone");
    let p1 = format!("{NASTY}-a1");
    my.exec(&[
        format!("CREATE DATABASE `{db}`"),
        format!("CREATE TABLE `{db}`.t (v int)"),
        format!("CREATE TABLE `{db}`.later (v int)"),
        format!("INSERT INTO `{db}`.t VALUES (3)"),
        format!("INSERT INTO `{db}`.later VALUES (4)"),
        format!("CREATE USER '{app}'@'%' IDENTIFIED BY {}", my_lit(&p1)),
        format!(
            "CREATE USER '{app}'@'localhost' IDENTIFIED BY {}",
            my_lit(&p1)
        ),
        format!("GRANT SELECT ON `{db}`.t TO '{app}'@'%'"),
        format!("GRANT SELECT (v) ON `{db}`.later TO '{app}'@'localhost'"),
    ])
    .await;
    let (my2, db2, app2, clone2) = (my.clone(), db.clone(), app.clone(), clone.clone());
    let body = async move {
        let (my, db, app, clone) = (my2, db2, app2, clone2);
        let b = Mysql::new(Flavour::Mariadb, Trust::none());
        let master = my.master();
        let cur = my.user_secret(&app, &p1);
        let p2 = format!("{NASTY}-a2");
        let pending = cur.with_credentials(Some(&clone), &p2);
        assert!(!b.login(&pending).await.unwrap());

        b.set_password(alternating(&master, &cur, &pending))
            .await
            .unwrap();
        assert!(b.login(&pending).await.unwrap(), "the clone logs in");
        b.test(&pending).await.unwrap();
        let read_t = format!("SELECT v FROM `{db}`.t");
        let read_later = format!("SELECT v FROM `{db}`.later");
        let insert_t = format!("INSERT INTO `{db}`.t VALUES (5)");
        assert_eq!(
            my.run_as(&clone, &p2, &read_t).await,
            Ok(()),
            "the clone reads what the template reads"
        );
        assert_eq!(my.run_as(&clone, &p2, &insert_t).await, Err("1142".into()));
        assert_eq!(
            my.run_as(&clone, &p2, &read_later).await,
            Err("1142".into())
        );
        b.set_password(alternating(&master, &cur, &pending))
            .await
            .unwrap();
        assert!(b.login(&pending).await.unwrap(), "twice is harmless");

        // Both hosts of the template got a clone account, with that host's grants.
        let hosts = clone_hosts(&my, &clone).await;
        assert_eq!(hosts, vec!["%".to_string(), "localhost".to_string()]);

        // The template gains INSERT and loses SELECT on t: the gain is carried over next
        // rotation, and nothing is revoked from the clone.
        my.exec(&[
            format!("GRANT INSERT, SELECT ON `{db}`.later TO '{app}'@'%'"),
            format!("REVOKE SELECT ON `{db}`.t FROM '{app}'@'%'"),
            format!("GRANT INSERT ON `{db}`.t TO '{app}'@'%'"),
        ])
        .await;
        let p3 = format!("{NASTY}-a3");
        let pending3 = cur.with_credentials(Some(&clone), &p3);
        b.set_password(alternating(&master, &cur, &pending3))
            .await
            .unwrap();
        assert!(b.login(&pending3).await.unwrap());
        assert!(!b.login(&pending).await.unwrap());
        assert_eq!(my.run_as(&clone, &p3, &insert_t).await, Ok(()));
        assert_eq!(my.run_as(&clone, &p3, &read_later).await, Ok(()));
        assert_eq!(
            my.run_as(&clone, &p3, &read_t).await,
            Ok(()),
            "nothing is revoked from the clone"
        );

        // The pair flips back.
        let p4 = format!("{NASTY}-a4");
        let back = pending3.with_credentials(Some(&app), &p4);
        b.set_password(alternating(&master, &pending3, &back))
            .await
            .unwrap();
        assert!(b.login(&back).await.unwrap());
        assert!(!b.login(&cur).await.unwrap());
        assert_eq!(my.run_as(&app, &p4, &insert_t).await, Ok(()));

        let bad = with(&master, json!({"password": "wrong-master-pw"}));
        let e = b
            .set_password(alternating(&bad, &cur, &pending))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Auth);
        assert_clean(&e, &["wrong-master-pw", &p1, &p2]);
        // The user itself as "master": it may not create users.
        let e = b
            .set_password(alternating(
                &back,
                &back,
                &back.with_credentials(Some(&format!("{app}_x")), &p2),
            ))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Permission, "{}", e.message);
        assert_clean(&e, &[&p2, &p4]);
    };
    let cleanup = async {
        my.exec(&[
            format!("DROP USER IF EXISTS '{app}'@'%', '{app}'@'localhost', '{clone}'@'%', '{clone}'@'localhost'"),
            format!("DROP DATABASE IF EXISTS `{db}`"),
        ])
        .await
    };
    guarded(body, cleanup).await;
}

async fn clone_hosts(my: &My, user: &str) -> Vec<String> {
    let mut c = my.conn_as(&my.user, &my.password).await.unwrap();
    let hosts: Vec<String> = sqlx::query_scalar(
        "SELECT CONVERT(Host USING utf8mb4) FROM mysql.user WHERE User = ? ORDER BY Host",
    )
    .bind(user)
    .fetch_all(&mut c)
    .await
    .unwrap();
    c.close().await.unwrap();
    hosts
}

// ------------------------------------------------------------------ Redis

#[derive(Clone)]
struct Rd {
    host: String,
    port: u16,
    user: String,
    password: String,
}

impl Rd {
    fn from_env() -> Option<Rd> {
        let v = service_env(
            "redis",
            &[
                "REDIS_HOST",
                "REDIS_PORT",
                "REDIS_ADMIN_USER",
                "REDIS_ADMIN_PASSWORD",
            ],
        )?;
        Some(Rd {
            host: v[0].clone(),
            port: v[1].parse().unwrap(),
            user: v[2].clone(),
            password: v[3].clone(),
        })
    }

    async fn conn_as(
        &self,
        user: &str,
        password: &str,
    ) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
        use redis::IntoConnectionInfo;
        let info = redis::ConnectionAddr::Tcp(self.host.clone(), self.port)
            .into_connection_info()?
            .set_redis_settings(
                redis::RedisConnectionInfo::default()
                    .set_username(user)
                    .set_password(password),
            );
        redis::Client::open(info)?
            .get_multiplexed_async_connection()
            .await
    }

    /// Runs a command as the admin.
    async fn admin(&self, args: &[&str]) {
        let mut c = self.conn_as(&self.user, &self.password).await.unwrap();
        let _: redis::Value = redis::cmd(args[0])
            .arg(&args[1..])
            .query_async(&mut c)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", args.join(" ")));
    }

    /// Runs a command as `user`: Ok, or the error code.
    async fn run_as(&self, user: &str, password: &str, args: &[&str]) -> Result<(), String> {
        let mut c = self
            .conn_as(user, password)
            .await
            .map_err(|e| e.code().unwrap_or("CONNECT").to_string())?;
        redis::cmd(args[0])
            .arg(&args[1..])
            .query_async::<redis::Value>(&mut c)
            .await
            .map(|_| ())
            .map_err(|e| e.code().unwrap_or("?").to_string())
    }

    fn secret(&self, user: &str, password: &str) -> SecretValue {
        secret(
            json!({"host": self.host, "port": self.port, "username": user, "password": password}),
        )
    }
}

#[tokio::test]
async fn redis_single_user() {
    let Some(rd) = Rd::from_env() else { return };
    let user = unique("ru");
    let weak = unique("rw");
    let p1 = format!("{NASTY}-1");
    let p1_rule = format!(">{p1}");
    rd.admin(&[
        "ACL", "SETUSER", &user, "on", &p1_rule, "~*", "&*", "+@all", "-@admin",
    ])
    .await;
    rd.admin(&["ACL", "SETUSER", &weak, "on", ">weak-pw", "-@all"])
        .await;
    let (rd2, user2, weak2) = (rd.clone(), user.clone(), weak.clone());
    let body = async move {
        let (rd, user, weak) = (rd2, user2, weak2);
        let b = backends::for_service("redis").unwrap();
        let admin = rd.secret(&rd.user, &rd.password);
        let s1 = rd.secret(&user, &p1);
        assert!(b.login(&s1).await.unwrap());
        assert!(!b.login(&s1.with_credentials(None, "wrong")).await.unwrap());
        assert!(
            !b.login(&s1.with_credentials(Some("rg_nobody"), "x"))
                .await
                .unwrap()
        );

        let p2 = format!("{NASTY}-2");
        let s2 = s1.with_credentials(None, &p2);
        b.set_password(single(&admin, &s1, &s2)).await.unwrap();
        assert!(b.login(&s2).await.unwrap(), "the new password logs in");
        assert!(
            b.login(&s1).await.unwrap(),
            "the current one still does (zero downtime)"
        );
        b.set_password(single(&admin, &s1, &s2)).await.unwrap();
        assert!(
            b.login(&s2).await.unwrap() && b.login(&s1).await.unwrap(),
            "twice is harmless"
        );
        b.test(&s2).await.unwrap();

        // The next rotation retires the password before the current one.
        let p3 = format!("{NASTY}-3");
        let s3 = s1.with_credentials(None, &p3);
        b.set_password(single(&admin, &s2, &s3)).await.unwrap();
        assert!(b.login(&s3).await.unwrap());
        assert!(b.login(&s2).await.unwrap());
        assert!(
            !b.login(&s1).await.unwrap(),
            "the password before the current one stops working"
        );
        assert_eq!(
            rd.run_as(&user, &p3, &["SET", &format!("{user}:k"), "v"])
                .await,
            Ok(())
        );

        // A user that may run nothing still passes the test (only AUTH must succeed).
        b.test(&rd.secret(&weak, "weak-pw")).await.unwrap();
        let e = b.test(&rd.secret(&weak, &p1)).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Auth);
        assert_clean(&e, &[&p1]);
        // A user without ACL rights cannot change passwords: Permission, nothing shown.
        let e = b
            .set_password(single(
                &rd.secret(&weak, "weak-pw"),
                &s3,
                &s1.with_credentials(None, &p1),
            ))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Permission, "{}", e.message);
        assert_clean(&e, &[&p1, &p3, "weak-pw"]);
        let e = b
            .set_password(single(
                &with(&admin, json!({"password": "bad-admin-pw"})),
                &s3,
                &s1,
            ))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Auth);
        assert_clean(&e, &["bad-admin-pw", &p1, &p3]);
        // A user that does not exist is not created in single-user.
        let ghost = rd.secret("rg_ghost_user", "g-pw");
        let e = b
            .set_password(single(&admin, &ghost, &ghost))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Config, "{}", e.message);

        // ssl: true against a plaintext port: an error, never a plaintext login.
        let strict = with(&s3, json!({"ssl": true}));
        let e = b.login(&strict).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unavailable, "{}", e.message);
        assert_clean(&e, &[&p3]);
        assert!(b.login(&with(&s3, json!({"ssl": false}))).await.unwrap());
    };
    let cleanup = async {
        rd.admin(&["ACL", "DELUSER", &user, &weak]).await;
    };
    guarded(body, cleanup).await;
}

#[tokio::test]
async fn redis_alternating_users() {
    let Some(rd) = Rd::from_env() else { return };
    let app = unique("ra");
    let clone = format!("{app}_clone");
    let keys = format!("~{app}:*");
    rd.admin(&[
        "ACL", "SETUSER", &app, "on", ">ra-1", &keys, "+get", "+set", "+ping",
    ])
    .await;
    let (rd2, app2, clone2) = (rd.clone(), app.clone(), clone.clone());
    let body = async move {
        let (rd, app, clone) = (rd2, app2, clone2);
        let b = Redis::new(Trust::none());
        let admin = rd.secret(&rd.user, &rd.password);
        let cur = rd.secret(&app, "ra-1");
        let pending = cur.with_credentials(Some(&clone), "ra-2");
        assert!(!b.login(&pending).await.unwrap());
        b.set_password(alternating(&admin, &cur, &pending))
            .await
            .unwrap();
        assert!(b.login(&pending).await.unwrap());
        let k = format!("{app}:k");
        assert_eq!(
            rd.run_as(&clone, "ra-2", &["SET", &k, "1"]).await,
            Ok(()),
            "the template's rules"
        );
        assert_eq!(
            rd.run_as(&clone, "ra-2", &["SET", "elsewhere", "1"]).await,
            Err("NOPERM".into())
        );
        assert_eq!(
            rd.run_as(&clone, "ra-2", &["DEL", &k]).await,
            Err("NOPERM".into())
        );
        b.set_password(alternating(&admin, &cur, &pending))
            .await
            .unwrap();

        rd.admin(&["ACL", "SETUSER", &app, "+del"]).await;
        let pending3 = cur.with_credentials(Some(&clone), "ra-3");
        b.set_password(alternating(&admin, &cur, &pending3))
            .await
            .unwrap();
        assert!(b.login(&pending3).await.unwrap());
        assert!(
            !b.login(&pending).await.unwrap(),
            "the clone has only the new password"
        );
        assert_eq!(
            rd.run_as(&clone, "ra-3", &["DEL", &k]).await,
            Ok(()),
            "a rule added later is copied"
        );
        assert!(b.login(&cur).await.unwrap(), "the template is untouched");
    };
    let cleanup = async {
        rd.admin(&["ACL", "DELUSER", &app, &clone]).await;
    };
    guarded(body, cleanup).await;
}

/// A TLS-only redis-server of the test's own (fixture certificates from a private CA),
/// stopped when dropped.
struct TlsRedis {
    child: std::process::Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/backends")
        .join(name)
}

async fn start_tls_redis() -> TlsRedis {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = std::env::temp_dir().join(unique("tls"));
    std::fs::create_dir_all(&dir).unwrap();
    let q = |p: std::path::PathBuf| format!("\"{}\"", p.display());
    let conf = format!(
        "port 0\nbind 127.0.0.1\ntls-port {port}\ntls-cert-file {}\ntls-key-file {}\n\
         tls-ca-cert-file {}\ntls-auth-clients no\nsave \"\"\nappendonly no\ndir {}\n\
         user default off\nuser admin on >admin-pw ~* &* +@all\nuser app on >app-pw ~* +@all -@admin\n",
        q(fixture("server.pem")),
        q(fixture("server.key")),
        q(fixture("ca.pem")),
        q(dir.clone()),
    );
    std::fs::write(dir.join("redis.conf"), conf).unwrap();
    let child = std::process::Command::new("redis-server")
        .arg(dir.join("redis.conf"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("redis-server runs (scripts/services.sh start redis installs it)");
    let server = TlsRedis { child, port, dir };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return server;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the TLS redis-server did not listen on 127.0.0.1:{port} within 5 s");
}

#[tokio::test]
async fn redis_tls_with_a_private_ca() {
    // Runs where the redis service runs (so redis-server is installed).
    if Rd::from_env().is_none() {
        return;
    }
    let server = start_tls_redis().await;
    let ca = Trust::from_pem(std::fs::read(fixture("ca.pem")).unwrap()).unwrap();
    let trusted = Redis::new(ca);
    let secret_for = |user: &str, password: &str, ssl: Value| {
        secret(
            json!({"host": "127.0.0.1", "port": server.port, "username": user,
                      "password": password, "ssl": ssl}),
        )
    };
    // ssl: true and ssl absent both use verified TLS here (a TLS-only port).
    for ssl in [json!(true), Value::Null] {
        let app = secret_for("app", "app-pw", ssl.clone());
        assert!(trusted.login(&app).await.unwrap(), "ssl={ssl}");
        assert!(
            !trusted
                .login(&app.with_credentials(None, "wrong"))
                .await
                .unwrap()
        );
        trusted.test(&app).await.unwrap();
    }
    let admin = secret_for("admin", "admin-pw", json!(true));
    let cur = secret_for("app", "app-pw", json!(true));
    let next = cur.with_credentials(None, "app-pw-2");
    trusted
        .set_password(single(&admin, &cur, &next))
        .await
        .unwrap();
    assert!(trusted.login(&next).await.unwrap() && trusted.login(&cur).await.unwrap());
    let by_name = with(&next, json!({"host": "localhost"}));
    assert!(
        trusted.login(&by_name).await.unwrap(),
        "the certificate names localhost"
    );

    // Without the private CA, the certificate is refused, whatever `ssl` says
    // (with `ssl` absent there is no plaintext to fall back to on a TLS port).
    let untrusted = Redis::new(Trust::none());
    for ssl in [json!(true), Value::Null] {
        let e = untrusted
            .login(&secret_for("app", "app-pw-2", ssl))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unavailable, "{}", e.message);
        assert!(e.message.contains("trusted CA"), "{}", e.message);
        assert_clean(&e, &["app-pw-2"]);
    }
    // ssl: false on a TLS-only port: an error, not a rejected login.
    let e = trusted
        .login(&secret_for("app", "app-pw-2", json!(false)))
        .await
        .unwrap_err();
    assert_ne!(e.kind, ErrorKind::Auth);
    drop(server);
}

// --------------------------------------------------- TLS: no plaintext after a refusal

/// A secret for a fake server at `port`, with `ssl` as given (`Null`: absent).
fn fake_secret(port: u16, ssl: Value) -> SecretValue {
    let mut v = json!({"host": "127.0.0.1", "port": port, "username": "app", "password": "Mitm-Secret-pw-1"});
    if !ssl.is_null() {
        v["ssl"] = ssl;
    }
    secret(v)
}

/// A master secret's credentials never travel weaker than the master secret asks:
/// an application secret (which others may write) saying `"ssl": false` points the
/// master at a relay that speaks plaintext only, and records every byte. The master
/// asks for TLS (`ssl: true`), so no backend sends it a byte of the master's login.
#[tokio::test]
async fn a_master_secret_never_travels_weaker_than_it_asks() {
    use common::net::{Fake, Seen, fake};
    const MASTER: &str = "master-user";
    const MASTER_PW: &str = "Master-Secret-pw-9";
    let master_of = |port: u16| {
        secret(
            json!({"host": "127.0.0.1", "port": port, "username": MASTER, "password": MASTER_PW, "ssl": true}),
        )
    };
    let basic = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(format!("{MASTER}:{MASTER_PW}"))
    };
    let cases: Vec<(&str, Fake, Shipped)> = vec![
        (
            "postgres",
            Fake::PostgresDeclines,
            Shipped::Postgres(Postgres::new(Trust::none())),
        ),
        (
            "mariadb",
            Fake::MysqlUntrusted,
            Shipped::Mysql(Mysql::new(Flavour::Mariadb, Trust::none())),
        ),
        (
            "redis",
            Fake::RedisPlaintext,
            Shipped::Redis(Redis::new(Trust::none())),
        ),
        // A plaintext recorder stands in for the HTTP and LDAP relays.
        (
            "rabbitmq",
            Fake::RedisPlaintext,
            Shipped::Rabbitmq(Rabbitmq::new(Trust::none())),
        ),
        (
            "ldap",
            Fake::RedisPlaintext,
            Shipped::Ldap(Ldap::new(Trust::none())),
        ),
    ];
    for (name, kind, backend) in cases {
        for strategy in [Strategy::SingleUser, Strategy::AlternatingUsers] {
            let (port, seen) = fake(kind).await;
            let app = fake_secret(port, json!(false));
            let pending = with(&app, json!({"password": "Pending-pw-2"}));
            let master = master_of(port);
            let r = backend
                .set_password(SetPassword {
                    strategy,
                    admin: &master,
                    current: &app,
                    pending: &pending,
                })
                .await;
            let e = r.expect_err(name);
            assert_clean(&e, &[MASTER_PW]);
            let seen = Seen::of(&seen);
            for leaked in [MASTER, MASTER_PW, basic.as_str()] {
                assert!(
                    !seen.contains(leaked),
                    "{name} ({strategy:?}): the relay saw `{leaked}` in plaintext: {}",
                    String::from_utf8_lossy(&seen.plaintext)
                );
            }
        }
    }
}

/// Against a man in the middle whose certificate fails verification, every backend
/// refuses, with `ssl` absent as with `ssl: true`, and sends it nothing in plaintext:
/// TLS attempts only (a second one tries the system's store), none in the clear.
#[tokio::test]
async fn a_failed_certificate_check_never_falls_back_to_plaintext() {
    use common::net::{Fake, fake};
    let trust = Trust::from_env().unwrap();
    let postgres = Postgres::new(trust.clone());
    let mysql = Mysql::new(Flavour::Mariadb, trust.clone());
    for ssl in [Value::Null, json!(true)] {
        let (port, seen) = fake(Fake::PostgresUntrusted).await;
        let e = postgres
            .login(&fake_secret(port, ssl.clone()))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unavailable, "{}", e.message);
        assert!(e.message.contains("TLS"), "{}", e.message);
        let seen = common::net::Seen::of(&seen);
        // One TLS attempt, and one more against the system's store: both TLS.
        assert!(
            (1..=2).contains(&seen.connections),
            "postgres, ssl {ssl}: no plaintext retry"
        );
        assert!(
            seen.plaintext.is_empty(),
            "postgres, ssl {ssl}: nothing sent in the clear"
        );

        let (port, seen) = fake(Fake::MysqlUntrusted).await;
        let e = mysql
            .login(&fake_secret(port, ssl.clone()))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unavailable, "{}", e.message);
        let seen = common::net::Seen::of(&seen);
        assert!(
            (1..=2).contains(&seen.connections),
            "mysql, ssl {ssl}: no plaintext retry"
        );
        assert!(
            seen.plaintext.is_empty(),
            "mysql, ssl {ssl}: nothing sent in the clear"
        );
    }
    // A password change is refused the same way, before any statement.
    let (port, seen) = fake(Fake::PostgresUntrusted).await;
    let s = fake_secret(port, Value::Null);
    let pending = s.with_credentials(None, "Mitm-New-pw-2");
    assert!(
        postgres
            .set_password(single(&s, &s, &pending))
            .await
            .is_err()
    );
    assert!(
        !common::net::Seen::of(&seen).contains("Mitm"),
        "no password reached the fake"
    );
}

/// A server that declines TLS gets nothing when the secret says `ssl: true`; with `ssl`
/// absent it is the one case plaintext is allowed (and logged as a warning).
#[tokio::test]
async fn a_server_that_declines_tls_gets_nothing_when_the_secret_requires_it() {
    use common::net::{Fake, fake};
    let postgres = Postgres::new(Trust::none());
    let (port, seen) = fake(Fake::PostgresDeclines).await;
    let e = postgres
        .login(&fake_secret(port, json!(true)))
        .await
        .unwrap_err();
    assert!(e.message.contains("does not offer TLS"), "{}", e.message);
    assert!(common::net::Seen::of(&seen).plaintext.is_empty());

    let redis = Redis::new(Trust::none());
    let (port, seen) = fake(Fake::RedisPlaintext).await;
    let _ = redis.login(&fake_secret(port, json!(true))).await;
    assert!(
        !common::net::Seen::of(&seen).contains("Mitm-Secret"),
        "no Redis AUTH in the clear"
    );
}

/// A secret is writable by whoever can write the application's secret, so under the
/// function's TLS floor (`ROTGEN_REQUIRE_TLS=true`, which generated templates set) its
/// `ssl: false` (or no `ssl`) cannot make the function send a login in plaintext: the
/// real services here have no TLS, so every login is refused with the reason, and the
/// same secret without the floor logs in (what made this a downgrade before).
#[tokio::test]
async fn a_secret_cannot_turn_tls_off_under_the_functions_floor() {
    let (Some(pg), Some(my), Some(rd)) = (Pg::from_env(), My::from_env(), Rd::from_env()) else {
        return;
    };
    let floor = Trust::none().requiring_tls();
    let cases: Vec<(&str, SecretValue, Shipped)> = vec![
        (
            "postgres",
            pg.master(),
            Shipped::Postgres(Postgres::new(floor.clone())),
        ),
        (
            "mariadb",
            my.master(),
            Shipped::Mysql(Mysql::new(Flavour::Mariadb, floor.clone())),
        ),
        (
            "redis",
            rd.secret(&rd.user, &rd.password),
            Shipped::Redis(Redis::new(floor.clone())),
        ),
    ];
    let open: [Shipped; 3] = [
        Shipped::Postgres(Postgres::new(Trust::none())),
        Shipped::Mysql(Mysql::new(Flavour::Mariadb, Trust::none())),
        Shipped::Redis(Redis::new(Trust::none())),
    ];
    for ((name, base, floored), unfloored) in cases.into_iter().zip(open) {
        for ssl in [json!(false), json!("false"), Value::Null] {
            let s = if ssl.is_null() {
                base.clone()
            } else {
                with(&base, json!({"ssl": ssl}))
            };
            assert!(
                unfloored.login(&s).await.unwrap(),
                "{name}, ssl {ssl}: without the floor the secret's choice stands"
            );
            let e = floored.login(&s).await.unwrap_err();
            assert!(
                e.message.contains("ROTGEN_REQUIRE_TLS=true"),
                "{name}, ssl {ssl}: {}",
                e.message
            );
            assert!(!e.message.contains('\n'), "one line: {}", e.message);
            assert_clean(&e, &[s.password().unwrap()]);
        }
    }
    // Against recording fakes: not a byte of a login in the clear.
    use common::net::{Fake, fake};
    let (port, seen) = fake(Fake::PostgresDeclines).await;
    let e = Postgres::new(floor.clone())
        .login(&fake_secret(port, json!(false)))
        .await
        .unwrap_err();
    assert!(e.message.contains("does not offer TLS"), "{}", e.message);
    assert!(common::net::Seen::of(&seen).plaintext.is_empty());
    let (port, seen) = fake(Fake::RedisPlaintext).await;
    let _ = Redis::new(floor.clone())
        .login(&fake_secret(port, json!(false)))
        .await;
    assert!(!common::net::Seen::of(&seen).contains("Mitm-Secret"));
}

/// With `ssl` absent and a server that declines TLS, the plaintext connection is logged
/// as a warning inside the rotation's span, which names the secret.
#[test]
fn plaintext_after_a_declined_tls_is_a_warning_naming_the_secret() {
    use common::net::{Fake, fake};
    use rotgen::rotation::password::PasswordPolicy;
    use rotgen::rotation::steps::{Caller, Rotator};
    use rotgen::rotation::testing::MemoryStore;
    use rotgen::rotation::trust::Masters;
    use rotgen::rotation::{RotationEvent, Step};

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        rt.block_on(async {
            let (port, seen) = fake(Fake::PostgresDeclines).await;
            let store = MemoryStore::default();
            let arn = store.create(
                "prod/declined",
                &fake_secret(port, Value::Null).to_secret_string(),
                true,
            );
            let rotator = Rotator {
                store: &store,
                backend: Postgres::new(Trust::none()),
                strategy: Strategy::SingleUser,
                policy: PasswordPolicy::from_vars(&HashMap::new(), "postgres").unwrap(),
                masters: Masters::none(),
                rds: rotgen::rotation::rds::NoRds,
            };
            store.stage_pending(&arn, "t-1");
            for step in [Step::Create, Step::Set] {
                let event = RotationEvent {
                    step,
                    secret_id: arn.clone(),
                    token: "t-1".into(),
                    rotation_token: None,
                };
                let _ = rotator.handle(&event, Caller::SecretsManager).await;
            }
            assert!(common::net::Seen::of(&seen).connections >= 1);
        })
    });
    let logs = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    let line = logs
        .lines()
        .find(|l| l.contains("declined TLS"))
        .unwrap_or_else(|| panic!("no warning in:\n{logs}"));
    assert!(line.contains("WARN"), "{line}");
    assert!(
        line.contains("prod/declined"),
        "the warning names the secret: {line}"
    );
    assert!(!logs.contains("Mitm-Secret"), "no password in the logs");
}

// ------------------------------------------------------------------ HTTP

/// A tiny server implementing the `http` contract (see `src/backends/http.rs`) on
/// 127.0.0.1, plain HTTP. `admin` may change any password; a user may change its own.
struct Service {
    url: String,
    users: Arc<Mutex<HashMap<String, String>>>,
    posts: Arc<AtomicU32>,
}

fn b64decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return None,
        } as u32;
        buf = (buf << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
            buf &= (1 << bits) - 1;
        }
    }
    Some(out)
}

async fn serve_http(fail_with: Option<u16>) -> Service {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let users: Arc<Mutex<HashMap<String, String>>> = Arc::new(Mutex::new(HashMap::from([
        ("admin".to_string(), "admin-pw".to_string()),
        ("app".to_string(), format!("{NASTY}-h1")),
    ])));
    let posts = Arc::new(AtomicU32::new(0));
    let (u, p) = (users.clone(), posts.clone());
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let (users, posts) = (u.clone(), p.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let head_end = loop {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let mut lines = head.split("\r\n");
                let request = lines.next().unwrap_or("").to_string();
                let mut auth = None;
                let mut length = 0usize;
                for l in lines {
                    if let Some((k, v)) = l.split_once(':') {
                        match k.trim().to_ascii_lowercase().as_str() {
                            "authorization" => {
                                auth = v.trim().strip_prefix("Basic ").map(str::to_string)
                            }
                            "content-length" => length = v.trim().parse().unwrap_or(0),
                            _ => {}
                        }
                    }
                }
                while buf.len() < head_end + length {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let body = &buf[head_end..(head_end + length).min(buf.len())];
                let who = auth
                    .and_then(|a| b64decode(&a))
                    .and_then(|d| String::from_utf8(d).ok())
                    .and_then(|d| {
                        d.split_once(':')
                            .map(|(u, p)| (u.to_string(), p.to_string()))
                    })
                    .filter(|(u, p)| users.lock().unwrap().get(u) == Some(p))
                    .map(|(u, _)| u);
                let status = match (fail_with, request.split(' ').next(), who) {
                    (Some(code), _, _) => code,
                    (None, _, None) => 401,
                    (None, Some("GET"), Some(_)) => 200,
                    (None, Some("POST"), Some(who)) => {
                        posts.fetch_add(1, Ordering::Relaxed);
                        match serde_json::from_slice::<Value>(body) {
                            Ok(v) => match (v["username"].as_str(), v["password"].as_str()) {
                                (Some(u), Some(p)) if who == "admin" || who == u => {
                                    users.lock().unwrap().insert(u.to_string(), p.to_string());
                                    200
                                }
                                (Some(_), Some(_)) => 403,
                                _ => 400,
                            },
                            Err(_) => 400,
                        }
                    }
                    _ => 405,
                };
                let resp = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    Service {
        url: format!("http://127.0.0.1:{port}/rotgen/password"),
        users,
        posts,
    }
}

#[tokio::test]
async fn http_contract() {
    let svc = serve_http(None).await;
    let b = Http::new(Trust::none(), true);
    let p1 = format!("{NASTY}-h1");
    let cur = secret(json!({"url": svc.url, "username": "app", "password": p1}));
    assert!(b.login(&cur).await.unwrap());
    assert!(!b.login(&cur.with_credentials(None, "wrong")).await.unwrap());
    b.test(&cur).await.unwrap();

    // Single user: the user's own credentials change its password.
    let p2 = format!("{NASTY}-h2");
    let pending = cur.with_credentials(None, &p2);
    b.set_password(single(&cur, &cur, &pending)).await.unwrap();
    assert!(b.login(&pending).await.unwrap());
    assert!(!b.login(&cur).await.unwrap());
    assert_eq!(svc.users.lock().unwrap()["app"], p2);
    // Again, as a retried step would (with the now valid credentials): harmless.
    b.set_password(single(&pending, &cur, &pending))
        .await
        .unwrap();
    b.test(&pending).await.unwrap();

    // Rejected admin credentials: Auth, and the message shows no password.
    let e = b
        .set_password(single(&cur, &cur, &pending))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Auth);
    assert_clean(&e, &[&p1, &p2]);
    let e = b.test(&cur).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Auth);
    assert_clean(&e, &[&p1]);

    // Alternating users: the master changes (creates) the clone.
    let master = secret(json!({"url": svc.url, "username": "admin", "password": "admin-pw"}));
    let clone = pending.with_credentials(Some("app_clone"), "h-clone-pw");
    b.set_password(alternating(&master, &pending, &clone))
        .await
        .unwrap();
    assert!(b.login(&clone).await.unwrap());
    // A user may not change another's password: Permission.
    let e = b
        .set_password(single(
            &pending,
            &clone,
            &clone.with_credentials(None, "other-pw"),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permission, "{}", e.message);
    assert_clean(&e, &["other-pw", &p2]);
    assert!(svc.posts.load(Ordering::Relaxed) >= 4);
}

#[tokio::test]
async fn http_requires_https_without_the_escape_hatch() {
    let svc = serve_http(None).await;
    let s = secret(json!({"url": svc.url, "username": "app", "password": format!("{NASTY}-h1")}));
    for b in [
        Http::new(Trust::none(), false),
        Http::from_env(Trust::none()),
    ] {
        if std::env::var("ROTGEN_HTTP_ALLOW_INSECURE_LOOPBACK").as_deref() == Ok("1") {
            continue;
        }
        let e = b.login(&s).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Config, "{}", e.message);
        assert!(e.message.contains("https"), "{}", e.message);
        let e = b.set_password(single(&s, &s, &s)).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Config);
        assert_clean(&e, &[NASTY]);
    }
    assert_eq!(svc.posts.load(Ordering::Relaxed), 0, "nothing was sent");
    // The escape hatch covers loopback only.
    let far = with(&s, json!({"url": "http://192.0.2.1/pw"}));
    let e = Http::new(Trust::none(), true)
        .login(&far)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Config);
    // An https URL is accepted, and a server that is not there is Unavailable.
    let tls = with(&s, json!({"url": "https://127.0.0.1:1/pw"}));
    let e = Http::new(Trust::none(), false)
        .login(&tls)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unavailable, "{}", e.message);
    assert_clean(&e, &[NASTY]);
}

#[tokio::test]
async fn http_errors_are_classified() {
    for (code, kind) in [
        (500, ErrorKind::Service),
        (503, ErrorKind::Unavailable),
        (404, ErrorKind::Config),
        (302, ErrorKind::Config),
    ] {
        let svc = serve_http(Some(code)).await;
        let s = secret(json!({"url": svc.url, "username": "app", "password": "h-pw-x"}));
        let b = Http::new(Trust::none(), true);
        let e = b.login(&s).await.unwrap_err();
        assert_eq!(e.kind, kind, "{code}: {}", e.message);
        let e = b.set_password(single(&s, &s, &s)).await.unwrap_err();
        assert_eq!(e.kind, kind, "{code}: {}", e.message);
        assert!(e.message.contains(&code.to_string()), "{}", e.message);
        assert_clean(&e, &["h-pw-x"]);
    }
}

#[tokio::test]
async fn random_needs_no_service() {
    let b = backends::for_service("random").unwrap();
    assert!(!b.has_users());
    let v = SecretValue::parse("some-random-value");
    assert!(b.login(&v).await.unwrap());
    b.test(&v).await.unwrap();
    b.set_password(single(&v, &v, &v)).await.unwrap();
    assert!(b.test(&SecretValue::parse("")).await.is_err());
}

// ------------------------------------------------------------------ RabbitMQ

/// The broker scripts/services.sh starts (TLS only, certificate from the fixture CA),
/// driven through its management API as the admin (not with the backend under test).
#[derive(Clone)]
struct Rq {
    host: String,
    port: u16,
    user: String,
    password: String,
    ca: Vec<u8>,
}

impl Rq {
    fn from_env() -> Option<Rq> {
        let v = service_env(
            "rabbitmq",
            &[
                "RABBITMQ_HOST",
                "RABBITMQ_PORT",
                "RABBITMQ_ADMIN_USER",
                "RABBITMQ_ADMIN_PASSWORD",
                "RABBITMQ_CA_FILE",
            ],
        )?;
        Some(Rq {
            host: v[0].clone(),
            port: v[1].parse().unwrap(),
            user: v[2].clone(),
            password: v[3].clone(),
            ca: std::fs::read(&v[4]).unwrap(),
        })
    }

    fn backend(&self) -> Rabbitmq {
        Rabbitmq::new(Trust::from_pem(self.ca.clone()).unwrap())
    }

    /// One management API call as `user`: the status and the JSON answer.
    async fn call_as(
        &self,
        user: &str,
        password: &str,
        method: reqwest::Method,
        path: &[&str],
        body: Option<Value>,
    ) -> (u16, Value) {
        let at = (self.host.as_str(), self.port, self.ca.as_slice());
        common::rabbitmq_api(at, (user, password), method, path, body).await
    }

    async fn admin(&self, method: reqwest::Method, path: &[&str], body: Option<Value>) -> Value {
        let (status, v) = self
            .call_as(&self.user, &self.password, method.clone(), path, body)
            .await;
        assert!(status < 300, "{method} {path:?}: {status} {v}");
        v
    }

    async fn put(&self, path: &[&str], body: Value) {
        self.admin(reqwest::Method::PUT, path, Some(body)).await;
    }

    async fn delete_users(&self, users: &[&str]) {
        for u in users {
            let _ = self
                .call_as(
                    &self.user,
                    &self.password,
                    reqwest::Method::DELETE,
                    &["users", u],
                    None,
                )
                .await;
        }
    }

    /// Whether `user` logs in with `password` (the broker's own authentication check:
    /// `GET /api/whoami`, 401 "Not management user" for a user without tags).
    async fn logs_in(&self, user: &str, password: &str) -> bool {
        let (status, v) = self
            .call_as(user, password, reqwest::Method::GET, &["whoami"], None)
            .await;
        status == 200 || v["reason"] == "Not management user"
    }

    async fn tags(&self, user: &str) -> Vec<String> {
        let v = self
            .admin(reqwest::Method::GET, &["users", user], None)
            .await;
        let mut t: Vec<String> = v["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_string())
            .collect();
        t.sort();
        t
    }

    /// `user`'s permissions (or topic permissions) as (vhost, exchange, patterns…).
    async fn perms(&self, user: &str, kind: &str) -> Vec<Vec<String>> {
        let v = self
            .admin(reqwest::Method::GET, &["users", user, kind], None)
            .await;
        let mut out: Vec<Vec<String>> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                ["vhost", "exchange", "configure", "write", "read"]
                    .iter()
                    .map(|k| p[*k].as_str().unwrap_or("").to_string())
                    .collect()
            })
            .collect();
        out.sort();
        out
    }

    fn secret(&self, user: &str, password: &str) -> SecretValue {
        secret(
            json!({"engine": "rabbitmq", "host": self.host, "port": self.port,
            "username": user, "password": password}),
        )
    }
}

/// A user name that a URL resolves as a path step (`..`, `.`) never reaches the
/// management API: `PUT /api/users/..` would be `PUT /api/users`, and an alternating
/// pair's clone worse. Refused with one line, before any call.
#[tokio::test]
async fn rabbitmq_refuses_a_user_name_that_is_a_path_step() {
    let Some(rq) = Rq::from_env() else { return };
    let b = rq.backend();
    let admin = rq.secret(&rq.user, &rq.password);
    for name in ["..", "."] {
        let current = rq.secret(name, "Dot-pw-1");
        let pending = rq.secret(name, "Dot-pw-2");
        for strategy in [Strategy::SingleUser, Strategy::AlternatingUsers] {
            let e = b
                .set_password(SetPassword {
                    strategy,
                    admin: &admin,
                    current: &current,
                    pending: &pending,
                })
                .await
                .unwrap_err();
            assert!(
                e.message.contains("cannot stand in a management API path"),
                "{name}: {}",
                e.message
            );
            assert_clean(&e, &["Dot-pw-2", &rq.password]);
        }
    }
    // The administrator (whose path `/api/users/..` neighbours) is untouched.
    assert!(rq.logs_in(&rq.user, &rq.password).await);
    assert_eq!(rq.tags(&rq.user).await, ["administrator"]);
}

#[tokio::test]
async fn rabbitmq_single_user() {
    let Some(rq) = Rq::from_env() else { return };
    let (user, app) = (unique("qu"), unique("qa"));
    let p1 = format!("{NASTY}-1");
    rq.put(
        &["users", &user],
        json!({"password": p1, "tags": "monitoring"}),
    )
    .await;
    // An application user: no tags, so no management access of its own.
    rq.put(&["users", &app], json!({"password": "app-pw", "tags": ""}))
        .await;
    let (rq2, user2, app2) = (rq.clone(), user.clone(), app.clone());
    let body = async move {
        let (rq, user, app) = (rq2, user2, app2);
        let b = rq.backend();
        let admin = rq.secret(&rq.user, &rq.password);
        let s1 = rq.secret(&user, &p1);
        assert!(b.login(&s1).await.unwrap());
        assert!(!b.login(&s1.with_credentials(None, "wrong")).await.unwrap());
        assert!(!b.login(&rq.secret("rg_nobody", "x")).await.unwrap());
        let a = rq.secret(&app, "app-pw");
        assert!(b.login(&a).await.unwrap(), "a user without tags logs in");
        assert!(
            !b.login(&a.with_credentials(None, "app-wrong"))
                .await
                .unwrap()
        );
        b.test(&a).await.unwrap();

        let p2 = format!("{NASTY}-2");
        let s2 = s1.with_credentials(None, &p2);
        b.set_password(single(&admin, &s1, &s2)).await.unwrap();
        assert!(rq.logs_in(&user, &p2).await, "the new password logs in");
        assert!(!rq.logs_in(&user, &p1).await, "RabbitMQ keeps one password");
        assert_eq!(rq.tags(&user).await, ["monitoring"], "the tags are kept");
        b.set_password(single(&admin, &s1, &s2)).await.unwrap();
        assert!(rq.logs_in(&user, &p2).await, "twice is harmless");
        b.test(&s2).await.unwrap();
        let e = b.test(&s1).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Auth);
        assert_clean(&e, &[&p1]);

        // A user that is not an administrator cannot change passwords, even its own.
        let e = b.set_password(single(&s2, &s2, &s1)).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Permission, "{}", e.message);
        assert!(e.message.contains("administrator"), "{}", e.message);
        assert_clean(&e, &[&p1, &p2]);
        assert!(rq.logs_in(&user, &p2).await);
        // Wrong admin credentials: Auth, nothing shown.
        let bad = admin.with_credentials(None, "bad-admin-pw");
        let e = b.set_password(single(&bad, &s2, &s1)).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Auth, "{}", e.message);
        assert_clean(&e, &["bad-admin-pw", &p1, &p2]);
        // A user that does not exist is not created in single-user.
        let ghost = rq.secret(&unique("qg"), "g-pw");
        let e = b
            .set_password(single(&admin, &ghost, &ghost))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Config, "{}", e.message);

        // The broker's certificate is verified: without the private CA, no login and no
        // password sent in the clear instead.
        let e = Rabbitmq::new(Trust::none()).login(&s2).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unavailable, "{}", e.message);
        assert!(
            e.message.contains("not signed by a trusted CA"),
            "{}",
            e.message
        );
        assert_clean(&e, &[&p2]);
        // `ssl: false` asks for http:// to a TLS port: an error, not a login; under the
        // function's TLS floor the secret cannot ask for it at all.
        let plain = with(&s2, json!({"ssl": false}));
        assert!(b.login(&plain).await.is_err());
        let floor = Rabbitmq::new(Trust::from_pem(rq.ca.clone()).unwrap().requiring_tls());
        assert!(floor.login(&plain).await.unwrap());
    };
    let cleanup = async {
        rq.delete_users(&[&user, &app]).await;
    };
    guarded(body, cleanup).await;
}

#[tokio::test]
async fn rabbitmq_alternating_users() {
    let Some(rq) = Rq::from_env() else { return };
    let app = unique("qa");
    let clone = format!("{app}_clone");
    let vhost = format!("v_{app}");
    rq.put(&["vhosts", &vhost], json!({})).await;
    rq.put(
        &["users", &app],
        json!({"password": "qa-1", "tags": "monitoring"}),
    )
    .await;
    rq.put(
        &["permissions", "/", &app],
        json!({"configure": "^app-.*", "write": ".*", "read": ".*"}),
    )
    .await;
    rq.put(
        &["permissions", &vhost, &app],
        json!({"configure": "", "write": "", "read": "^q$"}),
    )
    .await;
    rq.put(
        &["topic-permissions", "/", &app],
        json!({"exchange": "amq.topic", "write": "^app\\.", "read": ".*"}),
    )
    .await;
    let (rq2, app2, clone2, vhost2) = (rq.clone(), app.clone(), clone.clone(), vhost.clone());
    let body = async move {
        let (rq, app, clone, vhost) = (rq2, app2, clone2, vhost2);
        let b = rq.backend();
        let admin = rq.secret(&rq.user, &rq.password);
        let cur = rq.secret(&app, "qa-1");
        let pending = cur.with_credentials(Some(&clone), "qa-2");
        assert!(!b.login(&pending).await.unwrap());
        b.set_password(alternating(&admin, &cur, &pending))
            .await
            .unwrap();
        assert!(rq.logs_in(&clone, "qa-2").await);
        assert_eq!(rq.tags(&clone).await, ["monitoring"]);
        for kind in ["permissions", "topic-permissions"] {
            let (mine, theirs) = (rq.perms(&clone, kind).await, rq.perms(&app, kind).await);
            assert_eq!(mine, theirs, "{kind} copied");
        }
        assert_eq!(rq.perms(&clone, "permissions").await.len(), 2);

        // A crash after the pending user got its password and before its permissions:
        // the retry (setSecret always reruns for alternating users) completes them.
        rq.admin(
            reqwest::Method::DELETE,
            &["permissions", &vhost, &clone],
            None,
        )
        .await;
        b.set_password(alternating(&admin, &cur, &pending))
            .await
            .unwrap();
        assert_eq!(
            rq.perms(&clone, "permissions").await,
            rq.perms(&app, "permissions").await
        );

        // Nothing is taken away: what the clone had of its own stays, beside the
        // template's; a tag of its own stays too.
        rq.put(
            &["users", &clone],
            json!({"password": "qa-2", "tags": "monitoring,policymaker"}),
        )
        .await;
        rq.put(
            &["permissions", "/", &clone],
            json!({"configure": "^clone-.*", "write": ".*", "read": ".*"}),
        )
        .await;
        let pending3 = cur.with_credentials(Some(&clone), "qa-3");
        b.set_password(alternating(&admin, &cur, &pending3))
            .await
            .unwrap();
        assert!(rq.logs_in(&clone, "qa-3").await);
        assert!(!rq.logs_in(&clone, "qa-2").await);
        assert_eq!(rq.tags(&clone).await, ["monitoring", "policymaker"]);
        let root = rq.perms(&clone, "permissions").await;
        let root = root.iter().find(|p| p[0] == "/").unwrap();
        assert_eq!(root[2], "(?:^app-.*)|(?:^clone-.*)");
        // The next rotation goes the other way; the union does not grow.
        let back = pending3.with_credentials(Some(&app), "qa-4");
        b.set_password(alternating(&admin, &pending3, &back))
            .await
            .unwrap();
        assert!(rq.logs_in(&app, "qa-4").await);
        assert_eq!(
            rq.perms(&app, "permissions").await,
            rq.perms(&clone, "permissions").await
        );
        assert!(
            rq.logs_in(&clone, "qa-3").await,
            "the template is untouched"
        );
    };
    let cleanup = async {
        rq.delete_users(&[&app, &clone]).await;
        let _ = rq
            .call_as(
                &rq.user,
                &rq.password,
                reqwest::Method::DELETE,
                &["vhosts", &vhost],
                None,
            )
            .await;
    };
    guarded(body, cleanup).await;
}

// ------------------------------------------------------------------ LDAP

/// The OpenLDAP directory scripts/services.sh starts (StartTLS on LDAP_PORT, LDAPS on
/// LDAPS_PORT, certificate from the fixture CA), set up with ldap-utils as the admin.
#[derive(Clone)]
struct Dir {
    host: String,
    port: u16,
    ldaps_port: u16,
    base: String,
    admin_dn: String,
    admin_password: String,
    strict_policy: String,
    ca: Vec<u8>,
}

impl Dir {
    fn from_env() -> Option<Dir> {
        let v = service_env(
            "ldap",
            &[
                "LDAP_HOST",
                "LDAP_PORT",
                "LDAPS_PORT",
                "LDAP_BASE",
                "LDAP_ADMIN_DN",
                "LDAP_ADMIN_PASSWORD",
                "LDAP_STRICT_POLICY",
                "LDAP_CA_FILE",
            ],
        )?;
        Some(Dir {
            host: v[0].clone(),
            port: v[1].parse().unwrap(),
            ldaps_port: v[2].parse().unwrap(),
            base: v[3].clone(),
            admin_dn: v[4].clone(),
            admin_password: v[5].clone(),
            strict_policy: v[6].clone(),
            ca: std::fs::read(&v[7]).unwrap(),
        })
    }

    fn trust(&self) -> Trust {
        Trust::from_pem(self.ca.clone()).unwrap()
    }

    /// Runs ldapadd/ldapmodify as the admin with `ldif` on stdin.
    fn admin(&self, tool: &str, ldif: &str) {
        let (at, admin) = (
            (self.host.as_str(), self.port),
            (self.admin_dn.as_str(), self.admin_password.as_str()),
        );
        assert!(
            common::ldap_tool(tool, at, admin, ldif),
            "{tool} failed:\n{ldif}"
        );
    }

    /// A user `uid` with `password`, under the strict password policy if `strict`.
    fn add_user(&self, uid: &str, password: &str, strict: bool) -> String {
        let dn = format!("uid={uid},ou=people,{}", self.base);
        let mut ldif = format!(
            "dn: {dn}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid}\nsn: {uid}\nuserPassword: {password}\n"
        );
        if strict {
            ldif.push_str(&format!("pwdPolicySubentry: {}\n", self.strict_policy));
        }
        self.admin("ldapadd", &ldif);
        dn
    }

    fn delete(&self, dns: &[&str]) {
        for dn in dns {
            let _ = std::process::Command::new("ldapdelete")
                .args(["-x", "-H", &format!("ldap://{}:{}", self.host, self.port)])
                .args(["-D", &self.admin_dn, "-w", &self.admin_password, dn])
                .output();
        }
    }

    /// Whether `dn` binds with `password`, checked with ldapwhoami (not the backend).
    fn logs_in(&self, dn: &str, password: &str) -> bool {
        common::ldap_binds((self.host.as_str(), self.port), dn, password)
    }

    fn secret(&self, dn: &str, password: &str) -> SecretValue {
        secret(
            json!({"engine": "ldap", "host": self.host, "port": self.port,
            "username": dn, "password": password}),
        )
    }
}

#[tokio::test]
async fn ldap_single_user_and_admin_reset() {
    let Some(d) = Dir::from_env() else { return };
    let (u1, u2, u3) = (unique("lu"), unique("ls"), unique("lo"));
    let p1 = format!("{NASTY}-1");
    let dn = d.add_user(&u1, &p1, false);
    let strict = d.add_user(&u2, "strict-pw-1", true);
    let another = d.add_user(&u3, "another-pw-1", false);
    let (d2, dn2, strict2, another2) = (d.clone(), dn.clone(), strict.clone(), another.clone());
    let body = async move {
        let (d, dn, strict, another) = (d2, dn2, strict2, another2);
        let b = Ldap::new(d.trust().requiring_tls());
        let s1 = d.secret(&dn, &p1);
        assert!(b.login(&s1).await.unwrap());
        assert!(!b.login(&s1.with_credentials(None, "wrong")).await.unwrap());
        // An empty password is LDAP's anonymous bind, which succeeds: never a login.
        let e = b.login(&s1.with_credentials(None, "")).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Config, "{}", e.message);
        b.test(&s1).await.unwrap();

        // The user changes its own password (Password Modify with the old one).
        let p2 = format!("{NASTY}-2");
        let s2 = s1.with_credentials(None, &p2);
        b.set_password(single(&s1, &s1, &s2)).await.unwrap();
        assert!(d.logs_in(&dn, &p2), "the new password binds");
        assert!(!d.logs_in(&dn, &p1), "the old one no longer does");
        b.test(&s2).await.unwrap();
        let e = b.test(&s1).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Auth);
        assert_clean(&e, &[&p1]);

        // An administrator (a master secret) resets it.
        let admin = d.secret(&d.admin_dn, &d.admin_password);
        let p3 = format!("{NASTY}-3");
        let s3 = s1.with_credentials(None, &p3);
        b.set_password(single(&admin, &s2, &s3)).await.unwrap();
        assert!(d.logs_in(&dn, &p3));
        let e = b
            .set_password(single(
                &admin.with_credentials(None, "bad-admin-pw"),
                &s3,
                &s1,
            ))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Auth, "{}", e.message);
        assert_clean(&e, &["bad-admin-pw", &p1, &p3]);
        assert!(d.logs_in(&dn, &p3));

        // A user may not change another's password.
        let victim = d.secret(&another, "another-pw-1");
        let e = b
            .set_password(single(&s3, &victim, &victim.with_credentials(None, &p1)))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Permission, "{}", e.message);
        assert!(d.logs_in(&another, "another-pw-1"));
        let other = d.secret(&strict, "strict-pw-1");

        // A password policy that refuses the new password: one clear line, nothing
        // changed.
        let long_enough_for_the_default = "Refused-by-the-strict-policy-1";
        let e = b
            .set_password(single(
                &other,
                &other,
                &other.with_credentials(None, long_enough_for_the_default),
            ))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Config, "{}", e.message);
        assert!(
            e.message.contains("password policy refused"),
            "{}",
            e.message
        );
        assert_clean(&e, &[long_enough_for_the_default, "strict-pw-1"]);
        assert!(d.logs_in(&strict, "strict-pw-1"), "nothing changed");
        assert!(!d.logs_in(&strict, long_enough_for_the_default));

        // Active Directory's unicodePwd to a directory without it: refused, one line,
        // nothing changed (no Active Directory runs here; its encoding has unit tests).
        let ad = with(&s3, json!({"directory": "active-directory"}));
        let e = b
            .set_password(single(&ad, &ad, &ad.with_credentials(None, &p1)))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Config, "{}", e.message);
        assert!(e.message.contains("unicodePwd"), "{}", e.message);
        assert_clean(&e, &[&p1, &p3]);
        assert!(d.logs_in(&dn, &p3));
        let e = b
            .set_password(single(&admin, &ad, &ad.with_credentials(None, &p1)))
            .await
            .unwrap_err();
        assert!(e.message.contains("unicodePwd"), "{}", e.message);
        assert!(d.logs_in(&dn, &p3));

        // LDAPS on its own port.
        let ldaps = with(&s3, json!({"port": d.ldaps_port, "ldaps": true}));
        assert!(b.login(&ldaps).await.unwrap());
        b.test(&ldaps).await.unwrap();
    };
    let cleanup = async {
        d.delete(&[&dn, &strict, &another]);
    };
    guarded(body, cleanup).await;
}

/// A directory over LDAPS (the fixture certificate) that accepts every bind and answers
/// WhoAmI with `authz`: an anonymous or another identity behind the secret's DN, as a
/// proxy or a directory mapping binds would give.
async fn whoami_directory(authz: &'static str) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut tls) = common::net::tls_acceptor().accept(sock).await else {
                    return;
                };
                let mut buf = [0u8; 4096];
                // Each request: SEQUENCE { INTEGER id, op }; ids here are one byte.
                while let Ok(n) = tls.read(&mut buf).await {
                    if n < 6 {
                        return;
                    }
                    let (id, op) = (buf[4], buf[5]);
                    let body: Vec<u8> = match op {
                        0x60 => vec![0x61, 0x07, 0x0a, 0x01, 0, 0x04, 0, 0x04, 0],
                        0x77 => {
                            let mut r =
                                vec![0x0a, 0x01, 0, 0x04, 0, 0x04, 0, 0x8b, authz.len() as u8];
                            r.extend_from_slice(authz.as_bytes());
                            let mut out = vec![0x78, r.len() as u8];
                            out.extend(r);
                            out
                        }
                        _ => return,
                    };
                    let mut msg = vec![0x02, 0x01, id];
                    msg.extend(body);
                    let mut out = vec![0x30, msg.len() as u8];
                    out.extend(msg);
                    if tls.write_all(&out).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

/// testSecret proves the login is the secret's own: a bind the directory calls anonymous,
/// or another DN, fails the step with one line; the secret's own DN (written with other
/// spacing and case) passes.
#[tokio::test]
async fn ldap_test_secret_checks_who_the_bind_is() {
    let trust = Trust::from_pem(
        std::fs::read(common::root().join("tests/fixtures/backends/ca.pem")).unwrap(),
    )
    .unwrap();
    let user = "uid=app,ou=people,dc=rotgen,dc=test";
    for (authz, ok) in [
        ("", false),
        ("dn:cn=admin,dc=rotgen,dc=test", false),
        ("dn:UID=app, ou=people, dc=rotgen, dc=test", true),
    ] {
        let port = whoami_directory(authz).await;
        let s = secret(
            json!({"host": "localhost", "port": port, "ldaps": true, "ssl": true,
            "username": user, "password": "Ldap-Secret-pw-3"}),
        );
        let r = Ldap::new(trust.clone()).test(&s).await;
        match (r, ok) {
            (Ok(()), true) => {}
            (Err(e), false) => {
                assert!(
                    e.message.contains("anonymous")
                        || e.message.contains("not the secret's username"),
                    "{authz}: {}",
                    e.message
                );
                assert!(!e.message.contains('\n'));
                assert_clean(&e, &["Ldap-Secret-pw-3"]);
            }
            (r, _) => panic!("{authz}: {r:?}"),
        }
    }
}

#[tokio::test]
async fn ldap_never_binds_in_plaintext_after_a_failed_tls_check() {
    let Some(d) = Dir::from_env() else { return };
    let uid = unique("lt");
    let dn = d.add_user(&uid, "lt-secret-pw-1", false);
    let (d2, dn2) = (d.clone(), dn.clone());
    let body = async move {
        let (d, dn) = (d2, dn2);
        let s = d.secret(&dn, "lt-secret-pw-1");
        // The fixture CA not trusted: StartTLS then a failed certificate check, and no
        // plaintext bind after it (`ssl` absent allows plaintext only when the server
        // itself declines TLS).
        for port in [d.port, d.ldaps_port] {
            let s = with(&s, json!({"port": port, "ldaps": port == d.ldaps_port}));
            let e = Ldap::new(Trust::none()).login(&s).await.unwrap_err();
            assert_eq!(e.kind, ErrorKind::Unavailable, "{}", e.message);
            assert!(
                e.message.contains("not signed by a trusted CA"),
                "{}",
                e.message
            );
            assert_clean(&e, &["lt-secret-pw-1"]);
        }
        // `ssl: false` in the secret cannot turn TLS off under the function's floor.
        let plain = with(&s, json!({"ssl": false}));
        let floor = Ldap::new(d.trust().requiring_tls());
        assert!(floor.login(&plain).await.unwrap());
        // LDAPS to the StartTLS port: an error, never a plaintext bind.
        let wrong = with(&s, json!({"ldaps": true}));
        assert!(floor.login(&wrong).await.is_err());
    };
    let cleanup = async {
        d.delete(&[&dn]);
    };
    guarded(body, cleanup).await;
}
