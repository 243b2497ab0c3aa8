#!/usr/bin/env bash
# The whole test suite. Installs what the tests need from Debian's packages when it is
# missing, builds the binary the multi-process tests run, then runs every test: unit,
# property, scheduler golden files, real OCF agents, real TLS, real multi-process
# clusters on loopback, the tidy check and clippy.
#
#   scripts/test.sh              everything
#   scripts/test.sh -p cmdb      extra arguments go to `cargo test`
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests use: real OCF resource agents, python3 for test servers,
# iproute2 for network namespaces, prometheus for `promtool check metrics`,
# pacemaker-common for Pacemaker's sample alert agents; pacemaker-resource-agents for
# ocf:pacemaker:Stateful (promotable resources); chromium and chromium-driver for the web
# UI's browser tests (crates/e2e/tests/it/ui.rs); fence-agents for fence_dummy (issue 16);
# lintian, man-db, binutils and systemd (systemd-analyze) for the Debian package's test
# (xtask/src/deb/tests.rs).
packages=(resource-agents python3 iproute2 procps prometheus pacemaker-common
  pacemaker-resource-agents chromium chromium-driver fence-agents lintian man-db binutils
  systemd)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' \
        || missing+=("$package")
done
if ((${#missing[@]})); then
    echo "== installing missing Debian packages: ${missing[*]}"
    if [[ $(id -u) -ne 0 ]]; then
        echo "error: need root to install ${missing[*]}; run: sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Multi-host tests in network namespaces run when this is set; CI (as root) sets it so
# they never silently skip there (and a test that cannot run under CI fails).
if [[ -n "${CI:-}" ]]; then
    export RUN_NETNS_TESTS=1
fi

# --- openapi ---
# Schemathesis (PyPI), for the API contract test (crates/e2e/tests/it/openapi.rs): pinned,
# in a virtualenv under the target directory, so nothing goes into the system's Python and
# `cargo clean` removes it. The fuzz targets (fuzz/, `cargo test -p fuzz`) run 15 s each.
schemathesis_version=4.32.5
schemathesis_venv="${CARGO_TARGET_DIR:-$PWD/target}/schemathesis"
if ! "$schemathesis_venv/bin/st" --version 2>/dev/null | grep -qF "$schemathesis_version"; then
    echo "== installing Schemathesis $schemathesis_version from PyPI into $schemathesis_venv"
    rm -rf "$schemathesis_venv"
    python3 -m venv "$schemathesis_venv"
    "$schemathesis_venv/bin/pip" install -q --disable-pip-version-check \
        "schemathesis==$schemathesis_version"
fi
export SCHEMATHESIS="$schemathesis_venv/bin/st"
export FUZZ_SECONDS="${FUZZ_SECONDS:-15}"
# --- openapi end ---

export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
echo "== building the encluster binary for the multi-process tests"
cargo build --locked -p encluster
# The rolling-upgrade test (crates/e2e/tests/it/upgrade.rs) runs the previous release,
# built from its git tag under the target directory: built here, before any test runs, so
# its first (long) build never competes with timing-sensitive tests; later runs reuse it.
echo "== building the previous release for the upgrade test"
cargo run --locked -q -p e2e --bin previous_release
echo "== running the tests"
# The roles scenario (real hosts in namespaces, each role failed in turn) measures the gaps
# a client sees, so it runs alone after the rest: under the whole suite's parallel load a
# director crash left one request waiting 5 s that it never waits when run by itself.
roles=roles::each_role_fails_in_turn_and_the_site_answers_apart_from_one_gap
status=0
cargo test --locked --workspace --no-fail-fast "$@" -- --skip "$roles" || status=$?
if [[ $# -eq 0 ]]; then
    echo "== the roles scenario, alone"
    cargo test --locked -p e2e --test it -- --exact "$roles" || status=$?
fi
if ((status)); then
    exit "$status"
fi
if [[ $# -eq 0 ]]; then
    echo "== clippy"
    cargo clippy --locked --workspace --all-targets -- -D warnings
fi
