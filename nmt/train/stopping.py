"""When training stops early: patience on a validation score (BLEU), and a signal from outside."""
import signal
import threading


class EarlyStopping:
    """Stop after `patience` validations without a gain. With `min_delta`, only a gain of more than that
    over the score that last counted as one resets the count (Sockeye's checkpoint improvement
    threshold): small dev sets make BLEU wobble by tenths, and a wobble upwards should not buy a
    flat run another `patience` validations. Small gains still add up: they are measured from that
    score, not from the latest best."""

    def __init__(self, patience, min_delta=0.0):
        self.patience = patience    # validations without improvement before stopping; 0 = never
        self.min_delta = min_delta
        self.best = float("-inf")
        self.counted = float("-inf")  # the score of the last gain that reset the count
        self.bad_validations = 0

    def update(self, score):
        """Record a validation score; True when it is the best so far (any gain: the model to keep)."""
        if score > self.counted + self.min_delta:
            self.counted, self.bad_validations = score, 0
        else:
            self.bad_validations += 1
        improved = score > self.best
        self.best = max(self.best, score)
        return improved

    @property
    def should_stop(self):
        return self.patience > 0 and self.bad_validations >= self.patience

    def state_dict(self):
        return {"best": self.best, "counted": self.counted, "bad_validations": self.bad_validations}

    def load_state_dict(self, state):
        self.best, self.bad_validations = float(state["best"]), int(state["bad_validations"])
        self.counted = float(state.get("counted", self.best))  # older checkpoints: min_delta was 0


class StopSignals:
    """While active, SIGTERM and SIGINT only set `signal` (the number), so the loop can finish the update
    and save it; a second one acts as usual (Ctrl-C twice interrupts at once)."""

    HANDLED = (signal.SIGTERM, signal.SIGINT)

    def __init__(self):
        self.signal, self.previous = 0, {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():  # Python delivers signals there only
            self.previous = {s: signal.signal(s, self.received) for s in self.HANDLED}
        return self

    def received(self, signum, frame):
        self.signal = signum
        signal.signal(signum, self.previous[signum])

    def __exit__(self, *exc):
        for s, handler in self.previous.items():
            signal.signal(s, handler)
