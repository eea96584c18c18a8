-- Full-text search is for what people wrote: Guichet's own templated mail is not indexed, which
-- halves the indexing work at intake. Fewer, larger merges also cost less per insert.
DROP TRIGGER messages_fts_insert;
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages WHEN new.direction = 'in' BEGIN
    INSERT INTO messages_fts(rowid, subject, text) VALUES (new.id, new.subject, new.text);
END;
DROP TRIGGER messages_fts_delete;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages WHEN old.direction = 'in' BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, subject, text) VALUES ('delete', old.id, old.subject, old.text);
END;
DELETE FROM messages_fts WHERE rowid IN (SELECT id FROM messages WHERE direction = 'out');
INSERT INTO messages_fts(messages_fts, rank) VALUES ('automerge', 8);
