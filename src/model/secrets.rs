//! Each `[[secret]]` on its own, before it joins a function: its id, where it is (`arn`,
//! `name` or `create`, one secret rotated once), its strategy and master (RDS's masters
//! too), its KMS keys, aws-iam's user, http-token's owner and API contract, its port, and
//! its password policy. The result is a `Resolved` per secret.
//!
//! Checks and values only, no I/O.

use super::services::{self, Alternating, User};
use super::{
    Cx, Naming, Password, Resolved, SCHEDULE_SUFFIX, StackPlace, arn, holds_wildcard, reference,
    refs_in, sub,
};
use crate::diag::{Diagnostic, Loc};
use crate::rotation::rds::RdsResource;
use crate::spec::{self, Sp, Spec, Val};
use serde_json::{Value, json};

/// AWS's rotation functions' default `EXCLUDE_CHARACTERS`.
const DEFAULT_EXCLUDE: &str = "/@\"'\\";

impl Cx {
    pub(super) fn secrets(
        &mut self,
        spec: &Spec,
        naming: &Naming,
        stack: Option<&StackPlace>,
    ) -> Vec<Resolved> {
        let mut out = Vec::new();
        let mut ids: std::collections::HashMap<String, Loc> = std::collections::HashMap::new();
        let mut refs: std::collections::HashMap<String, Loc> = std::collections::HashMap::new();
        let mut iam_users: std::collections::HashMap<String, Loc> =
            std::collections::HashMap::new();
        for secret in &spec.secrets {
            let Some(id) = &secret.id else { continue };
            if id.v.is_empty() || !id.v.bytes().all(|b| b.is_ascii_alphanumeric()) {
                self.err(
                    &id.loc,
                    format!("id \"{}\" is not letters and digits only", id.v),
                    format!(
                        "CloudFormation logical IDs are alphanumeric: try \"{}\"",
                        id.v.chars()
                            .filter(char::is_ascii_alphanumeric)
                            .collect::<String>()
                    ),
                );
            } else if naming.secret_prefix.len() + id.v.len() + SCHEDULE_SUFFIX.len()
                > crate::limits::MAX_NAME
            {
                // The longest ID made from it: its schedule's (also an output's name).
                let prefix = &naming.secret_prefix;
                let max =
                    crate::limits::MAX_NAME.saturating_sub(prefix.len() + SCHEDULE_SUFFIX.len());
                let short = |s: &str| {
                    if s.chars().count() > 12 {
                        format!("{}…", s.chars().take(12).collect::<String>())
                    } else {
                        s.to_string()
                    }
                };
                self.err(
                    &id.loc,
                    format!(
                        "its schedule's logical ID {}{}{SCHEDULE_SUFFIX} would have {} characters; CloudFormation allows 255",
                        short(prefix),
                        short(&id.v),
                        prefix.len() + id.v.len() + SCHEDULE_SUFFIX.len(),
                    ),
                    if prefix.is_empty() {
                        format!("shorten the id to at most {max} characters")
                    } else if max == 0 {
                        format!("shorten the logical ID {} of the Rotgen::Rotation", short(prefix))
                    } else {
                        format!("shorten the id to at most {max} characters, or the Rotgen::Rotation's logical ID")
                    },
                );
            }
            if let Some((_, first)) = ids.get(&id.v.to_ascii_lowercase()).map(|l| ((), l)) {
                let first = first.clone();
                self.errors.push(
                    Diagnostic::new(&id.loc, format!("id \"{}\" is used twice", id.v))
                        .help("ids must be unique, ignoring case (they become logical IDs): rename one")
                        .related(&first, "the first"),
                );
            } else {
                ids.insert(id.v.to_ascii_lowercase(), id.loc.clone());
            }
            let Some(service) = &secret.service else {
                // A service the decoder refused: what does not depend on it is still
                // checked, so that fixing it brings no new problem to light.
                self.schedule(spec, secret);
                continue;
            };
            let service = service.v.as_str();
            let svc = services::get(service);

            let strategy = secret
                .strategy
                .as_ref()
                .map_or("single-user", |s| s.v.as_str());
            let alternates = svc.alternating == Alternating::Takes;
            match (strategy, &secret.master_secret_arn) {
                // A master_secret_arn the decoder refused is reported there.
                ("alternating-users", None)
                    if alternates && !secret.rejected.contains(&"master_secret_arn") =>
                {
                    let loc = secret
                        .strategy
                        .as_ref()
                        .map_or(&secret.loc, |s| &s.loc)
                        .clone();
                    self.err(&loc, "alternating-users needs master_secret_arn", "add master_secret_arn = \"arn:aws:secretsmanager:...\": the secret of a user that can create users and grant privileges");
                }
                ("single-user", Some(m)) => {
                    if let Some(why) = svc.master_refused {
                        self.err(&m.loc, why, "remove master_secret_arn");
                    }
                }
                _ => {}
            }
            if strategy == "alternating-users"
                && let Alternating::Refused(help) = svc.alternating
            {
                let loc = secret
                    .strategy
                    .as_ref()
                    .map_or(&secret.loc, |s| &s.loc)
                    .clone();
                self.err(
                    &loc,
                    format!("{service} does not rotate with alternating users"),
                    help,
                );
            }
            self.check_lit(
                &secret.master_secret_arn,
                "master_secret_arn",
                arn::check_secret_arn,
                "copy the full ARN from the Secrets Manager console",
            );
            if let Some(Sp {
                v: Val::Lit(m),
                loc,
            }) = &secret.master_secret_arn
                && let Some(managed) = arn::managed_by(m)
                && (managed != "rds" || !svc.rds_master)
            {
                self.err(loc, format!("master_secret_arn names a secret {managed} manages, which holds no host: the function checks that a secret belongs to its master's server by the master's host and port"), "name a master secret of your own, in AWS's shape with host and port (for RDS: a user with CREATEROLE, or CREATE USER on MySQL)");
            }
            let master_rds = self.master_rds(secret, service);
            for v in [&secret.arn, &secret.name].into_iter().flatten() {
                if let Val::Lit(s) = &v.v
                    && let Some(service) = arn::managed_by(s)
                {
                    self.err(
                        &v.loc,
                        format!("this secret is managed by {service}, which rotates it itself"),
                        format!("leave its rotation to {service}; rotgen rotates secrets you own"),
                    );
                }
            }
            self.check_lit(
                &secret.kms_key_arn,
                "kms_key_arn",
                arn::check_kms_key_arn,
                "write a key ARN: arn:aws:kms:REGION:ACCOUNT:key/ID",
            );

            let p = &naming.secret_prefix;
            let given = |key: &str, v: bool| v || secret.rejected.contains(&key);
            let sources = [
                given("arn", secret.arn.is_some()),
                given("name", secret.name.is_some()),
                given("create", secret.create.is_some()),
            ];
            let count = sources.iter().filter(|b| **b).count();
            if count != 1 {
                self.err(&secret.loc, if count == 0 { format!("secret \"{}\" says neither arn, name nor create", id.v) } else { format!("secret \"{}\" gives more than one of arn, name and create", id.v) }, "name an existing secret with arn = \"...\" or name = \"...\", or create one with create = { ... }");
            }
            let mut create = None;
            let (secret_id, policy_arn) = if let Some(a) = &secret.arn {
                self.check_lit(&secret.arn, "arn", arn::check_secret_arn, "copy the full ARN (ending in -XXXXXX) from the Secrets Manager console, or use name = \"...\"");
                if let Val::Lit(s) = &a.v
                    && arn::check_secret_arn(s).is_ok()
                    && let Some(sfx) = s.rsplit_once('-').map(|(_, x)| x)
                    && sfx.bytes().all(|b| b.is_ascii_lowercase())
                {
                    self.warnings.push(Diagnostic::new(&a.loc, format!("arn ends in \"-{sfx}\", which looks like part of the secret's name rather than the six random characters Secrets Manager appends: if it is a partial ARN, IAM will not match the real secret")).help(format!("copy the full ARN from the console (it ends in -XXXXXX), or write name = \"{}\" instead", s.rsplit_once(":secret:").map_or(s.as_str(), |(_, n)| n))));
                }
                (a.v.to_json(), a.v.to_json())
            } else if let Some(n) = &secret.name {
                match &n.v {
                    Val::Lit(s) => {
                        if let Err(why) = arn::check_secret_name(s) {
                            self.err(
                                &n.loc,
                                format!("name \"{s}\" is not valid: {why}"),
                                "use the secret's name as Secrets Manager shows it",
                            );
                        } else if s.starts_with("arn:") {
                            self.err(&n.loc, "name holds an ARN", "write it as arn = \"...\"");
                        }
                        (
                            json!(s),
                            sub(&format!(
                                "arn:${{AWS::Partition}}:secretsmanager:${{AWS::Region}}:${{AWS::AccountId}}:secret:{s}-??????"
                            )),
                        )
                    }
                    Val::Expr(e) => {
                        if holds_wildcard(e) {
                            self.err(&n.loc, "name is a CloudFormation function whose text holds * or ?, which IAM reads as a wildcard: the role would reach more than this secret", "name exactly one secret: a literal name, or a Ref or ImportValue of one");
                        }
                        refs_in(e, &mut self.arn_params);
                        (
                            e.clone(),
                            json!({"Fn::Join": ["", [sub("arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:"), e, "-??????"]]}),
                        )
                    }
                }
            } else if let Some(c) = &secret.create {
                let rid = format!("{p}{}Secret", id.v);
                create = self.create(c, &rid, service, secret, spec);
                (reference(&rid), reference(&rid))
            } else {
                (Value::Null, Value::Null)
            };
            // The secret's name, however it is reached (ARN, name, or the name of the
            // secret created here): one secret has one schedule.
            let key = match &secret_id {
                Value::String(s) => Some(s.clone()),
                _ => secret
                    .create
                    .as_ref()
                    .and_then(|c| c.name.as_ref())
                    .and_then(|n| match &n.v {
                        Val::Lit(s) => Some(s.clone()),
                        Val::Expr(_) => None,
                    }),
            };
            if let Some(key) = key {
                let short = key
                    .strip_prefix("arn:")
                    .and_then(|a| a.split_once(":secret:"))
                    .map_or(key.clone(), |(_, n)| match n.rsplit_once('-') {
                        Some((name, sfx))
                            if sfx.len() == 6 && sfx.bytes().all(|b| b.is_ascii_alphanumeric()) =>
                        {
                            name.to_string()
                        }
                        _ => n.to_string(),
                    });
                if let Some((_, first)) = refs.get(&short).map(|l| ((), l)) {
                    let first = first.clone();
                    self.errors.push(
                        Diagnostic::new(
                            &secret.loc,
                            format!("secret \"{short}\" is rotated twice"),
                        )
                        .help("a secret has one rotation schedule: remove one of the entries")
                        .related(&first, "the other entry"),
                    );
                } else {
                    refs.insert(short, secret.loc.clone());
                }
            }
            let iam_user = self.iam_user(secret, service);
            // One IAM user, one secret: two secrets of one user would each take the
            // other's key for someone else's (names are case-insensitive, and a path
            // does not make another user).
            if let (Some(u), Some(at)) = (&iam_user, secret.user.as_ref()) {
                let key = u.rsplit('/').next().unwrap_or(u).to_ascii_lowercase();
                match iam_users.get(&key) {
                    Some(first) => {
                        let first: Loc = Clone::clone(first);
                        self.errors.push(
                            Diagnostic::new(&at.loc, format!("IAM user {u} already has a secret in this spec"))
                                .help("rotate one user's keys with one secret (IAM user names are case-insensitive; a path does not make another user): remove one, or name another user")
                                .related(&first, "the first"),
                        );
                    }
                    None => {
                        iam_users.insert(key, at.loc.clone());
                    }
                }
            }
            let (token_user, token_api) = self.token_api(secret, service);
            let password = self.password(spec, secret, service);
            let schedule = self.schedule(spec, secret);
            self.check_lit(
                &secret.master_kms_key_arn,
                "master_kms_key_arn",
                arn::check_kms_key_arn,
                "write a key ARN: arn:aws:kms:REGION:ACCOUNT:key/ID",
            );
            if let (Some(k), None) = (&secret.master_kms_key_arn, &secret.master_secret_arn)
                && !secret.rejected.contains(&"master_secret_arn")
            {
                self.err(&k.loc, "master_kms_key_arn without master_secret_arn", "name the master secret it encrypts with master_secret_arn, or remove master_kms_key_arn");
            }
            let mut kms_keys: Vec<Value> = secret
                .kms_key_arn
                .iter()
                .chain(secret.master_kms_key_arn.iter())
                .map(|k| k.v.to_json())
                .collect();
            kms_keys.dedup();
            if let (Some(p), Some(_)) = (&secret.port, &secret.create) {
                self.err(
                    &p.loc,
                    "port is for existing secrets; a created secret says its port in create",
                    "write create = { ..., port = N }",
                );
            }
            let port = secret
                .create
                .as_ref()
                .and_then(|c| c.port.as_ref())
                .or(secret.port.as_ref())
                .map_or(svc.default_port, |p| p.v as u16);
            let Some((schedule_rules, mut rotate_immediately)) = schedule else {
                continue;
            };
            // A secret created here holds a password the service has never seen: a
            // rotation can only start once someone set it there (see docs/spec.md, "The
            // first password"), so the schedule does not rotate at once.
            if secret.create.is_some() && svc.needs_server {
                if rotate_immediately == Some(true) {
                    let loc = secret
                        .schedule
                        .as_ref()
                        .and_then(|s| s.rotate_immediately.as_ref())
                        .or_else(|| {
                            spec.schedule
                                .as_ref()
                                .and_then(|s| s.rotate_immediately.as_ref())
                        })
                        .map_or(&secret.loc, |r| &r.loc)
                        .clone();
                    self.err(&loc, format!("secret \"{}\" is created here, so the service does not know its password yet and an immediate rotation would fail", id.v), "leave rotate_immediately out (false for created secrets): set the first password on the service, then let the schedule rotate (docs/spec.md: \"The first password\")");
                }
                rotate_immediately = Some(false);
            }
            // The account that owns the secret, when its ARN says and it is not the
            // stack's own: Secrets Manager invokes the function from there.
            let owner = match &secret.arn {
                Some(Sp { v: Val::Lit(a), .. }) => arn::parse(a)
                    .map(|a| a.account.to_string())
                    .filter(|acct| stack.is_none_or(|s| s.account != *acct)),
                _ => None,
            };
            out.push(Resolved {
                owner,
                id: id.v.clone(),
                service: service.to_string(),
                strategy: strategy.to_string(),
                password,
                schedule_rules,
                rotate_immediately,
                secret_id,
                policy_arn,
                master_arn: secret.master_secret_arn.as_ref().map(|m| m.v.to_json()),
                master_rds,
                kms_keys,
                create,
                port,
                iam_user,
                token_user,
                token_api,
            });
        }
        out
    }

    /// The RDS instance or cluster that owns the secret's master, when RDS manages the
    /// master (`rds!db-…`, `rds!cluster-…`: no host, so the function binds it to its server
    /// through RDS): required then, refused otherwise.
    pub(super) fn master_rds(
        &mut self,
        secret: &spec::Secret,
        service: &str,
    ) -> Option<RdsResource> {
        use crate::rotation::rds::{self, RdsKind};
        let given: Vec<(RdsKind, &Sp<String>)> = [
            (RdsKind::Instance, &secret.master_rds_instance),
            (RdsKind::Cluster, &secret.master_rds_cluster),
        ]
        .into_iter()
        .filter_map(|(k, v)| Some((k, v.as_ref()?)))
        .collect();
        let key = |k: RdsKind| format!("master_rds_{}", k.as_str());
        let master = secret.master_secret_arn.as_ref();
        let managed = match master.map(|m| &m.v) {
            Some(Val::Lit(m)) if rds::is_rds_managed(m) => Some(rds::managed_master(m)),
            _ => None,
        };
        let decoder_refused = secret.rejected.contains(&"master_rds_instance")
            || secret.rejected.contains(&"master_rds_cluster");
        if let [(_, a), (_, _)] = given.as_slice() {
            self.err(&a.loc, "master_rds_instance and master_rds_cluster both name the master's owner", "keep the one RDS manages the master password for: master_rds_instance for rds!db-…, master_rds_cluster for rds!cluster-…");
            return None;
        }
        let Some(&(kind, id)) = given.first() else {
            if let (Some(_), Some(m)) = (managed, master)
                && !decoder_refused
            {
                let which = match managed.flatten() {
                    Some(RdsKind::Cluster) => {
                        "master_rds_cluster = \"CLUSTER-ID\" (the Aurora cluster"
                    }
                    _ => "master_rds_instance = \"DB-INSTANCE-ID\" (the DB instance",
                };
                self.err(&m.loc, "master_secret_arn names a master password RDS manages, which holds no host, and the secret names no RDS resource that owns it: the function could not tell which server the master belongs to", format!("add {which} whose master password this is); the function then asks RDS for its endpoint and uses the master only there"));
            }
            return None;
        };
        let name = key(kind);
        let mut ok = true;
        if let Err(why) = rds::check_identifier(&id.v) {
            self.err(&id.loc, format!("{name} \"{}\" is not an RDS identifier: {why}", id.v), "write the identifier as the RDS console shows it: 1 to 63 letters, digits or hyphens, starting with a letter, no trailing hyphen and no two in a row");
            ok = false;
        }
        if !services::get(service).rds_master {
            self.err(
                &id.loc,
                format!(
                    "{name} is for {} secrets, not {service}",
                    services::listed(|s| s.rds_master)
                ),
                format!("remove {name}"),
            );
            return None;
        }
        match (master, managed) {
            (None, _) => {
                self.err(&id.loc, format!("{name} without master_secret_arn"), format!("name the master secret RDS manages for it with master_secret_arn, or remove {name}"));
                return None;
            }
            (Some(Sp { v: Val::Lit(_), .. }), None) => {
                self.err(&id.loc, format!("{name} is only for a master secret RDS manages (rds!db-… or rds!cluster-…), and master_secret_arn names one of your own"), format!("remove {name}: a master secret of your own says its server with host and port"));
                return None;
            }
            (Some(_), Some(Some(k))) if k != kind => {
                self.err(&id.loc, format!("{name} names {}, but master_secret_arn names the master secret of an RDS {} ({}…)", if kind == RdsKind::Instance { "an instance" } else { "a cluster" }, k.as_str(), k.secret_prefix()), format!("write master_rds_{} instead, or check master_secret_arn", k.as_str()));
                return None;
            }
            _ => {}
        }
        // In a `[vpc]` the function reaches the RDS API through the RDS endpoint rotgen
        // makes beside Secrets Manager's (`vpc`), or, with `endpoint = false`, the way
        // the VPC reaches AWS's APIs (the user's NAT gateway or endpoints).
        ok.then(|| RdsResource {
            kind,
            id: id.v.clone(),
        })
    }

    /// An http-token secret's `user` and `token_api` (the contract, as JSON): required
    /// there, `token_api` refused elsewhere.
    pub(super) fn token_api(
        &mut self,
        secret: &spec::Secret,
        service: &str,
    ) -> (Option<String>, Option<String>) {
        use crate::backends::http_token;
        if services::get(service).user != User::TokenOwner {
            if let Some(t) = &secret.token_api {
                self.err(
                    &t.loc,
                    format!(
                        "`token_api` is for {} secrets; this one is {service}",
                        services::listed(|s| s.user == User::TokenOwner)
                    ),
                    "remove token_api, or set service = \"http-token\"",
                );
            }
            return (None, None);
        }
        let user = match &secret.user {
            Some(u) if !u.v.is_empty() && !u.v.contains(',') && u.v.trim() == u.v => {
                Some(u.v.clone())
            }
            Some(u) => {
                self.err(
                    &u.loc,
                    format!("`{}` cannot be a token owner's name", u.v),
                    "write the owner as the who-am-i answer names it (no commas, no surrounding spaces)",
                );
                None
            }
            None if secret.rejected.contains(&"user") => None,
            None => {
                self.err(
                    &secret.loc,
                    "an http-token secret needs `user`",
                    "add user = \"NAME\": the owner of the tokens, as the API's who-am-i answer names it",
                );
                None
            }
        };
        let Some(t) = &secret.token_api else {
            if secret.rejected.contains(&"token_api") {
                return (user, None);
            }
            self.err(
                &secret.loc,
                "an http-token secret needs `token_api`",
                "add token_api = { issue_url = \"https://…\", list_url = \"https://…\", revoke_url = \"https://…/{id}\", whoami_url = \"https://…\" }",
            );
            return (user, None);
        };
        let mut ok = true;
        let mut contract = serde_json::Map::new();
        for (name, v) in &t.fields {
            let problem = if http_token::URL_FIELDS.contains(name) {
                http_token::check_url(name, &v.v).err()
            } else {
                http_token::check_pointer(name, &v.v).err()
            };
            if let Some(why) = problem {
                self.err(&v.loc, why, match *name {
                    "revoke_url" => "write the revoke URL with {id} where the token's id goes: https://api.example/tokens/{id}",
                    n if n.ends_with("_url") => "write an https:// URL without user or password",
                    _ => "write a JSON Pointer (RFC 6901), like /data/token",
                });
                ok = false;
            }
            contract.insert((*name).into(), json!(v.v));
        }
        if let Some(l) = &t.limit {
            contract.insert("limit".into(), json!(l.v));
        }
        if !ok {
            return (user, None);
        }
        // Missing required fields were reported by the decoder; the contract must parse
        // as the function will read it.
        let text = Value::Object(contract).to_string();
        match http_token::Contract::parse(&text) {
            Ok(parsed) => {
                if secret.master_secret_arn.is_some() {
                    let unscoped = parsed.unscoped_admin_urls();
                    for (name, v) in t.fields.iter().filter(|(n, _)| unscoped.contains(n)) {
                        self.err(
                            &v.loc,
                            format!("{name} has no {{user}}: {}", http_token::ADMIN_URL_REASON),
                            if *name == "revoke_url" {
                                "put {user} where the owner goes: https://api.example/users/{user}/tokens/{id}"
                            } else {
                                "put {user} where the owner goes: https://api.example/users/{user}/tokens"
                            },
                        );
                    }
                    if !unscoped.is_empty() {
                        return (user, None);
                    }
                }
                (user, Some(text))
            }
            Err(_) => (user, None),
        }
    }

    /// An aws-iam secret's `user`: required there, refused elsewhere.
    pub(super) fn iam_user(&mut self, secret: &spec::Secret, service: &str) -> Option<String> {
        match (&secret.user, services::get(service).user) {
            (Some(u), User::IamUser) => {
                // NAME, or PATH/NAME for a user with a path (its ARN holds the path).
                let part_ok = |p: &str| {
                    !p.is_empty()
                        && p.chars()
                            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
                };
                let name = u.v.rsplit('/').next().unwrap_or("");
                if name.len() > 64 || u.v.len() > 512 || !u.v.split('/').all(part_ok) {
                    self.err(
                        &u.loc,
                        format!("`{}` is not an IAM user name", u.v),
                        "write the user's name (1 to 64 letters, digits and + = , . @ _ -), or PATH/NAME for a user with a path",
                    );
                }
                Some(u.v.clone())
            }
            (None, User::IamUser) if !secret.rejected.contains(&"user") => {
                self.err(
                    &secret.loc,
                    "an aws-iam secret needs `user`",
                    "add user = \"NAME\": the IAM user whose access keys the secret holds",
                );
                None
            }
            (_, User::TokenOwner) => None,
            (Some(u), _) => {
                self.err(
                    &u.loc,
                    format!(
                        "`user` is for {} secrets; this one is {service}",
                        services::listed(|s| s.user != User::None)
                    ),
                    "remove user (a database secret names its user in its value)",
                );
                None
            }
            (None, _) => None,
        }
    }

    pub(super) fn password(
        &mut self,
        spec: &Spec,
        secret: &spec::Secret,
        service: &str,
    ) -> Password {
        let layers = [secret.password.as_ref(), spec.password.as_ref()];
        macro_rules! pick {
            ($field:ident, $default:expr) => {
                layers
                    .iter()
                    .flatten()
                    .find_map(|p| p.$field.as_ref())
                    .map_or($default, |v| v.v.clone())
            };
        }
        let default_exclude = format!("{DEFAULT_EXCLUDE}{}", services::get(service).exclude_also);
        let p = Password {
            length: pick!(length, 32),
            exclude_characters: pick!(exclude_characters, default_exclude),
            exclude_numbers: pick!(exclude_numbers, false),
            exclude_punctuation: pick!(exclude_punctuation, false),
            exclude_uppercase: pick!(exclude_uppercase, false),
            exclude_lowercase: pick!(exclude_lowercase, false),
            require_each_included_type: pick!(require_each_included_type, true),
        };
        if p.exclude_numbers && p.exclude_punctuation && p.exclude_uppercase && p.exclude_lowercase
        {
            let loc = layers
                .iter()
                .flatten()
                .find_map(|p| p.exclude_lowercase.as_ref().map(|v| v.loc.clone()))
                .unwrap_or_else(|| secret.loc.clone());
            self.err(
                &loc,
                "the password policy excludes every kind of character",
                "keep at least one of numbers, punctuation, uppercase and lowercase",
            );
        }
        p
    }
}
