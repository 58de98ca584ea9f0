"""Run a learner's step unchanged, the way `python -m pytest --mine=DIR` needs it.

    python -u tests/launcher.py DIR/webserver3c.py [ARGS...]

The article's listings hard-code `SERVER_ADDRESS = (HOST, PORT) = '', 8888`,
sleep 60 s (3b, 3c) or 3 s (3e) and print no banner naming a free port. The
check edits none of that: before it runs the file (runpy, as `python FILE`
would), this launcher changes three calls, and watches two things:

- `bind()` to port 8888 binds HOST and PORT from the environment instead
  (the tests give 127.0.0.1 and 0: a free port, so tests run side by side);
  `connect()` to port 8888 (client3.py's) goes to HOST and PORT too (there
  the tests give the server's). A file that reads HOST and PORT itself, as
  this project's steps do, gets the same addresses either way.
- `listen()` prints, before the file's own banner (which names 8888),
  `launcher: the tests moved port 8888 to N. Serving HTTP on port N ...`:
  the line the tests wait for before they connect.
- `time.sleep()` called by the file itself sleeps SLEEP_SECONDS instead when
  the environment has it (the tests' quarter of a second for the article's 60).
- each process counts the bytes it receives (`recv`, `recv_into`,
  `recvfrom`): a child that received none served a connection the test
  opened and closed without a request;
- a process that ends with a traceback (the file's own process, or a child
  it forked) writes it as `python FILE` would, the file's frames only, in one
  write (children dying at once do not mix their lines), and, when
  LSBAWS_DEATHS names a descriptor, a JSON line there: its pid, its
  parent's, whether it is the process started (`main`), its exit status, the
  bytes it received and the traceback.

The file's folder comes first on sys.path, as with `python FILE`, and then
the working folder, where 3h's WSGI apps are (`hello:app`). Python 2.7 and 3.
"""
import json
import os
import runpy
import socket
import sys
import time
import traceback

ARTICLE_PORT = 8888
MAIN = os.getpid()  # the process started: a child forked by the file has another pid
RECEIVED = {}  # {pid: bytes received}: a child's count starts at 0


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
    asked = BOUND[-1] if BOUND else None
    if environment_address(asked) != asked:
        said = 'the tests moved port %d to %d' % (ARTICLE_PORT, port)
    else:
        said = 'listening on %s:%d, as the file asks' % (host, port)
    sys.stdout.write('launcher: %s. Serving HTTP on port %d ...\n' % (said, port))
    sys.stdout.flush()


def count(received):
    pid = os.getpid()
    RECEIVED[pid] = RECEIVED.get(pid, 0) + (
        received if isinstance(received, int) else len(received))
    return received


def counting(method):
    def call(*args, **kwargs):
        result = method(*args, **kwargs)
        count(result if not isinstance(result, tuple) else result[0])
        return result
    return call


def count_what_arrives():
    """Count what recv(), recv_into() and recvfrom() return, in every process."""
    names = ('recv', 'recv_into', 'recvfrom')
    if hasattr(socket, '_socketobject'):  # Python 2: methods set on each socket
        init = socket._socketobject.__init__

        def __init__(self, *args, **kwargs):
            init(self, *args, **kwargs)
            for name in names:
                setattr(self, name, counting(getattr(self, name)))
        socket._socketobject.__init__ = __init__
    else:
        for name in names:
            setattr(socket.socket, name, counting(getattr(socket.socket, name)))


def died(text, status):
    """Say a traceback (or an exit message) as Python would, in one write,
    and record it on LSBAWS_DEATHS for the tests."""
    if not isinstance(text, bytes):
        text = text.encode('utf-8', 'replace')
    os.write(2, text)
    fd = os.environ.get('LSBAWS_DEATHS')
    if fd:
        record = dict(pid=os.getpid(), ppid=os.getppid(), main=os.getpid() == MAIN,
                      status=status, received=RECEIVED.get(os.getpid(), 0),
                      traceback=text.decode('utf-8', 'replace'))
        try:
            os.write(int(fd), (json.dumps(record) + '\n').encode('utf-8'))
        except OSError:
            pass


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
    count_what_arrives()
    time.sleep = sleep_of(time.sleep)
    sys.argv = [path] + argv[1:]
    sys.path[0:1] = [os.path.dirname(path), os.getcwd()]
    try:
        runpy.run_path(path, run_name='__main__')
    except SystemExit as e:
        if e.code not in (None, 0) and not isinstance(e.code, int):  # sys.exit('why')
            died('%s\n' % (e.code,), 1)
            sys.exit(1)
        raise
    except BaseException:  # as Python reports it, without this file's frames
        kind, error, frames = sys.exc_info()
        while frames and frames.tb_frame.f_code.co_filename != path:
            frames = frames.tb_next
        died(''.join(traceback.format_exception(kind, error, frames)), 1)
        sys.exit(1)


if __name__ == '__main__':
    main(sys.argv[1:])
