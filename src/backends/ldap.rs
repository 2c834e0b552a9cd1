//! # The `ldap` service: a user of an LDAP directory (OpenLDAP, 389 Directory Server…)
//!
//! The secret:
//!
//! ```json
//! {"engine": "ldap", "host": "ldap.example.com", "port": 636,
//!  "username": "uid=app,ou=people,dc=example,dc=com", "password": "…"}
//! ```
//!
//! `username` is the user's DN. Port 636 (the default) speaks LDAPS; any other port
//! StartTLS (`"ldaps": true` says a port speaks LDAPS). Other keys are kept.
//!
//! - **login / testSecret**: a simple bind as the user (testSecret then asks the
//!   directory who it is: the WhoAmI operation). `invalidCredentials` is a rejected
//!   password. An empty password is refused before any bind: LDAP reads it as an
//!   anonymous bind, which would succeed.
//! - **single user**: the user binds with its current password and changes it with the
//!   Password Modify extended operation (RFC 3062, old and new password), so the
//!   directory applies its password policy to the change. With a master secret
//!   (`masterarn`: an administrator's DN and password), the administrator resets it
//!   instead. A policy that refuses the new password (`constraintViolation`) is one
//!   clear line, and nothing changes.
//! - Alternating users are not offered: a directory's users are people and services
//!   with their own group memberships, which rotgen does not copy.
//!
//! TLS follows the rules of the databases: verified TLS (LDAPS, or StartTLS before the
//! bind), never a bind in plaintext after a failed certificate or host-name check, and a
//! server that refuses StartTLS gets the password in plaintext only if the secret does
//! not ask for TLS and the function's configuration allows it (generated templates do
//! not).
//!
//! The messages are built from LDAP result codes only, never from the directory's
//! diagnostic text (which can echo input).
//!
//! **Active Directory** (`"directory": "active-directory"` in the secret) has no Password
//! Modify operation: the password is the `unicodePwd` attribute, written as the new
//! password in double quotes, UTF-16LE, over TLS only. The user changes its own by
//! deleting the old value and adding the new one in one Modify (AD checks the old one,
//! and its password policy applies); an administrator replaces it. This follows
//! Microsoft's documentation ("Change a Windows Active Directory and LDS user password
//! through LDAP"); no Active Directory runs in the tests, which check the encoding, and
//! that a directory without `unicodePwd` refuses the change with nothing changed.
//! `username` must then be the user's DN (a Modify names its object by DN).

use super::https::{tls_config, tls_failure};
use super::{
    CONNECT_TIMEOUT, Endpoint, Link, Retry, Trust, call, check_password, connect_tls, format_error,
    io_error_reason,
};
use crate::rotation::backend::{Backend, BackendError, ErrorKind, SetPassword};
use crate::rotation::secret::SecretValue;
use ldap3::exop::{PasswordModify, WhoAmI};
use ldap3::{LdapConnAsync, LdapConnSettings, LdapError, Mod, StdStream};
use std::collections::HashSet;
use std::sync::Arc;
use tokio::net::TcpStream;

const SERVICE: &str = "ldap";
/// LDAPS.
pub const DEFAULT_PORT: u16 = 636;

/// An Active Directory password value: the password in double quotes, UTF-16LE.
fn ad_password(password: &str) -> Vec<u8> {
    format!("\"{password}\"")
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect()
}

/// A DN for comparing: attribute types and values lowercased, spaces around `,`, `=`
/// and `+` dropped (how directories write the same DN differs only so, for ASCII).
fn dn_key(dn: &str) -> String {
    let mut out = String::with_capacity(dn.len());
    for part in dn.split(',') {
        if !out.is_empty() {
            out.push(',');
        }
        let rdn: Vec<String> = part
            .split('+')
            .map(|ava| match ava.split_once('=') {
                Some((t, v)) => format!("{}={}", t.trim(), v.trim()),
                None => ava.trim().to_string(),
            })
            .collect();
        out.push_str(&rdn.join("+"));
    }
    out.to_lowercase()
}

/// testSecret's check of the WhoAmI answer (RFC 4532): the directory says the bind is
/// the secret's own `username`. An empty answer is an anonymous bind; another DN is
/// another login. Active Directory answers `u:DOMAIN\\name`, not a DN: there the bind
/// must not be anonymous.
fn check_whoami(authz: &[u8], username: &str, ad: bool) -> Result<(), String> {
    let authz = String::from_utf8_lossy(authz);
    if authz.is_empty() {
        return Err("the directory says this bind is anonymous (WhoAmI answered nothing), so the secret's credentials are not a login: put the user's DN and password in the secret".into());
    }
    match authz.strip_prefix("dn:") {
        Some(dn) if dn_key(dn) == dn_key(username) => Ok(()),
        Some(dn) => Err(format!(
            "the directory says this bind is `{dn}`, not the secret's username `{username}`: put the DN the password belongs to in `username`"
        )),
        None if ad && authz.starts_with("u:") => Ok(()),
        None => Err(format!(
            "the directory answered WhoAmI with `{authz}`, not the DN of the secret's username `{username}`: rotgen rotates only a login the directory names by that DN"
        )),
    }
}

// ------------------------------------------------------------------ connections

/// A connection to the directory (ldap3's handle; its connection task runs beside it).
struct Session {
    ldap: ldap3::Ldap,
    at: Endpoint,
}

fn unavailable(at: &Endpoint, what: &str) -> BackendError {
    BackendError::new(ErrorKind::Unavailable, format!("{SERVICE} at {at}: {what}"))
}

/// Safe words for an operation that got no result (never the error's own text: an
/// LDAP result's diagnostic message can echo input).
fn op_error(at: &Endpoint, what: &str, e: &LdapError) -> BackendError {
    match e {
        LdapError::Timeout { .. } => unavailable(at, &format!("{what} timed out")),
        LdapError::Io { source } => {
            unavailable(at, &format!("{what} failed: {}", io_error_reason(source)))
        }
        LdapError::LdapResult { result } => result_error(at, what, result.rc),
        _ => unavailable(
            at,
            &format!(
                "{what}: the server answered something that is not LDAP, or closed the connection"
            ),
        ),
    }
}

impl Session {
    /// Runs one operation within the connect timeout: its result code and (an extended
    /// operation's) response value.
    async fn run<F, T>(&mut self, what: &str, op: F) -> Result<T, BackendError>
    where
        F: AsyncFnOnce(&mut ldap3::Ldap) -> ldap3::result::Result<T>,
    {
        match tokio::time::timeout(CONNECT_TIMEOUT, op(&mut self.ldap)).await {
            Err(_) => Err(unavailable(&self.at, &format!("{what} timed out"))),
            Ok(Err(e)) => Err(op_error(&self.at, what, &e)),
            Ok(Ok(r)) => Ok(r),
        }
    }

    async fn close(mut self) {
        let _ = tokio::time::timeout(CONNECT_TIMEOUT, self.ldap.unbind()).await;
    }
}

/// Words for an LDAP result code (RFC 4511), and the error kind it is.
fn result_error(at: &Endpoint, what: &str, code: u32) -> BackendError {
    let (kind, words) = match code {
        49 => (
            ErrorKind::Auth,
            "invalidCredentials: the DN or password is wrong",
        ),
        19 => (
            ErrorKind::Config,
            "constraintViolation: the directory's password policy refused the new password, and nothing was changed; relax the policy for this user, or change the spec's [password] settings",
        ),
        50 => (
            ErrorKind::Permission,
            "insufficientAccessRights: these credentials may not change this password",
        ),
        32 => (
            ErrorKind::Config,
            "noSuchObject: the user's DN does not exist",
        ),
        34 => (ErrorKind::Config, "invalidDNSyntax: `username` is not a DN"),
        16 | 17 => (
            ErrorKind::Config,
            "the directory has no unicodePwd attribute: is it Active Directory? (drop \"directory\" from the secret for other directories)",
        ),
        13 => (
            ErrorKind::Config,
            "confidentialityRequired: the directory requires TLS",
        ),
        2 => (
            ErrorKind::Config,
            "protocolError: the directory does not offer this operation (Active Directory has no Password Modify)",
        ),
        53 => (
            ErrorKind::Config,
            "unwillingToPerform: the directory refused the operation",
        ),
        51 | 52 => (
            ErrorKind::Unavailable,
            "the directory is busy or unavailable",
        ),
        80 => (ErrorKind::Service, "other: the directory failed"),
        _ => (ErrorKind::Service, "an unexpected result"),
    };
    BackendError::new(
        kind,
        format!("{SERVICE} at {at}: {what} answered {code} ({words})"),
    )
}

/// Where and how to reach the directory, from a secret.
struct Target {
    at: Endpoint,
    ldaps: bool,
    tls: crate::rotation::secret::Tls,
    /// Active Directory: passwords are `unicodePwd`.
    ad: bool,
}

impl Target {
    fn of(secret: &SecretValue) -> Result<Target, BackendError> {
        let at = Endpoint::of(secret, DEFAULT_PORT)?;
        let ldaps = match secret.json().ok().and_then(|m| m.get("ldaps")) {
            Some(serde_json::Value::Bool(b)) => *b,
            Some(_) => {
                return Err(BackendError::new(
                    ErrorKind::Config,
                    "the secret's `ldaps` is not true or false",
                ));
            }
            None => at.port == DEFAULT_PORT,
        };
        let ad = match secret.json().ok().and_then(|m| m.get("directory")) {
            None => false,
            Some(serde_json::Value::String(d)) if d == "active-directory" => true,
            Some(serde_json::Value::String(d)) if d == "ldap" => false,
            Some(_) => {
                return Err(BackendError::new(
                    ErrorKind::Config,
                    "the secret's `directory` is not \"ldap\" or \"active-directory\"",
                ));
            }
        };
        Ok(Target {
            at,
            ldaps,
            tls: secret.tls().map_err(format_error)?,
            ad,
        })
    }
}

/// The `ldap` backend.
#[derive(Debug, Clone, Default)]
pub struct Ldap {
    trust: Trust,
}

impl Ldap {
    pub fn new(trust: Trust) -> Ldap {
        Ldap { trust }
    }

    /// One connection attempt, as `link` says (for [`connect_tls`]): TCP here, then
    /// ldap3 speaks StartTLS (or LDAPS) with rotgen's TLS configuration.
    async fn attempt(&self, t: &Target, link: Link) -> Result<Session, (BackendError, Retry)> {
        let tcp = match tokio::time::timeout(
            CONNECT_TIMEOUT,
            TcpStream::connect((t.at.host.as_str(), t.at.port)),
        )
        .await
        {
            Err(_) => return Err((unavailable(&t.at, "connecting timed out"), Retry::No)),
            Ok(Err(e)) => {
                return Err((
                    BackendError::new(
                        ErrorKind::Unavailable,
                        format!(
                            "cannot reach {SERVICE} at {}: {}",
                            t.at,
                            io_error_reason(&e)
                        ),
                    ),
                    Retry::No,
                ));
            }
            Ok(Ok(s)) => s,
        };
        let _ = tcp.set_nodelay(true);
        let std = tcp.into_std().map_err(|e| {
            (
                unavailable(
                    &t.at,
                    &format!("connecting failed: {}", io_error_reason(&e)),
                ),
                Retry::No,
            )
        })?;
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(CONNECT_TIMEOUT)
            .set_std_stream(StdStream::Tcp(std));
        let scheme = match link {
            Link::Plain => "ldap",
            _ => {
                let config = tls_config(self.trust.roots_for(link))
                    .map_err(|m| (BackendError::new(ErrorKind::Config, m), Retry::No))?;
                settings = settings.set_config(Arc::new(config));
                if t.ldaps {
                    "ldaps"
                } else {
                    settings = settings.set_starttls(true);
                    "ldap"
                }
            }
        };
        // The URL names the host for the certificate check (the stream is already
        // connected).
        let url = url::Url::parse(&format!("{scheme}://{}", t.at)).map_err(|_| {
            (
                BackendError::new(ErrorKind::Config, "the secret's `host` is not a host name"),
                Retry::No,
            )
        })?;
        match LdapConnAsync::from_url_with_settings(settings, &url).await {
            Ok((conn, ldap)) => {
                tokio::spawn(async move {
                    let _ = conn.drive().await;
                });
                Ok(Session {
                    ldap,
                    at: t.at.clone(),
                })
            }
            Err(e) => Err(self.connect_error(t, &e)),
        }
    }

    /// Safe words for a failed StartTLS or TLS handshake, and what it allows next.
    fn connect_error(&self, t: &Target, e: &LdapError) -> (BackendError, Retry) {
        let tls_failed = |why: &str, retry| {
            (
                BackendError::new(
                    ErrorKind::Unavailable,
                    format!("TLS with {SERVICE} at {} failed: {why}", t.at),
                ),
                retry,
            )
        };
        match e {
            LdapError::Timeout { .. } => (
                unavailable(&t.at, "StartTLS or the TLS handshake timed out"),
                Retry::No,
            ),
            // The directory answered StartTLS with an error code: it offers no TLS.
            LdapError::LdapResult { .. } => (
                unavailable(&t.at, "the server does not offer TLS (StartTLS refused)"),
                Retry::Declined,
            ),
            LdapError::Io { source } => {
                let retry = if format!("{source:?}").contains("UnknownIssuer") {
                    Retry::UnknownIssuer
                } else {
                    Retry::No
                };
                tls_failed(tls_failure(source), retry)
            }
            LdapError::DNSName { .. } => (
                BackendError::new(ErrorKind::Config, "the secret's `host` is not a host name"),
                Retry::No,
            ),
            LdapError::Rustls { .. } => tls_failed("the TLS handshake failed", Retry::No),
            _ => (
                unavailable(
                    &t.at,
                    "StartTLS: the server answered something that is not LDAP, or closed the connection",
                ),
                Retry::No,
            ),
        }
    }

    /// A connection bound as `creds`' DN: `Ok(None)` when the directory rejects the
    /// password.
    async fn bind(
        &self,
        target: &SecretValue,
        creds: &SecretValue,
    ) -> Result<Option<Session>, BackendError> {
        let mut t = Target::of(target)?;
        t.tls = super::tls_for(t.tls, creds)?;
        let dn = creds.username().map_err(format_error)?;
        let password = creds.password().map_err(format_error)?;
        // An empty password is an anonymous bind, which succeeds: never a login.
        check_password(password)?;
        let mut s = connect_tls(SERVICE, &t.at, t.tls, &self.trust, |link| {
            self.attempt(&t, link)
        })
        .await?;
        let r = s
            .run("bind", async |l| l.simple_bind(dn, password).await)
            .await?;
        match r.rc {
            0 => Ok(Some(s)),
            49 => {
                s.close().await;
                Ok(None)
            }
            code => {
                s.close().await;
                Err(result_error(&t.at, "bind", code))
            }
        }
    }

    async fn login_inner(&self, creds: &SecretValue) -> Result<bool, BackendError> {
        Ok(match self.bind(creds, creds).await? {
            Some(s) => {
                s.close().await;
                true
            }
            None => false,
        })
    }

    async fn test_inner(&self, creds: &SecretValue) -> Result<(), BackendError> {
        let t = Target::of(creds)?;
        let at = t.at;
        let username = creds.username().map_err(format_error)?;
        let Some(mut s) = self.bind(creds, creds).await? else {
            return Err(result_error(&at, "bind", 49));
        };
        // The answer's raw value: ldap3's WhoAmIResp would panic on one that is not UTF-8.
        let r = s.run("WhoAmI", async |l| l.extended(WhoAmI).await).await?;
        s.close().await;
        match r.1.rc {
            0 => check_whoami(r.0.val.as_deref().unwrap_or_default(), username, t.ad).map_err(
                |why| BackendError::new(ErrorKind::Config, format!("{SERVICE} at {at}: {why}")),
            ),
            code => Err(result_error(&at, "WhoAmI", code)),
        }
    }

    async fn set_password_inner(&self, req: SetPassword<'_>) -> Result<(), BackendError> {
        let target = Target::of(req.pending)?;
        let at = target.at.clone();
        let user = req.pending.username().map_err(format_error)?;
        let new = req.pending.password().map_err(format_error)?;
        check_password(new)?;
        let admin = req.admin.username().map_err(format_error)?;
        let Some(mut s) = self.bind(req.pending, req.admin).await? else {
            return Err(result_error(&at, "bind", 49));
        };
        // The user itself gives its old password (the policy checks the change as the
        // user's own); an administrator resets it.
        let own = admin.eq_ignore_ascii_case(user);
        let old = req.admin.password().map_err(format_error)?;
        let (code, what) = if target.ad {
            let what = "Modify unicodePwd";
            let one = |p: &str| HashSet::from([ad_password(p)]);
            let attr = || b"unicodePwd".to_vec();
            let mods = if own {
                vec![Mod::Delete(attr(), one(old)), Mod::Add(attr(), one(new))]
            } else {
                vec![Mod::Replace(attr(), one(new))]
            };
            let r = s.run(what, async |l| l.modify(user, mods).await).await?;
            (r.rc, what)
        } else {
            let what = "Password Modify";
            let exop = PasswordModify {
                user_id: Some(user),
                old_pass: own.then_some(old),
                new_pass: Some(new),
            };
            let r = s.run(what, async |l| l.extended(exop).await).await?;
            (r.1.rc, what)
        };
        s.close().await;
        match code {
            0 => Ok(()),
            code => Err(result_error(&at, what, code)),
        }
    }
}

impl Backend for Ldap {
    async fn login(&self, creds: &SecretValue) -> Result<bool, BackendError> {
        call("logging in to", SERVICE, self.login_inner(creds)).await
    }

    async fn set_password(&self, req: SetPassword<'_>) -> Result<(), BackendError> {
        call(
            "changing a password on",
            SERVICE,
            self.set_password_inner(req),
        )
        .await
    }

    async fn test(&self, creds: &SecretValue) -> Result<(), BackendError> {
        call("testing the login to", SERVICE, self.test_inner(creds)).await
    }

    fn max_username_len(&self) -> usize {
        1024
    }

    fn default_port(&self) -> u16 {
        DEFAULT_PORT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whoami_must_name_the_secrets_own_dn() {
        let user = "uid=app,ou=people,dc=rotgen,dc=test";
        check_whoami(b"dn:uid=app,ou=people,dc=rotgen,dc=test", user, false).unwrap();
        check_whoami(b"dn:UID=app, ou=People, dc=rotgen,dc=test", user, false).unwrap();
        let other = check_whoami(b"dn:cn=admin,dc=rotgen,dc=test", user, false).unwrap_err();
        assert!(other.contains("not the secret's username"), "{other}");
        let anonymous = check_whoami(b"", user, false).unwrap_err();
        assert!(anonymous.contains("anonymous"), "{anonymous}");
        assert!(check_whoami(b"u:EXAMPLE\\app", user, false).is_err());
        check_whoami(b"u:EXAMPLE\\app", user, true).unwrap();
        assert!(check_whoami(b"", user, true).is_err());
    }

    #[test]
    fn active_directory_passwords_are_quoted_utf16le() {
        assert_eq!(ad_password("ab"), [0x22, 0, b'a', 0, b'b', 0, 0x22, 0]);
        assert_eq!(ad_password("é"), [0x22, 0, 0xe9, 0, 0x22, 0]);
    }
}
