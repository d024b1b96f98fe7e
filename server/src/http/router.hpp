#pragma once
// Routes by method and path template ("/v1/admin/apps/{app}"), deny by default: every route
// declares who may call it when it is registered, and the router authenticates before the handler
// runs (after OpenBao's router). A route that declares nothing is refused by validate(), and the
// vault does not start. Unknown paths get 404, a known path with another method 405 (with Allow),
// a handler that throws 500; all as JSON errors.
#include <exception>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/types.hpp"
#include "http/types.hpp"

namespace alter::server::http {

/// Who may call a route.
enum class Auth {
  kUnset,   // not declared: refused at startup
  kPublic,  // anyone (health, pages whose links carry their own secret, the sandbox)
  kApiKey,  // an app's API key (x-api-key)
  kAdmin,   // an admin credential (Authorization: Bearer alter_admin_...)
};

/// The authenticated caller, as the route's declaration asked.
struct Principal {
  Auth auth = Auth::kPublic;
  std::string app_id;   // kApiKey
  std::string key_id;   // kApiKey
  std::string admin_id; // kAdmin
};

using PathParams = std::map<std::string, std::string>;
using Handler = std::function<Response(const Request&, const PathParams&, const Principal&)>;
/// A route's way to answer on an I/O thread: it either takes the request (and calls the Reply,
/// now or when something it awaits completes) and returns true, or returns false having done
/// nothing, when the request needs a blocking step (the store, a provider): then the route's
/// Handler runs on a worker thread.
using FastHandler = std::function<bool(const Request&, const PathParams&, const Principal&, const Reply&)>;

struct RouterHooks {
  /// Checks the caller against the route's declaration; the error is answered as it is.
  std::function<Result<Principal>(Auth, const Request&)> authenticate;
  /// Renders a domain error (the one table from canonical codes to statuses lives with it).
  std::function<Response(const Error&)> render_error;
  /// A handler threw: called with the route template and the exception (the answer is 500).
  std::function<void(const std::string& route, const std::exception* error)> on_exception;
  /// authenticate() from memory only: std::nullopt when only the store can tell.
  std::function<std::optional<Result<Principal>>(Auth, const Request&)> authenticate_without_blocking;
};

class Router {
 public:
  explicit Router(RouterHooks hooks) : hooks_(std::move(hooks)) {}

  void add(std::string method, std::string path_template, Auth auth, Handler handler, FastHandler fast = {});
  /// Every route declared who may call it. The vault refuses to start otherwise.
  Result<void> validate() const;
  /// Calls the matching handler; the route's template is written to `route_name`.
  Response dispatch(const Request& request, std::string* route_name = nullptr) const;
  /// On an I/O thread: answers through `reply` when the matching route has a FastHandler that
  /// takes the request, authenticated from memory; false (nothing done) otherwise, for dispatch()
  /// on a worker.
  bool dispatch_without_blocking(const Request& request, const Reply& reply, std::string* route_name = nullptr) const;
  /// Every route, for listings and tests.
  std::vector<std::pair<std::string, Auth>> routes() const;

 private:
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;
    Auth auth = Auth::kUnset;
    Handler handler;
    FastHandler fast;
  };
  /// The route for this method and path, or nullptr (then `allowed` lists the path's methods).
  const Route* find(const Request& request, PathParams& params, std::string& allowed) const;
  /// Runs a handler; false when it threw (reported to on_exception).
  bool guarded(const Route& route, const std::function<void()>& call) const;
  static bool match(const Route& route, const std::vector<std::string>& segments, PathParams& params);
  RouterHooks hooks_;
  std::vector<Route> routes_;
};

/// Splits a decoded path into segments ("/a/b/" → ["a", "b", ""]).
std::vector<std::string> split_path(const std::string& path);

}  // namespace alter::server::http
