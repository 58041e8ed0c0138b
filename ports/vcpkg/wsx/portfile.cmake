# SPDX-License-Identifier: BSL-1.0
# vcpkg port of wsx, a header-only C++20 WebSocket library on standalone Asio.
#   vcpkg install wsx[tls,deflate,http2] --overlay-ports=<wsx checkout>/ports/vcpkg
# Header-only: one release configuration, nothing under debug/ or lib/, unless
# the separate-compilation feature builds the static wsx::compiled (and
# wsx::compiled_tls): then release and debug libraries, as for any library.
if("separate-compilation" IN_LIST FEATURES)
    vcpkg_check_linkage(ONLY_STATIC_LIBRARY)
else()
    set(VCPKG_BUILD_TYPE release)
endif()

# As an overlay port it builds the checkout it lives in (ports/vcpkg/wsx ->
# the repository root): wsx is not published yet. Once it is, a registry
# port fetches the release instead:
#   vcpkg_from_github(OUT_SOURCE_PATH SOURCE_PATH REPO <owner>/wsx REF "v${VERSION}"
#                     SHA512 <sha512 of the tarball> HEAD_REF main)
get_filename_component(SOURCE_PATH "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)

# Each feature turns its component on or off explicitly, so what the port
# provides never depends on what else happens to be installed.
vcpkg_check_features(OUT_FEATURE_OPTIONS FEATURE_OPTIONS
    FEATURES
        tls     WSX_TLS
        deflate WSX_DEFLATE
        http2   WSX_HTTP2
        io-uring WSX_IO_URING
        separate-compilation WSX_SEPARATE_COMPILATION
)

vcpkg_cmake_configure(
    SOURCE_PATH "${SOURCE_PATH}"
    OPTIONS
        ${FEATURE_OPTIONS}
        -DWSX_BUILD_TESTS=OFF
        -DWSX_BUILD_EXAMPLES=OFF
        -DWSX_BUILD_BENCHMARKS=OFF
        -DWSX_INSTALL=ON
        -DWSX_INSTALL_CMAKEDIR=share/${PORT}
        -DWSX_INSTALL_PKGCONFIGDIR=share/pkgconfig
)
vcpkg_cmake_install()
vcpkg_cmake_config_fixup()
vcpkg_fixup_pkgconfig()
# A debug build (separate-compilation) installs the headers and share/ twice.
file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/debug/include" "${CURRENT_PACKAGES_DIR}/debug/share")

file(INSTALL "${CMAKE_CURRENT_LIST_DIR}/usage" DESTINATION "${CURRENT_PACKAGES_DIR}/share/${PORT}")
# The Boost Software License 1.0, as share/wsx/copyright.
vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")
