"""Helpers shared by the tests, imported as ``tests.utils.<module>``; the
scripts here (``exit_threads.py``, ``interrupted_train.py``) run as
subprocesses."""
