-- 0005 search indexes: the list searches (?search=, ILIKE '%term%' on patients, doctors and users,
-- and the digits of phone numbers) use trigram GIN indexes (pg_trgm) instead of reading every row.
-- Never edit an applied migration.
--
-- pg_trgm's functions and operator classes go into a schema of their own, "extensions", so that
-- schema public keeps only the application's objects (schema.sql, the schema test and backups look
-- at public). The indexes name the operator class by its schema; queries need nothing on
-- search_path: ILIKE and LIKE are the built-in operators, which the operator class serves.
--
-- pg_trgm is a trusted extension (PostgreSQL 13+): the database's owner may create it without being
-- a superuser. Where it cannot be created (an external PostgreSQL without the contrib package, or a
-- role without CREATE on the database) this migration leaves a NOTICE, creates nothing and the
-- searches stay sequential scans, as before. Everything here is idempotent: once pg_trgm can be
-- created, running this file again with psql, as the database's owner, adds the indexes.
DO $migration$
DECLARE
    ops text;
BEGIN
    BEGIN
        CREATE SCHEMA IF NOT EXISTS extensions;
        CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA extensions;
    EXCEPTION WHEN undefined_file OR insufficient_privilege OR feature_not_supported THEN
        RAISE NOTICE 'pg_trgm is not available (%): searches will not use indexes; install PostgreSQL''s contrib package, then run 0005_search_indexes.sql again as the database owner', SQLERRM;
        RETURN;
    END;
    -- Where pg_trgm was already installed (into another schema), use it there.
    SELECT quote_ident(n.nspname) || '.gin_trgm_ops' INTO STRICT ops
    FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm';
    -- One multi-column index per table: a condition on any of its columns can use it, and an insert
    -- updates one index rather than one per column. The phone expression is exactly the one of
    -- the patient search (app/store/patients.go), or the planner cannot match it.
    EXECUTE format('CREATE INDEX IF NOT EXISTS patients_search_idx ON patients USING gin '
        '(name %1$s, phone_number %1$s, address %1$s, (regexp_replace(phone_number, ''[^0-9]'', '''', ''g'')) %1$s)', ops);
    EXECUTE format('CREATE INDEX IF NOT EXISTS doctors_search_idx ON doctors USING gin '
        '(name %1$s, specialization %1$s, contact_info %1$s)', ops);
    EXECUTE format('CREATE INDEX IF NOT EXISTS users_search_idx ON users USING gin '
        '(username %1$s, email %1$s)', ops);
END
$migration$;
