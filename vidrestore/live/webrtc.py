"""`--sink webrtc`: a local page where the browser sends its camera and gets it back enhanced.

The tool serves one page (aiohttp) and answers its WebRTC offer (aiortc). The
browser's camera track is read as fast as it arrives into a `PushedSource`
(newest frame only); the live engine runs in its own thread on those frames;
each enhanced frame goes straight to the outgoing track (`live.sinks.TrackSink`).
With another `--source` (testsrc, a file, a camera on the server) the page
only receives.

The page has a before/after toggle ("before" is the same frame resized with
plain bicubic, so both fill the same window) and shows the engine's live
figures, polled from /stats. It reports what it receives (frames decoded,
their size) to /report, so the stats file shows both ends.

Latency here is the server's: from the moment a camera frame arrived from the
browser to the moment its enhanced frame was handed to the outgoing track.
The network and the browser's own buffering come on top (on localhost, a
few milliseconds and one frame of jitter buffer).

Only the printed page may talk to the server (a token, Host and Origin checks,
small JSON bodies: see `live.guard`), what it sends is checked first
(`live.messages`), and one session runs at a time: an offer while one runs is
refused (409) until its page hangs up.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from importlib import resources
from typing import Any

from vidrestore.errors import BackendUnavailable, VidrestoreError
from vidrestore.live.engine import Engine
from vidrestore.live.guard import Access, Refused, middleware, read_json
from vidrestore.live.messages import Offer, Reports, parse_mode, parse_offer, parse_report
from vidrestore.live.sinks import SinkOptions, open_sink
from vidrestore.live.sources import PushedSource, Source
from vidrestore.live.stats import LiveStats

log = logging.getLogger(__name__)

OFFER_BYTES = 64 * 1024  # a browser's offer is 3 to 10 KB, candidates included
MESSAGE_BYTES = 4 * 1024  # a report or a toggle: a few hundred bytes


def require_webrtc() -> None:
    try:
        import aiohttp  # noqa: F401
        import aiortc  # noqa: F401
    except ImportError:
        raise BackendUnavailable("--sink webrtc needs aiortc and aiohttp: pip install 'vidrestore[live]'") from None


class Session:
    """One browser connection: its peer connection, source and engine thread."""

    def __init__(self, pc, engine: Engine, source: Source) -> None:
        self.pc, self.engine, self.source = pc, engine, source
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="live-engine", daemon=True)

    def _run(self) -> None:
        try:
            self.engine.run()
        except BaseException as exc:  # noqa: BLE001 - logged; the server goes on
            self.error = exc
            log.error("the live session stopped: %s", exc)

    def stop(self) -> None:
        self.engine.stop.set()  # the engine checks it at least every 0.25 s, and stops its source
        self.thread.join(timeout=2.0)  # within the grace a signal gives (see cli.live)


class WebRTCServer:
    """Serves the page and runs one session at a time."""

    def __init__(self, make_engine: Callable[..., Engine], *, source: Callable[[], Source] | None, source_name: str,
                 host: str, port: int, budget_ms: float, status: Callable[[str], None] | None,
                 announce: Callable[[str], None]) -> None:
        require_webrtc()
        self.source_name = source_name
        self.make_engine = make_engine
        self.make_source = source  # None: the browser's camera
        self.host, self.port = host, port
        self.budget_ms = budget_ms
        self.status = status
        self.announce = announce  # shown the page's URL, token included, once it is served
        self.session: Session | None = None
        self.starting = False  # an offer is being answered: the one session's place is taken
        self.sessions = 0
        self.reports = Reports()
        self.last_stats: LiveStats | None = None
        self.access: Access | None = None  # once serving: the port is known
        self.url = ""  # without the token: the stats file may be shared

    # -- HTTP ---------------------------------------------------------------------------------

    async def _page(self, request):
        from aiohttp import web

        page = resources.files("vidrestore.live").joinpath("page.html").read_text(encoding="utf-8")
        source = "browser" if self.make_source is None else self.source_name
        # The token is in this page's address: no Referer carries it off, no other site frames it.
        headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
                   "Content-Security-Policy": "frame-ancestors 'none'"}
        return web.Response(text=page.replace("__SOURCE__", source), content_type="text/html", headers=headers)

    async def _stats(self, request):
        from aiohttp import web

        return web.json_response(self.summary())

    async def _report(self, request):
        from aiohttp import web

        self.reports.add(parse_report(await read_json(request, MESSAGE_BYTES)))
        return web.json_response({"ok": True})

    async def _mode(self, request):
        from aiohttp import web

        mode = parse_mode(await read_json(request, MESSAGE_BYTES))
        if self.session is not None:
            self.session.engine.bypass = mode == "before"
        return web.json_response({"mode": mode})

    async def _offer(self, request):
        from aiohttp import web

        offer = parse_offer(await read_json(request, OFFER_BYTES))  # before anything is touched
        if self.session is not None or self.starting:
            raise Refused(409, "a session is already running (one at a time); close the other page first")
        self.starting = True
        try:
            session = await self._start_session(offer)
        except VidrestoreError as exc:  # the server's camera is busy, a model cannot load, ...
            log.error("the session could not start: %s", exc)
            raise Refused(503, f"the session could not start: {exc}") from None
        finally:
            self.starting = False
        pc = session.pc
        return web.json_response({"sdp": pc.localDescription.sdp, "type": pc.localDescription.type,
                                  "source": session.source.name, "budget_ms": self.budget_ms})

    async def _start_session(self, offer: Offer) -> Session:
        """A peer connection answering `offer`, its source and engine running; nothing is left
        behind when the offer cannot be answered."""
        from aiortc import RTCPeerConnection, RTCSessionDescription

        pc = RTCPeerConnection()
        loop = asyncio.get_running_loop()
        sink = open_sink("webrtc", SinkOptions(loop=loop))
        track = sink.track
        browser = self.make_source is None
        source: Source | None = PushedSource() if browser else None

        @pc.on("track")
        def on_track(incoming) -> None:
            if incoming.kind != "video" or not browser:
                return
            pc.addTrack(track)
            asyncio.ensure_future(self._read(incoming, source))

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            log.debug("peer connection: %s", pc.connectionState)
            if pc.connectionState in ("failed", "closed") and self.session is not None and self.session.pc is pc:
                await self._close_session()

        try:
            try:
                await pc.setRemoteDescription(RTCSessionDescription(sdp=offer.sdp, type="offer"))
            except Exception as exc:  # noqa: BLE001 - aiortc's parser raises what it meets
                message = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
                raise Refused(400, f"the offer cannot be answered: {message}") from None
            if source is None:
                source = self.make_source()
            # Building the ladder loads models: off the event loop, so the server keeps answering.
            engine = await loop.run_in_executor(None, self.make_engine, source, sink, offer.camera)
            if not browser:
                pc.addTrack(track)
            await pc.setLocalDescription(await pc.createAnswer())
        except BaseException:
            if source is not None:
                source.stop()
            await pc.close()
            raise
        session = Session(pc, engine, source)
        self.session = session
        self.sessions += 1
        session.thread.start()
        return session

    async def _read(self, incoming, source: PushedSource) -> None:
        from aiortc.mediastreams import MediaStreamError

        try:
            while True:
                source.push(await incoming.recv())
        except MediaStreamError:
            source.stop()  # the browser hung up: the engine sees the source end

    async def _close_session(self) -> None:
        session, self.session = self.session, None
        if session is None:
            return
        await asyncio.get_running_loop().run_in_executor(None, session.stop)
        self.last_stats = session.engine.stats
        await session.pc.close()

    def summary(self) -> dict[str, Any]:
        stats = self.session.engine.stats if self.session is not None else self.last_stats
        out: dict[str, Any] = stats.summary() if stats is not None else {"frames_out": 0}
        if self.session is not None:
            out["rung"] = self.session.engine.governor.rung.label
            out["mode"] = "before" if self.session.engine.bypass else "after"
        out.update(sink="webrtc", url=self.url, sessions=self.sessions, session_active=self.session is not None,
                   browser=self.reports.last, browser_reports_received=self.reports.received)
        return out

    # -- running ------------------------------------------------------------------------------

    def serve(self, duration: float | None, stop: threading.Event) -> dict[str, Any]:
        """Serve until `duration` seconds have passed or `stop` is set; the final summary,
        with the newest reports the page sent."""
        return asyncio.run(self._serve(duration, stop))

    async def _serve(self, duration: float | None, stop: threading.Event) -> dict[str, Any]:
        from aiohttp import web

        app = web.Application(middlewares=[middleware(lambda: self.access)], client_max_size=OFFER_BYTES)
        app.add_routes([web.get("/", self._page), web.post("/offer", self._offer), web.get("/stats", self._stats),
                        web.post("/report", self._report), web.post("/mode", self._mode)])
        # A short shutdown: a signal gives the whole session a few seconds to end (see cli.live).
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise BackendUnavailable(f"cannot serve on {self.host}:{self.port} ({exc.strerror}); choose another --port") from None
        port = site._server.sockets[0].getsockname()[1]  # the real one when --port 0
        self.access = Access.for_bind(self.host, port)
        url = self.access.url(self.host)
        self.url = url.partition("?")[0]
        self.announce(url)
        deadline = None if duration is None else time.monotonic() + duration
        last = time.monotonic()
        try:
            while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
                await asyncio.sleep(0.1)
                if self.status is not None and self.session is not None and time.monotonic() - last >= 1.0:
                    last = time.monotonic()
                    self.status(self.session.engine.status_line())
        finally:
            await self._close_session()
            await runner.cleanup()
        summary = self.summary()
        summary["browser_reports"] = list(self.reports.recent)
        return summary

