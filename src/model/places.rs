//! One stack, one partition and one Region: every literal ARN the spec gives (collected by
//! `Cx::check_lit` as `SeenArn`s) must agree with the others and with the stack's place,
//! when the macro's request says it.
//!
//! Checks only, no I/O.

use super::{Cx, Options};
use crate::diag::{Diagnostic, Loc};

impl Cx {
    /// One stack deploys into one partition and one Region: every literal ARN of the spec
    /// must agree on its partition, and every regional one (a secret, a key, a topic, a
    /// layer; not IAM's) on its Region, with each other and with the stack's place when
    /// it is known (the macro's request). Secrets Manager invokes only a function of its
    /// own Region, and KMS keys, topics and layers serve only their Region's callers.
    pub(super) fn check_arn_places(&mut self, opts: &Options) {
        let stack = opts.stack.as_ref();
        let mut partition: Option<(String, String, Option<Loc>)> =
            stack.map(|s| (s.partition().to_string(), "the stack".to_string(), None));
        let mut region: Option<(String, String, Option<Loc>)> =
            stack.map(|s| (s.region.clone(), "the stack".to_string(), None));
        let seen = std::mem::take(&mut self.arns);
        for a in &seen {
            match &partition {
                None => {
                    partition = Some((a.partition.clone(), a.what.clone(), Some(a.loc.clone())))
                }
                Some((p, first, first_loc)) if *p != a.partition => {
                    let mut d = Diagnostic::new(
                        &a.loc,
                        format!(
                            "{} is an ARN of the partition {}, but {first} is in {p}: one stack deploys into one partition",
                            a.what, a.partition
                        ),
                    )
                    .help(format!("use an ARN of {p} (arn:{p}:…), or deploy the secrets of each partition from their own spec"));
                    if let Some(l) = first_loc {
                        d = d.related(l, format!("{first}, in {p}"));
                    }
                    self.errors.push(d);
                    continue;
                }
                Some(_) => {}
            }
            if a.region.is_empty() {
                continue;
            }
            match &region {
                None => region = Some((a.region.clone(), a.what.clone(), Some(a.loc.clone()))),
                Some((r, first, first_loc)) if *r != a.region => {
                    let mut d = Diagnostic::new(
                        &a.loc,
                        format!(
                            "{} is in the Region {}, but {first} is in {r}: one stack deploys into one Region, and Secrets Manager, KMS keys, topics and layers serve only their own Region",
                            a.what, a.region
                        ),
                    )
                    .help(format!("use an ARN of {r}, or rotate the secrets of each Region from their own stack"));
                    if let Some(l) = first_loc {
                        d = d.related(l, format!("{first}, in {r}"));
                    }
                    self.errors.push(d);
                }
                Some(_) => {}
            }
        }
        self.arns = seen;
    }
}
