#!/usr/bin/env python3
"""An OAuth2 authorization server for Guichet's tests (standard library only).

usage: oauth_server.py PORT   prints "ready" once listening; exits when stdin closes, so a
test binary that dies takes it along.

Provider side (what Guichet and Dovecot use):
  POST /token        grant_type client_credentials | refresh_token |
                     urn:ietf:params:oauth:grant-type:device_code (RFC 6749, 8628)
  POST /devicecode   client_id, scope -> device_code, user_code, verification_uri, interval 1
  POST /introspect   token -> {"active", "username", "exp"} (RFC 7662; Dovecot's oauth2 passdb)
Test side (JSON bodies):
  POST /admin/client  {"client_id", "client_secret" (optional), "user", "lifetime"}
                      a client whose tokens log in as "user" and last "lifetime" seconds
  POST /admin/refresh-token {"client_id"} -> {"refresh_token"}: a consent given earlier
  POST /admin/approve {"user_code"}: the user entered the code in a browser
  POST /admin/revoke  {"refresh_token"}: it and the access tokens it gave stop working
  POST /admin/forget  {"client_id"}: the client's access tokens stop working early
  GET  /admin/state   every secret and token ever handed out, and counts per grant
"""

import json
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

LOCK = threading.Lock()
CLIENTS = {}  # client_id -> {"secret", "user", "lifetime"}
REFRESH = {}  # refresh token -> {"client_id", "revoked"}
ACCESS = {}  # access token -> {"user", "exp", "refresh"}
DEVICE = {}  # device_code -> {"client_id", "user_code", "approved", "done"}
GRANTS = {"client_credentials": 0, "refresh_token": 0, "device_code": 0}
INTROSPECTIONS = {"active": 0, "inactive": 0}


def error(code, description, status=400):
    return status, {"error": code, "error_description": description}


def issue(client_id, refresh=None):
    client = CLIENTS[client_id]
    token = "at-" + secrets.token_urlsafe(24)
    ACCESS[token] = {
        "client_id": client_id,
        "user": client["user"],
        "exp": time.time() + client["lifetime"],
        "refresh": refresh,
    }
    return {"access_token": token, "token_type": "Bearer", "expires_in": client["lifetime"]}


def authenticate(form):
    client_id = form.get("client_id", "")
    client = CLIENTS.get(client_id)
    if client is None:
        return None, error("invalid_client", "unknown client", 401)
    if client.get("secret") and form.get("client_secret") != client["secret"]:
        return None, error("invalid_client", "wrong client secret", 401)
    return client_id, None


def token(form):
    client_id, failed = authenticate(form)
    if failed:
        return failed
    grant = form.get("grant_type", "")
    if grant == "client_credentials":
        if not CLIENTS[client_id].get("secret"):
            return error("unauthorized_client", "a public client has no client credentials")
        GRANTS["client_credentials"] += 1
        return 200, issue(client_id)
    if grant == "refresh_token":
        entry = REFRESH.get(form.get("refresh_token", ""))
        if entry is None or entry["client_id"] != client_id:
            return error("invalid_grant", "unknown refresh token")
        if entry["revoked"]:
            return error("invalid_grant", "the refresh token was revoked by the user")
        GRANTS["refresh_token"] += 1
        return 200, issue(client_id, form["refresh_token"])
    if grant == "urn:ietf:params:oauth:grant-type:device_code":
        entry = DEVICE.get(form.get("device_code", ""))
        if entry is None or entry["client_id"] != client_id or entry["done"]:
            return error("invalid_grant", "unknown device code")
        if not entry["approved"]:
            return error("authorization_pending", "the user has not entered the code yet")
        entry["done"] = True
        refresh = "rt-" + secrets.token_urlsafe(24)
        REFRESH[refresh] = {"client_id": client_id, "revoked": False}
        GRANTS["device_code"] += 1
        answer = issue(client_id, refresh)
        answer["refresh_token"] = refresh
        return 200, answer
    return error("unsupported_grant_type", grant)


def devicecode(form, port):
    if form.get("client_id") not in CLIENTS:
        return error("invalid_client", "unknown client", 401)
    code = "dc-" + secrets.token_urlsafe(16)
    user_code = secrets.token_hex(4).upper()
    DEVICE[code] = {"client_id": form["client_id"], "user_code": user_code,
                    "approved": False, "done": False}
    return 200, {"device_code": code, "user_code": user_code,
                 "verification_uri": f"http://127.0.0.1:{port}/device",
                 "interval": 1, "expires_in": 120}


def introspect(form):
    entry = ACCESS.get(form.get("token", ""))
    active = (entry is not None and entry["exp"] > time.time()
              and not (entry["refresh"] and REFRESH[entry["refresh"]]["revoked"]))
    INTROSPECTIONS["active" if active else "inactive"] += 1
    if not active:
        return 200, {"active": False}
    return 200, {"active": True, "username": entry["user"], "exp": int(entry["exp"])}


def admin(path, body):
    if path == "/admin/client":
        CLIENTS[body["client_id"]] = {"secret": body.get("client_secret"),
                                      "user": body["user"], "lifetime": body["lifetime"]}
        return 200, {}
    if path == "/admin/refresh-token":
        refresh = "rt-" + secrets.token_urlsafe(24)
        REFRESH[refresh] = {"client_id": body["client_id"], "revoked": False}
        return 200, {"refresh_token": refresh}
    if path == "/admin/approve":
        for entry in DEVICE.values():
            if entry["user_code"] == body["user_code"]:
                entry["approved"] = True
                return 200, {}
        return 404, {"error": "no such user code"}
    if path == "/admin/forget":
        for entry in ACCESS.values():
            if entry["client_id"] == body["client_id"]:
                entry["exp"] = 0
        return 200, {}
    if path == "/admin/revoke":
        REFRESH[body["refresh_token"]]["revoked"] = True
        return 200, {}
    return 404, {"error": "not found"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path != "/admin/state":
            return self.answer(404, {"error": "not found"})
        with LOCK:
            secrets_seen = [c["secret"] for c in CLIENTS.values() if c["secret"]]
            self.answer(200, {"grants": GRANTS, "introspections": INTROSPECTIONS,
                              "tokens": list(ACCESS) + list(REFRESH) + secrets_seen})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode()
        with LOCK:
            if self.path.startswith("/admin/"):
                status, body = admin(self.path, json.loads(raw or "{}"))
            else:
                form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
                if self.path == "/token":
                    status, body = token(form)
                elif self.path == "/devicecode":
                    status, body = devicecode(form, self.server.server_port)
                elif self.path == "/introspect":
                    status, body = introspect(form)
                else:
                    status, body = 404, {"error": "not found"}
        self.answer(status, body)

    def log_message(self, *args):
        pass


def main():
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print("ready", flush=True)
    sys.stdin.read()  # returns when the test process (its stdin's writer) is gone


if __name__ == "__main__":
    main()
