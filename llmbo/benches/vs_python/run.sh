#!/usr/bin/env bash
# llmbo against the Python original (PyPI llmbo-bedrock 0.2.4), both through boto3 / the Rust
# SDK against one llmbo-local binary, the same 50,000 structured Claude records, the single-job
# steps: prepare+push, download+load, peak RSS. Prints both sides and the ratios.
#   bash llmbo/benches/vs_python/run.sh [records]
set -euo pipefail
cd "$(dirname "$0")/../../.."
records="${1:-50000}"
venv="${LLMBO_CONFORMANCE_VENV:-$PWD/target/conformance-venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q llmbo-bedrock==0.2.4
fi
cargo build --release -q -p llmbo-local --bin llmbo-local
cargo build --release -q -p llmbo --example vs_python
port=$((20000 + RANDOM % 20000))
./target/release/llmbo-local --port "$port" >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null' EXIT
sleep 1
config=$(mktemp)
printf '[default]\ns3 =\n    addressing_style = path\n' > "$config"
export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
  AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_PROFILE=default AWS_CONFIG_FILE="$config" \
  AWS_SHARED_CREDENTIALS_FILE=/nonexistent AWS_EC2_METADATA_DISABLED=true
rust=$(./target/release/examples/vs_python "$records")
python=$("$venv/bin/python" llmbo/benches/vs_python/original.py "$records" 2>/dev/null)
echo "$rust"
echo "$python"
python3 - "$rust" "$python" <<'PY'
import json, sys
r, p = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"prepare+push: llmbo x{p['prepare_push_s'] / r['prepare_push_s']:.1f} faster")
print(f"download+load: llmbo x{p['download_load_s'] / r['download_load_s']:.1f} faster")
print(f"peak RSS: llmbo {r['peak_rss_kib'] / p['peak_rss_kib']:.2f} of the original's")
PY
