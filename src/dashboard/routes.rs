//! One file over 500 lines: every route in one table, each beside the session and token checks
//! it must pass.
//!
//! The dashboard's routes. Every route but the sign-in page needs a session ([`Operator`]);
//! every action is a POST whose form carries the session's token ([`Action`]) and is audited.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::{header, request::Parts, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{middleware, Form, Router};
use clap::ValueEnum as _;
use maud::Markup;
use serde::Deserialize;

use super::operators::{self, IdleLimit, Session, SignIn};
use super::{audit, data, pages, screenshots, Dashboard};
use crate::cli::TenantArgs;
use crate::commands::tenant::{self as admin, Changes, TenantCommandError as AdminError};
use crate::ids::TenantId;
use crate::secrets::{PasswordCipher, Secret};
use crate::tenants::{DriverChoice, TenantError};

type App = Arc<Dashboard>;

const COOKIE: &str = "ucm_dashboard";

pub(super) fn router(app: App) -> Router {
    Router::new()
        .route("/sign-in", get(sign_in_page).post(sign_in))
        .route("/sign-out", post(sign_out))
        .route("/", get(tenants_page))
        .route("/tenants/{id}", get(tenant_page))
        .route("/tenants/{id}/screenshot", get(screenshot))
        .route("/tenants/{id}/test", get(test_page).post(start_test))
        .route("/tenants/{id}/enable", post(enable))
        .route("/tenants/{id}/disable", post(disable))
        .route("/tenants/{id}/credentials", post(credentials))
        .route("/tenants/{id}/api-credentials", post(api_credentials))
        .route("/tenants/{id}/retry-failed", post(retry_failed))
        .route("/tenants/{id}/clear-block", post(clear_block))
        .layer(middleware::map_response(security_headers))
        .with_state(app)
}

/// On every response: the CSP, no sniffing, no framing, no referrer to other sites, nothing
/// cached.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let policy = HeaderValue::from_static(pages::content_security_policy());
    headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Not `no-referrer`: under it a browser sends `Origin: null` with a form, which the
    // sign-in's check must refuse. Addresses here carry tenant ids at most.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A failure while answering: logged in full, answered with a fixed page.
fn server_error(error: impl std::fmt::Display) -> Response {
    tracing::error!(%error, "Dashboard request failed");
    let page = pages::problem(
        None,
        "Something failed",
        "The dashboard could not answer; its log says why.",
        "/",
    );
    (StatusCode::INTERNAL_SERVER_ERROR, page).into_response()
}

fn to_sign_in() -> Response {
    Redirect::to("/sign-in").into_response()
}

fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())
        .filter(|token| !token.is_empty())
}

/// A signed-in operator; without a live session the request goes to the sign-in page.
pub(super) struct Operator {
    session: Session,
    token: String,
}

impl FromRequestParts<App> for Operator {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Response> {
        let token = session_token(&parts.headers).ok_or_else(to_sign_in)?;
        let idle = IdleLimit(app.settings.dashboard.session_idle);
        match operators::session(&app.pool, &token, idle).await {
            Ok(Some(session)) => Ok(Operator { session, token }),
            Ok(None) => Err(to_sign_in()),
            Err(error) => Err(server_error(error)),
        }
    }
}

/// A form that carries the session's form token.
trait Csrf {
    fn csrf(&self) -> &str;
}

/// A POST by a signed-in operator whose form carries the session's token; otherwise refused
/// (403) before anything is done.
pub(super) struct Action<T> {
    operator: Operator,
    form: T,
}

impl<T> FromRequest<App> for Action<T>
where
    T: Csrf + serde::de::DeserializeOwned + Send,
{
    type Rejection = Response;

    async fn from_request(request: Request, app: &App) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let operator = Operator::from_request_parts(&mut parts, app).await?;
        let refused = || {
            let page = pages::problem(
                Some(&operator.session),
                "Refused",
                "This form is out of date or was not sent by the dashboard: reload the page and try again.",
                "/",
            );
            (StatusCode::FORBIDDEN, page).into_response()
        };
        let request = Request::from_parts(parts, body);
        let Ok(Form(form)) = Form::<T>::from_request(request, app).await else {
            return Err(refused());
        };
        if !operators::same_token(form.csrf(), &operator.session.csrf) {
            tracing::warn!(operator = %operator.session.operator, "Dashboard POST refused: wrong form token");
            return Err(refused());
        }
        Ok(Action { operator, form })
    }
}

#[derive(Deserialize)]
struct CsrfOnly {
    csrf: String,
}

impl Csrf for CsrfOnly {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

async fn sign_in_page() -> Markup {
    pages::sign_in(None)
}

#[derive(Deserialize)]
struct SignInForm {
    name: String,
    password: String,
}

/// Whether a browser sent the form from another site (its `Origin` names another host than the
/// request's `Host`): a sign-in has no session yet, so no form token, and this keeps other sites
/// from signing a browser in to an account of theirs. The scheme is not compared, so that a
/// proxy terminating TLS in front of the dashboard keeps working.
fn from_elsewhere(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false; // not a browser's cross-site POST: browsers send it
    };
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, host)| host);
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    origin_host.is_none() || origin_host != host
}

async fn sign_in(
    State(app): State<App>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    if from_elsewhere(&headers) {
        let page = pages::sign_in(Some("This sign-in form was sent from another site."));
        return (StatusCode::FORBIDDEN, page).into_response();
    }
    let password = Secret::new(form.password);
    let address = client.ip().to_string();
    let name = form.name.trim();
    match operators::sign_in(&app.pool, name, password, &address).await {
        Ok(SignIn::Started(token, session)) => {
            if let Err(error) =
                audit::write(&app.pool, &session.operator, "sign in", None, &address).await
            {
                return server_error(error);
            }
            let secure = if app.tls { "; Secure" } else { "" };
            let cookie = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{secure}");
            ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
        }
        Ok(SignIn::Refused) => (
            StatusCode::UNAUTHORIZED,
            pages::sign_in(Some("Wrong operator name or password.")),
        )
            .into_response(),
        Ok(SignIn::Limited) => (
            StatusCode::TOO_MANY_REQUESTS,
            pages::sign_in(Some(
                "Too many failed sign-ins for this name or from this address: wait 15 minutes.",
            )),
        )
            .into_response(),
        Err(error) => server_error(error),
    }
}

async fn sign_out(State(app): State<App>, action: Action<CsrfOnly>) -> Response {
    let operator = &action.operator;
    if let Err(error) = operators::sign_out(&app.pool, &operator.token).await {
        return server_error(error);
    }
    if let Err(error) =
        audit::write(&app.pool, &operator.session.operator, "sign out", None, "").await
    {
        return server_error(error);
    }
    let expired = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    ([(header::SET_COOKIE, expired)], Redirect::to("/sign-in")).into_response()
}

/// What the last action did, as `?done=` names it: fixed texts, nothing echoed from the request.
#[derive(Deserialize)]
struct Done {
    done: Option<String>,
}

impl Done {
    fn notice(&self) -> Option<&'static str> {
        Some(match self.done.as_deref()? {
            "enabled" => "Scraping enabled: the next pass takes this tenant.",
            "disabled" => "Scraping disabled: passes leave this tenant alone.",
            "credentials" => "Credentials saved; a login block on the old ones is lifted.",
            "api-credentials" => "API credentials and road saved; the next pass uses them.",
            "retried" => "The failed calls are pending again, their attempts reset.",
            "unblocked" => "The login block is cleared: the next pass logs in.",
            _ => return None,
        })
    }
}

async fn tenants_page(operator: Operator, State(app): State<App>) -> Response {
    let settings = &app.settings;
    match data::tenant_lines(&app.pool, &settings.selectors_dir, settings.lookback_days).await {
        Ok(lines) => pages::tenants(&operator.session, &lines, None).into_response(),
        Err(error) => server_error(error),
    }
}

fn no_such_tenant(session: &Session, id: i64) -> Response {
    let page = pages::problem(
        Some(session),
        "No such tenant",
        &format!("There is no tenant {id}."),
        "/",
    );
    (StatusCode::NOT_FOUND, page).into_response()
}

async fn tenant_page(
    operator: Operator,
    State(app): State<App>,
    Path(id): Path<i64>,
    Query(done): Query<Done>,
) -> Response {
    let settings = &app.settings;
    let tenant = TenantId(id);
    let page = data::tenant_page(
        &app.pool,
        &settings.selectors_dir,
        settings.lookback_days,
        tenant,
    )
    .await;
    let page = match page {
        Ok(Some(page)) => page,
        Ok(None) => return no_such_tenant(&operator.session, id),
        Err(error) => return server_error(error),
    };
    let audit = match audit::for_tenant(&app.pool, tenant, 20).await {
        Ok(rows) => rows,
        Err(error) => return server_error(error),
    };
    let shot = screenshots::newest(&settings.artifacts_dir, tenant);
    pages::tenant(
        &operator.session,
        &page,
        shot.as_ref(),
        &audit,
        done.notice(),
    )
    .into_response()
}

/// The tenant's newest failure screenshot: found from the tenant's id alone.
async fn screenshot(_: Operator, State(app): State<App>, Path(id): Path<i64>) -> Response {
    let Some(shot) = screenshots::newest(&app.settings.artifacts_dir, TenantId(id)) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match tokio::fs::read(&shot.png).await {
        Ok(png) => ([(header::CONTENT_TYPE, "image/png")], png).into_response(),
        Err(error) => server_error(format!("reading {}: {error}", shot.png.display())),
    }
}

async fn tenant_name(app: &Dashboard, id: TenantId) -> Result<Option<String>, Response> {
    data::tenant_row(&app.pool, id)
        .await
        .map(|row| row.map(|row| row.name))
        .map_err(server_error)
}

async fn test_page(operator: Operator, State(app): State<App>, Path(id): Path<i64>) -> Response {
    let name = match tenant_name(&app, TenantId(id)).await {
        Ok(Some(name)) => name,
        Ok(None) => return no_such_tenant(&operator.session, id),
        Err(response) => return response,
    };
    let run = app.tests.get(TenantId(id));
    let page = pages::test_run(&operator.session, id, &name, run.as_ref());
    match run.is_some_and(|run| run.finished_at.is_none()) {
        // Reloads itself while the test runs; no script needed.
        true => ([(header::REFRESH, "2")], page).into_response(),
        false => page.into_response(),
    }
}

/// Writes the audit entry, then sends the operator back to the tenant's page with a notice.
async fn audited(
    app: &Dashboard,
    operator: &Operator,
    what: &str,
    tenant: TenantId,
    detail: &str,
    done: &str,
) -> Response {
    match audit::write(
        &app.pool,
        &operator.session.operator,
        what,
        Some(tenant),
        detail,
    )
    .await
    {
        Ok(()) => Redirect::to(&format!("/tenants/{tenant}?done={done}")).into_response(),
        Err(error) => server_error(error),
    }
}

async fn start_test(
    State(app): State<App>,
    Path(id): Path<i64>,
    action: Action<CsrfOnly>,
) -> Response {
    let tenant = TenantId(id);
    match tenant_name(&app, tenant).await {
        Ok(Some(_)) => {}
        Ok(None) => return no_such_tenant(&action.operator.session, id),
        Err(response) => return response,
    }
    let operator = &action.operator.session.operator;
    let started = app.tests.start(
        app.pool.clone(),
        app.settings.clone(),
        app.window,
        tenant,
        operator,
    );
    if started {
        if let Err(error) =
            audit::write(&app.pool, operator, "test connection", Some(tenant), "").await
        {
            return server_error(error);
        }
    }
    Redirect::to(&format!("/tenants/{id}/test")).into_response()
}

async fn set_active(app: &Dashboard, action: &Action<CsrfOnly>, id: i64, active: bool) -> Response {
    let tenant = TenantId(id);
    match admin::set_active(&app.pool, tenant, active).await {
        Ok(()) => {}
        Err(AdminError::Tenant(TenantError::NotFound(_))) => {
            return no_such_tenant(&action.operator.session, id)
        }
        Err(error) => return server_error(error),
    }
    let (what, done) = match active {
        true => ("enable", "enabled"),
        false => ("disable", "disabled"),
    };
    audited(app, &action.operator, what, tenant, "", done).await
}

async fn enable(State(app): State<App>, Path(id): Path<i64>, action: Action<CsrfOnly>) -> Response {
    set_active(&app, &action, id, true).await
}

async fn disable(
    State(app): State<App>,
    Path(id): Path<i64>,
    action: Action<CsrfOnly>,
) -> Response {
    set_active(&app, &action, id, false).await
}

#[derive(Deserialize)]
struct CredentialsForm {
    csrf: String,
    pbx_ip: String,
    pbx_port: String,
    pbx_username: String,
    /// Write-only: empty leaves the stored password as it is.
    pbx_password: String,
}

impl Csrf for CredentialsForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// The form's value when it is given and differs from the row's: a field left as it was is not
/// "changed", so a login block on unchanged credentials is not lifted by saving the form.
fn differs(new: &str, old: Option<&str>) -> Option<String> {
    let new = new.trim();
    (!new.is_empty() && Some(new) != old.map(str::trim)).then(|| new.to_string())
}

/// A port field: empty leaves the port as it is.
fn port_field(text: &str, old: Option<i32>) -> Result<Option<i32>, String> {
    let port = match text.trim() {
        "" => return Ok(None),
        text => text
            .parse::<i32>()
            .map_err(|_| format!("The port {text:?} is not a number from 1 to 65535."))?,
    };
    Ok((Some(port) != old).then_some(port))
}

/// A write-only password field: empty keeps the stored password.
fn new_password(field: String) -> Option<Secret<String>> {
    (!field.is_empty()).then(|| Secret::new(field))
}

/// The console credentials form's fields that differ from the row, checked, with a new password
/// sealed.
fn changed_fields(
    row: &data::TenantRow,
    form: CredentialsForm,
    cipher: &PasswordCipher,
) -> Result<Changes, String> {
    let fields = TenantArgs {
        pbx_ip: differs(&form.pbx_ip, row.pbx_ip.as_deref()),
        pbx_port: port_field(&form.pbx_port, row.pbx_port)?,
        pbx_username: differs(&form.pbx_username, row.pbx_username.as_deref()),
        ..TenantArgs::default()
    };
    let password = new_password(form.pbx_password);
    Changes::check(&fields, password, cipher).map_err(|error| error.to_string())
}

/// Saves the changes `check` makes of the form through `tenant update`'s code, audits them as
/// `what` and goes back to the tenant's page with the notice `done`.
async fn save(
    app: &Dashboard,
    id: i64,
    operator: &Operator,
    (what, done): (&str, &str),
    check: impl FnOnce(&data::TenantRow, &PasswordCipher) -> Result<Changes, String>,
) -> Response {
    let tenant = TenantId(id);
    let session = &operator.session;
    let back = format!("/tenants/{id}");
    let row = match data::tenant_row(&app.pool, tenant).await {
        Ok(Some(row)) => row,
        Ok(None) => return no_such_tenant(session, id),
        Err(error) => return server_error(error),
    };
    let refused = |message: &str| {
        let page = pages::problem(Some(session), "Credentials not saved", message, &back);
        (StatusCode::BAD_REQUEST, page).into_response()
    };
    let cipher = app.settings.password_cipher();
    let changes = match check(&row, &cipher) {
        Ok(changes) => changes,
        Err(message) => return refused(&message),
    };
    let detail = format!("changed: {}", changes.columns().join(", "));
    match admin::update(&app.pool, &cipher, tenant, &changes).await {
        Ok(()) => {}
        Err(AdminError::NothingToUpdate) => return refused("Nothing changed."),
        Err(error) => return server_error(error),
    }
    audited(app, operator, what, tenant, &detail, done).await
}

async fn credentials(
    State(app): State<App>,
    Path(id): Path<i64>,
    action: Action<CredentialsForm>,
) -> Response {
    let form = action.form;
    let audit = ("update credentials", "credentials");
    save(&app, id, &action.operator, audit, |row, cipher| {
        changed_fields(row, form, cipher)
    })
    .await
}

#[derive(Deserialize)]
struct ApiCredentialsForm {
    csrf: String,
    api_username: String,
    /// Write-only: empty leaves the stored API password as it is.
    api_password: String,
    /// Empty: the API port is left as it is.
    api_port: String,
    /// The road: `auto`, `browser` or `api`.
    driver: String,
}

impl Csrf for ApiCredentialsForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// The API credentials form's fields that differ from the row, checked as `tenant update
/// --api-username --api-password-stdin --api-port --driver` checks them.
fn changed_api_fields(
    row: &data::TenantRow,
    form: ApiCredentialsForm,
    cipher: &PasswordCipher,
) -> Result<Changes, String> {
    let fields = TenantArgs {
        api_username: differs(&form.api_username, row.api_username.as_deref()),
        api_port: port_field(&form.api_port, row.api_port)?,
        driver: road_field(&form.driver, &row.driver)?,
        ..TenantArgs::default()
    };
    let password = new_password(form.api_password);
    Changes::check(&fields, None, cipher)
        .and_then(|changes| changes.with_api_password(password, cipher))
        .map_err(|error| error.to_string())
}

/// The road field: one of `--driver`'s values; the row's own leaves it as it is.
fn road_field(text: &str, old: &str) -> Result<Option<DriverChoice>, String> {
    let road = DriverChoice::from_str(text.trim(), false)
        .map_err(|_| format!("The road {text:?} is not one of auto, browser, api."))?;
    Ok((road.as_str() != old).then_some(road))
}

async fn api_credentials(
    State(app): State<App>,
    Path(id): Path<i64>,
    action: Action<ApiCredentialsForm>,
) -> Response {
    let form = action.form;
    let audit = ("update API credentials", "api-credentials");
    save(&app, id, &action.operator, audit, |row, cipher| {
        changed_api_fields(row, form, cipher)
    })
    .await
}

async fn retry_failed(
    State(app): State<App>,
    Path(id): Path<i64>,
    action: Action<CsrfOnly>,
) -> Response {
    let tenant = TenantId(id);
    let retried = sqlx::query(
        "UPDATE cdr_records SET recording_status = 'pending', recording_attempts = 0, \
                recording_error = NULL, recording_lease_until = NULL \
         WHERE tenant_id = $1 AND recording_status = 'failed' \
           AND btrim(coalesce(recordfiles, ''), '@ ') <> '' \
           AND coalesce(recording_local_path, '') = '' \
           AND call_date >= (now() AT TIME ZONE 'UTC') - make_interval(days => $2)",
    )
    .bind(tenant.0)
    .bind(i32::try_from(app.settings.lookback_days).unwrap_or(i32::MAX))
    .execute(&app.pool)
    .await;
    let count = match retried {
        Ok(done) => done.rows_affected(),
        Err(error) => return server_error(error),
    };
    let detail = format!("{count} call(s) back to pending");
    audited(
        &app,
        &action.operator,
        "retry failed calls",
        tenant,
        &detail,
        "retried",
    )
    .await
}

async fn clear_block(
    State(app): State<App>,
    Path(id): Path<i64>,
    action: Action<CsrfOnly>,
) -> Response {
    let tenant = TenantId(id);
    let cleared = sqlx::query(
        "UPDATE tenants SET ucm_login_failures = 0, ucm_blocked_until = NULL, \
                ucm_blocked_credentials = NULL WHERE id = $1",
    )
    .bind(tenant.0)
    .execute(&app.pool)
    .await;
    match cleared {
        Ok(done) if done.rows_affected() == 0 => no_such_tenant(&action.operator.session, id),
        Ok(_) => {
            audited(
                &app,
                &action.operator,
                "clear login block",
                tenant,
                "",
                "unblocked",
            )
            .await
        }
        Err(error) => server_error(error),
    }
}
