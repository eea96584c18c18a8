-- Documents per term of the two knowledge indexes, kept beside them (`index_resolved_ticket`,
-- `reindex_article`): fts5vocab counted them by reading each term's whole posting list, 58% of
-- a new mail's instructions at a million tickets (bench/README.md, "Intake"). They pick a
-- search's rarest terms and weigh the article matches, so a count may lag (documents indexed
-- before this migration are not taken back out when indexed again); an erasure recounts them
-- exactly from the indexes.
CREATE TABLE kb_ticket_terms (
    term TEXT PRIMARY KEY,
    doc  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- The distinct terms each ticket put in the index, to take them out when it is indexed again.
CREATE TABLE kb_ticket_indexed (
    ticket INTEGER PRIMARY KEY,
    terms  TEXT NOT NULL
) STRICT;

CREATE TABLE kb_article_terms (
    term TEXT PRIMARY KEY,
    doc  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE kb_article_indexed (
    article INTEGER PRIMARY KEY,
    terms   TEXT NOT NULL
) STRICT;

INSERT INTO kb_ticket_terms (term, doc) SELECT term, doc FROM kb_ticket_fts_terms;
INSERT INTO kb_article_terms (term, doc) SELECT term, doc FROM kb_fts_terms;
