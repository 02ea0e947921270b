-- What the worker adds to the backend's tables (docs/database.md). Additive only: ADD COLUMN IF NOT
-- EXISTS with constant defaults, which Postgres (11+) applies without rewriting existing rows.

ALTER TABLE tenants
    ADD COLUMN IF NOT EXISTS ucm_timezone       TEXT NOT NULL DEFAULT 'UTC',
    ADD COLUMN IF NOT EXISTS ucm_firmware       TEXT,
    ADD COLUMN IF NOT EXISTS ucm_last_login_at  TIMESTAMPTZ,
    ADD COLUMN IF NOT EXISTS ucm_login_failures INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS ucm_blocked_until  TIMESTAMPTZ,
    ADD COLUMN IF NOT EXISTS ucm_last_error     TEXT;

ALTER TABLE cdr_records
    ADD COLUMN IF NOT EXISTS recording_status          TEXT NOT NULL DEFAULT 'pending',
    ADD COLUMN IF NOT EXISTS recording_attempts        INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS recording_error           TEXT,
    ADD COLUMN IF NOT EXISTS recording_lease_until     TIMESTAMPTZ,
    ADD COLUMN IF NOT EXISTS recording_bytes           BIGINT,
    ADD COLUMN IF NOT EXISTS recording_original_bytes  BIGINT,
    ADD COLUMN IF NOT EXISTS ai_triggered_at           TIMESTAMPTZ;

-- The status vocabulary, added NOT VALID so rows the backend wrote are never re-checked.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'cdr_records_recording_status_check') THEN
        ALTER TABLE cdr_records ADD CONSTRAINT cdr_records_recording_status_check
            CHECK (recording_status IN ('pending', 'downloading', 'stored', 'failed', 'not_on_console'))
            NOT VALID;
    END IF;
END
$$;

-- The claim query's road: a tenant's calls that still wait for a recording, newest first.
CREATE INDEX IF NOT EXISTS cdr_records_awaiting_recording
    ON cdr_records (tenant_id, call_date DESC)
    WHERE recording_status IN ('pending', 'downloading');
