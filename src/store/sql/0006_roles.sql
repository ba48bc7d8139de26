-- The ids of Mattermost's built-in roles in this installation (their permissions are built in).
CREATE TABLE roles (
    name varchar(64) PRIMARY KEY,
    id varchar(26) NOT NULL UNIQUE,
    create_at bigint NOT NULL
);
