//! Shapes of the identifiers a spec names: ARNs, secret names, VPC ids.

/// The parts of an ARN: `arn:partition:service:region:account:resource`.
#[derive(Debug, PartialEq, Eq)]
pub struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub resource: &'a str,
}

pub fn parse(s: &str) -> Option<Arn<'_>> {
    let mut parts = s.splitn(6, ':');
    let (Some("arn"), Some(partition), Some(service), Some(region), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let partition_ok = matches!(partition, "aws" | "aws-cn" | "aws-us-gov")
        || partition.starts_with("aws-iso")
        || partition.starts_with("aws-eusc");
    if !partition_ok || service.is_empty() || resource.is_empty() {
        return None;
    }
    Some(Arn {
        partition,
        service,
        region,
        account,
        resource,
    })
}

/// The partition a Region belongs to (`cn-north-1` → `aws-cn`, `us-gov-west-1` →
/// `aws-us-gov`).
pub fn partition_of_region(region: &str) -> &'static str {
    let prefix = |p: &str| region.starts_with(p);
    if prefix("cn-") {
        "aws-cn"
    } else if prefix("us-gov-") {
        "aws-us-gov"
    } else if prefix("us-isob-") {
        "aws-iso-b"
    } else if prefix("us-isof-") || prefix("eu-isof-") {
        "aws-iso-f"
    } else if prefix("eu-isoe-") {
        "aws-iso-e"
    } else if prefix("us-iso-") {
        "aws-iso"
    } else if prefix("eusc-") {
        "aws-eusc"
    } else {
        "aws"
    }
}

/// A 12-digit AWS account id.
pub fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

pub fn is_region(s: &str) -> bool {
    // e.g. us-east-1, ap-southeast-3, us-gov-west-1, cn-north-1, eu-isoe-west-1
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| !p.is_empty())
        && parts[0].bytes().all(|b| b.is_ascii_lowercase())
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
}

/// Why `s` cannot name one resource: it holds `*` or `?`, which IAM (and KMS, SNS…) read
/// as wildcards, so a grant on it would reach every resource that matches.
pub fn check_no_wildcard(s: &str) -> Result<(), String> {
    match s.chars().find(|c| matches!(c, '*' | '?')) {
        Some(c) => Err(format!(
            "it holds {c}, which IAM reads as a wildcard: a grant on it reaches every resource that matches"
        )),
        None => Ok(()),
    }
}

/// Why `s` is not a full secret ARN, if it is not.
pub fn check_secret_arn(s: &str) -> Result<(), String> {
    check_no_wildcard(s)?;
    let arn = parse(s).ok_or("it does not start with arn:aws:secretsmanager:")?;
    if arn.service != "secretsmanager" {
        return Err(format!(
            "it is an ARN of {}, not of secretsmanager",
            arn.service
        ));
    }
    if !is_region(arn.region) {
        return Err(format!("\"{}\" is not a region", arn.region));
    }
    if !is_account(arn.account) {
        return Err(format!("\"{}\" is not a 12-digit account id", arn.account));
    }
    let Some(name) = arn.resource.strip_prefix("secret:") else {
        return Err("the resource part must be secret:NAME-XXXXXX".into());
    };
    check_secret_name(name.rsplit_once('-').map_or(name, |(n, _)| n))?;
    let suffix = name.rsplit_once('-').map(|(_, s)| s);
    match suffix {
        Some(sfx) if sfx.len() == 6 && sfx.bytes().all(|b| b.is_ascii_alphanumeric()) => Ok(()),
        _ => Err(
            "it is a partial ARN: a full secret ARN ends in -XXXXXX (6 random characters), and IAM policies only match full ARNs"
                .into(),
        ),
    }
}

/// The AWS service that manages the secret `s` names (an ARN or a name), when its name
/// has the `SERVICE!` prefix only services may give (`rds!db-…`).
pub fn managed_by(s: &str) -> Option<&str> {
    let name = s.rsplit_once(":secret:").map_or(s, |(_, n)| n);
    let (service, _) = name.split_once('!')?;
    (!service.is_empty()
        && service
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'))
    .then_some(service)
}

/// Why `s` is not the name of a secret that can exist, if it is not: a name a user may
/// choose, or one an AWS service makes for the secrets it manages
/// (`SERVICE!…`, e.g. `rds!db-1a2b…` for an RDS-managed master password).
pub fn check_secret_name(s: &str) -> Result<(), String> {
    let rest = match s.split_once('!') {
        Some((service, rest))
            if !service.is_empty()
                && service
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') =>
        {
            rest
        }
        _ => s,
    };
    check_user_secret_name(rest).map(|_| ()).and_then(|()| {
        if s.len() > 512 {
            Err("a secret name has 1 to 512 characters".into())
        } else {
            Ok(())
        }
    })
}

/// Why `s` is not a name a user may give a new secret, if it is not.
pub fn check_user_secret_name(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 512 {
        return Err("a secret name has 1 to 512 characters".into());
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "/_+=.@-".contains(*c)))
    {
        return Err(format!(
            "'{c}' cannot appear in a secret name (letters, digits and /_+=.@- only)"
        ));
    }
    Ok(())
}

pub fn check_kms_key_arn(s: &str) -> Result<(), String> {
    check_no_wildcard(s)?;
    let arn = parse(s).ok_or("it is not an ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)")?;
    if arn.service != "kms" {
        return Err(format!("it is an ARN of {}, not of kms", arn.service));
    }
    if !is_region(arn.region) || !is_account(arn.account) {
        return Err("it needs a region and a 12-digit account id".into());
    }
    if arn.resource.starts_with("alias/") {
        return Err("it is an alias ARN; IAM grants on keys need the key ARN (key/ID)".into());
    }
    if arn.resource.strip_prefix("key/").is_none_or(str::is_empty) {
        return Err("the resource part must be key/ID".into());
    }
    Ok(())
}

/// An SNS topic ARN: arn:aws:sns:REGION:ACCOUNT:NAME.
pub fn check_topic_arn(s: &str) -> Result<(), String> {
    check_no_wildcard(s)?;
    let arn = parse(s).ok_or("it is not an ARN (arn:aws:sns:REGION:ACCOUNT:NAME)")?;
    if arn.service != "sns" {
        return Err(format!("it is an ARN of {}, not of sns", arn.service));
    }
    if !is_region(arn.region) || !is_account(arn.account) {
        return Err("it needs a region and a 12-digit account id".into());
    }
    if arn.resource.is_empty() || arn.resource.contains(':') {
        return Err("the resource part must be the topic's name".into());
    }
    Ok(())
}

/// A key SNS can encrypt with: a key or alias ARN, or `alias/NAME`.
pub fn check_topic_key(s: &str) -> Result<(), String> {
    check_no_wildcard(s)?;
    if s.strip_prefix("alias/").is_some_and(|n| !n.is_empty()) {
        return Ok(());
    }
    let arn = parse(s).ok_or("it is neither a KMS key ARN nor alias/NAME")?;
    if arn.service != "kms" {
        return Err(format!("it is an ARN of {}, not of kms", arn.service));
    }
    if !(arn.resource.starts_with("key/") || arn.resource.starts_with("alias/")) {
        return Err("the resource part must be key/ID or alias/NAME".into());
    }
    Ok(())
}

pub fn check_policy_arn(s: &str) -> Result<(), String> {
    check_no_wildcard(s)?;
    let arn = parse(s).ok_or("it is not an ARN (arn:aws:iam::ACCOUNT:policy/NAME)")?;
    if arn.service != "iam" || !arn.region.is_empty() {
        return Err(
            "it must be an IAM ARN with no region: arn:aws:iam::ACCOUNT:policy/NAME".into(),
        );
    }
    if !(is_account(arn.account) || arn.account == "aws") {
        return Err(format!("\"{}\" is not a 12-digit account id", arn.account));
    }
    if !arn.resource.starts_with("policy/") {
        return Err("the resource part must be policy/NAME".into());
    }
    Ok(())
}

/// `prefix-` followed by 8 or 17 hex digits (EC2 resource ids).
pub fn check_ec2_id(s: &str, prefix: &str) -> Result<(), String> {
    let ok = s
        .strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('-'))
        .is_some_and(|hex| {
            (hex.len() == 8 || hex.len() == 17) && hex.bytes().all(|b| b.is_ascii_hexdigit())
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "\"{s}\" is not a {prefix} id ({prefix}- and 8 or 17 hex digits)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_belong_to_their_partitions() {
        for (region, partition) in [
            ("us-east-1", "aws"),
            ("eu-west-3", "aws"),
            ("cn-north-1", "aws-cn"),
            ("cn-northwest-1", "aws-cn"),
            ("us-gov-west-1", "aws-us-gov"),
            ("us-iso-east-1", "aws-iso"),
            ("us-isob-east-1", "aws-iso-b"),
            ("eu-isoe-west-1", "aws-iso-e"),
            ("us-isof-south-1", "aws-iso-f"),
            ("eusc-de-east-1", "aws-eusc"),
        ] {
            assert_eq!(partition_of_region(region), partition, "{region}");
        }
    }

    #[test]
    fn secret_arns() {
        assert!(
            check_secret_arn("arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf")
                .is_ok()
        );
        assert!(
            check_secret_arn("arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db")
                .unwrap_err()
                .contains("partial ARN")
        );
        assert!(
            check_secret_arn("arn:aws:secretsmanager:us-east-1:1234:secret:prod/db-AbCdEf")
                .unwrap_err()
                .contains("12-digit")
        );
        assert!(
            check_secret_arn("arn:aws:kms:us-east-1:123456789012:key/abc")
                .unwrap_err()
                .contains("not of secretsmanager")
        );
        assert!(check_secret_arn("prod/db").is_err());
    }

    /// No ARN that reaches a policy may hold a wildcard, wherever it stands.
    #[test]
    fn wildcards_are_refused_in_every_arn() {
        let key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd";
        assert!(check_kms_key_arn(key).is_ok());
        for wild in [
            "arn:aws:kms:us-east-1:123456789012:key/*",
            "arn:aws:kms:us-east-1:123456789012:key/abc*",
            "arn:aws:kms:us-east-1:123456789012:key/1234abc?",
            "arn:aws-iso*:kms:us-east-1:123456789012:key/1234abcd",
        ] {
            let why = check_kms_key_arn(wild).unwrap_err();
            assert!(why.contains("wildcard"), "{wild}: {why}");
        }
        for wild in [
            "arn:aws-iso*:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf",
            "arn:aws-eusc?:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/*-AbCdEf",
        ] {
            assert!(
                check_secret_arn(wild).unwrap_err().contains("wildcard"),
                "{wild}"
            );
        }
        assert!(check_topic_arn("arn:aws:sns:us-east-1:123456789012:*").is_err());
        assert!(check_topic_key("alias/*").is_err());
        assert!(check_topic_key("arn:aws:kms:us-east-1:123456789012:key/*").is_err());
        assert!(check_policy_arn("arn:aws:iam::123456789012:policy/*").is_err());
    }

    #[test]
    fn other_ids() {
        assert!(check_kms_key_arn("arn:aws:kms:us-east-1:123456789012:key/1234abcd").is_ok());
        assert!(
            check_kms_key_arn("arn:aws:kms:us-east-1:123456789012:alias/x")
                .unwrap_err()
                .contains("alias")
        );
        assert!(check_policy_arn("arn:aws:iam::123456789012:policy/team-boundary").is_ok());
        assert!(check_policy_arn("arn:aws:iam:us-east-1:123456789012:policy/x").is_err());
        assert!(check_ec2_id("subnet-0a1b2c3d4e5f60718", "subnet").is_ok());
        assert!(check_ec2_id("subnet-12345678", "subnet").is_ok());
        assert!(check_ec2_id("sg-0a1b", "sg").is_err());
        assert!(check_secret_name("prod/db name").is_err());
        // Names AWS services give the secrets they manage.
        assert!(check_secret_name("rds!db-1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d").is_ok());
        assert!(check_secret_name("rds!cluster-1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d").is_ok());
        assert!(
            check_secret_arn("arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d-AbCdEf").is_ok()
        );
        assert!(check_secret_name("!db").is_err());
        assert!(
            check_user_secret_name("rds!db-1").is_err(),
            "users cannot make such names"
        );
    }
}
