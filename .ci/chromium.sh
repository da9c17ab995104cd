#!/usr/bin/env bash
# Installs Debian's Chromium (and a small CJK font, so Chinese names render in screenshots) for the browser tests (playwright-core drives /usr/bin/chromium; no browser download).
set -euo pipefail
if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi microhei; then
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null 2>&1 </dev/null
fi
/usr/bin/chromium --version >&2
