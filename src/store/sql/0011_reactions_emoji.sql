-- Reactions (one per user, post and emoji name), custom emoji, and what the post lists need of them.
ALTER TABLE posts ADD COLUMN has_reactions boolean NOT NULL DEFAULT false;

CREATE TABLE reactions (
    post_id varchar(26) NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
    user_id varchar(26) NOT NULL,
    emoji_name varchar(64) NOT NULL,
    channel_id varchar(26) NOT NULL,
    create_at bigint NOT NULL,
    update_at bigint NOT NULL,
    PRIMARY KEY (post_id, user_id, emoji_name)
);
CREATE INDEX reactions_emoji_name_idx ON reactions (emoji_name);

CREATE TABLE emoji (
    id varchar(26) PRIMARY KEY,
    create_at bigint NOT NULL,
    update_at bigint NOT NULL,
    delete_at bigint NOT NULL DEFAULT 0,
    creator_id varchar(26) NOT NULL,
    name varchar(64) NOT NULL
);
-- A name is taken by at most one live emoji; a deleted one frees it.
CREATE UNIQUE INDEX emoji_live_name_idx ON emoji (name) WHERE delete_at = 0;

CREATE INDEX posts_pinned_idx ON posts (channel_id, create_at) WHERE is_pinned AND delete_at = 0;
