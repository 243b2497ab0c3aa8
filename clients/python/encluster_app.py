"""encluster application protocol client, version 1 (see docs/app-protocol.md).

A dependency-free, synchronous client for applications that encluster starts:

    import encluster_app
    app = encluster_app.App.from_env()          # hello: who am I?
    print(app.identity["instance"], app.identity["fencing_token"])
    history = app.checkpoint_get("history") or b""
    app.report_health("looks_alive", True)
    app.checkpoint_put("history", history + b"one more line\\n")
    event = app.next_event(timeout=1.0)         # params_changed, prepare_stop, lease_lost...
    if app.lease_lost:                          # stop serving now
        ...

The client reconnects with the same instance token when the agent restarts, for up to
RECONNECT_FOR seconds, and sets `lease_lost` when the agent says the node's lease is lost
(or stays unreachable): the application must then stop serving at once.
"""

import base64
import json
import os
import select
import socket
import time

PROTOCOL_VERSION = 1
ENV_SOCKET = "ENCLUSTER_APP_SOCKET"
ENV_TOKEN = "ENCLUSTER_APP_TOKEN"
MESSAGE_BYTES_MAX = 256 * 1024
CHECKPOINT_BYTES_MAX = 64 * 1024
CHECKPOINT_NAME_BYTES_MAX = 64
REQUEST_TIMEOUT = 15.0
RECONNECT_FOR = 120.0
EVENT_QUEUE_MAX = 64


class Error(Exception):
    """A refused or failed request. `code` is one of the protocol's error codes
    (bad_request, too_large, hello_first, unauthorized, version, busy, refused, unavailable,
    gone) or, for failures of the client itself, disconnected, timeout or closed."""

    def __init__(self, code, message):
        super().__init__("%s: %s" % (code, message))
        self.code = code
        self.message = message


def check_checkpoint(name, data):
    """Raise Error('refused', ...) for a checkpoint the agent would refuse."""
    valid = (0 < len(name.encode()) <= CHECKPOINT_NAME_BYTES_MAX
             and all(c.isascii() and (c.isalnum() or c in "-_.") for c in name))
    if not valid:
        raise Error("refused", "checkpoint name %r is not valid: use 1 to %d letters, digits, "
                    "'-', '_' or '.'" % (name, CHECKPOINT_NAME_BYTES_MAX))
    if len(data) > CHECKPOINT_BYTES_MAX:
        raise Error("refused", "checkpoint %r has %d bytes, above the limit of %d"
                    % (name, len(data), CHECKPOINT_BYTES_MAX))


class _Connection:
    """One socket with its read buffer: lines in, lines out."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.connect(path)
        except OSError:
            self.sock.close()
            raise
        self.buffer = b""

    def send(self, message):
        self.sock.sendall(json.dumps(message, separators=(",", ":")).encode() + b"\n")

    def send_raw(self, data):
        self.sock.sendall(data)

    def read_message(self, deadline):
        """The next message, or None at the deadline. Raises OSError when the agent closes."""
        while b"\n" not in self.buffer:
            if len(self.buffer) >= MESSAGE_BYTES_MAX:
                raise Error("too_large", "the agent sent a message over the limit")
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            ready, _, _ = select.select([self.sock], [], [], left)
            if not ready:
                return None
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionResetError("the agent closed the connection")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line.decode())

    def close(self):
        self.sock.close()


class App:
    """A connection to this node's agent, as one instance of a resource."""

    def __init__(self, socket_path, token, timeout=REQUEST_TIMEOUT):
        self.socket_path = socket_path
        self.token = token
        self.timeout = timeout
        self.events = []
        self.lease_lost = None  # the reason, once the lease is lost
        self.identity = None
        self._next_id = 1
        self._conn = None
        self._connect()

    @classmethod
    def from_env(cls, **kwargs):
        """Connect with the socket and token encluster put in the environment."""
        for name in (ENV_SOCKET, ENV_TOKEN):
            if not os.environ.get(name):
                raise Error("closed", "%s is not set: the application must be started by "
                            "encluster (or set it by hand)" % name)
        return cls(os.environ[ENV_SOCKET], os.environ[ENV_TOKEN], **kwargs)

    # --- requests -------------------------------------------------------------------

    def params(self):
        """The resource's current parameters, a dict of name to text."""
        return self._request({"op": "params"})

    def answer_params(self, change, accept, reason=None):
        """Answer a params_changed event: accept (applied) or reject with a reason."""
        message = {"op": "params_answer", "change": change, "accept": bool(accept)}
        if reason is not None:
            message["reason"] = reason
        self._request(message)

    def answer_role(self, change, done, reason=None):
        """Answer a promote or demote event: done (the instance runs in the asked role)
        or failed with a reason (the cluster's promote or demote action fails with it)."""
        message = {"op": "role_answer", "change": change, "done": bool(done)}
        if reason is not None:
            message["reason"] = reason
        self._request(message)

    def set_promotion_score(self, score):
        """Set this instance's promotion score (an int; the highest is promoted), or clear
        it with None. Only instances with a score are promoted."""
        self._request({"op": "promotion_score", "score": score})

    def report_health(self, depth, healthy, reason=None):
        """Report the application's own check at depth 'looks_alive' or 'is_alive'.
        A failure is a monitor failure: the cluster recovers the resource."""
        message = {"op": "health", "depth": depth, "healthy": bool(healthy)}
        if reason is not None:
            message["reason"] = reason
        self._request(message)

    def checkpoint_put(self, name, data):
        """Store bytes (at most 64 KiB; 1 MiB per resource), replicated and fenced."""
        check_checkpoint(name, data)
        encoded = base64.b64encode(data).decode()
        self._request({"op": "checkpoint_put", "name": name, "data": encoded})

    def checkpoint_get(self, name):
        """The bytes of a checkpoint, or None if it was never written."""
        result = self._request({"op": "checkpoint_get", "name": name})
        data = result.get("data")
        return None if data is None else base64.b64decode(data, validate=True)

    def stop_ready(self):
        """Say the application has drained after prepare_stop."""
        self._request({"op": "stop_ready"})

    def ping(self):
        """One round trip to the agent."""
        self._request({"op": "ping"})

    def next_event(self, timeout=None):
        """The next event (a dict with an "event" key), or None after `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.events:
            try:
                message = self._conn.read_message(deadline)
            except OSError:
                self._reconnect()
                continue
            if message is None:
                return None
            self._dispatch(message)
        return self.events.pop(0)

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # --- internals ------------------------------------------------------------------

    def _connect(self):
        conn = _Connection(self.socket_path)
        try:
            conn.send({"id": 0, "op": "hello", "version": PROTOCOL_VERSION, "token": self.token})
            deadline = time.monotonic() + self.timeout
            while True:
                message = conn.read_message(deadline)
                if message is None:
                    raise Error("timeout", "no answer to hello")
                if "event" not in message:
                    break
            if message.get("error"):
                error = message["error"]
                raise Error(error.get("code", "unknown"), error.get("message", ""))
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        self.identity = message["ok"]

    def _reconnect(self):
        self.close()
        give_up = time.monotonic() + RECONNECT_FOR
        pause = 0.05
        while True:
            try:
                self._connect()
                return
            except Error as error:
                if error.code not in ("busy", "timeout"):
                    self.lease_lost = "agent refused the instance: %s" % error
                    raise
            except OSError:
                pass
            if time.monotonic() + pause >= give_up:
                self.lease_lost = "agent unreachable"
                raise Error("closed", "the agent stayed unreachable")
            time.sleep(pause)
            pause = min(pause * 2, 2.0)

    def _dispatch(self, message):
        if "event" in message:
            if message["event"] == "lease_lost":
                self.lease_lost = message.get("reason", "lease lost")
            if len(self.events) >= EVENT_QUEUE_MAX:
                self.events.pop(0)
            self.events.append(message)
            return None
        return message

    def _request(self, message):
        if self._conn is None:
            self._reconnect()
        request_id = self._next_id
        self._next_id += 1
        message = dict(message, id=request_id)
        try:
            self._conn.send(message)
        except OSError:
            self._reconnect()
            raise Error("disconnected", "the connection dropped before the answer came")
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                reply = self._conn.read_message(deadline)
            except OSError:
                self._reconnect()
                raise Error("disconnected", "the connection dropped before the answer came")
            if reply is None:
                raise Error("timeout", "no answer within %.0f s" % self.timeout)
            reply = self._dispatch(reply)
            if reply is None or reply.get("id") != request_id:
                continue
            if reply.get("error"):
                error = reply["error"]
                raise Error(error.get("code", "unknown"), error.get("message", ""))
            return reply.get("ok")
