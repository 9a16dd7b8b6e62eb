//! `tresor`: the admin CLI (and, later, the server) of a mail store that keeps every user's
//! mail encrypted at rest, byte-compatible with Dovecot 2.3's mail-crypt plugin.

mod cli;
mod config;
mod context;
mod exit;
mod home;
mod imap;
mod privilege;
mod secret;
mod serve;
mod web;

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
    /// Run the server in the foreground: LMTP delivery (`[lmtp] listen`).
    Serve,
    /// Read and write single mail files.
    #[command(subcommand)]
    File(cli::file::FileCommand),
    /// Inspect and manage mail-crypt keys.
    #[command(subcommand)]
    Key(cli::key::KeyCommand),
    /// Manage users in the userdb (and their homes and keys).
    #[command(subcommand)]
    User(cli::user::UserCommand),
    /// Deliver a message from stdin to a user, like dovecot-lda; prints the new UID.
    Deliver {
        /// The recipient.
        email: String,
        /// Target mailbox.
        #[arg(long, default_value = "INBOX")]
        mailbox: String,
    },
    /// Print a message's stored bytes (like `doveadm fetch text`), decrypted.
    Fetch {
        /// The user.
        email: String,
        /// Read the user's password from standard input (one line).
        #[arg(long)]
        password_stdin: bool,
        /// The mailbox.
        #[arg(long, default_value = "INBOX")]
        mailbox: String,
        /// The message UID.
        #[arg(long)]
        uid: u32,
    },
    /// Inspect a user's mailboxes.
    #[command(subcommand)]
    Mailbox(cli::mail::MailboxCommand),
    /// Check that the server is healthy: userdb, data directory, every listener answers.
    /// Exit status 0 only when all checks pass.
    Status,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TRESOR_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if let Command::Serve = cli.command {
        return match config::Config::load(cli.config.as_deref()).and_then(serve::run) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("tresor: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let result = config::Config::load(cli.config.as_deref())
        .and_then(context::Ctx::new)
        .and_then(|mut ctx| match cli.command {
            Command::File(c) => cli::file::run(c),
            Command::Key(c) => cli::key::run(&mut ctx, c),
            Command::User(c) => cli::user::run(&mut ctx, c),
            Command::Deliver { email, mailbox } => cli::mail::deliver(&mut ctx, &email, &mailbox),
            Command::Fetch {
                email,
                password_stdin,
                mailbox,
                uid,
            } => cli::mail::fetch(&mut ctx, &email, password_stdin, &mailbox, uid),
            Command::Mailbox(c) => cli::mail::mailbox(&mut ctx, c),
            Command::Status => cli::status::run(&mut ctx),
            Command::Serve => Ok(()),
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tresor: {e}");
            ExitCode::from(exit::code(&e))
        }
    }
}
