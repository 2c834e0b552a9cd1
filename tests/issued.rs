//! Issued credentials (the issue-and-revoke model, `rotgen::rotation::issued`) with the
//! `aws-iam` backend against moto's IAM and STS, moto also playing Secrets Manager:
//!
//! - two rotations in a row: AWSCURRENT's key and AWSPREVIOUS's both authenticate after
//!   each, the key of two rotations ago is gone, the user never holds more than two;
//! - a failure injected at every call (Secrets Manager, IAM and STS), before or after it
//!   takes effect, then retries: the rotation ends with a working AWSCURRENT and no
//!   orphan key;
//! - a secret cannot get a key for a user its own key does not prove, nor for a user the
//!   function's configuration does not name, and a key rotgen did not issue is not deleted.
//!
//! The same for `http-token` against a token API over HTTPS in the test (which, unlike
//! moto, checks every token's secret part, and allows two tokens per owner).
//!
//! moto does not check an access key's signature, so "the secret key is wrong" cannot be
//! tested here; "the key is another user's" and "the key does not exist" can.

mod common;

use aws_sdk_iam::Client as Iam;
use aws_sdk_secretsmanager::Client as Sm;
use common::{rt, stage, unique};
use rotgen::backends::aws_iam::{IamKeys, USERS_VAR};
use rotgen::function::rotate;
use rotgen::rotation::backend::{BackendError, ErrorKind, Strategy};
use rotgen::rotation::issued::{Credential, Identity, Issued, Issuer, Previous, Principals};
use rotgen::rotation::lambda::Handler;
use rotgen::rotation::password::PasswordPolicy;
use rotgen::rotation::secret::SecretValue;
use rotgen::rotation::steps::Rotator;
use rotgen::rotation::store::AwsStore;
use rotgen::rotation::testing::{Faults, FaultyStore, run_steps};
use rotgen::rotation::trust::Masters;
use serde_json::{Map, Value, json};
use std::sync::atomic::Ordering;

fn moto() -> bool {
    common::services_running(&["AWS_ENDPOINT_URL"])
}

async fn config() -> aws_config::SdkConfig {
    rotgen::sdk::config(None).await
}

/// An IAM user with one access key, and a secret holding that key.
struct Case {
    user: String,
    arn: String,
    first_key: String,
}

async fn case() -> Case {
    case_with(false).await
}

/// With `foreign_key`, the user first gets a key of its own that the secret never holds
/// (issued a second before the secret's, so it is the older one).
async fn case_with(foreign_key: bool) -> Case {
    let conf = config().await;
    let iam = Iam::new(&conf);
    let user = unique("rotgen-iam-");
    iam.create_user().user_name(&user).send().await.unwrap();
    if foreign_key {
        new_key(&user).await;
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    }
    let key = new_key(&user).await;
    let value = json!({
        "UserName": user,
        "AccessKeyId": key.access_key_id(),
        "SecretAccessKey": key.secret_access_key(),
        "note": "kept",
    });
    let arn = common::create_secret(&unique("rotgen-iam-secret-"), &value.to_string()).await;
    Case {
        user,
        arn,
        first_key: key.access_key_id().to_string(),
    }
}

/// Issues a key for `user` straight from IAM (as a failed attempt, or someone else, would).
async fn new_key(user: &str) -> aws_sdk_iam::types::AccessKey {
    Iam::new(&config().await)
        .create_access_key()
        .user_name(user)
        .send()
        .await
        .unwrap()
        .access_key()
        .unwrap()
        .clone()
}

async fn keys(user: &str) -> Vec<(String, bool)> {
    Iam::new(&config().await)
        .list_access_keys()
        .user_name(user)
        .send()
        .await
        .unwrap()
        .access_key_metadata()
        .iter()
        .map(|k| {
            (
                k.access_key_id().unwrap().to_string(),
                k.status() == Some(&aws_sdk_iam::types::StatusType::Active),
            )
        })
        .collect()
}

fn field(v: &SecretValue, key: &str) -> String {
    v.json().unwrap()[key].as_str().unwrap().to_string()
}

/// An issuer with a fault plan over its calls.
struct FaultyIssuer<'a, I = IamKeys> {
    inner: I,
    faults: &'a Faults,
}

fn injected() -> BackendError {
    BackendError::new(ErrorKind::Unavailable, "injected failure")
}

macro_rules! faulty {
    ($self:ident, $call:expr) => {{
        if $self.faults.hit() {
            if $self.faults.after {
                let _ = $call.await;
            }
            return Err(injected());
        }
        $call.await
    }};
}

impl<I: Issuer> Issuer for FaultyIssuer<'_, I> {
    fn principal_key(&self) -> &'static str {
        self.inner.principal_key()
    }
    fn id_key(&self) -> &'static str {
        self.inner.id_key()
    }
    fn fields(&self) -> &'static [&'static str] {
        self.inner.fields()
    }
    fn limit(&self) -> usize {
        self.inner.limit()
    }
    async fn list(&self, a: &SecretValue, p: &str) -> Result<Vec<Credential>, BackendError> {
        faulty!(self, self.inner.list(a, p))
    }
    async fn create(&self, a: &SecretValue, p: &str) -> Result<Map<String, Value>, BackendError> {
        faulty!(self, self.inner.create(a, p))
    }
    async fn deactivate(&self, a: &SecretValue, p: &str, id: &str) -> Result<(), BackendError> {
        faulty!(self, self.inner.deactivate(a, p, id))
    }
    async fn delete(&self, a: &SecretValue, p: &str, id: &str) -> Result<(), BackendError> {
        faulty!(self, self.inner.delete(a, p, id))
    }
    async fn whoami(&self, creds: &SecretValue) -> Result<Option<Identity>, BackendError> {
        faulty!(self, self.inner.whoami(creds))
    }
}

fn backend<I: Issuer>(issuer: I, users: &str, previous: Previous) -> Issued<I> {
    Issued {
        issuer,
        allowed: Principals::parse(USERS_VAR, Some(users)),
        previous,
        test_waits: Vec::new(),
    }
}

async fn handler(users: &str, previous: Previous) -> Handler<AwsStore, Issued<IamKeys>> {
    Handler {
        rotator: Rotator {
            store: AwsStore::from_env().await,
            backend: backend(IamKeys::default(), users, previous),
            strategy: Strategy::SingleUser,
            policy: PasswordPolicy::from_vars(&std::collections::HashMap::new(), "aws-iam")
                .unwrap(),
            masters: Masters::default(),
            rds: rotgen::rotation::rds::NoRds,
        },
    }
}

/// After `n` rotations: both stages' keys authenticate as the user, the user holds
/// exactly those keys, and the rest of the secret is unchanged.
async fn check_rotated(c: &Case, previous: Previous) {
    let current = stage(&c.arn, "AWSCURRENT").await.unwrap();
    let prior = stage(&c.arn, "AWSPREVIOUS").await.unwrap();
    let keys_now = keys(&c.user).await;
    let (cur, prev) = (field(&current, "AccessKeyId"), field(&prior, "AccessKeyId"));
    assert_ne!(cur, prev);
    let mut ids: Vec<&str> = keys_now.iter().map(|(k, _)| k.as_str()).collect();
    ids.sort();
    let mut want = vec![cur.as_str(), prev.as_str()];
    want.sort();
    assert_eq!(
        ids, want,
        "the user holds AWSCURRENT's and AWSPREVIOUS's keys only"
    );
    assert!(keys_now.iter().any(|(k, active)| *k == cur && *active));
    let prev_active = keys_now.iter().any(|(k, active)| *k == prev && *active);
    assert_eq!(prev_active, previous == Previous::Keep);
    let iam = IamKeys::default();
    let who = iam.whoami(&current).await.unwrap().unwrap();
    assert_eq!(who.principal, c.user);
    assert_eq!(who.credential.as_deref(), Some(cur.as_str()));
    assert_eq!(field(&current, "UserName"), c.user);
    assert_eq!(current.json().unwrap()["note"], "kept");
}

#[test]
fn two_rotations_keep_the_previous_key_working() {
    if !moto() {
        return;
    }
    rt().block_on(async {
        for previous in [Previous::Keep, Previous::Deactivate] {
            let c = case().await;
            let h = handler(&c.user, previous).await;
            rotate(&h, &c.arn, false).await.unwrap();
            check_rotated(&c, previous).await;
            // The first rotation's AWSPREVIOUS is the key the user started with.
            let prior = stage(&c.arn, "AWSPREVIOUS").await.unwrap();
            assert_eq!(field(&prior, "AccessKeyId"), c.first_key);
            rotate(&h, &c.arn, false).await.unwrap();
            check_rotated(&c, previous).await;
            // The key of two rotations ago is gone.
            assert!(!keys(&c.user).await.iter().any(|(k, _)| *k == c.first_key));
        }
    });
}

/// The four steps of one rotation with a fault plan over every call (Secrets Manager,
/// IAM, STS), each failed step retried up to three times as Secrets Manager would.
async fn rotate_with_faults(c: &Case, faults: &Faults, previous: Previous) -> Result<(), String> {
    // A version 7 token, as `rotgen rotate` makes: it says when the rotation began.
    let token = uuid::Uuid::now_v7().to_string();
    let rotator = Rotator {
        store: FaultyStore {
            inner: AwsStore::from_env().await,
            faults,
        },
        backend: backend(
            FaultyIssuer {
                inner: IamKeys::default(),
                faults,
            },
            &c.user,
            previous,
        ),
        strategy: Strategy::SingleUser,
        policy: PasswordPolicy::from_vars(&std::collections::HashMap::new(), "aws-iam").unwrap(),
        masters: Masters::default(),
        rds: rotgen::rotation::rds::NoRds,
    };
    run_steps(&rotator, &c.arn, &token, 3).await
}

#[test]
fn a_failure_at_any_call_leaves_working_keys_and_no_orphan() {
    if !moto() {
        return;
    }
    rt().block_on(async {
        // A user that already holds two keys (after one rotation), so the rotation also
        // revokes one: every kind of call is on the path. With `Deactivate`, finishSecret
        // deactivates AWSPREVIOUS's key too, and a retry after a failure there still does.
        for previous in [Previous::Keep, Previous::Deactivate] {
            let base = |c: Case| async move {
                rotate(&handler(&c.user, previous).await, &c.arn, false)
                    .await
                    .unwrap();
                c
            };
            let counter = Faults::default();
            let c = base(case().await).await;
            rotate_with_faults(&c, &counter, previous).await.unwrap();
            let total = counter.calls();
            assert!(total > 10, "{total} calls");
            for n in 0..total {
                for after in [false, true] {
                    let c = base(case().await).await;
                    let faults = Faults::at(n, after);
                    rotate_with_faults(&c, &faults, previous)
                        .await
                        .unwrap_or_else(|e| {
                            panic!("{previous:?}: failure at call {n} (after: {after}): {e}")
                        });
                    assert!(faults.fired.load(Ordering::SeqCst));
                    check_rotated(&c, previous).await;
                }
            }
        }
    });
}

#[test]
fn a_key_made_before_the_rotation_began_is_never_deleted_as_an_orphan() {
    if !moto() {
        return;
    }
    rt().block_on(async {
        let c = case().await;
        // Someone adds a key for the same user after the secret's, before the rotation
        // (yesterday, say): it is newer than AWSCURRENT's, and no stage holds it.
        let person = new_key(&c.user).await.access_key_id().to_string();
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let h = handler(&c.user, Previous::Keep).await;
        let e = rotate(&h, &c.arn, false).await.unwrap_err().to_string();
        assert!(e.contains("before this rotation began"), "{e}");
        assert!(e.contains(&person), "{e}");
        let now: Vec<String> = keys(&c.user).await.into_iter().map(|(k, _)| k).collect();
        assert!(now.contains(&person), "the person's key is kept");
        assert!(now.contains(&c.first_key));
        assert_eq!(now.len(), 2, "nothing issued");
        // A key this rotation's own earlier try issued is deleted: the fault test
        // (a_failure_at_any_call_leaves_working_keys_and_no_orphan) leaves none.
    });
}

#[test]
fn a_secret_gets_keys_only_for_the_user_its_key_proves_and_the_function_names() {
    if !moto() {
        return;
    }
    rt().block_on(async {
        let victim = case().await;
        let attacker = case().await;
        let both = format!("{},{}", victim.user, attacker.user);
        // The attacker writes the victim's user name into their own secret.
        let mut value = stage(&attacker.arn, "AWSCURRENT").await.unwrap();
        if let SecretValue::Json(m) = &mut value {
            m.insert("UserName".into(), json!(victim.user));
        }
        Sm::new(&config().await)
            .put_secret_value()
            .secret_id(&attacker.arn)
            .secret_string(value.to_secret_string())
            .send()
            .await
            .unwrap();
        let before = keys(&victim.user).await;
        let e = rotate(&handler(&both, Previous::Keep).await, &attacker.arn, false)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("authenticate as `{}`", attacker.user)),
            "{e}"
        );
        assert_eq!(keys(&victim.user).await, before, "no key issued or revoked");
        // A user the function's configuration does not name.
        let e = rotate(
            &handler("someone-else", Previous::Keep).await,
            &victim.arn,
            false,
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(e.contains(USERS_VAR), "{e}");
        assert_eq!(keys(&victim.user).await, before);
        // A key of the user that no stage holds and that is older than AWSCURRENT's is
        // not rotgen's: it is left alone, nothing is issued, and the step says why.
        let c = case_with(true).await;
        let before = keys(&c.user).await;
        assert_eq!(before.len(), 2);
        let e = rotate(&handler(&c.user, Previous::Keep).await, &c.arn, false)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("rotgen deletes only what it issued"), "{e}");
        assert_eq!(keys(&c.user).await, before);
    });
}

#[test]
fn rotgen_rotate_rotates_an_iam_user_twice() {
    if !moto() {
        return;
    }
    let c = rt().block_on(case());
    let bin = env!("CARGO_BIN_EXE_rotgen");
    for round in 1..=2 {
        let out = std::process::Command::new(bin)
            .args(["rotate", "--secret-id", &c.arn, "--service", "aws-iam"])
            .env(USERS_VAR, &c.user)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "round {round}: {err}");
        rt().block_on(check_rotated(&c, Previous::Keep));
        // No key's secret part reaches the output.
        let current = rt().block_on(stage(&c.arn, "AWSCURRENT")).unwrap();
        let secret = field(&current, "SecretAccessKey");
        assert!(!err.contains(&secret) && !String::from_utf8_lossy(&out.stdout).contains(&secret));
    }
    // Without the function's configuration naming the user, nothing happens.
    let before = rt().block_on(keys(&c.user));
    let out = std::process::Command::new(bin)
        .args(["rotate", "--secret-id", &c.arn, "--service", "aws-iam"])
        .env_remove(USERS_VAR)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains(USERS_VAR));
    assert_eq!(rt().block_on(keys(&c.user)), before);
}

// ------------------------------------------------------------------ http-token

mod tokens {
    use super::*;
    use common::token_api::{LIMIT, TokenApi};
    use rotgen::backends::Trust;
    use rotgen::backends::http_token::{Contract, HttpTokens, USERS_VAR as TOKEN_USERS};
    use rotgen::rotation::steps::Caller;
    use rotgen::rotation::testing::MemoryStore;
    use rotgen::rotation::{RotationEvent, Step};

    const OWNER: &str = "ci-bot";

    /// The backend, naming its owners as a generated function does.
    fn backend<I: Issuer>(issuer: I, users: &str, previous: Previous) -> Issued<I> {
        Issued {
            issuer,
            allowed: Principals::parse(TOKEN_USERS, Some(users)),
            previous,
            test_waits: Vec::new(),
        }
    }

    fn ca() -> Vec<u8> {
        std::fs::read(common::root().join("tests/fixtures/backends/ca.pem")).unwrap()
    }

    /// The issuer of a contract (the API's own, or its administrator's).
    fn issuer_of(contract: Value) -> HttpTokens {
        let contract: Contract = serde_json::from_value(contract).unwrap();
        contract.check().unwrap();
        HttpTokens::new(contract, Trust::from_pem(ca()).unwrap())
    }

    fn issuer(api: &TokenApi) -> HttpTokens {
        issuer_of(api.contract())
    }

    /// The owner's first token, and a secret holding it in `store` (a store whose versions
    /// the test stages as RotateSecret does).
    fn staged_secret(api: &TokenApi, store: &MemoryStore) -> (common::token_api::Token, String) {
        let first = api.state.lock().unwrap().issue(OWNER);
        let value = json!({"username": OWNER, "token": first.secret, "token_id": first.id});
        let arn = store.create("tok", &value.to_string(), true);
        (first, arn)
    }

    /// The function over `store` and this API, as Secrets Manager invokes it.
    fn staged_rotator<'a>(
        api: &TokenApi,
        store: &'a MemoryStore,
    ) -> Rotator<&'a MemoryStore, Issued<HttpTokens>> {
        Rotator {
            store,
            backend: backend(issuer(api), OWNER, Previous::Keep),
            strategy: Strategy::SingleUser,
            policy: PasswordPolicy::from_vars(&std::collections::HashMap::new(), "http-token")
                .unwrap(),
            masters: Masters::default(),
            rds: rotgen::rotation::rds::NoRds,
        }
    }

    /// The event of `step` of the rotation `token` of `arn`.
    fn event_of(arn: &str, step: Step, token: &str) -> RotationEvent {
        RotationEvent {
            step,
            secret_id: arn.to_string(),
            token: token.to_string(),
            rotation_token: None,
        }
    }

    /// A secret in moto holding `value`.
    async fn secret(value: &Value) -> String {
        common::create_secret(&unique("rotgen-token-"), &value.to_string()).await
    }

    /// A secret in moto holding a token the API issued to `owner`.
    async fn token_secret(api: &TokenApi, owner: &str) -> String {
        let t = api.state.lock().unwrap().issue(owner);
        secret(&json!({"username": owner, "token": t.secret, "token_id": t.id, "note": "kept"}))
            .await
    }

    /// A function of `contract` for the owners `users`, with the master secrets `masters`.
    fn handler_of(
        contract: Value,
        users: &str,
        store: AwsStore,
        masters: Masters,
    ) -> Handler<AwsStore, Issued<HttpTokens>> {
        Handler {
            rotator: Rotator {
                store,
                backend: backend(issuer_of(contract), users, Previous::Keep),
                strategy: Strategy::SingleUser,
                policy: PasswordPolicy::from_vars(&std::collections::HashMap::new(), "http-token")
                    .unwrap(),
                masters,
                rds: rotgen::rotation::rds::NoRds,
            },
        }
    }

    fn handler(
        api: &TokenApi,
        users: &str,
        store: AwsStore,
    ) -> Handler<AwsStore, Issued<HttpTokens>> {
        handler_of(api.contract(), users, store, Masters::default())
    }

    /// After a rotation: AWSCURRENT's and AWSPREVIOUS's tokens are the owner's only ones
    /// and both are accepted; the rest of the secret is unchanged.
    async fn check_rotated(api: &TokenApi, arn: &str, owner: &str) {
        let current = stage(arn, "AWSCURRENT").await.unwrap();
        let previous = stage(arn, "AWSPREVIOUS").await.unwrap();
        let (cur, prev) = (field(&current, "token_id"), field(&previous, "token_id"));
        assert_ne!(cur, prev);
        let mut held = api.state.lock().unwrap().ids_of(owner);
        held.sort();
        let mut want = vec![cur, prev];
        want.sort();
        assert_eq!(
            held, want,
            "the owner holds AWSCURRENT's and AWSPREVIOUS's tokens only"
        );
        let i = issuer(api);
        for v in [&current, &previous] {
            let who = i.whoami(v).await.unwrap().unwrap();
            assert_eq!(who.principal, owner);
            assert_eq!(who.credential, Some(field(v, "token_id")));
        }
        assert_eq!(current.json().unwrap()["note"], "kept");
    }

    #[test]
    fn two_rotations_keep_the_previous_token_working() {
        if !moto() {
            return;
        }
        let api = TokenApi::start();
        rt().block_on(async {
            let arn = token_secret(&api, OWNER).await;
            let first = field(&stage(&arn, "AWSCURRENT").await.unwrap(), "token_id");
            let h = handler(&api, OWNER, AwsStore::from_env().await);
            rotate(&h, &arn, false).await.unwrap();
            check_rotated(&api, &arn, OWNER).await;
            rotate(&h, &arn, false).await.unwrap();
            check_rotated(&api, &arn, OWNER).await;
            assert!(!api.state.lock().unwrap().ids_of(OWNER).contains(&first));
            // No call went anywhere but the contract's URLs.
            let requests = api.state.lock().unwrap().requests.clone();
            assert!(
                requests
                    .iter()
                    .all(|r| r.contains(" /me") || r.contains(" /tokens")),
                "{requests:?}"
            );
        });
    }

    #[test]
    fn a_failure_at_any_call_leaves_working_tokens_and_no_orphan() {
        if !moto() {
            return;
        }
        let api = TokenApi::start();
        rt().block_on(async {
            // An owner at the limit already (after one rotation), so a token is also
            // revoked: every kind of call is on the path. One owner per case.
            let base = |n: usize| {
                let api = &api;
                async move {
                    let owner = format!("{OWNER}-{n}");
                    let arn = token_secret(api, &owner).await;
                    let h = handler(api, &owner, AwsStore::from_env().await);
                    rotate(&h, &arn, false).await.unwrap();
                    (owner, arn)
                }
            };
            let run = |owner: String, arn: String, faults: Faults| {
                let api = &api;
                async move {
                    let token = uuid::Uuid::now_v7().to_string();
                    let rotator = Rotator {
                        store: FaultyStore {
                            inner: AwsStore::from_env().await,
                            faults: &faults,
                        },
                        backend: backend(
                            FaultyIssuer {
                                inner: issuer(api),
                                faults: &faults,
                            },
                            &owner,
                            Previous::Keep,
                        ),
                        strategy: Strategy::SingleUser,
                        policy: PasswordPolicy::from_vars(
                            &std::collections::HashMap::new(),
                            "http-token",
                        )
                        .unwrap(),
                        masters: Masters::default(),
                        rds: rotgen::rotation::rds::NoRds,
                    };
                    let r = run_steps(&rotator, &arn, &token, 3).await;
                    (r, faults)
                }
            };
            let (owner, arn) = base(0).await;
            let (r, counter) = run(owner, arn, Faults::default()).await;
            r.unwrap();
            let total = counter.calls();
            assert!(total > 10, "{total} calls");
            let mut case = 1;
            for n in 0..total {
                for after in [false, true] {
                    let (owner, arn) = base(case).await;
                    case += 1;
                    let (r, faults) = run(owner.clone(), arn.clone(), Faults::at(n, after)).await;
                    r.unwrap_or_else(|e| panic!("failure at call {n} (after: {after}): {e}"));
                    assert!(faults.fired.load(Ordering::SeqCst));
                    check_rotated(&api, &arn, &owner).await;
                }
            }
        });
    }

    /// Stages `value` as AWSPREVIOUS (as whoever can write the secret can).
    async fn stage_previous(arn: &str, value: &SecretValue) {
        Sm::new(&config().await)
            .put_secret_value()
            .secret_id(arn)
            .secret_string(value.to_secret_string())
            .version_stages("AWSPREVIOUS")
            .send()
            .await
            .unwrap();
    }

    /// AWSCURRENT's value with `changes`.
    async fn current_with(arn: &str, changes: Value) -> SecretValue {
        let mut v = stage(arn, "AWSCURRENT").await.unwrap();
        if let SecretValue::Json(m) = &mut v {
            for (k, x) in changes.as_object().unwrap() {
                m.insert(k.clone(), x.clone());
            }
        }
        v
    }

    #[test]
    fn a_token_made_before_the_rotation_began_is_never_deleted_as_an_orphan() {
        if !moto() {
            return;
        }
        let api = TokenApi::start();
        rt().block_on(async {
            // A person adds a token for the owner after the secret's, before the
            // rotation: newer than AWSCURRENT's, held by no stage.
            let arn = token_secret(&api, OWNER).await;
            let person = api.state.lock().unwrap().issue(OWNER).id;
            tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
            let h = handler(&api, OWNER, AwsStore::from_env().await);
            let e = rotate(&h, &arn, false).await.unwrap_err().to_string();
            assert!(e.contains("before this rotation began"), "{e}");
            assert!(e.contains(&person), "{e}");
            assert!(api.state.lock().unwrap().ids_of(OWNER).contains(&person));
            assert_eq!(api.state.lock().unwrap().ids_of(OWNER).len(), LIMIT);
        });
    }

    /// As Secrets Manager runs a rotation: RotateSecret stages the token's version first,
    /// and its date (ListSecretVersionIds) says when the rotation began. A token a person
    /// made before that is never taken for an orphan; one issued since (a try that died
    /// before storing it) is deleted by the retry.
    #[test]
    fn in_a_rotation_secrets_manager_runs_the_versions_date_tells_orphans() {
        let api = TokenApi::start();
        rt().block_on(async {
            let store = MemoryStore::default();
            let (first, arn) = staged_secret(&api, &store);
            let rotator = staged_rotator(&api, &store);
            let event = |step, token: &str| event_of(&arn, step, token);
            // A person's token, then (a second later) the rotation begins.
            let person = api.state.lock().unwrap().issue(OWNER).id;
            tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
            store.stage_pending(&arn, "rotation-1");
            let e = rotator
                .handle(&event(Step::Create, "rotation-1"), Caller::SecretsManager)
                .await
                .unwrap_err()
                .to_string();
            assert!(e.contains("before this rotation began"), "{e}");
            assert!(api.state.lock().unwrap().ids_of(OWNER).contains(&person));
            // The person's token goes (by hand); a rotation begins, and its first try
            // issues a token and dies before storing it.
            api.state.lock().unwrap().tokens.retain(|t| t.id != person);
            tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
            store.stage_pending(&arn, "rotation-2");
            let orphan = api.state.lock().unwrap().issue(OWNER).id;
            for step in Step::ALL {
                rotator
                    .handle(&event(step, "rotation-2"), Caller::SecretsManager)
                    .await
                    .unwrap_or_else(|e| panic!("{step:?}: {e}"));
            }
            let held = api.state.lock().unwrap().ids_of(OWNER);
            assert!(!held.contains(&orphan), "the orphan is deleted: {held:?}");
            assert!(held.contains(&first.id), "AWSPREVIOUS's token stays");
            assert_eq!(held.len(), 2);
            assert_eq!(
                store.calls.lock().unwrap().get("ListSecretVersionIds"),
                Some(&2)
            );
        });
    }

    /// A rotation Secrets Manager runs and that stalled (a broken AWSCURRENT, the service
    /// down) resumes more than an hour after it began: a token the owner got in between
    /// may be a person's, and is not taken for an orphan.
    #[test]
    fn a_rotation_resumed_hours_later_deletes_no_token_as_an_orphan() {
        let api = TokenApi::start();
        rt().block_on(async {
            let store = MemoryStore::default();
            let (_, arn) = staged_secret(&api, &store);
            let rotator = staged_rotator(&api, &store);
            let event = |step, token: &str| event_of(&arn, step, token);
            store.stage_pending(&arn, "rotation-1");
            store.backdate(&arn, "rotation-1", 2 * 3600);
            let person = api.state.lock().unwrap().issue(OWNER).id;
            let e = rotator
                .handle(&event(Step::Create, "rotation-1"), Caller::SecretsManager)
                .await
                .unwrap_err()
                .to_string();
            assert!(e.contains("began 120 minutes ago"), "{e}");
            assert!(e.contains(&person), "{e}");
            assert!(api.state.lock().unwrap().ids_of(OWNER).contains(&person));
        });
    }

    #[test]
    fn creation_times_in_milliseconds_read_as_such_and_larger_units_delete_nothing() {
        if !moto() {
            return;
        }
        for (scale, expected) in [
            (1000, "before this rotation began"),
            (1_000_000, "later than now"),
        ] {
            let api = TokenApi::start();
            api.state.lock().unwrap().date_scale = Some(scale);
            rt().block_on(async {
                // A person's token, made before the rotation: read as seconds, 1,000 or
                // 1,000,000 times too late, it would pass for this rotation's orphan.
                let arn = token_secret(&api, OWNER).await;
                let person = api.state.lock().unwrap().issue(OWNER).id;
                tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
                let h = handler(&api, OWNER, AwsStore::from_env().await);
                let e = rotate(&h, &arn, false).await.unwrap_err().to_string();
                assert!(e.contains(expected), "{scale}: {e}");
                assert!(api.state.lock().unwrap().ids_of(OWNER).contains(&person));
            });
        }
    }

    #[test]
    fn a_creation_time_that_does_not_parse_deletes_nothing() {
        if !moto() {
            return;
        }
        let api = TokenApi::start();
        api.state.lock().unwrap().calendar_dates = true;
        rt().block_on(async {
            // Every `created_at` is "4 Dec 2026": read as 0, every token would be as
            // new as AWSCURRENT's, and the person's would go as an orphan.
            let arn = token_secret(&api, OWNER).await;
            let person = api.state.lock().unwrap().issue(OWNER).id;
            let h = handler(&api, OWNER, AwsStore::from_env().await);
            let e = rotate(&h, &arn, false).await.unwrap_err().to_string();
            assert!(e.contains("creation time"), "{e}");
            assert!(api.state.lock().unwrap().ids_of(OWNER).contains(&person));
        });
    }

    #[test]
    fn a_staged_awsprevious_cannot_name_another_token_of_the_owner() {
        if !moto() {
            return;
        }
        let api = TokenApi::start();
        let admin_token = "admin-token-for-the-deputy-test";
        api.state.lock().unwrap().admin = Some(admin_token.into());
        rt().block_on(async {
            for with_admin in [false, true] {
                let owner = format!("deputy-bot-{with_admin}");
                let owner = owner.as_str();
                // The owner holds the application's token and a person's, at the limit.
                let arn = token_secret(&api, owner).await;
                let person = api.state.lock().unwrap().issue(owner);
                let current = stage(&arn, "AWSCURRENT").await.unwrap();
                // AWSPREVIOUS: the application's own (working) token, and the person's id.
                let fake = current_with(&arn, json!({"token_id": person.id})).await;
                stage_previous(&arn, &fake).await;
                let before = api.state.lock().unwrap().ids_of(owner);
                let (contract, masters, arn) = if with_admin {
                    let master = secret(&json!({"token": admin_token})).await;
                    let value = current_with(&arn, json!({"masterarn": master})).await;
                    Sm::new(&config().await)
                        .put_secret_value()
                        .secret_id(&arn)
                        .secret_string(value.to_secret_string())
                        .send()
                        .await
                        .unwrap();
                    stage_previous(
                        &arn,
                        &current_with(&arn, json!({"token_id": person.id})).await,
                    )
                    .await;
                    (api.admin_contract(), Masters::of([master.as_str()]), arn)
                } else {
                    (api.contract(), Masters::default(), arn)
                };
                let h = handler_of(contract, owner, AwsStore::from_env().await, masters);
                let e = rotate(&h, &arn, false).await.unwrap_err().to_string();
                assert!(e.contains("proves the stage holds"), "{e}");
                assert!(!e.contains(&person.secret) && !e.contains(&field(&current, "token")));
                assert_eq!(
                    api.state.lock().unwrap().ids_of(owner),
                    before,
                    "the person's token is not revoked (admin: {with_admin})"
                );
            }
        });
    }

    #[test]
    fn without_whoami_id_pointer_no_token_is_revoked_by_id() {
        if !moto() {
            return;
        }
        let api = TokenApi::start();
        rt().block_on(async {
            // One honest rotation first: the owner holds two tokens, both staged.
            let arn = token_secret(&api, OWNER).await;
            let h = handler_of(
                api.contract_without_id(),
                OWNER,
                AwsStore::from_env().await,
                Masters::default(),
            );
            rotate(&h, &arn, false).await.unwrap();
            let before = api.state.lock().unwrap().ids_of(OWNER);
            assert_eq!(before.len(), LIMIT);
            // The next needs room: the function cannot prove which token AWSPREVIOUS
            // holds, so it revokes none and says what the contract must add.
            let e = rotate(&h, &arn, false).await.unwrap_err().to_string();
            assert!(e.contains("whoami_id_pointer"), "{e}");
            assert_eq!(api.state.lock().unwrap().ids_of(OWNER), before);
            // With the pointer, the same secret rotates.
            let h = handler(&api, OWNER, AwsStore::from_env().await);
            let unfinished = rotate(&h, &arn, false).await;
            let resumed = match unfinished {
                Ok(_) => Ok(()),
                Err(_) => rotate(&h, &arn, true).await.map(|_| ()),
            };
            resumed.unwrap();
            check_rotated(&api, &arn, OWNER).await;
        });
    }

    #[test]
    fn a_secret_gets_tokens_only_for_the_owner_its_token_proves_and_the_function_names() {
        if !moto() {
            return;
        }
        let api = TokenApi::start();
        rt().block_on(async {
            let arn = token_secret(&api, "mallory").await;
            let sm = Sm::new(&config().await);
            let mut value = stage(&arn, "AWSCURRENT").await.unwrap();
            if let SecretValue::Json(m) = &mut value {
                m.insert("username".into(), json!(OWNER));
            }
            sm.put_secret_value()
                .secret_id(&arn)
                .secret_string(value.to_secret_string())
                .send()
                .await
                .unwrap();
            let both = format!("{OWNER},mallory");
            let e = rotate(
                &handler(&api, &both, AwsStore::from_env().await),
                &arn,
                false,
            )
            .await
            .unwrap_err()
            .to_string();
            assert!(e.contains("authenticate as `mallory`"), "{e}");
            assert!(api.state.lock().unwrap().ids_of(OWNER).is_empty());
            // An owner the function's configuration does not name.
            let arn = token_secret(&api, OWNER).await;
            let e = rotate(
                &handler(&api, "someone-else", AwsStore::from_env().await),
                &arn,
                false,
            )
            .await
            .unwrap_err()
            .to_string();
            assert!(e.contains(TOKEN_USERS), "{e}");
            assert_eq!(api.state.lock().unwrap().ids_of(OWNER).len(), 1);
        });
    }

    #[test]
    fn rotgen_rotate_rotates_a_token_twice() {
        if !moto() {
            return;
        }
        let api = TokenApi::start();
        let arn = rt().block_on(token_secret(&api, OWNER));
        let bin = env!("CARGO_BIN_EXE_rotgen");
        let run = |contract: &Value| {
            std::process::Command::new(bin)
                .args(["rotate", "--secret-id", &arn, "--service", "http-token"])
                .env("ROTGEN_API_CONTRACT", contract.to_string())
                .env(TOKEN_USERS, OWNER)
                .env(
                    "ROTGEN_CA_FILE",
                    common::root().join("tests/fixtures/backends/ca.pem"),
                )
                .output()
                .unwrap()
        };
        for round in 1..=2 {
            let out = run(&api.contract());
            let err = String::from_utf8_lossy(&out.stderr).to_string();
            assert!(out.status.success(), "round {round}: {err}");
            rt().block_on(check_rotated(&api, &arn, OWNER));
            let previous = rt().block_on(stage(&arn, "AWSPREVIOUS")).unwrap();
            let current = rt().block_on(stage(&arn, "AWSCURRENT")).unwrap();
            let logs = format!("{}{err}", String::from_utf8_lossy(&out.stdout));
            for v in [&current, &previous] {
                assert!(
                    !logs.contains(&field(v, "token")),
                    "a token is in the output"
                );
            }
        }
        // A contract with a plain http:// URL is refused at cold start: nothing is called.
        let mut plain = api.contract();
        plain["list_url"] = json!(format!("http://localhost:{}/tokens", api.port));
        let before = api.state.lock().unwrap().requests.len();
        let out = run(&plain);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("list_url is not https://"), "{err}");
        assert_eq!(api.state.lock().unwrap().requests.len(), before);
        // A limit of 1 keeps no overlap; with it, an AWSPREVIOUS whose `token_id` is `..`
        // got the owner deleted with every token (`DELETE …/users/OWNER/tokens/..` is
        // `DELETE …/users/OWNER/`). Refused at cold start: nothing is called.
        let mut one = api.admin_contract();
        one["limit"] = json!(1);
        let fake = rt().block_on(current_with(&arn, json!({"token_id": ".."})));
        rt().block_on(stage_previous(&arn, &fake));
        let held = api.state.lock().unwrap().ids_of(OWNER);
        let out = run(&one);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("2 to 100"), "{err}");
        assert_eq!(api.state.lock().unwrap().ids_of(OWNER), held);
        assert_eq!(api.state.lock().unwrap().requests.len(), before);
    }

    #[test]
    fn an_administrator_token_never_calls_a_url_that_does_not_name_the_owner() {
        if !moto() {
            return;
        }
        let api = TokenApi::start();
        let admin_token = "admin-token-for-the-scope-test";
        api.state.lock().unwrap().admin = Some(admin_token.into());
        rt().block_on(async {
            // The contract's URLs do not name the owner (`/tokens`: the caller's own
            // tokens). The secret keeps the owner's working token but names one of the
            // administrator's tokens as its id; with a master, every call is the
            // administrator's, so its own tokens would be listed and a new one issued
            // into AWSPENDING.
            let owner = "scope-bot";
            let t = api.state.lock().unwrap().issue(owner);
            let admins = api.state.lock().unwrap().issue(common::token_api::ADMIN);
            let master = secret(&json!({"token": admin_token})).await;
            let arn = secret(&json!({"username": owner, "token": t.secret, "token_id": admins.id, "masterarn": master})).await;
            let h = handler_of(
                api.contract_without_id(),
                owner,
                AwsStore::from_env().await,
                Masters::of([master.as_str()]),
            );
            let e = rotate(&h, &arn, false).await.unwrap_err().to_string();
            assert!(e.contains("has no {user}"), "{e}");
            assert_eq!(
                api.state.lock().unwrap().ids_of(common::token_api::ADMIN),
                std::slice::from_ref(&admins.id),
                "no token was issued for the administrator"
            );
            assert!(stage(&arn, "AWSPENDING").await.is_none());
        });
    }

    #[test]
    fn an_administrator_token_manages_the_owners_tokens() {
        if !moto() {
            return;
        }
        let api = TokenApi::start();
        let admin_token = "admin-token-secret-value";
        api.state.lock().unwrap().admin = Some(admin_token.into());
        rt().block_on(async {
            let owner = "report-bot";
            let t = api.state.lock().unwrap().issue(owner);
            let master = secret(&json!({"token": admin_token})).await;
            let arn = secret(&json!({"username": owner, "token": t.secret, "token_id": t.id, "masterarn": master})).await;
            let handler = |masters: Masters| {
                let contract = api.admin_contract();
                async move { handler_of(contract, owner, AwsStore::from_env().await, masters) }
            };
            // A master the function's configuration does not name is not used.
            let e = rotate(&handler(Masters::of(["someone-else"])).await, &arn, false)
                .await
                .unwrap_err()
                .to_string();
            assert!(e.contains("does not name"), "{e}");
            assert!(api.state.lock().unwrap().requests.is_empty(), "nothing was called");
            let h = handler(Masters::of([master.as_str()])).await;
            for _ in 0..2 {
                rotate(&h, &arn, false).await.unwrap();
                let current = stage(&arn, "AWSCURRENT").await.unwrap();
                let previous = stage(&arn, "AWSPREVIOUS").await.unwrap();
                let mut held = api.state.lock().unwrap().ids_of(owner);
                held.sort();
                let mut want = vec![field(&current, "token_id"), field(&previous, "token_id")];
                want.sort();
                assert_eq!(held, want);
                assert!(!current.to_secret_string().contains(admin_token));
            }
            // The owner's tokens were managed at /users/OWNER as the administrator, and
            // who-am-i asked with the owner's own token.
            let requests = api.state.lock().unwrap().requests.clone();
            assert!(requests.iter().any(|r| r == &format!("POST /users/{owner}/tokens")), "{requests:?}");
            assert!(requests.iter().any(|r| r == "GET /me"));
            assert!(!requests.iter().any(|r| r.starts_with("POST /tokens")));
        });
    }
}
