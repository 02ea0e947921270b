-- The tables the existing Python backend owns (docs/database.md).
-- On the live database they already exist and every statement here is a no-op; on an empty
-- database (development, tests, the demo) they are created with the backend's columns.
-- Never drop, rename or retype anything here: the backend keeps reading and writing these.

CREATE TABLE IF NOT EXISTS tenants (
    id                SERIAL PRIMARY KEY,
    company_name      TEXT,
    subdomain         TEXT NOT NULL UNIQUE,
    phone_system_type TEXT DEFAULT 'grandstream_ucm',
    pbx_ip            TEXT,
    pbx_username      TEXT,
    pbx_password      TEXT,
    pbx_port          INTEGER DEFAULT 8443,
    is_active         BOOLEAN DEFAULT TRUE,
    created_at        TIMESTAMP DEFAULT now()
);

CREATE TABLE IF NOT EXISTS cdr_records (
    id                   SERIAL PRIMARY KEY,
    tenant_id            INTEGER REFERENCES tenants (id),
    uniqueid             TEXT,
    src                  TEXT,
    dst                  TEXT,
    caller_name          TEXT,
    start_time           TEXT,
    answer_time          TEXT,
    end_time             TEXT,
    duration             INTEGER,
    billsec              INTEGER,
    disposition          TEXT,
    recordfiles          TEXT,
    recording_downloaded BOOLEAN DEFAULT FALSE,
    recording_local_path TEXT,
    call_date            TIMESTAMP,
    received_at          TIMESTAMP DEFAULT now()
);
