"""pytest's rewritten modules written to its cache once, by xdist's controller, before the
workers start: otherwise every worker rewrites them all again.

pytest rewrites the `assert`s of every test module, conftest.py and the modules of every
plugin installed as a package (the whole of hypothesis, anyio, xdist, platformdirs) when it
imports them, and keeps the result in `__pycache__/*.cpython-3XX-pytest-X.Y.Z.pyc`, which the
next import reads instead. Where PYTHONDONTWRITEBYTECODE is set (CI's machine), pytest writes
none, so each worker parsed, rewrote and compiled the same 240 modules at its start: about 3 s
of CPU per worker out of the 5.5 its start and collection took, and under 1 s once they are
cached (a fresh clone's first run rewrote them in every worker at once anyway, since they
start together). The controller writes them before the workers start, with pytest's own
rewrite (the same code objects pytest would cache; the files are hash-checked pycs, which
pytest reads only while the source is unchanged); a test process still rewrites what it
finds no cache for. Like compileall in scripts/test.sh, this writes bytecode where
PYTHONDONTWRITEBYTECODE asked for none, on purpose; the tests' own child processes still write
none.

This reaches into pytest's private `_pytest.assertion.rewrite`; should it change, nothing is
written and the workers rewrite what they import, as before (same results, more CPU).
"""

from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


def write_rewritten(config: pytest.Config) -> int:
    """Write pytest's cache of every module this process rewrote (the plugins and conftest.py)
    and of every test module under tests/; the number of files written."""
    try:
        from _pytest.assertion.rewrite import (
            PYC_TAIL,
            _rewrite_test,
            _write_pyc,
            assertstate_key,
            get_cache_dir,
            try_makedirs,
        )

        state = config.stash[assertstate_key]
        hook = state.hook
        rewritten = list(hook._rewritten_names.values()) if hook is not None else []
    except (ImportError, AttributeError, KeyError):
        return 0
    if hook is None or getattr(state, "mode", None) != "rewrite":  # --assert=plain
        return 0
    files = {Path(path) for path in rewritten}
    files.update(TESTS.rglob("test_*.py"))
    files.update(TESTS.rglob("conftest.py"))
    written = 0
    for source in sorted(files):
        if not source.is_file():
            continue
        cache = get_cache_dir(source)
        pyc = cache / (source.name[:-3] + PYC_TAIL)
        try:
            if _up_to_date(source, pyc) or not try_makedirs(cache):
                continue
            source_hash, code = _rewrite_test(source, config)
            written += bool(_write_pyc(state, code, source_hash, pyc))
        except (OSError, SyntaxError, UnicodeDecodeError):  # pytest reports it when it imports the module
            continue
        except Exception:  # noqa: BLE001  pytest's private API changed: the workers rewrite, as before
            return written
    return written


def _up_to_date(source: Path, pyc: Path) -> bool:
    """Whether `pyc` is pytest's cache of `source` as it is: its header only (pytest's
    _read_pyc unmarshals the code too, 0.6 s for all of them), the checked-hash pyc pytest
    writes (PEP 552: magic, flags 3, the source's hash). Should pytest's format differ, the
    answer is no and the file is written again: CPU, not a wrong cache."""
    import importlib.util

    try:
        with open(pyc, "rb") as file:
            header = file.read(16)
        source_hash = importlib.util.source_hash(source.read_bytes())
    except OSError:
        return False
    return header == importlib.util.MAGIC_NUMBER + b"\x03\x00\x00\x00" + source_hash[:8]
