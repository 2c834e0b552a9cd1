//! The model's public types: what `resolve` returns (`Model`, and the functions, secrets,
//! network, alarms and code it holds) and what it takes (`Options`, `Naming`,
//! `StackPlace`).
//!
//! Data and small accessors only. No checks and no I/O: the rules that fill these types
//! are in the sibling files.

use super::arn;
use crate::diag::Diagnostic;
use serde::Serialize;
use serde_json::Value;

/// How generated logical IDs are formed. `build` and the macro differ only here.
#[derive(Debug, Clone)]
pub struct Naming {
    /// Before a function group's label (`""` for build, the resource's ID in the macro).
    pub group_prefix: String,
    /// After a function group's label (`"Rotation"` for build).
    pub group_suffix: String,
    /// Before shared resources (security groups, endpoint).
    pub shared_prefix: String,
    /// Before each secret's ID.
    pub secret_prefix: String,
    /// Before the code location parameters (`CodeBucket`, `CodeKey`).
    pub code_prefix: String,
}

impl Naming {
    pub fn build() -> Self {
        Naming {
            group_prefix: String::new(),
            group_suffix: "Rotation".into(),
            shared_prefix: "Rotation".into(),
            secret_prefix: String::new(),
            code_prefix: String::new(),
        }
    }

    pub fn macro_resource(logical_id: &str) -> Self {
        Naming {
            group_prefix: logical_id.into(),
            group_suffix: String::new(),
            shared_prefix: logical_id.into(),
            secret_prefix: logical_id.into(),
            code_prefix: logical_id.into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    pub naming: Naming,
    /// Nested stacks need files next to the template; the macro has none.
    pub allow_nested: bool,
    /// The format when the spec names none: SAM for `build`; plain CloudFormation for the
    /// macro, which cannot see whether the SAM transform runs after it.
    pub default_sam: bool,
    /// Where the code is when the spec does not say (the macro knows its own zip);
    /// `None`: template parameters.
    pub default_code: Option<Code>,
    /// The architecture `default_code` is built for (the macro's own zip): a function
    /// that runs it must have that architecture.
    pub default_code_architecture: Option<String>,
    /// What `default_code` is, for messages ("the macro's own zip").
    pub default_code_is: &'static str,
    /// Whether the model is left to the end of the process instead of being freed after
    /// rendering (`rotgen build`, whose process ends right after: freeing a large model
    /// node by node costs more than a tenth of the build). Never set in the macro, which
    /// serves many requests.
    pub keep_until_exit: bool,
    /// Whether `default_code` replaces the spec's own `function.code` (`build --package`
    /// writes the zip: the spec may not say it is elsewhere).
    pub default_code_required: bool,
    /// Whether `format = "sam"` is refused (the macro cannot see whether the SAM
    /// transform runs after it).
    pub forbid_sam: bool,
    /// Where the stack deploys, when that is known (the macro's request says): ARNs must
    /// be of its partition and Region, and a secret of another account is that account's.
    pub stack: Option<StackPlace>,
    /// The template is for a StackSet (`rotgen build --stackset`; the spec's `[stack]
    /// stackset` says the same): see `stackset.rs`.
    pub stackset: bool,
}

/// The Region and account a stack deploys into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackPlace {
    pub region: String,
    pub account: String,
}

impl StackPlace {
    /// The partition of the Region (`cn-north-1` → `aws-cn`).
    pub fn partition(&self) -> &'static str {
        arn::partition_of_region(&self.region)
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            naming: Naming::build(),
            allow_nested: true,
            default_sam: true,
            default_code: None,
            default_code_architecture: None,
            default_code_is: "the macro's own zip",
            default_code_required: false,
            keep_until_exit: false,
            forbid_sam: false,
            stack: None,
            stackset: false,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Model {
    /// The Region the spec's ARNs name, if any: the stack must deploy there.
    pub region: Option<String>,
    pub sam: bool,
    /// For a StackSet with service-managed permissions (see `stackset.rs`).
    pub stackset: bool,
    pub description: String,
    pub nested: bool,
    pub architecture: String,
    pub code: Code,
    pub function: FunctionSettings,
    pub vpc: Option<VpcModel>,
    /// Where rotation failures are sent (none when the spec turns alarms off).
    pub alarms: Option<AlarmsModel>,
    /// The spec's template parameters (`[parameters.NAME]`).
    pub parameters: Vec<ParamModel>,
    /// Tags for every taggable resource, as most resources take them (`[{Key, Value}]`)...
    pub tags: Option<Value>,
    /// ...and as SAM resources take them (`{key: value}`).
    pub tag_map: Option<Value>,
    pub groups: Vec<Group>,
    /// What is probably a mistake but may be right (a partial ARN that looks full): the
    /// build goes on and says so.
    #[serde(skip)]
    pub warnings: Vec<Diagnostic>,
}

impl Model {
    /// The model's settings with the given groups instead of its own (without copying
    /// its own): what a nested template, or the main template of nested stacks, needs.
    pub fn with_groups(&self, groups: Vec<Group>) -> Model {
        Model {
            region: self.region.clone(),
            sam: self.sam,
            stackset: self.stackset,
            description: self.description.clone(),
            nested: self.nested,
            architecture: self.architecture.clone(),
            code: self.code.clone(),
            function: self.function.clone(),
            vpc: self.vpc.clone(),
            alarms: self.alarms.clone(),
            parameters: self.parameters.clone(),
            tags: self.tags.clone(),
            tag_map: self.tag_map.clone(),
            groups,
            warnings: Vec::new(),
        }
    }
}

/// A template parameter.
#[derive(Debug, Clone, Serialize)]
pub struct ParamModel {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub description: Option<String>,
    pub default: Option<String>,
    /// For a parameter that reaches the role's policy as (part of) an ARN: no `*` or `?`,
    /// checked by CloudFormation when the stack deploys (`AllowedPattern`).
    pub no_wildcard: bool,
}

impl ParamModel {
    /// Whether the value a deploy gives holds commas between items: a list, not the
    /// name of an SSM parameter that holds one.
    pub fn takes_items(&self) -> bool {
        self.ty.starts_with("List<") || self.ty == "CommaDelimitedList"
    }

    /// The type a nested stack declares it with: the parent passes it on as text, a list
    /// joined with commas.
    pub fn nested_type(&self) -> &'static str {
        if self.is_list() {
            "CommaDelimitedList"
        } else {
            "String"
        }
    }

    pub fn is_list(&self) -> bool {
        self.ty.starts_with("List<")
            || self.ty == "CommaDelimitedList"
            || self.ty.starts_with("AWS::SSM::Parameter::Value<List<")
            || self.ty == "AWS::SSM::Parameter::Value<CommaDelimitedList>"
    }
}

/// The SNS topic rotation failures go to, and what the stack creates for it.
#[derive(Debug, Clone, Serialize)]
pub struct AlarmsModel {
    /// The topic's ARN as a template value (a `Ref` to the created topic, or the spec's).
    pub topic: Value,
    /// Logical ID of the output that gives the topic's ARN.
    pub output_id: String,
    /// The topic the stack creates, when the spec names none.
    pub created: Option<AlarmTopic>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AlarmTopic {
    pub id: String,
    pub policy_id: String,
    /// The topic's KMS key: the spec's, or a `Ref` to `key_id`.
    pub key: Value,
    /// Logical ID of the key the stack creates, when the spec names none.
    pub key_id: Option<String>,
    /// Email subscriptions: (logical ID, address).
    pub subscriptions: Vec<(String, Value)>,
}

/// A function's alarm on its errors, and the EventBridge rules on its secrets' rotation
/// failures (several when the secrets' ARNs do not fit one event pattern).
#[derive(Debug, Clone, Serialize)]
pub struct GroupAlarms {
    pub errors_alarm_id: String,
    pub rules: Vec<FailureRule>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FailureRule {
    pub id: String,
    /// The pattern for `detail.additionalEventData.SecretId`: ARNs, and `prefix`
    /// matches for secrets named by name.
    pub secret_ids: Vec<Value>,
}

/// Where the function's zip comes from.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Code {
    /// Template parameters name the S3 bucket and key.
    Params {
        bucket_param: String,
        key_param: String,
        /// The function's `S3Bucket`: the bucket parameter itself, or, for a StackSet,
        /// `BUCKET-${AWS::Region}` (Lambda reads code only from a bucket of its own
        /// Region).
        bucket: Value,
        /// Whether `bucket_param` is the prefix of one bucket per Region.
        per_region: bool,
    },
    /// A local path that `sam deploy` / `aws cloudformation package` uploads.
    Local {
        path: String,
    },
    S3 {
        bucket: Value,
        key: Value,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct FunctionSettings {
    pub memory_mb: Value,
    pub timeout_s: Value,
    pub log_retention_days: i64,
    pub log_kms_key: Option<Value>,
    pub permissions_boundary: Option<Value>,
    pub reserved_concurrency: Option<Value>,
    pub environment_kms_key: Option<Value>,
    pub layers: Option<Value>,
    /// Whether the spec names the roles (`role_name`): the Guard rule against explicit
    /// names then needs suppressing on every resource of its types.
    pub named: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct VpcModel {
    pub vpc_id: Value,
    pub subnet_ids: Value,
    /// The function's security groups as a template value.
    pub security_group_ids: Value,
    /// Logical ID of the group rotgen creates for the function, when none is given.
    pub function_sg_id: Option<String>,
    pub endpoint: Option<Endpoint>,
    /// The egress rules of the function's group, when rotgen creates it: Secrets Manager
    /// (the endpoint's group when there is one) and the services on their ports.
    pub egress: Vec<Value>,
    /// Why some egress is open to 0.0.0.0/0, when it is (a Guard rule's suppression).
    pub open_egress: Option<String>,
    /// Rules admitting the function's group into the services' groups.
    pub service_ingress: Vec<Ingress>,
    /// What a rotation needs before it can run (the endpoint and the ingress rules): the
    /// schedules, or the nested stacks, wait for them.
    pub waits: Vec<String>,
    /// The ingress rules alone: what nested stacks wait for (they reference the endpoint).
    pub ingress_waits: Vec<String>,
}

/// The interface endpoints rotgen makes for the functions: Secrets Manager's always, and
/// RDS's when a secret's master is one RDS manages (the function asks RDS for the
/// endpoint it binds the master to). Both have private DNS off, sit in the same subnets
/// and share one security group, which admits the functions' groups on 443 alone.
#[derive(Debug, Clone, Serialize)]
pub struct Endpoint {
    pub id: String,
    /// Logical ID of the RDS interface endpoint, when some function needs it.
    pub rds_id: Option<String>,
    pub sg_id: String,
    pub subnet_ids: Value,
    /// Rules admitting the functions' groups on 443 (separate resources, so the function's
    /// group can name the endpoint's in its egress without a cycle).
    pub ingress: Vec<Ingress>,
}

/// An `AWS::EC2::SecurityGroupIngress`: `source` may reach `group` on `port`.
#[derive(Debug, Clone, Serialize)]
pub struct Ingress {
    pub id: String,
    pub group: Value,
    pub source: Value,
    pub port: u16,
    pub description: String,
}

/// One rotation function and the secrets it rotates.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// Whether the function runs in the spec's VPC (all but aws-iam's, when there is one).
    pub in_vpc: bool,
    /// Whether the function reaches RDS through the endpoint rotgen makes (some of its
    /// secrets' masters are RDS's, in a `[vpc]` whose `endpoint` is on): it gets
    /// `ROTGEN_RDS_ENDPOINT`, and in a nested stack the `RdsEndpointUrl` parameter.
    pub rds_endpoint: bool,
    pub label: String,
    pub service: String,
    pub strategy: String,
    pub function_id: String,
    pub role_id: String,
    pub log_group_id: String,
    /// Secrets Manager's leave to invoke the function: one per account whose secrets it
    /// rotates (the first is the one most secrets have).
    pub permissions: Vec<PermissionModel>,
    /// Logical ID of the nested stack holding this group (nested layout).
    pub stack_id: String,
    /// File of that nested stack's template, relative to the main template.
    pub template_file: String,
    pub function_name: Option<Value>,
    pub role_name: Option<Value>,
    pub environment: serde_json::Map<String, Value>,
    pub statements: Vec<Value>,
    pub managed_policies: Vec<Value>,
    pub alarms: Option<GroupAlarms>,
    pub secrets: Vec<SecretModel>,
}

impl Group {
    /// This group without its secrets (what the main template of nested stacks lists),
    /// without copying them first.
    pub fn without_secrets(&self) -> Group {
        Group {
            in_vpc: self.in_vpc,
            rds_endpoint: self.rds_endpoint,
            label: self.label.clone(),
            service: self.service.clone(),
            strategy: self.strategy.clone(),
            function_id: self.function_id.clone(),
            role_id: self.role_id.clone(),
            log_group_id: self.log_group_id.clone(),
            permissions: self.permissions.clone(),
            stack_id: self.stack_id.clone(),
            template_file: self.template_file.clone(),
            function_name: self.function_name.clone(),
            role_name: self.role_name.clone(),
            environment: serde_json::Map::new(),
            statements: Vec::new(),
            managed_policies: Vec::new(),
            alarms: None,
            secrets: Vec::new(),
        }
    }
}

/// An `AWS::Lambda::Permission` for Secrets Manager, from one account.
#[derive(Debug, Clone, Serialize)]
pub struct PermissionModel {
    pub id: String,
    /// `SourceAccount`: the account that owns the secrets (`Ref: AWS::AccountId` for the
    /// stack's own).
    pub source_account: Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct SecretModel {
    pub id: String,
    /// The permission its schedule waits for (its owner's).
    pub permission_id: String,
    pub service: String,
    pub schedule_id: String,
    pub secret_id: Value,
    pub rules: Value,
    pub rotate_immediately: Option<bool>,
    pub create: Option<CreateModel>,
    /// Whether its master is one RDS manages.
    #[serde(skip)]
    pub rds_master: bool,
    /// What its schedule waits for besides the permission and `VpcModel::waits`: the RDS
    /// endpoint, for a secret whose master is RDS's (in one template; a nested stack
    /// waits in the parent).
    pub waits: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CreateModel {
    pub id: String,
    pub name: Option<Value>,
    pub description: String,
    pub kms_key: Option<Value>,
    pub generate: Value,
}
