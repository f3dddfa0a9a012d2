-- 0002 roles: administrators and staff, clinic policies, first-run setup, and login sessions that
-- end when they should (idle timeout, absolute lifetime, every login of an account at once) but not
-- when a refresh answer was lost (grace window). Never edit an applied migration.

-- Every existing and newly registered account is staff. must_change_password: an administrator set
-- the password; the account may do nothing else until it chose its own. token_generation: bumped
-- to end every login of the account at once (deactivation, reactivation, password reset or change,
-- "sign out everywhere"); a login is live only while its generation equals the account's.
ALTER TABLE users
    ADD COLUMN role                 text        NOT NULL DEFAULT 'staff' CHECK (role IN ('admin', 'staff')),
    ADD COLUMN must_change_password boolean     NOT NULL DEFAULT false,
    ADD COLUMN token_generation     integer     NOT NULL DEFAULT 0,
    ADD COLUMN last_login           timestamptz;
-- "Is there an active administrator?" (setup, the last-administrator rule) reads only this.
CREATE INDEX users_active_admin_idx ON users (id) WHERE role = 'admin' AND is_active;

-- A login (refresh-token family): the account generation it belongs to; when it was last used
-- (idle timeout; created_at bounds its whole life); the current refresh token's jti and issue time,
-- from which, with expires_at, that exact token is signed again for a client that re-presents the
-- token it replaced (previous_hash) within the grace window; and who it was, for "my sessions".
ALTER TABLE refresh_families
    ADD COLUMN generation        integer     NOT NULL DEFAULT 0,
    ADD COLUMN last_used_at      timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN current_jti       text,
    ADD COLUMN current_issued_at timestamptz,
    ADD COLUMN previous_hash     bytea,
    ADD COLUMN client_address    text        NOT NULL DEFAULT '',
    ADD COLUMN user_agent        text        NOT NULL DEFAULT '';

-- Who made an assignment: a non-administrator may not delete a doctor whose assignments another
-- account made. Existing assignments were made by their patient's owner (the only one who could).
ALTER TABLE assignments ADD COLUMN assigned_by bigint REFERENCES users (id) ON DELETE SET NULL;
UPDATE assignments a SET assigned_by = p.managed_by FROM patients p WHERE p.id = a.patient_id;

-- Clinic policies an administrator chose (registration, patients.visibility, doctors.writes...).
-- A missing key means the built-in default; a value set in the configuration file wins over both.
CREATE TABLE settings (
    key        text        PRIMARY KEY,
    value      text        NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by bigint      REFERENCES users (id) ON DELETE SET NULL
);

-- One-time tokens for the first administrator, printed at start while no administrator exists
-- (each server start adds one; all are deleted once an administrator exists). Only SHA-256 hashes.
CREATE TABLE setup_tokens (
    hash       bytea       PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now()
);
