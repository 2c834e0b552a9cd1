//! What the rotation function trusts, and the checks that keep a rotated secret from
//! steering it.
//!
//! Whoever can write the application's secret can write any of its fields, AWSPENDING
//! included. The function trusts only:
//!
//! - **its own configuration**: the environment the template sets (`ROTGEN_SERVICE`,
//!   `ROTGEN_STRATEGY`, and [`MASTERS_VAR`], the master secrets the spec names);
//! - **the service's verified certificate** (see `crate::backends`: no plaintext after a
//!   failed certificate or host-name check).
//!
//! Each check here enforces one invariant, and each refusal is one line naming the secret:
//!
//! | check | invariant |
//! | --- | --- |
//! | [`check_pending`] | AWSPENDING differs from AWSCURRENT only in `password` (and, with alternating users, `username` is the other user of the pair) |
//! | [`Masters::allows`] | a master secret acts only if the function's configuration names it |
//! | [`check_master`] | the master acts only on its own server (`host`, `port`, `engine`; `url` only where the backend, not the secret, says the service is reached by URL), never on its own user |
//! | [`rds_master`] | a master RDS manages (no `host`) acts only on the endpoint RDS gives for the instance or cluster the configuration binds it to ([`super::rds::MASTER_RDS_VAR`]) |
//! | [`check_previous`] | AWSPREVIOUS stands in for AWSCURRENT only for the same user on the same service |
//! | current login (in `steps`) | the master acts only for a user whose AWSCURRENT credentials log in, and whose made-up password does not (a server that lets anyone in proves nothing) |

use super::backend::{Place, Strategy, alternate_username};
use super::secret::SecretValue;
use serde_json::Value;

/// The variable naming the master secrets this function may use: ARNs or names,
/// separated by commas. `rotgen build` and the macro set it from the spec.
pub const MASTERS_VAR: &str = "ROTGEN_MASTER_SECRETS";

/// The master secrets the function's configuration names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Masters {
    names: Vec<String>,
    /// Those of `names` that RDS manages, with the resource that owns each.
    rds: super::rds::RdsMasters,
}

impl Masters {
    /// No master secret may be used.
    pub fn none() -> Masters {
        Masters::default()
    }

    /// These ARNs or names (empty entries are ignored).
    pub fn of<I: IntoIterator<Item = S>, S: AsRef<str>>(names: I) -> Masters {
        Masters {
            names: names
                .into_iter()
                .map(|s| s.as_ref().trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            rds: super::rds::RdsMasters::none(),
        }
    }

    /// With these bindings of masters RDS manages to the resources that own them
    /// ([`super::rds::MASTER_RDS_VAR`]).
    pub fn with_rds(mut self, rds: super::rds::RdsMasters) -> Masters {
        self.rds = rds;
        self
    }

    /// The masters RDS manages, each with the instance or cluster that owns it.
    pub fn rds(&self) -> &super::rds::RdsMasters {
        &self.rds
    }

    /// From [`MASTERS_VAR`].
    pub fn from_env() -> Masters {
        Masters::of(
            std::env::var(MASTERS_VAR)
                .unwrap_or_default()
                .split(',')
                .map(str::to_string),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// The master, when the configuration names exactly one.
    pub fn only(&self) -> Option<&str> {
        match self.names.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }

    /// Adds more names (the command line's `--master`).
    pub fn extend(&mut self, more: Masters) {
        self.names.extend(more.names);
    }

    /// Whether `masterarn` (as a secret wrote it) names one of the configured secrets:
    /// the same string, or the full ARN of a secret configured by name or by partial ARN
    /// (the configured text followed by Secrets Manager's `-` and six characters).
    pub fn allows(&self, masterarn: &str) -> bool {
        self.names
            .iter()
            .any(|allowed| names_secret(allowed, masterarn))
    }
}

/// Whether the configured `allowed` (name, partial ARN or full ARN) names the secret that
/// `given` names.
pub(crate) fn names_secret(allowed: &str, given: &str) -> bool {
    if allowed == given {
        return true;
    }
    if !given.starts_with("arn:") {
        return false;
    }
    let name_part = |arn: &str| arn.splitn(7, ':').nth(6).map(str::to_string);
    let Some(given_name) = name_part(given) else {
        return false;
    };
    let Some((base, suffix)) = given_name.rsplit_once('-') else {
        return false;
    };
    if suffix.len() != 6 || !suffix.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    if allowed.starts_with("arn:") {
        // A partial ARN: everything but the suffix.
        given.len() == allowed.len() + 7
            && given.starts_with(allowed)
            && given.as_bytes()[allowed.len()] == b'-'
    } else {
        base == allowed
    }
}

/// A refusal: one line a person understands, without any secret value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

/// The keys AWSPENDING may not change: everything but `username` and `password`.
fn other_keys<'a>(
    a: &'a serde_json::Map<String, Value>,
    b: &'a serde_json::Map<String, Value>,
) -> Option<&'a str> {
    a.keys()
        .chain(b.keys())
        .map(String::as_str)
        .filter(|k| !matches!(*k, "username" | "password"))
        .find(|k| a.get(*k) != b.get(*k))
}

/// AWSPENDING must be AWSCURRENT with a new password: the same keys and values but for
/// `password`, and the same `username` (single user) or the other user of the pair
/// (alternating users). A pending value that names another user or place is refused, so
/// it cannot make the function change another password.
pub fn check_pending(
    strategy: Strategy,
    max_username_len: usize,
    current: &SecretValue,
    pending: &SecretValue,
) -> Result<(), Refusal> {
    let (Ok(c), Ok(p)) = (current.json(), pending.json()) else {
        return match (current, pending) {
            (SecretValue::Plain(_), SecretValue::Plain(_)) => Ok(()),
            _ => Err(Refusal(
                "AWSPENDING and AWSCURRENT are not of the same shape (JSON and plain text); delete the AWSPENDING version and rotate again".into(),
            )),
        };
    };
    if let Some(key) = other_keys(c, p) {
        return Err(Refusal(format!(
            "AWSPENDING has another `{key}` than AWSCURRENT; delete the AWSPENDING version and rotate again"
        )));
    }
    let (Some(cu), Some(pu)) = (
        c.get("username").and_then(Value::as_str),
        p.get("username").and_then(Value::as_str),
    ) else {
        return match (c.get("username"), p.get("username")) {
            (None, None) => Ok(()),
            _ => Err(Refusal(
                "AWSPENDING and AWSCURRENT do not both have a string `username`; delete the AWSPENDING version and rotate again".into(),
            )),
        };
    };
    let expected = match strategy {
        Strategy::SingleUser => Some(cu.to_string()),
        Strategy::AlternatingUsers => alternate_username(cu, max_username_len),
    };
    if expected.as_deref() != Some(pu) {
        return Err(Refusal(format!(
            "AWSPENDING names user {pu}, but the rotation of user {cu} may only change {}; delete the AWSPENDING version and rotate again",
            expected.as_deref().unwrap_or("its own pair")
        )));
    }
    Ok(())
}

/// AWSPREVIOUS may stand in for AWSCURRENT only for the same user on the same service:
/// every key but `password` equal. (Its password may still work, as Redis keeps it for
/// one rotation; a current value pointed elsewhere must not make the function send it
/// there.)
pub fn check_previous(current: &SecretValue, previous: &SecretValue) -> Result<(), Refusal> {
    let (Ok(c), Ok(p)) = (current.json(), previous.json()) else {
        // Two plain strings name no user or place; one of each is not the same secret.
        return match (current, previous) {
            (SecretValue::Plain(_), SecretValue::Plain(_)) => Ok(()),
            _ => Err(Refusal(
                "the AWSCURRENT credentials do not log in, and AWSPREVIOUS is not of the same shape (JSON and plain text), so it cannot stand in for them; put the user's working password in AWSCURRENT, then rotate again".into(),
            )),
        };
    };
    let differs = c
        .keys()
        .chain(p.keys())
        .map(String::as_str)
        .filter(|k| *k != "password")
        .find(|k| c.get(*k) != p.get(*k));
    match differs {
        Some(key) => Err(Refusal(format!(
            "the AWSCURRENT credentials do not log in, and AWSPREVIOUS has another `{key}`, so it cannot stand in for them; put the user's working password in AWSCURRENT, then rotate again"
        ))),
        None => Ok(()),
    }
}

/// The master secret may act only on the server the rotated secret names, and never on
/// its own user: the same place (for a service reached by host, the same `host` (ignoring
/// case), `port` (`default_port` when absent) and `engine` (when both name one); for one
/// reached by URL, the same `url`), and neither the current nor the pending user is the
/// master's. Which of the two is compared is the backend's fact ([`Place`]), never the
/// secret's: a `url` in a database's secret does not skip the host check.
pub fn check_master(
    place: Place,
    current: &SecretValue,
    pending: &SecretValue,
    master: &SecretValue,
) -> Result<(), Refusal> {
    let m = master
        .json()
        .map_err(|_| Refusal("the master secret is not a JSON object".into()))?;
    let default_port = match place {
        Place::Host { default_port } => default_port,
        Place::Url => {
            let url = current.json().ok().and_then(|c| c.get("url"));
            if url.is_none() || m.get("url") != url {
                return Err(Refusal(
                    "the secret's `url` is not the master secret's `url`; a master acts only on its own service (give the master secret the same `url`)".into(),
                ));
            }
            return check_not_master_user(m, current, pending);
        }
    };
    let host_of = |v: &SecretValue| v.host().ok().map(str::to_ascii_lowercase);
    let master_host = host_of(master).ok_or_else(|| {
        Refusal("the master secret has no `host`, so rotgen cannot check that it belongs to the secret's server; add `host` and `port` to it".into())
    })?;
    if host_of(current).as_deref() != Some(master_host.as_str()) {
        return Err(Refusal(
            "the secret's `host` is not the master secret's `host`; a master acts only on its own server (fix `host` in the secret)".into(),
        ));
    }
    match (current.port(default_port), master.port(default_port)) {
        (Ok(a), Ok(b)) if a == b => {}
        _ => {
            return Err(Refusal(
                "the secret's `port` is not the master secret's `port`; a master acts only on its own server (fix `port` in the secret)".into(),
            ));
        }
    }
    let engine = |v: &SecretValue| v.engine().ok().flatten().map(str::to_ascii_lowercase);
    if let (Some(a), Some(b)) = (engine(current), engine(master))
        && a != b
    {
        return Err(Refusal(format!(
            "the secret's `engine` ({a}) is not the master secret's ({b}); a master acts only on its own server"
        )));
    }
    check_not_master_user(m, current, pending)
}

/// A master secret RDS manages holds no `host`: the function's configuration names the
/// DB instance or cluster that owns it, and RDS answered `endpoint` for that resource. The
/// rotated secret's `host` (ignoring case) and `port` (`default_port` when absent) must be
/// that endpoint; the master is then returned with the endpoint as its `host` and `port`,
/// for [`check_master`] (which also keeps it off its own user).
pub fn rds_master(
    default_port: u16,
    resource: &super::rds::RdsResource,
    endpoint: &super::rds::RdsEndpoint,
    current: &SecretValue,
    master: &SecretValue,
) -> Result<SecretValue, Refusal> {
    let SecretValue::Json(m) = master else {
        return Err(Refusal("the master secret is not a JSON object".into()));
    };
    let host = current.host().map_err(|_| {
        Refusal(format!(
            "the secret has no string `host`, so rotgen cannot check that it is {resource}, whose master password the master secret holds; add `host` and `port` (the endpoint RDS shows for {resource}) to the secret"
        ))
    })?;
    if !host.eq_ignore_ascii_case(&endpoint.address) {
        return Err(Refusal(format!(
            "the secret's `host` is not the endpoint RDS gives for {resource}, whose master password the master secret holds; a master acts only on its own server (fix `host` in the secret: the endpoint RDS shows for {resource})"
        )));
    }
    match current.port(default_port) {
        Ok(p) if p == endpoint.port => {}
        _ => {
            return Err(Refusal(format!(
                "the secret's `port` is not the port RDS gives for {resource} ({}), whose master password the master secret holds; a master acts only on its own server (fix `port` in the secret)",
                endpoint.port
            )));
        }
    }
    let mut bound = m.clone();
    bound.insert("host".into(), Value::String(endpoint.address.clone()));
    bound.insert("port".into(), Value::from(endpoint.port));
    Ok(SecretValue::Json(bound))
}

/// Neither the current nor the pending user is the master's own.
fn check_not_master_user(
    m: &serde_json::Map<String, Value>,
    current: &SecretValue,
    pending: &SecretValue,
) -> Result<(), Refusal> {
    let master_user = m.get("username").and_then(Value::as_str).unwrap_or("");
    for (which, v) in [("AWSCURRENT", current), ("AWSPENDING", pending)] {
        if let Ok(u) = v.username()
            && !master_user.is_empty()
            && u.eq_ignore_ascii_case(master_user)
        {
            return Err(Refusal(format!(
                "{which} names the master's own user {u}; the master never changes its own password through an application's secret"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/master-AbCdEf";

    #[test]
    fn masters_match_by_arn_name_or_partial_arn() {
        assert!(Masters::of([FULL]).allows(FULL));
        assert!(Masters::of(["prod/master"]).allows(FULL));
        assert!(
            Masters::of(["arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/master"])
                .allows(FULL)
        );
        assert!(!Masters::of(["prod/mast"]).allows(FULL));
        assert!(!Masters::of(["prod"]).allows(FULL));
        assert!(
            !Masters::of(["arn:aws:secretsmanager:us-east-1:999999999999:secret:prod/master"])
                .allows(FULL)
        );
        assert!(!Masters::of([FULL]).allows("prod/master"));
        assert!(!Masters::none().allows(FULL));
        assert!(Masters::of(["a, ", FULL]).allows(FULL));
    }

    fn v(s: &str) -> SecretValue {
        SecretValue::parse(s)
    }

    #[test]
    fn pending_may_change_only_the_password() {
        let c = v(r#"{"host":"db","username":"app","password":"a"}"#);
        let ok = v(r#"{"host":"db","username":"app","password":"b"}"#);
        assert!(check_pending(Strategy::SingleUser, 63, &c, &ok).is_ok());
        let victim = v(r#"{"host":"db","username":"victim","password":"b"}"#);
        let e = check_pending(Strategy::SingleUser, 63, &c, &victim).unwrap_err();
        assert!(e.0.contains("victim"), "{}", e.0);
        let moved = v(r#"{"host":"evil","username":"app","password":"b"}"#);
        assert!(check_pending(Strategy::SingleUser, 63, &c, &moved).is_err());
        let clone = v(r#"{"host":"db","username":"app_clone","password":"b"}"#);
        assert!(check_pending(Strategy::AlternatingUsers, 63, &c, &clone).is_ok());
        assert!(check_pending(Strategy::AlternatingUsers, 63, &c, &victim).is_err());
        assert!(check_pending(Strategy::AlternatingUsers, 63, &c, &ok).is_err());
    }

    #[test]
    fn previous_stands_in_only_for_the_same_user_and_place() {
        let c = v(r#"{"host":"evil","username":"app","password":"x"}"#);
        let p = v(r#"{"host":"db","username":"app","password":"old"}"#);
        assert!(check_previous(&c, &p).is_err());
        let c = v(r#"{"host":"db","username":"app","password":"x"}"#);
        assert!(check_previous(&c, &p).is_ok());
        // A plain-text AWSPREVIOUS names no user or place: it stands in for no JSON value.
        assert!(check_previous(&c, &v("old-password")).is_err());
        assert!(check_previous(&v("x"), &p).is_err());
        assert!(check_previous(&v("x"), &v("old-password")).is_ok());
    }

    #[test]
    fn masters_act_on_their_own_server_only() {
        const PG: Place = Place::Host { default_port: 5432 };
        let master =
            v(r#"{"host":"DB","port":5432,"engine":"postgres","username":"root","password":"m"}"#);
        let c = v(r#"{"host":"db","engine":"postgres","username":"app","password":"a"}"#);
        let p = v(r#"{"host":"db","engine":"postgres","username":"app_clone","password":"b"}"#);
        assert!(check_master(PG, &c, &p, &master).is_ok());
        let elsewhere = v(r#"{"host":"evil","username":"app","password":"a"}"#);
        assert!(check_master(PG, &elsewhere, &p, &master).is_err());
        let port = v(r#"{"host":"db","port":6000,"username":"app","password":"a"}"#);
        assert!(check_master(PG, &port, &p, &master).is_err());
        let root = v(r#"{"host":"db","username":"root","password":"b"}"#);
        assert!(check_master(PG, &c, &root, &master).is_err());
        assert!(check_master(PG, &root, &p, &master).is_err());
        let hostless = v(r#"{"username":"root","password":"m"}"#);
        assert!(check_master(PG, &c, &p, &hostless).is_err());
        // By URL (http).
        let hc = v(r#"{"url":"https://api/pw","username":"app","password":"a"}"#);
        let hp = v(r#"{"url":"https://api/pw","username":"app","password":"b"}"#);
        let hm = v(r#"{"url":"https://api/pw","username":"admin","password":"m"}"#);
        assert!(check_master(Place::Url, &hc, &hp, &hm).is_ok());
        let other = v(r#"{"url":"https://evil/pw","username":"admin","password":"m"}"#);
        assert!(check_master(Place::Url, &hc, &hp, &other).is_err());
        let urlless = v(r#"{"host":"api","username":"app","password":"a"}"#);
        assert!(check_master(Place::Url, &urlless, &hp, &hm).is_err());
        // A `url` in a database's secret (the master's too) does not skip the host check:
        // which place is compared is the backend's, not the secret's.
        let um = v(r#"{"host":"db","url":"u","username":"root","password":"m"}"#);
        let uc = v(r#"{"host":"evil","url":"u","username":"app","password":"a"}"#);
        assert!(check_master(PG, &uc, &p, &um).is_err());
        let uc = v(r#"{"host":"db","url":"u","username":"app","password":"a"}"#);
        assert!(check_master(PG, &uc, &p, &um).is_ok());
    }

    #[test]
    fn rds_masters_act_on_the_endpoint_rds_gives_only() {
        use crate::rotation::rds::{RdsEndpoint, RdsKind, RdsResource};
        let res = RdsResource {
            kind: RdsKind::Instance,
            id: "orders-db".into(),
        };
        let ep = RdsEndpoint {
            address: "orders-db.abc.us-east-1.rds.amazonaws.com".into(),
            port: 5432,
        };
        let master = v(r#"{"username":"postgres","password":"m"}"#);
        let c = v(
            r#"{"host":"Orders-DB.abc.us-east-1.rds.amazonaws.com","username":"app","password":"a"}"#,
        );
        let p = v(
            r#"{"host":"Orders-DB.abc.us-east-1.rds.amazonaws.com","username":"app_clone","password":"b"}"#,
        );
        let bound = rds_master(5432, &res, &ep, &c, &master).unwrap();
        assert_eq!(bound.host().unwrap(), ep.address);
        assert_eq!(bound.port(0).unwrap(), 5432);
        assert!(check_master(Place::Host { default_port: 5432 }, &c, &p, &bound).is_ok());
        let elsewhere = v(r#"{"host":"evil.example","username":"app","password":"a"}"#);
        let e = rds_master(5432, &res, &ep, &elsewhere, &master).unwrap_err();
        assert!(
            e.0.contains("instance orders-db") && !e.0.contains("evil"),
            "{}",
            e.0
        );
        let port = v(
            r#"{"host":"orders-db.abc.us-east-1.rds.amazonaws.com","port":6543,"username":"app","password":"a"}"#,
        );
        assert!(rds_master(5432, &res, &ep, &port, &master).is_err());
        let hostless = v(r#"{"username":"app","password":"a"}"#);
        assert!(rds_master(5432, &res, &ep, &hostless, &master).is_err());
        // The master's own user stays off limits.
        let own = v(
            r#"{"host":"orders-db.abc.us-east-1.rds.amazonaws.com","username":"postgres","password":"a"}"#,
        );
        let bound = rds_master(5432, &res, &ep, &own, &master).unwrap();
        assert!(check_master(Place::Host { default_port: 5432 }, &own, &p, &bound).is_err());
    }
}
