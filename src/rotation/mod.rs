//! **rotation**: the rotation function. Secrets Manager calls it four times per rotation
//! (createSecret, setSecret, testSecret, finishSecret); every step is idempotent and safe to
//! retry after a crash at any point, so AWSCURRENT always holds credentials that log in.
//!
//! The protocol ([`steps`]) talks to Secrets Manager through [`store::SecretStore`] and to
//! the service through [`backend::Backend`]; both are built once per cold start.

pub mod backend;
pub mod issued;
pub mod lambda;
pub mod password;
pub mod rds;
pub mod secret;
pub mod steps;
pub mod store;
pub mod testing;
pub mod trust;

use serde::{Deserialize, Serialize};
use std::fmt;

/// The event Secrets Manager sends the rotation function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotationEvent {
    #[serde(rename = "Step")]
    pub step: Step,
    #[serde(rename = "SecretId")]
    pub secret_id: String,
    #[serde(rename = "ClientRequestToken")]
    pub token: String,
    /// Forwarded to PutSecretValue (cross-account rotation).
    #[serde(
        rename = "RotationToken",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub rotation_token: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Step {
    #[serde(rename = "createSecret")]
    Create,
    #[serde(rename = "setSecret")]
    Set,
    #[serde(rename = "testSecret")]
    Test,
    #[serde(rename = "finishSecret")]
    Finish,
}

impl Step {
    pub const ALL: [Step; 4] = [Step::Create, Step::Set, Step::Test, Step::Finish];

    pub fn name(self) -> &'static str {
        match self {
            Step::Create => "createSecret",
            Step::Set => "setSecret",
            Step::Test => "testSecret",
            Step::Finish => "finishSecret",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A step that failed: which, on which secret, why, and whether a retry may succeed.
/// The message has passed through [`Redactor`]: it holds no secret value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{step} failed for {secret_id}: {message}{}", if *.retryable { " (retryable)" } else { "" })]
pub struct RotationError {
    pub step: Step,
    pub secret_id: String,
    pub message: String,
    pub retryable: bool,
    /// A short classification for Lambda's `errorType`.
    pub kind: &'static str,
}

impl From<RotationError> for lambda_runtime::Diagnostic {
    fn from(e: RotationError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: format!("Rotation.{}", e.kind),
            error_message: e.to_string(),
        }
    }
}

/// Removes secret values from text that is about to be logged or returned: every value
/// the step has seen is replaced by `<redacted>`, whatever the code that built the text.
#[derive(Default, Clone)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} values)", self.secrets.len())
    }
}

impl Redactor {
    pub fn add(&mut self, value: &str) {
        // Very short values would redact ordinary words; passwords are never that short.
        if value.len() >= 4 && !self.secrets.iter().any(|s| s == value) {
            self.secrets.push(value.to_string());
            // Longest first, so a value containing another is removed whole.
            self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    pub fn add_secret(&mut self, value: &secret::SecretValue) {
        if let Ok(p) = value.password() {
            self.add(p);
        }
        if let secret::SecretValue::Json(map) = value {
            for (k, v) in map {
                let k = k.to_ascii_lowercase();
                if (k.contains("password") || k.contains("secret") || k.contains("token"))
                    && let Some(s) = v.as_str()
                {
                    self.add(s);
                }
            }
        }
    }

    pub fn clean(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "<redacted>");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_parse_as_secrets_manager_sends_them() {
        let e: RotationEvent = serde_json::from_str(
            r#"{"Step":"createSecret","SecretId":"arn:x","ClientRequestToken":"t-1","RotationToken":"rt"}"#,
        )
        .unwrap();
        assert_eq!(e.step, Step::Create);
        assert_eq!(e.rotation_token.as_deref(), Some("rt"));
        let e: RotationEvent = serde_json::from_str(
            r#"{"Step":"finishSecret","SecretId":"s","ClientRequestToken":"t"}"#,
        )
        .unwrap();
        assert_eq!(e.rotation_token, None);
        assert!(
            serde_json::from_str::<RotationEvent>(
                r#"{"Step":"nope","SecretId":"s","ClientRequestToken":"t"}"#
            )
            .is_err()
        );
    }

    #[test]
    fn redactor_removes_every_value() {
        let mut r = Redactor::default();
        r.add("hunter2hunter2");
        r.add("abc");
        r.add_secret(&secret::SecretValue::parse(
            r#"{"username":"app","password":"s3cr3t-pw","api_token":"tok-123"}"#,
        ));
        let text = "login as app with s3cr3t-pw failed; token tok-123; old hunter2hunter2; abc";
        assert_eq!(
            r.clean(text),
            "login as app with <redacted> failed; token <redacted>; old <redacted>; abc"
        );
    }
}
