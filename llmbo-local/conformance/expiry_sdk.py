"""Expiry, as the official `anthropic` and `openai` SDKs see it, against a llmbo-local whose
hour is a couple of milliseconds (so a batch's 24 hours pass while it is answered): what was
answered is kept, the rest is `expired` (Anthropic) or a `batch_expired` error line
(OpenAI), every request exactly once.

Needs ANTHROPIC_BASE_URL, OPENAI_BASE_URL (ending in /v1), and one API key in both
ANTHROPIC_API_KEY and OPENAI_API_KEY.
"""

import io
import json
import time

import anthropic
import openai
from checks import done, fail, ok

N = 30


def wait(poll, finished):
    for _ in range(1200):
        item = poll()
        if finished(item):
            return item
        time.sleep(0.05)
    fail("the batch ends")


claude = anthropic.Anthropic(max_retries=0)
params = {"model": "claude-3-haiku-20240307", "max_tokens": 50,
          "messages": [{"role": "user", "content": "Name a person."}]}
batch = claude.messages.batches.create(
    requests=[{"custom_id": f"r{i}", "params": params} for i in range(N)]
)
ended = wait(lambda: claude.messages.batches.retrieve(batch.id),
             lambda b: b.processing_status == "ended")
counts = ended.request_counts
if counts.expired == 0 or counts.succeeded + counts.expired != N:
    fail("Anthropic: some requests expire, each request counted once", counts)
kinds = {}
for entry in claude.messages.batches.results(batch.id):
    kinds[entry.result.type] = kinds.get(entry.result.type, 0) + 1
if kinds.get("expired") != counts.expired or sum(kinds.values()) != N:
    fail("Anthropic: the results hold one expired line per expired request", kinds, counts)
ok(f"Anthropic: {counts.succeeded} succeeded, {counts.expired} expired, one result each")

gpt = openai.OpenAI(max_retries=0)
lines = "".join(
    json.dumps({"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions",
                "body": {"model": "gpt-4o-mini", "messages": params["messages"]}}) + "\n"
    for i in range(N)
)
uploaded = gpt.files.create(file=("in.jsonl", io.BytesIO(lines.encode())), purpose="batch")
created = gpt.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions",
                             completion_window="24h")
ended = wait(lambda: gpt.batches.retrieve(created.id),
             lambda b: b.status in ("completed", "expired", "failed", "cancelled"))
counts = ended.request_counts
if ended.status != "expired" or not ended.expired_at or counts.completed + counts.failed != N:
    fail("OpenAI: the batch ends expired, each request counted once", ended)
errors = [json.loads(line) for line in gpt.files.content(ended.error_file_id).text.splitlines()]
expired = [e for e in errors if e["error"] and e["error"]["code"] == "batch_expired"]
answered = gpt.files.content(ended.output_file_id).text.splitlines() if ended.output_file_id else []
if len(expired) != counts.failed or len(answered) != counts.completed:
    fail("OpenAI: one batch_expired line per failed request, one output line per answer",
         len(expired), len(answered), counts)
ids = sorted([e["custom_id"] for e in errors] + [json.loads(a)["custom_id"] for a in answered])
if ids != sorted(f"r{i}" for i in range(N)):
    fail("OpenAI: every custom_id once across both files", ids)
ok(f"OpenAI: expired with {counts.completed} answered and {counts.failed} batch_expired lines")

done()
