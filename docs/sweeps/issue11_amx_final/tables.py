"""Print the sitting's tables from its JSON reports (run in /work/sitting7)."""
import json, pathlib
def load(name):
    p = pathlib.Path(name)
    return json.loads(p.read_text()) if p.exists() else None
for v in ["before", "after"]:
    m = load(f"mem_{v}.json")
    if m:
        print(v, m["machine"]["git_commit"], m["machine"].get("ld_preload"), m["machine"].get("onednn_primitive_cache"))
        for name, r in m["phases"]:
            print(f"  {name:40s} {r['current_mib']:6,} / {r['peak_mib']:6,}")
        print("  other:", {k: m[k] for k in m if k not in ("machine", "command", "phases")})
for p in ["bf16", "fp32"]:
    for v in ["before", "after"]:
        d = load(f"train_{p}_{v}.json")
        if not d:
            continue
        print(p, v, d["machine"]["date"], d["machine"]["git_commit"], d["machine"].get("ld_preload"))
        for k in ["train_tokens_per_s", "steps", "peak_rss_mib", "flops_per_target_token", "model_tflop_per_s",
                  "matmul_tflop_per_s", "utilisation", "profiled_seconds_per_update", "time_shares", "top_operators"]:
            print("  ", k, d.get(k))
