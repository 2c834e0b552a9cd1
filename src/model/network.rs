//! Where the functions run and what they may reach: `[vpc]` (ids, counts), the function's
//! security group and its egress (the endpoint's group, the services' groups or CIDRs on
//! their ports), ingress as separate resources, and the interface endpoints (Secrets
//! Manager's, and RDS's for masters RDS manages) whose URLs the functions get.
//!
//! Checks and values only, no I/O.

use super::{
    Cx, ENDPOINT_URL_PARAM, Endpoint, Group, Ingress, Naming, RDS_ENDPOINT_URL_PARAM,
    RDS_ENDPOINT_VAR, Resolved, VpcModel, arn, get_att, numbered, services,
};
use crate::diag::Diagnostic;
use crate::spec::{self, ListVal, Sp, Spec, Val};
use serde_json::{Value, json};

/// The functions reach Secrets Manager through the endpoint rotgen made, by its own
/// DNS name: the endpoint has no private DNS, so nothing else in the VPC changes
/// route (see templates/vpc.yaml).
pub(super) fn reach_endpoints(vpc: Option<&VpcModel>, groups: &mut [Group], nested: bool) {
    if let Some(e) = vpc.and_then(|v| v.endpoint.as_ref()) {
        let url = if nested {
            json!({"Ref": ENDPOINT_URL_PARAM})
        } else {
            endpoint_url(&e.id)
        };
        // Not the functions outside the VPC: the endpoint's addresses are private.
        for g in groups.iter_mut().filter(|g| g.in_vpc) {
            g.environment
                .insert("SECRETS_MANAGER_ENDPOINT".into(), url.clone());
        }
        // The functions whose masters RDS manages reach the RDS API the same way, and
        // their secrets' schedules wait for that endpoint too (a nested stack waits in
        // the parent, through the parameter it takes).
        if let Some(rds_id) = &e.rds_id {
            let url = if nested {
                json!({"Ref": RDS_ENDPOINT_URL_PARAM})
            } else {
                endpoint_url(rds_id)
            };
            for g in groups.iter_mut().filter(|g| g.rds_endpoint) {
                g.environment.insert(RDS_ENDPOINT_VAR.into(), url.clone());
                if !nested {
                    for s in g.secrets.iter_mut().filter(|s| s.rds_master) {
                        s.waits.push(rds_id.clone());
                    }
                }
            }
        }
    }
}

/// `a.b.c.d/n`, each part in range.
fn is_ipv4_cidr(s: &str) -> bool {
    let Some((addr, bits)) = s.split_once('/') else {
        return false;
    };
    let octets: Vec<&str> = addr.split('.').collect();
    octets.len() == 4
        && octets.iter().all(|o| {
            !o.is_empty()
                && o.len() <= 3
                && o.bytes().all(|b| b.is_ascii_digit())
                && o.parse::<u16>().is_ok_and(|n| n <= 255)
        })
        && !bits.is_empty()
        && bits.len() <= 2
        && bits.bytes().all(|b| b.is_ascii_digit())
        && bits.parse::<u8>().is_ok_and(|n| n <= 32)
}

/// `https://` and the endpoint's regional DNS name (the first of its `DnsEntries`,
/// `ZONEID:vpce-….secretsmanager.REGION.vpce.amazonaws.com`).
pub fn endpoint_url(endpoint_id: &str) -> Value {
    json!({"Fn::Join": ["", [
        "https://",
        {"Fn::Select": [1, {"Fn::Split": [":", {"Fn::Select": [0, {"Fn::GetAtt": [endpoint_id, "DnsEntries"]}]}]}]}
    ]]})
}

impl Cx {
    /// `[vpc]`, and the warnings about where the functions run: database secrets without a
    /// VPC, a VPC no function runs in (only aws-iam secrets).
    pub(super) fn network(
        &mut self,
        spec: &Spec,
        naming: &Naming,
        resolved: &[Resolved],
    ) -> Option<VpcModel> {
        if spec.vpc.is_none() {
            let databases: Vec<&Sp<String>> = spec
                .secrets
                .iter()
                .filter_map(|s| s.service.as_ref())
                .filter(|s| services::get(&s.v).database)
                .collect();
            if let Some(first) = databases.first() {
                let more = match databases.len() {
                    1 => String::new(),
                    n => format!(" (and {} more database secrets)", n - 1),
                };
                self.warnings.push(
                    Diagnostic::new(&first.loc, format!("a {} secret without [vpc]{more}: its function runs outside any VPC and reaches the database over the public internet, and the first rotation starts as soon as the stack deploys (RotateImmediatelyOnUpdate)", first.v))
                        .help("add [vpc] with the database's vpc_id and subnet_ids (rotgen adds the function's security group and the Secrets Manager endpoint); without it the database must accept connections from the internet"),
                );
            }
        }
        let mut vpc = spec.vpc.as_ref().map(|v| self.vpc(v, naming, resolved));
        // Only aws-iam secrets: no function runs in the VPC, so it gets no security group
        // and no endpoint (checked all the same, so a mistake there is still reported).
        if let Some(v) = &spec.vpc
            && !resolved.is_empty()
            && !resolved.iter().any(|s| services::get(&s.service).in_vpc)
        {
            self.warnings.push(
                Diagnostic::new(&v.loc, "[vpc] is not used: every secret here is aws-iam, whose function runs outside the VPC (IAM and STS are public endpoints)")
                    .help("remove [vpc], or keep it for secrets you add later (the template gets no security group and no endpoint until then)"),
            );
            vpc = None;
        }
        vpc
    }

    pub(super) fn vpc(&mut self, v: &spec::Vpc, naming: &Naming, secrets: &[Resolved]) -> VpcModel {
        self.check_list(&v.subnet_ids, "subnet_ids", "subnet");
        self.check_list(&v.security_group_ids, "security_group_ids", "sg");
        self.check_count(
            &v.subnet_ids,
            16,
            "subnet_ids",
            "a Lambda function's VpcConfig takes at most 16 subnets",
        );
        self.check_count(
            &v.security_group_ids,
            5,
            "security_group_ids",
            "a Lambda function's VpcConfig takes at most 5 security groups",
        );
        self.check_list(&v.endpoint_subnet_ids, "endpoint_subnet_ids", "subnet");
        if let Some(Sp {
            v: Val::Lit(s),
            loc,
        }) = &v.vpc_id
            && let Err(why) = arn::check_ec2_id(s, "vpc")
        {
            self.err(
                loc,
                format!("vpc_id: {why}"),
                "copy the VPC id from the VPC console, e.g. vpc-0abc1234def567890",
            );
        }
        let vpc_id = v.vpc_id.as_ref().map_or(Value::Null, |x| x.v.to_json());
        let subnet_ids = v.subnet_ids.as_ref().map_or(json!([]), |x| x.v.to_json());
        let p = &naming.shared_prefix;
        let (security_group_ids, function_sg_id) = match &v.security_group_ids {
            Some(sg) => (sg.v.to_json(), None),
            None => {
                let id = format!("{p}FunctionSecurityGroup");
                (json!([get_att(&id, "GroupId")]), Some(id))
            }
        };
        // The groups the functions run in, one template value each (a list from one
        // intrinsic is known only at deploy time: its first group is admitted).
        let function_groups: Vec<Value> = match &v.security_group_ids {
            None => vec![security_group_ids[0].clone()],
            Some(Sp {
                v: ListVal::Items(items),
                ..
            }) => items.iter().map(|i| i.v.to_json()).collect(),
            Some(Sp {
                v: ListVal::Expr(e),
                ..
            }) => vec![json!({"Fn::Select": [0, e]})],
        };
        let endpoint = v.endpoint.as_ref().is_none_or(|e| e.v).then(|| {
            let sg_id = format!("{p}EndpointSecurityGroup");
            let several = function_groups.len() > 1;
            Endpoint {
                id: format!("{p}SecretsManagerEndpoint"),
                // A master RDS manages: the function asks RDS for its endpoint. RDS
                // masters are for databases, whose functions all run in the VPC.
                rds_id: secrets
                    .iter()
                    .any(|s| services::get(&s.service).in_vpc && s.master_rds.is_some())
                    .then(|| format!("{p}RdsEndpoint")),
                ingress: function_groups
                    .iter()
                    .enumerate()
                    .map(|(i, source)| Ingress {
                        id: numbered(&format!("{p}EndpointIngress"), i, several),
                        group: get_att(&sg_id, "GroupId"),
                        source: source.clone(),
                        port: 443,
                        description: "HTTPS from the rotation functions".into(),
                    })
                    .collect(),
                sg_id,
                subnet_ids: v
                    .endpoint_subnet_ids
                    .as_ref()
                    .map_or_else(|| subnet_ids.clone(), |x| x.v.to_json()),
            }
        });
        self.check_list(
            &v.service_security_group_ids,
            "service_security_group_ids",
            "sg",
        );
        let service_groups =
            self.listed(&v.service_security_group_ids, "service_security_group_ids");
        let service_cidrs = self.listed(&v.service_cidrs, "service_cidrs");
        self.check_literal_items(
            &v.service_cidrs,
            is_ipv4_cidr,
            |s| format!("service_cidrs: \"{s}\" is not an IPv4 CIDR"),
            "write an address range such as 10.0.0.0/16 (or 10.0.1.25/32 for one host)",
        );
        if let (Some(g), Some(_)) = (&v.service_security_group_ids, &v.security_group_ids) {
            self.err(&g.loc, "service_security_group_ids needs the security group rotgen creates for the functions, but security_group_ids gives your own", "leave security_group_ids out, or open the services' groups to your groups yourself and remove service_security_group_ids");
        }
        if let (Some(g), Some(_)) = (&v.service_security_group_ids, &v.service_cidrs) {
            self.err(
                &g.loc,
                "service_security_group_ids and service_cidrs both say where the services are",
                "keep one of them",
            );
        }

        // aws-iam functions run outside the VPC (see `Group::in_vpc`).
        let mut service_ports: Vec<u16> = secrets
            .iter()
            .filter(|s| services::get(&s.service).in_vpc)
            .map(|s| s.port)
            .collect();
        service_ports.sort_unstable();
        service_ports.dedup();
        let has_http = secrets.iter().any(|s| services::get(&s.service).https);
        let tcp = |port: u16, to: (&str, Value), description: String| {
            let mut rule = serde_json::Map::new();
            rule.insert("IpProtocol".into(), json!("tcp"));
            rule.insert("FromPort".into(), json!(port));
            rule.insert("ToPort".into(), json!(port));
            rule.insert(to.0.into(), to.1);
            rule.insert("Description".into(), json!(description));
            Value::Object(rule)
        };
        let mut egress = Vec::new();
        let mut open: Vec<&str> = Vec::new();
        match &endpoint {
            // The RDS endpoint shares the group: this one rule reaches both.
            Some(e) => egress.push(tcp(
                443,
                ("DestinationSecurityGroupId", get_att(&e.sg_id, "GroupId")),
                if e.rds_id.is_some() {
                    "Secrets Manager and RDS, through the interface endpoints".into()
                } else {
                    "Secrets Manager, through the interface endpoint".into()
                },
            )),
            None => {
                egress.push(tcp(443, ("CidrIp", json!("0.0.0.0/0")), if has_http && service_groups.is_empty() && service_cidrs.is_empty() {
                    "Secrets Manager (through a NAT gateway or an endpoint) and the HTTPS services".into()
                } else {
                    "Secrets Manager, through a NAT gateway or an endpoint".into()
                }));
                open.push("Secrets Manager is reached through a NAT gateway or an endpoint with private DNS ([vpc] endpoint = false), whose addresses are not fixed");
            }
        }
        for &port in &service_ports {
            let what = if port == 443 && has_http {
                "The rotated HTTPS services".to_string()
            } else {
                format!("The rotated service on port {port}")
            };
            if !service_groups.is_empty() {
                for g in &service_groups {
                    egress.push(tcp(
                        port,
                        ("DestinationSecurityGroupId", g.clone()),
                        what.clone(),
                    ));
                }
            } else if !service_cidrs.is_empty() {
                for c in &service_cidrs {
                    egress.push(tcp(port, ("CidrIp", c.clone()), what.clone()));
                }
            } else {
                const WHY: &str = "the services' hosts are DNS names the build cannot resolve; set [vpc] service_security_group_ids or service_cidrs to scope this egress to them";
                if !(port == 443 && endpoint.is_none()) {
                    egress.push(tcp(port, ("CidrIp", json!("0.0.0.0/0")), what));
                }
                if !open.contains(&WHY) {
                    open.push(WHY);
                }
            }
        }
        let mut service_ingress = Vec::new();
        if let Some(fsg) = &function_sg_id {
            let several = service_groups.len() * service_ports.len() > 1;
            for (i, g) in service_groups.iter().enumerate() {
                for (j, &port) in service_ports.iter().enumerate() {
                    service_ingress.push(Ingress {
                        id: numbered(
                            &format!("{p}ServiceIngress"),
                            i * service_ports.len() + j,
                            several,
                        ),
                        group: g.clone(),
                        source: get_att(fsg, "GroupId"),
                        port,
                        description: format!("The rotation functions, on port {port}"),
                    });
                }
            }
        }
        let open_egress = (!open.is_empty()).then(|| {
            let mut why = open.join("; and ");
            if let Some(first) = why.get(..1) {
                why = first.to_uppercase() + &why[1..];
            }
            why.push('.');
            why
        });
        let mut waits: Vec<String> = Vec::new();
        if let Some(e) = &endpoint {
            waits.push(e.id.clone());
            waits.extend(e.ingress.iter().map(|i| i.id.clone()));
        }
        waits.extend(service_ingress.iter().map(|i| i.id.clone()));
        let ingress_waits = waits
            .iter()
            .filter(|w| endpoint.as_ref().is_none_or(|e| **w != e.id))
            .cloned()
            .collect();
        VpcModel {
            ingress_waits,
            vpc_id,
            subnet_ids,
            security_group_ids,
            function_sg_id,
            endpoint,
            egress,
            open_egress,
            service_ingress,
            waits,
        }
    }

    /// The template values of a list the VPC must see item by item (a rule per item):
    /// a list from one intrinsic cannot be iterated at build time.
    pub(super) fn listed(&mut self, list: &Option<Sp<ListVal>>, what: &str) -> Vec<Value> {
        match list {
            None => Vec::new(),
            Some(Sp {
                v: ListVal::Items(items),
                ..
            }) => items.iter().map(|i| i.v.to_json()).collect(),
            Some(Sp {
                v: ListVal::Expr(_),
                loc,
            }) => {
                self.err(
                    loc,
                    format!("{what} must list its items: each becomes a rule of its own"),
                    format!("write {what} = [a, b], each a literal or an intrinsic (!Ref ...) of one item"),
                );
                Vec::new()
            }
        }
    }
}
