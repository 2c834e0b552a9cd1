//! The shipped rotation function: the rotation protocol with the real Secrets Manager and
//! the backend named by `ROTGEN_SERVICE`. Built once per cold start in Lambda; built the
//! same way by `rotgen invoke` and `rotgen rotate`.

use crate::backends::{self, Shipped};
use crate::model::services;
use crate::rotation::backend::{Backend, Strategy};
use crate::rotation::lambda::{Handler, SetupError, aws_rds_for, strategy_from_env};
use crate::rotation::password::PasswordPolicy;
use crate::rotation::rds::{AwsRds, RdsLookup, RdsMasters};
use crate::rotation::secret::SecretValue;
use crate::rotation::steps::{CURRENT, Caller, PENDING, Rotator};
use crate::rotation::store::{AwsStore, SecretStore};
use crate::rotation::trust::Masters;
use crate::rotation::{RotationError, RotationEvent, Step};

pub type ShippedHandler = Handler<AwsStore, Shipped, Option<AwsRds>>;

/// Settings that flags may give instead of the environment.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub service: Option<String>,
    pub strategy: Option<Strategy>,
    /// Master secrets the command line names (`rotgen rotate --master`), beside those of
    /// `ROTGEN_MASTER_SECRETS`.
    pub masters: Masters,
    /// The TLS floor the command line sets (`Some(true)` unless `--allow-plaintext`);
    /// `None` in Lambda, where `ROTGEN_REQUIRE_TLS` decides.
    pub require_tls: Option<bool>,
}

/// Builds the handler from the environment the template sets on the function
/// (`ROTGEN_SERVICE`, `ROTGEN_STRATEGY`, the password policy) and the standard AWS one.
pub async fn shipped(o: &Overrides) -> Result<ShippedHandler, SetupError> {
    let service = match &o.service {
        Some(s) => s.clone(),
        None => std::env::var("ROTGEN_SERVICE")
            .ok()
            .filter(|s| !s.is_empty())
            .ok_or(SetupError::MissingVar("ROTGEN_SERVICE"))?,
    };
    let backend = backends::for_service_with(&service, o.require_tls)
        .map_err(|e| SetupError::Backend(e.message))?;
    let rds = RdsMasters::from_env().map_err(SetupError::Config)?;
    let mut masters = Masters::from_env();
    masters.extend(o.masters.clone());
    let masters = masters.with_rds(rds);
    let strategy = match o.strategy {
        Some(s) => s,
        None => strategy_from_env()?,
    };
    Ok(Handler {
        rotator: Rotator {
            store: AwsStore::from_env().await,
            backend,
            strategy,
            policy: PasswordPolicy::from_env(&service)?,
            rds: aws_rds_for(masters.rds()).await,
            masters,
        },
    })
}

/// The service and strategy of a secret in AWS's JSON shape: `engine` names the service,
/// and a `masterarn` on a database secret means alternating users (as AWS's own functions
/// are chosen).
pub fn service_of(value: &SecretValue) -> Option<(&'static str, Strategy)> {
    let service = service_of_engine(value.engine().ok()??)?;
    let master = value.json().is_ok_and(|m| m.contains_key("masterarn"));
    let strategy = if master && services::get(service).masterarn_alternates {
        Strategy::AlternatingUsers
    } else {
        Strategy::SingleUser
    };
    Some((service, strategy))
}

/// The service an `engine` value (AWS's JSON shape) names, if rotgen has a backend for it
/// (the services table's `engines`).
pub fn service_of_engine(engine: &str) -> Option<&'static str> {
    let engine = engine.to_ascii_lowercase();
    services::SERVICES
        .iter()
        .find(|s| s.engines.contains(&engine.as_str()))
        .map(|s| s.name)
}

/// Reads the secret's AWSCURRENT value to tell its service ([`service_of`]).
pub async fn infer(secret_id: &str) -> Result<(&'static str, Strategy), String> {
    let text = AwsStore::from_env()
        .await
        .get(secret_id, None, CURRENT)
        .await
        .map_err(|e| format!("cannot read {secret_id} to tell its service: {e}"))?;
    service_of(&SecretValue::parse(&text)).ok_or_else(|| {
        format!("{secret_id} has no `engine` rotgen knows; pass --service (postgres, mysql, mariadb, redis, rabbitmq, ldap, http, http-token, random or aws-iam)")
    })
}

/// What `rotgen rotate` did.
#[derive(Debug, Clone)]
pub struct Rotated {
    pub arn: String,
    pub token: String,
    /// Whether an unfinished rotation (an AWSPENDING version) was resumed.
    pub resumed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error(transparent)]
    Step(#[from] RotationError),
    #[error("{0}")]
    Other(String),
}

/// A whole rotation from the command line, playing Secrets Manager's part: a fresh token
/// (or, with `resume`, the token of an unfinished rotation), the four steps with the
/// handler's own code, then a login with the new AWSCURRENT credentials.
///
/// It never interleaves with a rotation Secrets Manager runs: a secret with rotation
/// enabled is refused (Secrets Manager holds the rotation's lock only when it starts it),
/// and so is one with an unfinished rotation, unless `resume` finishes that one.
pub async fn rotate<S: SecretStore, B: Backend, R: RdsLookup>(
    handler: &Handler<S, B, R>,
    secret_id: &str,
    resume: bool,
) -> Result<Rotated, RotateError> {
    let store = &handler.rotator.store;
    let d = store
        .describe(secret_id)
        .await
        .map_err(|e| RotateError::Other(format!("cannot describe {secret_id}: {e}")))?;
    let unfinished = d
        .versions
        .iter()
        .find(|(_, stages)| {
            stages.iter().any(|s| s == PENDING) && !stages.iter().any(|s| s == CURRENT)
        })
        .map(|(v, _)| v.clone());
    let token = match (unfinished, resume) {
        (Some(token), true) => token,
        (Some(token), false) => {
            return Err(RotateError::Other(format!(
                "{} has an unfinished rotation (AWSPENDING version {token}); starting another beside it could interleave with it. Run again with --resume to finish that one",
                d.arn
            )));
        }
        (None, _) if d.rotation_enabled => {
            return Err(RotateError::Other(format!(
                "{} has rotation enabled, so Secrets Manager may start a rotation at any time; rotate it through Secrets Manager instead, which holds the rotation's lock: aws secretsmanager rotate-secret --secret-id {}",
                d.arn, d.arn
            )));
        }
        (None, true) => {
            return Err(RotateError::Other(format!(
                "{} has no unfinished rotation to resume; run without --resume to start one",
                d.arn
            )));
        }
        // Version 7: the token carries when this rotation began (`steps::cli_token_time`).
        (None, false) => uuid::Uuid::now_v7().to_string(),
    };
    let resumed = resume;
    for step in Step::ALL {
        let event = RotationEvent {
            step,
            secret_id: d.arn.clone(),
            token: token.clone(),
            rotation_token: None,
        };
        handler.rotate_step(&event, Caller::Cli).await?;
    }
    // The rotation is done only when the new AWSCURRENT logs in.
    let text = store
        .get(&d.arn, None, CURRENT)
        .await
        .map_err(|e| RotateError::Other(format!("cannot read the new AWSCURRENT value: {e}")))?;
    let current = SecretValue::parse(&text);
    handler.rotator.backend.test(&current).await.map_err(|e| {
        RotateError::Other(format!("the new AWSCURRENT credentials do not work: {e}"))
    })?;
    Ok(Rotated {
        arn: d.arn,
        token,
        resumed,
    })
}

/// The deployed binary's two roles: the rotation function (the template sets
/// `ROTGEN_SERVICE`), or the Rotgen macro's function (`rotgen macro-stack` sets none).
pub enum Function {
    Rotation(Box<ShippedHandler>),
    MacroOnly,
}

impl Function {
    pub async fn from_env(o: &Overrides) -> Result<Function, SetupError> {
        let service_set =
            o.service.is_some() || std::env::var("ROTGEN_SERVICE").is_ok_and(|s| !s.is_empty());
        if service_set {
            Ok(Function::Rotation(Box::new(shipped(o).await?)))
        } else {
            Ok(Function::MacroOnly)
        }
    }

    /// One event, whatever it is: the dispatch of the Lambda and of `rotgen invoke`.
    /// `deadline`: when a rotation step must stop (see
    /// [`crate::rotation::lambda::step_deadline`]).
    pub async fn handle(
        &self,
        event: serde_json::Value,
        deadline: Option<tokio::time::Instant>,
    ) -> crate::rotation::lambda::Answer {
        use crate::rotation::lambda::{Event, classify};
        match self {
            Function::Rotation(h) => {
                h.handle_until(event, Caller::SecretsManager, deadline)
                    .await
            }
            Function::MacroOnly => match classify(event) {
                Event::Macro(request) => Ok(crate::cfn_macro::handle_request(
                    &request,
                    &crate::cfn_macro::ExpandOptions::from_env(),
                )),
                Event::Rotation(_) => Err(lambda_runtime::Diagnostic {
                    error_type: "NotConfigured".into(),
                    error_message: "this function has no ROTGEN_SERVICE, so it is only the Rotgen macro; rotation functions are made by `rotgen build` or the macro".into(),
                }),
                Event::Unknown(why) => Err(lambda_runtime::Diagnostic {
                    error_type: "UnrecognisedEvent".into(),
                    error_message: why,
                }),
            },
        }
    }
}

/// The Lambda entry: builds the function once, then serves events until Lambda stops us.
pub fn lambda_main() -> std::process::ExitCode {
    crate::rotation::lambda::init_logging();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return std::process::ExitCode::FAILURE;
        }
    };
    rt.block_on(async {
        let function = match Function::from_env(&Overrides::default()).await {
            Ok(f) => std::sync::Arc::new(f),
            Err(e) => {
                tracing::error!(error = %e, "cannot set up the function");
                return std::process::ExitCode::FAILURE;
            }
        };
        let served = lambda_runtime::run(lambda_runtime::service_fn(
            move |event: lambda_runtime::LambdaEvent<serde_json::Value>| {
                let function = std::sync::Arc::clone(&function);
                let deadline = crate::rotation::lambda::step_deadline(event.context.deadline);
                async move { function.handle(event.payload, deadline).await }
            },
        ))
        .await;
        match served {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = %e, "the Lambda runtime stopped");
                std::process::ExitCode::FAILURE
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engine_names_the_service() {
        let of = |text: &str| service_of(&SecretValue::parse(text));
        assert_eq!(
            of(r#"{"engine":"aurora-postgresql"}"#),
            Some(("postgres", Strategy::SingleUser))
        );
        assert_eq!(
            of(r#"{"engine":"mysql","masterarn":"arn:x"}"#),
            Some(("mysql", Strategy::AlternatingUsers))
        );
        assert_eq!(
            of(r#"{"engine":"redis","masterarn":"arn:x"}"#),
            Some(("redis", Strategy::SingleUser))
        );
        assert_eq!(of(r#"{"engine":"oracle"}"#), None);
        assert_eq!(of("plain"), None);
        assert_eq!(service_of_engine("Aurora-MySQL"), Some("mysql"));
    }

    /// Every engine of the services table names its own service, and no other service
    /// claims it.
    #[test]
    fn each_engine_belongs_to_one_service() {
        for s in services::SERVICES {
            for engine in s.engines {
                assert_eq!(engine.to_ascii_lowercase(), *engine, "{engine}: lower case");
                assert_eq!(service_of_engine(engine), Some(s.name), "{engine}");
                let claims = services::SERVICES
                    .iter()
                    .filter(|o| o.engines.contains(engine))
                    .count();
                assert_eq!(claims, 1, "{engine} is claimed by {claims} services");
            }
        }
    }
}
