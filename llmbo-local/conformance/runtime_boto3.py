"""boto3's bedrock-runtime client against llmbo-local, unchanged: InvokeModel and Converse for
several families, errors as the runtime's exceptions, the service tier checked and echoed.
Prints one JSON object of observations; tests/python_clients.rs asserts them.

Mode `normal` (default) or `faulty` (the server answers every record with a model error and
throttles a third of the calls)."""

import json
import os
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

mode = sys.argv[1] if len(sys.argv) > 1 else "normal"
rt = boto3.client(
    "bedrock-runtime",
    region_name=os.environ["AWS_REGION"],
    config=Config(retries={"max_attempts": 1, "mode": "standard"}),
)
PERSON = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
out = {}


def error_of(call):
    try:
        call()
    except ClientError as err:
        return [err.response["Error"]["Code"], err.response["ResponseMetadata"]["HTTPStatusCode"],
                err.response["Error"].get("Message", "")]
    return None


claude_body = json.dumps({
    "anthropic_version": "bedrock-2023-05-31", "max_tokens": 200,
    "messages": [{"role": "user", "content": "Ada is 36."}],
    "tools": [{"name": "person", "description": "A person.", "input_schema": PERSON}],
    "tool_choice": {"type": "tool", "name": "person"},
})

if mode == "catalog":
    # The read-only catalog, Service Quotas, STS and CountTokens, through boto3 unchanged.
    br = boto3.client("bedrock", region_name=os.environ["AWS_REGION"])
    models = br.list_foundation_models()["modelSummaries"]
    out["models"] = len(models)
    out["claude_listed"] = any(m["modelId"] == CLAUDE for m in models)
    out["by_provider"] = sorted({m["providerName"] for m in br.list_foundation_models(byProvider="Anthropic")["modelSummaries"]})
    details = br.get_foundation_model(modelIdentifier=CLAUDE)["modelDetails"]
    out["model_name"] = details["modelName"]
    out["unknown_model"] = error_of(lambda: br.get_foundation_model(modelIdentifier="anthropic.claude-nope"))
    pages = br.get_paginator("list_inference_profiles").paginate(PaginationConfig={"PageSize": 5})
    ids = [p["inferenceProfileId"] for page in pages for p in page["inferenceProfileSummaries"]]
    out["profiles_once"] = len(ids) == len(set(ids)) and len(ids) > 5
    out["haiku_45_profile"] = "us.anthropic.claude-haiku-4-5-20251001-v1:0" in ids
    profile = br.get_inference_profile(inferenceProfileIdentifier="us.anthropic.claude-haiku-4-5-20251001-v1:0")
    out["profile_routes"] = len(profile["models"])
    out["missing_profile"] = error_of(lambda: br.get_inference_profile(inferenceProfileIdentifier="eu.anthropic.claude-3-haiku-20240307-v1:0"))
    sq = boto3.client("service-quotas", region_name=os.environ["AWS_REGION"])
    quotas = [q for page in sq.get_paginator("list_service_quotas").paginate(ServiceCode="bedrock") for q in page["Quotas"]]
    haiku = {q["QuotaName"]: q for q in quotas if q["QuotaName"].endswith(" for Claude 3 Haiku")}
    out["haiku_quotas"] = sorted(int(q["Value"]) for q in haiku.values())
    one = next(iter(haiku.values()))
    out["get_quota"] = sq.get_service_quota(ServiceCode="bedrock", QuotaCode=one["QuotaCode"])["Quota"]["QuotaName"] == one["QuotaName"]
    out["other_service"] = error_of(lambda: sq.list_service_quotas(ServiceCode="ec2"))
    sts = boto3.client("sts", region_name=os.environ["AWS_REGION"])
    out["account"] = sts.get_caller_identity()["Account"]
    counted = rt.count_tokens(modelId=CLAUDE, input={"invokeModel": {"body": json.dumps({
        "anthropic_version": "bedrock-2023-05-31", "max_tokens": 10,
        "messages": [{"role": "user", "content": "x" * 400}]})}})
    out["count_tokens"] = counted["inputTokens"]
    lam = boto3.client("lambda", region_name=os.environ["AWS_REGION"])
    out["unknown_service"] = error_of(lambda: lam.list_functions())
    sns = boto3.client("sns", region_name=os.environ["AWS_REGION"])
    out["unknown_query_service"] = error_of(lambda: sns.list_topics())
    print(json.dumps(out))
    sys.exit(0)

if mode == "faulty":
    seen = []
    for i in range(12):
        body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50,
                           "messages": [{"role": "user", "content": f"call {i}"}]})
        seen.append(error_of(lambda: rt.invoke_model(modelId=CLAUDE, body=body)))
    out["codes"] = sorted({e[0] for e in seen if e})
    out["model_error_status"] = sorted({e[1] for e in seen if e and e[0] == "ModelErrorException"})
    print(json.dumps(out))
    sys.exit(0)

r = rt.invoke_model(modelId=CLAUDE, body=claude_body, contentType="application/json", accept="application/json")
answer = json.loads(r["body"].read())
block = answer["content"][0]
out["invoke_tool"] = [block["type"], block["name"], isinstance(block["input"].get("name"), str)]
headers = r["ResponseMetadata"]["HTTPHeaders"]
out["token_headers"] = [int(headers["x-amzn-bedrock-input-token-count"]) > 0,
                        int(headers["x-amzn-bedrock-output-token-count"]) > 0]
again = json.loads(rt.invoke_model(modelId=CLAUDE, body=claude_body)["body"].read())
out["same_body_same_answer"] = again == answer

# An ARN as the model id (percent-encoded in the path by botocore).
arn = "arn:aws:bedrock:us-east-1::foundation-model/" + CLAUDE
out["arn_model"] = json.loads(rt.invoke_model(modelId=arn, body=claude_body)["body"].read())["content"][0]["type"]

# Converse takes tools on demand (batch Converse jobs refuse them).
c = rt.converse(
    modelId="amazon.nova-lite-v1:0",
    messages=[{"role": "user", "content": [{"text": "Grace is 85."}]}],
    toolConfig={"tools": [{"toolSpec": {"name": "person", "inputSchema": {"json": PERSON}}}],
                "toolChoice": {"tool": {"name": "person"}}},
)
out["converse_tool"] = [c["stopReason"], "toolUse" in c["output"]["message"]["content"][0],
                        c["usage"]["inputTokens"] > 0]

# Native structured output through Converse.
schema = dict(PERSON, additionalProperties=False)
c = rt.converse(
    modelId="us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    messages=[{"role": "user", "content": [{"text": "Alan."}]}],
    outputConfig={"textFormat": {"type": "json_schema",
                                 "structure": {"jsonSchema": {"schema": json.dumps(schema), "name": "person"}}}},
)
out["converse_json"] = isinstance(json.loads(c["output"]["message"]["content"][0]["text"])["name"], str)

# The service tier: echoed where the model has it, refused where not, or when unknown.
c = rt.converse(modelId="openai.gpt-oss-20b-1:0", messages=[{"role": "user", "content": [{"text": "hi"}]}],
                serviceTier={"type": "flex"})
out["converse_tier"] = c.get("serviceTier")
r = rt.invoke_model(modelId="qwen.qwen3-32b-v1:0", serviceTier="flex",
                    body=json.dumps({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 20}))
out["invoke_tier"] = r["ResponseMetadata"]["HTTPHeaders"].get("x-amzn-bedrock-service-tier")
out["tier_refused"] = error_of(lambda: rt.converse(
    modelId=CLAUDE, messages=[{"role": "user", "content": [{"text": "hi"}]}], serviceTier={"type": "flex"}))
out["reserved"] = error_of(lambda: rt.converse(
    modelId="openai.gpt-oss-20b-1:0", messages=[{"role": "user", "content": [{"text": "hi"}]}],
    serviceTier={"type": "reserved"}))

# Bad requests are the runtime's ValidationException.
out["invalid_body"] = error_of(lambda: rt.invoke_model(modelId=CLAUDE, body=json.dumps({"max_tokens": 10})))
out["unknown_model"] = error_of(lambda: rt.invoke_model(modelId="acme.unknown-v1", body=claude_body))
out["profile_only"] = error_of(lambda: rt.invoke_model(modelId="anthropic.claude-sonnet-4-5-20250929-v1:0", body=claude_body))
print(json.dumps(out))
