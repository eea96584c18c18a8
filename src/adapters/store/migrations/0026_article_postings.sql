-- Each published article's terms with their occurrences in each field of kb_fts and the
-- article's length in terms: what BM25 needs, read by term (`core::knowledge::bm25`). FTS5's
-- bm25() ran a query per term for its document frequency and read each matched article's
-- sizes: 0.9 M instructions of a new request's 1.4 M at intake (bench/README.md). Written with
-- kb_fts (`reindex_article`) and filled here from kb_fts's own instances, so the counts are the
-- index's.
CREATE TABLE kb_article_postings (
    term    TEXT NOT NULL,
    article INTEGER NOT NULL,
    title   INTEGER NOT NULL,
    tags    INTEGER NOT NULL,
    body    INTEGER NOT NULL,
    asked   INTEGER NOT NULL,
    length  INTEGER NOT NULL,
    PRIMARY KEY (term, article)
) STRICT, WITHOUT ROWID;
CREATE INDEX kb_article_postings_article ON kb_article_postings(article);

-- The articles ever put in the index and their terms in all: FTS5's row count and total size,
-- which bm25() reads and which an article taken out of a contentless index (retired, or
-- indexed again when edited or linked) never leaves. The suggestions' thresholds were set on
-- those figures; counting only the articles in the index changes the learning evaluation
-- (bench/README.md). Started here from the articles in the index now.
CREATE TABLE kb_article_totals (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    articles INTEGER NOT NULL,
    terms    INTEGER NOT NULL
) STRICT;

CREATE VIRTUAL TABLE temp.kb_fts_instances USING fts5vocab(main, kb_fts, 'instance');
INSERT INTO kb_article_postings (term, article, title, tags, body, asked, length)
SELECT i.term, i.doc, sum(i.col = 'title'), sum(i.col = 'tags'), sum(i.col = 'body'),
       sum(i.col = 'asked'), l.length
  FROM temp.kb_fts_instances i
  JOIN (SELECT doc, count(*) AS length FROM temp.kb_fts_instances GROUP BY doc) l ON l.doc = i.doc
 GROUP BY i.term, i.doc;
INSERT INTO kb_article_totals (id, articles, terms)
VALUES (1, (SELECT count(*) FROM kb_fts), (SELECT count(*) FROM temp.kb_fts_instances));
DROP TABLE temp.kb_fts_instances;
