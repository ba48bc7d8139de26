-- Full-text search on post messages (POST /teams/{team_id}/posts/search). The expression must stay
-- exactly the one store::search uses, or PostgreSQL cannot use the index.
CREATE INDEX IF NOT EXISTS posts_message_fts_idx ON posts USING gin (to_tsvector('english', message));
