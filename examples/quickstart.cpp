// Quick start: one call to Google Calendar on alice's behalf; the token never reaches this code.
// With `alter-vault dev`, set ALTER_PROVIDER=sandbox and ALTER_CALENDAR_URL to the sandbox's
// events URL (the dev command prints both) to run it without Google credentials.
#include <alter/alter.hpp>

#include <iostream>

#include "example_env.hpp"

int main() {
  alter::Vault vault({.api_key = api_key()});

  // Make API request - token injected automatically, never exposed
  alter::Response response = vault.request(
      alter::ProviderId(env_or("ALTER_PROVIDER", "google")), alter::HttpMethod::Get,
      env_or("ALTER_CALENDAR_URL", "https://www.googleapis.com/calendar/v3/calendars/primary/events"),
      {.user = {{"user_id", "alice"}}, .query_params = {{"maxResults", "10"}}});

  nlohmann::json events = response.json();
  std::cout << events.dump(2) << "\n";

  vault.close();
}
