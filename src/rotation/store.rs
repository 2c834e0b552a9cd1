//! The Secrets Manager side of a rotation: the five calls the protocol makes, behind a
//! small trait so tests can inject failures and count calls.

use super::password::PasswordPolicy;
use std::collections::BTreeMap;
use std::future::Future;

/// What `DescribeSecret` tells the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description {
    pub arn: String,
    pub rotation_enabled: bool,
    /// Version id → its staging labels.
    pub versions: BTreeMap<String, Vec<String>>,
}

impl Description {
    /// The version holding `stage`, if any.
    pub fn version_with(&self, stage: &str) -> Option<&str> {
        self.versions
            .iter()
            .find(|(_, stages)| stages.iter().any(|s| s == stage))
            .map(|(v, _)| v.as_str())
    }

    pub fn has_stage(&self, version: &str, stage: &str) -> bool {
        self.versions
            .get(version)
            .is_some_and(|s| s.iter().any(|x| x == stage))
    }
}

/// A failed call. Messages come from Secrets Manager's error codes and texts, which name
/// secrets but never hold their values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("Secrets Manager {operation} failed: {message}")]
    Failed {
        operation: &'static str,
        message: String,
        retryable: bool,
    },
}

impl StoreError {
    pub fn retryable(&self) -> bool {
        match self {
            StoreError::NotFound => false,
            StoreError::Failed { retryable, .. } => *retryable,
        }
    }
}

/// The Secrets Manager calls of a rotation.
pub trait SecretStore: Send + Sync {
    fn describe(&self, id: &str) -> impl Future<Output = Result<Description, StoreError>> + Send;

    /// `GetSecretValue`; `NotFound` when there is no such version/stage.
    fn get(
        &self,
        id: &str,
        version: Option<&str>,
        stage: &str,
    ) -> impl Future<Output = Result<String, StoreError>> + Send;

    /// `PutSecretValue` of `value` as version `token`, staged `AWSPENDING`.
    fn put_pending(
        &self,
        id: &str,
        token: &str,
        value: &str,
        rotation_token: Option<&str>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn random_password(
        &self,
        policy: &PasswordPolicy,
    ) -> impl Future<Output = Result<String, StoreError>> + Send;

    /// `UpdateSecretVersionStage`: AWSCURRENT moves from `from` to `to`.
    fn move_current(
        &self,
        id: &str,
        to: &str,
        from: Option<&str>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// `ListSecretVersionIds`: when Secrets Manager created `version` (seconds since the
    /// epoch), `None` when it lists no such version or gives no date. For a rotation's
    /// version this is when the rotation began (RotateSecret creates it before it
    /// invokes the function): a record no writer of the secret can backdate.
    fn version_created(
        &self,
        id: &str,
        version: &str,
    ) -> impl Future<Output = Result<Option<i64>, StoreError>> + Send;
}

/// The real Secrets Manager, through the AWS SDK (built once per cold start).
#[derive(Clone, Debug)]
pub struct AwsStore {
    client: aws_sdk_secretsmanager::Client,
}

impl AwsStore {
    pub fn new(client: aws_sdk_secretsmanager::Client) -> Self {
        AwsStore { client }
    }

    /// A client configured from the standard AWS environment (region, credentials,
    /// `AWS_ENDPOINT_URL[_SECRETS_MANAGER]`). `SECRETS_MANAGER_ENDPOINT`, which AWS's own
    /// rotation functions read, is honoured too.
    pub async fn from_env() -> Self {
        let config = crate::sdk::config(None).await;
        let mut builder = aws_sdk_secretsmanager::config::Builder::from(&config);
        if config.endpoint_url().is_none()
            && std::env::var_os("AWS_ENDPOINT_URL_SECRETS_MANAGER").is_none()
            && let Ok(endpoint) = std::env::var("SECRETS_MANAGER_ENDPOINT")
            && !endpoint.is_empty()
        {
            builder = builder.endpoint_url(endpoint);
        }
        AwsStore::new(aws_sdk_secretsmanager::Client::from_conf(builder.build()))
    }
}

/// For the command line, before any call: whether the standard AWS environment gives a
/// region and credentials, or what is missing, in one line.
pub async fn check_environment() -> Result<(), String> {
    check_environment_in(None).await
}

/// [`check_environment`], with the region a `--region` flag gives instead of the
/// environment's.
pub async fn check_environment_in(region: Option<&str>) -> Result<(), String> {
    use aws_sdk_secretsmanager::config::ProvideCredentials;
    let config = crate::sdk::config(region).await;
    if config.region().is_none() {
        return Err("no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, or a region in the AWS_PROFILE's configuration)".into());
    }
    let missing = "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run where a role provides them";
    match config.credentials_provider() {
        None => Err(missing.into()),
        Some(p) => p
            .provide_credentials()
            .await
            .map(|_| ())
            .map_err(|_| missing.into()),
    }
}

fn failed<E>(operation: &'static str, err: aws_sdk_secretsmanager::error::SdkError<E>) -> StoreError
where
    E: aws_sdk_secretsmanager::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_sdk_secretsmanager::error::SdkError;
    let retryable = matches!(
        err,
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_)
    );
    let (code, message) = match &err {
        SdkError::ServiceError(e) => (
            e.err().code().map(str::to_string),
            e.err().message().map(str::to_string),
        ),
        _ => (None, None),
    };
    if code.as_deref() == Some("ResourceNotFoundException") {
        return StoreError::NotFound;
    }
    let throttled = matches!(
        code.as_deref(),
        Some("ThrottlingException" | "InternalServiceError" | "LimitExceededException")
    );
    let message = match (code, message) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c,
        _ => match &err {
            SdkError::TimeoutError(_) => "timed out".to_string(),
            SdkError::DispatchFailure(_) => match crate::sdk::tls_refused(&err) {
                Some(why) => format!("Secrets Manager's endpoint was refused: {why}"),
                None => "could not reach Secrets Manager (in a VPC: is there an interface endpoint or a NAT gateway?)".to_string(),
            },
            _ => "unexpected response".to_string(),
        },
    };
    StoreError::Failed {
        operation,
        message,
        retryable: retryable || throttled,
    }
}

impl SecretStore for AwsStore {
    async fn describe(&self, id: &str) -> Result<Description, StoreError> {
        tracing::debug!(operation = "DescribeSecret", "calling Secrets Manager");
        let out = self
            .client
            .describe_secret()
            .secret_id(id)
            .send()
            .await
            .map_err(|e| failed("DescribeSecret", e))?;
        Ok(Description {
            arn: out.arn().unwrap_or(id).to_string(),
            rotation_enabled: out.rotation_enabled().unwrap_or(false),
            versions: out
                .version_ids_to_stages()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
        })
    }

    async fn get(
        &self,
        id: &str,
        version: Option<&str>,
        stage: &str,
    ) -> Result<String, StoreError> {
        tracing::debug!(operation = "GetSecretValue", "calling Secrets Manager");
        let out = self
            .client
            .get_secret_value()
            .secret_id(id)
            .set_version_id(version.map(str::to_string))
            .version_stage(stage)
            .send()
            .await
            .map_err(|e| failed("GetSecretValue", e))?;
        out.secret_string()
            .map(str::to_string)
            .ok_or_else(|| StoreError::Failed {
                operation: "GetSecretValue",
                message: "the secret holds binary data, not a SecretString".into(),
                retryable: false,
            })
    }

    async fn put_pending(
        &self,
        id: &str,
        token: &str,
        value: &str,
        rotation_token: Option<&str>,
    ) -> Result<(), StoreError> {
        tracing::debug!(operation = "PutSecretValue", "calling Secrets Manager");
        self.client
            .put_secret_value()
            .secret_id(id)
            .client_request_token(token)
            .secret_string(value)
            .version_stages("AWSPENDING")
            .set_rotation_token(rotation_token.map(str::to_string))
            .send()
            .await
            .map_err(|e| failed("PutSecretValue", e))?;
        Ok(())
    }

    async fn random_password(&self, p: &PasswordPolicy) -> Result<String, StoreError> {
        tracing::debug!(operation = "GetRandomPassword", "calling Secrets Manager");
        let out = self
            .client
            .get_random_password()
            .password_length(p.length)
            .exclude_characters(&p.exclude_characters)
            .exclude_numbers(p.exclude_numbers)
            .exclude_punctuation(p.exclude_punctuation)
            .exclude_uppercase(p.exclude_uppercase)
            .exclude_lowercase(p.exclude_lowercase)
            .require_each_included_type(p.require_each_included_type)
            .send()
            .await
            .map_err(|e| failed("GetRandomPassword", e))?;
        out.random_password()
            .map(str::to_string)
            .ok_or_else(|| StoreError::Failed {
                operation: "GetRandomPassword",
                message: "no password in the answer".into(),
                retryable: true,
            })
    }

    async fn move_current(&self, id: &str, to: &str, from: Option<&str>) -> Result<(), StoreError> {
        tracing::debug!(
            operation = "UpdateSecretVersionStage",
            "calling Secrets Manager"
        );
        self.client
            .update_secret_version_stage()
            .secret_id(id)
            .version_stage("AWSCURRENT")
            .move_to_version_id(to)
            .set_remove_from_version_id(from.map(str::to_string))
            .send()
            .await
            .map_err(|e| failed("UpdateSecretVersionStage", e))?;
        Ok(())
    }

    async fn version_created(&self, id: &str, version: &str) -> Result<Option<i64>, StoreError> {
        tracing::debug!(
            operation = "ListSecretVersionIds",
            "calling Secrets Manager"
        );
        version_created_date(&self.client, id, version)
            .await
            .map_err(|e| failed("ListSecretVersionIds", e))
    }
}

/// The date Secrets Manager gives `version` of the secret `id`, in seconds since the
/// epoch (ListSecretVersionIds, every page): `None` when it lists no such version or no
/// date. The rotation function and `rotgen status` both ask it.
pub async fn version_created_date(
    client: &aws_sdk_secretsmanager::Client,
    id: &str,
    version: &str,
) -> Result<
    Option<i64>,
    aws_sdk_secretsmanager::error::SdkError<
        aws_sdk_secretsmanager::operation::list_secret_version_ids::ListSecretVersionIdsError,
    >,
> {
    let mut next: Option<String> = None;
    loop {
        let out = client
            .list_secret_version_ids()
            .secret_id(id)
            .max_results(100)
            .set_next_token(next.take())
            .send()
            .await?;
        if let Some(v) = out
            .versions()
            .iter()
            .find(|v| v.version_id() == Some(version))
        {
            return Ok(v.created_date().map(|d| d.secs()));
        }
        match out.next_token() {
            Some(t) if !t.is_empty() => next = Some(t.to_string()),
            _ => return Ok(None),
        }
    }
}

/// A borrowed store is a store (tests keep the store to inspect it afterwards).
impl<T: SecretStore + ?Sized> SecretStore for &T {
    fn describe(&self, id: &str) -> impl Future<Output = Result<Description, StoreError>> + Send {
        (**self).describe(id)
    }
    fn get(
        &self,
        id: &str,
        version: Option<&str>,
        stage: &str,
    ) -> impl Future<Output = Result<String, StoreError>> + Send {
        (**self).get(id, version, stage)
    }
    fn put_pending(
        &self,
        id: &str,
        token: &str,
        value: &str,
        rotation_token: Option<&str>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).put_pending(id, token, value, rotation_token)
    }
    fn random_password(
        &self,
        policy: &PasswordPolicy,
    ) -> impl Future<Output = Result<String, StoreError>> + Send {
        (**self).random_password(policy)
    }
    fn move_current(
        &self,
        id: &str,
        to: &str,
        from: Option<&str>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).move_current(id, to, from)
    }
    fn version_created(
        &self,
        id: &str,
        version: &str,
    ) -> impl Future<Output = Result<Option<i64>, StoreError>> + Send {
        (**self).version_created(id, version)
    }
}
