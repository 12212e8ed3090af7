#!/bin/sh
# System packages the project needs beyond Python: bubblewrap (bwrap), the code domain's sandbox.
# Installs it where this runs as root with apt-get (Debian/Ubuntu, CI) or dnf; elsewhere says what to run.
# Never fails the build: without bwrap the code sandbox refuses to run candidates (unless --allow-weak-sandbox).
if command -v bwrap >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = 0 ]; then
    if command -v apt-get >/dev/null 2>&1; then
        (apt-get install -y -q bubblewrap >/dev/null 2>&1 || \
         (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q bubblewrap >/dev/null 2>&1)) && exit 0
    elif command -v dnf >/dev/null 2>&1; then
        dnf install -y -q bubblewrap >/dev/null 2>&1 && exit 0
    fi
fi
echo "note: bubblewrap (bwrap) is not installed and could not be installed here; the code domain's sandbox needs it:" \
     "sudo apt-get install bubblewrap (or: sudo dnf install bubblewrap)" >&2
exit 0
