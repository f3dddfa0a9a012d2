-- 0004 audit seals: the chain is computed once per batch of rows ("a seal") by one sealer instead
-- of inside every insert. Under 0003 every audit row locked the chain head until its transaction
-- committed: all changes queued behind one row lock across their commit (fsync), and every read
-- record rewrote the head row. Never edit an applied migration.
--
-- From now on an insert takes seq from a sequence and txid, its transaction's id, from the columns'
-- defaults (no per-row trigger: a row costs a third less); prev_hash and hash stay NULL.
-- audit_seal_pending(), run every 10 seconds by the server (and by `healthcare audit verify`), takes the
-- rows of every transaction that has ended since the last seal and appends one audit_seal row
-- chained to the one before it: its hash covers the previous hash, its bounds and the content of
-- each of its rows. Rows chained by 0003 (hash set) stay as they are, first in the chain. A row
-- inserted with other values than the defaults is not in the seal it claims (verify says so).

DROP TRIGGER audit_log_chain ON audit_log;
DROP FUNCTION audit_chain();
ALTER TABLE audit_log ALTER COLUMN prev_hash DROP NOT NULL, ALTER COLUMN hash DROP NOT NULL,
    ADD COLUMN txid xid8;
-- Two steps, so that the rows before 0004 keep txid NULL (a volatile default in ADD COLUMN would
-- fill them in).
ALTER TABLE audit_log ALTER COLUMN txid SET DEFAULT pg_current_xact_id();
CREATE SEQUENCE audit_log_seq_seq OWNED BY audit_log.seq;
SELECT setval('audit_log_seq_seq',
    greatest(1, (SELECT max(seq) FROM audit_log), (SELECT max(seq) FROM audit_head)),
    (SELECT max(seq) FROM audit_log) IS NOT NULL OR coalesce((SELECT max(seq) FROM audit_head), 0) > 0);
ALTER TABLE audit_log ALTER COLUMN seq SET DEFAULT nextval('audit_log_seq_seq');
CREATE INDEX audit_log_txid_idx ON audit_log (txid, seq) WHERE txid IS NOT NULL;
-- Rows arrive in time order: a BRIN index serves time ranges at a fraction of a B-tree's cost per row.
DROP INDEX audit_log_at_idx;
CREATE INDEX audit_log_at_idx ON audit_log USING brin (at);

-- sealed_xmin: every transaction below it had ended at the last seal, and its rows are sealed.
-- floor_seq: rows up to it are not for sealing (restored ones, sealed in their own cluster).
-- seal_pos: the last seal; purged_pos: the last seal the retention job removed.
ALTER TABLE audit_head ADD COLUMN sealed_xmin xid8 NOT NULL DEFAULT '0',
    ADD COLUMN floor_seq bigint NOT NULL DEFAULT 0,
    ADD COLUMN seal_pos bigint NOT NULL DEFAULT 0,
    ADD COLUMN purged_pos bigint NOT NULL DEFAULT 0;

-- One seal: the rows with txid in [xid_from, xid_to) and seq in (floor_seq, max_seq], in seq
-- order. These bounds say exactly which rows it covers, so a row removed from it, added to it or
-- changed changes its hash.
CREATE TABLE audit_seal (
    pos       bigint      PRIMARY KEY,
    sealed_at timestamptz NOT NULL DEFAULT now(),
    floor_seq bigint      NOT NULL,
    max_seq   bigint      NOT NULL,
    xid_from  xid8        NOT NULL,
    xid_to    xid8        NOT NULL,
    row_count bigint      NOT NULL,
    last_at   timestamptz NOT NULL, -- the newest row's time (retention)
    prev_hash bytea       NOT NULL,
    hash      bytea       NOT NULL
);

-- A row's content as a seal hashes it: the record's text form of these columns, the time as integer
-- microseconds so that TimeZone does not matter. STABLE (as record output is) so that PostgreSQL
-- inlines it: a seal costs about 2 microseconds a row (jsonb, as audit_row_hash uses, cost 6).
CREATE FUNCTION audit_row_text(r audit_log) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT ROW(r.seq, (extract(epoch FROM r.at) * 1000000)::bigint, r.user_id, r.username, r.action,
        r.resource, r.resource_id, r.patient_id, r.row_count, r.filters, r.status, r.client_address,
        r.request_id, r.user_agent)::text
$$;

-- What a seal at pos with these bounds covers: its row count, newest time and hash. The sealer
-- and `audit verify` both compute it here, so they cannot disagree.
CREATE FUNCTION audit_seal_hash(prev bytea, pos bigint, floor_seq bigint, max_seq bigint,
    xid_from xid8, xid_to xid8, OUT row_count bigint, OUT last_at timestamptz, OUT hash bytea)
LANGUAGE sql STABLE AS $$
    SELECT count(*), max(a.at), sha256($1 || convert_to(jsonb_build_array($2, $3, $4, $5::text, $6::text,
        count(*))::text || coalesce(string_agg(E'\n' || audit_row_text(a), '' ORDER BY a.seq), ''), 'UTF8'))
    FROM audit_log a
    WHERE a.txid >= $5 AND a.txid < $6 AND a.seq > $3 AND a.seq <= $4
$$;

-- The chain head, locked for this transaction; made on first use (an empty database stays
-- empty, so a backup restores into it).
CREATE FUNCTION audit_lock_head() RETURNS audit_head
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    h audit_head;
BEGIN
    SELECT * INTO h FROM audit_head WHERE id FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO audit_head (id, seq, hash, purged_seq, purged_hash)
        VALUES (true, 0, sha256('healthcare audit'::bytea), 0, sha256('healthcare audit'::bytea))
        ON CONFLICT (id) DO NOTHING;
        SELECT * INTO h FROM audit_head WHERE id FOR UPDATE;
    END IF;
    RETURN h;
END
$$;

-- Appends the seal [h.sealed_xmin, upto) to the chain (when it holds rows) and moves the head.
CREATE FUNCTION audit_seal_range(h audit_head, upto xid8) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    mx bigint;
    s  record;
BEGIN
    SELECT max(seq) INTO mx FROM audit_log WHERE txid >= h.sealed_xmin AND txid < upto AND seq > h.floor_seq;
    IF mx IS NULL THEN
        UPDATE audit_head SET sealed_xmin = greatest(sealed_xmin, upto) WHERE id;
        RETURN 0;
    END IF;
    SELECT * INTO s FROM audit_seal_hash(h.hash, h.seal_pos + 1, h.floor_seq, mx, h.sealed_xmin, upto);
    INSERT INTO audit_seal (pos, floor_seq, max_seq, xid_from, xid_to, row_count, last_at, prev_hash, hash)
    VALUES (h.seal_pos + 1, h.floor_seq, mx, h.sealed_xmin, upto, s.row_count, s.last_at, h.hash, s.hash);
    UPDATE audit_head SET seal_pos = h.seal_pos + 1, hash = s.hash, sealed_xmin = upto WHERE id;
    RETURN s.row_count;
END
$$;

-- Seals the rows of the transactions that have ended since the last seal (at most about max_rows;
-- a transaction's rows are never split) and returns how many. Replicas may all call it: one seals,
-- the others return 0 at once.
CREATE FUNCTION audit_seal_pending(max_rows integer DEFAULT 50000) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    h    audit_head;
    upto xid8;
    cut  xid8;
BEGIN
    IF NOT pg_try_advisory_xact_lock(7259320114) THEN
        RETURN 0;
    END IF;
    h := audit_lock_head();
    -- Every transaction below upto has ended: its rows, if it committed, are visible from the next
    -- statement on, and no row can arrive any more with a txid below it.
    upto := pg_snapshot_xmin(pg_current_snapshot());
    SELECT txid INTO cut FROM audit_log WHERE txid >= h.sealed_xmin AND txid < upto AND seq > h.floor_seq
        ORDER BY txid OFFSET max_rows LIMIT 1;
    IF FOUND AND cut > h.sealed_xmin THEN
        upto := cut;
    END IF;
    RETURN audit_seal_range(h, upto);
END
$$;

-- After a restore (healthcare restore, upgrade-postgres): the restored rows carry the ids of the
-- transactions of the cluster that wrote them, which mean nothing here. The rows the backup held
-- unsealed are sealed now (they are all final), and sealing starts again after the restored rows.
CREATE FUNCTION audit_restored() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    h    audit_head;
    last xid8;
BEGIN
    -- A head without rows (the sealer makes it at the first start) still carries the other
    -- cluster's sealed_xmin: reset it too.
    IF NOT EXISTS (SELECT 1 FROM audit_head) THEN
        RETURN;
    END IF;
    h := audit_lock_head();
    SELECT max(txid) INTO last FROM audit_log WHERE txid >= h.sealed_xmin AND seq > h.floor_seq;
    IF last IS NOT NULL THEN
        PERFORM audit_seal_range(h, (last::text::numeric + 1)::text::xid8);
    END IF;
    UPDATE audit_head SET floor_seq = greatest(floor_seq, (SELECT max(seq) FROM audit_log)), sealed_xmin = '0'
    WHERE id;
END
$$;

-- Sealing a chosen range or restarting after a restore is for the server's own paths (and the
-- functions' owner): nobody else may call them (audit_seal_pending stays open to the server).
REVOKE EXECUTE ON FUNCTION audit_seal_range(audit_head, xid8), audit_restored() FROM PUBLIC;

-- Seals are append-only too, except the DELETE of seals older than a year inside audit_purge().
CREATE FUNCTION audit_seal_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('healthcare.audit_purge', true) = 'on'
            AND OLD.last_at < now() - interval '1 year' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_seal is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_seal_append_only BEFORE UPDATE OR DELETE ON audit_seal
    FOR EACH ROW EXECUTE FUNCTION audit_seal_append_only();
CREATE TRIGGER audit_seal_no_truncate BEFORE TRUNCATE ON audit_seal
    FOR EACH STATEMENT EXECUTE FUNCTION audit_seal_append_only();

-- The retention job's one way to remove rows: those older than keep (at least a year), always a
-- prefix of the chain (first the rows chained one by one before 0004, then whole seals), whose
-- last hash is kept in audit_head so the rest still verifies.
CREATE OR REPLACE FUNCTION audit_purge(keep interval) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    last audit_log;
    seal audit_seal;
    n    bigint := 0;
    m    bigint;
BEGIN
    IF keep < interval '1 year' THEN
        RAISE EXCEPTION 'audit retention must be at least a year, not %', keep;
    END IF;
    PERFORM audit_lock_head();
    PERFORM set_config('healthcare.audit_purge', 'on', true);
    -- The rows chained one by one: the longest prefix of old ones.
    SELECT * INTO last FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log WHERE hash IS NOT NULL
        AND at < now() - keep AND seq < coalesce((SELECT min(seq) FROM audit_log WHERE hash IS NOT NULL
        AND at >= now() - keep), 'infinity'::numeric));
    IF FOUND THEN
        DELETE FROM audit_log WHERE hash IS NOT NULL AND seq <= last.seq;
        GET DIAGNOSTICS n = ROW_COUNT;
        UPDATE audit_head SET purged_seq = last.seq, purged_hash = last.hash WHERE id;
    END IF;
    -- Then, once none of those is left, the longest prefix of seals whose rows are all old.
    IF NOT EXISTS (SELECT 1 FROM audit_log WHERE hash IS NOT NULL) THEN
        SELECT * INTO seal FROM audit_seal WHERE pos = (SELECT max(pos) FROM audit_seal WHERE last_at < now() - keep
            AND pos < coalesce((SELECT min(pos) FROM audit_seal WHERE last_at >= now() - keep), 'infinity'::numeric));
        IF FOUND THEN
            DELETE FROM audit_log a USING audit_seal s WHERE s.pos <= seal.pos AND a.txid >= s.xid_from
                AND a.txid < s.xid_to AND a.seq > s.floor_seq AND a.seq <= s.max_seq;
            GET DIAGNOSTICS m = ROW_COUNT;
            n := n + m;
            DELETE FROM audit_seal WHERE pos <= seal.pos;
            UPDATE audit_head SET purged_pos = seal.pos, purged_hash = seal.hash WHERE id;
        END IF;
    END IF;
    PERFORM set_config('healthcare.audit_purge', 'off', true);
    RETURN n;
END
$$;
