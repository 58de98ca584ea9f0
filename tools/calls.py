"""How webserver3i.py reads top-down: one GET, followed call by call.

    python tools/calls.py               # webserver3i.py
    python tools/calls.py FILE          # another copy of it

Runs one plain GET (`GET /hello HTTP/1.1`, a Host field, the hello app of
tests/apps/hello.py) through the file's WSGIServer.handle_one_request, in
this process, over a socketpair: nothing forks. sys.setprofile follows every
call of a function or method defined in the file, from handle_one_request to
the access line. A call is upward when the callee's definition line is above
the caller's: a reader following the request has to scroll back for it.
Code outside the file (the app, io, socket) is looked through: a callee's
caller is the nearest frame of the file below it on the stack.

It also prints where the first `os.fork()` sits, as a fraction of the lines.
"""
import ast
import importlib.util
import io
import os
import signal
import socket
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, 'webserver3i.py')
HELLO = os.path.join(ROOT, 'tests', 'apps', 'hello.py')
REQUEST = b'GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n'
SIGNALS = ('SIGCHLD', 'SIGINT', 'SIGTERM', 'SIGALRM')


class Call(object):
    def __init__(self, caller, callee):
        self.caller, self.callee = caller, callee  # code objects

    @property
    def upward(self):
        return self.callee.co_firstlineno < self.caller.co_firstlineno

    def __str__(self):
        return '%s (line %d) -> %s (line %d)' % (
            name(self.caller), self.caller.co_firstlineno,
            name(self.callee), self.callee.co_firstlineno)

    __repr__ = __str__


class Measure(object):
    def __init__(self, path, calls, fork_line, lines, response, log):
        self.path, self.calls = path, calls
        self.fork_line, self.lines = fork_line, lines
        self.response, self.log = response, log  # what the GET got

    @property
    def upward(self):
        return [call for call in self.calls if call.upward]

    @property
    def fork_fraction(self):
        return self.fork_line / self.lines

    def report(self):
        out = ['%s: one GET makes %d calls within the file, %d of them upward'
               % (os.path.relpath(self.path), len(self.calls), len(self.upward))]
        out += ['  ' + str(call) for call in self.upward]
        out.append('first os.fork() on line %d of %d: %.0f %%' % (
            self.fork_line, self.lines, 100 * self.fork_fraction))
        return '\n'.join(out)


def name(code):
    return getattr(code, 'co_qualname', code.co_name)  # 3.11+: Class.method


def load(path, module_name):
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def first_fork(path):
    """The line of the first os.fork() call in the file."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    return min(node.lineno for node in ast.walk(tree)
               if isinstance(node, ast.Call) and
               isinstance(node.func, ast.Attribute) and node.func.attr == 'fork' and
               isinstance(node.func.value, ast.Name) and node.func.value.id == 'os')


def trace_get(path):
    """([Call], response bytes, access line) of one GET through the file."""
    path = os.path.realpath(path)
    server_module = load(path, '_calls_webserver')
    app = load(HELLO, '_calls_hello').app
    server = server_module.WSGIServer(('127.0.0.1', 0))  # listens, never accepts
    server.set_app(app)
    calls = []

    def ours(frame):
        while frame is not None and frame.f_code.co_filename != path:
            frame = frame.f_back
        return frame

    def profile(frame, event, arg):
        # Functions and methods only: no <listcomp>, <genexpr>, <lambda>
        if (event == 'call' and frame.f_code.co_filename == path and
                not frame.f_code.co_name.startswith('<')):
            caller = ours(frame.f_back)
            if caller is not None:
                calls.append(Call(caller.f_code, frame.f_code))

    # handle_one_request sets the child's signal handlers: put them back
    handlers = {signum: signal.getsignal(getattr(signal, signum)) for signum in SIGNALS}
    stdout, sys.stdout = sys.stdout, io.StringIO()  # the access line
    client, ours_end = socket.socketpair()
    try:
        client.sendall(REQUEST)
        sys.setprofile(profile)
        try:
            server.handle_one_request(ours_end, ('127.0.0.1', 0))
        finally:
            sys.setprofile(None)
            log, sys.stdout = sys.stdout.getvalue(), stdout
        response = b''
        client.settimeout(5)
        while True:
            data = client.recv(65536)
            if not data:
                break
            response += data
    finally:
        client.close()
        ours_end.close()
        server.listen_socket.close()
        for signum, handler in handlers.items():
            signal.signal(getattr(signal, signum), handler)
    return calls, response, log


def measure(path=SCRIPT):
    calls, response, log = trace_get(path)
    with open(path) as f:
        lines = len(f.read().splitlines())
    return Measure(path, calls, first_fork(path), lines, response, log)


if __name__ == '__main__':
    if len(sys.argv) > 2 or sys.argv[1:2] in (['-h'], ['--help']):
        sys.exit('usage: python tools/calls.py [FILE]')
    result = measure(os.path.abspath(sys.argv[1]) if sys.argv[1:] else SCRIPT)
    print(result.report())
    print('the access line: ' + result.log.strip())
