-- Inbound messages now enter messages_fts when the transaction that stores them commits
-- (WriteTx::commit), all at once, instead of row by row from this trigger: FTS5 writes its
-- pending rows out as a new segment whenever a savepoint or a statement that may abort begins,
-- and intake opens a savepoint per mail, so every mail made a segment and then merge work
-- (11% of a batch's instructions, bench/README.md "Intake"). The update and delete triggers
-- stay: they touch rows committed earlier.
DROP TRIGGER messages_fts_insert;
