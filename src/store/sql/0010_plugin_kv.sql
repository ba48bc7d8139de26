-- Each plugin's key-value store, shared by every node (Mattermost's PluginKeyValueStore).
-- expire_at is in milliseconds; 0 never expires. Expired rows are invisible and purged later.
CREATE TABLE plugin_kv (
    plugin_id varchar(190) NOT NULL,
    pkey varchar(150) NOT NULL,
    pvalue bytea NOT NULL,
    expire_at bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (plugin_id, pkey)
);
CREATE INDEX plugin_kv_expire_at ON plugin_kv (expire_at) WHERE expire_at > 0;
