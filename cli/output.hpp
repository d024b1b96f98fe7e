#pragma once
#include <nlohmann/json.hpp>

#include <iostream>
#include <string>
#include <vector>

namespace alter::cli {

/// Prints rows as aligned columns under a header.
void print_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows,
                 std::ostream& out = std::cout);
/// A JSON value as a short cell: strings bare, null as "-", the rest compact JSON.
std::string cell(const nlohmann::json& v);

}  // namespace alter::cli
