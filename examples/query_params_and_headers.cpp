// Query parameters and extra headers, with a provider named by string.
#include <alter/alter.hpp>

#include <iostream>

#include "example_env.hpp"

int main() {
  alter::Vault vault({.api_key = api_key()});
  alter::Response response = vault.request("notion", alter::HttpMethod::Post,
                                           "https://api.notion.com/v1/databases/{db_id}/query",
                                           {.user = {{"user_id", "alice"}},
                                            .path_params = {{"db_id", "abc123"}},
                                            .extra_headers = {{"Notion-Version", "2022-06-28"}},
                                            .json = nlohmann::json{{"page_size", 10}}});
  std::cout << response.json().dump(2) << "\n";
}
