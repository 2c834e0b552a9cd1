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

use super::{CONNECT_TIMEOUT, Trust, check_password, format_error, tls_reason};
use crate::rotation::backend::{Backend, BackendError, ErrorKind, SetPassword, Strategy};
use crate::rotation::secret::SecretValue;
use ::reqwest::{Client, StatusCode, Url};
use std::sync::OnceLock;
use std::time::Duration;

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
    client: OnceLock<Result<Client, String>>,
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

/// `scheme://host:port`: where a request went, without path, query or user info.
fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
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

    fn client(&self) -> Result<&Client, BackendError> {
        self.client
            .get_or_init(|| build_client(&self.trust, !self.allow_insecure_loopback))
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

    async fn check(&self, creds: &SecretValue) -> Result<(StatusCode, String), BackendError> {
        let url = self.url(creds)?;
        let user = creds.username().map_err(format_error)?;
        let password = creds.password().map_err(format_error)?;
        let at = origin(&url);
        let resp = self
            .client()?
            .get(url)
            .basic_auth(user, Some(password))
            .send()
            .await
            .map_err(|e| transport_error(&at, &e, "GET"))?;
        Ok((resp.status(), at))
    }
}

/// An HTTPS client with rotgen's rules (shared with `rabbitmq`): connect and request
/// timeouts, no redirects, the platform's roots plus the `ROTGEN_CA_FILE` bundle.
pub(crate) fn build_client(trust: &Trust, https_only: bool) -> Result<Client, String> {
    let mut b = Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .redirect(::reqwest::redirect::Policy::none())
        .https_only(https_only)
        .user_agent(concat!("rotgen/", env!("CARGO_PKG_VERSION")));
    if let Some(pem) = trust.extra_pem() {
        let certs = ::reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|_| "the CA bundle is not valid PEM".to_string())?;
        b = b.tls_certs_merge(certs);
    }
    b.build()
        .map_err(|_| "the HTTP client cannot be set up (TLS roots)".to_string())
}

/// Safe words for a failed request (the error's text can hold the URL, which is not shown).
fn transport_error(at: &str, e: &::reqwest::Error, method: &str) -> BackendError {
    request_error(SERVICE, at, e, method)
}

/// [`transport_error`] for any service that speaks HTTP.
pub(crate) fn request_error(
    service: &str,
    at: &str,
    e: &::reqwest::Error,
    method: &str,
) -> BackendError {
    if e.is_timeout() {
        return BackendError::new(
            ErrorKind::Unavailable,
            format!("{service}: {method} {at} timed out"),
        );
    }
    if e.is_builder() {
        return BackendError::new(
            ErrorKind::Config,
            format!("{service}: the {method} request to {at} cannot be built"),
        );
    }
    // Read the cause chain (never shown) to tell a refused connection from a TLS failure.
    let mut text = String::new();
    let mut refused = false;
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            refused |= io.kind() == std::io::ErrorKind::ConnectionRefused;
        }
        text.push_str(&s.to_string());
        text.push('\n');
        source = s.source();
    }
    if refused {
        return BackendError::new(
            ErrorKind::Unavailable,
            format!("cannot reach {at}: connection refused"),
        );
    }
    let tls = tls_reason(&text);
    if e.is_connect()
        && (tls != "the TLS handshake failed"
            || text.contains("tls")
            || text.contains("TLS")
            || text.contains("certificate"))
    {
        return BackendError::new(
            ErrorKind::Unavailable,
            format!("TLS with {at} failed: {tls}"),
        );
    }
    if e.is_connect() {
        return BackendError::new(ErrorKind::Unavailable, format!("cannot reach {at}"));
    }
    BackendError::new(
        ErrorKind::Unavailable,
        format!("{service}: {method} {at} failed before an answer came"),
    )
}

/// What an unexpected status means.
fn status_error(at: &str, method: &str, status: StatusCode) -> BackendError {
    let code = status.as_u16();
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
        match status.as_u16() {
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
        let resp = self
            .client()?
            .post(url)
            .basic_auth(admin_user, Some(admin_password))
            .json(&body)
            .send()
            .await
            .map_err(|e| transport_error(&at, &e, "POST"))?;
        let status = resp.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(status_error(&at, "POST", status))
        }
    }

    async fn test(&self, creds: &SecretValue) -> Result<(), BackendError> {
        let (status, at) = self.check(creds).await?;
        if status.is_success() {
            Ok(())
        } else {
            Err(status_error(&at, "GET", status))
        }
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
        assert_eq!(
            status_error("x", "POST", StatusCode::UNAUTHORIZED).kind,
            ErrorKind::Auth
        );
        assert_eq!(
            status_error("x", "POST", StatusCode::FORBIDDEN).kind,
            ErrorKind::Permission
        );
        assert_eq!(
            status_error("x", "POST", StatusCode::SERVICE_UNAVAILABLE).kind,
            ErrorKind::Unavailable
        );
        assert_eq!(
            status_error("x", "POST", StatusCode::NOT_FOUND).kind,
            ErrorKind::Config
        );
        assert_eq!(
            status_error("x", "POST", StatusCode::FOUND).kind,
            ErrorKind::Config
        );
    }
}
