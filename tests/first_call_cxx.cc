/* SPDX-License-Identifier: MIT */
// first_call_cxx.cc - tests/first_call_child.c built as C++, for the
// operator new variants (the same checks; see that file).
#include "first_call_child.c"
