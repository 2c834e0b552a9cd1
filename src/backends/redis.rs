//! Redis (6 or later) ACL users, self-managed or any server that takes `ACL SETUSER`.
//!
//! Secret keys: `host`, `port` (6379), `username`, `password`, `ssl`.
//!
//! - login: `AUTH <username> <password>` (and nothing else); `WRONGPASS` → `Ok(false)`.
//! - test: the same login, then `PING` (a user not allowed to run PING still passes:
//!   only the AUTH must succeed).
//! - single-user (the admin is the master secret named by `masterarn`, or the user's own
//!   credentials if it may run `ACL SETUSER`):
//!   `ACL SETUSER <user> resetpass #<current> #<pending>`, so the user's passwords are
//!   exactly the AWSCURRENT and the AWSPENDING ones: clients holding the current
//!   password keep working through the rotation, and the password before it stops
//!   working. The user must exist already. Passwords go as SHA-256 hashes (`#…`), so
//!   `MONITOR` and the slow log never show them.
//! - alternating-users: the pending user gets the current (template) user's rules from
//!   `ACL LIST` (keys, channels, commands, selectors, on/off; not its passwords), and
//!   keeps what it could do before as an extra selector, in one
//!   `ACL SETUSER <pending> reset <rules…> (<its own rules>) #<pending>` (created if
//!   missing): nothing granted to either user is ever taken away (Redis 7 selectors).
//!
//!   Then `ACL SAVE`, so the change survives a restart when the server uses an ACL file.
//!   A failed save is a retryable error (the step is retried, and runs `ACL SETUSER` and
//!   `ACL SAVE` again); only a server with no ACL file skips it.
//!
//! Rights the admin needs: `+acl|setuser +acl|save` (and `+acl|getuser` for single
//! user, `+acl|list` for alternating users).
//!
//! TLS: with `ssl` absent, a plaintext Redis port does not answer a TLS handshake at all
//! (it waits for a line), so trying TLS first would cost a full timeout on every call.
//! Instead the port is probed with an unauthenticated `PING`: a port that answers in RESP
//! speaks plaintext, so TLS cannot work there and plaintext is used, with a warning that
//! names the secret; any other port gets TLS with verification, and a failed certificate
//! or host-name check is an error, never a plaintext retry. `ssl: true` never probes.

use super::{
    CALL_TIMEOUT, CONNECT_TIMEOUT, Endpoint, Trust, call, check_password, format_error,
    io_error_reason, tls_reason,
};
use crate::rotation::backend::{Backend, BackendError, ErrorKind, SetPassword, Strategy};
use crate::rotation::secret::{SecretValue, Tls};
use ::redis::aio::MultiplexedConnection;
use ::redis::{
    AsyncConnectionConfig, Client, ConnectionAddr, ConnectionInfo, IntoConnectionInfo,
    RedisConnectionInfo, RedisError, ServerErrorKind, TlsCertificates, Value,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SERVICE: &str = "redis";
const DEFAULT_PORT: u16 = 6379;
/// How long a plaintext probe waits for an answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// The Redis backend.
#[derive(Debug, Clone, Default)]
pub struct Redis {
    /// When `ROTGEN_CA_FILE` is set: the system bundle plus it (the redis client replaces
    /// its roots with what it is given).
    roots: Option<Arc<Vec<u8>>>,
    /// The function's TLS floor (and nothing else of its trust: the roots are above).
    floor: Trust,
}

#[derive(Debug, Clone)]
struct Target {
    at: Endpoint,
    tls: Tls,
}

impl Target {
    fn of(secret: &SecretValue) -> Result<Target, BackendError> {
        Ok(Target {
            at: Endpoint::of(secret, DEFAULT_PORT)?,
            tls: secret.tls().map_err(format_error)?,
        })
    }
}

/// The code of a server error (`WRONGPASS`, `NOPERM`, `ERR`…), never its text.
fn code(e: &RedisError) -> String {
    e.code()
        .filter(|c| c.len() <= 32 && c.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'))
        .unwrap_or("")
        .to_string()
}

fn error(at: &Endpoint, e: &RedisError, doing: &str, tls: bool) -> BackendError {
    use ::redis::ErrorKind as K;
    let c = code(e);
    let shown = if c.is_empty() {
        String::new()
    } else {
        format!(" ({c})")
    };
    match e.kind() {
        K::AuthenticationFailed => BackendError::new(
            ErrorKind::Auth,
            format!("{SERVICE} at {at}: {doing} failed: the login was rejected{shown}"),
        ),
        K::Server(ServerErrorKind::NoPerm) => BackendError::new(
            ErrorKind::Permission,
            format!("{SERVICE} at {at}: {doing} failed: not permitted{shown}"),
        ),
        K::InvalidClientConfig => BackendError::new(
            ErrorKind::Config,
            format!("{SERVICE} at {at}: {doing} failed: invalid client settings"),
        ),
        K::Server(
            ServerErrorKind::BusyLoading
            | ServerErrorKind::TryAgain
            | ServerErrorKind::MasterDown
            | ServerErrorKind::ClusterDown,
        ) => BackendError::new(
            ErrorKind::Unavailable,
            format!("{SERVICE} at {at}: {doing} failed: the server is not ready{shown}"),
        ),
        K::Server(ServerErrorKind::ReadOnly) => BackendError::new(
            ErrorKind::Config,
            format!("{SERVICE} at {at}: {doing} failed: the server is a read-only replica{shown}"),
        ),
        K::Io | K::Parse => {
            if e.is_timeout() {
                BackendError::new(
                    ErrorKind::Unavailable,
                    format!("{SERVICE} at {at}: {doing} timed out"),
                )
            } else if e.is_connection_refusal() {
                BackendError::new(
                    ErrorKind::Unavailable,
                    format!("cannot reach {SERVICE} at {at}: connection refused"),
                )
            } else if tls {
                BackendError::new(
                    ErrorKind::Unavailable,
                    format!(
                        "TLS with {SERVICE} at {at} failed: {}",
                        tls_reason(&e.to_string())
                    ),
                )
            } else {
                BackendError::new(
                    ErrorKind::Unavailable,
                    format!("{SERVICE} at {at}: {doing} failed: the connection failed"),
                )
            }
        }
        _ => BackendError::new(
            ErrorKind::Service,
            format!("{SERVICE} at {at}: {doing} failed{shown}"),
        ),
    }
}

fn timed_out(at: &Endpoint, tls: bool) -> BackendError {
    let secs = CONNECT_TIMEOUT.as_secs();
    BackendError::new(
        ErrorKind::Unavailable,
        if tls {
            format!(
                "TLS with {SERVICE} at {at} failed: no answer to the handshake within {secs} s (a plaintext port does not answer one)"
            )
        } else {
            format!("connecting to {SERVICE} at {at} timed out after {secs} s")
        },
    )
}

impl Redis {
    pub fn new(trust: Trust) -> Redis {
        // The client trusts the system's store by itself; with an extra bundle it
        // trusts only what it is given, so it gets both.
        let roots = trust
            .extra_pem()
            .and(trust.roots_pem())
            .map(|pem| Arc::new(pem.to_vec()));
        Redis {
            roots,
            floor: Trust::none().with_floor_of(&trust),
        }
    }

    /// Whether `t`'s port answers a plaintext `PING` in RESP (no credentials are sent).
    async fn speaks_plaintext(&self, at: &Endpoint) -> Result<bool, BackendError> {
        let connect = tokio::net::TcpStream::connect((at.host.as_str(), at.port));
        let mut s = match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
            Err(_) => {
                return Err(BackendError::new(
                    ErrorKind::Unavailable,
                    format!(
                        "connecting to {SERVICE} at {at} timed out after {} s",
                        CONNECT_TIMEOUT.as_secs()
                    ),
                ));
            }
            Ok(Err(e)) => {
                return Err(BackendError::new(
                    ErrorKind::Unavailable,
                    format!("cannot reach {SERVICE} at {at}: {}", io_error_reason(&e)),
                ));
            }
            Ok(Ok(s)) => s,
        };
        if s.write_all(b"PING\r\n").await.is_err() {
            return Ok(false);
        }
        let mut first = [0u8; 1];
        let plaintext = matches!(
            tokio::time::timeout(PROBE_TIMEOUT, s.read(&mut first)).await,
            Ok(Ok(1)) if first[0] == b'+' || first[0] == b'-'
        );
        Ok(plaintext)
    }

    fn client(
        &self,
        at: &Endpoint,
        tls: bool,
        user: &str,
        password: &str,
    ) -> Result<Client, BackendError> {
        let addr = if tls {
            ConnectionAddr::TcpTls {
                host: at.host.clone(),
                port: at.port,
                insecure: false,
                tls_params: None,
            }
        } else {
            ConnectionAddr::Tcp(at.host.clone(), at.port)
        };
        let settings = RedisConnectionInfo::default()
            .set_username(user)
            .set_password(password)
            .set_skip_set_lib_name();
        let info: ConnectionInfo = addr
            .into_connection_info()
            .map_err(|e| error(at, &e, "preparing the connection", tls))?
            .set_redis_settings(settings);
        let built = match (&self.roots, tls) {
            (Some(roots), true) => Client::build_with_tls(
                info,
                TlsCertificates {
                    client_tls: None,
                    root_cert: Some(roots.as_ref().clone()),
                },
            ),
            _ => Client::open(info),
        };
        built.map_err(|e| error(at, &e, "preparing the connection", tls))
    }

    /// A connection logged in as `user` (the client sends AUTH while connecting).
    async fn connect(
        &self,
        t: &Target,
        user: &str,
        password: &str,
    ) -> Result<MultiplexedConnection, BackendError> {
        tracing::debug!(service = SERVICE, "connecting");
        let tls = match self.floor.floor(t.tls) {
            Tls::Require => true,
            Tls::Disable => false,
            Tls::Prefer => {
                let plain = self.speaks_plaintext(&t.at).await?;
                if plain {
                    super::warn_plaintext(SERVICE, &t.at);
                }
                !plain
            }
        };
        let client = self.client(&t.at, tls, user, password)?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(CALL_TIMEOUT / 2));
        match tokio::time::timeout(
            CONNECT_TIMEOUT,
            client.get_multiplexed_async_connection_with_config(&config),
        )
        .await
        {
            Err(_) => Err(timed_out(&t.at, tls)),
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) if e.is_timeout() => Err(timed_out(&t.at, tls)),
            Ok(Err(e)) => {
                let mut err = error(&t.at, &e, &format!("logging in as {user}"), tls);
                if err.kind == ErrorKind::Auth {
                    err.message =
                        format!("{SERVICE} at {} rejected the login for user {user}", t.at);
                }
                Err(err)
            }
        }
        .map_err(|e| self.floor.explain_floor(t.tls, e))
    }

    async fn login_inner(&self, creds: &SecretValue) -> Result<bool, BackendError> {
        let t = Target::of(creds)?;
        let user = creds.username().map_err(format_error)?;
        let password = creds.password().map_err(format_error)?;
        match self.connect(&t, user, password).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind == ErrorKind::Auth => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn test_inner(&self, creds: &SecretValue) -> Result<(), BackendError> {
        let t = Target::of(creds)?;
        let user = creds.username().map_err(format_error)?;
        let password = creds.password().map_err(format_error)?;
        let mut conn = self.connect(&t, user, password).await?;
        let pong: Result<Value, RedisError> = ::redis::cmd("PING").query_async(&mut conn).await;
        match pong {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.kind(),
                    ::redis::ErrorKind::Server(ServerErrorKind::NoPerm)
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(error(&t.at, &e, "PING", t.tls == Tls::Require)),
        }
    }

    async fn set_password_inner(&self, req: SetPassword<'_>) -> Result<(), BackendError> {
        let mut t = Target::of(req.pending)?;
        t.tls = super::tls_for(t.tls, req.admin)?;
        let at = &t.at;
        let user = req.pending.username().map_err(format_error)?;
        let pending = req.pending.password().map_err(format_error)?;
        check_password(pending)?;
        let template = req.current.username().map_err(format_error)?;
        let admin_user = req.admin.username().map_err(format_error)?;
        let admin_password = req.admin.password().map_err(format_error)?;
        let mut conn = self.connect(&t, admin_user, admin_password).await?;
        let tls = t.tls == Tls::Require;

        let mut setuser = ::redis::cmd("ACL");
        setuser.arg("SETUSER").arg(user);
        if req.strategy == Strategy::AlternatingUsers && template != user {
            let lines = self.acl_list(&mut conn, at, tls).await?;
            let rules = rules_of(&lines, template).ok_or_else(|| {
                BackendError::new(
                    ErrorKind::Config,
                    format!("{SERVICE} at {at}: the current user {template}, whose rules {user} should get, does not exist"),
                )
            })?;
            setuser.arg("reset");
            for r in union_rules(&rules, rules_of(&lines, user).as_deref()) {
                setuser.arg(r);
            }
            setuser.arg(format!("#{}", super::hash::redis_sha256(pending)));
        } else {
            let exists: Value = ::redis::cmd("ACL")
                .arg("GETUSER")
                .arg(user)
                .query_async(&mut conn)
                .await
                .map_err(|e| error(at, &e, "ACL GETUSER", tls))?;
            if matches!(exists, Value::Nil) {
                return Err(BackendError::new(
                    ErrorKind::Config,
                    format!("{SERVICE} at {at}: user {user} does not exist"),
                ));
            }
            let current = req.current.password().map_err(format_error)?;
            setuser.arg("resetpass");
            if current != pending && !current.is_empty() {
                setuser.arg(format!("#{}", super::hash::redis_sha256(current)));
            }
            setuser.arg(format!("#{}", super::hash::redis_sha256(pending)));
        }
        let _: Value = setuser
            .query_async(&mut conn)
            .await
            .map_err(|e| error(at, &e, &format!("ACL SETUSER {user}"), tls))?;

        // Without a save the change lives only in memory: a restart or `ACL LOAD` would
        // bring back the old password. Only a server with no ACL file may skip it.
        let saved: Result<Value, RedisError> =
            ::redis::cmd("ACL").arg("SAVE").query_async(&mut conn).await;
        match saved {
            Ok(_) => Ok(()),
            Err(e)
                if e.detail()
                    .is_some_and(|d| d.contains("not configured to use an ACL file")) =>
            {
                tracing::debug!(service = SERVICE, endpoint = %at, "the server has no ACL file: nothing to save");
                Ok(())
            }
            Err(e) => Err(BackendError::new(
                ErrorKind::Service,
                format!(
                    "{SERVICE} at {at}: ACL SAVE failed{}, so the new password lives only in the server's memory and a restart would lose it; {}",
                    match code(&e).as_str() {
                        "" => String::new(),
                        c => format!(" ({c})"),
                    },
                    if matches!(
                        e.kind(),
                        ::redis::ErrorKind::Server(ServerErrorKind::NoPerm)
                    ) {
                        format!("allow {admin_user} to run it (+acl|save)")
                    } else {
                        "check that the server can write its ACL file".to_string()
                    }
                ),
            )),
        }
    }

    async fn acl_list(
        &self,
        conn: &mut MultiplexedConnection,
        at: &Endpoint,
        tls: bool,
    ) -> Result<Vec<String>, BackendError> {
        ::redis::cmd("ACL")
            .arg("LIST")
            .query_async(conn)
            .await
            .map_err(|e| error(at, &e, "ACL LIST", tls))
    }
}

/// `user`'s rules in `ACL LIST`'s lines, without passwords, or `None` if there is no such
/// user.
fn rules_of(lines: &[String], user: &str) -> Option<Vec<String>> {
    lines.iter().find_map(|l| {
        let words = split_rules(l);
        match words.as_slice() {
            [u, name, rules @ ..] if u == "user" && name == user => Some(
                rules
                    .iter()
                    .filter(|r| {
                        !(r.starts_with('#')
                            || r.starts_with('>')
                            || r.starts_with('<')
                            || r.starts_with('!'))
                    })
                    .filter(|r| !matches!(r.as_str(), "nopass" | "resetpass"))
                    .cloned()
                    .collect(),
            ),
            _ => None,
        }
    })
}

/// Whether an ACL rule grants or limits access (what a selector may hold), rather than
/// being a flag (`on`, `sanitize-payload`) or a selector itself.
fn is_permission(rule: &str) -> bool {
    rule.starts_with(['~', '%', '&', '+', '-'])
        || matches!(
            rule,
            "allkeys"
                | "resetkeys"
                | "allchannels"
                | "resetchannels"
                | "allcommands"
                | "nocommands"
        )
}

/// The pending user's rules: the template's (so it can do all the template can), plus,
/// as selectors, what the pending user could do before (so nothing granted to it is
/// taken away). Redis allows a command when the root rules or any selector allow it.
fn union_rules(template: &[String], pending_before: Option<&[String]>) -> Vec<String> {
    let mut out: Vec<String> = template.to_vec();
    let selector = |perms: Vec<&str>| format!("({})", perms.join(" "));
    let template_root = selector(
        template
            .iter()
            .map(String::as_str)
            .filter(|r| is_permission(r))
            .collect(),
    );
    let Some(before) = pending_before else {
        return out;
    };
    let mut extra: Vec<String> = Vec::new();
    let root: Vec<&str> = before
        .iter()
        .map(String::as_str)
        .filter(|r| is_permission(r))
        .collect();
    let grants = root
        .iter()
        .any(|r| r.starts_with('+') || *r == "allcommands");
    if grants {
        extra.push(selector(root));
    }
    extra.extend(before.iter().filter(|r| r.starts_with('(')).cloned());
    for s in extra {
        if s != template_root && !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// Splits an `ACL LIST` line at spaces outside selectors (`(…)`).
fn split_rules(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0u32;
    for c in line.chars() {
        match c {
            '(' => {
                depth += 1;
                cur.push(c);
            }
            ')' => {
                depth = depth.saturating_sub(1);
                cur.push(c);
            }
            ' ' if depth == 0 => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

impl Backend for Redis {
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
        // Redis itself sets no limit on ACL user names; this only keeps names sane.
        128
    }

    fn default_port(&self) -> u16 {
        DEFAULT_PORT
    }

    /// `ACL SETUSER … >current >pending` leaves the current password working, so a retry
    /// runs it again, and `ACL SAVE` with it.
    fn reruns_set(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acl_list_lines_split_outside_selectors() {
        assert_eq!(
            split_rules("user app on #abc ~app:* resetchannels -@all +get (~other:* +set)"),
            vec![
                "user",
                "app",
                "on",
                "#abc",
                "~app:*",
                "resetchannels",
                "-@all",
                "+get",
                "(~other:* +set)"
            ]
        );
    }

    #[test]
    fn pending_keeps_its_own_rules_as_selectors() {
        let t: Vec<String> = ["on", "~app:*", "resetchannels", "-@all", "+get"]
            .map(String::from)
            .to_vec();
        assert_eq!(union_rules(&t, None), t);
        // Before: the copy of the template, plus a grant of its own.
        let before: Vec<String> = ["on", "~app:*", "resetchannels", "-@all", "+get", "+set"]
            .map(String::from)
            .to_vec();
        let u = union_rules(&t, Some(&before));
        assert_eq!(u.last().unwrap(), "(~app:* resetchannels -@all +get +set)");
        // The same as the template: nothing added, and nothing added twice.
        assert_eq!(union_rules(&t, Some(&t)), t);
        assert_eq!(union_rules(&u, Some(&u)), u);
    }

    #[test]
    fn a_failure_with_a_password_in_play_does_not_show_it() {
        let s = SecretValue::parse(
            r#"{"host":"127.0.0.1","port":1,"username":"app","password":"hunter2-pw","ssl":false}"#,
        );
        crate::backends::assert_failures_hide_the_password(&Redis::default(), &s);
    }
}
