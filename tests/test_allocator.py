"""The `nmt` command's restart under tcmalloc (nmt/allocator.py): when it happens, and what it runs."""
import ctypes.util
import sys

import pytest

from nmt import allocator

TCMALLOC = "libtcmalloc_minimal.so.4"


@pytest.fixture
def system_has_tcmalloc(monkeypatch):
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: TCMALLOC if name == "tcmalloc_minimal" else None)


@pytest.fixture
def executions(monkeypatch):
    calls = []
    monkeypatch.setattr(allocator.os, "execve", lambda *call: calls.append(call))
    return calls


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="LD_PRELOAD is Linux's")
def test_a_training_command_restarts_once_with_tcmalloc_preloaded_keeping_other_preloads(system_has_tcmalloc,
                                                                                         executions, monkeypatch):
    monkeypatch.setenv("LD_PRELOAD", "libfoo.so")
    monkeypatch.delenv("NMT_ALLOCATOR", raising=False)
    allocator.restart_with_tcmalloc("train", ["train", "--config", "c.yaml"])
    (executable, argv, environment), = executions
    assert executable == sys.executable and argv == [sys.executable, "-m", "nmt", "train", "--config", "c.yaml"]
    assert environment["LD_PRELOAD"] == f"{TCMALLOC} libfoo.so"
    assert environment["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == "256"  # the smaller cache comes with tcmalloc
    assert allocator.preloaded_allocator(environment) == TCMALLOC
    assert allocator.tcmalloc_environment(environment) is None  # the restarted process goes on


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="LD_PRELOAD is Linux's")
def test_a_primitive_cache_capacity_the_user_set_stands(system_has_tcmalloc, monkeypatch):
    monkeypatch.delenv("LD_PRELOAD", raising=False)
    monkeypatch.delenv("NMT_ALLOCATOR", raising=False)
    environment = allocator.tcmalloc_environment({"ONEDNN_PRIMITIVE_CACHE_CAPACITY": "1024"})
    assert environment["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == "1024" and TCMALLOC in environment["LD_PRELOAD"]


@pytest.mark.parametrize("command, environment", [
    ("translate", {}),                                        # decoding keeps the C library's malloc
    ("train", {"NMT_ALLOCATOR": "system"}),                   # the opt-out
    ("train", {"LD_PRELOAD": "/opt/lib/libjemalloc.so.2"}),  # the user's own choice stands
])
def test_no_restart_for_other_commands_the_opt_out_or_an_allocator_already_preloaded(
        system_has_tcmalloc, executions, monkeypatch, command, environment):
    monkeypatch.delenv("LD_PRELOAD", raising=False)
    monkeypatch.delenv("NMT_ALLOCATOR", raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    allocator.restart_with_tcmalloc(command, [command])
    assert executions == []


def test_no_restart_where_the_system_has_no_tcmalloc(executions, monkeypatch):
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    monkeypatch.delenv("LD_PRELOAD", raising=False)
    monkeypatch.delenv("NMT_ALLOCATOR", raising=False)
    allocator.restart_with_tcmalloc("train", ["train"])
    assert executions == []


def test_the_command_restarts_and_main_called_from_python_never_does(system_has_tcmalloc, executions,
                                                                     monkeypatch, tmp_path):
    """`nmt` (`cli.run`) restarts a training command; `cli.main()` runs in the calling process, with or without
    arguments (tests and programs that call it, perhaps after patching something, keep their process)."""
    from nmt import cli

    monkeypatch.delenv("LD_PRELOAD", raising=False)
    monkeypatch.delenv("NMT_ALLOCATOR", raising=False)
    argv = ["train", "--config", str(tmp_path / "missing.yaml"), "--run-dir", str(tmp_path / "run")]
    monkeypatch.setattr(sys, "argv", ["nmt", *argv])
    assert cli.main() == 2 and cli.main(argv) == 2
    assert executions == []
    with pytest.raises(SystemExit):  # the recorded execve returns, so the command goes on and fails
        cli.run()
    (_, restarted, _), = executions
    assert restarted == [sys.executable, "-m", "nmt", *argv]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="LD_PRELOAD is Linux's")
def test_the_trainer_note_about_tcmalloc_is_wanted_only_where_nothing_was_chosen():
    assert allocator.wants_tcmalloc({})
    assert not allocator.wants_tcmalloc({"NMT_ALLOCATOR": "system"})
    assert not allocator.wants_tcmalloc({"LD_PRELOAD": TCMALLOC})
