#include "usage.hpp"

#include <algorithm>
#include <iostream>

namespace alter::cli {
namespace {

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t subst = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, subst});
      // A swap of two neighbours counts as one edit ("polciies").
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) cur[j] = std::min(cur[j], prev[j - 1]);
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// The subcommand the parse got to: the last selected one, level by level.
CLI::App* deepest(CLI::App& app) {
  CLI::App* cur = &app;
  for (;;) {
    auto selected = cur->get_subcommands();
    if (selected.empty()) return cur;
    cur = selected.back();
  }
}

std::string path_of(CLI::App* cmd) {
  std::string path;
  for (CLI::App* c = cmd; c != nullptr && c->get_parent() != nullptr; c = c->get_parent()) {
    path = c->get_name() + (path.empty() ? "" : " " + path);
  }
  return "alter-vault" + (path.empty() ? "" : " " + path);
}

std::vector<std::string> subcommand_names(CLI::App* cmd) {
  std::vector<std::string> out;
  for (auto* s : cmd->get_subcommands([](CLI::App*) { return true; })) out.push_back(s->get_name());
  return out;
}

std::vector<std::string> option_names(CLI::App* cmd) {
  std::vector<std::string> out;
  for (CLI::App* c = cmd; c != nullptr; c = c->get_parent()) {
    for (const auto* opt : c->get_options([](const CLI::Option*) { return true; })) {
      for (const auto& n : opt->get_lnames()) out.push_back("--" + n);
      for (const auto& n : opt->get_snames()) out.push_back("-" + n);
    }
  }
  return out;
}

}  // namespace

std::string closest(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_d = 3;
  for (const auto& c : candidates) {
    std::size_t d = edit_distance(word, c);
    if (word.size() >= 3 && c.rfind(word, 0) == 0) d = std::min<std::size_t>(d, 1);  // a prefix: "pol" -> "policies"
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  return best;
}

int report_usage_error(CLI::App& app, const CLI::ParseError& error) {
  if (error.get_exit_code() == 0) return app.exit(error);  // --help, --version
  CLI::App* cmd = deepest(app);
  const std::string where = path_of(cmd);
  std::vector<std::string> unknown = app.remaining(true);
  std::string message;
  for (const auto& word : unknown) {
    if (word.empty()) continue;
    if (word[0] == '-') {
      const std::string name = word.substr(0, word.find('='));
      const std::string hint = closest(name, option_names(cmd));
      message = "unknown option '" + name + "' for '" + where + "'" + (hint.empty() ? "" : "; did you mean '" + hint + "'?");
    } else {
      const auto subs = subcommand_names(cmd);
      if (subs.empty()) {
        message = "unexpected argument '" + word + "' for '" + where + "'";
      } else {
        const std::string hint = closest(word, subs);
        message = "unknown command '" + word + "' for '" + where + "'" + (hint.empty() ? "" : "; did you mean '" + hint + "'?");
      }
    }
    break;  // the first unknown word is the one to fix
  }
  if (message.empty()) {
    message = error.what();
    if (dynamic_cast<const CLI::RequiredError*>(&error) != nullptr && !subcommand_names(cmd).empty() &&
        message.find("subcommand") != std::string::npos) {
      std::string list;
      for (const auto& s : subcommand_names(cmd)) list += (list.empty() ? "" : ", ") + s;
      message = "'" + where + "' needs a command: " + list;
    }
  }
  std::cerr << "error: " << message << "\n"
            << "Run '" << where << " --help' for usage.\n";
  return 2;
}

}  // namespace alter::cli
