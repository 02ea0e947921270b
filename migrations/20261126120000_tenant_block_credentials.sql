-- Which credentials a login block applies to (issue 6, lockout protection). A block holds only
-- while the tenant's console address and credentials are the ones that failed: any change to
-- them (by `ucm-scraper tenant update`, the backend, or SQL) lifts it without a worker restart.
-- The value is SHA-256 over the stored columns (the password as stored, i.e. a ciphertext).
ALTER TABLE tenants
    ADD COLUMN IF NOT EXISTS ucm_blocked_credentials TEXT;
