# SPDX-License-Identifier: BSL-1.0
# Runs ports/vcpkg/wsx/portfile.cmake without vcpkg (cmake -P), with
# stand-ins for the vcpkg_* helpers it calls that do what vcpkg would do:
# configure this source tree with vcpkg's usual arguments, install it into a
# packages directory, move/check the CMake config, check the pkg-config files.
# Then a few of vcpkg's post-build checks, and find_package(wsx) of the result.
#
#   -DSOURCE_DIR=<wsx sources> -DWORK_DIR=<scratch dir>
#   -DFEATURES=<'|'-separated features to enable>
#   -DGENERATOR=... [-DMAKE_PROGRAM=...] [-DCXX_COMPILER=...]
#
# What it cannot show: that vcpkg itself accepts the port (its real helpers,
# the toolchain file, the asio/simdjson/openssl/zlib ports, binary caching).
cmake_minimum_required(VERSION 3.20)

string(REPLACE "|" ";" FEATURES "${FEATURES}")
set(PORT wsx)
set(TARGET_TRIPLET x64-linux)
file(READ "${SOURCE_DIR}/ports/vcpkg/wsx/vcpkg.json" _manifest)
string(JSON VERSION GET "${_manifest}" version)
string(JSON _feature_count LENGTH "${_manifest}" features)
set(_manifest_features "")
math(EXPR _last "${_feature_count} - 1")
foreach(_i RANGE ${_last})
    string(JSON _name MEMBER "${_manifest}" features ${_i})
    list(APPEND _manifest_features ${_name})
endforeach()

file(REMOVE_RECURSE "${WORK_DIR}")
set(CURRENT_PACKAGES_DIR "${WORK_DIR}/packages/${PORT}_${TARGET_TRIPLET}")
set(CURRENT_BUILDTREES_DIR "${WORK_DIR}/buildtrees/${PORT}")
set(_unused_allowed "")

function(_run)
    execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
    message("${out}")
    if(NOT rc EQUAL 0)
        string(REPLACE ";" " " cmd "${ARGN}")
        message(FATAL_ERROR "failed (${rc}): ${cmd}")
    endif()
    set(_run_output "${out}" PARENT_SCOPE)
endfunction()

# ---- stand-ins for vcpkg's helpers -----------------------------------------------------
function(vcpkg_check_features)
    cmake_parse_arguments(PARSE_ARGV 0 arg "" "OUT_FEATURE_OPTIONS" "FEATURES;INVERTED_FEATURES")
    set(options "")
    set(pairs ${arg_FEATURES})
    while(pairs)
        list(POP_FRONT pairs feature option)
        if(NOT feature IN_LIST _manifest_features)
            message(FATAL_ERROR "vcpkg_check_features: '${feature}' is not a feature of vcpkg.json")
        endif()
        if(feature IN_LIST FEATURES)
            list(APPEND options "-D${option}=ON")
        else()
            list(APPEND options "-D${option}=OFF")
        endif()
    endwhile()
    set(${arg_OUT_FEATURE_OPTIONS} "${options}" PARENT_SCOPE)
endfunction()

function(vcpkg_cmake_configure)
    cmake_parse_arguments(PARSE_ARGV 0 arg "" "SOURCE_PATH" "OPTIONS;OPTIONS_RELEASE;OPTIONS_DEBUG;MAYBE_UNUSED_VARIABLES")
    if(NOT EXISTS "${arg_SOURCE_PATH}/CMakeLists.txt")
        message(FATAL_ERROR "vcpkg_cmake_configure: no CMakeLists.txt in SOURCE_PATH '${arg_SOURCE_PATH}'")
    endif()
    set(build "${CURRENT_BUILDTREES_DIR}/${TARGET_TRIPLET}-rel")
    # The arguments vcpkg adds to every configure (less its toolchain file:
    # here the system's asio, simdjson, OpenSSL and zlib stand in for the ports).
    set(args -S "${arg_SOURCE_PATH}" -B "${build}" -G "${GENERATOR}"
        -DCMAKE_BUILD_TYPE=Release
        "-DCMAKE_INSTALL_PREFIX=${CURRENT_PACKAGES_DIR}"
        -DCMAKE_INSTALL_LIBDIR:STRING=lib -DCMAKE_INSTALL_BINDIR:STRING=bin
        -DFETCHCONTENT_FULLY_DISCONNECTED=ON
        -DCMAKE_EXPORT_NO_PACKAGE_REGISTRY=ON -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON
        -DCMAKE_ERROR_ON_ABSOLUTE_INSTALL_DESTINATION=ON)
    if(MAKE_PROGRAM)
        list(APPEND args "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
    endif()
    if(CXX_COMPILER)
        list(APPEND args "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}")
    endif()
    _run(${CMAKE_COMMAND} ${args} ${arg_OPTIONS} ${arg_OPTIONS_RELEASE})
    # vcpkg warns about options the project ignored: here they fail the check,
    # except the ones vcpkg itself always passes.
    if(_run_output MATCHES "Manually-specified variables were not used by the project:(.*)")
        string(REGEX MATCHALL "\n    ([A-Za-z0-9_]+)" unused "${CMAKE_MATCH_1}")
        string(REGEX REPLACE "\n +" "" unused "${unused}")
        list(REMOVE_ITEM unused CMAKE_INSTALL_LIBDIR CMAKE_INSTALL_BINDIR FETCHCONTENT_FULLY_DISCONNECTED CMAKE_ERROR_ON_ABSOLUTE_INSTALL_DESTINATION
             CMAKE_EXPORT_NO_PACKAGE_REGISTRY CMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY ${arg_MAYBE_UNUSED_VARIABLES})
        if(unused)
            message(FATAL_ERROR "the portfile passes options the project does not use: ${unused}")
        endif()
    endif()
    set(_vcpkg_build_dir "${build}" CACHE INTERNAL "")
endfunction()

function(vcpkg_cmake_install)
    _run(${CMAKE_COMMAND} --build "${_vcpkg_build_dir}")
    _run(${CMAKE_COMMAND} --install "${_vcpkg_build_dir}")
endfunction()

function(vcpkg_cmake_config_fixup)
    cmake_parse_arguments(PARSE_ARGV 0 arg "DO_NOT_DELETE_PARENT_CONFIG_PATH;NO_PREFIX_CORRECTION" "PACKAGE_NAME;CONFIG_PATH;TOOLS_PATH" "")
    if(NOT arg_PACKAGE_NAME)
        set(arg_PACKAGE_NAME "${PORT}")
    endif()
    if(NOT arg_CONFIG_PATH)
        set(arg_CONFIG_PATH "share/${arg_PACKAGE_NAME}")
    endif()
    set(from "${CURRENT_PACKAGES_DIR}/${arg_CONFIG_PATH}")
    set(to "${CURRENT_PACKAGES_DIR}/share/${arg_PACKAGE_NAME}")
    if(NOT IS_DIRECTORY "${from}")
        message(FATAL_ERROR "vcpkg_cmake_config_fixup: '${arg_CONFIG_PATH}' does not exist in the package")
    endif()
    if(NOT from STREQUAL to)
        file(RENAME "${from}" "${to}")
    endif()
    file(GLOB configs "${to}/*[Cc]onfig.cmake" "${to}/*-config.cmake")
    if(NOT configs)
        message(FATAL_ERROR "vcpkg_cmake_config_fixup: no config file in share/${arg_PACKAGE_NAME}")
    endif()
    # vcpkg rewrites how the targets files compute their prefix from their
    # depth; check that they compute it (no absolute path to this package).
    file(GLOB targets "${to}/*[Tt]argets.cmake")
    foreach(file IN LISTS targets configs)
        file(READ "${file}" text)
        string(FIND "${text}" "${CURRENT_PACKAGES_DIR}" at)
        if(NOT at EQUAL -1)
            message(FATAL_ERROR "${file} holds the absolute path of the package directory")
        endif()
    endforeach()
endfunction()

function(vcpkg_fixup_pkgconfig)
    file(GLOB pcs "${CURRENT_PACKAGES_DIR}/lib/pkgconfig/*.pc" "${CURRENT_PACKAGES_DIR}/share/pkgconfig/*.pc")
    if(NOT pcs)
        message(FATAL_ERROR "vcpkg_fixup_pkgconfig: no .pc file in lib/pkgconfig or share/pkgconfig")
    endif()
    foreach(pc IN LISTS pcs)
        file(READ "${pc}" text)
        string(FIND "${text}" "${CURRENT_PACKAGES_DIR}" at)
        if(NOT at EQUAL -1)
            message(FATAL_ERROR "${pc} holds the absolute path of the package directory")
        endif()
        if(NOT text MATCHES "\nprefix=\\\${pcfiledir}")
            message(FATAL_ERROR "${pc}: its prefix should be relative to \${pcfiledir}")
        endif()
    endforeach()
endfunction()

function(vcpkg_install_copyright)
    cmake_parse_arguments(PARSE_ARGV 0 arg "" "COMMENT" "FILE_LIST")
    set(text "")
    foreach(file IN LISTS arg_FILE_LIST)
        if(NOT EXISTS "${file}")
            message(FATAL_ERROR "vcpkg_install_copyright: ${file} does not exist (vcpkg stops here too)")
        else()
            file(READ "${file}" content)
            string(APPEND text "${content}")
        endif()
    endforeach()
    file(WRITE "${CURRENT_PACKAGES_DIR}/share/${PORT}/copyright" "${text}")
endfunction()

function(vcpkg_from_github)
    message(FATAL_ERROR "vcpkg_from_github: this check builds the checkout; the overlay port should too")
endfunction()

# ---- the port ----------------------------------------------------------------------------
include("${SOURCE_DIR}/ports/vcpkg/wsx/portfile.cmake")
if(NOT VCPKG_BUILD_TYPE STREQUAL "release")
    message(FATAL_ERROR "a header-only port sets VCPKG_BUILD_TYPE release")
endif()

# ---- some of vcpkg's post-build checks -------------------------------------------------------
set(pkg "${CURRENT_PACKAGES_DIR}")
foreach(required include/wsx/wsx.hpp share/${PORT}/copyright share/${PORT}/usage
                 share/${PORT}/wsxConfig.cmake share/${PORT}/wsxConfigVersion.cmake share/pkgconfig/wsx.pc)
    if(NOT EXISTS "${pkg}/${required}")
        message(FATAL_ERROR "the package lacks ${required}")
    endif()
endforeach()
# The licence the package carries is the repository's, the Boost Software License 1.0.
file(READ "${pkg}/share/${PORT}/copyright" copyright)
if(NOT copyright MATCHES "^Boost Software License - Version 1\\.0")
    message(FATAL_ERROR "share/${PORT}/copyright is not the Boost Software License 1.0 text of LICENSE")
endif()
foreach(forbidden debug lib bin share/cmake)
    if(EXISTS "${pkg}/${forbidden}")
        message(FATAL_ERROR "a header-only package has no ${forbidden}/")
    endif()
endforeach()
file(GLOB top RELATIVE "${pkg}" "${pkg}/*")
list(REMOVE_ITEM top include share)
if(top)
    message(FATAL_ERROR "files or directories at the package root: ${top}")
endif()
foreach(feature IN LISTS _manifest_features)
    set(has FALSE)
    if(EXISTS "${pkg}/share/${PORT}/wsx-${feature}-targets.cmake")
        set(has TRUE)
    endif()
    if(feature IN_LIST FEATURES AND NOT has)
        message(FATAL_ERROR "feature ${feature} is on but wsx::${feature} was not installed")
    elseif(NOT feature IN_LIST FEATURES AND has)
        message(FATAL_ERROR "feature ${feature} is off but wsx::${feature} was installed")
    endif()
endforeach()

# ---- a consumer finds it where vcpkg's toolchain would look ------------------------------------
string(REPLACE ";" "," _components "${FEATURES}")
set(_consumer_args -S "${SOURCE_DIR}/tests/cmake/config_checks" -B "${WORK_DIR}/consumer" -G "${GENERATOR}"
    "-DCMAKE_PREFIX_PATH=${pkg}" -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON -DCHECK=components
    "-DWSX_EXPECTED_COMPONENTS=${_components}" "-DWSX_EXPECTED_VERSION=${VERSION}")
if(MAKE_PROGRAM)
    list(APPEND _consumer_args "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()
if(CXX_COMPILER)
    list(APPEND _consumer_args "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}")
endif()
_run(${CMAKE_COMMAND} ${_consumer_args})
file(STRINGS "${WORK_DIR}/consumer/CMakeCache.txt" _wsx_dir REGEX "^wsx_DIR:")
if(NOT _wsx_dir MATCHES "=${pkg}/share/${PORT}$")
    message(FATAL_ERROR "the consumer found wsx elsewhere: ${_wsx_dir}")
endif()
message(STATUS "the port installs a package that find_package(wsx COMPONENTS ${FEATURES}) loads")
