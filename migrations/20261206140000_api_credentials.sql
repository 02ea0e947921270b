-- Issue 25: the HTTPS API road (docs/https-api.md). Additive only: the Python backend shares
-- `tenants` and never reads these columns.

-- The API user (a separate account from the web admin), its password sealed exactly like
-- pbx_password (a Fernet token or a `v1:` value), and the API's port when it differs from
-- pbx_port (NULL: pbx_port).
ALTER TABLE tenants ADD COLUMN IF NOT EXISTS api_username TEXT;
ALTER TABLE tenants ADD COLUMN IF NOT EXISTS api_password TEXT;
ALTER TABLE tenants ADD COLUMN IF NOT EXISTS api_port INTEGER;

-- Which road the worker takes to the tenant's recordings: `auto` (the API when its
-- credentials are set and the console answers it, else the browser), `browser` or `api`.
ALTER TABLE tenants ADD COLUMN IF NOT EXISTS driver TEXT NOT NULL DEFAULT 'auto';
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'tenants_driver_check') THEN
        ALTER TABLE tenants ADD CONSTRAINT tenants_driver_check
            CHECK (driver IN ('auto', 'browser', 'api'));
    END IF;
END $$;

-- A refused API login (wrong account or password, unknown user) holds the API road, not the
-- tenant: the browser carries on, and no further bad API login is spent until the hold ends or
-- the API credentials change (the hold remembers a fingerprint of them, as
-- ucm_blocked_credentials does for the web login).
ALTER TABLE tenants ADD COLUMN IF NOT EXISTS api_login_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tenants ADD COLUMN IF NOT EXISTS api_held_until TIMESTAMPTZ;
ALTER TABLE tenants ADD COLUMN IF NOT EXISTS api_held_credentials TEXT;
ALTER TABLE tenants ADD COLUMN IF NOT EXISTS api_last_error TEXT;
