"""The REST API reference of the docs site, generated at build time from the OpenAPI schema of the
FastAPI application `ferbench serve` runs (`benchmark.api.create_app(...).openapi()`): every path and
method with its summary, description, query parameters, request body and responses, as the server
itself declares them.

`schema()` builds the application once (it loads the shipped model) and returns the schema;
`render(schema)` returns the Markdown.
"""

from __future__ import annotations

import json
from functools import cache

from markdown_text import code, escape

METHODS = ("get", "post", "put", "patch", "delete")


@cache
def schema() -> dict:
    """The OpenAPI schema (a dict, OpenAPI 3.1) of the application `ferbench serve` runs with the shipped
    model. Raises what `benchmark.api.create_app` raises (the `serve` extra missing: ImportError)."""
    from benchmark.api import create_app

    return create_app(None).openapi()


def _type(node: dict | None) -> str:
    """A short name of a JSON schema: string (binary), object {file}, array of ..., any."""
    if not node:
        return "any"
    if "$ref" in node:
        return node["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in node or "oneOf" in node:
        return " or ".join(_type(n) for n in node.get("anyOf", node.get("oneOf")))
    kind = node.get("type", "any")
    if kind == "array":
        return f"array of {_type(node.get('items'))}"
    if kind == "object" and node.get("properties"):
        required = set(node.get("required", []))
        fields = ", ".join(f"{k}{'' if k in required else '?'}: {_type(v)}" for k, v in node["properties"].items())
        return f"object {{{fields}}}"
    return f"{kind} ({node['format']})" if "format" in node else kind


def _operation(path: str, method: str, op: dict) -> list[str]:
    """The Markdown of one operation: heading, description, parameters, request body, responses."""
    lines = [f"## `{method.upper()} {path}`", ""]
    if op.get("summary"):
        lines += [f"**{op['summary']}.** {op.get('description', '')}".rstrip(), ""]
    elif op.get("description"):
        lines += [op["description"], ""]
    parameters = op.get("parameters", [])
    if parameters:
        lines += ["| parameter | in | required | type | description |", "|---|---|---|---|---|"]
        for p in parameters:
            lines.append(
                f"| `{p['name']}` | {p.get('in', '')} | {'yes' if p.get('required') else 'no'} | "
                f"{code(_type(p.get('schema')))} | {escape(p.get('description', ''))} |"
            )
        lines.append("")
    body = op.get("requestBody")
    if body:
        lines += [
            f"Request body ({'required' if body.get('required') else 'optional'}):",
            "",
            "| content type | schema |",
            "|---|---|",
        ]
        for media, content in body.get("content", {}).items():
            lines.append(f"| `{media}` | {code(_type(content.get('schema')))} |")
        lines.append("")
    responses = op.get("responses", {})
    if responses:
        lines += ["| status | description | content |", "|---|---|---|"]
        for status, response in responses.items():
            content = response.get("content", {})
            media = ", ".join(f"`{m}` {code(_type(c.get('schema')))}" for m, c in content.items()) or "none"
            lines.append(f"| {status} | {escape(response.get('description', ''))} | {media} |")
        lines.append("")
    return lines


def render(spec: dict) -> str:
    """The Markdown of the reference: the API's title and version, then every operation in path order."""
    info = spec.get("info", {})
    lines = [
        f"Schema: OpenAPI {spec.get('openapi', '?')}, API `{info.get('title', '')}` version "
        f"`{info.get('version', '')}`. {info.get('summary', '')}".rstrip(),
        "",
    ]
    for path, item in sorted(spec.get("paths", {}).items()):
        for method in METHODS:
            if method in item:
                lines += _operation(path, method, item[method])
    return "\n".join(lines).rstrip() + "\n"


def as_json(spec: dict) -> str:
    """The schema as the server serves it at /api/openapi.json (indented, keys in the server's order)."""
    return json.dumps(spec, indent=2) + "\n"
