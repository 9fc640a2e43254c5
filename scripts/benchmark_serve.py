#!/usr/bin/env python
"""`nmt serve` under load, against offline translation of the same lines, in one sitting (localhost only).

    python scripts/benchmark_serve.py --model runs/multi30k_de_en_transformer/best \
        --data-dir ../shared/data/multi30k --out serve.json [--beam 5] [--clients 1 8 64] [--soak 300] \
        [--dtype bf16 | --quantize int8] [--workers 1] [--batch-size 32]

Offline, the lines are translated in this process as `nmt translate` does (one Translator, length-sorted
batches of the model's batch size), timing generation only, before and after each served run (this
machine's speed drifts; the share of offline throughput uses the mean of the two); once, before the
server starts, also in random batches of that size (what batch composition alone costs). `nmt serve` runs
in a subprocess with the same beam and precision (and its own --workers and --batch-size), idle while
offline runs; for each number of clients, that many threads send the lines one per request (each on its own
keep-alive connection) until every line has been sent once: throughput is lines over wall time, latency
is each request's time from send to answer (p50, p99). Every answer is compared with the offline line.
Last, a soak: the largest number of clients sends lines in a loop for --soak seconds while the server's
resident memory (VmRSS) is read every few seconds; the report has the series and the server's peak (VmHWM).
The server gets the machine's cores; the clients mostly wait on their sockets.
"""
import argparse
import http.client
import json
import queue
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from nmt.data.corpus import read_lines
from nmt.decode.load import load_for_decoding
from nmt.decode.translate import Translator
from benchmark import machine  # the sibling script


class Offline:
    """The lines translated in one call, as `nmt translate` does, timed (generation only)."""

    def __init__(self, model_dir, beam, precision):
        model, tokenizers, decode = load_for_decoding([model_dir], "cpu", *precision)
        self.translator = Translator(model, tokenizers, "cpu", decode, beam=beam)

    def run(self, lines):
        """(translations, sentences per second)."""
        start = time.perf_counter()
        translations = [nbest[0].text for nbest in self.translator.translate_nbest(lines)]
        return translations, len(lines) / (time.perf_counter() - start)

    def run_in_random_batches(self, lines):
        """Sentences per second when each batch is `batch_size` lines drawn at random (seed 1), as a server's
        batch is whatever arrived together, not neighbours in length."""
        shuffled, size = random.Random(1).sample(lines, len(lines)), self.translator.settings.batch_size
        start = time.perf_counter()
        for i in range(0, len(shuffled), size):
            self.translator.translate_nbest(shuffled[i:i + size])
        return len(lines) / (time.perf_counter() - start)


class ServerProcess:
    def __init__(self, model_dir, beam, precision, batching):
        """`batching`: the serve flags that shape batches, e.g. ["--workers", "2"]."""
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.process = subprocess.Popen([sys.executable, "-m", "nmt.cli", "serve", "--model", str(model_dir),
                                         "--beam", str(beam), "--port", str(self.port), "--dtype", precision[0],
                                         *batching,
                                         *(["--quantize", precision[1]] if precision[1] else [])],
                                        stderr=subprocess.DEVNULL)
        while not self._healthy():
            if self.process.poll() is not None:
                sys.exit("the server did not start")
            time.sleep(0.2)

    def _healthy(self):
        try:
            return self.health() is not None
        except OSError:
            return False

    def health(self):
        """GET /health: the queue and the batches decoded so far."""
        return self.get("/health")

    def get(self, path):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        connection.request("GET", path)
        response = connection.getresponse()
        return json.loads(response.read()) if response.status == 200 else None

    def memory_kib(self, field):
        """VmRSS (resident now) or VmHWM (peak resident) of the server process, in KiB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=60)


def load(port, lines, clients, until=None):
    """Send the lines' indices from a shared queue, one per request, from `clients` threads; with `until`
    (a monotonic time) the lines go round until then. Returns (answers by index, latencies, seconds)."""
    work = queue.SimpleQueue()
    for i in range(len(lines)):
        work.put(i)
    answers, latencies, lock = {}, [], threading.Lock()

    def client():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while True:
            try:
                i = work.get_nowait()
            except queue.Empty:
                return
            body = json.dumps({"text": [lines[i]]}).encode("utf-8")
            sent = time.perf_counter()
            connection.request("POST", "/translate", body=body, headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            answer = json.loads(response.read())
            with lock:
                latencies.append(time.perf_counter() - sent)
                answers[i] = answer["translations"][0] if response.status == 200 else answer
            if until is not None and time.monotonic() < until:
                work.put(i)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers, latencies, time.perf_counter() - start


def percentile(values, p):
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="exported model directory")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--split", default="test_2016_flickr")
    parser.add_argument("--src", default="de")
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--dtype", default="fp32", help="weights' type, offline and served")
    parser.add_argument("--quantize", choices=["int8"], help="int8 linear layers, offline and served")
    parser.add_argument("--max-wait-ms", type=float, default=5.0, help="the server's batching window")
    parser.add_argument("--workers", type=int, help="the server's decoder threads (default: the server's)")
    parser.add_argument("--batch-size", type=int, help="the server's sentences in flight (default: the model's)")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--soak", type=float, default=300, metavar="SECONDS", help="memory run; 0 = none")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    lines = [line for line in read_lines(args.data_dir / f"{args.split}.{args.src}") if line.strip()]
    precision = (args.dtype, args.quantize)
    offline = Offline(args.model, args.beam, precision)
    expected, _ = offline.run(lines)  # warm-up, and the answers the server's must equal
    in_random_batches = offline.run_in_random_batches(lines)
    report = {"machine": machine(), "command": " ".join(sys.argv), "model": str(args.model), "split": args.split,
              "sentences": len(lines), "beam": args.beam,
              "offline_random_batches_sentences_per_s": round(in_random_batches, 1),
              "dtype": args.dtype, "quantize": args.quantize, "max_wait_ms": args.max_wait_ms,
              "served": []}

    batching = ["--max-wait-ms", str(args.max_wait_ms), *(["--workers", str(args.workers)] if args.workers else []),
                *(["--batch-size", str(args.batch_size)] if args.batch_size else [])]
    server = ServerProcess(args.model, args.beam, precision, batching)
    info = server.get("/info")
    report["server"] = {**info["limits"], "batch_size": info["decode"]["batch_size"]}
    try:
        load(server.port, lines[:8], 1)  # warm-up: the first requests allocate the decoder's buffers
        offline_before = offline.run(lines)[1]
        for clients in args.clients:
            before = server.health()
            answers, latencies, seconds = load(server.port, lines, clients)
            after = server.health()
            offline_after = offline.run(lines)[1]  # the machine's speed drifts: offline is timed beside each
            row = {"clients": clients, "seconds": round(seconds, 2),
                   "sentences_per_s": round(len(lines) / seconds, 1),
                   "offline_sentences_per_s": [round(offline_before, 1), round(offline_after, 1)],
                   "share_of_offline": round(len(lines) / seconds / ((offline_before + offline_after) / 2), 3),
                   "p50_ms": round(1000 * percentile(latencies, 50), 1),
                   "p99_ms": round(1000 * percentile(latencies, 99), 1),
                   "sentences_per_batch": round((after["sentences"] - before["sentences"])
                                                / (after["batches"] - before["batches"]), 1),
                   "differ_from_offline": sum(answers[i] != expected[i] for i in range(len(lines)))}
            report["served"].append(row)
            print(json.dumps(row), file=sys.stderr)
            offline_before = offline_after
        if args.soak:
            samples, stop = [], time.monotonic() + args.soak

            def sample_memory():
                while time.monotonic() < stop:
                    samples.append([round(args.soak - (stop - time.monotonic())), server.memory_kib("VmRSS")])
                    time.sleep(5)

            sampler = threading.Thread(target=sample_memory)
            sampler.start()
            _, latencies, seconds = load(server.port, lines, max(args.clients), until=stop)
            sampler.join()
            report["soak"] = {"clients": max(args.clients), "seconds": round(seconds, 1), "requests": len(latencies),
                              "p99_ms": round(1000 * percentile(latencies, 99), 1),
                              "rss_kib_by_second": samples, "peak_rss_kib": server.memory_kib("VmHWM")}
    finally:
        server.stop()
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
