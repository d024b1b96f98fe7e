// URL path templating: {item_id} is filled from path_params, percent-encoded as one path segment.
#include <alter/alter.hpp>

#include <iostream>

#include "example_env.hpp"

int main() {
  alter::Vault vault({.api_key = api_key()});
  alter::Response response = vault.request(alter::Provider::Salesforce, alter::HttpMethod::Put,
                                           "https://api.example.com/v1/items/{item_id}",
                                           {.user = {{"user_id", "alice"}},
                                            .path_params = {{"item_id", "123"}},
                                            .json = nlohmann::json{{"price", 89.99}}});
  std::cout << response.status_code() << "\n";
}
