//! Entry point: dispatches to the command line. (Later: the Lambda runtime, when
//! `AWS_LAMBDA_RUNTIME_API` is set.)

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    rotgen::cli::run(rotgen::cli::Cli::parse())
}
