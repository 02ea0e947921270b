//! The binary's edge: parse arguments, set up logging, run one command, map the outcome to an
//! exit status. Everything else lives in the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser as _;
use ucm_scraper::cli::{Cli, Command, SelectorsCommand, TenantArgs, TenantCommand};
use ucm_scraper::config::Settings;
use ucm_scraper::console::{SelectorCatalog, SelectorSet, Window};
use ucm_scraper::ids::TenantId;
use ucm_scraper::metrics::{self, Metrics};
use ucm_scraper::pipeline::Worker;
use ucm_scraper::tenants::admin::{AdminCommand, PasswordFrom, TenantFields};
use ucm_scraper::{
    dashboard, db, doctor, learn, learned, probe, scheduler, telemetry, tenants, transcode,
};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    match run(cli).await {
        Ok(code) => code,
        Err(err) => {
            // `{:#}` prints the context chain on one line: the operator's one clear line.
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // A command-line choice, not a setting: it travels beside the settings to the browser.
    let window = match cli.headed {
        true => Window::Shown,
        false => Window::Headless,
    };
    match cli.command {
        Command::Migrate => {
            let settings = Settings::from_env()?;
            let pool = db::connect(&settings.database_url, 2).await?;
            db::migrate(&pool).await.context("ucm-scraper migrate")?;
            tracing::info!("Migrations applied");
            Ok(ExitCode::SUCCESS)
        }
        Command::Tenant(command) => tenant(command, window).await,
        Command::Once { tenant } => once(Settings::from_env()?, window, tenant.map(TenantId)).await,
        Command::Doctor => {
            let report = doctor::run(&Settings::from_env()?, window).await;
            print!("{report}");
            Ok(match report.passed() {
                true => ExitCode::SUCCESS,
                false => ExitCode::FAILURE,
            })
        }
        Command::Run => run_loop(Settings::from_env()?, window).await,
        Command::Selectors(SelectorsCommand::Check { tenant: None }) => Ok(check_selectors()),
        Command::Selectors(SelectorsCommand::Check { tenant: Some(id) }) => {
            let probe = probe_tenant(window, TenantId(id)).await?;
            print!("{}{}", probe.summary(), probe.table());
            Ok(ExitCode::SUCCESS)
        }
        Command::Selectors(SelectorsCommand::Learn {
            tenant,
            out,
            calls,
            pages,
        }) => {
            let settings = Settings::from_env()?;
            let pool = db::connect(&settings.database_url, 2).await?;
            db::migrate(&pool).await?;
            let report = learn::learn_tenant(
                &pool,
                &settings,
                window,
                TenantId(tenant),
                out,
                calls,
                pages,
            )
            .await?;
            print!("{}", report.text());
            Ok(match report.passed() {
                true => ExitCode::SUCCESS,
                false => ExitCode::FAILURE,
            })
        }
        Command::Selectors(
            command @ (SelectorsCommand::Learned { .. }
            | SelectorsCommand::Forget { .. }
            | SelectorsCommand::Accept { .. }),
        ) => learned_file(command).await,
        Command::Dashboard => {
            let shutdown = scheduler::shutdown_on_signals()?;
            dashboard::commands::serve_alone(Settings::from_env()?, window, shutdown).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Operator(command) => {
            let done = dashboard::commands::operator(&Settings::from_env()?, command).await?;
            println!("{done}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Transcode {
            input,
            output,
            bitrate,
        } => transcode(input, output, bitrate).await,
    }
}

/// `selectors learned | forget | accept --tenant ID`: the tenant's learned selectors file.
async fn learned_file(command: SelectorsCommand) -> anyhow::Result<ExitCode> {
    let settings = Settings::from_env()?;
    let pool = db::connect(&settings.database_url, 2).await?;
    db::migrate(&pool).await.context("ucm-scraper selectors")?;
    let found = match command {
        SelectorsCommand::Learned { tenant } => {
            let file = learned::get(&pool, TenantId(tenant)).await?;
            if let Some(file) = &file {
                print!("{}", file.selectors);
                eprintln!(
                    "tenant {tenant}: learned {} ({}), firmware {}, status {}",
                    file.learned_at.format("%Y-%m-%d %H:%M UTC"),
                    file.changed.replace('\n', "; "),
                    file.firmware.as_deref().unwrap_or("not shown"),
                    file.status
                );
            } else {
                eprintln!("tenant {tenant} has no learned selectors file");
            }
            file.is_some()
        }
        SelectorsCommand::Forget { tenant } => {
            let dropped = learned::forget(&pool, TenantId(tenant)).await?;
            eprintln!(
                "{}",
                match dropped {
                    true => format!("tenant {tenant}: learned selectors file dropped; the shipped files are used"),
                    false => format!("tenant {tenant} has no learned selectors file"),
                }
            );
            dropped
        }
        SelectorsCommand::Accept { tenant } => {
            let accepted = learned::accept(&pool, TenantId(tenant)).await?;
            eprintln!(
                "{}",
                match accepted {
                    true => format!(
                        "tenant {tenant}: the proposed selectors file is used from the next pass"
                    ),
                    false => format!("tenant {tenant} has no proposed selectors file"),
                }
            );
            accepted
        }
        _ => unreachable!("main sends only the learned-file commands here"),
    };
    Ok(match found {
        true => ExitCode::SUCCESS,
        false => ExitCode::FAILURE,
    })
}

/// `tenant test` logs into the console; the other tenant commands are the database's.
async fn tenant(command: TenantCommand, window: Window) -> anyhow::Result<ExitCode> {
    let command = match command {
        TenantCommand::Test { id } => {
            let probe = probe_tenant(window, TenantId(id)).await?;
            print!("{}", probe.summary());
            return Ok(ExitCode::SUCCESS);
        }
        TenantCommand::Add(fields) => AdminCommand::Add(tenant_fields(fields)),
        TenantCommand::List => AdminCommand::List,
        TenantCommand::Update { id, fields } => AdminCommand::Update {
            id: TenantId(id),
            fields: tenant_fields(fields),
        },
        TenantCommand::Enable { id } => AdminCommand::Enable(TenantId(id)),
        TenantCommand::Disable { id } => AdminCommand::Disable(TenantId(id)),
        TenantCommand::Unmatched { id } => AdminCommand::Unmatched(TenantId(id)),
    };
    let settings = Settings::from_env()?;
    let pool = db::connect(&settings.database_url, 2).await?;
    db::migrate(&pool).await.context("ucm-scraper tenant")?;
    let cipher = settings.password_cipher();
    let mut stdout = std::io::stdout().lock();
    tenants::admin::run(&pool, &cipher, settings.lookback_days, command, &mut stdout)
        .await
        .context("ucm-scraper tenant")?;
    Ok(ExitCode::SUCCESS)
}

/// clap's fields as the library's own.
fn tenant_fields(fields: TenantArgs) -> TenantFields {
    TenantFields {
        company_name: fields.company_name,
        subdomain: fields.subdomain,
        pbx_ip: fields.pbx_ip,
        pbx_port: fields.pbx_port,
        pbx_username: fields.pbx_username,
        // clap refuses both flags at once.
        password: match (fields.pbx_password_stdin, fields.pbx_password_prompt) {
            (true, _) => PasswordFrom::Stdin,
            (false, true) => PasswordFrom::Prompt,
            (false, false) => PasswordFrom::NotGiven,
        },
        ucm_timezone: fields.ucm_timezone,
    }
}

/// Parses every selectors file in SELECTORS_DIR and reports each; fails when any is broken.
/// Needs no database, so it runs where the worker's other settings are not at hand.
fn check_selectors() -> ExitCode {
    let dir = Settings::selectors_dir_from_env();
    let files = match SelectorCatalog::files(&dir) {
        Ok(files) => files,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut sets = Vec::new();
    let mut broken = 0;
    for file in files {
        match SelectorSet::load(&file) {
            Ok(set) => {
                println!(
                    "ok      {}  {} (firmware {}{}, {} locators)",
                    file.display(),
                    set.name,
                    set.firmware.join(", "),
                    if set.default { "; default" } else { "" },
                    set.all_selectors().len()
                );
                sets.push(set);
            }
            Err(e) => {
                broken += 1;
                println!("broken  {e}");
            }
        }
    }
    if broken == 0 {
        if let Err(e) = SelectorCatalog::from_sets(&dir, sets) {
            println!("broken  {e}");
            broken += 1;
        }
    }
    match broken {
        0 => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    }
}

/// The pipeline's convert step alone. Needs no database: the only setting it reads is
/// MP3_BITRATE_KBPS, when --bitrate is not given.
async fn transcode(
    input: PathBuf,
    output: PathBuf,
    bitrate: Option<u32>,
) -> anyhow::Result<ExitCode> {
    let bitrate = match bitrate {
        Some(kbps) => Some(kbps),
        None => Settings::mp3_bitrate_from_env()?,
    };
    let report =
        tokio::task::spawn_blocking(move || transcode::transcode_file(&input, &output, bitrate))
            .await??;
    println!("Converted to MP3: {report}");
    Ok(ExitCode::SUCCESS)
}

/// One pass, then the summary table and, when calls wait through no fault of their own, a line
/// saying how many and why. Exit 1 when any tenant failed or any call was held back (storage,
/// configuration).
async fn once(
    settings: Settings,
    window: Window,
    only: Option<TenantId>,
) -> anyhow::Result<ExitCode> {
    let metrics = Arc::new(Metrics::new(settings.scrape_interval * 3));
    let worker = Worker::build(settings, window, metrics)
        .await
        .context("ucm-scraper once")?;
    let shutdown = scheduler::shutdown_on_signals()?;
    let summary = worker.pass(only, &shutdown).await;
    print!("{}", summary.table());
    if let Some(line) = summary.waiting_line() {
        println!("{line}");
    }
    Ok(
        match summary.any_failed() || summary.held_back().is_some() {
            true => ExitCode::FAILURE,
            false => ExitCode::SUCCESS,
        },
    )
}

/// The scheduler loop until SIGTERM/SIGINT; the current call finishes and browsers close.
async fn run_loop(settings: Settings, window: Window) -> anyhow::Result<ExitCode> {
    let interval = settings.scrape_interval;
    let metrics_addr = settings.metrics_addr;
    let dashboard_settings = settings.clone();
    // Three missed passes and /healthz reports the worker stuck.
    let metrics = Arc::new(Metrics::new(interval * 3));
    let worker = Worker::build(settings, window, metrics.clone())
        .await
        .context("ucm-scraper run")?;
    let shutdown = scheduler::shutdown_on_signals()?;
    if let Some(addr) = metrics_addr {
        let bound = metrics::serve(addr, metrics, shutdown.clone())
            .await
            .with_context(|| format!("serving /healthz and /metrics on METRICS_ADDR={addr}"))?;
        tracing::info!("Serving /healthz and /metrics on http://{bound}");
    }
    if let Some(addr) = dashboard_settings.dashboard.addr {
        let pool = worker.pool().clone();
        dashboard::serve(addr, dashboard_settings, window, pool, shutdown.clone()).await?;
    }
    let worker = &worker;
    scheduler::run_every(interval, shutdown, |token| async move {
        let summary = worker.pass(None, &token).await;
        if let Some(line) = summary.waiting_line() {
            tracing::warn!("{line}");
        }
        tracing::info!(
            seconds = summary.elapsed.as_secs_f64(),
            failed = summary.any_failed(),
            "Pass finished; next in {}",
            humantime::format_duration(interval)
        );
    })
    .await;
    tracing::info!("Stopped: browsers closed, unfinished calls released");
    Ok(ExitCode::SUCCESS)
}

/// Logs into one tenant's console and reports (`tenant test`, `selectors check --tenant`).
async fn probe_tenant(window: Window, id: TenantId) -> anyhow::Result<probe::Probe> {
    let settings = Settings::from_env()?;
    let pool = db::connect(&settings.database_url, 2).await?;
    db::migrate(&pool).await?;
    Ok(probe::probe(&pool, &settings, window, id).await?)
}
