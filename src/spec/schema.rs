//! The spec's shape, written once as data.
//!
//! The decoder checks input against these tables (unknown keys, types, ranges, enums) and
//! `rotgen schema` prints them as JSON Schema, so the two cannot drift apart.

use serde_json::{Map, Value, json};

#[derive(Debug)]
pub enum Ty {
    /// A string; `expr` also admits a CloudFormation intrinsic function (macro input).
    Str {
        expr: bool,
    },
    Int {
        min: i64,
        max: i64,
        expr: bool,
    },
    /// One of a fixed set of integers (log retention).
    IntIn(&'static [i64]),
    Bool,
    Enum(&'static [&'static str]),
    /// A list of strings, an intrinsic that yields one, or a list of intrinsics.
    StrList,
    Table(&'static Table),
    TableArray(&'static Table),
    /// A table of tables under names the user picks (`[parameters.VpcId]`).
    Map(&'static Table),
    /// A table of strings under names the user picks (`tags = { team = "payments" }`).
    StrMap,
}

#[derive(Debug)]
pub struct Field {
    pub name: &'static str,
    pub ty: Ty,
    pub required: bool,
    pub doc: &'static str,
}

#[derive(Debug)]
pub struct Table {
    /// How the table is named in messages: `[function]`, `[[secret]]`, `schedule`.
    pub title: &'static str,
    pub doc: &'static str,
    pub fields: &'static [Field],
}

impl Table {
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

const fn f(name: &'static str, ty: Ty, doc: &'static str) -> Field {
    Field {
        name,
        ty,
        required: false,
        doc,
    }
}

const fn req(name: &'static str, ty: Ty, doc: &'static str) -> Field {
    Field {
        name,
        ty,
        required: true,
        doc,
    }
}

const STR: Ty = Ty::Str { expr: true };
const LIT: Ty = Ty::Str { expr: false };

/// The services a spec may name: the rows of the compiler's table
/// (`model::services`), which a test holds to the backends the function ships.
pub const SERVICES: &[&str] = &crate::model::services::NAMES;
/// What an aws-iam function does with AWSPREVIOUS's access key at finishSecret.
pub const PREVIOUS_KEY: &[&str] = &["keep", "deactivate"];
pub const STRATEGIES: &[&str] = &["single-user", "alternating-users"];
pub const FORMATS: &[&str] = &["sam", "cloudformation"];
pub const ARCHITECTURES: &[&str] = &["arm64", "x86_64"];
/// The values `AWS::Logs::LogGroup.RetentionInDays` accepts.
pub const LOG_RETENTION_DAYS: &[i64] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

pub static STACK: Table = Table {
    title: "[stack]",
    doc: "The generated template as a whole.",
    fields: &[
        f(
            "name",
            LIT,
            "A name for the stack; used in descriptions and default resource names.",
        ),
        f("description", LIT, "The template's Description."),
        f(
            "format",
            Ty::Enum(FORMATS),
            "`sam` (default): AWS::Serverless::Function; `cloudformation`: plain AWS::Lambda::Function.",
        ),
        f(
            "exports",
            Ty::Bool,
            "Export every output of the main template as STACK_NAME-OUTPUT, for other stacks' Fn::ImportValue (default false).",
        ),
        f(
            "stackset",
            Ty::Bool,
            "Write the template for a CloudFormation StackSet with service-managed permissions (AWS Organizations), deployed into many accounts and Regions: plain CloudFormation, the code from a bucket per Region, and nothing tied to one account or Region (default false; `rotgen build --stackset` says the same).",
        ),
        f(
            "tags",
            Ty::StrMap,
            "Tags for every taggable resource the template creates (`{ team = \"payments\" }`).",
        ),
    ],
};

pub static PARAMETER: Table = Table {
    title: "[parameters.NAME]",
    doc: "A template parameter: values that differ per environment (`{ param = \"NAME\" }` wherever the spec takes a value that CloudFormation may supply), given at deploy time.",
    fields: &[
        req(
            "type",
            LIT,
            "The parameter's CloudFormation type: String, Number, CommaDelimitedList, an AWS-specific type (AWS::EC2::VPC::Id, List<AWS::EC2::Subnet::Id>, AWS::EC2::SecurityGroup::Id...) or an SSM type (AWS::SSM::Parameter::Value<String>).",
        ),
        f(
            "description",
            LIT,
            "What to give, shown by the console and `sam deploy --guided`.",
        ),
        f("default", LIT, "The value when the deploy gives none."),
    ],
};

pub static FUNCTION: Table = Table {
    title: "[function]",
    doc: "The rotation Lambda function that every secret in the spec shares.",
    fields: &[
        f(
            "name",
            STR,
            "FunctionName; default: let CloudFormation name it.",
        ),
        f(
            "architecture",
            Ty::Enum(ARCHITECTURES),
            "`arm64` (default, cheaper) or `x86_64`; must match the binary you deploy.",
        ),
        f(
            "memory_mb",
            Ty::Int {
                min: 128,
                max: 10240,
                expr: true,
            },
            "MemorySize in MB (default 128).",
        ),
        f(
            "timeout_s",
            Ty::Int {
                min: 10,
                max: 900,
                expr: true,
            },
            "Timeout in seconds (default 90: a step may wait up to 60 s on a slow service).",
        ),
        f(
            "log_retention_days",
            Ty::IntIn(LOG_RETENTION_DAYS),
            "Retention of the function's log group in days (default 365).",
        ),
        f(
            "log_kms_key_arn",
            STR,
            "KMS key ARN to encrypt the function's log group.",
        ),
        f(
            "permissions_boundary",
            STR,
            "ARN of a managed policy set as the role's PermissionsBoundary.",
        ),
        f(
            "role_name",
            STR,
            "RoleName of the function's role; default: generated.",
        ),
        f(
            "code",
            LIT,
            "Where the Lambda zip (holding `bootstrap`) is: a local path that `sam deploy` / `aws cloudformation package` uploads, or `s3://bucket/key`. Default: template parameters CodeBucket and CodeKey.",
        ),
        f(
            "reserved_concurrency",
            Ty::Int {
                min: 1,
                max: 1000,
                expr: true,
            },
            "ReservedConcurrentExecutions; default: none (new accounts cannot reserve any).",
        ),
        f(
            "environment_kms_key_arn",
            STR,
            "KMS key ARN to encrypt the function's environment variables.",
        ),
        f(
            "layers",
            Ty::StrList,
            "Lambda layer version ARNs for the function (a layer holding ca_file, for instance).",
        ),
        f(
            "ca_file",
            LIT,
            "A PEM bundle of CA certificates the function trusts besides the system's (an absolute path in the function: in the zip under /var/task, or a layer under /opt), e.g. AWS's RDS bundle.",
        ),
        f(
            "require_tls",
            Ty::Bool,
            "Verified TLS to the database whatever a secret's `ssl` says (default true: a secret's `ssl: false` cannot turn TLS off). Set false only for a server without TLS.",
        ),
        f(
            "previous_key",
            Ty::Enum(PREVIOUS_KEY),
            "aws-iam: `keep` (default: AWSPREVIOUS's access key works until the next rotation deletes it) or `deactivate` (finishSecret deactivates it at once; it can be reactivated until the next rotation).",
        ),
    ],
};

pub static VPC: Table = Table {
    title: "[vpc]",
    doc: "Run the function inside a VPC (to reach a private database).",
    fields: &[
        req(
            "vpc_id",
            STR,
            "The VPC of the service; needed for the security groups and the endpoint.",
        ),
        req(
            "subnet_ids",
            Ty::StrList,
            "Private subnets for the function (and the endpoint).",
        ),
        f(
            "security_group_ids",
            Ty::StrList,
            "Security groups for the function; default: rotgen creates one.",
        ),
        f(
            "endpoint",
            Ty::Bool,
            "Create a Secrets Manager interface endpoint for the rotation functions alone (default true), and an RDS one when a master is one RDS manages: private DNS off, the functions use their own DNS names, so nothing else in the VPC changes route. Set false when the functions already reach Secrets Manager (and RDS) through a NAT gateway, or endpoints with private DNS that admit them.",
        ),
        f(
            "endpoint_subnet_ids",
            Ty::StrList,
            "Subnets for the endpoint (default: subnet_ids; at most one per Availability Zone).",
        ),
        f(
            "service_security_group_ids",
            Ty::StrList,
            "The rotated services' security groups: the function's group may reach only them on the services' ports, and each gets an ingress rule admitting the function's group.",
        ),
        f(
            "service_cidrs",
            Ty::StrList,
            "The rotated services' address ranges (IPv4 CIDR): the function's group may reach only them on the services' ports.",
        ),
    ],
};

pub static ALARMS: Table = Table {
    title: "[alarms]",
    doc: "Know when a rotation fails: an EventBridge rule on Secrets Manager's RotationFailed and RotationAbandoned events for this stack's secrets, and an alarm on each rotation function's errors, both sent to an SNS topic.",
    fields: &[
        f(
            "enabled",
            Ty::Bool,
            "Create the rule, the alarms and (without topic_arn) the topic (default true).",
        ),
        f(
            "topic_arn",
            STR,
            "An existing SNS topic to notify; its policy must let events.amazonaws.com and cloudwatch.amazonaws.com publish (and its KMS key, if any, let them use it). Default: the stack creates an encrypted topic.",
        ),
        f(
            "kms_key_arn",
            STR,
            "The KMS key of the topic the stack creates; its policy must let events.amazonaws.com and cloudwatch.amazonaws.com use it. Default: the stack creates a key (about 1 USD a month).",
        ),
        f(
            "email",
            Ty::StrList,
            "Email addresses to subscribe to the topic the stack creates (each confirms by email).",
        ),
    ],
};

pub static SCHEDULE: Table = Table {
    title: "schedule",
    doc: "When Secrets Manager rotates: `days` or `expression`, and an optional window.",
    fields: &[
        f(
            "days",
            Ty::Int {
                min: 1,
                max: 1000,
                expr: false,
            },
            "AutomaticallyAfterDays: rotate every N days (1-1000).",
        ),
        f(
            "expression",
            STR,
            "ScheduleExpression: `rate(N days)`, `rate(N hours)` (N >= 4) or `cron(min hour dom month dow year)` in UTC; or a parameter that gives one (then checked at deploy, not at build).",
        ),
        f(
            "window",
            LIT,
            "Duration: the rotation window, `Nh` (1-24), shorter than the interval.",
        ),
        f(
            "rotate_immediately",
            Ty::Bool,
            "RotateImmediatelyOnUpdate (default true): rotate as soon as the schedule is deployed.",
        ),
    ],
};

pub static PASSWORD: Table = Table {
    title: "password",
    doc: "How new passwords are generated (GetRandomPassword), as the AWS rotation functions' environment variables.",
    fields: &[
        f(
            "length",
            Ty::Int {
                min: 8,
                max: 4096,
                expr: false,
            },
            "PASSWORD_LENGTH (default 32).",
        ),
        f(
            "exclude_characters",
            LIT,
            "EXCLUDE_CHARACTERS (default: /@\"'\\ and, for postgres, also :).",
        ),
        f("exclude_numbers", Ty::Bool, "EXCLUDE_NUMBERS."),
        f("exclude_punctuation", Ty::Bool, "EXCLUDE_PUNCTUATION."),
        f("exclude_uppercase", Ty::Bool, "EXCLUDE_UPPERCASE."),
        f("exclude_lowercase", Ty::Bool, "EXCLUDE_LOWERCASE."),
        f(
            "require_each_included_type",
            Ty::Bool,
            "REQUIRE_EACH_INCLUDED_TYPE (default true).",
        ),
    ],
};

pub static TOKEN_API: Table = Table {
    title: "token_api",
    doc: "http-token: the API that issues the secret's tokens (every URL https://; every call authenticates with the secret's current token as `Authorization: Bearer`).",
    fields: &[
        req(
            "issue_url",
            LIT,
            "POST here issues a token (body {\"name\": \"rotgen\"}).",
        ),
        req("list_url", LIT, "GET here lists the caller's tokens."),
        req(
            "revoke_url",
            LIT,
            "DELETE here revokes a token; {id} stands for its id.",
        ),
        req("whoami_url", LIT, "GET here answers whose token it is."),
        f(
            "token_pointer",
            LIT,
            "JSON Pointer to the new token in the issue answer (default /token).",
        ),
        f(
            "id_pointer",
            LIT,
            "JSON Pointer to a token's id, in the issue answer and in each listed token (default /id).",
        ),
        f(
            "created_pointer",
            LIT,
            "JSON Pointer to when a listed token was issued: seconds since the epoch, or RFC 3339 (default /created).",
        ),
        f(
            "list_pointer",
            LIT,
            "JSON Pointer to the array of tokens in the list answer (default: the answer is the array).",
        ),
        f(
            "principal_pointer",
            LIT,
            "JSON Pointer to the token's owner in the who-am-i answer (default /name).",
        ),
        f(
            "whoami_id_pointer",
            LIT,
            "JSON Pointer to the id of the asking token in the who-am-i answer. Without it rotgen cannot prove which token a stage holds, and revokes none: a rotation that needs room stops and says so.",
        ),
        f(
            "limit",
            Ty::Int {
                min: 2,
                max: 100,
                expr: false,
            },
            "How many tokens one owner may hold (default 2): at least 2, since after a rotation AWSCURRENT's and AWSPREVIOUS's tokens both work and the next one needs room beside AWSCURRENT's.",
        ),
    ],
};

pub static CREATE: Table = Table {
    title: "create",
    doc: "Create the secret in this template, in the AWS JSON shape for its service, with a generated password.",
    fields: &[
        f(
            "name",
            STR,
            "The secret's Name; default: generated by CloudFormation.",
        ),
        f("description", LIT, "The secret's Description."),
        f("username", STR, "`username` in the secret."),
        f("host", STR, "`host` in the secret."),
        f(
            "port",
            Ty::Int {
                min: 1,
                max: 65535,
                expr: false,
            },
            "`port`; default: the service's usual port.",
        ),
        f("dbname", STR, "`dbname` (postgres, mysql, mariadb)."),
        f(
            "ssl",
            Ty::Bool,
            "`ssl` (default true: verified TLS); false forbids TLS. Set it to false only for a server without TLS.",
        ),
        f(
            "url",
            STR,
            "`url` of the password-change endpoint (service http).",
        ),
    ],
};

pub static SECRET: Table = Table {
    title: "[[secret]]",
    doc: "A secret to rotate.",
    fields: &[
        req(
            "id",
            LIT,
            "A short name, letters and digits, unique in the spec; it prefixes this secret's logical IDs.",
        ),
        f("arn", STR, "The ARN of an existing secret."),
        f(
            "name",
            STR,
            "The name of an existing secret (instead of arn).",
        ),
        req(
            "service",
            Ty::Enum(SERVICES),
            "What the secret logs in to: postgres, mysql, mariadb, redis, rabbitmq (through the management API), ldap (a directory user, by DN), http, random, aws-iam (an IAM user's access keys), or http-token (tokens an HTTPS API issues; see token_api).",
        ),
        f(
            "strategy",
            Ty::Enum(STRATEGIES),
            "`single-user` (default) or `alternating-users` (postgres, mysql, mariadb, redis, rabbitmq; needs master_secret_arn).",
        ),
        f(
            "master_secret_arn",
            STR,
            "ARN of the secret whose user creates the clone user (alternating-users).",
        ),
        f(
            "master_rds_instance",
            LIT,
            "The RDS DB instance whose master password master_secret_arn holds, when RDS manages it (`rds!db-…`, which holds no host): the function asks RDS for the instance's endpoint and uses the master only on it.",
        ),
        f(
            "master_rds_cluster",
            LIT,
            "The Aurora DB cluster whose master password master_secret_arn holds, when RDS manages it (`rds!cluster-…`): the function asks RDS for the cluster's (writer) endpoint and uses the master only on it.",
        ),
        f(
            "kms_key_arn",
            STR,
            "ARN of the customer KMS key that encrypts the secret, if any.",
        ),
        f(
            "master_kms_key_arn",
            STR,
            "ARN of the customer KMS key that encrypts the master secret, if any: the function may then decrypt it.",
        ),
        f(
            "port",
            Ty::Int {
                min: 1,
                max: 65535,
                expr: false,
            },
            "The port of an existing secret's service, when not its usual one: the function's security group allows egress to it. (A created secret says it in create.)",
        ),
        f(
            "user",
            LIT,
            "aws-iam: the IAM user whose access keys the secret holds; the function may manage that user's keys only. http-token: the owner of the secret's tokens, as the who-am-i answer names it.",
        ),
        f("token_api", Ty::Table(&TOKEN_API), TOKEN_API.doc),
        f(
            "schedule",
            Ty::Table(&SCHEDULE),
            "This secret's schedule; default: [schedule].",
        ),
        f(
            "password",
            Ty::Table(&PASSWORD),
            "This secret's password policy; default: [password].",
        ),
        f(
            "create",
            Ty::Table(&CREATE),
            "Create the secret in this template.",
        ),
    ],
};

pub static SPEC: Table = Table {
    title: "spec",
    doc: "A rotgen rotation spec.",
    fields: &[
        f("stack", Ty::Table(&STACK), STACK.doc),
        f("function", Ty::Table(&FUNCTION), FUNCTION.doc),
        f("vpc", Ty::Table(&VPC), VPC.doc),
        f("alarms", Ty::Table(&ALARMS), ALARMS.doc),
        f("parameters", Ty::Map(&PARAMETER), PARAMETER.doc),
        f(
            "schedule",
            Ty::Table(&SCHEDULE),
            "The default schedule of every secret.",
        ),
        f(
            "password",
            Ty::Table(&PASSWORD),
            "The default password policy.",
        ),
        req("secret", Ty::TableArray(&SECRET), "The secrets to rotate."),
    ],
};

/// The spec's JSON Schema (draft 2020-12).
pub fn json_schema() -> Value {
    let mut root = table_schema(&SPEC);
    let obj = root.as_object_mut().expect("table schema is an object");
    let mut head = Map::new();
    head.insert(
        "$schema".into(),
        json!("https://json-schema.org/draft/2020-12/schema"),
    );
    head.insert("title".into(), json!("rotgen spec"));
    head.extend(std::mem::take(obj));
    Value::Object(head)
}

fn table_schema(table: &Table) -> Value {
    let mut props = Map::new();
    for field in table.fields {
        let mut s = ty_schema(&field.ty);
        s.as_object_mut()
            .expect("field schema is an object")
            .insert("description".into(), json!(field.doc));
        props.insert(field.name.into(), s);
    }
    let required: Vec<&str> = table
        .fields
        .iter()
        .filter(|f| f.required)
        .map(|f| f.name)
        .collect();
    let mut s = json!({
        "type": "object",
        "description": table.doc,
        "properties": props,
        "additionalProperties": false,
    });
    if !required.is_empty() {
        s["required"] = json!(required);
    }
    s
}

/// `{ param = "NAME" }`: a value a template parameter gives.
fn param_schema() -> Value {
    json!({
        "type": "object",
        "properties": {"param": {"type": "string", "description": "The name of a parameter declared under [parameters]."}},
        "required": ["param"],
        "additionalProperties": false,
    })
}

fn ty_schema(ty: &Ty) -> Value {
    match ty {
        Ty::Str { expr: true } => json!({"anyOf": [{"type": "string"}, param_schema()]}),
        Ty::Str { expr: false } => json!({"type": "string"}),
        Ty::Int {
            min,
            max,
            expr: true,
        } => {
            json!({"anyOf": [{"type": "integer", "minimum": min, "maximum": max}, param_schema()]})
        }
        Ty::Int { min, max, .. } => json!({"type": "integer", "minimum": min, "maximum": max}),
        Ty::IntIn(values) => json!({"type": "integer", "enum": values}),
        Ty::Bool => json!({"type": "boolean"}),
        Ty::Enum(values) => json!({"type": "string", "enum": values}),
        Ty::StrList => json!({"anyOf": [
            {"type": "array", "items": {"anyOf": [{"type": "string"}, param_schema()]}, "minItems": 1},
            param_schema(),
        ]}),
        Ty::Table(t) => table_schema(t),
        Ty::TableArray(t) => json!({"type": "array", "items": table_schema(t), "minItems": 1}),
        Ty::Map(t) => json!({"type": "object", "additionalProperties": table_schema(t)}),
        Ty::StrMap => {
            json!({"type": "object", "additionalProperties": {"anyOf": [{"type": "string"}, param_schema()]}})
        }
    }
}
