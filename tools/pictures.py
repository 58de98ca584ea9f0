"""The article's pictures, re-made from measurements of the real scripts.

    python tools/pictures.py             # measure (about 15 s), rewrite pictures/, READMEs
    python tools/pictures.py --write     # only re-embed pictures/*.txt into both READMEs
    python tools/pictures.py --quick DIR # a small run into DIR (tests/test_pictures.py)

Every picture is a record of a run: the steps start as real processes on a free
port (support.Server), and what the pictures show is read from /proc and from
the client sockets. The SVGs are drawn with matplotlib, text kept as text. The
terminal transcripts (pictures/*.txt) are the real output of the steps, of
client3.py and of ps, with PIDs, ports, paths and times masked; README.md and
README.ru.md embed each between `<!-- transcript NAME -->` and
`<!-- /transcript -->`, the same block in both, and tests/test_pictures.py
fails when one drifts. What the pictures measured is
also written as measurements.json. The benchmark charts are drawn from
bench.json, which `python tools/bench.py --write` makes.

Where a picture needs what this machine lacks (Python 2.7 for the EINTR
transcript, a Python 3 another user can run, bench.json), it says so in one line and the
committed one stays.
"""
import argparse
import datetime
import json
import os
import platform
import pwd
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, 'tests'))
from diffs import READMES  # noqa: E402
from support import (  # noqa: E402  (this file runs as a script)
    DEADLINE, HELLO, REQUEST, ROOT, Server, Terminal, become_subreaper,
    children, connect, python2, take_ctrl_c, tcp_table, fresh_uid,
    fd_count, owner, proc_stat, processes, processes_of, read_at_least, read_until_eof, script,
    start_client3, this_python, unprivileged_pythons, wait_for, wchan, world_readable_copy,
    zombies)

PICTURES = os.path.join(ROOT, 'pictures')
README = os.path.join(ROOT, 'README.md')
TRANSCRIPT = re.compile(r'(<!-- transcript ([\w-]+) -->\n)(.*?)(<!-- /transcript -->)', re.S)

# How much each picture measures: the full run, and the tests' quick one.
SIZES = {
    'full': dict(timeline_clients=5, sleep=0.5, fork_sleep=0.3, nofile=64, burst=128,
                 burst_sleep=0.5, zombie_clients=3, emfile_nofile=32, nproc_children=10),
    # a sleep several times what a loaded machine delays a fork or a thread by
    'quick': dict(timeline_clients=3, sleep=0.6, fork_sleep=0.05, nofile=16, burst=8,
                  burst_sleep=0.1, zombie_clients=3, emfile_nofile=12, nproc_children=3),
}

# Okabe-Ito: told apart by colour-blind readers too; mid-tones on white.
BLUE, VERMILLION, GREEN, ORANGE = '#0072B2', '#D55E00', '#009E73', '#E69F00'
SKY, PURPLE, GREY, INK = '#56B4E9', '#CC79A7', '#999999', '#222222'


# What ran, where --------------------------------------------------------------

def machine():
    """'AMD EPYC, 2 cores': the cpu model and how many cores there are."""
    model = platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            model = next(line.split(':', 1)[1].strip() for line in f
                         if line.startswith('model name'))
    except (OSError, StopIteration):
        pass
    return '%s, %d cores' % (model, os.cpu_count())


def ran_on(python):
    """What ran the steps: this interpreter (this_python()) on this machine."""
    return 'CPython %s on Linux, %s' % (platform.python_version(), machine())


# Looking at processes and sockets ---------------------------------------------

def tcp_sockets():
    """{socket inode: 'listening' or 'connected' (or the TCP state)} from /proc/net/tcp."""
    states = {'0A': 'listening', '01': 'connected', '08': 'connected, peer closed'}
    return {inode: states.get(state, 'TCP state %s' % state)
            for port, state, rx_queue, inode in tcp_table()}


def socket_fds(pid, kinds):
    """[(fd, 'listening' / 'connected')] of a process's sockets, from /proc/PID/fd.
    kinds: {inode: kind} of the sockets seen so far, updated from /proc/net/tcp
    when a new one shows up (on a busy machine that file is megabytes long)."""
    found = []
    try:
        fds = sorted(os.listdir('/proc/%d/fd' % pid), key=int)
    except OSError:
        return found
    for fd in fds:
        try:
            link = os.readlink('/proc/%d/fd/%s' % (pid, fd))
        except OSError:
            continue
        match = re.match(r'socket:\[(\d+)\]$', link)
        if match:
            if match.group(1) not in kinds:
                kinds.update(tcp_sockets())
            found.append((int(fd), kinds.get(match.group(1), 'socket')))
    return found


# 1. Iterative against concurrent ----------------------------------------------

def timeline(python, step, clients, sleep, fin_within=None):
    """n clients connect at once; each one's connect, answer and FIN, in seconds
    from the moment they set off. With fin_within, a FIN that has not come by
    then is None (3d's never comes)."""
    server = Server(python, step, env={'SLEEP_SECONDS': str(sleep)}).started()
    try:
        server.wait_in_accept()
        start = threading.Barrier(clients + 1)
        times = [None] * clients
        errors = []

        def client(n):
            try:
                start.wait()
                t0 = time.monotonic()
                with connect(server.port) as sock:
                    connected = time.monotonic()
                    sock.sendall(REQUEST)
                    answer = read_at_least(sock, HELLO)
                    answered = time.monotonic()
                    try:
                        rest = read_until_eof(sock, fin_within or DEADLINE)
                        fin = time.monotonic()
                    except socket.timeout:
                        if not fin_within:
                            raise
                        rest, fin = b'', None
                assert answer.endswith(HELLO) and rest == b'', (answer, rest)
                times[n] = [t0, connected, answered, fin]
            except Exception as e:  # the thread reports it to the measurement
                errors.append(e)

        threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
        for thread in threads:
            thread.start()
        start.wait()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
    finally:
        server.stop()
    origin = min(t[0] for t in times)
    rows = sorted(([None if t is None else round(t - origin, 4) for t in row[1:]]
                   for row in times), key=lambda row: row[1])
    return [dict(connect=c, answer=a, fin=f) for c, a, f in rows]


def overlaps(clients, sleep):
    """How many pairs of clients were being served (answer -> FIN) at the same
    time, for more than half the sleep: served at once they overlap by the
    whole sleep, one after the other only by how late a thread saw its FIN."""
    pairs = 0
    for i, a in enumerate(clients):
        for b in clients[i + 1:]:
            pairs += min(a['fin'], b['fin']) - max(a['answer'], b['answer']) > sleep / 2
    return pairs


# 2. fork() and the shared descriptors ----------------------------------------

def pause_at_close(path):
    """Run a step with a breakpoint before every socket close(): the process
    stops itself (SIGSTOP); the generator looks at /proc and continues it
    (SIGCONT). The step itself is run unchanged, by runpy."""
    import runpy
    close = socket.socket.close.__code__

    def breakpoint(frame, event, arg):
        if event == 'call' and frame.f_code is close:
            os.kill(os.getpid(), signal.SIGSTOP)

    sys.argv = [path]
    sys.setprofile(breakpoint)  # a forked child keeps it
    runpy.run_path(path, run_name='__main__')


def stopped(pid):
    stat = proc_stat(pid)
    return stat and stat[0] == 'T'


def fork_descriptors(python, sleep):
    """3c serving one client, stopped before each close(): the parent's and the
    child's pid, ppid and socket fds at each stage, and what the client has."""
    server = Server(python, 'tools/pictures.py',
                    args=['--pause-at-close', script('webserver3c.py')],
                    env={'SLEEP_SECONDS': str(sleep)}).started()
    stages = []
    child = None
    kinds = {}  # a socket stays what it was: listening, or connected to our client

    def look(title, client):
        stage = {'title': title, 'client': client, 'processes': []}
        for role, pid in [('parent', server.pid), ('child', child)]:
            stat = pid and proc_stat(pid)
            if stat:
                stage['processes'].append(dict(
                    role=role, pid=pid, ppid=stat[1], state=stat[0],
                    sockets=socket_fds(pid, kinds)))
        stages.append(stage)

    try:
        server.wait_in_accept()
        look('parent in accept()', 'not connected yet')
        sock = connect(server.port)
        sock.sendall(REQUEST)
        child = wait_for(lambda: [c for c in server.children()], what='the child')[0]
        wait_for(lambda: stopped(server.pid) and stopped(child),
                 what='parent and child to stop before close()')
        look('after fork(): both hold both sockets', 'request sent')
        server.resume()
        server.wait_in_accept()
        look('parent closed its copy of the client socket', 'request sent')
        os.kill(child, signal.SIGCONT)
        answer = read_at_least(sock, HELLO)
        wait_for(lambda: stopped(child), what='the child to stop before its last close()')
        sock.setblocking(False)
        try:
            fin = sock.recv(1) == b''
        except BlockingIOError:
            fin = False
        sock.setblocking(True)
        look('child closed the listening socket, answered, slept %g s' % sleep,
             'has the answer, %s' % ('FIN' if fin else 'no FIN yet'))
        os.kill(child, signal.SIGCONT)
        rest = read_until_eof(sock)
        sock.close()
        wait_for(lambda: proc_stat(child)[0] == 'Z', what='the child to exit')
        look('child closed the client socket and exited', 'got FIN')
        assert answer.endswith(HELLO) and rest == b'' and not fin, (answer, rest, fin)
    finally:
        server.stop()
    return stages


# 3. Descriptors: 3d leaks one per client, 3g does not -------------------------

def descriptor_counts(python, step, nofile, clients):
    """The parent's open descriptors after each client, one client at a time,
    until the server dies or `clients` have been served. Linux takes the
    descriptor for the next connection when accept() begins, before any client
    comes: a parent that holds them all dies in the accept() after its last
    client."""
    server = Server(python, step, nofile=nofile).started()
    served = 0
    try:
        server.wait_in_accept()
        counts = [fd_count(server.pid)]
        for _ in range(clients + 5):  # a few more: the connections that found it dead
            if served == clients:
                break
            try:
                with connect(server.port, timeout=5) as sock:
                    sock.sendall(REQUEST)
                    sock.settimeout(5)
                    served += sock.recv(1) == b'H'  # the child answers: the parent forked
            except OSError:
                pass  # it died: its listening socket refuses, or the client is reset
            wait_for(lambda: not server.alive() or wchan(server.pid) == 'inet_csk_accept',
                     what='%s to accept again' % step)
            if not server.alive():
                break
            counts.append(fd_count(server.pid))
        died = None
        if not server.alive():
            server.wait_exit()
            died = server.output.strip().splitlines()[-1]
    finally:
        server.stop()
    return dict(nofile=nofile, counts=counts, served=served, died=died)


# 4. Zombies over time ----------------------------------------------------------

def zombies_over_time(python, step, clients, sleep):
    """client3.py --max-clients N against a step: the server's children, alive
    and zombie, sampled from /proc every few milliseconds until all have
    exited; the reaped ones are those forked (as its output counts them) and
    gone. Samples: [ms, alive, zombies, reaped]."""
    env = {'SLEEP_SECONDS': str(sleep)} if step == 'webserver3e.py' else {}
    server = Server(python, step, env=env).started()
    try:
        server.wait_in_accept()
        seen = set()
        samples = []
        client = start_client3(python, server.port, '--max-clients', clients)
        t0 = time.monotonic()
        quiet, last = None, None
        while True:
            now = time.monotonic()
            kids = server.children()
            seen.update(kids)
            zombies = sum(state == 'Z' for state in kids.values())
            forked = max(len(seen), forked_so_far(step, server.output))
            samples.append([round((now - t0) * 1000, 1), len(kids) - zombies, zombies,
                            max(0, forked - len(kids))])
            # client3.py may be done before the server has accepted them all: a
            # connection whose handshake the full listen queue (3d and 3e: 5)
            # dropped completes later, when the client's data is sent again,
            # or never, once the client has gone. So the run ends when nothing
            # has changed for a while: 0.1 s once every client has its child
            # (any handler still due has run by then), else 1.5 s.
            if client.poll() is not None and zombies == len(kids) and \
                    wchan(server.pid) == 'inet_csk_accept' and (forked, zombies) == last:
                quiet = quiet or now
                if now - quiet > (0.1 if forked >= clients else 1.5):
                    break
            else:
                quiet = None
            last = (forked, zombies)
            if now - t0 > 60:
                raise AssertionError('%s: children still at work after 60 s' % step)
            time.sleep(0.002)
        out, err = client.communicate()
    finally:
        server.stop()
    samples = settled(samples)
    return dict(clients=clients, sleep=sleep if env else None, samples=samples,
                forked=forked, zombies=samples[-1][2], reaped=samples[-1][3],
                client3=out.strip(),
                client3_errors=err.strip())


def settled(samples):
    """The samples from just before the first child, in ms from then, with
    `reaped` counted only where later samples agree. A scan of /proc can miss
    a child forked while it runs, which its output already counts: that child
    would pass for reaped until the next scan finds it. A child counts as
    reaped from a sample on only if it stays so in every later one."""
    first = next((n for n, s in enumerate(samples) if s[1] or s[2] or s[3]), len(samples) - 1)
    samples = [list(s) for s in samples[max(0, first - 1):]]
    origin = samples[0][0]
    low = samples[-1][3]
    for s in reversed(samples):
        low = s[3] = min(s[3], low)
        s[0] = round(s[0] - origin, 1)
    return samples


def forked_so_far(step, output):
    """How many children the server has forked, from what it printed: 3d
    prints how many sockets it holds, the others each request (in the child)."""
    if step == 'webserver3d.py':
        counts = re.findall(r'^(\d+)$', output, re.M)
        return int(counts[-1]) if counts else 0
    return len(re.findall(r'^GET /hello', output, re.M))


# 5. Transcripts ----------------------------------------------------------------

def mask(text, pids=None, port=None, copy=None):
    """Hide what changes from run to run: paths (the repository's, a copy's,
    any interpreter's), the port, PIDs (each named by its role) and times. A
    line of ps keeps its columns."""
    for path in copy, ROOT:
        if path:
            text = text.replace(path + os.sep, '')
    # any interpreter, inside the repository or not: /x/.venv/bin/python3.11
    text = re.sub(r'(?<![\w.~-])[\w.~/-]*/bin/(python[\d.]*)\b', r'\1', text)
    text = text.replace(os.path.expanduser('~'), '~')
    if port:
        text = re.sub(r'\b%d\b' % port, '<port>', text)
    names = {str(pid): label for pid, label in (pids or {}).items()}
    lines = []
    for line in text.split('\n'):
        row = re.match(r' *(\d+) +(\d+) +([A-Z]\S*) +(.*)$', line)  # a line of ps
        if row:
            pid, ppid, stat, args = row.groups()
            line = '%5s %5s %-4s %s' % (names.get(pid, pid), names.get(ppid, ppid), stat, args)
        else:
            for pid, label in sorted(names.items(), key=lambda item: -len(item[0])):
                line = re.sub(r'\b%s\b' % pid, label, line)
        lines.append(line)
    text = '\n'.join(line.rstrip() for line in lines)
    return re.sub(r'seconds: \d+\.\d+', 'seconds: <s>', text)


def cut(lines, keep=3):
    """The first and last `keep` of many lines, and a line saying how many were cut."""
    if len(lines) <= 2 * keep + 1:
        return lines
    return lines[:keep] + ['[... %d more lines like these ...]' % (len(lines) - 2 * keep)] \
        + lines[-keep:]


def counted(text):
    """A terminal's text with a run of 3d's count lines (1, 2, 3, ...) cut short."""
    lines = text.split('\n')
    numbers = [n for n, line in enumerate(lines) if re.match(r'^\d+$', line)]
    if not numbers:
        return text
    return '\n'.join(lines[:numbers[0]] + cut(lines[numbers[0]:numbers[-1] + 1])
                     + lines[numbers[-1] + 1:])


def labels(server, terminal, children=()):
    found = {server: '<P>', terminal.pid: '<sh>'}
    found.update({pid: '<C%d>' % n for n, pid in enumerate(sorted(children), 1)})
    return found


class Terminals(object):
    """The terminals of a transcript, as a learner has them: the server in the
    first, typed as the README says (no -u: a terminal's output is line
    buffered), clients and ps in the others. The text is every screen, each
    under its heading; the final prompt of each is dropped."""

    def __init__(self, python, first='# terminal 1', user=None, cwd=ROOT, path_first=None,
                 count=2, headings=(), columns=200):
        self.headings = [first] + ['# terminal %d' % n for n in range(2, count + 1)]
        for n, heading in enumerate(headings, 1):
            self.headings[n] = heading
        path = os.path.dirname(python.path)
        self.all = [Terminal(cwd, user=user, path_first=path_first or path, columns=columns)] + [
            Terminal(ROOT, path_first=path, columns=columns) for _ in range(count - 1)]
        self.one, self.two = self.all[:2]

    def start(self, line, step):
        """Type the server's command in terminal 1: (its pid, its port)."""
        self.one.type(line)
        port = int(self.one.expect(r'Serving HTTP on port (\d+) \.\.\.$').group(1))
        server = self.one.process(r'python[\d.]* %s$' % re.escape(step))
        wait_for(lambda: wchan(server) == 'inet_csk_accept', what='%s in accept()' % step)
        return server, port

    def text(self, one=None):
        screens = [one if one is not None else self.one.screen] + [
            t.screen for t in self.all[1:]]
        screens = [re.sub(r'(\n|^)\$ $', r'\1', screen).rstrip('\n') for screen in screens]
        return ''.join('%s\n%s\n' % pair for pair in zip(self.headings, screens))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for terminal in self.all:
            terminal.stop()


def idle_pid(pid):
    """Wait until the parent is back in accept() with no child still at work."""
    wait_for(lambda: wchan(pid) == 'inet_csk_accept' and
             all(state == 'Z' for state in children(pid).values()),
             what='the server to be idle')


PS = ["P=$(pgrep -of 'python %s')", 'ps -o pid,ppid,stat,args --ppid $P -p $P']


def transcript_socket_pair(python):
    """3b answering one curl, seen from a third terminal while it sleeps: one
    process, its descriptors, the connection's two ends (the 4-tuple) and
    the range the client's port was drawn from."""
    headings = ['# terminal 2', '# terminal 3, while curl waits for the sleep to end']
    with Terminals(python, count=3, headings=headings, columns=100) as t:
        server, port = t.start('SLEEP_SECONDS=2 PORT=0 python webserver3b.py', 'webserver3b.py')
        two, three = t.all[1:]
        two.type('curl http://localhost:%d/hello' % port)
        two.expect(r'Hello, World!')
        three.run(PS[0] % 'webserver3b.py')
        three.run(PS[1])
        three.run('stat -c %N /proc/$P/fd/*')
        ends = three.run('ss -tn "( sport = :%d )"' % port)  # the server's end
        three.run('ss -tn "( dport = :%d )"' % port)  # the client's
        ranges = three.run('cat /proc/sys/net/ipv4/ip_local_port_range').split()
        cport = int(re.search(r'127\.0\.0\.1:%d +127\.0\.0\.1:(\d+)' % port, ends).group(1))
        assert int(ranges[0]) <= cport <= int(ranges[1]), (cport, ranges)
        two.prompt()
        text = t.text().replace(str(cport), '<cport>')
        text = re.sub(r'socket:\[\d+\]', 'socket:[<inode>]', text)
        text = re.sub(r'/dev/pts/\d+', '/dev/pts/<n>', text)
        return mask(text, labels(server, t.one), port)


def transcript_ps_3c(python):
    """3c serving two curls at once: a child each, the server its parent."""
    headings = ['# terminal 2', '# terminal 3', '# terminal 4']
    with Terminals(python, count=4, headings=headings) as t:
        server, port = t.start('SLEEP_SECONDS=1 PORT=0 python webserver3c.py', 'webserver3c.py')
        two, three, four = t.all[1:]
        for terminal in two, three:
            terminal.type('curl http://localhost:%d/hello' % port)
            terminal.expect(r'Hello, World!')
        wait_for(lambda: len(children(server)) == 2, what='two children')
        four.run(PS[0] % 'webserver3c.py')
        four.run(PS[1])
        kids = sorted(children(server))
        for terminal in two, three:
            terminal.prompt()
        # the two children print in the order the scheduler runs them: cut
        wait_for(lambda: t.one.screen.count('Child PID') == 2, what='both children to print')
        one = t.one.screen.split('\n')[:3] + [
            "[... each child prints its PID, its parent's (the server's) and the request ...]"]
        return mask(t.text('\n'.join(one)), labels(server, t.one, kids), port)


def transcript_ps_zombies(python, clients):
    """3d: a few clients, then ps: every finished child is a zombie, and kill -9
    does not remove one."""
    with Terminals(python) as t:
        server, port = t.start('PORT=0 python webserver3d.py', 'webserver3d.py')
        t.two.run('PORT=%d python client3.py --max-clients %d' % (port, clients))
        t.one.expect(r'^%d$' % clients)
        wait_for(lambda: len(zombies(server)) == clients, what='%d zombies' % clients)
        idle_pid(server)  # asleep in accept(): S+ in ps
        found = zombies(server)
        t.two.run(PS[0] % 'webserver3d.py')
        t.two.run(PS[1])
        t.two.run('kill -9 $(ps -o pid= --ppid $P)')
        idle_pid(server)
        t.two.run(PS[1])
        assert zombies(server) == found, 'kill -9 removed a zombie'
        return mask(t.text(), labels(server, t.one, found), port)


# 0, 1 and 2 (the terminal) and the listening socket: what 3d holds before a client
DESCRIPTORS_AT_START = 4


def transcript_too_many_open_files(python, nofile):
    """3d under ulimit -n: as many clients as it has descriptors left, and it
    dies in its next accept(); the next client is refused."""
    clients = nofile - DESCRIPTORS_AT_START
    with Terminals(python) as t:
        server, port = t.start('(ulimit -n %d; PORT=0 python webserver3d.py)' % nofile,
                               'webserver3d.py')
        assert fd_count(server) == DESCRIPTORS_AT_START, os.listdir('/proc/%d/fd' % server)
        t.two.run('PORT=%d python client3.py --max-clients %d' % (port, clients))
        t.one.expect(r'Too many open files\n')
        t.one.prompt()
        t.two.run('PORT=%d python client3.py --max-clients 1' % port)
        return mask(counted(t.text()), {}, port)


def transcript_process_limit(python, capped_python, children_allowed):
    """3d under ulimit -u, as a uid of its own (root is exempt from the limit,
    and one that other processes share would count them too): its zombies use
    up the process limit and fork() fails with EAGAIN."""
    copy = world_readable_copy()
    try:  # the user's own `python`: one outside /root
        os.makedirs(os.path.join(copy, 'bin'))
        os.symlink(capped_python.path, os.path.join(copy, 'bin', 'python'))
        os.chmod(os.path.join(copy, 'bin'), 0o755)
        if os.geteuid() == 0:
            uid, who = fresh_uid(), 'a uid of its own (root is exempt from ulimit -u)'
        else:
            uid, who = os.getuid(), pwd.getpwuid(os.getuid()).pw_name
        with Terminals(python, first='# terminal 1, as %s' % who, user=uid, cwd=copy,
                       path_first=os.path.join(copy, 'bin')) as t:
            wait_for(lambda: not [pid for pid, stat in processes().items()
                                  if stat[0] == 'Z' and owner(pid) == uid],
                     what='the zombies of uid %d to be reaped' % uid)
            limit = processes_of(uid) + 1 + children_allowed  # its bash is counted
            server, port = t.start('(ulimit -u %d; PORT=0 python webserver3d.py)' % limit,
                                   'webserver3d.py')
            t.two.run('PORT=%d python client3.py --max-clients %d' % (port, children_allowed + 1))
            t.one.expect(r'Resource temporarily unavailable\n')
            t.one.prompt()
            text = t.text().replace('ulimit -u %d;' % limit, 'ulimit -u <limit>;')
            return mask(counted(text), {}, port, copy=copy)
    finally:
        shutil.rmtree(copy, ignore_errors=True)


def eintr_command(python27):
    """How the README starts 3e on Python 2.7: with pyenv, or as python2.7."""
    match = re.search(r'/versions/([^/]+)/bin/python$', python27.path)
    if match:
        return 'PYENV_VERSION=%s pyenv exec python webserver3e.py' % match.group(1)
    return 'python2.7 webserver3e.py'


def transcript_eintr(python27):
    """3e on Python 2.7, as the README starts it: SIGCHLD interrupts the
    blocked accept() and kills it. The child sleeps 3 s after answering, so
    the parent is back in accept() long before; if it were not, the signal
    would find it elsewhere, 3e would live, and the shape check would fail."""
    with Terminals(python27, first='# terminal 1, Python 2.7') as t:
        server, port = t.start('PORT=0 ' + eintr_command(python27), 'webserver3e.py')
        t.two.run('curl http://localhost:%d/hello' % port)
        t.one.expect(r'Interrupted system call\n')
        t.one.prompt()
        child = re.search(r'^Child (\d+) terminated', t.one.screen, re.M)
        return mask(t.text(), labels(server, t.one, [int(child.group(1))] if child else []),
                    port)


def transcript_ps_clean(python, clients):
    """3g after client3.py --max-clients N: no Z line in ps."""
    with Terminals(python) as t:
        server, port = t.start('PORT=0 python webserver3g.py', 'webserver3g.py')
        t.two.run('PORT=%d python client3.py --max-clients %d' % (port, clients))
        wait_for(lambda: t.one.screen.count('GET /hello') == clients, what='every request')
        wait_for(lambda: not children(server) and wchan(server) == 'inet_csk_accept',
                 what='3g to reap every child')
        t.two.run(PS[0] % 'webserver3g.py')
        t.two.run(PS[1])
        one = t.one.screen.split('\n')
        one = '\n'.join(one[:2] + ['[... the %d requests it prints ...]' % clients])
        return mask(t.text(one), labels(server, t.one), port)


# 6. System-call traces ---------------------------------------------------------

# What the article draws as sequence diagrams, as the kernel saw it: the steps
# run under strace, their calls grouped by process (the parent's, then each
# child's: within a process the order is the program's, across processes it
# is the scheduler's), cut from the first socket() to where the server waits
# for its next client, and masked.
TRACE_CALLS = ('socket,setsockopt,bind,listen,accept,accept4,connect,recvfrom,sendto,'
               'close,clone,clone3,fork,wait4,exit_group,getpid,getppid')


def strace(out, calls=TRACE_CALLS):
    """The strace command that writes a trace of the calls to out: every
    process (-f), sockets named by their addresses (-yy), SIGCHLD the only
    signal shown, exits shown."""
    return ['strace', '-f', '-yy', '-q', '-s', '64', '-e', 'trace=' + calls,
            '-e', 'signal=SIGCHLD', '-o', out]


def traced_server(python, step, out, env=None):
    """(Server, the traced interpreter's pid) once it is in accept()."""
    calls = TRACE_CALLS if step == 'webserver3c.py' else TRACE_CALLS.replace(
        ',getpid,getppid', '')  # 3c's child prints its PID and its parent's
    server = Server(python, step, env=env, wrapper=strace(out, calls)).started()
    pid = wait_for(lambda: list(children(server.pid)), what='the traced %s' % step)[0]
    wait_for(lambda: wchan(pid) == 'inet_csk_accept', what='%s in accept()' % step)
    return server, pid


def trace_lines(path):
    """{pid: [call, ...]} from an strace -f file, each process's calls in its
    order, an <unfinished ...> call joined with its <... resumed> rest."""
    by_pid, held = {}, {}
    with open(path) as f:
        for line in f:
            m = re.match(r'(\d+) +(.*)$', line.rstrip('\n'))
            if not m:
                continue
            pid, call = int(m.group(1)), m.group(2)
            resumed = re.match(r'<\.\.\. \w+ resumed>(.*)$', call)
            if resumed and pid in held:
                head, rest = held.pop(pid), resumed.group(1)
                call = head + (' ' if head.endswith(',') and rest[:1] not in ' ,)' else '') \
                    + rest
            elif call.endswith('<unfinished ...>'):
                held[pid] = call[:-len('<unfinished ...>')].rstrip()
                continue
            elif not re.search(r'\) += |^(---|\+\+\+) ', call):  # cut off by the kill
                held[pid] = call.rstrip()
                continue
            if re.match(r'close\(\d+</', call):
                continue  # a file, not a socket: the interpreter's own
            by_pid.setdefault(pid, []).append(re.sub(r'\)\s+= ', ') = ', call))
    for pid, call in held.items():  # still blocked when the trace ended
        by_pid.setdefault(pid, []).append(call + ' <unfinished ...>')
    return by_pid


def trace_text(path, parent, ports=(), accepts=None, same_children=False):
    """The trace as the README shows it: the parent's calls from its first
    socket(), at most `accepts` accept calls (the last one is where it waits),
    then each child's; PIDs, ports, inodes and addresses masked."""
    by_pid = trace_lines(path)
    calls = by_pid.pop(parent)
    start = next(n for n, c in enumerate(calls) if c.startswith('socket(AF_INET'))
    calls = calls[start:]
    if accepts:
        seen = [n for n, c in enumerate(calls) if re.match(r'accept4?\(', c)]
        if len(seen) >= accepts:
            calls = calls[:seen[accepts - 1]] + [
                re.sub(r'^(accept4?\(\d+<[^>]*>, ).*', r'\1<unfinished ...>',
                       calls[seen[accepts - 1]])]
    kids = sorted(pid for pid in by_pid if any('socket' in c or 'exit' in c or 'close' in c
                                                 for c in by_pid[pid]))
    names = {parent: '<P>'}
    names.update({pid: '<C%d>' % n for n, pid in enumerate(kids, 1)})
    blocks = [('<P>', calls)] + [(names[pid], by_pid[pid]) for pid in kids]
    text = []
    shown = {}
    for name, block in blocks:
        body = [trace_mask(c, names, ports) for c in block]
        if same_children and name != '<P>' and shown:
            first = next(iter(shown))
            if [c.replace(first, '#') for c in shown[first]] == [
                    c.replace(name, '#') for c in body]:
                text.append('%-5s [the same calls as %s]' % (name, first))
                continue
        if name != '<P>':
            shown.setdefault(name, body)
        text += ['%-5s %s' % (name, c) for c in body]
    return '\n'.join(text) + '\n'


def trace_mask(call, names, ports):
    for port, label in ports:
        call = re.sub(r'(?<=[:(])%d\b' % port, label, call)
    call = re.sub(r'\[\d{3,}\]', '[<inode>]', call)
    call = re.sub(r'(si_[us]time)=\d+', r'\1=<t>', call)
    call = re.sub(r'0x[0-9a-f]{6,}', '<addr>', call)
    call = re.sub(r'htons\(\d{4,}\)', 'htons(<cport>)', call)
    call = re.sub(r'(?<=:)\d{4,5}\b', '<cport>', call)  # a client's port
    for pid, label in sorted(names.items(), key=lambda item: -item[0]):
        call = re.sub(r'\b%d\b' % pid, label, call)
    return call.replace('\t', ' ')


def run_trace(python, step, drive, settle, accepts, env=None, same_children=False):
    """Trace a step while drive(port, pid) talks to it, until settle(pid)."""
    out = tempfile.mktemp(prefix='strace-', suffix='.txt')
    server, pid = traced_server(python, step, out, env)
    try:
        drive(server.port, pid)
        wait_for(lambda: settle(pid), what='%s to settle under strace' % step)
    finally:
        server.stop()
    try:
        return trace_text(out, pid, [(server.port, '<port>')], accepts, same_children)
    finally:
        os.unlink(out)


def one_request(port, pid):
    with connect(port) as sock:
        sock.sendall(REQUEST)
        assert read_at_least(sock, HELLO).endswith(HELLO)


def back_in_accept(children_left):
    """settle(): the parent waits in accept() with children_left children."""
    return lambda pid: wchan(pid) == 'inet_csk_accept' and \
        len(children(pid)) == children_left


def trace_server_3a(python):
    return run_trace(python, 'webserver3a.py', one_request, back_in_accept(0), 2)


def trace_fork_3c(python):
    # the child sleeps 0.5 s after answering: the trace ends once it has exited
    return run_trace(python, 'webserver3c.py', one_request,
                     lambda pid: wchan(pid) == 'inet_csk_accept' and
                     list(children(pid).values()) == ['Z'], 2, env={'SLEEP_SECONDS': '0.5'})


def trace_no_close_3d(python):
    return run_trace(python, 'webserver3d.py', one_request,
                     lambda pid: list(children(pid).values()) == ['Z'], 2)


def trace_sigchld_3e(python):
    # the handler's wait4, then accept() again (PEP 475 retries it on 3.x)
    return run_trace(python, 'webserver3e.py', one_request, back_in_accept(0), 3,
                     env={'SLEEP_SECONDS': '0.5'})


def trace_eintr_3e(python27):
    """3e on 2.7: the interrupted accept() fails, and the server exits."""
    def gone(pid):
        return proc_stat(pid) is None or proc_stat(pid)[0] == 'Z'
    return run_trace(python27, 'webserver3e.py', one_request, gone, None,
                     env={'SLEEP_SECONDS': '0.5'})


def trace_burst(python, step, clients=4, attempts=3):
    """Several children exit while the parent is stopped (SIGSTOP): one
    SIGCHLD for all of them. 3f's handler then reaps one; 3g's loop all.
    Under ptrace, the kernel can hand strace the first SIGCHLD while the
    parent is still stopped, and a later exit then raises a second one (in
    about 1 run of 30 here): that is strace's doing, so such a run is traced
    again, up to `attempts` times. Untraced, the tests hold the count."""
    name = 'trace-3f' if step == 'webserver3f.py' else 'trace-3g'
    for attempt in range(attempts):
        socks = []

        def drive(port, pid):
            for _ in range(clients):  # connected, nothing sent: each child waits in recv()
                socks.append(connect(port))
            wait_for(lambda: len(children(pid)) == clients and wchan(pid) == 'inet_csk_accept',
                     what='%d children' % clients)
            os.kill(pid, signal.SIGSTOP)
            wait_for(lambda: proc_stat(pid)[0] in 'Tt', what='the parent to stop')
            for sock in socks:
                sock.sendall(REQUEST)
            wait_for(lambda: sorted(children(pid).values()) == ['Z'] * clients,
                     what='every child to exit')
            os.kill(pid, signal.SIGCONT)

        def settled(pid):  # back in accept(), having reaped (3g: all; 3f: some)
            left = len(children(pid))
            return back_in_accept(left)(pid) and left < clients and (
                step == 'webserver3f.py' or left == 0)

        try:
            text = run_trace(python, step, drive, settled, clients + 2, same_children=True)
        finally:
            for sock in socks:
                sock.close()
        # which child's exit the one SIGCHLD tells of is the scheduler's choice
        text = re.sub(r'si_pid=<C\d+>', 'si_pid=<C...>', text)
        if not shape_errors(name, text):
            break
    return text


def trace_client3(python):
    """One client3.py client against 3g: socket, connect, sendto, exit."""
    server = Server(python, 'webserver3g.py').started()
    out = tempfile.mktemp(prefix='strace-', suffix='.txt')
    try:
        server.wait_in_accept()
        env = dict(os.environ, HOST='127.0.0.1', PORT=str(server.port))
        subprocess.run(strace(out, 'socket,connect,sendto,close,clone,wait4,exit_group') +
                       [python.path, script('client3.py'), '--max-clients', '1'], env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
                       timeout=60)
        by_pid = trace_lines(out)
        main = min(by_pid)
        child = [pid for pid in by_pid if pid != main][0]
        calls = [c for c in by_pid[child] if not re.match(r'close\(\d+<(pipe|/)', c)]
        names = {main: '<P>', child: '<C1>'}
        lines = ['%-5s %s' % ('<P>', trace_mask(c, names, [(server.port, '<port>')]))
                 for c in by_pid[main] if c.startswith(('clone', 'wait4'))]
        lines += ['%-5s %s' % ('<C1>', trace_mask(c, names, [(server.port, '<port>')]))
                  for c in calls]
        return '\n'.join(lines) + '\n'
    finally:
        server.stop()
        if os.path.exists(out):
            os.unlink(out)


VOLATILE = [r'port \d', r'/bin/python', r'seconds: \d', r'/tmp/', r'/root/', r'Child \d',
            r'localhost:\d',
            r'^ *(\d+ +\S+|\S+ +\d+) +[RSDTZ]\S* +(python|\[python)']  # a ps line's pids


def shape_errors(name, text):
    """What is wrong with a transcript or trace: lines that matter missing (a
    trace's out of order), volatile ones shown, its own checks failed."""
    picture = BY_NAME[name]
    errors, position = [], 0
    for pattern in picture.shape:
        match = re.compile(pattern, re.M).search(text, position if picture.ordered else 0)
        if not match:
            errors.append('%s: no line matches %r%s' % (
                name, pattern, ' after the ones before it' if picture.ordered else ''))
        elif picture.ordered:
            position = match.end()
    errors += ['%s: unmasked %r: %r' % (name, pattern, m.group(0))
               for pattern in VOLATILE for m in [re.search(pattern, text, re.M)] if m]
    errors += ['%s: %s' % (name, e) for e in (picture.check(text) if picture.check else [])]
    return errors


COLUMN = 95  # characters of code that GitHub's 830 px column shows unscrolled
# How a trace line is shortened for the column; the whole trace stays in its file.
SHORTER = [
    (r'127\.0\.0\.1:', ''),  # every socket here is on loopback
    (r'\{sa_family=AF_INET, sin_port=htons\(([^)]*)\), sin_addr=inet_addr\("[^"]*"\)\}',
     r'{sin_port=\1, ...}'),
    (r'clone\(child_stack=NULL, flags=[^)]*\|SIGCHLD, child_tidptr=<addr>\)',
     'clone(..., flags=...|SIGCHLD, ...)'),
    (r'\{si_signo=SIGCHLD, (si_code=\w+), (si_pid=[^,]*), si_uid=\d+, (si_status=\d+), [^}]*\}',
     r'{\1, \2, \3, ...}'),
    (r' \(To be restarted if SA_RESTART is set\)', ''),
    (r'(accept4\(.*), \[16\], SOCK_CLOEXEC\)', r'\1, ...)'),
    (r'"((?:[^"\\]|\\.){20})(?:[^"\\]|\\.)+"', r'"\1"...'),  # strace's own "..."...
]
SHORTENED = 'shortened here to fit the column'


def for_column(name, text):
    """A trace as the README shows it: after 3a, from the first accept(), each
    line shortened (SHORTER) to at most COLUMN characters."""
    lines = text.splitlines()
    if name != 'trace-3a' and any(re.match(r'<P> +accept', line) for line in lines):
        lines = lines[next(i for i, line in enumerate(lines) if re.match(r'<P> +accept', line)):]
    shown = []
    for line in lines:
        for pattern, replacement in SHORTER:
            line = re.sub(pattern, replacement, line)
        shown.append(line if len(line) <= COLUMN else line[:COLUMN - 3] + '...')
    return '\n'.join(shown) + '\n'


def fenced(name, directory=PICTURES):
    """A transcript or trace as the README shows it: the text, and its caption."""
    with open(os.path.join(directory, name + '.txt')) as f:
        text = f.read()
    trace = name.startswith('trace-')
    text = '```text\n' + (for_column(name, text) if trace else text) + '```\n'
    caption = BY_NAME[name].caption
    if caption and not callable(caption):
        text += '\n*[%s.txt](pictures/%s.txt), made by `python tools/pictures.py`: %s%s.*\n' % (
            name, name, caption.replace(', ' + STRACE, '') if trace else caption,
            '; ' + SHORTENED if trace else '')
    return text


def embed(text, directory=PICTURES):
    """README text with every transcript block rewritten from directory/NAME.txt."""
    return TRANSCRIPT.sub(lambda m: m.group(1) + fenced(m.group(2), directory) + m.group(4),
                          text)


def embedded(text):
    """{name: the block as the README has it}."""
    return {m.group(2): m.group(3) for m in TRANSCRIPT.finditer(text)}


def images(text):
    """The pictures the README shows: the paths of its ![...](...) images."""
    return re.findall(r'!\[[^\]]*\]\(([^)\s]+)\)', text)


# Drawing ----------------------------------------------------------------------

# GitHub shows an image at most as wide as its text column, 830 px, scaled
# down to that: every text in a picture must still be this big once scaled.
COLUMN_PX, SMALLEST_PX = 830, 10
# The figures are 11 in wide, 792 pt: at 830 px a pt is 830 / 792 = 1.05 px.
WIDTH = 11
SMALL = 10      # pt, the least any text is set in: 10.5 px at 830
TITLE = 12.5    # pt, the figures' titles
UNITS = {'': 1, 'px': 1, 'pt': 4 / 3, 'pc': 16, 'in': 96, 'cm': 96 / 2.54, 'mm': 96 / 25.4}


def css_length(text, em=16.0):
    """'792pt' -> 1056.0: a CSS length in px (em: the font size around it)."""
    number, unit = re.match(r'\s*([-+\d.eE]+)\s*([a-z%]*)', text).groups()
    return float(number) * (em if unit == 'em' else UNITS[unit])


def transform_scale(transform):
    """How much an SVG transform attribute enlarges what it holds (the
    square root of the area it scales by): 1 for translate and rotate."""
    factor = 1.0
    for name, args in re.findall(r'(\w+)\s*\(([^)]*)\)', transform or ''):
        numbers = [float(n) for n in re.split(r'[\s,]+', args.strip()) if n]
        if name == 'scale':
            factor *= abs(numbers[0] * (numbers[1] if len(numbers) > 1 else numbers[0])) ** 0.5
        elif name == 'matrix':
            a, b, c, d = numbers[:4]
            factor *= abs(a * d - b * c) ** 0.5
    return factor


def text_sizes(path, column=COLUMN_PX):
    """[(px, text)] for every text of an SVG shown `column` px wide: its font
    size (a font-size attribute, or in a style's font-size or font), in the
    user units of the viewBox and through every scale() around it, times the
    scale from the viewBox to the column."""
    import xml.etree.ElementTree as ElementTree
    root = ElementTree.parse(path).getroot()
    view_box = [float(n) for n in re.split(r'[\s,]+', root.get('viewBox', '').strip()) if n]
    # its user units: the viewBox's, else px of its width
    user_width = view_box[2] if len(view_box) == 4 else css_length(root.get('width'))
    to_column = column / user_width  # the image is scaled to the column's width
    found = []

    def font_size(element, inherited):
        style = dict(part.split(':', 1) for part in (element.get('style') or '').split(';')
                     if ':' in part)
        style = {key.strip(): value.strip() for key, value in style.items()}
        size = style.get('font-size') or element.get('font-size')
        if not size and 'font' in style:
            shorthand = re.search(r'([\d.]+(?:px|pt|em)?)(?:/\S+)?\s+\S', style['font'])
            size = shorthand and shorthand.group(1)
        return css_length(size, inherited) if size else inherited

    def walk(element, size, scale):
        scale *= transform_scale(element.get('transform'))
        size = font_size(element, size)
        tag = element.tag.rsplit('}', 1)[-1]
        if tag in ('text', 'tspan', 'textPath') and (element.text or '').strip():
            found.append((size * scale * to_column, element.text.strip()))
        for child in element:
            walk(child, size, scale)
            if tag in ('text', 'tspan') and (child.tail or '').strip():
                found.append((size * scale * to_column, child.tail.strip()))
    walk(root, 16.0, 1.0)
    return found


def smallest_text(path):
    """(px, text): the smallest text of an SVG shown COLUMN_PX wide."""
    return min(text_sizes(path), default=(float('inf'), ''))


def pyplot():
    import matplotlib
    matplotlib.use('svg')
    matplotlib.rcParams.update({
        'svg.fonttype': 'none',  # text stays text: searchable, and sharp at any size
        'svg.hashsalt': 'lsbaws',  # the same ids on every run: small diffs
        'font.family': 'sans-serif',
        'font.sans-serif': ['DejaVu Sans', 'Helvetica', 'Arial', 'Liberation Sans'],
        'font.size': 11,
        # a white card: legible on GitHub's light and dark themes alike
        'figure.facecolor': 'white', 'savefig.facecolor': 'white',
        'axes.facecolor': 'white', 'axes.edgecolor': '#555555',
        'text.color': INK, 'axes.labelcolor': INK, 'xtick.color': INK, 'ytick.color': INK,
        'axes.titlesize': 12, 'axes.titleweight': 'bold', 'axes.spines.top': False,
        'axes.spines.right': False, 'legend.frameon': False, 'legend.fontsize': SMALL,
    })
    import matplotlib.pyplot as plt
    return plt


def save(fig, directory, name, caption):
    """Write the figure, its caption at the foot (in at most 3 lines, the
    space every figure keeps below its legend), and check its text: none
    smaller than SMALLEST_PX once GitHub scales it to its column."""
    fig.text(0.01, 0.015, textwrap.fill(caption, 138), fontsize=SMALL, color='#444444',
             ha='left', va='bottom', linespacing=1.35)
    path = os.path.join(directory, name)
    fig.savefig(path, format='svg', metadata={'Date': None})
    import matplotlib.pyplot as plt
    plt.close(fig)
    px, text = smallest_text(path)
    if px < SMALLEST_PX:
        raise SystemExit('pictures: %s: %r is %.1f px at %d px wide, under %d px' % (
            name, text, px, COLUMN_PX, SMALLEST_PX))
    return path


def draw_timeline(plt, data, directory, caption):
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    steps = [step for step in ['3b', '3c', '3d'] if step in data]
    fig, axes = plt.subplots(1, len(steps), figsize=(WIDTH, 4.6), sharex=True, sharey=True)
    fig.subplots_adjust(left=0.07, right=0.98, top=0.77, bottom=0.36, wspace=0.08)
    sleep = data['sleep']
    for ax, step in zip(axes, steps):
        clients = data[step]
        for n, c in enumerate(clients):
            y = len(clients) - n
            ax.broken_barh([(c['connect'], c['answer'] - c['connect'])], (y - 0.3, 0.6),
                           facecolor=SKY, edgecolor='none')
            stop = c['fin'] if c['fin'] is not None else c['answer'] + data['no_fin_for']
            ax.broken_barh([(c['answer'], stop - c['answer'])], (y - 0.3, 0.6),
                           facecolor=VERMILLION, edgecolor='none',
                           alpha=1 if c['fin'] is not None else 0.45)
            ax.plot([c['connect']], [y], marker='o', color=INK, markersize=4)
            if c['fin'] is not None:
                ax.plot([c['fin']], [y], marker='|', color=INK, markersize=14, mew=2)
            else:
                ax.text(stop, y, 'no FIN ', ha='right', va='center', fontsize=SMALL, color=INK)
        ax.set_yticks(range(1, len(clients) + 1))
        ax.set_yticklabels(['%d' % (len(clients) - i) for i in range(len(clients))])
        ax.set_xlabel('seconds since the clients set off')
        ax.grid(axis='x', color='#dddddd')
        ax.set_axisbelow(True)
    axes[0].set_title('3b, iterative: a staircase', loc='left')
    axes[1].set_title('3c, fork() per client: side by side', loc='left')
    if len(axes) > 2:
        axes[2].set_title('3d, no close(): no FIN, ever', loc='left')
    axes[0].set_ylabel('client, in order answered')
    last = data['3b'][-1]['answer']
    spread = max(c['answer'] for c in data['3c']) - min(c['answer'] for c in data['3c'])
    fig.suptitle('%d clients connect at once, and each answer is followed by a %g s sleep:\n'
                 '3b answers them one after another (the last after %.1f s); '
                 '3c all within %.0f ms; 3d too, with no FIN'
                 % (len(data['3b']), sleep, last, spread * 1000),
                 x=0.01, ha='left', fontsize=TITLE, fontweight='bold')
    fig.legend(handles=[
        Line2D([], [], marker='o', color=INK, linestyle='none', markersize=4,
               label='connected (the kernel queues it)'),
        Patch(color=SKY, label='waiting for the answer'),
        Patch(color=VERMILLION, label='answered; the server sleeps, no FIN yet'),
        Line2D([], [], marker='|', color=INK, linestyle='none', markersize=12, mew=2,
               label='FIN')],
        loc='lower left', bbox_to_anchor=(0.05, 0.14), ncol=4, columnspacing=1.2)
    return save(fig, directory, 'timeline.svg', caption)


def draw_fork(plt, stages, directory, caption):
    fig = plt.figure(figsize=(WIDTH, 5.4))
    ax = fig.add_axes([0, 0.17, 1, 0.66])
    ax.set_xlim(0, len(stages))
    ax.set_ylim(0, 3.3)
    ax.axis('off')
    colours = {'listening': BLUE, 'connected': VERMILLION}
    for n, stage in enumerate(stages):
        x = n + 0.06
        ax.text(x, 3.3, textwrap.fill('%d. %s' % (n + 1, stage['title']), 23), fontsize=SMALL,
                fontweight='bold', va='top')
        roles = {p['role']: p for p in stage['processes']}
        for row, role in [(2.35, 'parent'), (1.2, 'child')]:
            p = roles.get(role)
            if not p:
                continue
            ax.add_patch(plt.Rectangle((x - 0.02, row - 0.75), 0.92, 1.0, facecolor='#f4f4f4',
                                       edgecolor='#888888', linewidth=0.8))
            ax.text(x, row + 0.17, role, fontsize=SMALL, fontweight='bold', va='top')
            if p['state'] == 'T':
                ax.text(x + 0.875, row + 0.17, 'stopped at close()', fontsize=SMALL,
                        ha='right', va='top', color='#555555')
            ax.text(x, row - 0.06, 'pid %d, ppid %d' % (p['pid'], p['ppid']), fontsize=SMALL,
                    family='monospace', va='top')
            if p['state'] == 'Z':
                ax.text(x, row - 0.32, 'exited: a zombie\n(3c never waits)', fontsize=SMALL,
                        va='top', color='#555555')
                continue
            for k, (fd, kind) in enumerate(p['sockets']):
                ax.text(x, row - 0.32 - 0.19 * k, 'fd %d %s' % (fd, kind), fontsize=SMALL,
                        family='monospace', va='top', color=colours.get(kind, INK),
                        fontweight='bold')
        ax.text(x, 0.25, textwrap.fill('client: %s' % stage['client'], 26), fontsize=SMALL,
                va='top', color=INK)
    fig.suptitle("3c during one request, read from /proc/PID/fd: after fork() parent and child "
                 "each hold both sockets;\nthe parent closes the client's, the child the "
                 "listening one, and the child's close() sends the FIN", x=0.01, ha='left',
                 y=0.97, fontsize=TITLE, fontweight='bold')
    return save(fig, directory, 'fork-descriptors.svg', caption)


def draw_descriptors(plt, data, directory, caption):
    from matplotlib.ticker import MaxNLocator
    fig, ax = plt.subplots(figsize=(WIDTH, 4.8))
    fig.subplots_adjust(left=0.08, right=0.97, top=0.8, bottom=0.26)
    d, g = data['3d'], data['3g']
    end = d['served']  # the parent died in the accept() after this client
    ax.plot(range(len(d['counts'])), d['counts'], color=VERMILLION, linewidth=2.2,
            label='3d: the parent keeps each client socket')
    ax.plot(range(len(g['counts'])), g['counts'], color=BLUE, linewidth=2.2,
            label='3g: the parent closes its copy after fork()')
    ax.axhline(d['nofile'], color=GREY, linestyle='--', linewidth=1)
    ax.text(0.3, d['nofile'] + 0.015 * d['nofile'], 'ulimit -n %d' % d['nofile'],
            color='#555555', fontsize=SMALL, va='bottom')
    ax.plot([end], [d['nofile']], marker='X', color=VERMILLION, markersize=11,
            linestyle='none')
    ax.annotate('after client %d the parent holds all %d; its next accept()\n'
                'needs one more, and the server dies: %s'
                % (end, d['nofile'], d['died'] or 'no error'),
                (end, d['nofile']), xytext=(0.02, 0.98), textcoords='axes fraction',
                ha='left', va='top', fontsize=SMALL, color=VERMILLION,
                arrowprops=dict(arrowstyle='->', color=VERMILLION, linewidth=1))
    ax.set_xlabel('clients served, one after another')
    ax.set_ylabel("parent's open descriptors")
    ax.set_ylim(0, d['nofile'] * 1.4)
    ax.set_xlim(0, max(len(g['counts']), end + 2))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(color='#e6e6e6')
    ax.set_axisbelow(True)
    ax.legend(loc='lower right', bbox_to_anchor=(1, 0.2))
    fig.suptitle("3d's parent keeps a descriptor per client: %d clients fill ulimit -n %d, "
                 "and its next\naccept() fails with 'Too many open files'. 3g's parent stays "
                 "at %d descriptors" % (end, d['nofile'], max(g['counts'])),
                 x=0.01, ha='left', fontsize=TITLE, fontweight='bold')
    return save(fig, directory, 'descriptor-leak.svg', caption)


LESSONS = {'3d': 'it never waits', '3e': 'one wait() per SIGCHLD',
           '3f': 'one wait() per SIGCHLD', '3g': 'waitpid() in a loop'}


def draw_zombies(plt, runs, directory, caption):
    from matplotlib.ticker import MaxNLocator
    fig, axes = plt.subplots(2, 2, figsize=(WIDTH, 6.8), sharey=True)
    fig.subplots_adjust(left=0.07, right=0.98, top=0.83, bottom=0.21, hspace=0.5, wspace=0.06)
    for ax, step in zip(axes.flat, ['3d', '3e', '3f', '3g']):
        run = runs[step]
        t = [s[0] for s in run['samples']]
        live = [s[1] for s in run['samples']]
        reaped = [s[3] for s in run['samples']]
        exited = [s[2] + s[3] for s in run['samples']]
        ax.fill_between(t, reaped, exited, step='post', color=VERMILLION, alpha=0.35,
                        linewidth=0, label='zombies: exited, not yet reaped')
        ax.step(t, exited, where='post', color=VERMILLION, linewidth=3.5,
                label='children exited')
        ax.step(t, reaped, where='post', color=BLUE, linewidth=1.6, label='children reaped')
        ax.step(t, live, where='post', color=GREEN, linewidth=1.2, linestyle='--',
                label='children alive')
        ax.set_title('%s: %d zombie%s left  (%s)' % (
            step, run['zombies'], '' if run['zombies'] == 1 else 's', LESSONS[step]),
            loc='left', fontsize=11)
        if run['forked'] < run['clients']:  # the listen queue of 5 overflowed
            ax.text(0.98, 0.05, 'backlog 5: %d of %d connections\nnever reached accept()'
                    % (run['clients'] - run['forked'], run['clients']), transform=ax.transAxes,
                    ha='right', va='bottom', fontsize=SMALL, color='#444444')
        ax.set_xlabel("milliseconds since the server's first child")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 4, 5, 10]))
        ax.grid(color='#e6e6e6')
        ax.set_axisbelow(True)
        ax.set_ylim(0, run['clients'] * 1.08)
    for ax in axes[:, 0]:
        ax.set_ylabel('children of the server')
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc='lower left', bbox_to_anchor=(0.06, 0.085), ncol=4)
    n = runs['3d']['clients']
    fig.suptitle('client3.py --max-clients %d: zombies left: 3d %d, 3e %d, 3f %d; 3g %d.\n'
                 'Signals are not queued: one SIGCHLD for many exits, so one wait() '
                 'reaps one child' % (n, runs['3d']['zombies'], runs['3e']['zombies'],
                                      runs['3f']['zombies'], runs['3g']['zombies']),
                 x=0.01, ha='left', fontsize=TITLE, fontweight='bold')
    return save(fig, directory, 'zombies.svg', caption)


def bench_caption(bench, what):
    return 'Measured by python tools/bench.py --write on %s: CPython %s, %s; %s.' % (
        bench['date'], bench['python'], bench['machine'], what)


def draw_bench(plt, bench, directory):
    """Requests per second, a bar per server and client count with its value
    printed, on a linear axis; and each forking server's memory per child."""
    servers = bench['servers']
    levels = ['1', '8', '64']
    colours = {'1': SKY, '8': BLUE, '64': ORANGE}
    height = 2.6 + 0.62 * len(servers)
    fig, ax = plt.subplots(figsize=(WIDTH, height))
    fig.subplots_adjust(left=0.2, right=0.97, top=1 - 1.3 / height, bottom=1.3 / height)
    bar, right = 0.28, 0
    for k, level in enumerate(levels):
        ys, medians, low, high = [], [], [], []
        for n, server in enumerate(servers):
            runs = server['rps'].get(level)
            if runs:
                m = statistics.median(runs)
                ys.append(n + (k - 1) * bar)
                medians.append(m)
                low.append(m - min(runs))
                high.append(max(runs) - m)
        ax.barh(ys, medians, bar * 0.9, color=colours[level],
                label='%s client%s' % (level, '' if level == '1' else 's'),
                xerr=[low, high], error_kw=dict(ecolor=INK, elinewidth=0.8, capsize=1.5))
        for y, m, h in zip(ys, medians, high):
            ax.text(m + h, y, ' %.0f' % m, va='center', fontsize=SMALL)
            right = max(right, m + h)
    ceiling = statistics.median(bench['ceiling']['forks_per_s'])
    ax.axvline(ceiling, color=VERMILLION, linestyle='--', linewidth=1.4,
               label='the fork ceiling: fork(), _exit(), waitpid(), %.0f/s' % ceiling)
    ax.set_yticks(range(len(servers)))
    ax.set_yticklabels([s['name'] for s in servers])
    ax.invert_yaxis()
    ax.set_ylim(len(servers) - 0.5, -0.5)
    ax.set_xlim(0, right * 1.1)
    ax.set_xlabel('requests per second, a new connection each: the median of %d runs, '
                  'whiskers from the lowest to the highest' % bench['runs'])
    ax.grid(axis='x', color='#e6e6e6')
    ax.set_axisbelow(True)
    fig.legend(loc='lower right', ncol=4, bbox_to_anchor=(0.97, 1 - 1.3 / height),
               columnspacing=1.2)
    by_name = {s['name']: s for s in servers}
    g = by_name.get('3g')
    title = 'Requests per second, a new connection each'
    if g and g['rps'].get('8'):
        g8 = statistics.median(g['rps']['8'])
        fraction = statistics.median((g.get('ceiling_fraction') or {}).get('8') or
                                     [g8 / ceiling])
        title = '3g: %.0f req/s at 8 clients, %.0f %% of the fork ceiling' % (
            g8, 100 * fraction)
        peer = by_name.get(g.get('peer') or '')
        if peer and peer['rps'].get('8'):
            title += ', %.1f× %s' % (g8 / statistics.median(peer['rps']['8']), peer['name'])
        prefork = by_name.get('prefork, 2 workers')
        if prefork and prefork['rps'].get('8'):
            title += ';\n%s, forked once, not per request: %.0f' % (
                prefork['name'], statistics.median(prefork['rps']['8']))
    fig.suptitle(title, x=0.01, ha='left', y=1 - 0.1 / height, va='top', fontsize=TITLE,
                 fontweight='bold')
    rps = save(fig, directory, 'bench-rps.svg', bench_caption(
        bench, "the servers loaded in turns by the bench's own clients"))

    measured = [s for s in servers if s.get('memory')]
    if not measured:
        return [rps]
    height = 2.6 + 0.6 * len(measured)
    fig, ax = plt.subplots(figsize=(WIDTH, height))
    fig.subplots_adjust(left=0.22, right=0.97, top=1 - 1.3 / height, bottom=1.25 / height)
    ys = range(len(measured))
    private = [s['memory']['private_mib'] for s in measured]
    pss = [s['memory']['pss_mib'] for s in measured]
    ax.barh([y - 0.18 for y in ys], private, 0.36, color=BLUE, label='private')
    ax.barh([y + 0.18 for y in ys], pss, 0.36, color=SKY, label='PSS (shared pages split)')
    for y, a, b in zip(ys, private, pss):
        ax.text(a, y - 0.18, ' %.1f' % a, va='center', fontsize=SMALL)
        ax.text(b, y + 0.18, ' %.1f' % b, va='center', fontsize=SMALL)
    ax.set_yticks(list(ys))
    ax.set_yticklabels([s['name'] for s in measured])
    ax.invert_yaxis()
    ax.set_xlim(0, max(private + pss) * 1.12)
    ax.set_xlabel('memory of one child, MiB (/proc/PID/smaps_rollup)')
    ax.grid(axis='x', color='#e6e6e6')
    ax.set_axisbelow(True)
    fig.legend(loc='lower right', ncol=2, bbox_to_anchor=(0.97, 1 - 1.3 / height))
    parts = ['%s %.1f' % (s['name'], s['memory']['private_mib']) for s in measured]
    fig.suptitle(textwrap.fill('Each connection is a process of its own, MiB: '
                               + ', '.join(parts), 95),
                 x=0.01, ha='left', y=1 - 0.1 / height, va='top', fontsize=TITLE,
                 fontweight='bold')
    return [rps, save(fig, directory, 'bench-memory.svg', bench_caption(
        bench, 'what each child holds while %d requests are in flight at once'
        % bench['settings']['in_flight']))]


def draw_idle(plt, bench, directory):
    """The memory each idle connection adds to its server, per design, on a
    linear axis, each value printed."""
    measured = [s for s in bench['servers'] if s.get('idle')]
    if not measured:
        return []
    n = bench['settings']['idle']
    height = 2.7 + 0.62 * len(measured)
    fig, ax = plt.subplots(figsize=(WIDTH, height))
    fig.subplots_adjust(left=0.3, right=0.95, top=1 - 1.3 / height, bottom=1.3 / height)
    ys = range(len(measured))
    kib = [s['idle']['kib_per_connection'] for s in measured]
    colours = [ORANGE if s['idle']['held']['processes'] > 1 else
               BLUE if s['idle']['held']['threads'] > 1 else GREEN for s in measured]
    ax.barh(list(ys), kib, 0.6, color=colours)
    for y, value in zip(ys, kib):
        ax.text(max(value, 0), y, ' %.0f KiB' % value, va='center', fontsize=SMALL)

    def count(n, word):
        return '%d %s' % (n, word if n == 1 else word + ('es' if word.endswith('s') else 's'))
    ax.set_yticks(list(ys))
    ax.set_yticklabels(['%s\n%s, %s: %.0f MiB' % (
        s['name'], count(s['idle']['held']['processes'], 'process'),
        count(s['idle']['held']['threads'], 'thread'), s['idle']['held']['pss_mib'])
        for s in measured], fontsize=SMALL)
    ax.invert_yaxis()
    ax.set_xlim(0, max(kib) * 1.15)
    ax.set_xlabel("KiB per idle connection: what the %d add to the anonymous PSS of "
                  "the server's processes, / %d" % (n, n))
    ax.grid(axis='x', color='#e6e6e6')
    ax.set_axisbelow(True)
    from matplotlib.patches import Patch
    fig.legend(handles=[Patch(color=ORANGE, label='a process each'),
                        Patch(color=BLUE, label='a thread each'),
                        Patch(color=GREEN, label='one event loop')],
               loc='lower right', ncol=3, bbox_to_anchor=(0.95, 1 - 1.3 / height))
    most = max(measured, key=lambda s: s['idle']['kib_per_connection'])
    least = min(measured, key=lambda s: s['idle']['kib_per_connection'])
    most_kib, least_kib = most['idle']['kib_per_connection'], least['idle']['kib_per_connection']
    title = '%d idle clients: each costs %s %.0f KiB, %s %.0f KiB' % (
        n, most['name'], most_kib, least['name'], least_kib)
    if least_kib >= 0.5:
        title += ': %.0f× less' % (most_kib / least_kib)
    fig.suptitle(textwrap.fill(title, 95), x=0.01, ha='left', y=1 - 0.1 / height, va='top',
                 fontsize=TITLE, fontweight='bold')
    return [save(fig, directory, 'bench-idle.svg', bench_caption(
        bench, 'a fresh server per design, %d clients connected at once that send nothing; '
        'the label under each name: its processes and threads, and the PSS of them all, '
        'while the clients are held' % n))]


# The run ----------------------------------------------------------------------

class Progress(object):
    """One line per picture on stderr: what it measures, and how long it took."""

    def __init__(self, parallel):
        self.parallel = parallel
        self.lock = threading.Lock()

    def say(self, line):
        with self.lock:
            sys.stderr.write('pictures: %s\n' % line)
            sys.stderr.flush()

    def run(self, name, what, fn, *args):
        started = time.monotonic()
        if not self.parallel:
            sys.stderr.write('pictures: %s: %s ...' % (name, what))
            sys.stderr.flush()
        try:
            result = fn(*args)
        except Exception:
            if not self.parallel:
                sys.stderr.write(' failed\n')
            raise
        seconds = time.monotonic() - started
        if self.parallel:
            self.say('%s: %s: %.1f s' % (name, what, seconds))
        else:
            sys.stderr.write(' %.1f s\n' % seconds)
        return result


def no_fin_for(s):
    """How long 3d's clients wait for a FIN: longer than 3b takes for them all."""
    return (s['timeline_clients'] + 0.5) * s['sleep']


class Picture(object):
    """One picture, one row: the file it makes; what it measures (the progress
    line); measure(run) -> its result, where run has .python, .s (the size),
    .parallel, .py27 and .capped; draw(plt, result, directory, caption) ->
    the path, or None for a text, which is the result itself; its caption;
    the lines a text must hold (a trace's in this order), and more checks;
    whether the tests' quick run makes it; what it needs that a machine may
    lack ('py27', 'capped'); turn: it finds its server by name (pgrep), so
    it takes turns with the others that do."""

    def __init__(self, name, what, measure, draw=None, caption='', shape=(), ordered=False,
                 quick=True, needs=(), turn=False, check=None):
        self.name, self.what, self.measure, self.draw = name, what, measure, draw
        self.caption, self.shape, self.ordered, self.quick = caption, shape, ordered, quick
        self.needs = [needs] if isinstance(needs, str) else list(needs)
        self.turn, self.check = turn, check

    @property
    def key(self):
        return self.name.rsplit('.', 1)[0]


def caption_of(picture, run, today, where):
    text = picture.caption(run.s) if callable(picture.caption) else picture.caption
    return 'Measured by tools/pictures.py on %s: %s; %s.' % (today, text, where)


STRACE = ('under `strace -f -yy`, its calls grouped by process (within one, in their '
          'order); PIDs, ports, inodes and addresses masked')
TRACE_START = [r'^<P> +socket\(AF_INET, SOCK_STREAM', r'^<P> +bind\(',
               r'^<P> +listen\(3<TCP:\[127\.0\.0\.1:<port>\]>, \d+\) = 0$']
ACCEPTED = r'^<P> +accept4?\(3<TCP:\[[^\]]*\]>, \{.*\) = 4<TCP:\[127\.0\.0\.1:<port>->'
FORKED = r'^<P> +clone\(.*\) = <C1>$'
WAITS = r'^<P> +accept4?\(3<TCP:\[127\.0\.0\.1:<port>\]>, <unfinished \.\.\.>$'
CHILD = [r'^<C1> +close\(3<TCP', r'^<C1> +recvfrom\(4<TCP.*"GET /hello',
         r'^<C1> +sendto\(4<TCP.*Hello, World!', r'^<C1> +close\(4<TCP',
         r'^<C1> +exit_group\(0\)']


def count_of(pattern, count):
    return lambda text: [] if len(re.findall(pattern, text, re.M)) == count else [
        '%d lines match %r, not %d' % (len(re.findall(pattern, text, re.M)), pattern, count)]


PICTURES_MADE = [
    Picture('timeline.svg', lambda s: '3b, 3c and 3d, %d clients at once, SLEEP_SECONDS=%g'
            % (s['timeline_clients'], s['sleep']),
            lambda run: dict(each(
                ['webserver3b.py', 'webserver3c.py', 'webserver3d.py'], run.parallel,
                lambda step: timeline(run.python, step, run.s['timeline_clients'],
                                      run.s['sleep'],
                                      no_fin_for(run.s) if step == 'webserver3d.py' else None)),
                sleep=run.s['sleep'], no_fin_for=no_fin_for(run.s)),
            lambda plt, data, directory, caption: draw_timeline(plt, data, directory, caption),
            lambda s: 'webserver3b.py, webserver3c.py and webserver3d.py, SLEEP_SECONDS=%g, '
            '%d clients connecting at once (3d: watched for %g s)'
            % (s['sleep'], s['timeline_clients'], no_fin_for(s))),
    Picture('fork-descriptors.svg', "3c's parent and child, stopped before each close()",
            lambda run: fork_descriptors(run.python, run.s['fork_sleep']), draw_fork,
            lambda s: 'webserver3c.py, SLEEP_SECONDS=%g, one client; the step stops itself '
            '(SIGSTOP) before each socket close()' % s['fork_sleep']),
    Picture('descriptor-leak.svg', lambda s: "3d's and 3g's descriptors per client, "
            'ulimit -n %d' % s['nofile'],
            lambda run: descriptor_runs(run.python, run.s['nofile']), draw_descriptors,
            lambda s: 'webserver3d.py and webserver3g.py under ulimit -n %d, clients one '
            'at a time' % s['nofile']),
    Picture('zombies.svg', lambda s: 'client3.py --max-clients %d against 3d, 3e, 3f, 3g'
            % s['burst'],
            lambda run: each(['webserver3%s.py' % c for c in 'defg'], run.parallel,
                             lambda step: zombies_over_time(run.python, step, run.s['burst'],
                                                            run.s['burst_sleep'])),
            draw_zombies, lambda s: 'client3.py --max-clients %d against each step (3e with '
            'SLEEP_SECONDS=%g), /proc sampled every ~2 ms' % (s['burst'], s['burst_sleep'])),
    # Transcripts: typed into real terminals
    Picture('ps-zombies.txt', "3d's zombies in ps, and kill -9",
            lambda run: transcript_ps_zombies(run.python, run.s['zombie_clients']),
            shape=[r'^ +PID +PPID STAT COMMAND$', r'^ +<P> +<sh> S\+ +python webserver3d\.py$',
                   r'^ +<C1> +<P> Z\+ +\[python[\d.]*\] <defunct>$',
                   r'^\$ kill -9 \$\(ps -o pid= --ppid \$P\)$'], turn=True),
    Picture('too-many-open-files.txt', lambda s: '3d under ulimit -n %d' % s['emfile_nofile'],
            lambda run: transcript_too_many_open_files(run.python, run.s['emfile_nofile']),
            shape=[r'^\$ \(ulimit -n \d+; PORT=0 python webserver3d\.py\)$',
                   r'^Serving HTTP on port <port> \.\.\.$',
                   r'^Traceback \(most recent call last\):$',
                   r'Error: \[Errno 24\] Too many open files$',
                   r'clients: (\d+), connections: \1, failed: 0, seconds: <s>$',
                   r'^1 x \[Errno 111\] Connection refused$'], turn=True),
    Picture('ps-clean.txt', lambda s: '3g after client3.py --max-clients %d' % s['burst'],
            lambda run: transcript_ps_clean(run.python, run.s['burst']),
            shape=[r'clients: \d+, connections: \d+, failed: 0, seconds: <s>$',
                   r'^ +<P> +<sh> S\+ +python webserver3g\.py$'], turn=True,
            check=lambda text: ['a zombie'] if '<defunct>' in text or ' Z' in text else []),
    Picture('process-limit.txt', lambda s: '3d under ulimit -u as a uid of its own, %d children'
            % s['nproc_children'],
            lambda run: transcript_process_limit(run.python, run.capped, run.s['nproc_children']),
            shape=[r'^# terminal 1, as \w+', r'^\$ \(ulimit -u <limit>; PORT=0 python ',
                   r'^Serving HTTP on port <port> \.\.\.$',
                   r'^Traceback \(most recent call last\):$',
                   r'Error: \[Errno 11\] Resource temporarily unavailable$'],
            needs='capped', turn=True),
    Picture('eintr.txt', "3e's EINTR on Python 2.7", lambda run: transcript_eintr(run.py27),
            shape=[r'^# terminal 1, Python 2\.7$', r'^Child <C1> terminated with status 0$',
                   r'^Traceback \(most recent call last\):$',
                   r'^socket\.error: \[Errno 4\] Interrupted system call$', r'^Hello, World!$'],
            needs='py27', quick=False),
    Picture('socket-pair.txt', "3b's one process, its descriptors, the connection's two ends",
            lambda run: transcript_socket_pair(run.python),
            shape=[r'^ +<P> +<sh> S\+ +python webserver3b\.py$',
                   r"^'/proc/<P>/fd/3' -> 'socket:\[<inode>\]'$",
                   r"^'/proc/<P>/fd/4' -> 'socket:\[<inode>\]'$",
                   r'^ESTAB .* 127\.0\.0\.1:<port> +127\.0\.0\.1:<cport>$',
                   r'^ESTAB .* 127\.0\.0\.1:<cport> +127\.0\.0\.1:<port>$',
                   r'^\d+\s+\d+$'], quick=False),
    Picture('ps-3c.txt', "3c's child per client in ps", lambda run: transcript_ps_3c(run.python),
            shape=[r'^ +<P> +<sh> S\+ +python webserver3c\.py$',
                   r'^ +<C1> +<P> S\+ +python webserver3c\.py$',
                   r'^ +<C2> +<P> S\+ +python webserver3c\.py$']),
    # System-call traces
    Picture('trace-3a.txt', "3a's calls for one request",
            lambda run: trace_server_3a(run.python),
            caption='webserver3a.py answering one request, ' + STRACE,
            shape=TRACE_START + [ACCEPTED, r'^<P> +recvfrom\(4<TCP', r'^<P> +sendto\(4<TCP',
                                 r'^<P> +close\(4<TCP', WAITS],
            ordered=True, needs='strace', quick=False),
    Picture('trace-client3.txt', "client3.py's calls for one client",
            lambda run: trace_client3(run.python),
            caption='python client3.py --max-clients 1 against 3g, ' + STRACE,
            shape=[FORKED, r'^<C1> +socket\(AF_INET', r'^<C1> +connect\(3<TCP.*htons\(<port>\)',
                   r'^<C1> +sendto\(3<TCP', r'^<C1> +exit_group\(0\)'],
            ordered=True, needs='strace', quick=False),
    Picture('trace-3c.txt', "3c's fork and both closes", lambda run: trace_fork_3c(run.python),
            caption='webserver3c.py answering one request, SLEEP_SECONDS=0.5, ' + STRACE,
            shape=TRACE_START + [ACCEPTED, FORKED, r'^<P> +close\(4<TCP', WAITS,
                                 r'^<C1> +close\(3<TCP', r'^<C1> +getpid\(\) = <C1>$',
                                 r'^<C1> +getppid\(\) = <P>$', r'^<C1> +close\(4<TCP'],
            ordered=True, needs='strace', quick=False),
    Picture('trace-3d.txt', "3d's parent that never closes",
            lambda run: trace_no_close_3d(run.python),
            caption='webserver3d.py answering one request, ' + STRACE,
            shape=TRACE_START + [ACCEPTED, FORKED, WAITS] + CHILD, ordered=True, needs='strace',
            quick=False,
            check=count_of(r'^<P> +close\(4', 0)),
    Picture('trace-3e.txt', "3e's SIGCHLD, wait() and accept() again",
            lambda run: trace_sigchld_3e(run.python),
            caption='webserver3e.py answering one request, SLEEP_SECONDS=0.5, ' + STRACE,
            shape=TRACE_START + [ACCEPTED, FORKED, r'^<P> +close\(4<TCP',
                                 r'^<P> +accept4?\(.* = \? ERESTARTSYS',
                                 r'^<P> +--- SIGCHLD \{.*si_pid=<C1>',
                                 r'^<P> +wait4\(-1, .* = <C1>$', WAITS] + CHILD,
            ordered=True, needs='strace', quick=False),
    Picture('trace-3e-py27.txt', "3e's EINTR on Python 2.7",
            lambda run: trace_eintr_3e(run.py27),
            caption='webserver3e.py on Python 2.7 answering one request, SLEEP_SECONDS=0.5, '
            + STRACE,
            shape=TRACE_START + [ACCEPTED, FORKED, r'^<P> +accept\(.* = \? ERESTARTSYS',
                                 r'^<P> +--- SIGCHLD \{', r'^<P> +wait4\(-1, .* = <C1>$',
                                 r'^<P> +exit_group\(1\)', r'^<P> +\+\+\+ exited with 1 \+\+\+$'],
            ordered=True, needs=('py27', 'strace'), quick=False),
    Picture('trace-3f.txt', "3f: four exits, one SIGCHLD, one wait()",
            lambda run: trace_burst(run.python, 'webserver3f.py'),
            caption='webserver3f.py, four clients; its parent stopped (SIGSTOP) while the '
            'four children answer and exit, then continued, ' + STRACE,
            shape=TRACE_START + [r'^<P> +clone\(.* = <C4>$', r'^<P> +--- SIGCHLD',
                                 r'^<P> +wait4\(-1, .*, 0, NULL\) = <C1>$', WAITS],
            ordered=True, needs='strace', quick=False,
            check=lambda text: count_of(r'^<P> +wait4', 1)(text) +
            count_of(r'^<P> +--- SIGCHLD', 1)(text)),
    Picture('trace-3g.txt', "3g: four exits, one SIGCHLD, a wait() for each",
            lambda run: trace_burst(run.python, 'webserver3g.py'),
            caption='webserver3g.py, four clients; its parent stopped (SIGSTOP) while the '
            'four children answer and exit, then continued, ' + STRACE,
            shape=TRACE_START + [r'^<P> +clone\(.* = <C4>$', r'^<P> +--- SIGCHLD',
                                 r'^<P> +wait4\(-1, .*WNOHANG, NULL\) = <C1>$',
                                 r'^<P> +wait4\(-1, .*WNOHANG, NULL\) = <C4>$',
                                 r'^<P> +wait4\(-1, .*WNOHANG, NULL\) = -1 ECHILD', WAITS],
            ordered=True, needs='strace',
            check=lambda text: count_of(r'^<P> +--- SIGCHLD', 1)(text)),
]
BY_NAME = {picture.key: picture for picture in PICTURES_MADE}
TRANSCRIPTS = [p.key for p in PICTURES_MADE if p.name.endswith('.txt')]
SVGS = [p.name for p in PICTURES_MADE if p.name.endswith('.svg')]


class Run(object):
    def __init__(self, python, size, parallel):
        self.python, self.s, self.parallel = python, SIZES[size], parallel
        self.size = size
        self.py27 = python2()
        capped = unprivileged_pythons([python])
        self.capped = capped[0] if capped else None
        self.strace = shutil.which('strace')


NEEDS = {'py27': 'no Python 2.7 here (pyenv install 2.7.18)',
         'capped': 'no Python 3 that another user can run (e.g. /usr/bin/python3)',
         'strace': 'no strace here (apt-get install strace)'}


def measure(run, progress):
    """{key: result} of every picture this run makes; those it cannot make
    here are missing, with the reason in notes."""
    jobs, notes = [], []
    for picture in PICTURES_MADE:
        if run.size == 'quick' and not picture.quick:
            continue
        lacking = [need for need in picture.needs if not getattr(run, need)]
        if lacking:
            notes.append('%s: %s: keeping the committed one' % (picture.name,
                                                                 NEEDS[lacking[0]]))
            continue
        jobs.append(picture)
    for note in notes:
        progress.say(note)
    results, errors = {}, []

    def one(picture):
        what = picture.what(run.s) if callable(picture.what) else picture.what
        try:
            results[picture.key] = progress.run(picture.name, what, picture.measure, run)
        except Exception as e:
            errors.append((picture.name, e))

    def in_turn(pictures):
        for picture in pictures:
            one(picture)

    if run.parallel:
        turns = [picture for picture in jobs if picture.turn]
        threads = [threading.Thread(target=one, args=(picture,)) for picture in jobs
                   if not picture.turn]
        threads.append(threading.Thread(target=in_turn, args=(turns,)))
        threads.append(threading.Thread(target=pyplot))  # its import takes a while
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    else:
        in_turn(jobs)
    if errors:
        raise SystemExit('pictures: %s failed: %r' % errors[0])
    return results, notes


def descriptor_runs(python, nofile):
    leak = descriptor_counts(python, 'webserver3d.py', nofile, 10000)
    # 3g's flat line: as many clients as 3d managed, and a few more
    return {'3d': leak, '3g': descriptor_counts(python, 'webserver3g.py', nofile,
                                                leak['served'] + 3)}


def each(steps, parallel, fn):
    """{'3d': fn('webserver3d.py'), ...}, the steps measured at once if parallel."""
    if not parallel:
        return {step[9:11]: fn(step) for step in steps}
    results, errors = {}, []

    def one(step):
        try:
            results[step[9:11]] = fn(step)
        except Exception as e:
            errors.append(e)
    threads = [threading.Thread(target=one, args=(step,)) for step in steps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def generate(target, size, parallel):
    """Measure, check and draw everything into a directory of its own, then
    copy it into target: a run that fails writes nothing."""
    directory = tempfile.mkdtemp(prefix='pictures-')
    try:
        record = draw_all(directory, target, size, parallel)
        os.makedirs(target, exist_ok=True)
        for name in os.listdir(directory):
            shutil.copy(os.path.join(directory, name), os.path.join(target, name))
        return record
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def draw_all(directory, target, size, parallel):
    started = time.monotonic()
    become_subreaper()  # a killed server's children come back here, to be reaped
    take_ctrl_c()  # the terminals' servers must hear Ctrl-C
    run = Run(this_python(), size, parallel)
    progress = Progress(parallel)
    results, notes = measure(run, progress)
    today = datetime.date.today().isoformat()
    where = ran_on(run.python)
    texts = [p for p in PICTURES_MADE if p.key in results and p.draw is None]
    problems = [problem for p in texts for problem in shape_errors(p.key, results[p.key])]
    if problems:
        raise SystemExit('pictures: ' + '; '.join(problems))
    made = [write_text(directory, p.name, results[p.key]) for p in texts]

    t = time.monotonic()
    plt = pyplot()
    for picture in PICTURES_MADE:
        if picture.key in results and picture.draw:
            made.append(picture.draw(plt, results[picture.key], directory,
                                     caption_of(picture, run, today, where)))
    bench_json = os.path.join(target, 'bench.json')
    if os.path.exists(bench_json):
        with open(bench_json) as f:
            bench = json.load(f)
        made += progress.run('bench-rps.svg, bench-memory.svg', 'drawn from %s of %s' % (
            shown(bench_json), bench['date']), draw_bench, plt, bench, directory)
        made += progress.run('bench-idle.svg', 'drawn from %s of %s' % (
            shown(bench_json), bench['date']), draw_idle, plt, bench, directory)
    else:
        note = ('bench-rps.svg, bench-memory.svg, bench-idle.svg: no %s (python '
                'tools/bench.py --write makes it): keeping the committed charts'
                % shown(bench_json))
        progress.say(note)
        notes.append(note)
    progress.say('drawing %d SVGs: %.1f s' % (
        len([m for m in made if m.endswith('.svg')]), time.monotonic() - t))

    record = dict(python=platform.python_version(), machine=machine(), date=today,
                  size=size, made=sorted(os.path.basename(m) for m in made), notes=notes)
    for picture in PICTURES_MADE:
        if picture.key in results and picture.draw:
            record[picture.key] = results[picture.key]
    timeline_data = results['timeline']
    record['timeline'] = dict(timeline_data, overlaps={
        step: overlaps(timeline_data[step], run.s['sleep']) for step in ['3b', '3c']})
    with open(os.path.join(directory, 'measurements.json'), 'w') as f:
        json.dump(record, f, indent=1, sort_keys=True)
        f.write('\n')
    progress.say('%d files in %s: %.1f s' % (len(made) + 1, shown(target),
                                            time.monotonic() - started))
    return record


def shown(path):
    """A path as the user would write it: relative inside the repository."""
    path = os.path.abspath(path)
    return os.path.relpath(path, ROOT) if path.startswith(ROOT + os.sep) else path


def write_text(directory, name, text):
    path = os.path.join(directory, name)
    with open(path, 'w') as f:
        f.write(text)
    return path


def write_readmes():
    """Re-embed the transcripts into both READMEs: the names of those changed."""
    changed = []
    for readme in READMES:
        with open(readme) as f:
            text = f.read()
        new = embed(text)
        if new != text:
            with open(readme, 'w') as f:
                f.write(new)
            changed.append(os.path.basename(readme))
    return changed


def main():
    if sys.argv[1:2] == ['--pause-at-close']:  # the runner of fork_descriptors()
        return pause_at_close(sys.argv[2])
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--quick', metavar='DIR',
                        help='a small, parallel run into DIR (for the tests); README untouched')
    parser.add_argument('--write', action='store_true',
                        help='only re-embed pictures/*.txt into both READMEs')
    args = parser.parse_args()
    # Killed politely, it still stops its servers (support's atexit).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(1))
    if args.write:
        changed = write_readmes()
        print('%s rewritten' % ' and '.join(changed) if changed else 'READMEs already current')
        return
    if args.quick:
        generate(args.quick, 'quick', parallel=True)
    else:
        generate(PICTURES, 'full', parallel=False)
        for name in write_readmes():
            sys.stderr.write('pictures: %s: transcripts re-embedded\n' % name)


if __name__ == '__main__':
    main()
