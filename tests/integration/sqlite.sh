#!/bin/sh
# SPDX-License-Identifier: MIT
# Integration test: sqlite3 (the Debian shell) building and querying a
# 150000-row database under strata.
#
# The same SQL script is run by sqlite3 without strata (reference) and with
# LD_PRELOAD=$LIBSTRATA, each on its own new database file.  The outputs
# (query results and a .sha3sum of the database contents) must be identical,
# and `PRAGMA integrity_check` must say "ok" for the database strata wrote,
# checked both by sqlite3 under strata and by sqlite3 without it.
#
# Environment:
#   LIBSTRATA  (required) path to libstrata.so
# Exit: 0 pass, 1 fail, 77 skipped (sqlite3 not installed).

set -u
name=sqlite
. "$(dirname "$0")/common.sh"   # fail, skip, $lib, describe, make_tmp

# --- program -----------------------------------------------------------------
sqlite=$(command -v sqlite3 2>/dev/null) || skip "sqlite3 is not installed"
command -v timeout >/dev/null 2>&1 || fail "timeout(1) is required"

# --- temporary directory -----------------------------------------------------
tmp=$(make_tmp) || fail "mktemp -d failed"
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM


# --- the SQL workload ------------------------------------------------------------
cat >"$tmp/work.sql" <<'EOF'
.bail on
.headers off
.mode list
PRAGMA cache_size = -65536;
PRAGMA journal_mode = DELETE;
CREATE TABLE t(
    id   INTEGER PRIMARY KEY,
    grp  INTEGER NOT NULL,
    name TEXT NOT NULL,
    val  INTEGER NOT NULL,
    note TEXT NOT NULL
);
BEGIN;
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 150000)
INSERT INTO t(id, grp, name, val, note)
SELECT x,
       x % 97,
       'name-' || ((x * 7919) % 150001),
       (x * x) % 1000003,
       substr(replace(hex(zeroblob(x % 211)), '0', 'ab'), 1, (x * 13) % 600)
FROM c;
COMMIT;
.print == rows
SELECT count(*), sum(val), min(name), max(name), total(length(note)) FROM t;
CREATE INDEX t_grp_name ON t(grp, name);
CREATE INDEX t_val ON t(val);
CREATE INDEX t_name ON t(name);
CREATE INDEX t_note ON t(note);
.print == group by
SELECT grp, count(*), sum(val), max(length(note)), min(name)
  FROM t GROUP BY grp ORDER BY grp;
.print == group_concat
SELECT grp, length(group_concat(name, ',')) AS l
  FROM t GROUP BY grp ORDER BY l DESC, grp LIMIT 5;
.print == self join
SELECT a.id, b.id, a.name, b.val
  FROM t AS a JOIN t AS b ON b.grp = a.grp AND b.id = a.id + 97
 WHERE a.val % 1000 = 7
 ORDER BY a.id LIMIT 25;
SELECT count(*), sum(a.val * b.grp), max(b.name)
  FROM t AS a JOIN t AS b ON b.name = 'name-' || a.id;
.print == order by limit
SELECT id, name, val FROM t ORDER BY val DESC, id LIMIT 15;
SELECT id, length(note), name FROM t ORDER BY note DESC, name LIMIT 10;
SELECT id FROM t ORDER BY name LIMIT 10 OFFSET 70000;
.print == window
SELECT id, sum(val) OVER (PARTITION BY grp ORDER BY id ROWS 50 PRECEDING)
  FROM t WHERE grp = 13 ORDER BY id DESC LIMIT 10;
.print == update/delete
BEGIN;
UPDATE t SET note = note || upper(note), val = val + 1 WHERE id % 5 = 0;
DELETE FROM t WHERE id % 7 = 0;
COMMIT;
SELECT count(*), sum(val), total(length(note)) FROM t;
VACUUM;
.print == integrity
PRAGMA integrity_check;
.print == sha3
.sha3sum
EOF

# run LABEL [ENV=VALUE...]: run the SQL on a new database $tmp/LABEL.db,
# output in $tmp/LABEL.{out,err,rc}
run() {
    label=$1; shift
    (cd "$tmp" && timeout 60 env -u LIBSTRATA "$@" "$sqlite" "$label.db" \
        <"$tmp/work.sql" >"$tmp/$label.out" 2>"$tmp/$label.err")
    echo $? >"$tmp/$label.rc"
}

# --- strata is really loaded into sqlite3 ----------------------------------------
# .shell runs sh -c, whose parent ($PPID) is the sqlite3 process.
timeout 30 env -u LIBSTRATA LD_PRELOAD="$lib" "$sqlite" :memory: \
    ".shell cat /proc/\$PPID/maps" </dev/null >"$tmp/maps" 2>"$tmp/maps.err"
rc=$?
if [ "$rc" != 0 ] || ! grep -qF "$lib" "$tmp/maps"; then
    cat "$tmp/maps.err" >&2
    fail "$lib is not mapped into sqlite3 run with LD_PRELOAD ($(describe "$rc"))"
fi
grep -q 'sqlite3$' "$tmp/maps" ||
    fail "the maps read through .shell are not those of sqlite3; test is broken"

# --- reference run (no strata) ---------------------------------------------------
run ref
rc=$(cat "$tmp/ref.rc")
if [ "$rc" != 0 ]; then
    cat "$tmp/ref.err" >&2
    fail "reference run WITHOUT strata failed ($(describe "$rc")); test is broken, not strata"
fi
[ "$(sed -n '/^== integrity$/{n;p;}' "$tmp/ref.out")" = ok ] ||
    fail "reference run: integrity_check is not ok; test is broken, not strata"

# --- strata run ---------------------------------------------------------------------
run strata LD_PRELOAD="$lib"
rc=$(cat "$tmp/strata.rc")
what="sqlite3 with LD_PRELOAD=$lib"
if [ "$rc" != 0 ]; then
    echo "$name: $what: $(describe "$rc"); stderr:" >&2
    sed 's/^/    /' "$tmp/strata.err" >&2
    fail "$what did not complete the SQL script"
fi
status=0
if ! cmp -s "$tmp/ref.out" "$tmp/strata.out"; then
    echo "$name: $what: output differs from sqlite3 without strata:" >&2
    diff -u "$tmp/ref.out" "$tmp/strata.out" | head -60 >&2
    status=1
fi
if ! cmp -s "$tmp/ref.err" "$tmp/strata.err"; then
    echo "$name: $what: stderr differs from sqlite3 without strata:" >&2
    diff -u "$tmp/ref.err" "$tmp/strata.err" | head -40 >&2
    status=1
fi
ic=$(sed -n '/^== integrity$/{n;p;}' "$tmp/strata.out")
if [ "$ic" != ok ]; then
    echo "$name: $what: PRAGMA integrity_check said: $ic" >&2
    status=1
fi

# --- the database strata wrote, checked again by both ------------------------------
for mode in strata plain; do
    if [ $mode = strata ]; then
        ic=$(timeout 60 env -u LIBSTRATA LD_PRELOAD="$lib" "$sqlite" \
            "$tmp/strata.db" 'PRAGMA integrity_check;' 2>&1 </dev/null)
    else
        ic=$(timeout 60 env -u LIBSTRATA "$sqlite" \
            "$tmp/strata.db" 'PRAGMA integrity_check;' 2>&1 </dev/null)
    fi
    rc=$?
    if [ "$rc" != 0 ] || [ "$ic" != ok ]; then
        echo "$name: integrity_check ($mode sqlite3) of the database written" \
            "under strata: $(describe "$rc"), said: $ic" >&2
        status=1
    fi
done

[ "$status" = 0 ] || fail "sqlite3 under strata misbehaved (see above)"
echo "$name: PASS ($(grep -c '' "$tmp/ref.out") lines of output identical, integrity ok)"
exit 0
