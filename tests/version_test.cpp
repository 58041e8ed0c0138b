// SPDX-License-Identifier: BSL-1.0
// wsx version macros (version.hpp): WSX_VERSION_STRING is
// "MAJOR.MINOR.PATCH" built from the three numeric macros, and equals the
// CMake project version passed in as WSX_PROJECT_VERSION_STRING.
#include "wsx/version.hpp"

#include "catch.hpp"

#include <string>
#include <string_view>

#define WSX_TEST_STR2(x) #x
#define WSX_TEST_STR(x) WSX_TEST_STR2(x)

static_assert(WSX_VERSION_MAJOR >= 0);
static_assert(WSX_VERSION_MINOR >= 0);
static_assert(WSX_VERSION_PATCH >= 0);

TEST_CASE("WSX_VERSION_STRING is MAJOR.MINOR.PATCH from the numeric macros", "[version]") {
    const std::string expected = std::to_string(WSX_VERSION_MAJOR) + "." +
                                 std::to_string(WSX_VERSION_MINOR) + "." +
                                 std::to_string(WSX_VERSION_PATCH);
    CHECK(std::string_view{WSX_VERSION_STRING} == expected);

    // The same, from the macros' spelling: they are plain decimal numbers
    // (CMakeLists.txt reads them with the regex [0-9]+).
    constexpr std::string_view spelled =
        WSX_TEST_STR(WSX_VERSION_MAJOR) "." WSX_TEST_STR(WSX_VERSION_MINOR) "." WSX_TEST_STR(
            WSX_VERSION_PATCH);
    CHECK(spelled == WSX_VERSION_STRING);
    static_assert(std::string_view{WSX_VERSION_STRING}.size() >= 5);
}

TEST_CASE("WSX_VERSION_STRING equals the CMake project version", "[version]") {
#ifdef WSX_PROJECT_VERSION_STRING
    INFO("project(wsx VERSION ...) is " << WSX_PROJECT_VERSION_STRING);
    CHECK(std::string_view{WSX_VERSION_STRING} == std::string_view{WSX_PROJECT_VERSION_STRING});
#else
    FAIL("WSX_PROJECT_VERSION_STRING is not defined (tests/CMakeLists.txt passes it)");
#endif
}
