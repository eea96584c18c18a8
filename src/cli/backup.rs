//! `guichet backup`, `restore` and `check`: the store and its files, copied consistently,
//! put back, verified.
//!
//! A backup directory holds `guichet.sqlite3` (one snapshot, `VACUUM INTO`), `attachments/` and
//! `quarantine/` laid out as in the state directory with exactly the files that snapshot
//! references, each verified against its hash, and `manifest.json`, written last.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};

use sha2::{Digest, Sha256};

use super::*;
use crate::adapters::blobs::BlobStore;
use crate::adapters::parse::content_hash;
use crate::adapters::store::StoreCounts;

const DATABASE: &str = "guichet.sqlite3";
const MANIFEST: &str = "manifest.json";
const MANIFEST_FORMAT: u32 = 1;

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Manifest {
    format: u32,
    guichet_version: String,
    created_at: i64,
    schema_version: usize,
    database: FileEntry,
    counts: StoreCounts,
    attachments: Vec<FileEntry>,
    quarantine: Vec<FileEntry>,
}

/// A file of the backup: its hash (SHA-256 for the database and attachments, the quarantine's
/// content hash for quarantined mail) and size.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct FileEntry {
    hash: String,
    bytes: u64,
}

/// Where each kind of file lives and how its name is checked.
#[derive(Clone, Copy)]
enum Kind {
    Attachment,
    Quarantined,
}

impl Kind {
    fn extension(self) -> &'static str {
        match self {
            Kind::Attachment => "",
            Kind::Quarantined => ".eml",
        }
    }

    fn hash(self, bytes: &[u8]) -> String {
        match self {
            Kind::Attachment => sha256(bytes),
            Kind::Quarantined => content_hash(bytes),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Attachment => "attachment",
            Kind::Quarantined => "quarantined mail",
        }
    }
}

pub(super) fn sha256(bytes: &[u8]) -> String {
    crate::core::hex(&Sha256::digest(bytes))
}

/// A file's SHA-256 and size, read in pieces (a database may be large).
fn file_entry(path: &Path) -> Result<FileEntry, CliError> {
    let mut file = std::fs::File::open(path).map_err(io(path))?;
    let mut hasher = Sha256::new();
    let bytes = std::io::copy(&mut file, &mut hasher).map_err(io(path))?;
    Ok(FileEntry {
        hash: crate::core::hex(&hasher.finalize()),
        bytes,
    })
}

/// The state directory's or a backup's two file stores.
struct Files {
    attachments: BlobStore,
    quarantine: BlobStore,
}

impl Files {
    fn under(dir: &Path) -> Files {
        Files {
            attachments: BlobStore::new(dir.join("attachments")),
            quarantine: BlobStore::new(dir.join("quarantine")),
        }
    }

    fn of(config: &Config) -> Files {
        Files {
            attachments: BlobStore::new(config.attachments_dir()),
            quarantine: BlobStore::new(config.quarantine_dir()),
        }
    }

    fn store(&self, kind: Kind) -> &BlobStore {
        match kind {
            Kind::Attachment => &self.attachments,
            Kind::Quarantined => &self.quarantine,
        }
    }

    /// The file named `hash`, read and checked against it.
    fn read_verified(&self, kind: Kind, hash: &str) -> Result<Vec<u8>, String> {
        let path = self.store(kind).path_of(hash, kind.extension());
        let bytes = std::fs::read(&path)
            .map_err(|e| format!("{} {hash}: {}: {e}", kind.name(), path.display()))?;
        let found = kind.hash(&bytes);
        if found != hash {
            return Err(format!(
                "{} {hash}: {} holds content hashing to {found}",
                kind.name(),
                path.display()
            ));
        }
        Ok(bytes)
    }
}

/// A directory to write into: created 0700, or existing and empty.
pub(super) fn empty_dir(dir: &Path) -> Result<(), CliError> {
    if dir.exists() {
        let mut entries = std::fs::read_dir(dir)
            .map_err(|e| CliError::Failure(format!("{}: {e}", dir.display())))?;
        if entries.next().is_some() {
            return Err(CliError::Failure(format!(
                "{} is not empty: give a new or empty directory",
                dir.display()
            )));
        }
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| CliError::Failure(format!("{}: {e}", dir.display())))
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> CliError + '_ {
    move |e| CliError::Failure(format!("{}: {e}", path.display()))
}

pub(super) fn backup(config: &Config, dir: &Path) -> Result<(), CliError> {
    let store = open_read_only(config)?;
    empty_dir(dir)?;
    let copy = dir.join(DATABASE);
    store.copy_into(&copy)?;
    drop(store);
    let snapshot = Store::open_read_only(&copy)?;
    let reader = snapshot.read();
    let referenced = reader.referenced_files()?;
    let counts = reader.counts()?;
    let schema_version = snapshot.schema_version_now()?;
    drop(snapshot);
    let source = Files::of(config);
    let target = Files::under(dir);
    let mut problems = Vec::new();
    let mut copy_all = |kind: Kind, hashes: &[String]| -> Result<Vec<FileEntry>, CliError> {
        let mut entries = Vec::new();
        for hash in hashes {
            match source.read_verified(kind, hash) {
                Ok(bytes) => {
                    target
                        .store(kind)
                        .put(hash, kind.extension(), &bytes, true)
                        .map_err(|e| CliError::Failure(e.to_string()))?;
                    entries.push(FileEntry {
                        hash: hash.clone(),
                        bytes: bytes.len() as u64,
                    });
                }
                Err(problem) => problems.push(problem),
            }
        }
        Ok(entries)
    };
    let attachments = copy_all(Kind::Attachment, &referenced.attachments)?;
    let quarantine = copy_all(Kind::Quarantined, &referenced.quarantine)?;
    if !problems.is_empty() {
        return Err(CliError::Failure(format!(
            "backup in {} is incomplete, no manifest written: {} referenced files are missing or \
             damaged in the state directory (see `guichet check`):\n  {}",
            dir.display(),
            problems.len(),
            problems.join("\n  ")
        )));
    }
    let manifest = Manifest {
        format: MANIFEST_FORMAT,
        guichet_version: env!("CARGO_PKG_VERSION").to_string(),
        created_at: system_now(),
        schema_version,
        database: file_entry(&copy)?,
        counts,
        attachments,
        quarantine,
    };
    write_manifest(dir, &manifest)?;
    println!(
        "backup in {}: {} tickets, {} messages, {} attachment files, {} quarantined mails",
        dir.display(),
        manifest.counts.tickets,
        manifest.counts.messages,
        manifest.attachments.len(),
        manifest.quarantine.len()
    );
    Ok(())
}

fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<(), CliError> {
    let path = dir.join(MANIFEST);
    let partial = dir.join(".manifest.json.partial");
    let text = serde_json::to_vec_pretty(manifest).map_err(|e| CliError::Software(e.into()))?;
    let file = std::fs::File::create(&partial).map_err(io(&partial))?;
    let mut writer = std::io::BufWriter::new(file);
    writer.write_all(&text).map_err(io(&partial))?;
    writer
        .into_inner()
        .map_err(|e| CliError::Failure(format!("{}: {e}", partial.display())))?
        .sync_all()
        .map_err(io(&partial))?;
    std::fs::rename(&partial, &path).map_err(io(&path))
}

/// The backup's manifest, with every file it lists checked against its hash.
fn verified_backup(dir: &Path) -> Result<Manifest, CliError> {
    let path = dir.join(MANIFEST);
    let text = std::fs::read(&path).map_err(|e| {
        CliError::NoInput(format!(
            "{}: {e}: not a complete Guichet backup",
            path.display()
        ))
    })?;
    let manifest: Manifest = serde_json::from_slice(&text)
        .map_err(|e| CliError::Failure(format!("{}: {e}", path.display())))?;
    if manifest.format != MANIFEST_FORMAT {
        return Err(CliError::Failure(format!(
            "{}: format {} is not one this Guichet reads ({MANIFEST_FORMAT})",
            path.display(),
            manifest.format
        )));
    }
    let database_path = dir.join(DATABASE);
    if file_entry(&database_path)?.hash != manifest.database.hash {
        return Err(CliError::Failure(format!(
            "{}: does not match the manifest's hash: the backup is damaged",
            database_path.display()
        )));
    }
    let files = Files::under(dir);
    for (kind, entries) in [
        (Kind::Attachment, &manifest.attachments),
        (Kind::Quarantined, &manifest.quarantine),
    ] {
        for entry in entries {
            files
                .read_verified(kind, &entry.hash)
                .map_err(|problem| CliError::Failure(format!("backup damaged: {problem}")))?;
        }
    }
    Ok(manifest)
}

pub(super) fn restore(config: &Config, dir: &Path, force: bool) -> Result<(), CliError> {
    let manifest = verified_backup(dir)?;
    crate::adapters::state_dir::prepare(&config.state_dir)
        .map_err(|e| CliError::Failure(e.to_string()))?;
    let target = config.database_path();
    if target.exists() {
        if let Some(pid) = running_daemon(config)? {
            return Err(CliError::Failure(format!(
                "the daemon is running (pid {pid}): stop it first (systemctl stop guichet), then \
                 restore"
            )));
        }
    }
    let occupied = std::fs::read_dir(&config.state_dir)
        .map_err(io(&config.state_dir))?
        .next()
        .is_some();
    if occupied && !force {
        return Err(CliError::Failure(format!(
            "state directory {} is not empty: restoring would replace its store and files; \
             run again with --force to do so",
            config.state_dir.display()
        )));
    }
    if occupied {
        for name in [DATABASE, "guichet.sqlite3-wal", "guichet.sqlite3-shm"] {
            let path = config.state_dir.join(name);
            if path.exists() {
                std::fs::remove_file(&path).map_err(io(&path))?;
            }
        }
        for path in [config.attachments_dir(), config.quarantine_dir()] {
            if path.exists() {
                std::fs::remove_dir_all(&path).map_err(io(&path))?;
            }
        }
    }
    let source = Files::under(dir);
    let files = Files::of(config);
    for (kind, entries) in [
        (Kind::Attachment, &manifest.attachments),
        (Kind::Quarantined, &manifest.quarantine),
    ] {
        for entry in entries {
            let bytes = source
                .read_verified(kind, &entry.hash)
                .map_err(CliError::Failure)?;
            files
                .store(kind)
                .put(&entry.hash, kind.extension(), &bytes, true)
                .map_err(|e| CliError::Failure(e.to_string()))?;
        }
    }
    // The database last, under a temporary name then renamed: a store appears only complete,
    // with its files already there.
    let partial = config.state_dir.join(".guichet.sqlite3.restoring");
    std::fs::copy(dir.join(DATABASE), &partial).map_err(io(&partial))?;
    std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o600))
        .map_err(io(&partial))?;
    std::fs::File::open(&partial)
        .and_then(|f| f.sync_all())
        .map_err(io(&partial))?;
    std::fs::rename(&partial, &target).map_err(io(&target))?;
    let mut store = Store::open(&target)?;
    let quarantine = files.quarantine.clone();
    store.relocate_quarantine(&|hash| {
        quarantine
            .path_of(hash, Kind::Quarantined.extension())
            .to_string_lossy()
            .into_owned()
    })?;
    println!(
        "restored into {} the backup of {}: {} tickets, {} messages, {} attachment files, {} \
         quarantined mails",
        config.state_dir.display(),
        time(manifest.created_at),
        manifest.counts.tickets,
        manifest.counts.messages,
        manifest.attachments.len(),
        manifest.quarantine.len()
    );
    Ok(())
}

/// The daemon's pid when it is running on this state directory.
fn running_daemon(config: &Config) -> Result<Option<u32>, CliError> {
    let store = match Store::open_read_only(&config.database_path()) {
        Ok(store) => store,
        // A database this Guichet cannot read is no running daemon's: restore replaces it.
        Err(error) if !error.is_temporary() => return Ok(None),
        Err(error) => return Err(error.into()),
    };
    let daemon = store.read().daemon_state()?;
    Ok(daemon
        .filter(|d| super::status::daemon_running(d, system_now()))
        .map(|d| d.pid))
}

#[derive(Debug, Default, serde::Serialize)]
struct CheckReport {
    integrity: Vec<String>,
    missing: Vec<String>,
    damaged: Vec<String>,
    orphans: Vec<String>,
}

pub(super) fn check(config: &Config, json: bool) -> Result<(), CliError> {
    let store = open_read_only(config)?;
    let reader = store.read();
    let mut report = CheckReport {
        integrity: reader.integrity_problems()?,
        ..CheckReport::default()
    };
    let referenced = reader.referenced_files()?;
    drop(store);
    let files = Files::of(config);
    for (kind, hashes) in [
        (Kind::Attachment, &referenced.attachments),
        (Kind::Quarantined, &referenced.quarantine),
    ] {
        let blobs = files.store(kind);
        for hash in hashes {
            let path = blobs.path_of(hash, kind.extension());
            if !path.exists() {
                report
                    .missing
                    .push(format!("{} {hash}: {}", kind.name(), path.display()));
            } else if let Err(problem) = files.read_verified(kind, hash) {
                report.damaged.push(problem);
            }
        }
        let known: std::collections::HashSet<String> = hashes
            .iter()
            .map(|hash| format!("{hash}{}", kind.extension()))
            .collect();
        let on_disk = blobs.files().map_err(io(blobs.root()))?;
        report.orphans.extend(
            on_disk
                .into_iter()
                .filter(|(name, _)| !known.contains(name))
                .map(|(_, path)| path.display().to_string()),
        );
    }
    let damage = report.integrity.len() + report.missing.len() + report.damaged.len();
    if json {
        print_json(&report)?;
    } else {
        for (title, lines) in [
            ("database", &report.integrity),
            ("missing", &report.missing),
            ("damaged", &report.damaged),
            ("orphan", &report.orphans),
        ] {
            for line in lines {
                println!("{title}: {line}");
            }
        }
        println!(
            "{}: database {}, {} attachment files and {} quarantined mails referenced, {} missing, \
             {} damaged, {} orphan files",
            if damage == 0 { "sound" } else { "DAMAGED" },
            if report.integrity.is_empty() { "ok" } else { "damaged" },
            referenced.attachments.len(),
            referenced.quarantine.len(),
            report.missing.len(),
            report.damaged.len(),
            report.orphans.len()
        );
    }
    if damage > 0 {
        return Err(CliError::Failure(format!(
            "check found {damage} problems (restore from a backup, see README \"Backups\")"
        )));
    }
    Ok(())
}
