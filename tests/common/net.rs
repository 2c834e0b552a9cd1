//! Network stand-ins on 127.0.0.1 for the attacks and faults the handler must survive:
//!
//! - [`Proxy`]: forwards to a real service and cuts, or stalls, the connection after a
//!   given number of client messages (a Lambda killed or timed out between two
//!   statements);
//! - [`Fake`]: a server that plays a man in the middle (PostgreSQL, MySQL or Redis) and
//!   records every plaintext byte a client sends it.
//!
//! Every server here is bounded: it serves until the test's runtime ends.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The wire protocols the helpers can frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Postgres,
    Mysql,
}

/// What the proxy does once `after` client messages went through (counted over every
/// connection since [`Proxy::limit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    None,
    /// Close both sides instead of forwarding message `after + 1`.
    Cut {
        after: usize,
    },
    /// Hold message `after + 1` and everything after it: the service never answers.
    Stall {
        after: usize,
    },
}

/// A TCP proxy to a real service on 127.0.0.1.
pub struct Proxy {
    pub port: u16,
    limit: Arc<Mutex<Limit>>,
    count: Arc<AtomicUsize>,
    /// Whether the limit stopped a message since the last [`Proxy::limit`].
    fired: Arc<AtomicUsize>,
}

impl Proxy {
    /// Starts a proxy to `127.0.0.1:upstream` on the current runtime.
    pub async fn start(proto: Proto, upstream: u16) -> Proxy {
        Proxy::start_from(proto, upstream, std::net::Ipv4Addr::LOCALHOST).await
    }

    /// The same, its connections to the service made from `source` (another address of
    /// the loopback network, 127.0.0.2: the service then sees another client host).
    pub async fn start_from(proto: Proto, upstream: u16, source: std::net::Ipv4Addr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let limit = Arc::new(Mutex::new(Limit::None));
        let count = Arc::new(AtomicUsize::new(0));
        let fired = Arc::new(AtomicUsize::new(0));
        let (l, c, f) = (limit.clone(), count.clone(), fired.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let socket = tokio::net::TcpSocket::new_v4().unwrap();
                socket.bind((source, 0).into()).unwrap();
                let Ok(server) = socket
                    .connect((std::net::Ipv4Addr::LOCALHOST, upstream).into())
                    .await
                else {
                    continue;
                };
                tokio::spawn(pipe(proto, client, server, l.clone(), c.clone(), f.clone()));
            }
        });
        Proxy {
            port,
            limit,
            count,
            fired,
        }
    }

    /// Sets the limit and starts counting from zero.
    pub fn limit(&self, limit: Limit) {
        *self.limit.lock().unwrap() = limit;
        self.count.store(0, Ordering::SeqCst);
        self.fired.store(0, Ordering::SeqCst);
    }

    /// How many client messages reached the proxy since the last [`Proxy::limit`] (or
    /// since it started).
    pub fn messages(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// Whether the limit stopped a message since it was set.
    pub fn fired(&self) -> bool {
        self.fired.load(Ordering::SeqCst) > 0
    }
}

/// Reads one client message (its bytes, header included); `None` at the end.
async fn message(
    proto: Proto,
    r: &mut tokio::net::tcp::OwnedReadHalf,
    first: bool,
) -> Option<Vec<u8>> {
    match proto {
        Proto::Postgres => {
            // The startup message has no type byte; every later one has.
            let mut head = vec![0u8; if first { 4 } else { 5 }];
            r.read_exact(&mut head).await.ok()?;
            let len_at = if first { 0 } else { 1 };
            let len = u32::from_be_bytes(head[len_at..len_at + 4].try_into().unwrap()) as usize;
            let mut body = vec![0u8; len.checked_sub(4)?];
            r.read_exact(&mut body).await.ok()?;
            head.extend(body);
            Some(head)
        }
        Proto::Mysql => {
            let mut head = [0u8; 4];
            r.read_exact(&mut head).await.ok()?;
            let len = usize::from(head[0]) | usize::from(head[1]) << 8 | usize::from(head[2]) << 16;
            let mut out = head.to_vec();
            let mut body = vec![0u8; len];
            r.read_exact(&mut body).await.ok()?;
            out.extend(body);
            Some(out)
        }
    }
}

async fn pipe(
    proto: Proto,
    client: TcpStream,
    server: TcpStream,
    limit: Arc<Mutex<Limit>>,
    count: Arc<AtomicUsize>,
    fired: Arc<AtomicUsize>,
) {
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let down = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut sr, &mut cw).await;
    });
    let mut first = true;
    while let Some(msg) = message(proto, &mut cr, first).await {
        first = false;
        let n = count.fetch_add(1, Ordering::SeqCst);
        let l = *limit.lock().unwrap();
        match l {
            Limit::Cut { after } if n >= after => {
                fired.fetch_add(1, Ordering::SeqCst);
                down.abort();
                return;
            }
            Limit::Stall { after } if n >= after => {
                fired.fetch_add(1, Ordering::SeqCst);
                // Keep both sides open and answer nothing, until the test ends.
                std::future::pending::<()>().await;
            }
            _ => {}
        }
        if sw.write_all(&msg).await.is_err() {
            break;
        }
    }
    down.abort();
}

/// How a fake server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fake {
    /// Offers TLS, then presents a certificate no trusted CA signed (the test CA's).
    PostgresUntrusted,
    /// Declines TLS (`N`), then asks for the password in clear text.
    PostgresDeclines,
    /// Offers TLS in its handshake, then presents an untrusted certificate.
    MysqlUntrusted,
    /// Answers a Redis `PING` probe in plaintext, then rejects every login.
    RedisPlaintext,
}

/// What a fake server saw.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    pub connections: usize,
    /// Every byte received outside TLS.
    pub plaintext: Vec<u8>,
}

impl Seen {
    /// A copy of what a server has seen so far (the lock is not held).
    pub fn of(seen: &Mutex<Seen>) -> Seen {
        seen.lock().unwrap().clone()
    }

    pub fn contains(&self, text: &str) -> bool {
        self.plaintext
            .windows(text.len().max(1))
            .any(|w| w == text.as_bytes())
    }
}

pub fn tls_acceptor() -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let dir = super::root().join("tests/fixtures/backends");
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.join("server.pem"))
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// Starts a fake server of `kind` on 127.0.0.1 (on the current runtime); its port and
/// what it sees.
pub async fn fake(kind: Fake) -> (u16, Arc<Mutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let s = seen.clone();
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            s.lock().unwrap().connections += 1;
            tokio::spawn(serve_fake(kind, conn, s.clone()));
        }
    });
    (port, seen)
}

/// Reads what the client sends within a short while, recording it.
async fn record(conn: &mut TcpStream, seen: &Mutex<Seen>) -> Vec<u8> {
    let mut buf = vec![0u8; 4096];
    let mut got = Vec::new();
    while let Ok(Ok(n)) =
        tokio::time::timeout(std::time::Duration::from_millis(300), conn.read(&mut buf)).await
    {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    seen.lock().unwrap().plaintext.extend_from_slice(&got);
    got
}

fn mysql_handshake() -> Vec<u8> {
    let caps: u32 =
        0x1 | 0x2 | 0x4 | 0x8 | 0x200 | 0x800 | 0x2000 | 0x8000 | 0x10000 | 0x20000 | 0x80000;
    let mut p = vec![10u8];
    p.extend_from_slice(b"5.7.44-fake\0");
    p.extend_from_slice(&7u32.to_le_bytes());
    p.extend_from_slice(b"abcdefgh");
    p.push(0);
    p.extend_from_slice(&(caps as u16).to_le_bytes());
    p.push(45);
    p.extend_from_slice(&2u16.to_le_bytes());
    p.extend_from_slice(&((caps >> 16) as u16).to_le_bytes());
    p.push(21);
    p.extend_from_slice(&[0u8; 10]);
    p.extend_from_slice(b"ijklmnopqrst\0");
    p.extend_from_slice(b"mysql_native_password\0");
    let mut out = vec![
        p.len() as u8,
        (p.len() >> 8) as u8,
        (p.len() >> 16) as u8,
        0,
    ];
    out.extend(p);
    out
}

async fn serve_fake(kind: Fake, mut conn: TcpStream, seen: Arc<Mutex<Seen>>) {
    match kind {
        Fake::PostgresUntrusted | Fake::PostgresDeclines => {
            let mut head = [0u8; 8];
            if conn.read_exact(&mut head).await.is_err() {
                return;
            }
            let ssl_request = head == [0, 0, 0, 8, 4, 210, 22, 47];
            if !ssl_request {
                seen.lock().unwrap().plaintext.extend_from_slice(&head);
            } else if kind == Fake::PostgresUntrusted {
                let _ = conn.write_all(b"S").await;
                let _ = tls_acceptor().accept(conn).await;
                return;
            } else {
                let _ = conn.write_all(b"N").await;
            }
            // Whatever comes now is plaintext: the startup message; ask for the password
            // in clear text, as a man in the middle would.
            record(&mut conn, &seen).await;
            let _ = conn.write_all(&[b'R', 0, 0, 0, 8, 0, 0, 0, 3]).await;
            record(&mut conn, &seen).await;
        }
        Fake::MysqlUntrusted => {
            if conn.write_all(&mysql_handshake()).await.is_err() {
                return;
            }
            // The SSLRequest is a 32-byte packet; a plaintext handshake response is longer.
            let mut head = [0u8; 4];
            if conn.read_exact(&mut head).await.is_err() {
                return;
            }
            let len = usize::from(head[0]) | usize::from(head[1]) << 8;
            let mut body = vec![0u8; len];
            if conn.read_exact(&mut body).await.is_err() {
                return;
            }
            if len == 32 {
                let _ = tls_acceptor().accept(conn).await;
            } else {
                let mut s = seen.lock().unwrap();
                s.plaintext.extend_from_slice(&head);
                s.plaintext.extend_from_slice(&body);
            }
        }
        Fake::RedisPlaintext => loop {
            let got = record(&mut conn, &seen).await;
            if got.is_empty() {
                return;
            }
            let answer: &[u8] = if got.starts_with(b"PING") {
                b"+PONG\r\n"
            } else {
                b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
            };
            if conn.write_all(answer).await.is_err() {
                return;
            }
        },
    }
}

/// A TLS front for a real PostgreSQL on 127.0.0.1 (which has no TLS of its own): it
/// accepts PostgreSQL's SSLRequest, terminates TLS with the test CA's certificate (for
/// 127.0.0.1 and localhost), and forwards the decrypted stream. Its port.
pub async fn postgres_tls_front(upstream: u16) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = [0u8; 8];
                if conn.read_exact(&mut head).await.is_err() || head != [0, 0, 0, 8, 4, 210, 22, 47]
                {
                    return;
                }
                if conn.write_all(b"S").await.is_err() {
                    return;
                }
                terminate_tls(conn, upstream).await;
            });
        }
    });
    port
}

/// A TLS front for any TCP service on 127.0.0.1 (moto, for the AWS SDK's client): it
/// terminates TLS with the test CA's certificate (for 127.0.0.1 and localhost) and
/// forwards the decrypted stream. Its port.
pub async fn tls_front(upstream: u16) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            tokio::spawn(terminate_tls(conn, upstream));
        }
    });
    port
}

async fn terminate_tls(conn: TcpStream, upstream: u16) {
    let Ok(mut tls) = tls_acceptor().accept(conn).await else {
        return;
    };
    let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
        return;
    };
    let _ = tokio::io::copy_bidirectional(&mut tls, &mut server).await;
}
