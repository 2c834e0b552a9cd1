//! The one place in rotgen that knows about YAML.
//!
//! Everything else in the crate works on [`serde_json::Value`] with
//! CloudFormation intrinsic functions in their long (JSON) form, e.g.
//! `{"Ref": "X"}` or `{"Fn::GetAtt": ["A", "Arn"]}`. This module converts
//! between that representation and CloudFormation-flavoured YAML with
//! short-form tags (`!Ref X`, `!GetAtt A.Arn`, `!Sub ...`).
//!
//! `serde_yaml` is archived upstream, so it must not leak out of this module:
//! neither [`parse`] nor [`to_string`] nor [`YamlError`] mention its types.
//! Reading streams serde_yaml's deserializer straight into `serde_json::Value`;
//! writing is done by hand so the output is deterministic and looks like a
//! template a person would write.
//!
//! - `read.rs`: YAML (and JSON templates) in: [`parse`], [`parse_template`],
//!   [`parse_rendered`]; where serde_yaml reads.
//! - `write.rs`: YAML out, by hand: [`to_string`], [`to_string_with_notes`].
//! - `depth.rs`, `fast.rs`, `spans.rs`: the reader's helpers (the nesting limit, the
//!   templates' fast subset, where values are in a text).
//!
//! No file I/O: callers pass text in and get text back.

mod depth;
mod fast;
mod read;
mod spans;
mod write;

pub use read::{in_fast_subset, parse, parse_rendered, parse_template};
pub use spans::{Located, Place, locate};
pub use write::{Note, to_string, to_string_with_notes};

/// A YAML document could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct YamlError {
    /// Human readable description (may already mention the position).
    pub message: String,
    /// 1-based line of the problem, when known.
    pub line: Option<usize>,
    /// 1-based column of the problem, when known.
    pub column: Option<usize>,
}
