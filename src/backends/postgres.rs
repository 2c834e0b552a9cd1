//! PostgreSQL (and Aurora PostgreSQL).
//!
//! Secret keys: `host`, `port` (5432), `dbname` (`postgres`), `username`, `password`, `ssl`.
//!
//! - single-user: log in as the user (its current, or previous, credentials) and
//!   `ALTER ROLE <user> WITH PASSWORD <verifier>`. When the secret names a master secret
//!   (`masterarn`), the master logs in and runs the same statement.
//! - alternating-users: the master logs in to the secret's database, creates the pending
//!   user if it does not exist (`CREATE ROLE … WITH LOGIN PASSWORD …`), and then, on every
//!   rotation (every retry included), gives the pending user what the current (template)
//!   user has and it lacks, in one transaction with the password change, so the pending
//!   password never logs in with privileges missing:
//!   - role memberships (with their ADMIN OPTION);
//!   - privileges the template holds directly, including as owner, on databases (all of
//!     them), and in the secret's database on schemas, tables, views, materialized views,
//!     foreign tables, sequences, columns, functions and procedures (with their GRANT
//!     OPTION).
//!
//!   **Nothing is ever revoked.** After any rotation the AWSCURRENT user can do everything
//!   the other user of the pair could at that moment, and a privilege someone granted
//!   either user directly is kept: the two users converge on the union of their
//!   privileges. To take a privilege away, revoke it from both users. (AWS's functions
//!   instead make the clone a member of the original role; that breaks when the original
//!   is the one rotated to, and loses what was granted to the clone, so rotgen copies.)
//!   After the grants, the pending user's privileges are read back; if the master could
//!   not grant one (PostgreSQL then only warns), the transaction is rolled back and the
//!   call fails with a `Permission` error naming the privilege.
//!   Not copied: role attributes (CREATEDB, CONNECTION LIMIT…), default privileges,
//!   large objects, types, languages, foreign servers, tablespaces, parameters.
//!
//! The new password is sent as a SCRAM-SHA-256 verifier computed here (`super::hash`), so
//! no statement the server may log (`log_statement = 'ddl'` or `'all'`) holds it.

use super::{
    Endpoint, Link, Retry, Trust, call, check_password, connect_tls, format_error, sqlx_connect,
    sqlx_login, sqlx_transport_error,
};
use crate::rotation::backend::{Backend, BackendError, ErrorKind, SetPassword, Strategy};
use crate::rotation::secret::{SecretValue, Tls};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Row};
use std::collections::{BTreeMap, BTreeSet};

const SERVICE: &str = "postgres";
const DEFAULT_PORT: u16 = 5432;
const DEFAULT_DB: &str = "postgres";

/// The PostgreSQL backend. Holds only the trust roots; connections are made per call.
#[derive(Debug, Clone, Default)]
pub struct Postgres {
    trust: Trust,
}

/// Where to connect, from a secret.
#[derive(Debug, Clone)]
struct Target {
    at: Endpoint,
    dbname: String,
    tls: Tls,
}

impl Target {
    fn of(secret: &SecretValue) -> Result<Target, BackendError> {
        Ok(Target {
            at: Endpoint::of(secret, DEFAULT_PORT)?,
            dbname: secret
                .dbname()
                .map_err(format_error)?
                .filter(|d| !d.is_empty())
                .unwrap_or(DEFAULT_DB)
                .to_string(),
            tls: secret.tls().map_err(format_error)?,
        })
    }
}

/// `"name"`, with embedded quotes doubled: a PostgreSQL identifier for any name.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A string literal that means `value` whatever `standard_conforming_strings` is: the
/// `E'…'` form, with quotes and backslashes doubled.
pub fn quote_literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 4);
    out.push_str("E'");
    for c in value.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// The password as PostgreSQL should receive it: a SCRAM-SHA-256 verifier computed here
/// (so `log_statement` logs no password), or, for a password SASLprep could change, the
/// literal.
fn password_literal(password: &str) -> String {
    if super::hash::scram_safe(password) {
        quote_literal(&super::hash::scram_sha256(
            password,
            &super::hash::salt(),
            super::hash::SCRAM_ITERATIONS,
        ))
    } else {
        quote_literal(password)
    }
}

/// What went wrong, in safe words, from a SQLSTATE.
fn db_error(at: &Endpoint, code: &str, doing: &str) -> BackendError {
    let kind = match code {
        "28P01" | "28000" => ErrorKind::Auth,
        "42501" => ErrorKind::Permission,
        "3D000" | "42704" | "0A000" => ErrorKind::Config,
        "53300" | "57P03" | "57P01" | "57P02" | "58000" | "58030" => ErrorKind::Unavailable,
        c if c.starts_with("08") => ErrorKind::Unavailable,
        c if c.starts_with("53") => ErrorKind::Unavailable,
        _ => ErrorKind::Service,
    };
    let why = match code {
        "42501" => " (permission denied)",
        "3D000" => " (the database does not exist)",
        "42704" => " (the object does not exist)",
        "53300" => " (too many connections)",
        "57P03" => " (the server is starting or shutting down)",
        "40001" | "40P01" => " (a concurrent transaction interfered; retry)",
        "42710" => " (it already exists)",
        _ => "",
    };
    BackendError::new(
        kind,
        format!("{SERVICE} at {at}: {doing} failed ({code}){why}"),
    )
}

/// Maps a sqlx error met while doing something on an open connection.
fn sql_error(at: &Endpoint, e: &sqlx::Error, doing: &str) -> BackendError {
    match e {
        sqlx::Error::Database(d) => db_error(at, d.code().as_deref().unwrap_or("?????"), doing),
        other => sqlx_transport_error(SERVICE, at, other, false),
    }
}

/// Runs a statement built from quoted names and literals, with the simple query protocol
/// (nothing is prepared or cached, and sqlx's statement logging is off).
async fn exec(
    conn: &mut PgConnection,
    at: &Endpoint,
    sql: String,
    doing: &str,
) -> Result<(), BackendError> {
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(&mut *conn)
        .await
        .map(|_| ())
        .map_err(|e| sql_error(at, &e, doing))
}

impl Postgres {
    pub fn new(trust: Trust) -> Postgres {
        Postgres { trust }
    }

    fn options(&self, t: &Target, user: &str, password: &str, link: Link) -> PgConnectOptions {
        let opts = PgConnectOptions::new_without_pgpass()
            .host(&t.at.host)
            .port(t.at.port)
            .username(user)
            .password(password)
            .database(&t.dbname)
            .application_name("rotgen")
            .statement_cache_capacity(0)
            .disable_statement_logging();
        match self.trust.roots_for(link) {
            Some(pem) => opts.ssl_root_cert_from_pem(pem.to_vec()),
            None => opts,
        }
    }

    /// One attempt to log in as `user`, over `link`.
    async fn connect_once(
        &self,
        t: &Target,
        user: &str,
        password: &str,
        link: Link,
    ) -> Result<PgConnection, (BackendError, Retry)> {
        tracing::debug!(service = SERVICE, "connecting");
        let mode = if link == Link::Plain {
            PgSslMode::Disable
        } else {
            PgSslMode::VerifyFull
        };
        let opts = self.options(t, user, password, link).ssl_mode(mode);
        sqlx_connect(SERVICE, &t.at, link, opts.connect(), |d| {
            let code = d.code().map(|c| c.into_owned()).unwrap_or_default();
            match code.as_str() {
                "28P01" | "28000" => BackendError::new(
                    ErrorKind::Auth,
                    format!(
                        "{SERVICE} at {} rejected the login for user {user} ({code})",
                        t.at
                    ),
                ),
                "3D000" => BackendError::new(
                    ErrorKind::Config,
                    format!(
                        "{SERVICE} at {}: database {} does not exist (3D000)",
                        t.at, t.dbname
                    ),
                ),
                "42501" => BackendError::new(
                    ErrorKind::Permission,
                    format!(
                        "{SERVICE} at {}: user {user} may not connect to database {} (42501)",
                        t.at, t.dbname
                    ),
                ),
                _ => db_error(&t.at, &code, &format!("logging in as {user}")),
            }
        })
        .await
    }

    /// A connection as `user`, with TLS as the secret's `ssl` asks.
    async fn connect(
        &self,
        t: &Target,
        user: &str,
        password: &str,
    ) -> Result<PgConnection, BackendError> {
        connect_tls(SERVICE, &t.at, t.tls, &self.trust, |link| {
            self.connect_once(t, user, password, link)
        })
        .await
    }

    async fn login_inner(&self, creds: &SecretValue) -> Result<bool, BackendError> {
        let t = Target::of(creds)?;
        let user = creds.username().map_err(format_error)?;
        let password = creds.password().map_err(format_error)?;
        sqlx_login(self.connect(&t, user, password).await).await
    }

    async fn test_inner(&self, creds: &SecretValue) -> Result<(), BackendError> {
        let t = Target::of(creds)?;
        let user = creds.username().map_err(format_error)?;
        let password = creds.password().map_err(format_error)?;
        let mut conn = self.connect(&t, user, password).await?;
        let one: i32 = sqlx::query_scalar("SELECT 1")
            .fetch_one(&mut conn)
            .await
            .map_err(|e| sql_error(&t.at, &e, "SELECT 1"))?;
        let _ = conn.close().await;
        if one == 1 {
            Ok(())
        } else {
            Err(BackendError::new(
                ErrorKind::Service,
                format!("{SERVICE} at {}: SELECT 1 did not return 1", t.at),
            ))
        }
    }

    async fn set_password_inner(&self, req: SetPassword<'_>) -> Result<(), BackendError> {
        let mut t = Target::of(req.pending)?;
        t.tls = super::tls_for(t.tls, req.admin)?;
        let user = req.pending.username().map_err(format_error)?;
        let password = req.pending.password().map_err(format_error)?;
        check_password(password)?;
        let admin_user = req.admin.username().map_err(format_error)?;
        let admin_password = req.admin.password().map_err(format_error)?;
        let mut conn = self.connect(&t, admin_user, admin_password).await?;
        let result = match req.strategy {
            Strategy::SingleUser => {
                exec(
                    &mut conn,
                    &t.at,
                    format!(
                        "ALTER ROLE {} WITH PASSWORD {}",
                        quote_ident(user),
                        password_literal(password)
                    ),
                    &format!("changing the password of {user}"),
                )
                .await
            }
            Strategy::AlternatingUsers => {
                let template = req.current.username().map_err(format_error)?;
                self.alternate(&mut conn, &t, template, user, password)
                    .await
            }
        };
        let _ = conn.close().await;
        result
    }

    async fn alternate(
        &self,
        conn: &mut PgConnection,
        t: &Target,
        template: &str,
        user: &str,
        password: &str,
    ) -> Result<(), BackendError> {
        let at = &t.at;
        let mut tx = conn
            .begin()
            .await
            .map_err(|e| sql_error(at, &e, "starting a transaction"))?;
        if template != user {
            if !role_exists(&mut tx, at, template).await? {
                return Err(BackendError::new(
                    ErrorKind::Config,
                    format!(
                        "{SERVICE} at {at}: the current user {template}, whose privileges {user} should get, does not exist"
                    ),
                ));
            }
            if !role_exists(&mut tx, at, user).await? {
                exec(
                    &mut tx,
                    at,
                    format!(
                        "CREATE ROLE {} WITH LOGIN PASSWORD {}",
                        quote_ident(user),
                        password_literal(password)
                    ),
                    &format!("creating user {user}"),
                )
                .await?;
                tracing::info!(service = SERVICE, endpoint = %at, user, template, "created the alternate user");
            }
            sync_privileges(&mut tx, at, template, user).await?;
        }
        exec(
            &mut tx,
            at,
            format!(
                "ALTER ROLE {} WITH PASSWORD {}",
                quote_ident(user),
                password_literal(password)
            ),
            &format!("changing the password of {user}"),
        )
        .await?;
        tx.commit()
            .await
            .map_err(|e| sql_error(at, &e, "committing the changes"))
    }
}

async fn role_exists(
    conn: &mut PgConnection,
    at: &Endpoint,
    name: &str,
) -> Result<bool, BackendError> {
    sqlx::query_scalar::<_, i32>("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1")
        .bind(name)
        .fetch_optional(&mut *conn)
        .await
        .map(|r| r.is_some())
        .map_err(|e| sql_error(at, &e, "looking up a role"))
}

/// Roles `member` belongs to, with whether it holds ADMIN OPTION on each.
async fn memberships(
    conn: &mut PgConnection,
    at: &Endpoint,
    member: &str,
) -> Result<BTreeMap<String, bool>, BackendError> {
    let rows = sqlx::query(
        "SELECT g.rolname::text, bool_or(m.admin_option) \
         FROM pg_catalog.pg_auth_members m \
         JOIN pg_catalog.pg_roles g ON g.oid = m.roleid \
         JOIN pg_catalog.pg_roles u ON u.oid = m.member \
         WHERE u.rolname = $1 GROUP BY g.rolname",
    )
    .bind(member)
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| sql_error(at, &e, "reading role memberships"))?;
    rows.iter()
        .map(|r| Ok((r.try_get::<String, _>(0)?, r.try_get::<bool, _>(1)?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(|e| sql_error(at, &e, "reading role memberships"))
}

/// One privilege on one object: what a GRANT names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Privilege {
    /// DATABASE, SCHEMA, TABLE, SEQUENCE, FUNCTION, PROCEDURE, or COLUMN (on a TABLE).
    kind: String,
    /// The object, quoted by the server (`format('%I.%I')`, `regprocedure`).
    object: String,
    /// For COLUMN: the quoted column name.
    column: Option<String>,
    /// SELECT, INSERT, USAGE, EXECUTE, …
    privilege: String,
}

impl Privilege {
    fn target(&self) -> String {
        match &self.column {
            Some(col) => format!("{} ({col}) ON TABLE {}", self.privilege, self.object),
            None => format!("{} ON {} {}", self.privilege, self.kind, self.object),
        }
    }

    fn grant(&self, to: &str, grantable: bool) -> String {
        format!(
            "GRANT {} TO {}{}",
            self.target(),
            quote_ident(to),
            if grantable { " WITH GRANT OPTION" } else { "" }
        )
    }

    fn describe(&self) -> String {
        match &self.column {
            Some(col) => format!("{} ({col}) on TABLE {}", self.privilege, self.object),
            None => format!("{} on {} {}", self.privilege, self.kind, self.object),
        }
    }
}

/// What a role holds on an object: whether with GRANT OPTION, and whether it owns it.
#[derive(Debug, Clone, Copy, Default)]
struct Held {
    grantable: bool,
    owned: bool,
}

/// Privileges held directly (explicit ACL entries, or an owner's implicit ones) by a role.
const PRIVILEGES_SQL: &str = r#"
WITH who AS (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = $1),
nsp AS (
  SELECT n.oid, n.nspname, n.nspowner, n.nspacl FROM pg_catalog.pg_namespace n
  WHERE left(n.nspname, 8) <> 'pg_toast' AND left(n.nspname, 8) <> 'pg_temp_'
)
SELECT 'DATABASE'::text, pg_catalog.quote_ident(d.datname), NULL::text,
       a.privilege_type::text, a.is_grantable, d.datdba = who.oid
FROM pg_catalog.pg_database d CROSS JOIN who
CROSS JOIN LATERAL pg_catalog.aclexplode(coalesce(d.datacl, pg_catalog.acldefault('d', d.datdba))) a
WHERE a.grantee = who.oid
UNION ALL
SELECT 'SCHEMA', pg_catalog.quote_ident(n.nspname), NULL,
       a.privilege_type, a.is_grantable, n.nspowner = who.oid
FROM nsp n CROSS JOIN who
CROSS JOIN LATERAL pg_catalog.aclexplode(coalesce(n.nspacl, pg_catalog.acldefault('n', n.nspowner))) a
WHERE a.grantee = who.oid
UNION ALL
SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END,
       pg_catalog.format('%I.%I', n.nspname, c.relname), NULL,
       a.privilege_type, a.is_grantable, c.relowner = who.oid
FROM pg_catalog.pg_class c JOIN nsp n ON n.oid = c.relnamespace CROSS JOIN who
CROSS JOIN LATERAL pg_catalog.aclexplode(coalesce(c.relacl,
    pg_catalog.acldefault(CASE c.relkind WHEN 'S' THEN 's'::"char" ELSE 'r'::"char" END, c.relowner))) a
WHERE c.relkind IN ('r', 'v', 'm', 'f', 'p', 'S') AND a.grantee = who.oid
UNION ALL
SELECT 'COLUMN', pg_catalog.format('%I.%I', n.nspname, c.relname), pg_catalog.quote_ident(att.attname),
       a.privilege_type, a.is_grantable, false
FROM pg_catalog.pg_attribute att
JOIN pg_catalog.pg_class c ON c.oid = att.attrelid
JOIN nsp n ON n.oid = c.relnamespace CROSS JOIN who
CROSS JOIN LATERAL pg_catalog.aclexplode(att.attacl) a
WHERE att.attacl IS NOT NULL AND att.attnum > 0 AND NOT att.attisdropped
  AND c.relkind IN ('r', 'v', 'm', 'f', 'p') AND a.grantee = who.oid
UNION ALL
SELECT CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END,
       p.oid::pg_catalog.regprocedure::text, NULL,
       a.privilege_type, a.is_grantable, p.proowner = who.oid
FROM pg_catalog.pg_proc p JOIN nsp n ON n.oid = p.pronamespace CROSS JOIN who
CROSS JOIN LATERAL pg_catalog.aclexplode(coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))) a
WHERE a.grantee = who.oid
"#;

async fn privileges(
    conn: &mut PgConnection,
    at: &Endpoint,
    role: &str,
) -> Result<BTreeMap<Privilege, Held>, BackendError> {
    let rows = sqlx::query(PRIVILEGES_SQL)
        .bind(role)
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| sql_error(at, &e, "reading privileges"))?;
    let mut out: BTreeMap<Privilege, Held> = BTreeMap::new();
    for r in &rows {
        let read = || -> Result<(Privilege, Held), sqlx::Error> {
            Ok((
                Privilege {
                    kind: r.try_get(0)?,
                    object: r.try_get(1)?,
                    column: r.try_get(2)?,
                    privilege: r.try_get(3)?,
                },
                Held {
                    grantable: r.try_get(4)?,
                    owned: r.try_get(5)?,
                },
            ))
        };
        let (p, h) = read().map_err(|e| sql_error(at, &e, "reading privileges"))?;
        // Only keywords the server itself names; anything else is skipped, not run.
        if p.privilege.is_empty() || !p.privilege.bytes().all(|b| b.is_ascii_uppercase()) {
            continue;
        }
        let e = out.entry(p).or_default();
        e.grantable |= h.grantable;
        e.owned |= h.owned;
    }
    Ok(out)
}

/// Gives `user` every membership and direct privilege `template` has and `user` lacks.
/// Nothing is revoked: what someone granted either user directly stays.
async fn sync_privileges(
    conn: &mut PgConnection,
    at: &Endpoint,
    template: &str,
    user: &str,
) -> Result<(), BackendError> {
    let mut t_roles = memberships(conn, at, template).await?;
    let u_roles = memberships(conn, at, user).await?;
    // AWS's functions make the clone a member of the original: that membership is not
    // copied back onto the original.
    t_roles.remove(user);

    for (role, admin) in &t_roles {
        let missing = match u_roles.get(role) {
            None => true,
            Some(has_admin) => *admin && !*has_admin,
        };
        if missing {
            exec(
                conn,
                at,
                format!(
                    "GRANT {} TO {}{}",
                    quote_ident(role),
                    quote_ident(user),
                    if *admin { " WITH ADMIN OPTION" } else { "" }
                ),
                &format!("granting role {role} to {user}"),
            )
            .await?;
        }
    }

    let t_privs = privileges(conn, at, template).await?;
    let u_privs = privileges(conn, at, user).await?;
    for (p, held) in &t_privs {
        let missing = match u_privs.get(p) {
            None => true,
            Some(has) => held.grantable && !has.grantable,
        };
        if missing {
            exec(
                conn,
                at,
                p.grant(user, held.grantable),
                &format!("granting {} to {user}", p.describe()),
            )
            .await?;
        }
    }

    // PostgreSQL only warns when a GRANT grants nothing: read back what the user holds.
    let now = privileges(conn, at, user).await?;
    let now_roles: BTreeSet<String> = memberships(conn, at, user).await?.into_keys().collect();
    let mut missing: Vec<String> = t_privs
        .iter()
        .filter(|(p, held)| match now.get(*p) {
            None => true,
            Some(has) => held.grantable && !has.grantable,
        })
        .map(|(p, _)| p.describe())
        .collect();
    missing.extend(
        t_roles
            .keys()
            .filter(|r| !now_roles.contains(*r))
            .map(|r| format!("membership in role {r}")),
    );
    if !missing.is_empty() {
        let n = missing.len();
        missing.truncate(3);
        return Err(BackendError::new(
            ErrorKind::Permission,
            format!(
                "{SERVICE} at {at}: the master user could not give {user} {n} privilege(s) {template} has ({}{}); \
                 it must own the objects, or hold the privileges WITH GRANT OPTION (or the roles WITH ADMIN OPTION)",
                missing.join(", "),
                if n > 3 { ", …" } else { "" }
            ),
        ));
    }
    Ok(())
}

impl Backend for Postgres {
    async fn login(&self, creds: &SecretValue) -> Result<bool, BackendError> {
        call("logging in to", SERVICE, self.login_inner(creds)).await
    }

    async fn set_password(&self, req: SetPassword<'_>) -> Result<(), BackendError> {
        call(
            "setting the password on",
            SERVICE,
            self.set_password_inner(req),
        )
        .await
    }

    async fn test(&self, creds: &SecretValue) -> Result<(), BackendError> {
        call("testing the login to", SERVICE, self.test_inner(creds)).await
    }

    fn max_username_len(&self) -> usize {
        63
    }

    fn default_port(&self) -> u16 {
        DEFAULT_PORT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote_ident(r#"a"b"#), r#""a""b""#);
        assert_eq!(quote_literal(r"it's \ok"), r"E'it''s \\ok'");
    }

    #[test]
    fn grants_read_back_as_sql() {
        let p = Privilege {
            kind: "TABLE".into(),
            object: "public.t".into(),
            column: None,
            privilege: "SELECT".into(),
        };
        assert_eq!(
            p.grant("app_clone", true),
            r#"GRANT SELECT ON TABLE public.t TO "app_clone" WITH GRANT OPTION"#
        );
        let c = Privilege {
            kind: "COLUMN".into(),
            object: "public.t".into(),
            column: Some("a".into()),
            privilege: "UPDATE".into(),
        };
        assert_eq!(
            c.grant("u", false),
            r#"GRANT UPDATE (a) ON TABLE public.t TO "u""#
        );
    }

    #[test]
    fn error_messages_hold_codes_not_text() {
        let at = Endpoint {
            host: "db".into(),
            port: 5432,
        };
        let e = db_error(&at, "42501", "changing the password of app");
        assert_eq!(e.kind, ErrorKind::Permission);
        assert_eq!(
            e.message,
            "postgres at db:5432: changing the password of app failed (42501) (permission denied)"
        );
        assert_eq!(db_error(&at, "28P01", "x").kind, ErrorKind::Auth);
        assert_eq!(db_error(&at, "08006", "x").kind, ErrorKind::Unavailable);
    }

    #[test]
    fn a_failure_with_a_password_in_play_does_not_show_it() {
        // Nothing listens on port 1: the connection is refused, with the password in play.
        let s = SecretValue::parse(
            r#"{"host":"127.0.0.1","port":1,"username":"app","password":"hunter2-pw'\\","ssl":false}"#,
        );
        crate::backends::assert_failures_hide_the_password(&Postgres::default(), &s);
    }
}
