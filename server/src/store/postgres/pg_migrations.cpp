#include "store/postgres/pg_migrations.hpp"

namespace alter::server::pg {
namespace {

// The SQLite schema (sqlite/sqlite_migrations.cpp) in PostgreSQL's dialect, with the same
// uniqueness rules. Conventions: times are BIGINT milliseconds since the Unix epoch (UTC); binary
// data is BYTEA with its key version copied into a BIGINT column (so rotation can find old rows);
// JSON is TEXT, kept exactly as written (attributes_json is the canonical form that makes a
// connection unique). Identifiers, hashes and attribute names/values are COLLATE "C": byte order
// and byte equality as in SQLite, whatever the database's locale. App ids are not foreign keys:
// the audit trail and the other tables outlive whatever the admin API does to an app.
constexpr std::string_view kV1 = R"sql(
CREATE TABLE keyring (
  version     BIGINT  PRIMARY KEY,
  wrapped_key BYTEA   NOT NULL,
  created_at  BIGINT  NOT NULL,
  active      BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE UNIQUE INDEX keyring_single_active ON keyring (active) WHERE active;

CREATE TABLE apps (
  id                        TEXT COLLATE "C" PRIMARY KEY,
  name                      TEXT   NOT NULL,
  return_url_allowlist_json TEXT   NOT NULL,
  created_at                BIGINT NOT NULL
);

CREATE TABLE api_keys (
  id         TEXT COLLATE "C" PRIMARY KEY,
  app_id     TEXT COLLATE "C" NOT NULL,
  name       TEXT   NOT NULL,
  hint       TEXT   NOT NULL,
  hash       TEXT COLLATE "C" NOT NULL UNIQUE,
  created_at BIGINT NOT NULL,
  revoked_at BIGINT
);
CREATE INDEX api_keys_by_app ON api_keys (app_id, created_at);

CREATE TABLE admin_credentials (
  id         TEXT COLLATE "C" PRIMARY KEY,
  name       TEXT   NOT NULL,
  hint       TEXT   NOT NULL,
  hash       TEXT COLLATE "C" NOT NULL UNIQUE,
  created_at BIGINT NOT NULL,
  revoked_at BIGINT
);

CREATE TABLE provider_credentials (
  app_id                    TEXT COLLATE "C" NOT NULL,
  provider_id               TEXT COLLATE "C" NOT NULL,
  client_id                 TEXT   NOT NULL,
  client_secret             BYTEA  NOT NULL,
  client_secret_key_version BIGINT NOT NULL,
  settings_json             TEXT   NOT NULL,
  updated_at                BIGINT NOT NULL,
  PRIMARY KEY (app_id, provider_id)
);

CREATE TABLE custom_providers (
  id         TEXT COLLATE "C" PRIMARY KEY,
  definition TEXT   NOT NULL,
  updated_at BIGINT NOT NULL
);

CREATE TABLE connections (
  id                 TEXT COLLATE "C" PRIMARY KEY,
  app_id             TEXT COLLATE "C" NOT NULL,
  provider_id        TEXT COLLATE "C" NOT NULL,
  attributes_json    TEXT COLLATE "C" NOT NULL,  -- canonical: keys sorted, no spaces
  tokens             BYTEA  NOT NULL,
  tokens_key_version BIGINT NOT NULL,
  token_type         TEXT   NOT NULL,
  scopes_json        TEXT   NOT NULL,
  expires_at         BIGINT,
  status             TEXT COLLATE "C" NOT NULL,
  metadata_json      TEXT   NOT NULL,
  created_at         BIGINT NOT NULL,
  updated_at         BIGINT NOT NULL,
  version            BIGINT NOT NULL,
  CONSTRAINT connections_identity UNIQUE (app_id, provider_id, attributes_json)
);
CREATE INDEX connections_by_key_version ON connections (tokens_key_version);
CREATE INDEX connections_by_expiry ON connections (status, expires_at) WHERE expires_at IS NOT NULL;

-- One row per attribute, so that a lookup by attributes is one index probe per attribute.
CREATE TABLE connection_attributes (
  connection_id TEXT COLLATE "C" NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
  app_id        TEXT COLLATE "C" NOT NULL,
  provider_id   TEXT COLLATE "C" NOT NULL,
  name          TEXT COLLATE "C" NOT NULL,
  value         TEXT COLLATE "C" NOT NULL,
  PRIMARY KEY (connection_id, name)
);
CREATE INDEX connection_attributes_lookup ON connection_attributes (app_id, provider_id, name, value)
  INCLUDE (connection_id);
-- For lookups without a provider (all of a user's connections).
CREATE INDEX connection_attributes_by_app ON connection_attributes (app_id, name, value) INCLUDE (connection_id);

-- Each filter column is indexed together with seq, so a filtered page is one ordered range scan.
CREATE TABLE audit_events (
  seq           BIGINT PRIMARY KEY,
  id            TEXT COLLATE "C" NOT NULL UNIQUE,
  ts            BIGINT NOT NULL,
  kind          TEXT COLLATE "C" NOT NULL,
  app_id        TEXT COLLATE "C" NOT NULL,
  actor_id      TEXT COLLATE "C" NOT NULL,
  user_id       TEXT COLLATE "C" NOT NULL,
  provider_id   TEXT COLLATE "C" NOT NULL,
  connection_id TEXT COLLATE "C" NOT NULL,
  decision      TEXT COLLATE "C" NOT NULL,
  request_id    TEXT COLLATE "C" NOT NULL,
  content       TEXT   NOT NULL,
  prev_hash     TEXT   NOT NULL,
  hash          TEXT   NOT NULL
);
CREATE INDEX audit_events_by_ts ON audit_events (ts, seq);
CREATE INDEX audit_events_by_app ON audit_events (app_id, seq);
CREATE INDEX audit_events_by_actor ON audit_events (actor_id, seq);
CREATE INDEX audit_events_by_user ON audit_events (user_id, seq);
CREATE INDEX audit_events_by_provider ON audit_events (provider_id, seq);
CREATE INDEX audit_events_by_connection ON audit_events (connection_id, seq);
CREATE INDEX audit_events_by_decision ON audit_events (decision, seq);
CREATE INDEX audit_events_by_kind ON audit_events (kind, seq);
CREATE INDEX audit_events_by_request ON audit_events (request_id, seq);

-- Writers lock this row (SELECT ... FOR UPDATE) to extend the chain: one chain across instances.
CREATE TABLE audit_head (
  id   INTEGER PRIMARY KEY CHECK (id = 1),
  seq  BIGINT NOT NULL,
  hash TEXT   NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
  VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE policies (
  app_id     TEXT COLLATE "C" NOT NULL,
  version    BIGINT NOT NULL,
  document   TEXT   NOT NULL,
  format     TEXT   NOT NULL,
  author     TEXT   NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (app_id, version)
);

CREATE TABLE approvals (
  id           TEXT COLLATE "C" PRIMARY KEY,
  app_id       TEXT COLLATE "C" NOT NULL,
  status       TEXT COLLATE "C" NOT NULL,
  binding_hash TEXT   NOT NULL,
  request_json TEXT   NOT NULL,
  rule_id      TEXT   NOT NULL,
  created_at   BIGINT NOT NULL,
  expires_at   BIGINT NOT NULL,
  decided_at   BIGINT,
  decided_by   TEXT   NOT NULL,
  valid_until  BIGINT,
  uses         BIGINT NOT NULL
);
CREATE INDEX approvals_by_app ON approvals (app_id, status, created_at);

CREATE TABLE connect_sessions (
  id               TEXT COLLATE "C" PRIMARY KEY,
  app_id           TEXT COLLATE "C" NOT NULL,
  provider_id      TEXT COLLATE "C" NOT NULL,
  attributes_json  TEXT   NOT NULL,
  return_url       TEXT   NOT NULL,
  token_hash       TEXT COLLATE "C" NOT NULL UNIQUE,
  state_hash       TEXT COLLATE "C" NOT NULL,
  pkce_verifier    BYTEA  NOT NULL,
  pkce_key_version BIGINT NOT NULL,
  settings_json    TEXT   NOT NULL,
  created_at       BIGINT NOT NULL,
  expires_at       BIGINT NOT NULL,
  used_at          BIGINT
);
CREATE INDEX connect_sessions_by_state ON connect_sessions (state_hash);

-- Shared by every instance (SQLite keeps these in the process): fixed-window rate-limit counters,
-- and the change counter that tells instances to reload cached state.
CREATE TABLE rate_limits (
  key          TEXT COLLATE "C" NOT NULL,
  window_start BIGINT NOT NULL,
  window_end   BIGINT NOT NULL,
  count        BIGINT NOT NULL,
  PRIMARY KEY (key, window_start)
);
CREATE INDEX rate_limits_by_end ON rate_limits (window_end);

CREATE TABLE change_version (
  id      INTEGER PRIMARY KEY CHECK (id = 1),
  version BIGINT NOT NULL
);
INSERT INTO change_version (id, version) VALUES (1, 0);
)sql";

// Version 2: apps get settings (what the audit trail keeps of calls, ...); audit rows get their
// payload (headers, bodies) beside the hashed content, so it can be purged.
constexpr const char* kV2 = R"sql(
ALTER TABLE apps ADD COLUMN settings_json TEXT NOT NULL DEFAULT '{}';
ALTER TABLE audit_events ADD COLUMN payload TEXT;
)sql";

// Version 3: fewer B-trees per audit insert (see the SQLite store's version 4): no app index, and
// kind and decision indexed for their rare values only; the connection index goes too (a
// connection's events are found through the time or user index with a filter, as in SQLite).
// The two indexes are built inside the migration's transaction: on a large trail, audit inserts of
// instances still running wait until it commits (upgrade in a quiet moment, or stop them first).
constexpr const char* kV3 = R"sql(
DROP INDEX IF EXISTS audit_events_by_app;
DROP INDEX IF EXISTS audit_events_by_kind;
DROP INDEX IF EXISTS audit_events_by_decision;
DROP INDEX IF EXISTS audit_events_by_connection;
CREATE INDEX audit_events_rare_kinds ON audit_events (kind, seq) WHERE kind NOT IN ('token', 'api_call');
CREATE INDEX audit_events_rare_decisions ON audit_events (decision, seq) WHERE decision NOT IN ('issued', 'called');
)sql";

constexpr Migration kMigrations[] = {
    {1, kV1},
    {2, kV2},
    {3, kV3},
};

}  // namespace

std::span<const Migration> migrations() { return kMigrations; }

}  // namespace alter::server::pg
