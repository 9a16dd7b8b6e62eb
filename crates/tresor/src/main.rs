//! `tresor`: the admin CLI (and, later, the server) of a mail store that keeps every user's
//! mail encrypted at rest, byte-compatible with Dovecot 2.3's mail-crypt plugin.

mod cli;
mod exit;
mod home;
mod secret;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Command line of the `tresor` binary.
#[derive(Parser)]
#[command(
    name = "tresor",
    version,
    about = "Encrypted mail store, Dovecot mail-crypt compatible"
)]
struct Cli {
    /// Configuration file (TOML).
    #[arg(long, global = true, env = "TRESOR_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Read and write single mail files.
    #[command(subcommand)]
    File(cli::file::FileCommand),
    /// Inspect and manage mail-crypt keys.
    #[command(subcommand)]
    Key(cli::key::KeyCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let _ = &cli.config;
    let result = match cli.command {
        Command::File(c) => cli::file::run(c),
        Command::Key(c) => cli::key::run(c),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tresor: {e}");
            ExitCode::from(exit::code(&e))
        }
    }
}
