//! Secrets at rest. The data dir's databases hold secrets that grant access elsewhere: the
//! keys Vigil signs tokens with, and playbooks' webhook URLs, signing secrets and SMTP
//! passwords. They are sealed with ChaCha20-Poly1305 under a key kept apart from the data dir
//! (a file beside it or named by the configuration, or an environment variable), so that a copy
//! of the data dir (a backup, a leaked volume, another local user) does not carry them.
//!
//! Sealed bytes start with a marker; what lacks it was written before sealing and is read as
//! it is, so that a data dir of an earlier release opens (its owner then seals it in place).

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

const MARKER: &[u8] = b"vigil-sealed-1:";
const TEXT_MARKER: &str = "sealed:1:";
const KEY_LEN: usize = 32;

/// Why a key could not be had, or a sealed value not opened.
#[derive(Debug)]
pub enum SealError {
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    BadKey {
        source: String,
    },
    /// Sealed with another key, or altered.
    Unopenable,
}

impl fmt::Display for SealError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SealError::Io { path, source } => write!(f, "secrets key {}: {source}", path.display()),
            SealError::BadKey { source } => {
                write!(f, "{source}: the secrets key is {KEY_LEN} random bytes, in base64")
            }
            SealError::Unopenable => f.write_str(
                "a sealed secret cannot be opened with this secrets key: it was sealed with another key (the key \
                 file or VIGIL_SECRETS_KEY of the server that wrote it), or it was altered",
            ),
        }
    }
}

impl std::error::Error for SealError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SealError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The key secrets are sealed with.
pub struct SealKey {
    key: LessSafeKey,
    /// For opening the same key again in another handle.
    raw: [u8; KEY_LEN],
}

impl Clone for SealKey {
    fn clone(&self) -> SealKey {
        SealKey::from_bytes(self.raw)
    }
}

impl fmt::Debug for SealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealKey(..)")
    }
}

impl SealKey {
    fn from_bytes(raw: [u8; KEY_LEN]) -> SealKey {
        // A 32-byte key is what ChaCha20-Poly1305 takes, so this cannot fail.
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, &raw).expect("a 32-byte ChaCha20-Poly1305 key");
        SealKey { key: LessSafeKey::new(unbound), raw }
    }

    /// A new random key, for a data dir that lives as long as this process (tests, `vigil demo`).
    pub fn generate() -> SealKey {
        let mut raw = [0u8; KEY_LEN];
        // The system's random source failing is not something to carry on from.
        SystemRandom::new().fill(&mut raw).expect("the system's random source");
        SealKey::from_bytes(raw)
    }

    /// The key in base64 text (`VIGIL_SECRETS_KEY`, or a key file's content).
    pub fn from_text(text: &str) -> Result<SealKey, SealError> {
        let bytes = STANDARD.decode(text.trim()).map_err(|e| SealError::BadKey { source: e.to_string() })?;
        let raw: [u8; KEY_LEN] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| SealError::BadKey { source: format!("{} bytes, not {KEY_LEN}", b.len()) })?;
        Ok(SealKey::from_bytes(raw))
    }

    pub fn to_text(&self) -> String {
        STANDARD.encode(self.raw)
    }

    /// The key in `path`, created (readable by its owner only) when there is none yet.
    pub fn load_or_create(path: &Path) -> Result<SealKey, SealError> {
        let failed = |source| SealError::Io { path: path.to_path_buf(), source };
        match std::fs::read_to_string(path) {
            Ok(text) => SealKey::from_text(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = SealKey::generate();
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(failed)?;
                }
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut file = options.open(path).map_err(failed)?;
                std::io::Write::write_all(&mut file, format!("{}\n", key.to_text()).as_bytes()).map_err(failed)?;
                file.sync_all().map_err(failed)?;
                Ok(key)
            }
            Err(e) => Err(failed(e)),
        }
    }

    pub fn seal(&self, plain: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).expect("the system's random source");
        let mut sealed = plain.to_vec();
        // Sealing in place cannot fail for inputs under ChaCha20's 256 GiB limit.
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(MARKER), &mut sealed)
            .expect("a secret under 256 GiB");
        [MARKER, &nonce, &sealed].concat()
    }

    /// The plain bytes of a sealed value; a value without the marker (written before sealing)
    /// as it is.
    pub fn open(&self, stored: &[u8]) -> Result<Vec<u8>, SealError> {
        let Some(rest) = stored.strip_prefix(MARKER) else {
            return Ok(stored.to_vec());
        };
        if rest.len() < NONCE_LEN {
            return Err(SealError::Unopenable);
        }
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Unopenable)?;
        let mut buffer = sealed.to_vec();
        let plain = self.key.open_in_place(nonce, Aad::from(MARKER), &mut buffer).map_err(|_| SealError::Unopenable)?;
        Ok(plain.to_vec())
    }

    pub fn is_sealed(stored: &[u8]) -> bool {
        stored.starts_with(MARKER) || stored.starts_with(TEXT_MARKER.as_bytes())
    }

    /// [`seal`](Self::seal) for a text column.
    pub fn seal_text(&self, plain: &str) -> String {
        format!("{TEXT_MARKER}{}", STANDARD.encode(self.seal(plain.as_bytes())))
    }

    /// [`open`](Self::open) for a text column.
    pub fn open_text(&self, stored: &str) -> Result<String, SealError> {
        let Some(encoded) = stored.strip_prefix(TEXT_MARKER) else {
            return Ok(stored.to_string());
        };
        let sealed = STANDARD.decode(encoded).map_err(|_| SealError::Unopenable)?;
        String::from_utf8(self.open(&sealed)?).map_err(|_| SealError::Unopenable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_with_their_key_only_and_old_values_read_as_they_are() {
        let key = SealKey::generate();
        let sealed = key.seal_text("hooks.slack.com/services/T0/B0/secret");
        assert!(!sealed.contains("secret"), "{sealed}");
        assert!(SealKey::is_sealed(sealed.as_bytes()));
        assert_eq!(key.open_text(&sealed).unwrap(), "hooks.slack.com/services/T0/B0/secret");
        assert_ne!(key.seal_text("x"), key.seal_text("x"), "every sealing has its own nonce");
        let other = SealKey::generate();
        assert!(matches!(other.open_text(&sealed), Err(SealError::Unopenable)));
        let mut altered = key.seal(b"pkcs8");
        *altered.last_mut().unwrap() ^= 1;
        assert!(matches!(key.open(&altered), Err(SealError::Unopenable)));
        assert_eq!(key.open_text("{\"plain\":true}").unwrap(), "{\"plain\":true}", "written before sealing");
        assert_eq!(key.open(b"plain").unwrap(), b"plain");
    }

    #[test]
    fn a_key_file_is_created_once_readable_by_its_owner_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/vigil-data.key");
        let created = SealKey::load_or_create(&path).unwrap();
        let again = SealKey::load_or_create(&path).unwrap();
        assert_eq!(created.to_text(), again.to_text());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        std::fs::write(&path, "c2hvcnQ=").unwrap();
        let error = SealKey::load_or_create(&path).unwrap_err();
        assert!(error.to_string().contains("5 bytes, not 32"), "{error}");
        assert!(SealKey::from_text("not base64!").is_err());
    }
}
