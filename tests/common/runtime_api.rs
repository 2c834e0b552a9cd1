//! A minimal Lambda Runtime API on 127.0.0.1: it hands out queued events on
//! `GET /2018-06-01/runtime/invocation/next` and records what the function answers.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Response(String),
    Error(String),
    InitError(String),
}

#[derive(Default)]
struct State {
    events: VecDeque<(String, String)>,
    replies: Vec<(String, Reply)>,
    /// When the first `next` request arrived (cold start ends there).
    first_next: Option<Instant>,
}

pub struct RuntimeApi {
    pub addr: String,
    state: Arc<(Mutex<State>, Condvar)>,
}

impl RuntimeApi {
    /// Serves `events` (request id, JSON body) in order.
    pub fn start(events: Vec<(String, String)>) -> RuntimeApi {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let state = Arc::new((
            Mutex::new(State {
                events: events.into(),
                ..State::default()
            }),
            Condvar::new(),
        ));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || serve(stream, &shared));
            }
        });
        RuntimeApi { addr, state }
    }

    /// Waits until `n` replies arrived (or the timeout passed); returns them.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<(String, Reply)> {
        let (lock, cvar) = &*self.state;
        let deadline = Instant::now() + timeout;
        let mut s = lock.lock().unwrap();
        while s.replies.len() < n && Instant::now() < deadline {
            s = cvar.wait_timeout(s, Duration::from_millis(50)).unwrap().0;
        }
        s.replies.clone()
    }

    pub fn first_next(&self) -> Option<Instant> {
        self.state.0.lock().unwrap().first_next
    }
}

fn serve(stream: TcpStream, shared: &(Mutex<State>, Condvar)) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let body = String::from_utf8_lossy(&body).into_owned();
        let mut parts = request_line.split_whitespace();
        let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let (lock, cvar) = shared;
        if method == "GET" && path.ends_with("/runtime/invocation/next") {
            let next = {
                let mut s = lock.lock().unwrap();
                s.first_next.get_or_insert_with(Instant::now);
                s.events.pop_front()
            };
            let Some((id, event)) = next else {
                // No more events: hold the long poll until the test ends the process.
                std::thread::sleep(Duration::from_secs(600));
                return;
            };
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis()
                + 60_000;
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: {id}\r\nLambda-Runtime-Deadline-Ms: {deadline}\r\nLambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:rotgen\r\nLambda-Runtime-Trace-Id: Root=1-0-0\r\nContent-Length: {}\r\n\r\n",
                event.len()
            );
            if writer
                .write_all(head.as_bytes())
                .and_then(|()| writer.write_all(event.as_bytes()))
                .is_err()
            {
                return;
            }
            continue;
        }
        let reply = if path.ends_with("/init/error") {
            Some(("init".to_string(), Reply::InitError(body)))
        } else if let Some(rest) = path.strip_prefix("/2018-06-01/runtime/invocation/") {
            let (id, kind) = rest.split_once('/').unwrap_or((rest, ""));
            match kind {
                "response" => Some((id.to_string(), Reply::Response(body))),
                "error" => Some((id.to_string(), Reply::Error(body))),
                _ => None,
            }
        } else {
            None
        };
        if let Some(r) = reply {
            lock.lock().unwrap().replies.push(r);
            cvar.notify_all();
        }
        let _ = writer.write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}");
    }
}
