# SPDX-License-Identifier: BSL-1.0
# Installs wsx into a fresh prefix and checks what landed there (cmake -P).
#
#   -DBUILD_DIR=<a configured wsx build tree>      install that tree, or
#   -DSOURCE_DIR=<wsx sources> -DWORK_DIR=<dir>    configure a fresh one there first
#                                                  (with CONFIGURE_ARGS, '|'-separated)
#   -DPREFIX=<dir>  -DCONFIG=<config for multi-config generators, may be empty>
#   -DCMAKEDIR=share/cmake/wsx  -DPKGCONFIGDIR=share/pkgconfig
#   -DCOMPONENTS=<'|'-separated components the install must have>
#   -DLIBRARIES=<'|'-separated compiled components (e.g. compiled): built before
#               installing, and their targets file and static library must land>
#   -DGENERATOR=... -DMAKE_PROGRAM=... -DCXX_COMPILER=... (fresh configure only)
cmake_minimum_required(VERSION 3.20)

foreach(var PREFIX CMAKEDIR PKGCONFIGDIR)
    if(NOT DEFINED ${var})
        message(FATAL_ERROR "install_tree.cmake: -D${var}=... is required")
    endif()
endforeach()
string(REPLACE "|" ";" COMPONENTS "${COMPONENTS}")
string(REPLACE "|" ";" CONFIGURE_ARGS "${CONFIGURE_ARGS}")
string(REPLACE "|" ";" LIBRARIES "${LIBRARIES}")

function(run)
    execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
    message("${out}")
    if(NOT rc EQUAL 0)
        string(REPLACE ";" " " cmd "${ARGN}")
        message(FATAL_ERROR "failed (${rc}): ${cmd}")
    endif()
endfunction()

if(NOT BUILD_DIR)
    # A fresh configure: only what installing needs (no tests, examples).
    set(BUILD_DIR "${WORK_DIR}")
    file(REMOVE_RECURSE "${BUILD_DIR}")
    set(args -S "${SOURCE_DIR}" -B "${BUILD_DIR}" -G "${GENERATOR}"
        -DWSX_BUILD_TESTS=OFF -DWSX_BUILD_EXAMPLES=OFF -DWSX_BUILD_BENCHMARKS=OFF -DWSX_INSTALL=ON)
    if(MAKE_PROGRAM)
        list(APPEND args "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
    endif()
    if(CXX_COMPILER)
        list(APPEND args "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}")
    endif()
    if(BUILD_TYPE)
        list(APPEND args "-DCMAKE_BUILD_TYPE=${BUILD_TYPE}")
    endif()
    run(${CMAKE_COMMAND} ${args} ${CONFIGURE_ARGS})
endif()

# `cmake --install` builds nothing: the static libraries first, and only them.
if(LIBRARIES)
    set(build_args --build "${BUILD_DIR}" --parallel 2 --target)
    foreach(library IN LISTS LIBRARIES)
        list(APPEND build_args wsx_${library})
    endforeach()
    if(CONFIG)
        list(APPEND build_args --config "${CONFIG}")
    endif()
    run(${CMAKE_COMMAND} ${build_args})
endif()

file(REMOVE_RECURSE "${PREFIX}")
set(install_args --install "${BUILD_DIR}" --prefix "${PREFIX}")
if(CONFIG)
    list(APPEND install_args --config "${CONFIG}")
endif()
run(${CMAKE_COMMAND} ${install_args})

# What the issue asks for, and nothing that is wsx's own build.
set(missing "")
foreach(file
        include/wsx/wsx.hpp
        include/wsx/version.hpp
        ${CMAKEDIR}/wsxConfig.cmake
        ${CMAKEDIR}/wsxConfigVersion.cmake
        ${CMAKEDIR}/wsxTargets.cmake
        ${CMAKEDIR}/FindAsio.cmake
        ${PKGCONFIGDIR}/wsx.pc)
    if(NOT EXISTS "${PREFIX}/${file}")
        list(APPEND missing "${file}")
    endif()
endforeach()
foreach(component IN LISTS COMPONENTS)
    foreach(file ${CMAKEDIR}/wsx-${component}-targets.cmake ${PKGCONFIGDIR}/wsx-${component}.pc)
        if(NOT EXISTS "${PREFIX}/${file}")
            list(APPEND missing "${file}")
        endif()
    endforeach()
endforeach()

foreach(library IN LISTS LIBRARIES)
    if(NOT EXISTS "${PREFIX}/${CMAKEDIR}/wsx-${library}-targets.cmake")
        list(APPEND missing "${CMAKEDIR}/wsx-${library}-targets.cmake")
    endif()
endforeach()

# Every file of include/wsx/ in the sources is installed (one added later
# too: the install rule takes *.hpp, so another kind of file shows here).
if(NOT SOURCE_DIR)
    get_filename_component(SOURCE_DIR "${CMAKE_CURRENT_LIST_DIR}/../.." ABSOLUTE)
endif()
file(GLOB_RECURSE headers RELATIVE "${SOURCE_DIR}/include" "${SOURCE_DIR}/include/wsx/*")
foreach(header IN LISTS headers)
    if(NOT EXISTS "${PREFIX}/include/${header}")
        list(APPEND missing "include/${header}")
    endif()
endforeach()
if(missing)
    string(REPLACE ";" "\n  " missing "${missing}")
    message(FATAL_ERROR "not installed:\n  ${missing}")
endif()

file(GLOB_RECURSE installed RELATIVE "${PREFIX}" "${PREFIX}/*")
# The static libraries of LIBRARIES, under lib/ (or lib64/, lib/<multiarch>/).
set(libraries_regex "")
foreach(library IN LISTS LIBRARIES)
    set(archive_regex "^lib[^/]*/(.*/)?(lib)?wsx_${library}\\.(a|lib)$")
    string(APPEND libraries_regex "|${archive_regex}")
    set(archive "${installed}")
    list(FILTER archive INCLUDE REGEX "${archive_regex}")
    if(NOT archive)
        message(FATAL_ERROR "not installed: the static library of wsx::${library} (lib*/libwsx_${library}.a)")
    endif()
endforeach()
foreach(file IN LISTS installed)
    if(NOT file MATCHES "^(include/wsx/.*\\.hpp|${CMAKEDIR}/[^/]+\\.cmake|${PKGCONFIGDIR}/wsx(-[a-z0-9]+)?\\.pc)$${libraries_regex}")
        message(FATAL_ERROR "unexpected file installed: ${file}")
    endif()
endforeach()
list(LENGTH installed count)
message(STATUS "wsx installed into ${PREFIX}: ${count} files, components: ${COMPONENTS} ${LIBRARIES}")
