"""cogpin's init, PID 1 in every image: runs the command given as arguments, forwards signals to it,
reaps every zombie, and exits with the command's status (128+N when a signal N ended it).

Stdlib only, started as ``python -I -S`` so it costs a few milliseconds; the same job as tini or
``docker run --init``, which need a binary the image may not have.
"""

import os
import signal
import sys

FORWARD = (
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
    signal.SIGWINCH,
    signal.SIGCONT,
)


def main() -> int:
    argv = sys.argv[1:]
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        sys.stderr.write("usage: init.py [--] COMMAND [ARG...]\n")
        return 2
    waited = set(FORWARD) | {signal.SIGCHLD}
    signal.pthread_sigmask(signal.SIG_BLOCK, waited)
    child = os.fork()
    if child == 0:
        for default in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT):
            signal.signal(default, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, ())
        try:
            os.execvp(argv[0], argv)
        except OSError as e:
            sys.stderr.write(f"init: cannot run {argv[0]}: {e.strerror}\n")
            os._exit(127)
    while True:
        sig = int(signal.sigwait(waited))
        if sig != signal.SIGCHLD:
            try:
                os.kill(child, sig)
            except ProcessLookupError:
                pass
            continue
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return 0
            if pid == 0:
                break
            if pid == child:
                code = os.waitstatus_to_exitcode(status)
                return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(main())
