"""``/openapi.json``: the daemon API with each model's commands typed from its manifest."""

from __future__ import annotations

import asyncio

from .. import __version__

_DATA_URI = {"type": "string", "description": "data:image/jpeg;base64,... or data:image/png;base64,..."}


def schema_of(t: dict) -> dict:
    """One SDK type's `to_dict` to a JSON Schema."""
    kind = t["type"]
    if kind == "text":
        s = {"type": "string", "minLength": t.get("minLength", 0)}
        if t.get("maxLength"):
            s["maxLength"] = t["maxLength"]
    elif kind == "number":
        s = {"type": "number", **{k: t[k] for k in ("min", "max") if k in t}}
        s = {("minimum" if k == "min" else "maximum" if k == "max" else k): v for k, v in s.items()}
    elif kind == "boolean":
        s = {"type": "boolean"}
    elif kind == "category":
        s = {"type": "string", "enum": t["oneOf"]}
    elif kind == "vector":
        s = {"type": "array", "items": {"type": "number"}, "minItems": t["length"], "maxItems": t["length"]}
        if t.get("default") is None:  # the manifest says null (as the old SDK's); a request without it gets the mean
            t = {**t, "default": [float(t.get("samplingMean", 0))] * t["length"]}
    elif kind == "array":
        s = {"type": "array", "items": schema_of(t["itemType"]), "minItems": t.get("minLength", 0)}
        if t.get("maxLength"):
            s["maxItems"] = t["maxLength"]
    elif kind in ("image", "segmentation"):
        s = dict(_DATA_URI)
    elif kind in ("image_point", "image_bounding_box"):
        n = 2 if kind == "image_point" else 4
        s = {"type": "array", "items": {"type": "number"}, "minItems": n, "maxItems": n}
    elif kind == "image_landmarks":
        pt = {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}
        s = {"type": "array", "items": pt, "minItems": t["length"], "maxItems": t["length"]}
    elif kind == "file":
        s = {"type": "string", "description": "a path inside the daemon's allowed folder"}
    else:
        s = {}
    if "default" in t:
        s["default"] = t["default"]
    if t.get("description"):
        s["description"] = t["description"]
    return s


def _object(fields: list[dict], required: bool) -> dict:
    props = {f["name"]: schema_of(f) for f in fields}
    req = [f["name"] for f in fields if required and "default" not in f]
    return {"type": "object", "properties": props, **({"required": req} if req else {})}


_ERROR = {"description": "error", "content": {"application/json": {"schema": {
    "type": "object", "properties": {"error": {"type": "string"}}}}}}


async def build(bridge) -> dict:
    paths: dict = {
        "/v1/models": {"get": {"summary": "The catalogue, with cards and status", "responses": {"200": {"description": "ok"}}}},
        "/healthz": {"get": {"summary": "Liveness", "responses": {"200": {"description": "ok"}}}},
        "/readyz": {"get": {"summary": "Readiness of the launch models", "responses": {"200": {"description": "ready"}, "503": {"description": "loading"}}}},
        "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "ok"}}}},
        "/v1/sources": {"get": {"summary": "Daemon-side sources and their counters", "responses": {"200": {"description": "ok"}}}},
        "/v1/models/{id}/source": {"post": {
            "summary": "Read a camera, a file inside --file-root or an allowed URL through the model",
            "requestBody": {"content": {"application/json": {"schema": {"type": "object", "required": ["source"], "properties": {
                "source": {"type": ["string", "integer"]}, "loop": {"type": "boolean"}, "fps": {"type": "number"}}}}}},
            "responses": {"201": {"description": "reading"}, "400": _ERROR, "403": _ERROR, "404": _ERROR}}},
        "/v1/healthcheck": {"get": {"summary": "The desktop app's liveness ({success: true})", "responses": {"200": {"description": "ok"}}}},
        "/v1/model_sessions": {
            "get": {"summary": "The desktop app's sessions: started models", "responses": {"200": {"description": "ok"}}},
            "post": {"summary": "Start a model by modelVersionId (the Unity plugin)", "responses": {"201": {"description": "starting"}, "404": _ERROR}}},
        "/v1/query": {"post": {"summary": "Hosted Models shape: query the default model", "responses": {"200": {"description": "outputs"}}}},
    }

    async def one(entry):
        try:
            return entry, await bridge.catalog.manifest(entry.id)
        except Exception:
            return entry, None

    for entry, manifest in await asyncio.gather(*(one(e) for e in bridge.catalog)):
        if manifest is None:
            continue
        paths[f"/v1/models/{entry.id}/start"] = {"post": {
            "summary": f"Start {entry.card.get('name', entry.id)}", "requestBody": {"content": {"application/json": {
                "schema": {"type": "object", "properties": {"options": _object(manifest["options"], False)}}}}},
            "responses": {"200": {"description": "running"}, "202": {"description": "starting"}, "404": _ERROR}}}
        for c in manifest["commands"]:
            paths[f"/v1/models/{entry.id}/commands/{c['name']}"] = {"post": {
                "summary": c.get("description") or c["name"],
                "requestBody": {"content": {"application/json": {"schema": _object(c["inputs"], True)}}},
                "responses": {"200": {"description": "outputs", "content": {"application/json": {
                    "schema": _object(c["outputs"], False)}}}, "400": _ERROR, "404": _ERROR, "409": _ERROR,
                    "500": _ERROR, "503": _ERROR}}}
    return {"openapi": "3.1.0", "info": {"title": "runway_bridge", "version": __version__}, "paths": paths}
