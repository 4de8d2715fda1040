"""Paths of the repository, and running its tools, for tests that run its
tools or read configs."""
import os.path as osp
import runpy

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOLS_DIR = osp.join(REPO_ROOT, 'tools')
TESTS_UTILS_DIR = osp.dirname(osp.abspath(__file__))
CONFIGS_DIR = osp.join(REPO_ROOT, 'configs')


def tool_main(name: str):
    """``main`` of ``tools/<name>.py``, run in this process (cheaper than a
    fresh interpreter; the tool still runs as its command line)."""
    return runpy.run_path(osp.join(TOOLS_DIR, f'{name}.py'),
                          run_name=f'tool_{name}')['main']


def tool_error(name: str, *argv: str) -> str:
    """Run ``tools/<name>.py`` in this process; it must exit with an error.

    Returns:
        str: The one line it exits with (``error: ...``).
    """
    with pytest.raises(SystemExit) as exit_info:
        tool_main(name)(list(argv))
    message = exit_info.value.code
    assert isinstance(message, str), f'{name} exited with {message!r}'
    return message


def exit_status(name: str, *argv: str):
    """Run ``tools/<name>.py`` in this process; it must exit (not raise).

    A ``KeyboardInterrupt`` that escapes the tool (a traceback on the
    command line) fails the test instead of stopping the whole session.

    Returns:
        int | str | None: Its exit status (or the one line it exits with).
    """
    try:
        tool_main(name)(list(argv))
    except SystemExit as exit_info:
        return exit_info.code
    except KeyboardInterrupt as error:
        pytest.fail(f'{name} let a Ctrl+C escape: {error!r}')
    pytest.fail(f'{name} ended without exiting with a status')
