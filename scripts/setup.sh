#!/usr/bin/env bash
# Shared set-up for the README's commands: finds the Swift toolchain and installs the Debian
# packages the build needs when they are missing (we run as root on these machines).
set -euo pipefail
if ! command -v swift >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swift ]; then
  export PATH="/opt/swift/usr/bin:$PATH"
fi
command -v swift >/dev/null 2>&1 || { echo "setup: no Swift toolchain found (need Swift 6.1+ on PATH)" >&2; exit 1; }
need=()
command -v git >/dev/null 2>&1 || need+=(git)
[ -e /usr/include/linux/futex.h ] || need+=(linux-libc-dev)
[ -e /usr/include/pthread.h ] || need+=(libc6-dev)
[ -e /usr/include/openssl/evp.h ] || need+=(libssl-dev)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${need[@]}"
fi
