"""What the process pool's fork server holds: the imports it makes once, and its exit without a teardown.

Multiprocessing's fork server (see :mod:`optbench.forkserver`) imports this module before it forks any
worker, so that no worker pays for these imports again:

- torch and optbench's trial code (:mod:`optbench.backends`);
- ``torch._dynamo``, which ``torch.optim`` imports the first time a process builds or steps an optimizer
  (1.2-1.7 s here: more than a short trial).

It also makes the server end without the interpreter's teardown. The server ends when its driver does,
and tearing down an interpreter that holds torch and torch._dynamo takes ~0.7 s of CPU, during which the
server still holds the driver's stdout and stderr open. Whoever reads the command's output through a
pipe (a shell pipeline, ``subprocess.run(capture_output=True)``, CI) would wait that long after the
command is done. The server never runs a torch operation, owns no file of the store and no child
``Process`` object, so the teardown has nothing to do that matters. Imported anywhere else (a test, the
docs), this module only imports.
"""

from __future__ import annotations

import atexit

import torch._dynamo  # noqa: F401  (imported for the workers: see the module docstring)

from optbench.backends import exit_without_teardown
from optbench.forkserver import running_as_fork_server

if running_as_fork_server():
    # registered last, so it runs first at exit; the handlers it skips have nothing to do in the server
    atexit.register(exit_without_teardown)
