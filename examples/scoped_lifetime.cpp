// The Python SDK's `async with AlterVault(...) as vault:` is a scope in C++: the destructor closes
// the vault (flushing its audit events) when the block ends.
#include <alter/alter.hpp>

#include <iostream>

#include "example_env.hpp"

int main() {
  {
    alter::Vault vault({.api_key = api_key()});
    alter::Response response = vault.request(alter::Provider::Google, alter::HttpMethod::Get,
                                             "https://www.googleapis.com/calendar/v3/calendars/primary/events",
                                             {.user = {{"user_id", "alice"}}});
    std::cout << response.status_code() << "\n";
  }  // Automatically closed

  // After close(), request() throws AlterSDKError; close() itself is idempotent.
  alter::Vault vault({.api_key = api_key()});
  vault.close();
  vault.close();
  try {
    vault.request(alter::Provider::Google, alter::HttpMethod::Get, "https://www.googleapis.com/", {});
  } catch (const alter::AlterSDKError& e) {
    std::cout << "after close: " << e.message() << "\n";
  }
}
