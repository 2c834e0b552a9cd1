//! Master secrets that RDS manages (`rds!db-…`, `rds!cluster-…`): they hold only
//! `username` and `password`, no `host`, so the function cannot bind them to their server
//! by their own fields as [`super::trust::check_master`] does. Instead its configuration
//! ([`MASTER_RDS_VAR`], set by `rotgen build` and the macro from the spec's
//! `master_rds_instance` / `master_rds_cluster`) names the DB instance or cluster that owns
//! each such master, and the function asks RDS for that resource's endpoint
//! ([`RdsLookup`], built once per cold start): the master acts only on a secret whose
//! `host` and `port` are that endpoint. Nothing here is read from a rotated secret.

use std::future::Future;

/// The variable binding master secrets to the RDS resources that own them: entries
/// separated by commas, each `instance:ID=MASTER` or `cluster:ID=MASTER`, where MASTER is
/// the master secret's ARN or name as in `ROTGEN_MASTER_SECRETS`.
pub const MASTER_RDS_VAR: &str = "ROTGEN_MASTER_RDS";

/// The variable giving the RDS API's URL: `https://` and the DNS name of the RDS
/// interface endpoint `rotgen build` makes in a `[vpc]` for functions whose masters RDS
/// manages. That endpoint has no private DNS (nothing else in the VPC changes route), so
/// the function must be pointed at it, as `SECRETS_MANAGER_ENDPOINT` points it at
/// Secrets Manager's. AWS's own `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_RDS` win over it
/// (see [`endpoint_override`]).
pub const ENDPOINT_VAR: &str = "ROTGEN_RDS_ENDPOINT";

/// The RDS API URL the function sets on its client, if any: [`ENDPOINT_VAR`] when it is
/// set and not empty, unless an endpoint comes from AWS's own configuration
/// (`AWS_ENDPOINT_URL`, already in `configured`, or `AWS_ENDPOINT_URL_RDS`), which then
/// wins, as it does over `SECRETS_MANAGER_ENDPOINT` for Secrets Manager: whoever sets
/// AWS's variables (a test pointing at moto, an operator running `rotgen rotate` through
/// a proxy) means every call to go there. A deployed function has none of them, so its
/// template's variable is the one used.
pub fn endpoint_override(
    configured: Option<&str>,
    var: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    if configured.is_some() || var("AWS_ENDPOINT_URL_RDS").is_some_and(|v| !v.is_empty()) {
        return None;
    }
    var(ENDPOINT_VAR).filter(|v| !v.is_empty())
}

/// A DB instance or an Aurora DB cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RdsKind {
    Instance,
    Cluster,
}

impl RdsKind {
    /// The word of [`MASTER_RDS_VAR`] and of messages.
    pub fn as_str(self) -> &'static str {
        match self {
            RdsKind::Instance => "instance",
            RdsKind::Cluster => "cluster",
        }
    }

    /// The resource type in its ARN (`arn:…:rds:REGION:ACCOUNT:db:ID`).
    pub fn arn_type(self) -> &'static str {
        match self {
            RdsKind::Instance => "db",
            RdsKind::Cluster => "cluster",
        }
    }

    /// The RDS call that describes it.
    pub fn operation(self) -> &'static str {
        match self {
            RdsKind::Instance => "DescribeDBInstances",
            RdsKind::Cluster => "DescribeDBClusters",
        }
    }

    /// The prefix of the name RDS gives the master secrets it manages for this kind.
    pub fn secret_prefix(self) -> &'static str {
        match self {
            RdsKind::Instance => "rds!db-",
            RdsKind::Cluster => "rds!cluster-",
        }
    }
}

/// The RDS resource that owns a master secret.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RdsResource {
    pub kind: RdsKind,
    pub id: String,
}

impl std::fmt::Display for RdsResource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind.as_str(), self.id)
    }
}

/// Why `id` is not an RDS DB instance or cluster identifier, if it is not: 1 to 63
/// letters, digits or hyphens, starting with a letter, without a trailing hyphen or two
/// hyphens in a row.
pub fn check_identifier(id: &str) -> Result<(), &'static str> {
    if id.is_empty() || id.len() > 63 {
        return Err("an identifier has 1 to 63 characters");
    }
    if !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err("an identifier holds only letters, digits and hyphens");
    }
    if !id.as_bytes()[0].is_ascii_alphabetic() {
        return Err("an identifier starts with a letter");
    }
    if id.ends_with('-') || id.contains("--") {
        return Err("an identifier neither ends with a hyphen nor holds two in a row");
    }
    Ok(())
}

/// Which RDS kind manages the secret `arn_or_name` names, by the name RDS gives it
/// (`rds!db-…` or `rds!cluster-…`), if any.
pub fn managed_master(arn_or_name: &str) -> Option<RdsKind> {
    let name = arn_or_name
        .rsplit_once(":secret:")
        .map_or(arn_or_name, |(_, n)| n);
    [RdsKind::Instance, RdsKind::Cluster]
        .into_iter()
        .find(|k| name.starts_with(k.secret_prefix()))
}

/// Whether the secret `arn_or_name` names is one RDS manages (`rds!…`).
pub fn is_rds_managed(arn_or_name: &str) -> bool {
    let name = arn_or_name
        .rsplit_once(":secret:")
        .map_or(arn_or_name, |(_, n)| n);
    name.starts_with("rds!")
}

/// One entry of [`MASTER_RDS_VAR`]: `instance:ID=` or `cluster:ID=` before the master.
pub fn binding_prefix(resource: &RdsResource) -> String {
    format!("{}:{}=", resource.kind.as_str(), resource.id)
}

/// The master secrets of the function's configuration that RDS manages, each with the
/// resource that owns it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RdsMasters {
    bindings: Vec<(String, RdsResource)>,
}

impl RdsMasters {
    pub fn none() -> RdsMasters {
        RdsMasters::default()
    }

    /// Parses [`MASTER_RDS_VAR`]'s text; an entry that is not `KIND:ID=MASTER` with a
    /// valid identifier is a configuration error (one line naming the entry's position).
    pub fn parse(text: &str) -> Result<RdsMasters, String> {
        let mut bindings = Vec::new();
        for (i, entry) in text.split(',').map(str::trim).enumerate() {
            if entry.is_empty() {
                continue;
            }
            let bad = |why: &str| {
                format!(
                    "{MASTER_RDS_VAR}: entry {} is not instance:ID=MASTER or cluster:ID=MASTER ({why}); rebuild the template with rotgen and deploy it",
                    i + 1
                )
            };
            let (resource, master) = entry.split_once('=').ok_or_else(|| bad("no `=`"))?;
            let (kind, id) = resource.split_once(':').ok_or_else(|| bad("no `:`"))?;
            let kind = match kind {
                "instance" => RdsKind::Instance,
                "cluster" => RdsKind::Cluster,
                _ => return Err(bad("the kind is neither instance nor cluster")),
            };
            check_identifier(id).map_err(bad)?;
            let master = master.trim();
            if master.is_empty() {
                return Err(bad("no master secret"));
            }
            bindings.push((
                master.to_string(),
                RdsResource {
                    kind,
                    id: id.to_string(),
                },
            ));
        }
        Ok(RdsMasters { bindings })
    }

    /// From [`MASTER_RDS_VAR`] (none when unset).
    pub fn from_env() -> Result<RdsMasters, String> {
        RdsMasters::parse(&std::env::var(MASTER_RDS_VAR).unwrap_or_default())
    }

    /// These bindings (master secret, resource).
    pub fn of<I: IntoIterator<Item = (String, RdsResource)>>(bindings: I) -> RdsMasters {
        RdsMasters {
            bindings: bindings.into_iter().collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.bindings.is_empty()
    }

    /// The resource that owns the master `masterarn` names (matched as
    /// [`super::trust::Masters::allows`] matches), if the configuration binds it.
    pub fn owner_of(&self, masterarn: &str) -> Option<&RdsResource> {
        self.bindings
            .iter()
            .find(|(m, _)| super::trust::names_secret(m, masterarn))
            .map(|(_, r)| r)
    }
}

/// Where RDS says a DB instance or cluster (its writer) accepts connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RdsEndpoint {
    pub address: String,
    pub port: u16,
}

/// A failed look-up: one line from RDS's error code and text (which name resources,
/// never secret values), and whether a retry may succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RdsError {
    pub message: String,
    pub retryable: bool,
}

/// The one RDS question a rotation asks: the endpoint of the resource that owns a master.
pub trait RdsLookup: Send + Sync {
    fn endpoint(
        &self,
        resource: &RdsResource,
    ) -> impl Future<Output = Result<RdsEndpoint, RdsError>> + Send;
}

impl<T: RdsLookup + ?Sized> RdsLookup for &T {
    fn endpoint(
        &self,
        resource: &RdsResource,
    ) -> impl Future<Output = Result<RdsEndpoint, RdsError>> + Send {
        (**self).endpoint(resource)
    }
}

/// No RDS client: a function whose configuration binds no master to RDS.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRds;

impl RdsLookup for NoRds {
    async fn endpoint(&self, resource: &RdsResource) -> Result<RdsEndpoint, RdsError> {
        Err(RdsError {
            message: format!(
                "this function has no RDS client to find {resource}'s endpoint; rebuild the template with rotgen and deploy it"
            ),
            retryable: false,
        })
    }
}

impl<T: RdsLookup> RdsLookup for Option<T> {
    async fn endpoint(&self, resource: &RdsResource) -> Result<RdsEndpoint, RdsError> {
        match self {
            Some(r) => r.endpoint(resource).await,
            None => NoRds.endpoint(resource).await,
        }
    }
}

/// RDS through the AWS SDK (built once per cold start).
#[derive(Clone, Debug)]
pub struct AwsRds {
    client: aws_sdk_rds::Client,
}

impl AwsRds {
    pub fn new(client: aws_sdk_rds::Client) -> Self {
        AwsRds { client }
    }

    /// A client configured from the standard AWS environment (region, credentials,
    /// `AWS_ENDPOINT_URL[_RDS]`, which tests point at moto) and [`ENDPOINT_VAR`].
    pub async fn from_env() -> Self {
        let config = crate::sdk::config(None).await;
        AwsRds::from_config(&config, |k| std::env::var(k).ok())
    }

    /// A client for `config`, pointed at the URL [`endpoint_override`] chooses from
    /// `var` (the process's environment in [`AwsRds::from_env`]).
    pub fn from_config(
        config: &aws_config::SdkConfig,
        var: impl Fn(&str) -> Option<String>,
    ) -> Self {
        let mut builder = aws_sdk_rds::config::Builder::from(config);
        if let Some(url) = endpoint_override(config.endpoint_url(), var) {
            builder = builder.endpoint_url(url);
        }
        AwsRds::new(aws_sdk_rds::Client::from_conf(builder.build()))
    }
}

fn failed<E>(resource: &RdsResource, err: aws_sdk_rds::error::SdkError<E>) -> RdsError
where
    E: aws_sdk_rds::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_sdk_rds::error::SdkError;
    let operation = resource.kind.operation();
    let (code, text) = match &err {
        SdkError::ServiceError(e) => (
            e.err().code().map(str::to_string),
            e.err().message().map(str::to_string),
        ),
        _ => (None, None),
    };
    let transient = matches!(
        err,
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_)
    ) || matches!(
        code.as_deref(),
        Some(
            "Throttling"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "InternalFailure"
                | "ServiceUnavailable"
        )
    );
    let what = match (code.as_deref(), text) {
        (Some(c @ ("DBInstanceNotFound" | "DBInstanceNotFoundFault" | "DBClusterNotFoundFault")), _) => {
            format!("{c}: RDS has no {resource} in this account and region; fix the spec's master_rds_{} and deploy the rebuilt template", resource.kind.as_str())
        }
        (Some(c @ ("AccessDenied" | "AccessDeniedException")), _) => format!(
            "{c}: the function's role may not call {operation} on {resource}; deploy the template rotgen built, whose role may"
        ),
        (Some(c), Some(m)) => format!("{c}: {}", one_line(&m)),
        (Some(c), None) => c.to_string(),
        (None, _) => match &err {
            SdkError::TimeoutError(_) => "timed out".to_string(),
            SdkError::DispatchFailure(_) if let Some(why) = crate::sdk::tls_refused(&err) => format!("the RDS API's endpoint was refused: {why}"),
            SdkError::DispatchFailure(_) => "could not reach the RDS API (in a VPC: the RDS endpoint rotgen makes, named by ROTGEN_RDS_ENDPOINT, with its security group admitting the function on 443; with [vpc] endpoint = false, a NAT gateway or an RDS interface endpoint with private DNS)".to_string(),
            _ => "unexpected response".to_string(),
        },
    };
    RdsError {
        message: format!("RDS {operation} for {resource} failed: {what}"),
        retryable: transient,
    }
}

/// `s` on one line, at most 200 characters.
fn one_line(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(200)
        .collect()
}

/// The endpoint from what RDS answered, or why there is none (a resource being created
/// has no address yet).
fn endpoint_of(
    resource: &RdsResource,
    address: Option<&str>,
    port: Option<i32>,
) -> Result<RdsEndpoint, RdsError> {
    let none = |what: &str| RdsError {
        message: format!(
            "RDS {} for {resource} answered no endpoint {what} (is it still being created?); rotate again once it is available",
            resource.kind.operation()
        ),
        retryable: true,
    };
    let address = address
        .filter(|a| !a.is_empty())
        .ok_or_else(|| none("address"))?;
    let port = port
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p != 0)
        .ok_or_else(|| none("port"))?;
    Ok(RdsEndpoint {
        address: address.to_string(),
        port,
    })
}

impl RdsLookup for AwsRds {
    async fn endpoint(&self, resource: &RdsResource) -> Result<RdsEndpoint, RdsError> {
        tracing::debug!(operation = resource.kind.operation(), resource = %resource, "calling RDS");
        let wrong = |n: usize| RdsError {
            message: format!(
                "RDS {} for {resource} answered {n} resources, not one",
                resource.kind.operation()
            ),
            retryable: false,
        };
        match resource.kind {
            RdsKind::Instance => {
                let out = self
                    .client
                    .describe_db_instances()
                    .db_instance_identifier(&resource.id)
                    .send()
                    .await
                    .map_err(|e| failed(resource, e))?;
                let found = out.db_instances();
                let [db] = found else {
                    return Err(wrong(found.len()));
                };
                if !db
                    .db_instance_identifier()
                    .is_some_and(|i| i.eq_ignore_ascii_case(&resource.id))
                {
                    return Err(wrong(0));
                }
                let e = db.endpoint();
                endpoint_of(
                    resource,
                    e.and_then(|e| e.address()),
                    e.and_then(|e| e.port()),
                )
            }
            RdsKind::Cluster => {
                let out = self
                    .client
                    .describe_db_clusters()
                    .db_cluster_identifier(&resource.id)
                    .send()
                    .await
                    .map_err(|e| failed(resource, e))?;
                let found = out.db_clusters();
                let [c] = found else {
                    return Err(wrong(found.len()));
                };
                if !c
                    .db_cluster_identifier()
                    .is_some_and(|i| i.eq_ignore_ascii_case(&resource.id))
                {
                    return Err(wrong(0));
                }
                endpoint_of(resource, c.endpoint(), c.port())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_follow_rds_rules() {
        for ok in ["a", "mydb", "my-db-1", &format!("a{}", "b".repeat(62))] {
            assert!(check_identifier(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "1db",
            "-db",
            "db-",
            "my--db",
            "my_db",
            "my.db",
            "db*",
            &format!("a{}", "b".repeat(63)),
        ] {
            assert!(check_identifier(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn managed_masters_are_known_by_name() {
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-0f3c1e2a-AbCdEf";
        assert_eq!(managed_master(arn), Some(RdsKind::Instance));
        assert_eq!(
            managed_master("rds!cluster-0f3c1e2a"),
            Some(RdsKind::Cluster)
        );
        assert_eq!(managed_master("prod/master"), None);
        assert!(is_rds_managed("rds!other-1"));
        assert!(!is_rds_managed(
            "arn:aws:secretsmanager:us-east-1:1:secret:prod-AbCdEf"
        ));
    }

    #[test]
    fn the_endpoint_variable_yields_to_aws_own() {
        fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
            move |k| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        }
        let url = "https://vpce-0a1b2c3d4e5f60718-abcdefgh.rds.us-east-1.vpce.amazonaws.com";
        assert_eq!(
            endpoint_override(None, env(&[(ENDPOINT_VAR, url)])).as_deref(),
            Some(url)
        );
        assert_eq!(endpoint_override(None, env(&[])), None);
        assert_eq!(endpoint_override(None, env(&[(ENDPOINT_VAR, "")])), None);
        // AWS's variables, general or RDS's own, win.
        assert_eq!(
            endpoint_override(Some("http://127.0.0.1:5000"), env(&[(ENDPOINT_VAR, url)])),
            None
        );
        assert_eq!(
            endpoint_override(
                None,
                env(&[
                    ("AWS_ENDPOINT_URL_RDS", "http://127.0.0.1:5000"),
                    (ENDPOINT_VAR, url)
                ])
            ),
            None
        );
        assert_eq!(
            endpoint_override(
                None,
                env(&[("AWS_ENDPOINT_URL_RDS", ""), (ENDPOINT_VAR, url)])
            )
            .as_deref(),
            Some(url)
        );
    }

    #[test]
    fn bindings_parse_and_match_like_masters() {
        let full = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-0f3c-AbCdEf";
        let m = RdsMasters::parse(&format!(
            "instance:mydb={full}, cluster:aurora=rds!cluster-9"
        ))
        .unwrap();
        assert_eq!(
            m.owner_of(full),
            Some(&RdsResource {
                kind: RdsKind::Instance,
                id: "mydb".into()
            })
        );
        assert_eq!(
            m.owner_of("arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!cluster-9-XyZabc")
                .map(|r| r.kind),
            Some(RdsKind::Cluster)
        );
        assert_eq!(m.owner_of("rds!db-other"), None);
        assert!(RdsMasters::parse("").unwrap().is_empty());
        for bad in [
            "mydb=x",
            "db:mydb=x",
            "instance:my--db=x",
            "instance:mydb=",
            "instance:mydb",
        ] {
            let e = RdsMasters::parse(bad).unwrap_err();
            assert!(e.starts_with(MASTER_RDS_VAR), "{e}");
        }
    }
}
