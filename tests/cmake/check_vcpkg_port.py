#!/usr/bin/env python3
# SPDX-License-Identifier: BSL-1.0
"""Checks ports/vcpkg/wsx without vcpkg (which cannot be installed here).

  check_vcpkg_port.py <wsx source dir>

vcpkg.json against the manifest rules vcpkg enforces for a port (strict JSON,
known fields, an identifier name equal to the port directory, exactly one
version field, descriptions, dependency and feature shapes, vcpkg
format-manifest's field and dependency order), then its agreement with the
rest of the repository: the version in include/wsx/version.hpp, the features
the portfile maps with vcpkg_check_features and the CMake options they set,
the host dependencies the portfile's helpers need, and the targets the usage
file names. Prints one line per problem and exits 1 if there is any.
"""
import json
import re
import sys
from pathlib import Path

IDENTIFIER = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
RESERVED = {"prn", "aux", "nul", "con", "core", "default", "head"} | {f"lpt{i}" for i in range(1, 10)} | {
    f"com{i}" for i in range(1, 10)}
VERSION_FIELDS = ("version", "version-semver", "version-date", "version-string")
# vcpkg format-manifest writes the top-level fields in this order.
FIELD_ORDER = ["name", *VERSION_FIELDS, "port-version", "maintainers", "summary", "description", "homepage",
               "documentation", "license", "builtin-baseline", "supports", "default-features", "dependencies",
               "overrides", "features", "configuration", "vcpkg-configuration"]
DEPENDENCY_FIELDS = {"name", "host", "features", "default-features", "platform", "version>="}
FEATURE_FIELDS = {"description", "dependencies", "supports", "license"}
# wsx is released under the Boost Software License 1.0 (LICENSE).
LICENSE_SPDX_ID = "BSL-1.0"
LICENSE_FIRST_LINE = "Boost Software License - Version 1.0 - August 17th, 2003"
SPDX_TOKEN = re.compile(r"^(\(|\)|AND|OR|WITH|[A-Za-z0-9.+-]+)$")

problems = []


def problem(text):
    problems.append(text)
    print(f"vcpkg port: {text}")


def no_duplicate_keys(pairs):
    keys = [k for k, _ in pairs]
    for k in set(keys):
        if keys.count(k) > 1:
            problem(f"duplicate key {k!r}")
    return dict(pairs)


def check_description(where, value):
    if isinstance(value, str):
        ok = bool(value.strip())
    else:
        ok = isinstance(value, list) and value and all(isinstance(v, str) and v.strip() for v in value)
    if not ok:
        problem(f"{where}: description must be a non-empty string or array of strings")


def check_dependencies(where, deps):
    if not isinstance(deps, list):
        problem(f"{where}: dependencies must be an array")
        return []
    names = []
    for dep in deps:
        if isinstance(dep, str):
            name = dep
        elif isinstance(dep, dict):
            name = dep.get("name")
            for key in dep:
                if key not in DEPENDENCY_FIELDS and not key.startswith("$"):
                    problem(f"{where}: dependency {name!r} has unknown field {key!r}")
            if "host" in dep and not isinstance(dep["host"], bool):
                problem(f"{where}: dependency {name!r}: host must be a boolean")
        else:
            problem(f"{where}: a dependency must be a string or an object")
            continue
        if not isinstance(name, str) or not IDENTIFIER.match(name):
            problem(f"{where}: dependency name {name!r} is not a valid port name")
            continue
        names.append(name)
    if len(set(names)) != len(names):
        problem(f"{where}: a dependency is listed twice")
    if names != sorted(names):
        problem(f"{where}: dependencies are not sorted by name (vcpkg format-manifest sorts them): {names}")
    return names


def main(root: Path):
    port_dir = root / "ports" / "vcpkg" / "wsx"
    manifest_text = (port_dir / "vcpkg.json").read_text(encoding="utf-8")
    try:
        manifest = json.loads(manifest_text, object_pairs_hook=no_duplicate_keys)
    except json.JSONDecodeError as e:
        problem(f"vcpkg.json is not strict JSON: {e}")
        return
    if not isinstance(manifest, dict):
        problem("vcpkg.json must hold an object")
        return

    for key in manifest:
        if key not in FIELD_ORDER and not key.startswith("$"):
            problem(f"unknown top-level field {key!r}")
    ordered = [k for k in manifest if k in FIELD_ORDER]
    if ordered != sorted(ordered, key=FIELD_ORDER.index):
        problem(f"fields are not in vcpkg format-manifest's order: {ordered}")

    name = manifest.get("name")
    if not isinstance(name, str) or not IDENTIFIER.match(name) or name in RESERVED:
        problem(f"name {name!r} is not a valid port name (lowercase letters, digits, inner hyphens)")
    if name != port_dir.name:
        problem(f"name {name!r} differs from the port directory {port_dir.name!r}")

    versions = [f for f in VERSION_FIELDS if f in manifest]
    if len(versions) != 1:
        problem(f"exactly one of {VERSION_FIELDS} is required, found {versions}")
    version = manifest.get("version")
    if version is not None and not re.match(r"^\d+(\.\d+)*$", str(version)):
        problem(f"'version' must be dot-separated numbers (else use version-semver/-string): {version!r}")
    if "port-version" in manifest:
        pv = manifest["port-version"]
        if not isinstance(pv, int) or isinstance(pv, bool) or pv < 0:
            problem("port-version must be a non-negative integer")
        elif pv == 0:
            problem("port-version 0 is written by omitting the field")
    header = (root / "include" / "wsx" / "version.hpp").read_text(encoding="utf-8")
    m = re.search(r'#define WSX_VERSION_STRING "([^"]+)"', header)
    if not m or m.group(1) != version:
        problem(f"version {version!r} differs from include/wsx/version.hpp ({m.group(1) if m else '?'})")

    check_description("port", manifest.get("description"))
    license = manifest.get("license", "missing")
    if license == "missing" or license is None:
        problem(f"license is {license}: the registry wants the SPDX id of the repository's LICENSE")
    elif not isinstance(license, str) or not all(SPDX_TOKEN.match(t) for t in
                                                  license.replace("(", " ( ").replace(")", " ) ").split()):
        problem(f"license {license!r} is not an SPDX expression")
    elif license != LICENSE_SPDX_ID:
        problem(f"license {license!r} differs from the repository's LICENSE ({LICENSE_SPDX_ID})")
    licence_file = root / "LICENSE"
    if not licence_file.is_file() or not licence_file.read_text(encoding="utf-8").startswith(LICENSE_FIRST_LINE):
        problem(f"the repository's LICENSE (installed by vcpkg_install_copyright) should be the "
                f"{LICENSE_SPDX_ID} text, starting {LICENSE_FIRST_LINE!r}")
    for key in ("homepage", "documentation"):
        if re.search(r"example\.(com|org)|TODO", str(manifest.get(key, ""))):
            problem(f"{key} is a placeholder: leave it out until the project is published")

    deps = check_dependencies("port", manifest.get("dependencies", []))
    for needed in ("asio", "simdjson"):
        if needed not in deps:
            problem(f"the port must depend on {needed}")

    features = manifest.get("features", {})
    if not isinstance(features, dict):
        problem("features must be an object")
        features = {}
    for fname, feature in features.items():
        if not IDENTIFIER.match(fname) or fname in RESERVED:
            problem(f"feature name {fname!r} is not valid")
        if not isinstance(feature, dict):
            problem(f"feature {fname!r} must be an object")
            continue
        for key in feature:
            if key not in FEATURE_FIELDS:
                problem(f"feature {fname!r} has unknown field {key!r}")
        check_description(f"feature {fname!r}", feature.get("description"))
        check_dependencies(f"feature {fname!r}", feature.get("dependencies", []))
    # Each feature: the port it depends on, the CMake option the portfile sets
    # for it, and the target it provides.
    expected = {"tls": "openssl", "deflate": "zlib", "http2": "nghttp2", "io-uring": "liburing",
                "separate-compilation": None}
    expected_options = {"tls": "WSX_TLS", "deflate": "WSX_DEFLATE", "http2": "WSX_HTTP2",
                        "io-uring": "WSX_IO_URING", "separate-compilation": "WSX_SEPARATE_COMPILATION"}
    # The find_package components (and wsx::<component> targets) each feature adds;
    # io-uring changes wsx::wsx itself.
    components = {"tls": ["tls"], "deflate": ["deflate"], "http2": ["http2"], "io-uring": [],
                  "separate-compilation": ["compiled", "compiled_tls"]}
    if set(features) != set(expected):
        problem(f"features must be {sorted(expected)}, found {sorted(features)}")
    for fname, dep in expected.items():
        fdeps = [d if isinstance(d, str) else d.get("name") for d in features.get(fname, {}).get("dependencies", [])]
        if dep and dep not in fdeps:
            problem(f"feature {fname!r} must depend on {dep}")
    if "linux" not in str(features.get("io-uring", {}).get("supports", "")):
        problem("feature 'io-uring' must say \"supports\": \"linux\" (liburing is Linux only)")

    # ---- the portfile and the rest of the repository -------------------------------
    portfile = (port_dir / "portfile.cmake").read_text(encoding="utf-8")
    code = "\n".join(line.split("#", 1)[0] for line in portfile.splitlines())
    host = {d["name"] for d in manifest.get("dependencies", []) if isinstance(d, dict) and d.get("host")}
    if "vcpkg_cmake_configure" in code and "vcpkg-cmake" not in host:
        problem("the portfile uses vcpkg_cmake_*: add {\"name\": \"vcpkg-cmake\", \"host\": true}")
    if "vcpkg_cmake_config_fixup" in code and "vcpkg-cmake-config" not in host:
        problem("the portfile uses vcpkg_cmake_config_fixup: add {\"name\": \"vcpkg-cmake-config\", \"host\": true}")
    for helper in ("vcpkg_cmake_configure", "vcpkg_cmake_install", "vcpkg_cmake_config_fixup",
                   "vcpkg_install_copyright"):
        if helper + "(" not in code:
            problem(f"the portfile does not call {helper}")
    if re.search(r"\bvcpkg_(configure|install)_cmake\b|\bvcpkg_fixup_cmake_targets\b", code):
        problem("the portfile uses deprecated helpers (vcpkg_configure_cmake & co.)")
    # Header-only (release only) unless separate-compilation builds static libraries.
    if not re.search(r'if\(\s*"separate-compilation"\s+IN_LIST\s+FEATURES\s*\)\s*'
                     r'vcpkg_check_linkage\(\s*ONLY_STATIC_LIBRARY\s*\)\s*else\(\)\s*'
                     r'set\(\s*VCPKG_BUILD_TYPE\s+release\s*\)\s*endif\(\)', code):
        problem("the portfile should set VCPKG_BUILD_TYPE release only without separate-compilation, "
                "and vcpkg_check_linkage(ONLY_STATIC_LIBRARY) with it")
    if not re.search(r"file\(\s*REMOVE_RECURSE[^)]*debug/include", code):
        problem("the portfile should remove debug/include (installed twice by a debug build)")

    cmake_sources = (root / "CMakeLists.txt").read_text(encoding="utf-8")
    m = re.search(r"vcpkg_check_features\((.*?)\)", code, re.S)
    mapped = {}
    if not m:
        problem("the portfile does not map its features with vcpkg_check_features")
    else:
        words = m.group(1).split()
        if "FEATURES" in words:
            rest = words[words.index("FEATURES") + 1:]
            mapped = dict(zip(rest[0::2], rest[1::2]))
    if set(mapped) != set(features):
        problem(f"vcpkg_check_features maps {sorted(mapped)}, the manifest has {sorted(features)}")
    for fname, option in expected_options.items():
        if fname in mapped and mapped[fname] != option:
            problem(f"feature {fname!r} sets {mapped[fname]}, expected {option}")
    for fname, option in mapped.items():
        if not re.search(r"\b(set|option)\(\s*" + re.escape(option) + r"\b", cmake_sources):
            problem(f"feature {fname!r} sets {option}, which the top-level CMakeLists.txt does not define")
    for option in re.findall(r"-D([A-Z][A-Z0-9_]*)=", code):
        if option.startswith("CMAKE_"):
            continue
        if not re.search(r"\b(set|option)\(\s*" + re.escape(option) + r"\b", cmake_sources):
            problem(f"the portfile passes -D{option}, which the top-level CMakeLists.txt does not define")

    usage = (port_dir / "usage").read_text(encoding="utf-8")
    targets = set(re.findall(r"\bwsx::[a-z0-9_]+", usage))
    all_components = [c for f in expected for c in components[f]]
    want_targets = {"wsx::wsx"} | {f"wsx::{c}" for c in all_components}
    if targets != want_targets:
        problem(f"usage names {sorted(targets)}; expected {sorted(want_targets)}")
    for fname in expected:
        if not re.search(r'"' + re.escape(fname) + r'"', usage):
            problem(f"usage does not mention the {fname!r} feature")
    for component in all_components:
        if not re.search(r"COMPONENTS\s+" + re.escape(component) + r"\b", usage):
            problem(f"usage does not show find_package(wsx ... COMPONENTS {component})")
    for target in ("wsx", *all_components):
        pattern = r"EXPORT_NAME \$\{_wsx_component\}|EXPORT_NAME " + target
        if not re.search(pattern, cmake_sources):
            problem(f"CMakeLists.txt does not export wsx::{target}")

    print(f"vcpkg port: checked vcpkg.json, portfile.cmake and usage: {len(problems)} problem(s)")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))
    sys.exit(1 if problems else 0)
