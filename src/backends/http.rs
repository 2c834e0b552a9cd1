//! # The `http` service contract
//!
//! rotgen rotates the password of a user of any HTTPS service that offers one endpoint
//! for it. The secret is a JSON object:
//!
//! ```json
//! {"url": "https://service.example/rotgen/password", "username": "app", "password": "…"}
//! ```
//!
//! (other keys are kept as they are). The endpoint, `url`, must answer two requests:
//!
//! - **`GET url`**, with HTTP Basic authentication as `username:password`: whether these
//!   credentials are valid. `2xx` = valid; `401` or `403` = rejected. rotgen uses it to
//!   check a login (before changing anything, and to skip a change already made) and to
//!   test the new credentials (`testSecret`), so it must succeed for every valid user and
//!   must not change anything.
//! - **`POST url`**, with HTTP Basic authentication as the *admin* credentials and a JSON
//!   body (`Content-Type: application/json`):
//!
//!   ```json
//!   {"username": "app", "password": "<the new password>"}
//!   ```
//!
//!   sets the user's password. `2xx` = done: the new password is valid from now on.
//!   The admin credentials are the user's own current credentials (single-user), or
//!   those of the master secret named by `masterarn` (alternating users, or a single
//!   user whose secret names one). In alternating-users the body names the pending user
//!   and also holds `"template": "<current user>"`: the service should create the
//!   pending user if it does not exist, with the template user's rights.
//!   The request must be idempotent: posting the same body again must succeed again.
//!   Whether the user's previous password keeps working until the next change is the
//!   service's choice (keeping it gives clients that still hold it time to reload).
//!   `401` = the admin credentials are wrong; `403` = they may not change this password.
//!
//! Other answers are errors: `408`, `429` and `5xx` are retried (Secrets Manager retries
//! the step), other `4xx` are treated as a misconfiguration. Redirects are not followed
//! (a `3xx` is an error): credentials are only ever sent to `url` itself.
//! Response bodies are ignored and never logged.
//!
//! Transport: `https://` only; the server's certificate is verified against the
//! platform's roots plus the PEM bundle `ROTGEN_CA_FILE` names. Every request has a
//! 10 s connect timeout and a 30 s overall timeout. (`http://` is refused, except on
//! `127.0.0.1`, `::1` or `localhost` when `ROTGEN_HTTP_ALLOW_INSECURE_LOOPBACK=1` is
//! set: an escape hatch for tests, never for production.)

use super::https::{Failure, Https, Method, basic, origin};
use super::{Trust, check_password, format_error};
use crate::rotation::backend::{Backend, BackendError, ErrorKind, Place, SetPassword, Strategy};
use crate::rotation::secret::SecretValue;
use std::sync::OnceLock;
use std::time::Duration;
use url::Url;

const SERVICE: &str = "http";
/// The whole-request timeout.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Set to `1` to allow `http://` URLs on loopback hosts (tests only).
pub const INSECURE_LOOPBACK_VAR: &str = "ROTGEN_HTTP_ALLOW_INSECURE_LOOPBACK";

/// Whether a value of `ROTGEN_HTTP_ALLOW_INSECURE_LOOPBACK` turns the escape hatch on.
pub fn insecure_loopback_enabled(value: Option<&str>) -> bool {
    value.map(str::trim) == Some("1")
}

/// The HTTP backend. The client (connection pool, TLS roots) is built on first use and
/// kept.
pub struct Http {
    trust: Trust,
    allow_insecure_loopback: bool,
    client: OnceLock<Result<Https, String>>,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http")
            .field("trust", &self.trust)
            .field("allow_insecure_loopback", &self.allow_insecure_loopback)
            .finish()
    }
}

fn is_loopback(url: &Url) -> bool {
    matches!(
        url.host_str(),
        Some("127.0.0.1" | "localhost" | "[::1]" | "::1")
    )
}

impl Http {
    /// `allow_insecure_loopback`: accept `http://` URLs on loopback hosts (tests only).
    pub fn new(trust: Trust, allow_insecure_loopback: bool) -> Http {
        Http {
            trust,
            allow_insecure_loopback,
            client: OnceLock::new(),
        }
    }

    /// As [`Http::new`], with the escape hatch from `ROTGEN_HTTP_ALLOW_INSECURE_LOOPBACK`.
    pub fn from_env(trust: Trust) -> Http {
        let allow = insecure_loopback_enabled(std::env::var(INSECURE_LOOPBACK_VAR).ok().as_deref());
        if allow {
            tracing::warn!(
                "{INSECURE_LOOPBACK_VAR}=1: plain http:// is allowed to loopback hosts (for tests only)"
            );
        }
        Http::new(trust, allow)
    }

    fn client(&self) -> Result<&Https, BackendError> {
        self.client
            .get_or_init(|| Https::new(&self.trust, !self.allow_insecure_loopback, REQUEST_TIMEOUT))
            .as_ref()
            .map_err(|m| BackendError::new(ErrorKind::Config, m.clone()))
    }

    /// The secret's URL, checked against the transport rules.
    fn url(&self, secret: &SecretValue) -> Result<Url, BackendError> {
        let raw = secret.url().map_err(format_error)?;
        let url = Url::parse(raw).map_err(|_| {
            BackendError::new(ErrorKind::Config, "the secret's `url` is not a valid URL")
        })?;
        match url.scheme() {
            "https" => Ok(url),
            "http" if self.allow_insecure_loopback && is_loopback(&url) => Ok(url),
            "http" => Err(BackendError::new(
                ErrorKind::Config,
                format!(
                    "the secret's `url` ({}) is not https://: rotgen sends credentials over TLS only",
                    origin(&url)
                ),
            )),
            other => Err(BackendError::new(
                ErrorKind::Config,
                format!("the secret's `url` has scheme `{other}`; an https:// URL is needed"),
            )),
        }
    }

    async fn check(&self, creds: &SecretValue) -> Result<(u16, String), BackendError> {
        let url = self.url(creds)?;
        let user = creds.username().map_err(format_error)?;
        let password = creds.password().map_err(format_error)?;
        let at = origin(&url);
        let answer = self
            .client()?
            .send(Method::GET, &url, Some(&basic(user, password)), None)
            .await
            .map_err(|f| request_error(SERVICE, &at, &f, "GET"))?;
        Ok((answer.status, at))
    }
}

/// Safe words for a request that got no answer (shared by the services reached by URL).
pub(crate) fn request_error(service: &str, at: &str, f: &Failure, method: &str) -> BackendError {
    let (kind, message) = match f {
        Failure::Url(why) => (
            ErrorKind::Config,
            format!("{service}: the {method} request to {at} cannot be sent: {why}"),
        ),
        Failure::Timeout => (
            ErrorKind::Unavailable,
            format!("{service}: {method} {at} timed out"),
        ),
        Failure::Refused => (
            ErrorKind::Unavailable,
            format!("cannot reach {at}: connection refused"),
        ),
        Failure::Tls(why) => (
            ErrorKind::Unavailable,
            format!("TLS with {at} failed: {why}"),
        ),
        Failure::Unreachable => (ErrorKind::Unavailable, format!("cannot reach {at}")),
        Failure::Broken => (
            ErrorKind::Unavailable,
            format!("{service}: {method} {at} failed before an answer came"),
        ),
    };
    BackendError::new(kind, message)
}

/// What an unexpected status means.
fn status_error(at: &str, method: &str, code: u16) -> BackendError {
    let kind = match code {
        401 => ErrorKind::Auth,
        403 => ErrorKind::Permission,
        408 | 429 | 502 | 503 | 504 => ErrorKind::Unavailable,
        500..=599 => ErrorKind::Service,
        _ => ErrorKind::Config,
    };
    let why = match code {
        300..=399 => " (redirects are not followed: put the final URL in the secret)",
        401 => " (the credentials were rejected)",
        403 => " (not permitted)",
        404 | 405 => " (is `url` the password endpoint?)",
        _ => "",
    };
    BackendError::new(
        kind,
        format!("{SERVICE}: {method} {at} answered {code}{why}"),
    )
}

impl Backend for Http {
    async fn login(&self, creds: &SecretValue) -> Result<bool, BackendError> {
        let (status, at) = self.check(creds).await?;
        match status {
            200..=299 => Ok(true),
            401 | 403 => Ok(false),
            _ => Err(status_error(&at, "GET", status)),
        }
    }

    async fn set_password(&self, req: SetPassword<'_>) -> Result<(), BackendError> {
        let url = self.url(req.pending)?;
        let user = req.pending.username().map_err(format_error)?;
        let password = req.pending.password().map_err(format_error)?;
        check_password(password)?;
        let admin_user = req.admin.username().map_err(format_error)?;
        let admin_password = req.admin.password().map_err(format_error)?;
        let mut body = serde_json::Map::new();
        body.insert("username".into(), user.into());
        body.insert("password".into(), password.into());
        if req.strategy == Strategy::AlternatingUsers {
            let template = req.current.username().map_err(format_error)?;
            if template != user {
                body.insert("template".into(), template.into());
            }
        }
        let at = origin(&url);
        let status = self
            .client()?
            .send(
                Method::POST,
                &url,
                Some(&basic(admin_user, admin_password)),
                Some(&serde_json::Value::Object(body)),
            )
            .await
            .map_err(|f| request_error(SERVICE, &at, &f, "POST"))?
            .status;
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(status_error(&at, "POST", status))
        }
    }

    async fn test(&self, creds: &SecretValue) -> Result<(), BackendError> {
        let (status, at) = self.check(creds).await?;
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(status_error(&at, "GET", status))
        }
    }

    fn place(&self) -> Place {
        Place::Url
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn escape_hatch_value() {
        assert!(insecure_loopback_enabled(Some("1")));
        assert!(!insecure_loopback_enabled(Some("true")));
        assert!(!insecure_loopback_enabled(None));
    }

    #[test]
    fn plain_http_is_refused_without_the_escape_hatch() {
        let s = SecretValue::parse(
            r#"{"url":"http://127.0.0.1:1/pw?token=hunter2","username":"u","password":"hunter2-pw"}"#,
        );
        let e = rt()
            .block_on(Http::new(Trust::none(), false).login(&s))
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Config);
        assert!(!e.message.contains("hunter2"), "{}", e.message);
        // With it, only loopback hosts.
        let far =
            SecretValue::parse(r#"{"url":"http://example.com/pw","username":"u","password":"p"}"#);
        let e = rt()
            .block_on(Http::new(Trust::none(), true).login(&far))
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Config);
    }

    #[test]
    fn a_failure_with_a_password_in_play_does_not_show_it() {
        let s = SecretValue::parse(
            r#"{"url":"http://127.0.0.1:1/pw?k=hunter2","username":"u","password":"hunter2-pw"}"#,
        );
        crate::backends::assert_failures_hide_the_password(&Http::new(Trust::none(), true), &s);
    }

    #[test]
    fn statuses() {
        assert_eq!(status_error("x", "POST", 401).kind, ErrorKind::Auth);
        assert_eq!(status_error("x", "POST", 403).kind, ErrorKind::Permission);
        assert_eq!(status_error("x", "POST", 503).kind, ErrorKind::Unavailable);
        assert_eq!(status_error("x", "POST", 404).kind, ErrorKind::Config);
        assert_eq!(status_error("x", "POST", 302).kind, ErrorKind::Config);
    }
}
