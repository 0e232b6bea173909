#!/usr/bin/env bash
# Real programs under LD_PRELOAD=libnumaheap.so give exactly what they give with glibc malloc:
# a subset of CPython's own test suite, sqlite3 bulk inserts and queries, and redis-server
# (which links jemalloc itself) driven by redis-cli and redis-benchmark on 127.0.0.1.
# usage: real_world.sh LIBNUMAHEAP
set -euo pipefail
lib=$1
work=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
cleanup() {
    redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
run() { # run glibc|numaheap CMD...
    local who=$1
    shift
    if [[ $who == numaheap ]]; then LD_PRELOAD=$lib "$@"; else "$@"; fi
}

# --- CPython's tests (Debian's libpython3.11-testsuite)
py_tests=(test_dict test_list test_set test_unicode test_json test_re test_threading test_collections)
for who in glibc numaheap; do
    run $who /usr/bin/python3.11 -m test -q "${py_tests[@]}" >"$work/py.$who" 2>&1 || true
    grep -E '^Tests result|tests? (OK|failed)' "$work/py.$who" | sort >"$work/py.$who.summary"
done
grep -q 'Tests result: SUCCESS' "$work/py.numaheap.summary" || { cat "$work/py.numaheap"; exit 1; }
cmp "$work/py.glibc.summary" "$work/py.numaheap.summary"
echo "python test suite (${#py_tests[@]} modules): SUCCESS, as with glibc"

# --- sqlite3: 200 000 rows, an index, aggregates, a join, a sort
cat >"$work/db.sql" <<'SQL'
CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT, v INTEGER);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000)
INSERT INTO t(k, v) SELECT printf('key-%07d-%s', i, hex(randomblob(8) & 0)), (i * 7919) % 100003 FROM n;
CREATE INDEX tv ON t(v);
CREATE TABLE u AS SELECT v, count(*) AS c, sum(id) AS s FROM t GROUP BY v;
SELECT count(*), sum(v), min(k), max(k) FROM t;
SELECT v, c, s FROM u ORDER BY s DESC LIMIT 5;
SELECT count(*) FROM t JOIN u USING (v) WHERE u.c > 1;
SELECT k FROM t ORDER BY v DESC, k LIMIT 3;
SQL
for who in glibc numaheap; do
    rm -f "$work/$who.db"
    run $who sqlite3 "$work/$who.db" <"$work/db.sql" >"$work/sql.$who"
done
cmp "$work/sql.glibc" "$work/sql.numaheap"
echo "sqlite3: 200 000-row inserts and queries identical to glibc"

# --- redis-server: the same commands give the same answers; redis-benchmark completes
redis_cmds() {
    for i in $(seq 1 2000); do echo "SET key:$i value-$((i * 31))"; done
    for i in $(seq 1 500); do echo "RPUSH list $i"; echo "SADD set m$((i % 97))"; echo "HSET h f$i $i"; done
    echo "INCRBY counter 12345"; echo "GET key:1999"; echo "LRANGE list 0 5"; echo "SCARD set"
    echo "HLEN h"; echo "DBSIZE"; echo "LPOP list"; echo "STRLEN key:77"
}
for who in glibc numaheap; do
    mkdir -p "$work/r.$who"
    run $who redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$work/r.$who" --daemonize yes --pidfile "$work/r.$who/pid" --logfile "$work/r.$who/log"
    for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    redis_cmds | redis-cli -p "$port" >"$work/redis.$who"
    timeout 120 redis-benchmark -p "$port" -q -n 20000 -t set,get,incr,lpush,lpop,sadd,hset \
        >"$work/bench.$who" 2>&1
    [[ $(grep -c 'requests per second' "$work/bench.$who") -eq 7 ]] || { cat "$work/bench.$who"; exit 1; }
    redis-cli -p "$port" ping | grep -q PONG  # still alive after the load
    redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
    for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 || break; sleep 0.1; done
done
cmp "$work/redis.glibc" "$work/redis.numaheap"
echo "redis-server: answers identical to glibc, redis-benchmark (7 commands x 20 000) completed"
