#include <alter/testing/temp_dir.hpp>

#include <cstdlib>
#include <stdexcept>
#include <vector>

namespace alter::testing {

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "alter-test-XXXXXX").string();
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = buf.data();
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace alter::testing
