"""The docs as a user copies them: every `nmt` command line in README.md and docs/ parses with the
flags the command has, and the README's Python example translates."""
import argparse
import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from conftest import untrained_model_dir
from nmt.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_OPERATORS = {"<", ">", "2>", ">>", "|", "&&", "||", ";", "&"}
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"`(nmt [^`]+)`")


def command_lines(path):
    """(line number, text, whole) of the `nmt ...` commands in the file's shell blocks (whole commands) and
    inline code spans (fragments: `nmt translate --beam 1`); spans that sketch a syntax ([optional],
    A | B, ...) are left out."""
    text = path.read_text(encoding="utf-8")
    for block in FENCE.finditer(text):
        if block.group(1) not in ("", "bash", "sh", "console"):
            continue
        first_line = text.count("\n", 0, block.start(2)) + 1
        for offset, line in enumerate(block.group(2).replace("\\\n", " ").splitlines()):
            words = line.split()
            if "nmt" in words[:1] or "nmt.cli" in words:
                yield first_line + offset, line, True
    for span in INLINE.finditer(text):
        if not re.search(r"\[|\||\.\.\.|…|^nmt \S+:", span.group(1)):  # nor what nmt prints (`nmt train: error`)
            yield text.count("\n", 0, span.start()) + 1, span.group(1), False


def arguments(line):
    """The words after `nmt` (or `-m nmt.cli`) up to the first shell operator, comments dropped; a
    placeholder in capitals (RUN, N, SECONDS) or a shell variable after a flag as 1, which fits a path and
    a number alike; a shell variable elsewhere (flags held in $S) left out."""
    words = []
    for word in shlex.split(line, comments=True):
        if re.fullmatch(r"[A-Z][A-Z0-9_]*", word) or (word.startswith("$") and words and words[-1].startswith("--")):
            word = "1"
        if not word.startswith("$"):
            words.append(word)
    start = words.index("nmt.cli") + 1 if "nmt.cli" in words else words.index("nmt") + 1
    end = next((i for i, word in enumerate(words) if word in SHELL_OPERATORS and i >= start), len(words))
    return words[start:end]


def subcommands():
    parser = build_parser()
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


CASES = [(path, number, line, whole) for path in DOCS for number, line, whole in command_lines(path)]


def test_the_docs_have_command_lines_to_check():
    assert sum(whole for *_, whole in CASES) > 20
    assert any("nmt serve --model" in line for _, _, line, whole in CASES if whole)


@pytest.mark.parametrize("path, number, line, whole", CASES, ids=[f"{p.name}:{n}" for p, n, _, _ in CASES])
def test_every_command_line_in_the_docs_parses(path, number, line, whole):
    words = arguments(line)
    if not whole:  # a fragment: its command and flags exist
        command = subcommands().get(words[0])
        assert command is not None, f"{path.name}:{number}: no command {words[0]!r}"
        for word in words[1:]:
            if word.startswith("--"):
                assert word.split("=")[0] in command._option_string_actions, f"{path.name}:{number}: {line}"
        return
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        try:
            build_parser().parse_args(words)
        except SystemExit:
            pytest.fail(f"{path.name}:{number}: {line.strip()}\n{stderr.getvalue().strip().splitlines()[-1]}")


def test_the_readme_python_example_translates(toy_corpus, tokenizers, tmp_path, monkeypatch):
    model_dir = untrained_model_dir(tmp_path / "best", toy_corpus, tokenizers)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    example = next(block.group(2) for block in FENCE.finditer(readme) if block.group(1) == "python"
                   and "Translator" in block.group(2))
    example = re.sub(r'load_model\("[^"]+"\)', f"load_model({str(model_dir)!r})", example)
    printed = []
    monkeypatch.setattr("builtins.print", printed.append)
    exec(compile(example, "README.md", "exec"), {})
    assert len(printed) == 1 and isinstance(printed[0], list) and len(printed[0]) == 2


CITATION = re.compile(r'BENCHMARKS\.md,\s+(?:#\s*)?"([^"]+)"')  # also across a wrapped comment line


def test_every_citation_of_the_benchmarks_names_one_of_its_sections():
    sections = set(re.findall(r"^## (.+)$", (ROOT / "docs" / "BENCHMARKS.md").read_text(), re.M))
    sources = [*DOCS, *ROOT.glob("nmt/**/*.py"), *ROOT.glob("scripts/*.py")]
    cited = {(path.name, name) for path in sources for name in CITATION.findall(path.read_text())}
    assert len(cited) > 10  # the pattern still finds the citations
    assert not {(file, name) for file, name in cited if name not in sections}
