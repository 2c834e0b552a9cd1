//! Entry point. The same binary is the command line and, when Lambda's Runtime API is
//! there (`AWS_LAMBDA_RUNTIME_API`), the rotation function: this file only chooses.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        return rotgen::function::lambda_main();
    }
    rotgen::cli::run(rotgen::cli::Cli::parse())
}
