"""What the tests share: starting a step as a real process and looking at it.

Every server runs as `python -u SCRIPT` with PORT=0, in its own session, so
that teardown can kill its whole process group (the server and every child it
forked). Processes are inspected through procfs, the way `ps` does it.

`python -m pytest --mine=DIR` checks a learner's own files instead, unchanged:
SCRIPTS is then DIR, only the tests marked `claim` run (conftest.py), and every
file runs as `python -u tests/launcher.py SCRIPT`. The article's listings
hard-code port 8888, sleep 60 s and print no banner naming a free port; the
launcher (see its docstring) makes a bind() to 8888 bind HOST and PORT from
the environment (127.0.0.1 and 0 here), a connect() to 8888 go to HOST and
PORT (client3.py), prints the banner Server.started() waits for right after
listen(), and makes the file's own time.sleep() sleep SLEEP_SECONDS when the
test sets it. This project's own files run directly, as always, except under
--mine.

How the processes of a test end is watched: the servers a test starts (and
the client3.py of every_child_reaped_after) are in WATCHED; a wait stops as
soon as one of them has ended on its own (Gone), and under --mine the
launcher records every process of theirs that ends with a traceback
(Server.deaths()), which tests/teacher.py shows first when a claim fails.
"""
import atexit
import glob
import json
import os
import pwd
import random
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# tools/mutants.py points this at a mutated copy of the scripts.
SCRIPTS = os.environ.get('LSBAWS_SCRIPTS', ROOT)
MINE = None  # --mine=DIR: the learner's directory (then SCRIPTS too), set by conftest.py
LAUNCHER = os.path.join(ROOT, 'tests', 'launcher.py')
LEARNER_FILES = ['webserver3%s.py' % step for step in 'abcdefgh'] + ['client3.py']
APPS = os.path.join(ROOT, 'tests', 'apps')
HOST = '127.0.0.1'
# seconds: generous, for a noisy 2-core machine (tools/mutants.py, where a
# failure is expected, sets a shorter one; --mine too, see use_mine()). The
# waits below read it when they start (timeout=None).
DEADLINE = float(os.environ.get('LSBAWS_DEADLINE', '20'))
MINE_DEADLINE = 10  # under --mine: a learner's own machine, and failures to wait out
NOBODY = 65534  # uid and gid of `nobody` (the README's ulimit -u demo runs as nobody)
# Where fresh_uid() draws a uid of a capped server's own: no user has them.
FRESH_UIDS = (1 << 30, 1 << 31)
REQUEST = b'GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n'  # the article's request
HELLO = b'Hello, World!\n'  # and the body of every step's answer
WSGI_STEPS = ('webserver3h.py', 'webserver3i.py')  # they serve an app: hello:app


# The README's lesson of each step, by its heading's anchor: a claim test that
# fails under --mine links there (tests/test_readme.py checks they exist).
LESSONS = {
    '3a': 'README.md#3a-an-iterative-server',
    '3b': 'README.md#3a--3b-the-sleep',
    '3c': 'README.md#3b--3c-fork',
    '3d': 'README.md#3c--3d-forgetting-to-close',
    '3e': 'README.md#3d--3e-reaping-with-sigchld',
    '3f': 'README.md#3e--3f-restarting-accept',
    '3g': 'README.md#3f--3g-waitpid-in-a-loop',
    '3h': 'README.md#3g--3h-the-exercise-part-2s-wsgi-server-made-concurrent',
}


def script(name):
    return os.path.join(SCRIPTS, name)


def use_mine(directory):
    """--mine=DIR: run the learner's files in DIR from now on; the names of
    those it has (none: a usage error, said by conftest.py)."""
    global DEADLINE, MINE, SCRIPTS
    MINE = SCRIPTS = os.path.abspath(directory)
    if 'LSBAWS_DEADLINE' not in os.environ:
        DEADLINE = MINE_DEADLINE
    return [name for name in LEARNER_FILES if os.path.isfile(script(name))]


def command(python, path, launcher=LAUNCHER):
    """How a file is run: `python -u FILE`, or under --mine through the launcher."""
    return [python.path, '-u'] + ([launcher] if MINE else []) + [path]


class Gone(AssertionError):
    """A server ended on its own while a test waited for something of it."""


def wait_for(condition, timeout=None, what='condition', interval=0.01, seen=None):
    """Poll condition() until it returns something truthy; fail at the deadline,
    saying what seen() describes then (what there was instead), if given, or
    as soon as a server of the test has ended on its own (see Server.gone)."""
    __tracebackhide__ = True  # a failure shows the test's line, not this one
    timeout = DEADLINE if timeout is None else timeout
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        for server in WATCHED:
            if server.gone():
                raise Gone('%s exited with status %s while the test waited for %s' % (
                    server.name, server.proc.returncode, what))
        if time.monotonic() > deadline:
            raise AssertionError('timed out after %.0f s waiting for %s%s' % (
                timeout, what, '; seen instead: %s' % seen() if seen else ''))
        time.sleep(interval)


def proc_stat(pid):
    """(state, ppid, process group) of a process from /proc/PID/stat, or None
    if it is gone."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat[stat.rindex(')') + 2:].split()  # the name may hold spaces
    return fields[0], int(fields[1]), int(fields[2])


def exit_status(pid):
    """How a zombie ended, as the kernel keeps it for its parent's wait()
    (/proc/PID/stat's exit_code): its exit status, or minus the signal that
    killed it; None while it runs, or once it is gone."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
    except OSError:
        return None
    if fields[0] != 'Z':
        return None
    status = int(fields[-1])  # field 52: what waitpid() will return
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else -os.WTERMSIG(status)


def processes():
    """{pid: (state, ppid, process group)} of every process."""
    found = {}
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            stat = proc_stat(int(entry))
            if stat:
                found[int(entry)] = stat
    return found


def take_ctrl_c():
    """Let Ctrl-C reach the servers again if this process was started with
    SIGINT ignored (a command run with `&` by a shell without job control):
    an ignored signal stays ignored across fork() and exec(), and a Python
    started so never raises KeyboardInterrupt."""
    for signum in signal.SIGINT, signal.SIGQUIT:
        if signal.getsignal(signum) == signal.SIG_IGN:
            signal.signal(signum, signal.default_int_handler if signum == signal.SIGINT
                          else signal.SIG_DFL)


def become_subreaper():
    """Make this process the reaper of its orphaned descendants. A server that
    dies leaves its children to the nearest subreaper, else to PID 1, which
    need not wait for them soon (on this project's machines it does not):
    their zombies would outlive the test run, and count against ulimit -u."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def children(pid):
    """{child pid: state letter} of every process whose parent is pid ('Z' = zombie)."""
    return {child: stat[0] for child, stat in processes().items() if stat[1] == pid}


def zombies(pid):
    return sorted(p for p, state in children(pid).items() if state == 'Z')


def wchan(pid):
    """The kernel function a process sleeps in ('inet_csk_accept' inside accept())."""
    try:
        with open('/proc/%d/wchan' % pid) as f:
            return f.read()
    except OSError:
        return ''


def fd_count(pid):
    return len(os.listdir('/proc/%d/fd' % pid))


def socket_count(pid):
    """How many sockets a process holds open (its fds that link to socket:[N])."""
    count = 0
    for fd in os.listdir('/proc/%d/fd' % pid):
        try:
            count += os.readlink('/proc/%d/fd/%s' % (pid, fd)).startswith('socket:')
        except OSError:
            pass
    return count


def processes_of(uid):
    """How many processes uid has: RLIMIT_NPROC counts them all."""
    return sum(1 for d in os.listdir('/proc')
               if d.isdigit() and owner(d) == uid)


def owner(pid):
    """The uid of a process, or None if it is gone."""
    try:
        return os.stat('/proc/%s' % pid).st_uid
    except OSError:
        return None


def fresh_uid():
    """As root, a uid of a test's own: no user has it (no /etc/passwd entry),
    no process runs as it, and it is drawn at random from FRESH_UIDS (or, in a
    user namespace that does not map them, from those it maps above 1000), so
    that runs side by side do not meet. ulimit -u counts the processes of a
    uid: under this one, those of the test alone."""
    with open('/proc/self/uid_map') as f:
        mapped = [(int(first), int(first) + int(count) - 1)
                  for first, _, count in (line.split() for line in f)]
    for low, high in FRESH_UIDS, (1000, NOBODY - 1):
        spans = [(max(low, first), min(high, last)) for first, last in mapped
                 if max(low, first) < min(high, last)]
        if spans:
            break
    while True:
        uid = random.randint(*random.choice(spans))
        try:
            pwd.getpwuid(uid)
        except KeyError:
            if not processes_of(uid):
                return uid


def tcp_rows():
    """The rows of /proc/net/tcp, one per IPv4 TCP socket, split in fields:
    [1] local address:port, [2] remote one, [3] state, [4] tx:rx queues,
    [9] the socket's inode (in hex but the inode). The listening sockets come
    first, then thousands, after a run, in TIME_WAIT: the kernel writes no
    more of the file than is read, so a caller may stop early."""
    with open('/proc/net/tcp') as f:
        next(f)  # the header
        for line in f:
            yield line.split()


def port_of(address):
    """The port of an address as /proc/net/tcp writes it (0100007F:1F90)."""
    return int(address.split(':')[1], 16)


def tcp_table():
    """[(local port, TCP state, rx_queue, socket inode)] of every IPv4 TCP
    socket, from /proc/net/tcp (state '0A' is LISTEN, '01' ESTABLISHED)."""
    return [(port_of(fields[1]), fields[3], int(fields[4].split(':')[1], 16), fields[9])
            for fields in tcp_rows()]


def server_end(sock):
    """The inode of the server's end of a client's connection: the socket
    whose local port is the server's and remote port the client's. None
    while it waits in the listen queue: the kernel shows inode 0 until
    accept() gives it a descriptor."""
    client, server = sock.getsockname()[1], sock.getpeername()[1]
    for fields in tcp_rows():
        if (port_of(fields[1]), port_of(fields[2])) == (server, client) and fields[9] != '0':
            return fields[9]
    return None


def holders(inode, pids):
    """Those of pids that hold a descriptor of the socket inode (a link to
    socket:[inode] in /proc/PID/fd): while one does, the kernel keeps it open."""
    link = 'socket:[%s]' % inode
    found = []
    for pid in pids:
        try:
            fds = os.listdir('/proc/%d/fd' % pid)
        except OSError:
            continue  # gone, or a zombie: it holds nothing
        for fd in fds:
            try:
                if os.readlink('/proc/%d/fd/%s' % (pid, fd)) == link:
                    found.append(pid)
                    break
            except OSError:
                pass
    return found


def pending(sock):
    """What a client could read now, without waiting: None if nothing
    (recv(MSG_DONTWAIT) raises BlockingIOError), b'' if the server's FIN
    (else the bytes). MSG_PEEK: it reads nothing away."""
    timeout = sock.gettimeout()
    sock.settimeout(0)  # with a timeout, Python would wait for the socket first
    try:
        return sock.recv(1024, socket.MSG_DONTWAIT | socket.MSG_PEEK)
    except BlockingIOError:
        return None
    finally:
        sock.settimeout(timeout)


def accept_queue(port):
    """How many connections wait in a listening socket's accept queue (their
    handshake is complete, nobody has accepted them yet): for a LISTEN socket
    the kernel shows that count as rx_queue in /proc/net/tcp. Read up to that
    socket only: the kernel writes no more of the file than is read."""
    for fields in tcp_rows():
        if fields[3] == '0A' and port_of(fields[1]) == port:
            return int(fields[4].split(':')[1], 16)
    raise AssertionError('no listening socket on port %d' % port)


def connect(port, timeout=None):
    return socket.create_connection((HOST, port), timeout=timeout or DEADLINE)


class Silence(socket.timeout):
    """A socket.timeout that says what the client waited for, how long, and
    what it had received by then."""


def receive(sock, enough, timeout, waiting_for, after=None):
    """Read until enough(received) or FIN; at the deadline raise Silence,
    which says how long after what (`after`: 'the answer') nothing came."""
    __tracebackhide__ = True
    deadline = time.monotonic() + timeout
    received = b''
    while not enough(received):
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            raise Silence('the client saw %s within %g s%s (%s)' % (
                waiting_for, timeout, ' of ' + after if after else '',
                'but %d bytes: %r' % (len(received), received[:60])
                if received else 'nor any byte')) from None
        if not chunk:
            break
        received += chunk
    return received


def read_until_eof(sock, timeout=None, after=None):
    """Read until the server's FIN; fail if it does not come within timeout
    (of `after`, say 'the answer', for the message)."""
    __tracebackhide__ = True
    return receive(sock, lambda received: False, timeout or DEADLINE, 'no FIN', after)


def read_at_least(sock, data, timeout=None):
    """Read until the bytes received contain data (without waiting for FIN)."""
    __tracebackhide__ = True
    return receive(sock, lambda received: data in received, timeout or DEADLINE,
                   'no %r' % data)


def interpreters():
    """Each CPython under pyenv, then on PATH, asked for its version only when
    the caller gets that far (each is a start-up): one may come twice."""
    root = os.environ.get('PYENV_ROOT', os.path.expanduser('~/.pyenv'))
    candidates = sorted(glob.glob(os.path.join(root, 'versions', '*', 'bin', 'python')))
    path = os.pathsep.join(d for d in os.environ.get('PATH', '').split(os.pathsep)
                           if not d.rstrip('/').endswith('shims'))  # pyenv's shims
    for name in ['python2.7'] + ['python3.%d' % n for n in range(6, 20)]:
        found = shutil.which(name, path=path)
        if found:
            candidates.append(found)
    for path in candidates:
        try:
            interpreter = Interpreter(path)
        except Exception:
            continue
        yield interpreter


def discover_pythons():
    """Every distinct CPython 2.7 / 3.x under pyenv and on PATH, oldest first."""
    by_version = {}
    for interpreter in interpreters():
        if interpreter.version == (2, 7) or interpreter.version >= (3, 6):
            by_version.setdefault(interpreter.version, interpreter)
    return [by_version[v] for v in sorted(by_version)]


_python2 = []


def python2():
    """A Python 2.7 if this machine has one (for the EINTR lesson), else None:
    the one discover_pythons() keeps, found without starting the others."""
    if not _python2:
        _python2.append(next((p for p in interpreters() if p.version == (2, 7)), None))
    return _python2[0]


HEAD_END = re.compile(br'\r?\n\r?\n')  # the blank line after the head, \n or \r\n


def assert_answer(received, body=b'Hello, World!', what=None):
    """Fail, saying what came instead, unless received is an HTTP answer
    (`HTTP/1.x 200`) whose body holds body; a server's own style passes
    (\n or \r\n, headers or none, more after the body). Returns received.
    what: whose answer, said first when it fails."""
    __tracebackhide__ = True
    blank = HEAD_END.search(received)
    if not received:
        problem = 'no answer: the connection ended before a byte came'
    elif not re.match(br'HTTP/1\.[01] 200[ \r\n]', received):
        problem = 'not an HTTP answer "HTTP/1.1 200 OK"'
    elif not blank:
        problem = 'no blank line ends the head of the answer'
    elif body not in received[blank.end():]:
        problem = 'no %r in the body of the answer' % body
    else:
        return received
    raise AssertionError('%s%s (%d bytes: %r)' % (
        what + ': ' if what else '', problem, len(received), received[:80]))


def get(port, path='/hello', timeout=None):
    """The article's request; returns the whole response, read up to FIN."""
    __tracebackhide__ = True
    with connect(port, timeout) as sock:
        sock.sendall(b'GET ' + path.encode() + b' HTTP/1.1\r\nHost: localhost\r\n\r\n')
        return read_until_eof(sock, timeout, after='its request')


class Interpreter(object):
    """A Python that runs the scripts: its path and (major, minor) version."""

    def __init__(self, path):
        self.path = path
        out = subprocess.check_output(
            [path, '-c', 'import sys; print("%d %d" % sys.version_info[:2])'],
            stderr=subprocess.DEVNULL)
        self.version = tuple(int(n) for n in out.split())

    @property
    def name(self):
        return 'py%d.%d' % self.version

    def __repr__(self):
        return '%s (%s)' % (self.name, self.path)


RUNNING = set()  # every Server not yet stopped: stop_all() ends them all

# A bind() to port 0 refused with EADDRINUSE: the kernel found no port to
# give (inet_csk_get_port() failed: every port of ip_local_port_range taken
# by a socket on the same address, or no bind bucket to be had; it answers
# EADDRINUSE to both). Seen once, starting 3b, on a machine running five
# suites at once; not reproduced since. A start that meets it tries again,
# at most PORT0_TRIES times, and says so in pytest's warnings summary.
PORT0_TRIES = 3
PORT0_REFUSED = ('%s: bind() to port 0 was refused with EADDRINUSE (the kernel had no port '
                 'to give); started again, after try %d of %d')


def stop_all():
    for server in list(RUNNING):
        server.stop()


atexit.register(stop_all)  # whatever way this process ends, no server outlives it


WATCHED = []  # the Servers of the test that runs: conftest.py empties it before each


def watch(process):
    WATCHED.append(process)
    return process


class NotStarted(AssertionError):
    """A server that ended, or never listened, before its banner."""


class Server(object):
    """One step script running as a real process; its output goes to a file.
    (client3.py runs as one too: name 'client3.py', started() not called.)

    nproc: run it under ulimit -u nproc, from a world-readable copy of the
    scripts, as a uid of its own (fresh_uid(): root is exempt from
    RLIMIT_NPROC, and under a uid that other processes share the limit would
    count them too); python must then be one that any user can run. Not
    root, it runs as this user, under nproc more processes than this user
    has now (other processes of this user that end meanwhile free a slot).
    wrapper: a command that runs the interpreter (strace ...): self.pid is
    then the wrapper's.
    """

    def __init__(self, python, name, args=(), env=None, nofile=None, cwd=None, nproc=None,
                 wrapper=()):
        self.name = name
        full_env = dict(os.environ, HOST=HOST, PORT='0', PYTHONUNBUFFERED='1',
                        LSBAWS_SCRIPTS=SCRIPTS)
        full_env.update(env or {})
        for key in [key for key, value in full_env.items() if value is None]:
            del full_env[key]  # env={'HOST': None}: the script's default
        path, self._copy, launcher = script(name), None, LAUNCHER
        self.uid = None  # under nproc: the uid it runs as
        if nproc is not None:
            self._copy = world_readable_copy()
            path = os.path.join(self._copy, name)
            launcher = os.path.join(self._copy, 'tests', os.path.basename(LAUNCHER))
            cwd = cwd and os.path.join(self._copy, os.path.relpath(cwd, ROOT))
            full_env['HOME'] = full_env['LSBAWS_SCRIPTS'] = self._copy
            if os.geteuid() == 0:
                self.uid = fresh_uid()
            else:
                self.uid = uid = os.getuid()
                # ulimit -u counts zombies too: wait for any left to be reaped
                wait_for(lambda: not [pid for pid, stat in processes().items()
                                      if stat[0] == 'Z' and owner(str(pid)) == uid],
                         what='the zombies of uid %d to be reaped' % uid)
                nproc += processes_of(uid)

        def limit(uid=self.uid):  # runs in the server process before exec
            if nofile is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
            if nproc is not None:
                resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
                if os.geteuid() == 0:
                    os.setgroups([])
                    os.setgid(uid)
                    os.setuid(uid)

        self._port0 = full_env['PORT'] == '0'
        self._popen = dict(args=list(wrapper) + command(python, path, launcher) + list(args),
                           env=full_env, cwd=cwd or ROOT,
                           # no limit to set: vfork(), not a copy of this big process
                           preexec_fn=limit if nofile is not None or nproc is not None
                           else None)
        self._spawn()

    def _spawn(self):
        # The server, its children and this process share one open file: the
        # servers append, and this process reads with pread(), so that
        # reading never moves the offset the servers write at.
        self._log = tempfile.TemporaryFile(mode='a+b')
        # Under --mine the launcher records there each process that ends
        # with a traceback (which, its exit status, what it had received).
        self._deaths = tempfile.TemporaryFile(mode='a+b') if MINE else None
        popen = dict(self._popen)
        if self._deaths:
            popen['env'] = dict(popen['env'], LSBAWS_DEATHS=str(self._deaths.fileno()))
            popen['pass_fds'] = [self._deaths.fileno()]
        self.proc = subprocess.Popen(stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     **popen)
        self.pid = self.proc.pid
        self.port = None
        self.stopped = False  # by stop(): the test, or its teardown
        self.cut_short = None  # why a client3.py was stopped before its end
        self.seen_ending = False  # the test looked: alive() False, wait_exit()
        self._kept = None  # (output, deaths) once stopped
        RUNNING.add(self)

    def _read(self, log):
        fd = log.fileno()
        text = os.pread(fd, os.fstat(fd).st_size, 0).decode('utf-8', 'replace')
        if self._copy:  # a capped run's world-readable copy: named as the files it copies
            text = text.replace(self._copy + os.sep, SCRIPTS + os.sep)
        return text

    @property
    def output(self):
        return self._kept[0] if self._kept else self._read(self._log)

    def deaths(self):
        """[{pid, ppid, main, status, received, traceback}] of each of its
        processes that ended with a traceback (under --mine: the launcher's)."""
        text = self._kept[1] if self._kept else self._deaths and self._read(self._deaths)
        return [json.loads(line) for line in (text or '').splitlines() if line.strip()]

    def ended_on_its_own(self):
        """Its exit status if it ended and neither the test nor teardown
        killed it (SIGKILL), else None."""
        status = self.proc.poll()
        if status is None or (self.stopped and status < 0) or status == -signal.SIGKILL:
            return None
        return status

    def gone(self):
        """A server that ended on its own, and the test has not looked."""
        return (self.name != 'client3.py' and not self.seen_ending
                and self.ended_on_its_own() is not None)

    def wait_output(self, pattern, timeout=None, count=1, what=None):
        """Wait until the output matches pattern count times; return the matches.
        what: what that means, said when it fails instead of the pattern."""
        __tracebackhide__ = True
        regex = re.compile(pattern, re.M)
        timeout = DEADLINE if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            exited = not self.alive()
            text = self.output
            found = list(regex.finditer(text))
            if len(found) >= count:
                return found
            if exited or time.monotonic() > deadline:
                raise AssertionError(
                    '%s: %s%s; output so far:\n%s'
                    % (self.name, what or '%d of %d matches of %r' % (len(found), count, pattern),
                       ' (it has exited)' if exited else '', text[-3000:]))
            time.sleep(0.002)  # a file's size and bytes: cheap to look at often

    def started(self):
        """Wait for the banner (under --mine the launcher's, printed at
        listen()); NotStarted if it ends or never listens."""
        __tracebackhide__ = True
        for attempt in range(1, PORT0_TRIES + 1):
            try:
                banner = self.wait_output(r'%sServing HTTP on port (\d+) \.\.\.$' % (
                    '^launcher: .*' if MINE else ''), what='never listened')
                self.port = int(banner[0].group(1))
                return self
            except AssertionError as e:
                if attempt == PORT0_TRIES or not self.port0_refused():
                    raise NotStarted(str(e)) from None
            warnings.warn(PORT0_REFUSED % (self.name, attempt, PORT0_TRIES))
            self._end()
            self._spawn()

    def port0_refused(self):
        """Whether it died of a bind() to port 0 refused with EADDRINUSE."""
        return self._port0 and not self.alive() and 'Address already in use' in self.output

    def alive(self):
        alive = self.proc.poll() is None
        self.seen_ending = self.seen_ending or not alive
        return alive

    def wait_exit(self, timeout=None):
        self.seen_ending = True
        return self.proc.wait(timeout or DEADLINE)

    def children(self):
        return children(self.pid)

    def zombies(self):
        return zombies(self.pid)

    def wait_in_accept(self):
        """Wait until the parent is blocked in accept(), and so idle."""
        wait_for(lambda: wchan(self.pid) == 'inet_csk_accept',
                 what='%s to block in accept()' % self.name)

    def pause(self):
        """SIGSTOP the parent (its children run on), and wait until it has stopped."""
        os.kill(self.pid, signal.SIGSTOP)
        wait_for(lambda: (proc_stat(self.pid) or 'X')[0] == 'T', what='%s to stop' % self.name)

    def settle(self, timeout=1.0):
        """Wait (at most timeout) until its processes are still: none running,
        its output and their states unchanged for 30 ms; what a child writes
        as it ends, right after the test, is then in the output."""
        deadline = time.monotonic() + timeout
        last, still = None, 0
        while time.monotonic() < deadline and still < 3:
            states = sorted(stat[0] for stat in processes().values() if stat[2] == self.pid)
            now = (len(self.output), len(self.deaths()), states)
            still = still + 1 if now == last and not set('RD') & set(states) else 0
            last = now
            time.sleep(0.01)

    def resume(self):
        os.kill(self.pid, signal.SIGCONT)

    def stop(self):
        """Kill the whole process group: the server and every child it forked.
        Its output and deaths stay readable."""
        if self._kept:
            return
        RUNNING.discard(self)
        self.stopped = True
        self._kept = self._end()
        if self._copy:
            shutil.rmtree(self._copy, ignore_errors=True)

    def _end(self):
        """Kill its process group, wait for it; (output, deaths) it left."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(DEADLINE)
        reap_orphans(self.pid)
        kept = (self._read(self._log), self._deaths and self._read(self._deaths))
        self._log.close()
        if self._deaths:
            self._deaths.close()
        return kept


def reap_orphans(group):
    """Wait for the orphans of process group `group`, which came back to this
    process (become_subreaper) when their parent died or was killed."""
    for pid, (state, ppid, pgrp) in processes().items():
        if ppid == os.getpid() and pgrp == group:
            os.waitpid(pid, 0)


def world_readable_copy():
    """The scripts, tests/apps and the launcher in a fresh directory that
    nobody can read."""
    copy = tempfile.mkdtemp(prefix='lsbaws-')
    os.chmod(copy, 0o755)
    for name in os.listdir(SCRIPTS):
        if name.endswith('.py'):
            shutil.copy(os.path.join(SCRIPTS, name), copy)
    shutil.copytree(APPS, os.path.join(copy, 'tests', 'apps'),
                    ignore=shutil.ignore_patterns('__pycache__'))
    shutil.copy(LAUNCHER, os.path.join(copy, 'tests'))
    for directory, dirs, files in os.walk(copy):
        os.chmod(directory, 0o755)
        for name in files:
            os.chmod(os.path.join(directory, name), 0o644)
    return copy


def unprivileged_pythons(pythons):
    """The interpreters to run a server as nobody with: those given, when this
    user is not root; as root, one outside /root (pyenv's are under /root,
    which nobody cannot enter), such as Debian's /usr/bin/python3."""
    if os.geteuid() != 0:
        return list(pythons)
    found = []
    for path in ['/usr/bin/python3', '/usr/local/bin/python3']:
        try:
            python = Interpreter(path)
        except OSError:
            continue
        if python.version >= (3, 6):
            found.append(python)
            break
    return found


def start_client3(python, port, *args):
    """Start client3.py against port (its output piped); returns the Popen."""
    env = dict(os.environ, HOST=HOST, PORT=str(port))
    return subprocess.Popen(
        command(python, script('client3.py')) + [str(a) for a in args],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=env, universal_newlines=True, start_new_session=True)


def run_client3(python, port, *args, **kwargs):
    """Run client3.py to completion against port; returns the CompletedProcess.
    The article's client3.py exits without waiting for its clients: they are
    waited for here (their output ends when the last one exits)."""
    client = start_client3(python, port, *args)
    try:
        stdout, stderr = client.communicate(timeout=kwargs.get('timeout', 60))
    except BaseException:  # as subprocess.run does: no client outlives a timeout
        try:
            os.killpg(client.pid, signal.SIGKILL)  # the clients it forked too
        except ProcessLookupError:
            pass
        client.communicate()
        raise
    finally:
        reap_orphans(client.pid)
    return subprocess.CompletedProcess(client.args, client.returncode, stdout, stderr)


IMPORTABLE = {}  # (interpreter, module): whether it imports


def require(module, python):
    """Skip unless python (which runs the server) can import module."""
    key = (python.path, module)
    if key not in IMPORTABLE:
        IMPORTABLE[key] = subprocess.run(
            [python.path, '-c', 'import ' + module],
            stderr=subprocess.DEVNULL).returncode == 0
    if not IMPORTABLE[key]:
        import pytest
        pytest.skip('%s is not installed for %s (pip install -r requirements-dev.txt)'
                    % (module, python.name))


# What requirements-dev.txt adds that the tests of the tools and of 3i's
# real clients import (pytest runs them; the servers need none of them).
DEV_MODULES = ('matplotlib', 'pexpect', 'requests', 'httpx')


def require_dev(*modules, **kwargs):
    """Skip, in one line that names requirements-dev.txt, unless the
    interpreter running pytest imports modules (default: all DEV_MODULES).
    what: the test's purpose, said in that line; allow_module_level=True
    skips a whole module, in one line."""
    import importlib.util
    missing = [m for m in modules or DEV_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        import pytest
        pytest.skip('%s%s not installed (pip install -r requirements-dev.txt)' % (
            kwargs.get('what', '') and kwargs['what'] + ': ', ', '.join(missing)),
            allow_module_level=kwargs.get('allow_module_level', False))


def require_article():
    """Skip, in one line, unless the article's text is beside the clone (on
    this project's machines, not in a clone: CI allows this skip alone)."""
    import article
    if not os.path.exists(article.ARTICLE):
        import pytest
        pytest.skip("the article's text is not beside the clone (%s)" % article.ARTICLE)


class Beside(object):
    """A tool's run that the tests wait for (tools/pictures.py's quick run,
    tools/bench.py's shortened one): conftest.py starts it as soon as the
    tests are collected, one such run after another, and it goes on beside
    the other tests, which run first. command(directory) prepares a fresh
    directory and says what to run; needs: the modules it needs here."""

    def __init__(self, name, command, needs=()):
        self.name, self.command, self.needs = name, command, needs
        self.lock = threading.Lock()  # the tests' thread, and conftest.py's
        self.directory = self.run = None
        self.stopped = False

    def start(self):
        """(directory, its Popen), started once; (None, None) once stopped,
        or when a module it needs is missing."""
        import importlib.util
        with self.lock:
            if self.run is None and not self.stopped and all(
                    importlib.util.find_spec(m) for m in self.needs):
                self.directory = tempfile.mkdtemp(prefix='lsbaws-%s-' % self.name)
                self.run = subprocess.Popen(
                    self.command(self.directory), stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
            return self.directory, self.run

    def stop(self):
        """Waited for, interrupted, or never waited for: SIGTERM lets it stop
        its servers; its directory goes."""
        with self.lock:
            self.stopped = True
            if self.run is not None and self.run.poll() is None:
                self.run.terminate()
                self.run.communicate(timeout=30)
            if self.directory:
                shutil.rmtree(self.directory, ignore_errors=True)


class RanOn(AssertionError):
    """client3.py opened more connections than it has clients, and was stopped."""


def run_clients(server, python, clients, printed):
    """Run client3.py --max-clients clients against server, as a Server the
    test watches (its deaths are reported), until every client has exited:
    at most DEADLINE, and no longer once the server has printed more
    requests (printed, a regex) than clients, or ended."""
    __tracebackhide__ = True
    client = watch(Server(python, 'client3.py', args=['--max-clients', str(clients)],
                          env={'PORT': str(server.port)}))
    deadline = time.monotonic() + DEADLINE
    try:
        while client.alive() or [p for p, stat in processes().items()
                                 if stat[2] == client.pid and stat[0] != 'Z']:
            requests = len(re.findall(printed, server.output, re.M))
            if requests > clients or time.monotonic() > deadline:
                client.cut_short = 'client3.py --max-clients %d was stopped %s: the server ' \
                    'had printed %d requests' % (clients, 'still connecting' if requests >
                                                 clients else 'after %.0f s' % DEADLINE, requests)
                raise RanOn(client.cut_short)
            if server.gone():
                break  # wait_for and wait_output say it
            time.sleep(0.01)
    finally:
        client.stop()
    return client


def every_child_reaped_after(server, python, clients, printed):
    """client3.py --max-clients clients against server: wait until the server
    printed each request (printed, a regex) and reaped every child."""
    client = run_clients(server, python, clients, printed)
    assert client.proc.returncode == 0, client.output
    assert not client.deaths(), 'client3.py: %d of its processes ended with a traceback' % (
        len(client.deaths()))
    server.wait_output(printed, count=clients)
    wait_for(lambda: not server.children(), what='every child to be reaped',
             seen=lambda: 'zombies: %d, children: %d' % (
                 len(server.zombies()), len(server.children())))


def this_python():
    return Interpreter(sys.executable)


def session_of(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            stat = f.read()
    except OSError:
        return None
    return int(stat[stat.rindex(')') + 2:].split()[3])


def cmdline(pid):
    """A process's arguments as ps shows them (`args`), '' for a zombie."""
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            return f.read().rstrip(b'\0').replace(b'\0', b' ').decode('utf-8', 'replace')
    except OSError:
        return ''


class Terminal(object):
    """An interactive bash in a pseudo-terminal, as a learner's terminal is:
    job control on, so a command runs as the terminal's foreground process
    group (`S+` in ps) and Ctrl-C reaches it and its children. Its prompt is
    shown as `$ `. user='nobody' runs it as nobody, user=UID as that uid
    (both as root only; fresh_uid() gives one of its own); path_first puts a
    directory first on PATH (the interpreter that runs this, for pictures.py).
    .screen is everything it showed, \\r dropped."""

    PROMPT = '<lsbaws-prompt>$ '

    def __init__(self, cwd, env=None, user=None, path_first=None, columns=200):
        import pexpect  # the suite's requirement, not the scripts'
        self._pexpect = pexpect
        full_env = {key: value for key, value in os.environ.items()
                    if not key.startswith(('PYTEST', 'LSBAWS', 'PYENV_VERSION', 'PYTHON'))}
        full_env.update(PS1=self.PROMPT, PS2='', PROMPT_COMMAND='', TERM='dumb',
                        HISTFILE='/dev/null', VIRTUAL_ENV_DISABLE_PROMPT='1')
        if path_first:
            full_env['PATH'] = path_first + os.pathsep + full_env.get('PATH', '')
        full_env.update(env or {})
        command, args = 'bash', ['--norc', '--noprofile', '-i']
        if user is not None and os.geteuid() == 0:  # root is exempt from ulimit -u
            uid = NOBODY if user == 'nobody' else user
            command, args = 'setpriv', ['--reuid=%d' % uid, '--regid=%d' % uid,
                                        '--clear-groups', 'bash'] + args
            full_env['HOME'] = cwd
        self.bash = pexpect.spawn(command, args, cwd=cwd, env=full_env, encoding='utf-8',
                                  codec_errors='replace', dimensions=(50, columns))
        self.pid = self.bash.pid
        self._text, self._pos = '', 0
        self.busy = True  # a command runs: no prompt since it was typed
        RUNNING.add(self)
        self.prompt()
        self._text, self._pos = '$ ', 2  # the screen starts at the first prompt

    def _read(self, timeout):
        try:
            self._text += self.bash.read_nonblocking(65536, timeout).replace('\r', '')
        except self._pexpect.TIMEOUT:
            pass
        except self._pexpect.EOF:
            if timeout:
                time.sleep(min(timeout, 0.05))

    @property
    def screen(self):
        """Everything the terminal has shown so far."""
        self._read(0)
        while self.bash.isalive() and self._drained() is False:
            pass
        return self._text.replace(self.PROMPT, '$ ')

    def _drained(self):
        before = len(self._text)
        self._read(0.05)
        return len(self._text) == before

    def expect(self, pattern, timeout=DEADLINE):
        """Wait until what it shows next matches pattern (a regex); the match."""
        regex = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        while True:
            match = regex.search(self._text, self._pos)
            if match:
                self._pos = match.end()
                return match
            if time.monotonic() > deadline:
                raise AssertionError('timed out after %.0f s waiting for %r in the terminal;'
                                     ' it shows:\n%s' % (timeout, pattern, self.screen[-3000:]))
            self._read(0.05)

    def type(self, line):
        """Type a line, as a learner would, and press Enter."""
        self.bash.sendline(line)
        self.busy = True
        self.expect(re.escape(line) + '\n')  # its echo: what follows is its output

    def prompt(self, timeout=DEADLINE):
        """Wait until the command has ended and bash prompts again; what it printed."""
        start = self._pos
        match = self.expect(re.escape(self.PROMPT), timeout)
        self.busy = False
        return self._text[start:match.start()]

    def run(self, line, timeout=DEADLINE):
        """Type a line and wait for the prompt: what it printed."""
        self.type(line)
        return self.prompt(timeout)

    def interrupt(self):
        """Ctrl-C."""
        self.bash.sendintr()

    def processes(self):
        """{pid: args} of every process of this terminal (its session), bash too."""
        return {pid: cmdline(pid) for pid in processes() if session_of(pid) == self.pid}

    def process(self, pattern, timeout=DEADLINE):
        """The pid of the oldest process of this terminal whose args match pattern."""
        def find():
            return sorted(pid for pid, args in self.processes().items()
                          if re.search(pattern, args))
        return wait_for(find, timeout, what='a process %r in the terminal' % pattern)[0]

    def stop(self):
        """Kill every process of the terminal, bash last, and reap them."""
        RUNNING.discard(self)
        for _ in range(3):
            for pid in self.processes():
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        self.bash.close(force=True)
        # The orphans of its servers came back to this process
        # (become_subreaper): wait for them, they count against ulimit -u.
        for pid, (state, ppid, group) in processes().items():
            if ppid == os.getpid() and pid != self.pid and session_of(pid) == self.pid:
                try:
                    os.waitpid(pid, 0)
                except ChildProcessError:
                    pass
