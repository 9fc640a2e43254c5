"""What one request and the whole queue of `nmt serve` may hold, and how its batches are made (the serve
command's flags)."""
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    max_lines: int = 64        # sentences in one request
    max_chars: int = 1000      # characters in one sentence
    max_queued: int = 1024     # sentences waiting or being translated, over all requests
    max_wait_ms: float = 5.0   # a batch stays open while requests arrive less than this apart
    workers: int = 0           # decoder threads, one gathering while the others translate (0: `default_workers`)

    @property
    def max_body_bytes(self):
        # a JSON escape takes at most 6 bytes per UTF-16 unit; 64 KiB for the options and punctuation
        return self.max_lines * (12 * self.max_chars + 8) + 65536
