CREATE TABLE status (
    user_id varchar(26) PRIMARY KEY,
    status varchar(32) NOT NULL,
    manual boolean NOT NULL DEFAULT false,
    last_activity_at bigint NOT NULL DEFAULT 0
);
