//! Test doubles for the rotation protocol, public so that authors of custom backends can
//! test against them too:
//!
//! - [`MemoryStore`]: Secrets Manager in memory, with AWS's semantics where moto differs
//!   (a second PutSecretValue of another value under the same token is refused);
//! - [`FakeService`]: a service with users and passwords;
//! - [`Faults`] with [`FaultyStore`] / [`FaultyBackend`]: fail one chosen call, before or
//!   after it takes effect, to show that every crash point is recoverable;
//! - call counters for both.

use super::backend::{Backend, BackendError, ErrorKind, SetPassword, Strategy};
use super::password::PasswordPolicy;
use super::secret::SecretValue;
use super::store::{Description, SecretStore, StoreError};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

#[derive(Debug, Clone)]
struct Version {
    id: String,
    value: String,
    stages: Vec<String>,
    /// When it was created, in seconds since the epoch (ListSecretVersionIds).
    created: i64,
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[derive(Debug, Clone)]
struct Secret {
    arn: String,
    name: String,
    rotation_enabled: bool,
    versions: Vec<Version>,
}

/// Secrets Manager in memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    secrets: Mutex<Vec<Secret>>,
    passwords: AtomicUsize,
    /// Calls by operation name.
    pub calls: Mutex<BTreeMap<&'static str, usize>>,
    /// PutSecretValue calls that stored a new version.
    pub puts: AtomicUsize,
    /// The `RotationToken` each stored version came with.
    pub rotation_tokens: Mutex<Vec<Option<String>>>,
}

impl MemoryStore {
    /// Adds a secret whose AWSCURRENT is `value`; returns its ARN.
    pub fn create(&self, name: &str, value: &str, rotation_enabled: bool) -> String {
        let arn = format!("arn:aws:secretsmanager:us-east-1:123456789012:secret:{name}-AbCdEf");
        self.secrets.lock().unwrap().push(Secret {
            arn: arn.clone(),
            name: name.to_string(),
            rotation_enabled,
            versions: vec![Version {
                id: format!("v0-{name}"),
                value: value.to_string(),
                stages: vec!["AWSCURRENT".into()],
                created: now_secs(),
            }],
        });
        arn
    }

    /// Stages a new, empty AWSPENDING version for `token`, as RotateSecret does before it
    /// invokes the function.
    pub fn stage_pending(&self, id: &str, token: &str) {
        let mut secrets = self.secrets.lock().unwrap();
        let s = find(&mut secrets, id).expect("secret exists");
        for v in &mut s.versions {
            v.stages.retain(|x| x != "AWSPENDING");
        }
        s.versions.push(Version {
            id: token.to_string(),
            value: String::new(),
            stages: vec!["AWSPENDING".into()],
            created: now_secs(),
        });
    }

    /// Moves the date of `version` (ListSecretVersionIds's `CreatedDate`) `secs` seconds
    /// back, as if it had been made that much earlier.
    pub fn backdate(&self, id: &str, version: &str, secs: i64) {
        let mut secrets = self.secrets.lock().unwrap();
        let s = find(&mut secrets, id).expect("secret exists");
        let v = s
            .versions
            .iter_mut()
            .find(|v| v.id == version)
            .expect("version exists");
        v.created -= secs;
    }

    /// The value of the version holding `stage`.
    pub fn value(&self, id: &str, stage: &str) -> Option<String> {
        let mut secrets = self.secrets.lock().unwrap();
        let s = find(&mut secrets, id)?;
        s.versions
            .iter()
            .find(|v| v.stages.iter().any(|x| x == stage))
            .map(|v| v.value.clone())
    }

    /// Replaces the AWSCURRENT value (a user editing the secret).
    pub fn set_current_value(&self, id: &str, value: &str) {
        let mut secrets = self.secrets.lock().unwrap();
        let s = find(&mut secrets, id).expect("secret exists");
        if let Some(v) = s
            .versions
            .iter_mut()
            .find(|v| v.stages.iter().any(|x| x == "AWSCURRENT"))
        {
            v.value = value.to_string();
        }
    }

    fn count(&self, op: &'static str) {
        *self.calls.lock().unwrap().entry(op).or_default() += 1;
    }

    pub fn total_calls(&self) -> usize {
        self.calls.lock().unwrap().values().sum()
    }
}

fn find<'a>(secrets: &'a mut [Secret], id: &str) -> Option<&'a mut Secret> {
    secrets.iter_mut().find(|s| s.arn == id || s.name == id)
}

fn not_found() -> StoreError {
    StoreError::NotFound
}

impl SecretStore for MemoryStore {
    async fn describe(&self, id: &str) -> Result<Description, StoreError> {
        self.count("DescribeSecret");
        let mut secrets = self.secrets.lock().unwrap();
        let s = find(&mut secrets, id).ok_or_else(not_found)?;
        Ok(Description {
            arn: s.arn.clone(),
            rotation_enabled: s.rotation_enabled,
            versions: s
                .versions
                .iter()
                .filter(|v| !v.stages.is_empty())
                .map(|v| (v.id.clone(), v.stages.clone()))
                .collect(),
        })
    }

    async fn get(
        &self,
        id: &str,
        version: Option<&str>,
        stage: &str,
    ) -> Result<String, StoreError> {
        self.count("GetSecretValue");
        let mut secrets = self.secrets.lock().unwrap();
        let s = find(&mut secrets, id).ok_or_else(not_found)?;
        let v = s
            .versions
            .iter()
            .find(|v| version.is_none_or(|id| v.id == id) && v.stages.iter().any(|x| x == stage))
            .ok_or_else(not_found)?;
        if v.value.is_empty() {
            // A version RotateSecret staged but nobody filled: AWS has no value for it.
            return Err(not_found());
        }
        Ok(v.value.clone())
    }

    async fn put_pending(
        &self,
        id: &str,
        token: &str,
        value: &str,
        rotation_token: Option<&str>,
    ) -> Result<(), StoreError> {
        self.count("PutSecretValue");
        let mut secrets = self.secrets.lock().unwrap();
        let s = find(&mut secrets, id).ok_or_else(not_found)?;
        if let Some(v) = s
            .versions
            .iter()
            .find(|v| v.id == token && !v.value.is_empty())
        {
            if v.value == value {
                return Ok(());
            }
            return Err(StoreError::Failed {
                operation: "PutSecretValue",
                message:
                    "ResourceExistsException: a version with this token exists with another value"
                        .into(),
                retryable: false,
            });
        }
        for v in &mut s.versions {
            v.stages.retain(|x| x != "AWSPENDING");
        }
        // Filling the version RotateSecret staged keeps its date.
        let created = s
            .versions
            .iter()
            .find(|v| v.id == token)
            .map_or_else(now_secs, |v| v.created);
        s.versions.retain(|v| v.id != token);
        s.versions.push(Version {
            id: token.to_string(),
            value: value.to_string(),
            stages: vec!["AWSPENDING".into()],
            created,
        });
        self.puts.fetch_add(1, Ordering::SeqCst);
        self.rotation_tokens
            .lock()
            .unwrap()
            .push(rotation_token.map(str::to_string));
        Ok(())
    }

    async fn random_password(&self, p: &PasswordPolicy) -> Result<String, StoreError> {
        self.count("GetRandomPassword");
        let n = self.passwords.fetch_add(1, Ordering::SeqCst);
        let alphabet: Vec<char> =
            "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789!#%^*-_=+"
                .chars()
                .filter(|c| !p.exclude_characters.contains(*c))
                .collect();
        let mut seed = (n as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        Ok((0..p.length)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                alphabet[(seed % alphabet.len() as u64) as usize]
            })
            .collect())
    }

    async fn version_created(&self, id: &str, version: &str) -> Result<Option<i64>, StoreError> {
        self.count("ListSecretVersionIds");
        let mut secrets = self.secrets.lock().unwrap();
        let s = find(&mut secrets, id).ok_or_else(not_found)?;
        Ok(s.versions
            .iter()
            .find(|v| v.id == version)
            .map(|v| v.created))
    }

    async fn move_current(&self, id: &str, to: &str, from: Option<&str>) -> Result<(), StoreError> {
        self.count("UpdateSecretVersionStage");
        let mut secrets = self.secrets.lock().unwrap();
        let s = find(&mut secrets, id).ok_or_else(not_found)?;
        let actual = s
            .versions
            .iter()
            .find(|v| v.stages.iter().any(|x| x == "AWSCURRENT"))
            .map(|v| v.id.clone());
        if actual.as_deref() != from {
            return Err(StoreError::Failed {
                operation: "UpdateSecretVersionStage",
                message:
                    "InvalidParameterException: AWSCURRENT is not on the version to remove it from"
                        .into(),
                retryable: false,
            });
        }
        if !s.versions.iter().any(|v| v.id == to) {
            return Err(not_found());
        }
        for v in &mut s.versions {
            v.stages.retain(|x| x != "AWSPREVIOUS");
            if Some(v.id.as_str()) == from {
                v.stages.retain(|x| x != "AWSCURRENT");
                v.stages.push("AWSPREVIOUS".into());
            }
            if v.id == to {
                v.stages.push("AWSCURRENT".into());
            }
        }
        Ok(())
    }
}

/// A service with users, passwords and grants, in memory.
#[derive(Debug, Default)]
pub struct FakeService {
    /// User → the passwords that log in.
    pub users: Mutex<HashMap<String, Vec<String>>>,
    /// User → grants.
    pub grants: Mutex<HashMap<String, Vec<String>>>,
    pub down: AtomicBool,
    /// Keep the previous password valid too (Redis's two-password window).
    pub two_passwords: bool,
    pub logins: AtomicUsize,
}

impl FakeService {
    pub fn add_user(&self, user: &str, password: &str, grants: &[&str]) {
        self.users
            .lock()
            .unwrap()
            .insert(user.into(), vec![password.into()]);
        self.grants
            .lock()
            .unwrap()
            .insert(user.into(), grants.iter().map(|g| g.to_string()).collect());
    }

    /// Whether `creds` log in right now (for assertions; not counted).
    pub fn accepts(&self, creds: &SecretValue) -> bool {
        let (Ok(u), Ok(p)) = (creds.username(), creds.password()) else {
            return false;
        };
        self.users
            .lock()
            .unwrap()
            .get(u)
            .is_some_and(|ps| ps.iter().any(|x| x == p))
    }

    fn check_up(&self) -> Result<(), BackendError> {
        if self.down.load(Ordering::SeqCst) {
            Err(BackendError::new(
                ErrorKind::Unavailable,
                "the fake service is down",
            ))
        } else {
            Ok(())
        }
    }
}

impl Backend for FakeService {
    async fn login(&self, creds: &SecretValue) -> Result<bool, BackendError> {
        self.check_up()?;
        self.logins.fetch_add(1, Ordering::SeqCst);
        Ok(self.accepts(creds))
    }

    async fn set_password(&self, req: SetPassword<'_>) -> Result<(), BackendError> {
        self.check_up()?;
        self.logins.fetch_add(1, Ordering::SeqCst);
        if !self.accepts(req.admin) {
            return Err(BackendError::new(ErrorKind::Auth, "admin login refused"));
        }
        let user = req
            .pending
            .username()
            .map_err(|e| BackendError::new(ErrorKind::Config, e.to_string()))?;
        let password = req
            .pending
            .password()
            .map_err(|e| BackendError::new(ErrorKind::Config, e.to_string()))?;
        if req.strategy == Strategy::AlternatingUsers {
            let template = req
                .current
                .username()
                .map_err(|e| BackendError::new(ErrorKind::Config, e.to_string()))?;
            let grants = self
                .grants
                .lock()
                .unwrap()
                .get(template)
                .cloned()
                .unwrap_or_default();
            self.grants.lock().unwrap().insert(user.to_string(), grants);
        }
        let mut users = self.users.lock().unwrap();
        let entry = users.entry(user.to_string()).or_default();
        let keep: Vec<String> = if self.two_passwords {
            req.current
                .password()
                .ok()
                .map(str::to_string)
                .into_iter()
                .collect()
        } else {
            Vec::new()
        };
        *entry = keep;
        entry.push(password.to_string());
        Ok(())
    }

    async fn test(&self, creds: &SecretValue) -> Result<(), BackendError> {
        if self.login(creds).await? {
            Ok(())
        } else {
            Err(BackendError::new(
                ErrorKind::Auth,
                "the fake service refused the login",
            ))
        }
    }
}

/// Which call fails, counted across a store and a backend that share one plan.
#[derive(Debug, Default)]
pub struct Faults {
    calls: AtomicUsize,
    /// Fail call number N (0-based) ...
    pub fail_at: Option<usize>,
    /// ... after it took effect (a crash between the call and its answer), else before.
    pub after: bool,
    pub fired: AtomicBool,
}

impl Faults {
    pub fn at(n: usize, after: bool) -> Self {
        Faults {
            fail_at: Some(n),
            after,
            ..Faults::default()
        }
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Counts a call; says whether it is the one to fail.
    pub fn hit(&self) -> bool {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if self.fail_at == Some(n) {
            self.fired.store(true, Ordering::SeqCst);
            true
        } else {
            false
        }
    }
}

/// A store that fails the call [`Faults`] names.
#[derive(Debug)]
pub struct FaultyStore<'a, S> {
    pub inner: S,
    pub faults: &'a Faults,
}

macro_rules! faulty {
    ($self:ident, $call:expr, $err:expr) => {{
        if $self.faults.hit() {
            if $self.faults.after {
                let _ = $call.await;
            }
            return Err($err);
        }
        $call.await
    }};
}

fn injected() -> StoreError {
    StoreError::Failed {
        operation: "injected",
        message: "injected failure".into(),
        retryable: true,
    }
}

impl<S: SecretStore> SecretStore for FaultyStore<'_, S> {
    async fn describe(&self, id: &str) -> Result<Description, StoreError> {
        faulty!(self, self.inner.describe(id), injected())
    }
    async fn get(
        &self,
        id: &str,
        version: Option<&str>,
        stage: &str,
    ) -> Result<String, StoreError> {
        faulty!(self, self.inner.get(id, version, stage), injected())
    }
    async fn put_pending(
        &self,
        id: &str,
        token: &str,
        value: &str,
        rt: Option<&str>,
    ) -> Result<(), StoreError> {
        faulty!(
            self,
            self.inner.put_pending(id, token, value, rt),
            injected()
        )
    }
    async fn random_password(&self, p: &PasswordPolicy) -> Result<String, StoreError> {
        faulty!(self, self.inner.random_password(p), injected())
    }
    async fn move_current(&self, id: &str, to: &str, from: Option<&str>) -> Result<(), StoreError> {
        faulty!(self, self.inner.move_current(id, to, from), injected())
    }
    async fn version_created(&self, id: &str, version: &str) -> Result<Option<i64>, StoreError> {
        faulty!(self, self.inner.version_created(id, version), injected())
    }
}

/// A backend that fails the call [`Faults`] names (as if the service went down).
#[derive(Debug)]
pub struct FaultyBackend<'a, B> {
    pub inner: B,
    pub faults: &'a Faults,
}

fn down() -> BackendError {
    BackendError::new(ErrorKind::Unavailable, "injected failure")
}

impl<B: Backend> Backend for FaultyBackend<'_, B> {
    async fn login(&self, creds: &SecretValue) -> Result<bool, BackendError> {
        faulty!(self, self.inner.login(creds), down())
    }
    async fn set_password(&self, req: SetPassword<'_>) -> Result<(), BackendError> {
        faulty!(self, self.inner.set_password(req), down())
    }
    async fn test(&self, creds: &SecretValue) -> Result<(), BackendError> {
        faulty!(self, self.inner.test(creds), down())
    }
    fn cleans_up(&self) -> bool {
        self.inner.cleans_up()
    }
    async fn finish(
        &self,
        current: &SecretValue,
        previous: Option<&SecretValue>,
    ) -> Result<(), BackendError> {
        faulty!(self, self.inner.finish(current, previous), down())
    }
    fn max_username_len(&self) -> usize {
        self.inner.max_username_len()
    }
    fn default_port(&self) -> u16 {
        self.inner.default_port()
    }
    fn place(&self) -> crate::rotation::backend::Place {
        self.inner.place()
    }
    fn may_accept_any_password(&self) -> bool {
        self.inner.may_accept_any_password()
    }
    fn reruns_set(&self) -> bool {
        self.inner.reruns_set()
    }
    fn has_users(&self) -> bool {
        self.inner.has_users()
    }
}

/// Runs the four steps of one rotation (token `token`) as Secrets Manager would, retrying
/// each failed step up to `tries` times; the last error of a step that never passed.
pub async fn run_steps<S: SecretStore, B: Backend, R: super::rds::RdsLookup>(
    rotator: &super::steps::Rotator<S, B, R>,
    secret_id: &str,
    token: &str,
    tries: usize,
) -> Result<(), String> {
    for step in super::Step::ALL {
        let event = super::RotationEvent {
            step,
            secret_id: secret_id.to_string(),
            token: token.to_string(),
            rotation_token: None,
        };
        let mut result = Err(String::new());
        for _ in 0..tries {
            result = rotator
                .handle(&event, super::steps::Caller::Cli)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string());
            if result.is_ok() {
                break;
            }
        }
        result?;
    }
    Ok(())
}
