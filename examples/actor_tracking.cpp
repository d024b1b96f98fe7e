// AI agent actor tracking: the actor travels with every call; run, thread and tool-call ids land
// in the audit trail.
#include <alter/alter.hpp>

#include <iostream>

#include "example_env.hpp"

int main() {
  alter::Vault vault({.api_key = api_key(),
                      .actor_type = "ai_agent",
                      .actor_identifier = "email-assistant-v2",
                      .actor_name = "Email Assistant",
                      .actor_version = "2.0.0",
                      .framework = "langgraph"});

  alter::Response response = vault.request(alter::Provider::Google, alter::HttpMethod::Get,
                                           "https://www.googleapis.com/calendar/v3/calendars/primary/events",
                                           {.user = {{"user_id", "alice"}},
                                            .run_id = "550e8400-e29b-41d4-a716-446655440000",
                                            .thread_id = "thread-xyz",
                                            .tool_call_id = "call_abc_123"});
  std::cout << response.status_code() << "\n";
}
