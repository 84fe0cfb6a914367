//! The `prodigy` binary: parse arguments, run, print the error, exit with its code.

use clap::Parser;

fn main() {
    let cli = prodigy::cli::Cli::parse();
    let code = match prodigy::run(cli) {
        Ok(code) => code,
        Err(error) => {
            prodigy::report::print_error(&error);
            error.exit_code()
        }
    };
    std::process::exit(code.code());
}
