CREATE TABLE users (
    id varchar(26) PRIMARY KEY,
    create_at bigint NOT NULL,
    update_at bigint NOT NULL,
    delete_at bigint NOT NULL DEFAULT 0,
    username varchar(64) NOT NULL,
    password varchar(256) NOT NULL,
    email varchar(128) NOT NULL,
    email_verified boolean NOT NULL DEFAULT false,
    nickname varchar(64) NOT NULL DEFAULT '',
    first_name varchar(64) NOT NULL DEFAULT '',
    last_name varchar(64) NOT NULL DEFAULT '',
    position varchar(128) NOT NULL DEFAULT '',
    roles varchar(256) NOT NULL,
    locale varchar(5) NOT NULL DEFAULT 'en',
    last_password_update bigint NOT NULL,
    props jsonb NOT NULL DEFAULT '{}',
    notify_props jsonb NOT NULL DEFAULT '{}',
    timezone jsonb NOT NULL DEFAULT '{}',
    CONSTRAINT users_username_key UNIQUE (username),
    CONSTRAINT users_email_key UNIQUE (email)
);

CREATE TABLE sessions (
    id varchar(26) PRIMARY KEY,
    token varchar(26) NOT NULL UNIQUE,
    create_at bigint NOT NULL,
    expires_at bigint NOT NULL,
    last_activity_at bigint NOT NULL,
    user_id varchar(26) NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    device_id varchar(512) NOT NULL DEFAULT '',
    roles varchar(256) NOT NULL,
    props jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

CREATE TABLE teams (
    id varchar(26) PRIMARY KEY,
    create_at bigint NOT NULL,
    update_at bigint NOT NULL,
    delete_at bigint NOT NULL DEFAULT 0,
    display_name varchar(64) NOT NULL,
    name varchar(64) NOT NULL,
    description varchar(255) NOT NULL DEFAULT '',
    email varchar(128) NOT NULL DEFAULT '',
    type varchar(1) NOT NULL,
    company_name varchar(64) NOT NULL DEFAULT '',
    allowed_domains varchar(1000) NOT NULL DEFAULT '',
    invite_id varchar(32) NOT NULL,
    allow_open_invite boolean NOT NULL DEFAULT false,
    CONSTRAINT teams_name_key UNIQUE (name)
);

CREATE TABLE teammembers (
    team_id varchar(26) NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    user_id varchar(26) NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    roles varchar(256) NOT NULL DEFAULT '',
    delete_at bigint NOT NULL DEFAULT 0,
    scheme_user boolean NOT NULL DEFAULT true,
    scheme_admin boolean NOT NULL DEFAULT false,
    scheme_guest boolean NOT NULL DEFAULT false,
    create_at bigint NOT NULL,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX teammembers_user_id_idx ON teammembers (user_id);

CREATE TABLE channels (
    id varchar(26) PRIMARY KEY,
    create_at bigint NOT NULL,
    update_at bigint NOT NULL,
    delete_at bigint NOT NULL DEFAULT 0,
    team_id varchar(26) NOT NULL,
    type varchar(1) NOT NULL,
    display_name varchar(64) NOT NULL,
    name varchar(64) NOT NULL,
    header varchar(1024) NOT NULL DEFAULT '',
    purpose varchar(250) NOT NULL DEFAULT '',
    last_post_at bigint NOT NULL DEFAULT 0,
    last_root_post_at bigint NOT NULL DEFAULT 0,
    total_msg_count bigint NOT NULL DEFAULT 0,
    total_msg_count_root bigint NOT NULL DEFAULT 0,
    extra_update_at bigint NOT NULL DEFAULT 0,
    creator_id varchar(26) NOT NULL DEFAULT '',
    -- The newest update_at handed out in this channel: post writes take the next millisecond
    -- under this row's lock, so update_at is strictly increasing per channel and `since` misses nothing.
    post_clock bigint NOT NULL DEFAULT 0,
    CONSTRAINT channels_name_team_id_key UNIQUE (name, team_id)
);
CREATE INDEX channels_team_id_idx ON channels (team_id);

CREATE TABLE channelmembers (
    channel_id varchar(26) NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    user_id varchar(26) NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    roles varchar(256) NOT NULL DEFAULT '',
    last_viewed_at bigint NOT NULL DEFAULT 0,
    msg_count bigint NOT NULL DEFAULT 0,
    msg_count_root bigint NOT NULL DEFAULT 0,
    mention_count bigint NOT NULL DEFAULT 0,
    mention_count_root bigint NOT NULL DEFAULT 0,
    notify_props jsonb NOT NULL DEFAULT '{}',
    last_update_at bigint NOT NULL,
    scheme_user boolean NOT NULL DEFAULT true,
    scheme_admin boolean NOT NULL DEFAULT false,
    scheme_guest boolean NOT NULL DEFAULT false,
    PRIMARY KEY (channel_id, user_id)
);
CREATE INDEX channelmembers_user_id_idx ON channelmembers (user_id);

CREATE TABLE posts (
    id varchar(26) PRIMARY KEY,
    create_at bigint NOT NULL,
    update_at bigint NOT NULL,
    edit_at bigint NOT NULL DEFAULT 0,
    delete_at bigint NOT NULL DEFAULT 0,
    is_pinned boolean NOT NULL DEFAULT false,
    user_id varchar(26) NOT NULL,
    channel_id varchar(26) NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    root_id varchar(26) NOT NULL DEFAULT '',
    original_id varchar(26) NOT NULL DEFAULT '',
    message text NOT NULL,
    type varchar(26) NOT NULL DEFAULT '',
    props jsonb NOT NULL DEFAULT '{}',
    hashtags varchar(1000) NOT NULL DEFAULT '',
    file_ids jsonb NOT NULL DEFAULT '[]',
    pending_post_id varchar(26) NOT NULL DEFAULT '',
    last_reply_at bigint NOT NULL DEFAULT 0
);
CREATE INDEX posts_channel_update_idx ON posts (channel_id, update_at, id);
CREATE INDEX posts_channel_create_idx ON posts (channel_id, create_at, id);
CREATE INDEX posts_root_id_idx ON posts (root_id) WHERE root_id <> '';

CREATE TABLE fileinfo (
    id varchar(26) PRIMARY KEY,
    creator_id varchar(26) NOT NULL,
    post_id varchar(26) NOT NULL DEFAULT '',
    channel_id varchar(26) NOT NULL,
    create_at bigint NOT NULL,
    update_at bigint NOT NULL,
    delete_at bigint NOT NULL DEFAULT 0,
    path text NOT NULL,
    name text NOT NULL,
    extension varchar(64) NOT NULL DEFAULT '',
    size bigint NOT NULL,
    mime_type text NOT NULL DEFAULT '',
    width integer NOT NULL DEFAULT 0,
    height integer NOT NULL DEFAULT 0,
    has_preview_image boolean NOT NULL DEFAULT false
);
CREATE INDEX fileinfo_post_id_idx ON fileinfo (post_id);

CREATE TABLE systems (
    name varchar(64) PRIMARY KEY,
    value text NOT NULL
);
