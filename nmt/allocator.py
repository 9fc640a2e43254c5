"""Training under tcmalloc where the system has it: `nmt` commands that train restart themselves with it.

Under glibc's malloc a training run's heap fragments: activations change size from batch to batch, and the
oneDNN primitives each new batch shape creates are kept between them, so freed memory is left in pieces
that later requests do not fit. tcmalloc (gperftools) serves blocks from size classes and reuses them: 200
updates of the Multi30k recipe in bf16 peaked at 1,267 MiB under it against 1,924 under glibc, with 8.5 %
more tokens/s and the same losses (docs/BENCHMARKS.md, "Training speed and memory"). An allocator is
chosen before a process starts (LD_PRELOAD), so the `nmt` command (and `python -m nmt`; never
`nmt.cli.main` called from Python) re-executes itself once, with the same process id and arguments, when
  - it trains (`train`, `tune-vocab`, `curve`, `ablate`, `sweep`, `quickstart`) on Linux and the system has tcmalloc
    (Debian/Ubuntu: `apt install libtcmalloc-minimal4`; Fedora: `dnf install gperftools-libs`),
  - LD_PRELOAD does not already preload an allocator,
  - NMT_ALLOCATOR is not `system` (the way to keep glibc's).
The restarted process also keeps at most 256 oneDNN primitives (ONEDNN_PRIMITIVE_CACHE_CAPACITY, 1,024 by
default; a value the user set stands): the recipe's bf16 batches build about 20 for each of their ~28 shapes,
and under tcmalloc the smaller cache held 60 MiB less at update 200 at the same speed (128: 135 MiB less but
2.5 % slower; docs/BENCHMARKS.md, "Training speed and memory"). Under glibc's malloc a smaller cache only
fragmented the heap more, so it comes with tcmalloc.
No torch here: this runs before anything heavy is imported.
"""
import ctypes.util
import os
import sys

TRAINING_COMMANDS = frozenset({"train", "tune-vocab", "curve", "ablate", "sweep", "quickstart"})
TCMALLOC_LIBRARIES = ("tcmalloc_minimal", "tcmalloc")  # the minimal build first: no heap profiler
PRIMITIVE_CACHE = {"ONEDNN_PRIMITIVE_CACHE_CAPACITY": "256"}
ALLOCATORS = ("tcmalloc", "jemalloc", "mimalloc")


def preloaded_allocator(environ=os.environ):
    """The allocator library LD_PRELOAD names, or None (the C library's malloc)."""
    return next((lib for lib in environ.get("LD_PRELOAD", "").replace(":", " ").split()
                 if any(name in lib for name in ALLOCATORS)), None)


def wants_tcmalloc(environ=os.environ):
    """True on Linux when no allocator is preloaded and the user did not keep the system's."""
    return (sys.platform.startswith("linux") and environ.get("NMT_ALLOCATOR") != "system"
            and preloaded_allocator(environ) is None)


def tcmalloc_environment(environ):
    """`environ` with tcmalloc added to LD_PRELOAD (and oneDNN's smaller primitive cache, unless `environ`
    sets one), or None where the process should go on as it is."""
    if not wants_tcmalloc(environ):
        return None
    library = next(filter(None, map(ctypes.util.find_library, TCMALLOC_LIBRARIES)), None)
    if library is None:
        return None
    return {**PRIMITIVE_CACHE, **environ, "LD_PRELOAD": f"{library} {environ.get('LD_PRELOAD', '')}".strip()}


def restart_with_tcmalloc(command, argv):
    """Replace this process by `python -m nmt ARGV` under tcmalloc when `command` trains and the
    conditions above hold; otherwise return."""
    environment = tcmalloc_environment(os.environ) if command in TRAINING_COMMANDS else None
    if environment is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, [sys.executable, "-m", "nmt", *argv], environment)
