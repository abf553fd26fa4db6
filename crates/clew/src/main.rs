//! The `clew` binary: the only place where Clew's concrete parts are wired together.
//! Subcommands: `all-in-one` (the default: every role in one process on the embedded
//! store), `config default`, the terminal client `trace` and the load generator `gen`.

mod bench_search;
mod bench_store;
mod cli;
mod config;
// `gen` is reserved in edition 2024, hence the raw identifier.
mod r#gen;
mod run;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "clew", version, about = "Clew: a distributed tracing backend", long_about = None)]
struct Cli {
    /// TOML configuration file (keys as printed by `clew config default`).
    #[arg(long, global = true, env = "CLEW_CONFIG")]
    config: Option<PathBuf>,
    /// Override one configuration key, e.g. --set storage.durability=relaxed (repeatable).
    #[arg(long = "set", global = true, value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// Once every listener is bound, write their addresses to this file as JSON
    /// (for scripts and tests that start Clew on port 0).
    #[arg(long, global = true)]
    ready_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run every role in one process on the embedded store (the default).
    AllInOne,
    /// Configuration helpers.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// List the blocks in the data directory (`data_dir` of the configuration).
    Blocks,
    /// Print a trace as a waterfall in the terminal.
    Trace(cli::trace::TraceArgs),
    /// Search traces with TraceQL and print them as a table.
    Search(cli::search::SearchArgs),
    /// Send synthetic traces over OTLP, Jaeger or Zipkin and report throughput and latency.
    Gen(r#gen::GenArgs),
    /// Store benchmark: fill a data directory and time trace-by-id (see scripts/bench-store.sh).
    #[command(hide = true)]
    BenchStore(bench_store::BenchStoreArgs),
}

#[derive(Subcommand)]
enum ConfigAction {
    /// Print the commented default configuration.
    Default,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::AllInOne) {
        Command::AllInOne => {
            let env = std::env::vars();
            let config = config::load(cli.config.as_deref(), env, &cli.sets)?;
            run::all_in_one(config, cli.ready_file)
        }
        Command::Config {
            action: ConfigAction::Default,
        } => {
            print!("{}", config::DEFAULT_CONFIG);
            Ok(())
        }
        Command::Trace(args) => cli::trace::run(args),
        Command::Search(args) => cli::search::run(args),
        Command::Blocks => {
            let config = config::load(cli.config.as_deref(), std::env::vars(), &cli.sets)?;
            cli::blocks::run(&config.data_dir, &config.storage.block_storage())
        }
        Command::Gen(args) => r#gen::run(args),
        Command::BenchStore(args) => {
            let config = config::load(cli.config.as_deref(), std::env::vars(), &cli.sets)?;
            bench_store::run(args, &config)
        }
    }
}
