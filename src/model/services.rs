//! What the compiler knows of each service, in one table: one [`Service`] per service rotgen
//! ships, with named fields (its default port, whether its function runs in the VPC,
//! whether it issues its credentials, whether the TLS floor applies, which strategies and
//! masters it takes, what a secret it creates holds, its user names' limit, ...). The
//! model asks [`get`] instead of matching on service names, the spec's schema takes its
//! list of services from [`NAMES`], and a test holds that list to the backends the
//! function ships (`backends::SERVICES`).
//!
//! Data only: no checks and no I/O. What the function does for a service is its backend
//! in `src/backends/`. ARCHITECTURE.md, "Adding a service", says what else a new row needs.

/// Whether a service rotates with alternating users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alternating {
    /// `strategy = "alternating-users"` is taken (with a master that makes the clone).
    Takes,
    /// Single-user only; the help says why.
    Refused(&'static str),
}

/// What a secret's `user` key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum User {
    /// Nothing: the service's secrets name their user in their value.
    None,
    /// The IAM user whose access keys the secret holds (`ROTGEN_IAM_USERS`).
    IamUser,
    /// The owner of a token API's tokens (`ROTGEN_API_OWNERS`), beside `token_api`, the
    /// API's contract.
    TokenOwner,
}

/// The longest user name a secret the stack creates may hold (the alternating pair's
/// `NAME_clone` too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Username {
    /// No limit rotgen knows.
    Any,
    /// At most this many bytes.
    Bytes(usize),
    /// At most this many characters.
    Chars(usize),
    /// A distinguished name (RFC 4514).
    Dn,
}

/// What `create = { ... }` makes for a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    /// The stack cannot create the secret: only the service issues its value.
    Refused {
        message: &'static str,
        help: &'static str,
    },
    /// The secret's JSON: the keys `create` must give, and all it may give.
    Holds {
        needs: &'static [&'static str],
        takes: &'static [&'static str],
    },
}

/// One service, as the compiler sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service {
    /// `service = "..."` in the spec, and `ROTGEN_SERVICE`.
    pub name: &'static str,
    /// The port of a secret that says none: the function's egress, and a created
    /// secret's `port`.
    pub default_port: u16,
    /// Whether its function runs in the spec's VPC. aws-iam's does not: IAM and STS are
    /// public AWS endpoints (IAM has no interface endpoint), and it reaches no private
    /// network.
    pub in_vpc: bool,
    /// Whether it issues its credentials (the issue-and-revoke model): its function
    /// chooses no password, and its role may list secret versions.
    pub issues: bool,
    /// A database: a secret of it without `[vpc]` is warned about (its function would
    /// reach it over the internet).
    pub database: bool,
    /// Reached at an `https://` URL: the egress on 443 is the HTTPS services'.
    pub https: bool,
    /// Reached at `host` and `port` with TLS: the function's TLS floor applies
    /// (`ROTGEN_REQUIRE_TLS`, from `function.require_tls`), and a secret the stack
    /// creates holds `port` and `ssl = true`.
    pub tls_floor: bool,
    /// Whether `strategy = "alternating-users"` is taken.
    pub alternating: Alternating,
    /// Why a single-user secret of it may not name a master (`None`: it may).
    pub master_refused: Option<&'static str>,
    /// Whether its master may be one RDS manages (`rds!db-…`, `master_rds_instance`).
    pub rds_master: bool,
    /// What a secret's `user` key names.
    pub user: User,
    /// The user names a created secret may hold.
    pub username: Username,
    /// What a secret the stack creates holds.
    pub create: Create,
    /// Whether a created secret holds `engine` (the service's name).
    pub engine: bool,
    /// The `dbname` a created secret holds when `create` gives none.
    pub default_dbname: Option<&'static str>,
    /// What the default password policy excludes besides AWS's `/@"'\`.
    pub exclude_also: &'static str,
    /// Whether a server must learn a secret's first value before it rotates: a secret the
    /// stack creates then does not rotate at once.
    pub needs_server: bool,
    /// The values of a secret's `engine` key (AWS's JSON shape, compared in lower case)
    /// that name this service: how `rotgen rotate`, `invoke` and `import` tell a secret's
    /// service.
    pub engines: &'static [&'static str],
    /// Whether a `masterarn` key in the secret means alternating users, as AWS's own
    /// functions for these engines read it.
    pub masterarn_alternates: bool,
    /// Whether the function talks TLS to the service's own server, so its backend reads
    /// the trust store (`ROTGEN_CA_FILE`) and the TLS floor.
    pub tls_client: bool,
}

/// The keys of a created database secret (PostgreSQL, MySQL, MariaDB).
const DATABASE_KEYS: &[&str] = &["username", "host", "dbname", "port", "ssl"];
/// The keys of a created secret of another server reached at `host` and `port`.
const SERVER_KEYS: &[&str] = &["username", "host", "port", "ssl"];
/// What a created secret of a server must give.
const SERVER_NEEDS: &[&str] = &["username", "host"];

/// A database-like service: reached at `host` and `port` with TLS, alternating users.
const SERVER: Service = Service {
    name: "",
    default_port: 443,
    in_vpc: true,
    issues: false,
    database: false,
    https: false,
    tls_floor: true,
    alternating: Alternating::Takes,
    master_refused: None,
    rds_master: false,
    user: User::None,
    username: Username::Any,
    create: Create::Holds {
        needs: SERVER_NEEDS,
        takes: SERVER_KEYS,
    },
    engine: true,
    default_dbname: None,
    exclude_also: "",
    needs_server: true,
    engines: &[],
    masterarn_alternates: false,
    tls_client: true,
};

/// Every service rotgen ships, in the order `rotgen schema` and the messages list them.
pub const SERVICES: &[Service] = &[
    Service {
        name: "postgres",
        engines: &["postgres", "postgresql", "aurora-postgresql"],
        masterarn_alternates: true,
        default_port: 5432,
        database: true,
        rds_master: true,
        username: Username::Bytes(63),
        create: Create::Holds {
            needs: SERVER_NEEDS,
            takes: DATABASE_KEYS,
        },
        default_dbname: Some("postgres"),
        exclude_also: ":",
        ..SERVER
    },
    Service {
        name: "mysql",
        engines: &["mysql", "aurora-mysql", "aurora"],
        masterarn_alternates: true,
        default_port: 3306,
        database: true,
        rds_master: true,
        username: Username::Chars(32),
        create: Create::Holds {
            needs: SERVER_NEEDS,
            takes: DATABASE_KEYS,
        },
        ..SERVER
    },
    Service {
        name: "mariadb",
        engines: &["mariadb"],
        masterarn_alternates: true,
        default_port: 3306,
        database: true,
        rds_master: true,
        username: Username::Chars(80),
        create: Create::Holds {
            needs: SERVER_NEEDS,
            takes: DATABASE_KEYS,
        },
        ..SERVER
    },
    Service {
        name: "redis",
        engines: &["redis", "valkey"],
        default_port: 6379,
        database: true,
        ..SERVER
    },
    Service {
        name: "http",
        engines: &["http"],
        https: true,
        tls_floor: false,
        alternating: Alternating::Refused(
            "use single-user: how an http service keeps two users is its own business (see the http contract)",
        ),
        create: Create::Holds {
            needs: &["username", "url"],
            takes: &["username", "url"],
        },
        ..SERVER
    },
    Service {
        name: "random",
        master_refused: Some("a random secret has no user, so no master changes its password"),
        needs_server: false,
        engine: false,
        ..UNKNOWN
    },
    Service {
        name: "aws-iam",
        tls_client: false,
        in_vpc: false,
        issues: true,
        tls_floor: false,
        alternating: Alternating::Refused(
            "use single-user: a user holds two access keys, which gives the same zero downtime",
        ),
        master_refused: Some(
            "an aws-iam secret needs no master: the function's own role manages the user's access keys",
        ),
        user: User::IamUser,
        create: Create::Refused {
            message: "an aws-iam secret cannot be created here: its value is an access key, which only IAM issues",
            help: "create the user's first key (aws iam create-access-key), store it in a secret as {\"UserName\", \"AccessKeyId\", \"SecretAccessKey\"}, and name that secret with name or arn",
        },
        ..SERVER
    },
    Service {
        name: "rabbitmq",
        engines: &["rabbitmq"],
        default_port: 15671,
        ..SERVER
    },
    Service {
        name: "http-token",
        issues: true,
        https: true,
        tls_floor: false,
        alternating: Alternating::Refused(
            "use single-user: the owner holds two tokens, which gives the same zero downtime",
        ),
        user: User::TokenOwner,
        create: Create::Refused {
            message: "an http-token secret cannot be created here: its value is a token, which only the API issues",
            help: "issue the first token with the API, store it in a secret as {\"username\", \"token\", \"token_id\"}, and name that secret with name or arn",
        },
        ..SERVER
    },
    Service {
        name: "ldap",
        engines: &["ldap", "openldap"],
        default_port: 636,
        alternating: Alternating::Refused(
            "use single-user: a directory user's group memberships and rights are not copied to a second user",
        ),
        username: Username::Dn,
        ..SERVER
    },
];

/// What the model assumes of a name not in the table (the decoder refuses such names, so
/// the model never meets one; this keeps `get` total).
const UNKNOWN: Service = Service {
    name: "",
    default_port: 443,
    in_vpc: true,
    issues: false,
    database: false,
    https: false,
    tls_floor: false,
    alternating: Alternating::Refused(
        "use strategy = \"single-user\": there are no users to alternate",
    ),
    master_refused: None,
    rds_master: false,
    user: User::None,
    username: Username::Any,
    create: Create::Holds {
        needs: &[],
        takes: &["username"],
    },
    engine: true,
    default_dbname: None,
    exclude_also: "",
    needs_server: true,
    engines: &[],
    masterarn_alternates: false,
    tls_client: false,
};

static UNKNOWN_SERVICE: Service = UNKNOWN;

/// The services' names, in the table's order: the spec's `service` enum.
pub const NAMES: [&str; SERVICES.len()] = {
    let mut names = [""; SERVICES.len()];
    let mut i = 0;
    while i < SERVICES.len() {
        names[i] = SERVICES[i].name;
        i += 1;
    }
    names
};

/// The table's row for `name`.
pub fn get(name: &str) -> &'static Service {
    SERVICES
        .iter()
        .find(|s| s.name == name)
        .unwrap_or(&UNKNOWN_SERVICE)
}

/// The names of the services `which` picks, for messages: `a`, `a and b`, `a, b and c`.
pub fn listed(which: impl Fn(&Service) -> bool) -> String {
    let names: Vec<&str> = SERVICES
        .iter()
        .filter(|s| which(s))
        .map(|s| s.name)
        .collect();
    match names.split_last() {
        None => String::new(),
        Some((last, [])) => (*last).to_string(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_the_backends_the_function_ships() {
        assert_eq!(NAMES, crate::backends::SERVICES);
    }

    #[test]
    fn the_schema_takes_its_services_from_the_table() {
        assert_eq!(crate::spec::schema::SERVICES, &NAMES[..]);
    }

    #[test]
    fn names_are_unique_and_known() {
        for (i, s) in SERVICES.iter().enumerate() {
            assert!(!s.name.is_empty());
            assert!(
                SERVICES[..i].iter().all(|t| t.name != s.name),
                "{} twice",
                s.name
            );
            assert_eq!(get(s.name), s);
        }
        assert_eq!(get("nosuch").name, "");
    }

    #[test]
    fn messages_list_the_services_the_old_text_named() {
        assert_eq!(listed(|s| s.rds_master), "postgres, mysql and mariadb");
        assert_eq!(listed(|s| s.user != User::None), "aws-iam and http-token");
        assert_eq!(listed(|s| s.user == User::TokenOwner), "http-token");
    }

    #[test]
    fn issuing_services_create_nothing_and_take_no_password() {
        for s in SERVICES.iter().filter(|s| s.issues) {
            assert!(matches!(s.create, Create::Refused { .. }), "{}", s.name);
            assert_ne!(s.user, User::None, "{}", s.name);
        }
    }
}
