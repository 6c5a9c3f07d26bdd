/// @file
/// The version of cppcluster these headers belong to. CMake refuses to configure when these
/// numbers differ from project(VERSION) in CMakeLists.txt: bump both together.
#pragma once

#include <string_view>

/// The major version.
#define CPPCLUSTER_VERSION_MAJOR 0
/// The minor version (before 1.0, each minor release may change the ABI).
#define CPPCLUSTER_VERSION_MINOR 1
/// The patch version.
#define CPPCLUSTER_VERSION_PATCH 0
/// "MAJOR.MINOR.PATCH".
#define CPPCLUSTER_VERSION_STRING "0.1.0"
/// One number for `#if`: MAJOR * 10000 + MINOR * 100 + PATCH (0.1.0 is 100).
#define CPPCLUSTER_VERSION \
  (CPPCLUSTER_VERSION_MAJOR * 10000 + CPPCLUSTER_VERSION_MINOR * 100 + CPPCLUSTER_VERSION_PATCH)

namespace cluster {

/// The version of these headers, "MAJOR.MINOR.PATCH" (CPPCLUSTER_VERSION_STRING).
constexpr std::string_view version() noexcept { return CPPCLUSTER_VERSION_STRING; }

}  // namespace cluster
