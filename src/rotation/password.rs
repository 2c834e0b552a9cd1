//! The password policy, from the environment variables AWS's rotation functions read.

use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordPolicy {
    pub length: i64,
    pub exclude_characters: String,
    pub exclude_numbers: bool,
    pub exclude_punctuation: bool,
    pub exclude_uppercase: bool,
    pub exclude_lowercase: bool,
    pub require_each_included_type: bool,
}

/// AWS's default `EXCLUDE_CHARACTERS`; their PostgreSQL functions add `:`.
pub const DEFAULT_EXCLUDE: &str = "/@\"'\\";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("environment variable {name} is {value:?}: {expected}")]
pub struct PolicyError {
    pub name: &'static str,
    pub value: String,
    pub expected: &'static str,
}

impl PasswordPolicy {
    /// Reads `PASSWORD_LENGTH`, `EXCLUDE_CHARACTERS`, `EXCLUDE_NUMBERS`,
    /// `EXCLUDE_PUNCTUATION`, `EXCLUDE_UPPERCASE`, `EXCLUDE_LOWERCASE` and
    /// `REQUIRE_EACH_INCLUDED_TYPE` from `vars`, with AWS's defaults for `service`.
    pub fn from_vars(vars: &HashMap<String, String>, service: &str) -> Result<Self, PolicyError> {
        let flag = |name: &'static str, default: bool| -> Result<bool, PolicyError> {
            match vars.get(name).map(|v| v.trim().to_ascii_lowercase()) {
                None => Ok(default),
                Some(v) if v.is_empty() => Ok(default),
                Some(v) if matches!(v.as_str(), "true" | "1" | "y" | "yes") => Ok(true),
                Some(v) if matches!(v.as_str(), "false" | "0" | "n" | "no") => Ok(false),
                Some(v) => Err(PolicyError {
                    name,
                    value: v,
                    expected: "use true/1/y/yes or false/0/n/no",
                }),
            }
        };
        let length = match vars.get("PASSWORD_LENGTH").map(|v| v.trim()) {
            None | Some("") => 32,
            Some(v) => v
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=4096).contains(n))
                .ok_or_else(|| PolicyError {
                    name: "PASSWORD_LENGTH",
                    value: v.to_string(),
                    expected: "a whole number from 1 to 4096",
                })?,
        };
        let exclude_characters = match vars.get("EXCLUDE_CHARACTERS") {
            Some(v) => v.clone(),
            None if service == "postgres" => format!("{DEFAULT_EXCLUDE}:"),
            None => DEFAULT_EXCLUDE.to_string(),
        };
        let policy = PasswordPolicy {
            length,
            exclude_characters,
            exclude_numbers: flag("EXCLUDE_NUMBERS", false)?,
            exclude_punctuation: flag("EXCLUDE_PUNCTUATION", false)?,
            exclude_uppercase: flag("EXCLUDE_UPPERCASE", false)?,
            exclude_lowercase: flag("EXCLUDE_LOWERCASE", false)?,
            require_each_included_type: flag("REQUIRE_EACH_INCLUDED_TYPE", true)?,
        };
        if policy.exclude_numbers
            && policy.exclude_punctuation
            && policy.exclude_uppercase
            && policy.exclude_lowercase
        {
            return Err(PolicyError {
                name: "EXCLUDE_LOWERCASE",
                value: "true".into(),
                expected: "the policy excludes every kind of character; keep at least one",
            });
        }
        Ok(policy)
    }

    pub fn from_env(service: &str) -> Result<Self, PolicyError> {
        Self::from_vars(&std::env::vars().collect(), service)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_match_aws() {
        let p = PasswordPolicy::from_vars(&vars(&[]), "mysql").unwrap();
        assert_eq!(p.length, 32);
        assert_eq!(p.exclude_characters, "/@\"'\\");
        assert!(p.require_each_included_type && !p.exclude_numbers);
        let pg = PasswordPolicy::from_vars(&vars(&[]), "postgres").unwrap();
        assert_eq!(pg.exclude_characters, "/@\"'\\:");
    }

    #[test]
    fn booleans_and_values() {
        let p = PasswordPolicy::from_vars(
            &vars(&[
                ("PASSWORD_LENGTH", "48"),
                ("EXCLUDE_CHARACTERS", ""),
                ("EXCLUDE_NUMBERS", "Yes"),
                ("EXCLUDE_PUNCTUATION", "1"),
                ("REQUIRE_EACH_INCLUDED_TYPE", "n"),
            ]),
            "postgres",
        )
        .unwrap();
        assert_eq!(p.length, 48);
        assert_eq!(p.exclude_characters, "", "an explicit empty value is kept");
        assert!(p.exclude_numbers && p.exclude_punctuation && !p.require_each_included_type);
        assert!(PasswordPolicy::from_vars(&vars(&[("EXCLUDE_NUMBERS", "maybe")]), "x").is_err());
        assert!(PasswordPolicy::from_vars(&vars(&[("PASSWORD_LENGTH", "0")]), "x").is_err());
        let all = vars(&[
            ("EXCLUDE_NUMBERS", "true"),
            ("EXCLUDE_PUNCTUATION", "true"),
            ("EXCLUDE_UPPERCASE", "true"),
            ("EXCLUDE_LOWERCASE", "true"),
        ]);
        assert!(PasswordPolicy::from_vars(&all, "x").is_err());
    }
}
