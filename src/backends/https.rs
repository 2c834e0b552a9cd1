//! The HTTPS client of the services reached by URL (`http`, `http-token`, `rabbitmq`):
//! reqwest (HTTP/1.1 only), given rotgen's own rustls configuration (aws-lc-rs, the TLS
//! floor, the Mozilla roots plus the trusted PEM). Its connections are kept for the next
//! request to the same origin within a run. It replaced a hand-written hyper client
//! (docs/development.md, "Why these dependencies", has the measurements).
//!
//! Its rules: a connect timeout ([`CONNECT_TIMEOUT`]) and a whole-request timeout;
//! redirects are answers like any other (never followed, so credentials only go where
//! the caller said); an answer's body is read up to [`MAX_BODY`]; the server's
//! certificate chains to the Mozilla roots, the system's store or `ROTGEN_CA_FILE`, and
//! names the host. Failures come back as [`Failure`], whose words never hold the URL's
//! path or query, a header or a body.

use super::{CONNECT_TIMEOUT, Trust, tls_reason};
use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

pub use reqwest::Method;

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
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
}

/// The body may hold a credential (an issued token): `Debug` shows only its length.
impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Answer")
            .field("status", &self.status)
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .finish()
    }
}

impl Answer {
    /// The body as JSON, `Null` when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// The client: reqwest's, with rotgen's TLS configuration, built once (its connections
/// are kept for the next request to the same host).
pub struct Https {
    client: reqwest::Client,
    https_only: bool,
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
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(config)
            .https_only(https_only)
            // A redirect is an answer like any other: credentials go only where the
            // caller said.
            .redirect(reqwest::redirect::Policy::none())
            // A request that changes a password is never sent twice by the client.
            .retry(reqwest::retry::never())
            // No proxy from the environment: the function talks to the service itself.
            .no_proxy()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(timeout)
            .tcp_nodelay(true)
            .user_agent(concat!("rotgen/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|_| "the HTTPS client cannot be set up".to_string())?;
        Ok(Https { client, https_only })
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
        match url.scheme() {
            "https" => {}
            "http" if !self.https_only => {}
            "http" => return Err(Failure::Url("http:// is refused: https:// is required")),
            _ => return Err(Failure::Url("the scheme is not https")),
        }
        if url.host().is_none() {
            return Err(Failure::Url("the URL has no host"));
        }
        if url.port_or_known_default().is_none() {
            return Err(Failure::Url("the URL has no port"));
        }
        // User info in the URL is never sent (reqwest would make it a Basic header).
        let mut target = url.clone();
        let _ = target.set_username("");
        let _ = target.set_password(None);
        target.set_fragment(None);
        let mut request = self.client.request(method, target);
        if let Some(a) = authorization {
            request = request.header(AUTHORIZATION, a);
        }
        if let Some(v) = json {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(v.to_string());
        }
        let mut response = request.send().await.map_err(|e| failure(&e))?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| failure(&e))? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(Failure::Broken);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer {
            status,
            body: Bytes::from(body),
        })
    }
}

/// What a failed request was, from reqwest's error and its causes (read, never shown:
/// they can hold the URL).
pub(crate) fn failure(e: &reqwest::Error) -> Failure {
    if e.is_timeout() {
        return Failure::Timeout;
    }
    let mut text = String::new();
    let mut io_kind = None;
    let mut source = e.source();
    while let Some(s) = source {
        if s.downcast_ref::<rustls::Error>().is_some() {
            return Failure::Tls(tls_reason(&format!("{s:?}")));
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if let Some(inner) = io.get_ref()
                && let Some(r) = inner.downcast_ref::<rustls::Error>()
            {
                return Failure::Tls(tls_reason(&format!("{r:?}")));
            }
            io_kind.get_or_insert(io.kind());
        }
        text.push_str(&s.to_string());
        text.push('\n');
        source = s.source();
    }
    if !e.is_connect() {
        return Failure::Broken;
    }
    // hyper-util's connector says which part failed: name resolution, the TCP connect,
    // or (neither) the TLS handshake over a connected socket.
    if text.contains("dns error") {
        Failure::Unreachable
    } else if text.contains("tcp connect error") || text.contains("tcp open error") {
        match io_kind {
            Some(std::io::ErrorKind::ConnectionRefused) => Failure::Refused,
            Some(std::io::ErrorKind::TimedOut) => Failure::Timeout,
            _ => Failure::Unreachable,
        }
    } else {
        Failure::Tls(handshake_words(&text))
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
    handshake_words(&text)
}

/// The safe words for a failed handshake, from its error chain's text.
fn handshake_words(text: &str) -> &'static str {
    let about_tls = ["tls", "TLS", "certificate", "Certificate"]
        .iter()
        .any(|w| text.contains(w));
    let closed = ["reset", "closed", "eof", "EOF"]
        .iter()
        .any(|w| text.contains(w));
    if closed && !about_tls {
        "the server closed the connection during the TLS handshake (does it speak TLS on this port?)"
    } else {
        tls_reason(text)
    }
}

/// Whether `text` cannot stand as one URL path segment: empty, `.` or `..`, which URL
/// parsers and servers resolve as path steps (`…/users/..` is `…/`), whatever escaping
/// the rest gets. A value from a secret that lands in a path is checked with this.
pub fn unsafe_segment(text: &str) -> bool {
    matches!(text, "" | "." | "..")
}

/// `Basic base64(user:password)`.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answers_debug_holds_no_body() {
        let a = Answer {
            status: 201,
            body: Bytes::from_static(br#"{"secret":"tok-issued-hunter2"}"#),
        };
        let shown = format!("{a:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            shown.contains("201") && shown.contains("31 bytes"),
            "{shown}"
        );
    }
}
