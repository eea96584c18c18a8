-- A message's visibility is public, internal or stranger (from someone who is not a participant).
-- The `visibility` column's CHECK allows only the first two, and changing a CHECK means rebuilding
-- `messages`, which attachments, events and the outbox reference: strangers' mail keeps
-- `visibility = 'internal'` (readers that know only two values still hide it) and is marked here.
ALTER TABLE messages ADD COLUMN stranger INTEGER NOT NULL DEFAULT 0 CHECK (stranger IN (0, 1));
-- Strangers' notes stored before: their stranger_note event names the message.
UPDATE messages SET stranger = 1
    WHERE direction = 'in' AND visibility = 'internal'
      AND id IN (SELECT message FROM events WHERE kind = 'stranger_note' AND message IS NOT NULL);
