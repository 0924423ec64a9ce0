//! Client secrets: generated at random, shown once, stored only as an Argon2id hash.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::Rng;

const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~";

/// A new secret of 40 characters (about 240 bits), in the alphabet Entra ID's client secrets
/// use, so that tools which validate the shape of a secret accept it.
pub fn generate_secret() -> String {
    let mut rng = rand::rng();
    (0..40).map(|_| SECRET_ALPHABET[rng.random_range(0..SECRET_ALPHABET.len())] as char).collect()
}

/// The PHC string (`$argon2id$v=19$...`) of a secret, with a fresh salt.
pub fn hash_secret(secret: &str) -> Result<String, argon2::password_hash::Error> {
    let salt_bytes: [u8; 16] = rand::rng().random();
    let salt = SaltString::encode_b64(&salt_bytes)?;
    Argon2::default().hash_password(secret.as_bytes(), &salt).map(|hash| hash.to_string())
}

/// A hash no secret is checked against in earnest: verifying against it for an unknown client
/// takes as long as for a known one, so that timing does not tell which client ids exist.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_secret(&generate_secret()).unwrap_or_default())
}

/// Whether `secret` matches a stored hash. A malformed hash matches nothing.
pub fn verify_secret(secret: &str, stored_hash: &str) -> bool {
    PasswordHash::new(stored_hash)
        .is_ok_and(|parsed| Argon2::default().verify_password(secret.as_bytes(), &parsed).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_verifies_against_its_hash_only() {
        let secret = generate_secret();
        assert_eq!(secret.len(), 40);
        let hash = hash_secret(&secret).unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(!hash.contains(&secret));
        assert!(verify_secret(&secret, &hash));
        assert!(!verify_secret(&generate_secret(), &hash));
        assert!(!verify_secret(&secret, "not a hash"));
    }
}
