//! The backends rotgen ships: PostgreSQL, MySQL / MariaDB, Redis (ACL users), RabbitMQ, LDAP,
//! IAM users' access keys, a generic HTTP password-change endpoint, and `random` (a value
//! with no service behind it).
//!
//! [`for_service`] builds one from the service name the template gives the function
//! (`ROTGEN_SERVICE`); it runs once per cold start, so construction only reads the
//! environment (and the `ROTGEN_CA_FILE` bundle) and keeps what it read in the struct.
//!
//! Rules every backend here follows:
//! - TLS is stricter than AWS's: `ssl` absent tries TLS with certificate and host name
//!   verification and uses plaintext only when the server itself declines TLS (with a
//!   warning), never after a failed certificate or host-name check; `ssl: true` is
//!   verified TLS or an error; `ssl: false` is plaintext. Only rustls is used. Trusted:
//!   the drivers' Mozilla roots, the system's store (Amazon Linux's on Lambda), and the PEM
//!   bundle `ROTGEN_CA_FILE` names (RDS and ElastiCache bundles, private CAs).
//! - Every [`BackendError`] message is safe to log: it is built from error codes and the
//!   backend's own words, never from SQL text, a password, or a driver message that could
//!   echo input.
//! - Every network call has a timeout.

pub mod aws_iam;
pub mod hash;
pub mod http;
pub mod http_token;
pub mod https;
pub mod ldap;
pub mod mysql;
pub mod postgres;
pub mod rabbitmq;
pub mod random;
pub mod redis;

use crate::rotation::backend::{Backend, BackendError, ErrorKind, SetPassword};
use crate::rotation::secret::{SecretFormatError, SecretValue, Tls};
use std::sync::Arc;
use std::time::Duration;

pub use self::aws_iam::AwsIam;
pub use self::http::Http;
pub use self::mysql::{Flavour, Mysql};
pub use self::postgres::Postgres;
pub use self::rabbitmq::Rabbitmq;
pub use self::random::Random;
pub use self::redis::Redis;

/// How long establishing a connection (TCP, TLS and login) may take.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one whole backend call (connect included) may take.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// The environment variable naming an extra PEM bundle of trusted CA certificates.
pub const CA_FILE_VAR: &str = "ROTGEN_CA_FILE";

/// The environment variable that makes verified TLS the floor, whatever a secret's `ssl`
/// says (`true`; `build` and the macro set it unless the spec says
/// `[function] require_tls = false`). A secret is writable by whoever can write the
/// application's secret, so its `ssl: false` must not be able to turn TLS off.
pub const REQUIRE_TLS_VAR: &str = "ROTGEN_REQUIRE_TLS";

/// Every backend rotgen ships, behind one type (the Lambda picks one at cold start).
pub enum Shipped {
    Postgres(Postgres),
    Mysql(Mysql),
    Redis(Redis),
    Http(Http),
    Random(Random),
    AwsIam(Box<AwsIam>),
    Rabbitmq(Rabbitmq),
    HttpToken(Box<http_token::HttpToken>),
    Ldap(ldap::Ldap),
}

/// The service names [`for_service`] accepts.
pub const SERVICES: [&str; 10] = [
    "postgres",
    "mysql",
    "mariadb",
    "redis",
    "http",
    "random",
    "aws-iam",
    "rabbitmq",
    "http-token",
    "ldap",
];

/// Builds the backend for `service` (one of [`SERVICES`]), reading `ROTGEN_CA_FILE` (and, for `http`,
/// `ROTGEN_HTTP_ALLOW_INSECURE_LOOPBACK`; for MySQL, `USERNAME_CHARACTER_LIMIT`) once.
pub fn for_service(service: &str) -> Result<Shipped, BackendError> {
    for_service_with(service, None)
}

/// [`for_service`], with the TLS floor given by the command line (`Some`: `rotgen rotate`
/// and `invoke` require verified TLS unless `--allow-plaintext`) instead of
/// `ROTGEN_REQUIRE_TLS`.
pub fn for_service_with(service: &str, cli_floor: Option<bool>) -> Result<Shipped, BackendError> {
    let trust = if crate::model::services::get(service).tls_client {
        let trust = Trust::from_env()?;
        match cli_floor {
            Some(on) => trust.with_cli_floor(on),
            None => trust,
        }
    } else {
        Trust::none()
    };
    Ok(match service {
        "postgres" => Shipped::Postgres(Postgres::new(trust)),
        "mysql" => Shipped::Mysql(Mysql::from_env(Flavour::Mysql, trust)?),
        "mariadb" => Shipped::Mysql(Mysql::from_env(Flavour::Mariadb, trust)?),
        "redis" => Shipped::Redis(Redis::new(trust)),
        "http" => Shipped::Http(Http::from_env(trust)),
        "random" => Shipped::Random(Random),
        "aws-iam" => Shipped::AwsIam(Box::new(AwsIam::from_env()?)),
        "rabbitmq" => Shipped::Rabbitmq(Rabbitmq::new(trust)),
        "http-token" => Shipped::HttpToken(Box::new(http_token::from_env(trust)?)),
        "ldap" => Shipped::Ldap(ldap::Ldap::new(trust)),
        other => {
            return Err(BackendError::new(
                ErrorKind::Config,
                format!(
                    "unknown service `{other}` (rotgen ships: {})",
                    SERVICES.join(", ")
                ),
            ));
        }
    })
}

macro_rules! delegate {
    ($self:ident, $b:ident => $e:expr) => {
        match $self {
            Shipped::Postgres($b) => $e,
            Shipped::Mysql($b) => $e,
            Shipped::Redis($b) => $e,
            Shipped::Http($b) => $e,
            Shipped::Random($b) => $e,
            Shipped::AwsIam($b) => $e,
            Shipped::Rabbitmq($b) => $e,
            Shipped::HttpToken($b) => $e,
            Shipped::Ldap($b) => $e,
        }
    };
}

impl Backend for Shipped {
    async fn login(&self, creds: &SecretValue) -> Result<bool, BackendError> {
        delegate!(self, b => b.login(creds).await)
    }

    async fn set_password(&self, req: SetPassword<'_>) -> Result<(), BackendError> {
        delegate!(self, b => b.set_password(req).await)
    }

    async fn test(&self, creds: &SecretValue) -> Result<(), BackendError> {
        delegate!(self, b => b.test(creds).await)
    }

    fn cleans_up(&self) -> bool {
        delegate!(self, b => b.cleans_up())
    }

    async fn finish(
        &self,
        current: &SecretValue,
        previous: Option<&SecretValue>,
    ) -> Result<(), BackendError> {
        delegate!(self, b => b.finish(current, previous).await)
    }

    fn max_username_len(&self) -> usize {
        delegate!(self, b => b.max_username_len())
    }

    fn default_port(&self) -> u16 {
        delegate!(self, b => b.default_port())
    }

    fn may_accept_any_password(&self) -> bool {
        delegate!(self, b => b.may_accept_any_password())
    }

    fn place(&self) -> crate::rotation::backend::Place {
        delegate!(self, b => b.place())
    }

    fn reruns_set(&self) -> bool {
        delegate!(self, b => b.reruns_set())
    }

    fn issues(&self) -> bool {
        delegate!(self, b => b.issues())
    }

    fn issued_fields(&self) -> &'static [&'static str] {
        delegate!(self, b => b.issued_fields())
    }

    async fn issue(
        &self,
        current: &SecretValue,
        previous: Option<&SecretValue>,
        admin: Option<&SecretValue>,
        began: Option<i64>,
    ) -> Result<serde_json::Map<String, serde_json::Value>, BackendError> {
        delegate!(self, b => b.issue(current, previous, admin, began).await)
    }

    async fn confirm_issued(
        &self,
        pending: &SecretValue,
        admin: Option<&SecretValue>,
    ) -> Result<(), BackendError> {
        delegate!(self, b => b.confirm_issued(pending, admin).await)
    }

    fn has_users(&self) -> bool {
        delegate!(self, b => b.has_users())
    }
}

/// The certificates a TLS connection may chain to: the Mozilla roots the drivers are
/// built with, the bundle `ROTGEN_CA_FILE` names (a private CA, or the RDS/ElastiCache
/// bundle), and the system's trust store (on Lambda, Amazon Linux's bundle, which AWS's
/// own rotation functions verify against). The system's store is read, once, only when
/// a certificate chains to none of the others.
#[derive(Clone, Default)]
pub struct Trust {
    extra_pem: Option<Arc<[u8]>>,
    /// The extra bundle's certificates that the TLS library takes as roots.
    extra_roots: Option<Arc<[u8]>>,
    /// Whether the system's store may join the roots: read only when a certificate does
    /// not chain to the others (most services' do), not at cold start.
    system: bool,
    /// The system bundle and the extra one, as one PEM text (certificates the TLS
    /// library cannot parse left out, so one odd entry cannot break every connection).
    roots_pem: Arc<std::sync::OnceLock<Option<Arc<[u8]>>>>,
    /// Verified TLS whatever the secret's `ssl` says ([`REQUIRE_TLS_VAR`]).
    require_tls: bool,
    /// Whether the floor comes from the command line (the error names its flag).
    cli_floor: bool,
}

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trust")
            .field("extra_roots", &self.extra_pem.is_some())
            .field("system_roots", &self.system)
            .field("require_tls", &self.require_tls)
            .finish()
    }
}

impl Trust {
    /// Only the roots the drivers are built with.
    pub fn none() -> Trust {
        Trust::default()
    }

    /// The system's trust store plus the bundle `ROTGEN_CA_FILE` names, if it is set.
    pub fn from_env() -> Result<Trust, BackendError> {
        let mut trust = match std::env::var_os(CA_FILE_VAR) {
            Some(path) if !path.is_empty() => {
                let shown = std::path::Path::new(&path).display().to_string();
                let pem = std::fs::read(&path).map_err(|e| {
                    BackendError::new(
                        ErrorKind::Config,
                        format!("{CA_FILE_VAR}={shown} cannot be read ({})", e.kind()),
                    )
                })?;
                Trust::from_pem(pem)
                    .map_err(|e| BackendError::new(e.kind, format!("{CA_FILE_VAR}={shown}: {e}")))?
            }
            _ => Trust::none(),
        };
        trust.system = true;
        trust.require_tls = match std::env::var(REQUIRE_TLS_VAR).as_deref() {
            Err(_) | Ok("") => false,
            Ok(v) if v.eq_ignore_ascii_case("true") || v == "1" => true,
            Ok(v) if v.eq_ignore_ascii_case("false") || v == "0" => false,
            Ok(_) => {
                return Err(BackendError::new(
                    ErrorKind::Config,
                    format!("{REQUIRE_TLS_VAR} must be true or false"),
                ));
            }
        };
        Ok(trust)
    }

    /// The same roots, with verified TLS as the floor whatever a secret's `ssl` says.
    pub fn requiring_tls(mut self) -> Trust {
        self.require_tls = true;
        self
    }

    /// The floor `rotgen rotate` and `rotgen invoke` set: on unless `--allow-plaintext`.
    pub fn with_cli_floor(mut self, on: bool) -> Trust {
        self.require_tls = on;
        self.cli_floor = true;
        self
    }

    /// These roots, with `other`'s TLS floor.
    pub fn with_floor_of(mut self, other: &Trust) -> Trust {
        self.require_tls = other.require_tls;
        self.cli_floor = other.cli_floor;
        self
    }

    /// What a connection uses when the secret's `ssl` asks for `asked`: verified TLS
    /// when this function requires it, else what the secret asks.
    pub fn floor(&self, asked: Tls) -> Tls {
        if self.require_tls {
            Tls::Require
        } else {
            asked
        }
    }

    /// The error for a connection that failed after the floor overrode the secret's
    /// `ssl`: the message says why TLS was used at all.
    pub(crate) fn explain_floor(&self, asked: Tls, mut e: BackendError) -> BackendError {
        if self.require_tls && asked != Tls::Require && e.kind != ErrorKind::Auth {
            e.message.push_str(&if self.cli_floor {
                " (rotgen rotate and invoke require verified TLS whatever the secret's `ssl` says, as the deployed function does; for a server without TLS add --allow-plaintext)".to_string()
            } else {
                format!(
                    " (this function requires verified TLS whatever the secret's `ssl` says: {REQUIRE_TLS_VAR}=true; for a server without TLS set [function] require_tls = false in the spec)"
                )
            });
        }
        e
    }

    /// The drivers' roots plus the certificates of a PEM bundle (at least one).
    pub fn from_pem(pem: impl Into<Vec<u8>>) -> Result<Trust, BackendError> {
        let pem: Vec<u8> = pem.into();
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| BackendError::new(ErrorKind::Config, "the CA bundle is not valid PEM"))?;
        if certs.is_empty() {
            return Err(BackendError::new(
                ErrorKind::Config,
                "the CA bundle holds no certificate",
            ));
        }
        let roots = parsable_certificates(&pem);
        if roots.is_empty() {
            return Err(BackendError::new(
                ErrorKind::Config,
                "the CA bundle holds no certificate the TLS library can use as a root",
            ));
        }
        Ok(Trust {
            extra_pem: Some(pem.into()),
            extra_roots: Some(roots.into()),
            ..Trust::default()
        })
    }

    /// The extra bundle, if any.
    pub fn extra_pem(&self) -> Option<&[u8]> {
        self.extra_pem.as_deref()
    }

    /// Every root to add to the drivers' own: the system's and the extra bundle, read
    /// and filtered once, on first use.
    pub fn roots_pem(&self) -> Option<&[u8]> {
        self.roots_pem
            .get_or_init(|| {
                let mut pem = if self.system {
                    system_bundle()
                        .map(|b| parsable_certificates(&b))
                        .unwrap_or_default()
                } else {
                    Vec::new()
                };
                if let Some(extra) = &self.extra_roots {
                    pem.extend_from_slice(extra);
                }
                (!pem.is_empty()).then(|| pem.into())
            })
            .as_deref()
    }

    /// The roots for a TLS attempt: the extra bundle's, plus the system's for
    /// [`Link::TlsSystemRoots`].
    pub(crate) fn roots_for(&self, link: Link) -> Option<&[u8]> {
        match link {
            Link::TlsSystemRoots => self.roots_pem(),
            _ => self.extra_roots.as_deref(),
        }
    }

    /// Whether a certificate that chains to no other root may be tried against the
    /// system's store.
    pub(crate) fn has_system_roots(&self) -> bool {
        self.system
    }
}

/// The system CA bundle, where Linux distributions (and Lambda's Amazon Linux) keep it.
pub(crate) fn system_bundle() -> Option<Vec<u8>> {
    let mut candidates: Vec<std::path::PathBuf> = Vec::new();
    if let Some(f) = std::env::var_os("SSL_CERT_FILE") {
        candidates.push(f.into());
    }
    for p in [
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
        "/etc/ssl/ca-bundle.pem",
        "/etc/ssl/cert.pem",
    ] {
        candidates.push(p.into());
    }
    candidates.into_iter().find_map(|p| std::fs::read(p).ok())
}

/// The `CERTIFICATE` blocks of a PEM text that the TLS library accepts as trust roots,
/// as PEM again.
pub(crate) fn parsable_certificates(pem: &[u8]) -> Vec<u8> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
    const END: &[u8] = b"-----END CERTIFICATE-----";
    let find = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).position(|w| w == needle);
    let mut out = Vec::new();
    let mut rest = pem;
    while let Some(b) = find(rest, BEGIN) {
        let Some(e) = find(&rest[b..], END) else {
            break;
        };
        let block = &rest[b..b + e + END.len()];
        rest = &rest[b + e + END.len()..];
        let ok = CertificateDer::from_pem_slice(block).is_ok_and(|der| {
            let mut store = rustls::RootCertStore::empty();
            store.add(der).is_ok()
        });
        if ok {
            out.extend_from_slice(block);
            out.push(b'\n');
        }
    }
    out
}

/// Where a service is, for messages (`host:port`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl Endpoint {
    /// The secret's `host` (which must not be empty) and `port` (`default_port` when absent).
    pub(crate) fn of(secret: &SecretValue, default_port: u16) -> Result<Endpoint, BackendError> {
        let host = secret.host().map_err(format_error)?;
        if host.is_empty() {
            return Err(BackendError::new(
                ErrorKind::Config,
                "the secret's `host` is empty",
            ));
        }
        Ok(Endpoint {
            host: host.to_string(),
            port: secret.port(default_port).map_err(format_error)?,
        })
    }
}

/// A problem with the secret's shape. [`SecretFormatError`] messages name keys, never values.
/// The TLS of a connection that carries `who`'s credentials to the place `asked` comes
/// from (the application secret's `ssl`): the stricter of the two. A master secret's
/// credentials never travel weaker than the master secret itself asks, whatever the
/// application secret (which others may write) says.
pub(crate) fn tls_for(asked: Tls, who: &SecretValue) -> Result<Tls, BackendError> {
    Ok(asked.stricter(who.tls().map_err(format_error)?))
}

pub(crate) fn format_error(e: SecretFormatError) -> BackendError {
    BackendError::new(ErrorKind::Config, e.to_string())
}

/// Refuses passwords no service here can store (a NUL byte), without showing them.
pub(crate) fn check_password(password: &str) -> Result<(), BackendError> {
    if password.is_empty() {
        return Err(BackendError::new(
            ErrorKind::Config,
            "the password is empty",
        ));
    }
    if password.contains('\0') {
        return Err(BackendError::new(
            ErrorKind::Config,
            "the password contains a NUL character, which the service cannot store",
        ));
    }
    Ok(())
}

/// Runs `fut` for at most `limit`; a timeout is an `Unavailable` error saying what timed out.
pub(crate) async fn within<T>(
    limit: Duration,
    what: impl FnOnce() -> String,
    fut: impl Future<Output = Result<T, BackendError>>,
) -> Result<T, BackendError> {
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r,
        Err(_) => Err(BackendError::new(
            ErrorKind::Unavailable,
            format!("{} timed out after {} s", what(), limit.as_secs()),
        )),
    }
}

/// Runs one [`Backend`] call (`login_inner`, …) for at most [`CALL_TIMEOUT`]; a timeout
/// says `{doing} {service} timed out after …`.
pub(crate) async fn call<T>(
    doing: &str,
    service: &str,
    fut: impl Future<Output = Result<T, BackendError>>,
) -> Result<T, BackendError> {
    within(CALL_TIMEOUT, || format!("{doing} {service}"), fut).await
}

/// How one connection attempt talks to the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Link {
    Plain,
    /// Verified TLS, chaining to the drivers' roots and `ROTGEN_CA_FILE`.
    Tls,
    /// Verified TLS, chaining to those or to the system's store.
    TlsSystemRoots,
}

/// What a failed attempt allows next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    No,
    /// The server declined TLS (a plaintext retry is allowed when `ssl` is absent).
    Declined,
    /// The certificate chains to no root tried yet (the system's store may be tried).
    UnknownIssuer,
}

/// A connection made as the secret's `ssl` asks. With `ssl` absent ([`Tls::Prefer`]),
/// TLS is tried first and plaintext only when the server itself declined TLS, with a
/// warning. A failed certificate or host-name check, a broken handshake, or anything
/// else that could be a man in the middle is never followed by plaintext: no credential
/// is sent in the clear after TLS was refused to us. A certificate that chains to no
/// root tried yet is tried once more against the system's store (read only then).
pub(crate) async fn connect_tls<C, Fut>(
    service: &str,
    at: &Endpoint,
    tls: Tls,
    trust: &Trust,
    attempt: impl Fn(Link) -> Fut,
) -> Result<C, BackendError>
where
    Fut: Future<Output = Result<C, (BackendError, Retry)>>,
{
    let asked = tls;
    let tls = trust.floor(asked);
    let verified = || async {
        match attempt(Link::Tls).await {
            Err((_, Retry::UnknownIssuer)) if trust.has_system_roots() => {
                attempt(Link::TlsSystemRoots).await
            }
            other => other,
        }
    };
    match tls {
        Tls::Disable => attempt(Link::Plain).await,
        Tls::Require => verified().await,
        Tls::Prefer => match verified().await {
            Err((_, Retry::Declined)) => {
                warn_plaintext(service, at);
                attempt(Link::Plain).await
            }
            other => other,
        },
    }
    .map_err(|(e, _)| trust.explain_floor(asked, e))
}

/// The warning for a plaintext connection the secret allowed (the rotation's span names
/// the secret).
pub(crate) fn warn_plaintext(service: &str, at: &Endpoint) {
    tracing::warn!(
        service,
        endpoint = %at,
        "the server declined TLS and the secret does not set `ssl`, so credentials go to it in plaintext; enable TLS on the server and set \"ssl\": true in the secret"
    );
}

/// One sqlx connection attempt (a TLS one if `tls`) within [`CONNECT_TIMEOUT`], for
/// [`connect_tls`]. An error the database answers is worded by `db_error` (it needs the
/// engine's codes); only the server's own "no TLS here" allows a plaintext retry.
pub(crate) async fn sqlx_connect<C>(
    service: &str,
    at: &Endpoint,
    link: Link,
    connect: impl Future<Output = Result<C, sqlx::Error>>,
    db_error: impl FnOnce(&(dyn sqlx::error::DatabaseError + 'static)) -> BackendError,
) -> Result<C, (BackendError, Retry)> {
    let tls = link != Link::Plain;
    match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
        Err(_) => Err((
            BackendError::new(
                ErrorKind::Unavailable,
                format!(
                    "connecting to {service} at {at} timed out after {} s",
                    CONNECT_TIMEOUT.as_secs()
                ),
            ),
            Retry::No,
        )),
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(sqlx::Error::Database(d))) => Err((db_error(d.as_ref()), Retry::No)),
        Ok(Err(other)) => {
            let retry = match &other {
                _ if !tls => Retry::No,
                e if sqlx_tls_declined(e) => Retry::Declined,
                // rustls reports it through sqlx as a TLS or an I/O error.
                sqlx::Error::Tls(inner) if inner.to_string().contains("UnknownIssuer") => {
                    Retry::UnknownIssuer
                }
                sqlx::Error::Io(io) if io.to_string().contains("UnknownIssuer") => {
                    Retry::UnknownIssuer
                }
                _ => Retry::No,
            };
            Err((sqlx_transport_error(service, at, &other, tls), retry))
        }
    }
}

/// What a login attempt says: `true` if it connected (the connection is closed), `false`
/// if the credentials were rejected, the error otherwise.
pub(crate) async fn sqlx_login<C: sqlx::Connection>(
    conn: Result<C, BackendError>,
) -> Result<bool, BackendError> {
    match conn {
        Ok(conn) => {
            let _ = conn.close().await;
            Ok(true)
        }
        Err(e) if e.kind == ErrorKind::Auth => Ok(false),
        Err(e) => Err(e),
    }
}

/// [`tls_reason`]'s words for a certificate that chains to no trusted root.
pub(crate) const UNTRUSTED_ISSUER: &str =
    "its certificate is not signed by a trusted CA (set ROTGEN_CA_FILE to trust a private CA)";

/// A short, safe description of why a TLS handshake failed, from the text of a TLS
/// library error (which is read, never shown).
pub(crate) fn tls_reason(error_text: &str) -> &'static str {
    let t = error_text;
    if t.contains("does not support TLS") || t.contains("not support SSL") {
        "the server does not offer TLS"
    } else if t.contains("UnknownIssuer") || t.contains("unknown issuer") {
        UNTRUSTED_ISSUER
    } else if t.contains("NotValidForName") || t.contains("not valid for name") {
        "its certificate does not name the host"
    } else if t.contains("Expired") || t.contains("expired") {
        "its certificate has expired"
    } else if t.contains("NotValidYet") {
        "its certificate is not valid yet"
    } else if t.contains("Revoked") {
        "its certificate is revoked"
    } else if t.contains("BadSignature") || t.contains("BadEncoding") {
        "its certificate is malformed"
    } else if t.contains("corrupt message") || t.contains("InvalidContentType") {
        "it did not answer in TLS"
    } else {
        "the TLS handshake failed"
    }
}

/// Words for an I/O failure kind (never the error's own text).
pub(crate) fn io_reason(kind: std::io::ErrorKind) -> &'static str {
    use std::io::ErrorKind as K;
    match kind {
        K::ConnectionRefused => "connection refused",
        K::ConnectionReset => "connection reset",
        K::ConnectionAborted => "connection aborted",
        K::NotConnected => "not connected",
        K::TimedOut => "timed out",
        K::UnexpectedEof => "the server closed the connection",
        K::BrokenPipe => "the connection broke",
        K::AddrNotAvailable => "address not available",
        K::HostUnreachable => "host unreachable",
        K::NetworkUnreachable => "network unreachable",
        K::InvalidData => "invalid data on the connection (a TLS or protocol failure)",
        K::NotFound => "host not found",
        K::PermissionDenied => "the connection was not permitted",
        _ => "a network error",
    }
}

/// Words for an I/O failure: its kind, or a failed name lookup (told apart by the error's
/// text, which is read, never shown).
pub(crate) fn io_error_reason(e: &std::io::Error) -> &'static str {
    let text = e.to_string();
    if text.contains("lookup") || text.contains("not known") || text.contains("resolve") {
        "the host name does not resolve"
    } else {
        io_reason(e.kind())
    }
}

/// Whether an I/O failure means the server was never reached (so a plaintext retry
/// after a failed TLS attempt is pointless).
pub(crate) fn io_unreachable(kind: std::io::ErrorKind) -> bool {
    use std::io::ErrorKind as K;
    matches!(
        kind,
        K::ConnectionRefused
            | K::TimedOut
            | K::AddrNotAvailable
            | K::HostUnreachable
            | K::NetworkUnreachable
            | K::NotFound
            | K::PermissionDenied
    )
}

/// Classifies a sqlx error that is not a database answer (those need the engine's codes).
pub(crate) fn sqlx_transport_error(
    service: &str,
    at: &Endpoint,
    e: &sqlx::Error,
    tls_attempt: bool,
) -> BackendError {
    match e {
        sqlx::Error::Io(io) => {
            let kind = io.kind();
            if tls_attempt && !io_unreachable(kind) {
                BackendError::new(
                    ErrorKind::Unavailable,
                    format!(
                        "TLS with {service} at {at} failed: {}",
                        tls_reason(&io.to_string())
                    ),
                )
            } else {
                BackendError::new(
                    ErrorKind::Unavailable,
                    format!("cannot reach {service} at {at}: {}", io_error_reason(io)),
                )
            }
        }
        sqlx::Error::Tls(inner) => BackendError::new(
            ErrorKind::Unavailable,
            format!(
                "TLS with {service} at {at} failed: {}",
                tls_reason(&inner.to_string())
            ),
        ),
        sqlx::Error::Configuration(_) | sqlx::Error::InvalidArgument(_) => BackendError::new(
            ErrorKind::Config,
            format!("the connection settings for {service} at {at} are invalid"),
        ),
        sqlx::Error::Protocol(_) => BackendError::new(
            ErrorKind::Unavailable,
            format!("{service} at {at} answered something unexpected (protocol error)"),
        ),
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => {
            BackendError::new(
                ErrorKind::Unavailable,
                format!("the connection to {service} at {at} was lost"),
            )
        }
        _ => BackendError::new(
            ErrorKind::Service,
            format!("{service} at {at}: the client failed to read an answer"),
        ),
    }
}

/// Whether a failed TLS connection attempt may be retried in plaintext (`ssl` absent):
/// only when the server answered the TLS request with "no" (PostgreSQL's `N` to
/// SSLRequest, a MySQL handshake without the SSL capability), which sqlx reports in
/// these words. A certificate, host-name or handshake failure never qualifies.
pub(crate) fn sqlx_tls_declined(e: &sqlx::Error) -> bool {
    const DECLINED: &str = "server does not support TLS";
    matches!(e, sqlx::Error::Tls(inner) if inner.to_string() == DECLINED)
}

/// For the backends' unit tests: with `secret` pointing where nothing answers, a login
/// and a password change both fail, and neither error shows a password (`hunter2…`).
#[cfg(test)]
pub(crate) fn assert_failures_hide_the_password(backend: &impl Backend, secret: &SecretValue) {
    use crate::rotation::backend::Strategy;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let e = rt.block_on(backend.login(secret)).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unavailable);
    assert!(!e.message.contains("hunter2"), "{}", e.message);
    let pending = secret.with_credentials(None, "n3w-hunter2");
    let e = rt
        .block_on(backend.set_password(SetPassword {
            strategy: Strategy::SingleUser,
            admin: secret,
            current: secret,
            pending: &pending,
        }))
        .unwrap_err();
    assert!(!e.message.contains("hunter2"), "{}", e.message);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_service_is_a_config_error() {
        let Err(e) = for_service("oracle") else {
            panic!("oracle is not shipped")
        };
        assert_eq!(e.kind, ErrorKind::Config);
        assert!(e.message.contains("postgres"), "{}", e.message);
    }

    #[test]
    fn every_service_builds() {
        for s in SERVICES {
            // ROTGEN_CA_FILE is not set in unit tests.
            if std::env::var_os(CA_FILE_VAR).is_none() {
                match for_service(s) {
                    // Its contract is configuration, which the unit tests do not set.
                    Err(e) if s == "http-token" => {
                        assert!(
                            e.message.contains(http_token::CONTRACT_VAR),
                            "{}",
                            e.message
                        )
                    }
                    r => assert!(r.is_ok(), "{s}"),
                }
            }
        }
    }

    #[test]
    fn roots_keep_only_certificates_the_tls_library_takes() {
        let ca: &[u8] = include_bytes!("../../tests/fixtures/backends/ca.pem");
        let mut bundle =
            b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n".to_vec();
        bundle.extend_from_slice(ca);
        let kept = parsable_certificates(&bundle);
        assert_eq!(kept.windows(5).filter(|w| w == b"BEGIN").count(), 1);
        let t = Trust::from_pem(bundle).unwrap();
        assert!(
            t.roots_pem()
                .is_some_and(|r| r.starts_with(b"-----BEGIN CERTIFICATE-----\nMII"))
        );
    }

    #[test]
    fn trust_rejects_garbage() {
        assert_eq!(
            Trust::from_pem(b"hello".to_vec()).unwrap_err().kind,
            ErrorKind::Config
        );
    }

    #[test]
    fn tls_reasons_are_our_words() {
        assert_eq!(
            tls_reason("invalid peer certificate: UnknownIssuer"),
            "its certificate is not signed by a trusted CA (set ROTGEN_CA_FILE to trust a private CA)"
        );
        assert_eq!(
            tls_reason("secret-password-in-text"),
            "the TLS handshake failed"
        );
    }

    #[test]
    fn endpoint_shows_ipv6_in_brackets() {
        let e = Endpoint {
            host: "::1".into(),
            port: 5432,
        };
        assert_eq!(e.to_string(), "[::1]:5432");
    }
}
