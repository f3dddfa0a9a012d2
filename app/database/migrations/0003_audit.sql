-- 0003 audit: an append-only, hash-chained trail of who read or changed patient data, and of every
-- login, account and administration event (issue 11). Never edit an applied migration.

-- The head of the audit chain: one row, locked by every append, so rows get consecutive seq numbers
-- in commit order and each row's prev_hash is the hash of the row committed before it. purged_*:
-- the last row the retention job removed (the first kept row's prev_hash is purged_hash).
CREATE TABLE IF NOT EXISTS audit_head (
    id          boolean PRIMARY KEY DEFAULT true CHECK (id),
    seq         bigint  NOT NULL,
    hash        bytea   NOT NULL,
    purged_seq  bigint  NOT NULL,
    purged_hash bytea   NOT NULL
);
-- Its row is made by the first append (an empty database stays empty, so a backup restores into it).

-- One row per access to patient data and per change (issue 11). Never a field value, a password or
-- a token: resource ids, counts and filter NAMES only. seq, prev_hash and hash are set by
-- audit_chain(), whatever the INSERT says.
CREATE TABLE IF NOT EXISTS audit_log (
    seq            bigint      PRIMARY KEY,
    at             timestamptz NOT NULL DEFAULT now(),
    user_id        bigint,                          -- no foreign key: the row outlives the account
    username       text        NOT NULL DEFAULT '', -- at the time; the attempted one for login_failed
    action         text        NOT NULL,
    resource       text        NOT NULL DEFAULT '',
    resource_id    text        NOT NULL DEFAULT '',
    patient_id     bigint,
    row_count      integer,                         -- lists: rows returned
    filters        text[]      NOT NULL DEFAULT '{}', -- lists: the filter names given, never values
    status         integer     NOT NULL,
    client_address text        NOT NULL DEFAULT '',
    request_id     text        NOT NULL DEFAULT '',
    user_agent     text        NOT NULL DEFAULT '',
    prev_hash      bytea       NOT NULL,
    hash           bytea       NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_log_at_idx ON audit_log (at);
CREATE INDEX IF NOT EXISTS audit_log_user_idx ON audit_log (user_id, seq);
CREATE INDEX IF NOT EXISTS audit_log_patient_idx ON audit_log (patient_id, seq) WHERE patient_id IS NOT NULL;

-- A row's hash: SHA-256 of the previous row's hash and the row's content (jsonb's text form is
-- canonical; the time as integer microseconds, so TimeZone does not matter).
CREATE OR REPLACE FUNCTION audit_row_hash(prev bytea, r audit_log) RETURNS bytea
LANGUAGE sql IMMUTABLE AS $$
    SELECT sha256(prev || convert_to(jsonb_build_array(r.seq, (extract(epoch FROM r.at) * 1000000)::bigint,
        r.user_id, r.username, r.action, r.resource, r.resource_id, r.patient_id, r.row_count, r.filters,
        r.status, r.client_address, r.request_id, r.user_agent)::text, 'UTF8'))
$$;

-- Chains every new row to the head (SECURITY DEFINER: the application role needs no right on
-- audit_head when an administrator gives these objects to another owner, see the README).
CREATE OR REPLACE FUNCTION audit_chain() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    h audit_head;
BEGIN
    -- A restore (healthcare restore) copies rows with their chain as it was.
    IF current_setting('healthcare.audit_restore', true) = 'on' THEN
        RETURN NEW;
    END IF;
    SELECT * INTO h FROM audit_head WHERE id FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO audit_head (id, seq, hash, purged_seq, purged_hash)
        VALUES (true, 0, sha256('healthcare audit'::bytea), 0, sha256('healthcare audit'::bytea))
        ON CONFLICT (id) DO NOTHING;
        SELECT * INTO h FROM audit_head WHERE id FOR UPDATE;
    END IF;
    NEW.seq := h.seq + 1;
    NEW.prev_hash := h.hash;
    NEW.hash := audit_row_hash(h.hash, NEW);
    UPDATE audit_head SET seq = NEW.seq, hash = NEW.hash WHERE id;
    RETURN NEW;
END
$$;

-- Append-only: UPDATE, DELETE and TRUNCATE are refused, except the DELETE of rows older than a
-- year inside audit_purge().
CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('healthcare.audit_purge', true) = 'on'
            AND OLD.at < now() - interval '1 year' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;

-- The retention job's one way to remove rows: those older than keep (at least a year), a prefix of
-- the chain, whose last hash is kept in audit_head so the rest still verifies.
CREATE OR REPLACE FUNCTION audit_purge(keep interval) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    last audit_log;
    n    bigint;
BEGIN
    IF keep < interval '1 year' THEN
        RAISE EXCEPTION 'audit retention must be at least a year, not %', keep;
    END IF;
    PERFORM 1 FROM audit_head WHERE id FOR UPDATE;
    -- The longest prefix of old rows: the chain stays whole after it.
    SELECT * INTO last FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log WHERE at < now() - keep
        AND seq < coalesce((SELECT min(seq) FROM audit_log WHERE at >= now() - keep), 'infinity'::numeric));
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    PERFORM set_config('healthcare.audit_purge', 'on', true);
    DELETE FROM audit_log WHERE seq <= last.seq;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM set_config('healthcare.audit_purge', 'off', true);
    UPDATE audit_head SET purged_seq = last.seq, purged_hash = last.hash WHERE id;
    RETURN n;
END
$$;

CREATE OR REPLACE TRIGGER audit_log_chain BEFORE INSERT ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_chain();
CREATE OR REPLACE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE OR REPLACE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
