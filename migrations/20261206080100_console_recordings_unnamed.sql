-- Issue 22: recordings listed on a console whose rows show no file name (the row key is the
-- console's own id). Such a row is told apart from the calls by caller, callee and time, and
-- noted under a key made of those until its download names the file. Additive only.

-- false: `file` is that made-up key, not a file name; set true (and `file` to the downloaded
-- file's name) once the recording is kept.
ALTER TABLE console_recordings ADD COLUMN IF NOT EXISTS named BOOLEAN NOT NULL DEFAULT true;

-- For an unnamed recording: the greatest cdr_records.id of the tenant when it was noticed. Only
-- a call that arrived later (a greater id) can be its call: the ones known then were matched
-- to other rows of the list.
ALTER TABLE console_recordings ADD COLUMN IF NOT EXISTS calls_known_upto INTEGER;
