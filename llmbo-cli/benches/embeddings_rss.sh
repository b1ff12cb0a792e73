#!/usr/bin/env bash
# Peak RSS of `llmbo download --format npy` for 20,000 and 200,000 vectors (256 floats each),
# against a llmbo-local binary in its own process, and the ratio of the two.
#
#   bash llmbo-cli/benches/embeddings_rss.sh            # from the workspace root
#
# Builds both binaries in release first. Each download runs under /usr/bin/time; the run it
# downloads was submitted and watched beforehand, so only the download is measured.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -q -p llmbo-local -p llmbo-cli
bin=target/release
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
port=$((20000 + RANDOM % 20000))
"$bin/llmbo-local" --port "$port" --data-dir "$work/data" > "$work/server.log" 2>&1 &
server=$!
export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
for _ in $(seq 50); do curl -s -o /dev/null "$AWS_ENDPOINT_URL" && break; sleep 0.2; done
peaks=()
for n in 20000 200000; do
  python3 - "$n" > "$work/texts-$n.jsonl" <<'PY'
import sys
n = int(sys.argv[1])
for i in range(n):
    print('{"recordId": "t%07d", "prompt": "document %d about w%d w%d w%d"}' % (i, i, i % 997, i % 991, i % 983))
PY
  run=$("$bin/llmbo" --json submit --model amazon.titan-embed-text-v2:0 --bucket llmbo-local \
        --role arn:aws:iam::000000000000:role/llmbo-local --name "rss-$n" --embed --dimensions 256 \
        "$work/texts-$n.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["runUri"])')
  "$bin/llmbo" watch --interval 0.5 "$run" > /dev/null
  /usr/bin/time -f "%M" -o "$work/rss-$n" "$bin/llmbo" --json download "$run" --format npy --out "$work/v-$n.npy" > "$work/summary-$n.json"
  kib=$(cat "$work/rss-$n")
  size=$(stat -c %s "$work/v-$n.npy")
  echo "vectors=$n npy_bytes=$size peak_rss_kib=$kib $(cat "$work/summary-$n.json")"
  peaks+=("$kib")
done
python3 -c "print(f'10x the vectors: peak RSS x{${peaks[1]}/${peaks[0]}:.2f} ({${peaks[0]}//1024} MiB -> {${peaks[1]}//1024} MiB)')"
