"""A trial process started by a Ray task: ``python -m tunebook.runner._raychild < job``.

The Ray task runs the trial in a child process of its own, so a segfaulting trainer fails
its trial, not the Ray worker, and the trial exits when the Ray worker is killed.
"""

from __future__ import annotations

import pickle
import sys

from tunebook.runner import _child

if __name__ == "__main__":
    _child.main(pickle.loads(sys.stdin.buffer.read()))
