#!/usr/bin/env bash
# Real Kafka and Redis on loopback for the test suite (see docs/ci.md).
#
#   envs="$(.ci/services.sh start)" && eval "$envs"   # prints `export SEGMENTER_TEST_*=...` lines on stdout
#   .ci/services.sh status | logs | stop | env
#
# start   Kafka (version pinned in .ci/kafka/pom.xml; jars fetched by Maven, cached in $SEGMENTER_CI_CACHE)
#         as a single-node KRaft broker+controller with a PLAINTEXT, a SASL_PLAINTEXT (SCRAM-SHA-256) and
#         an SSL listener (certificate from a throwaway CA made with openssl at each start), and Debian's
#         redis-server (installed with apt-get if missing) with an ACL user; installs Debian's kcat and chromium if
#         missing (for the kcat and dashboard browser tests).
#         Only the export lines go to stdout; progress and errors go to stderr. Idempotent: if both
#         services already run from this state dir, it prints their exports again. On failure it prints
#         the log tails to stderr, stops what it started, and prints `false` on stdout so that a bare
#         `eval "$(.ci/services.sh start)"` also fails under `set -e`.
# stop    SIGTERM, wait, SIGKILL; removes the data dirs. Idempotent.
# status  what runs (exit 0 if both run, 3 otherwise).
# logs    tails of both logs (SEGMENTER_CI_LOG_LINES=n, default 80).
# env     the export lines of the running services.
# kafka-node DIR PORT CONTROLLER_PORT
#         exec one more single-node Kafka (PLAINTEXT on PORT) in the foreground, with the same jars, JVM
#         options and settings; formats DIR on first use and keeps its data, so a test can stop the
#         process and run the same command again to restart that broker (tests/integration/apache.py).
#
# Environment:
#   SEGMENTER_CI_CACHE  persistent cache (Maven repo, Kafka jars, CDS archive); default /var/cache/segmenter-ci
#                       as root, else ${XDG_CACHE_HOME:-~/.cache}/segmenter-ci
#   SEGMENTER_CI_STATE  pids, ports, logs, data; default /tmp/segmenter-ci/<hash of this checkout's path>
#   SEGMENTER_CI_KAFKA_TIMEOUT  seconds to wait for the broker (default 90)
#   SEGMENTER_CI_CDS=0  disable the AppCDS archive (class-data sharing; only a start-up speed-up)
#   SEGMENTER_CI_KAFKA_JVM=kafka  run the broker's JVM as Kafka's own start scripts do (1 GiB heap, G1, the
#                       optimizing compiler; no AppCDS) instead of the tests' quick-start settings (a small
#                       heap, the serial collector, the first-tier compiler only): for latency benchmarks
#   JAVA_HOME           java to use (default: java on PATH; Kafka 4 needs 17+)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
POM="$HERE/kafka/pom.xml"
LOG4J="$HERE/kafka/log4j2.properties"
if [[ -n "${SEGMENTER_CI_CACHE:-}" ]]; then
    CACHE="$SEGMENTER_CI_CACHE"
elif [[ "$(id -u)" == 0 ]]; then
    CACHE=/var/cache/segmenter-ci
else
    CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/segmenter-ci"
fi
STATE="${SEGMENTER_CI_STATE:-/tmp/segmenter-ci/$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)}"
RUN="$STATE/run"                      # data dirs and configs; removed by stop
KAFKA_TIMEOUT="${SEGMENTER_CI_KAFKA_TIMEOUT:-90}"
KAFKA_USER=segmenter
REDIS_USER=segmenter
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"
if [[ "${SEGMENTER_CI_KAFKA_JVM:-tests}" == kafka ]]; then
    # kafka-server-start.sh's heap and kafka-run-class.sh's KAFKA_JVM_PERFORMANCE_OPTS (Kafka 4.x)
    JVM_OPTS=(-Xmx1G -Xms1G -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
              -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15
              -Djava.awt.headless=true "-Dlog4j2.configurationFile=$LOG4J")
    SEGMENTER_CI_CDS=0
else
    JVM_OPTS=(-Xms128m -Xmx512m -Xss1m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:-UsePerfData
              -Djava.awt.headless=true "-Dlog4j2.configurationFile=$LOG4J")
fi

log() { printf '[services] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

kafka_version() {
    local v
    v="$(sed -n 's:.*<kafka.version>\([^<]*\)</kafka.version>.*:\1:p' "$POM" | head -n1)"
    [[ -n "$v" ]] || die "no <kafka.version> in $POM"
    printf '%s' "$v"
}

# Directory of the cached jars: keyed on the Kafka version and the pom's content.
kafka_home() {
    printf '%s/kafka/%s-%s' "$CACHE" "$(kafka_version)" "$(sha256sum "$POM" | cut -c1-12)"
}

# ---------------------------------------------------------------------------------------------- process helpers

# pid_ok FILE PATTERN: the pid in FILE is alive and its command line contains PATTERN (guards against reused pids)
pid_ok() {
    local pid cmd
    [[ -s "$1" ]] || return 1
    pid="$(cat "$1")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
    [[ "$cmd" == *"$2"* ]]
}

# starting FILE: the process we just started in the background is alive (not exited, not a zombie). Its
# command line may still be this shell's until `exec` happens, so it is not matched by pattern here.
starting() {
    local pid
    pid="$(cat "$1" 2>/dev/null)" || return 1
    [[ -r "/proc/$pid/stat" ]] || return 1
    [[ "$(sed -E 's/^[0-9]+ \(.*\) ([A-Za-z]).*/\1/' "/proc/$pid/stat" 2>/dev/null)" != Z ]]
}

# stop_pid NAME PIDFILE PATTERN GRACE_SECONDS -> 0 if it exited after SIGTERM (or was not running), 1 if SIGKILLed
stop_pid() {
    local name="$1" file="$2" pat="$3" grace="$4" pid i
    if ! pid_ok "$file" "$pat"; then
        rm -f "$file"
        return 0
    fi
    pid="$(cat "$file")"
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do
        pid_ok "$file" "$pat" || { rm -f "$file"; return 0; }
        sleep 0.1
    done
    log "$name did not stop within ${grace}s; SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        pid_ok "$file" "$pat" || break
        sleep 0.1
    done
    rm -f "$file"
    return 1
}

# N distinct free loopback ports, chosen at random below the kernel's ephemeral range when there is room
# (outgoing connections and other bind(0) users never take those, so the window between choosing a
# port and Kafka binding it, a few seconds, is safe), else from bind(0).
free_ports() {
    python3 - "$1" <<'PY'
import random, socket, sys
n = int(sys.argv[1])
try:
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
except Exception:
    low = 32768
candidates = random.sample(range(20000, low), min(400, max(0, low - 20000)))
socks = []
for port in candidates + [0] * n:
    if len(socks) == n:
        break
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        socks.append(s)
    except OSError:
        s.close()
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
PY
}

tcp_open() { (exec 9<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

secret() { head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n'; }  # 36 hex chars: safe in URLs and SCRAM specs

# Kafka cluster id: 16 random bytes, URL-safe base64 without padding (what `kafka-storage random-uuid` prints)
kafka_cluster_id() {
    local id
    while :; do
        id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
        [[ "$id" != -* ]] && { printf '%s' "$id"; return; }
    done
}

# ---------------------------------------------------------------------------------------------- prerequisites

jdk_home() { dirname "$(dirname "$(readlink -f "$(command -v "$JAVA")")")"; }

# JDK feature version, from $JDK/release when there is one (saves a JVM start)
jdk_version() {
    local rel
    rel="$(jdk_home)/release"
    if [[ -f "$rel" ]] && grep -q '^JAVA_VERSION=' "$rel"; then
        sed -n 's/^JAVA_VERSION="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$rel" | sed 's/^1\.//'
    else
        "$JAVA" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p'
    fi
}

# Identity of the JDK build, for the AppCDS archive key (the release file and libjvm.so's size and mtime)
jdk_id() {
    local h
    h="$(jdk_home)"
    { cat "$h/release" 2>/dev/null; stat -c '%s %Y' "$h"/lib/server/libjvm.so 2>/dev/null; readlink -f "$(command -v "$JAVA")"; } \
        | cksum | cut -d' ' -f1
}

ensure_tools() {
    command -v python3 >/dev/null || die "python3 not found"
    if ! command -v openssl >/dev/null; then
        log "openssl missing (it makes the SSL listener's certificates): apt-get install openssl"
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >&2
    fi
    if ! command -v "$JAVA" >/dev/null || ! command -v mvn >/dev/null; then
        log "java/mvn missing: installing Debian default-jre-headless and maven"
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless maven >&2
    fi
    local v
    v="$(jdk_version)"
    [[ "${v%%.*}" =~ ^[0-9]+$ && "${v%%.*}" -ge 17 ]] || die "Kafka 4 needs Java 17+, $JAVA is '$v'"
    if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
        log "redis-server missing: apt-get install redis-server"
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >&2
    fi
    # Not a service: the browser tests/integration/test_dashboard.py opens the worker's dashboard in.
    if ! command -v chromium >/dev/null; then
        log "chromium missing (the dashboard's browser test): apt-get install chromium"
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
    fi
    # Not a service either: tests/integration/test_kcat.py steers a worker with Debian's kcat, as operators may.
    if ! command -v kcat >/dev/null; then
        log "kcat missing (the test that steers a worker with any Kafka client): apt-get install kcat"
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat >&2
    fi
}

# Fetch the Kafka jars with Maven unless the cache already has them. Prints the libs dir.
ensure_kafka_jars() {
    local home libs tmp t0 n try
    home="$(kafka_home)"
    libs="$home/libs"
    if [[ -f "$home/.complete" ]]; then
        printf '%s' "$libs"
        return
    fi
    mkdir -p "$CACHE/m2" "$home"
    exec 8>"$CACHE/kafka/.lock"
    flock -w 900 8 || die "timed out waiting for the cache lock $CACHE/kafka/.lock"
    if [[ ! -f "$home/.complete" ]]; then
        t0="$(now)"
        log "fetching Kafka $(kafka_version) jars with Maven into $libs (Maven repo $CACHE/m2)"
        tmp="$home/libs.tmp.$$"
        for try in 1 2; do
            rm -rf "$tmp"
            # (sed: Maven 3.8's -q still prints bare ANSI reset codes)
            if mvn -B -q -f "$POM" -Dmaven.repo.local="$CACHE/m2" \
                dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" 2>&1 \
                | sed 's/\x1b\[[0-9;]*m//g' >&2; then
                break
            fi
            [[ $try == 2 ]] && { rm -rf "$tmp"; die "Maven failed to fetch the Kafka jars"; }
            log "Maven failed; retrying once"
            sleep 3
        done
        n="$(find "$tmp" -maxdepth 1 -name '*.jar' | wc -l)"
        [[ -f "$tmp/kafka_2.13-$(kafka_version).jar" && "$n" -ge 20 ]] || die "unexpected Maven output in $tmp ($n jars)"
        rm -rf "$libs"
        mv "$tmp" "$libs"
        touch "$home/.complete"
        log "fetched $n jars in $(elapsed "$t0")s"
    fi
    flock -u 8
    exec 8>&-
    printf '%s' "$libs"
}

# AppCDS archive for the broker's JVM (start-up speed-up only). It is dumped at the broker's exit the first
# time (makes that `stop` take ~10 s longer) and used by every later start. Keyed on the JDK build; the jars
# dir is already keyed on the pom. A stale or broken archive only makes the JVM warn and run without it.
cds_archive() {
    printf '%s/cds-%s.jsa' "$(kafka_home)" "$(jdk_id)"
}

# ---------------------------------------------------------------------------------------------- start

write_env() {
    local kport="$1" sport="$2" kpass="$3" rport="$4" rpass="$5" tport="$6"
    (umask 077; : >"$STATE/env.sh")
    cat >"$STATE/env.sh" <<EOF
export SEGMENTER_TEST_KAFKA=127.0.0.1:$kport
export SEGMENTER_TEST_KAFKA_SASL=127.0.0.1:$sport
export SEGMENTER_TEST_KAFKA_SASL_USER=$KAFKA_USER
export SEGMENTER_TEST_KAFKA_SASL_PASSWORD=$kpass
export SEGMENTER_TEST_KAFKA_SASL_MECHANISM=SCRAM-SHA-256
export SEGMENTER_TEST_KAFKA_SSL=127.0.0.1:$tport
export SEGMENTER_TEST_KAFKA_SSL_CAFILE=$RUN/tls/ca.pem
export SEGMENTER_TEST_REDIS=redis://$REDIS_USER:$rpass@127.0.0.1:$rport/0
EOF
}

start_redis() {
    local port="$1" pass="$2" i
    mkdir -p "$RUN/redis"
    # `user` lines in the config file (like --user on the command line); do not add an aclfile as well:
    # redis refuses to start when both are given. The password stays out of `ps`.
    (
        umask 077
        cat >"$RUN/redis.conf" <<EOF
bind 127.0.0.1
port $port
protected-mode yes
daemonize no
supervised no
save ""
appendonly no
dir $RUN/redis
logfile ""
user default off
user $REDIS_USER on >$pass ~* &* +@all
EOF
    )
    : >"$STATE/redis.log"
    setsid redis-server "$RUN/redis.conf" >>"$STATE/redis.log" 2>&1 </dev/null 3>&- &
    echo $! >"$STATE/redis.pid"
    for ((i = 0; i < 200; i++)); do
        starting "$STATE/redis.pid" || { log "redis-server exited"; return 1; }
        if [[ "$(REDISCLI_AUTH="$pass" redis-cli --no-auth-warning -h 127.0.0.1 -p "$port" \
                --user "$REDIS_USER" ping 2>/dev/null)" == PONG ]]; then
            return 0
        fi
        sleep 0.05
    done
    log "redis did not answer PING within 10s"
    return 1
}

# make_tls DIR PASSWORD: a throwaway CA (DIR/ca.pem) and a broker certificate for 127.0.0.1 signed by it, in
# the PKCS12 keystore DIR/broker.p12 protected by PASSWORD. EC keys: made in milliseconds.
make_tls() {
    local dir="$1" pass="$2"
    mkdir -p "$dir"
    (
        umask 077
        cd "$dir"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
            -days 2 -subj /CN=segmenter-ci-ca
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout broker.key -out broker.csr \
            -subj /CN=127.0.0.1
        printf 'subjectAltName=IP:127.0.0.1\n' >broker.ext
        openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile broker.ext \
            -out broker.pem
        openssl pkcs12 -export -in broker.pem -inkey broker.key -certfile ca.pem -out broker.p12 -passout "pass:$pass"
    ) >"$dir/openssl.log" 2>&1
}

# kafka_properties FILE DATA_DIR PORT CONTROLLER_PORT [SASL_PORT SSL_PORT KEYSTORE KEYSTORE_PASSWORD]:
# server.properties of a single-node KRaft broker+controller with a PLAINTEXT listener, and when the ports
# are given a SASL_PLAINTEXT (SCRAM-SHA-256) and an SSL listener (the PKCS12 KEYSTORE from make_tls)
kafka_properties() {
    local file="$1" data="$2" kport="$3" cport="$4" sport="${5:-}" tport="${6:-}" keystore="${7:-}" kspass="${8:-}"
    local listeners tls=""
    listeners="PLAINTEXT://127.0.0.1:$kport${sport:+,SASL_PLAINTEXT://127.0.0.1:$sport}${tport:+,SSL://127.0.0.1:$tport}"
    if [[ -n "$tport" ]]; then
        tls="listener.name.ssl.ssl.keystore.type=PKCS12
listener.name.ssl.ssl.keystore.location=$keystore
listener.name.ssl.ssl.keystore.password=$kspass
listener.name.ssl.ssl.key.password=$kspass"
    fi
    cat >"$file" <<EOF
# generated by .ci/services.sh: single-node KRaft (combined broker+controller) for tests
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$cport
listeners=$listeners,CONTROLLER://127.0.0.1:$cport
advertised.listeners=$listeners
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL
$tls
sasl.enabled.mechanisms=SCRAM-SHA-256
listener.name.sasl_plaintext.sasl.enabled.mechanisms=SCRAM-SHA-256
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
log.dirs=$data
# test settings
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
EOF
}

start_kafka() {
    local libs="$1" kport="$2" sport="$3" cport="$4" pass="$5" tport="$6" t0 cds i kspass
    local -a cdsopt=() fmtcds=()
    mkdir -p "$RUN/kafka-data"
    kspass="$(secret)"
    make_tls "$RUN/tls" "$kspass" || { log "making the TLS certificates failed (see $RUN/tls/openssl.log)"; return 1; }
    kafka_properties "$RUN/server.properties" "$RUN/kafka-data" "$kport" "$cport" "$sport" "$tport" "$RUN/tls/broker.p12" "$kspass"
    if [[ "${SEGMENTER_CI_CDS:-1}" != 0 ]]; then
        cds="$(cds_archive)"
        if [[ -s "$cds" ]]; then
            cdsopt=(-Xshare:auto "-XX:SharedArchiveFile=$cds")
            fmtcds=("${cdsopt[@]}")
        else
            cdsopt=("-XX:ArchiveClassesAtExit=$RUN/kafka.jsa")
            printf '%s' "$cds" >"$STATE/kafka.cds-dump"    # stop promotes $RUN/kafka.jsa to the cache
        fi
    fi
    : >"$STATE/kafka.log"
    t0="$(now)"
    # the SCRAM user is written into the metadata log at format time (no runtime API call needed)
    if ! "$JAVA" "${JVM_OPTS[@]}" "${fmtcds[@]}" -cp "$libs/*" kafka.tools.StorageTool format \
            -t "$(kafka_cluster_id)" -c "$RUN/server.properties" --standalone \
            --add-scram "SCRAM-SHA-256=[name=$KAFKA_USER,password=$pass]" \
            >>"$STATE/kafka.log" 2>&1 </dev/null; then
        log "kafka storage format failed"
        return 1
    fi
    log "formatted Kafka storage in $(elapsed "$t0")s"
    setsid "$JAVA" "${JVM_OPTS[@]}" "${cdsopt[@]}" -cp "$libs/*" kafka.Kafka "$RUN/server.properties" \
        >>"$STATE/kafka.log" 2>&1 </dev/null 3>&- &
    echo $! >"$STATE/kafka.pid"
    for ((i = 0; i < KAFKA_TIMEOUT * 10; i++)); do
        starting "$STATE/kafka.pid" || { log "the Kafka broker exited during start-up"; return 1; }
        if grep -q 'Kafka Server started' "$STATE/kafka.log" && tcp_open "$kport" && tcp_open "$sport" && tcp_open "$tport"; then
            log "Kafka broker started in $(elapsed "$t0")s (format + start)"
            return 0
        fi
        sleep 0.1
    done
    log "the Kafka broker did not start within ${KAFKA_TIMEOUT}s"
    return 1
}

cmd_start() {
    local t0 libs kport sport cport rport tport kpass rpass attempt
    t0="$(now)"
    mkdir -p "$STATE"
    if [[ -s "$STATE/env.sh" ]] && pid_ok "$STATE/kafka.pid" kafka.Kafka && pid_ok "$STATE/redis.pid" redis-server; then
        log "already running (state $STATE)"
        cat "$STATE/env.sh" >&3
        return 0
    fi
    cmd_stop_quiet                              # leftovers of a half-started or crashed run
    ensure_tools
    libs="$(ensure_kafka_jars)"
    rm -rf "$RUN"
    mkdir -p "$RUN"
    kpass="$(secret)"
    rpass="$(secret)"
    for attempt in 1 2; do
        read -r kport sport cport rport tport <<<"$(free_ports 5)"
        printf 'kafka=%s\nkafka_sasl=%s\nkafka_ssl=%s\nkafka_controller=%s\nredis=%s\nkafka_version=%s\n' \
            "$kport" "$sport" "$tport" "$cport" "$rport" "$(kafka_version)" >"$STATE/ports"
        if start_redis "$rport" "$rpass" && start_kafka "$libs" "$kport" "$sport" "$cport" "$kpass" "$tport"; then
            break
        fi
        # someone took a port between choosing and binding it: once more with new ports
        if [[ $attempt == 1 ]] && grep -qs 'Address already in use' "$STATE/kafka.log" "$STATE/redis.log"; then
            log "a port was taken meanwhile; retrying with new ports"
            cmd_stop_quiet
            mkdir -p "$RUN"
            continue
        fi
        die "services did not start"
    done
    write_env "$kport" "$sport" "$kpass" "$rport" "$rpass" "$tport"
    log "Kafka $(kafka_version) on 127.0.0.1:$kport (SASL_PLAINTEXT :$sport, SSL :$tport), redis on :$rport; ready in $(elapsed "$t0")s"
    cat "$STATE/env.sh" >&3
}

# On a failed start: log tails and cleanup on stderr, and `false` on stdout, so that a bare
# `eval "$(.ci/services.sh start)"` fails too under `set -e` (eval alone would hide the exit code).
on_start_exit() {
    local rc="$1"
    trap - EXIT
    if [[ "$rc" != 0 ]]; then
        log "start failed (exit $rc); state $STATE"
        cmd_logs >&2 || true
        cmd_stop_quiet
        printf 'false\n' >&3
    fi
    exit "$rc"
}

# ---------------------------------------------------------------------------------------------- kafka-node

# One more single-node broker (PLAINTEXT only), in the foreground, for tests that stop and restart a broker
# of their own. DIR keeps its config and data across runs: formatted on the first, reused after.
cmd_kafka_node() {
    local dir="${1:-}" kport="${2:-}" cport="${3:-}" libs cds
    local -a cdsopt=()
    [[ -n "$dir" && "$kport" =~ ^[0-9]+$ && "$cport" =~ ^[0-9]+$ ]] || die "usage: $0 kafka-node DIR PORT CONTROLLER_PORT"
    ensure_tools
    libs="$(ensure_kafka_jars)"
    cds="$(cds_archive)"
    [[ "${SEGMENTER_CI_CDS:-1}" != 0 && -s "$cds" ]] && cdsopt=(-Xshare:auto "-XX:SharedArchiveFile=$cds")
    if [[ ! -f "$dir/data/meta.properties" ]]; then
        mkdir -p "$dir/data"
        kafka_properties "$dir/server.properties" "$dir/data" "$kport" "$cport"
        "$JAVA" "${JVM_OPTS[@]}" "${cdsopt[@]}" -cp "$libs/*" kafka.tools.StorageTool format \
            -t "$(kafka_cluster_id)" -c "$dir/server.properties" --standalone </dev/null || die "kafka storage format failed"
    fi
    exec "$JAVA" "${JVM_OPTS[@]}" "${cdsopt[@]}" -cp "$libs/*" kafka.Kafka "$dir/server.properties" </dev/null
}

# ---------------------------------------------------------------------------------------------- stop / status / logs

cmd_stop() {
    local cds="" grace=30
    [[ -d "$STATE" ]] || return 0
    [[ -s "$STATE/kafka.cds-dump" ]] && { cds="$(cat "$STATE/kafka.cds-dump")"; grace=90; }
    stop_pid redis "$STATE/redis.pid" redis-server 10 || true
    [[ -n "$cds" ]] && pid_ok "$STATE/kafka.pid" kafka.Kafka && log "(the JVM writes its AppCDS archive on this first stop)"
    if stop_pid kafka "$STATE/kafka.pid" kafka.Kafka "$grace"; then
        # promote the class-data archive only after a clean exit (a SIGKILL can leave a partial file)
        if [[ -n "$cds" && -s "$RUN/kafka.jsa" ]]; then
            mkdir -p "$(dirname "$cds")"
            mv -f "$RUN/kafka.jsa" "$cds.tmp.$$" && mv -f "$cds.tmp.$$" "$cds" && log "saved AppCDS archive $cds"
        fi
    fi
    rm -f "$STATE/kafka.cds-dump" "$STATE/env.sh" "$STATE/ports"
    rm -rf "$RUN"
}

cmd_stop_quiet() { cmd_stop 2>/dev/null || true; }

cmd_status() {
    local ok=0 k r
    echo "state: $STATE"
    echo "cache: $CACHE (Kafka $(kafka_version), jars $(kafka_home)/libs$([[ -f "$(kafka_home)/.complete" ]] || echo ' - not fetched yet'))"
    [[ -f "$STATE/ports" ]] && sed 's/^/port /' "$STATE/ports"
    for k in kafka:kafka.Kafka redis:redis-server; do
        r="${k%%:*}"
        if pid_ok "$STATE/$r.pid" "${k#*:}"; then
            echo "$r: running, pid $(cat "$STATE/$r.pid")"
        else
            echo "$r: not running"
            ok=3
        fi
    done
    return "$ok"
}

cmd_logs() {
    local n="${SEGMENTER_CI_LOG_LINES:-80}" f
    for f in kafka redis; do
        echo "===== $STATE/$f.log (last $n lines) ====="
        if [[ -f "$STATE/$f.log" ]]; then tail -n "$n" "$STATE/$f.log"; else echo "(none)"; fi
    done
}

cmd_env() {
    [[ -s "$STATE/env.sh" ]] || die "not running (no $STATE/env.sh)"
    cat "$STATE/env.sh"
}

case "${1:-}" in
    start | restart)
        exec 3>&1 1>&2                       # fd 3: the real stdout, for the export lines only
        [[ "$1" == restart ]] && cmd_stop
        trap 'on_start_exit $?' EXIT
        cmd_start
        ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    logs) cmd_logs ;;
    env) cmd_env ;;
    kafka-node) shift; cmd_kafka_node "$@" ;;
    *)
        echo "usage: $0 start|stop|restart|status|logs|env|kafka-node" >&2
        exit 2
        ;;
esac
