//! Operator accounts, their sign-in and their sessions (docs/dashboard.md: Operators).
//!
//! Passwords are kept as Argon2id hashes (PHC strings). A session is a random token in a cookie;
//! the database keeps only its SHA-256, beside the session's own form token (CSRF) and when it
//! was last used: a session unused for `DASHBOARD_SESSION_IDLE` is gone. Failed sign-ins are
//! counted per account name and per client address; past the limit, a sign-in is refused before
//! the password is even checked.

use std::sync::OnceLock;
use std::time::Duration;

use argon2::{Argon2, PasswordHasher as _, PasswordVerifier as _};
use sha2::{Digest as _, Sha256};
use sqlx::PgPool;

use crate::secrets::Secret;

/// Failed sign-ins of one account name within [`FAILURE_WINDOW`] before it is refused.
pub const ACCOUNT_FAILURES: i64 = 5;
/// Failed sign-ins from one address within [`FAILURE_WINDOW`] (any names) before it is refused.
pub const ADDRESS_FAILURES: i64 = 20;
/// How far back failed sign-ins count.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error("Postgres failed while {op} (dashboard tables): {error}; check DATABASE_URL and that `ucm-scraper migrate` ran")]
    Db {
        op: &'static str,
        error: sqlx::Error,
    },
    #[error("hashing the operator's password failed: {0}")]
    Hash(String),
    #[error(
        "the operator name {0:?} is not usable: use 1 to 64 letters, digits, '.', '_', '-' or '@'"
    )]
    BadName(String),
    #[error("the password is too short: an operator's password has at least 12 characters")]
    ShortPassword,
}

fn db(op: &'static str) -> impl FnOnce(sqlx::Error) -> OperatorError {
    move |error| OperatorError::Db { op, error }
}

/// Shortest operator password accepted.
const MIN_PASSWORD_CHARS: usize = 12;

/// The dashboard's sessions expire after this long unused.
#[derive(Debug, Clone, Copy)]
pub struct IdleLimit(pub Duration);

/// A signed-in operator, as a request sees it.
#[derive(Debug, Clone)]
pub struct Session {
    pub operator: String,
    /// Every POST of this session must carry it.
    pub csrf: String,
}

/// How a sign-in ended.
pub enum SignIn {
    /// The cookie's token and the session.
    Started(String, Session),
    /// Unknown name or wrong password (the page says not which).
    Refused,
    /// Too many failures for this name or from this address lately.
    Limited,
}

/// Whether `operator add` made a new account or changed an existing one's password.
#[derive(Debug, PartialEq, Eq)]
pub enum Added {
    New,
    PasswordChanged,
}

fn check_name(name: &str) -> Result<(), OperatorError> {
    let ok = (1..=64).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    match ok {
        true => Ok(()),
        false => Err(OperatorError::BadName(name.to_string())),
    }
}

/// Adds the operator, or sets a new password for an existing one (whose sessions then end).
pub async fn add(
    pool: &PgPool,
    name: &str,
    password: &Secret<String>,
) -> Result<Added, OperatorError> {
    check_name(name)?;
    if password.expose().chars().count() < MIN_PASSWORD_CHARS {
        return Err(OperatorError::ShortPassword);
    }
    let hash = hash(password.clone()).await?;
    let op = "adding an operator";
    let mut tx = pool.begin().await.map_err(db(op))?;
    let existed: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM dashboard_operators WHERE name = $1)")
            .bind(name)
            .fetch_one(&mut *tx)
            .await
            .map_err(db(op))?;
    sqlx::query(
        "INSERT INTO dashboard_operators (name, password_hash) VALUES ($1, $2) \
         ON CONFLICT (name) DO UPDATE SET password_hash = EXCLUDED.password_hash",
    )
    .bind(name)
    .bind(&hash)
    .execute(&mut *tx)
    .await
    .map_err(db(op))?;
    sqlx::query("DELETE FROM dashboard_sessions WHERE operator = $1")
        .bind(name)
        .execute(&mut *tx)
        .await
        .map_err(db(op))?;
    tx.commit().await.map_err(db(op))?;
    Ok(match existed {
        true => Added::PasswordChanged,
        false => Added::New,
    })
}

/// Removes the operator and ends their sessions; false when there was none.
pub async fn remove(pool: &PgPool, name: &str) -> Result<bool, OperatorError> {
    let done = sqlx::query("DELETE FROM dashboard_operators WHERE name = $1")
        .bind(name)
        .execute(pool)
        .await
        .map_err(db("removing an operator"))?;
    Ok(done.rows_affected() > 0)
}

/// Argon2id with the crate's default parameters, off the async threads (it is slow on purpose).
async fn hash(password: Secret<String>) -> Result<String, OperatorError> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.expose().as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|e| OperatorError::Hash(e.to_string()))
    })
    .await
    .map_err(|e| OperatorError::Hash(e.to_string()))?
}

/// Whether `password` matches `hash`. An unknown name is checked against a hash of nothing in
/// particular, so that it takes as long as a known one and the answer tells no names.
async fn verify(password: Secret<String>, hash: Option<String>) -> bool {
    static DECOY: OnceLock<String> = OnceLock::new();
    let known = hash.is_some();
    let hash = match hash {
        Some(hash) => hash,
        None => DECOY
            .get_or_init(|| {
                Argon2::default()
                    .hash_password(b"no operator has this password")
                    .map(|h| h.to_string())
                    .unwrap_or_default()
            })
            .clone(),
    };
    let matched = tokio::task::spawn_blocking(move || {
        Argon2::default()
            .verify_password(password.expose().as_bytes(), hash.as_str())
            .is_ok()
    })
    .await
    .unwrap_or(false);
    known && matched
}

/// Signs `name` in from `address`, within the failure limits.
pub async fn sign_in(
    pool: &PgPool,
    name: &str,
    password: Secret<String>,
    address: &str,
) -> Result<SignIn, OperatorError> {
    let op = "signing an operator in";
    let (by_name, by_address): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE operator = $1), count(*) FILTER (WHERE address = $2) \
         FROM dashboard_sign_in_failures WHERE at > now() - make_interval(secs => $3)",
    )
    .bind(name)
    .bind(address)
    .bind(FAILURE_WINDOW.as_secs_f64())
    .fetch_one(pool)
    .await
    .map_err(db(op))?;
    if by_name >= ACCOUNT_FAILURES || by_address >= ADDRESS_FAILURES {
        tracing::warn!(
            operator = name,
            address,
            "Dashboard sign-in refused: too many failed sign-ins lately"
        );
        return Ok(SignIn::Limited);
    }
    let hash: Option<String> =
        sqlx::query_scalar("SELECT password_hash FROM dashboard_operators WHERE name = $1")
            .bind(name)
            .fetch_optional(pool)
            .await
            .map_err(db(op))?;
    if !verify(password, hash).await {
        sqlx::query("INSERT INTO dashboard_sign_in_failures (operator, address) VALUES ($1, $2)")
            .bind(name)
            .bind(address)
            .execute(pool)
            .await
            .map_err(db(op))?;
        tracing::warn!(operator = name, address, "Dashboard sign-in failed");
        return Ok(SignIn::Refused);
    }
    sqlx::query("DELETE FROM dashboard_sign_in_failures WHERE operator = $1")
        .bind(name)
        .execute(pool)
        .await
        .map_err(db(op))?;
    let token = random_token();
    let session = Session {
        operator: name.to_string(),
        csrf: random_token(),
    };
    sqlx::query(
        "INSERT INTO dashboard_sessions (token_sha256, operator, csrf_token) VALUES ($1, $2, $3)",
    )
    .bind(token_digest(&token))
    .bind(name)
    .bind(&session.csrf)
    .execute(pool)
    .await
    .map_err(db(op))?;
    tracing::info!(
        operator = name,
        address,
        "Operator signed in to the dashboard"
    );
    Ok(SignIn::Started(token, session))
}

/// The session of `token` when it was used within `idle`; using it keeps it alive. Sessions
/// idle longer are removed on the way.
pub async fn session(
    pool: &PgPool,
    token: &str,
    idle: IdleLimit,
) -> Result<Option<Session>, OperatorError> {
    let op = "reading a dashboard session";
    let idle = idle.0.as_secs_f64();
    sqlx::query(
        "DELETE FROM dashboard_sessions WHERE last_seen_at <= now() - make_interval(secs => $1)",
    )
    .bind(idle)
    .execute(pool)
    .await
    .map_err(db(op))?;
    let found: Option<(String, String)> = sqlx::query_as(
        "UPDATE dashboard_sessions SET last_seen_at = now() \
         WHERE token_sha256 = $1 AND last_seen_at > now() - make_interval(secs => $2) \
         RETURNING operator, csrf_token",
    )
    .bind(token_digest(token))
    .bind(idle)
    .fetch_optional(pool)
    .await
    .map_err(db(op))?;
    Ok(found.map(|(operator, csrf)| Session { operator, csrf }))
}

/// Ends the session of `token`.
pub async fn sign_out(pool: &PgPool, token: &str) -> Result<(), OperatorError> {
    sqlx::query("DELETE FROM dashboard_sessions WHERE token_sha256 = $1")
        .bind(token_digest(token))
        .execute(pool)
        .await
        .map_err(db("signing an operator out"))?;
    Ok(())
}

/// 32 random bytes, hex.
fn random_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Compares two tokens in time independent of where they differ.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |diff, (x, y)| diff | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_plain() {
        assert!(check_name("ops.alice@acme").is_ok());
        for bad in ["", "a b", "<img>", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd"));
        assert!(!same_token("abc", "ab"));
        assert!(!same_token("", "a"));
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let hash = hash(Secret::new("correct horse battery".to_string()))
            .await
            .unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(
            verify(
                Secret::new("correct horse battery".into()),
                Some(hash.clone())
            )
            .await
        );
        assert!(!verify(Secret::new("wrong horse battery".into()), Some(hash)).await);
        assert!(!verify(Secret::new("anything".into()), None).await);
    }
}
