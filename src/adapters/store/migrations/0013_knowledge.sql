-- The knowledge base (core::knowledge): articles, their versions, the tickets they came from or
-- answered, and two search indexes over pre-analysed terms (folded, stop words out, stemmed by
-- the article's or ticket's language): the text is analysed in Rust so that the index and the
-- question meet whatever the accents and inflections.
CREATE TABLE kb_articles (
    id          INTEGER PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    title       TEXT NOT NULL,
    body        TEXT NOT NULL,
    language    TEXT NOT NULL,
    tags        TEXT NOT NULL DEFAULT '[]',
    queue       TEXT,
    visibility  TEXT NOT NULL CHECK (visibility IN ('public','internal')),
    state       TEXT NOT NULL CHECK (state IN ('draft','published','retired')),
    version     INTEGER NOT NULL DEFAULT 1,
    useful      INTEGER NOT NULL DEFAULT 0,
    -- Distinct terms of title and tags, and of the whole article and the questions it
    -- answered, space-separated: the matcher's second look at the store's candidates.
    title_terms TEXT NOT NULL DEFAULT '',
    terms       TEXT NOT NULL DEFAULT '',
    created_by  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX kb_articles_state ON kb_articles(state, language);

CREATE TABLE kb_versions (
    article     INTEGER NOT NULL REFERENCES kb_articles(id),
    version     INTEGER NOT NULL,
    title       TEXT NOT NULL,
    body        TEXT NOT NULL,
    tags        TEXT NOT NULL,
    changed_by  TEXT NOT NULL,
    changed_at  INTEGER NOT NULL,
    note        TEXT NOT NULL,
    PRIMARY KEY (article, version)
) STRICT;

-- source: the ticket an article was drafted from; suggested: offered in its acknowledgement;
-- answered: sent by #answer; solved: the requester said #solved.
CREATE TABLE kb_links (
    article     INTEGER NOT NULL REFERENCES kb_articles(id),
    ticket      INTEGER NOT NULL REFERENCES tickets(number),
    relation    TEXT NOT NULL CHECK (relation IN ('source','suggested','answered','solved')),
    at          INTEGER NOT NULL,
    PRIMARY KEY (article, ticket, relation)
) STRICT, WITHOUT ROWID;
CREATE INDEX kb_links_ticket ON kb_links(ticket, relation);

-- Published articles only; rowid = kb_articles.id. `asked`: the questions of the tickets the
-- article came from or answered, in their askers' words: an article learns how people ask.
-- Terms are prefixed with their language (`fr_imprim`, store::knowledge_search): a search reads
-- only its language's postings.
CREATE VIRTUAL TABLE kb_fts USING fts5(title, tags, body, asked, tokenize="unicode61 tokenchars '_'",
                                       content='', contentless_delete=1);

-- Resolved tickets with a documented resolution; rowid = tickets.number; terms as in kb_fts.
CREATE VIRTUAL TABLE kb_ticket_fts USING fts5(question, resolution, tokenize="unicode61 tokenchars '_'",
                                              content='', contentless_delete=1);

-- Documents per term of the article index: the matcher weighs rare terms above common ones.
CREATE VIRTUAL TABLE kb_fts_terms USING fts5vocab(kb_fts, 'row');
CREATE VIRTUAL TABLE kb_ticket_fts_terms USING fts5vocab(kb_ticket_fts, 'row');
