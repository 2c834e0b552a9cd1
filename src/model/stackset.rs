//! A template for a CloudFormation StackSet with service-managed permissions (AWS
//! Organizations): one template deployed as a stack instance into every account of the
//! target OUs and every Region asked for. `[stack] stackset = true` or `rotgen build
//! --stackset` turns these checks on.
//!
//! What would break in such a StackSet is refused at its span, with what to write
//! instead: anything that exists in one account or one Region only (a literal ARN with
//! an account or a Region, VPC, subnet and security-group ids, a fixed code bucket), a
//! role name (IAM names are per account, and an account holds an instance per Region),
//! and the SAM transform (service-managed StackSets run no macros). The function's code
//! comes from one bucket per Region, `CodeBucket-${AWS::Region}`: Lambda reads a zip only
//! from a bucket of its own Region. Nested templates are read from the same bucket, under
//! a key named by their content (`nested_template_urls` in `lib.rs` writes the URLs).
//!
//! Checks and values only, no I/O.

use super::{Code, Cx, Options};
use crate::spec::{ListVal, Sp, Spec, Val};
use serde_json::json;

/// The help for a value that each account and Region must give for itself.
const PER_ACCOUNT: &str = "give it as { param = \"NAME\" } with [parameters.NAME] type = \"AWS::SSM::Parameter::Value<String>\": each stack instance reads the SSM parameter NAME of its own account and Region";

impl Cx {
    /// Whether this build is for a StackSet: the flag or the spec says so.
    pub(super) fn stackset_wanted(spec: &Spec, opts: &Options) -> bool {
        opts.stackset || spec.stack.stackset.as_ref().is_some_and(|s| s.v)
    }

    /// The format of a StackSet's template: plain CloudFormation. Service-managed
    /// StackSets do not run macros, and the SAM transform is one.
    pub(super) fn stackset_format(&mut self, spec: &Spec) -> bool {
        if let Some(f) = spec.stack.format.as_ref().filter(|f| f.v == "sam") {
            self.err(
                &f.loc,
                "a StackSet with service-managed permissions runs no macros, and the SAM transform (AWS::Serverless) is one: its stack instances would fail",
                "write format = \"cloudformation\" (or leave format out: a StackSet's template is plain CloudFormation)",
            );
        }
        false
    }

    /// Where a StackSet's functions find their zip: the template's `CodeBucket` is the
    /// prefix of one bucket per Region, and the function reads `CodeBucket-REGION`. A
    /// local zip (`function.code = "dist/…"`: `aws cloudformation package` uploads it to
    /// one bucket in one Region) and a fixed `s3://` bucket are refused. `--package` still
    /// writes its zip: the user uploads it to every Region's bucket.
    pub(super) fn stackset_code(&mut self, spec: &Spec, opts: &Options, code: Code) -> Code {
        let given = spec
            .function
            .code
            .as_ref()
            .filter(|_| !opts.default_code_required);
        match (&code, given) {
            (
                Code::S3 { .. } | Code::Local { .. },
                Some(Sp {
                    v: Val::Lit(s),
                    loc,
                }),
            ) => {
                let why = if s.starts_with("s3://") {
                    "names one bucket, which is in one Region"
                } else {
                    "is a local zip, which `aws cloudformation package` uploads to one bucket in one Region"
                };
                self.err(
                    loc,
                    format!("function.code \"{s}\" {why}: Lambda reads a function's zip only from a bucket in the function's own Region, so the stack instances of other Regions would fail"),
                    "remove function.code: the template then takes CodeBucket, the prefix of one bucket per Region (the zip in CODEBUCKET-REGION, e.g. my-artifacts-eu-west-1), and CodeKey",
                );
                code
            }
            (Code::Params { .. }, _) | (Code::Local { .. }, None) => {
                let bucket_param = format!("{}CodeBucket", opts.naming.code_prefix);
                Code::Params {
                    bucket: json!({ "Fn::Sub": format!("${{{bucket_param}}}-${{AWS::Region}}") }),
                    bucket_param,
                    key_param: format!("{}CodeKey", opts.naming.code_prefix),
                    per_region: true,
                }
            }
            _ => code,
        }
    }

    /// Everything of the spec that one account or one Region holds, each refused at its
    /// span (the literal ARNs the model met, in order; the network's ids; the role name).
    pub(super) fn check_stackset(&mut self, spec: &Spec) {
        let arns = std::mem::take(&mut self.arns);
        for a in &arns {
            // AWS's own managed policies (`arn:aws:iam::aws:policy/…`) are in every account.
            let account = (a.account.len() == 12).then_some(a.account.as_str());
            let region = (!a.region.is_empty()).then_some(a.region.as_str());
            let place = match (account, region) {
                (Some(acc), Some(r)) => format!("the account {acc} and the Region {r}"),
                (Some(acc), None) => format!("the account {acc}"),
                (None, Some(r)) => format!("the Region {r}"),
                (None, None) => continue,
            };
            let help = if a.what == "arn" {
                "name the secret by name = \"…\" instead (the template builds its ARN with ${AWS::Region} and ${AWS::AccountId} in each stack instance), or ".to_string() + PER_ACCOUNT
            } else {
                PER_ACCOUNT.to_string()
            };
            self.err(
                &a.loc,
                format!("{} is an ARN of {place}: a StackSet deploys this template into many accounts and Regions, and every stack instance would use this one", a.what),
                help,
            );
        }
        self.arns = arns;
        if let Some(v) = &spec.vpc {
            if let Some(Sp {
                v: Val::Lit(id),
                loc,
            }) = &v.vpc_id
            {
                self.err(
                    loc,
                    format!("vpc_id \"{id}\" is a VPC of one account and Region: a StackSet's other stack instances have no such VPC"),
                    PER_ACCOUNT.replace("<String>", "<AWS::EC2::VPC::Id>"),
                );
            }
            for (field, list, ty) in [
                ("subnet_ids", &v.subnet_ids, "List<AWS::EC2::Subnet::Id>"),
                (
                    "security_group_ids",
                    &v.security_group_ids,
                    "List<AWS::EC2::SecurityGroup::Id>",
                ),
                (
                    "endpoint_subnet_ids",
                    &v.endpoint_subnet_ids,
                    "List<AWS::EC2::Subnet::Id>",
                ),
                (
                    "service_security_group_ids",
                    &v.service_security_group_ids,
                    "AWS::EC2::SecurityGroup::Id",
                ),
            ] {
                if let Some(Sp {
                    v: ListVal::Items(items),
                    ..
                }) = list
                    && let Some((id, loc)) = items.iter().find_map(|i| match &i.v {
                        Val::Lit(s) => Some((s, &i.loc)),
                        Val::Expr(_) => None,
                    })
                {
                    self.err(
                        loc,
                        format!("{field} lists \"{id}\", an id of one account and Region: a StackSet's other stack instances have no such resource"),
                        PER_ACCOUNT.replace("<String>", &format!("<{ty}>")),
                    );
                }
            }
        }
        if let Some(Sp {
            v: Val::Lit(name),
            loc,
        }) = &spec.function.role_name
        {
            self.err(
                loc,
                format!("function.role_name \"{name}\" names an IAM role, and IAM names are per account: the stack instances of a second Region in the same account would fail on the name"),
                "leave role_name out: CloudFormation then gives each stack instance's role its own name",
            );
        }
    }
}
