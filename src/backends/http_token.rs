//! # The `http-token` service: API tokens an HTTPS service issues
//!
//! Many SaaS APIs create and delete tokens instead of changing a password. `http-token`
//! rotates one with the issue-and-revoke model (`crate::rotation::issued`): a new token
//! is issued, both AWSCURRENT's and AWSPREVIOUS's work after a rotation, and the token of
//! two rotations ago is revoked when the service's limit needs the room.
//!
//! The API is described by a **contract in the spec** (`token_api`), which the function
//! reads from its own configuration (`ROTGEN_API_CONTRACT`, JSON), never from the secret:
//! a secret cannot send its token, or ask for a revoke, anywhere else.
//!
//! | field | default | meaning |
//! | --- | --- | --- |
//! | `issue_url` | (required) | `POST` here issues a token. Body: `{"name": "rotgen"}`. |
//! | `list_url` | (required) | `GET` here lists the caller's tokens. |
//! | `revoke_url` | (required) | `DELETE` here revokes one; `{id}` stands for its id. |
//! | `whoami_url` | (required) | `GET` here answers who the token is. |
//! | `token_pointer` | `/token` | where the issue answer holds the new token (JSON Pointer) |
//! | `id_pointer` | `/id` | where the issue answer, and each listed token, hold the id |
//! | `created_pointer` | `/created` | where a listed token holds when it was issued (seconds or, from 10^11 up, milliseconds since the epoch, or RFC 3339) |
//! | `list_pointer` | `` | where the list answer holds the array (empty: the answer is the array) |
//! | `principal_pointer` | `/name` | where the who-am-i answer holds the token's owner |
//! | `whoami_id_pointer` | `` | where the who-am-i answer holds the id of the token that asked (empty: it does not say) |
//! | `limit` | `2` | how many tokens one owner may hold (2 to 100: a rotation keeps two alive) |
//!
//! `{user}` in `issue_url`, `list_url` and `revoke_url` stands for the owner (escaped, as
//! `{id}` is). Every call authenticates with `Authorization: Bearer <token>`: the token
//! of the master secret when the secret names one (`masterarn`, `{"token": …}`: an
//! administrator that manages other owners' tokens, named in the spec), else the
//! secret's current token (setSecret: the pending one). Who-am-i always asks with the
//! secret's own token, which proves the owner, and, with `whoami_id_pointer`, which
//! token it is: a token is revoked by id only when who-am-i, asked with a stage's own
//! token, names that id (without the pointer, a rotation at the limit stops and says to
//! add it). `401`/`403` from who-am-i means the token is
//! rejected; a `404` from a revoke means it is gone already. The secret:
//!
//! ```json
//! {"username": "ci-bot", "token": "…", "token_id": "tok_123"}
//! ```
//!
//! `username` is the owner the who-am-i answer must name, and one of the spec's `user`s
//! (`ROTGEN_API_OWNERS`). Other keys are kept.
//!
//! Transport: `https://` only (checked when the spec is built and again at cold start),
//! verified against the platform's roots and `ROTGEN_CA_FILE`; redirects are not
//! followed; answers are read, never logged, and errors name the call and its status.

use super::Trust;
use super::http::{REQUEST_TIMEOUT, request_error};
use super::https::{Https, Method};
use crate::rotation::backend::{BackendError, ErrorKind};
use crate::rotation::issued::{self, Credential, Identity, Issuer, Principals};
pub use crate::rotation::issued::{Issued, Previous};
use crate::rotation::secret::SecretValue;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::sync::OnceLock;
use std::time::Duration;
use url::Url;

const SERVICE: &str = "http-token";
/// The contract, as JSON (from the spec's `token_api`).
pub const CONTRACT_VAR: &str = "ROTGEN_API_CONTRACT";
/// The owners a function may issue tokens for (comma-separated). (No "TOKEN" in these
/// names: checkov's secrets scan reads a `…TOKEN…: name` line as a secret.)
pub const USERS_VAR: &str = "ROTGEN_API_OWNERS";
const FIELDS: &[&str] = &["token", "token_id"];
/// How long testSecret waits for a new token to be accepted.
const TEST_WAITS: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(3),
];

fn token_pointer() -> String {
    "/token".into()
}
fn id_pointer() -> String {
    "/id".into()
}
fn created_pointer() -> String {
    "/created".into()
}
fn principal_pointer() -> String {
    "/name".into()
}
fn two() -> u64 {
    2
}

/// The declarative contract of a token API (the spec's `token_api`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contract {
    pub issue_url: String,
    pub list_url: String,
    pub revoke_url: String,
    pub whoami_url: String,
    #[serde(default = "token_pointer")]
    pub token_pointer: String,
    #[serde(default = "id_pointer")]
    pub id_pointer: String,
    #[serde(default = "created_pointer")]
    pub created_pointer: String,
    #[serde(default)]
    pub list_pointer: String,
    #[serde(default = "principal_pointer")]
    pub principal_pointer: String,
    /// Where the who-am-i answer holds the asking token's id (empty: it does not say).
    #[serde(default)]
    pub whoami_id_pointer: String,
    #[serde(default = "two")]
    pub limit: u64,
}

/// The URL fields of a contract, for checks and messages.
pub const URL_FIELDS: [&str; 4] = ["issue_url", "list_url", "revoke_url", "whoami_url"];
/// The JSON Pointer fields of a contract.
pub const POINTER_FIELDS: [&str; 6] = [
    "token_pointer",
    "id_pointer",
    "created_pointer",
    "list_pointer",
    "principal_pointer",
    "whoami_id_pointer",
];

/// What a contract must add before a token can be revoked by id (see
/// [`Issuer::unproven_hint`]).
pub const WHOAMI_ID_HINT: &str = "add whoami_id_pointer to the spec's token_api (the JSON Pointer to the id of the asking token in the whoami_url answer), rebuild and deploy, then rotate again";

/// Why `limit` must be at least 2.
pub const LIMIT_REASON: &str = "after a rotation AWSCURRENT's and AWSPREVIOUS's tokens both work, and the next one needs room beside AWSCURRENT's: with fewer than 2 no rotation keeps a working token";

/// Why a contract's URL field is refused, if it is (`field` names it).
pub fn check_url(field: &str, url: &str) -> Result<(), String> {
    let parsed = Url::parse(&url.replace("{id}", "x").replace("{user}", "x"))
        .map_err(|_| format!("{field} is not a URL"))?;
    if parsed.scheme() != "https" {
        return Err(format!(
            "{field} is not https://: the token goes with every call, so TLS is required"
        ));
    }
    if parsed.username() != "" || parsed.password().is_some() {
        return Err(format!(
            "{field} holds credentials; the calls authenticate with the secret's token"
        ));
    }
    if field == "revoke_url" && !url.contains("{id}") {
        return Err("revoke_url has no {id} for the token to revoke".into());
    }
    if field != "revoke_url" && url.contains("{id}") {
        return Err(format!("{field} has {{id}}, which only revoke_url takes"));
    }
    if field == "whoami_url" && url.contains("{user}") {
        return Err(
            "whoami_url has {user}: who-am-i asks the token itself, whoever it belongs to".into(),
        );
    }
    Ok(())
}

/// Why a contract's JSON Pointer field is refused, if it is.
pub fn check_pointer(field: &str, pointer: &str) -> Result<(), String> {
    if pointer.is_empty() && matches!(field, "list_pointer" | "whoami_id_pointer") {
        return Ok(());
    }
    if !pointer.starts_with('/') {
        return Err(format!(
            "{field} is not a JSON Pointer: it starts with / (like /data/token)"
        ));
    }
    Ok(())
}

impl Contract {
    /// Every field checked: URLs https with `{id}` in `revoke_url`, pointers, limit.
    pub fn check(&self) -> Result<(), String> {
        for (field, url) in URL_FIELDS.iter().zip([
            &self.issue_url,
            &self.list_url,
            &self.revoke_url,
            &self.whoami_url,
        ]) {
            check_url(field, url)?;
        }
        for (field, p) in POINTER_FIELDS.iter().zip([
            &self.token_pointer,
            &self.id_pointer,
            &self.created_pointer,
            &self.list_pointer,
            &self.principal_pointer,
            &self.whoami_id_pointer,
        ]) {
            check_pointer(field, p)?;
        }
        if !(2..=100).contains(&self.limit) {
            return Err(format!(
                "limit is the tokens one owner may hold, 2 to 100: {LIMIT_REASON}"
            ));
        }
        Ok(())
    }

    /// From the function's configuration (`ROTGEN_API_CONTRACT`'s JSON).
    pub fn parse(text: &str) -> Result<Contract, BackendError> {
        let c: Contract = serde_json::from_str(text).map_err(|e| {
            BackendError::new(
                ErrorKind::Config,
                format!("{CONTRACT_VAR} is not a token API contract: {e}"),
            )
        })?;
        c.check()
            .map_err(|m| BackendError::new(ErrorKind::Config, format!("{CONTRACT_VAR}: {m}")))?;
        Ok(c)
    }
}

/// The token API, through the contract.
pub struct HttpTokens {
    contract: Contract,
    trust: Trust,
    client: OnceLock<Result<Https, String>>,
}

impl std::fmt::Debug for HttpTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTokens")
            .field("contract", &self.contract)
            .finish()
    }
}

fn config(message: impl Into<String>) -> BackendError {
    BackendError::new(ErrorKind::Config, message)
}

/// A JSON value read as an id: a string, or a number written out.
fn id_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Numbers from here up are milliseconds: as seconds they would be after the year 5000,
/// and every millisecond count since 1973 is above it.
const MILLISECONDS_FROM: i64 = 100_000_000_000;

/// Seconds since the epoch: a number of seconds or (from [`MILLISECONDS_FROM`] up, as
/// JavaScript's `Date.now()` gives) of milliseconds, or an RFC 3339 time
/// (`2026-11-30T21:00:00Z`, with optional fractions and offset). `None` when it is
/// none of these. (A larger unit, microseconds, reads as a time far in the future, which
/// `crate::rotation::issued` refuses.)
pub fn epoch_seconds(v: &Value) -> Option<i64> {
    let n = match (v.as_i64(), v.as_f64()) {
        (Some(n), _) => Some(n),
        (None, Some(f)) if f.is_finite() => Some(f as i64),
        _ => None,
    };
    if let Some(n) = n {
        return Some(if n >= MILLISECONDS_FROM { n / 1000 } else { n });
    }
    let s = v.as_str()?;
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    // Fractions, then the offset.
    let mut rest = &s[19..];
    if let Some(r) = rest.strip_prefix('.') {
        rest = r.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6
            && matches!(rest.as_bytes()[0], b'+' | b'-')
            && rest.as_bytes()[3] == b':' =>
        {
            // `get`, not indexing: the service's text may hold any character there.
            let oh: i64 = rest.get(1..3)?.parse().ok()?;
            let om: i64 = rest.get(4..6)?.parse().ok()?;
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            sign * (oh * 3600 + om * 60)
        }
        _ => return None,
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + sec - offset)
}

impl HttpTokens {
    pub fn new(contract: Contract, trust: Trust) -> HttpTokens {
        HttpTokens {
            contract,
            trust,
            client: OnceLock::new(),
        }
    }

    fn client(&self) -> Result<&Https, BackendError> {
        self.client
            .get_or_init(|| Https::new(&self.trust, true, REQUEST_TIMEOUT))
            .as_ref()
            .map_err(|m| config(m.clone()))
    }

    /// One call with `auth`'s token: the status and the JSON answer (`Null` when the
    /// answer is not JSON). `what` names the call in errors (`POST issue_url`).
    async fn call(
        &self,
        method: Method,
        url: &str,
        what: &str,
        auth: &SecretValue,
        body: Option<Value>,
    ) -> Result<(u16, Value), BackendError> {
        let token = issued::field(auth, "token")?;
        let url = Url::parse(url).map_err(|_| config(format!("{SERVICE}: {what} is not a URL")))?;
        let at = url.origin().ascii_serialization();
        let answer = self
            .client()?
            .send(
                method,
                &url,
                Some(&format!("Bearer {token}")),
                body.as_ref(),
            )
            .await
            .map_err(|f| request_error(SERVICE, &at, &f, what))?;
        Ok((answer.status, answer.json()))
    }

    /// A call that must answer `2xx`.
    async fn ok(
        &self,
        method: Method,
        url: &str,
        what: &str,
        auth: &SecretValue,
        body: Option<Value>,
    ) -> Result<Value, BackendError> {
        let (status, value) = self.call(method, url, what, auth, body).await?;
        if (200..300).contains(&status) {
            Ok(value)
        } else {
            Err(status_error(what, status))
        }
    }

    /// A URL of the contract with `{user}` (the owner) and `{id}` (a token's id) put in,
    /// each as one escaped path segment: never read as a path, query or another host,
    /// and never a segment a URL parser resolves (`.`, `..`, empty).
    fn url(&self, template: &str, user: &str, id: Option<&str>) -> Result<String, BackendError> {
        let mut url = template.replace("{user}", &segment("owner", user)?);
        if let Some(id) = id {
            url = url.replace("{id}", &segment("token id", id)?);
        }
        Ok(url)
    }
}

/// `text` as one path segment ([`escape`]d), refused when it is empty, `.` or `..`:
/// URL parsers resolve those (and their percent-encoded forms) as dot segments, so
/// `DELETE …/tokens/..` would reach the owner itself. `what` names it in the error.
pub fn segment(what: &str, text: &str) -> Result<String, BackendError> {
    if super::https::unsafe_segment(text) {
        return Err(BackendError::new(
            ErrorKind::Config,
            format!(
                "{SERVICE}: the {what} `{text}` cannot stand in a URL path (empty, . and .. are resolved as path steps): fix the secret, then rotate again"
            ),
        ));
    }
    Ok(escape(text))
}

/// Percent-encodes everything but the unreserved characters (RFC 3986).
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            escaped.push(b as char);
        } else {
            escaped.push_str(&format!("%{b:02X}"));
        }
    }
    escaped
}

fn status_error(what: &str, status: u16) -> BackendError {
    let (kind, why) = match status {
        401 => (ErrorKind::Auth, " (the token was rejected)"),
        403 => (ErrorKind::Permission, " (not permitted)"),
        409 | 422 => (
            ErrorKind::Config,
            " (the service refused to issue: at its limit of tokens? check the contract's limit)",
        ),
        300..=399 => (ErrorKind::Config, " (redirects are not followed)"),
        408 | 429 | 502 | 503 | 504 => (ErrorKind::Unavailable, ""),
        500..=599 => (ErrorKind::Service, ""),
        _ => (ErrorKind::Config, ""),
    };
    BackendError::new(kind, format!("{SERVICE}: {what} answered {status}{why}"))
}

/// The URLs an administrator's token calls for an owner: each must name the owner
/// (`{user}`), or the administrator would list, issue and revoke its own tokens.
pub const ADMIN_URL_FIELDS: &[&str] = &["issue_url", "list_url", "revoke_url"];

/// Why a URL an administrator's token calls must hold `{user}`.
pub const ADMIN_URL_REASON: &str = "with a master secret (an administrator's token) every call acts on whichever owner the URL names; without {user} it would list, issue and revoke the administrator's own tokens";

impl Contract {
    /// The tokens a list_url answer holds. A creation time that does not parse is
    /// unknown, never 0: the state machine then deletes nothing on its account.
    pub fn listed(&self, answer: &Value) -> Result<Vec<Credential>, BackendError> {
        let items = if self.list_pointer.is_empty() {
            Some(answer)
        } else {
            answer.pointer(&self.list_pointer)
        };
        let Some(Value::Array(items)) = items else {
            return Err(BackendError::new(
                ErrorKind::Service,
                format!(
                    "{SERVICE}: the list_url answer has no array at `{}` (list_pointer)",
                    self.list_pointer
                ),
            ));
        };
        items
            .iter()
            .map(|item| {
                let id = id_of(item.pointer(&self.id_pointer)).ok_or_else(|| {
                    BackendError::new(
                        ErrorKind::Service,
                        format!(
                            "{SERVICE}: a token of the list_url answer has no id at `{}` (id_pointer)",
                            self.id_pointer
                        ),
                    )
                })?;
                Ok(Credential {
                    id,
                    created: item.pointer(&self.created_pointer).and_then(epoch_seconds),
                    active: true,
                })
            })
            .collect()
    }

    /// The secret's fields an issue_url answer fills (`token`, `token_id`).
    pub fn issued(&self, answer: &Value) -> Result<Map<String, Value>, BackendError> {
        let token = answer.pointer(&self.token_pointer).and_then(Value::as_str);
        let id = id_of(answer.pointer(&self.id_pointer));
        let (Some(token), Some(id)) = (token, id) else {
            // Issued, maybe, but unusable: the next attempt's clean-up finds it in the
            // list (issued since the rotation began, held by no stage) and revokes it.
            return Err(BackendError::new(
                ErrorKind::Service,
                format!(
                    "{SERVICE}: the issue_url answer has no token at `{}` or no id at `{}` (token_pointer, id_pointer)",
                    self.token_pointer, self.id_pointer
                ),
            ));
        };
        let mut fields = Map::new();
        fields.insert("token".into(), token.into());
        fields.insert("token_id".into(), id.into());
        Ok(fields)
    }

    /// Who a whoami_url answer (`2xx`) says the asking token is.
    pub fn identity(&self, answer: &Value) -> Result<Identity, BackendError> {
        let missing = |what: &str, pointer: &str, field: &str| {
            BackendError::new(
                ErrorKind::Service,
                format!("{SERVICE}: the whoami_url answer has no {what} at `{pointer}` ({field})"),
            )
        };
        let Some(who) = answer
            .pointer(&self.principal_pointer)
            .and_then(Value::as_str)
        else {
            return Err(missing(
                "owner",
                &self.principal_pointer,
                "principal_pointer",
            ));
        };
        let credential = if self.whoami_id_pointer.is_empty() {
            None
        } else {
            Some(
                id_of(answer.pointer(&self.whoami_id_pointer)).ok_or_else(|| {
                    missing("token id", &self.whoami_id_pointer, "whoami_id_pointer")
                })?,
            )
        };
        Ok(Identity {
            principal: who.to_string(),
            credential,
        })
    }

    /// The fields of [`ADMIN_URL_FIELDS`] that do not name the owner.
    pub fn unscoped_admin_urls(&self) -> Vec<&'static str> {
        ADMIN_URL_FIELDS
            .iter()
            .zip([&self.issue_url, &self.list_url, &self.revoke_url])
            .filter(|(_, url)| !url.contains("{user}"))
            .map(|(field, _)| *field)
            .collect()
    }
}

impl Issuer for HttpTokens {
    fn admin_scoped(&self) -> Result<(), BackendError> {
        match self.contract.unscoped_admin_urls().as_slice() {
            [] => Ok(()),
            fields => Err(config(format!(
                "{SERVICE}: {} has no {{user}}: {ADMIN_URL_REASON}; put {{user}} where the owner goes in the spec's token_api, rebuild and deploy, then rotate again",
                fields.join(", ")
            ))),
        }
    }

    fn principal_key(&self) -> &'static str {
        "username"
    }

    fn id_key(&self) -> &'static str {
        "token_id"
    }

    fn fields(&self) -> &'static [&'static str] {
        FIELDS
    }

    fn limit(&self) -> usize {
        self.contract.limit as usize
    }

    async fn list(&self, auth: &SecretValue, user: &str) -> Result<Vec<Credential>, BackendError> {
        let c = &self.contract;
        let url = self.url(&c.list_url, user, None)?;
        let answer = self
            .ok(Method::GET, &url, "GET list_url", auth, None)
            .await?;
        c.listed(&answer)
    }

    async fn create(
        &self,
        auth: &SecretValue,
        user: &str,
    ) -> Result<Map<String, Value>, BackendError> {
        let c = &self.contract;
        let answer = self
            .ok(
                Method::POST,
                &self.url(&c.issue_url, user, None)?,
                "POST issue_url",
                auth,
                Some(json!({"name": "rotgen"})),
            )
            .await?;
        c.issued(&answer)
    }

    async fn deactivate(&self, _: &SecretValue, _: &str, _: &str) -> Result<(), BackendError> {
        // The contract has no "inactive" state: revoking is deleting.
        Ok(())
    }

    async fn delete(&self, auth: &SecretValue, user: &str, id: &str) -> Result<(), BackendError> {
        let url = self.url(&self.contract.revoke_url, user, Some(id))?;
        match self
            .call(Method::DELETE, &url, "DELETE revoke_url", auth, None)
            .await?
        {
            (200..=299 | 404 | 410, _) => Ok(()),
            (status, _) => Err(status_error("DELETE revoke_url", status)),
        }
    }

    fn unproven_hint(&self) -> Option<&'static str> {
        self.contract
            .whoami_id_pointer
            .is_empty()
            .then_some(WHOAMI_ID_HINT)
    }

    async fn whoami(&self, creds: &SecretValue) -> Result<Option<Identity>, BackendError> {
        let c = &self.contract;
        let (status, answer) = self
            .call(Method::GET, &c.whoami_url, "GET whoami_url", creds, None)
            .await?;
        match status {
            200..=299 => c.identity(&answer).map(Some),
            401 | 403 => Ok(None),
            other => Err(status_error("GET whoami_url", other)),
        }
    }
}

/// The `http-token` backend.
pub type HttpToken = Issued<HttpTokens>;

/// Builds it from `ROTGEN_API_CONTRACT` and `ROTGEN_API_OWNERS`.
pub fn from_env(trust: Trust) -> Result<HttpToken, BackendError> {
    let text = std::env::var(CONTRACT_VAR).map_err(|_| {
        config(format!(
            "{CONTRACT_VAR} is not set: the function's configuration must hold the token API's contract (the spec's token_api)"
        ))
    })?;
    Ok(Issued {
        issuer: HttpTokens::new(Contract::parse(&text)?, trust),
        allowed: Principals::parse(USERS_VAR, std::env::var(USERS_VAR).ok().as_deref()),
        previous: Previous::Keep,
        test_waits: TEST_WAITS.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contract() -> Contract {
        serde_json::from_value(json!({
            "issue_url": "https://api.example/tokens",
            "list_url": "https://api.example/tokens",
            "revoke_url": "https://api.example/tokens/{id}",
            "whoami_url": "https://api.example/me",
        }))
        .unwrap()
    }

    #[test]
    fn contracts_are_checked() {
        let c = contract();
        assert_eq!(c.limit, 2);
        assert_eq!(c.token_pointer, "/token");
        c.check().unwrap();
        let mut plain = c.clone();
        plain.list_url = "http://api.example/tokens".into();
        assert!(plain.check().unwrap_err().contains("https"));
        let mut no_id = c.clone();
        no_id.revoke_url = "https://api.example/tokens".into();
        assert!(no_id.check().unwrap_err().contains("{id}"));
        let mut pointer = c.clone();
        pointer.token_pointer = "token".into();
        assert!(pointer.check().unwrap_err().contains("JSON Pointer"));
        let mut whose = c.clone();
        whose.whoami_url = "https://api.example/users/{user}".into();
        assert!(whose.check().unwrap_err().contains("{user}"));
        let mut creds = c.clone();
        creds.whoami_url = "https://u:p@api.example/me".into();
        assert!(creds.check().unwrap_err().contains("credentials"));
        // No honest rotation keeps a working token with a limit of 1.
        let mut one = c;
        one.limit = 1;
        assert!(one.check().unwrap_err().contains("2 to 100"));
        one.limit = 2;
        one.check().unwrap();
        assert!(Contract::parse(r#"{"issue_url": "x"}"#).is_err());
    }

    #[test]
    fn ids_go_into_the_revoke_url_as_one_segment() {
        let t = HttpTokens::new(contract(), Trust::none());
        let revoke = "https://api.example/users/{user}/tokens/{id}";
        assert_eq!(
            t.url(revoke, "bot", Some("tok_1")).unwrap(),
            "https://api.example/users/bot/tokens/tok_1"
        );
        assert_eq!(
            t.url(revoke, "a/../b", Some("../admin?x=1#@evil.example/"))
                .unwrap(),
            "https://api.example/users/a%2F..%2Fb/tokens/..%2Fadmin%3Fx%3D1%23%40evil.example%2F"
        );
        // Dot segments (a URL parser resolves `%2E` too, but `%` is escaped, so only the
        // literal forms can arrive) and empty ones are refused, for the id and the owner.
        for bad in ["", ".", ".."] {
            let e = t.url(revoke, "bot", Some(bad)).unwrap_err();
            assert!(e.message.contains("cannot stand in a URL path"), "{e}");
            assert!(t.url(revoke, bad, Some("tok_1")).is_err());
        }
        let encoded = t.url(revoke, "bot", Some("%2e%2E")).unwrap();
        assert_eq!(
            Url::parse(&encoded).unwrap().path(),
            "/users/bot/tokens/%252e%252E"
        );
        assert_eq!(
            Url::parse(&t.url(revoke, "bot", Some("...")).unwrap())
                .unwrap()
                .path(),
            "/users/bot/tokens/..."
        );
    }

    #[test]
    fn times() {
        assert_eq!(epoch_seconds(&json!(1_700_000_000)), Some(1_700_000_000));
        assert_eq!(epoch_seconds(&json!("1970-01-01T00:00:00Z")), Some(0));
        assert_eq!(
            epoch_seconds(&json!("2023-11-14T22:13:20Z")),
            Some(1_700_000_000)
        );
        assert_eq!(
            epoch_seconds(&json!("2023-11-14T23:13:20.123+01:00")),
            Some(1_700_000_000)
        );
        assert_eq!(
            epoch_seconds(&json!("2024-02-29T00:00:00Z")),
            Some(1_709_164_800)
        );
        assert_eq!(epoch_seconds(&json!("yesterday")), None);
        // Milliseconds, as JavaScript gives them.
        assert_eq!(
            epoch_seconds(&json!(1_700_000_000_123_i64)),
            Some(1_700_000_000)
        );
        assert_eq!(
            epoch_seconds(&json!(1_700_000_000_123.0)),
            Some(1_700_000_000)
        );
        // Any character where the offset goes: no panic, no time.
        assert_eq!(epoch_seconds(&json!("2023-11-14T22:13:20é1:00")), None);
        assert_eq!(epoch_seconds(&json!("2023-11-14T22:13:20+0é:00")), None);
        assert_eq!(epoch_seconds(&json!("2023-11-14T22:13:20+01:é")), None);
        assert_eq!(epoch_seconds(&json!("2023-13-14T22:13:20Z")), None);
    }
}
