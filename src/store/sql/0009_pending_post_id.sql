-- The web app's pending post ids are `<user id>:<ms>` (40 characters); the API accepts up to 64.
ALTER TABLE posts ALTER COLUMN pending_post_id TYPE varchar(64);
