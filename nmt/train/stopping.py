"""When training stops early: patience on a validation score (BLEU), and a signal from outside."""
import signal
import threading


class EarlyStopping:
    def __init__(self, patience):
        self.patience = patience    # validations without improvement before stopping; 0 = never
        self.best = float("-inf")
        self.bad_validations = 0

    def update(self, score):
        """Record a validation score; True when it is the best so far."""
        if score > self.best:
            self.best, self.bad_validations = score, 0
            return True
        self.bad_validations += 1
        return False

    @property
    def should_stop(self):
        return self.patience > 0 and self.bad_validations >= self.patience

    def state_dict(self):
        return {"best": self.best, "bad_validations": self.bad_validations}

    def load_state_dict(self, state):
        self.best, self.bad_validations = float(state["best"]), int(state["bad_validations"])


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
