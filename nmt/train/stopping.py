"""Early stopping on a validation score where higher is better (BLEU)."""


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
