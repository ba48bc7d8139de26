-- Failed logins since the last good one (Mattermost's Users.FailedAttempts): every node counts
-- into the same row, so spreading attempts over nodes does not help.
ALTER TABLE users ADD COLUMN IF NOT EXISTS failed_attempts integer NOT NULL DEFAULT 0;
