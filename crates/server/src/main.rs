//! `aftersales`: the after-sales service. `aftersales` alone serves on 127.0.0.1:50051 with
//! an embedded SQLite database under ./data/.

use aftersales_domain::access::Role;
use aftersales_domain::{SystemClock, TenantId};
use aftersales_server::telemetry::{self, LogFormat};
use aftersales_server::{
    open_store, redact, serve, termination_signal, EngineOptions, ServeOptions, Services,
    DEFAULT_DATABASE_URL,
};
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "aftersales",
    version,
    about = "After-sales cases from every marketplace, one model, every deadline kept."
)]
struct Cli {
    #[command(flatten)]
    db: DbArgs,
    /// Log format.
    #[arg(
        long,
        env = "AFTERSALES_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    log_format: LogFormat,
    /// Serving options; also accepted after `serve`. Flattened here so `aftersales` alone
    /// (no subcommand) still reads them from the environment.
    #[command(flatten)]
    serve: ServeArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Args, Clone)]
struct DbArgs {
    /// sqlite://PATH (embedded, created if missing) or postgres://USER@HOST/DB.
    #[arg(long, env = "AFTERSALES_DATABASE_URL", default_value = DEFAULT_DATABASE_URL, global = true)]
    database_url: String,
    /// PostgreSQL connection pool size.
    #[arg(
        long,
        env = "AFTERSALES_PG_MAX_CONNECTIONS",
        default_value_t = 16,
        global = true
    )]
    pg_max_connections: u32,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the gRPC API and run the deadline engine (the default).
    Serve,
    /// Apply database migrations and exit (for a deployment's migration step).
    Migrate,
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (printed at start).
    #[arg(
        long,
        env = "AFTERSALES_LISTEN",
        default_value = "127.0.0.1:50051",
        global = true
    )]
    listen: SocketAddr,
    /// Secret for signing page tokens; set the same value on every replica.
    #[arg(
        long,
        env = "AFTERSALES_PAGE_TOKEN_SECRET",
        hide_env_values = true,
        global = true
    )]
    page_token_secret: Option<String>,
    /// Seconds in-flight calls get to finish after SIGTERM.
    #[arg(
        long,
        env = "AFTERSALES_DRAIN_SECONDS",
        default_value_t = 25,
        global = true
    )]
    drain_seconds: u64,
    /// Run the deadline engine in this process (every replica may; they share the work).
    #[arg(long, env = "AFTERSALES_DEADLINE_ENGINE", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    deadline_engine: bool,
    /// Timers claimed per sweep.
    #[arg(
        long,
        env = "AFTERSALES_SWEEP_BATCH",
        default_value_t = 512,
        global = true
    )]
    sweep_batch: u32,
    /// Longest pause between sweeps, in milliseconds, when nothing is due sooner.
    #[arg(
        long,
        env = "AFTERSALES_SWEEP_INTERVAL_MS",
        default_value_t = 1000,
        global = true
    )]
    sweep_interval_ms: u64,
    /// Seconds a claimed timer stays leased; a crashed replica's claims are rescued after it.
    #[arg(
        long,
        env = "AFTERSALES_TIMER_LEASE_SECONDS",
        default_value_t = 30,
        global = true
    )]
    timer_lease_seconds: u64,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create an API key and print it once; only its hash is stored.
    Create {
        #[arg(long)]
        tenant: String,
        /// The merchant account (sub-account) the key acts as.
        #[arg(long)]
        account: String,
        /// owner, agent or viewer.
        #[arg(long, default_value = "agent")]
        role: String,
        /// Grant the platform-task permission (TB-22: answer platform tasks).
        #[arg(long)]
        platform_task: bool,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let _telemetry = match telemetry::init(cli.log_format) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("cannot start telemetry: {e}");
            return ExitCode::FAILURE;
        }
    };
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    let command = cli.command.unwrap_or(Command::Serve);
    let args = cli.serve;
    tracing::info!(database = %redact(&cli.db.database_url), "opening store");
    let store = open_store(&cli.db.database_url, cli.db.pg_max_connections).await?;
    match command {
        Command::Migrate => {
            println!("migrations applied to {}", redact(&cli.db.database_url));
            Ok(())
        }
        Command::Keys {
            command:
                KeysCommand::Create {
                    tenant,
                    account,
                    role,
                    platform_task,
                },
        } => {
            let tenant = TenantId::parse(tenant)?;
            let role: Role = role.parse()?;
            if account.trim().is_empty() {
                return Err("--account must not be empty".into());
            }
            let (plaintext, record) = aftersales_api::auth::generate_key(
                tenant,
                account,
                role,
                platform_task,
                chrono::Utc::now(),
            );
            store.insert_api_key(&record).await?;
            println!("{plaintext}");
            eprintln!(
                "created key {} for tenant {} account {} (role {}, platform task: {}); it is shown only once",
                record.key_id,
                record.tenant,
                record.account,
                record.role.as_str(),
                record.platform_task
            );
            Ok(())
        }
        Command::Serve => {
            if args.sweep_batch == 0 || args.timer_lease_seconds == 0 {
                return Err("--sweep-batch and --timer-lease-seconds must be positive".into());
            }
            let listener = tokio::net::TcpListener::bind(args.listen).await?;
            // Printed on stdout so scripts and tests can find an ephemeral port.
            println!("listening on {}", listener.local_addr()?);
            let services = Services::new(store, Arc::new(SystemClock))?;
            let options = ServeOptions {
                page_token_secret: args.page_token_secret.unwrap_or_default().into_bytes(),
                drain_timeout: Duration::from_secs(args.drain_seconds),
                engine: EngineOptions {
                    enabled: args.deadline_engine,
                    batch: args.sweep_batch,
                    lease: Duration::from_secs(args.timer_lease_seconds),
                    idle_poll: Duration::from_millis(args.sweep_interval_ms.max(10)),
                    ..EngineOptions::default()
                },
                ..ServeOptions::default()
            };
            serve(services, listener, options, termination_signal()).await?;
            Ok(())
        }
    }
}
