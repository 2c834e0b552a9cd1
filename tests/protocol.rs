//! The rotation protocol against the in-memory Secrets Manager and service: entry checks,
//! idempotent steps, and recovery from a failure injected at every single call, before or
//! after the call takes effect. (The same properties against moto and real services are in
//! tests/rotation.rs.)

use rotgen::rotation::backend::Strategy;
use rotgen::rotation::password::PasswordPolicy;
use rotgen::rotation::secret::SecretValue;
use rotgen::rotation::steps::{Caller, Outcome, Rotator};
use rotgen::rotation::testing::{FakeService, Faults, FaultyBackend, FaultyStore, MemoryStore};
use rotgen::rotation::trust::Masters;
use rotgen::rotation::{RotationEvent, Step};
use std::collections::HashMap;

fn policy() -> PasswordPolicy {
    PasswordPolicy::from_vars(&HashMap::new(), "postgres").unwrap()
}

fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn event(step: Step, arn: &str, token: &str) -> RotationEvent {
    RotationEvent {
        step,
        secret_id: arn.to_string(),
        token: token.to_string(),
        rotation_token: Some("rt-1".into()),
    }
}

struct World {
    store: MemoryStore,
    service: FakeService,
    arn: String,
    master_arn: Option<String>,
}

const OLD: &str = "old-password-1";

fn world(strategy: Strategy) -> World {
    let store = MemoryStore::default();
    let service = FakeService::default();
    let master_arn = (strategy == Strategy::AlternatingUsers).then(|| {
        service.add_user("master", "master-password", &["ALL"]);
        store.create(
            "master",
            r#"{"engine":"postgres","host":"db","port":5432,"username":"master","password":"master-password"}"#,
            false,
        )
    });
    service.add_user("app", OLD, &["SELECT ON orders"]);
    let mut value = serde_json::json!({"engine": "postgres", "host": "db", "port": 5432, "username": "app", "password": OLD, "dbname": "shop"});
    if let Some(m) = &master_arn {
        value["masterarn"] = m.clone().into();
    }
    let arn = store.create("app", &value.to_string(), true);
    World {
        store,
        service,
        arn,
        master_arn,
    }
}

/// The rotator over a world's store and service, without faults.
fn rotator(w: &World, strategy: Strategy) -> Rotator<&MemoryStore, &FakeService> {
    Rotator {
        store: &w.store,
        backend: &w.service,
        strategy,
        policy: policy(),
        masters: masters(w),
        rds: rotgen::rotation::rds::NoRds,
    }
}

/// The master secrets the function's configuration names: the world's.
fn masters(w: &World) -> Masters {
    Masters::of(w.master_arn.iter())
}

/// Runs one step of the rotation of `token`, as Secrets Manager would invoke it.
fn step(
    r: &Rotator<&MemoryStore, &FakeService>,
    w: &World,
    step: Step,
    token: &str,
) -> Result<Outcome, rotgen::rotation::RotationError> {
    block(r.handle(&event(step, &w.arn, token), Caller::SecretsManager))
}

fn current(w: &World) -> SecretValue {
    SecretValue::parse(&w.store.value(&w.arn, "AWSCURRENT").unwrap())
}

/// Runs the four steps like Secrets Manager: each step retried until it succeeds (at most
/// `tries` times), checking after every attempt that AWSCURRENT logs in.
fn rotate_with_retries(
    w: &World,
    strategy: Strategy,
    token: &str,
    faults: &Faults,
    tries: usize,
) -> Result<(), String> {
    let rotator = Rotator {
        store: FaultyStore {
            inner: &w.store,
            faults,
        },
        backend: FaultyBackend {
            inner: &w.service,
            faults,
        },
        strategy,
        policy: policy(),
        masters: masters(w),
        rds: rotgen::rotation::rds::NoRds,
    };
    w.store.stage_pending(&w.arn, token);
    for step in Step::ALL {
        let mut last = None;
        for _ in 0..tries {
            let r = block(rotator.handle(&event(step, &w.arn, token), Caller::SecretsManager));
            // Single-user rotation has a window between setSecret and finishSecret where
            // only AWSPENDING logs in (every single-user rotation has it); a retry closes it.
            let pending_works = w
                .store
                .value(&w.arn, "AWSPENDING")
                .is_some_and(|p| !p.is_empty() && w.service.accepts(&SecretValue::parse(&p)));
            assert!(
                w.service.accepts(&current(w)) || pending_works,
                "neither AWSCURRENT nor AWSPENDING logs in after {step} ({r:?})"
            );
            match r {
                Ok(_) => {
                    last = None;
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        if let Some(e) = last {
            return Err(e.to_string());
        }
    }
    assert!(
        w.service.accepts(&current(w)),
        "AWSCURRENT logs in at the end"
    );
    Ok(())
}

fn check_rotated(w: &World, strategy: Strategy, token: &str) {
    let cur = current(w);
    assert!(w.service.accepts(&cur), "the new AWSCURRENT logs in");
    assert_ne!(cur.password().unwrap(), OLD);
    let d = block(rotgen::rotation::store::SecretStore::describe(
        &w.store, &w.arn,
    ))
    .unwrap();
    assert!(d.has_stage(token, "AWSCURRENT"));
    let previous = SecretValue::parse(&w.store.value(&w.arn, "AWSPREVIOUS").unwrap());
    assert_eq!(previous.password().unwrap(), OLD);
    match strategy {
        Strategy::SingleUser => {
            assert_eq!(cur.username().unwrap(), "app");
            assert!(
                !w.service.accepts(&previous),
                "the old password no longer logs in"
            );
        }
        Strategy::AlternatingUsers => {
            assert_eq!(cur.username().unwrap(), "app_clone");
            assert!(w.service.accepts(&previous), "the other user still logs in");
            assert_eq!(
                w.service.grants.lock().unwrap()["app_clone"],
                vec!["SELECT ON orders".to_string()]
            );
            assert_eq!(
                cur.json().unwrap()["masterarn"],
                w.master_arn.clone().unwrap().as_str()
            );
        }
    }
    // One password was generated and stored for the token, whatever was retried, and
    // the event's RotationToken went with it (cross-account rotation).
    assert_eq!(w.store.puts.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(
        *w.store.rotation_tokens.lock().unwrap(),
        vec![Some("rt-1".to_string())]
    );
}

#[test]
fn a_full_rotation_for_each_strategy() {
    for strategy in [Strategy::SingleUser, Strategy::AlternatingUsers] {
        let w = world(strategy);
        rotate_with_retries(&w, strategy, "token-1", &Faults::default(), 1).unwrap();
        check_rotated(&w, strategy, "token-1");
    }
}

#[test]
fn every_step_run_twice_gives_the_same_result() {
    for strategy in [Strategy::SingleUser, Strategy::AlternatingUsers] {
        let w = world(strategy);
        let rotator = rotator(&w, strategy);
        w.store.stage_pending(&w.arn, "t");
        for step in Step::ALL {
            let first =
                block(rotator.handle(&event(step, &w.arn, "t"), Caller::SecretsManager)).unwrap();
            let pending = w.store.value(&w.arn, "AWSPENDING");
            let second =
                block(rotator.handle(&event(step, &w.arn, "t"), Caller::SecretsManager)).unwrap();
            assert_eq!(first, Outcome::Done, "{step}");
            // testSecret always tests; with alternating users setSecret re-syncs the
            // pending user's privileges on every run (a login alone does not prove them).
            let repeats =
                step == Step::Test || (step == Step::Set && strategy == Strategy::AlternatingUsers);
            if !repeats {
                assert_ne!(second, Outcome::Done, "{step} did its work twice");
            }
            assert_eq!(w.store.value(&w.arn, "AWSPENDING"), pending, "{step}");
        }
        check_rotated(&w, strategy, "t");
    }
}

/// The heart of it: a failure at each call of a rotation, before or after the call takes
/// effect (a crash between the call and its answer), then Secrets Manager's retry.
#[test]
fn a_failure_at_any_call_is_recovered_by_retrying() {
    for strategy in [Strategy::SingleUser, Strategy::AlternatingUsers] {
        // Count the calls of an undisturbed rotation.
        let w = world(strategy);
        let counter = Faults::default();
        rotate_with_retries(&w, strategy, "t", &counter, 1).unwrap();
        let total = counter.calls();
        assert!(total >= 10, "{total}");
        for n in 0..total {
            for after in [false, true] {
                let w = world(strategy);
                let faults = Faults::at(n, after);
                let r = rotate_with_retries(&w, strategy, "t", &faults, 3);
                assert!(faults.fired.load(std::sync::atomic::Ordering::SeqCst));
                r.unwrap_or_else(|e| {
                    panic!("{strategy:?}, failure at call {n} (after: {after}): {e}")
                });
                check_rotated(&w, strategy, "t");
            }
        }
    }
}

#[test]
fn entry_checks() {
    let w = world(Strategy::SingleUser);
    let rotator = rotator(&w, Strategy::SingleUser);
    // Unknown token.
    let e = step(&rotator, &w, Step::Create, "nope").unwrap_err();
    assert!(
        e.message.contains("has no stage for rotation") && !e.retryable,
        "{e}"
    );
    // The CLI may create a version for a fresh token.
    assert_eq!(
        block(rotator.handle(&event(Step::Create, &w.arn, "fresh"), Caller::Cli)).unwrap(),
        Outcome::Done
    );
    // Rotation not enabled.
    let arn = w
        .store
        .create("off", r#"{"username":"app","password":"x1234"}"#, false);
    w.store.stage_pending(&arn, "t");
    let e =
        block(rotator.handle(&event(Step::Create, &arn, "t"), Caller::SecretsManager)).unwrap_err();
    assert!(e.message.contains("rotation is not enabled"), "{e}");
    // Already current: nothing to do.
    let d = block(rotgen::rotation::store::SecretStore::describe(
        &w.store, &w.arn,
    ))
    .unwrap();
    let cur = d.version_with("AWSCURRENT").unwrap().to_string();
    assert_eq!(
        step(&rotator, &w, Step::Set, &cur).unwrap(),
        Outcome::AlreadyCurrent
    );
}

#[test]
fn errors_name_the_step_and_never_hold_a_password() {
    let w = world(Strategy::SingleUser);
    let rotator = rotator(&w, Strategy::SingleUser);
    w.store.stage_pending(&w.arn, "t");
    step(&rotator, &w, Step::Create, "t").unwrap();
    let pending = SecretValue::parse(&w.store.value(&w.arn, "AWSPENDING").unwrap());
    // Someone changed the password behind Secrets Manager's back: setSecret cannot log in.
    w.service.add_user("app", "changed-by-hand", &[]);
    let e = step(&rotator, &w, Step::Set, "t").unwrap_err();
    let text = e.to_string();
    assert!(text.starts_with("setSecret failed for"), "{text}");
    assert!(text.contains("do not log in"), "{text}");
    for secret in [OLD, pending.password().unwrap(), "changed-by-hand"] {
        assert!(!text.contains(secret), "{text}");
    }
    // The service is down: retryable.
    w.service
        .down
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let e = step(&rotator, &w, Step::Test, "t").unwrap_err();
    assert!(e.retryable && e.kind == "ServiceUnavailable", "{e:?}");
}

#[test]
fn pending_must_name_the_same_service() {
    let w = world(Strategy::SingleUser);
    let rotator = rotator(&w, Strategy::SingleUser);
    w.store.stage_pending(&w.arn, "t");
    step(&rotator, &w, Step::Create, "t").unwrap();
    // The current value moves to another host mid-rotation.
    let mut moved = current(&w).json().unwrap().clone();
    moved.insert("host".into(), "elsewhere".into());
    w.store
        .set_current_value(&w.arn, &serde_json::Value::Object(moved).to_string());
    let e = step(&rotator, &w, Step::Set, "t").unwrap_err();
    assert!(e.message.contains("another `host`"), "{e}");
}
