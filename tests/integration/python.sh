#!/bin/sh
# SPDX-License-Identifier: MIT
# Integration test: python3 running an allocation-heavy workload under strata.
#
# The same Python program is run once without strata (the reference) and then
# with LD_PRELOAD=$LIBSTRATA, twice: with Python's default small-object
# allocator (pymalloc: only large objects reach malloc) and with
# PYTHONMALLOC=malloc (every Python object goes through malloc/realloc/free).
# stdout, stderr and the exit status of the preloaded runs must equal the
# reference.
#
# Environment:
#   LIBSTRATA  (required) path to libstrata.so
#   PYTHON      (optional) interpreter to use; default /usr/bin/python3 (the
#               Debian one), else python3 from PATH
# Exit: 0 pass, 1 fail, 77 skipped (no python3 installed).

set -u
name=python
. "$(dirname "$0")/common.sh"   # fail, skip, $lib, describe, make_tmp

# --- program -----------------------------------------------------------------
if [ -n "${PYTHON:-}" ]; then
    py=$PYTHON
elif [ -x /usr/bin/python3 ]; then
    py=/usr/bin/python3
else
    py=$(command -v python3 2>/dev/null) || py=
fi
[ -n "$py" ] && [ -x "$py" ] || skip "python3 is not installed"
command -v timeout >/dev/null 2>&1 || fail "timeout(1) is required"

# --- temporary directory -----------------------------------------------------
tmp=$(make_tmp) || fail "mktemp -d failed"
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM


# --- the workload --------------------------------------------------------------
cat >"$tmp/work.py" <<'EOF'
import gc, hashlib, json, random, sys, threading, weakref

h = hashlib.sha256()
def feed(tag, *vals):
    h.update(tag.encode())
    for v in vals:
        h.update(repr(v).encode())
    print(tag, *vals)

rng = random.Random(20240601)
N = 200000

# 1. a few hundred thousand strings of varied length (some > 512 bytes so
#    they bypass pymalloc), shuffled and sorted
words = ["w%07d_%s" % (i, "xyz"[i % 3] * ((i * 7919) % 700)) for i in range(N)]
rng.shuffle(words)
words.sort()
feed("sort", len(words), words[0][:20], words[-1][:20], sum(map(len, words)))
words.sort(key=lambda s: (len(s), s[::-1]))
feed("sortkey", words[0][:20], words[N // 2][:20], words[-1][:20])

# 2. a big dict of lists; delete a third, reinsert, grow values
d = {w: [i, i * i, w[:16].upper()] for i, w in enumerate(words)}
for i, w in enumerate(words):
    if i % 3 == 0:
        del d[w]
feed("dict-del", len(d))
for i in range(0, N, 3):
    d["new%d" % i] = list(range(i % 50))
for k in list(d)[::7]:
    d[k].extend(range(20))
feed("dict", len(d), sum(len(v) for v in d.values()))
del d
gc.collect()

# 3. json dumps/loads roundtrip of a nested structure
records = [{"id": i,
            "name": "user-%d" % (i * 31 % 100003),
            "tags": ["t%d" % (j % 13) for j in range(i % 9)],
            "score": (i % 1000) / 8.0,
            "nested": {"a": [i, str(i)], "b": None, "c": i % 2 == 0}}
           for i in range(80000)]
s = json.dumps(records, sort_keys=True)
back = json.loads(s)
if back != records:
    print("json roundtrip mismatch", file=sys.stderr)
    sys.exit(3)
s2 = json.dumps(back, sort_keys=True, indent=1)
feed("json", len(s), len(s2), hashlib.sha256(s.encode()).hexdigest()[:32])
del records, back, s, s2

# 4. str joins / splits, and a bytearray grown piecewise (realloc-heavy)
big = ",".join(words)
parts = big.split(",")
if parts != words:
    print("join/split mismatch", file=sys.stderr)
    sys.exit(3)
feed("join", len(big), len(parts))
del big, parts
ba = bytearray()
for i in range(200000):
    ba += b"item-%d;" % i
    if i % 50000 == 49999:
        del ba[: len(ba) // 2]
feed("bytearray", len(ba), hashlib.sha256(ba).hexdigest()[:32])
del ba
chunks = []
for i in range(2000):
    chunks.append("k" * (i * 37 % 100000))     # up to ~100 KB strings
    if len(chunks) > 40:
        chunks.pop(i * 13 % len(chunks))
feed("chunks", len(chunks), sum(map(len, chunks)))
del chunks

# 5. integer containers: sets, tuples, sorting with keys
nums = [rng.randrange(1 << 40) for _ in range(N)]
st = set(nums)
tup = tuple(sorted(st, key=lambda x: (x % 1009, x)))
feed("ints", len(st), tup[0], tup[-1], sum(tup) % 1000000007)
del nums, st, tup

# 6. reference cycles freed by the cycle collector
class Node:
    __slots__ = ("peer", "payload", "__weakref__")
gc.disable()
refs = []
for i in range(60000):
    a, b = Node(), Node()
    a.peer, b.peer = b, a
    a.payload = [i] * (i % 20)
    b.payload = "p" * (i % 600)
    if i % 100 == 0:
        refs.append(weakref.ref(a))
del a, b
gc.enable()
gc.collect()
feed("cycles", len(refs), sum(1 for r in refs if r() is not None))

# 7. threads: objects built in worker threads, freed in the main thread
results = [None] * 4
def worker(k):
    loc = {}
    for i in range(40000):
        loc["t%d-%d" % (k, i)] = ("v" * (i % 300), [i] * (i % 10))
    results[k] = loc
threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join(60)
    if t.is_alive():
        print("worker thread did not finish", file=sys.stderr)
        sys.exit(3)
feed("threads", [len(r) for r in results],
     sum(len(v[0]) + len(v[1]) for r in results for v in r.values()))
del results, threads, words
gc.collect()

print("checksum", h.hexdigest())
EOF

# run LABEL [ENV=VALUE...]: run the workload, output in $tmp/LABEL.{out,err,rc}
run() {
    label=$1; shift
    (cd "$tmp" && PYTHONHASHSEED=0 timeout 60 env -u LIBSTRATA "$@" "$py" work.py \
        >"$tmp/$label.out" 2>"$tmp/$label.err" </dev/null)
    echo $? >"$tmp/$label.rc"
}

# --- strata is really loaded into the interpreter ---------------------------------
timeout 30 env -u LIBSTRATA LD_PRELOAD="$lib" "$py" -c \
    'print(open("/proc/self/maps").read())' >"$tmp/maps" 2>"$tmp/maps.err" </dev/null
rc=$?
if [ "$rc" != 0 ] || ! grep -qF "$lib" "$tmp/maps"; then
    cat "$tmp/maps.err" >&2
    fail "$lib is not mapped into $py run with LD_PRELOAD ($(describe "$rc"))"
fi

# --- reference run (no strata) ---------------------------------------------------
run ref
rc=$(cat "$tmp/ref.rc")
if [ "$rc" != 0 ]; then
    cat "$tmp/ref.err" >&2
    fail "reference run WITHOUT strata failed ($(describe "$rc")); test is broken, not strata"
fi
grep -q '^checksum [0-9a-f]\{64\}$' "$tmp/ref.out" ||
    fail "reference run printed no checksum line"

# --- strata runs --------------------------------------------------------------------
status=0
for variant in pymalloc malloc; do
    if [ "$variant" = malloc ]; then
        run strata-$variant LD_PRELOAD="$lib" PYTHONMALLOC=malloc
    else
        run strata-$variant LD_PRELOAD="$lib"
    fi
    rc=$(cat "$tmp/strata-$variant.rc")
    what="python3 with LD_PRELOAD=$lib (PYTHONMALLOC=$variant)"
    if [ "$rc" != 0 ]; then
        echo "$name: $what: $(describe "$rc"); stderr:" >&2
        sed 's/^/    /' "$tmp/strata-$variant.err" >&2
        status=1
        continue
    fi
    if ! cmp -s "$tmp/ref.out" "$tmp/strata-$variant.out"; then
        echo "$name: $what: stdout differs from the run without strata:" >&2
        diff -u "$tmp/ref.out" "$tmp/strata-$variant.out" | head -40 >&2
        status=1
    fi
    if ! cmp -s "$tmp/ref.err" "$tmp/strata-$variant.err"; then
        echo "$name: $what: stderr differs from the run without strata:" >&2
        diff -u "$tmp/ref.err" "$tmp/strata-$variant.err" | head -40 >&2
        status=1
    fi
done
[ "$status" = 0 ] || fail "output under strata differs from the reference (see above)"

echo "$name: PASS ($(tail -n 1 "$tmp/ref.out"))"
exit 0
