#pragma once
// Routes by method and path template ("/v1/admin/apps/{id}"). Unknown paths get 404, a known path
// with another method 405 (with Allow), both as JSON errors.
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "http/types.hpp"

namespace alter::server::http {

using PathParams = std::map<std::string, std::string>;
using Handler = std::function<Response(const Request&, const PathParams&)>;

class Router {
 public:
  /// `name` labels the route in metrics (templates, never raw paths, to bound cardinality).
  void add(std::string method, std::string path_template, Handler handler);
  /// Calls the matching handler; the route's template is written to `route_name`.
  Response dispatch(const Request& request, std::string* route_name = nullptr) const;

 private:
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;
    Handler handler;
  };
  static bool match(const Route& route, const std::vector<std::string>& segments, PathParams& params);
  std::vector<Route> routes_;
};

/// Splits a decoded path into segments ("/a/b/" → ["a", "b", ""]).
std::vector<std::string> split_path(const std::string& path);

}  // namespace alter::server::http
