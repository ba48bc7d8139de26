-- Sidebar categories per user and team. Defaults are made on first read; a channel sits in at most
-- one category of a (user, team); channels in none are shown in the default channels or direct
-- messages category.
CREATE TABLE sidebarcategories (
    id varchar(128) PRIMARY KEY,
    user_id varchar(26) NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    team_id varchar(26) NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    type varchar(32) NOT NULL,
    display_name varchar(64) NOT NULL,
    sorting varchar(64) NOT NULL DEFAULT '',
    muted boolean NOT NULL DEFAULT false,
    collapsed boolean NOT NULL DEFAULT false,
    sort_order bigint NOT NULL
);
CREATE INDEX sidebarcategories_user_team_idx ON sidebarcategories (user_id, team_id);

CREATE TABLE sidebarchannels (
    category_id varchar(128) NOT NULL REFERENCES sidebarcategories(id) ON DELETE CASCADE,
    channel_id varchar(26) NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    user_id varchar(26) NOT NULL,
    team_id varchar(26) NOT NULL,
    sort_order bigint NOT NULL,
    PRIMARY KEY (category_id, channel_id),
    CONSTRAINT sidebarchannels_one_category UNIQUE (user_id, team_id, channel_id)
);
