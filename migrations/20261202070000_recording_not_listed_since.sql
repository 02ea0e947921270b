-- Issue 13: a recording can appear on the console after its CDR row (still being written, or the
-- console's list lags). When the console does not list a call's recording, the worker notes
-- since when and checks again on later passes; only once the call is older than
-- NOT_LISTED_GRACE does it become `not_on_console`. The call stays `pending` meanwhile, so the
-- claim query, its index and the status vocabulary are unchanged. Additive only.
ALTER TABLE cdr_records
    ADD COLUMN IF NOT EXISTS recording_not_listed_since TIMESTAMPTZ;
