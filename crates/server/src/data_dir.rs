//! The data dir holds the token signing keys, playbook secrets and every record, so only the
//! account that runs Vigil may read it: the directory is 0700 and what Vigil writes in it 0600.

use std::path::{Path, PathBuf};

/// At most this many entries are checked, so that a start over a large local store stays quick.
const MAX_CHECKED_ENTRIES: usize = 20_000;

/// Makes what this process creates private to its user (umask 077, which covers the SQLite,
/// write-ahead-log and Parquet files that libraries create), creates the data dir private when
/// it is missing, and says what in an existing one other local users can reach: a warning for
/// the caller to show, since the operator may have reasons (a shared group) to keep it so.
pub fn prepare(data_dir: &Path) -> Result<Option<String>, String> {
    restrict_new_files();
    create_private(data_dir).map_err(|e| format!("cannot create the data dir {}: {e}", data_dir.display()))?;
    let exposed = exposed_paths(data_dir);
    Ok(exposed.first().map(|first| {
        format!(
            "the data dir {dir} holds token signing keys and secrets, but {count} of its paths can be read or \
             written by other local users (first: {first}); run `chmod -R go-rwx {dir}`",
            dir = data_dir.display(),
            count = if exposed.len() >= MAX_CHECKED_ENTRIES {
                format!("{}+", exposed.len())
            } else {
                exposed.len().to_string()
            },
            first = first.display(),
        )
    }))
}

#[cfg(unix)]
fn restrict_new_files() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
}

#[cfg(not(unix))]
fn restrict_new_files() {}

fn create_private(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// The data dir and the paths under it with any group or other permission bit, walking at most
/// `MAX_CHECKED_ENTRIES` entries and following no symbolic link.
#[cfg(unix)]
fn exposed_paths(data_dir: &Path) -> Vec<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let mut exposed = Vec::new();
    let mut pending = vec![data_dir.to_path_buf()];
    let mut checked = 0;
    while let Some(path) = pending.pop() {
        let Ok(metadata) = std::fs::symlink_metadata(&path) else { continue };
        checked += 1;
        if !metadata.file_type().is_symlink() && metadata.permissions().mode() & 0o077 != 0 {
            exposed.push(path.clone());
        }
        if metadata.is_dir()
            && let Ok(entries) = std::fs::read_dir(&path)
        {
            pending.extend(entries.flatten().map(|entry| entry.path()));
        }
        if checked >= MAX_CHECKED_ENTRIES {
            break;
        }
    }
    exposed
}

#[cfg(not(unix))]
fn exposed_paths(_data_dir: &Path) -> Vec<PathBuf> {
    Vec::new()
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_new_data_dir_is_private_and_an_open_one_is_reported() {
        let root = tempfile::tempdir().unwrap();
        let fresh = root.path().join("new").join("data");
        assert_eq!(prepare(&fresh).unwrap(), None);
        assert_eq!(std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777, 0o700);
        std::fs::write(fresh.join("control.db"), b"x").unwrap();
        assert_eq!(std::fs::metadata(fresh.join("control.db")).unwrap().permissions().mode() & 0o777, 0o600);

        let open = root.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(open.join("detection.db"), b"x").unwrap();
        std::fs::set_permissions(open.join("detection.db"), std::fs::Permissions::from_mode(0o644)).unwrap();
        let warning = prepare(&open).unwrap().expect("a warning");
        assert!(warning.contains("2 of its paths"), "{warning}");
        assert!(warning.contains("chmod -R go-rwx"), "{warning}");
    }
}
