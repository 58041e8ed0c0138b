# SPDX-License-Identifier: BSL-1.0
# Conan 2 recipe for wsx, a header-only C++20 WebSocket library on standalone Asio.
#
# From a checkout (the recipe exports the sources of this repository):
#   conan create conan --build=missing                          # wsx::wsx
#   conan create conan --build=missing -o "wsx/*:with_tls=True"  # and wsx::tls
# A consumer: requires wsx/<version>, generators CMakeDeps, then
#   find_package(wsx REQUIRED CONFIG) and link wsx::wsx (wsx::tls, wsx::deflate,
#   wsx::http2 with -o "wsx/*:with_http2=True").
#   -o "wsx/*:separate_compilation=True" (WSX_SEPARATE_COMPILATION) builds the
#   static wsx::compiled (and wsx::compiled_tls with with_tls): the package is
#   then a static library; -o "wsx/*:with_io_uring=True" (WSX_IO_URING, Linux)
#   runs Asio on io_uring in every program that links wsx::wsx (liburing).
#
# Written to ConanCenter's conventions (header-library, package_id cleared,
# basic_layout, no CMake run for a header-only package, the targets declared
# in package_info, test_package). With separate_compilation, wsx's CMake builds
# the static libraries only (no tests, examples), as fmt's recipe does for its
# header_only option the other way round. For a ConanCenter submission, replace
# set_version/export_sources by a conandata.yml with the release tarball and
# a source() that get()s it.
import os
import re

from conan import ConanFile
from conan.errors import ConanInvalidConfiguration
from conan.tools.build import check_min_cppstd
from conan.tools.cmake import CMake, CMakeDeps, CMakeToolchain
from conan.tools.files import copy, load
from conan.tools.gnu import PkgConfigDeps
from conan.tools.layout import basic_layout
from conan.tools.scm import Version

required_conan_version = ">=2.0"


class WsxConan(ConanFile):
    name = "wsx"
    description = "Header-only C++20 WebSocket library (RFC 6455, RFC 7692) on standalone Asio"
    license = "BSL-1.0"  # LICENSE, exported with the sources and packaged in licenses/
    # No homepage or url: the project is not published yet, and this recipe
    # builds the checkout it lives in.
    topics = ("websocket", "rfc6455", "asio", "header-only")
    package_type = "header-library"
    settings = "os", "arch", "compiler", "build_type"
    options = {
        "with_tls": [True, False],
        "with_deflate": [True, False],
        "with_http2": [True, False],
        "with_io_uring": [True, False],
        "separate_compilation": [True, False],
    }
    default_options = {
        "with_tls": False,
        "with_deflate": False,
        "with_http2": False,
        "with_io_uring": False,
        "separate_compilation": False,
    }
    no_copy_source = True

    @property
    def _min_cppstd(self):
        return 20

    @property
    def _compilers_minimum_version(self):
        # C++20 designated initializers, concepts, std::span (see the README).
        return {"gcc": "12", "clang": "14", "apple-clang": "14", "msvc": "193"}

    def set_version(self):
        # include/wsx/version.hpp is the one place the version is written.
        text = load(self, os.path.join(self.recipe_folder, "..", "include", "wsx", "version.hpp"))
        self.version = re.search(r'#define WSX_VERSION_STRING "([^"]+)"', text).group(1)

    def export_sources(self):
        root = os.path.join(self.recipe_folder, "..")
        copy(self, "include/*", src=root, dst=self.export_sources_folder)
        copy(self, "LICENSE*", src=root, dst=self.export_sources_folder)
        # What building wsx::compiled (separate_compilation) needs.
        copy(self, "CMakeLists.txt", src=root, dst=self.export_sources_folder)
        copy(self, "cmake/*", src=root, dst=self.export_sources_folder)

    def configure(self):
        if self.options.separate_compilation:
            self.package_type = "static-library"

    def layout(self):
        basic_layout(self, src_folder=".")

    def requirements(self):
        # wsx's headers include these, and its users link them: visible downstream.
        self.requires("asio/[>=1.22.0 <2]", transitive_headers=True)
        self.requires("simdjson/[>=3.0.0 <4]", transitive_headers=True, transitive_libs=True)
        if self.options.with_tls:
            self.requires("openssl/[>=1.1.1 <4]", transitive_headers=True, transitive_libs=True)
        if self.options.with_deflate:
            self.requires("zlib/[>=1.2.11 <2]", transitive_headers=True, transitive_libs=True)
        if self.options.with_http2:
            # wsx/http2 uses nghttp2's session API, which 1.34 completed.
            self.requires("libnghttp2/[>=1.34.0 <2]", transitive_headers=True, transitive_libs=True)
        if self.options.with_io_uring:
            # Asio's io_uring headers include <liburing.h>.
            self.requires("liburing/[>=2.0 <3]", transitive_headers=True, transitive_libs=True)

    def package_id(self):
        # Header-only: one package for every configuration. The static
        # libraries depend on settings and options like any library.
        if not self.info.options.separate_compilation:
            self.info.clear()

    def validate(self):
        if self.options.with_io_uring and self.settings.os != "Linux":
            raise ConanInvalidConfiguration(f"{self.ref}: with_io_uring needs Linux (io_uring, liburing)")
        if self.settings.compiler.get_safe("cppstd"):
            check_min_cppstd(self, self._min_cppstd)
        minimum = self._compilers_minimum_version.get(str(self.settings.compiler))
        if minimum and Version(self.settings.compiler.version) < minimum:
            raise ConanInvalidConfiguration(
                f"{self.ref} needs C++{self._min_cppstd}: {self.settings.compiler} {minimum} or newer"
            )

    def source(self):
        pass  # the sources come with the recipe (export_sources)

    def generate(self):
        if not self.options.separate_compilation:
            return  # header-only: nothing to configure
        tc = CMakeToolchain(self)
        tc.variables["WSX_SEPARATE_COMPILATION"] = True
        tc.variables["WSX_IO_URING"] = bool(self.options.with_io_uring)
        tc.variables["WSX_TLS"] = bool(self.options.with_tls)
        tc.variables["WSX_DEFLATE"] = bool(self.options.with_deflate)
        tc.variables["WSX_HTTP2"] = bool(self.options.with_http2)
        tc.variables["WSX_REDIS"] = False
        tc.variables["WSX_BUILD_TESTS"] = False
        tc.variables["WSX_BUILD_EXAMPLES"] = False
        tc.variables["WSX_BUILD_BENCHMARKS"] = False
        tc.variables["WSX_INSTALL"] = False
        tc.generate()
        CMakeDeps(self).generate()
        if self.options.with_io_uring or self.options.with_http2:
            PkgConfigDeps(self).generate()  # liburing and nghttp2 are found with pkg-config

    def build(self):
        if not self.options.separate_compilation:
            return  # header-only
        cmake = CMake(self)
        cmake.configure()
        cmake.build()  # with tests, examples off: wsx_compiled (and wsx_compiled_tls) only

    def package(self):
        copy(self, "LICENSE*", src=self.source_folder, dst=os.path.join(self.package_folder, "licenses"))
        copy(self, "*.hpp", src=os.path.join(self.source_folder, "include"),
             dst=os.path.join(self.package_folder, "include"))
        if self.options.separate_compilation:
            for pattern in ("*wsx_compiled*.a", "*wsx_compiled*.lib"):
                copy(self, pattern, src=self.build_folder, dst=os.path.join(self.package_folder, "lib"),
                     keep_path=False)

    def package_info(self):
        # The names match wsx's own CMake package (share/cmake/wsx/wsxConfig.cmake),
        # so a CMakeLists.txt works unchanged with either.
        self.cpp_info.set_property("cmake_file_name", "wsx")
        # CMakeDeps' aggregate of every enabled component; wsx::wsx stays the
        # core alone, as in wsx's own CMake package.
        self.cpp_info.set_property("cmake_target_name", "wsx::wsx_all")
        self.cpp_info.bindirs = []
        self.cpp_info.libdirs = []

        core = self.cpp_info.components["core"]
        core.set_property("cmake_target_name", "wsx::wsx")
        core.set_property("pkg_config_name", "wsx")
        core.bindirs = []
        core.libdirs = []
        core.requires = ["asio::asio", "simdjson::simdjson"]
        if self.options.with_io_uring:
            # As WSX_IO_URING puts them on wsx::wsx: every unit must agree.
            core.requires.append("liburing::liburing")
            core.defines = ["ASIO_HAS_IO_URING=1", "ASIO_DISABLE_EPOLL=1"]
        if self.settings.os in ["Linux", "FreeBSD"]:
            core.system_libs = ["pthread"]
        elif self.settings.os == "Windows":
            core.system_libs = ["ws2_32", "mswsock"]

        if self.options.with_tls:
            tls = self.cpp_info.components["tls"]
            tls.set_property("cmake_target_name", "wsx::tls")
            tls.set_property("pkg_config_name", "wsx-tls")
            tls.bindirs = []
            tls.libdirs = []
            tls.requires = ["core", "openssl::ssl", "openssl::crypto"]

        if self.options.with_deflate:
            deflate = self.cpp_info.components["deflate"]
            deflate.set_property("cmake_target_name", "wsx::deflate")
            deflate.set_property("pkg_config_name", "wsx-deflate")
            deflate.bindirs = []
            deflate.libdirs = []
            deflate.requires = ["core", "zlib::zlib"]
            deflate.defines = ["WSX_HAS_DEFLATE=1"]

        if self.options.with_http2:
            http2 = self.cpp_info.components["http2"]
            http2.set_property("cmake_target_name", "wsx::http2")
            http2.set_property("pkg_config_name", "wsx-http2")
            http2.bindirs = []
            http2.libdirs = []
            http2.requires = ["core", "libnghttp2::libnghttp2"]
            http2.defines = ["WSX_HAS_HTTP2=1"]

        if self.options.separate_compilation:
            compiled = self.cpp_info.components["compiled"]
            compiled.set_property("cmake_target_name", "wsx::compiled")
            compiled.bindirs = []
            compiled.libs = ["wsx_compiled"]
            compiled.requires = ["core"]
            compiled.defines = ["WSX_SEPARATE_COMPILATION=1"]
            if self.options.with_tls:
                compiled_tls = self.cpp_info.components["compiled_tls"]
                compiled_tls.set_property("cmake_target_name", "wsx::compiled_tls")
                compiled_tls.bindirs = []
                compiled_tls.libs = ["wsx_compiled_tls"]
                compiled_tls.requires = ["compiled", "tls"]
                compiled_tls.defines = ["WSX_SEPARATE_COMPILATION_TLS=1"]
