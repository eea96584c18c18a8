-- CHECK constraints that list more than two values become comparisons joined by OR, with the
-- same meaning. SQLite evaluates `x IN (a, b, c, ...)` by building a temporary b-tree of the
-- values each time a statement runs, so every insert into ticket_changes or tickets and every
-- status update of a ticket or an outbox row opened one: about eight per new ticket, 11% of a
-- batch's instructions (bench/README.md "Intake").
--
-- A CHECK constraint is not stored in the rows, so the table definitions are edited in place
-- (https://sqlite.org/lang_altertable.html, "making other kinds of table schema changes"),
-- instead of copying tables of millions of rows; the migration runner then bumps the schema
-- version so that other connections reload the schema. store::tests holds each table to its
-- comparisons and to rejecting a value outside them.
PRAGMA writable_schema = ON;

UPDATE sqlite_schema
   SET sql = replace(replace(sql,
       'CHECK (status IN (''new'',''open'',''pending'',''waiting'',''resolved'',''closed'',''spam''))',
       'CHECK (status = ''new'' OR status = ''open'' OR status = ''pending'' OR status = ''waiting'' OR status = ''resolved'' OR status = ''closed'' OR status = ''spam'')'),
       'CHECK (priority IN (''low'',''normal'',''high'',''urgent''))',
       'CHECK (priority = ''low'' OR priority = ''normal'' OR priority = ''high'' OR priority = ''urgent'')')
 WHERE type = 'table' AND name = 'tickets';

UPDATE sqlite_schema
   SET sql = replace(sql,
       'CHECK (field IN (''status'',''level'',''priority'',''queue'',''assignee'',''merged_into''))',
       'CHECK (field = ''status'' OR field = ''level'' OR field = ''priority'' OR field = ''queue'' OR field = ''assignee'' OR field = ''merged_into'')')
 WHERE type = 'table' AND name = 'ticket_changes';

UPDATE sqlite_schema
   SET sql = replace(sql,
       'CHECK (status IN (''pending'',''sent'',''dead''))',
       'CHECK (status = ''pending'' OR status = ''sent'' OR status = ''dead'')')
 WHERE type = 'table' AND name = 'outbox';

UPDATE sqlite_schema
   SET sql = replace(sql,
       'CHECK (status IN (''pending'',''delivered'',''refused'',''given_up''))',
       'CHECK (status = ''pending'' OR status = ''delivered'' OR status = ''refused'' OR status = ''given_up'')')
 WHERE type = 'table' AND name = 'outbox_recipients';

UPDATE sqlite_schema
   SET sql = replace(sql,
       'CHECK (state IN (''draft'',''published'',''retired''))',
       'CHECK (state = ''draft'' OR state = ''published'' OR state = ''retired'')')
 WHERE type = 'table' AND name = 'kb_articles';

UPDATE sqlite_schema
   SET sql = replace(sql,
       'CHECK (relation IN (''source'',''suggested'',''answered'',''solved''))',
       'CHECK (relation = ''source'' OR relation = ''suggested'' OR relation = ''answered'' OR relation = ''solved'')')
 WHERE type = 'table' AND name = 'kb_links';

-- RESET turns writing off and makes this connection parse the edited definitions.
PRAGMA writable_schema = RESET;
