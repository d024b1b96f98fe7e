// Simple GET request.
#include <alter/alter.hpp>

#include <iostream>

#include "example_env.hpp"

int main() {
  alter::Vault vault({.api_key = api_key()});
  alter::Response response = vault.request(alter::Provider::Google, alter::HttpMethod::Get,
                                           "https://www.googleapis.com/calendar/v3/calendars/primary/events",
                                           {.user = {{"user_id", "alice"}}});
  std::cout << response.status_code() << "\n" << response.text() << "\n";
}
