//! [`Aws`] through the AWS SDK: Secrets Manager (`ListSecrets`, and `GetSecretValue`
//! whose answer goes straight to [`facts_of`] and is dropped) and Lambda
//! (`GetFunctionConfiguration`, `ListTags`), from the standard environment or `--region`,
//! with the SDK's standard retries for throttling. It may not keep, print or log a
//! secret's value.

use super::{Aws, Facts, Function, Listed, Vpc, facts_of};
use crate::status::AwsError;
use crate::status::aws::{code, failed, rules_of};

/// The two clients, built once.
#[derive(Debug, Clone)]
pub struct AwsClients {
    secrets: aws_sdk_secretsmanager::Client,
    lambda: aws_sdk_lambda::Client,
}

impl AwsClients {
    /// From the standard environment, in `region` when one is given.
    pub async fn new(region: Option<&str>) -> Self {
        let config = crate::sdk::config(region).await;
        AwsClients {
            secrets: aws_sdk_secretsmanager::Client::new(&config),
            lambda: aws_sdk_lambda::Client::new(&config),
        }
    }
}

impl Aws for AwsClients {
    async fn secrets(&self, name_prefix: Option<&str>) -> Result<Vec<Listed>, AwsError> {
        use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType};
        let mut found = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let mut call = self
                .secrets
                .list_secrets()
                .max_results(100)
                .set_next_token(next.take());
            if let Some(p) = name_prefix {
                call = call.filters(
                    Filter::builder()
                        .key(FilterNameStringType::Name)
                        .values(p)
                        .build(),
                );
            }
            let out = call.send().await.map_err(|e| failed("ListSecrets", &e))?;
            for s in out.secret_list() {
                found.push(Listed {
                    arn: s.arn().unwrap_or_default().to_string(),
                    name: s.name().unwrap_or_default().to_string(),
                    kms_key_id: s.kms_key_id().filter(|k| !k.is_empty()).map(str::to_string),
                    rotation_enabled: s.rotation_enabled().unwrap_or(false),
                    rotation_lambda_arn: s
                        .rotation_lambda_arn()
                        .filter(|a| !a.is_empty())
                        .map(str::to_string),
                    rules: rules_of(s.rotation_rules()),
                    tags: s
                        .tags()
                        .iter()
                        .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                        .collect(),
                    owning_service: s
                        .owning_service()
                        .filter(|o| !o.is_empty())
                        .map(str::to_string),
                });
            }
            match out.next_token() {
                Some(t) if !t.is_empty() => next = Some(t.to_string()),
                _ => return Ok(found),
            }
        }
    }

    async fn function(&self, arn: &str) -> Result<Option<Function>, AwsError> {
        let out = match self
            .lambda
            .get_function_configuration()
            .function_name(arn)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) if code(&e) == Some("ResourceNotFoundException") => return Ok(None),
            Err(e) => return Err(failed("GetFunctionConfiguration", &e)),
        };
        let function_arn = out.function_arn().unwrap_or(arn).to_string();
        let tags = match self
            .lambda
            .list_tags()
            .resource(super::unqualified(&function_arn))
            .send()
            .await
        {
            Ok(t) => t
                .tags()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
            Err(e) if code(&e) == Some("ResourceNotFoundException") => Default::default(),
            Err(e) => return Err(failed("ListTags", &e)),
        };
        let vpc = out.vpc_config().and_then(|v| {
            let id = v.vpc_id().filter(|i| !i.is_empty())?;
            Some(Vpc {
                vpc_id: id.to_string(),
                subnet_ids: v.subnet_ids().to_vec(),
                security_group_ids: v.security_group_ids().to_vec(),
            })
        });
        Ok(Some(Function {
            name: out
                .function_name()
                .unwrap_or(super::function_name(arn))
                .to_string(),
            arn: function_arn,
            runtime: out.runtime().map(|r| r.as_str().to_string()),
            handler: out.handler().map(str::to_string),
            description: out.description().map(str::to_string),
            environment: out
                .environment()
                .and_then(|e| e.variables())
                .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
            vpc,
            tags,
        }))
    }

    async fn facts(&self, arn: &str) -> Result<Facts, AwsError> {
        let out = self
            .secrets
            .get_secret_value()
            .secret_id(arn)
            .send()
            .await
            .map_err(|e| failed("GetSecretValue", &e))?;
        // The value goes no further than this: its facts, then it is dropped.
        Ok(out.secret_string().map(facts_of).unwrap_or_default())
    }
}
