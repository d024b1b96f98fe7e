// Multi-agent deployments: each agent has its own Vault with a unique actor identity, so audit
// logs and policies are tracked per agent. Do not share one Vault across agents.
#include <alter/alter.hpp>

#include <iostream>

#include "example_env.hpp"

int main() {
  alter::Vault email_agent({.api_key = api_key(),
                            .actor_type = "ai_agent",
                            .actor_identifier = "email-assistant-v2",
                            .actor_name = "Email Assistant"});
  alter::Vault calendar_agent({.api_key = api_key(),
                               .actor_type = "ai_agent",
                               .actor_identifier = "calendar-agent-v1",
                               .actor_name = "Calendar Agent"});

  const std::map<std::string, std::string> user = {{"user_id", "alice"}};
  auto mail = email_agent.request(alter::Provider::Google, alter::HttpMethod::Get,
                                  "https://gmail.googleapis.com/gmail/v1/users/me/messages", {.user = user});
  auto events = calendar_agent.request(alter::Provider::Google, alter::HttpMethod::Get,
                                       "https://www.googleapis.com/calendar/v3/calendars/primary/events",
                                       {.user = user});
  std::cout << mail.status_code() << " " << events.status_code() << "\n";

  // Clean up each instance
  email_agent.close();
  calendar_agent.close();
}
