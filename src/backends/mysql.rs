//! MySQL, MariaDB, Aurora MySQL: one implementation, two flavours.
//!
//! Secret keys: `host`, `port` (3306), `username`, `password`, optional `dbname` (the
//! login connects to it when given), `ssl`.
//!
//! The flavour is read from the server (`SELECT VERSION()` names MariaDB); the service
//! name only sets the user name limit: MySQL 32 characters, MariaDB 80, or
//! `USERNAME_CHARACTER_LIMIT` (the variable AWS's functions read) when it is set.
//!
//! - single-user, the user changing its own password: MariaDB
//!   `SET PASSWORD = PASSWORD('…')`, MySQL `ALTER USER CURRENT_USER() IDENTIFIED BY '…'`
//!   (with `REPLACE '<current>'` when the server requires it). MariaDB has been seen to
//!   answer OK to `ALTER USER CURRENT_USER()` without changing the password, so every
//!   self-change is verified by logging in with the new password, and the other statement
//!   is tried when the first did not take.
//! - a master changing a user's password (alternating-users, or single-user with
//!   `masterarn`): every account of the user (`'user'@'host'` for each host) gets it:
//!   MariaDB `SET PASSWORD FOR … = PASSWORD('…')`, MySQL `ALTER USER … IDENTIFIED BY '…'`.
//! - alternating-users: for each host the current (template) user has an account on, the
//!   master creates the pending user's account there if missing (`CREATE USER IF NOT
//!   EXISTS`, MySQL: with the template's authentication plugin), then on every rotation
//!   gives it every grant of the template: each line of `SHOW GRANTS FOR` the template's
//!   account that the pending account lacks is replayed onto it (with the template's
//!   `IDENTIFIED …` part dropped). Nothing is revoked: what someone granted the pending
//!   user stays, and a partial revoke of the template's (or its default role, where the
//!   pending user has its own) is not copied, as it would take something away. Then the
//!   password is set.
//!   Not copied: MySQL 8 default roles, account attributes outside the grants (MySQL 8
//!   `REQUIRE` / resource limits live in `CREATE USER`).
//!
//! Statements run with the text protocol; passwords are quoted per the session's
//! `sql_mode` (`NO_BACKSLASH_ESCAPES` or not).

use super::{
    Endpoint, Link, Retry, Trust, call, check_password, connect_tls, format_error, sqlx_connect,
    sqlx_transport_error,
};
use crate::rotation::backend::{Backend, BackendError, ErrorKind, SetPassword, Strategy};
use crate::rotation::secret::{SecretValue, Tls};
use sqlx::mysql::{
    MySqlConnectOptions, MySqlConnection, MySqlDatabaseError, MySqlRow, MySqlSslMode,
};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Row};
use std::collections::{BTreeMap, BTreeSet};

const DEFAULT_PORT: u16 = 3306;
/// The variable AWS's MySQL functions read for the alternating user name limit.
pub const USERNAME_LIMIT_VAR: &str = "USERNAME_CHARACTER_LIMIT";

/// Which server family the service name says (the server's own answer decides SQL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    Mysql,
    Mariadb,
}

impl Flavour {
    fn service(self) -> &'static str {
        match self {
            Flavour::Mysql => "mysql",
            Flavour::Mariadb => "mariadb",
        }
    }

    /// The longest user name the server accepts.
    pub fn max_username_len(self) -> usize {
        match self {
            Flavour::Mysql => 32,
            Flavour::Mariadb => 80,
        }
    }
}

/// The MySQL / MariaDB backend.
#[derive(Debug, Clone)]
pub struct Mysql {
    flavour: Flavour,
    trust: Trust,
    max_username: usize,
}

#[derive(Debug, Clone)]
struct Target {
    at: Endpoint,
    dbname: Option<String>,
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
                .map(str::to_string),
            tls: secret.tls().map_err(format_error)?,
        })
    }
}

/// What the server is, read once per connection.
#[derive(Debug, Clone, Copy)]
struct Server {
    mariadb: bool,
    /// Whether `\` escapes in string literals (no `NO_BACKSLASH_ESCAPES` in `sql_mode`).
    backslash: bool,
}

/// A string literal meaning `value` in a session where `\` escapes (`backslash`) or not.
pub fn quote_str(value: &str, backslash: bool) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' if backslash => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// `'user'@'host'`.
fn account(user: &str, host: &str, s: Server) -> String {
    format!(
        "{}@{}",
        quote_str(user, s.backslash),
        quote_str(host, s.backslash)
    )
}

fn kind_of(number: u16) -> ErrorKind {
    match number {
        // access denied (password), no password, expired, must reset, locked
        1045 | 1698 | 1862 | 1820 | 3118 | 4151 => ErrorKind::Auth,
        // access denied to a database / table / column / privilege; not allowed to
        // create users or change others' passwords; account has no grant option
        1044 | 1142 | 1143 | 1227 | 1370 | 1410 | 1211 | 1131 | 1132 | 3530 => {
            ErrorKind::Permission
        }
        // unknown database, unsupported authentication protocol, unknown plugin
        1049 | 1251 | 1524 => ErrorKind::Config,
        // too many connections, server shutting down, lost connection, lock wait
        1040 | 1203 | 1053 | 2006 | 2013 | 1205 | 1213 => ErrorKind::Unavailable,
        _ => ErrorKind::Service,
    }
}

fn number_of(d: &(dyn sqlx::error::DatabaseError + 'static)) -> u16 {
    d.try_downcast_ref::<MySqlDatabaseError>()
        .map(MySqlDatabaseError::number)
        .unwrap_or(0)
}

impl Mysql {
    /// A backend with the flavour's user name limit.
    pub fn new(flavour: Flavour, trust: Trust) -> Mysql {
        Mysql {
            flavour,
            trust,
            max_username: flavour.max_username_len(),
        }
    }

    /// As [`Mysql::new`], with the user name limit from `USERNAME_CHARACTER_LIMIT` if set.
    pub fn from_env(flavour: Flavour, trust: Trust) -> Result<Mysql, BackendError> {
        let mut m = Mysql::new(flavour, trust);
        if let Ok(v) = std::env::var(USERNAME_LIMIT_VAR)
            && !v.trim().is_empty()
        {
            m.max_username = v.trim().parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                BackendError::new(
                    ErrorKind::Config,
                    format!("{USERNAME_LIMIT_VAR}={v} is not a positive number"),
                )
            })?;
        }
        Ok(m)
    }

    /// Sets the user name limit (what `USERNAME_CHARACTER_LIMIT` does).
    pub fn with_max_username_len(mut self, max: usize) -> Mysql {
        self.max_username = max;
        self
    }

    fn service(&self) -> &'static str {
        self.flavour.service()
    }

    fn db_error(&self, at: &Endpoint, e: &sqlx::Error, doing: &str) -> BackendError {
        match e {
            sqlx::Error::Database(d) => {
                let n = number_of(d.as_ref());
                let state = d
                    .code()
                    .map(|c| format!(", SQLSTATE {c}"))
                    .unwrap_or_default();
                BackendError::new(
                    kind_of(n),
                    format!(
                        "{} at {at}: {doing} failed (error {n}{state})",
                        self.service()
                    ),
                )
            }
            other => sqlx_transport_error(self.service(), at, other, false),
        }
    }

    fn options(&self, t: &Target, user: &str, password: &str, link: Link) -> MySqlConnectOptions {
        let mut opts = MySqlConnectOptions::new()
            .host(&t.at.host)
            .port(t.at.port)
            .username(user)
            .password(password)
            .statement_cache_capacity(0)
            .pipes_as_concat(false)
            .no_engine_substitution(false)
            .timezone(None)
            .disable_statement_logging();
        if let Some(db) = &t.dbname {
            opts = opts.database(db);
        }
        match self.trust.roots_for(link) {
            Some(pem) => opts.ssl_ca_from_pem(pem.to_vec()),
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
    ) -> Result<MySqlConnection, (BackendError, Retry)> {
        let service = self.service();
        tracing::debug!(service, "connecting");
        let mode = if link == Link::Plain {
            MySqlSslMode::Disabled
        } else {
            MySqlSslMode::VerifyIdentity
        };
        let opts = self.options(t, user, password, link).ssl_mode(mode);
        sqlx_connect(service, &t.at, link, opts.connect(), |d| {
            let n = number_of(d);
            match kind_of(n) {
                ErrorKind::Auth => BackendError::new(
                    ErrorKind::Auth,
                    format!(
                        "{service} at {} rejected the login for user {user} (error {n})",
                        t.at
                    ),
                ),
                _ if n == 1049 => BackendError::new(
                    ErrorKind::Config,
                    format!(
                        "{service} at {}: the secret's database does not exist (error 1049)",
                        t.at
                    ),
                ),
                kind => BackendError::new(
                    kind,
                    format!(
                        "{service} at {}: logging in as {user} failed (error {n})",
                        t.at
                    ),
                ),
            }
        })
        .await
    }

    async fn connect(
        &self,
        t: &Target,
        user: &str,
        password: &str,
    ) -> Result<MySqlConnection, BackendError> {
        connect_tls(self.service(), &t.at, t.tls, &self.trust, |link| {
            self.connect_once(t, user, password, link)
        })
        .await
    }

    async fn exec(
        &self,
        conn: &mut MySqlConnection,
        at: &Endpoint,
        sql: String,
        doing: &str,
    ) -> Result<(), BackendError> {
        sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut *conn)
            .await
            .map(|_| ())
            .map_err(|e| self.db_error(at, &e, doing))
    }

    async fn server(
        &self,
        conn: &mut MySqlConnection,
        at: &Endpoint,
    ) -> Result<Server, BackendError> {
        let row = sqlx::raw_sql("SELECT VERSION(), @@SESSION.sql_mode")
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| self.db_error(at, &e, "reading the server version"))?;
        let version =
            text(&row, 0).map_err(|e| self.db_error(at, &e, "reading the server version"))?;
        let mode =
            text(&row, 1).map_err(|e| self.db_error(at, &e, "reading the server version"))?;
        Ok(Server {
            mariadb: version.to_ascii_lowercase().contains("mariadb"),
            backslash: !mode.to_ascii_uppercase().contains("NO_BACKSLASH_ESCAPES"),
        })
    }

    /// The server logged `conn` in as `user`'s own account: an anonymous account
    /// (`''@host`) whose host matches the client better than `user`'s takes any user name
    /// (and, without a password of its own, any password), so such a login proves
    /// nothing about `user`.
    async fn check_account(
        &self,
        conn: &mut MySqlConnection,
        at: &Endpoint,
        user: &str,
    ) -> Result<(), BackendError> {
        let what = "SELECT CURRENT_USER()";
        let row = sqlx::raw_sql(what)
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| self.db_error(at, &e, what))?;
        let account = text(&row, 0).map_err(|e| self.db_error(at, &e, what))?;
        let name = account
            .rsplit_once('@')
            .map_or(account.as_str(), |(u, _)| u);
        if name == user {
            return Ok(());
        }
        Err(BackendError::new(
            ErrorKind::Config,
            format!(
                "{} at {at}: the server logged {user} in as the account {account}, not as {user} (an anonymous account that matches the client's host first takes any user name), so the login proves nothing about {user}; drop that account (DROP USER), then rotate again",
                self.service()
            ),
        ))
    }

    async fn login_inner(&self, creds: &SecretValue) -> Result<bool, BackendError> {
        let t = Target::of(creds)?;
        let user = creds.username().map_err(format_error)?;
        let password = creds.password().map_err(format_error)?;
        match self.connect(&t, user, password).await {
            Ok(mut conn) => {
                let checked = self.check_account(&mut conn, &t.at, user).await;
                let _ = conn.close().await;
                checked.map(|()| true)
            }
            Err(e) if e.kind == ErrorKind::Auth => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn test_inner(&self, creds: &SecretValue) -> Result<(), BackendError> {
        let t = Target::of(creds)?;
        let user = creds.username().map_err(format_error)?;
        let password = creds.password().map_err(format_error)?;
        let mut conn = self.connect(&t, user, password).await?;
        let checked = self.check_account(&mut conn, &t.at, user).await;
        let _ = conn.close().await;
        checked
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
        let server = self.server(&mut conn, &t.at).await?;
        let result = match req.strategy {
            Strategy::SingleUser if admin_user == user => {
                self.change_own(&mut conn, &t, server, admin_password, req.pending)
                    .await
            }
            Strategy::SingleUser => {
                self.change_for(&mut conn, &t.at, server, user, password)
                    .await
            }
            Strategy::AlternatingUsers => {
                let template = req.current.username().map_err(format_error)?;
                if template == user {
                    self.change_for(&mut conn, &t.at, server, user, password)
                        .await
                } else {
                    self.alternate(&mut conn, &t.at, server, template, user, password)
                        .await
                }
            }
        };
        let _ = conn.close().await;
        result
    }

    /// The logged-in user changes its own password, verified by a login with it.
    async fn change_own(
        &self,
        conn: &mut MySqlConnection,
        t: &Target,
        s: Server,
        current_password: &str,
        pending: &SecretValue,
    ) -> Result<(), BackendError> {
        let at = &t.at;
        let user = pending.username().map_err(format_error)?;
        let new_password = pending.password().map_err(format_error)?;
        let lit = quote_str(new_password, s.backslash);
        let set_password = if s.mariadb {
            format!("SET PASSWORD = PASSWORD({lit})")
        } else {
            format!("SET PASSWORD = {lit}")
        };
        let alter_user = format!("ALTER USER CURRENT_USER() IDENTIFIED BY {lit}");
        // MariaDB first gets the mysql_native_password hash, so its logs never hold the
        // password; an account of another plugin refuses that form, and then gets the
        // literal statements.
        let attempts: Vec<String> = if s.mariadb {
            vec![
                format!(
                    "SET PASSWORD = {}",
                    quote_str(&super::hash::mysql_native(new_password), s.backslash)
                ),
                set_password,
                alter_user,
            ]
        } else {
            vec![alter_user, set_password]
        };
        let doing = format!("changing the password of {user}");
        let mut first_error = None;
        for sql in attempts {
            let ran = match sqlx::raw_sql(AssertSqlSafe(sql.clone()))
                .execute(&mut *conn)
                .await
            {
                // MySQL with password_require_current: name the current password.
                Err(sqlx::Error::Database(d)) if number_of(d.as_ref()) == 3892 => {
                    let with_current =
                        format!("{sql} REPLACE {}", quote_str(current_password, s.backslash));
                    self.exec(conn, at, with_current, &doing).await
                }
                Err(e) => Err(self.db_error(at, &e, &doing)),
                Ok(_) => Ok(()),
            };
            match ran {
                Ok(()) => {
                    if self.login_inner(pending).await? {
                        return Ok(());
                    }
                    tracing::warn!(
                        service = self.service(), endpoint = %at, user,
                        "the server accepted the password change, but the new password does not log in; trying the other statement"
                    );
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.unwrap_or_else(|| {
            BackendError::new(
                ErrorKind::Service,
                format!(
                    "{} at {at}: the server accepted the password change for {user}, but the new password does not log in",
                    self.service()
                ),
            )
        }))
    }

    /// The user's accounts: every host it has one on, with its authentication plugin.
    async fn accounts(
        &self,
        conn: &mut MySqlConnection,
        at: &Endpoint,
        user: &str,
    ) -> Result<Vec<(String, String)>, BackendError> {
        let doing = "reading mysql.user";
        let rows = sqlx::query("SELECT Host, plugin FROM mysql.user WHERE User = ? ORDER BY Host")
            .bind(user)
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| self.db_error(at, &e, doing))?;
        rows.iter()
            .map(|r| Ok((text(r, 0)?, text(r, 1).unwrap_or_default())))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| self.db_error(at, &e, doing))
    }

    /// The statement giving `user@host` `password`: for an account of the
    /// `mysql_native_password` plugin (MariaDB's default), its hash, so the server's logs
    /// never hold the password; for others (MySQL 8's `caching_sha2_password`, MariaDB's
    /// `ed25519`), the literal.
    fn set_password_sql(
        &self,
        s: Server,
        user: &str,
        host: &str,
        plugin: &str,
        password: &str,
    ) -> String {
        let acct = account(user, host, s);
        let native = matches!(plugin, "" | "mysql_native_password");
        let hash = quote_str(&super::hash::mysql_native(password), s.backslash);
        let lit = quote_str(password, s.backslash);
        match (s.mariadb, native) {
            (true, true) => format!("SET PASSWORD FOR {acct} = {hash}"),
            (true, false) => format!("SET PASSWORD FOR {acct} = PASSWORD({lit})"),
            (false, true) => {
                format!("ALTER USER {acct} IDENTIFIED WITH mysql_native_password AS {hash}")
            }
            (false, false) => format!("ALTER USER {acct} IDENTIFIED BY {lit}"),
        }
    }

    /// A master sets `user`'s password on every account of it.
    async fn change_for(
        &self,
        conn: &mut MySqlConnection,
        at: &Endpoint,
        s: Server,
        user: &str,
        password: &str,
    ) -> Result<(), BackendError> {
        let hosts = self.accounts(conn, at, user).await?;
        if hosts.is_empty() {
            return Err(BackendError::new(
                ErrorKind::Config,
                format!("{} at {at}: user {user} does not exist", self.service()),
            ));
        }
        for (host, plugin) in hosts {
            let sql = self.set_password_sql(s, user, &host, &plugin, password);
            self.exec(
                conn,
                at,
                sql,
                &format!("changing the password of {user}@{host}"),
            )
            .await?;
        }
        Ok(())
    }

    async fn show_grants(
        &self,
        conn: &mut MySqlConnection,
        at: &Endpoint,
        s: Server,
        user: &str,
        host: &str,
    ) -> Result<Vec<String>, BackendError> {
        let doing = format!("reading the grants of {user}@{host}");
        let rows = sqlx::raw_sql(AssertSqlSafe(format!(
            "SHOW GRANTS FOR {}",
            account(user, host, s)
        )))
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| self.db_error(at, &e, &doing))?;
        rows.iter()
            .map(|r| text(r, 0))
            .collect::<Result<_, _>>()
            .map_err(|e| self.db_error(at, &e, &doing))
    }

    async fn alternate(
        &self,
        conn: &mut MySqlConnection,
        at: &Endpoint,
        s: Server,
        template: &str,
        user: &str,
        password: &str,
    ) -> Result<(), BackendError> {
        let service = self.service();
        let template_accounts = self.accounts(conn, at, template).await?;
        if template_accounts.is_empty() {
            return Err(BackendError::new(
                ErrorKind::Config,
                format!(
                    "{service} at {at}: the current user {template}, whose grants {user} should get, does not exist"
                ),
            ));
        }
        let existing: BTreeMap<String, String> =
            self.accounts(conn, at, user).await?.into_iter().collect();
        for (host, plugin) in &template_accounts {
            if !existing.contains_key(host) {
                // Created with a password nobody knows: the pending password logs in only
                // once the grants are complete (the last statement below), so a call cut
                // off half-way never leaves a pending login without its privileges.
                let throwaway = format!(
                    "{}{}",
                    uuid::Uuid::new_v4().simple(),
                    uuid::Uuid::new_v4().simple()
                );
                let lit = quote_str(&throwaway, s.backslash);
                let with = match plugin.as_str() {
                    p @ ("mysql_native_password" | "caching_sha2_password" | "sha256_password")
                        if !s.mariadb =>
                    {
                        format!(" WITH {p}")
                    }
                    _ => String::new(),
                };
                self.exec(
                    conn,
                    at,
                    format!(
                        "CREATE USER IF NOT EXISTS {} IDENTIFIED{with} BY {lit}",
                        account(user, host, s)
                    ),
                    &format!("creating user {user}@{host}"),
                )
                .await?;
                tracing::info!(service, endpoint = %at, user, host = %host, template, "created the alternate user's account");
            }

            let mut wanted = Vec::new();
            for (i, line) in self
                .show_grants(conn, at, s, template, host)
                .await?
                .iter()
                .enumerate()
            {
                let g = GrantLine::parse(line).filter(|g| g.user == template && g.host == *host).ok_or_else(|| {
                    BackendError::new(
                        ErrorKind::Config,
                        format!("{service} at {at}: grant {} of {template}@{host} has a form rotgen cannot copy", i + 1),
                    )
                })?;
                wanted.push(g);
            }
            let mut have = Vec::new();
            for line in self.show_grants(conn, at, s, user, host).await? {
                match GrantLine::parse(&line) {
                    Some(g) => have.push(g),
                    None => {
                        tracing::warn!(service, endpoint = %at, user, host = %host, "a grant of the pending user has a form rotgen cannot read; left as it is")
                    }
                }
            }
            // Nothing is revoked: what someone granted the pending user stays.
            let have_keys: BTreeSet<(&str, &str)> = have.iter().map(GrantLine::key).collect();
            let acct = account(user, host, s);
            let has_default_role = have.iter().any(|g| g.kind == LineKind::DefaultRole);
            for (i, g) in wanted.iter().enumerate() {
                // A partial revoke of the template's, or a default role where the pending
                // user has its own, would take something from the pending user.
                let takes_away = g.kind == LineKind::Revoke
                    || (g.kind == LineKind::DefaultRole && has_default_role);
                if have_keys.contains(&g.key()) || takes_away {
                    continue;
                }
                self.exec(
                    conn,
                    at,
                    g.replay(&acct),
                    &format!(
                        "copying grant {} of {template}@{host} to {user}@{host}",
                        i + 1
                    ),
                )
                .await?;
            }
            let plugin = existing.get(host).unwrap_or(plugin);
            let sql = self.set_password_sql(s, user, host, plugin, password);
            self.exec(
                conn,
                at,
                sql,
                &format!("changing the password of {user}@{host}"),
            )
            .await?;
        }
        Ok(())
    }
}

/// A text column, whatever type the server gave it.
fn text(row: &MySqlRow, i: usize) -> Result<String, sqlx::Error> {
    match row.try_get::<String, _>(i) {
        Ok(s) => Ok(s),
        Err(_) => {
            let b: Vec<u8> = row.try_get_unchecked(i)?;
            Ok(String::from_utf8_lossy(&b).into_owned())
        }
    }
}

/// A lexical token of a `SHOW GRANTS` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Word,
    /// `` `…` ``
    Ident,
    /// `'…'` or `"…"`
    Str,
    Sym(u8),
}

#[derive(Debug, Clone, Copy)]
struct Token {
    tok: Tok,
    start: usize,
    end: usize,
    depth: u32,
}

/// Splits a line into tokens, or `None` if a quote is not closed.
fn lex(s: &str) -> Option<Vec<Token>> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut depth = 0u32;
    while i < b.len() {
        let c = b[i];
        let start = i;
        let tok = match c {
            c if c.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            b'`' | b'\'' | b'"' => {
                i += 1;
                loop {
                    match b.get(i) {
                        None => return None,
                        Some(&q) if q == c => {
                            if b.get(i + 1) == Some(&c) {
                                i += 2;
                            } else {
                                i += 1;
                                break;
                            }
                        }
                        Some(b'\\') if c != b'`' => i += 2,
                        Some(_) => i += 1,
                    }
                }
                if c == b'`' { Tok::Ident } else { Tok::Str }
            }
            c if c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80 => {
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric()
                        || b[i] == b'_'
                        || b[i] == b'$'
                        || b[i] >= 0x80)
                {
                    i += 1;
                }
                Tok::Word
            }
            c => {
                i += 1;
                Tok::Sym(c)
            }
        };
        if tok == Tok::Sym(b')') {
            depth = depth.saturating_sub(1);
        }
        out.push(Token {
            tok,
            start,
            end: i.min(b.len()),
            depth,
        });
        if tok == Tok::Sym(b'(') {
            depth += 1;
        }
    }
    Some(out)
}

/// The name a quoted identifier or string token stands for.
fn unquote(s: &str, t: &Token) -> String {
    let raw = &s[t.start..t.end];
    match t.tok {
        Tok::Ident => raw[1..raw.len() - 1].replace("``", "`"),
        Tok::Str => {
            let q = raw.as_bytes()[0] as char;
            let inner = &raw[1..raw.len() - 1];
            let mut out = String::with_capacity(inner.len());
            let mut chars = inner.chars().peekable();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        out.push(n);
                    }
                } else if c == q && chars.peek() == Some(&q) {
                    chars.next();
                    out.push(q);
                } else {
                    out.push(c);
                }
            }
            out
        }
        _ => raw.to_string(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineKind {
    /// `GRANT … TO acct …`
    Grant,
    /// `REVOKE … FROM acct` (MySQL partial revokes)
    Revoke,
    /// `SET DEFAULT ROLE … FOR acct` (MariaDB)
    DefaultRole,
}

/// One line of `SHOW GRANTS`, split around its account.
#[derive(Debug, Clone, PartialEq, Eq)]
struct GrantLine {
    kind: LineKind,
    /// Everything before the account (`GRANT SELECT ON `db`.* TO `).
    head: String,
    /// Everything after it, without an `IDENTIFIED …` clause.
    tail: String,
    /// Between the statement's first word and `TO` (`SELECT ON `db`.*`).
    body: String,
    /// For a GRANT with `ON`: the object.
    object: Option<String>,
    grant_option: bool,
    user: String,
    host: String,
}

fn word_is(s: &str, t: &Token, w: &str) -> bool {
    t.tok == Tok::Word && t.depth == 0 && s[t.start..t.end].eq_ignore_ascii_case(w)
}

impl GrantLine {
    fn parse(line: &str) -> Option<GrantLine> {
        let toks = lex(line)?;
        let first = toks.first()?;
        let (kind, kw) = if word_is(line, first, "GRANT") {
            (LineKind::Grant, "TO")
        } else if word_is(line, first, "REVOKE") {
            (LineKind::Revoke, "FROM")
        } else if word_is(line, first, "SET") {
            (LineKind::DefaultRole, "FOR")
        } else {
            return None;
        };
        let k = toks.iter().rposition(|t| word_is(line, t, kw))?;
        let (u, at, h) = (toks.get(k + 1)?, toks.get(k + 2)?, toks.get(k + 3)?);
        if !matches!(u.tok, Tok::Ident | Tok::Str)
            || at.tok != Tok::Sym(b'@')
            || !matches!(h.tok, Tok::Ident | Tok::Str)
        {
            return None;
        }
        let rest = &toks[k + 4..];
        let mut tail = String::new();
        let mut cut = None;
        for (i, t) in rest.iter().enumerate() {
            if word_is(line, t, "IDENTIFIED") {
                cut = Some(i);
                break;
            }
        }
        match cut {
            None => tail.push_str(&line[h.end..]),
            Some(i) => {
                tail.push_str(&line[h.end..rest[i].start]);
                if let Some(next) = rest[i + 1..]
                    .iter()
                    .find(|t| word_is(line, t, "REQUIRE") || word_is(line, t, "WITH"))
                {
                    tail.push_str(&line[next.start..]);
                }
            }
        }
        let tail = tail.trim_end().to_string();
        let grant_option = rest
            .windows(2)
            .any(|w| word_is(line, &w[0], "GRANT") && word_is(line, &w[1], "OPTION"));
        let on = toks[1..k]
            .iter()
            .position(|t| word_is(line, t, "ON"))
            .map(|i| i + 1);
        Some(GrantLine {
            kind,
            head: line[..u.start].to_string(),
            tail,
            body: line[first.end..toks[k].start].to_string(),
            object: on.map(|i| line[toks[i].end..toks[k].start].trim().to_string()),
            grant_option,
            user: unquote(line, u),
            host: unquote(line, h),
        })
    }

    /// What two accounts' lines are compared by.
    fn key(&self) -> (&str, &str) {
        (&self.head, &self.tail)
    }

    /// This line for another account.
    fn replay(&self, acct: &str) -> String {
        format!("{}{acct}{}", self.head, self.tail)
    }
}

impl Backend for Mysql {
    async fn login(&self, creds: &SecretValue) -> Result<bool, BackendError> {
        call("logging in to", self.service(), self.login_inner(creds)).await
    }

    async fn set_password(&self, req: SetPassword<'_>) -> Result<(), BackendError> {
        call(
            "setting the password on",
            self.service(),
            self.set_password_inner(req),
        )
        .await
    }

    async fn test(&self, creds: &SecretValue) -> Result<(), BackendError> {
        call(
            "testing the login to",
            self.service(),
            self.test_inner(creds),
        )
        .await
    }

    fn max_username_len(&self) -> usize {
        self.max_username
    }

    fn default_port(&self) -> u16 {
        DEFAULT_PORT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_follow_the_sql_mode() {
        assert_eq!(quote_str(r"a'b\c", true), r"'a''b\\c'");
        assert_eq!(quote_str(r"a'b\c", false), r"'a''b\c'");
    }

    #[test]
    fn grant_lines_split_around_the_account() {
        let g = GrantLine::parse(
            "GRANT USAGE ON *.* TO `pr``o'be`@`%` IDENTIFIED BY PASSWORD '*B69027D44F6E5EDC07F1AEAD1477967B16F28227' REQUIRE SSL WITH MAX_QUERIES_PER_HOUR 100",
        )
        .unwrap();
        assert_eq!(g.user, "pr`o'be");
        assert_eq!(g.host, "%");
        assert_eq!(
            g.replay("'c'@'%'"),
            "GRANT USAGE ON *.* TO 'c'@'%' REQUIRE SSL WITH MAX_QUERIES_PER_HOUR 100"
        );

        let g = GrantLine::parse(
            "GRANT SELECT (`a`), INSERT ON `probe`.`t` TO `app`@`%` WITH GRANT OPTION",
        )
        .unwrap();
        assert_eq!(g.object.as_deref(), Some("`probe`.`t`"));
        assert!(g.grant_option);

        let g = GrantLine::parse("GRANT `r1` TO `app`@`%`").unwrap();
        assert_eq!(g.replay("'c'@'%'"), "GRANT `r1` TO 'c'@'%'");
        let g = GrantLine::parse("SET DEFAULT ROLE `r1` FOR `app`@`%`").unwrap();
        assert_eq!(g.kind, LineKind::DefaultRole);
        assert_eq!(g.replay("'c'@'%'"), "SET DEFAULT ROLE `r1` FOR 'c'@'%'");

        // A table named like a keyword, quoted: not a keyword.
        let g = GrantLine::parse("GRANT SELECT ON `db`.`TO` TO 'app'@'10.0.%'").unwrap();
        assert_eq!((g.user.as_str(), g.host.as_str()), ("app", "10.0.%"));
        assert!(GrantLine::parse("GRANT SELECT ON `db`.* TO `unterminated").is_none());
    }

    #[test]
    fn error_kinds() {
        assert_eq!(kind_of(1045), ErrorKind::Auth);
        assert_eq!(kind_of(1227), ErrorKind::Permission);
        assert_eq!(kind_of(1044), ErrorKind::Permission);
        assert_eq!(kind_of(1142), ErrorKind::Permission);
        assert_eq!(kind_of(1040), ErrorKind::Unavailable);
        assert_eq!(kind_of(1064), ErrorKind::Service);
    }

    #[test]
    fn a_failure_with_a_password_in_play_does_not_show_it() {
        let s = SecretValue::parse(
            r#"{"host":"127.0.0.1","port":1,"username":"app","password":"hunter2-pw'\\","ssl":false}"#,
        );
        crate::backends::assert_failures_hide_the_password(
            &Mysql::new(Flavour::Mariadb, Trust::none()),
            &s,
        );
    }

    #[test]
    fn limits() {
        assert_eq!(
            Mysql::new(Flavour::Mysql, Trust::none()).max_username_len(),
            32
        );
        assert_eq!(
            Mysql::new(Flavour::Mariadb, Trust::none()).max_username_len(),
            80
        );
    }
}
