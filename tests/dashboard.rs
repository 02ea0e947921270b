//! The operators' dashboard (issue 26) against a real Postgres: HTTP-level security tests on a
//! dashboard served in this process, the operator commands through the binary, and a real
//! Chromium signing in to `ucm-scraper dashboard` and working a tenant against the console
//! stand-in.
//!
//! `DASHBOARD_SCREENSHOTS=<dir>` makes the browser test save its screenshots of the pages
//! there (docs/images/ holds the committed ones).

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use fantoccini::Locator;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::StatusCode;
use sqlx::PgPool;
use support::bin::{LiveStderr, UcmScraper};
use support::browser::{Browser, BrowserOptions, Chromedriver};
use support::console::{ConsoleConfig, FakeConsole, Skin};
use support::pg::{migrated_database, TestDb};
use support::scenario::Scenario;
use support::worker::with_browser;
use tokio_util::sync::CancellationToken;
use ucm_scraper::config::Settings;
use ucm_scraper::console::Window;
use ucm_scraper::dashboard::{self, operators};
use ucm_scraper::secrets::Secret;

const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="; // base64 of 32 bytes
const OPERATOR: &str = "ops";
const OPERATOR_PASSWORD: &str = "operator-pass-0001";
const CONSOLE_PASSWORD: &str = "Console-S3cret!";
const XSS_NAME: &str = "<img src=x onerror=alert(1)>";

/// The settings an operator would give, as a variable lookup.
fn settings(db: &TestDb, work: &Path, extra: &[(&str, String)]) -> Settings {
    let vars: Vec<(String, String)> = [
        ("DATABASE_URL", db.url.clone()),
        ("PBX_ENCRYPTION_KEY", KEY.to_string()),
        (
            "ARTIFACTS_DIR",
            work.join("artifacts").display().to_string(),
        ),
        ("DOWNLOAD_DIR", work.join("downloads").display().to_string()),
        (
            "SELECTORS_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/selectors").to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .chain(extra.iter().map(|(k, v)| (k.to_string(), v.clone())))
    .collect();
    Settings::from_lookup(|name| {
        vars.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    })
    .expect("test settings")
}

/// A dashboard served in this process on a free port, with one operator.
struct Served {
    db: TestDb,
    work: tempfile::TempDir,
    base: String,
    http: reqwest::Client,
    stop: CancellationToken,
}

impl Served {
    async fn start() -> Served {
        Served::start_with(|_| Vec::new()).await
    }

    /// With more settings, made from the work directory.
    async fn start_with(extra: impl FnOnce(&Path) -> Vec<(&'static str, String)>) -> Served {
        let db = migrated_database().await;
        let work = tempfile::tempdir().unwrap();
        let extra = extra(work.path());
        operators::add(
            &db.pool,
            OPERATOR,
            &Secret::new(OPERATOR_PASSWORD.to_string()),
        )
        .await
        .unwrap();
        let stop = CancellationToken::new();
        let tls = extra.iter().any(|(name, _)| *name == "DASHBOARD_TLS_CERT");
        let bound = dashboard::serve(
            "127.0.0.1:0".parse().unwrap(),
            settings(&db, work.path(), &extra),
            Window::Headless,
            db.pool.clone(),
            stop.clone(),
        )
        .await
        .expect("serve the dashboard");
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .danger_accept_invalid_certs(tls)
            .build()
            .unwrap();
        let scheme = if tls { "https" } else { "http" };
        Served {
            db,
            work,
            base: format!("{scheme}://{bound}"),
            http,
            stop,
        }
    }

    fn pool(&self) -> &PgPool {
        &self.db.pool
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn sign_in_as(&self, name: &str, password: &str) -> reqwest::Response {
        self.http
            .post(self.url("/sign-in"))
            .form(&[("name", name), ("password", password)])
            .send()
            .await
            .unwrap()
    }

    /// Signs the operator in: the cookie, and the form token from the tenants page.
    async fn signed_in(&self) -> Signed {
        let answer = self.sign_in_as(OPERATOR, OPERATOR_PASSWORD).await;
        assert_eq!(answer.status(), StatusCode::SEE_OTHER);
        let set = answer.headers()[SET_COOKIE].to_str().unwrap().to_string();
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
            assert!(set.contains(attribute), "{set}");
        }
        let tls = self.base.starts_with("https:");
        assert_eq!(set.contains("; Secure"), tls, "Secure over TLS only: {set}");
        let cookie = set.split(';').next().unwrap().to_string();
        let page = self.get(&cookie, "/").await;
        assert_eq!(page.0, StatusCode::OK, "{}", page.1);
        let csrf = form_token(&page.1);
        Signed { cookie, csrf }
    }

    async fn get(&self, cookie: &str, path: &str) -> (StatusCode, String) {
        let answer = self
            .http
            .get(self.url(path))
            .header(COOKIE, cookie)
            .send()
            .await
            .unwrap();
        (answer.status(), answer.text().await.unwrap())
    }

    /// A GET whose path goes on the wire byte for byte.
    async fn raw_get(&self, cookie: &str, path: &str) -> (StatusCode, String) {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let host = self.base.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        let text = String::from_utf8_lossy(&raw).into_owned();
        let status: u16 = text[9..12].parse().unwrap();
        let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        (StatusCode::from_u16(status).unwrap(), body.to_string())
    }

    async fn post(&self, cookie: &str, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .header(COOKIE, cookie)
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// A tenant row as the backend writes it, with its console password sealed as
    /// `tenant add` seals it.
    async fn tenant(&self, name: &str, subdomain: &str) -> i64 {
        let cipher = settings(&self.db, self.work.path(), &[]).password_cipher();
        let sealed = cipher
            .seal(&Secret::new(CONSOLE_PASSWORD.to_string()))
            .unwrap();
        sqlx::query_scalar(
            "INSERT INTO tenants (company_name, subdomain, pbx_ip, pbx_port, pbx_username, \
             pbx_password) VALUES ($1, $2, '127.0.0.1', 8089, 'admin', $3) RETURNING id::bigint",
        )
        .bind(name)
        .bind(subdomain)
        .bind(sealed)
        .fetch_one(self.pool())
        .await
        .unwrap()
    }

    /// `stored` is sealed as `tenant update` seals a password: the worker's v1 format, opened by
    /// the same cipher to `password`.
    fn assert_sealed(&self, stored: &str, password: &str) {
        assert!(stored.starts_with("v1:"), "{stored}");
        let cipher = settings(&self.db, self.work.path(), &[]).password_cipher();
        assert_eq!(cipher.open(stored).unwrap().password.expose(), password);
    }

    async fn is_active(&self, tenant: i64) -> bool {
        sqlx::query_scalar("SELECT is_active FROM tenants WHERE id = $1")
            .bind(tenant)
            .fetch_one(self.pool())
            .await
            .unwrap()
    }

    async fn audit(&self) -> Vec<(String, String, Option<i64>, String)> {
        sqlx::query_as(
            "SELECT operator, action, tenant_id, detail FROM dashboard_audit ORDER BY id",
        )
        .fetch_all(self.pool())
        .await
        .unwrap()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

struct Signed {
    cookie: String,
    csrf: String,
}

/// The session's form token, as the page's hidden fields carry it.
fn form_token(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("a form token on the page") + marker.len();
    html[start..start + 64].to_string()
}

/// A screenshot saved as the worker saves one after a failed step.
fn save_screenshot(artifacts: &Path, tenant: i64, call: &str, png: &[u8]) -> PathBuf {
    let dir = artifacts
        .join(tenant.to_string())
        .join(call)
        .join("20261206T101502.123Z");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("screenshot.png"), png).unwrap();
    std::fs::write(dir.join("failure.txt"), "download icon not found\n").unwrap();
    dir.join("screenshot.png")
}

/// Every route the dashboard has, with the method it answers.
fn routes(tenant: i64) -> Vec<(reqwest::Method, String)> {
    use reqwest::Method;
    let t = format!("/tenants/{tenant}");
    let mut all = vec![
        (Method::GET, "/".to_string()),
        (Method::POST, "/sign-out".to_string()),
        (Method::GET, t.clone()),
        (Method::GET, format!("{t}/screenshot")),
        (Method::GET, format!("{t}/test")),
    ];
    for action in [
        "test",
        "enable",
        "disable",
        "credentials",
        "api-credentials",
        "retry-failed",
        "clear-block",
    ] {
        all.push((Method::POST, format!("{t}/{action}")));
    }
    all
}

#[tokio::test]
async fn every_route_without_a_session_is_refused() {
    let served = Served::start().await;
    let tenant = served.tenant("Hidden Corp", "hidden").await;
    save_screenshot(
        &served.work.path().join("artifacts"),
        tenant,
        "session",
        b"PNG",
    );
    let signed = served.signed_in().await;
    // An idle session: its last use pushed back past DASHBOARD_SESSION_IDLE (30 min).
    let idle = served.signed_in().await;
    sqlx::query("UPDATE dashboard_sessions SET last_seen_at = now() - interval '31 minutes' WHERE csrf_token = $1")
        .bind(&idle.csrf)
        .execute(served.pool())
        .await
        .unwrap();
    let cookies = [
        None,
        Some(
            "ucm_dashboard=0000000000000000000000000000000000000000000000000000000000000000"
                .to_string(),
        ),
        Some(idle.cookie.clone()),
    ];
    for (method, path) in routes(tenant) {
        for cookie in &cookies {
            let mut request = served.http.request(method.clone(), served.url(&path));
            if let Some(cookie) = cookie {
                request = request.header(COOKIE, cookie);
            }
            let form = [("csrf", signed.csrf.as_str())];
            let answer = request.form(&form).send().await.unwrap();
            let status = answer.status();
            let location = answer.headers().get(LOCATION).cloned();
            let body = answer.text().await.unwrap();
            assert_eq!(
                status,
                StatusCode::SEE_OTHER,
                "{method} {path} with {cookie:?}"
            );
            assert_eq!(location.unwrap(), "/sign-in", "{method} {path}");
            assert!(
                !body.contains("Hidden Corp") && !body.contains("PNG"),
                "{body}"
            );
        }
    }
    assert!(served.is_active(tenant).await, "nothing was done");
    // The sign-in page itself is open, and every answer carries the policy.
    let answer = served
        .http
        .get(served.url("/sign-in"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let policy = answer.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(
        policy.starts_with("default-src 'none'; style-src 'sha256-"),
        "{policy}"
    );
    assert!(!policy.contains("script-src"), "{policy}");
    // The signed-in session still works.
    assert_eq!(served.get(&signed.cookie, "/").await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_post_without_or_with_a_wrong_form_token_is_refused() {
    let served = Served::start().await;
    let tenant = served.tenant("Acme Corp", "acme").await;
    let signed = served.signed_in().await;
    let disable = format!("/tenants/{tenant}/disable");
    let other = served.signed_in().await; // another session's token is a wrong one too
    for form in [
        vec![],
        vec![("csrf", "")],
        vec![("csrf", "0123456789abcdef")],
        vec![("csrf", other.csrf.as_str())],
    ] {
        let answer = served.post(&signed.cookie, &disable, &form).await;
        assert_eq!(answer.status(), StatusCode::FORBIDDEN, "{form:?}");
        assert!(served.is_active(tenant).await, "{form:?}");
    }
    assert!(served.audit().await.iter().all(|a| a.1 == "sign in"));

    let answer = served
        .post(&signed.cookie, &disable, &[("csrf", &signed.csrf)])
        .await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        answer.headers()[LOCATION],
        format!("/tenants/{tenant}?done=disabled").as_str()
    );
    assert!(!served.is_active(tenant).await);
    let audit = served.audit().await;
    let last = audit.last().unwrap();
    assert_eq!(
        (last.0.as_str(), last.1.as_str(), last.2),
        (OPERATOR, "disable", Some(tenant))
    );
    let (_, page) = served
        .get(&signed.cookie, &format!("/tenants/{tenant}?done=disabled"))
        .await;
    assert!(page.contains("Scraping disabled"), "{page}");
}

#[tokio::test]
async fn a_tenant_named_with_markup_renders_as_text() {
    let served = Served::start().await;
    let tenant = served.tenant(XSS_NAME, "xss").await;
    sqlx::query("UPDATE tenants SET ucm_last_error = $2, ucm_firmware = $3 WHERE id = $1")
        .bind(tenant)
        .bind("<script>alert(2)</script> failed")
        .bind("\"><svg onload=alert(3)>")
        .execute(served.pool())
        .await
        .unwrap();
    let signed = served.signed_in().await;
    for path in [
        "/".to_string(),
        format!("/tenants/{tenant}"),
        format!("/tenants/{tenant}/test"),
    ] {
        let (status, page) = served.get(&signed.cookie, &path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(
            page.contains("&lt;img src=x onerror=alert(1)&gt;"),
            "{path}: {page}"
        );
        for raw in ["<img src=x", "<script>alert", "<svg onload"] {
            assert!(!page.contains(raw), "{path} renders {raw:?} as markup");
        }
    }
}

#[tokio::test]
async fn a_console_password_is_written_encrypted_and_never_sent_back() {
    let served = Served::start().await;
    let tenant = served.tenant("Acme Corp", "acme").await;
    let signed = served.signed_in().await;
    sqlx::query("UPDATE tenants SET ucm_blocked_until = now() + interval '1 hour', ucm_login_failures = 3, \
                 ucm_blocked_credentials = 'x' WHERE id = $1")
        .bind(tenant)
        .execute(served.pool())
        .await
        .unwrap();
    let new_password = "N3w-console-pass!";
    let answer = served
        .post(
            &signed.cookie,
            &format!("/tenants/{tenant}/credentials"),
            &[
                ("csrf", &signed.csrf),
                ("pbx_ip", "127.0.0.1"),
                ("pbx_port", "8089"),
                ("pbx_username", "admin"),
                ("pbx_password", new_password),
            ],
        )
        .await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    // Stored as `tenant update` stores it: the worker's v1 format, opened by the same cipher.
    let stored: String = sqlx::query_scalar("SELECT pbx_password FROM tenants WHERE id = $1")
        .bind(tenant)
        .fetch_one(served.pool())
        .await
        .unwrap();
    served.assert_sealed(&stored, new_password);
    let last = served.audit().await.pop().unwrap();
    assert_eq!(
        (last.1.as_str(), last.3.as_str()),
        ("update credentials", "changed: pbx_password")
    );

    let mut seen = String::new();
    for path in [
        "/".to_string(),
        format!("/tenants/{tenant}"),
        format!("/tenants/{tenant}/test"),
    ] {
        seen.push_str(&served.get(&signed.cookie, &path).await.1);
    }
    assert!(
        seen.contains("name=\"pbx_password\""),
        "the write-only field is there"
    );
    for secret in [
        new_password,
        CONSOLE_PASSWORD,
        OPERATOR_PASSWORD,
        stored.as_str(),
    ] {
        assert!(
            !seen.contains(secret),
            "a secret ({} chars) was sent back",
            secret.len()
        );
    }
    let audit = format!("{:?}", served.audit().await);
    assert!(!audit.contains(new_password) && !audit.contains(OPERATOR_PASSWORD));
}

#[tokio::test]
async fn api_credentials_are_saved_as_tenant_update_saves_them_and_the_road_is_shown() {
    let served = Served::start().await;
    let tenant = served.tenant("Acme Corp", "acme").await;
    let signed = served.signed_in().await;
    let path = format!("/tenants/{tenant}/api-credentials");
    let (_, page) = served.get(&signed.cookie, "/").await;
    assert!(
        page.contains("auto: web console (admin@127.0.0.1:8089) (no API credentials)"),
        "{page}"
    );

    // A road `tenant update --driver` refuses is refused here too, and nothing is written.
    let api_password = "Api-S3cret-0042";
    let mut form = vec![
        ("csrf", signed.csrf.as_str()),
        ("api_username", "cdr-api"),
        ("api_password", api_password),
        ("api_port", "8443"),
        ("driver", "carrier-pigeon"),
    ];
    let answer = served.post(&signed.cookie, &path, &form).await;
    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    let stored: Option<String> =
        sqlx::query_scalar("SELECT api_password FROM tenants WHERE id = $1")
            .bind(tenant)
            .fetch_one(served.pool())
            .await
            .unwrap();
    assert_eq!(stored, None);

    form[4] = ("driver", "api");
    let answer = served.post(&signed.cookie, &path, &form).await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        answer.headers()[LOCATION],
        format!("/tenants/{tenant}?done=api-credentials").as_str()
    );
    let (username, stored, port, driver): (String, String, i32, String) = sqlx::query_as(
        "SELECT api_username::text, api_password::text, api_port, driver::text FROM tenants WHERE id = $1",
    )
    .bind(tenant)
    .fetch_one(served.pool())
    .await
    .unwrap();
    assert_eq!(
        (username.as_str(), port, driver.as_str()),
        ("cdr-api", 8443, "api")
    );
    // Sealed as the console password is: the worker's v1 format, opened by the same cipher.
    served.assert_sealed(&stored, api_password);
    let last = served.audit().await.pop().unwrap();
    assert_eq!(
        (last.0.as_str(), last.1.as_str(), last.2),
        (OPERATOR, "update API credentials", Some(tenant))
    );
    for column in ["api_username", "api_password", "api_port", "driver"] {
        assert!(last.3.contains(column), "{last:?}");
    }

    // The same form again changes nothing: the password field is write-only and left empty.
    form[2] = ("api_password", "");
    let answer = served.post(&signed.cookie, &path, &form).await;
    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);

    let road = "API only: HTTPS API (cdr-api@127.0.0.1:8443)";
    let (_, list) = served.get(&signed.cookie, "/").await;
    assert!(list.contains(road), "{list}");
    let (_, page) = served
        .get(
            &signed.cookie,
            &format!("/tenants/{tenant}?done=api-credentials"),
        )
        .await;
    assert!(
        page.contains(road) && page.contains("API credentials and road saved"),
        "{page}"
    );
    assert!(
        page.contains("name=\"api_password\""),
        "the write-only field is there"
    );
    assert!(page.contains("<option value=\"api\" selected>"), "{page}");
    for secret in [api_password, stored.as_str()] {
        assert!(
            !page.contains(secret) && !list.contains(secret),
            "a secret was sent back"
        );
    }
    assert!(!format!("{:?}", served.audit().await).contains(api_password));
}

#[tokio::test]
async fn the_sign_in_limit_holds_per_account_and_per_address() {
    let served = Served::start().await;
    for _ in 0..operators::ACCOUNT_FAILURES {
        let answer = served.sign_in_as(OPERATOR, "wrong-password-000").await;
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
        assert!(answer.headers().get(SET_COOKIE).is_none());
    }
    // Now even the right password is refused, before it is checked.
    let answer = served.sign_in_as(OPERATOR, OPERATOR_PASSWORD).await;
    assert_eq!(answer.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(answer.headers().get(SET_COOKIE).is_none());

    // Another account from the same address, until the address's own limit.
    operators::add(
        served.pool(),
        "second",
        &Secret::new(OPERATOR_PASSWORD.into()),
    )
    .await
    .unwrap();
    let left = operators::ADDRESS_FAILURES - operators::ACCOUNT_FAILURES;
    for i in 0..left {
        let answer = served
            .sign_in_as(&format!("nobody{i}"), "wrong-password-000")
            .await;
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let answer = served.sign_in_as("second", OPERATOR_PASSWORD).await;
    assert_eq!(answer.status(), StatusCode::TOO_MANY_REQUESTS);

    // A sign-in form sent from another site is refused whatever it holds.
    let from_elsewhere = served
        .http
        .post(served.url("/sign-in"))
        .header("origin", "http://evil.example")
        .form(&[("name", "second"), ("password", OPERATOR_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(from_elsewhere.status(), StatusCode::FORBIDDEN);
    assert!(from_elsewhere.headers().get(SET_COOKIE).is_none());

    // Once the failures are older than the window, the account signs in again.
    sqlx::query("UPDATE dashboard_sign_in_failures SET at = now() - interval '16 minutes'")
        .execute(served.pool())
        .await
        .unwrap();
    let answer = served.sign_in_as(OPERATOR, OPERATOR_PASSWORD).await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn screenshot_path_tricks_are_refused() {
    let served = Served::start().await;
    let artifacts = served.work.path().join("artifacts");
    let mine = served.tenant("Acme Corp", "acme").await;
    let other = served.tenant("Globex Inc", "globex").await;
    let linked = served.tenant("Linked Inc", "linked").await;
    save_screenshot(&artifacts, mine, "session", b"MINE");
    save_screenshot(&artifacts, other, "1770395696.1", b"OTHER");
    // A tenant whose folder is a link to another's is not followed.
    std::fs::create_dir_all(artifacts.join(linked.to_string())).unwrap();
    std::os::unix::fs::symlink(
        artifacts.join(other.to_string()).join("1770395696.1"),
        artifacts.join(linked.to_string()).join("session"),
    )
    .unwrap();
    let signed = served.signed_in().await;

    let (status, body) = served
        .get(&signed.cookie, &format!("/tenants/{mine}/screenshot"))
        .await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "MINE"));
    let tricks = [
        // Encoded, as a browser sends it; the server decodes it to an absolute path.
        format!("/tenants/{mine}/screenshot?path=%2Fetc%2Fpasswd"),
        format!("/tenants/{mine}/screenshot?file=../{other}/1770395696.1/20261206T101502.123Z/screenshot.png"),
        format!("/tenants/{mine}/screenshot/../../{other}/screenshot"),
        format!("/tenants/{mine}/screenshot/..%2F..%2F{other}"),
        format!("/tenants/..%2F{other}/screenshot"),
        format!("/tenants/{mine}%2F..%2F{other}/screenshot"),
        "/tenants/%2Fetc%2Fpasswd/screenshot".to_string(),
        "/tenants/..%2F..%2F..%2Fetc%2Fpasswd/screenshot".to_string(),
        format!("/tenants/{linked}/screenshot"),
        "/tenants/999/screenshot".to_string(),
    ];
    for path in tricks {
        // Sent as written: an HTTP client would resolve the dot segments before sending.
        let (status, body) = served.raw_get(&signed.cookie, &path).await;
        assert!(
            !body.contains("OTHER") && !body.contains("root:"),
            "{path} served {body}"
        );
        assert!(
            status == StatusCode::NOT_FOUND
                || status == StatusCode::BAD_REQUEST
                || (status == StatusCode::OK && body == "MINE"),
            "{path}: {status}"
        );
    }
}

#[tokio::test]
async fn failed_calls_are_retried_and_a_login_block_cleared() {
    let served = Served::start().await;
    let tenant = served.tenant("Acme Corp", "acme").await;
    for (i, status) in ["failed", "failed", "stored", "pending"].iter().enumerate() {
        sqlx::query(
            "INSERT INTO cdr_records (tenant_id, uniqueid, src, dst, recordfiles, call_date, \
             recording_status, recording_attempts, recording_error) \
             VALUES ($1, $2, '1000', '2000', $3, (now() AT TIME ZONE 'UTC') - interval '1 hour', $4, 5, 'gave up')",
        )
        .bind(tenant as i32)
        .bind(format!("1770395696.{i}"))
        .bind(format!("auto-{i}.wav@"))
        .bind(status)
        .execute(served.pool())
        .await
        .unwrap();
    }
    sqlx::query("UPDATE tenants SET ucm_blocked_until = now() + interval '1 hour', ucm_login_failures = 2 WHERE id = $1")
        .bind(tenant)
        .execute(served.pool())
        .await
        .unwrap();
    let signed = served.signed_in().await;
    let (_, page) = served
        .get(&signed.cookie, &format!("/tenants/{tenant}"))
        .await;
    assert!(page.contains("Retry 2 failed call(s)"), "{page}");

    let answer = served
        .post(
            &signed.cookie,
            &format!("/tenants/{tenant}/retry-failed"),
            &[("csrf", &signed.csrf)],
        )
        .await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let statuses: Vec<(String, i32)> = sqlx::query_as(
        "SELECT recording_status, recording_attempts FROM cdr_records ORDER BY uniqueid",
    )
    .fetch_all(served.pool())
    .await
    .unwrap();
    assert_eq!(
        statuses,
        [
            ("pending".into(), 0),
            ("pending".into(), 0),
            ("stored".into(), 5),
            ("pending".into(), 5)
        ]
    );
    assert_eq!(
        served.audit().await.pop().unwrap().3,
        "2 call(s) back to pending"
    );

    let answer = served
        .post(
            &signed.cookie,
            &format!("/tenants/{tenant}/clear-block"),
            &[("csrf", &signed.csrf)],
        )
        .await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let (until, failures): (Option<chrono::DateTime<chrono::Utc>>, i32) =
        sqlx::query_as("SELECT ucm_blocked_until, ucm_login_failures FROM tenants WHERE id = $1")
            .bind(tenant)
            .fetch_one(served.pool())
            .await
            .unwrap();
    assert_eq!((until, failures), (None, 0));
    assert_eq!(served.audit().await.pop().unwrap().1, "clear login block");
}

#[tokio::test]
async fn operators_are_added_and_removed_with_the_binary() {
    let served = Served::start().await;
    let command = |args: &[&str]| {
        UcmScraper::new(args)
            .env("DATABASE_URL", &served.db.url)
            .secret("second-operator-pass")
    };
    let added = command(&["operator", "add", "second", "--password-stdin"])
        .stdin("second-operator-pass\n")
        .run_async()
        .await;
    assert!(added.ok, "{}", added.stderr);
    assert_eq!(added.stdout.trim(), "Operator second added");
    let hash: String =
        sqlx::query_scalar("SELECT password_hash FROM dashboard_operators WHERE name = 'second'")
            .fetch_one(served.pool())
            .await
            .unwrap();
    assert!(hash.starts_with("$argon2id$") && !hash.contains("second-operator-pass"));
    let short = command(&["operator", "add", "third", "--password-stdin"])
        .stdin("short\n")
        .run_async()
        .await;
    assert!(
        !short.ok && short.stderr.contains("at least 12 characters"),
        "{}",
        short.stderr
    );

    let answer = served.sign_in_as("second", "second-operator-pass").await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let cookie = answer.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(served.get(&cookie, "/").await.0, StatusCode::OK);

    let removed = command(&["operator", "remove", "second"]).run_async().await;
    assert!(removed.ok, "{}", removed.stderr);
    assert_eq!(
        served.get(&cookie, "/").await.0,
        StatusCode::SEE_OTHER,
        "its session ended"
    );
    let answer = served.sign_in_as("second", "second-operator-pass").await;
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
}

/// Where the browser test saves its screenshots: `DASHBOARD_SCREENSHOTS`, else a scratch dir.
fn screenshot_dir(scratch: &Path) -> PathBuf {
    match std::env::var("DASHBOARD_SCREENSHOTS") {
        Ok(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => scratch.to_path_buf(),
    }
}

/// The text of the element, waited for: a click's navigation may still be under way.
async fn element_text(client: &fantoccini::Client, css: &str) -> String {
    client
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
}

/// Seeds what a working deployment has: stored calls over the last weeks, passes, a waiting
/// call, and for the failing tenant an error with its screenshot.
async fn seed_history(pool: &PgPool, ok: i64, failing: i64) {
    for day in 0..30 {
        for n in 0..(3 + (day * 7) % 9) {
            sqlx::query(
                "INSERT INTO cdr_records (tenant_id, uniqueid, src, dst, recordfiles, call_date, \
                 recording_status, recording_local_path, recording_downloaded) \
                 VALUES ($1, $2, '1000', '2000', 'auto.wav@', \
                         (now() AT TIME ZONE 'UTC') - make_interval(days => $3, mins => $4), \
                         'stored', 'tenant_x/y.mp3', true)",
            )
            .bind(ok as i32)
            .bind(format!("17700{day:02}{n:02}.{n}"))
            .bind(day)
            .bind(n)
            .execute(pool)
            .await
            .unwrap();
        }
    }
    sqlx::query(
        "INSERT INTO cdr_records (tenant_id, uniqueid, src, dst, recordfiles, call_date, \
         recording_status, recording_attempts, recording_error, recording_not_listed_since) \
         VALUES ($1, '1770399999.7', '1001', '2815550100', 'auto-7.wav@', \
                 (now() AT TIME ZONE 'UTC') - interval '20 minutes', 'pending', 0, \
                 'not listed on the console yet', now())",
    )
    .bind(ok as i32)
    .execute(pool)
    .await
    .unwrap();
    for (tenant, outcome, message) in [
        (ok, "ok", None),
        (
            failing,
            "failed",
            Some("download icon not found (selectors/ucm63xx.toml: recordings.download)"),
        ),
    ] {
        sqlx::query(
            "INSERT INTO tenant_passes (tenant_id, started_at, finished_at, outcome, message, claimed, stored) \
             VALUES ($1, now() - interval '16 minutes', now() - interval '15 minutes', $2, $3, 6, 6)",
        )
        .bind(tenant)
        .bind(outcome)
        .bind(message)
        .execute(pool)
        .await
        .unwrap();
    }
    sqlx::query("UPDATE tenants SET ucm_last_error = $2 WHERE id = $1")
        .bind(failing)
        .bind("download icon not found (selectors/ucm63xx.toml: recordings.download): the tenant's pass stopped; fix the selectors file")
        .execute(pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn an_operator_works_a_tenant_in_a_real_browser() {
    let db = migrated_database().await;
    let work = tempfile::tempdir().unwrap();
    let shots = screenshot_dir(work.path());
    std::fs::create_dir_all(&shots).unwrap();
    let mut config = ConsoleConfig::for_skin(Skin::Ucm63xx);
    config.tls = true;
    config.password = CONSOLE_PASSWORD.into();
    let console = FakeConsole::start(config).await;

    // Tenants as an operator adds them, and the dashboard's operator.
    let command = |args: &[&str]| {
        UcmScraper::new(args)
            .env("DATABASE_URL", &db.url)
            .env("PBX_ENCRYPTION_KEY", KEY)
            .secret(CONSOLE_PASSWORD)
            .secret(OPERATOR_PASSWORD)
    };
    let port = console.addr.port().to_string();
    let mut ids = Vec::new();
    for (name, subdomain) in [("Acme Corp", "acme"), ("Globex Inc", "globex")] {
        let added = command(&[
            "tenant",
            "add",
            "--company-name",
            name,
            "--subdomain",
            subdomain,
            "--pbx-ip",
            "127.0.0.1",
            "--pbx-port",
            &port,
            "--pbx-username",
            "admin",
            "--pbx-password-stdin",
        ])
        .stdin(&format!("{CONSOLE_PASSWORD}\n"))
        .run_async()
        .await;
        assert!(added.ok, "{}", added.stderr);
        ids.push(added.stdout.trim().parse::<i64>().unwrap());
    }
    let (acme, globex) = (ids[0], ids[1]);
    let operator = command(&["operator", "add", OPERATOR, "--password-stdin"])
        .stdin(&format!("{OPERATOR_PASSWORD}\n"))
        .run_async()
        .await;
    assert!(operator.ok, "{}", operator.stderr);
    seed_history(&db.pool, acme, globex).await;

    let options = BrowserOptions {
        accept_insecure_certs: true,
        ..BrowserOptions::default()
    };
    let browser = Browser::open(Chromedriver::shared(), options).await;
    let client = browser.client.clone();
    client.set_window_size(1600, 1000).await.unwrap();
    // The failing tenant's screenshot: a real one, of the console stand-in's login page.
    client.goto(&console.url).await.unwrap();
    client
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css("input[type=password]"))
        .await
        .expect("the console's login form");
    let png = client.screenshot().await.unwrap();
    save_screenshot(&work.path().join("artifacts"), globex, "session", &png);

    // `ucm-scraper dashboard`, as an operator starts it.
    let mut child = with_browser(command(&["dashboard"]), work.path())
        .env("RUST_LOG", "info")
        .env("DASHBOARD_ADDR", "127.0.0.1:0")
        .spawn();
    let log = LiveStderr::follow(&mut child);
    let addr = log.address_after("Serving the dashboard on http://").await;
    let base = format!("http://{}", addr.trim_end_matches('/'));

    // Sign in.
    client.goto(&base).await.unwrap();
    assert!(client
        .current_url()
        .await
        .unwrap()
        .as_str()
        .ends_with("/sign-in"));
    std::fs::write(
        shots.join("dashboard-sign-in.png"),
        client.screenshot().await.unwrap(),
    )
    .unwrap();
    client
        .find(Locator::Css("input[name=name]"))
        .await
        .unwrap()
        .send_keys(OPERATOR)
        .await
        .unwrap();
    client
        .find(Locator::Css("input[name=password]"))
        .await
        .unwrap()
        .send_keys(OPERATOR_PASSWORD)
        .await
        .unwrap();
    client
        .find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    // The tenants page: both, the failing one first.
    let first = element_text(&client, "tbody tr:first-child td:first-child").await;
    assert!(first.starts_with("Globex Inc"), "{first}");
    let table = element_text(&client, "table").await;
    assert!(
        table.contains("Acme Corp") && table.contains("failed"),
        "{table}"
    );
    std::fs::write(
        shots.join("dashboard-tenants.png"),
        client.screenshot().await.unwrap(),
    )
    .unwrap();

    // The failing tenant, with its screenshot shown.
    client
        .find(Locator::LinkText("Globex Inc"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let error = element_text(&client, "section pre").await;
    assert!(error.contains("download icon not found"), "{error}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut width = 0;
    while width == 0 && tokio::time::Instant::now() < deadline {
        let drawn = client
            .execute(
                "return document.querySelector('img.shot').naturalWidth",
                vec![],
            )
            .await
            .unwrap();
        width = drawn.as_u64().unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(100)).await; // poll interval
    }
    assert!(width > 100, "the screenshot is drawn: {width} px wide");
    client
        .execute(
            "document.querySelector('section pre').scrollIntoView()",
            vec![],
        )
        .await
        .unwrap();
    std::fs::write(
        shots.join("dashboard-failing-tenant.png"),
        client.screenshot().await.unwrap(),
    )
    .unwrap();

    // Disable it, and the database says so.
    client
        .find(Locator::XPath("//button[text()='Disable scraping']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert!(element_text(&client, "p.notice")
        .await
        .contains("Scraping disabled"));
    let active: bool = sqlx::query_scalar("SELECT is_active FROM tenants WHERE id = $1")
        .bind(globex)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(!active);

    // The working tenant: its chart, then a connection test against the console stand-in.
    client
        .goto(&format!("{base}/tenants/{acme}"))
        .await
        .unwrap();
    let bars = client
        .find_all(Locator::Css("svg.chart rect.bar"))
        .await
        .unwrap();
    assert_eq!(bars.len(), 30);
    std::fs::write(
        shots.join("dashboard-tenant.png"),
        client.screenshot().await.unwrap(),
    )
    .unwrap();
    client
        .find(Locator::XPath("//button[text()='Test connection']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let mut finished = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while tokio::time::Instant::now() < deadline {
        // The page reloads itself while the test runs: read it whole, never an element of it,
        // which the next reload makes stale. Once finished, it no longer reloads.
        if client
            .source()
            .await
            .unwrap_or_default()
            .contains("; finished ")
        {
            finished = element_text(&client, "main").await;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await; // poll interval; the page reloads itself
    }
    assert!(
        finished.contains("login ok"),
        "the test finished with a login: {finished}"
    );
    let ok = client.find_all(Locator::Css("td span.ok")).await.unwrap();
    assert_eq!(ok.len(), 4, "every step ok: {finished}");
    std::fs::write(
        shots.join("dashboard-test-connection.png"),
        client.screenshot().await.unwrap(),
    )
    .unwrap();
    let html = client.source().await.unwrap();
    assert!(!html.contains(CONSOLE_PASSWORD));

    browser.close().await;
    child.start_kill().unwrap();
    let _ = child.wait().await;
    let mut log = log;
    log.finish().await;
    let text = log.text();
    for secret in [CONSOLE_PASSWORD, OPERATOR_PASSWORD] {
        assert!(
            !text.contains(secret),
            "a secret leaked into the dashboard's log"
        );
    }
    let audit: Vec<String> = sqlx::query_scalar("SELECT action FROM dashboard_audit ORDER BY id")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert_eq!(audit, ["sign in", "disable", "test connection"]);
}

#[tokio::test]
async fn over_tls_the_session_cookie_is_secure() {
    let served = Served::start_with(|work| {
        let key = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
        let (cert, private) = (work.join("cert.pem"), work.join("key.pem"));
        std::fs::write(&cert, key.cert.pem()).unwrap();
        std::fs::write(&private, key.signing_key.serialize_pem()).unwrap();
        vec![
            ("DASHBOARD_TLS_CERT", cert.display().to_string()),
            ("DASHBOARD_TLS_KEY", private.display().to_string()),
        ]
    })
    .await;
    assert!(served.base.starts_with("https://"));
    let signed = served.signed_in().await; // asserts `Secure` on the cookie
    assert_eq!(served.get(&signed.cookie, "/").await.0, StatusCode::OK);
}

#[tokio::test]
async fn run_serves_the_dashboard_apart_from_metrics_and_keeps_each_pass() {
    let scenario = Scenario::new().await;
    let tenant = scenario.tenant_raw("No Console Inc", None).await;
    let mut child = scenario
        .command(&["run"])
        .env("METRICS_ADDR", "127.0.0.1:0")
        .env("DASHBOARD_ADDR", "127.0.0.1:0")
        .spawn();
    let log = LiveStderr::follow(&mut child);
    let metrics = log.metrics_addr().await;
    let dashboard = log.address_after("Serving the dashboard on http://").await;
    let dashboard = dashboard.trim_end_matches('/');
    assert_ne!(metrics, dashboard);
    let http = reqwest::Client::new();
    let status = |url: String| {
        let http = http.clone();
        async move { http.get(url).send().await.unwrap().status() }
    };
    assert_eq!(
        status(format!("http://{dashboard}/sign-in")).await,
        StatusCode::OK
    );
    assert_eq!(
        status(format!("http://{dashboard}/metrics")).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        status(format!("http://{metrics}/sign-in")).await,
        StatusCode::NOT_FOUND
    );
    // The first pass skips the tenant without a console, and the skip is kept.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let kept = loop {
        let kept: Option<(String, Option<String>)> =
            sqlx::query_as("SELECT outcome, message FROM tenant_passes WHERE tenant_id = $1")
                .bind(tenant)
                .fetch_optional(scenario.pool())
                .await
                .unwrap();
        if kept.is_some() || tokio::time::Instant::now() > deadline {
            break kept;
        }
        tokio::time::sleep(Duration::from_millis(100)).await; // poll interval
    };
    assert_eq!(
        kept,
        Some((
            "skipped".to_string(),
            Some("missing UCM credentials".to_string())
        ))
    );
    child.start_kill().unwrap();
    let _ = child.wait().await;
}
