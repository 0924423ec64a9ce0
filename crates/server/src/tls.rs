//! TLS with rustls (the ring provider): a certificate from files, or a self-signed one
//! generated into the data dir on first start for local use.

use std::path::{Path, PathBuf};

/// Paths of the self-signed certificate and key in a data dir, created when missing. The
/// certificate names localhost, 127.0.0.1, ::1 and the machine's host name.
pub fn self_signed(data_dir: &Path) -> Result<(PathBuf, PathBuf), String> {
    let dir = data_dir.join("tls");
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    if cert_path.exists() && key_path.exists() {
        return Ok((cert_path, key_path));
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
    if let Ok(host) = std::fs::read_to_string("/etc/hostname") {
        let host = host.trim();
        if !host.is_empty() && !names.iter().any(|n| n == host) {
            names.push(host.to_string());
        }
    }
    let certified =
        rcgen::generate_simple_self_signed(names).map_err(|e| format!("cannot generate a certificate: {e}"))?;
    write_private(&key_path, certified.signing_key.serialize_pem().as_bytes())?;
    std::fs::write(&cert_path, certified.cert.pem())
        .map_err(|e| format!("cannot write {}: {e}", cert_path.display()))?;
    Ok((cert_path, key_path))
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, data: &[u8]) -> Result<(), String> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    file.write_all(data).and_then(|_| file.sync_all()).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

pub fn write_secret_file(path: &Path, data: &[u8]) -> Result<(), String> {
    write_private(path, data)
}

pub async fn rustls_config(cert: &Path, key: &Path) -> Result<axum_server::tls_rustls::RustlsConfig, String> {
    // Installing fails only when a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
    axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
        .await
        .map_err(|e| format!("cannot load the TLS certificate {} and key {}: {e}", cert.display(), key.display()))
}
