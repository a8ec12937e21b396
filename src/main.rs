//! The `tokengate` command: load the configuration, build the services, run.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use tokengate::config::{Config, DEFAULT_PATH};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "tokengate",
    version,
    about = "An OAuth2 edge gateway: checks every access token before it reaches your API"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Args, Clone)]
struct ConfigArg {
    /// Configuration file. Without it, `config/tokengate.toml` is used if present, else the embedded defaults.
    #[arg(long, short = 'c', global = true)]
    config: Option<PathBuf>,
}

// Parsed once per process: the size of the largest subcommand costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve(ConfigArg),
    /// Validate the configuration; prints every problem with its key and place, exits non-zero if there is one.
    CheckConfig(ConfigArg),
    /// Manage users (people who log in, and administrators).
    Users {
        #[command(flatten)]
        config: ConfigArg,
        #[command(subcommand)]
        command: tokengate::cli::UsersCommand,
    },
    /// The authorization server's signing keys.
    Keys {
        #[command(flatten)]
        config: ConfigArg,
        #[command(subcommand)]
        command: tokengate::cli::KeysAdminCommand,
    },
    /// Manage OAuth2 applications.
    Apps {
        #[command(flatten)]
        config: ConfigArg,
        #[command(subcommand)]
        command: tokengate::cli::AppsCommand,
    },
}

fn registry_command(result: Result<(), tokengate::cli::CliError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(tokengate::cli::CliError(message, code)) => {
            eprintln!("tokengate: {message}");
            ExitCode::from(code)
        }
    }
}

fn load(arg: &ConfigArg) -> Result<Config, ExitCode> {
    let (path, explicit) = match &arg.config {
        Some(p) => (p.clone(), true),
        None => (PathBuf::from(DEFAULT_PATH), false),
    };
    Config::load(&path, explicit).map_err(|e| {
        eprint!("{e}");
        ExitCode::from(2)
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,pingora=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command.unwrap_or(Command::Serve(ConfigArg { config: None })) {
        Command::CheckConfig(arg) => match load(&arg) {
            Ok(c) => {
                for w in &c.warnings {
                    eprintln!("warning: {}", w.located(&c.source));
                }
                println!("{}: ok", c.source);
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Command::Users { config, command } => match load(&config) {
            Ok(c) => registry_command(tokengate::cli::users(&c, command)),
            Err(code) => code,
        },
        Command::Keys { config, command } => match load(&config) {
            Ok(c) => registry_command(tokengate::cli::keys(&c, command)),
            Err(code) => code,
        },
        Command::Apps { config, command } => match load(&config) {
            Ok(c) => registry_command(tokengate::cli::apps(&c, command)),
            Err(code) => code,
        },
        Command::Serve(arg) => {
            let config = match load(&arg) {
                Ok(c) => c,
                Err(code) => return code,
            };
            tracing::info!(config = %config.source, "starting tokengate");
            for w in &config.warnings {
                tracing::warn!("{}", w.located(&config.source));
            }
            let process = match tokengate::server::build(config, Default::default()) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("tokengate: {e}");
                    return ExitCode::FAILURE;
                }
            };
            if let Some(a) = process.proxy_addr {
                tracing::info!(proxy = %a, "proxy listening (plain HTTP)");
            }
            if let Some(a) = process.tls_addr {
                tracing::info!(tls = %a, "proxy listening (TLS, h2 and http/1.1)");
            }
            if let Some(m) = process.metrics_addr {
                tracing::info!(metrics = %m, "metrics listening (/metrics, /healthz, /readyz)");
            }
            if let Some(a) = process.admin_addr {
                tracing::info!(admin = %a, "admin API listening");
            }
            if let Some(d) = process.demo {
                tracing::info!(api = %d.upstream, issuer = %d.issuer, "demo API and demo issuer running");
            }
            process.run();
            ExitCode::SUCCESS
        }
    }
}
