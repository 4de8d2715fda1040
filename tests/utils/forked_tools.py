"""Tool processes forked from a server that has imported torch, mmengine,
mmseg and this package once (multiprocessing's ``forkserver``).

For the tests whose point is a process of its own (a SIGKILL in the middle
of a save, a signal mid-stream, a file size limit), not its start: a fresh
interpreter spends about 3 s of CPU importing what every tool imports, and
the server does that once per session. What makes a tool process a tool
process is set up in the child before the tool runs: its command line, its
environment, its working folder, its own stdout and stderr, SIGINT, SIGTERM
and SIGHUP as a shell in a terminal leaves them, and ``ulimit -f``. The
tests that are about starting a process (mmseg's own tools picking up this
package, torchrun, the installed wheel, submitit's jobs) still start fresh
interpreters.
"""
import multiprocessing
import os
import resource
import runpy
import signal
import sys
import tempfile
from typing import Dict, List, Optional, Sequence, Tuple

#: Imported by the server before it forks any tool.
PRELOAD = ['torch', 'cv2', 'mmengine.runner', 'mmseg.apis',
           'mmseg_affnet.apis', 'mmseg_affnet.apis.video']

_CONTEXT = multiprocessing.get_context('forkserver')
_CONTEXT.set_forkserver_preload(PRELOAD)


def _run_tool(script: str, argv: Sequence[str], env: Dict[str, str],
              cwd: Optional[str], stdout_file: str, stderr_file: str,
              file_size_limit: Optional[int]) -> None:
    """The forked child: becomes ``python SCRIPT ARGV`` started from a shell
    with the environment ``env`` in ``cwd``, then runs the script as
    ``__main__``; its ``SystemExit`` is the process's exit status."""
    os.environ.clear()
    os.environ.update(env)
    if cwd:
        os.chdir(cwd)
    for stream, name in ((sys.stdout, stdout_file), (sys.stderr, stderr_file)):
        stream.flush()
        file = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(file, stream.fileno())
        os.close(file)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for number in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, signal.SIG_DFL)
    if file_size_limit is not None:
        resource.setrlimit(resource.RLIMIT_FSIZE,
                           (file_size_limit, file_size_limit))
    if 'OMP_NUM_THREADS' in env:  # read by torch at its start, in the server
        import torch
        torch.set_num_threads(int(env['OMP_NUM_THREADS']))
    sys.argv = [script, *argv]
    runpy.run_path(script, run_name='__main__')


def _new_file(folder: str, prefix: str, suffix: str) -> str:
    file, name = tempfile.mkstemp(suffix, prefix, folder)
    os.close(file)
    return name


class ForkedTool:
    """A tool process forked from the server, used as a ``subprocess.Popen``
    of ``python SCRIPT ARGV`` with ``stdout`` and ``stderr`` captured as
    text.

    Args:
        script (str): The Python file to run.
        argv (Sequence[str]): Its arguments.
        output_dir (str): Where its ``stdout`` and ``stderr`` files go
            (``NAME.*.stdout``, ``NAME.*.stderr``).
        env (dict, optional): Its environment. Default: this process's.
        cwd (str, optional): Its working folder. Default: this process's.
        file_size_limit (int, optional): ``ulimit -f``, in bytes.
    """

    def __init__(self, script: str, argv: Sequence[str], output_dir: str,
                 env: Optional[Dict[str, str]] = None,
                 cwd: Optional[str] = None,
                 file_size_limit: Optional[int] = None):
        name = os.path.splitext(os.path.basename(script))[0]
        self.stdout_file, self.stderr_file = (
            _new_file(output_dir, f'{name}.', suffix)
            for suffix in ('.stdout', '.stderr'))
        self.process = _CONTEXT.Process(
            target=_run_tool, name=name, args=(
                script, list(argv), dict(env or os.environ), cwd,
                self.stdout_file, self.stderr_file, file_size_limit))
        self.process.start()
        self.pid = self.process.pid

    @property
    def returncode(self) -> Optional[int]:
        """The exit status, ``-N`` for signal N; None while it runs."""
        return self.process.exitcode

    def poll(self) -> Optional[int]:
        return self.returncode

    def wait(self, timeout: Optional[float] = None) -> int:
        """The exit status, once it has ended.

        Raises:
            TimeoutError: If it still runs after ``timeout`` seconds.
        """
        self.process.join(timeout)
        if self.returncode is None:
            raise TimeoutError(f'{self.process.name} still runs after '
                               f'{timeout} s')
        return self.returncode

    def send_signal(self, number: int) -> None:
        os.kill(self.pid, number)

    def kill(self) -> None:
        self.process.kill()

    def communicate(self, timeout: Optional[float] = None) -> Tuple[str, str]:
        """Wait for the end; the text it wrote to ``stdout`` and
        ``stderr``."""
        self.wait(timeout)
        return self.output()

    def output(self) -> Tuple[str, str]:
        """The text written to ``stdout`` and ``stderr`` so far."""
        texts: List[str] = []
        for name in (self.stdout_file, self.stderr_file):
            with open(name, errors='replace') as file:
                texts.append(file.read())
        return texts[0], texts[1]
