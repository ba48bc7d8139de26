"""Show the last HTTP exchanges with the server in every failure report.

The drivers turn an HTTP error into an exception that carries only the
server's message; a failing test here also needs the request, the status and
the body to be useful. Both requests (mattermostdriver) and httpx
(mattermostautodriver) are wrapped at their send method.
"""

import collections

import httpx
import pytest
import requests

_RECENT = collections.deque(maxlen=6)
_BODY_LIMIT = 600


def _clip(data):
    if data is None:
        return ""
    if isinstance(data, (bytes, bytearray)):
        if len(data) > _BODY_LIMIT:
            return f"<{len(data)} bytes>"
        try:
            data = data.decode()
        except UnicodeDecodeError:
            return f"<{len(data)} bytes>"
    data = str(data)
    return data if len(data) <= _BODY_LIMIT else data[:_BODY_LIMIT] + "..."


def _record(method, url, req_body, status, headers, body):
    ctype = headers.get("Content-Type", "")
    shown = _clip(body) if "json" in ctype or "text" in ctype else f"<{len(body or b'')} bytes>"
    _RECENT.append(
        f"{method} {url}\n    request: {_clip(req_body)}\n"
        f"    -> {status} [{ctype}] {shown}"
    )


_requests_send = requests.Session.send


def _requests_send_recorded(self, request, **kwargs):
    response = _requests_send(self, request, **kwargs)
    _record(
        request.method, request.url, request.body, response.status_code,
        response.headers, response.content,
    )
    return response


requests.Session.send = _requests_send_recorded

_httpx_send = httpx.Client.send


def _httpx_send_recorded(self, request, **kwargs):
    response = _httpx_send(self, request, **kwargs)
    response.read()
    _record(
        request.method, str(request.url), request.content, response.status_code,
        response.headers, response.content,
    )
    return response


httpx.Client.send = _httpx_send_recorded


# Module-scoped fixtures build the flow step by step. When one fails, pytest
# re-raises the same exception object for every later test that needs it: report
# it once, as an error, and the repeats as skips, so the counts tell the truth.
_FAILED_FIXTURES = set()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if call.when == "setup" and report.failed and call.excinfo is not None:
        exc = call.excinfo.value
        if id(exc) in _FAILED_FIXTURES:
            report.outcome = "skipped"
            path, lineno, _ = item.location
            report.longrepr = (path, (lineno or 0) + 1, f"Skipped: a fixture it needs failed earlier: {exc!r}"[:300])
            return
        _FAILED_FIXTURES.add(id(exc))
    if report.failed and _RECENT:
        report.sections.append(("last HTTP exchanges (oldest first)", "\n".join(_RECENT)))
    if call.when == "teardown":
        _RECENT.clear()
