// POST with a JSON body, and a reason recorded in the audit trail.
#include <alter/alter.hpp>

#include <iostream>

#include "example_env.hpp"

int main() {
  alter::Vault vault({.api_key = api_key()});
  alter::Response response = vault.request(alter::Provider::Salesforce, alter::HttpMethod::Post,
                                           "https://api.example.com/v1/items",
                                           {.user = {{"user_id", "alice"}},
                                            .json = nlohmann::json{{"name", "New Item"}, {"price", 99.99}},
                                            .reason = "Creating new item"});
  std::cout << response.status_code() << "\n";
}
