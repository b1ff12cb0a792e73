"""The Python original (llmbo-bedrock 0.2.4) as a conformance client of llmbo-local.

For every family the original registers, its StructuredBatchInferer runs a batch job through
boto3 against llmbo-local (AWS_ENDPOINT_URL), and the answers must validate into its pydantic
model; recover_structured_job and check_for_existing_job must work on a finished job. It is a
second, independent reading of each family's wire format: when it and llmbo disagree about a
body, one of them is wrong.

Run by llmbo-local/tests/original_llmbo.rs, which starts llmbo-local and sets the variables.
Prints one JSON line per family and exits 1 if any family is below the threshold.
"""

import json
import logging
import os
import sys
import tempfile

from pydantic import BaseModel

from llmbo import ModelInput, StructuredBatchInferer

RECORDS = 110
THRESHOLD = 0.95

FAMILIES = [
    ("anthropic", "anthropic.claude-3-haiku-20240307-v1:0"),
    ("anthropic-cris", "us.anthropic.claude-sonnet-4-5-20250929-v1:0"),
    ("nova", "amazon.nova-lite-v1:0"),
    ("nova-2", "us.amazon.nova-2-lite-v1:0"),
    ("mistral", "mistral.mistral-large-2407-v1:0"),
    ("llama", "meta.llama3-1-70b-instruct-v1:0"),
    ("gpt-oss", "openai.gpt-oss-120b-1:0"),
    ("deepseek", "deepseek.v3-v1:0"),
    ("qwen", "qwen.qwen3-32b-v1:0"),
]


class Person(BaseModel):
    """A person named in the text."""

    name: str
    age: int | None = None


def inputs():
    return {
        f"{i:05}": ModelInput(
            messages=[{"role": "user", "content": f"Article {i}: Ada Lovelace, aged {20 + i % 60}."}],
            system="Extract the person the text is about.",
        )
        for i in range(RECORDS)
    }


def run(label, model):
    bucket = os.environ["LLMBO_BUCKET"]
    role = os.environ["LLMBO_ROLE_ARN"]
    region = os.environ["AWS_REGION"]
    with tempfile.TemporaryDirectory() as out:
        inferer = StructuredBatchInferer(
            output_model=Person,
            model_name=model,
            bucket_name=bucket,
            region=region,
            job_name=f"original-{label}",
            role_arn=role,
            output_dir=out,
        )
        inferer.auto(inputs(), poll_time_secs=1)
        valid = [i for i in inferer.instances if i and i.get("outputModel") is not None]
        ids = [i["recordId"] for i in inferer.instances if i]
        arn = inferer.job_arn
        details = StructuredBatchInferer.check_for_existing_job(arn, region)
        recovered = StructuredBatchInferer.recover_structured_job(
            arn, region, output_model=Person, output_dir=out
        )
        recovered.download_results()
        recovered.load_results()
        recovered_valid = [i for i in recovered.instances if i and i.get("outputModel") is not None]
    return {
        "family": label,
        "model": model,
        "records": RECORDS,
        "valid": len(valid),
        # The original keeps Bedrock's output order; every input id must be there once.
        "every_id_once": sorted(ids) == sorted(inputs()) and len(ids) == RECORDS,
        "status": details.get("status"),
        "recovered_valid": len(recovered_valid),
    }


def main():
    logging.basicConfig(level=logging.WARNING)
    only = set(sys.argv[1:])
    failed = False
    for label, model in FAMILIES:
        if only and label not in only:
            continue
        try:
            result = run(label, model)
        except Exception as err:  # a family that breaks the client is a finding, not a crash
            result = {"family": label, "model": model, "error": f"{type(err).__name__}: {err}"}
        ok = (
            "error" not in result
            and result["valid"] >= THRESHOLD * RECORDS
            and result["recovered_valid"] == result["valid"]
            and result["status"] == "Completed"
            and result["every_id_once"]
        )
        result["ok"] = ok
        failed |= not ok
        print(json.dumps(result), flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
