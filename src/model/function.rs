//! The rotation function's own settings: `[function]`'s ARNs (permissions boundary, KMS
//! keys), CA file, layers, architecture, and where its code comes from (template
//! parameters, a local zip, S3, or the macro's own zip).
//!
//! Checks and values only, no I/O: `package` and `output` deal with the zip itself.

use super::{Code, Cx, FunctionSettings, Naming, Options, SeenArn, arn};
use crate::spec::{ListVal, Sp, Spec, Val};
use serde_json::json;

/// `arn:PARTITION:lambda:REGION:ACCOUNT:layer:NAME:VERSION`.
fn is_layer_version_arn(s: &str) -> bool {
    let Some(a) = arn::parse(s) else {
        return false;
    };
    let parts: Vec<&str> = a.resource.split(':').collect();
    a.service == "lambda"
        && !a.region.is_empty()
        && a.account.len() == 12
        && a.account.bytes().all(|b| b.is_ascii_digit())
        && matches!(parts.as_slice(), ["layer", name, version]
            if !name.is_empty() && !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit()))
}

impl Cx {
    /// `[function]`: its ARNs, CA file, layers, architecture and code (the spec's, or
    /// `Options::default_code`), and the settings the templates take.
    pub(super) fn function(
        &mut self,
        spec: &Spec,
        opts: &Options,
    ) -> (String, Code, FunctionSettings) {
        let f = &spec.function;
        self.check_lit(
            &f.permissions_boundary,
            "permissions_boundary",
            arn::check_policy_arn,
            "write the ARN of a managed policy: arn:aws:iam::123456789012:policy/NAME",
        );
        self.check_lit(
            &f.log_kms_key_arn,
            "log_kms_key_arn",
            arn::check_kms_key_arn,
            "write a key ARN: arn:aws:kms:REGION:ACCOUNT:key/ID",
        );
        self.check_lit(
            &f.environment_kms_key_arn,
            "environment_kms_key_arn",
            arn::check_kms_key_arn,
            "write a key ARN: arn:aws:kms:REGION:ACCOUNT:key/ID",
        );
        if let Some(ca) = &f.ca_file
            && (!ca.v.starts_with('/') || ca.v.contains(['\0', '\n']))
        {
            self.err(&ca.loc, format!("ca_file \"{}\" is not an absolute path in the function", ca.v), "write where the bundle is when the function runs: /var/task/… for a file in the zip, /opt/… for one in a layer");
        }
        self.check_count(
            &f.layers,
            5,
            "layers",
            "a Lambda function takes at most 5 layers",
        );
        self.check_literal_items(
            &f.layers,
            is_layer_version_arn,
            |s| format!("\"{s}\" is not a layer version ARN"),
            "write arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION",
        );
        if let Some(Sp {
            v: ListVal::Items(items),
            ..
        }) = &f.layers
        {
            for item in items {
                if let Val::Lit(l) = &item.v
                    && is_layer_version_arn(l)
                    && let Some(a) = arn::parse(l)
                {
                    self.arns.push(SeenArn {
                        what: "a layer".into(),
                        partition: a.partition.to_string(),
                        region: a.region.to_string(),
                        account: a.account.to_string(),
                        loc: item.loc.clone(),
                    });
                }
            }
        }
        let mut architecture = f
            .architecture
            .as_ref()
            .map_or("arm64".to_string(), |a| a.v.clone());
        let code = match (&f.code, &opts.default_code) {
            (None, Some(default)) => {
                // The function runs the macro's own zip: it has the zip's architecture.
                if let Some(zip_arch) = &opts.default_code_architecture {
                    match &f.architecture {
                        // A function.code the decoder refused was given: no mismatch.
                        Some(a) if a.v != *zip_arch && !f.rejected.contains(&"code") => self.err(&a.loc, format!("architecture {} with {}, which is built for {zip_arch}", a.v, opts.default_code_is), format!("give function.code for a zip built for {}, or leave architecture out", a.v)),
                        _ => architecture = zip_arch.clone(),
                    }
                }
                default.clone()
            }
            (Some(c), Some(_)) if opts.default_code_required => {
                self.err(
                    &c.loc,
                    format!(
                        "function.code says where the zip is, but {} is the code",
                        opts.default_code_is
                    ),
                    "remove function.code, or build without --package",
                );
                self.code(Some(c), &opts.naming)
            }
            (code, _) => self.code(code.as_ref(), &opts.naming),
        };
        let function = FunctionSettings {
            memory_mb: f.memory_mb.as_ref().map_or(json!(128), |m| m.v.to_json()),
            timeout_s: f.timeout_s.as_ref().map_or(json!(90), |m| m.v.to_json()),
            log_retention_days: f.log_retention_days.as_ref().map_or(365, |d| d.v),
            log_kms_key: f.log_kms_key_arn.as_ref().map(|v| v.v.to_json()),
            permissions_boundary: f.permissions_boundary.as_ref().map(|v| v.v.to_json()),
            reserved_concurrency: f.reserved_concurrency.as_ref().map(|v| v.v.to_json()),
            layers: f.layers.as_ref().map(|v| v.v.to_json()),
            environment_kms_key: f.environment_kms_key_arn.as_ref().map(|v| v.v.to_json()),
            named: f.role_name.is_some(),
        };
        (architecture, code, function)
    }

    pub(super) fn code(&mut self, code: Option<&Sp<Val>>, naming: &Naming) -> Code {
        match code {
            None => {
                let bucket_param = format!("{}CodeBucket", naming.code_prefix);
                Code::Params {
                    bucket: json!({ "Ref": bucket_param }),
                    bucket_param,
                    key_param: format!("{}CodeKey", naming.code_prefix),
                    per_region: false,
                }
            }
            // The schema admits only a literal here; this arm keeps the match total.
            Some(Sp {
                v: Val::Expr(e),
                loc,
            }) => {
                self.err(
                    loc,
                    "code must be a literal path or s3:// URL",
                    "write the value itself",
                );
                Code::Local {
                    path: e.to_string(),
                }
            }
            Some(Sp {
                v: Val::Lit(s),
                loc,
            }) => {
                if let Some(rest) = s.strip_prefix("s3://") {
                    match rest.split_once('/') {
                        Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => Code::S3 {
                            bucket: json!(bucket),
                            key: json!(key),
                        },
                        _ => {
                            self.err(loc, format!("code \"{s}\" names no object"), "write s3://BUCKET/KEY, e.g. s3://my-artifacts/rotgen/bootstrap.zip");
                            Code::Local { path: s.clone() }
                        }
                    }
                } else if s.is_empty() || s.contains("://") {
                    self.err(
                        loc,
                        format!("code \"{s}\" is neither a local path nor s3://"),
                        "write a path to the zip (relative to the template), or s3://BUCKET/KEY",
                    );
                    Code::Local { path: s.clone() }
                } else {
                    Code::Local { path: s.clone() }
                }
            }
        }
    }
}
