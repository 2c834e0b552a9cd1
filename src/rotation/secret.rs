//! The secret's value, in the JSON shape AWS's own rotation functions use, so secrets made
//! for them rotate unchanged: `engine`, `host`, `port`, `username`, `password`, `dbname`,
//! `masterarn`, `ssl`, plus any other key, kept as it is.
//!
//! The password never leaves this type by accident: `Debug` redacts it, and there is no
//! `Display`.

use serde_json::{Map, Value};
use std::fmt;

/// A secret value: a JSON object, or a plain string (the generic template's shape, and
/// `random` secrets made outside rotgen).
#[derive(Clone, PartialEq)]
pub enum SecretValue {
    Json(Map<String, Value>),
    Plain(String),
}

/// What the `ssl` key asks for (AWS semantics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    /// `ssl` absent: try TLS with verification first, then plaintext.
    Prefer,
    /// `ssl: true` / `"true"`: TLS with certificate and host name verification, or fail.
    Require,
    /// `ssl: false` / `"false"`: plaintext.
    Disable,
}

impl Tls {
    /// The stricter of two: `Require` over `Prefer` over `Disable`.
    pub fn stricter(self, other: Tls) -> Tls {
        let rank = |t: Tls| match t {
            Tls::Disable => 0,
            Tls::Prefer => 1,
            Tls::Require => 2,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretFormatError {
    #[error("the secret value is not valid JSON{}", if *.0 { "" } else { " (it is a plain string, which only the random service rotates)" })]
    NotJson(bool),
    #[error("the secret has no `{0}` key")]
    Missing(&'static str),
    #[error("the secret's `{0}` is not a {1}")]
    WrongType(&'static str, &'static str),
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretValue::Plain(_) => f.write_str("SecretValue::Plain(<redacted>)"),
            SecretValue::Json(map) => {
                let mut d = f.debug_map();
                for (k, v) in map {
                    if is_sensitive(k) {
                        d.entry(k, &"<redacted>");
                    } else {
                        d.entry(k, v);
                    }
                }
                d.finish()
            }
        }
    }
}

/// Keys whose values are never shown.
fn is_sensitive(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.contains("password") || k.contains("secret") || k.contains("token") || k.contains("key")
}

impl SecretValue {
    /// Parses a SecretString. A JSON object is kept as such; anything else is a plain string.
    pub fn parse(text: &str) -> SecretValue {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => SecretValue::Json(map),
            _ => SecretValue::Plain(text.to_string()),
        }
    }

    /// The SecretString to store.
    pub fn to_secret_string(&self) -> String {
        match self {
            SecretValue::Json(map) => Value::Object(map.clone()).to_string(),
            SecretValue::Plain(s) => s.clone(),
        }
    }

    pub fn json(&self) -> Result<&Map<String, Value>, SecretFormatError> {
        match self {
            SecretValue::Json(m) => Ok(m),
            SecretValue::Plain(_) => Err(SecretFormatError::NotJson(false)),
        }
    }

    fn str_field(&self, key: &'static str) -> Result<Option<&str>, SecretFormatError> {
        match self.json()?.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(SecretFormatError::WrongType(key, "string")),
        }
    }

    /// The string at `key`, or why there is none.
    pub fn required(&self, key: &'static str) -> Result<&str, SecretFormatError> {
        self.str_field(key)?.ok_or(SecretFormatError::Missing(key))
    }

    pub fn username(&self) -> Result<&str, SecretFormatError> {
        self.required("username")
    }

    /// The password: the `password` key, or the whole value of a plain-string secret.
    pub fn password(&self) -> Result<&str, SecretFormatError> {
        match self {
            SecretValue::Plain(s) => Ok(s),
            SecretValue::Json(_) => self.required("password"),
        }
    }

    pub fn host(&self) -> Result<&str, SecretFormatError> {
        self.required("host")
    }

    pub fn engine(&self) -> Result<Option<&str>, SecretFormatError> {
        self.str_field("engine")
    }

    pub fn dbname(&self) -> Result<Option<&str>, SecretFormatError> {
        self.str_field("dbname")
    }

    pub fn masterarn(&self) -> Result<&str, SecretFormatError> {
        self.required("masterarn")
    }

    pub fn url(&self) -> Result<&str, SecretFormatError> {
        self.required("url")
    }

    /// `port` as a number or a numeric string (both occur in AWS secrets), or `default`.
    pub fn port(&self, default: u16) -> Result<u16, SecretFormatError> {
        match self.json()?.get("port") {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Number(n)) => n
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .ok_or(SecretFormatError::WrongType("port", "port number")),
            Some(Value::String(s)) => s
                .trim()
                .parse()
                .map_err(|_| SecretFormatError::WrongType("port", "port number")),
            Some(_) => Err(SecretFormatError::WrongType("port", "port number")),
        }
    }

    /// `ssl`: true/false or "true"/"false" (any case); absent means try TLS first.
    pub fn tls(&self) -> Result<Tls, SecretFormatError> {
        let Ok(map) = self.json() else {
            return Ok(Tls::Prefer);
        };
        match map.get("ssl") {
            None | Some(Value::Null) => Ok(Tls::Prefer),
            Some(Value::Bool(true)) => Ok(Tls::Require),
            Some(Value::Bool(false)) => Ok(Tls::Disable),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Tls::Require),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Tls::Disable),
            Some(_) => Err(SecretFormatError::WrongType("ssl", "boolean")),
        }
    }

    /// A copy with another password (and, for alternating users, another username).
    pub fn with_credentials(&self, username: Option<&str>, password: &str) -> SecretValue {
        match self {
            SecretValue::Plain(_) => SecretValue::Plain(password.to_string()),
            SecretValue::Json(map) => {
                let mut map = map.clone();
                if let Some(u) = username {
                    map.insert("username".into(), Value::String(u.to_string()));
                }
                map.insert("password".into(), Value::String(password.to_string()));
                SecretValue::Json(map)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_shape() {
        let s = SecretValue::parse(
            r#"{"engine":"postgres","host":"db","port":"5433","username":"app","password":"hunter2","dbname":"x","ssl":"TRUE","extra":1}"#,
        );
        assert_eq!(s.username().unwrap(), "app");
        assert_eq!(s.port(5432).unwrap(), 5433);
        assert_eq!(s.tls().unwrap(), Tls::Require);
        let t = s.with_credentials(Some("app_clone"), "new");
        assert_eq!(t.username().unwrap(), "app_clone");
        assert_eq!(t.password().unwrap(), "new");
        assert!(
            t.to_secret_string().contains("\"extra\":1"),
            "unknown keys are kept"
        );
        assert_eq!(SecretValue::parse("{}").port(6379).unwrap(), 6379);
        assert_eq!(SecretValue::parse("{}").tls().unwrap(), Tls::Prefer);
        assert_eq!(
            SecretValue::parse(r#"{"ssl":false}"#).tls().unwrap(),
            Tls::Disable
        );
        assert!(SecretValue::parse(r#"{"ssl":"maybe"}"#).tls().is_err());
    }

    #[test]
    fn debug_never_shows_the_password() {
        let s = SecretValue::parse(r#"{"username":"app","password":"hunter2","api_key":"k3y"}"#);
        let d = format!("{s:?}");
        assert!(!d.contains("hunter2") && !d.contains("k3y"), "{d}");
        assert!(d.contains("app"));
        let p = SecretValue::parse("plain-hunter2");
        assert!(!format!("{p:?}").contains("hunter2"));
        assert_eq!(p.password().unwrap(), "plain-hunter2");
    }
}
