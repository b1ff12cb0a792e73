"""The Python original's side of the comparison (run.sh): the same 50,000-record structured
Claude job through llmbo-bedrock 0.2.4's steps against the same llmbo-local, timing
prepare+push and download+load. Prints one JSON line."""

import json
import os
import resource
import sys
import tempfile
import time

from pydantic import BaseModel

from llmbo import ModelInput, StructuredBatchInferer


class Person(BaseModel):
    """A person named in the text."""

    name: str
    age: int | None = None


def main():
    records = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    inputs = {
        f"{i:05}": ModelInput(
            messages=[{"role": "user", "content": f"Article {i}: Ada Lovelace, aged {20 + i % 60}."}],
            system="Extract the person the text is about.",
        )
        for i in range(records)
    }
    with tempfile.TemporaryDirectory() as out:
        inferer = StructuredBatchInferer(
            output_model=Person,
            model_name="anthropic.claude-3-haiku-20240307-v1:0",
            bucket_name="llmbo-local",
            region="us-east-1",
            job_name=f"vs-python-original-{os.getpid()}",
            role_arn="arn:aws:iam::000000000000:role/llmbo-local",
            output_dir=out,
        )
        started = time.perf_counter()
        inferer.prepare_requests(inputs)
        inferer.push_requests_to_s3()
        prepare_push = time.perf_counter() - started
        inferer.create()
        inferer.poll_progress(1)
        started = time.perf_counter()
        inferer.download_results()
        inferer.load_results()
        download_load = time.perf_counter() - started
        valid = sum(1 for i in inferer.instances if i and i.get("outputModel") is not None)
    print(json.dumps({
        "side": "original",
        "records": records,
        "valid": valid,
        "prepare_push_s": round(prepare_push, 3),
        "download_load_s": round(download_load, 3),
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }))


if __name__ == "__main__":
    main()
