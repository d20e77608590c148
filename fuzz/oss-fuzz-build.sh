#!/bin/bash -eu
# SPDX-License-Identifier: MIT
# projects/smtpcore/build.sh for OSS-Fuzz: the real work is in the repository's own
# fuzz/build.sh, which honours $CC $CFLAGS $LIB_FUZZING_ENGINE $OUT.
"$SRC/smtpcore/fuzz/build.sh"
