#pragma once
// Shared by the policy tests: a typical request and a date helper.
#include <chrono>
#include <string>

#include "policy/policy.hpp"

namespace alter::server::policy::testing {

/// An instant given in UTC.
inline TimePoint utc(int y, unsigned m, unsigned d, int hh = 0, int mm = 0, int ss = 0) {
  using namespace std::chrono;
  return sys_days{year{y} / month{m} / day{d}} + hours{hh} + minutes{mm} + seconds{ss};
}

/// An AI agent reading alice's primary calendar on Tuesday 2026-01-06, 10:00 UTC (11:00 in
/// Paris), from 10.1.2.3, for a token that expires in 30 minutes.
inline PolicyRequest calendar_read() {
  PolicyRequest r;
  r.app_id = "app_1";
  r.actor = Actor{"ai_agent", "email-assistant-v2", "Email assistant"};
  r.provider_id = "google";
  r.user = {{"user_id", "alice"}, {"team", "eng-core"}};
  r.method = "GET";
  r.url = "https://www.googleapis.com/calendar/v3/calendars/primary/events";
  r.host = "www.googleapis.com";
  r.path = "/calendar/v3/calendars/primary/events";
  r.source_ip = "10.1.2.3";
  r.now = utc(2026, 1, 6, 10, 0);
  r.token_expires_at = r.now + std::chrono::minutes(30);
  return r;
}

}  // namespace alter::server::policy::testing
