-- Issue 22: selectors files the worker learnt itself when a required locator drifted on a
-- tenant's console. Worker-owned, one per tenant, shared by every replica; the backend's tables
-- are not touched. Additive only. SELECTORS_DIR is never written.
--   use:      proven on the live list and used for the tenant in place of the shipped file;
--   proposed: proven, stored for review (SELECTORS_AUTOLEARN=propose), not used until accepted.
CREATE TABLE IF NOT EXISTS learned_selectors (
    tenant_id   INTEGER     PRIMARY KEY,
    status      TEXT        NOT NULL CHECK (status IN ('use', 'proposed')),
    -- The whole selectors file, TOML, as `selectors learned --tenant ID` prints it.
    selectors   TEXT        NOT NULL,
    -- What changed, one `key: old → new` per line.
    changed     TEXT        NOT NULL,
    -- The positive evidence: the known calls the draft found on the live list, and where.
    evidence    TEXT        NOT NULL,
    -- The firmware the console showed when it was learnt (NULL: not shown).
    firmware    TEXT,
    learned_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
