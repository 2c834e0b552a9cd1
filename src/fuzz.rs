//! Entry points for fuzzing the parsers that read untrusted input: each takes any bytes
//! and must return, without a panic, a hang or time that grows faster than the input.
//! `fuzz/` (cargo-fuzz, libFuzzer) drives them with coverage; `tests/fuzz.rs` replays
//! their corpus and mutations of it on the stable toolchain, in every test run.
//!
//! What each reads, and who writes it:
//! - [`ldap_answer`]: what an LDAP server answers (a BER-encoded LDAPMessage), which a
//!   directory the function does not control writes;
//! - [`yaml`]: a template a user hands `rotgen expand` (the YAML reader);
//! - [`spec`]: a spec `rotgen build` compiles (TOML, then the model and the templates);
//! - [`macro_request`]: the JSON event CloudFormation sends the macro, with the template
//!   a stack's author wrote;
//! - [`token_answer`]: what a token API answers the `http-token` backend (its list,
//!   issue and who-am-i answers, creation times included), which a service the
//!   function does not control writes.

/// An LDAP server's answer: framed as the connection reads it, then parsed, then (as an
/// extended operation's value) checked as a WhoAmI answer.
pub fn ldap_answer(data: &[u8]) {
    crate::backends::ldap::fuzz_answer(data);
}

/// A YAML template, read as `rotgen expand` reads one, then expanded when it parses.
pub fn yaml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(template) = crate::yaml::parse(text) {
        let _ = crate::cfn_macro::expand(&template, &crate::cfn_macro::ExpandOptions::default());
    }
}

/// A TOML spec, compiled to its templates when it is valid.
pub fn spec(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = crate::compile_toml(text, &|label| format!("template.{label}.yaml"));
}

/// A macro request, answered as the macro's Lambda answers it.
pub fn macro_request(data: &[u8]) {
    if let Ok(request) = serde_json::from_slice::<serde_json::Value>(data) {
        let answer =
            crate::cfn_macro::handle_request(&request, &crate::cfn_macro::ExpandOptions::default());
        // The answer is always well formed: a status, and the request's id.
        assert!(answer["status"] == "success" || answer["status"] == "failure");
    }
}

/// A token API's answer, read as a list_url, an issue_url and a whoami_url answer, under
/// a contract with pointers into nested objects and one whose list is the whole answer.
pub fn token_answer(data: &[u8]) {
    use crate::backends::http_token::Contract;
    use std::sync::OnceLock;
    static CONTRACTS: OnceLock<[Contract; 2]> = OnceLock::new();
    let contracts = CONTRACTS.get_or_init(|| {
        let base = r#""issue_url": "https://api.example/users/{user}/tokens", "list_url": "https://api.example/users/{user}/tokens", "revoke_url": "https://api.example/users/{user}/tokens/{id}", "whoami_url": "https://api.example/me""#;
        let parse = |extra: &str| {
            Contract::parse(&format!("{{{base}{extra}}}")).expect("the fuzz contracts parse")
        };
        [
            parse(r#", "list_pointer": "/data", "created_pointer": "/created_at", "whoami_id_pointer": "/token/id", "token_pointer": "/secret""#),
            parse(""),
        ]
    });
    let Ok(answer) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    for c in contracts {
        let _ = c.listed(&answer);
        let _ = c.issued(&answer);
        let _ = c.identity(&answer);
    }
}
