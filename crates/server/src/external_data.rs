//! Where `externaldata` reads documents: a mirror folder first (`mirror_dir/<host>/<path>`, for
//! deployments without the internet), then the internet over HTTPS, if the configuration allows.
//!
//! A query is the caller's text, so a fetch must not reach inside the network: the host's
//! addresses are resolved once, every one must be public (not loopback, private, link-local,
//! shared, multicast or a cloud metadata address) or on the operator's allow-list
//! (`vigil_outbound`), and the connection is made to exactly those addresses. Redirects are not followed; a document is at most `max_bytes`, fetched within
//! `timeout`.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use vigil_kql::ExternalData;
use vigil_outbound::OutboundPolicy;

/// What `externaldata` may read.
#[derive(Debug, Clone, PartialEq)]
pub struct ExternalDataConfig {
    /// Documents by URL, as `<dir>/<host>/<path>`, read before (or instead of) the internet.
    pub mirror_dir: Option<PathBuf>,
    /// Whether documents not mirrored are fetched from public addresses.
    pub internet: bool,
    pub max_bytes: usize,
    pub timeout: Duration,
}

impl Default for ExternalDataConfig {
    fn default() -> ExternalDataConfig {
        ExternalDataConfig { mirror_dir: None, internet: true, max_bytes: 64 << 20, timeout: Duration::from_secs(30) }
    }
}

#[derive(Debug)]
pub struct OutsideDocuments {
    config: ExternalDataConfig,
    outbound: OutboundPolicy,
}

impl OutsideDocuments {
    pub fn new(config: ExternalDataConfig, outbound: OutboundPolicy) -> OutsideDocuments {
        OutsideDocuments { config, outbound }
    }

    /// The mirror's copy of `url`, if the mirror has one.
    fn mirrored(&self, url: &url::Url) -> Result<Option<Vec<u8>>, String> {
        let Some(dir) = &self.config.mirror_dir else { return Ok(None) };
        let path = mirror_path(dir, url)?;
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_file() => {
                if meta.len() > self.config.max_bytes as u64 {
                    return Err(format!("the document is larger than {} bytes", self.config.max_bytes));
                }
                std::fs::read(&path).map(Some).map_err(|e| format!("cannot read the mirror's copy: {e}"))
            }
            _ => Ok(None),
        }
    }

    fn fetch(&self, url: &url::Url) -> Result<Vec<u8>, String> {
        let url = reqwest::Url::parse(url.as_str()).map_err(|e| e.to_string())?;
        let (outbound, timeout, max_bytes) = (self.outbound.clone(), self.config.timeout, self.config.max_bytes);
        let fetch = async move {
            let client = vigil_outbound::http_client(&outbound, &url, timeout).await?;
            let mut response = client.get(url).send().await.map_err(|e| e.without_url().to_string())?;
            if !response.status().is_success() {
                return Err(format!("the server answered {}", response.status()));
            }
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
                if body.len() + chunk.len() > max_bytes {
                    return Err(format!("the document is larger than {max_bytes} bytes"));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(body)
        };
        // The engine reads documents while a query runs, on a worker thread of the runtime.
        let handle = tokio::runtime::Handle::try_current().map_err(|_| "no runtime to fetch the document on")?;
        tokio::task::block_in_place(|| handle.block_on(fetch))
    }
}

impl ExternalData for OutsideDocuments {
    fn read(&self, uri: &str) -> Result<Vec<u8>, String> {
        let url = url::Url::parse(uri).map_err(|e| format!("not a URL: {e}"))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(format!("'{}' URLs are not read; use https", url.scheme()));
        }
        if let Some(document) = self.mirrored(&url)? {
            return Ok(document);
        }
        if !self.config.internet {
            return Err("it is not in the mirror folder, and this server reads nothing from the internet".into());
        }
        if url.scheme() != "https" {
            return Err("only https URLs are fetched from the internet".into());
        }
        self.fetch(&url)
    }
}

/// Where a mirror folder keeps the document at `url`: `<dir>/<host>/<path>`. A URL's path never
/// leaves the folder.
pub fn mirror_path(dir: &Path, url: &url::Url) -> Result<PathBuf, String> {
    let mut path = dir.join(url.host_str().unwrap_or_default());
    let decoded = percent_decode(url.path());
    for component in Path::new(decoded.trim_start_matches('/')).components() {
        match component {
            Component::Normal(part) => path.push(part),
            _ => return Err("the URL's path is not a plain path".into()),
        }
    }
    Ok(path)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(value) = text.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(value);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mirror_serves_by_host_and_path_and_never_outside_itself() {
        let dir = tempfile::tempdir().unwrap();
        let feed = dir.path().join("feeds.example.com/Sample Data");
        std::fs::create_dir_all(&feed).unwrap();
        std::fs::write(feed.join("iocs.csv"), "a,b\n").unwrap();
        let documents = OutsideDocuments::new(
            ExternalDataConfig {
                mirror_dir: Some(dir.path().to_path_buf()),
                internet: false,
                ..ExternalDataConfig::default()
            },
            OutboundPolicy::default(),
        );
        assert_eq!(documents.read("https://feeds.example.com/Sample%20Data/iocs.csv").unwrap(), b"a,b\n");
        assert!(documents.read("https://feeds.example.com/other.csv").unwrap_err().contains("not in the mirror"));
        assert!(documents.read("https://feeds.example.com/a/%2e%2e/%2e%2e/etc/passwd").is_err());
        assert!(documents.read("file:///etc/passwd").unwrap_err().contains("'file' URLs"));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_host_that_resolves_inside_is_not_fetched() {
        let documents = OutsideDocuments::new(ExternalDataConfig::default(), OutboundPolicy::default());
        let error = documents.read("https://localhost:9/x.csv").unwrap_err();
        assert!(error.contains("not a public address"), "{error}");
    }
}
