"""Drives `ingot serve` with the official Ollama Python client.
Usage: ollama_client.py HOST [TOOLS_MODEL]

TOOLS_MODEL (qwen2.5-coder-0.5b in the tests) must answer the tools question with a call;
without it SmolLM2 gets the question and may answer in text instead (Ollama has no
tool_choice to force a call)."""
import json
import sys

import ollama

MODEL = "smollm2-135m"
TOOLS_MODEL = sys.argv[2] if len(sys.argv) > 2 else None
client = ollama.Client(host=sys.argv[1])

names = [m.model for m in client.list().models]
assert f"{MODEL}:latest" in names, names

show = client.show(MODEL)
assert show.details.format == "gguf" and show.details.family == "smollm2", show
assert show.modelinfo["general.architecture"] == "llama", show.modelinfo
assert "completion" in show.capabilities

assert client.pull(MODEL).status == "success"
statuses = [p.status for p in client.pull(f"{MODEL}:latest", stream=True)]
assert statuses[0] == "pulling manifest" and statuses[-1] == "success", statuses

opts = {"temperature": 0, "seed": 1, "num_predict": 24, "top_k": 20, "top_p": 0.9, "num_ctx": 2048}
question = [{"role": "user", "content": "What is the capital of France?"}]
r = client.chat(model=MODEL, messages=question, options=opts)
assert r.message.role == "assistant" and r.message.content.strip(), r
assert r.done and r.done_reason in ("stop", "length") and r.eval_count > 0, r
assert r.prompt_eval_count > 0 and r.total_duration > 0, r

parts = list(client.chat(model=MODEL, messages=question, options=opts, stream=True))
streamed = "".join(p.message.content or "" for p in parts)
assert streamed.strip(), parts
assert parts[-1].done and not any(p.done for p in parts[:-1])

g = client.generate(model=MODEL, prompt="The capital of France is", options={"num_predict": 8, "temperature": 0})
assert g.response.strip() and g.done, g
g = client.generate(
    model=f"{MODEL}:latest",
    prompt="Give a JSON object with a key city whose value is Paris.",
    format="json",
    options={"num_predict": 64, "temperature": 0},
)
if g.done_reason == "stop":
    json.loads(g.response)

# format as a JSON schema: the answer is constrained to it (when it ends on its own).
schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
r = client.chat(model=MODEL, messages=[{"role": "user", "content": "Which city is the capital of France? Answer in JSON."}],
                format=schema, options={"num_predict": 48, "temperature": 0})
if r.done_reason == "stop":
    assert isinstance(json.loads(r.message.content)["city"], str), r.message.content

ps = client.ps()
assert any(m.model == f"{MODEL}:latest" and m.context_length > 0 for m in ps.models), ps

# Embeddings (issue 15): SmolLM2 is a decoder, so it embeds with its last token.
e = client.embed(model=MODEL, input=["hello", "meeting notes"])
assert len(e.embeddings) == 2 and len(e.embeddings[0]) == 576, e
assert abs(sum(x * x for x in e.embeddings[0]) - 1.0) < 1e-3, "unit length"
old = client.embeddings(model=MODEL, prompt="hello")
assert len(old.embedding) == 576, old

# Tools (issue 16): the client turns a plain Python function into a tool definition, as
# Ollama's docs show. A call names the function with object arguments the function accepts;
# its result goes back as a `tool` message and the model answers.
def get_weather(city: str) -> str:
    """Get the current weather in a city.

    Args:
      city: The city name, e.g. Paris
    """
    return f"18 C and sunny in {city}"


tools_model = TOOLS_MODEL or MODEL
ask = [{"role": "user", "content": "What is the weather like in Paris right now? Use the get_weather tool."}]
opts = {"temperature": 0, "seed": 1, "num_predict": 96}
r = client.chat(model=tools_model, messages=ask, tools=[get_weather], options=opts)
assert r.done and r.message.role == "assistant", r
calls = r.message.tool_calls or []
if TOOLS_MODEL:
    assert calls, f"{TOOLS_MODEL} should call get_weather: {r.message}"
if calls:
    call = calls[0]
    assert call.function.name == "get_weather", call
    assert isinstance(call.function.arguments, dict) and isinstance(call.function.arguments.get("city"), str), call
    result = get_weather(**call.function.arguments)
    follow = ask + [r.message, {"role": "tool", "content": result, "tool_name": "get_weather"}]
    # Without tools this turn: a 0.5B model offered the tool again tends to call it again
    # (Ollama has no tool_choice "none"); the history still carries the call and its result.
    r2 = client.chat(model=tools_model, messages=follow, options={**opts, "num_predict": 48})
    assert r2.done and r2.message.content.strip(), r2
    bare = client.chat(model=tools_model, messages=ask, options={**opts, "num_predict": 1})
    assert r2.prompt_eval_count > bare.prompt_eval_count, "the call and its result are in the prompt"
    print("tools:", tools_model, "called", call.function.name, call.function.arguments, "then answered", repr(r2.message.content[:60]))
else:
    assert r.message.content.strip(), r
    print("tools:", tools_model, "answered in text")
# Streamed with tools: one done line at the end, and the same calls, whole, on the way.
parts = list(client.chat(model=tools_model, messages=ask, tools=[get_weather], stream=True, options=opts))
assert parts[-1].done and not any(p.done for p in parts[:-1]), parts
streamed_calls = [c for p in parts for c in (p.message.tool_calls or [])]
assert [(c.function.name, c.function.arguments) for c in streamed_calls] == [
    (c.function.name, c.function.arguments) for c in calls
], (streamed_calls, calls)

try:
    client.chat(model=f"{MODEL}:bad tag!", messages=question)
    raise AssertionError("a bad tag should be refused")
except ollama.ResponseError as e:
    assert e.status_code == 400 and "invalid model name" in e.error, e

try:
    client.show("no-such-model")
    raise AssertionError("an unknown model should be a 404")
except ollama.ResponseError as e:
    assert e.status_code == 404 and "not found" in e.error, e

print("OK")
