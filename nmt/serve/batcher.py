"""Dynamic batching: sentences of requests that arrive together are decoded as one batch.

Requests are queued as jobs; a decoder thread takes the oldest, lets more join it while they arrive
less than `max_wait` seconds apart (at most MAX_WAITS x `max_wait` in all, and until `batch_lines`
sentences are gathered), and translates each group of jobs with the same search settings in one call, so
the Translator sorts their sentences by length and pads them together. Each job's answers go back to it
through its own Future, so a caller only ever sees its own sentences, whatever else shared the batch.

With `workers` decoder threads, one gathers while the others translate: the next batch forms while the
answers to the last one travel back and their callers send again, so the cores do not wait for the
network, and a batch's last, longest sentences decode beside the next batch instead of alone. Only one
thread gathers at a time, so the threads do not split the arrivals into small batches.

The queue is bounded in sentences: a job that would pass `max_queued` sentences (waiting or being
translated) is refused at once with `Overloaded`, so memory stays bounded under any load.
"""
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field


class Overloaded(Exception):
    """The queue holds as many sentences as it may; the caller should retry later."""


@dataclass
class Job:
    lines: list
    settings: object  # hashable (a frozen DecodeConfig): jobs with equal settings share a batch
    future: Future = field(default_factory=Future)


_STOP = None  # put on the queue by close()

# A batch waits for company at most this many gaps of `max_wait`: the answers to a batch leave the event
# loop one by one, so the clients' next requests arrive spread out; a single gap closed batches half full.
MAX_WAITS = 10


class Batcher:
    """Runs `translate(settings, lines) -> one result per line` on threads of its own (`workers` of them)."""

    def __init__(self, translate, max_wait=0.005, batch_lines=64, max_queued=1024, workers=1):
        """`translate` is called from `workers` threads at once when there are several."""
        if workers < 1:
            raise ValueError("a batcher needs at least one worker")
        self.translate = translate
        self.max_wait, self.batch_lines, self.max_queued = max_wait, batch_lines, max_queued
        self.queue = queue.SimpleQueue()
        self.queued = 0  # sentences submitted and not yet answered
        self.batches = self.sentences = 0  # translate calls made and sentences they translated
        self.lock = threading.Lock()
        self.gathering = threading.Lock()  # held by the one thread forming a batch
        self.threads = [threading.Thread(target=self._run, name=f"nmt-decoder-{i}", daemon=True)
                        for i in range(workers)]

    def start(self):
        for thread in self.threads:
            thread.start()

    def close(self):
        """Finish the jobs already queued, then stop the threads."""
        for _ in self.threads:
            self.queue.put(_STOP)  # each thread stops at the first it takes
        for thread in self.threads:
            thread.join()

    def submit(self, lines, settings):
        """A Future of the results for `lines`; raises Overloaded when the queue is full."""
        with self.lock:
            if self.queued + len(lines) > self.max_queued:
                raise Overloaded(f"{self.queued} sentences are queued; at most {self.max_queued}")
            self.queued += len(lines)
        job = Job(lines, settings)
        self.queue.put(job)
        return job.future

    def _run(self):
        while True:
            with self.gathering:
                jobs = self._gather()
            for settings, group in _by_settings(jobs).items():
                self._decode(settings, group)
            if not jobs or jobs[-1] is _STOP:
                return

    def _gather(self):
        """The oldest job and those that join it, up to `batch_lines` sentences: the batch stays open while
        jobs keep arriving less than `max_wait` apart, for at most `MAX_WAITS` times `max_wait` in all.
        Ends with _STOP when close() was called."""
        jobs = [self.queue.get()]
        if jobs[0] is _STOP:
            return []
        lines = len(jobs[0].lines)
        deadline = time.monotonic() + MAX_WAITS * self.max_wait
        while lines < self.batch_lines:
            try:
                job = self.queue.get(timeout=max(min(self.max_wait, deadline - time.monotonic()), 0))
            except queue.Empty:
                break
            jobs.append(job)
            if job is _STOP:
                break
            lines += len(job.lines)
        return jobs

    def _decode(self, settings, jobs):
        lines = [line for job in jobs for line in job.lines]
        with self.lock:
            self.batches += 1
            self.sentences += len(lines)
        try:
            results, error = self.translate(settings, lines), None
        except Exception as e:  # noqa: BLE001 - the callers get the error; the thread serves on
            results, error = None, e
        with self.lock:  # the room is free before anyone hears back, so an answered caller may submit again
            self.queued -= len(lines)
        start = 0
        for job in jobs:
            if error is None:
                job.future.set_result(results[start:start + len(job.lines)])
            else:
                job.future.set_exception(error)
            start += len(job.lines)


def _by_settings(jobs):
    """Jobs (not _STOP) grouped by their settings, groups in order of their first job."""
    groups = {}
    for job in jobs:
        if job is not _STOP:
            groups.setdefault(job.settings, []).append(job)
    return groups
