#pragma once
/// @file alter.hpp
/// The Alter Vault C++ SDK. `#include <alter/alter.hpp>` and link `alter::sdk`.

#include <alter/errors.hpp>
#include <alter/http_method.hpp>
#include <alter/options.hpp>
#include <alter/provider.hpp>
#include <alter/response.hpp>
#include <alter/vault.hpp>
#include <alter/version.hpp>
