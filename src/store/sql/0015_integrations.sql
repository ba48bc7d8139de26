-- Integrations: bot accounts, personal access tokens and incoming webhooks, as Mattermost keeps
-- them. A bot is a user (users.is_bot) with a row here naming its owner. A token is kept only as
-- its SHA-256 (it is shown once, at creation), so the table cannot be used to sign in.
ALTER TABLE users ADD COLUMN is_bot boolean NOT NULL DEFAULT false;

CREATE TABLE bots (
    user_id varchar(26) PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    description varchar(1024) NOT NULL DEFAULT '',
    owner_id varchar(190) NOT NULL,
    create_at bigint NOT NULL,
    update_at bigint NOT NULL,
    delete_at bigint NOT NULL DEFAULT 0
);
CREATE INDEX bots_owner_idx ON bots (owner_id);

CREATE TABLE user_access_tokens (
    id varchar(26) PRIMARY KEY,
    token_hash varchar(64) NOT NULL UNIQUE,
    user_id varchar(26) NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    description varchar(512) NOT NULL DEFAULT '',
    is_active boolean NOT NULL DEFAULT true,
    create_at bigint NOT NULL
);
CREATE INDEX user_access_tokens_user_idx ON user_access_tokens (user_id);

CREATE TABLE incoming_webhooks (
    id varchar(26) PRIMARY KEY,
    create_at bigint NOT NULL,
    update_at bigint NOT NULL,
    delete_at bigint NOT NULL DEFAULT 0,
    user_id varchar(26) NOT NULL,
    channel_id varchar(26) NOT NULL,
    team_id varchar(26) NOT NULL,
    display_name varchar(64) NOT NULL DEFAULT '',
    description varchar(500) NOT NULL DEFAULT '',
    username varchar(255) NOT NULL DEFAULT '',
    icon_url varchar(1024) NOT NULL DEFAULT '',
    channel_locked boolean NOT NULL DEFAULT false
);
CREATE INDEX incoming_webhooks_team_idx ON incoming_webhooks (team_id) WHERE delete_at = 0;
