//! `aftersales`: the after-sales service. `aftersales` alone serves on 127.0.0.1:50051 with
//! an embedded SQLite database under ./data/.

use aftersales_domain::access::Role;
use aftersales_domain::{SystemClock, TenantId};
use aftersales_server::telemetry::{self, LogFormat};
use aftersales_server::{
    open_store, redact, serve, termination_signal, ServeOptions, Services, DEFAULT_DATABASE_URL,
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
    /// Serve the gRPC API (the default).
    Serve(ServeArgs),
    /// Apply database migrations and exit (for a deployment's migration step).
    Migrate,
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Args, Default)]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (printed at start).
    #[arg(long, env = "AFTERSALES_LISTEN", default_value = "127.0.0.1:50051")]
    listen: Option<SocketAddr>,
    /// Secret for signing page tokens; set the same value on every replica.
    #[arg(long, env = "AFTERSALES_PAGE_TOKEN_SECRET", hide_env_values = true)]
    page_token_secret: Option<String>,
    /// Seconds in-flight calls get to finish after SIGTERM.
    #[arg(long, env = "AFTERSALES_DRAIN_SECONDS", default_value_t = 25)]
    drain_seconds: u64,
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
    let command = cli.command.unwrap_or(Command::Serve(ServeArgs::default()));
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
        Command::Serve(args) => {
            let listen = args
                .listen
                .unwrap_or_else(|| "127.0.0.1:50051".parse().expect("valid default"));
            let listener = tokio::net::TcpListener::bind(listen).await?;
            // Printed on stdout so scripts and tests can find an ephemeral port.
            println!("listening on {}", listener.local_addr()?);
            let services = Services::new(store, Arc::new(SystemClock))?;
            let options = ServeOptions {
                page_token_secret: args.page_token_secret.unwrap_or_default().into_bytes(),
                drain_timeout: Duration::from_secs(args.drain_seconds),
                ..ServeOptions::default()
            };
            serve(services, listener, options, termination_signal()).await?;
            Ok(())
        }
    }
}
