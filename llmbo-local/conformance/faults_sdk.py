"""Call faults, as the official `anthropic` and `openai` SDKs see them: on a llmbo-local that
throttles 30% of the batch APIs' calls (429 with `retry-after-ms`) the SDKs' own retries wait
them out and a batch goes from create to results; with retries off, a throttled call is
`RateLimitError`, and an injected 500 on create is `InternalServerError`.

Needs ANTHROPIC_BASE_URL, OPENAI_BASE_URL (ending in /v1), one API key in both
ANTHROPIC_API_KEY and OPENAI_API_KEY, and a server whose first CreateMessageBatch and first
CreateBatch answer 500.
"""

import io
import json
import time

import anthropic
import openai
from checks import done, fail, ok

N = 20


def wait(poll, finished):
    for _ in range(1200):
        item = poll()
        if finished(item):
            return item
        time.sleep(0.02)
    fail("the batch ends")


def first_error(call):
    """The exception `call()` raises, or None."""
    try:
        call()
    except Exception as error:  # noqa: BLE001 - the SDK's own error is the check
        return error
    return None


def past_throttling(call, rate_limit_error):
    """What `call()` raises once it is not throttled (throttling is decided first)."""
    for _ in range(50):
        error = first_error(call)
        if not isinstance(error, rate_limit_error):
            return error
    fail("a call gets past throttling")


# --- Anthropic ---
strict = anthropic.Anthropic(max_retries=0)
patient = anthropic.Anthropic(max_retries=8)
requests = [
    {
        "custom_id": f"c-{i:02d}",
        "params": {
            "model": "claude-3-haiku-20240307",
            "max_tokens": 100,
            "messages": [{"role": "user", "content": f"Name {i} people."}],
        },
    }
    for i in range(N)
]
error = past_throttling(
    lambda: strict.messages.batches.create(requests=requests), anthropic.RateLimitError
)
if not isinstance(error, anthropic.InternalServerError):
    fail("the injected 500 on create is InternalServerError", repr(error))
ok("anthropic: a 500 on create is InternalServerError")

batch = patient.messages.batches.create(requests=requests)
ended = wait(
    lambda: patient.messages.batches.retrieve(batch.id),
    lambda b: b.processing_status == "ended",
)
ids = sorted(r.custom_id for r in patient.messages.batches.results(batch.id))
if ids != [f"c-{i:02d}" for i in range(N)]:
    fail("every request has one result", ids)
ok("anthropic: throttled calls are waited out; create, retrieve and results")

throttled = None
for _ in range(50):
    throttled = first_error(lambda: strict.messages.batches.retrieve(batch.id))
    if throttled is not None:
        break
if not isinstance(throttled, anthropic.RateLimitError):
    fail("a throttled call is RateLimitError", repr(throttled))
if throttled.response.headers.get("retry-after-ms") != "20":
    fail("the 429 says when to come back", dict(throttled.response.headers))
ok("anthropic: a throttled call is RateLimitError with retry-after-ms")

# --- OpenAI ---
strict = openai.OpenAI(max_retries=0)
patient = openai.OpenAI(max_retries=8)
lines = "".join(
    json.dumps(
        {
            "custom_id": f"o-{i:02d}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {
                "model": "gpt-4o-mini",
                "messages": [{"role": "user", "content": f"Name {i} people."}],
            },
        }
    )
    + "\n"
    for i in range(N)
)
upload = patient.files.create(file=("in.jsonl", io.BytesIO(lines.encode())), purpose="batch")


def create(client):
    return client.batches.create(
        input_file_id=upload.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
    )


error = past_throttling(lambda: create(strict), openai.RateLimitError)
if not isinstance(error, openai.InternalServerError):
    fail("the injected 500 on create is InternalServerError", repr(error))
ok("openai: a 500 on create is InternalServerError")

batch = create(patient)
ended = wait(lambda: patient.batches.retrieve(batch.id), lambda b: b.status == "completed")
content = patient.files.content(ended.output_file_id).text
ids = sorted(json.loads(line)["custom_id"] for line in content.splitlines() if line)
if ids != [f"o-{i:02d}" for i in range(N)]:
    fail("every request has one output line", ids)
ok("openai: throttled calls are waited out; upload, create, retrieve and content")

throttled = None
for _ in range(50):
    throttled = first_error(lambda: strict.batches.retrieve(batch.id))
    if throttled is not None:
        break
if not isinstance(throttled, openai.RateLimitError):
    fail("a throttled call is RateLimitError", repr(throttled))
ok("openai: a throttled call is RateLimitError")

done()
