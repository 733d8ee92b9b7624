# A webhook receiver that checks each request's Presence-Signature and prints its events.
#   WEBHOOK_SECRET=<the webhook's secret> python3 receiver.py      (PORT: default 4000)
import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

# Requests signed longer ago than this are refused: a captured request can't be replayed later.
TOLERANCE_SECONDS = 300


def verify_signature(secret, header, body, now=None):
    """True when header (Presence-Signature: t=<unix>,v1=<hex>) signs the raw body with secret, recently."""
    fields = [part.strip().split("=", 1) for part in header.split(",") if "=" in part]
    timestamps = [value for key, value in fields if key == "t"]
    if not timestamps or not timestamps[0].isdigit():
        return False
    t = int(timestamps[0])
    if abs((time.time() if now is None else now) - t) > TOLERANCE_SECONDS:
        return False
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    # More than one v1 may come (a secret being rotated): any may match.
    return any(hmac.compare_digest(value, expected) for key, value in fields if key == "v1")


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))  # the bytes as sent
        if not verify_signature(os.environ.get("WEBHOOK_SECRET", ""), self.headers.get("presence-signature", ""), body):
            print("refused: bad or old signature", flush=True)
            self.send_response(400)
            self.end_headers()
            return
        # Presence-Event-Ids (and each event's id) let you drop a batch you already handled: delivery is at least once.
        for event in json.loads(body)["events"]:
            print(f"{event['type']} {event['clientId']} {event['reason'] or ''} id={event['id']} at={event['at']}", flush=True)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


port = int(os.environ.get("PORT", "4000"))
server = HTTPServer(("127.0.0.1", port), Receiver)
print(f"listening on http://127.0.0.1:{port}/", flush=True)
sys.stdout.flush()
server.serve_forever()
