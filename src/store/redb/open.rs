//! Opening the database file: directories, permissions, and redb's lock.

use std::fs::{File, OpenOptions};
use std::path::Path;

use redb::backends::FileBackend;
use redb::{Builder, Database, DatabaseError};

use crate::store::StoreError;

/// Open (creating if needed) the redb file at `path`, owner-only on unix.
pub(super) fn open_database(path: &Path) -> Result<Database, StoreError> {
    let io_err = |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_private_dir(parent).map_err(|source| StoreError::Io {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    let file = open_private_file(path).map_err(io_err)?;
    let backend = FileBackend::new(file).map_err(|e| map_open_error(path, e))?;
    Builder::new()
        .create_with_backend(backend)
        .map_err(|e| map_open_error(path, e))
}

fn map_open_error(path: &Path, e: DatabaseError) -> StoreError {
    match e {
        // Both mean another process holds the file: an exclusive writer, or one speaking another
        // generation of redb's lock protocol.
        DatabaseError::DatabaseAlreadyOpen | DatabaseError::LockProtocolMismatch => {
            StoreError::InUse {
                path: path.to_path_buf(),
            }
        }
        other => StoreError::from(other),
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

/// Create the file with mode 0600 from the start (no window where it is world-readable), and
/// tighten an existing file that is readable by others.
#[cfg(unix)]
fn open_private_file(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)?;
    let mode = file.metadata()?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        tracing::warn!(
            path = %path.display(),
            mode = format_args!("{mode:o}"),
            "database file was accessible to other users; restricting it to mode 600"
        );
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

#[cfg(not(unix))]
fn open_private_file(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}
