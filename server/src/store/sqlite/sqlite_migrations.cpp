#include "store/sqlite/sqlite_migrations.hpp"

namespace alter::server::sqlite {
namespace {

// Conventions: times are INTEGER milliseconds since the Unix epoch (UTC); binary data is a BLOB
// with its key version copied into an INTEGER column (so rotation can find old rows); JSON is
// TEXT; booleans are INTEGER 0/1. App ids are not foreign keys: the audit trail and the
// other tables outlive whatever the admin API does to an app.
constexpr std::string_view kV1 = R"sql(
CREATE TABLE keyring (
  version     INTEGER PRIMARY KEY,
  wrapped_key BLOB    NOT NULL,
  created_at  INTEGER NOT NULL,
  active      INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX keyring_single_active ON keyring (active) WHERE active = 1;

CREATE TABLE apps (
  id                        TEXT    PRIMARY KEY,
  name                      TEXT    NOT NULL,
  return_url_allowlist_json TEXT    NOT NULL,
  created_at                INTEGER NOT NULL
);

CREATE TABLE api_keys (
  id         TEXT    PRIMARY KEY,
  app_id     TEXT    NOT NULL,
  name       TEXT    NOT NULL,
  hint       TEXT    NOT NULL,
  hash       TEXT    NOT NULL UNIQUE,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
);
CREATE INDEX api_keys_by_app ON api_keys (app_id, created_at);

CREATE TABLE admin_credentials (
  id         TEXT    PRIMARY KEY,
  name       TEXT    NOT NULL,
  hint       TEXT    NOT NULL,
  hash       TEXT    NOT NULL UNIQUE,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
);

CREATE TABLE provider_credentials (
  app_id                    TEXT    NOT NULL,
  provider_id               TEXT    NOT NULL,
  client_id                 TEXT    NOT NULL,
  client_secret             BLOB    NOT NULL,
  client_secret_key_version INTEGER NOT NULL,
  settings_json             TEXT    NOT NULL,
  updated_at                INTEGER NOT NULL,
  PRIMARY KEY (app_id, provider_id)
) WITHOUT ROWID;

CREATE TABLE custom_providers (
  id         TEXT    PRIMARY KEY,
  definition TEXT    NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE TABLE connections (
  id                 TEXT    PRIMARY KEY,
  app_id             TEXT    NOT NULL,
  provider_id        TEXT    NOT NULL,
  attributes_json    TEXT    NOT NULL,  -- canonical: keys sorted, no spaces
  tokens             BLOB    NOT NULL,
  tokens_key_version INTEGER NOT NULL,
  token_type         TEXT    NOT NULL,
  scopes_json        TEXT    NOT NULL,
  expires_at         INTEGER,
  status             TEXT    NOT NULL,
  metadata_json      TEXT    NOT NULL,
  created_at         INTEGER NOT NULL,
  updated_at         INTEGER NOT NULL,
  version            INTEGER NOT NULL,
  UNIQUE (app_id, provider_id, attributes_json)
);
CREATE INDEX connections_by_key_version ON connections (tokens_key_version);
CREATE INDEX connections_by_expiry ON connections (status, expires_at) WHERE expires_at IS NOT NULL;

-- One row per attribute, so that a lookup by attributes is one index probe per attribute.
CREATE TABLE connection_attributes (
  connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
  app_id        TEXT NOT NULL,
  provider_id   TEXT NOT NULL,
  name          TEXT NOT NULL,
  value         TEXT NOT NULL,
  PRIMARY KEY (connection_id, name)
) WITHOUT ROWID;
CREATE INDEX connection_attributes_lookup ON connection_attributes (app_id, provider_id, name, value);
-- For lookups without a provider (all of a user's connections).
CREATE INDEX connection_attributes_by_app ON connection_attributes (app_id, name, value);

-- seq is the rowid, so every single-column index below is also ordered by seq.
CREATE TABLE audit_events (
  seq           INTEGER PRIMARY KEY,
  id            TEXT    NOT NULL UNIQUE,
  ts            INTEGER NOT NULL,
  kind          TEXT    NOT NULL,
  app_id        TEXT    NOT NULL,
  actor_id      TEXT    NOT NULL,
  user_id       TEXT    NOT NULL,
  provider_id   TEXT    NOT NULL,
  connection_id TEXT    NOT NULL,
  decision      TEXT    NOT NULL,
  request_id    TEXT    NOT NULL,
  content       TEXT    NOT NULL,
  prev_hash     TEXT    NOT NULL,
  hash          TEXT    NOT NULL
);
CREATE INDEX audit_events_by_ts ON audit_events (ts);
CREATE INDEX audit_events_by_app ON audit_events (app_id);
CREATE INDEX audit_events_by_actor ON audit_events (actor_id);
CREATE INDEX audit_events_by_user ON audit_events (user_id);
CREATE INDEX audit_events_by_provider ON audit_events (provider_id);
CREATE INDEX audit_events_by_connection ON audit_events (connection_id);
CREATE INDEX audit_events_by_decision ON audit_events (decision);
CREATE INDEX audit_events_by_kind ON audit_events (kind);
CREATE INDEX audit_events_by_request ON audit_events (request_id);

CREATE TABLE audit_head (
  id   INTEGER PRIMARY KEY CHECK (id = 1),
  seq  INTEGER NOT NULL,
  hash TEXT    NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
  VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE policies (
  app_id     TEXT    NOT NULL,
  version    INTEGER NOT NULL,
  document   TEXT    NOT NULL,
  format     TEXT    NOT NULL,
  author     TEXT    NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (app_id, version)
) WITHOUT ROWID;

CREATE TABLE approvals (
  id           TEXT    PRIMARY KEY,
  app_id       TEXT    NOT NULL,
  status       TEXT    NOT NULL,
  binding_hash TEXT    NOT NULL,
  request_json TEXT    NOT NULL,
  rule_id      TEXT    NOT NULL,
  created_at   INTEGER NOT NULL,
  expires_at   INTEGER NOT NULL,
  decided_at   INTEGER,
  decided_by   TEXT    NOT NULL,
  valid_until  INTEGER,
  uses         INTEGER NOT NULL
);
CREATE INDEX approvals_by_app ON approvals (app_id, status, created_at);

CREATE TABLE connect_sessions (
  id                  TEXT    PRIMARY KEY,
  app_id              TEXT    NOT NULL,
  provider_id         TEXT    NOT NULL,
  attributes_json     TEXT    NOT NULL,
  return_url          TEXT    NOT NULL,
  token_hash          TEXT    NOT NULL UNIQUE,
  state_hash          TEXT    NOT NULL,
  pkce_verifier       BLOB    NOT NULL,
  pkce_key_version    INTEGER NOT NULL,
  settings_json       TEXT    NOT NULL,
  created_at          INTEGER NOT NULL,
  expires_at          INTEGER NOT NULL,
  used_at             INTEGER
);
CREATE INDEX connect_sessions_by_state ON connect_sessions (state_hash);
)sql";

// Version 2: every audit insert touched a random page of this index (one connection id per row);
// listing a connection's events is rare and is served by the time index with a filter instead.
constexpr const char* kV2 = R"sql(
DROP INDEX IF EXISTS audit_events_by_connection;
)sql";

// Version 3: apps get settings (what the audit trail keeps of calls, ...); audit rows get their
// payload (headers, bodies) beside the hashed content, so it can be purged.
constexpr const char* kV3 = R"sql(
ALTER TABLE apps ADD COLUMN settings_json TEXT NOT NULL DEFAULT '{}';
ALTER TABLE audit_events ADD COLUMN payload TEXT;
)sql";

// Version 4: each audit insert touched ten B-trees, and each is a page the group commit writes
// to the WAL. The app index served no query a scan by seq does not (few apps, each with many
// rows); kind and decision are indexed only for their rare values (the queries name them: see
// store_rows.hpp), since tokens and calls fill a page of results from the first rows scanned.
constexpr const char* kV4 = R"sql(
DROP INDEX IF EXISTS audit_events_by_app;
DROP INDEX IF EXISTS audit_events_by_kind;
DROP INDEX IF EXISTS audit_events_by_decision;
CREATE INDEX audit_events_rare_kinds ON audit_events (kind) WHERE kind NOT IN ('token', 'api_call');
CREATE INDEX audit_events_rare_decisions ON audit_events (decision) WHERE decision NOT IN ('issued', 'called');
)sql";

constexpr Migration kMigrations[] = {
    {1, kV1},
    {2, kV2},
    {3, kV3},
    {4, kV4},
};

}  // namespace

std::span<const Migration> migrations() { return kMigrations; }

}  // namespace alter::server::sqlite
