-- The job server: Mattermost's Jobs table, plus what running each job exactly once in a cluster
-- needs, and an audit of every run.
CREATE TABLE jobs (
    id varchar(26) PRIMARY KEY,
    type varchar(64) NOT NULL,
    priority bigint NOT NULL DEFAULT 0,
    create_at bigint NOT NULL,
    start_at bigint NOT NULL DEFAULT 0,
    last_activity_at bigint NOT NULL DEFAULT 0,
    status varchar(32) NOT NULL,
    progress bigint NOT NULL DEFAULT 0,
    data jsonb NOT NULL DEFAULT '{}',
    -- The period a recurring job was scheduled for (NULL for jobs created through the API). Unique
    -- per type: two nodes that both believe they lead cannot create one period's job twice.
    schedule_key varchar(64),
    -- The node that created the job.
    created_by varchar(26) NOT NULL DEFAULT '',
    -- The node that holds (or last held) the job, and how many times it has been claimed. Every
    -- write of a runner names its attempt, so a runner that lost the job cannot finish it.
    node_id varchar(26) NOT NULL DEFAULT '',
    attempt integer NOT NULL DEFAULT 0,
    CONSTRAINT jobs_type_schedule_key_key UNIQUE (type, schedule_key)
);
CREATE INDEX jobs_status_idx ON jobs (status, priority DESC, create_at);
CREATE INDEX jobs_type_create_at_idx ON jobs (type, create_at DESC);
CREATE INDEX jobs_create_at_idx ON jobs (create_at DESC);

-- One row per claim: which node ran which attempt of a job and how that attempt ended
-- (running, success, error, canceled, released, abandoned). The final row is written in the same
-- statement as the job's final status.
CREATE TABLE jobruns (
    job_id varchar(26) NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    attempt integer NOT NULL,
    node_id varchar(26) NOT NULL,
    start_at bigint NOT NULL,
    end_at bigint NOT NULL DEFAULT 0,
    outcome varchar(32) NOT NULL DEFAULT 'running',
    detail text NOT NULL DEFAULT '',
    PRIMARY KEY (job_id, attempt)
);

-- Data retention looks posts and files up by age.
CREATE INDEX posts_create_at_idx ON posts (create_at);
CREATE INDEX fileinfo_create_at_idx ON fileinfo (create_at);
