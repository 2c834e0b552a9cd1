//! Running in Lambda: the clients are built once per cold start, then every event goes
//! through [`Handler::handle`], the same dispatch `rotgen invoke` uses.

use super::backend::{Backend, Strategy};
use super::password::PasswordPolicy;
use super::rds::{AwsRds, NoRds, RdsLookup, RdsMasters};
use super::steps::{Caller, Rotator};
use super::store::{AwsStore, SecretStore};
use super::{RotationError, RotationEvent};
use serde_json::{Value, json};
use std::sync::Arc;

/// What the Lambda answers an event with, or why it failed.
pub type Answer = Result<Value, lambda_runtime::Diagnostic>;

/// A rotation function ready to serve events.
pub struct Handler<S, B, R = NoRds> {
    pub rotator: Rotator<S, B, R>,
}

/// The kind of event, told apart by its fields.
pub enum Event {
    Rotation(RotationEvent),
    /// A CloudFormation macro request (`requestId`, `fragment`...).
    Macro(Value),
    Unknown(String),
}

pub fn classify(event: Value) -> Event {
    if event.get("Step").is_some() && event.get("SecretId").is_some() {
        return match serde_json::from_value::<RotationEvent>(event) {
            Ok(e) => Event::Rotation(e),
            Err(e) => Event::Unknown(format!("a rotation event with bad fields: {e}")),
        };
    }
    if event.get("requestId").is_some() && event.get("fragment").is_some() {
        return Event::Macro(event);
    }
    let keys: Vec<String> = match &event {
        Value::Object(m) => m.keys().cloned().collect(),
        other => vec![format!("a JSON {}", kind_of(other))],
    };
    Event::Unknown(format!(
        "neither a Secrets Manager rotation event (Step, SecretId, ClientRequestToken) nor a CloudFormation macro request; it has: {}",
        keys.join(", ")
    ))
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

impl<S: SecretStore, B: Backend, R: RdsLookup> Handler<S, B, R> {
    pub async fn handle(&self, event: Value, caller: Caller) -> Answer {
        self.handle_until(event, caller, None).await
    }

    /// [`Handler::handle`], with a rotation step stopped cleanly at `deadline`.
    pub async fn handle_until(
        &self,
        event: Value,
        caller: Caller,
        deadline: Option<tokio::time::Instant>,
    ) -> Answer {
        match classify(event) {
            Event::Rotation(e) => self
                .rotate_step_until(&e, caller, deadline)
                .await
                .map_err(Into::into),
            Event::Macro(request) => Ok(crate::cfn_macro::handle_request(
                &request,
                &crate::cfn_macro::ExpandOptions::from_env(),
            )),
            Event::Unknown(why) => {
                tracing::error!(error = %why, "unrecognised event");
                Err(lambda_runtime::Diagnostic {
                    error_type: "UnrecognisedEvent".into(),
                    error_message: why,
                })
            }
        }
    }

    pub async fn rotate_step(
        &self,
        e: &RotationEvent,
        caller: Caller,
    ) -> Result<Value, RotationError> {
        self.rotate_step_until(e, caller, None).await
    }

    async fn rotate_step_until(
        &self,
        e: &RotationEvent,
        caller: Caller,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<Value, RotationError> {
        let started = std::time::Instant::now();
        match self.rotator.handle_until(e, caller, deadline).await {
            Ok(outcome) => {
                tracing::info!(
                    step = e.step.name(),
                    secret_id = %e.secret_id,
                    token = %e.token,
                    outcome = outcome.as_str(),
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "step finished"
                );
                Ok(
                    json!({"step": e.step.name(), "secretId": e.secret_id, "outcome": outcome.as_str()}),
                )
            }
            Err(err) => {
                tracing::error!(
                    step = e.step.name(),
                    secret_id = %e.secret_id,
                    token = %e.token,
                    kind = err.kind,
                    retryable = err.retryable,
                    error = %err.message,
                    "step failed"
                );
                Err(err)
            }
        }
    }
}

/// How long before the invocation's deadline a step stops: time to answer Secrets
/// Manager and flush the logs.
pub const DEADLINE_MARGIN: std::time::Duration = std::time::Duration::from_secs(2);

/// When a step must stop, from the invocation's deadline (milliseconds since the Unix
/// epoch, as the Runtime API gives it), less [`DEADLINE_MARGIN`]. `None` when the
/// deadline is unknown (0) or the clock cannot be read.
pub fn step_deadline(deadline_ms: u64) -> Option<tokio::time::Instant> {
    if deadline_ms == 0 {
        return None;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    let left = std::time::Duration::from_millis(deadline_ms)
        .saturating_sub(now)
        .saturating_sub(DEADLINE_MARGIN);
    Some(tokio::time::Instant::now() + left)
}

/// Structured JSON logs in Lambda (one object per line, as CloudWatch's JSON log format
/// expects), plain lines elsewhere. Levels from `RUST_LOG` (default `info`): a level,
/// and `target=level` directives, comma-separated (`debug,aws_config=warn`).
pub fn init_logging() {
    use tracing_subscriber::filter::Targets;
    // The SDK's own warnings (a region not found on IMDS, a credentials provider that
    // failed before the next one worked) dump its debug structures; rotgen says what
    // matters in its own words. RUST_LOG replaces this.
    const DEFAULT: &str =
        "info,aws_config=error,aws_smithy_runtime=error,aws_smithy_runtime_api=error";
    let filter: Targets = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| DEFAULT.parse().expect("the default directives parse"));
    let in_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Every level reaches the filter below, which alone decides.
        .with_max_level(tracing_subscriber::filter::LevelFilter::TRACE)
        .with_target(false);
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let _ = if in_lambda {
        builder
            .json()
            .flatten_event(true)
            .without_time()
            .finish()
            .with(filter)
            .try_init()
    } else {
        builder.compact().finish().with(filter).try_init()
    };
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{0} is not set: the rotgen template sets it on the function")]
    MissingVar(&'static str),
    #[error("ROTGEN_STRATEGY is {0:?}: use single-user or alternating-users")]
    BadStrategy(String),
    #[error(transparent)]
    Policy(#[from] super::password::PolicyError),
    #[error("{0}")]
    Backend(String),
    #[error("{0}")]
    Config(String),
}

/// `ROTGEN_STRATEGY` (default single-user).
pub fn strategy_from_env() -> Result<Strategy, SetupError> {
    match std::env::var("ROTGEN_STRATEGY") {
        Err(_) => Ok(Strategy::SingleUser),
        Ok(s) if s.is_empty() => Ok(Strategy::SingleUser),
        Ok(s) => Strategy::parse(&s).ok_or(SetupError::BadStrategy(s)),
    }
}

/// Serves rotation events with a backend of your own: the way to rotate a service rotgen
/// does not ship. The function's environment gives the strategy (`ROTGEN_STRATEGY`) and
/// the password policy (`PASSWORD_LENGTH`, `EXCLUDE_CHARACTERS`...).
///
/// ```no_run
/// #![recursion_limit = "256"]
/// use rotgen::rotation::backend::{Backend, BackendError, ErrorKind, SetPassword};
/// use rotgen::rotation::secret::SecretValue;
///
/// /// A service whose API keys live in a table of this process (for illustration).
/// struct KeyService;
///
/// impl Backend for KeyService {
///     async fn login(&self, creds: &SecretValue) -> Result<bool, BackendError> {
///         // Call the service with the credentials; Ok(false) when it refuses them.
///         Ok(!creds.password().map_err(|e| BackendError::new(ErrorKind::Config, e.to_string()))?.is_empty())
///     }
///     async fn set_password(&self, req: SetPassword<'_>) -> Result<(), BackendError> {
///         // Authenticate with req.admin and make req.pending's password valid.
///         let _ = (req.admin, req.pending);
///         Ok(())
///     }
///     async fn test(&self, creds: &SecretValue) -> Result<(), BackendError> {
///         match self.login(creds).await? {
///             true => Ok(()),
///             false => Err(BackendError::new(ErrorKind::Auth, "the new key is refused")),
///         }
///     }
/// }
///
/// fn main() -> Result<(), lambda_runtime::Error> {
///     tokio::runtime::Builder::new_current_thread()
///         .enable_all()
///         .build()?
///         .block_on(rotgen::rotation::lambda::run(KeyService, "key-service"))
/// }
/// ```
pub async fn run<B: Backend + 'static>(
    backend: B,
    service: &str,
) -> Result<(), lambda_runtime::Error> {
    init_logging();
    let rds = RdsMasters::from_env().map_err(SetupError::Config)?;
    let rotator = Rotator {
        store: AwsStore::from_env().await,
        backend,
        strategy: strategy_from_env()?,
        policy: PasswordPolicy::from_env(service)?,
        rds: aws_rds_for(&rds).await,
        masters: crate::rotation::trust::Masters::from_env().with_rds(rds),
    };
    serve(Handler { rotator }).await
}

/// The runtime loop over a ready handler.
/// The RDS client, built once per cold start, when the configuration binds a master to
/// RDS (`ROTGEN_MASTER_RDS`); none otherwise.
pub async fn aws_rds_for(bindings: &RdsMasters) -> Option<AwsRds> {
    if bindings.is_empty() {
        None
    } else {
        Some(AwsRds::from_env().await)
    }
}

pub async fn serve<S, B, R>(handler: Handler<S, B, R>) -> Result<(), lambda_runtime::Error>
where
    S: SecretStore + 'static,
    B: Backend + 'static,
    R: RdsLookup + 'static,
{
    let handler = Arc::new(handler);
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<Value>| {
            let handler = Arc::clone(&handler);
            let deadline = step_deadline(event.context.deadline);
            async move {
                handler
                    .handle_until(event.payload, Caller::SecretsManager, deadline)
                    .await
            }
        },
    ))
    .await
}
