//! The command line: clap's arguments (low level) turned into calls of the library (high level).

use crate::Error;
use crate::diag::{self, Diagnostics};
use crate::output::{self, Format};
use crate::spec::schema;
use clap::{Parser, Subcommand, ValueEnum};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The starter spec `rotgen init` writes; also built by the snapshot tests.
pub const STARTER_SPEC: &str = include_str!("../examples/starter.toml");

#[derive(Debug, Parser)]
#[command(
    name = "rotgen",
    version,
    propagate_version = true,
    about = "AWS Secrets Manager rotation for any database or service: generated templates and the rotation function in one binary"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compile a TOML rotation spec into a CloudFormation or SAM template.
    Build(BuildArgs),
    /// Print the JSON Schema of the spec (for editor completion and checks).
    Schema,
    /// Run one Lambda event (JSON, from FILE or standard input) through the same dispatch
    /// the deployed function uses, against the Secrets Manager the AWS environment points at.
    Invoke {
        /// The event file; `-` or nothing reads standard input.
        event: Option<PathBuf>,
        #[command(flatten)]
        function: FunctionArgs,
    },
    /// Rotate a secret now, from the command line: a fresh token and the four steps with the
    /// function's own code. Exits 0 only when the new credentials are current and log in.
    Rotate {
        /// The secret's ARN or name.
        #[arg(long)]
        secret_id: String,
        /// Finish the rotation an AWSPENDING version has left unfinished (with its token)
        /// instead of refusing to start one beside it.
        #[arg(long)]
        resume: bool,
        #[command(flatten)]
        function: FunctionArgs,
    },
    /// Apply the Rotgen macro to a template on disk (YAML or JSON, short-form tags
    /// included): what CloudFormation will deploy, to preview, review and commit.
    Expand {
        /// The template.
        template: PathBuf,
        /// Write to FILE (atomically) instead of standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Output format (default: from the extension of --output, else yaml).
        #[arg(long, value_enum)]
        format: Option<OutputFormat>,
        /// Code location of the generated functions when a rotation gives no
        /// function.code: s3://BUCKET/KEY (default: template parameters).
        #[arg(long, value_name = "S3_URL")]
        code: Option<String>,
        /// The architecture the --code zip is built for, as the macro function knows its
        /// own: a rotation that runs it gets it (and may not ask for another).
        #[arg(long, default_value = "arm64", requires = "code", value_parser = clap::builder::PossibleValuesParser::new(crate::spec::schema::ARCHITECTURES))]
        code_architecture: String,
        /// The Region the stack deploys into, as CloudFormation tells the macro: ARNs of
        /// another Region or partition are refused.
        #[arg(long, requires = "account")]
        region: Option<String>,
        /// The account the stack deploys into (12 digits), as CloudFormation tells the
        /// macro: a secret of another account gets a permission for that account.
        #[arg(long, requires = "region")]
        account: Option<String>,
    },
    /// Write the template that deploys the Rotgen macro itself (the macro, its function,
    /// role and log group).
    MacroStack {
        /// Write to FILE (atomically) instead of standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// The macro's name, unique per account and region.
        #[arg(long, default_value = "Rotgen")]
        name: String,
        /// The architecture of the zip.
        #[arg(long, default_value = "arm64", value_parser = clap::builder::PossibleValuesParser::new(crate::spec::schema::ARCHITECTURES))]
        architecture: String,
        /// Permissions boundary for the macro function's role.
        #[arg(long, value_name = "POLICY_ARN")]
        permissions_boundary: Option<String>,
    },
    /// Write the Lambda zip of this rotgen binary (as `bootstrap`) for the macro stack or
    /// a template with CodeBucket/CodeKey parameters: DIR/rotgen-ARCH-HASH.zip, named by
    /// its content so a new version gets a new S3 key.
    Package {
        /// The folder to write it to.
        #[arg(short, long, value_name = "DIR", default_value = ".")]
        output: PathBuf,
        /// The functions' architecture, as `rotgen macro-stack --architecture` and the
        /// spec's function.architecture say (default arm64, as theirs): this rotgen must be
        /// a binary of it (else scripts/package.sh cross-compiles one).
        #[arg(long, default_value = "arm64", value_parser = clap::builder::PossibleValuesParser::new(crate::spec::schema::ARCHITECTURES))]
        architecture: String,
    },
    /// Print a shell completion script: `rotgen completions bash > /etc/bash_completion.d/rotgen`,
    /// zsh into a folder of $fpath as `_rotgen`, fish into ~/.config/fish/completions/rotgen.fish.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: crate::shell::Shell,
    },
    /// Print a man page (roff): `rotgen man > ~/.local/share/man/man1/rotgen.1`, or write
    /// them all with --dir.
    Man {
        /// The command whose page to print (rotgen-COMMAND.1); without it, rotgen.1.
        command: Option<String>,
        /// Write rotgen.1 and every rotgen-COMMAND.1 into this folder instead.
        #[arg(long, conflicts_with = "command")]
        dir: Option<PathBuf>,
    },
    /// Report, from the AWS APIs only, whether every secret a deployed stack rotates is
    /// rotating: rotation on and by the stack's function, last and next rotation, overdue,
    /// an unfinished rotation, the last failed step (from the function's logs), and drift
    /// of the function from its template. Never reads a secret's value. Exit 0 when every
    /// secret is healthy, 1 when one is not, 2 when the input is invalid or AWS cannot be
    /// read.
    Status(StatusArgs),
    /// Write a spec for the secrets this account already rotates (all with rotation on, or
    /// those the filters keep): service and strategy from each rotation function (AWS's
    /// templates, rotgen's own) or the secret's `engine`, its schedule, KMS key, master and
    /// the functions' VPC. What it cannot decide is a comment saying why. Reads no secret
    /// value but `engine` and `masterarn`, and prints neither.
    Import(ImportArgs),
    /// Write a commented starter spec.
    Init {
        /// Where to write it (default: standard output). An existing file is kept unless --force.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
}

/// What the template sets on a deployed function, given as flags instead.
#[derive(Debug, Clone, clap::Args)]
pub struct FunctionArgs {
    /// The service the secret logs in to (default: ROTGEN_SERVICE).
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(crate::backends::SERVICES))]
    pub service: Option<String>,
    /// single-user or alternating-users (default: ROTGEN_STRATEGY, else single-user).
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(crate::spec::schema::STRATEGIES))]
    pub strategy: Option<String>,
    /// A master secret (ARN or name) the function may use when a secret's `masterarn`
    /// names it, beside those of ROTGEN_MASTER_SECRETS; repeat for several. A secret's
    /// own `masterarn` is never enough.
    #[arg(long = "master", value_name = "SECRET")]
    pub masters: Vec<String>,
    /// Let a server that declines TLS receive credentials in plaintext when the secret
    /// allows it (`ssl` absent or false). Without it every connection is verified TLS
    /// whatever the secret says, as in the functions rotgen generates: a secret others
    /// can write cannot send your credentials in the clear.
    #[arg(long)]
    pub allow_plaintext: bool,
}

impl FunctionArgs {
    fn overrides(&self) -> crate::function::Overrides {
        crate::function::Overrides {
            service: self.service.clone(),
            strategy: self
                .strategy
                .as_deref()
                .and_then(crate::rotation::backend::Strategy::parse),
            masters: crate::rotation::trust::Masters::of(&self.masters),
            require_tls: Some(!self.allow_plaintext),
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The spec file (TOML); `-` reads standard input.
    pub spec: PathBuf,
    /// Write the template to FILE (atomically) instead of standard output. Nested templates,
    /// when the spec needs them, go next to it as FILE_STEM.LABEL.EXT.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Output format (default: from the extension of --output, else yaml).
    #[arg(long, value_enum)]
    pub format: Option<OutputFormat>,
    /// Write nothing; exit 1 with a diff when --output is not what the spec generates.
    #[arg(long, requires = "output")]
    pub check: bool,
    /// Also write the function's Lambda zip (this rotgen binary, as `bootstrap`) next to
    /// the template as rotgen-ARCH.zip, and point the template at it: `sam deploy` or
    /// `aws cloudformation package` uploads it (under a key that changes with its content).
    /// The function's architecture is the spec's (default arm64), never this machine's: this
    /// binary must be a Linux binary of it that Lambda can run; otherwise says what to run
    /// instead. With --check no zip is written, so no such binary is needed.
    #[arg(long, requires = "output")]
    pub package: bool,
    /// Write the template for a CloudFormation StackSet with service-managed permissions
    /// (AWS Organizations), as `[stack] stackset = true` does: plain CloudFormation, the
    /// code from a bucket per Region (CodeBucket-REGION), and everything tied to one
    /// account or Region refused. With -o, prints the create-stack-set and
    /// create-stack-instances commands.
    #[arg(long)]
    pub stackset: bool,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The spec (TOML) the stack was built from; its secrets are checked. Its [stack] name
    /// is the stack, unless --stack gives another. Without it, the deployed stack's own
    /// templates say which secrets to check.
    #[arg(required_unless_present = "stack")]
    pub spec: Option<PathBuf>,
    /// The deployed stack's name (or id), in the account and region of the AWS environment.
    #[arg(long, value_name = "NAME")]
    pub stack: Option<String>,
    /// Print JSON (field names in docs/commands.md) instead of the table.
    #[arg(long)]
    pub json: bool,
    /// How many days back the functions' logs are searched for failed steps.
    #[arg(long, value_name = "DAYS", default_value_t = 14, value_parser = clap::value_parser!(u32).range(1..=455))]
    pub log_days: u32,
    /// The Lambda zip the functions should run (e.g. the rotgen-ARCH.zip `build --package`
    /// wrote): a function running other code is reported as drift. Without it, the code is
    /// checked only when the template points at a local zip (read next to the spec).
    #[arg(long, value_name = "ZIP")]
    pub code: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Only secrets whose name starts with this (case-sensitive).
    #[arg(long, value_name = "PREFIX")]
    pub name_prefix: Option<String>,
    /// Only secrets with this tag; repeat for several (all must match).
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    pub tags: Vec<String>,
    /// Only secrets rotated by this function (name or ARN); repeat for several.
    #[arg(long = "function", value_name = "NAME_OR_ARN")]
    pub functions: Vec<String>,
    /// The Region to read (default: the AWS environment's).
    #[arg(long)]
    pub region: Option<String>,
    /// Write the spec to FILE (atomically) instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OutputFormat {
    Yaml,
    Json,
}

/// Exit status for invalid input (bad spec, bad arguments), as clap uses.
pub const EXIT_INVALID: u8 = 2;

pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Build(args) => {
            crate::par::short_lived_allocator();
            crate::render::warm_up();
            build(&args)
        }
        Command::Schema => {
            let mut s =
                serde_json::to_string_pretty(&schema::json_schema()).expect("schema serializes");
            s.push('\n');
            print_out(&s)
        }
        Command::Init { output, force } => init(output.as_deref(), force),
        Command::Package {
            output,
            architecture,
        } => package(&output, &architecture),
        Command::Completions { shell } => print_out(&crate::shell::completions(
            <Cli as clap::CommandFactory>::command(),
            shell,
        )),
        Command::Man { command, dir } => man(command.as_deref(), dir.as_deref()),
        Command::Expand {
            template,
            output,
            format,
            code,
            code_architecture,
            region,
            account,
        } => expand(
            &template,
            output.as_deref(),
            format,
            code.as_deref().map(|c| (c, code_architecture.as_str())),
            region.zip(account),
        ),
        Command::MacroStack {
            output,
            name,
            architecture,
            permissions_boundary,
        } => macro_stack(
            output.as_deref(),
            crate::cfn_macro::MacroStack {
                name,
                architecture,
                log_retention_days: 365,
                permissions_boundary,
            },
        ),
        Command::Invoke { event, function } => block_on(invoke(event.as_deref(), &function)),
        Command::Rotate {
            secret_id,
            resume,
            function,
        } => block_on(rotate(&secret_id, resume, &function)),
        Command::Status(args) => status(&args),
        Command::Import(args) => import(&args),
    }
}

fn block_on(f: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(f),
        Err(e) => fail(1, &format!("cannot start the async runtime: {e}")),
    }
}

async fn invoke(event: Option<&Path>, args: &FunctionArgs) -> ExitCode {
    let text = match event {
        None => std::io::read_to_string(std::io::stdin()),
        Some(p) if p == Path::new("-") => std::io::read_to_string(std::io::stdin()),
        Some(p) => std::fs::read_to_string(p),
    };
    let text = match text {
        Ok(t) => t,
        Err(e) => return fail(EXIT_INVALID, &format!("cannot read the event: {e}")),
    };
    let event: serde_json::Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => return fail(EXIT_INVALID, &format!("the event is not JSON: {e}")),
    };
    crate::rotation::lambda::init_logging();
    let function = match crate::function::Function::from_env(&args.overrides()).await {
        Ok(f) => f,
        Err(e) => return fail(EXIT_INVALID, &e.to_string()),
    };
    if matches!(function, crate::function::Function::Rotation(_))
        && let Err(why) = crate::rotation::store::check_environment().await
    {
        return fail(EXIT_INVALID, &why);
    }
    match function.handle(event, None).await {
        // A macro answer carries its own status: a failure is a failure here too.
        Ok(answer) => {
            let printed = print_out(&format!("{answer:#}\n"));
            if answer.get("status").is_some_and(|s| s != "success") {
                ExitCode::from(1)
            } else {
                printed
            }
        }
        Err(d) => {
            let answer =
                serde_json::json!({"errorType": d.error_type, "errorMessage": d.error_message});
            let _ = print_out(&format!("{answer:#}\n"));
            ExitCode::from(1)
        }
    }
}

async fn rotate(secret_id: &str, resume: bool, args: &FunctionArgs) -> ExitCode {
    crate::rotation::lambda::init_logging();
    if let Err(why) = crate::rotation::store::check_environment().await {
        return fail(EXIT_INVALID, &why);
    }
    let mut overrides = args.overrides();
    let service_set = std::env::var("ROTGEN_SERVICE").is_ok_and(|s| !s.is_empty());
    if overrides.service.is_none() && !service_set {
        // Without --service, the secret says what it is (AWS's JSON shape).
        match crate::function::infer(secret_id).await {
            Ok((service, strategy)) => {
                eprintln!(
                    "{secret_id}: rotating as {service} ({}), from the secret's engine",
                    strategy_name(strategy)
                );
                overrides.service = Some(service.to_string());
                overrides.strategy = overrides.strategy.or(Some(strategy));
            }
            Err(e) => return fail(EXIT_INVALID, &e),
        }
    }
    let handler = match crate::function::shipped(&overrides).await {
        Ok(h) => h,
        Err(e) => return fail(EXIT_INVALID, &e.to_string()),
    };
    match crate::function::rotate(&handler, secret_id, resume).await {
        Ok(done) => {
            eprintln!(
                "rotated {}{}: version {} is AWSCURRENT and its credentials log in",
                done.arn,
                if done.resumed {
                    " (resumed an unfinished rotation)"
                } else {
                    ""
                },
                done.token
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(1, &e.to_string()),
    }
}

/// `rotgen status`: the spec compiled (or the stack's own templates), then the report.
fn status(args: &StatusArgs) -> ExitCode {
    use crate::status::{CodeCheck, Options, Source};
    if let Some(zip) = &args.code
        && !zip.is_file()
    {
        return fail(
            EXIT_INVALID,
            &format!(
                "--code {}: no such file; give the zip the functions should run",
                zip.display()
            ),
        );
    }
    let mut base = None;
    let source = match &args.spec {
        None => Source::Stack(args.stack.clone().unwrap_or_default()),
        Some(spec) => {
            let shown = spec.display().to_string();
            let text = match std::fs::read_to_string(spec) {
                Ok(t) => t,
                Err(e) => {
                    return fail(EXIT_INVALID, &format!("cannot read the spec {shown}: {e}"));
                }
            };
            let nested_file = |label: &str| {
                output::nested_file_name(Path::new("template.yaml"), label, Format::Yaml)
            };
            let compiled = match crate::compile_toml(&text, &nested_file) {
                Ok(c) => c,
                Err(Error::Invalid(diags)) => return report(&diags, &shown, &text),
                Err(e) => return fail(1, &e.to_string()),
            };
            let Some(stack) = args.stack.clone().or(compiled.deploy.stack_name.clone()) else {
                return fail(
                    EXIT_INVALID,
                    &format!(
                        "{shown} names no stack: give the deployed stack's name with --stack NAME (or set [stack] name)"
                    ),
                );
            };
            base = spec.parent().map(Path::to_path_buf);
            Source::of_compiled(compiled, stack)
        }
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let opts = Options {
        now,
        log_days: args.log_days,
        code: CodeCheck {
            zip: args.code.clone(),
            base,
        },
    };
    block_on(async {
        if let Err(why) = crate::rotation::store::check_environment().await {
            return fail(EXIT_INVALID, &why);
        }
        let aws = crate::status::aws::AwsClients::from_env().await;
        match crate::status::check(&aws, &source, &opts).await {
            Ok(report) => {
                let text = if args.json {
                    format!("{:#}\n", crate::status::to_json(&report))
                } else {
                    crate::status::table(&report)
                };
                let printed = print_out(&text);
                if printed != ExitCode::SUCCESS || report.healthy() {
                    printed
                } else {
                    ExitCode::from(1)
                }
            }
            Err(e) => fail(
                EXIT_INVALID,
                &format!("cannot report on stack {}: {e}", source.stack()),
            ),
        }
    })
}

/// `rotgen import`: the account's rotations as a spec, to standard output or a file.
fn import(args: &ImportArgs) -> ExitCode {
    let mut tags = Vec::new();
    for t in &args.tags {
        match t.split_once('=') {
            Some((k, v)) if !k.is_empty() => tags.push((k.to_string(), v.to_string())),
            _ => {
                return fail(
                    EXIT_INVALID,
                    &format!("--tag {t}: write it as KEY=VALUE (e.g. --tag team=payments)"),
                );
            }
        }
    }
    let filters = crate::import::Filters {
        name_prefix: args.name_prefix.clone(),
        tags,
        functions: args.functions.clone(),
    };
    block_on(async {
        let region = args.region.as_deref();
        if let Err(why) = crate::rotation::store::check_environment_in(region).await {
            return fail(EXIT_INVALID, &why);
        }
        let aws = crate::import::aws::AwsClients::new(region).await;
        let region = crate::sdk::config(region)
            .await
            .region()
            .map(ToString::to_string);
        let imported = match crate::import::import(&aws, &filters, region).await {
            Ok(i) => i,
            Err(e) => return fail(EXIT_INVALID, &format!("cannot import: {e}")),
        };
        let text = match crate::import::spec_text(&imported) {
            Ok(t) => t,
            Err(e) => {
                return fail(
                    1,
                    &format!("the imported spec does not build, so nothing was written: {e}"),
                );
            }
        };
        let taken = imported
            .entries
            .iter()
            .filter(|e| e.outcome.is_ok())
            .count();
        match &args.output {
            None => print_out(&text),
            Some(path) => match output::write_all_atomic(&[(path.clone(), text)]) {
                Ok(()) => {
                    eprintln!(
                        "wrote {}: {} of {} secret{} with rotation on; review it, then `rotgen build {} -o out/template.yaml --package`",
                        path.display(),
                        taken,
                        imported.entries.len(),
                        if imported.entries.len() == 1 { "" } else { "s" },
                        path.display()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => fail(1, &format!("cannot write {}: {e}", path.display())),
            },
        }
    })
}

fn print_out(text: &str) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => fail(1, &format!("cannot write to standard output: {e}")),
    }
}

fn fail(code: u8, message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(code)
}

fn color() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

fn init(output: Option<&Path>, force: bool) -> ExitCode {
    let Some(path) = output else {
        return print_out(STARTER_SPEC);
    };
    if path.exists() && !force {
        return fail(
            1,
            &format!(
                "{} exists; rotgen init leaves it as it is (pass --force to overwrite it)",
                path.display()
            ),
        );
    }
    match output::write_all_atomic(&[(path.to_path_buf(), STARTER_SPEC.to_string())]) {
        Ok(()) => {
            eprintln!(
                "wrote {}: edit it (set [alarms] email to who should hear when a rotation fails, and [vpc] for a database in a VPC), then run `rotgen build {} -o out/template.yaml --package`",
                path.display(),
                path.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(1, &format!("cannot write {}: {e}", path.display())),
    }
}

fn build(args: &BuildArgs) -> ExitCode {
    let stdin = args.spec == Path::new("-");
    let shown = if stdin {
        "<stdin>".to_string()
    } else {
        args.spec.display().to_string()
    };
    let read = if stdin {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(&args.spec)
    };
    let text = match read {
        Ok(t) => t,
        Err(e) => return fail(EXIT_INVALID, &format!("cannot read the spec {shown}: {e}")),
    };
    let format = pick_format(args.format, args.output.as_deref());
    let main_path = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from("template"));
    let nested_file = |label: &str| output::nested_file_name(&main_path, label, format);
    let mut opts = crate::model::Options {
        keep_until_exit: true,
        stackset: args.stackset,
        ..Default::default()
    };
    let mut zip: Option<(PathBuf, Vec<u8>)> = None;
    // The function's architecture is the spec's (default arm64), wherever rotgen runs:
    // one spec gives one template. `--package` zips this binary only when it is of that
    // architecture (below); `--check` writes no zip, so it needs no such binary.
    let spec_arch = spec_architecture(&text);
    if args.package {
        let arch = spec_arch.as_str();
        let name = format!("rotgen-{arch}.zip");
        opts.default_code = Some(crate::model::Code::Local { path: name.clone() });
        opts.default_code_architecture = Some(arch.to_string());
        opts.default_code_is = "the zip --package writes (this rotgen binary)";
        opts.default_code_required = true;
        let dir = main_path.parent().unwrap_or(Path::new(""));
        zip = Some((dir.join(name), Vec::new()));
    }
    let compiled = match crate::compile_toml_with(&text, &opts, &nested_file) {
        Ok(c) => c,
        Err(Error::Invalid(diags)) => return report(&diags, &shown, &text),
        Err(e) => return fail(1, &e.to_string()),
    };
    for w in &compiled.warnings {
        let at = match &w.loc {
            diag::Loc::Span(r) => {
                let (line, col) = diag::line_col(&text, r.start);
                format!("{shown}:{line}:{col}")
            }
            _ => shown.clone(),
        };
        eprintln!("warning: {at}: {}", w.message);
        if let Some(h) = &w.help {
            eprintln!("  help: {h}");
        }
    }
    // The main template and the nested ones, as text, on every core.
    let mut texts = output::to_texts(
        &std::iter::once(&compiled.main)
            .chain(compiled.nested.iter().map(|(_, v)| v))
            .collect::<Vec<_>>(),
        format,
    )
    .into_iter();
    let main_text = texts.next().expect("the main template");
    let texts: Vec<String> = texts.collect();
    // CloudFormation reads at most 1 MB of a template, even from S3.
    let bodies = std::iter::once(("the template".to_string(), &main_text)).chain(
        compiled
            .nested
            .iter()
            .zip(&texts)
            .map(|((name, _), t)| (format!("the nested template {name}"), t)),
    );
    for (what, text) in bodies {
        if let Some(p) = crate::limits::check_body(text, &what) {
            return fail(
                EXIT_INVALID,
                &format!("{shown}: {} ({})", p.message, p.help),
            );
        }
    }
    let Some(out_path) = &args.output else {
        if !compiled.nested.is_empty() {
            return fail(
                EXIT_INVALID,
                &format!(
                    "{shown} needs {} nested stack templates besides the main one (too many resources for one stack); write them to files with -o FILE",
                    compiled.nested.len()
                ),
            );
        }
        return print_out(&main_text);
    };
    let dir = out_path.parent().unwrap_or(Path::new(""));
    let mut files = vec![(out_path.clone(), main_text)];
    for ((name, _), text) in compiled.nested.iter().zip(texts) {
        files.push((dir.join(name), text));
    }
    let written: Vec<PathBuf> = files.iter().map(|(p, _)| p.clone()).collect();
    let stale = output::stale_nested(out_path, format, &written);
    if args.check {
        let mut diffs: Vec<String> = files
            .iter()
            .filter_map(|(p, t)| output::diff_against_file(p, t))
            .collect();
        for p in &stale {
            diffs.push(format!(
                "{}: a nested template of an earlier build; this spec no longer uses it (delete it)\n",
                p.display()
            ));
        }
        if diffs.is_empty() {
            return ExitCode::SUCCESS;
        }
        for d in &diffs {
            print!("{d}");
        }
        // The committed template points at the zip `--package` writes: it was built
        // with --package, which the check then needs too.
        let packaged = args.package
            || std::fs::read_to_string(out_path).is_ok_and(|t| {
                crate::spec::schema::ARCHITECTURES
                    .iter()
                    .any(|a| t.contains(&format!("rotgen-{a}.zip")))
            });
        let flags = format!(
            "{}{}",
            match args.format {
                Some(OutputFormat::Json) => " --format json",
                Some(OutputFormat::Yaml) => " --format yaml",
                None => "",
            },
            if packaged { " --package" } else { "" }
        );
        eprintln!(
            "error: {} is not what {shown} generates; run `rotgen build {shown} -o {}{flags}` and commit the result",
            out_path.display(),
            out_path.display()
        );
        return ExitCode::from(1);
    }
    if let Some((path, bytes)) = &mut zip {
        match own_zip(&spec_arch) {
            Ok(z) => *bytes = z,
            Err(why) => {
                return fail(
                    1,
                    &format!("--package cannot write {}: {why}", path.display()),
                );
            }
        }
    }
    let mut all: Vec<(PathBuf, Vec<u8>)> = files
        .into_iter()
        .map(|(p, t)| (p, t.into_bytes()))
        .collect();
    let zip_written = zip.is_some();
    all.extend(zip);
    match output::write_all_atomic(&all) {
        Ok(()) => {
            for (p, _) in &all {
                eprintln!("wrote {}", p.display());
            }
            for p in &stale {
                eprintln!(
                    "warning: {} is a nested template of an earlier build that this spec no longer uses; delete it",
                    p.display()
                );
            }
            let main_bytes = all.first().map_or(0, |(_, b)| b.len());
            if compiled.deploy.stackset {
                // The zip, if --package wrote one, is the last file written.
                let zip = zip_written.then(|| all.last()).flatten();
                eprint!(
                    "{}",
                    stackset_steps(&compiled.deploy, out_path, main_bytes, zip)
                );
            } else {
                eprint!("{}", next_steps(&compiled.deploy, out_path, main_bytes));
            }
            // The process ends here: handing these megabytes back to the allocator one
            // node at a time would cost more than the rest of a large build's output.
            std::mem::forget(all);
            std::mem::forget(compiled);
            ExitCode::SUCCESS
        }
        Err(e) => fail(1, &format!("cannot write {}: {e}", out_path.display())),
    }
}

/// The largest template body `aws cloudformation deploy` sends inline; a larger one
/// goes through S3 (`--s3-bucket`).
const INLINE_TEMPLATE_BYTES: usize = 51_200;

/// What to run after `build -o`: the deploy command for this template, with the
/// capabilities it needs, a value for every parameter without a default, and an S3
/// bucket for a template too large to send inline. Placeholders are upper-case words
/// (`BUCKET`, `VALUE`), so the command pastes into a shell as it is.
fn next_steps(d: &crate::Deploy, template: &Path, main_bytes: usize) -> String {
    let t = template.display();
    let caps = d.capabilities().join(" ");
    let stack = d.stack_name.as_deref().unwrap_or("rotgen-rotation");
    let mut overrides: Vec<String> = Vec::new();
    if d.code == "params" {
        overrides.extend(["CodeBucket=BUCKET".into(), "CodeKey=KEY".into()]);
    }
    overrides.extend(d.required_parameters.iter().map(|p| format!("{p}=VALUE")));
    let params = if overrides.is_empty() {
        String::new()
    } else {
        format!(" --parameter-overrides {}", overrides.join(" "))
    };
    // `aws cloudformation package` uploads the code and nested templates, not the main
    // template: `deploy` sends that inline, up to its limit.
    let s3 = if main_bytes > INLINE_TEMPLATE_BYTES {
        " --s3-bucket BUCKET"
    } else {
        ""
    };
    // The spec's ARNs name a Region: the stack must be there, whatever the shell's default.
    let region = d
        .region
        .as_ref()
        .map_or_else(String::new, |r| format!(" --region {r}"));
    let mut s = format!("next: deploy it (capabilities {caps}):\n");
    if d.sam {
        // `sam deploy --guided` asks for each parameter and uploads through its own
        // managed bucket.
        s.push_str(&format!(
            "  sam deploy --guided --template-file {t} --stack-name {stack} --capabilities {caps}{region}\n"
        ));
    } else if d.code == "local" || d.nested {
        s.push_str(&format!("  aws cloudformation package --template-file {t} --s3-bucket BUCKET --output-template-file packaged.yaml{region}\n  aws cloudformation deploy --template-file packaged.yaml --stack-name {stack} --capabilities {caps}{s3}{params}{region}\n"));
    } else {
        s.push_str(&format!(
            "  aws cloudformation deploy --template-file {t} --stack-name {stack} --capabilities {caps}{s3}{params}{region}\n"
        ));
    }
    if d.code == "params" {
        s.push_str("  (CodeBucket/CodeKey: where the zip is; `rotgen build --package` or `rotgen package` writes it)\n");
    }
    if !d.required_parameters.is_empty() {
        s.push_str("  (VALUE: each parameter's value for this environment)\n");
    }
    if !s3.is_empty() {
        s.push_str(&format!("  (the template is {main_bytes} bytes, over the {INLINE_TEMPLATE_BYTES} that deploy sends inline: it goes through the bucket)\n"));
    }
    s
}

/// What to run after `build -o` for a StackSet with service-managed permissions:
/// upload the zip to every Region's bucket (when `--package` wrote it), then
/// `create-stack-set` (SERVICE_MANAGED, automatic deployment to accounts that join the
/// OUs, the capabilities, a value for each parameter without a default) and
/// `create-stack-instances` (the OUs, the Regions). Placeholders are upper-case words
/// (`BUCKET`, `REGION`, `OU_ID`, `VALUE`), so each command pastes into a shell as it is.
fn stackset_steps(
    d: &crate::Deploy,
    template: &Path,
    main_bytes: usize,
    zip: Option<&(PathBuf, Vec<u8>)>,
) -> String {
    let t = template.display();
    let caps = d.capabilities().join(" ");
    let name = d.stack_name.as_deref().unwrap_or("rotgen-rotation");
    // The zip's S3 key changes with its content, so an update of the StackSet with a
    // new zip makes every function take it.
    let key = zip.map_or("KEY".to_string(), |(path, bytes)| {
        let stem = path
            .file_stem()
            .map_or("rotgen".into(), |s| s.to_string_lossy().into_owned());
        format!("{stem}-{}.zip", crate::package::content_id(bytes))
    });
    let mut params = vec![
        "ParameterKey=CodeBucket,ParameterValue=BUCKET".to_string(),
        format!("ParameterKey=CodeKey,ParameterValue={key}"),
    ];
    params.extend(d.required_parameters.iter().map(|p| {
        // The shorthand splits on commas: a list's own are escaped, inside double
        // quotes so that the shell leaves the backslash.
        if d.list_parameters.contains(p) {
            format!("\"ParameterKey={p},ParameterValue=VALUE1\\,VALUE2\"")
        } else {
            format!("ParameterKey={p},ParameterValue=VALUE")
        }
    }));
    // CreateStackSet takes at most 51,200 bytes of template body; a larger one is read
    // from S3.
    let body = if main_bytes > INLINE_TEMPLATE_BYTES {
        "--template-url TEMPLATE_URL".to_string()
    } else {
        format!("--template-body file://{t}")
    };
    let mut s = format!(
        "next: deploy it as a StackSet with service-managed permissions (capabilities {caps}):\n"
    );
    if let Some((path, _)) = zip {
        s.push_str(&format!(
            "  aws s3 cp {} s3://BUCKET-REGION/{key} --region REGION\n",
            path.display()
        ));
    }
    let dir = template.parent().unwrap_or(Path::new(""));
    for (file, nested_key) in &d.nested_keys {
        s.push_str(&format!(
            "  aws s3 cp {} s3://BUCKET-REGION/{nested_key} --region REGION\n",
            dir.join(file).display()
        ));
    }
    s.push_str(&format!(
        "  aws cloudformation create-stack-set --stack-set-name {name} {body} --permission-model SERVICE_MANAGED --auto-deployment Enabled=true,RetainStacksOnAccountRemoval=false --capabilities {caps} --parameters {}\n",
        params.join(" ")
    ));
    s.push_str(&format!(
        "  aws cloudformation create-stack-instances --stack-set-name {name} --deployment-targets OrganizationalUnitIds=OU_ID --regions REGION_1 REGION_2\n"
    ));
    if zip.is_some() || !d.nested_keys.is_empty() {
        s.push_str("  (the uploads: once per Region the stack instances go to, each into that Region's bucket BUCKET-REGION)\n");
    }
    if zip.is_none() {
        s.push_str("  (KEY: the zip `rotgen package` writes, uploaded to the same key in every Region's bucket)\n");
    }
    s.push_str("  (BUCKET: the prefix of one bucket per Region, BUCKET-us-east-1, BUCKET-eu-west-1, ...: Lambda reads the zip only from its own Region; each bucket lets the organization's accounts read it, e.g. a bucket policy on aws:PrincipalOrgID)\n");
    s.push_str("  (OU_ID: the organizational units, or the root r-..., whose accounts get the rotation; REGION_1 REGION_2: the Regions, as many as you need)\n");
    if !d.required_parameters.is_empty() {
        s.push_str("  (VALUE: each parameter's value; a value that differs per account or Region comes from an SSM parameter type)\n");
        if !d.list_parameters.is_empty() {
            s.push_str("  (VALUE1\\,VALUE2: a list's items, each comma escaped as \\, for the --parameters shorthand)\n");
        }
    }
    if main_bytes > INLINE_TEMPLATE_BYTES {
        s.push_str(&format!("  (TEMPLATE_URL: {t} uploaded to S3; it is {main_bytes} bytes, over the {INLINE_TEMPLATE_BYTES} a template body holds)\n"));
    }
    s
}

/// `rotgen man`: one page on standard output, or every page into a folder.
fn man(command: Option<&str>, dir: Option<&Path>) -> ExitCode {
    let cmd = <Cli as clap::CommandFactory>::command();
    if let Some(dir) = dir {
        let pages: Vec<(PathBuf, String)> = crate::shell::man_pages(cmd)
            .into_iter()
            .map(|(file, text)| (dir.join(file), text))
            .collect();
        return match output::write_all_atomic(&pages) {
            Ok(()) => {
                for (p, _) in &pages {
                    eprintln!("wrote {}", p.display());
                }
                ExitCode::SUCCESS
            }
            Err(e) => fail(
                1,
                &format!("cannot write the man pages to {}: {e}", dir.display()),
            ),
        };
    }
    match crate::shell::man_page(cmd, command) {
        Some(page) => print_out(&page),
        None => fail(
            EXIT_INVALID,
            &format!(
                "rotgen has no command {}; `rotgen --help` lists them",
                command.unwrap_or_default()
            ),
        ),
    }
}

/// `[function] architecture` of a spec's text, or the default (arm64); what the decoder
/// refuses is reported there, and the default stands in meanwhile.
fn spec_architecture(text: &str) -> String {
    toml::from_str::<toml::Table>(text)
        .ok()
        .and_then(|t| {
            t.get("function")?
                .get("architecture")?
                .as_str()
                .map(str::to_string)
        })
        .filter(|a| crate::spec::schema::ARCHITECTURES.contains(&a.as_str()))
        .unwrap_or_else(|| "arm64".to_string())
}

/// This binary as a Lambda zip for `arch` functions, or why it cannot be one.
fn own_zip(arch: &str) -> Result<Vec<u8>, String> {
    let elf =
        output::read_own_binary().map_err(|e| format!("cannot read this rotgen binary: {e}"))?;
    crate::package::check_runs_on_lambda(&elf, arch)?;
    Ok(crate::package::zip_executable("bootstrap", &elf))
}

/// `rotgen package`: this binary's Lambda zip for `arch` functions, named by its content.
fn package(dir: &Path, arch: &str) -> ExitCode {
    let zip = match own_zip(arch) {
        Ok(z) => z,
        Err(why) => {
            let other = crate::package::host_architecture()
                .filter(|h| *h != arch)
                .map(|h| format!(" (for {h} functions: rotgen package --architecture {h}, with rotgen macro-stack --architecture {h} or function.architecture = \"{h}\")"))
                .unwrap_or_default();
            return fail(1, &format!("{why}{other}"));
        }
    };
    let path = dir.join(format!(
        "rotgen-{arch}-{}.zip",
        crate::package::content_id(&zip)
    ));
    match output::write_all_atomic(&[(path.clone(), zip)]) {
        Ok(()) => {
            eprintln!("wrote {} (for {arch} functions)", path.display());
            eprintln!(
                "next: aws s3 cp {} s3://BUCKET/ ; then give CodeBucket=BUCKET CodeKey={} (a new version gets a new key, so stacks update) to a stack of {arch} functions: rotgen macro-stack --architecture {arch}, or function.architecture = \"{arch}\"",
                path.display(),
                path.file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(1, &format!("cannot write {}: {e}", path.display())),
    }
}

fn strategy_name(s: crate::rotation::backend::Strategy) -> &'static str {
    match s {
        crate::rotation::backend::Strategy::SingleUser => "single-user",
        crate::rotation::backend::Strategy::AlternatingUsers => "alternating-users",
    }
}

fn pick_format(explicit: Option<OutputFormat>, output: Option<&Path>) -> Format {
    match (explicit, output) {
        (Some(OutputFormat::Json), _) => Format::Json,
        (Some(OutputFormat::Yaml), _) => Format::Yaml,
        (None, Some(p))
            if p.extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("json")) =>
        {
            Format::Json
        }
        (None, _) => Format::Yaml,
    }
}

/// Writes one template to a file (atomically) or standard output.
fn emit(value: &serde_json::Value, output: Option<&Path>, format: Format) -> ExitCode {
    let text = output::to_text(value, format);
    match output {
        None => print_out(&text),
        Some(p) => match output::write_all_atomic(&[(p.to_path_buf(), text)]) {
            Ok(()) => {
                eprintln!("wrote {}", p.display());
                ExitCode::SUCCESS
            }
            Err(e) => fail(1, &format!("cannot write {}: {e}", p.display())),
        },
    }
}

fn expand(
    template: &Path,
    output: Option<&Path>,
    format: Option<OutputFormat>,
    code: Option<(&str, &str)>,
    place: Option<(String, String)>,
) -> ExitCode {
    let shown = template.display().to_string();
    let text = match std::fs::read_to_string(template) {
        Ok(t) => t,
        Err(e) => {
            return fail(
                EXIT_INVALID,
                &format!("cannot read the template {shown}: {e}"),
            );
        }
    };
    let value = match crate::yaml::parse_template(&text) {
        Ok(v) => v,
        Err(e) => {
            let at = match (e.line, e.column) {
                (Some(l), Some(c)) => format!(":{l}:{c}"),
                _ => String::new(),
            };
            return fail(
                EXIT_INVALID,
                &format!("{shown}{at}: not a YAML or JSON template: {}", e.message),
            );
        }
    };
    let mut opts = crate::cfn_macro::ExpandOptions::default();
    if let Some((region, account)) = place {
        if !crate::model::arn::is_region(&region) {
            return fail(
                EXIT_INVALID,
                &format!("--region {region} is not a Region (like us-east-1)"),
            );
        }
        if !crate::model::arn::is_account(&account) {
            return fail(
                EXIT_INVALID,
                &format!("--account {account} is not an account id (12 digits)"),
            );
        }
        opts.stack = Some(crate::model::StackPlace { region, account });
    }
    if let Some((url, architecture)) = code {
        match url.strip_prefix("s3://").and_then(|r| r.split_once('/')) {
            Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => {
                opts.code = Some(crate::model::Code::S3 {
                    bucket: serde_json::json!(bucket),
                    key: serde_json::json!(key),
                });
                opts.code_architecture = Some(architecture.to_string());
            }
            _ => {
                return fail(
                    EXIT_INVALID,
                    &format!("--code {url}: write s3://BUCKET/KEY"),
                );
            }
        }
    }
    let checked = crate::cfn_macro::check_transforms(&value)
        .and_then(|()| crate::cfn_macro::expand(&value, &opts));
    match checked {
        Ok(expanded) => emit(&expanded, output, pick_format(format, output)),
        Err(diags) => {
            // Shown around each problem: the template with its secret values starred out.
            let (diags, masked) = crate::cfn_macro::in_text(diags, &text);
            report(&diags, &shown, &masked)
        }
    }
}

fn macro_stack(output: Option<&Path>, m: crate::cfn_macro::MacroStack) -> ExitCode {
    let name_ok = !m.name.is_empty()
        && m.name.len() <= 128
        && !m.name.starts_with("AWS::")
        && m.name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':'));
    if !name_ok {
        return fail(
            EXIT_INVALID,
            &format!(
                "--name {:?} is not a macro name: use 1 to 128 letters, digits and _-: (not starting with AWS::)",
                m.name
            ),
        );
    }
    if let Some(b) = &m.permissions_boundary
        && let Err(why) = crate::model::arn::check_policy_arn(b)
    {
        return fail(
            EXIT_INVALID,
            &format!(
                "--permissions-boundary {b} is not valid: {why}; write arn:aws:iam::ACCOUNT:policy/NAME"
            ),
        );
    }
    match crate::render::macro_stack(&m) {
        Ok(v) => {
            eprintln!(
                "the macro's function is {a}: give it a zip of an {a} rotgen (rotgen package --architecture {a} on an {a} machine, or scripts/package.sh {a}); --architecture changes it",
                a = m.architecture
            );
            emit(&v, output, pick_format(None, output))
        }
        Err(e) => fail(1, &e.to_string()),
    }
}

fn report(diags: &Diagnostics, file: &str, text: &str) -> ExitCode {
    let rendered = diag::render_with_source(diags, file, text, color());
    eprint!("{rendered}");
    let n = diags.0.len();
    eprintln!(
        "error: {file} has {n} problem{}; nothing was written",
        if n == 1 { "" } else { "s" }
    );
    ExitCode::from(EXIT_INVALID)
}
