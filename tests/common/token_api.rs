//! A token API on 127.0.0.1 over HTTPS (the fixture certificate of
//! `tests/fixtures/backends`), for the `http-token` backend: it issues, lists and revokes
//! bearer tokens, answers who a token is, and lets one owner hold two tokens at most.
//!
//! | call | answer |
//! | --- | --- |
//! | `GET /me` | `{"name": owner, "token": {"id": id}}`, or `401` |
//! | `GET /tokens` | `{"data": [{"id", "created_at"}…]}`: the caller's tokens |
//! | `POST /tokens` | `201 {"id", "secret", "created_at"}`, or `409` at the limit |
//! | `DELETE /tokens/ID` | `204`, or `404` when the caller holds no such token |
//! | `DELETE /users/OWNER/` | `204`: the owner is deleted, with every token it holds (where a revoke whose id resolved as `..` lands) |
//!
//! Tokens are stamped with the real clock in seconds (`created_at`), or, with
//! `State::calendar_dates`, as a calendar date no client can read as a time.
//!
//! The administrator's token (`State::admin`) manages anyone's tokens at
//! `/users/OWNER/tokens` and `/users/OWNER/tokens/ID` (an owner may use those too); at
//! `/tokens` it manages its own, as any caller does.

use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One issued token.
#[derive(Debug, Clone)]
pub struct Token {
    pub owner: String,
    pub id: String,
    pub secret: String,
    pub created: i64,
}

#[derive(Debug, Default)]
pub struct State {
    pub tokens: Vec<Token>,
    next: u64,
    /// Every request line seen (method and path).
    pub requests: Vec<String>,
    /// The administrator's token, if there is one.
    pub admin: Option<String>,
    /// `created_at` as a calendar date (`4 Dec 2026`) instead of seconds.
    pub calendar_dates: bool,
    /// `created_at` in this many parts of a second (1,000: milliseconds) instead of
    /// seconds.
    pub date_scale: Option<i64>,
}

/// Seconds since the epoch, now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

impl State {
    /// Issues a token for `owner` (as the service would), ignoring the limit.
    pub fn issue(&mut self, owner: &str) -> Token {
        self.next += 1;
        let t = Token {
            owner: owner.into(),
            id: format!("tok_{}", self.next),
            secret: format!("secret-{}-{:x}", self.next, rand_u64()),
            created: now(),
        };
        self.tokens.push(t.clone());
        t
    }

    pub fn ids_of(&self, owner: &str) -> Vec<String> {
        self.tokens
            .iter()
            .filter(|t| t.owner == owner)
            .map(|t| t.id.clone())
            .collect()
    }

    /// The owner and id of the token whose secret part is `secret`.
    fn holder_of(&self, secret: &str) -> Option<(String, String)> {
        if self.admin.as_deref() == Some(secret) {
            return Some((ADMIN.into(), "admin".into()));
        }
        self.tokens
            .iter()
            .find(|t| t.secret == secret)
            .map(|t| (t.owner.clone(), t.id.clone()))
    }

    fn created_at(&self, t: &Token) -> Value {
        if self.calendar_dates {
            json!("4 Dec 2026")
        } else {
            json!(t.created * self.date_scale.unwrap_or(1))
        }
    }
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    h.finish()
}

pub const LIMIT: usize = 2;
/// The administrator's name.
pub const ADMIN: &str = "token-admin";

/// A running token API: its port and its state. It runs on a thread of its own, so a
/// `rotgen` process can call it while the test waits.
pub struct TokenApi {
    pub port: u16,
    pub state: Arc<Mutex<State>>,
}

impl TokenApi {
    pub fn start() -> TokenApi {
        let state = Arc::new(Mutex::new(State::default()));
        let (tx, rx) = std::sync::mpsc::channel();
        let st = state.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap().port()).unwrap();
                let acceptor = super::net::tls_acceptor();
                loop {
                    let Ok((sock, _)) = listener.accept().await else {
                        return;
                    };
                    let (acceptor, st) = (acceptor.clone(), st.clone());
                    tokio::spawn(async move {
                        if let Ok(mut tls) = acceptor.accept(sock).await {
                            let _ = serve(&mut tls, &st).await;
                        }
                    });
                }
            });
        });
        TokenApi {
            port: rx.recv().unwrap(),
            state,
        }
    }

    /// The contract of the administrator's calls (`{user}` in the URLs).
    pub fn admin_contract(&self) -> Value {
        let base = format!("https://localhost:{}/users/{{user}}", self.port);
        let mut c = self.contract();
        c["issue_url"] = json!(format!("{base}/tokens"));
        c["list_url"] = json!(format!("{base}/tokens"));
        c["revoke_url"] = json!(format!("{base}/tokens/{{id}}"));
        c
    }

    /// [`Self::contract`] without `whoami_id_pointer`: who-am-i's answer names the token,
    /// but the function is not told where.
    pub fn contract_without_id(&self) -> Value {
        let mut c = self.contract();
        c.as_object_mut().unwrap().remove("whoami_id_pointer");
        c
    }

    /// The contract of this API, as the spec's `token_api` (and `ROTGEN_API_CONTRACT`).
    pub fn contract(&self) -> Value {
        let base = format!("https://localhost:{}", self.port);
        json!({
            "issue_url": format!("{base}/tokens"),
            "list_url": format!("{base}/tokens"),
            "revoke_url": format!("{base}/tokens/{{id}}"),
            "whoami_url": format!("{base}/me"),
            "token_pointer": "/secret",
            "created_pointer": "/created_at",
            "list_pointer": "/data",
            "whoami_id_pointer": "/token/id",
            "limit": LIMIT,
        })
    }
}

/// One connection: requests until the client closes it.
async fn serve<S>(sock: &mut S, state: &Mutex<State>) -> std::io::Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = sock.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let mut lines = head.split("\r\n");
        let request = lines.next().unwrap_or("").to_string();
        let (mut bearer, mut length) = (None, 0usize);
        for l in lines {
            if let Some((k, v)) = l.split_once(':') {
                match k.trim().to_ascii_lowercase().as_str() {
                    "authorization" => {
                        bearer = v.trim().strip_prefix("Bearer ").map(str::to_string)
                    }
                    "content-length" => length = v.trim().parse().unwrap_or(0),
                    _ => {}
                }
            }
        }
        while buf.len() < head_end + length {
            let n = sock.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        buf.drain(..head_end + length);
        let mut parts = request.split(' ');
        let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let (status, body) = {
            let mut st = state.lock().unwrap();
            st.requests.push(format!("{method} {path}"));
            answer(&mut st, method, path, bearer.as_deref())
        };
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let resp = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        sock.write_all(resp.as_bytes()).await?;
    }
}

fn answer(st: &mut State, method: &str, path: &str, bearer: Option<&str>) -> (u16, Option<Value>) {
    let Some((caller, caller_token)) = bearer.and_then(|b| st.holder_of(b)) else {
        return (401, Some(json!({"error": "unauthorized"})));
    };
    // /users/OWNER/tokens…: the administrator, or the owner itself.
    let (owner, path) = match path.strip_prefix("/users/") {
        Some(rest) => {
            let (owner, rest) = rest.split_once('/').unwrap_or((rest, ""));
            if caller != ADMIN && caller != owner {
                return (403, Some(json!({"error": "forbidden"})));
            }
            (owner.to_string(), format!("/{rest}"))
        }
        None => (caller.clone(), path.to_string()),
    };
    let path = path.as_str();
    match (method, path) {
        ("GET", "/me") => (
            200,
            Some(json!({"name": caller, "token": {"id": caller_token}})),
        ),
        ("GET", "/tokens") => {
            let data: Vec<Value> = st
                .tokens
                .iter()
                .filter(|t| t.owner == owner)
                .map(|t| json!({"id": t.id, "created_at": st.created_at(t)}))
                .collect();
            (200, Some(json!({"data": data})))
        }
        ("POST", "/tokens") => {
            if st.ids_of(&owner).len() >= LIMIT {
                return (409, Some(json!({"error": "token limit reached"})));
            }
            let t = st.issue(&owner);
            (
                201,
                Some(json!({"id": t.id, "secret": t.secret, "created_at": st.created_at(&t)})),
            )
        }
        // The owner itself, deleted with all its tokens.
        ("DELETE", "/") => {
            st.tokens.retain(|t| t.owner != owner);
            (204, None)
        }
        ("DELETE", p) if p.starts_with("/tokens/") => {
            let id = &p["/tokens/".len()..];
            let before = st.tokens.len();
            st.tokens.retain(|t| !(t.owner == owner && t.id == id));
            if st.tokens.len() < before {
                (204, None)
            } else {
                (404, Some(json!({"error": "no such token"})))
            }
        }
        _ => (404, Some(json!({"error": "not found"}))),
    }
}
