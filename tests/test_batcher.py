"""The dynamic batcher on its own: which jobs share a batch, who gets which answers, when it refuses."""
import threading
import time

import pytest

from nmt.serve.batcher import MAX_WAITS, Batcher, Overloaded


class Recorder:
    """A translate function that answers each line with its upper case and records its calls."""

    def __init__(self, release=None):
        self.calls, self.release = [], release

    def __call__(self, settings, lines):
        if self.release is not None:
            self.release.wait(10)
        self.calls.append((settings, list(lines)))
        return [line.upper() for line in lines]


@pytest.fixture
def started():
    batchers = []

    def start(*args, **kwargs):
        batcher = Batcher(*args, **kwargs)
        batcher.start()
        batchers.append(batcher)
        return batcher

    yield start
    for batcher in batchers:
        batcher.close()


def test_jobs_arriving_close_together_share_a_batch_and_get_their_own_answers(started):
    translate = Recorder()
    batcher = started(translate, max_wait=0.2)
    futures = [batcher.submit([f"a{i}", f"b{i}"], "beam 5") for i in range(3)]
    assert [f.result(10) for f in futures] == [[f"A{i}", f"B{i}"] for i in range(3)]
    assert translate.calls == [("beam 5", ["a0", "b0", "a1", "b1", "a2", "b2"])]


def test_a_job_after_a_longer_gap_starts_the_next_batch(started):
    translate = Recorder()
    batcher = started(translate, max_wait=0.05)
    first = batcher.submit(["one"], "s")
    time.sleep(0.3)  # six gaps: the first batch has closed
    second = batcher.submit(["two"], "s")
    assert (first.result(10), second.result(10)) == (["ONE"], ["TWO"])
    assert [lines for _, lines in translate.calls] == [["one"], ["two"]]


def test_a_batch_closes_after_its_longest_wait_even_while_jobs_keep_coming(started):
    translate = Recorder()
    batcher = started(translate, max_wait=0.02, batch_lines=1000)
    futures, stop = [], time.monotonic() + 3 * MAX_WAITS * 0.02
    while time.monotonic() < stop:  # a job every 5 ms, well inside the gap
        futures.append(batcher.submit(["x"], "s"))
        time.sleep(0.005)
    for future in futures:
        future.result(10)
    assert len(translate.calls) >= 2


def test_a_batch_closes_when_it_holds_batch_lines(started):
    release = threading.Event()
    translate = Recorder(release)
    batcher = started(translate, max_wait=1.0, batch_lines=4)
    futures = [batcher.submit([str(i), str(i)], "s") for i in range(4)]
    release.set()
    for future in futures:
        future.result(10)
    assert [len(lines) for _, lines in translate.calls] == [4, 4]


def test_jobs_with_different_settings_are_decoded_apart(started):
    translate = Recorder()
    batcher = started(translate, max_wait=0.2)
    futures = [batcher.submit([str(i)], "greedy" if i % 2 else "beam") for i in range(4)]
    assert [f.result(10) for f in futures] == [["0"], ["1"], ["2"], ["3"]]
    assert translate.calls == [("beam", ["0", "2"]), ("greedy", ["1", "3"])]


def test_a_full_queue_refuses_and_frees_its_room_once_answered(started):
    release = threading.Event()
    batcher = started(Recorder(release), max_wait=0.01, max_queued=3)
    first = batcher.submit(["a", "b", "c"], "s")
    with pytest.raises(Overloaded, match="3 sentences are queued; at most 3"):
        batcher.submit(["d"], "s")
    release.set()
    assert first.result(10) == ["A", "B", "C"]
    assert batcher.submit(["d"], "s").result(10) == ["D"]


def test_a_failing_translation_fails_its_jobs_and_the_batcher_serves_on(started):
    def translate(settings, lines):
        if "bad" in lines:
            raise RuntimeError("model failed")
        return lines

    batcher = started(translate, max_wait=0.01)
    with pytest.raises(RuntimeError, match="model failed"):
        batcher.submit(["bad"], "s").result(10)
    assert batcher.submit(["good"], "s").result(10) == ["good"]
    assert batcher.queued == 0


def test_with_two_workers_the_next_batch_is_translated_while_the_first_still_is(started):
    first_may_end, second_done = threading.Event(), threading.Event()

    def translate(settings, lines):
        if lines == ["first"]:
            assert second_done.wait(10), "the second batch waited for the first"
        else:
            second_done.set()
        return [line.upper() for line in lines]

    batcher = started(translate, max_wait=0.01, workers=2)
    first = batcher.submit(["first"], "s")
    time.sleep(0.3)  # the first batch has closed and is being translated
    second = [batcher.submit([f"next{i}"], "s") for i in range(3)]
    assert [f.result(10) for f in second] == [[f"NEXT{i}"] for i in range(3)]
    assert first.result(10) == ["FIRST"]


def test_workers_take_turns_at_gathering_so_arrivals_form_one_batch(started):
    translate = Recorder()
    batcher = started(translate, max_wait=0.2, workers=3)
    futures = [batcher.submit([str(i)], "s") for i in range(6)]
    assert [f.result(10) for f in futures] == [[str(i)] for i in range(6)]
    assert translate.calls == [("s", [str(i) for i in range(6)])]


@pytest.mark.parametrize("workers", [1, 3])
def test_close_finishes_the_queued_jobs_first(workers):
    translate = Recorder()
    batcher = Batcher(translate, max_wait=0.5, workers=workers)
    batcher.start()
    future = batcher.submit(["last"], "s")
    batcher.close()
    assert future.result(0) == ["LAST"]
    assert not any(thread.is_alive() for thread in batcher.threads)
