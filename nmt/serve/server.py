"""Load the model, then run the HTTP app under uvicorn until SIGINT or SIGTERM.

On either signal uvicorn stops accepting connections and waits for the requests in flight to be
answered; the app then stops its decoder threads, and the process exits with status 0.
"""
import json
import sys
from dataclasses import replace
from pathlib import Path

import torch

from nmt.decode.load import load_for_decoding
from nmt.decode.options import flag, with_options
from nmt.errors import NmtError


def serve(model_dirs, device, options, limits, host="127.0.0.1", port=8000, dtype="fp32", quantize=None,
          access_log=False):
    """`options`: decode settings given on the command line (None: the model's), e.g. {"beam": 5}."""
    try:
        import uvicorn

        from nmt.serve.app import Service, create_app, service_info
    except ImportError as e:
        raise NmtError(f"nmt serve needs the serve extra ({e.name} is missing): pip install 'nmt[serve]'") from None
    model, tokenizers, decode_cfg = load_for_decoding(model_dirs, device, dtype, quantize)
    limits = replace(limits, workers=limits.workers or default_workers(device))
    # the decoder threads share torch's threads (OMP_NUM_THREADS, else the cores); each starts with its share
    torch.set_num_threads(max(1, torch.get_num_threads() // limits.workers))
    settings = with_options(decode_cfg, options, name=flag)
    model_config = json.loads((Path(model_dirs[0]) / "config.json").read_text(encoding="utf-8"))["model"]
    info = service_info(model_dirs, device, dtype, quantize, tokenizers, model_config)
    app = create_app(Service(model, tokenizers, device, settings, info), limits)
    print(f"serving {', '.join(map(str, model_dirs))} on http://{host}:{port}", file=sys.stderr, flush=True)
    uvicorn.run(app, host=host, port=port, access_log=access_log, log_level="info")


def default_workers(device):
    """Two decoder threads on a CPU with two or more threads for torch, else one. With 64 clients two took
    1.4-1.6x the sentences per second of one in fp32, 1.6-2.1x in bf16 (docs/BENCHMARKS.md, "Serving"): a
    batch's answers travel back and its callers send again while the other thread computes. On a GPU,
    unmeasured: one."""
    return 2 if device.type == "cpu" and torch.get_num_threads() >= 2 else 1
