#!/usr/bin/env bash
# Single-node KRaft Apache Kafka on 127.0.0.1, run from Maven Central jars (no Docker, no tarball).
#
# usage: scripts/kafka-local.sh fetch|start|stop|status
#
# env:
#   KAFKA_VERSION          4.1.1 (3.9.1 is the tested fallback)
#   KAFKA_PORT             PLAINTEXT listener, 9092
#   KAFKA_CONTROLLER_PORT  KRaft controller listener, KAFKA_PORT+1
#   KAFKA_CACHE            jars + private maven repo, <project>/.cache/kafka
#   KAFKA_RUN              config, pid, log and data, ${TMPDIR:-/tmp}/kafka-run-$KAFKA_PORT
#   KAFKA_HEAP_OPTS        -Xms128m -Xmx512m
#   KAFKA_JVM_OPTS         GC/JIT flags for the broker JVM
#   KAFKA_START_TIMEOUT    seconds to wait for readiness, 120
#   KAFKA_STOP_TIMEOUT     seconds to wait after SIGTERM before SIGKILL, 10
#   JAVA_HOME, PYTHON      java (17+) and a python3 for the stdlib readiness probe
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"

KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
KAFKA_CACHE="${KAFKA_CACHE:-$ROOT/.cache/kafka}"
KAFKA_RUN="${KAFKA_RUN:-${TMPDIR:-/tmp}/kafka-run-$KAFKA_PORT}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}"
KAFKA_JVM_OPTS="${KAFKA_JVM_OPTS:--XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 -Djava.awt.headless=true}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-120}"
KAFKA_STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-10}"
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"
PYTHON="${PYTHON:-python3}"
LOG4J2_VERSION=2.24.3

# Absolute, slash-free run dir: stop identifies the JVM by the exact config path start gave it.
case "$KAFKA_RUN" in /*) ;; *) KAFKA_RUN="$PWD/$KAFKA_RUN" ;; esac
case "$KAFKA_CACHE" in /*) ;; *) KAFKA_CACHE="$PWD/$KAFKA_CACHE" ;; esac
KAFKA_RUN="${KAFKA_RUN%/}"
KAFKA_CACHE="${KAFKA_CACHE%/}"

MAJOR="${KAFKA_VERSION%%.*}"
LIB="$KAFKA_CACHE/lib-$KAFKA_VERSION"
PIDFILE="$KAFKA_RUN/kafka.pid"
LOGFILE="$KAFKA_RUN/kafka.log"

die() { echo "kafka-local: $*" >&2; exit 1; }

case "$MAJOR" in 3 | 4) ;; *) die "unsupported KAFKA_VERSION=$KAFKA_VERSION (3.x or 4.x)" ;; esac
[[ "$KAFKA_PORT$KAFKA_CONTROLLER_PORT" =~ ^[0-9]+$ ]] || die "KAFKA_PORT and KAFKA_CONTROLLER_PORT must be numbers"
[ "$KAFKA_PORT" != "$KAFKA_CONTROLLER_PORT" ] || die "KAFKA_PORT and KAFKA_CONTROLLER_PORT must differ"

now_us() { local t="${EPOCHREALTIME//[.,]/}"; echo "$((10#$t))"; }

dep() { printf '    <dependency><groupId>%s</groupId><artifactId>%s</artifactId><version>%s</version></dependency>\n' "$@"; }

write_pom() {
  local logdeps a
  if [ "$MAJOR" -ge 4 ]; then
    # log4j2 is compileOnly/releaseOnly in Kafka's build, so kafka_2.13's POM leaves it out,
    # yet kafka.utils.Log4jController needs log4j-core. SLF4J is still 1.7.x, hence log4j-slf4j-impl.
    logdeps="$(for a in log4j-api log4j-core log4j-slf4j-impl log4j-1.2-api; do
      dep org.apache.logging.log4j "$a" "$LOG4J2_VERSION"
    done)"
  else
    # 3.x: reload4j is compileOnly, so without these the broker logs nothing or hits NoClassDefFoundError.
    logdeps="$(dep org.slf4j slf4j-reload4j 1.7.36; dep ch.qos.reload4j reload4j 1.2.25)"
  fi
  cat <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.testinfra</groupId>
  <artifactId>kafka-broker-jars</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <properties><project.build.sourceEncoding>UTF-8</project.build.sourceEncoding></properties>
  <dependencies>
$(dep org.apache.kafka kafka_2.13 "$KAFKA_VERSION")
$logdeps
  </dependencies>
  <build><plugins>
    <!-- pinned: an unpinned CLI prefix would resolve to whatever plugin is newest -->
    <plugin><groupId>org.apache.maven.plugins</groupId><artifactId>maven-dependency-plugin</artifactId><version>3.8.1</version></plugin>
  </plugins></build>
</project>
EOF
}

# Fills $LIB once; a complete cache means no maven and no network at all.
fetch() {
  [ -f "$LIB/.complete" ] && return 0
  command -v mvn >/dev/null || die "mvn not found (needed once to fetch the Kafka $KAFKA_VERSION jars into $LIB)"
  mkdir -p "$KAFKA_CACHE"
  (
    # Parallel starts (CI script, pytest) must not write the same lib dir at once.
    flock 9
    [ -f "$LIB/.complete" ] && exit 0
    local pom="$KAFKA_CACHE/pom-$KAFKA_VERSION.xml"
    write_pom >"$pom"
    local args=(-q -B -Dstyle.color=never -f "$pom" "-Dmaven.repo.local=$KAFKA_CACHE/m2"
      dependency:copy-dependencies -DincludeScope=runtime "-DoutputDirectory=$LIB.tmp")
    rm -rf "$LIB.tmp"
    # Offline first: a warm private repo (e.g. the lib dir was deleted) needs no network.
    if ! { [ -d "$KAFKA_CACHE/m2" ] && mvn -o "${args[@]}" >/dev/null 2>&1; }; then
      rm -rf "$LIB.tmp"
      if ! mvn "${args[@]}" >"$KAFKA_CACHE/mvn-$KAFKA_VERSION.log" 2>&1; then
        tail -n 40 "$KAFKA_CACHE/mvn-$KAFKA_VERSION.log" >&2
        die "maven could not fetch the Kafka $KAFKA_VERSION jars; log: $KAFKA_CACHE/mvn-$KAFKA_VERSION.log"
      fi
    fi
    [ -f "$LIB.tmp/kafka_2.13-$KAFKA_VERSION.jar" ] || die "kafka_2.13-$KAFKA_VERSION.jar missing after fetch"
    touch "$LIB.tmp/.complete"
    rm -rf "$LIB"
    mv "$LIB.tmp" "$LIB"
  ) 9>"$KAFKA_CACHE/.fetch-$KAFKA_VERSION.lock"
}

# Prints the JVM flag selecting a log config written into $KAFKA_RUN.
log_opts() {
  if [ "$MAJOR" -ge 4 ]; then
    # properties format: the YAML one would also need jackson-dataformat-yaml on the path
    cat >"$KAFKA_RUN/log4j2.properties" <<'EOF'
status = warn
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.req.name = kafka.request.logger
logger.req.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
EOF
    echo "-Dlog4j2.configurationFile=$KAFKA_RUN/log4j2.properties"
  else
    cat >"$KAFKA_RUN/log4j.properties" <<'EOF'
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
EOF
    echo "-Dlog4j.configuration=file:$KAFKA_RUN/log4j.properties"
  fi
}

write_config() {
  cat >"$KAFKA_RUN/server.properties" <<EOF
process.roles=broker,controller
node.id=1
# static voters: formats the same way on 3.9 and 4.x (no --standalone)
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$KAFKA_RUN/data
auto.create.topics.enable=true
delete.topic.enable=true
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
# default 50: the first consumer group would wait for 50 partitions to be created
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
# the default 128 MiB dedupe buffer lives on the heap; the log cleaner stays on for faust changelogs
log.cleaner.dedupe.buffer.size=33554432
EOF
  if [ "$MAJOR" -ge 4 ]; then
    printf '%s\n' share.coordinator.state.topic.replication.factor=1 share.coordinator.state.topic.min.isr=1 \
      >>"$KAFKA_RUN/server.properties"
  fi
}

# A zombie passes kill -0; an orphan under a non-reaping parent would otherwise look alive forever.
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  ! grep -qE '^[0-9]+ \(.*\) Z' "/proc/$1/stat" 2>/dev/null
}

# True only for a live broker JVM started from this run dir, so a recycled pid is never signalled.
is_ours() {
  local pid="$1"
  alive "$pid" || return 1
  [ -r "/proc/$pid/cmdline" ] || return 0
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "kafka.Kafka $KAFKA_RUN/server.properties"
}

is_running() { [ -f "$PIDFILE" ] && is_ours "$(cat "$PIDFILE")"; }

port_free() {
  # SO_REUSEADDR like the JVM, so ports in TIME_WAIT count as free
  "$PYTHON" -c 'import socket,sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try: s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError: sys.exit(1)' "$1"
}

# Errors first: a dying broker's tail is mostly shutdown noise that hides the cause.
show_log() {
  local file="$1"
  if grep -qE '^\[[^]]*\] (ERROR|FATAL) |^[A-Za-z.]*(Exception|Error)\b|^Caused by' "$file"; then
    echo "--- first errors in $file:" >&2
    grep -m 10 -E -A 1 '^\[[^]]*\] (ERROR|FATAL) |^[A-Za-z.]*(Exception|Error)\b|^Caused by' "$file" >&2 || true
  fi
  echo "--- last lines of $file:" >&2
  tail -n 40 "$file" >&2
}

start() {
  local t0 pid cluster_id logopts deadline elapsed
  t0="$(now_us)"
  if is_running; then
    echo "kafka already running on 127.0.0.1:$KAFKA_PORT (pid $(cat "$PIDFILE"))"
    return 0
  fi
  port_free "$KAFKA_PORT" || die "port 127.0.0.1:$KAFKA_PORT is in use (set KAFKA_PORT)"
  port_free "$KAFKA_CONTROLLER_PORT" || die "controller port 127.0.0.1:$KAFKA_CONTROLLER_PORT is in use (set KAFKA_CONTROLLER_PORT)"
  command -v "$JAVA" >/dev/null || die "java not found (Kafka $KAFKA_VERSION needs Java 17+)"
  fetch

  # A fresh data dir per start: formatting refuses a dir holding another cluster id.
  mkdir -p "$KAFKA_RUN"
  rm -rf "$KAFKA_RUN/data"
  mkdir -p "$KAFKA_RUN/data" "$KAFKA_RUN/logs"
  rm -f "$PIDFILE"
  echo "$KAFKA_VERSION" >"$KAFKA_RUN/version"
  write_config
  logopts="$(log_opts)"
  cluster_id="$("$PYTHON" -c 'import base64,uuid;print(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))')"

  # Short-lived JVM: C1 only and serial GC start faster and it does little work.
  if ! "$JAVA" -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC "$logopts" -cp "$LIB/*" \
    kafka.tools.StorageTool format -t "$cluster_id" -c "$KAFKA_RUN/server.properties" \
    >"$KAFKA_RUN/format.log" 2>&1 </dev/null; then
    echo "kafka-local: storage format failed" >&2
    show_log "$KAFKA_RUN/format.log"
    exit 1
  fi

  # shellcheck disable=SC2086  # heap/JVM opts are word lists
  nohup "$JAVA" -server $KAFKA_HEAP_OPTS $KAFKA_JVM_OPTS "$logopts" -Dkafka.logs.dir="$KAFKA_RUN/logs" \
    -cp "$LIB/*" kafka.Kafka "$KAFKA_RUN/server.properties" >"$LOGFILE" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$PIDFILE"

  # The PLAINTEXT acceptor only binds once the broker is unfenced, so an answer means usable.
  deadline=$((SECONDS + KAFKA_START_TIMEOUT))
  until "$PYTHON" "$HERE/kafka_ready.py" "127.0.0.1:$KAFKA_PORT" 1 2>/dev/null; do
    if ! alive "$pid"; then
      rm -f "$PIDFILE"
      echo "kafka-local: kafka $KAFKA_VERSION exited during start-up" >&2
      show_log "$LOGFILE"
      exit 1
    fi
    if ((SECONDS >= deadline)); then
      echo "kafka-local: kafka $KAFKA_VERSION not ready on 127.0.0.1:$KAFKA_PORT after ${KAFKA_START_TIMEOUT}s" >&2
      show_log "$LOGFILE"
      stop >/dev/null
      exit 1
    fi
  done
  elapsed=$(($(now_us) - t0))
  printf 'kafka %s ready on 127.0.0.1:%s in %d.%ds (pid %s)\n' \
    "$KAFKA_VERSION" "$KAFKA_PORT" $((elapsed / 1000000)) $((elapsed / 100000 % 10)) "$pid"
}

stop() {
  local pid i
  [ -f "$PIDFILE" ] || return 0
  pid="$(cat "$PIDFILE")"
  if is_ours "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < KAFKA_STOP_TIMEOUT * 5; i++)); do
      alive "$pid" || break
      sleep 0.2
    done
    # The data dir is thrown away on the next start, so an unclean kill loses nothing.
    if alive "$pid"; then
      kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do
        alive "$pid" || break
        sleep 0.1
      done
    fi
    echo "kafka stopped (pid $pid)"
  fi
  rm -f "$PIDFILE"
}

status() {
  local version
  if ! is_running; then
    echo "kafka not running (run dir $KAFKA_RUN)"
    return 3
  fi
  version="$(cat "$KAFKA_RUN/version" 2>/dev/null || echo "$KAFKA_VERSION")"
  if "$PYTHON" "$HERE/kafka_ready.py" "127.0.0.1:$KAFKA_PORT" 2 2>/dev/null; then
    echo "kafka $version running on 127.0.0.1:$KAFKA_PORT (pid $(cat "$PIDFILE"))"
  else
    echo "kafka $version (pid $(cat "$PIDFILE")) not answering on 127.0.0.1:$KAFKA_PORT; log $LOGFILE"
    return 1
  fi
}

cmd_fetch() {
  local t0 elapsed n size
  t0="$(now_us)"
  if [ -f "$LIB/.complete" ]; then
    elapsed=""
  else
    fetch
    elapsed=$(($(now_us) - t0))
  fi
  n="$(find "$LIB" -maxdepth 1 -name '*.jar' | wc -l)"
  size="$(du -sh "$LIB" | cut -f1)"
  if [ -n "$elapsed" ]; then
    printf 'kafka %s: %s jars, %s in %s (fetched in %d.%ds)\n' "$KAFKA_VERSION" "$n" "$size" "$LIB" \
      $((elapsed / 1000000)) $((elapsed / 100000 % 10))
  else
    printf 'kafka %s: %s jars, %s in %s (cached)\n' "$KAFKA_VERSION" "$n" "$size" "$LIB"
  fi
}

case "${1:-}" in
  fetch) cmd_fetch ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  *)
    echo "usage: $0 fetch|start|stop|status" >&2
    exit 2
    ;;
esac
