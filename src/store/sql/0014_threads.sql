-- Collapsed reply threads, as Mattermost keeps them: one row per thread (its root post), kept by
-- each reply in the statement that creates it, and one row per user who follows (or once followed)
-- a thread. Unread replies are counted from posts; unread mentions are kept here.
CREATE TABLE threads (
    post_id varchar(26) PRIMARY KEY REFERENCES posts(id) ON DELETE CASCADE,
    channel_id varchar(26) NOT NULL,
    reply_count bigint NOT NULL DEFAULT 0,
    last_reply_at bigint NOT NULL DEFAULT 0,
    -- The ids of the users who replied, in the order of their first reply.
    participants jsonb NOT NULL DEFAULT '[]'::jsonb,
    thread_delete_at bigint NOT NULL DEFAULT 0
);
CREATE INDEX threads_channel_idx ON threads (channel_id, last_reply_at);

CREATE TABLE threadmemberships (
    post_id varchar(26) NOT NULL REFERENCES threads(post_id) ON DELETE CASCADE,
    user_id varchar(26) NOT NULL,
    following boolean NOT NULL,
    last_viewed bigint NOT NULL DEFAULT 0,
    last_updated bigint NOT NULL,
    unread_mentions bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (post_id, user_id)
);
CREATE INDEX threadmemberships_user_idx ON threadmemberships (user_id, last_updated);

-- Threads that already have replies.
INSERT INTO threads (post_id, channel_id, reply_count, last_reply_at, participants, thread_delete_at)
SELECT root.id, root.channel_id,
    (SELECT count(*) FROM posts r WHERE r.root_id = root.id AND r.delete_at = 0),
    (SELECT COALESCE(max(r.create_at), 0) FROM posts r WHERE r.root_id = root.id AND r.delete_at = 0),
    (SELECT COALESCE(jsonb_agg(u.user_id ORDER BY u.first), '[]'::jsonb) FROM
        (SELECT r.user_id, min(r.create_at) AS first FROM posts r WHERE r.root_id = root.id AND r.delete_at = 0
         GROUP BY r.user_id) u),
    root.delete_at
FROM posts root WHERE root.root_id = '' AND EXISTS (SELECT 1 FROM posts r WHERE r.root_id = root.id);

-- Who follows them: the root's author and every replier, with nothing unread at the upgrade.
INSERT INTO threadmemberships (post_id, user_id, following, last_viewed, last_updated, unread_mentions)
SELECT t.post_id, u.user_id, true, t.last_reply_at, t.last_reply_at, 0
FROM threads t, LATERAL (
    SELECT p.user_id FROM posts p WHERE p.id = t.post_id
    UNION SELECT r.user_id FROM posts r WHERE r.root_id = t.post_id AND r.delete_at = 0) u;
