-- Custom slash commands (Mattermost's Commands). The token is sent to the command's URL with
-- every call and shown to its managers, so it is kept as it is.
CREATE TABLE commands (
    id varchar(26) PRIMARY KEY,
    token varchar(26) NOT NULL,
    create_at bigint NOT NULL,
    update_at bigint NOT NULL,
    delete_at bigint NOT NULL DEFAULT 0,
    creator_id varchar(26) NOT NULL,
    team_id varchar(26) NOT NULL,
    trigger varchar(128) NOT NULL,
    method varchar(1) NOT NULL,
    username varchar(64) NOT NULL DEFAULT '',
    icon_url varchar(1024) NOT NULL DEFAULT '',
    auto_complete boolean NOT NULL DEFAULT false,
    auto_complete_desc varchar(1024) NOT NULL DEFAULT '',
    auto_complete_hint varchar(1024) NOT NULL DEFAULT '',
    display_name varchar(64) NOT NULL DEFAULT '',
    description varchar(128) NOT NULL DEFAULT '',
    url varchar(1024) NOT NULL
);
-- A trigger names at most one live command per team.
CREATE UNIQUE INDEX commands_live_trigger_idx ON commands (team_id, trigger) WHERE delete_at = 0;
