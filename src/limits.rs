//! CloudFormation's quotas on a template, checked on what rotgen hands CloudFormation:
//! `build`'s main and nested templates, and the macro's expanded template.
//!
//! The model keeps what it generates within these quotas where it can (it splits large
//! specs into nested stacks, it sizes logical IDs); this pass is the guarantee, over the
//! rendered templates, so that an ID or a section a template adds cannot slip past. It
//! reports [`Problem`]s naming what is wrong (a parameter, a resource, …); the caller
//! places them (a span of the spec for `build`, a template path for the macro).
//!
//! The figures are CloudFormation's documented quotas ("CloudFormation quotas" in the
//! User Guide).

use serde_json::{Map, Value};

/// Parameters per template.
pub const MAX_PARAMETERS: usize = 200;
/// Resources per template.
pub const MAX_RESOURCES: usize = 500;
/// Outputs per template.
pub const MAX_OUTPUTS: usize = 200;
/// Mappings per template.
pub const MAX_MAPPINGS: usize = 200;
/// Characters of a logical ID, a parameter's, output's or mapping's name.
pub const MAX_NAME: usize = 255;
/// Bytes of a template's `Description`.
pub const MAX_DESCRIPTION: usize = 1024;
/// Characters of a parameter's `Description`.
pub const MAX_PARAMETER_DESCRIPTION: usize = 4000;
/// Bytes of a template body CloudFormation reads from S3 (1 MB).
pub const MAX_BODY: usize = 1_048_576;
/// Resources one stack operation creates or updates, nested stacks included.
pub const MAX_OPERATION_RESOURCES: usize = 2_500;

/// What a problem is about, for the caller to place it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A parameter, by name.
    Parameter(String),
    /// A parameter's description, by the parameter's name.
    ParameterDescription(String),
    /// A resource, by logical ID.
    Resource(String),
    /// An output, by name.
    Output(String),
    /// A mapping, by name.
    Mapping(String),
    /// The template's Description.
    Description,
    /// A section's size (`Parameters`, `Resources`, `Outputs`, `Mappings`).
    Section(&'static str),
    /// A section or the template as a whole.
    Template,
}

/// One quota a template passes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub subject: Subject,
    pub message: String,
    pub help: String,
}

fn section<'a>(t: &'a Value, name: &str) -> Option<&'a Map<String, Value>> {
    t.get(name).and_then(Value::as_object)
}

/// The quotas of one template. `what` names it in messages ("the template",
/// "the nested template template.postgres.yaml").
pub fn check(t: &Value, what: &str) -> Vec<Problem> {
    let mut out = Vec::new();
    let empty = Map::new();
    let params = section(t, "Parameters").unwrap_or(&empty);
    let resources = section(t, "Resources").unwrap_or(&empty);
    let outputs = section(t, "Outputs").unwrap_or(&empty);
    let mappings = section(t, "Mappings").unwrap_or(&empty);
    for (map, max, noun, subject) in [
        (params, MAX_PARAMETERS, "parameters", "Parameters"),
        (resources, MAX_RESOURCES, "resources", "Resources"),
        (outputs, MAX_OUTPUTS, "outputs", "Outputs"),
        (mappings, MAX_MAPPINGS, "mappings", "Mappings"),
    ] {
        if map.len() > max {
            out.push(Problem {
                subject: Subject::Section(subject),
                message: format!(
                    "{what} would declare {} {noun}; CloudFormation allows {max}",
                    map.len()
                ),
                help: format!("declare fewer {noun}, or split the secrets into two stacks"),
            });
        }
    }
    type Wrap = fn(String) -> Subject;
    let named: [(&Map<String, Value>, &str, Wrap); 4] = [
        (params, "parameter name", Subject::Parameter),
        (resources, "logical ID", Subject::Resource),
        (outputs, "output name", Subject::Output),
        (mappings, "mapping name", Subject::Mapping),
    ];
    for (map, noun, wrap) in named {
        for name in map.keys() {
            let len = name.chars().count();
            if len > MAX_NAME {
                out.push(Problem {
                    subject: wrap(name.clone()),
                    message: format!(
                        "{what} would have a {noun} of {len} characters ({}…); CloudFormation allows {MAX_NAME}",
                        name.chars().take(40).collect::<String>()
                    ),
                    help: "shorten the id it is made from".into(),
                });
            }
        }
    }
    // Parameters and resources share one namespace: `Ref: X` must name one of them.
    for name in params.keys() {
        if resources.contains_key(name) {
            out.push(Problem {
                subject: Subject::Parameter(name.clone()),
                message: format!(
                    "{what} would declare {name} both as a parameter and as a resource; CloudFormation needs logical IDs unique across both"
                ),
                help: format!(
                    "rename the parameter {name}: rotgen gives that name to a resource it generates"
                ),
            });
        }
    }
    for (name, p) in params {
        if let Some(d) = p.get("Description").and_then(Value::as_str) {
            let len = d.chars().count();
            if len > MAX_PARAMETER_DESCRIPTION {
                out.push(Problem {
                    subject: Subject::ParameterDescription(name.clone()),
                    message: format!(
                        "the parameter {name}'s description has {len} characters; CloudFormation allows {MAX_PARAMETER_DESCRIPTION}"
                    ),
                    help: "shorten the description".into(),
                });
            }
        }
    }
    if let Some(d) = t.get("Description").and_then(Value::as_str)
        && d.len() > MAX_DESCRIPTION
    {
        out.push(Problem {
            subject: Subject::Description,
            message: format!(
                "{what} would have a {}-byte Description; CloudFormation allows {MAX_DESCRIPTION} bytes",
                d.len()
            ),
            help: "shorten [stack] description".into(),
        });
    }
    out
}

/// The quota on a template's size, given the text that would be written or sent.
pub fn check_body(text: &str, what: &str) -> Option<Problem> {
    check_body_len(text.len(), what)
}

/// [`check_body`] given the text's length in bytes.
pub fn check_body_len(len: usize, what: &str) -> Option<Problem> {
    (len > MAX_BODY).then(|| Problem {
        subject: Subject::Template,
        message: format!(
            "{what} would be {len} bytes; CloudFormation reads at most {MAX_BODY} bytes (1 MB) of a template, even from S3"
        ),
        help: "split the secrets into two specs (two stacks)".into(),
    })
}

/// The length of `v` as compact JSON, counted as it is written, without holding the text.
pub fn json_len(v: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut n = Count(0);
    serde_json::to_writer(&mut n, v).expect("writing JSON to a counter cannot fail");
    n.0
}

/// The resources one stack operation handles: the main template's and every nested
/// template's together.
pub fn check_operation<'a>(templates: impl IntoIterator<Item = &'a Value>) -> Option<Problem> {
    let total: usize = templates
        .into_iter()
        .map(|t| section(t, "Resources").map_or(0, Map::len))
        .sum();
    (total > MAX_OPERATION_RESOURCES).then(|| Problem {
        subject: Subject::Template,
        message: format!(
            "the stack and its nested stacks would hold {total} resources; one CloudFormation stack operation handles at most {MAX_OPERATION_RESOURCES}"
        ),
        help: "split the secrets into two specs (two stacks)".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn with(section: &str, n: usize, name: impl Fn(usize) -> String) -> Value {
        let mut m = Map::new();
        for i in 0..n {
            m.insert(name(i), json!({"Type": "String"}));
        }
        json!({ section: m })
    }

    #[test]
    fn counts_are_checked_at_their_edges() {
        for (section, max) in [
            ("Parameters", MAX_PARAMETERS),
            ("Resources", MAX_RESOURCES),
            ("Outputs", MAX_OUTPUTS),
            ("Mappings", MAX_MAPPINGS),
        ] {
            let at = with(section, max, |i| format!("X{i}"));
            assert!(check(&at, "t").is_empty(), "{section} at {max}");
            let over = with(section, max + 1, |i| format!("X{i}"));
            let p = check(&over, "t");
            assert_eq!(p.len(), 1, "{section}: {p:?}");
            assert!(p[0].message.contains(&format!("{}", max + 1)), "{p:?}");
        }
    }

    #[test]
    fn names_are_checked_at_their_edge() {
        for section in ["Parameters", "Resources", "Outputs", "Mappings"] {
            let at = with(section, 1, |_| "A".repeat(MAX_NAME));
            assert!(check(&at, "t").is_empty());
            let over = with(section, 1, |_| "A".repeat(MAX_NAME + 1));
            let p = check(&over, "t");
            assert_eq!(p.len(), 1, "{section}");
            assert!(p[0].message.contains("256 characters"), "{p:?}");
        }
    }

    #[test]
    fn a_parameter_may_not_share_a_resource_id() {
        let t = json!({"Parameters": {"Db": {"Type": "String"}, "Other": {"Type": "String"}},
                       "Resources": {"Db": {"Type": "AWS::SNS::Topic"}}});
        let p = check(&t, "t");
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].subject, Subject::Parameter("Db".into()));
    }

    #[test]
    fn descriptions_are_checked_at_their_edges() {
        let t = |n: usize| json!({"Description": "é".repeat(n / 2) + &"a".repeat(n % 2)});
        assert!(check(&t(MAX_DESCRIPTION), "t").is_empty());
        assert_eq!(
            check(&t(MAX_DESCRIPTION + 1), "t")[0].subject,
            Subject::Description
        );
        let p = |n: usize| json!({"Parameters": {"P": {"Type": "String", "Description": "é".repeat(n)}}});
        assert!(check(&p(MAX_PARAMETER_DESCRIPTION), "t").is_empty());
        assert_eq!(
            check(&p(MAX_PARAMETER_DESCRIPTION + 1), "t")[0].subject,
            Subject::ParameterDescription("P".into())
        );
    }

    #[test]
    fn the_body_and_the_operation_are_checked_at_their_edges() {
        assert!(check_body(&"x".repeat(MAX_BODY), "t").is_none());
        assert!(check_body(&"x".repeat(MAX_BODY + 1), "t").is_some());
        let t = json!({"Resources": {"A": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": "é\"\n\u{1}"}}}});
        assert_eq!(json_len(&t), serde_json::to_string(&t).unwrap().len());
        let a = with("Resources", 500, |i| format!("A{i}"));
        let b = |n| with("Resources", n, |i| format!("B{i}"));
        let four = [&a, &a, &a, &a];
        assert!(check_operation(four.into_iter().chain([&b(500)])).is_none());
        let over = b(501);
        let p = check_operation(four.into_iter().chain([&over])).expect("2,501");
        assert!(p.message.contains("2501"), "{}", p.message);
    }
}
