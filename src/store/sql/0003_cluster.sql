CREATE TABLE clusterdiscovery (
    id varchar(26) PRIMARY KEY,
    type varchar(64) NOT NULL,
    clustername varchar(64) NOT NULL,
    hostname varchar(512) NOT NULL,
    gossipport integer NOT NULL,
    port integer NOT NULL,
    createat bigint NOT NULL,
    lastpingat bigint NOT NULL
);
CREATE INDEX clusterdiscovery_type_name_idx ON clusterdiscovery (type, clustername);
