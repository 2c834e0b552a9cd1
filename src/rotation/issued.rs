//! The issue-and-revoke model: credentials the service issues (an access key, an API
//! token) instead of a password the function chooses. Zero downtime then means two
//! credentials alive at once: AWSCURRENT's and AWSPREVIOUS's.
//!
//! A service plugs in through [`Issuer`], six small calls (list, create, deactivate,
//! delete, who-am-i, and the limit of credentials per principal). The state machine is
//! written once, here, and the steps (`super::steps`) call it:
//!
//! - **createSecret** ([`issue`]): the AWSCURRENT credentials must authenticate as the
//!   principal they name (so a secret cannot ask for another principal's credential) and
//!   the principal must be one the function's configuration names. Then the principal's
//!   credentials are listed. One that no stage of the secret holds and that was issued
//!   since this rotation began, while the rotation is at most [`ORPHAN_WINDOW_SECS`] old,
//!   was issued by an attempt that failed before storing it: it is deleted, so orphans
//!   never fill the service's limit. Any other (older, dated in the future, or found by a
//!   rotation resumed more than an hour after it began) may be someone else's, and the
//!   step stops rather than delete it. When the limit is still reached, the credential
//!   of two rotations ago (AWSPREVIOUS's) is deactivated, then deleted (only if AWSPREVIOUS
//!   proves it holds it, or it is inactive already), and a new one is
//!   issued and stored as AWSPENDING. A crash after the issue and before the store leaves
//!   an orphan that the retry deletes.
//! - **setSecret**: AWSPENDING may differ from AWSCURRENT only in the issued fields, and
//!   its credential must be one the principal holds.
//! - **testSecret**: the AWSPENDING credentials authenticate as the principal (retried
//!   for a few seconds: issued credentials can take that long to be accepted everywhere).
//! - **finishSecret**: AWSCURRENT moves; AWSPREVIOUS keeps working until the next
//!   rotation's createSecret, unless the function deactivates it at once.

use super::backend::{Backend, BackendError, ErrorKind, SetPassword};
use super::secret::SecretValue;
use serde_json::{Map, Value};
use std::future::Future;
use std::time::Duration;

/// How long after a rotation began a credential no stage holds may still be taken for
/// an orphan of one of its tries: an hour, four times the longest a Lambda invocation
/// lasts. A rotation resumed later (stalled by a broken AWSCURRENT, say) deletes
/// nothing: what the principal got in between may be a person's.
pub const ORPHAN_WINDOW_SECS: i64 = 3600;

/// How far ahead of the function's clock a service's may be: a creation time later than
/// that is not read as a time at all (a unit rotgen does not know).
const CLOCK_SKEW_SECS: i64 = 300;

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A credential a principal holds on the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub id: String,
    /// When it was issued, in seconds since the epoch; `None` when the service's answer
    /// does not say in a form rotgen reads (then it is never taken for an orphan).
    pub created: Option<i64>,
    pub active: bool,
}

/// Who a credential authenticates as, in the service's own words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The principal (IAM: the user's name; a token API: the owner).
    pub principal: String,
    /// The id of the credential that authenticated, when the service says it (IAM: the
    /// key id the signed call used; a token API: the contract's `whoami_id_pointer`).
    /// Only a credential the service names here can be proven to be a stage's own.
    pub credential: Option<String>,
}

/// What a service that issues credentials offers. Every call is safe to repeat: deleting
/// or deactivating a credential that is already gone or inactive succeeds.
pub trait Issuer: Send + Sync {
    /// The secret's key naming the principal (IAM: `UserName`).
    fn principal_key(&self) -> &'static str;
    /// The secret's key holding a credential's id (IAM: `AccessKeyId`).
    fn id_key(&self) -> &'static str;
    /// Every key an issued credential fills, the id's included.
    fn fields(&self) -> &'static [&'static str];
    /// How many credentials one principal may hold.
    fn limit(&self) -> usize;
    /// The principal's credentials. `auth` is the credential the call may authenticate
    /// with, for a service where the principal manages its own (AWSCURRENT's, or
    /// AWSPENDING's in setSecret); a service the function's own role manages (IAM)
    /// ignores it.
    fn list(
        &self,
        auth: &SecretValue,
        principal: &str,
    ) -> impl Future<Output = Result<Vec<Credential>, BackendError>> + Send;
    /// Issues a credential: the secret's fields it fills.
    fn create(
        &self,
        auth: &SecretValue,
        principal: &str,
    ) -> impl Future<Output = Result<Map<String, Value>, BackendError>> + Send;
    /// Stops a credential working without deleting it (where the service can).
    fn deactivate(
        &self,
        auth: &SecretValue,
        principal: &str,
        id: &str,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;
    fn delete(
        &self,
        auth: &SecretValue,
        principal: &str,
        id: &str,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;
    /// Who these credentials authenticate as; `None` when the service rejects them.
    fn whoami(
        &self,
        creds: &SecretValue,
    ) -> impl Future<Output = Result<Option<Identity>, BackendError>> + Send;
    /// What the function's configuration must add for [`Identity::credential`] to be
    /// known, for a service that cannot always name it (a token API's contract); `None`
    /// when the service always names it.
    fn unproven_hint(&self) -> Option<&'static str> {
        None
    }
    /// Whether calls made with an administrator's credential (a master secret) act on the
    /// principal's credentials and nobody else's: a call that does not name the principal
    /// would list, issue or revoke the administrator's own. `Err` says what to change.
    fn admin_scoped(&self) -> Result<(), BackendError> {
        Ok(())
    }
}

fn config(message: impl Into<String>) -> BackendError {
    BackendError::new(ErrorKind::Config, message)
}

/// A non-empty string field of the secret, or a clear error naming it.
pub fn field<'a>(value: &'a SecretValue, key: &'static str) -> Result<&'a str, BackendError> {
    match value.required(key) {
        Ok(s) if !s.is_empty() => Ok(s),
        Ok(_) => Err(config(format!("the secret has no `{key}`"))),
        Err(e) => Err(config(e.to_string())),
    }
}

/// The principals the function's configuration lets it issue credentials for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Principals {
    names: Vec<String>,
    /// The environment variable that names them (for the error message).
    var: &'static str,
}

impl Principals {
    /// From a comma-separated list (the environment variable `var`).
    pub fn parse(var: &'static str, list: Option<&str>) -> Principals {
        Principals {
            names: list
                .unwrap_or("")
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            var,
        }
    }

    fn check(&self, principal: &str) -> Result<(), BackendError> {
        if self.names.iter().any(|n| n == principal) {
            return Ok(());
        }
        Err(BackendError::new(
            ErrorKind::Permission,
            format!(
                "the secret names `{principal}`, which this function's configuration ({}) does not name: a function issues credentials only for the principals of its spec; add it there and deploy the rebuilt template",
                self.var
            ),
        ))
    }
}

/// createSecret's work: cleans up what this attempt left, makes room, and issues a
/// credential for the principal AWSCURRENT names. Returns the fields to store.
///
/// `began` is when this rotation attempt began, from a record the secret's writers
/// cannot forge (Secrets Manager's own date for the rotation's version, or the token
/// `rotgen rotate` made): a credential issued since then that no stage holds is this
/// attempt's orphan. `None` when that is unknown: nothing is then an orphan.
///
/// The service's calls authenticate with `admin` (a master secret the function's
/// configuration names) when there is one, else with AWSCURRENT's credential.
pub async fn issue<I: Issuer>(
    issuer: &I,
    allowed: &Principals,
    current: &SecretValue,
    previous: Option<&SecretValue>,
    admin: Option<&SecretValue>,
    began: Option<i64>,
) -> Result<Map<String, Value>, BackendError> {
    if admin.is_some() {
        issuer.admin_scoped()?;
    }
    let auth = admin.unwrap_or(current);
    let principal = field(current, issuer.principal_key())?;
    allowed.check(principal)?;
    let current_id = field(current, issuer.id_key())?;
    prove(issuer, current, principal, current_id, "AWSCURRENT").await?;
    let held = issuer.list(auth, principal).await?;
    if !held.iter().any(|c| c.id == current_id) {
        return Err(config(format!(
            "AWSCURRENT's credential {current_id} is not one of {principal}'s: put a working credential of {principal} in AWSCURRENT, then rotate again"
        )));
    }
    // AWSPREVIOUS's credential, only when the principal holds it: an id the service does
    // not list is unknown, and nothing is revoked for it.
    let previous_held = previous
        .filter(|p| field(p, issuer.principal_key()).ok() == Some(principal))
        .and_then(|p| field(p, issuer.id_key()).ok())
        .filter(|id| *id != current_id)
        .and_then(|id| held.iter().find(|c| c.id == id));
    let mut kept = 0;
    let now = now_secs();
    for c in &held {
        if c.id == current_id || previous_held.is_some_and(|p| p.id == c.id) {
            kept += 1;
            continue;
        }
        match (c.created, began) {
            (Some(created), _) if created > now + CLOCK_SKEW_SECS => {
                return Err(config(format!(
                    "{principal} holds credential {}, which no stage of this secret holds and whose creation time the service gives as later than now ({created} s since the epoch: a unit rotgen does not read), so it cannot tell whether this rotation issued it: rotgen deletes only what it issued; delete it by hand, or make it AWSPREVIOUS, then rotate again",
                    c.id
                )));
            }
            (Some(created), Some(began))
                if created >= began && now - began > ORPHAN_WINDOW_SECS =>
            {
                return Err(config(format!(
                    "{principal} holds credential {}, which no stage of this secret holds, issued since this rotation began {} minutes ago: rotgen takes a credential for an orphan of an earlier try only within {} minutes of the rotation's start, as a later one may be a person's; delete it by hand if it is not in use, or make it AWSPREVIOUS, then rotate again",
                    c.id,
                    (now - began) / 60,
                    ORPHAN_WINDOW_SECS / 60
                )));
            }
            (Some(created), Some(began)) if created >= began => {
                // Issued since this attempt began, and held by no stage: this attempt's,
                // from a try that died before storing it.
                tracing::warn!(principal, credential = %c.id, "deleting a credential an earlier try of this rotation issued and did not store");
                issuer.delete(auth, principal, &c.id).await?;
            }
            (None, _) => {
                return Err(config(format!(
                    "{principal} holds credential {}, which no stage of this secret holds and whose creation time the service does not give in a form rotgen reads, so it cannot tell whether this rotation issued it: rotgen deletes only what it issued; delete it by hand, or make it AWSPREVIOUS, then rotate again",
                    c.id
                )));
            }
            (Some(_), None) => {
                return Err(config(format!(
                    "{principal} holds credential {}, which no stage of this secret holds, and when this rotation began is unknown (Secrets Manager's ListSecretVersionIds gave no date for its version), so rotgen cannot tell whether it issued it: delete it by hand if it is not in use, then rotate again",
                    c.id
                )));
            }
            (Some(_), Some(_)) => {
                return Err(config(format!(
                    "{principal} holds credential {}, which no stage of this secret holds and which was issued before this rotation began: rotgen deletes only what it issued; delete it, or make it AWSPREVIOUS, then rotate again",
                    c.id
                )));
            }
        }
    }
    if kept >= issuer.limit() {
        let (Some(old), Some(previous)) = (previous_held, previous) else {
            return Err(config(format!(
                "{principal} already holds {} credentials, the service's limit, and none is AWSPREVIOUS's",
                issuer.limit()
            )));
        };
        owned_previous(issuer, previous, principal, old).await?;
        tracing::info!(principal, credential = %old.id, "revoking the credential of two rotations ago (AWSPREVIOUS) to make room");
        issuer.deactivate(auth, principal, &old.id).await?;
        issuer.delete(auth, principal, &old.id).await?;
    }
    issuer.create(auth, principal).await
}

/// Before AWSPREVIOUS's credential is revoked: whoever can write the application's
/// secret can also stage a value as AWSPREVIOUS, naming another credential of the same
/// principal (one a person or another application uses). It is revoked only when the
/// service proves that AWSPREVIOUS's credentials authenticate as that very credential
/// (its id, as the service names it), or when the service lists it inactive already
/// (deactivated by finishSecret, after the same proof, or by hand).
async fn owned_previous<I: Issuer>(
    issuer: &I,
    previous: &SecretValue,
    principal: &str,
    old: &Credential,
) -> Result<(), BackendError> {
    if !old.active {
        return Ok(());
    }
    let refused = || {
        BackendError::new(
            ErrorKind::Permission,
            format!(
                "AWSPREVIOUS names credential {} of {principal}, and the service does not prove that AWSPREVIOUS's own fields authenticate as it: rotgen revokes only a credential the service proves the stage holds; put that credential's complete value in AWSPREVIOUS, or delete it by hand, then rotate again",
                old.id
            ),
        )
    };
    match issuer.whoami(previous).await {
        Ok(Some(who)) if who.principal == principal => match who.credential {
            Some(id) if id == old.id => Ok(()),
            Some(_) => Err(refused()),
            None => Err(BackendError::new(
                ErrorKind::Config,
                format!(
                    "{principal} is at the service's limit of {} credentials and rotgen cannot prove which one AWSPREVIOUS holds, so it revokes none: {}",
                    issuer.limit(),
                    issuer
                        .unproven_hint()
                        .unwrap_or("the service does not name the credential that authenticated")
                ),
            )),
        },
        Ok(_)
        | Err(BackendError {
            kind: ErrorKind::Config,
            ..
        }) => Err(refused()),
        Err(e) => Err(e),
    }
}

/// Fails unless `creds` authenticate as `principal`, and (where the service names the
/// credential that authenticated) as the credential `id`.
async fn prove<I: Issuer>(
    issuer: &I,
    creds: &SecretValue,
    principal: &str,
    id: &str,
    stage: &str,
) -> Result<(), BackendError> {
    match issuer.whoami(creds).await? {
        Some(who) if who.principal != principal => Err(BackendError::new(
            ErrorKind::Permission,
            format!(
                "the {stage} credentials authenticate as `{}`, not as `{principal}`, which the secret names: a secret gets credentials only for the principal its own credentials prove",
                who.principal
            ),
        )),
        Some(Identity {
            credential: Some(used),
            ..
        }) if used != id => Err(BackendError::new(
            ErrorKind::Permission,
            format!(
                "the {stage} credentials authenticate as credential {used}, not as {id}, which the secret's `{}` names: put the id of the stage's own credential there, then rotate again",
                issuer.id_key()
            ),
        )),
        Some(_) => Ok(()),
        None => Err(BackendError::new(
            ErrorKind::Auth,
            format!(
                "the {stage} credentials of `{principal}` are rejected: put a working credential in {stage}, then rotate again"
            ),
        )),
    }
}

/// setSecret's check: the pending credential is one the principal holds (listed with
/// `admin`'s credential when there is one, else with the pending one).
pub async fn confirm<I: Issuer>(
    issuer: &I,
    pending: &SecretValue,
    admin: Option<&SecretValue>,
) -> Result<(), BackendError> {
    if admin.is_some() {
        issuer.admin_scoped()?;
    }
    let principal = field(pending, issuer.principal_key())?;
    let id = field(pending, issuer.id_key())?;
    if issuer
        .list(admin.unwrap_or(pending), principal)
        .await?
        .iter()
        .any(|c| c.id == id)
    {
        return Ok(());
    }
    Err(config(format!(
        "AWSPENDING's credential {id} is not one of {principal}'s (deleted since it was issued?): remove the AWSPENDING stage, then rotate again"
    )))
}

/// testSecret's check: the credentials authenticate as their principal (and credential),
/// retried over `waits` while the service rejects them (a new credential may take
/// seconds to be accepted everywhere).
pub async fn test<I: Issuer>(
    issuer: &I,
    creds: &SecretValue,
    waits: &[std::time::Duration],
) -> Result<(), BackendError> {
    let principal = field(creds, issuer.principal_key())?;
    let id = field(creds, issuer.id_key())?;
    let mut waits = waits.iter();
    loop {
        match prove(issuer, creds, principal, id, "AWSPENDING").await {
            Err(e) if e.kind == ErrorKind::Auth => match waits.next() {
                Some(w) => tokio::time::sleep(*w).await,
                None => return Err(e),
            },
            other => return other,
        }
    }
}

/// finishSecret's optional clean-up: deactivates AWSPREVIOUS's credential now (instead of
/// leaving it working until the next rotation deletes it), only when the service proves
/// AWSPREVIOUS authenticates as that very credential.
pub async fn deactivate_previous<I: Issuer>(
    issuer: &I,
    current: &SecretValue,
    previous: Option<&SecretValue>,
) -> Result<(), BackendError> {
    let Some(previous) = previous else {
        return Ok(());
    };
    let principal = field(current, issuer.principal_key())?;
    let (Ok(who), Ok(id)) = (
        field(previous, issuer.principal_key()),
        field(previous, issuer.id_key()),
    ) else {
        return Ok(());
    };
    if who != principal || id == field(current, issuer.id_key())? {
        return Ok(());
    }
    // As in createSecret: only a credential AWSPREVIOUS proves it holds (one that is
    // rejected already needs no deactivating).
    let proven = issuer
        .whoami(previous)
        .await?
        .is_some_and(|who| who.principal == principal && who.credential.as_deref() == Some(id));
    if !proven {
        tracing::warn!(principal, credential = %id, "the service does not prove that AWSPREVIOUS's fields authenticate as AWSPREVIOUS's credential; it is left as it is");
        return Ok(());
    }
    issuer.deactivate(current, principal, id).await
}

/// AWSPENDING may differ from AWSCURRENT only in the issued fields.
pub fn check_pending(
    fields: &[&str],
    current: &SecretValue,
    pending: &SecretValue,
) -> Result<(), String> {
    let (Ok(c), Ok(p)) = (current.json(), pending.json()) else {
        return Err("AWSPENDING or AWSCURRENT is not a JSON object".into());
    };
    let differs = c
        .keys()
        .chain(p.keys())
        .filter(|k| !fields.contains(&k.as_str()))
        .find(|k| c.get(k.as_str()) != p.get(k.as_str()));
    match differs {
        Some(k) => Err(format!(
            "AWSPENDING differs from AWSCURRENT in `{k}`, which an issued credential does not change: remove the AWSPENDING stage, then rotate again"
        )),
        None => Ok(()),
    }
}

/// What finishSecret does with AWSPREVIOUS's credential: leave it working until the next
/// rotation revokes it, or deactivate it at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Previous {
    Keep,
    Deactivate,
}

impl Previous {
    /// From the environment variable `var` (`keep`, the default, or `deactivate`).
    pub fn parse(var: &str, value: Option<&str>) -> Result<Previous, BackendError> {
        match value.map(str::trim) {
            None | Some("") | Some("keep") => Ok(Previous::Keep),
            Some("deactivate") => Ok(Previous::Deactivate),
            Some(other) => Err(BackendError::new(
                ErrorKind::Config,
                format!("{var} is `{other}`; it takes keep or deactivate"),
            )),
        }
    }
}

/// A service whose credentials an [`Issuer`] issues, as a [`Backend`].
#[derive(Debug)]
pub struct Issued<I> {
    pub issuer: I,
    pub allowed: Principals,
    pub previous: Previous,
    /// testSecret's waits for a new credential to be accepted.
    pub test_waits: Vec<Duration>,
}

impl<I: Issuer> Backend for Issued<I> {
    async fn login(&self, creds: &SecretValue) -> Result<bool, BackendError> {
        let principal = field(creds, self.issuer.principal_key())?;
        Ok(self
            .issuer
            .whoami(creds)
            .await?
            .is_some_and(|who| who.principal == principal))
    }

    async fn set_password(&self, _req: SetPassword<'_>) -> Result<(), BackendError> {
        Err(BackendError::new(
            ErrorKind::Config,
            "this service issues its credentials; there is no password to set",
        ))
    }

    async fn test(&self, creds: &SecretValue) -> Result<(), BackendError> {
        test(&self.issuer, creds, &self.test_waits).await
    }

    fn cleans_up(&self) -> bool {
        self.previous == Previous::Deactivate
    }

    async fn finish(
        &self,
        current: &SecretValue,
        previous: Option<&SecretValue>,
    ) -> Result<(), BackendError> {
        deactivate_previous(&self.issuer, current, previous).await
    }

    fn issues(&self) -> bool {
        true
    }

    fn issued_fields(&self) -> &'static [&'static str] {
        self.issuer.fields()
    }

    async fn issue(
        &self,
        current: &SecretValue,
        previous: Option<&SecretValue>,
        admin: Option<&SecretValue>,
        began: Option<i64>,
    ) -> Result<Map<String, Value>, BackendError> {
        issue(&self.issuer, &self.allowed, current, previous, admin, began).await
    }

    async fn confirm_issued(
        &self,
        pending: &SecretValue,
        admin: Option<&SecretValue>,
    ) -> Result<(), BackendError> {
        confirm(&self.issuer, pending, admin).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A time `t` seconds after a base a quarter of an hour ago: the tests' clock starts
    /// there, so a rotation that began at `at(50)` began within the orphan window.
    fn at(t: i64) -> i64 {
        static BASE: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
        *BASE.get_or_init(|| now_secs() - 900) + t
    }
    use std::sync::Mutex;

    /// (principal, id, secret, created, active)
    type Held = (String, String, String, Option<i64>, bool);

    /// An issuer in memory that, unlike moto, checks a credential's secret part, and
    /// whose who-am-i names the credential that asked when `names_credential`.
    struct Memory {
        creds: Mutex<Vec<Held>>,
        names_credential: bool,
        /// The clock of the credentials it issues.
        now: i64,
    }

    impl Default for Memory {
        fn default() -> Self {
            Memory {
                creds: Mutex::default(),
                names_credential: true,
                now: 100,
            }
        }
    }

    impl Memory {
        fn add(&self, principal: &str, id: &str, secret: &str, created: i64) {
            self.add_at(principal, id, secret, Some(at(created)));
        }
        fn add_at(&self, principal: &str, id: &str, secret: &str, created: Option<i64>) {
            let c = (principal.into(), id.into(), secret.into(), created, true);
            self.creds.lock().unwrap().push(c);
        }
        fn ids(&self) -> Vec<(String, bool)> {
            let creds = self.creds.lock().unwrap();
            creds.iter().map(|c| (c.1.clone(), c.4)).collect()
        }
        fn set_active(&self, id: &str, active: bool) {
            for c in self.creds.lock().unwrap().iter_mut() {
                if c.1 == id {
                    c.4 = active;
                }
            }
        }
    }

    impl Issuer for Memory {
        fn principal_key(&self) -> &'static str {
            "User"
        }
        fn id_key(&self) -> &'static str {
            "Id"
        }
        fn fields(&self) -> &'static [&'static str] {
            &["Id", "Secret"]
        }
        fn limit(&self) -> usize {
            2
        }
        async fn list(
            &self,
            _: &SecretValue,
            principal: &str,
        ) -> Result<Vec<Credential>, BackendError> {
            let creds = self.creds.lock().unwrap();
            Ok(creds
                .iter()
                .filter(|c| c.0 == principal)
                .map(|c| Credential {
                    id: c.1.clone(),
                    created: c.3,
                    active: c.4,
                })
                .collect())
        }
        async fn create(
            &self,
            _: &SecretValue,
            principal: &str,
        ) -> Result<Map<String, Value>, BackendError> {
            let n = self.creds.lock().unwrap().len();
            let (id, secret) = (format!("new{n}"), format!("s{n}"));
            self.add_at(principal, &id, &secret, Some(at(self.now + n as i64)));
            let mut m = Map::new();
            m.insert("Id".into(), id.into());
            m.insert("Secret".into(), secret.into());
            Ok(m)
        }
        async fn deactivate(&self, _: &SecretValue, _: &str, id: &str) -> Result<(), BackendError> {
            self.set_active(id, false);
            Ok(())
        }
        async fn delete(&self, _: &SecretValue, _: &str, id: &str) -> Result<(), BackendError> {
            self.creds.lock().unwrap().retain(|c| c.1 != id);
            Ok(())
        }
        /// Authenticates with the secret part alone (as a bearer token does): the `Id`
        /// field plays no part, and is named back only when `names_credential`.
        async fn whoami(&self, v: &SecretValue) -> Result<Option<Identity>, BackendError> {
            let secret = field(v, "Secret")?;
            let creds = self.creds.lock().unwrap();
            Ok(creds
                .iter()
                .find(|c| c.2 == secret && c.4)
                .map(|c| Identity {
                    principal: c.0.clone(),
                    credential: self.names_credential.then(|| c.1.clone()),
                }))
        }
        fn unproven_hint(&self) -> Option<&'static str> {
            (!self.names_credential).then_some("add the pointer")
        }
    }

    fn v(id: &str, secret: &str) -> SecretValue {
        SecretValue::parse(&format!(
            r#"{{"User":"app","Id":"{id}","Secret":"{secret}"}}"#
        ))
    }

    fn run<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn allowed() -> Principals {
        Principals::parse("USERS", Some("app"))
    }

    /// The user holds its current key and another one (a person's, `X`), older.
    fn two_keys() -> Memory {
        let m = Memory::default();
        m.add("app", "X", "x-secret", 1);
        m.add("app", "C", "c-secret", 2);
        m
    }

    /// createSecret with AWSCURRENT `C` and `previous` staged, the rotation begun at 50.
    fn rotate(
        m: &Memory,
        previous: Option<&SecretValue>,
    ) -> Result<Map<String, Value>, BackendError> {
        run(issue(
            m,
            &allowed(),
            &v("C", "c-secret"),
            previous,
            None,
            Some(at(50)),
        ))
    }

    #[test]
    fn awsprevious_naming_a_credential_it_cannot_prove_gets_it_revoked_never() {
        let m = two_keys();
        // Whoever writes the secret stages `X` as AWSPREVIOUS, without its secret part.
        let e = rotate(&m, Some(&v("X", "guess"))).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Permission, "{}", e.message);
        assert!(
            e.message.contains("proves the stage holds"),
            "{}",
            e.message
        );
        assert!(!e.message.contains("guess"));
        assert_eq!(m.ids(), [("X".into(), true), ("C".into(), true)]);
        // finishSecret's deactivation does not touch it either.
        run(deactivate_previous(
            &m,
            &v("C", "c-secret"),
            Some(&v("X", "guess")),
        ))
        .unwrap();
        assert_eq!(m.ids(), [("X".into(), true), ("C".into(), true)]);
    }

    #[test]
    fn awsprevious_holding_one_credential_cannot_name_another_for_revoking() {
        // A third key `P`, whose secret AWSPREVIOUS holds, while its id names `X` (a
        // person's): the service proves the secret part is `P`'s, so `X` stays.
        let m = Memory::default();
        m.add("app", "X", "x-secret", 1);
        m.add("app", "C", "c-secret", 2);
        let e = rotate(&m, Some(&v("X", "c-secret"))).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Permission, "{}", e.message);
        assert_eq!(m.ids(), [("X".into(), true), ("C".into(), true)]);
        run(deactivate_previous(
            &m,
            &v("C", "c-secret"),
            Some(&v("X", "c-secret")),
        ))
        .unwrap();
        assert_eq!(m.ids(), [("X".into(), true), ("C".into(), true)]);
        // A service that does not say which credential asked: at the limit nothing is
        // revoked, and the line says what the configuration must add.
        let m = Memory {
            names_credential: false,
            ..two_keys()
        };
        let e = rotate(&m, Some(&v("X", "x-secret"))).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Config, "{}", e.message);
        assert!(e.message.contains("add the pointer"), "{}", e.message);
        assert_eq!(m.ids(), [("X".into(), true), ("C".into(), true)]);
    }

    #[test]
    fn awsprevious_that_proves_its_credential_or_holds_an_inactive_one_is_revoked() {
        let m = two_keys();
        let new = rotate(&m, Some(&v("X", "x-secret")));
        assert_eq!(new.unwrap()["Id"], "new1");
        assert_eq!(m.ids(), [("C".into(), true), ("new1".into(), true)]);
        // Deactivated at the last finishSecret: revoked without a proof it cannot give.
        let m = two_keys();
        m.set_active("X", false);
        rotate(&m, Some(&v("X", "x-secret"))).unwrap();
        assert_eq!(m.ids(), [("C".into(), true), ("new1".into(), true)]);
        // finishSecret deactivates a proven AWSPREVIOUS.
        let m = two_keys();
        run(deactivate_previous(
            &m,
            &v("C", "c-secret"),
            Some(&v("X", "x-secret")),
        ))
        .unwrap();
        assert_eq!(m.ids(), [("X".into(), false), ("C".into(), true)]);
    }

    #[test]
    fn only_a_credential_issued_since_the_rotation_began_is_an_orphan() {
        // A person added `Y` yesterday (before the rotation began at 50): it stays, and
        // the rotation stops with one line.
        let m = Memory::default();
        m.add("app", "C", "c-secret", 2);
        m.add("app", "Y", "y-secret", 49);
        let e = rotate(&m, None).unwrap_err();
        assert!(
            e.message.contains("before this rotation began"),
            "{}",
            e.message
        );
        assert_eq!(m.ids(), [("C".into(), true), ("Y".into(), true)]);
        // An earlier try of this rotation issued `O` at 50 and died: it is deleted.
        let m = Memory::default();
        m.add("app", "C", "c-secret", 2);
        m.add("app", "O", "o-secret", 50);
        rotate(&m, None).unwrap();
        assert_eq!(m.ids(), [("C".into(), true), ("new1".into(), true)]);
        // When the rotation began is unknown, nothing is an orphan.
        let m = Memory::default();
        m.add("app", "C", "c-secret", 2);
        m.add("app", "O", "o-secret", 50);
        let e = run(issue(&m, &allowed(), &v("C", "c-secret"), None, None, None)).unwrap_err();
        assert!(e.message.contains("unknown"), "{}", e.message);
        assert_eq!(m.ids().len(), 2);
        // A rotation that began two hours ago (stalled, then resumed): what the principal
        // got since may be a person's.
        let began = now_secs() - 7200;
        let m = Memory::default();
        m.add("app", "C", "c-secret", 2);
        m.add_at("app", "P", "p-secret", Some(now_secs() - 60));
        let e = run(issue(
            &m,
            &allowed(),
            &v("C", "c-secret"),
            None,
            None,
            Some(began),
        ))
        .unwrap_err();
        assert!(e.message.contains("began 120 minutes ago"), "{}", e.message);
        assert_eq!(m.ids().len(), 2);
        // A creation time in the future (a unit rotgen does not read) is no time.
        let m = Memory::default();
        m.add("app", "C", "c-secret", 2);
        m.add_at("app", "F", "f-secret", Some(now_secs() * 1000));
        let e = rotate(&m, None).unwrap_err();
        assert!(e.message.contains("later than now"), "{}", e.message);
        assert_eq!(m.ids().len(), 2);
    }

    #[test]
    fn what_cannot_be_read_is_never_revoked() {
        // A creation time the service gives in no form rotgen reads is not 0 ("older")
        // nor "newer": the credential is left alone and the rotation stops.
        let m = Memory::default();
        m.add("app", "C", "c-secret", 2);
        m.add_at("app", "U", "u-secret", None);
        let e = rotate(&m, None).unwrap_err();
        assert!(e.message.contains("creation time"), "{}", e.message);
        assert_eq!(m.ids(), [("C".into(), true), ("U".into(), true)]);
        // AWSPREVIOUS naming an id the service does not list is unknown: nothing is
        // revoked for it (no delete of an id the principal does not hold).
        let m = Memory::default();
        m.add("app", "C", "c-secret", 2);
        let new = rotate(&m, Some(&v("ghost", "g-secret"))).unwrap();
        assert_eq!(new["Id"], "new1");
        assert_eq!(m.ids(), [("C".into(), true), ("new1".into(), true)]);
    }

    #[test]
    fn a_stage_whose_id_is_not_its_own_credential_is_refused() {
        // AWSCURRENT's secret is `C`'s, its id names `X`: the service says otherwise.
        let m = two_keys();
        let e = run(issue(
            &m,
            &allowed(),
            &v("X", "c-secret"),
            None,
            None,
            Some(at(50)),
        ))
        .unwrap_err();
        assert!(
            e.message.contains("authenticate as credential C"),
            "{}",
            e.message
        );
        assert_eq!(m.ids(), [("X".into(), true), ("C".into(), true)]);
    }
}
