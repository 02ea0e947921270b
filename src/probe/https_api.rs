//! Whether a console answers Grandstream's HTTPS API (`POST /api`, JSON), asked read-only: one
//! `challenge` request, which the API documents as not being a login attempt. `tenant test`
//! reports it so operators learn which consoles could use the API (docs/console.md, "The HTTPS
//! API"); nothing else is sent.

use std::fmt;
use std::time::Duration;

use serde_json::{json, Value};
use url::Url;

use crate::ucm_api::transport_failure;

/// How long the API gets to answer; a console that does not serve it may simply not answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// What the console said to `{"request":{"action":"challenge",…}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiAnswer {
    /// `status: 0` with a challenge: the API is enabled for this user and this address.
    Answers,
    /// The API answered in its own JSON, with a non-zero status (-47: address not permitted…).
    Refuses { status: i64 },
    /// Something else answered: not JSON, or an HTTP error (the API is off or not served here).
    NotServed { http_status: u16 },
    /// No answer at all (connection refused, TLS, timeout).
    Unreachable { reason: String },
}

impl fmt::Display for ApiAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiAnswer::Answers => write!(
                f,
                "answers (a challenge was given; no login tried): this console could use the API"
            ),
            ApiAnswer::Refuses { status } => write!(
                f,
                "present but refuses this user or address (status {status}{}); enable it under \
                 API Configuration → HTTPS API Settings and permit this address",
                match status {
                    -47 => ": no permission",
                    -5 => ": authentication needed",
                    _ => "",
                }
            ),
            ApiAnswer::NotServed { http_status } => write!(
                f,
                "not served (HTTP {http_status} to POST /api): the API is off or not on this port"
            ),
            ApiAnswer::Unreachable { reason } => write!(f, "no answer ({reason})"),
        }
    }
}

/// Asks the console at `base_url` for an API challenge for `user`.
pub async fn ask_challenge(base_url: &Url, user: &str, accept_invalid_certs: bool) -> ApiAnswer {
    let unreachable = |e: reqwest::Error| ApiAnswer::Unreachable {
        reason: transport_failure(e),
    };
    let client = match reqwest::Client::builder()
        .danger_accept_invalid_certs(accept_invalid_certs)
        .timeout(ANSWER_TIMEOUT)
        .build()
    {
        Ok(client) => client,
        Err(e) => return unreachable(e),
    };
    let url = match base_url.join("api") {
        Ok(url) => url,
        Err(e) => {
            return ApiAnswer::Unreachable {
                reason: format!("no API address from {base_url}: {e}"),
            }
        }
    };
    let body = json!({ "request": { "action": "challenge", "user": user, "version": "1.0" } });
    let response = match client.post(url).json(&body).send().await {
        Ok(response) => response,
        Err(e) => return unreachable(e),
    };
    let http_status = response.status().as_u16();
    let answer: Option<Value> = response.json().await.ok();
    judge(http_status, answer.as_ref())
}

/// Reads the answer: only the API's own JSON shape (`status`, `response.challenge`) counts.
fn judge(http_status: u16, answer: Option<&Value>) -> ApiAnswer {
    let status = answer.and_then(|a| a.get("status")).and_then(Value::as_i64);
    let challenge = answer
        .and_then(|a| a.pointer("/response/challenge"))
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty());
    match (status, challenge) {
        (Some(0), Some(_)) => ApiAnswer::Answers,
        (Some(status), _) if status != 0 => ApiAnswer::Refuses { status },
        _ => ApiAnswer::NotServed { http_status },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_apis_own_answer_counts() {
        let given = json!({ "response": { "challenge": "0000001234567890" }, "status": 0 });
        assert_eq!(judge(200, Some(&given)), ApiAnswer::Answers);
        let refused = json!({ "response": {}, "status": -47 });
        assert_eq!(
            judge(200, Some(&refused)),
            ApiAnswer::Refuses { status: -47 }
        );
        assert!(ApiAnswer::Refuses { status: -47 }
            .to_string()
            .contains("no permission"));
        // The web app's own JSON error (status, no challenge) is a refusal too; a page is not.
        assert_eq!(judge(405, None), ApiAnswer::NotServed { http_status: 405 });
        let empty = json!({ "response": { "challenge": "" }, "status": 0 });
        assert_eq!(
            judge(200, Some(&empty)),
            ApiAnswer::NotServed { http_status: 200 }
        );
    }
}
