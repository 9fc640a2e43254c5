"""Count the CPU-GPU synchronisations of one beam-5 batch of 64 sentences (torch's sync debug mode)."""
import sys, time, warnings, torch
from nmt.export import load_model
from nmt.decode.translate import Translator
from nmt.data.corpus import read_lines
model, tok, dec = load_model(".gpu/model")
device = sys.argv[2] if len(sys.argv) > 2 else "cuda"
model = model.to(device)
sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
lines = read_lines(".gpu/data/test_2016_flickr.de")[:64]
for beam in (5, 1):
    tr = Translator.from_config(model, tok, device, dec, beam=beam, batch_size=64, lenpen=1.0, length_norm="plain")
    tr.translate(lines)
    sync()
    steps = []
    decode_step = model.decode_step
    model.decode_step = lambda *a: steps.append(1) or decode_step(*a)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if device == "cuda":
            torch.cuda.set_sync_debug_mode("warn")
        out = tr.translate(lines)
        if device == "cuda":
            torch.cuda.set_sync_debug_mode(0)
    del model.decode_step
    from torch.profiler import profile, ProfilerActivity
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as p:
        tr.translate(lines); sync()
    calls = {name: sum(1 for e in p.events() if e.name == name)
             for name in ("cudaStreamSynchronize", "cudaMemcpyAsync", "cudaLaunchKernel")}
    table = p.key_averages()
    cuda_total = sum(e.self_device_time_total for e in table)
    t = time.perf_counter(); tr.translate(lines); sync(); wall = time.perf_counter() - t
    print(f"{sys.argv[1]} beam {beam}: {len(steps)} steps, {len(caught)} synchronisations, "
          f"wall {wall*1e3:.1f} ms, GPU kernel time {cuda_total/1e3:.1f} ms, {calls}")
