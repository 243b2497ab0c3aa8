#!/usr/bin/env python3
"""Runs the protocol conformance scenarios (clients/conformance/scenarios.json) with the
Python client, as an instance started by encluster, then serves a small control loop so
end-to-end tests can drive it (see crates/e2e/tests/it/app.rs).

Each step prints `CONFORMANCE {"name": ..., "ok": ..., "detail": ...}`; then
`CONFORMANCE-DONE pass` or `CONFORMANCE-DONE fail`. The control loop reads commands from
the file `app-control` in the instance's state directory:
`health-fail REASON` reports an is_alive failure, `checkpoint NAME DATA` writes one, `read NAME` prints one
(printing `CONTROL checkpoint NAME ok` or `... error CODE`), `score N` sets the promotion
score, `demote-fail REASON` makes every later demote fail with REASON. Promotes and demotes
are answered done (printing `EVENT {...}`). On prepare_stop it says stop_ready and exits;
on lease_lost it exits.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import encluster_app  # noqa: E402


def expand(value):
    if isinstance(value, str) and value.startswith("$"):
        return os.environ.get(value[1:], "")
    if isinstance(value, str):
        for name, text in os.environ.items():
            value = value.replace("$" + name, text) if name.startswith("CONFORMANCE_") else value
    return value


def raw(step):
    """One step on a connection of its own, speaking the protocol by hand."""
    conn = encluster_app._Connection(os.environ[encluster_app.ENV_SOCKET])
    try:
        if "hello_token" in step:
            conn.send({"id": 1, "op": "hello", "version": step.get("version", 1),
                       "token": expand(step["hello_token"])})
        elif "repeat" in step:
            conn.send_raw(b"x" * step["repeat"] + b"\n")
        else:
            conn.send_raw(step["line"].encode() + b"\n")
        reply = conn.read_message(time.monotonic() + 10)
    finally:
        conn.close()
    if reply is None:
        raise encluster_app.Error("timeout", "no reply")
    if reply.get("error"):
        raise encluster_app.Error(reply["error"]["code"], reply["error"]["message"])
    return reply.get("ok")


def run_step(app, step):
    op = step["op"]
    if op == "identity":
        return str(app.identity[step["field"]])
    if op == "params":
        return app.params().get(step["key"])
    if op == "ping":
        return app.ping()
    if op == "health":
        return app.report_health(step["depth"], step["healthy"])
    if op == "checkpoint_put":
        data = b"x" * step["size"] if "size" in step else expand(step["data"]).encode()
        return app.checkpoint_put(step["checkpoint"], data)
    if op == "checkpoint_get":
        data = app.checkpoint_get(step["checkpoint"])
        return None if data is None else data.decode()
    if op == "raw":
        return raw(step)
    raise ValueError("unknown step op %r" % op)


def check(app, step):
    try:
        got = run_step(app, step)
    except encluster_app.Error as error:
        if step.get("error") == error.code:
            return True, "refused as expected: %s" % error
        return False, "unexpected error %s" % error
    if "error" in step:
        return False, "expected error %s, got %r" % (step["error"], got)
    if "equals" in step and got != expand(step["equals"]):
        return False, "expected %r, got %r" % (expand(step["equals"]), got)
    return True, "got %r" % (got if not isinstance(got, str) or len(got) < 80 else got[:80])


# Role changes to answer as failed, with the reason: set by the `demote-fail` control.
ROLE_FAILURES = {}


def control(app, path):
    try:
        with open(path) as file:
            words = file.read().split(None, 2)
        os.remove(path)
    except FileNotFoundError:
        return
    if words[:1] == ["health-fail"]:
        reason = " ".join(words[1:]) or "told to fail"
        app.report_health("is_alive", False, reason)
        print("CONTROL health-fail ok", flush=True)
    elif words[:1] == ["score"] and len(words) == 2:
        app.set_promotion_score(int(words[1]))
        print("CONTROL score %s ok" % words[1], flush=True)
    elif words[:1] == ["demote-fail"]:
        ROLE_FAILURES["demote"] = " ".join(words[1:]).strip() or "told to fail"
        print("CONTROL demote-fail ok", flush=True)
    elif words[:1] == ["read"] and len(words) >= 2:
        data = app.checkpoint_get(words[1]) or b""
        print("CONTROL read %s %s" % (words[1], data.decode()), flush=True)
    elif words[:1] == ["checkpoint"] and len(words) == 3:
        try:
            app.checkpoint_put(words[1], words[2].strip().encode())
            print("CONTROL checkpoint %s ok" % words[1], flush=True)
        except encluster_app.Error as error:
            print("CONTROL checkpoint %s error %s %s" % (words[1], error.code, error.message),
                  flush=True)


def main():
    app = encluster_app.App.from_env()
    with open(os.environ["CONFORMANCE_SCENARIOS"]) as file:
        steps = json.load(file)["steps"]
    passed = True
    for step in steps:
        ok, detail = check(app, step)
        passed = passed and ok
        print("CONFORMANCE " + json.dumps({"name": step["name"], "ok": ok, "detail": detail}),
              flush=True)
    print("CONFORMANCE-DONE " + ("pass" if passed else "fail"), flush=True)
    control_path = os.path.join(os.environ["ENCLUSTER_STATE_DIR"], "app-control")
    while True:
        event = app.next_event(timeout=0.1)
        if event is not None:
            print("EVENT " + json.dumps(event), flush=True)
            if event["event"] == "prepare_stop":
                app.stop_ready()
                return
            if event["event"] == "lease_lost":
                return
            if event["event"] in ("promote", "demote"):
                reason = ROLE_FAILURES.get(event["event"])
                app.answer_role(event["change"], reason is None, reason)
        control(app, control_path)


if __name__ == "__main__":
    main()
