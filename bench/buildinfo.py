# SPDX-License-Identifier: MIT
"""bench/buildinfo.py - what a strata library measured by bench/compare or
bench/servers is: whether the tree's sources are newer than it (a rebuild
forgotten, or another version's build left in .libs), in which case the
report would name the tree's commit for a library built from something
else."""
import os


def newer_source(lib, repo):
    """The first .c or .h file of repo's src/ or include/ modified after
    lib was built, or None (also when lib cannot be read)."""
    try:
        built = os.path.getmtime(lib)
        for d in ("src", "include"):
            for root, _, names in os.walk(os.path.join(repo, d)):
                for n in names:
                    path = os.path.join(root, n)
                    if n.endswith((".c", ".h")) and os.path.getmtime(path) > built:
                        return path
    except OSError:
        return None
    return None
