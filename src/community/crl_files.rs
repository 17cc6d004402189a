//! Issue 10 item 3: CRLs configured by file path, re-read while serving when the file changes.
//!
//! A community record lists its CRL files (`CommunityRecord::crl_files`) with the PEM last read
//! from each and the file's stamp at that time (modification time and length). Every
//! `crl_file_poll_secs` the [`CrlFileWatcher`] compares each file's stamp with the stored one;
//! when it differs, it reads and parses the file and, if the CRL is valid and its content is
//! new, writes it into the stored record in one transaction. The community poller then builds
//! and serves the new set, on every instance sharing the store. A file that is missing or not a
//! CRL keeps the previous CRL in force; the problem is logged once (naming the file, the
//! community and what to do) and counted.
//!
//! Whether the CRL was signed by the community's CA is not checked here, as for any configured
//! CRL: validation checks each CRL's signature with the issuer's key when it uses it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use crate::pki::crl::ParsedCrl;
use crate::pki::pem::parse_blocks;
use crate::pki::MAX_CRL_BYTES;
use crate::store::{CrlFile, Store, StoreError};

/// Default of `crl_file_poll_secs`: a replaced CRL file is served within about this long, plus
/// the community poll (2 s).
pub const DEFAULT_CRL_FILE_POLL_SECS: u64 = 10;

/// Why a CRL file cannot be used; each message names the file and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum CrlFileError {
    #[error("cannot read CRL file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("CRL file {path} is not a regular file")]
    NotAFile { path: String },
    #[error("CRL file {path} is larger than {max_bytes} bytes")]
    TooLarge { path: String, max_bytes: u64 },
    #[error("CRL file {path} is not a CRL (PEM or DER): {detail}")]
    NotACrl { path: String, detail: String },
}

/// Reads and parses the CRL file at `path` (PEM with one or more `X509 CRL` blocks, or DER),
/// checking each CRL as the community build will. The result holds the absolute path, the
/// CRL(s) as PEM and the file's stamp (modification time in nanoseconds, length).
pub fn read_crl_file(path: &Path) -> Result<CrlFile, CrlFileError> {
    let shown = path.display().to_string();
    let absolute = std::path::absolute(path).map_err(|source| CrlFileError::Read {
        path: shown.clone(),
        source,
    })?;
    let shown = absolute.display().to_string();
    let read = |source| CrlFileError::Read {
        path: shown.clone(),
        source,
    };
    let meta = std::fs::metadata(&absolute).map_err(read)?;
    if !meta.is_file() {
        return Err(CrlFileError::NotAFile { path: shown });
    }
    if meta.len() > MAX_CRL_BYTES {
        return Err(CrlFileError::TooLarge {
            path: shown,
            max_bytes: MAX_CRL_BYTES,
        });
    }
    let bytes = std::fs::read(&absolute).map_err(read)?;
    let pem = crl_pem(&bytes).map_err(|detail| CrlFileError::NotACrl {
        path: shown.clone(),
        detail,
    })?;
    Ok(CrlFile {
        path: shown,
        pem,
        modified: modified_nanos(&meta),
        len: meta.len(),
    })
}

/// The CRL(s) in `bytes` as PEM, each parsed as the build will parse it.
fn crl_pem(bytes: &[u8]) -> Result<String, String> {
    let ders = if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        let text = std::str::from_utf8(bytes).map_err(|_| "PEM text is not UTF-8".to_string())?;
        let ders: Vec<Vec<u8>> = parse_blocks(text)?
            .into_iter()
            .filter(|b| b.label == "X509 CRL")
            .map(|b| b.der)
            .collect();
        if ders.is_empty() {
            return Err("the PEM holds no X509 CRL block".into());
        }
        ders
    } else {
        vec![bytes.to_vec()]
    };
    let mut pem = String::new();
    for der in ders {
        ParsedCrl::from_der(&der)?;
        let crl = openssl::x509::X509Crl::from_der(&der).map_err(|e| e.to_string())?;
        let text = crl.to_pem().map_err(|e| e.to_string())?;
        pem.push_str(&String::from_utf8_lossy(&text));
    }
    Ok(pem)
}

fn modified_nanos(meta: &std::fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_nanos()).ok())
        .unwrap_or(0)
}

/// A file's (modification time, length), compared with the stored entry's.
type Stamp = (i64, u64);

/// What the watcher remembers about one (community, file).
#[derive(Debug, Default)]
struct Seen {
    /// The stamp last judged (same content as stored, or a problem): not read again until it
    /// changes.
    stamp: Option<Stamp>,
    /// The problem last reported, so each distinct problem is logged and counted once.
    problem: Option<String>,
}

/// Counters the watcher keeps for `/metrics`.
#[derive(Debug, Default)]
pub struct CrlFileStats {
    /// Distinct problems found (a file missing, unreadable or not a CRL).
    pub errors: AtomicU64,
    /// CRL files whose new content was stored.
    pub updates: AtomicU64,
    /// CRL files with a problem now (their previous CRL stays in force).
    pub failing: AtomicU64,
}

/// What one pass found (tests).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PollReport {
    /// Files read and parsed in this pass.
    pub read: usize,
    /// Paths whose new CRL was stored.
    pub updated: Vec<String>,
    /// Problems reported for the first time in this pass.
    pub new_problems: Vec<String>,
}

/// The change detection, one pass at a time ([`CrlFileWatch::poll`]); [`CrlFileWatcher`] runs
/// it on a thread.
pub struct CrlFileWatch {
    seen: HashMap<(String, String), Seen>,
    stats: Arc<CrlFileStats>,
}

impl Default for CrlFileWatch {
    fn default() -> Self {
        Self::new(Arc::new(CrlFileStats::default()))
    }
}

impl CrlFileWatch {
    pub fn new(stats: Arc<CrlFileStats>) -> Self {
        CrlFileWatch {
            seen: HashMap::new(),
            stats,
        }
    }

    pub fn stats(&self) -> &Arc<CrlFileStats> {
        &self.stats
    }

    /// Checks every community's CRL files once; stores the new content of each changed, valid
    /// one (with `updated_at = now`).
    pub fn poll(&mut self, store: &Store, now: i64) -> Result<PollReport, StoreError> {
        let mut report = PollReport::default();
        let records = store.communities().list()?;
        let mut configured = std::collections::HashSet::new();
        for record in &records {
            for file in &record.crl_files {
                let key = (record.uri.clone(), file.path.clone());
                configured.insert(key.clone());
                self.check(store, &record.uri, file, key, now, &mut report);
            }
        }
        self.seen.retain(|key, _| configured.contains(key));
        let failing = self.seen.values().filter(|s| s.problem.is_some()).count();
        self.stats.failing.store(failing as u64, Ordering::Relaxed);
        Ok(report)
    }

    fn check(
        &mut self,
        store: &Store,
        uri: &str,
        file: &CrlFile,
        key: (String, String),
        now: i64,
        report: &mut PollReport,
    ) {
        let stamp = match std::fs::metadata(&file.path) {
            Ok(meta) => (modified_nanos(&meta), meta.len()),
            Err(source) => {
                let e = CrlFileError::Read {
                    path: file.path.clone(),
                    source,
                };
                self.problem(key, None, uri, &e, report);
                return;
            }
        };
        if stamp == (file.modified, file.len) {
            // What is stored is what is on disk.
            self.clear(&key, uri, &file.path);
            self.seen.remove(&key);
            return;
        }
        if self.seen.get(&key).and_then(|s| s.stamp) == Some(stamp) {
            return;
        }
        report.read += 1;
        let mut fresh = match read_crl_file(Path::new(&file.path)) {
            Ok(fresh) => fresh,
            Err(e) => {
                self.problem(key, Some(stamp), uri, &e, report);
                return;
            }
        };
        // The stored path names the entry, whatever normalisation reading applied.
        fresh.path = file.path.clone();
        self.clear(&key, uri, &file.path);
        if fresh.pem != file.pem {
            match store.communities().update_crl_file(uri, &fresh, now) {
                Ok(written) => {
                    if written {
                        self.stats.updates.fetch_add(1, Ordering::Relaxed);
                        report.updated.push(file.path.clone());
                        tracing::info!(community = %uri, file = %file.path, "CRL file changed; the new CRL is stored and will be served");
                    }
                }
                Err(e) => {
                    // Not remembered: the next pass tries again.
                    tracing::warn!(community = %uri, file = %file.path, error = %e, "cannot store the changed CRL file; will retry");
                    return;
                }
            }
        }
        self.seen.insert(
            key,
            Seen {
                stamp: Some(stamp),
                problem: None,
            },
        );
    }

    /// Reports `e` unless it is the problem already reported for this file.
    fn problem(
        &mut self,
        key: (String, String),
        stamp: Option<Stamp>,
        uri: &str,
        e: &CrlFileError,
        report: &mut PollReport,
    ) {
        let text = e.to_string();
        let seen = self.seen.entry(key).or_default();
        seen.stamp = stamp;
        if seen.problem.as_deref() == Some(text.as_str()) {
            return;
        }
        tracing::error!(community = %uri, error = %text, "the CRL file cannot be used; the CRL read from it before stays in force. Publish a valid CRL (PEM or DER) at that path, or change the community's CRL files");
        self.stats.errors.fetch_add(1, Ordering::Relaxed);
        report.new_problems.push(text.clone());
        seen.problem = Some(text);
    }

    fn clear(&mut self, key: &(String, String), uri: &str, path: &str) {
        if let Some(seen) = self.seen.get_mut(key) {
            if seen.problem.take().is_some() {
                tracing::info!(community = %uri, file = %path, "the CRL file is usable again");
            }
        }
    }
}

/// A thread running [`CrlFileWatch::poll`] every interval. Dropping it stops and joins the
/// thread (and so lets go of its store handle).
pub struct CrlFileWatcher {
    stop: Option<std::sync::mpsc::SyncSender<()>>,
    handle: Option<std::thread::JoinHandle<()>>,
    stats: Arc<CrlFileStats>,
}

impl CrlFileWatcher {
    pub fn spawn(store: Store, interval: Duration, clock: fn() -> i64) -> std::io::Result<Self> {
        let (stop, stop_rx) = std::sync::mpsc::sync_channel::<()>(0);
        let stats = Arc::new(CrlFileStats::default());
        let mut watch = CrlFileWatch::new(stats.clone());
        let interval = interval.max(Duration::from_secs(1));
        let handle = std::thread::Builder::new()
            .name("udap-crl-files".into())
            .spawn(move || {
                // Anything but a timeout (the sender dropped with the watcher) ends the thread.
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stop_rx.recv_timeout(interval)
                {
                    if let Err(e) = watch.poll(&store, clock()) {
                        tracing::warn!(error = %e, "cannot read the communities to check CRL files; will retry");
                    }
                }
            })?;
        Ok(CrlFileWatcher {
            stop: Some(stop),
            handle: Some(handle),
            stats,
        })
    }

    pub fn stats(&self) -> &CrlFileStats {
        &self.stats
    }
}

impl Drop for CrlFileWatcher {
    fn drop(&mut self) {
        self.stop = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::pki::testing::TestPki;
    use crate::store::CommunityRecord;

    const NOW: i64 = 1_800_000_000;
    const URI: &str = "urn:example:community";

    fn write(path: &Path, content: &[u8], mtime_secs: u64) {
        std::fs::write(path, content).unwrap();
        let f = std::fs::File::options().write(true).open(path).unwrap();
        f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(mtime_secs))
            .unwrap();
    }

    fn record(files: Vec<CrlFile>) -> CommunityRecord {
        CommunityRecord {
            uri: URI.into(),
            anchors_pem: vec![],
            intermediates_pem: vec![],
            crls_pem: vec![],
            signing_chain_pem: String::new(),
            signing_key_pem: String::new(),
            revocation: "fail-closed".into(),
            is_default: true,
            created_at: NOW,
            updated_at: NOW,
            settings: Default::default(),
            crl_files: files,
        }
    }

    fn der_of(pem: &str) -> Vec<u8> {
        openssl::x509::X509Crl::from_pem(pem.as_bytes())
            .unwrap()
            .to_der()
            .unwrap()
    }

    #[test]
    fn read_crl_file_takes_pem_or_der_and_names_the_file() {
        let pki = TestPki::new(NOW).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let pem_path = dir.path().join("a.pem");
        let der_path = dir.path().join("a.crl");
        write(&pem_path, pki.intermediate_crl_pem.as_bytes(), 1000);
        write(&der_path, &der_of(&pki.intermediate_crl_pem), 2000);
        let from_pem = read_crl_file(&pem_path).unwrap();
        let from_der = read_crl_file(&der_path).unwrap();
        assert_eq!(from_pem.pem, from_der.pem, "both stored as the same PEM");
        assert_eq!(from_pem.path, pem_path.display().to_string());
        assert_eq!(from_pem.modified, 1000 * 1_000_000_000);
        assert_eq!(from_der.len, der_of(&pki.intermediate_crl_pem).len() as u64);
        // Both CRLs of a two-block PEM file are kept.
        let both = dir.path().join("both.pem");
        write(
            &both,
            format!("{}{}", pki.root_crl_pem, pki.intermediate_crl_pem).as_bytes(),
            3000,
        );
        assert_eq!(
            read_crl_file(&both)
                .unwrap()
                .pem
                .matches("BEGIN X509 CRL")
                .count(),
            2
        );

        let junk = dir.path().join("junk.crl");
        write(&junk, b"not a CRL", 1000);
        let cert = dir.path().join("cert.pem");
        write(&cert, pki.root.cert_pem.as_bytes(), 1000);
        let missing = dir.path().join("missing.crl");
        let rows: Vec<(&Path, &str)> = vec![
            (&junk, "is not a CRL"),
            (&cert, "no X509 CRL block"),
            (&missing, "cannot read CRL file"),
            (dir.path(), "not a regular file"),
        ];
        for (path, want) in rows {
            let text = read_crl_file(path).unwrap_err().to_string();
            assert!(text.contains(want), "{text}");
            assert!(text.contains(&path.display().to_string()), "{text}");
        }
    }

    /// Issue 10 item 3: a changed CRL file is stored; an unchanged, touched, missing or broken
    /// one is not, and each distinct problem is reported once while the previous CRL stays.
    #[test]
    fn changed_crl_files_are_stored_and_problems_reported_once() {
        let pki = TestPki::new(NOW).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db").join("udap.redb")).unwrap();
        let path = dir.path().join("intermediate.crl");
        write(&path, pki.intermediate_crl_pem.as_bytes(), 1000);
        let first = read_crl_file(&path).unwrap();
        store
            .communities()
            .put(record(vec![first.clone()]))
            .unwrap();
        let stored = || store.communities().get(URI).unwrap().unwrap();
        let mut watch = CrlFileWatch::default();

        // Unchanged: not even read.
        assert_eq!(watch.poll(&store, NOW).unwrap(), PollReport::default());

        // Replaced by a CRL revoking a serial: stored, with its new stamp, at `now`.
        let revoking = pki.intermediate_crl(&["0badcafe".into()]).unwrap();
        write(&path, revoking.as_bytes(), 2000);
        let report = watch.poll(&store, NOW + 10).unwrap();
        assert_eq!(report.read, 1);
        assert_eq!(report.updated, vec![first.path.clone()]);
        let after = stored();
        assert_eq!(after.updated_at, NOW + 10);
        assert_eq!(
            after.crl_files[0].pem,
            crl_pem(revoking.as_bytes()).unwrap()
        );
        assert_eq!(after.crl_files[0].modified, 2000 * 1_000_000_000);
        assert_eq!(watch.poll(&store, NOW + 20).unwrap(), PollReport::default());

        // Touched, same content: read once, nothing written, not read again.
        write(&path, revoking.as_bytes(), 3000);
        let report = watch.poll(&store, NOW + 30).unwrap();
        assert_eq!((report.read, report.updated.len()), (1, 0));
        assert_eq!(watch.poll(&store, NOW + 40).unwrap(), PollReport::default());
        assert_eq!(stored().updated_at, NOW + 10);

        // Broken: reported once, the stored CRL stays.
        write(&path, b"garbage", 4000);
        let report = watch.poll(&store, NOW + 50).unwrap();
        assert_eq!(report.new_problems.len(), 1);
        assert!(report.new_problems[0].contains("is not a CRL"));
        assert!(watch
            .poll(&store, NOW + 60)
            .unwrap()
            .new_problems
            .is_empty());
        assert_eq!(stored().crl_files, after.crl_files);
        assert_eq!(watch.stats().failing.load(Ordering::Relaxed), 1);

        // Missing: a different problem, reported once.
        std::fs::remove_file(&path).unwrap();
        let report = watch.poll(&store, NOW + 70).unwrap();
        assert!(report.new_problems[0].contains("cannot read CRL file"));
        assert!(watch
            .poll(&store, NOW + 80)
            .unwrap()
            .new_problems
            .is_empty());
        assert_eq!(watch.stats().errors.load(Ordering::Relaxed), 2);
        assert_eq!(stored().crl_files, after.crl_files);

        // Back as stored: the problem clears, nothing is written.
        write(&path, revoking.as_bytes(), 2000);
        assert_eq!(watch.poll(&store, NOW + 90).unwrap(), PollReport::default());
        assert_eq!(watch.stats().failing.load(Ordering::Relaxed), 0);
        assert_eq!(stored().updated_at, NOW + 10);
        assert_eq!(watch.stats().updates.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn update_crl_file_writes_only_new_content_of_a_configured_entry() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("udap.redb")).unwrap();
        let entry = CrlFile {
            path: "/etc/udap/a.crl".into(),
            pem: "old".into(),
            modified: 1,
            len: 3,
        };
        store
            .communities()
            .put(record(vec![entry.clone()]))
            .unwrap();
        let c = store.communities();
        let new = CrlFile {
            pem: "new".into(),
            modified: 2,
            ..entry.clone()
        };
        assert!(!c.update_crl_file("urn:other", &new, NOW + 1).unwrap());
        let elsewhere = CrlFile {
            path: "/etc/udap/b.crl".into(),
            ..new.clone()
        };
        assert!(!c.update_crl_file(URI, &elsewhere, NOW + 1).unwrap());
        assert!(c.update_crl_file(URI, &new, NOW + 1).unwrap());
        assert!(
            !c.update_crl_file(URI, &new, NOW + 2).unwrap(),
            "same content"
        );
        let got = c.get(URI).unwrap().unwrap();
        assert_eq!(got.crl_files, vec![new]);
        assert_eq!(got.updated_at, NOW + 1);
    }
}
