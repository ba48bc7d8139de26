CREATE TABLE preferences (
    user_id varchar(26) NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    category varchar(32) NOT NULL,
    name varchar(32) NOT NULL,
    value text NOT NULL,
    PRIMARY KEY (user_id, category, name)
);
