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
//!   a stack's author wrote.

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
