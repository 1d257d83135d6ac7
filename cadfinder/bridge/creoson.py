"""CREOSON client: JSON over HTTP to the CREOSON server, which drives Creo through its toolkit.

Every request is {"sessionId", "command", "function", "data"}; every reply is
{"status": {"error": bool, "message"}, "sessionId", "data"}. Spoken directly with urllib (no
extra dependency); the functions used are those of CREOSON's documented command set.
"""

from __future__ import annotations

import http.client
import json
import socket
import urllib.error
import urllib.request

from cadfinder.errors import CadfinderError


class CreoError(CadfinderError):
    """A failure in Creo or in reaching it, as one readable line."""


class CreosonClient:
    def __init__(self, url: str, timeout_s: float = 30.0):
        if not url.startswith(("http://", "https://")):
            raise CreoError(f"bad CREOSON URL {url!r}: expected http://host:port/creoson")
        self.url = url
        self.timeout_s = timeout_s
        self.session_id = ""
        self.log: list[tuple[str, str]] = []  # (command, function) sent, for reports and tests

    def _post(self, body: dict) -> dict:
        """Send one request envelope; the reply, or CreoError for transport failures."""
        what = f"{body['command']}.{body['function']}"
        req = urllib.request.Request(self.url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        self.log.append((body["command"], body["function"]))
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as r:
                return json.loads(r.read().decode("utf-8"))
        except (socket.timeout, TimeoutError):
            raise CreoError(f"CREOSON did not answer {what} within {self.timeout_s:g} s") from None
        except urllib.error.HTTPError as e:
            raise CreoError(f"CREOSON answered HTTP {e.code} to {what}") from None
        except urllib.error.URLError as e:
            raise CreoError(f"cannot reach CREOSON at {self.url}: {e.reason} (is the CREOSON server running?)") from None
        except (http.client.HTTPException, ConnectionError) as e:
            raise CreoError(f"CREOSON closed the connection during {what} ({e or type(e).__name__}); "
                            "it may have crashed: check its console") from None
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise CreoError(f"CREOSON sent a reply that is not JSON to {what}") from None

    def call(self, command: str, function: str, data: dict | None = None) -> dict:
        """One request; returns its data, raises CreoError on transport or Creo errors."""
        body = {"sessionId": self.session_id, "command": command, "function": function}
        if data is not None:
            body["data"] = data
        reply = self._post(body)
        status = reply.get("status") or {}
        if status.get("error"):
            raise CreoError(f"Creo: {command}.{function} failed: {status.get('message') or 'no message'}")
        return reply.get("data") or {}

    def connect(self) -> None:
        reply = self._post({"command": "connection", "function": "connect"})
        if (reply.get("status") or {}).get("error") or not reply.get("sessionId"):
            raise CreoError(f"CREOSON refused the connection: {(reply.get('status') or {}).get('message')}")
        self.session_id = reply["sessionId"]

    def disconnect(self) -> None:
        if self.session_id:
            try:
                self.call("connection", "disconnect")
            except CreoError:
                pass
            self.session_id = ""
