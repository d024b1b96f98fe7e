// Admin commands over the admin API: apps, keys, providers, connections, connect, audit,
// policies, approvals, keyring, admins.
#include <alter/common/secret.hpp>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <sstream>

#include "commands.hpp"
#include "audit/audit.hpp"
#include "output.hpp"

namespace alter::cli {
namespace {

using nlohmann::json;

// Option storage lives as long as the CLI::App (static: one process, one parse).
struct Opts {
  std::string app = "default";
  std::string id;
  std::string id2;
  std::string name;
  std::string file;
  std::string provider;
  std::string status;
  std::string client_id;
  std::string secret_file;
  std::string access_token_file;
  std::string credential_file;
  std::string api_key_file;
  std::string refresh_token_file;
  std::string token_type;
  std::string expires_at;
  long long expires_in = -1;
  std::string return_url;
  std::vector<std::string> return_urls;
  std::vector<std::string> users;
  std::vector<std::string> settings;
  std::vector<std::string> scopes;
  std::string since, until, actor, decision, kind, request_id, output, format;
  std::string audit_capture;
  std::vector<std::string> audit_capture_for;
  std::string url_less;
  std::string token_handout;
  bool all = false;
  std::size_t limit = 100;
  std::string method = "GET";
  std::string url;
  std::string reason;
  std::string source_ip;
  std::string at;
};
Opts o;

// --actor: ID or TYPE:ID; a TYPE that is not one is a usage error, with the allowed ones.
void check_actor(const std::string& actor, bool allow_admin) {
  const auto colon = actor.find(':');
  if (colon == std::string::npos) return;
  const std::string type = actor.substr(0, colon);
  std::vector<std::string> types = {"ai_agent", "mcp_server", "application"};
  if (allow_admin) types.push_back("admin");
  if (std::find(types.begin(), types.end(), type) == types.end()) {
    std::string list;
    for (const auto& t : types) list += (list.empty() ? "" : ", ") + t;
    throw CliError{"--actor '" + actor + "': the type must be one of " + list + " (or give only the ID)", 2};
  }
}

void print(const GlobalOptions& g, const json& j, const std::function<void()>& human) {
  if (g.json) {
    std::cout << j.dump(2) << "\n";
  } else {
    human();
  }
}

std::string app_path(const std::string& rest) { return "/v1/admin/apps/" + encode(o.app) + rest; }

void add_app_option(CLI::App* cmd) { cmd->add_option("--app", o.app, "the app (tenant)")->capture_default_str(); }

std::string query_of(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string q;
  for (const auto& [k, v] : params) {
    if (v.empty()) continue;
    q += (q.empty() ? "?" : "&") + encode(k) + "=" + encode(v);
  }
  return q;
}

void register_apps(CLI::App& app, GlobalOptions& g) {
  auto* apps = app.add_subcommand("apps", "apps (tenants): each has its own keys, providers, connections and policy");
  apps->require_subcommand(1);
  apps->add_subcommand("list", "list apps")->callback(guarded(g, [&g] {
    auto a = g.client().call("GET", "/v1/admin/apps");
    print(g, a.body, [&] {
      std::vector<std::vector<std::string>> rows;
      for (const auto& x : a.body["apps"]) rows.push_back({cell(x["id"]), cell(x["name"]), cell(x["created_at"])});
      print_table({"ID", "NAME", "CREATED"}, rows);
    });
  }));
  auto* create = apps->add_subcommand("create", "create an app");
  create->add_option("id", o.id, "app id: [a-z0-9][a-z0-9_-]*")->required();
  create->add_option("--name", o.name, "display name");
  create->add_option("--return-url", o.return_urls, "URL prefix allowed as connect return_url (repeatable)");
  create->add_option("--token-handout", o.token_handout,
                     "on: POST /oauth/token hands the app raw tokens (alter-sdk 0.1 clients need it); off (default): "
                     "providers are called through the vault's proxy and the token never leaves the vault")
      ->check(CLI::IsMember({"on", "off"}));
  create->callback(guarded(g, [&g] {
    json body = {{"id", o.id}, {"name", o.name.empty() ? o.id : o.name}, {"return_url_allowlist", o.return_urls}};
    if (!o.token_handout.empty()) body["settings"] = {{"token_handout", o.token_handout == "on"}};
    auto a = g.client().call("POST", "/v1/admin/apps", &body);
    print(g, a.body, [&] { std::cout << "Created app " << a.body["id"].get<std::string>() << "\n"; });
  }));
  auto* show = apps->add_subcommand("show", "show an app");
  show->add_option("id", o.id)->required();
  show->callback(guarded(g, [&g] { std::cout << g.client().call("GET", "/v1/admin/apps/" + encode(o.id)).body.dump(2) << "\n"; }));
  auto* update = apps->add_subcommand("update", "change an app's name, return URL allow-list or audit settings");
  update->add_option("id", o.id)->required();
  update->add_option("--name", o.name);
  update->add_option("--return-url", o.return_urls, "replaces the allow-list (repeatable)");
  update->add_option("--audit-capture", o.audit_capture,
                     "what call rows keep besides method, URL, status and sizes: none, headers (default) or bodies")
      ->check(CLI::IsMember({"none", "headers", "bodies"}));
  update->add_option("--audit-capture-for", o.audit_capture_for, "PROVIDER=none|headers|bodies, overriding --audit-capture (repeatable)");
  update->add_option("--url-less-token-requests", o.url_less,
                     "on: token requests without a URL (alter-sdk 0.1 clients) are decided, by rules with no host, path or "
                     "method criteria only; off (default): they are refused")
      ->check(CLI::IsMember({"on", "off"}));
  update->add_option("--token-handout", o.token_handout,
                     "on: POST /oauth/token hands the app raw tokens (alter-sdk 0.1 clients need it); off: 403 "
                     "token_handout_disabled, and providers are called through the vault's proxy")
      ->check(CLI::IsMember({"on", "off"}));
  update->callback(guarded(g, [&g] {
    json body = json::object();
    if (!o.name.empty()) body["name"] = o.name;
    if (!o.return_urls.empty()) body["return_url_allowlist"] = o.return_urls;
    json settings = json::object();
    if (!o.audit_capture.empty()) settings["audit_capture"] = o.audit_capture;
    if (!o.audit_capture_for.empty()) {
      json by = json::object();
      for (const auto& [provider, level] : parse_pairs(o.audit_capture_for, "--audit-capture-for")) {
        if (level != "none" && level != "headers" && level != "bodies") {
          throw CliError{"--audit-capture-for " + provider + "=" + level + ": the level must be none, headers or bodies", 2};
        }
        by[provider] = level;
      }
      settings["audit_capture_by_provider"] = by;
    }
    if (!o.url_less.empty()) settings["allow_url_less_token_requests"] = o.url_less == "on";
    if (!o.token_handout.empty()) settings["token_handout"] = o.token_handout == "on";
    if (!settings.empty()) body["settings"] = settings;
    auto a = g.client().call("PATCH", "/v1/admin/apps/" + encode(o.id), &body);
    print(g, a.body, [&] { std::cout << a.body.dump(2) << "\n"; });
  }));
}

void register_keys(CLI::App& app, GlobalOptions& g) {
  auto* keys = app.add_subcommand("keys", "API keys of an app (the SDK's alter_key_...)");
  keys->require_subcommand(1);
  auto* create = keys->add_subcommand("create", "create an API key (shown once)");
  add_app_option(create);
  create->add_option("--name", o.name, "what the key is for");
  create->callback(guarded(g, [&g] {
    json body = {{"name", o.name}};
    auto a = g.client().call("POST", app_path("/keys"), &body);
    print(g, a.body, [&] {
      std::cout << a.body["key"].get<std::string>() << "\n";
      std::cerr << "API key " << a.body["id"].get<std::string>() << " for app " << o.app
                << " (shown once: the vault keeps only its hash)\n";
    });
  }));
  auto* list = keys->add_subcommand("list", "list API keys (never the keys themselves)");
  add_app_option(list);
  list->callback(guarded(g, [&g] {
    auto a = g.client().call("GET", app_path("/keys"));
    print(g, a.body, [&] {
      std::vector<std::vector<std::string>> rows;
      for (const auto& k : a.body["keys"]) {
        rows.push_back({cell(k["id"]), cell(k["hint"]), cell(k["name"]), cell(k["created_at"]),
                        k["revoked"].get<bool>() ? "revoked" : "active"});
      }
      print_table({"ID", "KEY", "NAME", "CREATED", "STATUS"}, rows);
    });
  }));
  auto* revoke = keys->add_subcommand("revoke", "revoke an API key (effective on the next request)");
  revoke->add_option("id", o.id)->required();
  revoke->callback(guarded(g, [&g] {
    auto a = g.client().call("POST", "/v1/admin/keys/" + encode(o.id) + "/revoke");
    print(g, a.body, [&] { std::cout << "Revoked " << o.id << "\n"; });
  }));
}

void register_providers(CLI::App& app, GlobalOptions& g) {
  auto* providers = app.add_subcommand("providers", "the provider catalog and each app's OAuth client credentials");
  providers->require_subcommand(1);
  providers->add_subcommand("list", "list providers of the catalog")->callback(guarded(g, [&g] {
    auto a = g.client().call("GET", "/v1/admin/providers");
    print(g, a.body, [&] {
      std::vector<std::vector<std::string>> rows;
      for (const auto& p : a.body["providers"]) {
        // OAuth providers say how they refresh; the others name their credential (docs/credentials.md).
        const std::string credential = p.contains("credential") ? p["credential"].value("kind", "")
                                                                : "oauth2 (" + p.value("refresh", "") + ")";
        rows.push_back({cell(p["id"]), cell(p["display_name"]), credential, p.value("custom", false) ? "custom" : "built-in"});
      }
      print_table({"ID", "NAME", "CREDENTIAL", "SOURCE"}, rows);
    });
  }));
  auto* show = providers->add_subcommand("show", "show a provider's definition");
  show->add_option("id", o.id)->required();
  show->callback(guarded(g, [&g] { std::cout << g.client().call("GET", "/v1/admin/providers/" + encode(o.id)).body.dump(2) << "\n"; }));
  auto* set = providers->add_subcommand("set", "set an app's OAuth client for a provider (the secret is read from a file or stdin, never a flag)");
  set->add_option("id", o.id, "provider id")->required();
  add_app_option(set);
  set->add_option("--client-id", o.client_id, "OAuth client id")->required();
  set->add_option("--client-secret-file", o.secret_file, "file holding the client secret ('-': stdin)");
  set->add_option("--setting", o.settings, "credential variable NAME=VALUE, e.g. tenant=... for microsoft (repeatable)");
  set->callback(guarded(g, [&g] {
    json body = {{"client_id", o.client_id}, {"settings", parse_pairs(o.settings, "--setting")}};
    std::string secret;
    if (!o.secret_file.empty()) {
      secret = read_secret_file(o.secret_file);
      body["client_secret"] = secret;
    }
    auto a = g.client().call("PUT", app_path("/providers/" + encode(o.id)), &body);
    common::secure_wipe(secret);
    common::secure_wipe(body["client_secret"].is_string() ? body["client_secret"].get_ref<std::string&>() : secret);
    print(g, a.body, [&] {
      std::cout << "Set " << o.id << " for app " << o.app << " (client id " << a.body["client_id"].get<std::string>()
                << (a.body["has_client_secret"].get<bool>() ? ", secret stored encrypted" : ", no secret") << ")\n";
    });
  }));
  auto* creds = providers->add_subcommand("credentials", "list an app's provider credentials (secrets are never shown)");
  add_app_option(creds);
  creds->callback(guarded(g, [&g] {
    auto a = g.client().call("GET", app_path("/providers"));
    print(g, a.body, [&] {
      std::vector<std::vector<std::string>> rows;
      for (const auto& c : a.body["providers"]) {
        rows.push_back({cell(c["provider_id"]), cell(c["client_id"]), c["has_client_secret"].get<bool>() ? "yes" : "no",
                        cell(c["settings"]), cell(c["updated_at"])});
      }
      print_table({"PROVIDER", "CLIENT ID", "SECRET", "SETTINGS", "UPDATED"}, rows);
    });
  }));
  auto* unset = providers->add_subcommand("unset", "remove an app's credentials for a provider");
  unset->add_option("id", o.id)->required();
  add_app_option(unset);
  unset->callback(guarded(g, [&g] {
    g.client().call("DELETE", app_path("/providers/" + encode(o.id)));
    std::cout << "Removed " << o.id << " credentials of app " << o.app << "\n";
  }));
  auto* add = providers->add_subcommand("add", "add a custom provider from a JSON file (providers/SCHEMA.md), no rebuild");
  add->add_option("--file", o.file, "provider definition (JSON)")->required();
  add->callback(guarded(g, [&g] {
    std::ifstream in(o.file);
    if (!in) throw CliError{"cannot read " + o.file, 1};
    json body = json::parse(in, nullptr, false);
    if (body.is_discarded()) throw CliError{o.file + " is not valid JSON", 1};
    auto a = g.client().call("POST", "/v1/admin/providers", &body);
    print(g, a.body, [&] { std::cout << "Added provider " << a.body["id"].get<std::string>() << "\n"; });
  }));
  auto* remove = providers->add_subcommand("remove", "remove a custom provider");
  remove->add_option("id", o.id)->required();
  remove->callback(guarded(g, [&g] {
    g.client().call("DELETE", "/v1/admin/providers/" + encode(o.id));
    std::cout << "Removed provider " << o.id << "\n";
  }));
}

void print_connections(const json& list) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& c : list) {
    rows.push_back({cell(c["id"]), cell(c["provider_id"]), cell(c["attributes"]), cell(c["status"]), cell(c["expires_at"]),
                    cell(c["scopes"])});
  }
  print_table({"ID", "PROVIDER", "USER", "STATUS", "EXPIRES", "SCOPES"}, rows);
}

void register_connections(CLI::App& app, GlobalOptions& g) {
  auto* conns = app.add_subcommand("connections", "users' OAuth connections (tokens are never shown)");
  conns->require_subcommand(1);
  auto* list = conns->add_subcommand("list", "list connections");
  add_app_option(list);
  list->add_option("--provider", o.provider);
  list->add_option("--user", o.users, "attribute NAME=VALUE (repeatable)");
  list->add_option("--status", o.status, "active or reauth_required");
  list->callback(guarded(g, [&g] {
    std::vector<std::pair<std::string, std::string>> q = {{"provider", o.provider}, {"status", o.status}};
    for (const auto& [k, v] : parse_pairs(o.users, "--user")) q.emplace_back("attr." + k, v);
    auto a = g.client().call("GET", app_path("/connections" + query_of(q)));
    print(g, a.body, [&] { print_connections(a.body["connections"]); });
  }));
  auto* show = conns->add_subcommand("show", "show a connection (without tokens)");
  show->add_option("id", o.id)->required();
  show->callback(guarded(g, [&g] { std::cout << g.client().call("GET", "/v1/admin/connections/" + encode(o.id)).body.dump(2) << "\n"; }));
  auto* del = conns->add_subcommand("delete", "revoke a connection's tokens at the provider, then delete it");
  del->add_option("id", o.id)->required();
  del->callback(guarded(g, [&g] {
    auto a = g.client().call("DELETE", "/v1/admin/connections/" + encode(o.id));
    print(g, a.body, [&] {
      const auto& rev = a.body["revocation"];
      std::cout << "Deleted " << o.id << "; revocation at the provider: "
                << (!rev.value("attempted", false) ? "not supported" : (rev.value("ok", false) ? "done" : "failed (" + rev.value("error", std::string()) + ")"))
                << "\n";
    });
  }));
  auto* refresh = conns->add_subcommand("refresh", "refresh a connection's token now");
  refresh->add_option("id", o.id)->required();
  refresh->callback(guarded(g, [&g] {
    auto a = g.client().call("POST", "/v1/admin/connections/" + encode(o.id) + "/refresh");
    print(g, a.body, [&] { std::cout << "Refreshed; expires " << cell(a.body["expires_at"]) << "\n"; });
  }));
  auto* import = conns->add_subcommand("import", "import a token set, or an API key, password or AWS key: secrets are read from files, never flags");
  add_app_option(import);
  import->add_option("--provider", o.provider)->required();
  import->add_option("--user", o.users, "attribute NAME=VALUE (repeatable)")->required();
  import->add_option("--access-token-file", o.access_token_file, "file with the access token ('-': stdin)");
  import->add_option("--refresh-token-file", o.refresh_token_file, "file with the refresh token");
  import->add_option("--from-json", o.file, "a JSON file with access_token, refresh_token, expires_in, scopes, ...");
  import->add_option("--token-type", o.token_type);
  import->add_option("--expires-in", o.expires_in, "seconds");
  import->add_option("--expires-at", o.expires_at, "ISO 8601 time");
  import->add_option("--scope", o.scopes, "granted scope (repeatable)");
  import->add_option("--api-key-file", o.api_key_file, "file with the API key, for a provider whose credential is an api_key ('-': stdin)");
  import->add_option("--credential-file", o.credential_file,
                     "a JSON file with the credential's fields: {\"api_key\"}, {\"username\", \"password\"} or "
                     "{\"access_key_id\", \"secret_access_key\", \"session_token\"} or {\"client_id\", \"client_secret\"} ('-': stdin)");
  import->add_option("--setting", o.settings, "connection variable NAME=VALUE, e.g. region=eu-west-1 (repeatable)");
  import->callback(guarded(g, [&g] {
    json body = json::object();
    if (!o.file.empty()) {
      std::ifstream in(o.file);
      body = json::parse(in, nullptr, false);
      if (!body.is_object()) throw CliError{o.file + " is not a JSON object", 1};
    }
    body["provider_id"] = o.provider;
    body["attributes"] = parse_pairs(o.users, "--user");
    if (!o.access_token_file.empty()) body["access_token"] = read_secret_file(o.access_token_file);
    if (!o.refresh_token_file.empty()) body["refresh_token"] = read_secret_file(o.refresh_token_file);
    if (!o.api_key_file.empty()) body["credential"] = {{"api_key", read_secret_file(o.api_key_file)}};
    if (!o.credential_file.empty()) {
      std::string text = read_secret_file(o.credential_file);
      body["credential"] = json::parse(text, nullptr, false);
      common::secure_wipe(text);
      if (!body["credential"].is_object()) throw CliError{o.credential_file + " is not a JSON object", 2};
    }
    if (!o.settings.empty()) body["metadata"] = parse_pairs(o.settings, "--setting");
    if (!body.contains("access_token") && !body.contains("credential")) {
      throw CliError{"give --access-token-file, --api-key-file, --credential-file or --from-json", 2};
    }
    if (!o.token_type.empty()) body["token_type"] = o.token_type;
    if (o.expires_in >= 0) body["expires_in"] = o.expires_in;
    if (!o.expires_at.empty()) body["expires_at"] = o.expires_at;
    if (!o.scopes.empty()) body["scopes"] = o.scopes;
    auto a = g.client().call("POST", app_path("/connections"), &body);
    for (const char* k : {"access_token", "refresh_token"}) {
      if (body.contains(k) && body[k].is_string()) common::secure_wipe(body[k].get_ref<std::string&>());
    }
    if (body.contains("credential") && body["credential"].is_object()) {
      for (auto& item : body["credential"].items()) {
        if (item.value().is_string()) common::secure_wipe(item.value().get_ref<std::string&>());
      }
    }
    print(g, a.body, [&] { std::cout << "Imported connection " << a.body["id"].get<std::string>() << "\n"; });
  }));

  auto* connect = app.add_subcommand("connect", "print a one-time URL that connects a user's account");
  connect->add_option("provider", o.provider, "provider id")->required();
  add_app_option(connect);
  connect->add_option("--user", o.users, "attribute NAME=VALUE identifying the user (repeatable)")->required();
  connect->add_option("--setting", o.settings, "connection variable NAME=VALUE, e.g. shop=acme (repeatable)");
  connect->add_option("--scope", o.scopes, "scope to ask for instead of the provider's defaults (repeatable)");
  connect->add_option("--return-url", o.return_url, "where to send the browser afterwards (on the app's allow-list)");
  connect->callback(guarded(g, [&g] {
    json body = {{"provider_id", o.provider}, {"attributes", parse_pairs(o.users, "--user")}};
    if (!o.settings.empty()) body["settings"] = parse_pairs(o.settings, "--setting");
    if (!o.scopes.empty()) body["scopes"] = o.scopes;
    if (!o.return_url.empty()) body["return_url"] = o.return_url;
    auto a = g.client().call("POST", app_path("/connect-sessions"), &body);
    print(g, a.body, [&] {
      std::cout << a.body["connect_url"].get<std::string>() << "\n";
      std::cerr << "Open this URL in the user's browser before " << a.body["expires_at"].get<std::string>() << " (single use).\n";
    });
  }));
}

std::string joined(const std::vector<std::string>& values) {
  std::string out;
  for (const auto& v : values) out += (out.empty() ? "" : ", ") + v;
  return out;
}

void audit_filters(CLI::App* cmd) {
  cmd->add_option("--since", o.since, "ISO 8601 time or a duration back from now (15m, 2h, 7d)");
  cmd->add_option("--until", o.until, "ISO 8601 time or a duration back from now");
  cmd->add_option("--actor", o.actor, "actor ID, or TYPE:ID with TYPE ai_agent, mcp_server, application or admin");
  cmd->add_option("--user", o.users, "user attribute NAME=VALUE, e.g. user_id=alice (repeatable)");
  cmd->add_option("--provider", o.provider);
  cmd->add_option("--decision", o.decision, "issued, denied, not_found, approval_required, called, ... (see docs/cli.md)");
  cmd->add_option("--kind", o.kind, joined(server::audit::audit_kinds()));
  cmd->add_option("--request-id", o.request_id);
  cmd->add_option("--app", o.app, "only this app's rows")->default_str("");
}

// The filters as query parameters; a value the vault would not know is a usage error here.
std::vector<std::pair<std::string, std::string>> audit_query() {
  const auto& kinds = server::audit::audit_kinds();
  const auto& decisions = server::audit::audit_decisions();
  if (!o.kind.empty() && std::find(kinds.begin(), kinds.end(), o.kind) == kinds.end()) {
    throw CliError{"--kind '" + o.kind + "' is not a kind; use one of: " + joined(kinds), 2};
  }
  if (!o.decision.empty() && std::find(decisions.begin(), decisions.end(), o.decision) == decisions.end()) {
    throw CliError{"--decision '" + o.decision + "' is not a decision; use one of: " + joined(decisions), 2};
  }
  check_actor(o.actor, true);
  std::vector<std::pair<std::string, std::string>> q = {
      {"since", o.since}, {"until", o.until}, {"actor", o.actor}, {"provider", o.provider}, {"decision", o.decision},
      {"kind", o.kind}, {"request_id", o.request_id}, {"app", o.app == "default" ? "" : o.app}};
  for (const auto& [k, v] : parse_pairs(o.users, "--user")) q.emplace_back("user." + k, v);
  return q;
}

void register_audit(CLI::App& app, GlobalOptions& g) {
  auto* audit = app.add_subcommand("audit", "the tamper-evident audit trail");
  audit->require_subcommand(1);
  auto* list = audit->add_subcommand("list", "list audit events");
  audit_filters(list);
  list->add_option("--limit", o.limit)->capture_default_str();
  list->callback(guarded(g, [&g] {
    auto q = audit_query();
    q.emplace_back("limit", std::to_string(o.limit));
    auto a = g.client().call("GET", "/v1/admin/audit" + query_of(q));
    print(g, a.body, [&] {
      std::vector<std::vector<std::string>> rows;
      for (const auto& e : a.body["events"]) {
        std::string what = e.value("method", "") + (e.contains("url") ? " " + e["url"].get<std::string>() : "");
        // POLICY: the error (if any), the rule and the version, as in the JSON; STATUS: what the
        // provider answered (call rows).
        std::string policy = e.value("policy_error", "");
        if (e.contains("rule_id")) policy += (policy.empty() ? "" : " ") + std::string("[") + e["rule_id"].get<std::string>() + "]";
        if (e.contains("policy_version")) policy += (policy.empty() ? "" : " ") + std::string("v") + e["policy_version"].dump();
        rows.push_back({std::to_string(e.value("seq", 0)), cell(e["ts"]), cell(e["kind"]), cell(e.value("decision", json())),
                        e.contains("actor") ? cell(e["actor"].value("id", json())) : "-",
                        e.contains("user") ? cell(e["user"].value("user_id", json())) : "-",
                        cell(e.value("provider_id", json())), policy.empty() ? "-" : policy,
                        e.contains("response_status") ? e["response_status"].dump() : "-", what.empty() ? "-" : what});
      }
      print_table({"SEQ", "TIME", "KIND", "DECISION", "ACTOR", "USER", "PROVIDER", "POLICY", "STATUS", "REQUEST"}, rows);
    });
  }));
  auto* exp = audit->add_subcommand("export", "export audit events as JSON lines");
  audit_filters(exp);
  exp->add_option("--output", o.output, "file to write (default stdout)");
  exp->callback(guarded(g, [&g] {
    auto a = g.client().call("GET", "/v1/admin/audit/export" + query_of(audit_query()));
    if (o.output.empty()) {
      std::cout << a.text;
    } else {
      std::ofstream out(o.output, std::ios::binary);
      out << a.text;
      if (!out) throw CliError{"cannot write " + o.output, 1};
    }
  }));
  auto* purge = audit->add_subcommand("purge", "drop the headers and bodies kept of calls (the rows and the chain stay)");
  purge->add_option("--until", o.until, "calls before this ISO 8601 time or duration back from now (30d)");
  purge->add_option("--user", o.users, "only this user's calls: NAME=VALUE, e.g. user_id=alice (repeatable)");
  purge->add_option("--provider", o.provider, "only calls to this provider");
  purge->add_option("--app", o.app, "only this app's calls")->default_str("");
  purge->add_flag("--all", o.all, "every payload of every app (needed when no other filter is given)");
  purge->callback(guarded(g, [&g] {
    json body = json::object();
    if (!o.until.empty()) body["until"] = o.until;
    if (!o.provider.empty()) body["provider"] = o.provider;
    if (!o.app.empty() && o.app != "default") body["app"] = o.app;
    if (!o.users.empty()) body["user"] = parse_pairs(o.users, "--user");
    if (o.all) body["all"] = true;
    if (body.empty()) throw CliError{"say what to purge: --until, --user, --provider or --all", 2};
    auto a = g.client().call("POST", "/v1/admin/audit/purge", &body);
    print(g, a.body, [&] {
      std::cout << "Purged the payload of " << a.body["purged"].get<long long>()
                << " call rows; the rows, and the chain over them, are kept.\n";
    });
  }));
  audit->add_subcommand("verify", "check the hash chain: finds changed, removed or reordered rows")->callback(guarded(g, [&g] {
    auto a = g.client().call("GET", "/v1/admin/audit/verify");
    print(g, a.body, [&] {
      if (a.body["ok"].get<bool>()) {
        std::cout << "OK: " << a.body["rows_checked"].get<long long>() << " rows";
        if (a.body.value("payloads_purged", 0) > 0) std::cout << " (" << a.body["payloads_purged"].get<long long>() << " payloads purged)";
        std::cout << ", chain head " << a.body["head_hash"].get<std::string>() << "\n";
      } else {
        std::cout << "TAMPERED: " << a.body["problem"].get<std::string>() << " (first bad row " << a.body["first_bad_seq"].get<long long>() << ")\n";
      }
    });
    if (!a.body["ok"].get<bool>()) g.exit_code = 3;
  }));
}

void register_policies(CLI::App& app, GlobalOptions& g) {
  auto* policies = app.add_subcommand("policies", "policy documents: apply, list, show, diff, test (docs/policies.md)");
  policies->require_subcommand(1);
  auto* apply = policies->add_subcommand("apply", "apply a policy document (TOML or JSON) as the next version");
  apply->add_option("file", o.file)->required();
  add_app_option(apply);
  apply->add_option("--format", o.format, "toml or json (default: from the file name)");
  apply->callback(guarded(g, [&g] {
    std::ifstream in(o.file, std::ios::binary);
    if (!in) throw CliError{"cannot read " + o.file, 1};
    std::stringstream ss;
    ss << in.rdbuf();
    std::string format = o.format;
    if (format.empty()) format = o.file.size() > 5 && o.file.substr(o.file.size() - 5) == ".json" ? "json" : "toml";
    json body = {{"document", ss.str()}, {"format", format}};
    auto a = g.client().call("PUT", app_path("/policy"), &body);
    print(g, a.body, [&] {
      std::cout << "Applied policy version " << a.body["version"].get<long long>() << " (" << a.body["rules"].get<long long>()
                << " rules) to app " << o.app << "; it applies to the next request.\n";
    });
  }));
  auto* list = policies->add_subcommand("list", "list policy versions");
  add_app_option(list);
  list->callback(guarded(g, [&g] {
    auto a = g.client().call("GET", app_path("/policies"));
    print(g, a.body, [&] {
      std::vector<std::vector<std::string>> rows;
      for (const auto& v : a.body["versions"]) {
        rows.push_back({std::to_string(v["version"].get<long long>()), cell(v["created_at"]), cell(v["author"]),
                        cell(v["format"]), std::to_string(v["rules"].get<long long>())});
      }
      print_table({"VERSION", "CREATED", "AUTHOR", "FORMAT", "RULES"}, rows);
    });
  }));
  auto* show = policies->add_subcommand("show", "print a policy version's document (default: the latest)");
  show->add_option("version", o.id);
  add_app_option(show);
  show->callback(guarded(g, [&g] {
    auto a = g.client().call("GET", app_path("/policies/" + (o.id.empty() ? std::string("latest") : encode(o.id))));
    print(g, a.body, [&] { std::cout << a.body["document"].get<std::string>(); });
  }));
  auto* diff = policies->add_subcommand("diff", "what changed between two versions");
  diff->add_option("from", o.id)->required();
  diff->add_option("to", o.id2, "default: the latest");
  add_app_option(diff);
  diff->callback(guarded(g, [&g] {
    auto a = g.client().call("GET", app_path("/policies/diff" + query_of({{"from", o.id}, {"to", o.id2}})));
    std::cout << a.body.dump(2) << "\n";
  }));
  auto* test = policies->add_subcommand("test", "explain the decision for a request, without issuing a token");
  add_app_option(test);
  test->add_option("--actor", o.actor, "TYPE:ID, e.g. ai_agent:email-assistant-v2");
  test->add_option("--provider", o.provider)->required();
  test->add_option("--method", o.method)->capture_default_str();
  test->add_option("--url", o.url)->required();
  test->add_option("--user", o.users, "attribute NAME=VALUE (repeatable)");
  test->add_option("--reason", o.reason);
  test->add_option("--source-ip", o.source_ip);
  test->add_option("--at", o.at, "evaluate at this ISO 8601 time (time windows)");
  test->callback(guarded(g, [&g] {
    json body = {{"provider_id", o.provider}, {"method", o.method}, {"url", o.url}, {"user", parse_pairs(o.users, "--user")}};
    check_actor(o.actor, false);
    if (!o.actor.empty()) {
      const auto colon = o.actor.find(':');
      body["actor_type"] = colon == std::string::npos ? "" : o.actor.substr(0, colon);
      body["actor_id"] = colon == std::string::npos ? o.actor : o.actor.substr(colon + 1);
    }
    if (!o.reason.empty()) body["reason"] = o.reason;
    if (!o.source_ip.empty()) body["source_ip"] = o.source_ip;
    if (!o.at.empty()) body["at"] = o.at;
    auto a = g.client().call("POST", app_path("/policy/test"), &body);
    print(g, a.body, [&] {
      std::cout << "Decision: " << a.body["effect"].get<std::string>();
      if (!a.body["rule_id"].get<std::string>().empty()) std::cout << " by rule " << a.body["rule_id"].get<std::string>();
      if (!a.body["policy_error"].get<std::string>().empty()) std::cout << " (" << a.body["policy_error"].get<std::string>() << ")";
      std::cout << " [policy version " << a.body["policy_version"].get<long long>() << "]\n"
                << a.body["message"].get<std::string>() << "\n";
      for (const auto& t : a.body["trace"]) std::cout << "  " << (t.is_string() ? t.get<std::string>() : t.dump()) << "\n";
    });
  }));
}

void register_approvals(CLI::App& app, GlobalOptions& g) {
  auto* approvals = app.add_subcommand("approvals", "requests waiting for a person's approval");
  approvals->require_subcommand(1);
  auto* list = approvals->add_subcommand("list", "list approvals");
  add_app_option(list);
  list->add_option("--status", o.status, "pending, approved, denied, expired or used");
  list->callback(guarded(g, [&g] {
    auto a = g.client().call("GET", app_path("/approvals" + query_of({{"status", o.status}})));
    print(g, a.body, [&] {
      std::vector<std::vector<std::string>> rows;
      for (const auto& x : a.body["approvals"]) {
        const auto& r = x["request"];
        rows.push_back({cell(x["id"]), cell(x["status"]), r.contains("actor") ? cell(r["actor"].value("id", json())) : "-",
                        cell(r.value("user", json())), r.value("method", std::string()) + " " + r.value("url", std::string()),
                        cell(r.value("reason", json())), cell(x["expires_at"])});
      }
      print_table({"ID", "STATUS", "ACTOR", "USER", "REQUEST", "REASON", "EXPIRES"}, rows);
    });
  }));
  auto* show = approvals->add_subcommand("show", "show an approval");
  show->add_option("id", o.id)->required();
  show->callback(guarded(g, [&g] { std::cout << g.client().call("GET", "/v1/admin/approvals/" + encode(o.id)).body.dump(2) << "\n"; }));
  for (const char* verb : {"approve", "deny"}) {
    auto* cmd = approvals->add_subcommand(verb, std::string(verb) + " a pending request");
    cmd->add_option("id", o.id)->required();
    cmd->callback(guarded(g, [&g, verb] {
      auto a = g.client().call("POST", "/v1/admin/approvals/" + encode(o.id) + "/" + verb);
      print(g, a.body, [&] { std::cout << o.id << ": " << a.body["status"].get<std::string>() << "\n"; });
    }));
  }
}

void register_misc(CLI::App& app, GlobalOptions& g) {
  auto* keyring = app.add_subcommand("keyring", "the encryption keyring");
  keyring->require_subcommand(1);
  keyring->add_subcommand("status", "key versions and re-encryption progress")->callback(guarded(g, [&g] {
    std::cout << g.client().call("GET", "/v1/admin/keyring").body.dump(2) << "\n";
  }));
  auto* admins = app.add_subcommand("admins", "admin credentials");
  admins->require_subcommand(1);
  auto* create = admins->add_subcommand("create", "create an admin credential (shown once)");
  create->add_option("--name", o.name);
  create->callback(guarded(g, [&g] {
    json body = {{"name", o.name}};
    auto a = g.client().call("POST", "/v1/admin/credentials", &body);
    print(g, a.body, [&] { std::cout << a.body["token"].get<std::string>() << "\n"; });
  }));
  admins->add_subcommand("list", "list admin credentials")->callback(guarded(g, [&g] {
    auto a = g.client().call("GET", "/v1/admin/credentials");
    print(g, a.body, [&] {
      std::vector<std::vector<std::string>> rows;
      for (const auto& c : a.body["credentials"]) {
        rows.push_back({cell(c["id"]), cell(c["hint"]), cell(c["name"]), c["revoked"].get<bool>() ? "revoked" : "active"});
      }
      print_table({"ID", "CREDENTIAL", "NAME", "STATUS"}, rows);
    });
  }));
  auto* revoke = admins->add_subcommand("revoke", "revoke an admin credential");
  revoke->add_option("id", o.id)->required();
  revoke->callback(guarded(g, [&g] {
    g.client().call("POST", "/v1/admin/credentials/" + encode(o.id) + "/revoke");
    std::cout << "Revoked " << o.id << "\n";
  }));
}

}  // namespace

void register_admin_commands(CLI::App& app, GlobalOptions& g) {
  register_apps(app, g);
  register_keys(app, g);
  register_providers(app, g);
  register_connections(app, g);
  register_audit(app, g);
  register_policies(app, g);
  register_approvals(app, g);
  register_misc(app, g);
}

}  // namespace alter::cli
