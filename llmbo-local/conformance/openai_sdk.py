"""The official `openai` Python SDK against llmbo-local's Files and Batch APIs, as a user drives
them: upload, create, poll, read the output and error files, list, cancel, and the refusals
it must raise. Every line printed is one check; the first that fails stops the script with
exit 1.

Needs OPENAI_BASE_URL (the server, ending in /v1) and OPENAI_API_KEY (its API key), and a
server that answers slowly enough (10 ms a request) that a cancel lands while a batch runs.
"""

import io
import json
import time

import openai
from checks import done, fail, ok, refused

MODEL = "gpt-4o-mini"


def jsonl(n, prefix="req", url="/v1/chat/completions"):
    lines = [
        json.dumps(
            {
                "custom_id": f"{prefix}-{i:03d}",
                "method": "POST",
                "url": url,
                "body": {
                    "model": MODEL,
                    "max_completion_tokens": 200,
                    "messages": [{"role": "user", "content": f"Name {i} people."}],
                },
            }
        )
        for i in range(n)
    ]
    return io.BytesIO(("\n".join(lines) + "\n").encode())


def wait_done(client, batch_id):
    for _ in range(1200):
        batch = client.batches.retrieve(batch_id)
        if batch.status in ("completed", "failed", "expired", "cancelled"):
            return batch
        time.sleep(0.05)
    fail("the batch ends", batch_id)


client = openai.OpenAI(max_retries=0)

uploaded = client.files.create(file=("requests.jsonl", jsonl(30)), purpose="batch")
if not uploaded.id.startswith("file-") or uploaded.purpose != "batch" or uploaded.bytes <= 0:
    fail("upload answers a batch file", uploaded)
ok("files.create: a batch file with its size")

batch = client.batches.create(
    input_file_id=uploaded.id,
    endpoint="/v1/chat/completions",
    completion_window="24h",
    metadata={"run": "conformance"},
)
if batch.status not in ("validating", "in_progress") or batch.metadata != {"run": "conformance"}:
    fail("create answers a validating batch with its metadata", batch)
ok("batches.create: validating, metadata kept")

finished = wait_done(client, batch.id)
counts = finished.request_counts
if finished.status != "completed" or (counts.total, counts.completed, counts.failed) != (30, 30, 0):
    fail("every request completes", finished)
if not finished.output_file_id or finished.error_file_id or not finished.completed_at:
    fail("a completed batch has an output file, no error file, and completed_at", finished)
ok("retrieve: completed, 30 of 30, an output file and completed_at")

lines = [json.loads(line) for line in client.files.content(finished.output_file_id).text.splitlines()]
ids = sorted(line["custom_id"] for line in lines)
if ids != [f"req-{i:03d}" for i in range(30)]:
    fail("the output file: every custom_id once", ids)
for line in lines:
    response = line["response"]
    body = response["body"]
    if response["status_code"] != 200 or line["error"] is not None:
        fail("each output line is a 200", line)
    if body["object"] != "chat.completion" or body["model"] != MODEL:
        fail("each body is a chat completion of the model asked", body)
    if not body["choices"][0]["message"]["content"] or body["usage"]["total_tokens"] <= 0:
        fail("each completion has text and usage", body)
ok("files.content: 30 chat completions, each custom_id once, with usage")

listed = [b.id for b in client.batches.list(limit=100)]
one_by_one = [b.id for b in client.batches.list(limit=1)]  # the SDK follows `after`
if batch.id not in listed or one_by_one != listed:
    fail("list pages one batch at a time, each once", one_by_one, listed)
ok("batches.list: the batch, and pages of one give the same list")

# --- the Responses API: each body is a Response the SDK's own model takes ---
from openai.types.responses import Response  # noqa: E402

responses = io.BytesIO(
    (
        "\n".join(
            json.dumps(
                {
                    "custom_id": f"resp-{i:03d}",
                    "method": "POST",
                    "url": "/v1/responses",
                    "body": {
                        "model": MODEL,
                        "instructions": "Extract the person.",
                        "input": [{"role": "user", "content": f"Person {i} is {20 + i}."}],
                        "max_output_tokens": 200,
                        "text": {"format": {"type": "json_schema", "name": "Person", "strict": True,
                                            "schema": {"type": "object",
                                                       "properties": {"name": {"type": "string"}},
                                                       "required": ["name"],
                                                       "additionalProperties": False}}},
                    }
                    if i % 2 == 0
                    else {
                        "model": MODEL,
                        "input": f"Person {i} is {20 + i}.",
                        "tools": [{"type": "function", "name": "Person", "strict": False,
                                   "parameters": {"type": "object",
                                                  "properties": {"name": {"type": "string"}}}}],
                        "tool_choice": {"type": "function", "name": "Person"},
                    },
                }
            )
            for i in range(10)
        )
        + "\n"
    ).encode()
)
responses_file = client.files.create(file=("responses.jsonl", responses), purpose="batch")
responses_batch = client.batches.create(
    input_file_id=responses_file.id, endpoint="/v1/responses", completion_window="24h"
)
responses_batch = wait_done(client, responses_batch.id)
if responses_batch.status != "completed" or responses_batch.request_counts.completed != 10:
    fail("a batch of responses completes", responses_batch)
lines = client.files.content(responses_batch.output_file_id).text.splitlines()
for line in map(json.loads, lines):
    parsed = Response.model_validate(line["response"]["body"])
    if parsed.status != "completed" or parsed.usage is None or parsed.usage.output_tokens <= 0:
        fail("each response is completed, with usage", parsed)
    i = int(line["custom_id"].split("-")[1])
    if i % 2 == 0:
        if not parsed.output_text or "name" not in json.loads(parsed.output_text):
            fail("a json_schema response's output_text is the object", parsed)
    else:
        call = parsed.output[0]
        if call.type != "function_call" or call.name != "Person" or "name" not in json.loads(call.arguments):
            fail("a forced function is called with its arguments", parsed)
ok("/v1/responses: 10 responses, each a Response the SDK validates (output_text, function_call)")
chat_body_file = client.files.create(
    file=("chat-to-responses.jsonl", jsonl(1, "mixed", url="/v1/responses")), purpose="batch"
)
mixed = client.batches.create(
    input_file_id=chat_body_file.id, endpoint="/v1/responses", completion_window="24h"
)
mixed = wait_done(client, mixed.id)
errors = [json.loads(line) for line in client.files.content(mixed.error_file_id).text.splitlines()]
if len(errors) != 1 or errors[0]["response"]["status_code"] != 400:
    fail("a chat completions body sent to /v1/responses is a 400", errors)
ok("/v1/responses: a chat completions body (messages) is refused with a 400")

# --- a bad line fails the batch, naming its line ---
bad = io.BytesIO(
    (json.dumps({"custom_id": "a", "method": "POST", "url": "/v1/chat/completions",
                 "body": {"model": MODEL, "messages": []}}) + "\nnot json\n").encode()
)
bad_file = client.files.create(file=("bad.jsonl", bad), purpose="batch")
failed = client.batches.create(
    input_file_id=bad_file.id, endpoint="/v1/chat/completions", completion_window="24h"
)
failed = wait_done(client, failed.id)
if failed.status != "failed" or not failed.errors or failed.errors.data[0].line != 2:
    fail("a line that is not JSON fails the batch, naming line 2", failed)
ok("a bad line: the batch fails, its error naming line 2")

# --- cancel: what was answered stays, the rest is not ---
slow_file = client.files.create(file=("slow.jsonl", jsonl(40, "slow")), purpose="batch")
slow = client.batches.create(
    input_file_id=slow_file.id, endpoint="/v1/chat/completions", completion_window="24h"
)
time.sleep(0.1)
cancelling = client.batches.cancel(slow.id)
if cancelling.status not in ("cancelling", "cancelled"):
    fail("cancel answers a cancelling batch", cancelling)
cancelled = wait_done(client, slow.id)
counts = cancelled.request_counts
if cancelled.status != "cancelled" or not 0 < counts.completed < 40:
    fail("a cancelled batch answered some requests, not all", cancelled)
kept = client.files.content(cancelled.output_file_id).text.splitlines()
if len(kept) != counts.completed:
    fail("the output of a cancelled batch holds what was answered", len(kept), counts)
ok(f"cancel: cancelled after {counts.completed} of 40, each answered once in the output")

# --- what the API refuses ---
refused(
    openai.NotFoundError,
    lambda: client.batches.create(input_file_id="file-nosuchfile",
                                  endpoint="/v1/chat/completions", completion_window="24h"),
    "an unknown input file",
)
refused(
    openai.BadRequestError,
    lambda: client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions",
                                  completion_window="48h"),
    "a completion window other than 24h",
)
refused(openai.ConflictError, lambda: client.batches.cancel(batch.id),
        "cancel of a completed batch")
refused(openai.AuthenticationError,
        lambda: openai.OpenAI(api_key="wrong", max_retries=0).batches.list(),
        "a wrong API key")

deleted = client.files.delete(uploaded.id)
if not deleted.deleted:
    fail("a file is deleted", deleted)
ok("files.delete: deleted")
refused(openai.NotFoundError, lambda: client.files.retrieve(uploaded.id), "a deleted file")

done()
