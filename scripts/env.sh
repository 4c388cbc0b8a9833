# Environment shared by every WEFT build, run and test command. Source it: `. scripts/env.sh`.
# Servo's SpiderMonkey needs clang 19 for bindgen and must build from source (no downloads).
export LIBCLANG_PATH=/usr/lib/llvm-19/lib
case ":$PATH:" in *":/usr/lib/llvm-19/bin:"*) ;; *) export PATH="/usr/lib/llvm-19/bin:$PATH" ;; esac
export MOZJS_FROM_SOURCE=1
# Outside the work tree, so it survives sessions and CI reuses it.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/weft/target}"
# This checkout, for the test and benchmark binaries: the target directory is shared between
# checkouts, so a binary may have been built from another one (tests/src/harness.rs repo_root).
WEFT_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export WEFT_REPO
