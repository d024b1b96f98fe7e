#include "http/router.hpp"

namespace alter::server::http {

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> out;
  std::size_t start = path.empty() || path[0] != '/' ? 0 : 1;
  while (start <= path.size()) {
    const auto slash = path.find('/', start);
    if (slash == std::string::npos) {
      out.push_back(path.substr(start));
      break;
    }
    out.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

void Router::add(std::string method, std::string path_template, Auth auth, Handler handler, FastHandler fast) {
  Route r{std::move(method), path_template, split_path(path_template), auth, std::move(handler), std::move(fast)};
  routes_.push_back(std::move(r));
}

Result<void> Router::validate() const {
  for (const auto& r : routes_) {
    if (r.auth == Auth::kUnset) {
      return common::unexpected(make_error(Errc::kInternal, "route_without_auth",
                                           r.method + " " + r.pattern + " declares no authentication: the vault does not start"));
    }
  }
  return {};
}

std::vector<std::pair<std::string, Auth>> Router::routes() const {
  std::vector<std::pair<std::string, Auth>> out;
  for (const auto& r : routes_) out.emplace_back(r.method + " " + r.pattern, r.auth);
  return out;
}

bool Router::match(const Route& route, const std::vector<std::string>& segments, PathParams& params) {
  if (route.segments.size() != segments.size()) return false;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const auto& p = route.segments[i];
    if (p.size() > 2 && p.front() == '{' && p.back() == '}') {
      if (segments[i].empty()) return false;
      params[p.substr(1, p.size() - 2)] = segments[i];
    } else if (p != segments[i]) {
      return false;
    }
  }
  return true;
}

const Router::Route* Router::find(const Request& request, PathParams& params, std::string& allowed) const {
  const auto segments = split_path(request.path);
  for (const auto& route : routes_) {
    params.clear();
    if (!match(route, segments, params)) continue;
    if (route.method == request.method || (request.method == "HEAD" && route.method == "GET")) return &route;
    if (!allowed.empty()) allowed += ", ";
    allowed += route.method;
  }
  return nullptr;
}

Response Router::dispatch(const Request& request, std::string* route_name) const {
  PathParams params;
  std::string allowed;
  const Route* route = find(request, params, allowed);
  if (route == nullptr) {
    if (route_name != nullptr) *route_name = "unmatched";
    if (!allowed.empty()) {
      auto r = Response::error(405, "method_not_allowed", "method " + request.method + " is not allowed here",
                               {{"allowed", allowed}});
      r.headers.emplace_back("Allow", allowed);
      return r;
    }
    return Response::error(404, "not_found", "no such endpoint: " + request.path);
  }
  if (route_name != nullptr) *route_name = route->pattern;
  if (route->auth == Auth::kUnset) {
    // validate() refuses this at startup; refuse here too, whatever the handler would do.
    return hooks_.render_error(make_error(Errc::kInternal, "internal", "this endpoint declares no authentication"));
  }
  Principal who;
  if (route->auth != Auth::kPublic) {
    auto checked = hooks_.authenticate(route->auth, request);
    if (!checked) return hooks_.render_error(checked.error());
    who = std::move(checked.value());
  }
  std::optional<Response> answer;
  guarded(*route, [&] { answer = route->handler(request, params, who); });
  return answer ? std::move(*answer) : Response::error(500, "internal", "internal error");
}

bool Router::guarded(const Route& route, const std::function<void()>& call) const {
  try {
    call();
    return true;
  } catch (const std::exception& e) {
    if (hooks_.on_exception) hooks_.on_exception(route.pattern, &e);
  } catch (...) {
    if (hooks_.on_exception) hooks_.on_exception(route.pattern, nullptr);
  }
  return false;
}

bool Router::dispatch_without_blocking(const Request& request, const Reply& reply, std::string* route_name) const {
  PathParams params;
  std::string allowed;
  const Route* route = find(request, params, allowed);
  if (route == nullptr || !route->fast || route->auth == Auth::kUnset) return false;
  Principal who;
  std::optional<Result<Principal>> checked;
  if (route->auth != Auth::kPublic) {
    if (!hooks_.authenticate_without_blocking) return false;
    checked = hooks_.authenticate_without_blocking(route->auth, request);
    if (!checked) return false;
  }
  if (route_name != nullptr) *route_name = route->pattern;
  if (checked) {
    if (!*checked) {
      reply(hooks_.render_error(checked->error()));
      return true;
    }
    who = std::move(checked->value());
  }
  bool taken = false;
  if (guarded(*route, [&] { taken = route->fast(request, params, who, reply); })) return taken;
  // A fast handler that threw may have replied already; the reply itself answers once at most.
  reply(Response::error(500, "internal", "internal error"));
  return true;
}

}  // namespace alter::server::http
