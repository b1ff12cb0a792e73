"""The official `anthropic` Python SDK against llmbo-local's Message Batches API, as a user
drives it: create, poll, list, results, cancel, delete, and the errors it must raise. Every line
printed is one check; the first that fails stops the script with exit 1.

Needs ANTHROPIC_BASE_URL (the server) and ANTHROPIC_API_KEY (its API key), and a server that
answers slowly enough (10 ms a request) that a cancel lands while a batch is being answered.
"""

import time

import anthropic
from checks import done, fail, ok, refused

MODEL = "claude-3-haiku-20240307"


def requests(n, prefix="req"):
    return [
        {
            "custom_id": f"{prefix}-{i:03d}",
            "params": {
                "model": MODEL,
                "max_tokens": 200,
                "messages": [{"role": "user", "content": f"Name {i} people."}],
            },
        }
        for i in range(n)
    ]


def wait_ended(client, batch_id):
    for _ in range(1200):
        batch = client.messages.batches.retrieve(batch_id)
        if batch.processing_status == "ended":
            return batch
        time.sleep(0.05)
    fail("the batch ends", batch_id)


client = anthropic.Anthropic(max_retries=0)

# --- a batch from create to results ---
batch = client.messages.batches.create(requests=requests(30))
if not batch.id.startswith("msgbatch_") or batch.processing_status != "in_progress":
    fail("create answers an in_progress batch", batch)
if batch.request_counts.processing != 30 or batch.results_url is not None:
    fail("a new batch counts 30 processing and has no results yet", batch)
ok("create: an in_progress batch, 30 processing, no results_url")

ended = wait_ended(client, batch.id)
counts = ended.request_counts
if (counts.succeeded, counts.errored, counts.processing) != (30, 0, 0):
    fail("every request succeeds", counts)
if ended.ended_at is None or not ended.results_url:
    fail("an ended batch has ended_at and results_url", ended)
ok("retrieve: ended, 30 succeeded, with ended_at and results_url")

results = list(client.messages.batches.results(batch.id))
ids = sorted(r.custom_id for r in results)
if ids != [f"req-{i:03d}" for i in range(30)]:
    fail("results: every custom_id once", ids)
for entry in results:
    if entry.result.type != "succeeded":
        fail("each result succeeded", entry)
    message = entry.result.message
    if message.model != MODEL or message.role != "assistant" or not message.content:
        fail("each result is a Message of the model asked", message)
    if message.usage.input_tokens <= 0 or message.usage.output_tokens <= 0:
        fail("each result counts its tokens", message.usage)
ok("results: 30 Messages, each custom_id once, with usage")

page = client.messages.batches.list(limit=10)
if batch.id not in [b.id for b in page.data]:
    fail("list shows the batch", page)
ok("list: the batch is there")

# --- a forced tool: the answer is a tool_use block with the tool's input ---
tool = {
    "name": "Person",
    "description": "A person named in the text.",
    "input_schema": {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name"],
    },
}
tooled = client.messages.batches.create(
    requests=[
        {
            "custom_id": "tool-1",
            "params": {
                "model": MODEL,
                "max_tokens": 300,
                "tools": [tool],
                "tool_choice": {"type": "tool", "name": "Person"},
                "messages": [{"role": "user", "content": "Ada Lovelace was 36."}],
            },
        }
    ]
)
wait_ended(client, tooled.id)
(entry,) = list(client.messages.batches.results(tooled.id))
blocks = [b for b in entry.result.message.content if b.type == "tool_use"]
if len(blocks) != 1 or blocks[0].name != "Person" or "name" not in blocks[0].input:
    fail("a forced tool answers with its tool_use block", entry)
ok("a forced tool: one tool_use block of the tool, with its required field")

# --- cancel: what was not answered is canceled ---
slow = client.messages.batches.create(requests=requests(40, "slow"))
canceling = client.messages.batches.cancel(slow.id)
if canceling.processing_status not in ("canceling", "ended"):
    fail("cancel answers a canceling batch", canceling)
ended = wait_ended(client, slow.id)
counts = ended.request_counts
if counts.canceled == 0 or counts.succeeded + counts.canceled != 40:
    fail("a canceled batch counts canceled requests, and every request once", counts)
kinds = {}
for entry in client.messages.batches.results(slow.id):
    kinds[entry.result.type] = kinds.get(entry.result.type, 0) + 1
if kinds.get("canceled") != counts.canceled or sum(kinds.values()) != 40:
    fail("the results of a canceled batch match its counts", kinds, counts)
ok(f"cancel: {counts.canceled} canceled, {counts.succeeded} succeeded, one result each")

deleted = client.messages.batches.delete(slow.id)
if deleted.type != "message_batch_deleted":
    fail("delete of an ended batch", deleted)
refused(anthropic.NotFoundError, lambda: client.messages.batches.retrieve(slow.id),
        "delete: the ended batch is gone; retrieving it")

all_at_once = [b.id for b in client.messages.batches.list(limit=100)]
one_by_one = [b.id for b in client.messages.batches.list(limit=1)]  # the SDK follows after_id
if one_by_one != all_at_once or len(all_at_once) != 2:
    fail("list pages one batch at a time, newest first, each batch once", one_by_one, all_at_once)
ok("list: pages of one, followed by after_id, give every batch once, newest first")

# --- what the API refuses ---
params = requests(1)[0]["params"]
for bad, why in [
    ([{"custom_id": "a" * 65, "params": params}], "a 65-character custom_id"),
    ([{"custom_id": "has space", "params": params}], "a custom_id with a space"),
    (requests(1) + requests(1), "a custom_id given twice"),
    ([{"custom_id": "x", "params": {"model": MODEL, "max_tokens": 5}}], "params without messages"),
]:
    refused(anthropic.BadRequestError,
            lambda bad=bad: client.messages.batches.create(requests=bad), why)
refused(anthropic.AuthenticationError,
        lambda: anthropic.Anthropic(api_key="wrong", max_retries=0).messages.batches.list(),
        "a wrong API key")
refused(anthropic.NotFoundError,
        lambda: client.messages.batches.retrieve("msgbatch_nosuchbatch"), "an unknown batch")

done()
