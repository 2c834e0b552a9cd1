//! [`Aws`] through the AWS SDK: CloudFormation, Secrets Manager, Lambda and CloudWatch
//! Logs, configured from the standard environment (region, credentials,
//! `AWS_ENDPOINT_URL[_SERVICE]`), with the SDK's standard retries for throttling.

use super::{Aws, AwsError, Failure, FunctionConfig, Rules, SecretState, StackInfo};
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use serde_json::Value;

/// The four clients, built once.
#[derive(Debug, Clone)]
pub struct AwsClients {
    cloudformation: aws_sdk_cloudformation::Client,
    secrets: aws_sdk_secretsmanager::Client,
    lambda: aws_sdk_lambda::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
}

impl AwsClients {
    pub async fn from_env() -> Self {
        let config = crate::sdk::config(None).await;
        AwsClients {
            cloudformation: aws_sdk_cloudformation::Client::new(&config),
            secrets: aws_sdk_secretsmanager::Client::new(&config),
            lambda: aws_sdk_lambda::Client::new(&config),
            logs: aws_sdk_cloudwatchlogs::Client::new(&config),
        }
    }
}

/// One line for a failed call: the service's error code and message (which name
/// resources, never secret values), or why it could not be reached.
pub(crate) fn failed<E>(operation: &'static str, err: &SdkError<E>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let message = match err {
        SdkError::ServiceError(e) => match (e.err().code(), e.err().message()) {
            (Some(c), Some(m)) => format!("{c}: {m}"),
            (Some(c), None) => c.to_string(),
            _ => "unexpected response".to_string(),
        },
        SdkError::TimeoutError(_) => "timed out".to_string(),
        SdkError::DispatchFailure(_) if let Some(why) = crate::sdk::tls_refused(err) => {
            format!("the endpoint was refused: {why}")
        }
        SdkError::DispatchFailure(_) => {
            "could not reach AWS (check AWS_REGION, AWS_ENDPOINT_URL and the network)".to_string()
        }
        _ => "unexpected response".to_string(),
    };
    AwsError { operation, message }
}

/// A secret's rotation rules as ListSecrets and DescribeSecret give them (empty values
/// as absent).
pub(crate) fn rules_of(rules: Option<&aws_sdk_secretsmanager::types::RotationRulesType>) -> Rules {
    Rules {
        days: rules
            .and_then(|r| r.automatically_after_days())
            .and_then(|d| u32::try_from(d).ok())
            .filter(|d| *d > 0),
        expression: rules
            .and_then(|r| r.schedule_expression())
            .filter(|e| !e.is_empty())
            .map(str::to_string),
        duration: rules
            .and_then(|r| r.duration())
            .filter(|d| !d.is_empty())
            .map(str::to_string),
    }
}

pub(crate) fn code<E: ProvideErrorMetadata>(err: &SdkError<E>) -> Option<&str> {
    match err {
        SdkError::ServiceError(e) => e.err().code(),
        _ => None,
    }
}

impl Aws for AwsClients {
    async fn stack(&self, name: &str) -> Result<StackInfo, AwsError> {
        let described = self
            .cloudformation
            .describe_stacks()
            .stack_name(name)
            .send()
            .await
            .map_err(|e| {
                let mut err = failed("DescribeStacks", &e);
                if code(&e) == Some("ValidationError") {
                    err.message = format!(
                        "{}; is the stack deployed in this account and region (AWS_REGION)? give its name with --stack NAME",
                        err.message
                    );
                }
                err
            })?;
        let mut info = StackInfo::default();
        if let Some(s) = described.stacks().first() {
            for p in s.parameters() {
                if let (Some(k), Some(v)) = (p.parameter_key(), p.parameter_value()) {
                    info.parameters.insert(k.to_string(), v.to_string());
                }
            }
        }
        let mut next: Option<String> = None;
        loop {
            let out = self
                .cloudformation
                .list_stack_resources()
                .stack_name(name)
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| failed("ListStackResources", &e))?;
            for r in out.stack_resource_summaries() {
                if let (Some(l), Some(p)) = (r.logical_resource_id(), r.physical_resource_id()) {
                    info.resources.insert(
                        l.to_string(),
                        (
                            r.resource_type().unwrap_or_default().to_string(),
                            p.to_string(),
                        ),
                    );
                }
            }
            match out.next_token() {
                Some(t) if !t.is_empty() => next = Some(t.to_string()),
                _ => return Ok(info),
            }
        }
    }

    async fn template(&self, stack: &str) -> Result<Value, AwsError> {
        let out = self
            .cloudformation
            .get_template()
            .stack_name(stack)
            .template_stage(aws_sdk_cloudformation::types::TemplateStage::Processed)
            .send()
            .await
            .map_err(|e| failed("GetTemplate", &e))?;
        let body = out.template_body().unwrap_or_default();
        crate::yaml::parse_template(body).map_err(|e| AwsError {
            operation: "GetTemplate",
            message: format!("the template of {stack} is not YAML or JSON: {}", e.message),
        })
    }

    async fn secret(&self, id: &str) -> Result<Option<SecretState>, AwsError> {
        let out = match self.secrets.describe_secret().secret_id(id).send().await {
            Ok(o) => o,
            Err(e) if code(&e) == Some("ResourceNotFoundException") => return Ok(None),
            Err(e) => return Err(failed("DescribeSecret", &e)),
        };
        Ok(Some(SecretState {
            arn: out.arn().unwrap_or(id).to_string(),
            name: out.name().unwrap_or(id).to_string(),
            rotation_enabled: out.rotation_enabled().unwrap_or(false),
            rotation_lambda_arn: out
                .rotation_lambda_arn()
                .filter(|a| !a.is_empty())
                .map(str::to_string),
            rules: rules_of(out.rotation_rules()),
            last_rotated: out.last_rotated_date().map(|d| d.secs()),
            next_rotation: out.next_rotation_date().map(|d| d.secs()),
            versions: out
                .version_ids_to_stages()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
        }))
    }

    async fn version_created(&self, id: &str, version: &str) -> Result<Option<i64>, AwsError> {
        crate::rotation::store::version_created_date(&self.secrets, id, version)
            .await
            .map_err(|e| failed("ListSecretVersionIds", &e))
    }

    async fn function(&self, name: &str) -> Result<Option<FunctionConfig>, AwsError> {
        let out = match self
            .lambda
            .get_function_configuration()
            .function_name(name)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) if code(&e) == Some("ResourceNotFoundException") => return Ok(None),
            Err(e) => return Err(failed("GetFunctionConfiguration", &e)),
        };
        Ok(Some(FunctionConfig {
            arn: out.function_arn().unwrap_or_default().to_string(),
            runtime: out.runtime().map(|r| r.as_str().to_string()),
            architecture: out.architectures().first().map(|a| a.as_str().to_string()),
            environment: out
                .environment()
                .and_then(|e| e.variables())
                .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
            code_sha256: out.code_sha256().map(str::to_string),
            log_group: out
                .logging_config()
                .and_then(|l| l.log_group())
                .map(str::to_string),
        }))
    }

    async fn failures(&self, log_group: &str, since_ms: i64) -> Result<Vec<Failure>, AwsError> {
        let mut found = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let out = match self
                .logs
                .filter_log_events()
                .log_group_name(log_group)
                .start_time(since_ms)
                // CloudWatch's exact-phrase pattern: only the function's failure lines.
                .filter_pattern(format!("\"{}\"", super::FAILURE_MESSAGE))
                .set_next_token(next.take())
                .send()
                .await
            {
                Ok(o) => o,
                Err(e) if code(&e) == Some("ResourceNotFoundException") => return Ok(found),
                Err(e) => return Err(failed("FilterLogEvents", &e)),
            };
            found.extend(out.events().iter().filter_map(|e| {
                super::parse_failure(e.message().unwrap_or_default(), e.timestamp().unwrap_or(0))
            }));
            match out.next_token() {
                Some(t) if !t.is_empty() => next = Some(t.to_string()),
                _ => return Ok(found),
            }
        }
    }
}
