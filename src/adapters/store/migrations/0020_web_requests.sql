-- Requests from the web (issue 14).
--
-- The requester's page: links are signed, not stored; revoking every link of a ticket moves its
-- generation on. A ticket without a row is at generation 0.
CREATE TABLE requester_link_generations (
    ticket      INTEGER PRIMARY KEY REFERENCES tickets(number),
    generation  INTEGER NOT NULL CHECK (generation > 0),
    revoked_at  INTEGER NOT NULL
) STRICT;

-- The public form: a request waits here until its address is confirmed through the mailed
-- link (only the link token's SHA-256 is kept). Its files are already in the attachment store.
CREATE TABLE web_submissions (
    token_hash    TEXT PRIMARY KEY,
    address       TEXT NOT NULL,
    name          TEXT,
    queue         TEXT NOT NULL,
    subject       TEXT NOT NULL,
    text          TEXT NOT NULL,
    fields        TEXT NOT NULL,
    attachments   TEXT NOT NULL,
    language      TEXT NOT NULL,
    ip            TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    -- 1 when a confirmation mail went out for it (at most one to an unconfirmed address).
    mailed        INTEGER NOT NULL CHECK (mailed IN (0, 1)),
    confirmed_at  INTEGER,
    ticket        INTEGER REFERENCES tickets(number)
) STRICT;
CREATE INDEX web_submissions_address ON web_submissions(address, created_at);
CREATE INDEX web_submissions_ip ON web_submissions(ip, created_at);

-- As for sign-in links: the mailed confirmation link exists in clear only until it is sent.
CREATE TRIGGER web_confirmation_mail_forgotten AFTER UPDATE OF status ON outbox
WHEN new.status <> 'pending'
 AND (SELECT kind FROM messages WHERE id = new.message) = 'request_confirmation'
BEGIN
    UPDATE messages SET text = '(request confirmation link, removed once sent)', raw = X''
     WHERE id = new.message;
END;

-- A ticket's page reads the events of the tickets merged into it: found by this index, not by
-- reading every ticket (150 ms a page on a store of a million tickets).
CREATE INDEX tickets_merged_into ON tickets(merged_into) WHERE merged_into IS NOT NULL;
