//! The four steps and the entry checks, as AWS's rotation functions define them, made
//! idempotent:
//!
//! - **createSecret** generates a password only when the token has no AWSPENDING value yet;
//!   a retry finds the value it stored and stops.
//! - **setSecret** first tries the pending credentials; only when they do not log in does it
//!   change the password, logging in with the current (then previous) credentials, or the
//!   master secret for alternating users.
//! - **testSecret** logs in with the pending credentials.
//! - **finishSecret** moves AWSCURRENT to the token's version, unless it is there already.
//!
//! AWSCURRENT moves only in finishSecret, after testSecret proved the new credentials, so a
//! crash anywhere leaves AWSCURRENT (or, mid-setSecret, AWSPENDING, which setSecret's retry
//! completes) holding a password the service accepts.

use super::backend::{Backend, BackendError, ErrorKind, SetPassword, Strategy, alternate_username};
use super::password::PasswordPolicy;
use super::rds::{MASTER_RDS_VAR, NoRds, RdsError, RdsLookup};
use super::secret::{SecretFormatError, SecretValue};
use super::store::{Description, SecretStore, StoreError};
use super::trust::{self, MASTERS_VAR, Masters, Refusal};
use super::{Redactor, RotationError, RotationEvent, Step};
use tracing::Instrument;

pub const CURRENT: &str = "AWSCURRENT";
pub const PENDING: &str = "AWSPENDING";
pub const PREVIOUS: &str = "AWSPREVIOUS";

/// What a step did, for the logs and `rotgen invoke`'s answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The token is already AWSCURRENT: the rotation is over.
    AlreadyCurrent,
    /// The step found its work already done (a retry).
    AlreadyDone,
    Done,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::AlreadyCurrent => "already-current",
            Outcome::AlreadyDone => "already-done",
            Outcome::Done => "done",
        }
    }
}

/// How strictly the entry checks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// Secrets Manager invoked us: it staged the token and enabled rotation.
    SecretsManager,
    /// `rotgen rotate` plays Secrets Manager's part: the token may not be staged before
    /// createSecret, and rotation need not be enabled on the secret.
    Cli,
}

/// The time (seconds since the epoch) in a UUID version 7 token, the kind `rotgen
/// rotate` makes for the rotations it starts; `None` for any other token, or one whose
/// time is in the future or older than a Lambda invocation can last (15 minutes).
pub fn cli_token_time(token: &str) -> Option<i64> {
    let uuid = uuid::Uuid::parse_str(token).ok()?;
    if uuid.get_version_num() != 7 {
        return None;
    }
    let (secs, _) = uuid.get_timestamp()?.to_unix();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    (secs <= now && now - secs <= 900).then_some(secs as i64)
}

/// One rotation function: a store, a backend, RDS (for masters RDS manages) and the
/// settings of its environment.
#[derive(Debug)]
pub struct Rotator<S, B, R = NoRds> {
    pub store: S,
    pub backend: B,
    pub strategy: Strategy,
    pub policy: PasswordPolicy,
    /// The master secrets this function may use (its own configuration, never the
    /// secret's word): see [`trust`]. Those that RDS manages come with the instance or
    /// cluster that owns each ([`Masters::rds`]).
    pub masters: Masters,
    /// Where a master RDS manages may act: its resource's endpoint, asked of RDS
    /// ([`NoRds`] when the configuration binds no master to RDS).
    pub rds: R,
}

/// An error inside a step, before it is tagged with the step and redacted.
struct Fail {
    kind: &'static str,
    message: String,
    retryable: bool,
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail {
            kind: "SecretsManager",
            retryable: e.retryable(),
            message: e.to_string(),
        }
    }
}

impl From<BackendError> for Fail {
    fn from(e: BackendError) -> Self {
        Fail {
            kind: match e.kind {
                ErrorKind::Unavailable => "ServiceUnavailable",
                ErrorKind::Auth => "ServiceAuth",
                ErrorKind::Permission => "ServicePermission",
                ErrorKind::Config => "ServiceConfig",
                ErrorKind::Service => "Service",
            },
            retryable: e.kind.retryable(),
            message: e.message,
        }
    }
}

impl From<SecretFormatError> for Fail {
    fn from(e: SecretFormatError) -> Self {
        fail("SecretFormat", e.to_string())
    }
}

impl From<RdsError> for Fail {
    fn from(e: RdsError) -> Self {
        Fail {
            kind: "RDS",
            retryable: e.retryable,
            message: e.message,
        }
    }
}

impl From<Refusal> for Fail {
    fn from(r: Refusal) -> Self {
        fail("Refused", r.0)
    }
}

fn fail(kind: &'static str, message: impl Into<String>) -> Fail {
    Fail {
        kind,
        message: message.into(),
        retryable: false,
    }
}

impl<S: SecretStore, B: Backend, R: RdsLookup> Rotator<S, B, R> {
    /// Runs one step of `event`.
    pub async fn handle(
        &self,
        event: &RotationEvent,
        caller: Caller,
    ) -> Result<Outcome, RotationError> {
        self.handle_until(event, caller, None).await
    }

    /// Runs one step of `event`, stopping it cleanly at `deadline` (the Lambda's, less a
    /// margin) with a retryable error: every call in flight is dropped (an open database
    /// transaction rolls back), which is a crash the steps are built to survive, but one
    /// that still answers Secrets Manager instead of being killed half-way.
    pub async fn handle_until(
        &self,
        event: &RotationEvent,
        caller: Caller,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<Outcome, RotationError> {
        let mut redactor = Redactor::default();
        let span =
            tracing::info_span!("rotation", secret = %event.secret_id, step = event.step.name());
        // On the heap: the steps' state machine is large, and a debug build copies it.
        let work = Box::pin(self.run(event, caller, &mut redactor).instrument(span));
        let result = match deadline {
            None => work.await,
            Some(at) => match tokio::time::timeout_at(at, work).await {
                Ok(r) => r,
                Err(_) => Err(Fail {
                    kind: "Deadline",
                    retryable: true,
                    message: "the step stopped before the function's time ran out, leaving nothing half-done that a retry cannot finish; Secrets Manager retries it (if this repeats, raise the function's timeout or check the service's latency)".into(),
                }),
            },
        };
        result.map_err(|f| RotationError {
            step: event.step,
            secret_id: event.secret_id.clone(),
            message: redactor.clean(&f.message),
            retryable: f.retryable,
            kind: f.kind,
        })
    }

    async fn run(
        &self,
        e: &RotationEvent,
        caller: Caller,
        r: &mut Redactor,
    ) -> Result<Outcome, Fail> {
        let id = e.secret_id.as_str();
        let token = e.token.as_str();
        let d = self.store.describe(id).await?;
        if !d.rotation_enabled && caller == Caller::SecretsManager {
            return Err(fail(
                "NotEnabled",
                format!("rotation is not enabled for secret {}", d.arn),
            ));
        }
        let staged = d.versions.contains_key(token);
        let cli_create = caller == Caller::Cli && e.step == Step::Create;
        if !staged && !cli_create {
            return Err(fail(
                "UnknownVersion",
                format!(
                    "version {token} of secret {} has no stage for rotation",
                    d.arn
                ),
            ));
        }
        if d.has_stage(token, CURRENT) {
            // finishSecret retried after AWSCURRENT moved: the clean-up after the move may
            // have failed (or never run), and it is safe to repeat.
            if e.step == Step::Finish && self.backend.cleans_up() {
                self.clean_up(id, token, d.version_with(PREVIOUS), r)
                    .await?;
            }
            return Ok(Outcome::AlreadyCurrent);
        }
        // `rotgen rotate` starts a rotation without Secrets Manager's lock: never beside
        // another one.
        if cli_create
            && !staged
            && let Some((other, _)) = d.versions.iter().find(|(v, _)| {
                d.has_stage(v, PENDING) && !d.has_stage(v, CURRENT) && v.as_str() != token
            })
        {
            return Err(fail(
                "RotationInProgress",
                format!(
                    "secret {} has another rotation in progress (AWSPENDING version {other}); finish it (rotgen rotate --resume) before starting one",
                    d.arn
                ),
            ));
        }
        if staged && !d.has_stage(token, PENDING) {
            return Err(fail(
                "NotPending",
                format!(
                    "version {token} of secret {} is not set as AWSPENDING for rotation",
                    d.arn
                ),
            ));
        }
        // Each step's future is boxed: held inline, the largest (setSecret's) makes every
        // caller's future that large, more than a 2 MiB thread's stack holds in a debug
        // build.
        match e.step {
            Step::Create => Box::pin(self.create(e, staged, r)).await,
            Step::Set => Box::pin(self.set(id, token, &d, r)).await,
            Step::Test => Box::pin(self.test(id, token, r)).await,
            Step::Finish => Box::pin(self.finish(id, token, &d, r)).await,
        }
    }

    async fn read(
        &self,
        id: &str,
        version: Option<&str>,
        stage: &str,
        r: &mut Redactor,
    ) -> Result<SecretValue, Fail> {
        self.read_if_any(id, version, stage, r)
            .await?
            .ok_or_else(|| {
                fail(
                    "MissingVersion",
                    match version {
                        Some(v) => format!("secret {id} has no {stage} value for version {v}"),
                        None => format!("secret {id} has no {stage} value"),
                    },
                )
            })
    }

    /// [`Self::read`], with `None` for a stage or version the secret does not have.
    async fn read_if_any(
        &self,
        id: &str,
        version: Option<&str>,
        stage: &str,
        r: &mut Redactor,
    ) -> Result<Option<SecretValue>, Fail> {
        let text = match self.store.get(id, version, stage).await {
            Ok(text) => text,
            Err(StoreError::NotFound) => return Ok(None),
            Err(other) => return Err(other.into()),
        };
        r.add(&text);
        let value = SecretValue::parse(&text);
        r.add_secret(&value);
        Ok(Some(value))
    }

    async fn create(
        &self,
        e: &RotationEvent,
        staged: bool,
        r: &mut Redactor,
    ) -> Result<Outcome, Fail> {
        let id = e.secret_id.as_str();
        let current = self.read(id, None, CURRENT, r).await?;
        match self.store.get(id, Some(&e.token), PENDING).await {
            Ok(text) => {
                r.add(&text);
                return Ok(Outcome::AlreadyDone);
            }
            Err(StoreError::NotFound) => {}
            Err(other) => return Err(other.into()),
        }
        if self.backend.issues() {
            return self.create_issued(e, staged, &current, r).await;
        }
        let username = match (self.strategy, self.backend.has_users()) {
            (Strategy::AlternatingUsers, true) => {
                let user = current.username()?;
                let max = self.backend.max_username_len();
                Some(alternate_username(user, max).ok_or_else(|| {
                    fail(
                        "SecretFormat",
                        format!("username {user} is too long for alternating users: {user}_clone would pass the service's limit of {max} characters"),
                    )
                })?)
            }
            _ => None,
        };
        if self.backend.has_users() {
            // Fail now, not in setSecret, when the secret lacks what the backend needs.
            current.username()?;
            current.password()?;
        }
        let password = self.store.random_password(&self.policy).await?;
        r.add(&password);
        let pending = current.with_credentials(username.as_deref(), &password);
        self.store_pending(e, &pending).await
    }

    /// Stores the new value as AWSPENDING under the event's token.
    async fn store_pending(
        &self,
        e: &RotationEvent,
        pending: &SecretValue,
    ) -> Result<Outcome, Fail> {
        self.store
            .put_pending(
                &e.secret_id,
                &e.token,
                &pending.to_secret_string(),
                e.rotation_token.as_deref(),
            )
            .await?;
        Ok(Outcome::Done)
    }

    /// createSecret for a service that issues its credentials (`super::issued`).
    async fn create_issued(
        &self,
        e: &RotationEvent,
        staged: bool,
        current: &SecretValue,
        r: &mut Redactor,
    ) -> Result<Outcome, Fail> {
        let id = e.secret_id.as_str();
        let previous = self.read_if_any(id, None, PREVIOUS, r).await?;
        let admin = self.issuing_master(current, r).await?;
        // When this rotation began, from records no writer of the secret can backdate:
        // Secrets Manager's date for the version RotateSecret staged, or (a rotation
        // `rotgen rotate` starts, unstaged until createSecret stores it) the time in the
        // token it made.
        let began = if staged {
            self.store.version_created(id, &e.token).await?
        } else {
            cli_token_time(&e.token)
        };
        let fields = self
            .backend
            .issue(current, previous.as_ref(), admin.as_ref(), began)
            .await?;
        let SecretValue::Json(mut map) = current.clone() else {
            return Err(fail(
                "SecretFormat",
                "the secret value is not a JSON object",
            ));
        };
        map.extend(fields);
        let pending = SecretValue::Json(map);
        r.add_secret(&pending);
        self.store_pending(e, &pending).await
    }

    async fn set(
        &self,
        id: &str,
        token: &str,
        d: &Description,
        r: &mut Redactor,
    ) -> Result<Outcome, Fail> {
        let pending = self.read(id, Some(token), PENDING, r).await?;
        if !self.backend.has_users() {
            return Ok(Outcome::AlreadyDone);
        }
        let current = self.read(id, None, CURRENT, r).await?;
        if self.backend.issues() {
            super::issued::check_pending(self.backend.issued_fields(), &current, &pending)
                .map_err(|m| fail("Refused", m))?;
            let admin = self.issuing_master(&current, r).await?;
            self.backend
                .confirm_issued(&pending, admin.as_ref())
                .await?;
            return Ok(Outcome::Done);
        }
        // AWSPENDING may differ from AWSCURRENT only in its password (and the user of
        // the pair): a tampered pending value cannot name another user or place.
        trust::check_pending(
            self.strategy,
            self.backend.max_username_len(),
            &current,
            &pending,
        )?;
        let alternating = self.strategy == Strategy::AlternatingUsers;
        // Alternating users (whose privileges must be complete, not just the login) and
        // backends whose credentials still work after a change run set_password on every
        // retry; the others are done once the pending credentials log in.
        if !alternating && !self.backend.reruns_set() && self.backend.login(&pending).await? {
            return Ok(Outcome::AlreadyDone);
        }
        // The credentials that change the password: the master secret for alternating
        // users (and for a single user whose secret names one, e.g. a Redis admin), else
        // the user's own current credentials, then its previous ones.
        let names_master = current.json().is_ok_and(|m| m.contains_key("masterarn"));
        if alternating || names_master {
            let master = self.master(&current, &pending, r).await?;
            // The master acts only for a user whose own credentials log in: a secret
            // naming another existing user cannot make the master reset that user.
            if !self.backend.login(&current).await? {
                return Err(fail(
                    "CurrentLogin",
                    "the AWSCURRENT credentials do not log in, so the master secret will not act for them; put the user's working password in AWSCURRENT, delete the AWSPENDING version, then rotate again",
                ));
            }
            // ... and the login proves it: a server that also lets the user in with a
            // made-up password would let any secret naming that user through.
            if self.backend.may_accept_any_password() {
                let made_up = format!("rotgen-made-up-{}", uuid::Uuid::new_v4().simple());
                if self
                    .backend
                    .login(&current.with_credentials(None, &made_up))
                    .await?
                {
                    return Err(fail(
                        "OpenLogin",
                        "the service lets AWSCURRENT's user in with a made-up password too (PostgreSQL `trust`, a Redis `nopass` user, a MySQL anonymous account), so a login proves nothing and the master secret will not act for it; require the user's password on the service, then rotate again",
                    ));
                }
            }
            return self
                .change(&master, &current, &pending)
                .await
                .map_err(|e| self.admin_rejected(e, "the master secret named by masterarn"));
        }
        match self.change(&current, &current, &pending).await {
            Err(e) if e.kind == ErrorKind::Auth && d.version_with(PREVIOUS).is_some() => {
                let previous = self.read(id, None, PREVIOUS, r).await?;
                trust::check_previous(&current, &previous)?;
                // AWSCURRENT's password did not log in, so nothing proves it: the
                // previous credentials that do log in stand in for it in the change too,
                // or a backend that keeps the current password beside the new one
                // (Redis) would install a password whoever wrote AWSCURRENT chose.
                self.change(&previous, &previous, &pending)
                    .await
                    .map_err(|e| {
                        self.admin_rejected(
                            e,
                            "neither the AWSCURRENT nor the AWSPREVIOUS credentials",
                        )
                    })
            }
            other => other.map_err(|e| self.admin_rejected(e, "the AWSCURRENT credentials")),
        }
    }

    async fn change(
        &self,
        admin: &SecretValue,
        current: &SecretValue,
        pending: &SecretValue,
    ) -> Result<Outcome, BackendError> {
        self.backend
            .set_password(SetPassword {
                strategy: self.strategy,
                admin,
                current,
                pending,
            })
            .await?;
        Ok(Outcome::Done)
    }

    /// A clearer message when the credentials that should change the password are refused.
    fn admin_rejected(&self, e: BackendError, who: &str) -> Fail {
        if e.kind == ErrorKind::Auth {
            Fail {
                kind: "CurrentLogin",
                retryable: false,
                message: format!(
                    "{who} do not log in, so the password cannot be changed ({}); put working credentials there, then rotate again",
                    e.message
                ),
            }
        } else {
            e.into()
        }
    }

    /// The master secret the secret names, if the function's configuration names it too,
    /// and only for a secret on the master's own server: the master's `host` and `port`,
    /// or, for a master RDS manages (which holds no host), the endpoint RDS gives for the
    /// instance or cluster the configuration binds it to.
    async fn master(
        &self,
        current: &SecretValue,
        pending: &SecretValue,
        r: &mut Redactor,
    ) -> Result<SecretValue, Fail> {
        let arn = self.master_arn(current)?;
        let default_port = self.backend.default_port();
        let owner = self.masters.rds().owner_of(&arn).cloned();
        let endpoint = match &owner {
            Some(resource) => Some(self.rds.endpoint(resource).await?),
            None if super::rds::is_rds_managed(&arn) => {
                return Err(fail(
                    "Refused",
                    format!(
                        "master secret {arn} is one RDS manages, which holds no host, and this function's configuration ({MASTER_RDS_VAR}) binds it to no RDS instance or cluster; set master_rds_instance (or master_rds_cluster) beside master_secret_arn in the spec and deploy the rebuilt template"
                    ),
                ));
            }
            None => None,
        };
        let mut master = self.read(&arn, None, CURRENT, r).await?;
        if let (Some(resource), Some(endpoint)) = (&owner, &endpoint) {
            master = trust::rds_master(default_port, resource, endpoint, current, &master)?;
        }
        trust::check_master(self.backend.place(), current, pending, &master)?;
        Ok(master)
    }

    /// The master secret an issuing service's calls authenticate with, if the secret
    /// names one (or the function's configuration names exactly one). Its credential
    /// goes only where the function's configuration sends it (the token API's contract),
    /// so no place of the secret's is checked against it; the principal is still proven
    /// by the secret's own credential.
    async fn issuing_master(
        &self,
        current: &SecretValue,
        r: &mut Redactor,
    ) -> Result<Option<SecretValue>, Fail> {
        let names = current.json().is_ok_and(|m| m.contains_key("masterarn"));
        if !names && self.masters.is_empty() {
            return Ok(None);
        }
        let arn = self.master_arn(current)?;
        Ok(Some(self.read(&arn, None, CURRENT, r).await?))
    }

    /// The master secret's ARN: the secret's `masterarn`, which the function's
    /// configuration must name too.
    fn master_arn(&self, current: &SecretValue) -> Result<String, Fail> {
        // A secret without `masterarn` (an existing one, made for another tool) uses the
        // master of the function's configuration, when it names exactly one.
        let arn = match current.masterarn() {
            Ok(a) => a.to_string(),
            Err(SecretFormatError::Missing(_)) => match self.masters.only() {
                Some(m) => m.to_string(),
                None => {
                    return Err(fail(
                        "SecretFormat",
                        format!(
                            "the secret has no `masterarn`, and this function's configuration ({MASTERS_VAR}) names {} master secrets, not one; add \"masterarn\": \"<the master secret's ARN>\" to the secret",
                            self.masters.len()
                        ),
                    ));
                }
            },
            Err(e) => return Err(e.into()),
        };
        if !self.masters.allows(&arn) {
            return Err(fail(
                "Refused",
                format!(
                    "the secret names master secret {arn} (masterarn), which this function's configuration does not name ({MASTERS_VAR}); name it in the spec's master_secret_arn and deploy the rebuilt template (rotgen rotate: pass --master)"
                ),
            ));
        }
        Ok(arn)
    }

    async fn test(&self, id: &str, token: &str, r: &mut Redactor) -> Result<Outcome, Fail> {
        let pending = self.read(id, Some(token), PENDING, r).await?;
        self.backend.test(&pending).await?;
        Ok(Outcome::Done)
    }

    async fn finish(
        &self,
        id: &str,
        token: &str,
        d: &Description,
        r: &mut Redactor,
    ) -> Result<Outcome, Fail> {
        let from = d.version_with(CURRENT);
        self.store.move_current(id, token, from).await?;
        if self.backend.cleans_up() {
            self.clean_up(id, token, from, r).await?;
        }
        Ok(Outcome::Done)
    }

    /// After AWSCURRENT moved to `token`: the backend's clean-up of `previous`, the version
    /// AWSPREVIOUS now holds. A value that cannot be read fails the step (which Secrets
    /// Manager retries, and the retry cleans up again) rather than skip the clean-up.
    async fn clean_up(
        &self,
        id: &str,
        token: &str,
        previous: Option<&str>,
        r: &mut Redactor,
    ) -> Result<(), Fail> {
        let current = self.read(id, Some(token), CURRENT, r).await?;
        let previous = match previous {
            Some(v) => Some(self.read(id, Some(v), PREVIOUS, r).await?),
            None => None,
        };
        self.backend.finish(&current, previous.as_ref()).await?;
        Ok(())
    }
}
