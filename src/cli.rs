//! The command line (README: Operating it). Parsing only; [`crate::commands`] runs the commands.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::telemetry::LogFormat;
use crate::tenants::DriverChoice;

#[derive(Debug, Parser)]
#[command(
    name = "ucm-scraper",
    version,
    about = "Collects call recordings from Grandstream UCM / CloudUCM consoles",
    long_about = "Collects call recordings from Grandstream UCM / CloudUCM web consoles: for every \
                  active tenant it logs into the console with headless Chrome, downloads the \
                  recordings of new calls, converts them to MP3, uploads them to Supabase Storage \
                  and triggers AI processing. Settings come from the environment (and .env)."
)]
pub struct Cli {
    /// Show the browser window instead of running headless (local debugging).
    #[arg(long, global = true)]
    pub headed: bool,

    /// Log line format on stderr.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the scheduler loop: one pass every SCRAPE_INTERVAL until SIGTERM/SIGINT.
    Run,
    /// Run one pass, print a summary table; exit 1 when any tenant failed.
    Once {
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<i64>,
    },
    /// Apply the database migrations (also done first by `run`, `once` and every command that
    /// writes; commands that only read leave the schema alone).
    Migrate,
    /// Check every dependency (database and migrations, password keys, WebDriver, storage, AI
    /// webhook, selectors files), one line each; exit 1 when any check fails.
    Doctor,
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Convert one WAV recording to MP3, as the pipeline does.
    Transcode {
        /// The WAV file to read.
        input: PathBuf,
        /// The MP3 file to write.
        output: PathBuf,
        /// Target bitrate in kbps (default: the speech policy, or MP3_BITRATE_KBPS).
        #[arg(long)]
        bitrate: Option<u32>,
    },
    /// Check the selectors files.
    #[command(subcommand)]
    Selectors(SelectorsCommand),
    /// Serve the operators' dashboard alone (on DASHBOARD_ADDR, else 127.0.0.1:8080) until
    /// SIGTERM/SIGINT; `run` serves it too when DASHBOARD_ADDR is set.
    Dashboard,
    /// Manage the dashboard's operator accounts.
    #[command(subcommand)]
    Operator(OperatorCommand),
}

#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    /// Add an operator, or set a new password for one (their sessions end). The password (at
    /// least 12 characters) is read from the first line of stdin.
    Add {
        name: String,
        /// Read the password from the first line of stdin (required: never argv).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Remove an operator and end their sessions.
    Remove { name: String },
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Add a tenant; prints its id. The UCM password is read from stdin or a prompt, never argv.
    Add(TenantArgs),
    /// List tenants with their last login, last error, block and backlog.
    List,
    /// Change a tenant's fields; only the given ones change.
    Update {
        id: i64,
        #[command(flatten)]
        fields: TenantArgs,
    },
    /// Let the worker process this tenant.
    Enable { id: i64 },
    /// Stop processing this tenant.
    Disable { id: i64 },
    /// Log into the tenant's console and report firmware and CDR access.
    Test { id: i64 },
    /// List the recordings seen on the tenant's console that no call in cdr_records references.
    Unmatched { id: i64 },
}

#[derive(Debug, Args, Default)]
pub struct TenantArgs {
    #[arg(long)]
    pub company_name: Option<String>,
    #[arg(long)]
    pub subdomain: Option<String>,
    /// Console host name or IP, without scheme or path.
    #[arg(long)]
    pub pbx_ip: Option<String>,
    #[arg(long)]
    pub pbx_port: Option<i32>,
    #[arg(long)]
    pub pbx_username: Option<String>,
    /// Read the UCM password from the first line of stdin.
    #[arg(long, conflicts_with = "pbx_password_prompt")]
    pub pbx_password_stdin: bool,
    /// Ask for the UCM password on the terminal, without echo (`add` asks anyway on a terminal).
    #[arg(long)]
    pub pbx_password_prompt: bool,
    /// IANA time zone the console shows call times in (e.g. Europe/Berlin).
    #[arg(long)]
    pub ucm_timezone: Option<String>,
    /// The console's HTTPS API user (its own account, not the web admin).
    #[arg(long)]
    pub api_username: Option<String>,
    /// Read the API user's password from the first line of stdin.
    #[arg(long, conflicts_with = "pbx_password_stdin")]
    pub api_password_stdin: bool,
    /// The API's port when it differs from --pbx-port.
    #[arg(long)]
    pub api_port: Option<i32>,
    /// The road to the recordings: auto (the API when its credentials are set and the console
    /// answers it, else the browser), browser, or api (no fallback).
    #[arg(long, value_enum)]
    pub driver: Option<DriverChoice>,
}

#[derive(Debug, Subcommand)]
pub enum SelectorsCommand {
    /// Parse every selectors file; with --tenant, try each selector on that live console.
    Check {
        #[arg(long)]
        tenant: Option<i64>,
    },
    /// Log into the tenant's console once and draft a selectors file for the web UI it shows,
    /// from where the tenant's known calls appear; then check it and find those calls with it
    /// (nothing downloaded). Exit 0 only when the draft found every call.
    Learn {
        #[arg(long)]
        tenant: i64,
        /// The draft to write (never overwritten); its pages are saved beside it in
        /// `<name>.pages/`. Default: `learnt-<tenant>.toml`.
        #[arg(long)]
        out: Option<PathBuf>,
        /// How many of the tenant's newest calls with a recording to look for.
        #[arg(long, default_value_t = 10)]
        calls: usize,
        /// How many list pages to walk at most.
        #[arg(long, default_value_t = 5)]
        pages: usize,
    },
    /// Print the selectors file the worker learnt for the tenant (TOML); exit 1 when it has none.
    Learned {
        #[arg(long)]
        tenant: i64,
    },
    /// Drop the tenant's learned selectors file: the shipped files are used again.
    Forget {
        #[arg(long)]
        tenant: i64,
    },
    /// Use the tenant's proposed selectors file (SELECTORS_AUTOLEARN=propose) from the next pass.
    Accept {
        #[arg(long)]
        tenant: i64,
    },
}
