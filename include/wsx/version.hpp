// SPDX-License-Identifier: BSL-1.0
#pragma once
// The one place the wsx version is written; CMakeLists.txt reads it from here.
#define WSX_VERSION_MAJOR 0
#define WSX_VERSION_MINOR 1
#define WSX_VERSION_PATCH 0
#define WSX_VERSION_STRING "0.1.0"
