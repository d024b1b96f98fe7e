// Error handling: every failure is a typed exception rooted at alter::AlterSDKError.
#include <alter/alter.hpp>

#include <iostream>

#include "example_env.hpp"

int main() {
  alter::Vault vault({.api_key = api_key()});
  try {
    alter::Response response = vault.request(alter::Provider::Google, alter::HttpMethod::Get,
                                             "https://www.googleapis.com/calendar/v3/calendars/primary/events",
                                             {.user = {{"user_id", "alice"}}});
    std::cout << response.text() << "\n";
  } catch (const alter::PolicyViolationError& e) {
    std::cout << "Policy denied: " << e.message() << "\n";
    std::cout << "Policy error: " << e.policy_error() << "\n";  // detailed policy failure reason
  } catch (const alter::ApprovalRequiredError& e) {
    std::cout << "Approval needed: " << e.approval_url() << "\n";
  } catch (const alter::ConnectionNotFoundError&) {
    std::cout << "No OAuth connection - user needs to authenticate\n";
  } catch (const alter::TokenExpiredError& e) {
    std::cout << "Token expired for connection: " << e.connection_id() << "\n";
  } catch (const alter::TokenRetrievalError& e) {
    std::cout << "Vault refused the token: " << e.message() << "\n";
  } catch (const alter::TimeoutError& e) {
    std::cout << "Request timed out - safe to retry: " << e.message() << "\n";
  } catch (const alter::NetworkError& e) {
    std::cout << "Network issue: " << e.message() << "\n";
  } catch (const alter::ProviderAPIError& e) {
    std::cout << "Provider error " << e.status_code() << ": " << e.response_body() << "\n";
  } catch (const alter::AlterSDKError& e) {
    std::cout << "Invalid use of the SDK: " << e.message() << "\n";  // api_key, actor_type, URL, path_params
  }
}
