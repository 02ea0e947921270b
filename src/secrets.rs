//! Secrets in memory and at rest.
//!
//! [`Secret`] keeps a value out of every log line and error message: its `Debug` and `Display`
//! print `***`. [`PasswordCipher`] seals and opens `tenants.pbx_password` in the two formats the
//! column holds (DESIGN.md §4): the existing backend's Fernet tokens and our own `v1:` AES-256-GCM.

use std::fmt;

/// A value that must never be printed. Read it with [`Secret::expose`], at the one place that
/// sends it somewhere (a login form, an HTTP header, a cipher).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Self(value)
    }

    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let secret = Secret::new("hunter2".to_string());
        assert_eq!(format!("{secret:?}"), "***");
        assert_eq!(format!("{secret}"), "***");
        assert_eq!(format!("{:?}", Some(&secret)), "Some(***)");
        assert_eq!(secret.expose(), "hunter2");
    }
}
