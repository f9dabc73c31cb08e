"""Scoring restoration models the way their papers do.

- `sr`: super-resolution against bicubic (the EDSR/BasicSR protocol);
- `deblur`: deblurring against the blurry input and Richardson-Lucy;
- `photos`, `scores`: reading photos and scoring Y planes, shared by both;
- `runner`: running a network that is being trained (`ModuleRunner`);
- `report`: what an evaluation found, as table rows and as JSON;
- `graph`: exported ONNX graphs and the metadata that says what they hold;
- `run`: `vidrestore eval` from end to end.

The protocols score whatever runs a batch (`run(batch)`, float NCHW on the
CPU in and out): a backend for a shipped model or an exported graph, or
`ModuleRunner` for the trainer's validation. Nothing here imports the
training package; training takes its validation and its LR-making from here.
"""
