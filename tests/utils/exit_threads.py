"""Run a tool (``python exit_threads.py TOOL ARGS...``), then print the
native threads left in this process when the interpreter starts to exit,
one line ``exit threads of rank R: NAME, NAME, ...`` on stderr.

The distributed tests use it to check that a run ends its process group's
threads (gloo's) itself instead of leaving them to interpreter teardown.
"""
import atexit
import glob
import os
import runpy
import sys


def _print_threads() -> None:
    names = []
    for path in glob.glob('/proc/self/task/*/comm'):
        with open(path) as f:
            names.append(f.read().strip())
    line = (f"exit threads of rank {os.environ.get('RANK', '0')}: "
            f"{', '.join(sorted(names))}\n")
    # One write: the ranks share one stderr pipe, and print() writes the text
    # and the newline separately, so two ranks' lines could interleave.
    sys.stderr.flush()
    os.write(2, line.encode())


atexit.register(_print_threads)
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name='__main__')
