"""Run a learner's step unchanged, the way `python -m pytest --mine=DIR` needs it.

    python -u tests/launcher.py DIR/webserver3c.py [ARGS...]

The article's listings hard-code `SERVER_ADDRESS = (HOST, PORT) = '', 8888`,
sleep 60 s (3b, 3c) or 3 s (3e) and print no banner naming a free port. The
check edits none of that: before it runs the file (runpy, as `python FILE`
would), this launcher changes three calls, and nothing else:

- `bind()` to port 8888 binds HOST and PORT from the environment instead
  (the tests give 127.0.0.1 and 0: a free port, so tests run side by side);
  `connect()` to port 8888 (client3.py's) goes to HOST and PORT too (there
  the tests give the server's). A file that reads HOST and PORT itself, as
  this project's steps do, gets the same addresses either way.
- `listen()` prints, before the file's own banner (which names 8888),
  `launcher: ('', 8888) is 127.0.0.1:N. Serving HTTP on port N ...`: the
  line the tests wait for before they connect.
- `time.sleep()` called by the file itself sleeps SLEEP_SECONDS instead when
  the environment has it (the tests' 0.5 s for the article's 60).

The file's folder comes first on sys.path, as with `python FILE`, and then
the working folder, where 3h's WSGI apps are (`hello:app`). A traceback
shows the file's frames only, as `python FILE` shows it. Python 2.7 and 3.
"""
import os
import runpy
import socket
import sys
import time
import traceback

ARTICLE_PORT = 8888


def environment_address(address):
    """The article's port 8888 becomes the environment's HOST and PORT."""
    if isinstance(address, tuple) and len(address) >= 2 and address[1] == ARTICLE_PORT:
        return (os.environ.get('HOST', '127.0.0.1'),
                int(os.environ.get('PORT', '0'))) + tuple(address[2:])
    return address


def wrap(name, before=None, after=None):
    original = getattr(socket.socket, name)

    def call(self, *args):
        if before:
            args = before(*args)
        result = original(self, *args)
        if after:
            after(self)
        return result
    setattr(socket.socket, name, call)


BOUND = []  # the addresses the file asked bind() for


def moved(address, *rest):
    return (environment_address(address),) + rest


def bind(address, *rest):
    BOUND.append(address)
    return moved(address, *rest)


def banner(sock):
    host, port = sock.getsockname()[:2]
    sys.stdout.write('launcher: %r is %s:%d. Serving HTTP on port %d ...\n'
                     % (BOUND[-1] if BOUND else None, host, port, port))
    sys.stdout.flush()


def sleep_of(real_sleep):
    def sleep(seconds):
        if (sys._getframe(1).f_globals.get('__name__') == '__main__'
                and 'SLEEP_SECONDS' in os.environ):
            seconds = float(os.environ['SLEEP_SECONDS'])
        real_sleep(seconds)
    return sleep


def main(argv):
    if not argv:
        sys.exit('usage: python tests/launcher.py SCRIPT [ARGS...]')
    path = os.path.abspath(argv[0])
    wrap('bind', before=bind)
    wrap('connect', before=moved)
    wrap('connect_ex', before=moved)
    wrap('listen', after=banner)
    time.sleep = sleep_of(time.sleep)
    sys.argv = [path] + argv[1:]
    sys.path[0:1] = [os.path.dirname(path), os.getcwd()]
    try:
        runpy.run_path(path, run_name='__main__')
    except SystemExit:
        raise
    except BaseException:  # as Python reports it, without this file's frames
        kind, error, frames = sys.exc_info()
        while frames and frames.tb_frame.f_code.co_filename != path:
            frames = frames.tb_next
        traceback.print_exception(kind, error, frames)
        sys.exit(1)


if __name__ == '__main__':
    main(sys.argv[1:])
