"""``/api/docs``: the OpenAPI description as one self-contained HTML page."""

from __future__ import annotations

import html
import json
from typing import Any

Schema = dict[str, Any]


def docs_page(spec: Schema) -> str:
    """A self-contained HTML page listing every path, method, parameter and schema."""
    esc = html.escape
    parts = [f"<h1>{esc(spec['info']['title'])} API</h1><p>{esc(spec['info']['description'])}"
             "</p><p><a href='/api/openapi.json'>openapi.json</a></p>"]
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            params = ", ".join(f"{p['name']} ({p['in']})" for p in op.get("parameters", []))
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            codes = " ".join(esc(code) for code in op["responses"])
            parts.append(
                f"<section><h2><span class='m'>{esc(method.upper())}</span> {esc(path)}</h2>"
                f"<p>{esc(op['summary'])}</p>"
                + (f"<p>Parameters: {esc(params)}</p>" if params else "")
                + (f"<p>Body: {esc(body['schema']['$ref'].rsplit('/', 1)[-1])}</p>"
                   if body else "")
                + f"<p>Responses: {codes}</p></section>")
    parts.append("<h2>Schemas</h2>")
    for name, schema in spec["components"]["schemas"].items():
        parts.append(f"<h3 id='{esc(name)}'>{esc(name)}</h3>"
                     f"<pre>{esc(json.dumps(schema, indent=2))}</pre>")
    style = ("body{font-family:sans-serif;max-width:60rem;margin:auto;padding:1rem}"
             ".m{background:#245;color:#fff;padding:0 .4rem;border-radius:3px}"
             "pre{background:#f4f4f4;padding:.5rem;overflow:auto}")
    return ("<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>palabre API</title><style>{style}</style></head><body>"
            + "".join(parts) + "</body></html>")
