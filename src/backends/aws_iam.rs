//! # The `aws-iam` service: access keys of IAM users
//!
//! An IAM user's access keys are credentials IAM issues, so the rotation follows the
//! issue-and-revoke model (`crate::rotation::issued`). The secret holds one key, in the
//! field names of IAM's own `CreateAccessKey` answer (and of the AWS CLI's
//! `credential_process` output):
//!
//! ```json
//! {"UserName": "app", "AccessKeyId": "AKIA…", "SecretAccessKey": "…"}
//! ```
//!
//! (other keys are kept as they are). IAM lets a user hold two keys. After a rotation,
//! AWSCURRENT holds the new key and AWSPREVIOUS the one before, and both work. The next
//! rotation deactivates and deletes AWSPREVIOUS's key (the one of two rotations ago) before
//! it creates a new one, as AWS's guide to rotating "one user with multiple credentials"
//! does. With `ROTGEN_IAM_PREVIOUS=deactivate`, finishSecret deactivates AWSPREVIOUS's key
//! at once instead: it stops working, but can be reactivated until the next rotation
//! deletes it.
//!
//! The function issues keys only for the users its configuration names
//! (`ROTGEN_IAM_USERS`, comma-separated, from the spec), and only to a secret whose
//! AWSCURRENT key authenticates as the user it names (`sts:GetCallerIdentity`): writing
//! `"UserName": "admin"` into an application's secret does not get the admin's key.
//!
//! The function's role needs `iam:ListAccessKeys`, `iam:CreateAccessKey`,
//! `iam:UpdateAccessKey` and `iam:DeleteAccessKey` on those users only.

use crate::rotation::backend::{BackendError, ErrorKind};
use crate::rotation::issued::{self, Credential, Identity, Issuer, Principals};
pub use crate::rotation::issued::{Issued, Previous};
use crate::rotation::secret::SecretValue;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use serde_json::{Map, Value};
use std::time::Duration;
use tokio::sync::OnceCell;

/// The users a function may issue keys for (comma-separated).
pub const USERS_VAR: &str = "ROTGEN_IAM_USERS";
/// `keep` (the default: AWSPREVIOUS's key works until the next rotation) or `deactivate`.
pub const PREVIOUS_VAR: &str = "ROTGEN_IAM_PREVIOUS";

const FIELDS: &[&str] = &["AccessKeyId", "SecretAccessKey"];

/// How long testSecret waits for a new key to be accepted (IAM is eventually consistent).
const TEST_WAITS: [Duration; 5] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(3),
    Duration::from_secs(4),
    Duration::from_secs(5),
];

/// IAM and STS, through the AWS SDK (the configuration and the IAM client are built on
/// first use, then kept; STS clients carry the secret's own key, so each call has one).
#[derive(Debug, Default)]
pub struct IamKeys {
    clients: OnceCell<(aws_config::SdkConfig, aws_sdk_iam::Client)>,
}

impl IamKeys {
    async fn clients(&self) -> &(aws_config::SdkConfig, aws_sdk_iam::Client) {
        self.clients
            .get_or_init(|| async {
                let config = crate::sdk::config(None).await;
                let iam = aws_sdk_iam::Client::new(&config);
                (config, iam)
            })
            .await
    }

    async fn iam(&self) -> &aws_sdk_iam::Client {
        &self.clients().await.1
    }
}

/// Safe words for an SDK error (IAM's or STS's: the SDKs share the type): its code and
/// the call, never its message (which can echo input).
fn sdk_error<E, R>(call: &str, e: &SdkError<E, R>) -> BackendError
where
    E: ProvideErrorMetadata,
{
    match e {
        SdkError::ServiceError(s) => {
            let code = s.err().code().unwrap_or("unknown error");
            let kind = match code {
                "AccessDenied" | "AccessDeniedException" => ErrorKind::Permission,
                "InvalidClientTokenId" | "SignatureDoesNotMatch" => ErrorKind::Auth,
                "LimitExceeded" | "NoSuchEntity" => ErrorKind::Config,
                _ => ErrorKind::Service,
            };
            BackendError::new(kind, format!("aws-iam: {call} failed: {code}"))
        }
        SdkError::DispatchFailure(d)
            if let Some(why) = d
                .as_connector_error()
                .and_then(|c| crate::sdk::tls_refused(c)) =>
        {
            BackendError::new(
                ErrorKind::Unavailable,
                format!("aws-iam: {call}: the endpoint was refused: {why}"),
            )
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => BackendError::new(
            ErrorKind::Unavailable,
            format!("aws-iam: {call} could not reach AWS"),
        ),
        _ => BackendError::new(ErrorKind::Service, format!("aws-iam: {call} failed")),
    }
}

fn is_code<E, R>(e: &SdkError<E, R>, code: &str) -> bool
where
    E: ProvideErrorMetadata,
{
    matches!(e, SdkError::ServiceError(s) if s.err().code() == Some(code))
}

impl Issuer for IamKeys {
    fn principal_key(&self) -> &'static str {
        "UserName"
    }

    fn id_key(&self) -> &'static str {
        "AccessKeyId"
    }

    fn fields(&self) -> &'static [&'static str] {
        FIELDS
    }

    fn limit(&self) -> usize {
        2
    }

    async fn list(&self, _: &SecretValue, user: &str) -> Result<Vec<Credential>, BackendError> {
        let out = self
            .iam()
            .await
            .list_access_keys()
            .user_name(user)
            .send()
            .await
            .map_err(|e| sdk_error("ListAccessKeys", &e))?;
        Ok(out
            .access_key_metadata()
            .iter()
            .filter_map(|k| {
                Some(Credential {
                    id: k.access_key_id()?.to_string(),
                    created: k.create_date().map(|d| d.secs()),
                    active: k.status() == Some(&aws_sdk_iam::types::StatusType::Active),
                })
            })
            .collect())
    }

    async fn create(
        &self,
        _: &SecretValue,
        user: &str,
    ) -> Result<Map<String, Value>, BackendError> {
        let out = self
            .iam()
            .await
            .create_access_key()
            .user_name(user)
            .send()
            .await
            .map_err(|e| sdk_error("CreateAccessKey", &e))?;
        let key = out.access_key().ok_or_else(|| {
            BackendError::new(
                ErrorKind::Service,
                "aws-iam: CreateAccessKey returned no key",
            )
        })?;
        let mut fields = Map::new();
        fields.insert("AccessKeyId".into(), key.access_key_id().into());
        fields.insert("SecretAccessKey".into(), key.secret_access_key().into());
        Ok(fields)
    }

    async fn deactivate(&self, _: &SecretValue, user: &str, id: &str) -> Result<(), BackendError> {
        match self
            .iam()
            .await
            .update_access_key()
            .user_name(user)
            .access_key_id(id)
            .status(aws_sdk_iam::types::StatusType::Inactive)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_code(&e, "NoSuchEntity") => Ok(()),
            Err(e) => Err(sdk_error("UpdateAccessKey", &e)),
        }
    }

    async fn delete(&self, _: &SecretValue, user: &str, id: &str) -> Result<(), BackendError> {
        match self
            .iam()
            .await
            .delete_access_key()
            .user_name(user)
            .access_key_id(id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_code(&e, "NoSuchEntity") => Ok(()),
            Err(e) => Err(sdk_error("DeleteAccessKey", &e)),
        }
    }

    /// The user the call's signature proves, and the key id it was signed with: STS
    /// checks the signature against that key's secret, so the key id is proven too.
    async fn whoami(&self, creds: &SecretValue) -> Result<Option<Identity>, BackendError> {
        let id = issued::field(creds, "AccessKeyId")?;
        let secret = issued::field(creds, "SecretAccessKey")?;
        let conf = aws_sdk_sts::config::Builder::from(&self.clients().await.0)
            .credentials_provider(aws_sdk_sts::config::Credentials::new(
                id,
                secret,
                None,
                None,
                "rotgen-secret",
            ))
            .build();
        let sts = aws_sdk_sts::Client::from_conf(conf);
        match sts.get_caller_identity().send().await {
            Ok(out) => {
                // arn:PARTITION:iam::ACCOUNT:user/PATH/NAME: the user's name is last.
                let arn = out.arn().unwrap_or_default();
                Ok(Some(Identity {
                    principal: match arn.split_once(":user/") {
                        Some((_, path)) => path.rsplit('/').next().unwrap_or(path).to_string(),
                        None => arn.to_string(),
                    },
                    credential: Some(id.to_string()),
                }))
            }
            Err(e)
                if is_code(&e, "InvalidClientTokenId") || is_code(&e, "SignatureDoesNotMatch") =>
            {
                Ok(None)
            }
            Err(e) => Err(sdk_error("GetCallerIdentity", &e)),
        }
    }
}

/// The `aws-iam` backend.
pub type AwsIam = Issued<IamKeys>;

impl AwsIam {
    /// Reads `ROTGEN_IAM_USERS` and `ROTGEN_IAM_PREVIOUS`.
    pub fn from_env() -> Result<AwsIam, BackendError> {
        Ok(Issued {
            issuer: IamKeys::default(),
            allowed: Principals::parse(USERS_VAR, std::env::var(USERS_VAR).ok().as_deref()),
            previous: Previous::parse(PREVIOUS_VAR, std::env::var(PREVIOUS_VAR).ok().as_deref())?,
            test_waits: TEST_WAITS.to_vec(),
        })
    }
}
