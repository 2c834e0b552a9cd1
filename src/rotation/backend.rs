//! The service side of a rotation: one trait a backend implements.
//!
//! A backend knows how to log in to its service, set a password there, and test a login.
//! The rotation protocol (`super::steps`) decides when each is called and keeps every step
//! idempotent; a backend only has to make each call safe to repeat.

use super::secret::SecretValue;
use serde_json::{Map, Value};
use std::future::Future;

/// How a secret names where its service is, for the master check
/// ([`super::trust::check_master`]): a backend's own fact, never the secret's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// `host` and `port` (the port when absent), as databases, Redis, RabbitMQ and LDAP.
    Host { default_port: u16 },
    /// `url` (the http service).
    Url,
}

/// How users are rotated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// One user; its password changes.
    SingleUser,
    /// Two users (`name`, `name_clone`) take turns; a master user manages them.
    AlternatingUsers,
}

impl Strategy {
    pub fn parse(s: &str) -> Option<Strategy> {
        match s {
            "single-user" => Some(Strategy::SingleUser),
            "alternating-users" => Some(Strategy::AlternatingUsers),
            _ => None,
        }
    }
}

/// Everything `set_password` needs. No field is ever logged.
#[derive(Debug, Clone, Copy)]
pub struct SetPassword<'a> {
    pub strategy: Strategy,
    /// Credentials that log in and may change the password: the user's own current (or
    /// previous) credentials in single-user, the master secret in alternating-users (and,
    /// for Redis, the admin secret named by `masterarn` when the secret has one).
    pub admin: &'a SecretValue,
    /// The secret's AWSCURRENT value. In alternating-users its user is the template whose
    /// privileges the pending user receives.
    pub current: &'a SecretValue,
    /// The AWSPENDING value: the user whose password to set, and the password.
    pub pending: &'a SecretValue,
}

/// Why a backend call failed. The message never holds a secret value: backends build it
/// from error codes and their own words, never from SQL text or echoed input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct BackendError {
    pub kind: ErrorKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The service could not be reached (network, DNS, timeout, TLS handshake): retrying
    /// later may work.
    Unavailable,
    /// The service rejected the credentials.
    Auth,
    /// Logged in, but not allowed to do what the step needs.
    Permission,
    /// The secret or the service is not set up as the backend needs (bad host, missing
    /// key, unsupported server): retrying will not help until someone fixes it.
    Config,
    /// Anything else the service answered.
    Service,
}

impl ErrorKind {
    pub fn retryable(self) -> bool {
        matches!(self, ErrorKind::Unavailable | ErrorKind::Service)
    }
}

impl BackendError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        BackendError {
            kind,
            message: message.into(),
        }
    }
}

/// A service whose credentials rotgen rotates.
///
/// Implement this for a service rotgen does not ship, and pass it to
/// [`crate::rotation::lambda::run`] to get a complete rotation Lambda.
pub trait Backend: Send + Sync {
    /// Whether `creds` log in. `Ok(false)` only when the service answered and rejected
    /// them; a service that cannot be reached is an `Err`.
    fn login(&self, creds: &SecretValue)
    -> impl Future<Output = Result<bool, BackendError>> + Send;

    /// Makes `req.pending`'s password valid for its user on the service. Must be safe to
    /// call again after it already succeeded (the protocol calls it only when the pending
    /// credentials do not log in yet, but a crash can come between the two).
    fn set_password(
        &self,
        req: SetPassword<'_>,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Logs in with `creds` and does a trivial operation that proves the login is usable.
    fn test(&self, creds: &SecretValue) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Whether [`Backend::finish`] does anything (the protocol reads the values it needs
    /// only then).
    fn cleans_up(&self) -> bool {
        false
    }

    /// After `finishSecret` moved AWSCURRENT to the new version: optional clean-up. A
    /// retried finishSecret that finds AWSCURRENT already moved calls it again (the first
    /// call may have failed), so it must be safe to repeat.
    fn finish(
        &self,
        _current: &SecretValue,
        _previous: Option<&SecretValue>,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        async { Ok(()) }
    }

    /// The longest user name the service accepts (for `name_clone` in alternating-users).
    fn max_username_len(&self) -> usize {
        63
    }

    /// The port a secret without `port` means (the master check compares ports).
    fn default_port(&self) -> u16 {
        0
    }

    /// How the secret names the service's place, which the master check compares: its
    /// `host` and `port` unless the backend reaches the service by `url`. A field of the
    /// secret never chooses which (a `url` beside `host` must not skip the host check).
    fn place(&self) -> Place {
        Place::Host {
            default_port: self.default_port(),
        }
    }

    /// Whether the service can be set to let a user in with any password (PostgreSQL's
    /// `trust`, a Redis `nopass` user, a MySQL anonymous account). Then, before a master
    /// acts for a user, a made-up password for that user must be refused too: a login
    /// such a server grants proves nothing. LDAP answers `false`: a simple bind with a
    /// wrong password always fails there, so the probe would only count toward the
    /// directory's lockout.
    fn may_accept_any_password(&self) -> bool {
        true
    }

    /// Whether the credentials that set a password still log in after the change (Redis
    /// keeps the current password beside the pending one). Then setSecret runs
    /// `set_password` on every retry, so a retry also finishes whatever else the call
    /// does (saving the ACL file), instead of stopping at "the pending login works".
    fn reruns_set(&self) -> bool {
        false
    }

    /// Whether the service has users at all: `random` has none, so createSecret only
    /// replaces the value.
    fn has_users(&self) -> bool {
        true
    }

    /// Whether the service issues the credentials (an access key, an API token) rather
    /// than taking a password the function chooses: then createSecret calls
    /// [`Backend::issue`] and setSecret [`Backend::confirm_issued`] (see
    /// `crate::rotation::issued`).
    fn issues(&self) -> bool {
        false
    }

    /// The secret's keys an issued credential fills: all AWSPENDING may change.
    fn issued_fields(&self) -> &'static [&'static str] {
        &[]
    }

    /// createSecret for an issuing service: a new credential for the principal AWSCURRENT
    /// names (the fields to store), after cleaning up what an earlier try of this
    /// rotation left. `began`: when the rotation began (seconds since the epoch), if
    /// known (`super::issued::issue`).
    fn issue(
        &self,
        _current: &SecretValue,
        _previous: Option<&SecretValue>,
        _admin: Option<&SecretValue>,
        _began: Option<i64>,
    ) -> impl Future<Output = Result<Map<String, Value>, BackendError>> + Send {
        async {
            Err(BackendError::new(
                ErrorKind::Config,
                "this service does not issue credentials",
            ))
        }
    }

    /// setSecret for an issuing service: the pending credential is live on the service.
    fn confirm_issued(
        &self,
        _pending: &SecretValue,
        _admin: Option<&SecretValue>,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        async { Ok(()) }
    }
}

/// The other user of an alternating pair: `name` ↔ `name_clone`. `None` when `name_clone`
/// would be longer than the service allows (truncating it would make the pair flip to a
/// third user, as AWS's functions do).
pub fn alternate_username(current: &str, max: usize) -> Option<String> {
    if let Some(base) = current.strip_suffix("_clone")
        && !base.is_empty()
    {
        return Some(base.to_string());
    }
    let clone = format!("{current}_clone");
    (clone.chars().count() <= max).then_some(clone)
}

/// A borrowed backend is a backend.
impl<T: Backend + ?Sized> Backend for &T {
    fn login(
        &self,
        creds: &SecretValue,
    ) -> impl Future<Output = Result<bool, BackendError>> + Send {
        (**self).login(creds)
    }
    fn set_password(
        &self,
        req: SetPassword<'_>,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        (**self).set_password(req)
    }
    fn test(&self, creds: &SecretValue) -> impl Future<Output = Result<(), BackendError>> + Send {
        (**self).test(creds)
    }
    fn cleans_up(&self) -> bool {
        (**self).cleans_up()
    }
    fn finish(
        &self,
        current: &SecretValue,
        previous: Option<&SecretValue>,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        (**self).finish(current, previous)
    }
    fn max_username_len(&self) -> usize {
        (**self).max_username_len()
    }
    fn default_port(&self) -> u16 {
        (**self).default_port()
    }
    fn place(&self) -> Place {
        (**self).place()
    }
    fn may_accept_any_password(&self) -> bool {
        (**self).may_accept_any_password()
    }
    fn reruns_set(&self) -> bool {
        (**self).reruns_set()
    }
    fn has_users(&self) -> bool {
        (**self).has_users()
    }
    fn issues(&self) -> bool {
        (**self).issues()
    }
    fn issued_fields(&self) -> &'static [&'static str] {
        (**self).issued_fields()
    }
    fn issue(
        &self,
        current: &SecretValue,
        previous: Option<&SecretValue>,
        admin: Option<&SecretValue>,
        began: Option<i64>,
    ) -> impl Future<Output = Result<Map<String, Value>, BackendError>> + Send {
        (**self).issue(current, previous, admin, began)
    }
    fn confirm_issued(
        &self,
        pending: &SecretValue,
        admin: Option<&SecretValue>,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        (**self).confirm_issued(pending, admin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alternating_names() {
        assert_eq!(alternate_username("app", 63).as_deref(), Some("app_clone"));
        assert_eq!(alternate_username("app_clone", 63).as_deref(), Some("app"));
        assert_eq!(alternate_username("averyveryverylongname", 16), None);
        assert_eq!(
            alternate_username("tenchars10", 16).as_deref(),
            Some("tenchars10_clone")
        );
    }
}

#[cfg(test)]
mod forwarding {
    use super::*;

    struct ByUrl;

    impl Backend for ByUrl {
        async fn login(&self, _: &SecretValue) -> Result<bool, BackendError> {
            Ok(true)
        }
        async fn set_password(&self, _: SetPassword<'_>) -> Result<(), BackendError> {
            Ok(())
        }
        async fn test(&self, _: &SecretValue) -> Result<(), BackendError> {
            Ok(())
        }
        fn place(&self) -> Place {
            Place::Url
        }
        fn may_accept_any_password(&self) -> bool {
            false
        }
    }

    #[test]
    fn a_borrowed_backend_keeps_its_place_and_its_probe() {
        let b = &ByUrl;
        assert_eq!(Backend::place(&b), Place::Url);
        assert!(!Backend::may_accept_any_password(&b));
    }
}
