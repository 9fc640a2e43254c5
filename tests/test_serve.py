"""`nmt serve` as a client meets it: a real server process on localhost, spoken to over HTTP.

Answers equal `nmt translate`'s for the same options, concurrent requests get their own answers
from shared batches, every bad request gets its 4xx (or 503) and the next good one succeeds, and
SIGTERM lets the request in flight finish before the process ends.
"""
import http.client
import json
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
import torch

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from conftest import tiny_config  # noqa: E402
from nmt.data.corpus import read_lines  # noqa: E402
from nmt.data.preprocess import preprocess  # noqa: E402
from nmt.export import export_model  # noqa: E402
from nmt.train.loop import Trainer  # noqa: E402

# a toy model trained enough (a few seconds) to end its sentences, so that translations differ by input
TRAINING = ["model.d_model=32", "model.ff_size=64", "train.limits.max_steps=300",
            "train.lr_schedule.warmup_steps=0", "model.dropout=0.0", "train.validation.every=100000",
            "train.validation.size=2"]


@pytest.fixture(scope="module")
def model_dir(toy_corpus, tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    cfg = tiny_config(toy_corpus, *TRAINING)
    preprocess(cfg, root / "run", log=lambda m: None)
    trainer = Trainer(cfg, root / "run")
    trainer.run()
    export_model(root / "model", trainer.model, cfg.model, cfg.decode, trainer.tokenizers)
    return root / "model"


class Server:
    """`nmt serve` in a subprocess on a free localhost port."""

    def __init__(self, model_dir, *flags):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "nmt.cli", "serve", "--model", str(model_dir), "--port", str(self.port),
             "--device", "cpu", *map(str, flags)], stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while True:
            try:
                if self.request("GET", "/health")[0] == 200:
                    return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not start: {self.process.stderr.read()}") from None
                time.sleep(0.1)

    def request(self, method, path, body=None, headers=None):
        """(status, decoded JSON body, headers) of one request on a new connection."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, json.loads(response.read()), response.headers
        finally:
            connection.close()

    def translate(self, text, **options):
        return self.request("POST", "/translate", json.dumps({"text": text, **options}).encode("utf-8"))

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)
        return self.process.stderr.read()


@pytest.fixture(scope="module")
def server(model_dir):
    running = Server(model_dir, "--max-wait-ms", 50)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def one_worker_server(model_dir):
    running = Server(model_dir, "--max-wait-ms", 50, "--workers", 1)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def test_lines(toy_corpus):
    lines = read_lines(toy_corpus / "test.en")[:24]
    lines[5:5] = [""]  # an empty line gets an empty answer, as in a file
    return lines


@pytest.mark.parametrize("options, flags", [
    ({}, []),
    ({"beam": 1}, ["--beam", "1"]),
    ({"beam": 3, "n_best": 3, "lenpen": 0.6}, ["--beam", "3", "--n-best", "3", "--lenpen", "0.6"]),
], ids=["model's settings", "greedy", "3-best"])
def test_answers_equal_nmt_translate_line_for_line(server, model_dir, test_lines, options, flags, tmp_path, run_cli):
    source = tmp_path / "in.en"
    source.write_text("".join(line + "\n" for line in test_lines), encoding="utf-8")
    offline = run_cli("translate", "--model", model_dir, "--input", source, "--device", "cpu", *flags)
    assert offline.returncode == 0, offline.stderr

    status, answer, _ = server.translate(test_lines, **options)
    assert status == 200, answer
    assert len(answer["translations"]) == len(test_lines)
    if "n_best" in options:
        served = ["\t".join(f"{t['text']}\t{t['score']:.4f}" for t in nbest) for nbest in answer["n_best"]]
        assert [nbest[0]["text"] for nbest in answer["n_best"]] == answer["translations"]
    else:
        served = answer["translations"]
    assert served == offline.stdout.splitlines()
    assert len(set(answer["translations"])) > len(test_lines) // 2  # the model tells its inputs apart


@pytest.mark.parametrize("which", ["server", "one_worker_server"])
def test_concurrent_requests_get_their_own_answers_from_shared_batches(which, test_lines, request):
    server = request.getfixturevalue(which)
    alone = [server.translate([line])[1]["translations"] for line in test_lines]
    batches_before = server.request("GET", "/health")[1]["batches"]
    answers = [None] * len(test_lines)
    start = threading.Barrier(len(test_lines))

    def client(i):
        start.wait()
        answers[i] = server.translate([test_lines[i]])

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(test_lines))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [status for status, _, _ in answers] == [200] * len(test_lines)
    assert [body["translations"] for _, body, _ in answers] == alone
    batches = server.request("GET", "/health")[1]["batches"] - batches_before
    assert batches < len(test_lines) // 2, "requests that arrived together were not decoded together"


@pytest.mark.parametrize("body, status, message", [
    (b'{"text": ["a"', 400, "invalid JSON"),
    (b'{"text": ["\xff"]}', 400, "not UTF-8"),
    (b'{"text": ["\\ud800"]}', 400, "text[0] is not valid Unicode"),
    (b'["a"]', 422, 'a JSON object with a "text" list'),
    (b'{"lines": ["a"]}', 422, "text: Field required"),
    (b'{"text": ["a"], "beem": 5}', 422, "unknown option 'beem'"),
    (b'{"text": "a"}', 422, "text: Input should be a valid list"),
    (b'{"text": ["a", 3]}', 422, "text[1]: Input should be a valid string"),
    (b'{"text": ["a"], "beam": 0}', 422, "beam: Input should be greater than or equal to 1"),
    (b'{"text": ["a"], "beam": "5"}', 422, "beam: Input should be a valid integer"),
    (b'{"text": ["a"], "length_norm": "average"}', 422, "length_norm: Input should be 'gnmt' or 'plain'"),
    (b'{"text": ["a"], "beam": 2, "n_best": 3}', 422, "n_best (3) must not exceed decode.beam (2)"),
    (json.dumps({"text": ["a"] * 65}).encode(), 413, "65 sentences in one request; at most 64"),
    (json.dumps({"text": ["a" * 1001]}).encode(), 413, "text[0] has 1001 characters; at most 1000"),
    (b" " * 900_000, 413, "request body of 900000 bytes"),
], ids=lambda value: None)
def test_bad_requests_get_a_one_line_4xx_and_the_server_serves_on(server, body, status, message):
    got, answer, _ = server.request("POST", "/translate", body, {"Content-Type": "application/json"})
    assert (got, list(answer)) == (status, ["error"])
    assert message in answer["error"] and "\n" not in answer["error"], answer["error"]
    assert server.translate(["a good request"])[0] == 200


def test_a_full_queue_is_503_with_retry_after_and_later_requests_succeed(model_dir):
    server = Server(model_dir, "--max-queued", 2, "--max-wait-ms", 1500)
    try:
        first = threading.Thread(target=server.translate, args=(["one", "two"],))
        first.start()
        time.sleep(0.5)  # the first request's two sentences fill the queue while they wait for company
        status, answer, headers = server.translate(["three"])
        assert status == 503 and headers["Retry-After"] == "1"
        assert "2 sentences are queued; at most 2" in answer["error"]
        first.join()
        assert server.translate(["three"])[0] == 200
    finally:
        server.stop()


def test_sigterm_answers_the_request_in_flight_then_exits(model_dir):
    server = Server(model_dir, "--max-wait-ms", 1500)  # a lone request is in flight for 1.5 s
    reply = {}
    client = threading.Thread(target=lambda: reply.update(answer=server.translate(["one", "two"])))
    client.start()
    time.sleep(0.5)
    stderr = server.stop()
    client.join()
    status, answer, _ = reply["answer"]
    assert status == 200 and len(answer["translations"]) == 2
    # uvicorn ends the process by the signal it caught, once shut down (systemd counts that as a clean stop)
    assert server.process.returncode == -signal.SIGTERM
    assert "Application shutdown complete" in stderr and "Traceback" not in stderr, stderr


def test_info_tells_the_model_the_settings_and_the_versions(server, model_dir):
    status, info, _ = server.request("GET", "/info")
    assert status == 200
    assert info["models"] == [str(model_dir)]
    assert info["model"]["d_model"] == 32 and info["decode"]["beam"] == 2
    assert info["limits"]["max_lines"] == 64 and info["limits"]["max_wait_ms"] == 50
    assert info["limits"]["workers"] == (2 if torch.get_num_threads() >= 2 else 1)  # the CPU default
    assert set(info["versions"]) == {"nmt", "torch", "python"}


def test_impossible_server_flags_fail_in_one_line_before_loading(tmp_path, run_cli):
    result = run_cli("serve", "--model", tmp_path / "missing", "--max-lines", "0")
    assert result.returncode == 2
    assert result.stderr == "nmt serve: error: --max-lines must be at least 1\n"
    result = run_cli("serve", "--model", tmp_path / "missing", "--workers", "-1")
    assert result.stderr == "nmt serve: error: --workers must be >= 0\n"
    result = run_cli("serve", "--model", tmp_path / "missing")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "model directory not found" in result.stderr
