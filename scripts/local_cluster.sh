#!/usr/bin/env bash
# A real Flink or Spark cluster on this machine (loopback only), with Beam's job server for it and
# an external pool of Python SDK workers, for `tokenmill run --runner=PortableRunner`.
#
#   scripts/local_cluster.sh flink|spark fetch    # download what is missing into the cache (Maven, PyPI)
#   scripts/local_cluster.sh flink|spark up       # fetch, start, wait until every part answers
#   scripts/local_cluster.sh flink|spark down     # stop exactly what `up` started (its pid files)
#   scripts/local_cluster.sh flink|spark status
#
# What runs (deploy/README.md has the same steps for a cluster of your own):
#   flink: Flink 1.19.3 (the jars and scripts of PyPI's apache-flink and apache-flink-libraries),
#          one JobManager and two TaskManagers as separate JVMs, Beam's FlinkJobServerDriver.
#   spark: Spark 3.5.8 (the jars and sbin scripts of PyPI's pyspark), one standalone master and
#          one worker, Beam's SparkJobServerDriver.
#   both:  Beam's Python SDK worker pool (`worker_pool_main`) from $PYTHON's environment, which
#          must have tokenmill installed: the job runs with --environment_type=EXTERNAL.
# Beam's job-server jars are resolved with Maven at the release of the apache_beam that $PYTHON
# imports (the job server and the SDK must be one release). Maven Central does not serve the
# shaded `beam-runners-*-job-server` jars here, so the script resolves the runner artifact with
# its dependencies and writes a small launcher jar whose manifest Class-Path lists them; it works
# with `java -jar` and with Beam's `--flink_job_server_jar` / `--spark_job_server_jar`.
#
# Environment: TOKENMILL_CACHE (downloads; default ~/.cache/tokenmill), TOKENMILL_CLUSTER_DIR
# (config, logs, pid files; default $TOKENMILL_CACHE/clusters/ENGINE), PYTHON (default: the
# checkout's .venv/bin/python), and the ports below.
set -euo pipefail

ENGINE="${1:-}"; ACTION="${2:-}"
die() { echo "local_cluster.sh: $*" >&2; exit 2; }
case "$ENGINE/$ACTION" in
  flink/fetch|flink/up|flink/down|flink/status|spark/fetch|spark/up|spark/down|spark/status) ;;
  *) die "usage: scripts/local_cluster.sh flink|spark fetch|up|down|status" ;;
esac

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${TOKENMILL_CACHE:-$HOME/.cache/tokenmill}"
RUN_DIR="${TOKENMILL_CLUSTER_DIR:-$CACHE/clusters/$ENGINE}"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
FLINK_VERSION=1.19.3; FLINK_MINOR=1.19
SPARK_VERSION=3.5.8
FLINK_REST_PORT="${FLINK_REST_PORT:-8081}"; FLINK_RPC_PORT="${FLINK_RPC_PORT:-6123}"
SPARK_MASTER_PORT="${SPARK_MASTER_PORT:-7077}"; SPARK_UI_PORT="${SPARK_UI_PORT:-8080}"
SPARK_WORKER_UI_PORT="${SPARK_WORKER_UI_PORT:-8082}"
JOB_PORT="${JOB_PORT:-8099}"; ARTIFACT_PORT="${ARTIFACT_PORT:-8098}"; EXPANSION_PORT="${EXPANSION_PORT:-8097}"
POOL_PORT="${POOL_PORT:-50000}"
WAIT_S="${WAIT_S:-180}"

need_java() {
  command -v java >/dev/null || die "java not found: install a JDK 11 or 17 (Flink 1.19 and Spark 3.5 run on both)"
  command -v jar >/dev/null || die "the 'jar' tool not found: install a full JDK, not only a JRE"
}
need_python() {
  [ -x "$PYTHON" ] || die "no Python at $PYTHON: run scripts/demo.sh first, or set PYTHON to a python with tokenmill"
  BEAM_VERSION="$("$PYTHON" -c 'import apache_beam; print(apache_beam.__version__)' 2>/dev/null)" \
    || die "$PYTHON cannot import apache_beam: install tokenmill into it first"
}

# --- fetching --------------------------------------------------------------------------------
runner_artifact() { [ "$ENGINE" = flink ] && echo "beam-runners-flink-$FLINK_MINOR" || echo "beam-runners-spark-3"; }
driver_class() {
  [ "$ENGINE" = flink ] && echo org.apache.beam.runners.flink.FlinkJobServerDriver \
                        || echo org.apache.beam.runners.spark.SparkJobServerDriver
}
job_server_dir() { echo "$CACHE/beam-$BEAM_VERSION/$(runner_artifact)-job-server"; }
job_server_jar() { echo "$(job_server_dir)/$(runner_artifact)-job-server-$BEAM_VERSION.jar"; }
dist_home() { [ "$ENGINE" = flink ] && echo "$CACHE/flink-$FLINK_VERSION" || echo "$CACHE/spark-$SPARK_VERSION"; }

flink_logging() {  # Flink's job server needs a logging backend, or it prints nothing, errors included;
  # Spark's own jars bring one (log4j 2), and a second one loops jul -> slf4j -> jul until the stack overflows
  [ "$ENGINE" = flink ] && echo '    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-jdk14</artifactId><version>1.7.30</version></dependency>'
  return 0
}

fetch_job_server() {
  local dir lib pom; dir="$(job_server_dir)"; lib="$dir/lib"
  [ -f "$(job_server_jar)" ] && return 0
  command -v mvn >/dev/null || die "mvn not found: Maven fetches Beam's job server jars (apt-get install maven)"
  echo "fetching $(runner_artifact) $BEAM_VERSION and its dependencies with Maven into $lib"
  mkdir -p "$dir"; pom="$dir/pom.xml"
  cat > "$pom" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
  <groupId>tokenmill.local</groupId><artifactId>job-server</artifactId><version>1</version><packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.beam</groupId><artifactId>$(runner_artifact)</artifactId><version>$BEAM_VERSION</version></dependency>
$(flink_logging)  </dependencies>
</project>
EOF
  (cd "$dir" && mvn -q -B dependency:copy-dependencies -DoutputDirectory=lib -DincludeScope=runtime) \
    || die "Maven could not resolve org.apache.beam:$(runner_artifact):$BEAM_VERSION (see above); pin apache-beam to a release Maven Central serves"
  write_launcher_jar
}

# A jar with only a manifest: Main-Class is the job server, Class-Path the resolved jars (relative to
# the launcher's folder). Spark's own jars are "provided" for Beam's Spark runner: they come from
# the Spark distribution, as on a real cluster.
write_launcher_jar() {
  local dir entries; dir="$(job_server_dir)"
  entries="$(cd "$dir" && ls lib/*.jar)"
  if [ "$ENGINE" = spark ]; then   # Beam's first (Spark's guava is older), and Spark's slf4j 2 with its log4j backend
    entries="$(echo "$entries" | grep -v '^lib/slf4j-') $(cd "$dir" && ls ../../spark-$SPARK_VERSION/jars/*.jar)"
  fi
  "$PYTHON" - "$dir/MANIFEST.MF" "$(driver_class)" $entries <<'EOF'
import sys
path, main, *entries = sys.argv[1:]
line = "Class-Path: " + " ".join(entries)
chunks = [line[:70]] + [" " + line[i:i + 69] for i in range(70, len(line), 69)]   # 72-byte manifest lines
open(path, "w").write(f"Manifest-Version: 1.0\nMain-Class: {main}\n" + "\n".join(chunks) + "\n")
EOF
  (cd "$dir" && jar cfm "$(job_server_jar)" MANIFEST.MF)
}

fetch_flink() {
  local home tmp; home="$(dist_home)"
  [ -f "$home/lib/flink-dist-$FLINK_VERSION.jar" ] && return 0
  echo "fetching Flink $FLINK_VERSION from PyPI (apache-flink, apache-flink-libraries) into $home"
  tmp="$(mktemp -d)"
  "$PYTHON" -m pip download -q --no-deps -d "$tmp" "apache-flink==$FLINK_VERSION" "apache-flink-libraries==$FLINK_VERSION" \
    || die "pip could not download apache-flink $FLINK_VERSION"
  mkdir -p "$tmp/x"; tar xzf "$tmp"/apache-flink-libraries-*.tar.gz -C "$tmp/x"
  (cd "$tmp/x" && "$PYTHON" -m zipfile -e "$tmp"/apache_flink-*.whl wheel)
  mkdir -p "$home.part"
  cp -r "$tmp/x/wheel/pyflink/bin" "$tmp/x/wheel/pyflink/conf" "$home.part/"
  cp -r "$tmp"/x/apache-flink-libraries-*/deps/lib "$tmp"/x/apache-flink-libraries-*/deps/opt "$home.part/"
  cp "$tmp"/x/apache-flink-libraries-*/deps/bin/bash-java-utils.jar "$home.part/bin/"
  chmod +x "$home.part"/bin/*.sh "$home.part/bin/flink"
  rm -rf "$home" "$tmp"; mv "$home.part" "$home"
}

fetch_spark() {
  local home tmp; home="$(dist_home)"
  [ -d "$home/jars" ] && return 0
  echo "fetching Spark $SPARK_VERSION from PyPI (pyspark) into $home"
  tmp="$(mktemp -d)"
  "$PYTHON" -m pip download -q --no-deps -d "$tmp" "pyspark==$SPARK_VERSION" || die "pip could not download pyspark $SPARK_VERSION"
  tar xzf "$tmp"/pyspark-*.tar.gz -C "$tmp" --wildcards '*/deps/jars/*' '*/deps/bin/*' '*/deps/sbin/*'
  mkdir -p "$home.part"; cp -r "$tmp"/pyspark-*/deps/{jars,bin,sbin} "$home.part/"
  chmod +x "$home.part"/bin/* "$home.part"/sbin/*
  rm -rf "$home" "$tmp"; mv "$home.part" "$home"
}

fetch() {
  need_java; need_python
  if [ "$ENGINE" = flink ]; then fetch_flink; else fetch_spark; fi
  fetch_job_server
}


# --- processes -------------------------------------------------------------------------------
# Every part runs in the foreground of its own session (setsid), its pid in $RUN_DIR/pids: `down`
# signals exactly those process groups, children included (the worker pool's SDK workers).
start_part() {   # start_part NAME CMD...: a new session, output to $RUN_DIR/log/NAME.log
  local name="$1"; shift
  mkdir -p "$RUN_DIR/pids" "$RUN_DIR/log"
  setsid nohup "$@" > "$RUN_DIR/log/$name.log" 2>&1 < /dev/null &
  echo $! > "$RUN_DIR/pids/$name.pid"
}
alive() { kill -0 "$1" 2>/dev/null; }
group_left() { pgrep -g "$1" >/dev/null; }
stop_part() {    # stop_part PIDFILE: SIGTERM to its process group, SIGKILL after 20 s
  local pid; pid="$(cat "$1")"
  kill -TERM -- "-$pid" 2>/dev/null || true
  for _ in $(seq 100); do group_left "$pid" || break; sleep 0.2; done
  if group_left "$pid"; then
    kill -KILL -- "-$pid" 2>/dev/null || true
    for _ in $(seq 25); do group_left "$pid" || break; sleep 0.2; done
  fi
  rm -f "$1"
}
port_free() { ! "$PYTHON" -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 1)" "$1" 2>/dev/null; }
wait_for() {     # wait_for WHAT PYTHON-EXPRESSION: polls until the expression is true, or dies
  local what="$1" expr="$2" deadline=$((SECONDS + WAIT_S)) f n
  until "$PYTHON" -c "import json, socket, sys, urllib.request as u; sys.exit(0 if ($expr) else 1)" 2>/dev/null; do
    for f in "$RUN_DIR"/pids/*.pid; do
      alive "$(cat "$f")" && continue
      n="$(basename "$f" .pid)"; tail -n 20 "$RUN_DIR/log/$n.log" >&2 || true
      down >/dev/null 2>&1 || true; die "$n exited while starting (log: $RUN_DIR/log/$n.log)"
    done
    if [ $SECONDS -ge $deadline ]; then
      down >/dev/null 2>&1 || true; die "$what did not answer within $WAIT_S s (logs: $RUN_DIR/log)"
    fi
    sleep 1
  done
}
tcp() { echo "socket.create_connection(('127.0.0.1', $1), 1)"; }

flink_conf() {   # a config of our own: loopback, 1 slot per TaskManager, room for Beam's shuffles
  local conf="$RUN_DIR/conf"; mkdir -p "$conf" "$RUN_DIR/tmp"
  cp "$(dist_home)"/conf/log4j*.properties "$conf/"
  {
    # the JVM flags Flink needs on Java 17, as the distribution's own config gives them
    grep -m1 -A3 '^env:' "$(dist_home)/conf/config.yaml" | sed -n 's/^ *all: /env.java.opts.all: /p'
    printf '%s\n' \
      "jobmanager.rpc.address: localhost" "jobmanager.rpc.port: $FLINK_RPC_PORT" "jobmanager.bind-host: localhost" \
      "jobmanager.memory.process.size: 1024m" \
      "taskmanager.host: localhost" "taskmanager.bind-host: localhost" "taskmanager.numberOfTaskSlots: 1" \
      "taskmanager.memory.process.size: 3072m" "taskmanager.memory.managed.fraction: 0.2" \
      "# Heap for the elements Beam's runner decodes whole (the tokenizer's sample is one element of" \
      "# up to tokenize.sample_docs texts): with 2048m (312 MiB of task heap) a 100k-page job ran out" \
      "# of heap; with this it runs out of direct memory instead (deploy/README.md, 1M pages section)." \
      "# A Beam batch graph holds many shuffles open at once, and Flink's sort shuffle takes 512" \
      "# buffers for each blocking result: with the defaults a tokenmill job fails with 'Insufficient" \
      "# number of network buffers' (deploy/README.md, runner facts)." \
      "taskmanager.memory.network.min: 384m" "taskmanager.memory.network.max: 384m" \
      "taskmanager.network.sort-shuffle.min-buffers: 64" \
      "parallelism.default: 2" \
      "rest.address: localhost" "rest.bind-address: localhost" "rest.port: $FLINK_REST_PORT" \
      "io.tmp.dirs: $RUN_DIR/tmp"
  } > "$conf/config.yaml"
}

up_flink() {
  flink_conf
  local env=(env FLINK_CONF_DIR="$RUN_DIR/conf" FLINK_LOG_DIR="$RUN_DIR/log")
  start_part jobmanager "${env[@]}" "$(dist_home)/bin/jobmanager.sh" start-foreground
  start_part taskmanager-1 "${env[@]}" "$(dist_home)/bin/taskmanager.sh" start-foreground
  start_part taskmanager-2 "${env[@]}" "$(dist_home)/bin/taskmanager.sh" start-foreground
  wait_for "Flink (2 TaskManagers)" \
    "json.load(u.urlopen('http://localhost:$FLINK_REST_PORT/overview', timeout=2))['taskmanagers'] >= 2"
  start_part job-server java -jar "$(job_server_jar)" --flink-master="localhost:$FLINK_REST_PORT" \
    --job-host=localhost --job-port="$JOB_PORT" --artifact-port="$ARTIFACT_PORT" --expansion-port="$EXPANSION_PORT"
}

up_spark() {
  local home env; home="$(dist_home)"
  env=(env SPARK_HOME="$home" SPARK_LOCAL_IP=127.0.0.1 SPARK_LOG_DIR="$RUN_DIR/log" SPARK_WORKER_DIR="$RUN_DIR/work")
  start_part master "${env[@]}" "$home/bin/spark-class" org.apache.spark.deploy.master.Master \
    --host localhost --port "$SPARK_MASTER_PORT" --webui-port "$SPARK_UI_PORT"
  wait_for "Spark master" "$(tcp "$SPARK_MASTER_PORT")"
  start_part worker "${env[@]}" "$home/bin/spark-class" org.apache.spark.deploy.worker.Worker \
    --host localhost --cores 2 --memory 4g --webui-port "$SPARK_WORKER_UI_PORT" "spark://localhost:$SPARK_MASTER_PORT"
  wait_for "Spark (1 worker)" \
    "json.load(u.urlopen('http://localhost:$SPARK_UI_PORT/json/', timeout=2)).get('aliveworkers', 0) >= 1"
  # The job server is the Spark driver. Translating and running a tokenmill graph recurses deeper
  # than a JVM's default 1 MB thread stack (StackOverflowError in spark-runner-job-invoker), in
  # the driver and when executors deserialize the task lineage.
  # It is also started with plain `java`, not spark-submit, so it needs the module openings that
  # spark-submit gives a driver on Java 17 (Spark's JavaModuleOptions).
  local opens=(--add-opens=java.base/{java.lang,java.lang.invoke,java.lang.reflect,java.io,java.net,java.nio,java.util,java.util.concurrent,java.util.concurrent.atomic,sun.nio.ch,sun.nio.cs,sun.security.action,sun.util.calendar}=ALL-UNNAMED)
  start_part job-server java -Xss16m "${opens[@]}" -Djdk.reflect.useDirectMethodHandle=false \
    -Dspark.executor.extraJavaOptions=-Xss16m -jar "$(job_server_jar)" --spark-master-url="spark://localhost:$SPARK_MASTER_PORT" \
    --job-host=localhost --job-port="$JOB_PORT" --artifact-port="$ARTIFACT_PORT" --expansion-port="$EXPANSION_PORT"
}

up() {
  fetch
  if compgen -G "$RUN_DIR/pids/*.pid" >/dev/null; then
    die "$ENGINE is already up (pid files in $RUN_DIR/pids): 'scripts/local_cluster.sh $ENGINE down' first"
  fi
  local p ports=("$JOB_PORT" "$ARTIFACT_PORT" "$EXPANSION_PORT" "$POOL_PORT")
  if [ "$ENGINE" = flink ]; then ports+=("$FLINK_REST_PORT" "$FLINK_RPC_PORT")
  else ports+=("$SPARK_MASTER_PORT" "$SPARK_UI_PORT" "$SPARK_WORKER_UI_PORT"); fi
  for p in "${ports[@]}"; do
    port_free "$p" || die "port $p is in use on localhost (the port variables in the script's header move it)"
  done
  if [ "$ENGINE" = flink ]; then up_flink; else up_spark; fi
  # The SDK workers: Beam's worker pool from the environment that has tokenmill. They run from a
  # folder of their own, so a relative path that reached them would show up as a missing file.
  mkdir -p "$RUN_DIR/pool"
  start_part worker-pool bash -c "cd '$RUN_DIR/pool' && PATH='$(dirname "$PYTHON")':\"\$PATH\" exec '$PYTHON' -m apache_beam.runners.worker.worker_pool_main --service_port=$POOL_PORT"
  wait_for "Beam job server" "$(tcp "$JOB_PORT")"
  wait_for "SDK worker pool" "$(tcp "$POOL_PORT")"
  echo "$ENGINE is up: Beam $BEAM_VERSION job server on localhost:$JOB_PORT, SDK worker pool on localhost:$POOL_PORT"
  echo "  tokenmill run --input ... --output /abs/out --runner=PortableRunner --job_endpoint=localhost:$JOB_PORT \\"
  echo "      --environment_type=EXTERNAL --environment_config=localhost:$POOL_PORT"
  echo "stop it with: scripts/local_cluster.sh $ENGINE down"
}

down() {
  local f any=0
  # the workers and the job server first, then the engine: the reverse of `up`
  for f in worker-pool job-server taskmanager-2 taskmanager-1 jobmanager worker master; do
    if [ -f "$RUN_DIR/pids/$f.pid" ]; then stop_part "$RUN_DIR/pids/$f.pid"; any=1; fi
  done
  if [ $any = 1 ]; then echo "$ENGINE is down"; else echo "$ENGINE was not up (no pid files in $RUN_DIR/pids)"; fi
}

status() {
  local f n running=0
  for f in "$RUN_DIR"/pids/*.pid; do
    [ -f "$f" ] || continue
    n="$(basename "$f" .pid)"
    if alive "$(cat "$f")"; then echo "$n: running (pid $(cat "$f"))"; running=1
    else echo "$n: exited (log: $RUN_DIR/log/$n.log)"; fi
  done
  [ $running = 1 ] || { echo "$ENGINE is not up"; return 3; }
}

case "$ACTION" in
  fetch) fetch ;;
  up) up ;;
  down) down ;;
  status) status ;;
esac
