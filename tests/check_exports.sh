#!/bin/sh
# The shared library exports only the public API: symbols starting cw_
# (STYLE.md). Everything else is built with hidden visibility.
set -eu
lib=$1
bad=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -v '^cw_' || true)
if [ -n "$bad" ]; then
    echo "exported symbols outside the cw_ namespace:" >&2
    echo "$bad" >&2
    exit 1
fi
n=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -c '^cw_')
echo "ok: $n exported symbols, all cw_"
