# SPDX-License-Identifier: BSL-1.0
# Uses the installed wsx through pkg-config, as the README shows (cmake -P):
#   PKG_CONFIG_PATH=<prefix>/share/pkgconfig
#   c++ -std=c++20 main.cpp $(pkg-config --cflags --libs wsx) -o echo_check && ./echo_check
# and checks that wsx-tls / wsx-deflate resolve for the installed components.
#
#   -DPKG_CONFIG=<pkg-config> -DPREFIX=<prefix> -DPKGCONFIGDIR=share/pkgconfig
#   -DCXX_COMPILER=<c++> -DSOURCE=<main.cpp> -DWORK_DIR=<dir> -DVERSION=<x.y.z>
#   -DCOMPONENTS=<'|'-separated installed components>
cmake_minimum_required(VERSION 3.20)
string(REPLACE "|" ";" COMPONENTS "${COMPONENTS}")

set(ENV{PKG_CONFIG_PATH} "${PREFIX}/${PKGCONFIGDIR}")
# Only the prefix under test, and the system's own directories for simdjson,
# openssl and zlib.
unset(ENV{PKG_CONFIG_LIBDIR})

function(pkg_config out)
    execute_process(COMMAND "${PKG_CONFIG}" ${ARGN} RESULT_VARIABLE rc
                    OUTPUT_VARIABLE text ERROR_VARIABLE err OUTPUT_STRIP_TRAILING_WHITESPACE)
    string(REPLACE ";" " " cmd "${ARGN}")
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "pkg-config ${cmd} failed (${rc}): ${err}")
    endif()
    message(STATUS "pkg-config ${cmd}: ${text}")
    set(${out} "${text}" PARENT_SCOPE)
endfunction()

foreach(module IN ITEMS wsx LISTS COMPONENTS)
    if(NOT module STREQUAL "wsx")
        set(module "wsx-${module}")
    endif()
    pkg_config(ignored --validate ${module})
    pkg_config(version --modversion ${module})
    if(NOT version STREQUAL VERSION)
        message(FATAL_ERROR "${module}.pc says version ${version}, the sources say ${VERSION}")
    endif()
    pkg_config(flags --cflags --libs ${module})
endforeach()
if("deflate" IN_LIST COMPONENTS)
    pkg_config(flags --cflags wsx-deflate)
    if(NOT flags MATCHES "-DWSX_HAS_DEFLATE=1")
        message(FATAL_ERROR "wsx-deflate.pc lacks -DWSX_HAS_DEFLATE=1")
    endif()
endif()

pkg_config(flags --cflags --libs wsx)
separate_arguments(flags UNIX_COMMAND "${flags}")
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
set(exe "${WORK_DIR}/echo_check")
execute_process(COMMAND "${CXX_COMPILER}" -std=c++20 "${SOURCE}" ${flags} -o "${exe}"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
message("${out}")
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "compiling ${SOURCE} with pkg-config's flags failed (${rc})")
endif()
execute_process(COMMAND "${exe}" RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out TIMEOUT 60)
message("${out}")
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "echo_check failed (${rc})")
endif()
