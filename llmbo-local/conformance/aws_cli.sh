#!/usr/bin/env bash
# The AWS CLI (v1, from PyPI) and boto3 against llmbo-local, as a user drives them: every line
# printed is one check, and the first that fails stops the script with exit 1.
#
# Needs: AWS (the `aws` program), PYTHON (a python with boto3), BUCKET, ROLE_ARN, and the
# usual AWS_ENDPOINT_URL / AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_REGION /
# AWS_CONFIG_FILE (with `s3 = addressing_style = path`) pointing at the server.
set -uo pipefail

: "${AWS:?}" "${PYTHON:?}" "${BUCKET:?}" "${ROLE_ARN:?}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
checks=0

fail() {
  echo "FAILED: $1" >&2
  shift
  for detail in "$@"; do echo "  $detail" >&2; done
  exit 1
}

ok() {
  checks=$((checks + 1))
  echo "ok $checks - $1"
}

# Runs the CLI; its output is in $out, its exit code in $code.
cli() {
  out=$("$AWS" "$@" 2>&1)
  code=$?
}

expect_success() {
  local what=$1
  shift
  cli "$@"
  [ "$code" = 0 ] || fail "$what" "aws $*" "$out"
  ok "$what"
}

expect_error() {
  local what=$1 needle=$2
  shift 2
  cli "$@"
  [ "$code" != 0 ] || fail "$what (it succeeded)" "aws $*" "$out"
  grep -q -- "$needle" <<<"$out" || fail "$what (not '$needle')" "aws $*" "$out"
  ok "$what"
}

# --- S3 ---
expect_success "mb of a bucket we own (us-east-1: 200)" s3 mb "s3://$BUCKET"

"$PYTHON" - "$work/big.bin" <<'EOF'
import sys
# 12 MiB of varied bytes: over the CLI's 8 MB multipart threshold.
with open(sys.argv[1], "wb") as f:
    f.write(bytes(i % 251 for i in range(12 * 1024 * 1024)))
EOF
expect_success "cp up over 8 MB (multipart)" s3 cp "$work/big.bin" "s3://$BUCKET/cli/big.bin"
expect_success "cp S3 to S3 over 8 MB (UploadPartCopy)" s3 cp "s3://$BUCKET/cli/big.bin" "s3://$BUCKET/cli/copy.bin"
expect_success "cp down" s3 cp "s3://$BUCKET/cli/copy.bin" "$work/down.bin"
cmp -s "$work/big.bin" "$work/down.bin" || fail "the copy read back is the file sent"
ok "the copy read back is the file sent, byte for byte"

echo "odd" >"$work/odd.txt"
expect_success "cp to a key with + and a space" s3 cp "$work/odd.txt" "s3://$BUCKET/cli/odd/a+b c.txt"
cli s3 ls "s3://$BUCKET/cli/odd/"
grep -q "a+b c.txt" <<<"$out" || fail "ls shows the key as it was written" "$out"
ok "ls shows 'a+b c.txt' as it was written (EncodingType=url decoded)"

# S3's longest key, 1,024 bytes with segments over a file name's 255: up as a multipart
# upload, listed, down, removed.
long="cli/long/$(printf 'L%.0s' $(seq 300))/$(printf 'M%.0s' $(seq 300))/$(printf 'N%.0s' $(seq 409)).bin"
[ "${#long}" = 1024 ] || fail "the long key is 1,024 bytes (${#long})"
expect_success "cp up over 8 MB to a 1,024-byte key" s3 cp "$work/big.bin" "s3://$BUCKET/$long"
cli s3 ls --recursive "s3://$BUCKET/cli/long/"
grep -q "$long" <<<"$out" || fail "ls shows the 1,024-byte key" "$out"
ok "ls shows the 1,024-byte key"
expect_success "cp down from a 1,024-byte key" s3 cp "s3://$BUCKET/$long" "$work/long.bin"
cmp -s "$work/big.bin" "$work/long.bin" || fail "the long key's object read back is the file sent"
ok "the long key's object read back is the file sent, byte for byte"
expect_success "rm of a 1,024-byte key" s3 rm "s3://$BUCKET/$long"
cli s3 ls --recursive "s3://$BUCKET/cli/long/"
[ -z "$out" ] || fail "nothing is left under cli/long/" "$out"
ok "nothing is left under cli/long/"

expect_success "mb of a new bucket" s3 mb "s3://cli-scratch-bucket"
expect_error "rb of a bucket with an object is refused" "BucketNotEmpty" \
  s3api delete-bucket --bucket "$BUCKET"
expect_success "rb of the new, empty bucket" s3 rb "s3://cli-scratch-bucket"
expect_error "the removed bucket is gone" "404\|Not Found\|NoSuchBucket" s3api head-bucket --bucket cli-scratch-bucket

expect_success "rm --recursive" s3 rm --recursive "s3://$BUCKET/cli/"
cli s3 ls "s3://$BUCKET/cli/"
[ -z "$out" ] || fail "nothing is left under the prefix" "$out"
ok "nothing is left under the removed prefix"

# --- Bedrock ---
"$PYTHON" - "$work/input.jsonl" <<'EOF'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(100):
        f.write(json.dumps({"recordId": f"CLI{i:05}", "modelInput": {
            "anthropic_version": "bedrock-2023-05-31", "max_tokens": 64,
            "messages": [{"role": "user", "content": [{"type": "text", "text": f"Hello {i}"}]}]}}) + "\n")
EOF
expect_success "cp of a job's input" s3 cp "$work/input.jsonl" "s3://$BUCKET/cli-jobs/input.jsonl"
model="anthropic.claude-3-haiku-20240307-v1:0"
input="{\"s3InputDataConfig\":{\"s3Uri\":\"s3://$BUCKET/cli-jobs/input.jsonl\"}}"
output="{\"s3OutputDataConfig\":{\"s3Uri\":\"s3://$BUCKET/cli-jobs/output/\"}}"
create() {
  cli bedrock create-model-invocation-job --job-name "$1" --client-request-token "$2" \
    --model-id "${3:-$model}" --role-arn "$ROLE_ARN" \
    --input-data-config "$input" --output-data-config "$output" \
    --tags key=team,value=cli --query jobArn --output text
}
create cli-job token-one
[ "$code" = 0 ] || fail "create a job" "$out"
arn=$out
ok "create a job ($arn)"
create cli-job token-one
[ "$code" = 0 ] && [ "$out" = "$arn" ] || fail "the same token gives the same ARN" "$out"
ok "the same name and token give the same ARN"
create cli-job token-two
[ "$code" != 0 ] && grep -q "currently in use" <<<"$out" || fail "the same name with another token is refused" "$out"
ok "the same name with another token is refused"
create cli-unknown token-three "anthropic.claude-no-such-model-v9:0"
[ "$code" != 0 ] && grep -q "ValidationException\|ResourceNotFound" <<<"$out" || fail "an unknown model is refused" "$out"
ok "an unknown model is refused"

status=""
for _ in $(seq 1 300); do
  cli bedrock get-model-invocation-job --job-identifier "$arn" --query status --output text
  status=$out
  case "$status" in Completed | Failed | Stopped | PartiallyCompleted | Expired) break ;; esac
  sleep 0.1
done
[ "$status" = Completed ] || fail "the job is polled to Completed" "$status"
ok "the job is polled to Completed"
id=${arn##*/}
cli s3 ls "s3://$BUCKET/cli-jobs/output/$id/"
grep -q "input.jsonl.out" <<<"$out" && grep -q "manifest.json.out" <<<"$out" || fail "the output layout" "$out"
ok "the output is <output>/<job id>/input.jsonl.out and manifest.json.out"
cli s3 cp "s3://$BUCKET/cli-jobs/output/$id/input.jsonl.out" -
lines=$(grep -c '"recordId"' <<<"$out")
[ "$lines" = 100 ] || fail "100 output lines" "$lines"
ok "100 output lines"

expect_error "stopping a completed job is refused" "State was: Completed" \
  bedrock stop-model-invocation-job --job-identifier "$arn"
expect_success "tag a job" bedrock tag-resource --resource-arn "$arn" --tags key=stage,value=test
cli bedrock list-tags-for-resource --resource-arn "$arn" --output json
grep -q '"team"' <<<"$out" && grep -q '"stage"' <<<"$out" || fail "list tags" "$out"
ok "list tags shows the create-time and the added tag"

for i in 1 2 3; do
  create "cli-more-$i" "token-more-$i"
  [ "$code" = 0 ] || fail "create job $i" "$out"
done
cli bedrock list-model-invocation-jobs --max-results 1 --no-paginate --output json
grep -q '"nextToken"' <<<"$out" || fail "--max-results 1 gives a nextToken" "$out"
ok "list with --max-results 1 gives a nextToken"
cli bedrock list-model-invocation-jobs --page-size 1 --query 'invocationJobSummaries[].jobName' --output text
names=$(tr '\t' '\n' <<<"$out" | sort)
[ "$(wc -l <<<"$names")" = 4 ] && [ -z "$(uniq -d <<<"$names")" ] || fail "paging collects every job once" "$out"
ok "paging one job at a time collects all 4 jobs, each once"

# --- Signatures ---
out=$(AWS_SECRET_ACCESS_KEY=wrong "$AWS" bedrock list-model-invocation-jobs 2>&1)
[ $? != 0 ] && grep -qi "signature" <<<"$out" || fail "a wrong secret is refused" "$out"
ok "a wrong secret is refused"
out=$(AWS_SECRET_ACCESS_KEY=wrong "$AWS" s3 ls "s3://$BUCKET" 2>&1)
[ $? != 0 ] && grep -qi "SignatureDoesNotMatch\|signature" <<<"$out" || fail "a wrong secret is refused by S3" "$out"
ok "a wrong secret is refused by S3 too"
out=$("$PYTHON" - <<'EOF' 2>&1
import datetime
import boto3, botocore.auth, botocore.compat, botocore.exceptions
# Sign as if the clock were 20 minutes behind.
now = botocore.compat.get_current_datetime
botocore.auth.get_current_datetime = lambda *a, **k: now(*a, **k) - datetime.timedelta(minutes=20)
client = boto3.client("bedrock")
try:
    client.list_model_invocation_jobs()
    print("accepted")
except botocore.exceptions.ClientError as err:
    print(err.response["Error"]["Code"], err.response["Error"].get("Message", ""))
EOF
)
grep -q "expired\|Expired\|InvalidSignature" <<<"$out" || fail "a request signed 20 minutes ago is refused" "$out"
ok "a request signed 20 minutes ago is refused ($out)"

# The README's role set-up, scripted with the AWS CLI.
trust='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"bedrock.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
cli iam create-role --role-name CliBatchRole --assume-role-policy-document "$trust" --query Role.Arn --output text
[ "$code" = 0 ] && [[ "$out" == arn:aws:iam::*:role/CliBatchRole ]] || fail "iam create-role gives the role's ARN" "$out"
ok "iam create-role ($out)"
expect_success "iam put-role-policy" iam put-role-policy --role-name CliBatchRole --policy-name s3 \
  --policy-document '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}'
cli iam get-role --role-name CliBatchRole --query Role.RoleName --output text
[ "$code" = 0 ] && [ "$out" = CliBatchRole ] || fail "iam get-role finds the new role" "$out"
ok "iam get-role finds the new role"
expect_success "iam delete-role-policy" iam delete-role-policy --role-name CliBatchRole --policy-name s3
expect_success "iam delete-role" iam delete-role --role-name CliBatchRole
cli iam get-role --role-name CliBatchRole
[ "$code" != 0 ] && grep -q NoSuchEntity <<<"$out" || fail "a deleted role is NoSuchEntity" "$out"
ok "a deleted role is NoSuchEntity"

# Conditional reads, as S3 answers them.
printf 'cond' >"$work/cond.txt"
cli s3api put-object --bucket "$BUCKET" --key cond.txt --body "$work/cond.txt" --query ETag --output text
[ "$code" = 0 ] || fail "put cond.txt" "$out"
etag=$out
cli s3api get-object --bucket "$BUCKET" --key cond.txt --if-none-match "$etag" "$work/cond.out"
[ "$code" != 0 ] && grep -q "304" <<<"$out" || fail "GET with If-None-Match of the ETag is 304" "$out"
ok "GET with If-None-Match of the ETag is 304"
cli s3api get-object --bucket "$BUCKET" --key cond.txt --if-match '"0123456789abcdef0123456789abcdef"' "$work/cond.out"
[ "$code" != 0 ] && grep -q "412\|PreconditionFailed" <<<"$out" || fail "GET with another If-Match is 412" "$out"
ok "GET with another If-Match is 412"

echo "all $checks checks passed"
