-- udap-server schema version 2: the audit trail (issue 10 item 5).
-- One row per security event, written once, never updated. `id` sorts by time (it starts with the
-- 13-digit unix milliseconds of `recorded`), so `ORDER BY id` is time order; `body` is the FHIR
-- AuditEvent resource, which never holds a token, code, secret or password.
CREATE TABLE audit (
    id        text COLLATE "C" PRIMARY KEY,
    recorded  bigint NOT NULL,            -- unix milliseconds
    kind      text NOT NULL,              -- registration_created, token_refused, ...
    client_id text COLLATE "C" NULL,      -- the acting or concerned client, if any
    body      jsonb NOT NULL
);

-- Time-range queries (`audit list --since`) and one client's records in time order.
CREATE INDEX audit_recorded ON audit (recorded);
CREATE INDEX audit_client ON audit (client_id, id) WHERE client_id IS NOT NULL;
