//! Identifiers parsed once at the edge, so the core never re-checks strings.

use std::fmt;

/// `tenants.id`. Appears in storage keys as `tenant_<id>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct TenantId(pub i64);

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The UCM's call id (`cdr_records.uniqueid`, e.g. `1770395696.123`).
///
/// It becomes part of an object key and a file name, so only a safe alphabet is accepted:
/// ASCII letters, digits, `.`, `-`, `_`, not starting with `.`, at most 64 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct UniqueId(String);

#[derive(Debug, thiserror::Error)]
#[error("uniqueid {0:?} is not a UCM call id (expected e.g. 1770395696.123)")]
pub struct BadUniqueId(pub String);

impl UniqueId {
    pub fn parse(raw: &str) -> Result<Self, BadUniqueId> {
        let ok = !raw.is_empty()
            && raw.len() <= 64
            && !raw.starts_with('.')
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
        if ok {
            Ok(Self(raw.to_string()))
        } else {
            Err(BadUniqueId(raw.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UniqueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ucm_ids_and_refuses_path_tricks() {
        assert_eq!(
            UniqueId::parse("1770395696.123").unwrap().as_str(),
            "1770395696.123"
        );
        for bad in ["", "../etc", "a/b", ".hidden", "x y", "é", &"1".repeat(65)] {
            assert!(UniqueId::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
