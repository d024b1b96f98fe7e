#include <alter/testing/server_process.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "curl_transport.hpp"

extern char** environ;

namespace alter::testing {
namespace {

std::vector<std::string> merged_env(const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> all;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv(*e);
    const auto eq = kv.find('=');
    if (eq != std::string::npos) all[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  // A test's vault never inherits the developer's vault settings.
  for (auto it = all.begin(); it != all.end();) {
    it = (it->first.rfind("ALTER_VAULT_", 0) == 0) ? all.erase(it) : std::next(it);
  }
  for (const auto& [k, v] : extra) all[k] = v;
  std::vector<std::string> out;
  for (const auto& [k, v] : all) out.push_back(k + "=" + v);
  return out;
}

std::vector<char*> c_array(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace

CommandResult run_command(const std::vector<std::string>& argv_in, const std::map<std::string, std::string>& env_in,
                          const std::string& stdin_text) {
  std::vector<std::string> argv = argv_in;
  std::vector<std::string> env = merged_env(env_in);
  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (::pipe(in_pipe) != 0 || ::pipe(out_pipe) != 0 || ::pipe(err_pipe) != 0) throw std::runtime_error("pipe");
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(in_pipe[0], 0);
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    for (int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) ::close(fd);
    auto a = c_array(argv);
    auto e = c_array(env);
    ::execve(a[0], a.data(), e.data());
    _exit(127);
  }
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (!stdin_text.empty()) (void)!::write(in_pipe[1], stdin_text.data(), stdin_text.size());
  ::close(in_pipe[1]);
  CommandResult r;
  // Read both pipes without deadlocking on a full one.
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  char buf[4096];
  while (open_fds > 0) {
    if (::poll(fds, 2, -1) < 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP)) == 0) continue;
      const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        (i == 0 ? r.out : r.err).append(buf, static_cast<std::size_t>(n));
      }
    }
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

ServerProcess::ServerProcess(std::string binary, std::filesystem::path data_dir, std::map<std::string, std::string> env)
    : binary_(std::move(binary)), data_dir_(std::move(data_dir)), env_(std::move(env)) {
  stderr_file_ = data_dir_.parent_path() / (data_dir_.filename().string() + ".stderr.log");
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) kill();
}

void ServerProcess::init() {
  auto r = run_command({binary_, "--data-dir", data_dir_.string(), "init"}, env_);
  if (r.exit_code != 0) throw std::runtime_error("alter-vault init failed: " + r.err + r.out);
  std::ifstream in(data_dir_ / "admin.token");
  std::getline(in, admin_token_);
}

void ServerProcess::start(std::chrono::seconds timeout, std::vector<std::string> extra_args) {
  std::vector<std::string> argv = {binary_, "--data-dir", data_dir_.string(), "serve", "--listen", "127.0.0.1:0"};
  for (auto& a : extra_args) argv.push_back(a);
  std::vector<std::string> env = merged_env(env_);
  int out_pipe[2];
  if (::pipe(out_pipe) != 0) throw std::runtime_error("pipe");
  const int err_fd = ::open(stderr_file_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out_pipe[1], 1);
    ::dup2(err_fd, 2);
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    for (const auto& [resource, value] : limits_) {
      const rlimit lim{static_cast<rlim_t>(value), static_cast<rlim_t>(value)};
      ::setrlimit(resource, &lim);
    }
    auto a = c_array(argv);
    auto e = c_array(env);
    ::execve(a[0], a.data(), e.data());
    _exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_fd);
  pid_ = pid;
  // Wait for "alter-vault listening on URL" on stdout.
  std::string seen;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{out_pipe[0], POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    char buf[1024];
    const ssize_t n = ::read(out_pipe[0], buf, sizeof buf);
    if (n <= 0) break;
    seen.append(buf, static_cast<std::size_t>(n));
    const auto pos = seen.find("listening on ");
    if (pos != std::string::npos && seen.find('\n', pos) != std::string::npos) {
      // "listening on URL" or "listening on URL (public URL ...)": the first word is the bound address.
      const std::string line = seen.substr(pos + 13, seen.find('\n', pos) - pos - 13);
      url_ = line.substr(0, line.find(' '));
      ::close(out_pipe[0]);
      return;
    }
  }
  ::close(out_pipe[0]);
  kill();
  throw std::runtime_error("alter-vault did not start: " + seen + stderr_text());
}

int ServerProcess::stop(std::chrono::seconds timeout) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  for (;;) {
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) break;
    if (std::chrono::steady_clock::now() > deadline) {
      kill();
      return -1;
    }
    // waitpid has no timeout; a short pause between checks is the portable way.
    ::usleep(10000);
  }
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void ServerProcess::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

std::string ServerProcess::stderr_text() const {
  std::ifstream in(stderr_file_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

CommandResult ServerProcess::cli(std::vector<std::string> args, const std::string& stdin_text) const {
  std::vector<std::string> argv = {binary_, "--url", url_, "--admin-token", admin_token_};
  for (auto& a : args) argv.push_back(std::move(a));
  return run_command(argv, env_, stdin_text);
}

HttpClient::HttpClient(std::string base_url)
    : base_url_(std::move(base_url)), transport_(alter::internal::make_curl_transport({"", "alter-tests", 64 << 20, 16})) {}

HttpAnswer HttpClient::send(const std::string& method, const std::string& path, const std::string& body,
                            const std::vector<std::pair<std::string, std::string>>& headers,
                            std::chrono::milliseconds timeout) const {
  alter::internal::HttpRequest req;
  req.method = method;
  req.url = base_url_ + path;
  req.headers = headers;
  req.body = body;
  req.has_body = !body.empty() || method == "POST" || method == "PUT" || method == "PATCH";
  req.timeout = timeout;
  auto res = transport_->send(req);
  HttpAnswer a;
  if (!res) {
    a.status = 0;
    a.body = res.error().message;
    return a;
  }
  a.status = res->status;
  a.body = res->body;
  for (const auto& [k, v] : res->headers) a.headers.emplace(k, v);
  a.json = nlohmann::json::parse(a.body, nullptr, false);
  if (a.json.is_discarded()) a.json = nullptr;
  return a;
}

HttpAnswer HttpClient::admin(const std::string& method, const std::string& path, const std::string& token,
                             const nlohmann::json& body) const {
  std::vector<std::pair<std::string, std::string>> h = {{"Authorization", "Bearer " + token}};
  if (!body.is_null()) h.emplace_back("Content-Type", "application/json");
  return send(method, path, body.is_null() ? "" : body.dump(), h);
}

namespace {
bool same_name(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
  });
}
}  // namespace

std::string HttpAnswer::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (same_name(k, name)) return v;
  }
  return {};
}

bool HttpAnswer::has_header(std::string_view name) const {
  return std::any_of(headers.begin(), headers.end(), [&](const auto& h) { return same_name(h.first, name); });
}

}  // namespace alter::testing
