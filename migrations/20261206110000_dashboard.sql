-- Issue 26: the operators' dashboard (docs/dashboard.md). Worker-owned tables only; the
-- backend's tables are not touched. Additive and idempotent.

-- Operator accounts (`ucm-scraper operator add NAME --password-stdin`): an Argon2id hash in
-- PHC form, never the password.
CREATE TABLE IF NOT EXISTS dashboard_operators (
    name           TEXT        PRIMARY KEY,
    password_hash  TEXT        NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Signed-in sessions: the SHA-256 of the cookie's random token (a database dump holds no
-- usable token), the form token that every POST must carry, and when it was last used (idle
-- sessions expire).
CREATE TABLE IF NOT EXISTS dashboard_sessions (
    token_sha256   TEXT        PRIMARY KEY,
    operator       TEXT        NOT NULL REFERENCES dashboard_operators (name) ON DELETE CASCADE,
    csrf_token     TEXT        NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Failed sign-ins, counted per account name and per client address over a window.
CREATE TABLE IF NOT EXISTS dashboard_sign_in_failures (
    id             BIGSERIAL   PRIMARY KEY,
    operator       TEXT        NOT NULL,
    address        TEXT        NOT NULL,
    at             TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS dashboard_sign_in_failures_operator
    ON dashboard_sign_in_failures (operator, at);
CREATE INDEX IF NOT EXISTS dashboard_sign_in_failures_address
    ON dashboard_sign_in_failures (address, at);

-- Every action taken from the dashboard: who, what, when, which tenant. Never a secret.
CREATE TABLE IF NOT EXISTS dashboard_audit (
    id             BIGSERIAL   PRIMARY KEY,
    at             TIMESTAMPTZ NOT NULL DEFAULT now(),
    operator       TEXT        NOT NULL,
    action         TEXT        NOT NULL,
    tenant_id      BIGINT,
    detail         TEXT        NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS dashboard_audit_tenant ON dashboard_audit (tenant_id, at);

-- How each tenant's part of a pass ended, written by the pipeline when it ends: nothing else
-- keeps a pass's outcome once the process is gone.
CREATE TABLE IF NOT EXISTS tenant_passes (
    id             BIGSERIAL   PRIMARY KEY,
    tenant_id      BIGINT      NOT NULL,
    started_at     TIMESTAMPTZ NOT NULL,
    finished_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    outcome        TEXT        NOT NULL CHECK (outcome IN ('ok', 'skipped', 'failed')),
    message        TEXT,
    claimed        INTEGER     NOT NULL DEFAULT 0,
    stored         INTEGER     NOT NULL DEFAULT 0,
    failed         INTEGER     NOT NULL DEFAULT 0,
    not_listed_yet INTEGER     NOT NULL DEFAULT 0,
    not_on_console INTEGER     NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS tenant_passes_tenant ON tenant_passes (tenant_id, finished_at DESC);
