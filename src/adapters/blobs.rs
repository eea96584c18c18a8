//! Content-addressed files under the state directory: attachments and quarantined mail.

use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
}

impl BlobStore {
    pub fn new(root: impl Into<PathBuf>) -> BlobStore {
        BlobStore { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn path_of(&self, sha256: &str, extension: &str) -> PathBuf {
        let (fan, rest) = sha256.split_at(2.min(sha256.len()));
        self.root.join(fan).join(format!("{rest}{extension}"))
    }

    /// Writes `bytes` under their hash unless already there. Written to a temporary name, then
    /// renamed, so a crash never leaves a truncated file under a valid name; `durable` also flushes
    /// it to disk first (for files that are the only copy of something).
    pub fn put(
        &self,
        sha256: &str,
        extension: &str,
        bytes: &[u8],
        durable: bool,
    ) -> std::io::Result<PathBuf> {
        let path = self.path_of(sha256, extension);
        if path.exists() {
            return Ok(path);
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        let naming = |error: std::io::Error| {
            std::io::Error::new(error.kind(), format!("{}: {error}", dir.display()))
        };
        std::fs::create_dir_all(dir).map_err(naming)?;
        let mut temporary = tempfile_in(dir).map_err(naming)?;
        temporary.1.write_all(bytes).map_err(naming)?;
        if durable {
            temporary.1.sync_all().map_err(naming)?;
        }
        std::fs::rename(&temporary.0, &path).map_err(naming)?;
        Ok(path)
    }
}

impl BlobStore {
    /// Removes a file no row references any more; one already gone is not an error.
    pub fn remove(&self, sha256: &str, extension: &str) -> std::io::Result<()> {
        match std::fs::remove_file(self.path_of(sha256, extension)) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        }
    }

    /// Every file under the root, as (name as its hash and extension would give, path): what
    /// `guichet check` compares with the rows. Temporary files of a write under way are listed
    /// too, under their own name.
    pub fn files(&self) -> std::io::Result<Vec<(String, PathBuf)>> {
        let mut files = Vec::new();
        let fans = match std::fs::read_dir(&self.root) {
            Ok(fans) => fans,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(files),
            Err(error) => return Err(error),
        };
        for fan in fans {
            let fan = fan?;
            if !fan.file_type()?.is_dir() {
                files.push((fan.file_name().to_string_lossy().into_owned(), fan.path()));
                continue;
            }
            let prefix = fan.file_name().to_string_lossy().into_owned();
            for file in std::fs::read_dir(fan.path())? {
                let file = file?;
                let name = file.file_name().to_string_lossy().into_owned();
                files.push((format!("{prefix}{name}"), file.path()));
            }
        }
        files.sort();
        Ok(files)
    }
}

fn tempfile_in(dir: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    let unique = format!(
        ".tmp-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    let path = dir.join(unique);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)?;
    Ok((path, file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_is_idempotent_and_fans_out() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::new(dir.path());
        let first = blobs.put("abcdef", ".bin", b"hello", true).unwrap();
        let second = blobs.put("abcdef", ".bin", b"hello", true).unwrap();
        assert_eq!(first, second);
        assert_eq!(first, dir.path().join("ab").join("cdef.bin"));
        assert_eq!(std::fs::read(&first).unwrap(), b"hello");
        assert_eq!(std::fs::read_dir(dir.path().join("ab")).unwrap().count(), 1);
        assert_eq!(blobs.files().unwrap(), [("abcdef.bin".to_string(), first)]);
        blobs.remove("abcdef", ".bin").unwrap();
        blobs.remove("abcdef", ".bin").unwrap();
        assert!(blobs.files().unwrap().is_empty());
    }
}
