-- Erasure (`guichet forget`) and retention rewrite what people wrote, never the trail's shape: an
-- event's actor or detail may become '(erased)'; its id, ticket, time, kind and message never
-- change, and no event is deleted.
DROP TRIGGER events_append_only_update;
CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
WHEN NOT (new.id = old.id AND new.ticket IS old.ticket AND new.at = old.at AND new.kind = old.kind
          AND new.message IS old.message
          AND (new.actor = old.actor OR new.actor = '(erased)')
          AND (new.detail = old.detail OR new.detail = '(erased)'))
BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;
-- A message whose text is erased leaves the full-text index with its old text.
CREATE TRIGGER messages_fts_update AFTER UPDATE OF subject, text ON messages WHEN old.direction = 'in' BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, subject, text) VALUES ('delete', old.id, old.subject, substr(old.text, 1, 1000000));
    INSERT INTO messages_fts(rowid, subject, text) VALUES (new.id, new.subject, substr(new.text, 1, 1000000));
END;
-- When retention purged the whole ticket (its content erased, its number and events kept).
ALTER TABLE tickets ADD COLUMN purged_at INTEGER;
