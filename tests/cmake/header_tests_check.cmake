# SPDX-License-Identifier: BSL-1.0
# The test `header_tests_check`: every public header has a test of its own, where a
# reader looks for it (style point 8: tests mirror headers one to one).
#
#   cmake -DSOURCE_DIR=<wsx source tree> -P tests/cmake/header_tests_check.cmake
#
# For each include/wsx/<path>.hpp it checks that
#   1. tests/<path>_test.cpp exists;
#   2. the first wsx header that file includes is <wsx/<path>.hpp> (it tests that
#      header, and proves it self-contained; tests/cmake/header_check.cmake compiles
#      each header alone too);
#   3. the CMakeLists.txt of the same folder (tests/<dir>/CMakeLists.txt, or
#      tests/CMakeLists.txt for the top of include/wsx/) registers it;
# and that no CMakeLists.txt under tests/ registers a *_test.cpp of another folder.
# Comments in the CMakeLists.txt files are ignored. It fails listing every problem.
cmake_minimum_required(VERSION 3.20)

if(NOT SOURCE_DIR)
    message(FATAL_ERROR "usage: cmake -DSOURCE_DIR=<wsx source tree> -P header_tests_check.cmake")
endif()

# Headers with no test file of their own, and why. Keep this list short: a
# header here must be covered elsewhere, and say where.
set(allowed
    # The umbrella header only includes the others (style point 5); the header
    # check compiles it, and the examples and packaging tests build with it.
    wsx.hpp
)

set(include_dir "${SOURCE_DIR}/include/wsx")
set(tests_dir "${SOURCE_DIR}/tests")
file(GLOB_RECURSE headers RELATIVE "${include_dir}" "${include_dir}/*.hpp")
list(SORT headers)
if(NOT headers)
    message(FATAL_ERROR "no header found under ${include_dir}")
endif()

# The CMakeLists.txt file `file` without its comments.
function(read_without_comments file out)
    file(STRINGS "${file}" lines)
    set(text "")
    foreach(line IN LISTS lines)
        string(REGEX REPLACE "#.*$" "" line "${line}")
        string(APPEND text "${line}\n")
    endforeach()
    set(${out} "${text}" PARENT_SCOPE)
endfunction()

set(problems "")
set(checked 0)
foreach(header IN LISTS headers)
    if(header IN_LIST allowed)
        continue()
    endif()
    math(EXPR checked "${checked} + 1")
    string(REGEX REPLACE "\\.hpp$" "" path "${header}")
    get_filename_component(dir "${path}" DIRECTORY)
    get_filename_component(stem "${path}" NAME)
    set(test "tests/${path}_test.cpp")

    if(NOT EXISTS "${SOURCE_DIR}/${test}")
        list(APPEND problems "include/wsx/${header} has no test: add ${test}")
        continue()
    endif()

    file(STRINGS "${SOURCE_DIR}/${test}" includes REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"]wsx/")
    list(GET includes 0 first)
    if(NOT first MATCHES "[<\"]wsx/${header}[>\"]")
        list(APPEND problems "${test} must include <wsx/${header}> before any other wsx header (found: ${first})")
    endif()

    if(dir STREQUAL "")
        set(cmakelists "tests/CMakeLists.txt")
    else()
        set(cmakelists "tests/${dir}/CMakeLists.txt")
    endif()
    if(NOT EXISTS "${SOURCE_DIR}/${cmakelists}")
        list(APPEND problems "${test} is not registered: ${cmakelists} does not exist")
        continue()
    endif()
    read_without_comments("${SOURCE_DIR}/${cmakelists}" text)
    if(NOT text MATCHES "[ \t(]${stem}_test\\.cpp[ \t)\n]")
        list(APPEND problems "${test} is not registered in ${cmakelists} (wsx_add_test)")
    endif()
endforeach()

# A folder registers its own tests only.
file(GLOB_RECURSE cmakelists_files RELATIVE "${SOURCE_DIR}" "${tests_dir}/CMakeLists.txt")
foreach(cmakelists IN LISTS cmakelists_files)
    read_without_comments("${SOURCE_DIR}/${cmakelists}" text)
    string(REGEX MATCHALL "[ \t(]([A-Za-z0-9_.-]+/)+[A-Za-z0-9_]+_test\\.cpp" elsewhere "${text}")
    foreach(source IN LISTS elsewhere)
        string(STRIP "${source}" source)
        string(REGEX REPLACE "^\\(" "" source "${source}")
        list(APPEND problems "${cmakelists} registers ${source}, a test of another folder: register it in that folder's CMakeLists.txt")
    endforeach()
endforeach()

if(problems)
    list(LENGTH problems count)
    string(REPLACE ";" "\n  " listing "${problems}")
    message(FATAL_ERROR "tests do not mirror include/wsx/ (${count} problem(s)):\n  ${listing}\n"
                        "See the top of tests/CMakeLists.txt.")
endif()
message(STATUS "header_tests_check: ${checked} headers, each with its test in its own folder "
               "(allowed without one: ${allowed})")
