"""The WebRTC page under hostile input: a per-run token on every endpoint, Host and Origin
checks (DNS rebinding, other sites' pages), JSON bodies of bounded size, offers checked
before they touch anything, one session at a time. A real server process, real requests."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.live.live_server import TOKEN_HEADER, Server, Viewer, read_json
from tests.runs import lines

pytestmark = pytest.mark.slow  # a real server process per test


@pytest.fixture(scope="module")
def server():
    server = Server()
    yield server
    server.kill()


def _endpoints() -> list[tuple[str, str, object]]:
    """Every route, with a body it would otherwise accept, and one that does not exist."""
    return [("GET", "/", None), ("GET", "/stats", None), ("POST", "/mode", {"mode": "after"}),
            ("POST", "/report", {"t": 1.0}), ("POST", "/offer", {"sdp": "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n", "type": "offer"}),
            ("GET", "/nowhere", None)]


def test_the_printed_url_carries_the_token_the_page_needs(server):
    assert server.token is not None and len(server.token) >= 20, server.url
    url = urlsplit(server.url)
    assert (url.hostname, url.port, url.path) == ("127.0.0.1", server.port, "/")
    status, page = server.request("GET", f"/?{url.query}", token=None)
    assert status == 200 and "<title>vidrestore live</title>" in page
    for token in (None, "", server.token[:-1], "A" * len(server.token)):
        status, text = server.request("GET", "/", token=token)
        assert (status, text) == (403, "403: no or wrong token; open the URL vidrestore printed (it ends in ?token=...)")


def test_every_endpoint_needs_the_token(server):
    for method, path, body in _endpoints():
        for token in (None, "wrong"):
            status, text = server.request(method, path, body, token=token)
            assert status == 403 and "token" in text, (method, path, token, status, text)
    # The page sends it in a header.
    status, _ = server.request("GET", "/stats", token=None, headers={TOKEN_HEADER: server.token or ""})
    assert status == 200
    assert server.stats()["sessions"] == 0


def test_a_foreign_host_is_refused_even_with_the_token(server):
    port = server.port
    # DNS rebinding: another site's name pointed at 127.0.0.1; or this address on another port.
    for host in ("evil.example", f"evil.example:{port}", f"127.0.0.1.nip.io:{port}", f"127.0.0.1:{port + 1}", "127.0.0.1", ""):
        for method, path, body in _endpoints():
            status, text = server.request(method, path, body, headers={"Host": host})
            assert status == 403 and "Host" in text, (host, method, path, status, text)
    # An aiortc client on such a name gets no answer, and so no video.
    viewer = Viewer(server, headers={"Host": f"evil.example:{port}"})
    try:
        assert viewer.connect()[0] == 403
    finally:
        viewer.close()
    assert server.stats()["sessions"] == 0
    # Every name of a loopback address is the page's own.
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", f"LocalHost:{port}"):
        status, text = server.request("GET", "/stats", headers={"Host": host})
        assert status == 200, (host, text)


def test_cross_origin_and_non_json_posts_are_refused(server):
    own = f"http://127.0.0.1:{server.port}"
    for path, body in (("/mode", {"mode": "after"}), ("/report", {"t": 1.0})):
        data = json.dumps(body).encode()
        # Another site's page can post text/plain without asking first; the browser adds its Origin.
        for origin in ("http://evil.example", f"http://localhost.evil.example:{server.port}", "null", f"https://127.0.0.1:{server.port}"):
            for kind in ("text/plain", "application/json"):
                status, text = server.request("POST", path, data, headers={"Content-Type": kind, "Origin": origin})
                assert status == 403 and "Origin" in text, (path, origin, kind, status, text)
        for kind in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None):
            headers = {"Origin": own} | ({"Content-Type": kind} if kind else {})
            status, text = server.request("POST", path, data, headers=headers)
            assert status == 415 and "application/json" in text, (path, kind, status, text)
        status, text = server.request("POST", path, data, headers={"Content-Type": "application/json; charset=utf-8", "Origin": own})
        assert status == 200, text


def test_offers_are_checked_before_they_touch_the_session(server):
    viewer = Viewer(server)
    try:
        status, text = viewer.connect()
        assert status == 200, text
        viewer.wait_for_frames(5)
        assert viewer.sizes == {(128, 96)}
        sdp = viewer.offer()["sdp"]
        bad = [b"not json", b"{\"sdp\": ", b"{}", b"[]", b"\"offer\"", b"null", {"type": "offer"}, {"sdp": sdp},
               {"sdp": sdp, "type": "answer"}, {"sdp": 5, "type": "offer"}, {"sdp": "v=0 garbage", "type": "offer"},
               {"sdp": sdp, "type": "offer", "camera": "big"}, {"sdp": sdp, "type": "offer", "camera": {"width": 10**6, "height": 480}},
               {"sdp": sdp, "type": "offer", "camera": {"width": "640", "height": 480}}]
        for body in bad:
            status, text = server.request("POST", "/offer", body, headers={"Content-Type": "application/json"})
            assert status == 400, (body, status, text)
            assert text.startswith("400: ") and "\n" not in text and len(text) < 200, text
        # The session went on: the same one, still sending.
        frames = viewer.frames
        viewer.wait_for_frames(frames + 5)
        stats = server.stats()
        assert stats["sessions"] == 1 and stats["session_active"] is True
        # A second viewer while it runs is told so, and the first goes on.
        other = Viewer(server)
        try:
            status, text = other.connect()
        finally:
            other.close()
        assert (status, text) == (409, "409: a session is already running (one at a time); close the other page first")
        frames = viewer.frames
        viewer.wait_for_frames(frames + 5)
        assert server.stats()["sessions"] == 1
    finally:
        viewer.close()
    # Once the first viewer hangs up, the next one is welcome.
    server.wait_until(lambda stats: stats.get("session_active") is False)
    viewer = Viewer(server)
    try:
        assert viewer.connect()[0] == 200
        viewer.wait_for_frames(5)
    finally:
        viewer.close()
    assert server.stats()["sessions"] == 2
    assert "Traceback" not in server.stderr and lines(server.stderr, "error") == [], server.stderr


def test_report_floods_are_refused_and_summarised(tmp_path: Path):
    stats_path = tmp_path / "stats.json"
    server = Server("--stats-json", stats_path)
    try:
        big = {"t": 1.0, "framesDecoded": 1, "padding": "x" * 200_000}
        for _ in range(20):
            status, text = server.request("POST", "/report", big)
            assert status == 413, (status, text)
        report = {"framesDecoded": 3, "frameWidth": 128, "frameHeight": 96, "mode": "after", "junk": "y" * 1000}
        for t in range(300):
            status, text = server.request("POST", "/report", {**report, "t": float(t)})
            assert status == 200, text
        for body in ([1, 2], {"t": "soon"}, {"mode": "sideways"}):
            status, text = server.request("POST", "/report", body)
            assert status == 400, (body, status, text)
        server.stop(signal.SIGINT)
    finally:
        server.kill()
    data = read_json(stats_path)
    assert data["browser_reports_received"] == 300
    kept = data["browser_reports"]
    assert 0 < len(kept) <= 120 and kept[-1]["t"] == 299.0
    # What the page reports, and when it arrived; nothing else a client sent is kept.
    assert {key for r in kept for key in r} == {"t", "framesDecoded", "frameWidth", "frameHeight", "mode", "server_t"}
    assert stats_path.stat().st_size < 64_000
