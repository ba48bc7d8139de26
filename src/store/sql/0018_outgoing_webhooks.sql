-- Outgoing webhooks (Mattermost's OutgoingWebhooks): a team's hook watches one open channel, or
-- every open channel of the team for its trigger words, and POSTs each matching post to its
-- callback URLs. The token is sent with every call and shown to its managers, so it is kept as it is.
CREATE TABLE outgoing_webhooks (
    id varchar(26) PRIMARY KEY,
    token varchar(26) NOT NULL,
    create_at bigint NOT NULL,
    update_at bigint NOT NULL,
    delete_at bigint NOT NULL DEFAULT 0,
    creator_id varchar(26) NOT NULL,
    channel_id varchar(26) NOT NULL DEFAULT '',
    team_id varchar(26) NOT NULL,
    trigger_words text[] NOT NULL DEFAULT '{}',
    trigger_when integer NOT NULL DEFAULT 0,
    callback_urls text[] NOT NULL,
    display_name varchar(64) NOT NULL DEFAULT '',
    description varchar(500) NOT NULL DEFAULT '',
    content_type varchar(128) NOT NULL DEFAULT 'application/x-www-form-urlencoded',
    username varchar(64) NOT NULL DEFAULT '',
    icon_url varchar(1024) NOT NULL DEFAULT ''
);
-- Every post in an open channel looks up its team's live hooks.
CREATE INDEX outgoing_webhooks_team_idx ON outgoing_webhooks (team_id) WHERE delete_at = 0;

-- One row per (hook, post) call, inserted by the node that is about to make it: the key makes the
-- call happen at most once in the cluster, and a call whose node died is never made again.
CREATE TABLE outgoing_webhook_calls (
    hook_id varchar(26) NOT NULL,
    post_id varchar(26) NOT NULL,
    node_id varchar(64) NOT NULL,
    claimed_at bigint NOT NULL,
    PRIMARY KEY (hook_id, post_id)
);
CREATE INDEX outgoing_webhook_calls_claimed_idx ON outgoing_webhook_calls (claimed_at);

-- A slash command's response_url (Mattermost's CommandWebhooks): the id is the secret in
-- `/hooks/commands/{id}`, usable CommandWebhookMaxUses times within its lifetime.
CREATE TABLE command_webhooks (
    id varchar(26) PRIMARY KEY,
    create_at bigint NOT NULL,
    command_id varchar(26) NOT NULL,
    user_id varchar(26) NOT NULL,
    channel_id varchar(26) NOT NULL,
    root_id varchar(26) NOT NULL DEFAULT '',
    use_count integer NOT NULL DEFAULT 0
);
CREATE INDEX command_webhooks_create_idx ON command_webhooks (create_at);
