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

#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The spec file (TOML).
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
        Command::Build(args) => build(&args),
        Command::Schema => {
            let mut s =
                serde_json::to_string_pretty(&schema::json_schema()).expect("schema serializes");
            s.push('\n');
            print_out(&s)
        }
        Command::Init { output, force } => init(output.as_deref(), force),
    }
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
                "wrote {}: edit it, then run `rotgen build {}`",
                path.display(),
                path.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(1, &format!("cannot write {}: {e}", path.display())),
    }
}

fn build(args: &BuildArgs) -> ExitCode {
    let shown = args.spec.display().to_string();
    let text = match std::fs::read_to_string(&args.spec) {
        Ok(t) => t,
        Err(e) => return fail(EXIT_INVALID, &format!("cannot read the spec {shown}: {e}")),
    };
    let format = match (args.format, &args.output) {
        (Some(OutputFormat::Json), _) => Format::Json,
        (Some(OutputFormat::Yaml), _) => Format::Yaml,
        (None, Some(p)) if p.extension().is_some_and(|e| e == "json") => Format::Json,
        (None, _) => Format::Yaml,
    };
    let main_path = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from("template"));
    let nested_file = |label: &str| output::nested_file_name(&main_path, label, format);
    let compiled = match crate::compile_toml(&text, &nested_file) {
        Ok(c) => c,
        Err(Error::Invalid(diags)) => return report(&diags, &shown, &text),
        Err(e) => return fail(1, &e.to_string()),
    };
    let main_text = output::to_text(&compiled.main, format);
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
    for (name, value) in &compiled.nested {
        files.push((dir.join(name), output::to_text(value, format)));
    }
    if args.check {
        let diffs: Vec<String> = files
            .iter()
            .filter_map(|(p, t)| output::diff_against_file(p, t))
            .collect();
        if diffs.is_empty() {
            return ExitCode::SUCCESS;
        }
        for d in &diffs {
            print!("{d}");
        }
        eprintln!(
            "error: {} is not what {shown} generates; run `rotgen build {shown} -o {}` and commit the result",
            out_path.display(),
            out_path.display()
        );
        return ExitCode::from(1);
    }
    match output::write_all_atomic(&files) {
        Ok(()) => {
            for (p, _) in &files {
                eprintln!("wrote {}", p.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(1, &format!("cannot write {}: {e}", out_path.display())),
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
