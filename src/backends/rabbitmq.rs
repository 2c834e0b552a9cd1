//! # The `rabbitmq` service: users of a RabbitMQ broker
//!
//! Through the management plugin's HTTP API (`rabbitmq_management`, which Amazon MQ for
//! RabbitMQ also serves). The secret:
//!
//! ```json
//! {"engine": "rabbitmq", "host": "broker.example", "port": 15671,
//!  "username": "app", "password": "…"}
//! ```
//!
//! `port` is the management API's (15671, its TLS port, when absent; Amazon MQ: 443).
//! Other keys are kept as they are.
//!
//! - **login / testSecret**: `GET /api/whoami` as the user. `200` is a login; so is the
//!   broker's `401 Not management user`, which it answers only after the password
//!   checked out (an application user needs no management tag); any other `401` is a
//!   rejected password.
//! - **single-user**: `PUT /api/users/<user>` with the new password and the user's own
//!   tags (read first: a `PUT` replaces them), as the master secret (`masterarn`) or the
//!   user itself, which then needs the `administrator` tag. RabbitMQ keeps one password
//!   per user, so clients holding the old one fail to log in until they read the new one.
//! - **alternating-users** (zero downtime): the master gives the pending user (`app` ↔
//!   `app_clone`, created if missing) the new password, the current user's tags, and its
//!   permissions and topic permissions on every virtual host. Nothing is taken away: a
//!   tag the pending user had stays, and where its permission on a virtual host differs,
//!   it gets both (`(?:current)|(?:its own)`). Every retry of setSecret does it all again
//!   (each call is idempotent), so a crash between two calls leaves nothing half-copied.
//!
//! Rights the admin needs: the `administrator` tag.
//!
//! Transport: `https://` with the certificate verified (the platform's roots and the
//! `ROTGEN_CA_FILE` bundle), unless the secret says `"ssl": false` and the function's
//! configuration allows plaintext (`require_tls = false`). Redirects are not followed;
//! answers are never logged, and errors name the call, never a body.

use super::http::{REQUEST_TIMEOUT, request_error};
use super::https::{Https, Method, basic};
use super::{Endpoint, Trust, call, check_password, format_error};
use crate::rotation::backend::{Backend, BackendError, ErrorKind, SetPassword, Strategy};
use crate::rotation::secret::{SecretValue, Tls};
use serde_json::{Value, json};
use std::sync::OnceLock;
use url::Url;

const SERVICE: &str = "rabbitmq";
/// The management plugin's TLS port.
pub const DEFAULT_PORT: u16 = 15671;

/// The RabbitMQ backend. The HTTP client is built on first use and kept.
pub struct Rabbitmq {
    trust: Trust,
    client: OnceLock<Result<Https, String>>,
}

impl std::fmt::Debug for Rabbitmq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rabbitmq")
            .field("trust", &self.trust)
            .finish()
    }
}

/// One management API: its base URL and, for messages, where it is.
struct Api<'a> {
    client: &'a Https,
    base: Url,
    at: String,
    user: &'a str,
    password: &'a str,
}

fn config(message: impl Into<String>) -> BackendError {
    BackendError::new(ErrorKind::Config, message)
}

impl Api<'_> {
    fn url(&self, segments: &[&str]) -> Result<Url, BackendError> {
        if let Some(bad) = segments.iter().find(|s| super::https::unsafe_segment(s)) {
            return Err(config(format!(
                "{SERVICE}: `{bad}` cannot stand in a management API path (empty, . and .. are resolved as path steps): fix the secret's user or vhost, then rotate again"
            )));
        }
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|_| config("the management API's URL cannot take a path"))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// One call: its status and, for a `200`, its JSON body (`Null` otherwise).
    async fn send(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<&Value>,
    ) -> Result<(u16, Value), BackendError> {
        let what = format!("{method} /api/{}", segments.first().unwrap_or(&""));
        let answer = self
            .client
            .send(
                method,
                &self.url(segments)?,
                Some(&basic(self.user, self.password)),
                body,
            )
            .await
            .map_err(|f| request_error(SERVICE, &self.at, &f, &what))?;
        // The body is read (never shown): a `200`'s data, a `401`'s reason.
        let body = match answer.status {
            200 | 401 => answer.json(),
            _ => Value::Null,
        };
        Ok((answer.status, body))
    }

    /// A call that must succeed; `404` is `Ok(None)` when `missing_ok`.
    async fn expect(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<&Value>,
    ) -> Result<Option<Value>, BackendError> {
        let what = format!("{method} /api/{}", segments.first().unwrap_or(&""));
        let (status, value) = self.send(method, segments, body).await?;
        match status {
            200..=299 => Ok(Some(value)),
            404 if segments.first() == Some(&"users") && segments.len() == 2 => Ok(None),
            code => Err(status_error(&self.at, &what, code, &value)),
        }
    }

    async fn get(&self, segments: &[&str]) -> Result<Option<Value>, BackendError> {
        self.expect(Method::GET, segments, None).await
    }

    async fn put(&self, segments: &[&str], body: Value) -> Result<(), BackendError> {
        self.expect(Method::PUT, segments, Some(&body))
            .await
            .map(drop)
    }
}

/// What an unexpected status means (the body's `reason` is RabbitMQ's own fixed words,
/// read only to tell "not an administrator" from "wrong password").
fn status_error(at: &str, what: &str, code: u16, body: &Value) -> BackendError {
    let reason = body.get("reason").and_then(Value::as_str).unwrap_or("");
    let (kind, why) = match code {
        401 if reason.starts_with("Not ") => (
            ErrorKind::Permission,
            " (the credentials log in but are not an administrator: the user that changes passwords needs the administrator tag)",
        ),
        401 => (ErrorKind::Auth, " (the credentials were rejected)"),
        403 => (ErrorKind::Permission, " (not permitted)"),
        404 => (
            ErrorKind::Config,
            " (is `port` the management API's, with the management plugin enabled?)",
        ),
        300..=399 => (ErrorKind::Config, " (redirects are not followed)"),
        408 | 429 | 502 | 503 | 504 => (ErrorKind::Unavailable, ""),
        500..=599 => (ErrorKind::Service, ""),
        _ => (ErrorKind::Config, ""),
    };
    BackendError::new(
        kind,
        format!("{SERVICE}: {what} at {at} answered {code}{why}"),
    )
}

/// A user's tags, from `GET /api/users/<user>` (a list since RabbitMQ 3.9, a
/// comma-separated string before).
fn tags(user: &Value) -> Vec<String> {
    match user.get("tags") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect(),
        Some(Value::String(s)) => s
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(String::from)
            .collect(),
        _ => Vec::new(),
    }
}

/// Two permission patterns as one that matches what either does. RabbitMQ reads `""` as
/// "nothing"; a union already holding `mine` is kept as it is, so alternating rotations
/// do not grow it.
pub fn union_pattern(template: &str, mine: &str) -> String {
    let wrapped = format!("(?:{mine})");
    if mine.is_empty() || template == mine || template.contains(&wrapped) {
        template.to_string()
    } else if template.is_empty() {
        mine.to_string()
    } else {
        format!("(?:{template})|{wrapped}")
    }
}

/// The permissions of `user` (`permissions` or `topic-permissions`), by virtual host
/// (and exchange, for topic permissions).
async fn permissions(api: &Api<'_>, user: &str, kind: &str) -> Result<Vec<Value>, BackendError> {
    Ok(match api.get(&["users", user, kind]).await? {
        Some(Value::Array(a)) => a,
        _ => Vec::new(),
    })
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

impl Rabbitmq {
    pub fn new(trust: Trust) -> Rabbitmq {
        Rabbitmq {
            trust,
            client: OnceLock::new(),
        }
    }

    fn api<'a>(
        &'a self,
        target: &SecretValue,
        who: &'a SecretValue,
    ) -> Result<Api<'a>, BackendError> {
        let client = self
            .client
            .get_or_init(|| Https::new(&self.trust, false, REQUEST_TIMEOUT))
            .as_ref()
            .map_err(|m| config(m.clone()))?;
        let at = Endpoint::of(target, DEFAULT_PORT)?;
        let asked = super::tls_for(target.tls().map_err(format_error)?, who)?;
        let scheme = match self.trust.floor(asked) {
            Tls::Disable => "http",
            Tls::Prefer | Tls::Require => "https",
        };
        let base = Url::parse(&format!("{scheme}://{at}/api/"))
            .map_err(|_| config("the secret's `host` is not a host name or an IP address"))?;
        Ok(Api {
            client,
            at: format!("{scheme}://{at}"),
            base,
            user: who.username().map_err(format_error)?,
            password: who.password().map_err(format_error)?,
        })
    }

    async fn login_inner(&self, creds: &SecretValue) -> Result<bool, BackendError> {
        let api = self.api(creds, creds)?;
        let (status, body) = api.send(Method::GET, &["whoami"], None).await?;
        match status {
            200 => Ok(true),
            // Said only once the password checked out: a user without management tags.
            401 if text(&body, "reason") == "Not management user" => Ok(true),
            401 => Ok(false),
            code => Err(status_error(&api.at, "GET /api/whoami", code, &body)),
        }
    }

    async fn set_password_inner(&self, req: SetPassword<'_>) -> Result<(), BackendError> {
        let api = self.api(req.pending, req.admin)?;
        let user = req.pending.username().map_err(format_error)?;
        let password = req.pending.password().map_err(format_error)?;
        check_password(password)?;
        let template = req.current.username().map_err(format_error)?;
        let alternating = req.strategy == Strategy::AlternatingUsers && template != user;
        let existing = api.get(&["users", user]).await?;
        let mut new_tags = existing.as_ref().map(tags).unwrap_or_default();
        if alternating {
            let Some(t) = api.get(&["users", template]).await? else {
                return Err(config(format!(
                    "the current user {template} does not exist on the broker"
                )));
            };
            for tag in tags(&t) {
                if !new_tags.contains(&tag) {
                    new_tags.push(tag);
                }
            }
        } else if existing.is_none() {
            return Err(config(format!(
                "user {user} does not exist on the broker: create it, then rotate"
            )));
        }
        api.put(
            &["users", user],
            json!({"password": password, "tags": new_tags.join(",")}),
        )
        .await?;
        if !alternating {
            return Ok(());
        }
        // The template's permissions, joined with what the pending user has.
        for (kind, keys) in [
            ("permissions", &["configure", "write", "read"][..]),
            ("topic-permissions", &["write", "read"][..]),
        ] {
            let mine = permissions(&api, user, kind).await?;
            for p in permissions(&api, template, kind).await? {
                let vhost = text(&p, "vhost");
                let exchange = text(&p, "exchange");
                let own = mine
                    .iter()
                    .find(|m| text(m, "vhost") == vhost && text(m, "exchange") == exchange);
                let mut body = serde_json::Map::new();
                if kind == "topic-permissions" {
                    body.insert("exchange".into(), json!(exchange));
                }
                for key in keys {
                    let joined = union_pattern(text(&p, key), own.map_or("", |o| text(o, key)));
                    body.insert((*key).into(), json!(joined));
                }
                api.put(&[kind, vhost, user], Value::Object(body)).await?;
            }
        }
        Ok(())
    }
}

impl Backend for Rabbitmq {
    async fn login(&self, creds: &SecretValue) -> Result<bool, BackendError> {
        call("logging in to", SERVICE, self.login_inner(creds)).await
    }

    async fn set_password(&self, req: SetPassword<'_>) -> Result<(), BackendError> {
        call(
            "changing a password on",
            SERVICE,
            self.set_password_inner(req),
        )
        .await
    }

    async fn test(&self, creds: &SecretValue) -> Result<(), BackendError> {
        if self.login(creds).await? {
            Ok(())
        } else {
            Err(BackendError::new(
                ErrorKind::Auth,
                format!("{SERVICE}: the broker rejects the new credentials"),
            ))
        }
    }

    fn max_username_len(&self) -> usize {
        // RabbitMQ has no limit of its own; this keeps `_clone` names readable.
        255
    }

    fn default_port(&self) -> u16 {
        DEFAULT_PORT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_unions_do_not_grow() {
        assert_eq!(union_pattern(".*", ".*"), ".*");
        assert_eq!(union_pattern("^a$", ""), "^a$");
        assert_eq!(union_pattern("", "^b$"), "^b$");
        let once = union_pattern("^a$", "^b$");
        assert_eq!(once, "(?:^a$)|(?:^b$)");
        // The next rotation goes the other way: the template is the union now.
        assert_eq!(union_pattern(&once, "^a$"), once);
        assert_eq!(union_pattern(&once, "^b$"), once);
    }

    #[test]
    fn tags_in_both_shapes() {
        assert_eq!(tags(&json!({"tags": ["a", "b"]})), ["a", "b"]);
        assert_eq!(tags(&json!({"tags": "a, b"})), ["a", "b"]);
        assert!(tags(&json!({"tags": ""})).is_empty());
    }
}
