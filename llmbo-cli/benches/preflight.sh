#!/usr/bin/env bash
# Wall time and peak RSS of `llmbo lint` (the whole preflight: every record held to its
# family's rules, the plan, the catalog and quota reads, CountTokens on a sample, the cost
# range) for 50,000 and 500,000 records, against a llmbo-local binary in its own process;
# and the ratios of the two. Half the records are raw Claude bodies, half neutral prompts.
#
#   bash llmbo-cli/benches/preflight.sh            # from the workspace root
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
echo '{"anthropic.claude-3-haiku-20240307-v1:0": {"input_per_1k": 0.000125, "output_per_1k": 0.000625}}' > "$work/prices.json"
stats=()
for n in 50000 500000; do
  python3 - "$n" > "$work/in-$n.jsonl" <<'PY'
import json, sys
n = int(sys.argv[1])
for i in range(n):
    text = "Extract every person named in article %d: Ada Lovelace met Charles Babbage in %d." % (i, 1800 + i % 60)
    if i % 2:
        print(json.dumps({"recordId": "r%07d" % i, "modelInput": {"anthropic_version": "bedrock-2023-05-31",
              "max_tokens": 300, "messages": [{"role": "user", "content": text}]}}))
    else:
        print(json.dumps({"recordId": "r%07d" % i, "prompt": text, "max_tokens": 300}))
PY
  /usr/bin/time -f "%e %M" -o "$work/time-$n" "$bin/llmbo" --json lint --model anthropic.claude-3-haiku-20240307-v1:0 \
      --prices "$work/prices.json" "$work/in-$n.jsonl" > "$work/report-$n.json"
  read -r secs kib < "$work/time-$n"
  jobs=$(python3 -c "import json; r=json.load(open('$work/report-$n.json')); print(len(r['jobs']), r['findings']['groups'] == [], r['tokens']['calibrated'])")
  echo "records=$n bytes=$(stat -c %s "$work/in-$n.jsonl") seconds=$secs peak_rss_kib=$kib jobs,clean,calibrated=$jobs"
  stats+=("$secs" "$kib")
done
python3 -c "print(f'10x the records: time x{${stats[2]}/${stats[0]}:.2f} ({${stats[0]}} s -> {${stats[2]}} s), peak RSS x{${stats[3]}/${stats[1]}:.2f} ({${stats[1]}//1024} MiB -> {${stats[3]}//1024} MiB)')"
