// request_async: calls on the SDK's worker threads, collected as futures.
#include <alter/alter.hpp>

#include <iostream>
#include <vector>

#include "example_env.hpp"

int main() {
  alter::Vault vault({.api_key = api_key()});
  std::vector<std::future<alter::Response>> calls;
  for (const char* calendar : {"primary", "work", "family"}) {
    calls.push_back(vault.request_async(alter::Provider::Google, alter::HttpMethod::Get,
                                        "https://www.googleapis.com/calendar/v3/calendars/{calendar_id}/events",
                                        {.user = {{"user_id", "alice"}}, .path_params = {{"calendar_id", calendar}}}));
  }
  for (auto& call : calls) {
    try {
      std::cout << call.get().status_code() << "\n";
    } catch (const alter::AlterSDKError& e) {
      std::cout << "failed: " << e.message() << "\n";
    }
  }
}
