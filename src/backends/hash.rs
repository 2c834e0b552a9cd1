//! Password verifiers computed on the client, so the new password never travels in a
//! statement a server may log (`log_statement`, MariaDB's general log, Redis's
//! `MONITOR`/`SLOWLOG`): the server stores what it would have computed itself.
//!
//! - PostgreSQL: a SCRAM-SHA-256 verifier (`SCRAM-SHA-256$4096:salt$StoredKey:ServerKey`,
//!   RFC 5802/7677), what `psql \password` sends. Only for passwords of printable ASCII,
//!   where SASLprep changes nothing; others go as literals.
//! - MySQL/MariaDB: the `mysql_native_password` hash (`*` + SHA1(SHA1(password)) in hex).
//! - Redis: the SHA-256 of the password in hex (`ACL SETUSER u #<hash>`).
//!
//! A verifier is not the password, but it allows an offline guess at it: rotgen's
//! passwords are random and long, so that guess is hopeless.

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// PostgreSQL's default iteration count for SCRAM-SHA-256.
pub const SCRAM_ITERATIONS: u32 = 4096;

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// PBKDF2-HMAC-SHA256 with one output block (32 bytes), as SCRAM's `Hi()`.
fn hi(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut u = hmac_sha256(password, &[salt, &1u32.to_be_bytes()]);
    let mut out = u;
    for _ in 1..iterations {
        u = hmac_sha256(password, &[&u]);
        for (o, b) in out.iter_mut().zip(u.iter()) {
            *o ^= b;
        }
    }
    out
}

/// Whether SASLprep leaves `password` as it is (then the verifier matches what a client
/// computes): printable ASCII.
pub fn scram_safe(password: &str) -> bool {
    !password.is_empty() && password.bytes().all(|b| (0x20..0x7f).contains(&b))
}

/// The SCRAM-SHA-256 verifier PostgreSQL stores for `password` with `salt`.
pub fn scram_sha256(password: &str, salt: &[u8], iterations: u32) -> String {
    let salted = hi(password.as_bytes(), salt, iterations);
    let client_key = hmac_sha256(&salted, &[b"Client Key"]);
    let stored_key: [u8; 32] = Sha256::digest(client_key).into();
    let server_key = hmac_sha256(&salted, &[b"Server Key"]);
    let b64 = base64::engine::general_purpose::STANDARD;
    format!(
        "SCRAM-SHA-256${iterations}:{}${}:{}",
        b64.encode(salt),
        b64.encode(stored_key),
        b64.encode(server_key)
    )
}

/// A fresh random 16-byte salt.
pub fn salt() -> [u8; 16] {
    uuid::Uuid::new_v4().into_bytes()
}

fn hex(bytes: &[u8], upper: bool) -> String {
    let digits: &[u8; 16] = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(digits[usize::from(b >> 4)] as char);
        s.push(digits[usize::from(b & 15)] as char);
    }
    s
}

/// The `mysql_native_password` hash: `*` and SHA1(SHA1(password)) in upper-case hex.
pub fn mysql_native(password: &str) -> String {
    let inner = Sha1::digest(password.as_bytes());
    format!("*{}", hex(&Sha1::digest(inner), true))
}

/// The form Redis keeps an ACL password in: SHA-256 in lower-case hex.
pub fn redis_sha256(password: &str) -> String {
    hex(&Sha256::digest(password.as_bytes()), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scram_matches_rfc7677() {
        // RFC 7677's example: password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==, 4096.
        let salt = base64::engine::general_purpose::STANDARD
            .decode("W22ZaJ0SNY7soEsUEjb6gQ==")
            .unwrap();
        let v = scram_sha256("pencil", &salt, 4096);
        // Expected value from Python's hashlib.pbkdf2_hmac and hmac (an independent
        // implementation).
        assert_eq!(
            v,
            "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
        );
    }

    #[test]
    fn mysql_and_redis_forms() {
        // SELECT PASSWORD('password') in MySQL 5.7 / MariaDB.
        assert_eq!(
            mysql_native("password"),
            "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19"
        );
        assert_eq!(
            redis_sha256("password"),
            "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"
        );
        assert!(scram_safe("Abc-123_!"));
        assert!(!scram_safe("pässword"));
        assert!(!scram_safe(""));
    }
}
