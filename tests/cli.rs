//! The command line as operators meet it (README: Operating it).

mod support;

use support::bin::{Run, UcmScraper};

fn ucm_scraper(args: &[&str], env: &[(&str, &str)]) -> Run {
    UcmScraper::new(args).envs(env.iter().copied()).run()
}

#[test]
fn help_lists_every_command() {
    let out = ucm_scraper(&["--help"], &[]);
    assert!(out.ok);
    let help = out.stdout;
    for command in [
        "run",
        "once",
        "migrate",
        "doctor",
        "tenant",
        "transcode",
        "selectors",
    ] {
        assert!(
            help.lines().any(|l| l.trim_start().starts_with(command)),
            "--help lacks {command}:\n{help}"
        );
    }
    assert!(
        help.contains("--headed") && help.contains("--log-format"),
        "{help}"
    );
}

#[test]
fn every_subcommand_has_help() {
    for args in [
        &["run", "--help"][..],
        &["once", "--help"],
        &["migrate", "--help"],
        &["doctor", "--help"],
        &["tenant", "add", "--help"],
        &["tenant", "list", "--help"],
        &["tenant", "update", "--help"],
        &["tenant", "enable", "--help"],
        &["tenant", "disable", "--help"],
        &["tenant", "test", "--help"],
        &["transcode", "--help"],
        &["selectors", "check", "--help"],
    ] {
        let out = ucm_scraper(args, &[]);
        assert!(out.ok, "{args:?}: {}", out.stderr);
        assert!(out.stdout.contains("Usage: ucm-scraper"));
    }
}

#[test]
fn tenant_add_takes_no_password_on_the_command_line() {
    let out = ucm_scraper(&["tenant", "add", "--pbx-password", "hunter2"], &[]);
    assert_eq!(out.code, Some(2), "clap rejects an unknown flag");
}

#[test]
fn missing_database_url_is_one_clear_line() {
    let out = ucm_scraper(&["migrate"], &[]);
    assert_eq!(out.code, Some(1));
    let stderr = out.stderr;
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("DATABASE_URL is not set"), "{stderr}");
}

#[test]
fn bad_encryption_key_says_how_to_make_one() {
    let out = ucm_scraper(
        &["migrate"],
        &[
            ("DATABASE_URL", "postgres://127.0.0.1:1/x"),
            ("PBX_ENCRYPTION_KEY", "too-short"),
        ],
    );
    assert_eq!(out.code, Some(1));
    let stderr = out.stderr;
    assert!(
        stderr.contains("PBX_ENCRYPTION_KEY") && stderr.contains("openssl rand -base64 32"),
        "{stderr}"
    );
}
