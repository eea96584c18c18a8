-- The requester's page (issue 14): links are signed, not stored; revoking every link of a
-- ticket moves its generation on. A ticket without a row is at generation 0.
CREATE TABLE requester_link_generations (
    ticket      INTEGER PRIMARY KEY REFERENCES tickets(number),
    generation  INTEGER NOT NULL CHECK (generation > 0),
    revoked_at  INTEGER NOT NULL
) STRICT;
