-- Set by agents' commands: #tag, #field, #resolve.
CREATE TABLE ticket_tags (
    ticket  INTEGER NOT NULL REFERENCES tickets(number),
    tag     TEXT NOT NULL,
    PRIMARY KEY (ticket, tag)
) STRICT, WITHOUT ROWID;

CREATE TABLE ticket_fields (
    ticket  INTEGER NOT NULL REFERENCES tickets(number),
    name    TEXT NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (ticket, name)
) STRICT, WITHOUT ROWID;

-- The documented resolution, for the knowledge base.
ALTER TABLE tickets ADD COLUMN resolution TEXT;
