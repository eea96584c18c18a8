-- The dashboard's sign-in: one-time links mailed to agents and the sessions they open. Only the
-- SHA-256 of a link's token or a session's cookie is stored, so a copy of the database signs
-- nobody in.
CREATE TABLE web_sign_in_links (
    token_hash  TEXT PRIMARY KEY,
    agent       TEXT NOT NULL,
    address     TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
) STRICT;
-- Rate limiting counts the links mailed to an address lately.
CREATE INDEX web_sign_in_links_address ON web_sign_in_links(address, created_at);

CREATE TABLE web_sessions (
    token_hash  TEXT PRIMARY KEY,
    agent       TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
) STRICT;

-- The mailed link is the one place its token exists in clear: once the outbox is done with the
-- mail, its text and bytes are forgotten.
CREATE TRIGGER web_sign_in_mail_forgotten AFTER UPDATE OF status ON outbox
WHEN new.status <> 'pending'
 AND (SELECT kind FROM messages WHERE id = new.message) = 'sign_in_link'
BEGIN
    UPDATE messages SET text = '(dashboard sign-in link, removed once sent)', raw = X''
     WHERE id = new.message;
END;
