//! The pages, as HTML drawn on the server with `maud`, which escapes every value it is given:
//! tenant names and errors come from the backend and may hold anything. No script; the one
//! style sheet is inline and allowed by its hash in the Content-Security-Policy.

use std::sync::OnceLock;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use sha2::{Digest as _, Sha256};

use super::chart;
use super::data::{TenantLine, TenantPage};
use super::operators::Session;
use super::screenshots::Shot;
use super::testrun::{StepState, TestRun};
use super::AuditRow;
use crate::pipeline::history::PassRow;

const CSS: &str = "\
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1d2330;background:#f5f6f8}\
header{display:flex;gap:1em;align-items:center;padding:.6em 1.2em;background:#1d2330;color:#fff}\
header a{color:#fff}header form{margin-left:auto}main{padding:1em 1.2em}\
table{border-collapse:collapse;background:#fff;margin:.5em 0 1.5em}\
th,td{border:1px solid #d8dce3;padding:.3em .6em;text-align:left;vertical-align:top}\
th{background:#eceff3}td.n{text-align:right}tr.failing td{background:#fdecea}\
.bad{color:#b42318;font-weight:600}.ok{color:#067647;font-weight:600}.muted{color:#667085}\
pre{white-space:pre-wrap;background:#fff;border:1px solid #d8dce3;padding:.6em;max-width:100em}\
img.shot{max-width:min(100%,800px);border:1px solid #d8dce3}\
section{margin-bottom:1.5em}form.inline{display:inline}\
.actions form{display:inline-block;margin:0 .5em .5em 0}\
fieldset{background:#fff;border:1px solid #d8dce3;max-width:40em}label{display:block;margin:.3em 0}\
.notice{background:#ecfdf3;border:1px solid #abefc6;padding:.5em}\
.error{background:#fdecea;border:1px solid #f5b5ae;padding:.5em}\
svg.chart{background:#fff;border:1px solid #d8dce3;max-width:60em;width:100%}\
svg .bar{fill:#3e6fd8}svg .axis{stroke:#98a2b3}svg text{font-size:10px;fill:#475467}";

/// The Content-Security-Policy of every response: nothing from elsewhere, no script at all,
/// only the inline style sheet above (by its hash), images only from the dashboard itself.
pub fn content_security_policy() -> &'static str {
    static POLICY: OnceLock<String> = OnceLock::new();
    POLICY.get_or_init(|| {
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(CSS));
        format!(
            "default-src 'none'; style-src 'sha256-{hash}'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'"
        )
    })
}

/// The road settings the API credentials form offers, as `tenant update --driver` takes them.
const ROADS: [(&str, &str); 3] = [
    ("auto", "auto: the API where it answers, else the browser"),
    ("browser", "browser only"),
    ("api", "API only"),
];

fn layout(title: &str, session: Option<&Session>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · ucm-scraper" }
                style { (PreEscaped(CSS)) }
            }
            body {
                header {
                    strong { "ucm-scraper" }
                    @if let Some(session) = session {
                        a href="/" { "Tenants" }
                        form method="post" action="/sign-out" {
                            (csrf(session))
                            span { "Signed in as " (session.operator) " " }
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

fn csrf(session: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf); }
}

pub fn time(at: Option<DateTime<Utc>>) -> String {
    at.map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "-".to_string())
}

/// The sign-in page; `problem` is one of the fixed messages of the sign-in handler.
pub fn sign_in(problem: Option<&str>) -> Markup {
    layout(
        "Sign in",
        None,
        html! {
            h1 { "Sign in" }
            @if let Some(problem) = problem { p.error { (problem) } }
            form method="post" action="/sign-in" {
                fieldset {
                    label { "Operator " input type="text" name="name" autocomplete="username" required; }
                    label { "Password " input type="password" name="password" autocomplete="current-password" required; }
                    button type="submit" { "Sign in" }
                }
            }
        },
    )
}

fn outcome(pass: Option<&PassRow>) -> Markup {
    match pass {
        None => html! { span.muted { "no pass kept yet" } },
        Some(pass) => html! {
            span class=(match pass.outcome.as_str() { "failed" => "bad", "ok" => "ok", _ => "muted" }) {
                (pass.outcome)
            }
            " " (time(Some(pass.finished_at)))
            @if let Some(message) = &pass.message { br; span.muted { (message) } }
        },
    }
}

/// The tenants page: one row per tenant, failing ones first.
pub fn tenants(session: &Session, lines: &[TenantLine], notice: Option<&str>) -> Markup {
    layout(
        "Tenants",
        Some(session),
        html! {
            h1 { "Tenants" }
            @if let Some(notice) = notice { p.notice { (notice) } }
            table {
                thead { tr {
                    th { "Tenant" } th { "State" } th { "Road" } th { "Firmware" } th { "Selectors file" }
                    th { "Last login" } th { "Last pass" }
                    th { "Stored 24 h" } th { "Stored 7 d" }
                    th { "Pending" } th { "Not listed yet" } th { "Failed" } th { "Not on console" }
                    th { "Unmatched" } th { "Blocked until" }
                } }
                tbody {
                    @for line in lines {
                        @let t = &line.tenant;
                        tr class=[line.failing().then_some("failing")] {
                            td { a href=(format!("/tenants/{}", t.id)) { (t.name) } " " span.muted { "#" (t.id) } }
                            td { @if t.is_active { "active" } @else { span.muted { "disabled" } } }
                            td { (t.road()) }
                            td { (t.ucm_firmware.as_deref().unwrap_or("-")) }
                            td { (line.selectors) }
                            td { (time(t.ucm_last_login_at)) }
                            td { (outcome(line.last_pass.as_ref())) }
                            td.n { (line.stored.last_24h) } td.n { (line.stored.last_7d) }
                            td.n { (line.waiting.pending) } td.n { (line.waiting.not_listed_yet) }
                            td.n { (line.waiting.failed) } td.n { (line.waiting.not_on_console) }
                            td.n { (line.unmatched) }
                            td { @if t.blocked_until.is_some() { span.bad { (time(t.blocked_until)) } } @else { "-" } }
                        }
                    }
                }
            }
            p.muted { "Stored counts are by the day of the call (UTC). Waiting counts cover LOOKBACK_DAYS." }
        },
    )
}

/// A tenant's page.
pub fn tenant(
    session: &Session,
    page: &TenantPage,
    shot: Option<&Shot>,
    audit: &[AuditRow],
    notice: Option<&str>,
) -> Markup {
    let t = &page.line.tenant;
    let base = format!("/tenants/{}", t.id);
    layout(
        &t.name,
        Some(session),
        html! {
            h1 { (t.name) " " span.muted { "#" (t.id) } }
            @if let Some(notice) = notice { p.notice { (notice) } }
            section.actions {
                form method="post" action=(format!("{base}/{}", if t.is_active { "disable" } else { "enable" })) {
                    (csrf(session))
                    button type="submit" { @if t.is_active { "Disable scraping" } @else { "Enable scraping" } }
                }
                form method="post" action=(format!("{base}/test")) {
                    (csrf(session)) button type="submit" { "Test connection" }
                }
                form method="post" action=(format!("{base}/retry-failed")) {
                    (csrf(session))
                    button type="submit" disabled[page.line.waiting.failed == 0] {
                        "Retry " (page.line.waiting.failed) " failed call(s)"
                    }
                }
                @if t.blocked_until.is_some() {
                    form method="post" action=(format!("{base}/clear-block")) {
                        (csrf(session)) button type="submit" { "Clear the login block" }
                    }
                }
            }
            section {
                h2 { "State" }
                table { tbody {
                    tr { th { "Scraping" } td { @if t.is_active { "active" } @else { "disabled" } } }
                    tr { th { "Console" } td { (t.console()) } }
                    tr { th { "Road" } td { (t.road()) } }
                    tr { th { "Time zone" } td { (t.ucm_timezone) } }
                    tr { th { "Firmware" } td { (t.ucm_firmware.as_deref().unwrap_or("-")) } }
                    tr { th { "Selectors file" } td { (page.line.selectors) } }
                    tr { th { "Last login" } td { (time(t.ucm_last_login_at)) } }
                    tr { th { "Failed logins in a row" } td { (t.ucm_login_failures) } }
                    tr { th { "Blocked until" } td { (time(t.blocked_until)) } }
                } }
            }
            section {
                h2 { "Last error" }
                @match &t.ucm_last_error {
                    Some(error) => pre { (error) },
                    None => p.muted { "none recorded" },
                }
                @if let Some(shot) = shot {
                    p { "Screenshot of the newest saved failure (" (shot.call) ", " (shot.saved) "):" }
                    @if !shot.failure.is_empty() { pre { (shot.failure) } }
                    img.shot src=(format!("{base}/screenshot")) alt="the console when the step failed";
                } @else {
                    p.muted { "No failure screenshot saved for this tenant." }
                }
            }
            section {
                h2 { "Recordings stored per day (last 30 days, by call day)" }
                (chart::stored_per_day(&page.per_day))
            }
            section {
                h2 { "Last passes" }
                table {
                    thead { tr { th { "Finished" } th { "Outcome" } th { "Claimed" } th { "Stored" } th { "Failed" } th { "Not listed yet" } th { "Not on console" } } }
                    tbody { @for pass in &page.passes { tr {
                        td { (time(Some(pass.finished_at))) }
                        td { (outcome(Some(pass))) }
                        td.n { (pass.claimed) } td.n { (pass.stored) } td.n { (pass.failed) }
                        td.n { (pass.not_listed_yet) } td.n { (pass.not_on_console) }
                    } } }
                }
            }
            section {
                h2 { "Calls waiting" }
                p { (page.line.waiting.pending) " pending, " (page.line.waiting.not_listed_yet) " not listed yet, "
                    (page.line.waiting.failed) " failed, " (page.line.waiting.not_on_console) " not on console" }
                table {
                    thead { tr { th { "Call" } th { "From" } th { "To" } th { "Call date (UTC)" } th { "Reason" } th { "Attempts" } th { "Last error" } } }
                    tbody { @for call in &page.calls { tr {
                        td { (call.uniqueid) } td { (call.src) } td { (call.dst) }
                        td { (call.call_date.format("%Y-%m-%d %H:%M:%S")) }
                        td { (call.reason()) } td.n { (call.recording_attempts) }
                        td { (call.recording_error.as_deref().unwrap_or("")) }
                    } } }
                }
            }
            section {
                h2 { "Unmatched recordings" }
                table {
                    thead { tr { th { "File" } th { "Caller" } th { "Callee" } th { "Shown" } th { "First seen" } th { "Status" } th { "Kept as" } } }
                    tbody { @for entry in &page.unmatched { tr {
                        td { (entry.file_name().unwrap_or("-")) } td { (entry.caller) } td { (entry.callee) }
                        td { (time(entry.shown_at)) } td { (time(Some(entry.first_seen_at))) }
                        td { (entry.status) } td { (entry.storage_key.as_deref().unwrap_or("-")) }
                    } } }
                }
            }
            section {
                h2 { "Learned selectors" }
                @match &page.learned {
                    None => p.muted { "None: the shipped files are used." },
                    Some(file) => {
                        p { "Status " strong { (file.status) } ", learnt " (time(Some(file.learned_at)))
                            ", firmware " (file.firmware.as_deref().unwrap_or("not shown")) }
                        h3 { "Changed" } pre { (file.changed) }
                        h3 { "Evidence" } pre { (file.evidence) }
                    },
                }
            }
            section {
                h2 { "Console credentials" }
                form method="post" action=(format!("{base}/credentials")) {
                    (csrf(session))
                    fieldset {
                        label { "Host " input type="text" name="pbx_ip" value=(t.pbx_ip.as_deref().unwrap_or("")); }
                        label { "Port " input type="number" name="pbx_port" min="1" max="65535" value=[t.pbx_port]; }
                        label { "Username " input type="text" name="pbx_username" value=(t.pbx_username.as_deref().unwrap_or("")) autocomplete="off"; }
                        label { "New password (empty: unchanged) " input type="password" name="pbx_password" autocomplete="new-password"; }
                        button type="submit" { "Save credentials" }
                    }
                }
            }
            section {
                h2 { "HTTPS API credentials" }
                p.muted { "The API user is its own account, set under API Configuration → HTTPS API Settings on the UCM. "
                    "Road: auto uses the API when these are set and the console answers it, the browser otherwise." }
                form method="post" action=(format!("{base}/api-credentials")) {
                    (csrf(session))
                    fieldset {
                        label { "API username " input type="text" name="api_username" value=(t.api_username.as_deref().unwrap_or("")) autocomplete="off"; }
                        label { "New API password (empty: unchanged) " input type="password" name="api_password" autocomplete="new-password"; }
                        label { "API port (empty: the console's port) " input type="number" name="api_port" min="1" max="65535" value=[t.api_port]; }
                        label { "Road "
                            select name="driver" {
                                @for (value, words) in ROADS {
                                    option value=(value) selected[t.driver == *value] { (words) }
                                }
                            }
                        }
                        button type="submit" { "Save API credentials" }
                    }
                }
            }
            section {
                h2 { "Audit" }
                table {
                    thead { tr { th { "When" } th { "Operator" } th { "Action" } th { "Detail" } } }
                    tbody { @for row in audit { tr {
                        td { (time(Some(row.at))) } td { (row.operator) } td { (row.action) } td { (row.detail) }
                    } } }
                }
            }
        },
    )
}

/// The connection test's page: each step as it finished.
pub fn test_run(session: &Session, tenant: i64, name: &str, run: Option<&TestRun>) -> Markup {
    layout(
        "Test connection",
        Some(session),
        html! {
            h1 { "Test connection: " (name) }
            p { a href=(format!("/tenants/{tenant}")) { "Back to the tenant" } }
            @match run {
                None => p.muted { "No test has run since the dashboard started." },
                Some(run) => {
                    p { "Started by " (run.operator) " at " (time(Some(run.started_at))) "; "
                        @match run.finished_at {
                            Some(at) => { "finished " (time(Some(at))) "." },
                            None => { "running (this page reloads itself)." },
                        }
                    }
                    table {
                        thead { tr { th { "Step" } th { "Result" } } }
                        tbody { @for (step, state) in &run.steps { tr {
                            td { (step.label()) }
                            @match state {
                                StepState::Waiting => td.muted { @if run.finished_at.is_some() { "not reached" } @else { "…" } },
                                StepState::Done(found) => td { span.ok { "ok" } " " (found) },
                                StepState::Failed(error) => td { span.bad { "failed" } " " (error) },
                            }
                        } } }
                    }
                    @if let Some(summary) = &run.summary { pre { (summary) } }
                }
            }
        },
    )
}

/// A page that only says what went wrong, with a way back.
pub fn problem(session: Option<&Session>, title: &str, message: &str, back: &str) -> Markup {
    layout(
        title,
        session,
        html! {
            h1 { (title) }
            p.error { (message) }
            p { a href=(back) { "Back" } }
        },
    )
}
