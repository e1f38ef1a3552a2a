"""The official `openai` package against Corral's gateway (run by tests/openai_client.rs).

Models, set up by the Rust side: "tiny" and "tiny-stream" (chat, stopped), "embedder"
(embeddings), "tiny-loading" and "ghost-loading" (loading_state reasoning; the ghost's file is
missing). Exits non-zero, saying what failed, on the first broken expectation.
"""

import sys

import openai
from openai import OpenAI

base_url = sys.argv[1]
client = OpenAI(base_url=f"{base_url}/v1", api_key="unused", max_retries=0, timeout=60)

# Listing: every model, with llama.cpp router's status (Open WebUI reads it).
models = {m.id: m for m in client.models.list().data}
assert set(models) >= {"tiny", "tiny-stream", "embedder"}, models
for name in ("tiny", "tiny-stream"):
    status = models[name].model_extra["status"]
    assert status["value"] == "unloaded", (name, status)

# A chat to a stopped model starts it and answers under the model's name.
reply = client.chat.completions.create(
    model="tiny", messages=[{"role": "user", "content": "hi"}], max_tokens=4
)
assert reply.model == "tiny", reply.model
assert reply.choices[0].message is not None, reply
assert reply.usage is not None and reply.usage.completion_tokens > 0, reply.usage

# Streaming, also from a stopped model.
stream = client.chat.completions.create(
    model="tiny-stream",
    messages=[{"role": "user", "content": "hi"}],
    max_tokens=4,
    stream=True,
)
chunks = list(stream)
assert chunks, "no chunks"
assert all(c.model == "tiny-stream" for c in chunks), {c.model for c in chunks}
assert chunks[-1].choices == [] or chunks[-1].choices[0].finish_reason is not None, chunks[-1]

loaded = {m.id: m.model_extra["status"]["value"] for m in client.models.list().data}
assert loaded["tiny"] == "loaded" and loaded["tiny-stream"] == "loaded", loaded

# Embeddings from a model whose role is embeddings.
embeddings = client.embeddings.create(model="embedder", input=["hello", "world"])
assert len(embeddings.data) == 2, embeddings
assert len(embeddings.data[0].embedding) > 0

# ... and a clear error, naming the setting, from one whose role is chat.
try:
    client.embeddings.create(model="tiny", input="hello")
except openai.BadRequestError as error:
    assert "serving.role" in str(error), error
else:
    raise AssertionError("embeddings from a chat model were not refused")

# An unknown model is the exception clients know.
try:
    client.chat.completions.create(
        model="no-such-model", messages=[{"role": "user", "content": "hi"}]
    )
except openai.NotFoundError as error:
    assert "no-such-model" in str(error), error
else:
    raise AssertionError("an unknown model was not a NotFoundError")

# A stream to a stopped model whose loading_state is "reasoning": the load's progress arrives
# as reasoning deltas before the answer's content, in one stream the client reads as usual.
stream = client.chat.completions.create(
    model="tiny-loading",
    messages=[{"role": "user", "content": "hi"}],
    max_tokens=4,
    stream=True,
)
chunks = list(stream)
reasoning = [
    c.choices[0].delta.model_extra.get("reasoning_content")
    for c in chunks
    if c.choices and c.choices[0].delta.model_extra
]
assert reasoning and reasoning[0].startswith("Loading tiny-loading"), reasoning
first_content = next(
    i for i, c in enumerate(chunks) if c.choices and c.choices[0].delta.content
)
first_reasoning = next(
    i
    for i, c in enumerate(chunks)
    if c.choices and (c.choices[0].delta.model_extra or {}).get("reasoning_content")
)
assert first_reasoning < first_content, (first_reasoning, first_content)

# A start that fails ends such a stream with the error the client raises.
try:
    list(
        client.chat.completions.create(
            model="ghost-loading",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
        )
    )
except openai.APIError as error:
    assert "ghost" in str(error), error
else:
    raise AssertionError("a failed load did not end the stream with an error")

print(f"openai {openai.__version__}: every check passed")
