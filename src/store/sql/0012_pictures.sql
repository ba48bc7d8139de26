-- Profile pictures and team icons: when they last changed (0: never; negative: reset to the
-- generated one at that time), the clients' cache buster.
ALTER TABLE users ADD COLUMN last_picture_update bigint NOT NULL DEFAULT 0;
ALTER TABLE teams ADD COLUMN last_team_icon_update bigint NOT NULL DEFAULT 0;
-- An image file's thumbnail and preview, stored beside it, and its tiny JPEG mini preview.
ALTER TABLE fileinfo
    ADD COLUMN thumbnail_path text NOT NULL DEFAULT '',
    ADD COLUMN preview_path text NOT NULL DEFAULT '',
    ADD COLUMN mini_preview bytea;
