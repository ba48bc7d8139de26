-- Mattermost's Audits: security-relevant actions (logins, role and config changes, ...), written
-- by each node's auditor. node_id is Starling's: which node saw the request.
CREATE TABLE IF NOT EXISTS audits (
    id text PRIMARY KEY,
    create_at bigint NOT NULL,
    user_id text NOT NULL DEFAULT '',
    action text NOT NULL,
    extra_info text NOT NULL DEFAULT '',
    ip_address text NOT NULL DEFAULT '',
    session_id text NOT NULL DEFAULT '',
    node_id text NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS audits_create_at ON audits (create_at DESC, id);
CREATE INDEX IF NOT EXISTS audits_user_create_at ON audits (user_id, create_at DESC, id);
