"""`vidrestore live --sink webrtc` as a real process, for the tests that talk to it: the URL
it prints, HTTP requests with any headers (a forged `Host:` included), and an aiortc
viewer that receives its video the way the page does."""

from __future__ import annotations

import asyncio
import http.client
import json
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

# The cheapest session: a small test pattern through the bicubic resampler on torch.
QUICK = ("--source", "testsrc", "--size", "64x48", "--fps", "15", "--model", "bicubic", "--x2",
         "--backend", "torch", "--device", "cpu", "--budget-ms", "500")
TOKEN_HEADER = "X-Vidrestore-Token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The command, started with `args`; `url` is the page's address as the command printed it."""

    def __init__(self, *args: object, quick: bool = True) -> None:
        pytest.importorskip("aiortc")
        self.port = free_port()
        command = [sys.executable, "-m", "vidrestore", "live", "--sink", "webrtc", "--port", str(self.port),
                   *(QUICK if quick else ()), *map(str, args)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        # Read stderr all along, so the status lines never fill the pipe.
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.url = self._wait_for_url(60)
        self.token = parse_qs(urlsplit(self.url).query).get("token", [None])[0]

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.append(line)

    @property
    def stderr(self) -> str:
        return "".join(self.lines)

    def _wait_for_url(self, seconds: float) -> str:
        """The page's URL from the command's stderr (or, if none is printed once the page
        answers, its bare address). A hang guard only."""
        deadline = time.monotonic() + seconds
        serving_since = None
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if m := re.search(r"http://\S+", line):
                    return m[0]
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited with {self.process.returncode}: {self.stderr}")
            if serving_since is None:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    serving_since = time.monotonic()
                except OSError:
                    pass
            elif time.monotonic() - serving_since > 3:
                return f"http://127.0.0.1:{self.port}/"
            time.sleep(0.1)
        raise AssertionError(f"the server did not serve within {seconds} s: {self.stderr}")

    def request(self, method: str, path: str, body: object = None, *, token: str | None | bool = True,
                headers: dict[str, str] | None = None) -> tuple[int, str]:
        """(status, body) of one request. `token`: True for the server's own (as a query parameter),
        a string for another, None for none. `body`: a dict is sent as JSON, bytes as they are."""
        token = self.token if token is True else token
        if token is not None:
            path += ("&" if "?" in path else "?") + f"token={token}"
        headers = {"Host": f"127.0.0.1:{self.port}", **(headers or {})}
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.read().decode(errors="replace")
        finally:
            connection.close()

    def stats(self) -> dict:
        status, text = self.request("GET", "/stats", headers={TOKEN_HEADER: self.token or ""}, token=None)
        assert status == 200, text
        return json.loads(text)

    def wait_until(self, predicate, seconds: float = 30) -> dict:
        """Poll /stats until `predicate(stats)` holds (a hang guard, not a timing assertion)."""
        deadline = time.monotonic() + seconds
        while True:
            stats = self.stats()
            if predicate(stats):
                return stats
            assert time.monotonic() < deadline, stats
            time.sleep(0.2)

    def stop(self, signum: int, seconds: float = 30) -> tuple[int, str]:
        """Send `signum`; the exit code and the whole stderr."""
        self.process.send_signal(signum)
        try:
            self.process.wait(timeout=seconds)
        finally:
            self.kill()
        return self.process.returncode, self.stderr

    def kill(self) -> None:
        """End the process if it still runs; then `stderr` is whole."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._reader.join(timeout=5)


class Viewer:
    """An aiortc peer that offers to receive video, like the page with a server-side source,
    on an event loop of its own (so the test's code stays plain)."""

    def __init__(self, server: Server, *, headers: dict[str, str] | None = None) -> None:
        self.server = server
        self.headers = headers or {}
        self.frames = 0
        self.sizes: set[tuple[int, int]] = set()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.pcs: list = []  # every peer connection made, the newest last

    def _call(self, coro, seconds: float = 30):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(seconds)

    def offer(self) -> dict:
        """A fresh receive-only offer, as the page would post it."""
        return self._call(self._offer())

    async def _offer(self) -> dict:
        from aiortc import RTCPeerConnection

        pc = RTCPeerConnection()
        self.pcs.append(pc)
        pc.addTransceiver("video", direction="recvonly")
        pc.on("track", lambda track: asyncio.ensure_future(self._count(track)))
        await pc.setLocalDescription(await pc.createOffer())
        return {"sdp": pc.localDescription.sdp, "type": pc.localDescription.type}

    async def _count(self, track) -> None:
        from aiortc.mediastreams import MediaStreamError

        try:
            while True:
                frame = await track.recv()
                self.frames += 1
                self.sizes.add((frame.width, frame.height))
        except MediaStreamError:
            pass

    def connect(self, *, token: str | None | bool = True) -> tuple[int, str]:
        """Post an offer to /offer; on 200, take the answer. (status, body)."""
        body = self.offer()
        status, text = self.server.request("POST", "/offer", body, token=token, headers=self.headers)
        if status == 200:
            from aiortc import RTCSessionDescription

            answer = json.loads(text)
            self._call(self.pcs[-1].setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type=answer["type"])))
        return status, text

    def wait_for_frames(self, count: int, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while self.frames < count:
            assert time.monotonic() < deadline, f"{self.frames} frames received in {seconds} s, {count} awaited"
            time.sleep(0.1)

    def close(self) -> None:
        for pc in self.pcs:
            self._call(pc.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())
