//! What backup, restore and `guichet check` ask of the database: a consistent copy, the files
//! it references, its own integrity.

use rusqlite::params;

use super::*;

/// The files a database references: attachments by SHA-256, quarantined mail by content hash.
#[derive(Debug, Clone, Default)]
pub struct ReferencedFiles {
    pub attachments: Vec<String>,
    pub quarantine: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoreCounts {
    pub tickets: u64,
    pub messages: u64,
    pub attachments: u64,
    pub quarantine: u64,
}

impl Store {
    /// A consistent copy of the database at one instant, into a new file (`VACUUM INTO`): it
    /// reads one snapshot while other processes keep writing.
    pub fn copy_into(&self, path: &Path) -> StoreResult<()> {
        let path = path
            .to_str()
            .ok_or_else(|| StoreError::Io(format!("{}: not a UTF-8 path", path.display())))?;
        self.conn.execute("VACUUM INTO ?1", [path])?;
        Ok(())
    }

    pub fn schema_version_now(&self) -> StoreResult<usize> {
        self.schema_version()
    }

    /// Quarantine rows name their file by absolute path: after a restore, the new place.
    pub fn relocate_quarantine(&mut self, path_of: &dyn Fn(&str) -> String) -> StoreResult<()> {
        let tx = self.write()?;
        let rows: Vec<(i64, String)> = tx
            .prepare("SELECT id, content_hash FROM quarantine")?
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<Result<_, _>>()?;
        for (id, hash) in rows {
            tx.execute(
                "UPDATE quarantine SET path = ?2 WHERE id = ?1",
                params![id, path_of(&hash)],
            )?;
        }
        tx.commit()
    }
}

impl Reader<'_> {
    pub fn referenced_files(&self) -> StoreResult<ReferencedFiles> {
        let list = |sql: &str| -> StoreResult<Vec<String>> {
            Ok(self
                .conn
                .prepare(sql)?
                .query_map([], |row| row.get(0))?
                .collect::<Result<_, _>>()?)
        };
        Ok(ReferencedFiles {
            // Files of form submissions waiting for their confirmation are referenced too.
            attachments: list(
                "SELECT sha256 FROM attachments
                 UNION SELECT json_extract(value, '$[3]')
                   FROM web_submissions, json_each(web_submissions.attachments)
                 ORDER BY 1",
            )?,
            quarantine: list("SELECT content_hash FROM quarantine ORDER BY 1")?,
        })
    }

    /// What SQLite finds wrong with the database (`integrity_check`, `foreign_key_check`):
    /// empty when it is sound.
    pub fn integrity_problems(&self) -> StoreResult<Vec<String>> {
        let mut problems: Vec<String> = self
            .conn
            .prepare("PRAGMA integrity_check")?
            .query_map([], |row| row.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .filter(|line| line != "ok")
            .collect();
        let dangling = self
            .conn
            .prepare("PRAGMA foreign_key_check")?
            .query_map([], |row| {
                Ok(format!(
                    "table {} row {} points at a missing row of {}",
                    row.get::<_, String>(0)?,
                    row.get::<_, Option<i64>>(1)?
                        .map_or("?".to_string(), |id| id.to_string()),
                    row.get::<_, String>(2)?
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        problems.extend(dangling);
        Ok(problems)
    }

    pub fn counts(&self) -> StoreResult<StoreCounts> {
        let count = |table: &str| -> StoreResult<u64> {
            let n: i64 =
                self.conn
                    .query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
                        row.get(0)
                    })?;
            Ok(n as u64)
        };
        Ok(StoreCounts {
            tickets: count("tickets")?,
            messages: count("messages")?,
            attachments: count("attachments")?,
            quarantine: count("quarantine")?,
        })
    }
}
