// A small calendar agent: reads and creates events through the vault, as the AI agent
// "calendar-agent-v1". With `alter-vault dev` it talks to the sandbox; with a real vault, to Google.
//   calendar_agent read [CALENDAR]
//   calendar_agent create [CALENDAR] SUMMARY [--wait SECONDS]
// A policy denial, or an approval that a person must give first, shows as a typed exception.
#include <alter/alter.hpp>

#include <cstring>
#include <iostream>
#include <string>

#include "example_env.hpp"

namespace {

std::string events_url() {
  if (env_or("ALTER_PROVIDER", "google") == "sandbox") {
    return env_or("ALTER_VAULT_URL", "http://127.0.0.1:8787") + "/sandbox/api/calendar/v3/calendars/{calendar_id}/events";
  }
  return "https://www.googleapis.com/calendar/v3/calendars/{calendar_id}/events";
}

int usage() {
  std::cerr << "usage: calendar_agent read [CALENDAR] | create [CALENDAR] SUMMARY [--wait SECONDS]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  const std::string command = argv[1];
  alter::Vault vault({.api_key = api_key(),
                      .actor_type = "ai_agent",
                      .actor_identifier = "calendar-agent-v1",
                      .actor_name = "Calendar Agent",
                      .actor_version = "1.0.0"});
  const alter::ProviderId provider(env_or("ALTER_PROVIDER", "google"));
  try {
    if (command == "read") {
      const std::string calendar = argc > 2 ? argv[2] : "primary";
      auto r = vault.request(provider, alter::HttpMethod::Get, events_url(),
                             {.user = {{"user_id", "alice"}},
                              .path_params = {{"calendar_id", calendar}},
                              .query_params = {{"maxResults", "10"}},
                              .reason = "Summarize today's meetings"});
      for (const auto& e : r.json()["items"]) {
        std::cout << e.value("start", "") << "  " << e.value("summary", "") << "\n";
      }
      return 0;
    }
    if (command == "create") {
      if (argc < 3) return usage();
      std::string calendar = "primary";
      std::string summary;
      std::optional<std::chrono::milliseconds> wait;
      for (int i = 2; i < argc; ++i) {
        if (std::strcmp(argv[i], "--wait") == 0 && i + 1 < argc) {
          wait = std::chrono::seconds(std::stoi(argv[++i]));
        } else if (summary.empty() && i + 1 < argc && std::strcmp(argv[i + 1], "--wait") != 0) {
          calendar = argv[i];
        } else {
          summary = argv[i];
        }
      }
      auto r = vault.request(provider, alter::HttpMethod::Post, events_url(),
                             {.user = {{"user_id", "alice"}},
                              .path_params = {{"calendar_id", calendar}},
                              .json = nlohmann::json{{"summary", summary}},
                              .reason = "The user asked to schedule: " + summary,
                              .wait_for_approval = wait});
      std::cout << "created " << r.json().value("id", "") << ": " << r.json().value("summary", "") << "\n";
      return 0;
    }
    return usage();
  } catch (const alter::PolicyViolationError& e) {
    std::cout << "denied by policy: " << e.policy_error() << " (rule " << e.details().value("rule_id", "") << "): " << e.message() << "\n";
    return 3;
  } catch (const alter::ApprovalRequiredError& e) {
    std::cout << "waiting for approval " << e.approval_id() << ": " << e.approval_url() << "\n";
    return 4;
  } catch (const alter::ConnectionNotFoundError& e) {
    std::cout << "not connected: " << e.message() << "\n";
    return 5;
  } catch (const alter::AlterSDKError& e) {
    std::cout << "error: " << e.message() << "\n";
    return 1;
  }
}
