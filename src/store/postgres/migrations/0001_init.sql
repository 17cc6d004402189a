-- udap-server schema version 1.
-- Portable SQL (PostgreSQL; meant to run on CockroachDB and YugabyteDB too). The one
-- PostgreSQL-specific choice is COLLATE "C": keys sort and compare by bytes, as in redb.

-- Every typed repository (clients, communities, codes, grants, sessions, users, server keys, ...)
-- as JSON under a string key; `tbl` names the repository. Records gain optional fields without a
-- migration. Secrets (codes, refresh tokens, session ids, client secrets) are keyed by their
-- SHA-256, never stored as such.
CREATE TABLE kv (
    tbl   text COLLATE "C" NOT NULL,
    key   text COLLATE "C" NOT NULL,
    value jsonb NOT NULL,
    PRIMARY KEY (tbl, key)
);

-- The replay cache (UDAP-5): one row per (iss, jti), kept until keep_until (exp plus skew).
CREATE TABLE jti (
    iss        text COLLATE "C" NOT NULL,
    jti        text COLLATE "C" NOT NULL,
    keep_until bigint NOT NULL,
    PRIMARY KEY (iss, jti)
);

-- Pruning by time touches only expired rows.
CREATE INDEX jti_keep_until ON jti (keep_until);
