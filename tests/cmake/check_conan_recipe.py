#!/usr/bin/env python3
# SPDX-License-Identifier: BSL-1.0
"""Checks conan/conanfile.py and conan/test_package/conanfile.py without Conan
(which cannot be installed here).

  check_conan_recipe.py <wsx source dir>

1. Both files compile, and import only Conan 2 names that exist (the `conan`
   package, never Conan 1's `conans`).
2. A small stand-in for the Conan 2 API (ConanFile, settings, options,
   cpp_info with components, copy/load, check_min_cppstd, layouts, CMake)
   runs every method of the recipe as `conan create` would, for each
   combination of the options, and checks what the methods did: the version
   read from include/wsx/version.hpp, the sources exported, the requirements
   per option, package_id cleared (unless separate_compilation makes it a
   static library, built with CMake and packaged in lib/), validate()
   refusing C++17, old compilers and io_uring off Linux, the headers
   packaged, and package_info() declaring the same CMake file and target
   names (wsx::compiled, wsx::compiled_tls too) and definitions (the
   io_uring macros on wsx::wsx) as wsx's own CMake package.
3. The test_package recipe is run the same way.
Prints one line per problem and exits 1 if there is any.
"""
import ast
import importlib.util
import itertools
import os
import py_compile
import re
import shutil
import sys
import tempfile
import types
from fnmatch import fnmatch
from pathlib import Path

sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree
problems = []

# The optional components, one option with_<name> each: the Conan package the
# option requires, a target of it the component links, and the definition
# wsx's own CMake target of that component carries (CMakeLists.txt).
COMPONENTS = {
    "tls": ("openssl", "openssl::ssl", None),
    "deflate": ("zlib", "zlib::zlib", "WSX_HAS_DEFLATE=1"),
    "http2": ("libnghttp2", "libnghttp2::libnghttp2", "WSX_HAS_HTTP2=1"),
}

# Options that are not a header-only component: with_io_uring changes the core
# (wsx::wsx, as WSX_IO_URING does), separate_compilation builds the static
# wsx::compiled (and wsx::compiled_tls with with_tls), as WSX_SEPARATE_COMPILATION does.
EXTRA_OPTIONS = ("with_io_uring", "separate_compilation")
IO_URING_DEFINES = {"ASIO_HAS_IO_URING=1", "ASIO_DISABLE_EPOLL=1"}

# wsx is released under the Boost Software License 1.0 (LICENSE).
LICENSE_SPDX_ID = "BSL-1.0"
LICENSE_FIRST_LINE = "Boost Software License - Version 1.0 - August 17th, 2003"


def problem(text):
    problems.append(text)
    print(f"conan recipe: {text}")


# The Conan 2 names a recipe may import, by module (from Conan 2's reference).
CONAN2_API = {
    "conan": {"ConanFile"},
    "conan.errors": {"ConanException", "ConanInvalidConfiguration"},
    "conan.tools.build": {"check_min_cppstd", "check_max_cppstd", "valid_min_cppstd", "can_run",
                          "cross_building", "default_cppstd", "supported_cppstd", "stdcpp_library"},
    "conan.tools.files": {"copy", "load", "save", "get", "rmdir", "rm", "mkdir", "rename", "replace_in_file",
                          "apply_conandata_patches", "export_conandata_patches", "download", "unzip"},
    "conan.tools.layout": {"basic_layout"},
    "conan.tools.cmake": {"CMake", "CMakeToolchain", "CMakeDeps", "cmake_layout"},
    "conan.tools.gnu": {"PkgConfigDeps", "PkgConfig", "Autotools", "AutotoolsToolchain", "AutotoolsDeps"},
    "conan.tools.scm": {"Version", "Git"},
}
STDLIB_OK = {"os", "re"}


class Invalid(Exception):
    """Stands for ConanInvalidConfiguration."""


class Value:
    """A setting or option value: compares with strings and bools like Conan's."""

    def __init__(self, value):
        self._value = value

    def __str__(self):
        return str(self._value)

    def __bool__(self):
        return self._value not in (None, False, "False", "None")

    def __eq__(self, other):
        return str(self._value) == str(other)

    def __hash__(self):
        return hash(str(self._value))

    def get_safe(self, name, default=None):
        return default


class Namespace:
    def __init__(self, **values):
        object.__setattr__(self, "_values", dict(values))

    def __getattr__(self, name):
        values = object.__getattribute__(self, "_values")
        if name not in values:
            raise AttributeError(f"'{name}' is not defined")
        v = values[name]
        return v if isinstance(v, Namespace) else Value(v)

    def __setattr__(self, name, value):
        self._values[name] = value

    def get_safe(self, name, default=None):
        node = self
        for part in name.split("."):
            try:
                node = node._values[part] if isinstance(node, Namespace) else None
            except KeyError:
                return default
        return default if node is None else (node if isinstance(node, Namespace) else Value(node))

    def __str__(self):
        return str(self._values.get("_value", ""))


class Compiler(Namespace):
    def __init__(self, name, version, cppstd):
        super().__init__(version=version, cppstd=cppstd, _value=name)

    def __eq__(self, other):
        return str(self) == str(other)

    def __hash__(self):
        return hash(str(self))


class CppInfoComponent:
    def __init__(self):
        self.properties = {}
        self.includedirs = ["include"]
        self.libdirs = ["lib"]
        self.bindirs = ["bin"]
        self.requires = []
        self.defines = []
        self.system_libs = []
        self.libs = []

    def set_property(self, name, value):
        self.properties[name] = value

    def get_property(self, name):
        return self.properties.get(name)


class CppInfo(CppInfoComponent):
    def __init__(self):
        super().__init__()
        self.components = {}

    def __getattribute__(self, name):
        if name == "components":
            comps = object.__getattribute__(self, "components")
            return _AutoDict(comps)
        return object.__getattribute__(self, name)


class _AutoDict:
    def __init__(self, data):
        self._data = data

    def __getitem__(self, key):
        return self._data.setdefault(key, CppInfoComponent())

    def items(self):
        return self._data.items()

    def __contains__(self, key):
        return key in self._data

    def __iter__(self):
        return iter(self._data)


class Info:
    def __init__(self):
        self.cleared = False

    def clear(self):
        self.cleared = True


calls = []


def make_conan_modules():
    """Registers a stand-in `conan` package in sys.modules."""

    class ConanFile:
        name = None
        version = None
        settings = ()
        options = {}
        default_options = {}

        def __init__(self):
            self.requirements_made = []
            self.info = Info()
            self.cpp_info = CppInfo()
            self.cpp = types.SimpleNamespace(build=types.SimpleNamespace(bindir="build/Release"))
            self.runs = []

        def requires(self, ref, **traits):
            unknown = set(traits) - {"transitive_headers", "transitive_libs", "headers", "libs", "run",
                                     "visible", "force", "override", "options", "build", "test"}
            if unknown:
                problem(f"requires({ref!r}) with unknown traits {sorted(unknown)}")
            self.requirements_made.append((ref, traits))

        def run(self, command, env=None, **kwargs):
            self.runs.append((command, env))

        @property
        def ref(self):
            return f"{self.name}/{self.version}"

    def copy(conanfile, pattern, src, dst, keep_path=True, excludes=None):
        calls.append(("copy", pattern, src, dst))
        copied = []
        for path in Path(src).rglob("*"):
            rel = path.relative_to(src).as_posix()
            if path.is_file() and fnmatch(rel, pattern):
                target = Path(dst) / (rel if keep_path else path.name)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
                copied.append(target)
        return copied

    def load(conanfile, path, encoding="utf-8"):
        return Path(path).read_text(encoding=encoding)

    def check_min_cppstd(conanfile, cppstd, gnu_extensions=False):
        calls.append(("check_min_cppstd", str(cppstd)))
        actual = conanfile.settings.compiler.get_safe("cppstd")
        if actual is not None and int(str(actual).replace("gnu", "")) < int(cppstd):
            raise Invalid(f"needs C++{cppstd}, got {actual}")

    def can_run(conanfile):
        return True

    def basic_layout(conanfile, src_folder="."):
        calls.append(("basic_layout", src_folder))

    def cmake_layout(conanfile, src_folder="."):
        calls.append(("cmake_layout", src_folder))

    class CMakeToolchain:
        def __init__(self, conanfile):
            self.variables = {}

        def generate(self):
            calls.append(("CMakeToolchain.generate", dict(self.variables)))

    class Generator:
        def __init__(self, conanfile):
            pass

        def generate(self):
            calls.append((f"{type(self).__name__}.generate",))

    class CMakeDeps(Generator):
        pass

    class PkgConfigDeps(Generator):
        pass

    class CMake:
        def __init__(self, conanfile):
            self.conanfile = conanfile

        def configure(self, *args, **kwargs):
            calls.append(("cmake.configure",))

        def build(self, *args, **kwargs):
            calls.append(("cmake.build",))

    class Version:
        def __init__(self, value):
            self.parts = [int(p) for p in re.findall(r"\d+", str(value))]

        def __lt__(self, other):
            return self.parts < Version(other).parts

        def __ge__(self, other):
            return not self < other

    def module(name, **attrs):
        m = types.ModuleType(name)
        m.__dict__.update(attrs)
        sys.modules[name] = m
        return m

    module("conan", ConanFile=ConanFile)
    module("conan.errors", ConanInvalidConfiguration=Invalid, ConanException=Exception)
    module("conan.tools")
    module("conan.tools.build", check_min_cppstd=check_min_cppstd, can_run=can_run)
    module("conan.tools.files", copy=copy, load=load)
    module("conan.tools.layout", basic_layout=basic_layout)
    module("conan.tools.cmake", CMake=CMake, cmake_layout=cmake_layout, CMakeToolchain=CMakeToolchain,
           CMakeDeps=CMakeDeps)
    module("conan.tools.gnu", PkgConfigDeps=PkgConfigDeps)
    module("conan.tools.scm", Version=Version)


def check_imports(path: Path):
    try:
        with tempfile.TemporaryDirectory() as scratch:
            py_compile.compile(str(path), cfile=os.path.join(scratch, "recipe.pyc"), doraise=True)
    except py_compile.PyCompileError as e:
        problem(f"{path.name} does not compile: {e.msg}")
        return
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.module not in CONAN2_API:
                problem(f"{path}: imports from {node.module!r}, not a Conan 2 module")
                continue
            for alias in node.names:
                if alias.name not in CONAN2_API[node.module]:
                    problem(f"{path}: {node.module}.{alias.name} is not Conan 2 API")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name not in STDLIB_OK:
                    problem(f"{path}: imports {alias.name}")


def load_recipe(path: Path, module_name: str):
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    classes = [c for c in vars(module).values()
               if isinstance(c, type) and c.__module__ == module_name and hasattr(c, "requires")]
    if len(classes) != 1:
        problem(f"{path.name}: expected one ConanFile class, found {len(classes)}")
        return module, None
    return module, classes[0]


def expected_version(root: Path):
    text = (root / "include" / "wsx" / "version.hpp").read_text(encoding="utf-8")
    return re.search(r'#define WSX_VERSION_STRING "([^"]+)"', text).group(1)


def new_recipe(cls, recipe_folder, options, compiler=("gcc", "12", "20"), os_name="Linux"):
    r = cls()
    r.recipe_folder = str(recipe_folder)
    r.settings = Namespace(os=os_name, arch="x86_64", build_type="Release",
                           compiler=Compiler(*compiler))
    r.options = Namespace(**options)
    return r


def check_recipe(root: Path, work: Path):
    path = root / "conan" / "conanfile.py"
    module, cls = load_recipe(path, "wsx_conanfile")
    if cls is None:
        return
    if not str(getattr(module, "required_conan_version", "")).startswith(">=2"):
        problem("required_conan_version should be '>=2...' (the recipe is Conan 2 only)")
    if cls.name != "wsx":
        problem(f"name is {cls.name!r}")
    if getattr(cls, "package_type", None) != "header-library":
        problem("package_type must be 'header-library'")
    if set(getattr(cls, "settings", ())) != {"os", "arch", "compiler", "build_type"}:
        problem("settings should be os, arch, compiler, build_type (ConanCenter's header-only recipes)")
    option_names = [f"with_{c}" for c in COMPONENTS] + list(EXTRA_OPTIONS)
    if cls.options != {o: [True, False] for o in option_names}:
        problem(f"options are {cls.options}")
    if cls.default_options != {o: False for o in option_names}:
        problem(f"default_options are {cls.default_options}")
    if not getattr(cls, "no_copy_source", False):
        problem("no_copy_source should be True for a header-only recipe")
    for attr in ("description", "topics"):
        if not getattr(cls, attr, None):
            problem(f"the recipe has no {attr}")
    if getattr(cls, "license", None) != LICENSE_SPDX_ID:
        problem(f"license is {getattr(cls, 'license', None)!r}: the repository's LICENSE is {LICENSE_SPDX_ID}")
    for attr in ("homepage", "url"):
        if re.search(r"example\.(com|org)|github\.com/wsx/", str(getattr(cls, attr, "") or "")):
            problem(f"{attr} is a placeholder: leave it out until the project is published")

    version = expected_version(root)
    for flags in itertools.product([False, True], repeat=len(option_names)):
        enabled = {c for c, on in zip(COMPONENTS, flags) if on}
        opts = dict(zip(option_names, flags))
        io_uring, compiled = opts["with_io_uring"], opts["separate_compilation"]
        label = " ".join(f"{k}={v}" for k, v in opts.items())
        tag = "-".join(str(int(f)) for f in flags)
        r = new_recipe(cls, path.parent, opts)
        if hasattr(r, "configure"):
            r.configure()
        want_type = "static-library" if compiled else "header-library"
        if r.package_type != want_type:
            problem(f"{label}: package_type {r.package_type!r} after configure(), expected {want_type!r}")
        r.set_version()
        if r.version != version:
            problem(f"set_version gave {r.version!r}, version.hpp says {version!r}")

        # export_sources, then package from what was exported.
        export = work / f"export-{tag}"
        package = work / f"package-{tag}"
        r.export_sources_folder = str(export)
        r.export_sources()
        if not (export / "include" / "wsx" / "wsx.hpp").is_file():
            problem("export_sources does not export include/wsx/")
        for needed in ("CMakeLists.txt", "cmake/wsx_compiled.cpp", "cmake/wsx_compiled_tls.cpp"):
            if not (export / needed).is_file():
                problem(f"export_sources does not export {needed} (separate_compilation builds it)")
        r.layout()
        r.source_folder = str(export)
        r.package_folder = str(package)

        r.requirements()
        refs = {ref.split("/")[0]: (ref, traits) for ref, traits in r.requirements_made}
        want = {"asio", "simdjson"} | {COMPONENTS[c][0] for c in enabled} | ({"liburing"} if io_uring else set())
        if set(refs) != want:
            problem(f"{label}: requires {sorted(refs)}, expected {sorted(want)}")
        for name, (ref, traits) in refs.items():
            if not re.match(r"^[a-z0-9_.+-]+/(\[[^\]]+\]|[0-9][^@#\s]*)$", ref):
                problem(f"{label}: malformed reference {ref!r}")
            if not traits.get("transitive_headers"):
                problem(f"{label}: {name} must be transitive_headers=True (wsx's headers include it)")

        r.info.options = Namespace(**opts)
        r.package_id()
        if not compiled and not r.info.cleared:
            problem("package_id() must call self.info.clear() (one package for every configuration)")
        if compiled and r.info.cleared:
            problem("package_id() must not clear the info of a static library (separate_compilation)")

        r.validate()  # gcc 12, C++20: fine
        for compiler, why in ((("gcc", "12", "17"), "C++17"), (("gcc", "11", None), "gcc 11"),
                              (("clang", "13", None), "clang 13")):
            bad = new_recipe(cls, path.parent, opts, compiler)
            bad.version = version
            try:
                bad.validate()
                problem(f"validate() accepts {why}")
            except Invalid:
                pass

        if io_uring:
            windows = new_recipe(cls, path.parent, opts, os_name="Windows")
            windows.version = version
            try:
                windows.validate()
                problem("validate() accepts with_io_uring on Windows")
            except Invalid:
                pass

        # generate() and build(): CMake only for the static libraries, with
        # wsx's options, and the libraries it would build in the build folder.
        build = work / f"build-{tag}"
        r.build_folder = str(build)
        calls.clear()
        if hasattr(r, "generate"):
            r.generate()
        r.build()
        names = [c[0] for c in calls]
        if not compiled and any(n.startswith(("cmake.", "CMakeToolchain")) for n in names):
            problem(f"{label}: a header-only package runs no CMake ({names})")
        if compiled:
            for step in ("CMakeToolchain.generate", "CMakeDeps.generate", "cmake.configure", "cmake.build"):
                if step not in names:
                    problem(f"{label}: {step} not called")
            tc = next((c[1] for c in calls if c[0] == "CMakeToolchain.generate"), {})
            for var, value in (("WSX_SEPARATE_COMPILATION", True), ("WSX_IO_URING", io_uring),
                               ("WSX_TLS", "tls" in enabled), ("WSX_BUILD_TESTS", False),
                               ("WSX_BUILD_EXAMPLES", False)):
                if bool(tc.get(var)) != value:
                    problem(f"{label}: CMakeToolchain sets {var}={tc.get(var)!r}, expected {value}")
            if io_uring and "PkgConfigDeps.generate" not in names:
                problem(f"{label}: wsx finds liburing with pkg-config: PkgConfigDeps needed")
            libraries = ["wsx_compiled"] + (["wsx_compiled_tls"] if "tls" in enabled else [])
            for lib in libraries:
                (build / "sub").mkdir(parents=True, exist_ok=True)
                (build / "sub" / f"lib{lib}.a").write_bytes(b"!<arch>\n")
        r.package()
        packaged = {p.relative_to(package).as_posix() for p in package.rglob("*") if p.is_file()}
        want_libs = set()
        if compiled:
            want_libs = {"lib/libwsx_compiled.a"} | ({"lib/libwsx_compiled_tls.a"} if "tls" in enabled else set())
        if {p for p in packaged if p.startswith("lib/")} != want_libs:
            problem(f"{label}: package() puts {sorted(p for p in packaged if p.startswith('lib/'))} in lib/, "
                    f"expected {sorted(want_libs)}")
        sources = {("include/" + p.relative_to(root / "include").as_posix())
                   for p in (root / "include").rglob("*.hpp")}
        if not sources <= packaged:
            problem(f"package() misses {sorted(sources - packaged)[:5]}")
        licence = package / "licenses" / "LICENSE"
        if not licence.is_file() or not licence.read_text(encoding="utf-8").startswith(LICENSE_FIRST_LINE):
            problem("package() does not put the repository's LICENSE in licenses/ (ConanCenter requires it)")

        r.package_info()
        info = r.cpp_info
        if info.get_property("cmake_file_name") != "wsx":
            problem("cmake_file_name must be 'wsx' (find_package(wsx))")
        comps = dict(info.components.items())
        library_comps = ({"compiled"} | ({"compiled_tls"} if "tls" in enabled else set())) if compiled else set()
        want_comps = {"core"} | enabled | library_comps
        if set(comps) != want_comps:
            problem(f"{label}: components {sorted(comps)}, expected {sorted(want_comps)}")
            continue
        targets = {n: c.get_property("cmake_target_name") for n, c in comps.items()}
        want_targets = {"core": "wsx::wsx"} | {c: f"wsx::{c}" for c in [*COMPONENTS, "compiled", "compiled_tls"]}
        for n, t in targets.items():
            if t != want_targets[n]:
                problem(f"component {n}: cmake_target_name {t!r}, expected {want_targets[n]!r}")
        if info.get_property("cmake_target_name") in targets.values():
            problem("the root cmake_target_name must differ from the components' (CMakeDeps links the "
                    "aggregate to every component)")
        for n, c in comps.items():
            if n in library_comps:
                if c.bindirs or c.libdirs != ["lib"] or c.libs != [f"wsx_{n}"]:
                    problem(f"component {n}: libs {c.libs} in {c.libdirs}, expected wsx_{n} in lib, no bindirs")
                continue
            if c.libdirs or c.bindirs:
                problem(f"component {n}: a header-only component has no libdirs/bindirs")
            for req in c.requires:
                if "::" in req:
                    pkg = req.split("::")[0]
                    if pkg not in refs:
                        problem(f"component {n} requires {req}, but the recipe does not require {pkg}")
                elif req not in comps:
                    problem(f"component {n} requires unknown component {req}")
        core = comps["core"]
        if set(core.requires) != {"asio::asio", "simdjson::simdjson"} | ({"liburing::liburing"} if io_uring else set()):
            problem(f"{label}: core requires {core.requires}")
        if (set(core.defines) == IO_URING_DEFINES) != io_uring:
            problem(f"{label}: core defines {core.defines}; with_io_uring puts {sorted(IO_URING_DEFINES)} "
                    f"on wsx::wsx (as WSX_IO_URING does), and only then")
        if compiled:
            if "WSX_SEPARATE_COMPILATION=1" not in comps["compiled"].defines or "core" not in comps["compiled"].requires:
                problem("the compiled component must require core and define WSX_SEPARATE_COMPILATION=1")
            if "compiled_tls" in comps and (
                    "WSX_SEPARATE_COMPILATION_TLS=1" not in comps["compiled_tls"].defines
                    or not {"compiled", "tls"} <= set(comps["compiled_tls"].requires)):
                problem("compiled_tls must require compiled and tls and define WSX_SEPARATE_COMPILATION_TLS=1")
        for c in enabled:
            _, target, define = COMPONENTS[c]
            if not {"core", target} <= set(comps[c].requires):
                problem(f"{c} requires {comps[c].requires}, expected core and {target}")
            if define and define not in comps[c].defines:
                problem(f"the {c} component must define {define} (as wsx::{c} does)")
            if comps[c].get_property("pkg_config_name") != f"wsx-{c}":
                problem(f"the {c} component's pkg_config_name should be wsx-{c} (cmake/wsx_pkgconfig.cmake)")
        if "pthread" not in core.system_libs:
            problem("core should list pthread on Linux (Asio uses threads)")

    # The names agree with wsx's own CMake package and with the pkg-config files.
    cmake = (root / "CMakeLists.txt").read_text(encoding="utf-8")
    if "NAMESPACE wsx::" not in cmake:
        problem("CMakeLists.txt does not export with NAMESPACE wsx::")
    for c, (_, _, define) in COMPONENTS.items():
        if define and not re.search(r"target_compile_definitions\(wsx_" + c + r"\s+INTERFACE\s+" + re.escape(define), cmake):
            problem(f"CMakeLists.txt's wsx::{c} does not define {define}, which the recipe's component does")
    for target, define in (("wsx_compiled", "WSX_SEPARATE_COMPILATION=1"),
                           ("wsx_compiled_tls", "WSX_SEPARATE_COMPILATION_TLS=1"),
                           ("wsx", "ASIO_HAS_IO_URING=1 ASIO_DISABLE_EPOLL=1")):
        if not re.search(r"target_compile_definitions\(" + target + r"\s+(PUBLIC|INTERFACE)\s+" + re.escape(define), cmake):
            problem(f"CMakeLists.txt's {target} does not define {define}, which the recipe does")


def check_test_package(root: Path, work: Path):
    path = root / "conan" / "test_package" / "conanfile.py"
    module, cls = load_recipe(path, "wsx_test_package")
    if cls is None:
        return
    for generator in ("CMakeDeps", "CMakeToolchain"):
        if generator not in getattr(cls, "generators", ()):
            problem(f"test_package: generators lack {generator}")
    if getattr(cls, "test_type", None) != "explicit":
        problem("test_package: test_type should be 'explicit' (Conan 2)")
    r = new_recipe(cls, path.parent, {})
    r.tested_reference_str = f"wsx/{expected_version(root)}"
    calls.clear()
    r.layout()
    r.requirements()
    r.build()
    r.test()
    if [ref for ref, _ in r.requirements_made] != [r.tested_reference_str]:
        problem(f"test_package: requirements() should require tested_reference_str, got {r.requirements_made}")
    names = [c[0] for c in calls]
    for step in ("cmake_layout", "cmake.configure", "cmake.build"):
        if step not in names:
            problem(f"test_package: {step} not called")
    if not r.runs or not r.runs[0][0].endswith("test_package") or r.runs[0][1] != "conanrun":
        problem(f"test_package: test() should run the test_package binary with env='conanrun', ran {r.runs}")
    cmakelists = (path.parent / "CMakeLists.txt").read_text(encoding="utf-8")
    if "find_package(wsx REQUIRED CONFIG)" not in cmakelists or "wsx::wsx" not in cmakelists:
        problem("test_package/CMakeLists.txt should find_package(wsx REQUIRED CONFIG) and link wsx::wsx")
    m = re.search(r"add_executable\(\$\{PROJECT_NAME\}\s+(\S+)\)", cmakelists)
    if not m or not (path.parent / m.group(1)).is_file():
        problem("test_package/CMakeLists.txt should build its source into ${PROJECT_NAME}")
    if "project(test_package" not in cmakelists:
        problem("test_package/CMakeLists.txt: the project (and binary) should be test_package")


def main(root: Path):
    for path in (root / "conan" / "conanfile.py", root / "conan" / "test_package" / "conanfile.py"):
        check_imports(path)
    if problems:
        return
    make_conan_modules()
    with tempfile.TemporaryDirectory() as work:
        check_recipe(root, Path(work))
        check_test_package(root, Path(work))
    print(f"conan recipe: ran every method of conanfile.py ({2 ** (len(COMPONENTS) + len(EXTRA_OPTIONS))} option sets) and test_package: "
          f"{len(problems)} problem(s)")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]).resolve())
    sys.exit(1 if problems else 0)
