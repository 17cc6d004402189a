//! Unit tests for `store`, one file per concern, each against a fresh temporary directory.

mod community;
mod conformance;
mod jti;
mod open;
mod postgres;

use std::path::PathBuf;

use super::Store;

/// A temporary directory (deleted on drop) and the database path inside it.
pub(super) fn temp_db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data").join("udap.redb");
    (dir, path)
}

pub(crate) fn open_temp() -> (tempfile::TempDir, Store) {
    let (dir, path) = temp_db();
    let store = Store::open(&path).unwrap();
    (dir, store)
}
