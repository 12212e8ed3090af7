#!/bin/sh
# System packages the project needs beyond Python, for the code domain's sandbox: bubblewrap (bwrap) and
# libseccomp (libseccomp.so.2, loaded by the pyseccomp package to compile the syscall allowlist).
# Installs them where this runs as root with apt-get (Debian/Ubuntu, CI) or dnf; elsewhere says what to run.
# Never fails the build: without them the code sandbox refuses to run candidates (unless --allow-weak-sandbox).
have_seccomp() {
    ldconfig -p 2>/dev/null | grep -q 'libseccomp\.so\.2' || ls /usr/lib*/libseccomp.so.2 /usr/lib/*/libseccomp.so.2 \
        >/dev/null 2>&1
}
if command -v bwrap >/dev/null 2>&1 && have_seccomp; then
    exit 0
fi
if [ "$(id -u)" = 0 ]; then
    if command -v apt-get >/dev/null 2>&1; then
        (apt-get install -y -q bubblewrap libseccomp2 >/dev/null 2>&1 || \
         (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q bubblewrap libseccomp2 >/dev/null 2>&1)) && exit 0
    elif command -v dnf >/dev/null 2>&1; then
        dnf install -y -q bubblewrap libseccomp >/dev/null 2>&1 && exit 0
    fi
fi
echo "note: bubblewrap (bwrap) or libseccomp is not installed and could not be installed here; the code domain's" \
     "sandbox needs both: sudo apt-get install bubblewrap libseccomp2 (or: sudo dnf install bubblewrap libseccomp)" >&2
exit 0
