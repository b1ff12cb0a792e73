"""The official `google-genai` Python SDK against llmbo-local's Gemini batch API, as a user
drives it: inline and file batches from create to results, list and its pages, cancel,
delete, and the errors it must raise. Every line printed is one check; the first that fails
stops the script with exit 1.

Needs GOOGLE_GEMINI_BASE_URL (the server) and GEMINI_API_KEY (its API key), and a server that
answers slowly enough (10 ms a request) that a cancel lands while a batch is being answered.
"""

import io
import json
import os
import time

from google import genai
from google.genai import errors
from checks import done, fail, ok

MODEL = "gemini-2.5-flash"
client = genai.Client(
    api_key=os.environ["GEMINI_API_KEY"],
    http_options={"base_url": os.environ["GOOGLE_GEMINI_BASE_URL"]},
)


def request(i, prefix="k"):
    return {
        "contents": [{"role": "user", "parts": [{"text": f"Name {i} people."}]}],
        "metadata": {"key": f"{prefix}-{i:03d}"},
        "config": {"max_output_tokens": 200},
    }


def wait(name, states=("JOB_STATE_SUCCEEDED", "JOB_STATE_CANCELLED", "JOB_STATE_FAILED", "JOB_STATE_EXPIRED")):
    for _ in range(1200):
        job = client.batches.get(name=name)
        if job.state is not None and job.state.name in states:
            return job
        time.sleep(0.05)
    fail("the batch ends", name)


# --- inline requests, from create to results ---
job = client.batches.create(
    model=MODEL, src=[request(i) for i in range(20)], config={"display_name": "inline"}
)
if not job.name.startswith("batches/") or job.state.name != "JOB_STATE_PENDING":
    fail("create answers a pending batch", job)
if job.display_name != "inline" or not job.model.endswith(MODEL):
    fail("the batch keeps its display name and model", job)
ok("create (inline): a pending batch named batches/…, with its display name and model")

ended = wait(job.name)
if ended.state.name != "JOB_STATE_SUCCEEDED" or ended.end_time is None:
    fail("the batch succeeds, with an end time", ended)
responses = ended.dest.inlined_responses
keys = [r.metadata["key"] for r in responses]
if keys != [f"k-{i:03d}" for i in range(20)]:
    fail("every request has one inline response, in order, with its key", keys)
texts = [r.response.text for r in responses]
if not all(texts) or any(r.response.usage_metadata.prompt_token_count < 1 for r in responses):
    fail("each response has text and usage", responses[0])
ok("get: succeeded; 20 inline responses in input order, each with text and usage")

# --- structured output and a forced function ---
schema = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name"],
}
structured = client.batches.create(
    model=MODEL,
    src=[
        {
            "contents": [{"role": "user", "parts": [{"text": "Ada is 36."}]}],
            "config": {"response_mime_type": "application/json", "response_json_schema": schema},
        },
        {
            "contents": [{"role": "user", "parts": [{"text": "Ada is 36."}]}],
            "config": {
                "tools": [{"function_declarations": [{"name": "Person", "description": "A person.", "parameters_json_schema": schema}]}],
                "tool_config": {"function_calling_config": {"mode": "ANY", "allowed_function_names": ["Person"]}},
            },
        },
    ],
)
ended = wait(structured.name)
as_json, as_call = ended.dest.inlined_responses
answer = json.loads(as_json.response.text)
if not isinstance(answer.get("name"), str):
    fail("a JSON-schema answer is JSON of the schema", as_json.response.text)
calls = as_call.response.function_calls
if not calls or calls[0].name != "Person" or not isinstance(calls[0].args.get("name"), str):
    fail("a forced function is called with arguments of its schema", as_call.response)
ok("structured output: JSON of the schema; the forced function called with its arguments")

# --- a file of requests ---
lines = "".join(
    json.dumps({"key": f"f-{i:03d}", "request": {"contents": [{"role": "user", "parts": [{"text": f"Text {i}."}]}]}}) + "\n"
    for i in range(25)
)
uploaded = client.files.upload(
    file=io.BytesIO(lines.encode()),
    config={"mime_type": "application/jsonl", "display_name": "requests"},
)
if not uploaded.name.startswith("files/") or uploaded.size_bytes != len(lines.encode()):
    fail("an upload is a file of its size", uploaded)
ok("files.upload (resumable): files/…, of the bytes sent")

job = client.batches.create(model=MODEL, src=uploaded.name)
ended = wait(job.name)
if ended.state.name != "JOB_STATE_SUCCEEDED" or not ended.dest.file_name:
    fail("a file batch ends with a responses file", ended)
content = client.files.download(file=ended.dest.file_name)
results = [json.loads(line) for line in content.decode().splitlines() if line]
keys = sorted(r["key"] for r in results)
if keys != [f"f-{i:03d}" for i in range(25)] or not all("response" in r for r in results):
    fail("every request of the file has one response line with its key", keys)
ok("file batch: a responses file, downloaded; 25 lines, each with its key and response")

# --- list and its pages ---
names = [b.name for b in client.batches.list(config={"page_size": 2})]
if len(names) != 3 or names[0] != job.name:
    fail("list walks every page, newest first", names)
ok("list: three batches over pages of two, newest first")

# --- embeddings through batches.create_embeddings: a file, and inline requests ---
import warnings  # noqa: E402

EMBED = "gemini-embedding-001"
lines = "".join(
    json.dumps({"key": f"e-{i:03d}", "request": {"content": {"parts": [{"text": f"Text {i}."}]},
                                                 "output_dimensionality": 256}}) + "\n"
    for i in range(12)
)
embed_file = client.files.upload(
    file=io.BytesIO(lines.encode()), config={"mime_type": "application/jsonl"}
)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # the SDK marks create_embeddings experimental
    embed_job = client.batches.create_embeddings(model=EMBED, src={"file_name": embed_file.name})
    inline_embed = client.batches.create_embeddings(
        model=EMBED,
        src={"inlined_requests": {"contents": ["one text", "another text"],
                                  "config": {"output_dimensionality": 128}}},
    )
ended = wait(embed_job.name)
if ended.state.name != "JOB_STATE_SUCCEEDED" or not ended.dest.file_name:
    fail("an embedding batch of a file ends with a responses file", ended)
results = [json.loads(line) for line in client.files.download(file=ended.dest.file_name).decode().splitlines()]
if sorted(r["key"] for r in results) != [f"e-{i:03d}" for i in range(12)]:
    fail("every embedding request has one line with its key", results[:1])
if any(len(r["response"]["embedding"]["values"]) != 256 for r in results):
    fail("each line holds a vector of the length asked", results[0])
ok("create_embeddings (file): 12 lines, each with its key and a vector of 256")
ended = wait(inline_embed.name)
answers = ended.dest.inlined_embed_content_responses or []
if len(answers) != 2 or any(len(a.response.embedding.values) != 128 for a in answers):
    fail("inline embedding requests come back inline, each a vector of 128", ended.dest)
if answers[0].response.embedding.values == answers[1].response.embedding.values:
    fail("two texts have two vectors", answers)
ok("create_embeddings (inline): 2 responses, vectors of 128, one per text")
try:
    client.batches.create(model=EMBED, src=[request(0)])
    fail("an embedding model makes no generate-content batch")
except errors.ClientError as err:
    if err.code != 404:
        fail("an embedding model's generate-content batch is 404", err)
ok("batchGenerateContent refuses an embedding model (ClientError 404)")

# --- cancel a running batch ---
slow = client.batches.create(model=MODEL, src=[request(i, "c") for i in range(200)])
time.sleep(0.3)
client.batches.cancel(name=slow.name)
cancelled = wait(slow.name)
if cancelled.state.name != "JOB_STATE_CANCELLED":
    fail("a cancelled batch ends cancelled", cancelled)
answered = len(cancelled.dest.inlined_responses or []) if cancelled.dest else 0
if answered >= 200:
    fail("a cancel stops the batch before its end", answered)
ok(f"cancel: the batch ends cancelled with {answered} of 200 answered")

# --- delete, and the errors ---
client.batches.delete(name=slow.name)
try:
    client.batches.get(name=slow.name)
    fail("a deleted batch is gone")
except errors.ClientError as err:
    if err.code != 404:
        fail("a deleted batch is 404", err)
ok("delete: the batch is gone (ClientError 404)")

stranger = genai.Client(
    api_key="wrong",
    http_options={"base_url": os.environ["GOOGLE_GEMINI_BASE_URL"]},
)
try:
    stranger.batches.get(name=job.name)
    fail("a wrong key is refused")
except errors.ClientError as err:
    if err.code != 400:
        fail("a wrong key is a 400", err)
ok("a wrong key: ClientError 400")

try:
    client.batches.create(model="not-a-model", src=[request(0)])
    fail("an unknown model is refused")
except errors.ClientError as err:
    if err.code != 404:
        fail("an unknown model is a 404", err)
ok("an unknown model: ClientError 404")

done()
