# What `make install` (cmake --install) puts under the prefix, and the Debian package
# `make package` (cpack -G DEB) makes of the same files:
#   include/cluster/*.hpp                         the headers, version.hpp included
#   lib/libcppcluster.a, lib/libcppcluster.so*    cppcluster::cluster, cppcluster::cluster_shared
#   lib/cmake/cppcluster/                         find_package(cppcluster)
#   lib/pkgconfig/cppcluster.pc                   the shared library (--static adds libuv, -pthread)
#   lib/pkgconfig/cppcluster-static.pc            libcppcluster.a and what it needs
#   share/doc/cppcluster/                         LICENSE, CHANGELOG.md
# Every file finds the others relative to itself, so the tree can be moved (dpkg-deb -x works).
include(CMakePackageConfigHelpers)

install(DIRECTORY include/cluster DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS ${CPPCLUSTER_LIBRARIES} EXPORT cppclusterTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
# cmake --install --strip (and the package) strips the shared library; CMake leaves static ones
# alone, so drop the archive's debug information here, as Debian's dh_strip does (108 MB -> 4.5 MB).
install(CODE "if(CMAKE_INSTALL_DO_STRIP AND NOT \"${CMAKE_STRIP}\" STREQUAL \"\")
  execute_process(COMMAND \"${CMAKE_STRIP}\" --strip-debug
    \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/$<TARGET_FILE_NAME:cppcluster>\"
    COMMAND_ERROR_IS_FATAL ANY)
endif()")
install(EXPORT cppclusterTargets NAMESPACE cppcluster:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/cppcluster)
configure_package_config_file(cmake/cppclusterConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/cppclusterConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/cppcluster)
# As the SONAME: before 1.0 a minor release may break the API, after it a major one.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(CPPCLUSTER_COMPATIBILITY SameMinorVersion)
else()
  set(CPPCLUSTER_COMPATIBILITY SameMajorVersion)
endif()
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/cppclusterConfigVersion.cmake
  COMPATIBILITY ${CPPCLUSTER_COMPATIBILITY})
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/cppclusterConfig.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/cppclusterConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/cppcluster)

# The .pc files find their prefix from their own location (${pcfiledir}).
file(RELATIVE_PATH PC_PREFIX_FROM_PCFILEDIR "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
foreach(pc cppcluster cppcluster-static)
  configure_file(cmake/${pc}.pc.in ${CMAKE_CURRENT_BINARY_DIR}/${pc}.pc @ONLY)
  install(FILES ${CMAKE_CURRENT_BINARY_DIR}/${pc}.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endforeach()
install(FILES LICENSE CHANGELOG.md DESTINATION ${CMAKE_INSTALL_DOCDIR})

# The Debian package: one -dev package holding everything above, under /usr.
set(CPPCLUSTER_PACKAGE_MAINTAINER "The cppcluster authors" CACHE STRING
  "The Maintainer field of the Debian package (make package)")
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME libcppcluster-dev)
set(CPACK_PACKAGE_VENDOR "The cppcluster authors")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Node.js's cluster module in C++20: headers, static and shared library")
set(CPACK_PACKAGE_DESCRIPTION "A primary process forks workers, messages flow both ways over Node's \
own IPC protocol (interoperable with node), servers are shared under round-robin, none or reuseport \
scheduling. Needs C++20 or later. find_package(cppcluster) and pkg-config cppcluster.")
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${CPPCLUSTER_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION libdevel)
# What building against the package needs; the shared library's own run-time needs (libc6,
# libstdc++6, libuv1) are added by dpkg-shlibdeps when dpkg-dev is installed (libuv1-dev pulls
# libuv1 in any case).
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libuv1-dev (>= 1.44), nlohmann-json3-dev (>= 3.10)")
# A shlibs file for packages built against this one, and dpkg's ldconfig trigger.
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
find_program(CPPCLUSTER_DPKG_SHLIBDEPS dpkg-shlibdeps)
if(CPPCLUSTER_DPKG_SHLIBDEPS)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
endif()
include(CPack)
