-- Issue 16: recordings the console lists but no cdr_records row references (the CDR feed,
-- "CDR Real-Time Output", did not deliver their calls). Worker-owned tables: the backend's are
-- never written beyond what the worker already does. Additive only.

-- One row per recording file noticed on a tenant's console without a CDR row.
--   unmatched: noticed, not kept;  stored: kept under storage_key (tenant_<id>/unmatched/…);
--   matched:   a cdr_records row (matched_call_id) now references it;
--   lost:      the console no longer listed it when the worker came to keep it.
CREATE TABLE IF NOT EXISTS console_recordings (
    tenant_id        INTEGER     NOT NULL,
    file             TEXT        NOT NULL,
    caller           TEXT        NOT NULL,
    callee           TEXT        NOT NULL,
    shown_at         TIMESTAMPTZ,
    first_seen_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    status           TEXT        NOT NULL DEFAULT 'unmatched'
        CHECK (status IN ('unmatched', 'stored', 'matched', 'lost')),
    storage_key      TEXT,
    stored_bytes     BIGINT,
    original_bytes   BIGINT,
    matched_call_id  INTEGER,
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, file)
);

CREATE INDEX IF NOT EXISTS console_recordings_open
    ON console_recordings (tenant_id)
    WHERE status IN ('unmatched', 'stored');

-- How far each tenant's Recordings list has been read: the newest row seen (its time and file),
-- and when the last certain read ended.
CREATE TABLE IF NOT EXISTS console_recording_scans (
    tenant_id        INTEGER     PRIMARY KEY,
    newest_shown_at  TIMESTAMPTZ,
    newest_file      TEXT,
    scanned_at       TIMESTAMPTZ NOT NULL
);
