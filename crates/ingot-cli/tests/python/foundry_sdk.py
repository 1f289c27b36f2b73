"""Drives ingot through Foundry Local's own Python SDK (foundry-local-sdk 0.5.x), as the
workshop's code does: `foundry` on PATH is ingot under another name. Usage: foundry_sdk.py"""
import logging
import sys

import openai
from foundry_local import FoundryLocalManager

ALIAS = "smollm2-135m"

# INFO makes the SDK draw its download progress bar from the streamed progress lines.
logging.basicConfig(level=logging.INFO, stream=sys.stderr)

# Starts the service (`foundry service start`, URL parsed from `foundry service status`),
# downloads the model if needed and loads it.
manager = FoundryLocalManager(ALIAS)
assert manager.endpoint.startswith("http://127.0.0.1:") and manager.endpoint.endswith("/v1"), manager.endpoint
assert manager.api_key
assert manager.is_service_running()

info = manager.get_model_info(ALIAS)
assert info.id == "smollm2-135m-generic-cpu:1", info
assert info.alias == ALIAS and info.device_type == "CPU", info
# Foundry ids resolve too, with or without version and -instruct.
assert manager.get_model_info("smollm2-135m-generic-cpu").alias == ALIAS
assert manager.get_model_info("no-such-model") is None
try:
    manager.get_model_info("no-such-model", raise_on_not_found=True)
    raise AssertionError("expected ValueError")
except ValueError:
    pass

catalog = manager.list_catalog_models()
assert any(m.alias == ALIAS for m in catalog), catalog
assert all(m.id.endswith("-generic-cpu:1") for m in catalog), catalog
assert any(m.alias == ALIAS for m in manager.list_cached_models())
assert any(m.alias == ALIAS for m in manager.list_loaded_models())
assert manager.get_cache_location()
assert not manager.is_model_upgradeable(ALIAS)

# A forced download goes through POST /openai/download and its final JSON.
assert manager.download_model(ALIAS, force=True).alias == ALIAS

manager.unload_model(ALIAS)
assert not any(m.alias == ALIAS for m in manager.list_loaded_models())
manager.load_model(ALIAS, ttl=300)
assert any(m.alias == ALIAS for m in manager.list_loaded_models())

# The OpenAI client through manager.endpoint, with the id the SDK hands out.
client = openai.OpenAI(base_url=manager.endpoint, api_key=manager.api_key, max_retries=0)
r = client.chat.completions.create(
    model=info.id,
    messages=[{"role": "user", "content": "What is the capital of France?"}],
    max_tokens=32,
    temperature=0,
)
answer = r.choices[0].message.content
assert answer and answer.strip(), r
print("answer:", answer.strip().splitlines()[0], file=sys.stderr)

stream = client.chat.completions.create(
    model=ALIAS, messages=[{"role": "user", "content": "Say hello."}], max_tokens=16, stream=True
)
assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices).strip()

# A second manager finds the running service instead of starting another.
other = FoundryLocalManager()
assert other.endpoint == manager.endpoint, (other.endpoint, manager.endpoint)
print("OK")
