"""`vidrestore live`: a camera (or stand-in) enhanced in real time, within a latency budget.

    source thread (newest frame only) -> engine (one frame at a time, a ladder of
    cheaper settings it steps down and back up) -> sink (null, file, window,
    virtual camera, or a WebRTC page)

The pipeline of `vidrestore upscale` maximises throughput with batches and
queues; a live filter must instead keep every frame young. So nothing here
queues: the source keeps only its newest frame (older ones are dropped and
counted), the engine processes one frame at a time, and the sink gets each
result at once.

`session` puts a session together from its settings; `sources`, `engine`
(with `governor`, the ladder, and `stats`, what was measured) and `sinks` are
the three stages; `webrtc` serves the page, guarded by `guard` and `messages`.
"""
