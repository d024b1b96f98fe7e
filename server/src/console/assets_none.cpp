// Built with -DALTER_BUILD_CONSOLE=OFF: no console files (/console answers that it is not built in).
#include "console/assets.hpp"

namespace alter::server::console {

const Asset* find_asset(std::string_view) { return nullptr; }

}  // namespace alter::server::console
