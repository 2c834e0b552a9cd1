//! The stack as a whole: `[parameters]` (names CloudFormation accepts and rotgen does not
//! use, CloudFormation's types), `[stack] tags` (AWS's characters and counts, SAM's own
//! tag), and the stack's name and description.
//!
//! Checks and values only, no I/O.

use super::{
    ALARM_TOPIC_PARAM, Cx, ENDPOINT_URL_PARAM, Options, ParamModel, RDS_ENDPOINT_URL_PARAM,
};
use crate::diag::Loc;
use crate::spec::{Spec, Val};
use serde_json::Value;

/// The parameter types CloudFormation has.
const PARAMETER_TYPES: &[&str] = &[
    "String",
    "Number",
    "List<Number>",
    "CommaDelimitedList",
    "AWS::EC2::AvailabilityZone::Name",
    "AWS::EC2::Image::Id",
    "AWS::EC2::Instance::Id",
    "AWS::EC2::KeyPair::KeyName",
    "AWS::EC2::SecurityGroup::GroupName",
    "AWS::EC2::SecurityGroup::Id",
    "AWS::EC2::Subnet::Id",
    "AWS::EC2::Volume::Id",
    "AWS::EC2::VPC::Id",
    "AWS::Route53::HostedZone::Id",
    "AWS::SSM::Parameter::Name",
];

fn is_parameter_type(t: &str) -> bool {
    if PARAMETER_TYPES.contains(&t) {
        return true;
    }
    if let Some(inner) = t.strip_prefix("List<").and_then(|r| r.strip_suffix('>')) {
        return inner.starts_with("AWS::") && PARAMETER_TYPES.contains(&inner);
    }
    if let Some(inner) = t
        .strip_prefix("AWS::SSM::Parameter::Value<")
        .and_then(|r| r.strip_suffix('>'))
    {
        return is_parameter_type(inner) && !inner.starts_with("AWS::SSM");
    }
    false
}

/// CloudFormation's stack-name rule: a letter, then letters, digits and hyphens; at most
/// 128 characters.
fn is_stack_name(name: &str) -> bool {
    name.len() <= 128
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

impl Cx {
    /// `[parameters]`: names CloudFormation accepts and rotgen does not use itself, and
    /// types CloudFormation has.
    pub(super) fn parameters(&mut self, spec: &Spec, opts: &Options) -> Vec<ParamModel> {
        let c = &opts.naming.code_prefix;
        let reserved = [
            format!("{c}CodeBucket"),
            format!("{c}CodeKey"),
            "FunctionSecurityGroupId".to_string(),
            ENDPOINT_URL_PARAM.to_string(),
            RDS_ENDPOINT_URL_PARAM.to_string(),
            ALARM_TOPIC_PARAM.to_string(),
        ];
        let mut out = Vec::new();
        for p in &spec.parameters {
            let name = &p.name.v;
            if name.is_empty()
                || name.len() > 255
                || !name.chars().all(|ch| ch.is_ascii_alphanumeric())
            {
                self.err(
                    &p.name.loc,
                    format!("parameter name \"{name}\" is not one CloudFormation accepts"),
                    "use letters and digits only (at most 255)",
                );
            } else if reserved.contains(name) {
                self.err(
                    &p.name.loc,
                    format!("parameter name \"{name}\" is one rotgen's templates use"),
                    "pick another name",
                );
            }
            if let Some(d) = &p.description
                && d.v.chars().count() > crate::limits::MAX_PARAMETER_DESCRIPTION
            {
                self.err(
                    &d.loc,
                    format!(
                        "the description has {} characters; CloudFormation allows {}",
                        d.v.chars().count(),
                        crate::limits::MAX_PARAMETER_DESCRIPTION
                    ),
                    "shorten it",
                );
            }
            let ty =
                p.ty.as_ref()
                    .map_or_else(|| "String".to_string(), |t| t.v.clone());
            if let Some(t) = &p.ty
                && !is_parameter_type(&t.v)
            {
                self.err(&t.loc, format!("\"{}\" is not a CloudFormation parameter type", t.v), "use String, Number, CommaDelimitedList, an AWS-specific type such as AWS::EC2::VPC::Id or List<AWS::EC2::Subnet::Id>, or AWS::SSM::Parameter::Value<String>");
            }
            out.push(ParamModel {
                name: name.clone(),
                ty,
                description: p.description.as_ref().map(|d| d.v.clone()),
                default: p.default.as_ref().map(|d| d.v.clone()),
                no_wildcard: false,
            });
        }
        out
    }

    /// `[stack] tags`: what CloudFormation accepts in a tag.
    pub(super) fn tags(&mut self, spec: &Spec) -> Vec<(String, Value)> {
        // What AWS takes in a tag: letters, digits and white space in any language, and
        // _ . : / = + - @.
        let allowed = |s: &str| {
            s.chars()
                .all(|c| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c))
        };
        // SAM adds `lambda:createdBy` to every function, which takes the stack's tags.
        let sam = spec.stack.format.as_ref().is_none_or(|f| f.v == "sam");
        let limit = if sam { 49 } else { 50 };
        let mut out: Vec<(String, Value)> = Vec::new();
        for (i, (k, v)) in spec.stack.tags.iter().enumerate() {
            if k.v.is_empty() || k.v.chars().count() > 128 || !allowed(&k.v) {
                self.err(
                    &k.loc,
                    format!("tag key \"{}\" is not allowed", k.v),
                    "use 1 to 128 letters, digits, spaces and _ . : / = + - @",
                );
            } else if k.v.to_ascii_lowercase().starts_with("aws:") {
                self.err(
                    &k.loc,
                    format!(
                        "tag key \"{}\" starts with aws:, which AWS reserves (in any case)",
                        k.v
                    ),
                    "pick a key without the aws: prefix",
                );
            } else if sam && k.v == "lambda:createdBy" {
                self.err(
                    &k.loc,
                    "SAM sets the tag lambda:createdBy on every function itself",
                    "pick another key, or use format = \"cloudformation\"",
                );
            }
            if let Val::Lit(s) = &v.v {
                if s.chars().count() > 256 {
                    self.err(
                        &v.loc,
                        "a tag value is longer than 256 characters",
                        "shorten it",
                    );
                } else if !allowed(s) {
                    self.err(
                        &v.loc,
                        format!("tag value \"{s}\" has a character AWS does not take in tags"),
                        "use letters, digits, spaces and _ . : / = + - @",
                    );
                }
            }
            if i == limit {
                self.err(
                    &k.loc,
                    format!(
                        "more than {limit} tags: a resource takes at most 50{}",
                        if sam {
                            ", and SAM adds lambda:createdBy to each function"
                        } else {
                            ""
                        }
                    ),
                    format!("keep at most {limit} tags"),
                );
            }
            out.push((k.v.clone(), v.v.to_json()));
        }
        out
    }

    /// `[stack] name` (a CloudFormation stack name) and the template's description.
    pub(super) fn description(&mut self, spec: &Spec) -> String {
        // `build -o` prints it in the deploy command: CloudFormation's rule for stack names.
        if let Some(n) = &spec.stack.name
            && !is_stack_name(&n.v)
        {
            self.err(
                &n.loc,
                format!("`{}` is not a CloudFormation stack name", n.v),
                "start with a letter and use only letters, digits and hyphens, at most 128 characters (like payments-rotation)",
            );
        }
        let description = spec
            .stack
            .description
            .as_ref()
            .map(|d| d.v.clone())
            .unwrap_or_else(|| match &spec.stack.name {
                Some(n) => format!("Secrets Manager rotation for {} (generated by rotgen)", n.v),
                None => "Secrets Manager rotation (generated by rotgen)".to_string(),
            });
        if description.len() > 1024 {
            let loc = spec
                .stack
                .description
                .as_ref()
                .map_or(Loc::Whole, |d| d.loc.clone());
            self.err(
                &loc,
                "the description is longer than 1024 characters",
                "CloudFormation limits Description to 1024 bytes: shorten it",
            );
        }
        description
    }
}
