# Shared set-up for the project's scripts: find Python >= 3.13, make .venv, install pins
# and the project itself.
# Sourced, not run: callers get $VENV_PY pointing at the project's interpreter.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
VENV_PY="$VENV/bin/python"
MIN_MINOR=13

# LOCAL_VPP_KEEP_VENV=1: use an existing .venv as it is, installing nothing into it
# (an environment prepared beforehand, or shared with another checkout).
keep_venv() {
    [ -n "${LOCAL_VPP_KEEP_VENV:-}" ] && [ -x "$VENV_PY" ]
}

python_is_new_enough() {
    "$1" -c "import sys; sys.exit(0 if sys.version_info >= (3, $MIN_MINOR) else 1)" 2>/dev/null
}

find_python() {
    local candidate
    # PATH first, newest name first.
    for candidate in python3.14 python3.13 python3 python; do
        if command -v "$candidate" >/dev/null 2>&1 && python_is_new_enough "$(command -v "$candidate")"; then
            command -v "$candidate"
            return 0
        fi
    done
    # Then pyenv's installed versions, newest first.
    local pyenv_root="${PYENV_ROOT:-$HOME/.pyenv}"
    if [ -d "$pyenv_root/versions" ]; then
        for candidate in $(ls -1 "$pyenv_root/versions" | sort -t. -k1,1n -k2,2n -k3,3n -r); do
            if [ -x "$pyenv_root/versions/$candidate/bin/python3" ] &&
                python_is_new_enough "$pyenv_root/versions/$candidate/bin/python3"; then
                echo "$pyenv_root/versions/$candidate/bin/python3"
                return 0
            fi
        done
    fi
    return 1
}

ensure_venv() {
    if [ -x "$VENV_PY" ] && python_is_new_enough "$VENV_PY"; then
        :
    else
        local base
        if ! base="$(find_python)"; then
            echo "error: Local VPP needs Python 3.$MIN_MINOR or newer, and none was found." >&2
            echo "       Looked on PATH (python3.14, python3.13, python3, python) and in" >&2
            echo "       ${PYENV_ROOT:-$HOME/.pyenv}/versions. Install one (e.g. 'pyenv install 3.13')" >&2
            echo "       and run this command again." >&2
            exit 2
        fi
        echo "Creating .venv with $base ($("$base" --version 2>&1))"
        rm -rf "$VENV"
        "$base" -m venv "$VENV"
    fi
    # Reinstall only when the pins changed since the last install.
    install_pins "$ROOT/requirements_test.txt"
    install_project
}

# install_project: the project into .venv, editable (so it runs from this folder), unless
# pyproject.toml and this folder are what they were at the last install.
install_project() {
    local stamp="$VENV/.project.sha256" want
    keep_venv && return 0
    want="$({ echo "$ROOT"; cat "$ROOT/pyproject.toml"; } | sha256sum | cut -d' ' -f1)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return 0
    fi
    echo "Installing the project into .venv (editable)"
    if ! quiet_pip install --no-deps --editable "$ROOT"; then
        echo "error: pip could not install the project into .venv (see above)" >&2
        exit 1
    fi
    echo "$want" >"$stamp"
}

# install_pins FILE: pip-install FILE into .venv unless it is unchanged since last time.
install_pins() {
    local file="$1" stamp want
    keep_venv && return 0
    stamp="$VENV/.$(basename "$file").sha256"
    want="$(sha256sum "$file" | cut -d' ' -f1)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return 0
    fi
    echo "Installing $(basename "$file") into .venv (the first run takes a few minutes)"
    quiet_pip install --upgrade pip || true
    if ! quiet_pip install -r "$file"; then
        echo "error: pip could not install $(basename "$file") into .venv (see above)" >&2
        exit 1
    fi
    echo "$want" >"$stamp"
}

quiet_pip() {
    # Some machines' pip configs name local index folders that may not exist; those
    # warnings say nothing about this project, so they are filtered out.
    "$VENV_PY" -m pip --quiet "$@" 2>&1 | { grep -v '^WARNING: Location' || true; }
    return "${PIPESTATUS[0]}"
}

# test_workers: how many pytest workers the full run uses: LOCAL_VPP_TEST_WORKERS, else
# one per CPU, at least 2 (the tests mostly wait) and at most 4.
test_workers() {
    if [ -n "${LOCAL_VPP_TEST_WORKERS:-}" ]; then
        echo "$LOCAL_VPP_TEST_WORKERS"
        return
    fi
    local cpus
    cpus="$(nproc 2>/dev/null || echo 2)"
    [ "$cpus" -lt 2 ] && cpus=2
    [ "$cpus" -gt 4 ] && cpus=4
    echo "$cpus"
}
