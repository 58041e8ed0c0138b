# SPDX-License-Identifier: BSL-1.0
# Configures, builds and runs a consumer project (cmake -P), as its user would.
#
#   -DSOURCE_DIR=<project> -DBINARY_DIR=<fresh build dir>
#   -DGENERATOR=... [-DPLATFORM=...] [-DTOOLSET=...] [-DMAKE_PROGRAM=...]
#   [-DCXX_COMPILER=...] [-DCXX_COMPILER_LAUNCHER=...] [-DBUILD_TYPE=...] [-DCONFIG=...]
#   [-DPREFIX=<CMAKE_PREFIX_PATH for the consumer>]
#   [-DEXPECT_WSX_DIR=<wsx_DIR must lie under it>]
#   [-DARGS=<more configure arguments, '|'-separated>]
#   [-DREQUIRE_FILES=<'|'-separated files; when one is missing the test is skipped>]
#   [-DCONFIGURE_ONLY=ON]
#   [-DEXPECT_FAILURE=<regex>: configuring must fail with output matching it]
#   [-DRUN=<executable built by the project, relative to BINARY_DIR or its CONFIG dir>]
# Prints "WSX_SKIP:" (CTest's SKIP_REGULAR_EXPRESSION) when it skips.
cmake_minimum_required(VERSION 3.20)

string(REPLACE "|" ";" ARGS "${ARGS}")
string(REPLACE "|" ";" REQUIRE_FILES "${REQUIRE_FILES}")

foreach(file IN LISTS REQUIRE_FILES)
    if(NOT EXISTS "${file}")
        message("WSX_SKIP: ${file} does not exist (yet); nothing to check")
        return()
    endif()
endforeach()

file(REMOVE_RECURSE "${BINARY_DIR}")
set(configure -S "${SOURCE_DIR}" -B "${BINARY_DIR}" -G "${GENERATOR}"
    -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON)
if(PLATFORM)
    list(APPEND configure -A "${PLATFORM}")
endif()
if(TOOLSET)
    list(APPEND configure -T "${TOOLSET}")
endif()
foreach(var MAKE_PROGRAM CXX_COMPILER CXX_COMPILER_LAUNCHER BUILD_TYPE PREFIX_PATH)
    set(cmake_var CMAKE_${var})
    if(var STREQUAL "PREFIX_PATH")
        set(value "${PREFIX}")
    else()
        set(value "${${var}}")
    endif()
    if(value)
        list(APPEND configure "-D${cmake_var}=${value}")
    endif()
endforeach()

execute_process(COMMAND ${CMAKE_COMMAND} ${configure} ${ARGS}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
message("${out}")
if(DEFINED EXPECT_FAILURE)
    if(rc EQUAL 0)
        message(FATAL_ERROR "configuring ${SOURCE_DIR} succeeded; it should have failed")
    endif()
    string(REGEX REPLACE "[ \t\r\n]+" " " flat "${out}") # CMake wraps long messages
    if(NOT flat MATCHES "${EXPECT_FAILURE}")
        message(FATAL_ERROR "configuring failed, but without a message matching: ${EXPECT_FAILURE}")
    endif()
    message(STATUS "failed as expected, with: ${CMAKE_MATCH_0}")
    return()
endif()
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "configuring ${SOURCE_DIR} failed (${rc})")
endif()

if(EXPECT_WSX_DIR)
    # The package must come from the prefix under test, not from elsewhere.
    file(STRINGS "${BINARY_DIR}/CMakeCache.txt" line REGEX "^wsx_DIR:")
    string(REGEX REPLACE "^wsx_DIR:[A-Z]+=" "" wsx_dir "${line}")
    file(REAL_PATH "${EXPECT_WSX_DIR}" expected)
    file(REAL_PATH "${wsx_dir}" actual)
    string(FIND "${actual}" "${expected}" at)
    if(NOT at EQUAL 0)
        message(FATAL_ERROR "wsx was found in '${wsx_dir}', not under '${EXPECT_WSX_DIR}'")
    endif()
endif()
if(CONFIGURE_ONLY)
    return()
endif()

set(build --build "${BINARY_DIR}")
if(CONFIG)
    list(APPEND build --config "${CONFIG}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} ${build} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
message("${out}")
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "building ${SOURCE_DIR} failed (${rc})")
endif()

if(RUN)
    set(exe "${BINARY_DIR}/${RUN}")
    if(CONFIG AND NOT EXISTS "${exe}")
        set(exe "${BINARY_DIR}/${CONFIG}/${RUN}")
    endif()
    execute_process(COMMAND "${exe}" RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out TIMEOUT 60)
    message("${out}")
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "${RUN} failed (${rc})")
    endif()
endif()
