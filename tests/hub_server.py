"""A loopback Hugging Face Hub that speaks as much of the Hub's HTTP API as
huggingface_hub's create_repo + upload_folder call (huggingface_hub 1.x/2.x):

    POST /api/repos/create                                  {"type", "name", "organization", "visibility"}
    POST /api/validate-yaml                                 {"content", "repoType"}
    POST /api/{type}s/{repo}/preupload/{revision}           {"files": [{"path", "sample", "size"}]}
    POST /api/{type}s/{repo}/commit/{revision}              ndjson: header, then file ops

Every file is answered "regular" at preupload, so huggingface_hub sends its bytes inline
(base64) in the commit, and the server keeps them: `repos[repo_id]["files"][path]`.
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class HubServer:
    def __init__(self):
        self.repos: dict[str, dict] = {}
        self.requests: list[tuple[str, str, dict]] = []  # (method, path, headers)
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, code: int, obj) -> None:
                body = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = self.path.split("?")[0]
                hub.requests.append(("POST", path, {k.lower(): v for k, v in self.headers.items()}))
                if not (self.headers.get("Authorization") or "").startswith("Bearer "):
                    return self._send(401, {"error": "Invalid credentials in Authorization header"})
                if path == "/api/repos/create":
                    body = json.loads(raw)
                    repo_id = f"{body.get('organization') or 'me'}/{body['name']}"
                    if repo_id in hub.repos:
                        return self._send(409, {"error": "You already created this dataset repo",
                                                "url": f"{hub.url}/datasets/{repo_id}"})
                    hub.repos[repo_id] = {"type": body.get("type"), "visibility": body.get("visibility", "public"), "files": {},
                                          "commits": []}
                    return self._send(200, {"url": f"{hub.url}/datasets/{repo_id}", "name": repo_id})
                if path == "/api/validate-yaml":
                    return self._send(200, {"errors": [], "warnings": []})
                parts = path.split("/")  # '', api, datasets, ns, name, preupload|commit, revision
                if len(parts) == 7 and parts[1] == "api" and parts[5] in ("preupload", "commit"):
                    repo_id = f"{parts[3]}/{parts[4]}"
                    repo = hub.repos.get(repo_id)
                    if repo is None:
                        return self._send(404, {"error": "Repository not found"})
                    if parts[5] == "preupload":
                        files = json.loads(raw)["files"]
                        return self._send(200, {"files": [{"path": f["path"], "uploadMode": "regular",
                                                           "shouldIgnore": False} for f in files]})
                    ops = [json.loads(line) for line in raw.decode().splitlines() if line.strip()]
                    header = next(o["value"] for o in ops if o["key"] == "header")
                    for o in ops:
                        if o["key"] == "file":
                            repo["files"][o["value"]["path"]] = base64.b64decode(o["value"]["content"])
                    repo["commits"].append(header["summary"])
                    oid = f"{len(repo['commits']):040x}"
                    return self._send(200, {"commitUrl": f"{hub.url}/datasets/{repo_id}/commit/{oid}",
                                            "commitOid": oid, "pullRequestUrl": None})
                return self._send(404, {"error": f"no route {path}"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
