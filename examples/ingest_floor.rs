//! The floor of one delivery under an MTA: what any program must do to take one mail durably
//! into SQLite, and nothing else. Start, read the mail from stdin, open the database in WAL mode
//! with `synchronous=FULL`, insert the raw bytes, commit, exit. `bench/ingest.sh` runs it in the
//! same per-mail loop as Guichet and prints the ratio (issue 15).
//!
//!     cargo build --release --example ingest_floor
//!     target/release/examples/ingest_floor STORE.sqlite3 < mail.eml

use std::io::Read;

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: ingest_floor DATABASE < MAIL");
    let mut raw = Vec::new();
    std::io::stdin().read_to_end(&mut raw).expect("stdin");
    let conn = rusqlite::Connection::open(&path).expect("open");
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .expect("busy timeout");
    conn.pragma_update(None, "journal_mode", "wal")
        .expect("wal");
    conn.pragma_update(None, "synchronous", "full")
        .expect("synchronous");
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS mail (id INTEGER PRIMARY KEY, raw BLOB NOT NULL, at INTEGER NOT NULL)",
    )
    .expect("table");
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    conn.execute(
        "INSERT INTO mail (raw, at) VALUES (?1, ?2)",
        rusqlite::params![raw, at],
    )
    .expect("insert");
}
