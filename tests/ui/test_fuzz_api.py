"""Property-based (Hypothesis) fuzzing of the web UI's JSON API, through HTTP against a real
``pipetrack ui`` process (the module's ``ui_server`` over ``filled_home``, see conftest.py).

The routes come from the app's own route table (``create_app().routes``), not a copied list.
Hostile path segments, query strings and JSON bodies are sent with the login token (and the
CSRF token plus this server's Origin for POSTs). Invariant: no response is a 5xx, and every
error response (4xx) is JSON with a non-empty ``error`` message. A clone that succeeds must be
readable back with the name it was given.
"""
from __future__ import annotations

import json
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Optional

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from starlette.routing import Route

from pipetrack.ui import actions
from pipetrack.ui.app import create_app

# Hypothesis keeps caches (charmap, constants) in ./.hypothesis even with database=None: keep them
# out of the checkout (this sets the folder for the whole session, a temp folder shared by runs).
set_hypothesis_home_dir(os.path.join(tempfile.gettempdir(), "pipetrack-tests-hypothesis"))

FUZZ = settings(max_examples=120, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

ROUTES = [r for r in create_app().routes if isinstance(r, Route) and r.path.startswith("/api/")]
GET_ROUTES = [r for r in ROUTES if r.methods is None or "GET" in r.methods]
POST_ROUTES = [r for r in ROUTES if r.methods is not None and "POST" in r.methods]
QUERY_KEYS = ["page", "page_size", "sort", "status", "type", "tag", "search", "project", "parent", "archived", "tail",
              "after", "before", "x_axis", "max_points", "ids", "name", "col", "token", "", "x"]
BODY_KEYS = ["name", "comment", "parameters", "queue", "archive", "x", ""]

ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=20)  # lone surrogates included
NASTY = st.sampled_from(["", " ", "..", ".", "%", "%00", "\x00", "\ud800", "\udcff", "名前", "a" * 1500, "-1", "0",
                         str(10 ** 40), "9" * 400, "1e999", "NaN", "null", "true", "[]", "{}", "'", '"', "<script>",
                         "a,b,,c", "Args/lr", "/", "\\", "?", "#", "&", "=", "+", "\n", "iter", "time", "-created",
                         "col:0", "-col:1", '["metric", "loss", "train"]', '["param", "Args", "lr"]'])
TEXT = st.one_of(NASTY, ANY_TEXT)
JSON_SCALAR = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(10 ** 50), max_value=10 ** 50),
                        st.floats(allow_nan=True, allow_infinity=True), TEXT)
JSON_VALUE = st.recursive(JSON_SCALAR, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                               st.dictionaries(TEXT, inner, max_size=3)),
                          max_leaves=8)


def encode(text: str) -> str:
    """Percent-encoding of any str (a lone surrogate as its surrogatepass bytes, e.g. %ED%A0%80)."""
    return urllib.parse.quote(text.encode("utf-8", "surrogatepass"), safe="")


def send(server, method: str, path: str, data: Optional[bytes] = None) -> tuple[int, str, bytes]:
    headers = {**server.auth_headers()}
    if method == "POST":
        headers.update({"X-CSRF-Token": server.token, "Origin": server.url.rstrip("/"),
                        "Content-Type": "application/json"})
    request = urllib.request.Request(server.url.rstrip("/") + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Content-Type", ""), err.read()


def check_response(status: int, content_type: str, raw: bytes, what: str) -> Any:
    """No 5xx; a 4xx is JSON with an error message. Returns the decoded JSON (or None)."""
    assert status < 500, f"{what} -> {status}: {raw[:400]!r}"
    body = json.loads(raw) if "json" in content_type else None
    if status >= 400:
        assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"], \
            f"{what} -> {status} without a JSON error message: {content_type} {raw[:300]!r}"
    return body


@pytest.fixture(scope="module")
def known(ui_server) -> dict:
    """Real ids of the filled store (so fuzzed requests also reach existing tasks), plus Draft
    clones for the actions to work on."""
    rows = json.loads(send(ui_server, "GET", "/api/tasks?page_size=500")[2])["rows"]
    task_ids = [r["id"] for r in rows]
    runs = json.loads(send(ui_server, "GET", "/api/pipelines")[2])["rows"]
    artifacts = []
    for task_id in task_ids:
        artifacts += [a["name"] for a in json.loads(send(ui_server, "GET", f"/api/tasks/{task_id}")[2])["artifacts"]]
    drafts = []
    for _ in range(4):
        status, _, raw = send(ui_server, "POST", f"/api/tasks/{task_ids[0]}/clone", b"{}")
        assert status == 200, raw
        drafts.append(json.loads(raw)["id"])
    return {"tasks": task_ids, "drafts": drafts, "runs": [r["id"] for r in runs], "artifacts": artifacts}


def segment_strategy(known: dict):
    return st.one_of(st.sampled_from(known["tasks"] + known["drafts"] + known["runs"] + known["artifacts"]),
                     TEXT.map(encode), st.sampled_from(["%ED%A0%80", "%FF", "%2e%2e", "%2F", "%00", "..", "%", "%zz"]))


def fill(route: Route, segments: dict) -> str:
    path = route.path
    for name in route.param_convertors:
        path = path.replace("{" + name + "}", segments[name])
    return path


def test_the_route_table_is_what_the_fuzz_covers():
    """The enumeration is real: every action is a POST route, the reads are GET routes with and
    without path parameters."""
    assert {r.path.rsplit("/", 1)[1] for r in POST_ROUTES} == set(actions.ACTIONS)
    assert all(r.path.startswith("/api/tasks/{task_id}/") for r in POST_ROUTES)
    assert any(not r.param_convertors for r in GET_ROUTES) and any(r.param_convertors for r in GET_ROUTES)
    assert len(GET_ROUTES) >= 10


def test_every_route_with_a_hostile_segment(ui_server, known):
    """Each route once with each of a few fixed hostile segments (the property below samples)."""
    for route in ROUTES:
        for segment in ("%ED%A0%80", "%2e%2e", encode("\x00"), "9" * 400, encode("a" * 1500)):
            path = fill(route, {name: segment for name in route.param_convertors})
            method = "POST" if route in POST_ROUTES else "GET"
            status, ctype, raw = send(ui_server, method, path, b"{}" if method == "POST" else None)
            check_response(status, ctype, raw, f"{method} {path[:80]}")


@FUZZ
@given(data=st.data(), query=st.lists(st.tuples(st.one_of(st.sampled_from(QUERY_KEYS), TEXT), TEXT), max_size=4))
def test_get_routes_with_hostile_segments_and_queries(ui_server, known, data, query):
    route = data.draw(st.sampled_from(GET_ROUTES), label="route")
    segments = {name: data.draw(segment_strategy(known), label=name) for name in route.param_convertors}
    path = fill(route, segments)
    query_string = "&".join(f"{encode(k)}={encode(v)}" for k, v in query)
    url = path + (f"?{query_string}" if query_string else "")
    status, ctype, raw = send(ui_server, "GET", url)
    check_response(status, ctype, raw, f"GET {url[:200]}")


PARAMETERS = st.dictionaries(st.one_of(st.builds(lambda s, n: f"{s}/{n}", TEXT, TEXT), TEXT), JSON_VALUE, max_size=3)
# the keys the actions read, each present or not, with hostile values (the action routes share them)
ACTION_BODY = st.fixed_dictionaries({}, optional={"name": st.one_of(TEXT, JSON_VALUE), "comment": st.one_of(TEXT, JSON_VALUE),
                                                  "queue": st.one_of(TEXT, JSON_VALUE), "archive": JSON_SCALAR,
                                                  "parameters": st.one_of(PARAMETERS, JSON_VALUE)})
# bodies that reached the Task API with text SQLite can't store (500s before the tracking fixes)
KNOWN_HOSTILE = [{"name": "\ud800"}, {"comment": "x\udfff"}, {"queue": "\ud800"}, {"parameters": {"Args/\ud800": "1"}},
                 {"parameters": {"Args/x": "\ud800"}}, {"parameters": {"Args/x": [1, {"\ud800": None}]}},
                 {"name": "x" * 5000}, {"parameters": {"Args/x": 10 ** 39}}, {"archive": "\ud800"}]


def test_known_hostile_bodies_on_every_action(ui_server, known):
    """Each action once with each body that used to reach SQLite unchecked, on a fresh Draft."""
    for body in KNOWN_HOSTILE:
        status, _, raw = send(ui_server, "POST", f"/api/tasks/{known['tasks'][0]}/clone", b"{}")
        draft = json.loads(raw)["id"]
        for route in POST_ROUTES:
            path = fill(route, {"task_id": draft})
            status, ctype, raw = send(ui_server, "POST", path, json.dumps(body).encode())
            check_response(status, ctype, raw, f"POST {path} {body!r:.80}")


@FUZZ
@given(data=st.data(),
       body=st.one_of(ACTION_BODY, ACTION_BODY,
                      st.dictionaries(st.one_of(st.sampled_from(BODY_KEYS), TEXT), JSON_VALUE, max_size=4),
                      JSON_VALUE, st.none()),
       raw_body=st.one_of(st.none(), st.binary(max_size=40),
                          st.sampled_from([b"", b"{", b"[" * 40 + b"]" * 40, b'{"a": 1e999}', b'{"a": NaN}',
                                           b'\xff\xfe', b'{"name": "\\ud800"}', b'{"queue": "\\udfff"}'])))
def test_post_actions_with_hostile_bodies(ui_server, known, data, body, raw_body):
    route = data.draw(st.sampled_from(POST_ROUTES), label="route")
    task_id = data.draw(st.one_of(st.sampled_from(known["drafts"]), st.sampled_from(known["tasks"]),
                                  segment_strategy(known)), label="task_id")
    # json.dumps escapes lone surrogates (\ud800) and writes NaN/Infinity (which the server refuses)
    payload = raw_body if raw_body is not None else json.dumps(body).encode()
    path = fill(route, {"task_id": task_id})
    status, ctype, raw = send(ui_server, "POST", path, payload)
    result = check_response(status, ctype, raw, f"POST {path} {payload[:200]!r}")
    if status == 200 and route.path.endswith("/clone"):  # an accepted clone reads back as asked
        status, ctype, raw = send(ui_server, "GET", f"/api/tasks/{result['id']}")
        detail = check_response(status, ctype, raw, "GET the clone")
        assert status == 200 and detail["status"] == "created"
        sent = json.loads(payload) if payload else {}  # an empty body is {}
        if isinstance(sent.get("name"), str):
            assert detail["name"] == sent["name"].strip()
        if isinstance(sent.get("comment"), str):
            assert detail["comment"] == sent["comment"]
