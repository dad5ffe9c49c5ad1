#!/bin/sh
# SPDX-License-Identifier: MIT
# Generate configure and Makefile.in (they are not kept in the repository).
set -e
cd "$(dirname "$0")"
mkdir -p m4 build-aux
autoreconf --install --force
