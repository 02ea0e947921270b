//! `ucm-scraper selectors check | learn | learned | forget | accept`.

use super::{database, probe, CommandError, Outcome, Schema};
use crate::cli::SelectorsCommand;
use crate::config::Settings;
use crate::console::Window;
use crate::ids::TenantId;
use crate::probe::ApiProbe;
use crate::selectors::{SelectorCatalog, SelectorSet};
use crate::{learn, learned};

pub(super) async fn run(
    command: SelectorsCommand,
    window: Window,
) -> Result<Outcome, CommandError> {
    match command {
        SelectorsCommand::Check { tenant: None } => Ok(check_files()),
        SelectorsCommand::Check { tenant: Some(id) } => {
            let probe = probe::tenant(
                &Settings::from_env()?,
                window,
                TenantId(id),
                ApiProbe::AnswerOnly,
            )
            .await?;
            print!("{}{}", probe.summary(), probe.table());
            Ok(Outcome::Success)
        }
        SelectorsCommand::Learn {
            tenant,
            out,
            calls,
            pages,
        } => {
            let settings = Settings::from_env()?;
            // Reads the tenant's known calls; the draft goes to a file.
            let pool = database(&settings, Schema::Current).await?;
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
            Ok(Outcome::of(report.passed()))
        }
        SelectorsCommand::Learned { tenant } => show_learned(TenantId(tenant)).await,
        SelectorsCommand::Forget { tenant } => forget(TenantId(tenant)).await,
        SelectorsCommand::Accept { tenant } => accept(TenantId(tenant)).await,
    }
}

/// Parses every selectors file in SELECTORS_DIR and reports each; fails when any is broken.
/// Needs no database, so it runs where the worker's other settings are not at hand.
fn check_files() -> Outcome {
    let dir = Settings::selectors_dir_from_env();
    let files = match SelectorCatalog::files(&dir) {
        Ok(files) => files,
        Err(e) => {
            eprintln!("error: {e}");
            return Outcome::Failure;
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
    Outcome::of(broken == 0)
}

/// `selectors learned --tenant ID`: the learned file (TOML) on stdout, what it is on stderr.
/// Fails when the tenant has none.
async fn show_learned(tenant: TenantId) -> Result<Outcome, CommandError> {
    let pool = database(&Settings::from_env()?, Schema::Current).await?;
    let file = learned::get(&pool, tenant).await?;
    match &file {
        Some(file) => {
            print!("{}", file.selectors);
            eprintln!(
                "tenant {tenant}: learned {} ({}), firmware {}, status {}",
                file.learned_at.format("%Y-%m-%d %H:%M UTC"),
                file.changed.replace('\n', "; "),
                file.firmware.as_deref().unwrap_or("not shown"),
                file.status
            );
        }
        None => eprintln!("tenant {tenant} has no learned selectors file"),
    }
    Ok(Outcome::of(file.is_some()))
}

/// `selectors forget --tenant ID`; fails when the tenant has no learned file.
async fn forget(tenant: TenantId) -> Result<Outcome, CommandError> {
    let pool = database(&Settings::from_env()?, Schema::Migrate).await?;
    let dropped = learned::forget(&pool, tenant).await?;
    match dropped {
        true => {
            eprintln!("tenant {tenant}: learned selectors file dropped; the shipped files are used")
        }
        false => eprintln!("tenant {tenant} has no learned selectors file"),
    }
    Ok(Outcome::of(dropped))
}

/// `selectors accept --tenant ID`; fails when the tenant has no proposed file.
async fn accept(tenant: TenantId) -> Result<Outcome, CommandError> {
    let pool = database(&Settings::from_env()?, Schema::Migrate).await?;
    let accepted = learned::accept(&pool, tenant).await?;
    match accepted {
        true => {
            eprintln!("tenant {tenant}: the proposed selectors file is used from the next pass")
        }
        false => eprintln!("tenant {tenant} has no proposed selectors file"),
    }
    Ok(Outcome::of(accepted))
}
