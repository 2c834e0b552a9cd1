//! The HTTPS client of the services reached by URL (`http`, `http-token`, `rabbitmq`):
//! one HTTP/1.1 request per connection, over verified TLS (rustls), with hyper, all of it
//! already in the binary for the AWS SDK and the Lambda runtime.
//!
//! Its rules: a connect timeout ([`CONNECT_TIMEOUT`]) and a whole-request timeout;
//! redirects are answers like any other (never followed, so credentials only go where
//! the caller said); an answer's body is read up to [`MAX_BODY`]; the server's
//! certificate chains to the Mozilla roots, the system's store or `ROTGEN_CA_FILE`, and
//! names the host. Failures come back as [`Failure`], whose words never hold the URL's
//! path or query, a header or a body.

use super::{CONNECT_TIMEOUT, Trust, tls_reason};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, USER_AGENT};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use url::{Host, Url};

pub use hyper::Method;

/// The most of an answer's body that is read.
pub const MAX_BODY: usize = 1 << 20;

/// Why a request got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The URL cannot be requested (no host, a scheme other than http(s)).
    Url(&'static str),
    Timeout,
    Refused,
    /// The TLS handshake failed: why, in safe words ([`tls_reason`]).
    Tls(&'static str),
    /// The host cannot be reached (name resolution, network).
    Unreachable,
    /// The connection broke before the answer was complete.
    Broken,
}

/// An answer: its status and body (at most [`MAX_BODY`] bytes).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON, `Null` when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// The client: a TLS configuration, built once.
pub struct Https {
    tls: Arc<rustls::ClientConfig>,
    https_only: bool,
    timeout: Duration,
}

impl std::fmt::Debug for Https {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Https")
            .field("https_only", &self.https_only)
            .finish()
    }
}

impl Https {
    /// A client trusting `trust`'s roots (the Mozilla roots are always there); with
    /// `https_only`, `http://` is refused. `timeout` bounds each whole request.
    pub fn new(trust: &Trust, https_only: bool, timeout: Duration) -> Result<Https, String> {
        let mut config = tls_config(trust.roots_pem())?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Https {
            tls: Arc::new(config),
            https_only,
            timeout,
        })
    }

    /// Sends one request: `authorization` is the header's whole value (`Basic …`,
    /// `Bearer …`), `json` the body (sent as `application/json`).
    pub async fn send(
        &self,
        method: Method,
        url: &Url,
        authorization: Option<&str>,
        json: Option<&serde_json::Value>,
    ) -> Result<Answer, Failure> {
        match tokio::time::timeout(
            self.timeout,
            self.send_inner(method, url, authorization, json),
        )
        .await
        {
            Ok(r) => r,
            Err(_) => Err(Failure::Timeout),
        }
    }

    async fn send_inner(
        &self,
        method: Method,
        url: &Url,
        authorization: Option<&str>,
        json: Option<&serde_json::Value>,
    ) -> Result<Answer, Failure> {
        let tls = match url.scheme() {
            "https" => true,
            "http" if !self.https_only => false,
            "http" => return Err(Failure::Url("http:// is refused: https:// is required")),
            _ => return Err(Failure::Url("the scheme is not https")),
        };
        let (host, name) = match url.host() {
            Some(Host::Domain(d)) => (d.to_string(), d.to_string()),
            Some(Host::Ipv4(a)) => (a.to_string(), a.to_string()),
            Some(Host::Ipv6(a)) => (a.to_string(), a.to_string()),
            None => return Err(Failure::Url("the URL has no host")),
        };
        let port = url
            .port_or_known_default()
            .ok_or(Failure::Url("the URL has no port"))?;
        let tcp =
            match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host.as_str(), port)))
                .await
            {
                Err(_) => return Err(Failure::Timeout),
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    return Err(Failure::Refused);
                }
                Ok(Err(_)) => return Err(Failure::Unreachable),
                Ok(Ok(s)) => s,
            };
        let _ = tcp.set_nodelay(true);
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(&url[url::Position::BeforePath..url::Position::AfterQuery])
            .header(
                HOST,
                &url[url::Position::BeforeHost..url::Position::AfterPort],
            )
            .header(USER_AGENT, concat!("rotgen/", env!("CARGO_PKG_VERSION")));
        if let Some(a) = authorization {
            request = request.header(AUTHORIZATION, a);
        }
        let body = match json {
            Some(v) => {
                request = request.header(CONTENT_TYPE, "application/json");
                Bytes::from(v.to_string())
            }
            None => Bytes::new(),
        };
        let request = request
            .body(Full::new(body))
            .map_err(|_| Failure::Url("the request cannot be built"))?;
        if tls {
            let server = ServerName::try_from(name)
                .map_err(|_| Failure::Url("the host is not a valid name"))?;
            let connector = tokio_rustls::TlsConnector::from(self.tls.clone());
            let stream =
                match tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(server, tcp)).await {
                    Err(_) => return Err(Failure::Timeout),
                    Ok(Err(e)) => return Err(Failure::Tls(tls_failure(&e))),
                    Ok(Ok(s)) => s,
                };
            exchange(TokioIo::new(stream), request).await
        } else {
            exchange(TokioIo::new(tcp), request).await
        }
    }
}

/// A TLS client configuration trusting the Mozilla roots plus the certificates of
/// `extra` (PEM; ones the TLS library cannot use are left out).
pub(crate) fn tls_config(extra: Option<&[u8]>) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(pem) = extra {
        let certs = CertificateDer::pem_slice_iter(pem).filter_map(Result::ok);
        roots.add_parsable_certificates(certs);
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|_| "the TLS library cannot be set up".to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The safe words for a failed handshake, from its error chain (read, never shown).
pub(crate) fn tls_failure(e: &std::io::Error) -> &'static str {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push('\n');
        text.push_str(&s.to_string());
        source = s.source();
    }
    let about_tls = ["tls", "TLS", "certificate", "Certificate"]
        .iter()
        .any(|w| text.contains(w));
    let closed = ["reset", "closed", "eof"].iter().any(|w| text.contains(w));
    if closed && !about_tls {
        "the server closed the connection during the TLS handshake (does it speak TLS on this port?)"
    } else {
        tls_reason(&text)
    }
}

/// One request and its answer on a fresh connection.
async fn exchange<T>(
    io: TokioIo<T>,
    request: hyper::Request<Full<Bytes>>,
) -> Result<Answer, Failure>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|_| Failure::Broken)?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let response = sender
        .send_request(request)
        .await
        .map_err(|_| Failure::Broken)?;
    let status = response.status().as_u16();
    let body = Limited::new(response.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|_| Failure::Broken)?
        .to_bytes();
    Ok(Answer { status, body })
}

/// `Basic base64(user:password)`.
/// Whether `text` cannot stand as one URL path segment: empty, `.` or `..`, which URL
/// parsers and servers resolve as path steps (`…/users/..` is `…/`), whatever escaping
/// the rest gets. A value from a secret that lands in a path is checked with this.
pub fn unsafe_segment(text: &str) -> bool {
    matches!(text, "" | "." | "..")
}

pub fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// `scheme://host:port`: where a request went, without path, query or user info.
pub fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}
