//! A secret the stack creates (`create = { ... }`): what each service's secret holds (in
//! AWS's JSON shape), user names within the service's limits (LDAP's as DNs), and the
//! `GenerateSecretString` that makes its first password.
//!
//! Checks and values only, no I/O.

use super::services::{self, Create, Username};
use super::{CreateModel, Cx, MAX_SECRET_DESCRIPTION, arn};
use crate::diag::Loc;
use crate::spec::{self, Sp, Spec, Val};
use serde_json::{Value, json};

/// Whether the function of `service` runs in the spec's VPC. aws-iam's does not: IAM and
/// STS are public AWS endpoints (IAM has no interface endpoint), and it reaches no
/// private network.
/// RFC 4514 in the small: comma-separated RDNs of `type=value` (`+` joins several), a
/// type that is a name or an OID, specials in values escaped with a backslash.
fn check_dn(dn: &str) -> Result<(), String> {
    if dn.is_empty() {
        return Err("it is empty (an anonymous bind)".into());
    }
    let mut rdns: Vec<String> = vec![String::new()];
    let mut chars = dn.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(next) = chars.next() else {
                    return Err("it ends in a lone backslash".into());
                };
                let last = rdns.last_mut().expect("one rdn");
                last.push('\\');
                last.push(next);
            }
            ',' => rdns.push(String::new()),
            c => rdns.last_mut().expect("one rdn").push(c),
        }
    }
    for rdn in &rdns {
        for ava in rdn.split('+') {
            let Some((ty, value)) = ava.split_once('=') else {
                return Err(format!("`{}` has no `=`", ava.trim()));
            };
            let ty = ty.trim();
            let name = ty.starts_with(|c: char| c.is_ascii_alphabetic())
                && ty.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            let oid = !ty.is_empty()
                && ty
                    .split('.')
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
            if !name && !oid {
                return Err(format!("`{ty}` is not an attribute type"));
            }
            if value.trim().is_empty() {
                return Err(format!("`{ty}` has no value"));
            }
            if value.contains(['"', ';', '<', '>']) && !value.contains('\\') {
                return Err(format!("the value of `{ty}` has a character to escape"));
            }
        }
    }
    Ok(())
}

/// `SecretStringTemplate`: a JSON string, or a `Fn::Join` building one when a value is
/// an intrinsic function (macro input).
fn secret_string_template(fields: &[(&str, Value)]) -> Value {
    if fields.iter().all(|(_, v)| !v.is_object()) {
        let map: serde_json::Map<String, Value> = fields
            .iter()
            .map(|(k, v)| ((*k).to_string(), v.clone()))
            .collect();
        return json!(Value::Object(map).to_string());
    }
    let mut parts: Vec<Value> = Vec::new();
    let mut lit = String::from("{");
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            lit.push(',');
        }
        lit.push_str(&json!(k).to_string());
        lit.push(':');
        if v.is_object() {
            lit.push('"');
            parts.push(json!(std::mem::take(&mut lit)));
            parts.push(v.clone());
            lit.push('"');
        } else {
            lit.push_str(&v.to_string());
        }
    }
    lit.push('}');
    parts.push(json!(lit));
    json!({"Fn::Join": ["", parts]})
}

impl Cx {
    pub(super) fn create(
        &mut self,
        c: &spec::Create,
        rid: &str,
        service: &str,
        secret: &spec::Secret,
        spec: &Spec,
    ) -> Option<CreateModel> {
        let id = secret.id.as_ref().map_or("", |i| i.v.as_str());
        let svc = services::get(service);
        let (needs, allowed) = match svc.create {
            Create::Refused { message, help } => {
                self.err(&c.loc, message, help);
                return None;
            }
            Create::Holds { needs, takes } => (needs, takes),
        };
        let given = [
            ("username", c.username.is_some()),
            ("host", c.host.is_some()),
            ("dbname", c.dbname.is_some()),
            ("url", c.url.is_some()),
            ("port", c.port.is_some()),
            ("ssl", c.ssl.is_some()),
        ]
        .map(|(k, v)| (k, v || c.rejected.contains(&k)));
        // These go inside the secret's JSON, where CloudFormation would splice a
        // function's value unescaped (a `"` in it would add keys): literals only.
        for (field, value) in [
            ("username", &c.username),
            ("host", &c.host),
            ("dbname", &c.dbname),
            ("url", &c.url),
            ("master_secret_arn", &secret.master_secret_arn),
        ] {
            if let Some(Sp {
                v: Val::Expr(_),
                loc,
            }) = value
            {
                self.err(loc, format!("{field} of a created secret is a CloudFormation function: CloudFormation would put its value into the secret's JSON without escaping it"), format!("write {field} as a literal value (a secret created elsewhere may take any value: name it with arn or name)"));
            }
        }
        for need in needs {
            if !given.iter().any(|(n, g)| n == need && *g) {
                self.err(
                    &c.loc,
                    format!("create for {service} needs `{need}`"),
                    format!("add {need} = \"...\" to create"),
                );
            }
        }
        for (name, g) in given {
            if g && !allowed.contains(&name) {
                self.err(
                    &c.loc,
                    format!("create for {service} does not take `{name}`"),
                    format!("{service} secrets hold {}", allowed.join(", ")),
                );
            }
        }
        if let Some(Sp {
            v: Val::Lit(u),
            loc,
        }) = &c.url
            && !u.starts_with("https://")
        {
            self.err(
                loc,
                format!("url \"{u}\" is not https://"),
                "the http backend sends the credentials, so it requires TLS: use https://",
            );
        }
        if let Some(Sp {
            v: Val::Lit(n),
            loc,
        }) = &c.name
            && let Err(why) = arn::check_user_secret_name(n)
        {
            self.err(
                loc,
                format!("name \"{n}\" is not valid: {why}"),
                "use letters, digits and /_+=.@-",
            );
        }
        if let Some(Sp { v: false, loc }) = &c.ssl
            && spec.function.require_tls.as_ref().is_none_or(|r| r.v)
        {
            self.err(
                loc,
                "ssl = false, but the function requires verified TLS (function.require_tls, default true)",
                "enable TLS on the server and drop `ssl`, or, for a server without TLS, set require_tls = false in [function]",
            );
        }
        // The secret's JSON, in the shape AWS's own rotation functions read.
        let mut fields: Vec<(&str, Value)> = Vec::new();
        if svc.engine {
            fields.push(("engine", json!(service)));
        }
        if let Some(h) = &c.host {
            fields.push(("host", h.v.to_json()));
        }
        if svc.tls_floor {
            fields.push((
                "port",
                json!(c.port.as_ref().map_or(svc.default_port as i64, |p| p.v)),
            ));
        }
        if let Some(u) = &c.username {
            fields.push(("username", u.v.to_json()));
            if let Val::Lit(name) = &u.v {
                let alternating = secret
                    .strategy
                    .as_ref()
                    .is_some_and(|s| s.v == "alternating-users");
                self.check_username(name, &u.loc, service, alternating);
            }
        }
        if let Some(d) = &c.dbname {
            fields.push(("dbname", d.v.to_json()));
        } else if let Some(d) = svc.default_dbname {
            fields.push(("dbname", json!(d)));
        }
        // Secrets rotgen creates ask for verified TLS unless the spec says otherwise: with
        // `ssl` absent a server that declines TLS would get the password in plaintext.
        match &c.ssl {
            Some(s) => fields.push(("ssl", json!(s.v))),
            None if svc.tls_floor => fields.push(("ssl", json!(true))),
            None => {}
        }
        if let Some(u) = &c.url {
            fields.push(("url", u.v.to_json()));
        }
        if let Some(m) = &secret.master_secret_arn {
            fields.push(("masterarn", m.v.to_json()));
        }
        let template = secret_string_template(&fields);
        let password = self.password(spec, secret, service);
        let mut generate = json!({
            "SecretStringTemplate": template,
            "GenerateStringKey": "password",
            "PasswordLength": password.length,
            "ExcludeCharacters": password.exclude_characters,
        });
        for (key, on) in [
            ("ExcludeNumbers", password.exclude_numbers),
            ("ExcludePunctuation", password.exclude_punctuation),
            ("ExcludeUppercase", password.exclude_uppercase),
            ("ExcludeLowercase", password.exclude_lowercase),
        ] {
            if on {
                generate[key] = json!(true);
            }
        }
        if !password.require_each_included_type {
            generate["RequireEachIncludedType"] = json!(false);
        }
        if let Some(d) = &c.description
            && d.v.chars().count() > MAX_SECRET_DESCRIPTION
        {
            self.err(
                &d.loc,
                format!(
                    "the description has {} characters; Secrets Manager allows {MAX_SECRET_DESCRIPTION}",
                    d.v.chars().count()
                ),
                "shorten it",
            );
        }
        Some(CreateModel {
            id: rid.to_string(),
            name: c.name.as_ref().map(|n| n.v.to_json()),
            description: c.description.as_ref().map_or_else(
                || format!("{service} credentials for {id}, rotated by rotgen"),
                |d| d.v.clone(),
            ),
            kms_key: secret.kms_key_arn.as_ref().map(|k| k.v.to_json()),
            generate,
        })
    }

    /// A created secret's user name against its service's limit (the alternating pair's
    /// `NAME_clone` too) and, for LDAP, the DN syntax.
    pub(super) fn check_username(
        &mut self,
        name: &str,
        loc: &Loc,
        service: &str,
        alternating: bool,
    ) {
        let clone = if alternating { "_clone".len() } else { 0 };
        let (limit, unit, len) = match services::get(service).username {
            Username::Bytes(limit) => (limit, "bytes", name.len()),
            Username::Chars(limit) => (limit, "characters", name.chars().count()),
            Username::Dn => {
                if let Err(why) = check_dn(name) {
                    self.err(
                        loc,
                        format!("username \"{name}\" is not a DN: {why}"),
                        "write the user's distinguished name, like uid=app,ou=people,dc=example,dc=com (RFC 4514: escape , + \" \\ < > ; with a backslash)",
                    );
                }
                return;
            }
            Username::Any => return,
        };
        if len + clone > limit {
            let why = if alternating {
                format!(
                    ", and alternating users need room for {name}_clone ({} {unit})",
                    len + clone
                )
            } else {
                String::new()
            };
            self.err(
                loc,
                format!(
                    "user name \"{name}\" is {len} {unit}; {service} takes at most {limit}{why}"
                ),
                format!("shorten it to at most {} {unit}", limit - clone),
            );
        }
    }
}
