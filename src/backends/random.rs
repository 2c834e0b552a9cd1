//! `random`: a secret with no service behind it (an API key rotgen only regenerates).
//!
//! There are no users: createSecret replaces the value, setSecret has nothing to do, and
//! a login or test succeeds when the value holds a non-empty password (the `password` key
//! of a JSON secret, or the whole plain-string secret).

use crate::rotation::backend::{Backend, BackendError, ErrorKind, SetPassword};
use crate::rotation::secret::SecretValue;

#[derive(Debug, Clone, Copy, Default)]
pub struct Random;

fn has_password(creds: &SecretValue) -> bool {
    creds.password().is_ok_and(|p| !p.is_empty())
}

impl Backend for Random {
    async fn login(&self, creds: &SecretValue) -> Result<bool, BackendError> {
        Ok(has_password(creds))
    }

    async fn set_password(&self, _req: SetPassword<'_>) -> Result<(), BackendError> {
        Ok(())
    }

    async fn test(&self, creds: &SecretValue) -> Result<(), BackendError> {
        if has_password(creds) {
            Ok(())
        } else {
            Err(BackendError::new(
                ErrorKind::Config,
                "the secret holds no password (an empty string, or a JSON object without a `password` string)",
            ))
        }
    }

    fn has_users(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rotation::backend::Strategy;

    fn run<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn values_with_a_password_pass() {
        let plain = SecretValue::parse("k3y-hunter2");
        let json = SecretValue::parse(r#"{"password":"hunter2"}"#);
        let empty = SecretValue::parse("");
        let none = SecretValue::parse(r#"{"username":"x"}"#);
        assert!(run(Random.login(&plain)).unwrap());
        assert!(run(Random.login(&json)).unwrap());
        assert!(!run(Random.login(&empty)).unwrap());
        assert!(!run(Random.login(&none)).unwrap());
        assert!(run(Random.test(&json)).is_ok());
        let e = run(Random.test(&empty)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Config);
        assert!(!Random.has_users());
        run(Random.set_password(SetPassword {
            strategy: Strategy::SingleUser,
            admin: &json,
            current: &json,
            pending: &plain,
        }))
        .unwrap();
    }

    #[test]
    fn errors_never_show_the_value() {
        let v = SecretValue::parse(r#"{"password":"","other":"hunter2-secret"}"#);
        let e = run(Random.test(&v)).unwrap_err();
        assert!(!e.message.contains("hunter2"), "{}", e.message);
    }
}
