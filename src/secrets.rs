//! Secrets in memory and at rest.
//!
//! [`Secret`] keeps a value out of every log line and error message: its `Debug` and `Display`
//! print `***`. It holds the value in the `secrecy` crate's box, which wipes it from memory
//! (`zeroize`) when dropped. [`PasswordCipher`] seals and opens `tenants.pbx_password` in the two
//! formats the column holds (docs/database.md): the existing backend's Fernet tokens and our own
//! `v1:` AES-256-GCM.

use std::fmt;

use aes_gcm::aead::{Aead, Generate, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use secrecy::zeroize::Zeroize;
use secrecy::{ExposeSecret as _, SecretBox};

/// A value that must never be printed. Read it with [`Secret::expose`], at the one place that
/// sends it somewhere (a login form, an HTTP header, a cipher).
///
/// The project's name over `secrecy::SecretBox`: it prints `***` (the box prints its type name
/// and `[REDACTED]`), and clones and compares any value that can be wiped, where the box clones
/// only the types its crate marks.
pub struct Secret<T: Zeroize>(SecretBox<T>);

impl<T: Zeroize> Secret<T> {
    pub fn new(value: T) -> Self {
        Self(SecretBox::new(Box::new(value)))
    }

    pub fn expose(&self) -> &T {
        self.0.expose_secret()
    }
}

impl<T: Zeroize + Clone> Clone for Secret<T> {
    fn clone(&self) -> Self {
        // Wipes the intermediate copy too.
        Self(SecretBox::init_with(|| self.expose().clone()))
    }
}

impl<T: Zeroize + PartialEq> PartialEq for Secret<T> {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl<T: Zeroize + Eq> Eq for Secret<T> {}

impl<T: Zeroize> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

impl<T: Zeroize> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<T: Zeroize> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Which format the worker writes into `tenants.pbx_password` (`PBX_PASSWORD_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordFormat {
    /// `v1:` + base64(nonce ‖ AES-256-GCM ciphertext), keyed by `PBX_ENCRYPTION_KEY`.
    AesGcm,
    /// The Python backend's Fernet token, keyed by `ENCRYPTION_KEY`, so the backend keeps reading it.
    Fernet,
}

/// How a `pbx_password` value was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredFormat {
    /// The Python backend's Fernet token (`ENCRYPTION_KEY`).
    Fernet,
    /// Our `v1:` + base64(nonce ‖ AES-256-GCM ciphertext) (`PBX_ENCRYPTION_KEY`).
    AesGcmV1,
    /// Neither: a password an operator wrote with SQL. Usable, but to be sealed in place.
    Plaintext,
}

/// A decrypted `pbx_password` and the format it was stored in.
#[derive(Debug)]
pub struct OpenedPassword {
    pub password: Secret<String>,
    pub format: StoredFormat,
}

/// Why a `pbx_password` value could not be opened or sealed. Never contains the value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(
        "pbx_password is a Fernet token but ENCRYPTION_KEY is not set: set it to the backend's Fernet key"
    )]
    NoFernetKey,
    #[error(
        "pbx_password is a v1 (AES-256-GCM) value but PBX_ENCRYPTION_KEY is not set: set it to the key the value was sealed with"
    )]
    NoAesKey,
    #[error(
        "pbx_password is a Fernet token that does not decrypt with ENCRYPTION_KEY (wrong key, or a damaged value): \
         check ENCRYPTION_KEY is the backend's key, or set the password again with `ucm-scraper tenant update ID --pbx-password-stdin`"
    )]
    FernetUndecryptable,
    #[error(
        "pbx_password is a v1 (AES-256-GCM) value that does not decrypt with PBX_ENCRYPTION_KEY (wrong key, or a damaged value): \
         check PBX_ENCRYPTION_KEY, or set the password again with `ucm-scraper tenant update ID --pbx-password-stdin`"
    )]
    AesUndecryptable,
    #[error("pbx_password decrypts to bytes that are not UTF-8: set the password again with `ucm-scraper tenant update ID --pbx-password-stdin`")]
    NotUtf8,
    #[error(
        "cannot encrypt a password: PBX_PASSWORD_FORMAT={0} needs its key ({1}); set it, e.g. PBX_ENCRYPTION_KEY from `openssl rand -base64 32`"
    )]
    NoSealingKey(&'static str, &'static str),
}

/// Seals and opens `tenants.pbx_password` (docs/database.md).
///
/// Opens both formats the column holds, whichever keys are set, and seals in the format chosen by
/// `PBX_PASSWORD_FORMAT`, so the Python backend keeps reading the column when it must.
#[derive(Clone)]
pub struct PasswordCipher {
    aes: Option<Aes256Gcm>,
    fernet: Option<fernet::Fernet>,
    write: PasswordFormat,
}

/// Prefix of our own format; the version lets a later format live beside it.
const V1_PREFIX: &str = "v1:";
const NONCE_LEN: usize = 12;
/// Every Fernet token starts with the version byte 0x80 and a 64-bit timestamp whose high bytes
/// are zero for the next few thousand years: urlsafe base64 `gAAAAA`.
const FERNET_PREFIX: &str = "gAAAAA";

impl PasswordCipher {
    /// A cipher that writes `write` and opens whatever the given keys open. The Fernet key is
    /// expected checked already (the settings do that, naming `ENCRYPTION_KEY`); one that is not
    /// a Fernet key opens no Fernet token, which [`open`](Self::open) reports.
    pub fn new(
        write: PasswordFormat,
        aes_key: Option<&Secret<[u8; 32]>>,
        fernet_key: Option<&Secret<String>>,
    ) -> Self {
        Self {
            aes: aes_key.map(|key| Aes256Gcm::new(key.expose().into())),
            fernet: fernet_key.and_then(|key| fernet::Fernet::new(key.expose())),
            write,
        }
    }

    /// The format [`seal`](Self::seal) writes.
    pub fn write_format(&self) -> PasswordFormat {
        self.write
    }

    /// Decrypts a stored value. A value shaped like a token that does not decrypt is an error
    /// (wrong key or damage), never mistaken for a plaintext password.
    pub fn open(&self, stored: &str) -> Result<OpenedPassword, SecretError> {
        let format = StoredFormat::of(stored);
        let password = match format {
            StoredFormat::AesGcmV1 => {
                let aes = self.aes.as_ref().ok_or(SecretError::NoAesKey)?;
                let bytes = BASE64
                    .decode(stored[V1_PREFIX.len()..].trim())
                    .ok()
                    .filter(|b| b.len() > NONCE_LEN)
                    .ok_or(SecretError::AesUndecryptable)?;
                let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
                aes.decrypt(
                    &Nonce::try_from(nonce).expect("split at NONCE_LEN"),
                    ciphertext,
                )
                .map_err(|_| SecretError::AesUndecryptable)?
            }
            StoredFormat::Fernet => {
                let fernet = self.fernet.as_ref().ok_or(SecretError::NoFernetKey)?;
                fernet
                    .decrypt(stored.trim())
                    .map_err(|_| SecretError::FernetUndecryptable)?
            }
            StoredFormat::Plaintext => stored.as_bytes().to_vec(),
        };
        let password = String::from_utf8(password).map_err(|_| SecretError::NotUtf8)?;
        Ok(OpenedPassword {
            password: Secret::new(password),
            format,
        })
    }

    /// Encrypts a password in the configured format.
    pub fn seal(&self, plain: &Secret<String>) -> Result<String, SecretError> {
        let bytes = plain.expose().as_bytes();
        match self.write {
            PasswordFormat::Fernet => {
                let fernet = self
                    .fernet
                    .as_ref()
                    .ok_or(SecretError::NoSealingKey("fernet", "ENCRYPTION_KEY"))?;
                Ok(fernet.encrypt(bytes))
            }
            PasswordFormat::AesGcm => {
                let aes = self
                    .aes
                    .as_ref()
                    .ok_or(SecretError::NoSealingKey("aes-gcm", "PBX_ENCRYPTION_KEY"))?;
                let nonce = Nonce::generate();
                let ciphertext = aes.encrypt(&nonce, bytes).expect(
                    "AES-GCM encryption of a password cannot exceed the message size limit",
                );
                let mut sealed = nonce.to_vec();
                sealed.extend_from_slice(&ciphertext);
                Ok(format!("{V1_PREFIX}{}", BASE64.encode(sealed)))
            }
        }
    }
}

impl fmt::Debug for PasswordCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordCipher")
            .field("aes_key", &self.aes.as_ref().map(|_| "***"))
            .field("fernet_key", &self.fernet.as_ref().map(|_| "***"))
            .field("write", &self.write)
            .finish()
    }
}

impl StoredFormat {
    /// Which format a stored value is in, by its shape alone: our prefix, or a Fernet token's
    /// version and timestamp bytes in urlsafe base64; anything else is plaintext.
    pub fn of(stored: &str) -> Self {
        let trimmed = stored.trim();
        if stored.starts_with(V1_PREFIX) {
            StoredFormat::AesGcmV1
        } else if trimmed.starts_with(FERNET_PREFIX)
            && trimmed
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'='))
        {
            StoredFormat::Fernet
        } else {
            StoredFormat::Plaintext
        }
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

    const AES_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const FERNET_KEY: &str = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";
    const OTHER_FERNET_KEY: &str = "Gs1hWDhnmPHkTzbsWsZwWkmbP5xLQ5m6Q4SEvNZoDwQ=";

    /// A cipher writing `format`, with the AES and Fernet keys given (base64, as in the
    /// environment).
    fn cipher(format: PasswordFormat, aes: Option<&str>, fernet: Option<&str>) -> PasswordCipher {
        let aes = aes.map(|key| {
            let bytes: [u8; 32] = BASE64.decode(key).unwrap().try_into().unwrap();
            Secret::new(bytes)
        });
        let fernet = fernet.map(|key| Secret::new(key.to_string()));
        PasswordCipher::new(format, aes.as_ref(), fernet.as_ref())
    }

    fn both_keys(format: PasswordFormat) -> PasswordCipher {
        cipher(format, Some(AES_KEY), Some(FERNET_KEY))
    }

    #[test]
    fn each_format_opens_what_it_seals() {
        let password = Secret::new("s3cr3t ünïcode".to_string());
        for (format, stored) in [
            (PasswordFormat::AesGcm, StoredFormat::AesGcmV1),
            (PasswordFormat::Fernet, StoredFormat::Fernet),
        ] {
            let cipher = both_keys(format);
            let sealed = cipher.seal(&password).unwrap();
            assert!(!sealed.contains("s3cr3t"), "{sealed}");
            let opened = cipher.open(&sealed).unwrap();
            assert_eq!(opened.password, password);
            assert_eq!(opened.format, stored);
        }
        let sealed = both_keys(PasswordFormat::AesGcm).seal(&password).unwrap();
        assert!(sealed.starts_with("v1:"), "{sealed}");
        assert_ne!(
            sealed,
            both_keys(PasswordFormat::AesGcm).seal(&password).unwrap(),
            "a fresh nonce each time"
        );
    }

    #[test]
    fn anything_not_shaped_like_a_token_is_plaintext() {
        for plain in ["hunter2", "gAAAA", "gAAAAA with spaces", "v2:abc"] {
            let opened = both_keys(PasswordFormat::AesGcm).open(plain).unwrap();
            assert_eq!(opened.format, StoredFormat::Plaintext);
            assert_eq!(opened.password.expose(), plain);
        }
    }

    #[test]
    fn a_token_that_does_not_open_is_an_error_not_plaintext() {
        let fernet_token = both_keys(PasswordFormat::Fernet)
            .seal(&Secret::new("pw".into()))
            .unwrap();
        let v1 = both_keys(PasswordFormat::AesGcm)
            .seal(&Secret::new("pw".into()))
            .unwrap();
        let wrong_keys = cipher(
            PasswordFormat::AesGcm,
            Some("HxwbGhkYFxYVFBMSERAPDg0MCwoJCAcGBQQDAgEAAAA="),
            Some(OTHER_FERNET_KEY),
        );
        assert!(matches!(
            wrong_keys.open(&fernet_token),
            Err(SecretError::FernetUndecryptable)
        ));
        assert!(matches!(
            wrong_keys.open(&v1),
            Err(SecretError::AesUndecryptable)
        ));
        let damaged = format!("{}A", &v1[..v1.len() - 1]);
        assert!(matches!(
            both_keys(PasswordFormat::AesGcm).open(&damaged),
            Err(SecretError::AesUndecryptable)
        ));
        assert!(matches!(
            both_keys(PasswordFormat::AesGcm).open("v1:!!"),
            Err(SecretError::AesUndecryptable)
        ));
        let no_keys = cipher(PasswordFormat::AesGcm, None, None);
        assert!(matches!(
            no_keys.open(&fernet_token),
            Err(SecretError::NoFernetKey)
        ));
        assert!(matches!(no_keys.open(&v1), Err(SecretError::NoAesKey)));
        assert!(matches!(
            no_keys.seal(&Secret::new("pw".into())),
            Err(SecretError::NoSealingKey("aes-gcm", "PBX_ENCRYPTION_KEY"))
        ));
    }

    #[test]
    fn debug_of_the_cipher_shows_no_key() {
        let text = format!("{:?}", both_keys(PasswordFormat::Fernet));
        assert!(
            !text.contains(FERNET_KEY) && !text.contains(AES_KEY),
            "{text}"
        );
    }
}
