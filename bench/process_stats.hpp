// What the bench programs report about their own process (header-only, shared by the load driver
// and the slow provider).
#pragma once
#include <sys/resource.h>

#include <chrono>

namespace alter::bench {

// Raises the soft open-file limit to the hard one: thousands of sockets at once.
inline void raise_open_file_limit() {
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
}

// User + system CPU seconds in a getrusage() result.
inline double cpu_seconds(const rusage& u) {
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return s(u.ru_utime) + s(u.ru_stime);
}

// This process's CPU seconds so far.
inline double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return cpu_seconds(u);
}

// Wall-clock milliseconds since the epoch: comparable between processes.
inline long long unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace alter::bench
