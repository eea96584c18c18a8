-- Full-text indexing is bounded: only the first 1,000,000 characters of a message's text are
-- indexed (store::FTS_INDEXED_CHARS). FTS5 holds a document's terms in memory while it indexes
-- it, so a mail of a million short lines took seconds and hundreds of MB; a message cut this way
-- gets an `intake_cut` event. The delete trigger removes exactly what the insert trigger indexed.
DROP TRIGGER messages_fts_insert;
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages WHEN new.direction = 'in' BEGIN
    INSERT INTO messages_fts(rowid, subject, text) VALUES (new.id, new.subject, substr(new.text, 1, 1000000));
END;
DROP TRIGGER messages_fts_delete;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages WHEN old.direction = 'in' BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, subject, text) VALUES ('delete', old.id, old.subject, substr(old.text, 1, 1000000));
END;
-- Rows indexed whole before this migration, re-indexed the new way.
INSERT INTO messages_fts(messages_fts, rowid, subject, text)
    SELECT 'delete', id, subject, text FROM messages WHERE direction = 'in' AND length(text) > 1000000;
INSERT INTO messages_fts(rowid, subject, text)
    SELECT id, subject, substr(text, 1, 1000000) FROM messages WHERE direction = 'in' AND length(text) > 1000000;
