# Shared by the scripts: where Corral's tools live, outside the checkout so a fresh clone finds
# them again. Source it; it sets PATH and the pinned versions.

CORRAL_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/corral"
CORRAL_TOOLS="$CORRAL_CACHE/tools"
CARGO_LEPTOS_VERSION=0.3.6
# Must equal the wasm-bindgen version in Cargo.lock (cargo-leptos does not check).
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' "$(dirname "${BASH_SOURCE[0]}")/../Cargo.lock")
# Debian's binaryen 108 breaks the release bundle; npm's 132 works.
BINARYEN_VERSION=132.0.0
PLAYWRIGHT_VERSION=1.65.1
# Reads the browser bundle's make-up for scripts/bench.
TWIGGY_VERSION=0.8.0
# The OpenAI SDK the gateway's client test runs (tests/python), in a venv of its own.
OPENAI_PYTHON_VERSION=3.57.0
OPENAI_VENV="$CORRAL_CACHE/python-openai"

export PATH="$HOME/.cargo/bin:$CORRAL_TOOLS/node_modules/.bin:$PATH"

# The release build: the server binary and the browser bundle, split into a chunk per page
# (src/app/lazy_pages.rs) so the models page loads only its own code. `--cfg split_bundle` makes
# the split points real (src/app/split_points.rs: without it they are ordinary functions, as in
# `cargo leptos watch`). wasm-bindgen's externref pass rewrites only the main module, so split
# chunks would call it with the wrong signatures ("Failed to resolve module specifier
# __wbindgen_externref_xform__"): the split build is made without reference types, and only
# it: an unsplit bundle needs them (wasm-bindgen "failed to find the
# `__wbindgen_externref_table_alloc` function"). cargo-leptos reads this variable by cargo's
# own configuration rules.
build_release() {
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-C target-feature=-reference-types --cfg split_bundle" \
    cargo leptos build --release --split "$@"
}

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
