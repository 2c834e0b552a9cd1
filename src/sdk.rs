//! The AWS SDK's configuration, the one every SDK client of rotgen is built from: the
//! standard AWS environment (region, credentials, `AWS_ENDPOINT_URL…`) and an HTTP
//! client over reqwest with rotgen's own rustls configuration, the one the backends use
//! (aws-lc-rs, the Mozilla roots). The binary holds one HTTPS stack, not two.
//!
//! Why not the SDK's default client: it reads and decodes the system's whole CA bundle
//! when the first client is built, which was three quarters of a cold start's
//! instructions (docs/benchmarks.md). In Lambda the function trusts the Mozilla roots,
//! as its backends do (AWS's endpoints chain to Amazon's roots, which are among them).
//! Elsewhere (`rotgen status`, `import`, `rotate` on a workstation, perhaps behind a
//! proxy that re-signs TLS) the system's store joins them, as the AWS CLI trusts it.
//!
//! This module may not read a secret's value; it only carries requests. A request's
//! body is never written to an error: the SDK's requests hold secret values.

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The standard AWS configuration, in `region` when one is given, with rotgen's HTTP
/// client.
pub async fn config(region: Option<&str>) -> aws_config::SdkConfig {
    let mut loader =
        aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http_client());
    if let Some(r) = region {
        loader = loader.region(aws_config::Region::new(r.to_string()));
    }
    loader.load().await
}

/// Where the SDK's TLS roots come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Roots {
    /// The Mozilla roots alone: the function in Lambda.
    Mozilla,
    /// The Mozilla roots and the system's store: commands run on a workstation.
    WithSystem,
}

impl Roots {
    /// [`Roots::Mozilla`] in Lambda (the Runtime API's address is set), else
    /// [`Roots::WithSystem`].
    pub fn for_this_process() -> Roots {
        if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
            Roots::Mozilla
        } else {
            Roots::WithSystem
        }
    }
}

/// The SDK's HTTP client: reqwest, for [`Roots::for_this_process`].
pub fn http_client() -> SharedHttpClient {
    SharedHttpClient::new(Client {
        roots: Roots::for_this_process(),
        clients: Arc::default(),
    })
}

/// One reqwest client per set of timeouts the SDK asks for (in practice one), each
/// keeping its connections.
#[derive(Debug, Clone)]
struct Client {
    roots: Roots,
    clients: Arc<Mutex<Vec<(Timeouts, reqwest::Client)>>>,
}

type Timeouts = (Option<Duration>, Option<Duration>);

impl Client {
    fn reqwest(&self, timeouts: Timeouts) -> Result<reqwest::Client, String> {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, c)) = clients.iter().find(|(t, _)| *t == timeouts) {
            return Ok(c.clone());
        }
        let system = match self.roots {
            Roots::Mozilla => None,
            Roots::WithSystem => crate::backends::system_bundle()
                .map(|pem| crate::backends::parsable_certificates(&pem)),
        };
        let mut tls = crate::backends::https::tls_config(system.as_deref())?;
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let mut builder = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            // The SDK follows no redirect and retries by its own rules.
            .redirect(reqwest::redirect::Policy::none())
            .retry(reqwest::retry::never())
            .tcp_nodelay(true);
        if let Some(t) = timeouts.0 {
            builder = builder.connect_timeout(t);
        }
        if let Some(t) = timeouts.1 {
            builder = builder.read_timeout(t);
        }
        let client = builder
            .build()
            .map_err(|_| "the AWS SDK's HTTPS client cannot be set up".to_string())?;
        clients.push((timeouts, client.clone()));
        Ok(client)
    }
}

impl HttpClient for Client {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let client = self.reqwest((settings.connect_timeout(), settings.read_timeout()));
        SharedHttpConnector::new(Connector {
            client,
            roots: self.roots,
        })
    }
}

/// Sends the SDK's requests with one reqwest client (or fails each with why it could
/// not be built).
#[derive(Debug)]
struct Connector {
    client: Result<reqwest::Client, String>,
    roots: Roots,
}

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = match &self.client {
            Ok(c) => c.clone(),
            Err(why) => {
                let why = why.clone();
                return HttpConnectorFuture::ready(Err(ConnectorError::other(why.into(), None)));
            }
        };
        let roots = self.roots;
        HttpConnectorFuture::new(async move { send(&client, request, roots).await })
    }
}

/// A TLS handshake the SDK's client refused, in rotgen's words (never the server's).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the TLS handshake failed: {0}")]
pub struct TlsRefused(pub &'static str);

/// Why a failed AWS call's TLS handshake was refused, if that is why it failed: for the
/// one-line messages of the store, RDS, IAM and `rotgen status`.
pub fn tls_refused(error: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    let mut source = Some(error);
    while let Some(e) = source {
        if let Some(t) = e.downcast_ref::<TlsRefused>() {
            return Some(t.0);
        }
        source = e.source();
    }
    None
}

fn tls_words(e: &reqwest::Error, roots: Roots) -> Option<&'static str> {
    let crate::backends::https::Failure::Tls(words) = crate::backends::https::failure(e) else {
        return None;
    };
    Some(if words == crate::backends::UNTRUSTED_ISSUER {
        match roots {
            Roots::Mozilla => {
                "its certificate is not signed by a CA among the Mozilla roots the function trusts"
            }
            Roots::WithSystem => {
                "its certificate is not signed by a CA among the Mozilla roots or the system's store (SSL_CERT_FILE names another bundle)"
            }
        }
    } else {
        words
    })
}

async fn send(
    client: &reqwest::Client,
    request: HttpRequest,
    roots: Roots,
) -> Result<HttpResponse, ConnectorError> {
    let request = request
        .try_into_http1x()
        .map_err(|e| ConnectorError::user(e.into()))?;
    let (parts, body) = request.into_parts();
    // rotgen's requests are JSON or a form, in memory: no streaming body.
    let Some(bytes) = body.bytes() else {
        return Err(ConnectorError::user(
            "a streaming request body (rotgen sends none)".into(),
        ));
    };
    let request = http::Request::from_parts(parts, bytes.to_vec());
    let request =
        reqwest::Request::try_from(request).map_err(|e| ConnectorError::user(e.into()))?;
    let response = client
        .execute(request)
        .await
        .map_err(|e| match tls_words(&e, roots) {
            // Not retried: another attempt meets the same certificate.
            Some(words) => ConnectorError::other(Box::new(TlsRefused(words)), None),
            None => connector_error(e),
        })?;
    // The body stays a stream the SDK reads: a body in memory would be printed whole by
    // the SDK's trace of the response, and a response can hold a secret's value.
    let response: http::Response<reqwest::Body> = response.into();
    HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
        .map_err(|e| ConnectorError::other(e.into(), None))
}

/// A timeout is a timeout, a failed connection or body an I/O error (both retried by the
/// SDK); anything else is not retried.
fn connector_error(e: reqwest::Error) -> ConnectorError {
    if e.is_timeout() {
        ConnectorError::timeout(e.into())
    } else if e.is_connect() || e.is_body() || e.is_request() {
        ConnectorError::io(e.into())
    } else {
        ConnectorError::other(e.into(), None)
    }
}
