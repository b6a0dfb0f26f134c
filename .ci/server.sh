# Sourced by .ci/fuzz and .ci/sdks: the target directory, and the debug
# server on an embedded cluster of its own, stopped on exit.
#   start_server  sets $base (http://127.0.0.1:PORT) and $data
# Everything a run makes lives under the cargo target directory, so the
# checkout stays clean.
repo=$(pwd)
mkdir -p "${CARGO_TARGET_DIR:-target}"
target=$(cd "${CARGO_TARGET_DIR:-target}" && pwd)
export CAREGO_DEMO_PASSWORD=${CAREGO_DEMO_PASSWORD:-ci-demo-password}

start_server() {
    # The debug binary `cargo test` has just built: a release build would
    # cost about six cold minutes of the CI budget, for runs whose pace is
    # set by the clients, not by the server.
    cargo build --locked --quiet --bin carego
    data=$(mktemp -d)
    chmod 755 "$data" # when root, the cluster runs as `postgres`, which must reach it
    local port
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    base=http://127.0.0.1:$port
    CAREGO_DATA_DIR=$data CAREGO_LISTEN=127.0.0.1:$port RUST_LOG=warn "$target/debug/carego" serve >"$data/server.log" 2>&1 &
    server=$!
    trap stop_server EXIT
    for _ in $(seq 1 120); do
        curl -sf "$base/api/v1/ready" >/dev/null && return 0
        sleep 0.5
    done
    cat "$data/server.log"
    return 1
}

stop_server() {
    kill -INT "$server" 2>/dev/null && wait "$server" || true
    rm -rf "$data"
}
