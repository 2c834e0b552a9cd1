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
use rustls::pki_types::ServerName;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

const SERVICE: &str = "ldap";
/// LDAPS.
pub const DEFAULT_PORT: u16 = 636;
/// The largest message read from the server.
const MAX_MESSAGE: usize = 1 << 20;

const START_TLS: &str = "1.3.6.1.4.1.1466.20037";
const PASSWORD_MODIFY: &str = "1.3.6.1.4.1.4203.1.11.1";
const WHO_AM_I: &str = "1.3.6.1.4.1.4203.1.11.3";

// ------------------------------------------------------------------ BER

/// A BER element: tag, then length, then `content`.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes = n.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

fn integer(tag: u8, n: u32) -> Vec<u8> {
    let bytes = n.to_be_bytes();
    let mut skip = bytes.iter().take_while(|b| **b == 0).count().min(3);
    // A positive number whose first byte has the high bit set gets a leading zero.
    if bytes[skip] & 0x80 != 0 && skip > 0 {
        skip -= 1;
    }
    let mut v = bytes[skip..].to_vec();
    if v[0] & 0x80 != 0 {
        v.insert(0, 0);
    }
    tlv(tag, &v)
}

/// An LDAPMessage: `SEQUENCE { messageID, protocolOp }`.
fn message(id: u32, op: Vec<u8>) -> Vec<u8> {
    let mut content = integer(0x02, id);
    content.extend(op);
    tlv(0x30, &content)
}

/// A simple BindRequest (version 3).
fn bind_request(dn: &str, password: &str) -> Vec<u8> {
    let mut c = integer(0x02, 3);
    c.extend(tlv(0x04, dn.as_bytes()));
    c.extend(tlv(0x80, password.as_bytes()));
    tlv(0x60, &c)
}

/// An ExtendedRequest: its OID and, optionally, its value.
fn extended_request(oid: &str, value: Option<Vec<u8>>) -> Vec<u8> {
    let mut c = tlv(0x80, oid.as_bytes());
    if let Some(v) = value {
        c.extend(tlv(0x81, &v));
    }
    tlv(0x77, &c)
}

/// An Active Directory password value: the password in double quotes, UTF-16LE.
fn ad_password(password: &str) -> Vec<u8> {
    format!("\"{password}\"")
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect()
}

/// A ModifyRequest of `unicodePwd` on `dn`: each change is (operation, password), with
/// operation 0 = add, 1 = delete, 2 = replace.
fn modify_unicode_pwd(dn: &str, changes: &[(u32, &str)]) -> Vec<u8> {
    let mut list = Vec::new();
    for (op, password) in changes {
        let mut change = integer(0x0a, *op);
        let mut attribute = tlv(0x04, b"unicodePwd");
        attribute.extend(tlv(0x31, &tlv(0x04, &ad_password(password))));
        change.extend(tlv(0x30, &attribute));
        list.extend(tlv(0x30, &change));
    }
    let mut c = tlv(0x04, dn.as_bytes());
    c.extend(tlv(0x30, &list));
    tlv(0x66, &c)
}

/// The Password Modify request's value (RFC 3062).
fn password_modify(user: Option<&str>, old: Option<&str>, new: &str) -> Vec<u8> {
    let mut c = Vec::new();
    if let Some(u) = user {
        c.extend(tlv(0x80, u.as_bytes()));
    }
    if let Some(o) = old {
        c.extend(tlv(0x81, o.as_bytes()));
    }
    c.extend(tlv(0x82, new.as_bytes()));
    tlv(0x30, &c)
}

/// One element at the start of `b`: (tag, content, the rest).
fn element(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = b.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |a, b| (a << 8) | *b as usize);
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// An answer: the message ID, the operation's tag, its result code and (an extended
/// operation's) response value.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Answer {
    id: u32,
    op: u8,
    code: u32,
    value: Option<Vec<u8>>,
}

fn parse_answer(b: &[u8]) -> Option<Answer> {
    let (0x30, msg, _) = element(b)? else {
        return None;
    };
    let (0x02, id, rest) = element(msg)? else {
        return None;
    };
    let id = id.iter().fold(0u32, |a, b| (a << 8) | *b as u32);
    let (op, content, _) = element(rest)?;
    let (0x0a, code, after) = element(content)? else {
        return None;
    };
    let code = code.iter().fold(0u32, |a, b| (a << 8) | *b as u32);
    // matchedDN, diagnosticMessage, then optional parts: referral [3], an extended
    // response's responseName [10] and responseValue [11].
    let mut value = None;
    let mut rest = after;
    while let Some((tag, content, more)) = element(rest) {
        if tag == 0x8b {
            value = Some(content.to_vec());
        }
        rest = more;
    }
    Some(Answer {
        id,
        op,
        code,
        value,
    })
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

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A connection to the directory, TLS or (where allowed) plain.
struct Session {
    io: Box<dyn Io>,
    next_id: u32,
    at: Endpoint,
}

fn unavailable(at: &Endpoint, what: &str) -> BackendError {
    BackendError::new(ErrorKind::Unavailable, format!("{SERVICE} at {at}: {what}"))
}

/// Reads one LDAPMessage.
async fn read_message<R: AsyncRead + Unpin + ?Sized>(r: &mut R) -> std::io::Result<Vec<u8>> {
    let mut head = [0u8; 2];
    r.read_exact(&mut head).await?;
    let mut msg = head.to_vec();
    let len = if head[1] < 0x80 {
        head[1] as usize
    } else {
        let n = (head[1] & 0x7f) as usize;
        if n == 0 || n > 4 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "length",
            ));
        }
        let mut lb = vec![0u8; n];
        r.read_exact(&mut lb).await?;
        msg.extend_from_slice(&lb);
        lb.iter().fold(0usize, |a, b| (a << 8) | *b as usize)
    };
    if len > MAX_MESSAGE {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "too long",
        ));
    }
    let start = msg.len();
    msg.resize(start + len, 0);
    r.read_exact(&mut msg[start..]).await?;
    Ok(msg)
}

/// What `crate::fuzz::ldap_answer` drives: an answer read as the connection reads it,
/// parsed, and its value checked as a WhoAmI answer.
pub(crate) fn fuzz_answer(data: &[u8]) {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};
    let mut input = data;
    let mut read = std::pin::pin!(read_message(&mut input));
    // Reading from a slice never waits: one poll finishes it.
    let Poll::Ready(Ok(message)) = read.as_mut().poll(&mut Context::from_waker(Waker::noop()))
    else {
        return;
    };
    if let Some(answer) = parse_answer(&message)
        && let Some(value) = &answer.value
    {
        let _ = check_whoami(value, "uid=app,ou=people,dc=example,dc=com", false);
        let _ = check_whoami(value, "app", true);
    }
}

/// Sends one request and reads its answer (within the connect timeout).
async fn exchange<S: AsyncRead + AsyncWrite + Unpin + ?Sized>(
    s: &mut S,
    at: &Endpoint,
    id: u32,
    op: Vec<u8>,
    what: &str,
) -> Result<Answer, BackendError> {
    let work = async {
        s.write_all(&message(id, op)).await?;
        s.flush().await?;
        loop {
            let m = read_message(s).await?;
            match parse_answer(&m) {
                Some(a) if a.id == id => return Ok(Some(a)),
                // A notice (ID 0, the server is closing) or garbage.
                Some(a) if a.id == 0 => return Ok(None),
                None => return Ok(None),
                Some(_) => continue,
            }
        }
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, work).await {
        Err(_) => Err(unavailable(at, &format!("{what} timed out"))),
        Ok(Err(e)) => Err(unavailable(
            at,
            &format!("{what} failed: {}", io_error_reason(&e)),
        )),
        Ok(Ok(None)) => Err(unavailable(
            at,
            &format!(
                "{what}: the server answered something that is not LDAP, or closed the connection"
            ),
        )),
        Ok(Ok(Some(a))) => Ok(a),
    }
}

impl Session {
    async fn request(&mut self, op: Vec<u8>, what: &str) -> Result<Answer, BackendError> {
        let id = self.next_id;
        self.next_id += 1;
        exchange(&mut self.io, &self.at, id, op, what).await
    }

    async fn close(mut self) {
        let _ = self
            .io
            .write_all(&message(self.next_id, vec![0x42, 0x00]))
            .await;
        let _ = self.io.shutdown().await;
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

    /// A TLS connection over `tcp` (after StartTLS, or at once for LDAPS).
    async fn handshake(
        &self,
        t: &Target,
        tcp: TcpStream,
        link: Link,
    ) -> Result<Box<dyn Io>, (BackendError, Retry)> {
        let config = tls_config(self.trust.roots_for(link))
            .map_err(|m| (BackendError::new(ErrorKind::Config, m), Retry::No))?;
        let name = ServerName::try_from(t.at.host.clone()).map_err(|_| {
            (
                BackendError::new(ErrorKind::Config, "the secret's `host` is not a host name"),
                Retry::No,
            )
        })?;
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        match tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, tcp)).await {
            Err(_) => Err((unavailable(&t.at, "the TLS handshake timed out"), Retry::No)),
            Ok(Err(e)) => {
                let why = tls_failure(&e);
                let retry = if format!("{e:?}").contains("UnknownIssuer") {
                    Retry::UnknownIssuer
                } else {
                    Retry::No
                };
                Err((
                    BackendError::new(
                        ErrorKind::Unavailable,
                        format!("TLS with {SERVICE} at {} failed: {why}", t.at),
                    ),
                    retry,
                ))
            }
            Ok(Ok(s)) => Ok(Box::new(s)),
        }
    }

    /// One connection attempt, as `link` says (for [`connect_tls`]).
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
        let mut next_id = 1;
        let io: Box<dyn Io> = match link {
            Link::Plain => Box::new(tcp),
            _ if t.ldaps => self.handshake(t, tcp, link).await?,
            _ => {
                let mut tcp = tcp;
                let a = exchange(
                    &mut tcp,
                    &t.at,
                    next_id,
                    extended_request(START_TLS, None),
                    "StartTLS",
                )
                .await
                .map_err(|e| (e, Retry::No))?;
                next_id += 1;
                if a.code != 0 {
                    return Err((
                        unavailable(&t.at, "the server does not offer TLS (StartTLS refused)"),
                        Retry::Declined,
                    ));
                }
                self.handshake(t, tcp, link).await?
            }
        };
        Ok(Session {
            io,
            next_id,
            at: t.at.clone(),
        })
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
        let a = s.request(bind_request(dn, password), "bind").await?;
        match a.code {
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
        let a = s
            .request(extended_request(WHO_AM_I, None), "WhoAmI")
            .await?;
        s.close().await;
        match a.code {
            0 => check_whoami(a.value.as_deref().unwrap_or_default(), username, t.ad).map_err(
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
        let (op, what) = match (target.ad, own) {
            (false, true) => (
                extended_request(
                    PASSWORD_MODIFY,
                    Some(password_modify(Some(user), Some(old), new)),
                ),
                "Password Modify",
            ),
            (false, false) => (
                extended_request(
                    PASSWORD_MODIFY,
                    Some(password_modify(Some(user), None, new)),
                ),
                "Password Modify",
            ),
            (true, true) => (
                modify_unicode_pwd(user, &[(1, old), (0, new)]),
                "Modify unicodePwd",
            ),
            (true, false) => (modify_unicode_pwd(user, &[(2, new)]), "Modify unicodePwd"),
        };
        let a = s.request(op, what).await?;
        s.close().await;
        match a.code {
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

    fn may_accept_any_password(&self) -> bool {
        // A simple bind with a wrong password fails (an empty one is refused before it
        // is sent), and testSecret asks WhoAmI who the bind is.
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ber_lengths_and_integers() {
        assert_eq!(tlv(0x04, b"ab"), [0x04, 2, b'a', b'b']);
        let long = tlv(0x04, &[7u8; 300]);
        assert_eq!(&long[..4], &[0x04, 0x82, 0x01, 0x2c]);
        assert_eq!(integer(0x02, 3), [0x02, 1, 3]);
        assert_eq!(integer(0x02, 128), [0x02, 2, 0, 128]);
        assert_eq!(integer(0x02, 256), [0x02, 2, 1, 0]);
        let (tag, content, rest) = element(&long).unwrap();
        assert_eq!((tag, content.len(), rest.len()), (0x04, 300, 0));
        assert!(element(&[0x04, 0x85, 1, 1, 1, 1, 1]).is_none());
        assert!(element(&[0x04, 5, 1]).is_none());
    }

    #[test]
    fn a_bind_response_is_read() {
        // SEQUENCE { 7, BindResponse { resultCode 49, "", "" } }
        let msg = [
            0x30, 0x0c, 0x02, 0x01, 0x07, 0x61, 0x07, 0x0a, 0x01, 49, 0x04, 0, 0x04, 0,
        ];
        assert_eq!(
            parse_answer(&msg),
            Some(Answer {
                id: 7,
                op: 0x61,
                code: 49,
                value: None,
            })
        );
        assert_eq!(parse_answer(&msg[..5]), None);
        assert_eq!(parse_answer(b"HTTP/1.1 400"), None);
        // An ExtendedResponse { 0, "", "", responseValue "dn:cn=a" }.
        let msg = [
            0x30, 0x15, 0x02, 0x01, 0x02, 0x78, 0x10, 0x0a, 0x01, 0, 0x04, 0, 0x04, 0, 0x8b, 0x07,
            b'd', b'n', b':', b'c', b'n', b'=', b'a',
        ];
        assert_eq!(
            parse_answer(&msg).unwrap().value.as_deref(),
            Some(&b"dn:cn=a"[..])
        );
    }

    /// The answers that make ldap3 0.12.1's reader panic (docs/development.md, "Why
    /// these dependencies") are refused here: no answer, so "not LDAP".
    #[test]
    fn malformed_answers_are_refused_not_panicked_on() {
        assert_eq!(parse_answer(&[0x30, 0x00]), None);
        assert_eq!(parse_answer(&[0x30, 0x03, 0x02, 0x01, 0x01]), None);
        assert_eq!(
            parse_answer(&[0x30, 0x05, 0x02, 0x01, 0x01, 0x61, 0x00]),
            None
        );
        // A WhoAmI answer that is not UTF-8 is read as another identity.
        let e = check_whoami(&[0xff, 0xfe], "uid=app,dc=test", false).unwrap_err();
        assert!(e.contains("not the DN"), "{e}");
    }

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
        // A Modify that deletes the old value and adds the new one, in that order.
        let m = modify_unicode_pwd("cn=u", &[(1, "o"), (0, "n")]);
        let (0x66, body, rest) = element(&m).unwrap() else {
            panic!("not a ModifyRequest")
        };
        assert!(rest.is_empty());
        let (0x04, dn, changes) = element(body).unwrap() else {
            panic!("no DN")
        };
        assert_eq!(dn, b"cn=u");
        let (0x30, mut list, _) = element(changes).unwrap() else {
            panic!("no changes")
        };
        let mut seen = Vec::new();
        while let Some((0x30, change, more)) = element(list) {
            let (0x0a, op, attribute) = element(change).unwrap() else {
                panic!("no operation")
            };
            let (0x30, attribute, _) = element(attribute).unwrap() else {
                panic!("no attribute")
            };
            let (0x04, name, vals) = element(attribute).unwrap() else {
                panic!("no type")
            };
            let (0x31, set, _) = element(vals).unwrap() else {
                panic!("no values")
            };
            let (0x04, value, _) = element(set).unwrap() else {
                panic!("no value")
            };
            assert_eq!(name, b"unicodePwd");
            seen.push((op[0], value.to_vec()));
            list = more;
        }
        assert_eq!(seen, [(1, ad_password("o")), (0, ad_password("n"))]);
    }

    #[test]
    fn a_bind_request_is_what_rfc_4511_says() {
        let m = message(1, bind_request("cn=a", "pw"));
        assert_eq!(
            m,
            [
                0x30, 0x12, 0x02, 0x01, 0x01, 0x60, 0x0d, 0x02, 0x01, 0x03, 0x04, 0x04, b'c', b'n',
                b'=', b'a', 0x80, 0x02, b'p', b'w'
            ]
        );
    }
}
