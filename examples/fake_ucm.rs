//! The UCM console stand-in on its own, for the demo and for local debugging.
//!
//! ```text
//! cargo run --example fake_ucm -- --port 8443 --skin ucm63xx --recordings DIR [--tls] ...
//! ```
//! Every `*.wav` in `--recordings` named the UCM way (`auto-<epoch>-<caller>-<callee>.wav`) is
//! listed; without it, a few generated tones are. `--help` lists every option.

#[path = "../tests/support/console/mod.rs"]
#[allow(dead_code)]
mod console;
// The console stand-in can mount the full HTTPS API stand-in (`ConsoleConfig::api`).
#[path = "../tests/support/ucm_api.rs"]
#[allow(dead_code)]
mod ucm_api;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use console::{
    ConsoleConfig, DeepLinks, DownloadControl, EndOfList, FakeConsole, FirmwareShown, Landing,
    Loading, Quirks, Recording, RowClasses, RowKey, Rows, Skin,
};

#[derive(Parser)]
#[command(
    about = "A stand-in for a Grandstream UCM web console (see tests/support/console/README.md)"
)]
struct Args {
    /// Port to listen on (0: a free one).
    #[arg(long, default_value_t = 8443)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    /// Markup generation: ucm63xx or ucm62xx.
    #[arg(long, default_value = "ucm63xx")]
    skin: String,
    /// Directory of WAVs named auto-<epoch>-<caller>-<callee>.wav.
    #[arg(long)]
    recordings: Option<PathBuf>,
    #[arg(long, default_value = "admin")]
    username: String,
    #[arg(long, default_value = "admin123")]
    password: String,
    /// Firmware string on the dashboard (default: the skin's).
    #[arg(long)]
    firmware: Option<String>,
    /// IANA zone the call times are shown in.
    #[arg(long, default_value = "UTC")]
    timezone: chrono_tz::Tz,
    #[arg(long, default_value_t = 10)]
    page_size: usize,
    /// Serve HTTPS with a self-signed certificate.
    #[arg(long)]
    tls: bool,
    /// Show a reCAPTCHA on the login page.
    #[arg(long)]
    captcha: bool,
    /// Cover the page with a mask during loads.
    #[arg(long)]
    overlay: bool,
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    download_gap: Duration,
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    session_ttl: Duration,
    #[arg(long, default_value = "5")]
    lockout_threshold: u32,
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    lockout_duration: Duration,
    #[arg(long, default_value = "800ms", value_parser = humantime::parse_duration)]
    boot_delay: Duration,
    #[arg(long, default_value = "500ms", value_parser = humantime::parse_duration)]
    list_delay: Duration,
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    download_delay: Duration,
    // Quirks: details a firmware or cloud release might change (README: "Quirks").
    /// How directly loaded addresses are answered.
    #[arg(long, default_value = "served", value_parser = ["served", "404", "json", "hash"])]
    deep_links: String,
    /// Where the firmware version is shown after login.
    #[arg(long, default_value = "dashboard", value_parser = ["dashboard", "header", "nowhere"])]
    firmware_shown: String,
    /// What the list shows while it loads: the known busy marker, a cleared placeholder, or
    /// the old rows under a mask of another name.
    #[arg(long, default_value = "marker", value_parser = ["marker", "placeholder", "mask"])]
    loading: String,
    /// How rows are drawn: at once, in two steps, drawn and then drawn again, or drawn again
    /// under the first click on a download control.
    #[arg(long, default_value = "once", value_parser = ["once", "two-steps", "replaced", "under-click"])]
    rows: String,
    /// Delay between the two drawings of `--rows two-steps|replaced`.
    #[arg(long, default_value = "400ms", value_parser = humantime::parse_duration)]
    render_step: Duration,
    /// Say the end of the list by the `disabled`/`aria-disabled` attributes only.
    #[arg(long)]
    end_by_attribute: bool,
    /// A new call arrives right after this many downloads.
    #[arg(long)]
    new_call_after: Option<u64>,
    /// Rows keyed by the console's own id instead of the file name (no file name shown).
    #[arg(long)]
    row_key_id: bool,
    /// Draw the download control as an icon (a later firmware's).
    #[arg(long)]
    download_icon: bool,
    /// Give the rows (and their container) other class names.
    #[arg(long)]
    other_row_classes: bool,
    /// The start page shows the login form even to a signed-in user.
    #[arg(long)]
    start_shows_login: bool,
    /// A login lands on a welcome page, neither the dashboard nor the list.
    #[arg(long)]
    lands_elsewhere: bool,
    /// The side menu starts collapsed behind a toggle.
    #[arg(long)]
    menu_collapsed: bool,
}

/// The quirks the command line asks for; the values were checked by clap.
fn quirks(args: &Args) -> Quirks {
    Quirks {
        deep_links: match args.deep_links.as_str() {
            "404" => DeepLinks::NotFound,
            "json" => DeepLinks::JsonError,
            "hash" => DeepLinks::HashRouting,
            _ => DeepLinks::Served,
        },
        firmware: match args.firmware_shown.as_str() {
            "header" => FirmwareShown::Header,
            "nowhere" => FirmwareShown::Nowhere,
            _ => FirmwareShown::Dashboard,
        },
        loading: match args.loading.as_str() {
            "placeholder" => Loading::Placeholder,
            "mask" => Loading::UnknownMask,
            _ => Loading::KnownMarker,
        },
        rows: match args.rows.as_str() {
            "two-steps" => Rows::TwoSteps,
            "replaced" => Rows::Replaced,
            "under-click" => Rows::RedrawnUnderClick,
            _ => Rows::AtOnce,
        },
        render_step: args.render_step,
        end_of_list: match args.end_by_attribute {
            true => EndOfList::DisabledAttribute,
            false => EndOfList::Usual,
        },
        new_call_after_downloads: args.new_call_after,
        row_key: match args.row_key_id {
            true => RowKey::ConsoleId,
            false => RowKey::File,
        },
        download_control: match args.download_icon {
            true => DownloadControl::Icon,
            false => DownloadControl::Usual,
        },
        row_classes: match args.other_row_classes {
            true => RowClasses::Other,
            false => RowClasses::Usual,
        },
        // Test-only switches: not offered on the command line.
        expire_at_page: None,
        other_layout: false,
        start_shows_login: args.start_shows_login,
        landing: match args.lands_elsewhere {
            true => Landing::Welcome,
            false => Landing::Dashboard,
        },
        menu_collapsed: args.menu_collapsed,
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let skin = Skin::parse(&args.skin).ok_or_else(|| {
        anyhow::anyhow!("unknown skin {:?}: ucm63xx, ucm62xx or cards", args.skin)
    })?;
    let recordings = match &args.recordings {
        Some(dir) => read_recordings(dir)?,
        None => demo_recordings(),
    };
    let mut config = ConsoleConfig::for_skin(skin);
    config.username = args.username.clone();
    config.password = args.password.clone();
    if let Some(fw) = &args.firmware {
        config.firmware = fw.clone();
    }
    config.timezone = args.timezone;
    config.page_size = args.page_size;
    config.tls = args.tls;
    config.captcha = args.captcha;
    config.overlay = args.overlay;
    config.download_gap = args.download_gap;
    config.session_ttl = args.session_ttl;
    config.lockout_threshold = args.lockout_threshold;
    config.lockout_duration = args.lockout_duration;
    config.boot_delay = args.boot_delay;
    config.list_delay = args.list_delay;
    config.download_delay = args.download_delay;
    config.bind = SocketAddr::new(args.host, args.port);
    config.quirks = quirks(&args);
    let count = recordings.len();
    config.recordings = recordings;
    let firmware = config.firmware.clone();
    let console = FakeConsole::start(config).await;
    println!(
        "fake UCM (skin {}, firmware {firmware}) listening on {} with {count} recordings; \
         user {:?}. Ctrl-C to stop.",
        skin.name(),
        console.url,
        args.username
    );
    tokio::signal::ctrl_c().await?;
    println!("events: {:#?}", console.events());
    Ok(())
}

fn read_recordings(dir: &std::path::Path) -> anyhow::Result<Vec<Recording>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        // auto-<epoch>-<caller>-<callee>.wav
        let Some(stem) = name
            .strip_prefix("auto-")
            .and_then(|s| s.strip_suffix(".wav"))
        else {
            eprintln!("skipping {name}: not named auto-<epoch>-<caller>-<callee>.wav");
            continue;
        };
        let parts: Vec<&str> = stem.splitn(3, '-').collect();
        let (Some(epoch), Some(caller), Some(callee)) = (
            parts.first().and_then(|e| e.parse::<i64>().ok()),
            parts.get(1),
            parts.get(2),
        ) else {
            eprintln!("skipping {name}: not named auto-<epoch>-<caller>-<callee>.wav");
            continue;
        };
        let wav = Arc::new(std::fs::read(&path)?);
        out.push(Recording::new(caller, callee, epoch, wav));
    }
    Ok(out)
}

fn demo_recordings() -> Vec<Recording> {
    let wav = Arc::new(console::tone_wav(3.0));
    let now = chrono::Utc::now().timestamp();
    (0..25)
        .map(|i| {
            Recording::new(
                &format!("{}", 1000 + i % 7),
                &format!("28150582{:02}", i),
                now - 3600 - 900 * i as i64,
                wav.clone(),
            )
        })
        .collect()
}
