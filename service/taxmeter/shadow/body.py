"""The request body an arm sends, and the model it asks for.

The body is the production request: forwarded byte-for-byte when the arm changes nothing,
otherwise re-serialized from a copy with the arm's model/overrides/strip/stream settings
(``EndpointConfig``). Used by ``OpenAIEndpoint`` (``shadow/endpoint.py``) and, for the model
label, by the dispatcher.
"""

from __future__ import annotations

import copy
import json

from taxmeter.shadow.config import EndpointConfig
from taxmeter.types import MirrorRequest


def request_model(config: EndpointConfig, request: MirrorRequest) -> str | None:
    """The model name this arm is asked for (its override, else the body's)."""
    if config.model is not None:
        return config.model
    model = request.body.get("model")
    return model if isinstance(model, str) else None


def build_body(config: EndpointConfig, request: MirrorRequest) -> tuple[bytes, bool]:
    """The bytes to send and whether the call streams."""
    body = request.body
    asked = body.get("stream") is True
    stream = {"as_request": asked, "always": True, "never": False}[config.stream]
    options = body.get("stream_options")
    has_usage = isinstance(options, dict) and options.get("include_usage") is True
    add_usage = stream and config.include_usage and not has_usage
    if not (config.rewrites_body or stream != asked or add_usage):
        return request.raw_body, stream
    out = dict(body)
    for name in config.strip:
        out.pop(name, None)
    for name, value in config.overrides.items():
        out[name] = copy.deepcopy(value)
    if config.model is not None:
        out["model"] = config.model
    if stream:
        out["stream"] = True
        if add_usage:
            opts = dict(options) if isinstance(options, dict) else {}
            opts["include_usage"] = True
            out["stream_options"] = opts
    else:
        if "stream" in out:
            out["stream"] = False
        out.pop("stream_options", None)
    # ensure_ascii: an unpaired surrogate escape ("\ud800") in the app's JSON stays an escape
    # instead of failing to encode as UTF-8.
    return json.dumps(out, ensure_ascii=True, separators=(",", ":")).encode(), stream
