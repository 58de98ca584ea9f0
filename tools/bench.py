"""What a fork costs: the steps against the standard library's servers, forking or not.

    python tools/bench.py                    # a few minutes; prints the README's tables
    python tools/bench.py --write --runs 3   # the whole measurement 3 times, into the
                                             # README and pictures/bench.json
    python tools/bench.py --from-json --write  # the README again from pictures/bench.json

Not part of the pass/fail suite. Every server starts on PORT=0 with its output
in a file, the way the tests start them. For each one it measures:

- requests per second, a new connection per request (connect, send, read the
  whole response up to the server's FIN, close), with 1, 8 and 64 clients at
  once, for --seconds and at least --requests requests each, by a load
  generator of our own (forked worker processes); a response that is not a
  200 with the expected body counts as a failure;
- for the servers that fork a child per connection, what each request cost,
  from the parent's /proc/PID/stat once every child has been reaped: the
  children's page faults and CPU time (cminflt, cutime + cstime), and the
  parent's own (minflt, utime + stime), divided by the requests served;
  for the other servers, what their own processes spent; and both against
  the peer's, all the server's faults and CPU per request together. CPU is
  counted in clock ticks (10 ms), so the costs rest on a number of requests
  (--requests, at least), not on a time alone: a busy machine makes fewer
  in a time, too few for a tick. A ratio with nothing on a side (no tick, no
  request) is a dash naming that side;
- the same ratios of step to peer with a second load generator, ab or wrk,
  when one is installed;
- a burst of `client3.py --max-clients 1024 --read-timeout 30`: its wall time and
  failures; then, once every child has finished (and at most 2 s later, as
  ForkingTCPServer reaps only every 0.5 s), the server's zombies and how many
  more descriptors it holds than before the burst;
- for the forking servers, the memory of each child while 256 requests are in
  flight at once;
- for each design with a process, a thread or a task per connection (3g, 3h
  and 3i, ThreadingTCPServer and wsgiref + ThreadingMixIn, asyncio), a fresh
  server held by 1000 idle clients (connected, nothing sent): its processes,
  threads and memory (the sum of the PSS of its processes), and the time of
  one more request, before and while they are held. The bench raises its own
  RLIMIT_NOFILE (ulimit -n) where that needs it; its servers inherit it.

It measures as a learner's machine would. An interpreter whose site-packages
holds a .pth file that imports at every start (this project's machines' global
pyenv Python imports certifi that way) makes every fork dearer; with
--python auto (the default) the bench then re-runs itself in a venv of the same
interpreter, made once in ~/.cache/lsbaws/ (--venv), with gunicorn pip-installed
into it when this interpreter has it. --python this runs it as it is, with a
warning on stderr. The results say which: venv or not, and the modules
imported at start-up.

The ceiling of any fork-per-connection server in CPython: a minimal process
with 3g's imports that forks children which _exit(0) at once, reaped the way
3g reaps them (a SIGCHLD handler looping waitpid(-1, WNOHANG)). It does 3g's
forking and nothing else, so no forking server beats it; each one's rate is
reported as a fraction of it. It is sampled just before each forking server's
load in every round, and a run's ceiling is its best sample: a shared machine
only ever slows it down. The same process forking one child at a time,
waiting for each before the next, shows what the overlap is worth: there the
parent idles while its child exits.

The peers (tools/peers.py) are the standard library's: socketserver's
ForkingTCPServer doing 3g's work, and wsgiref's WSGIServer with ForkingMixIn
serving the same hello app as 3i (tests/apps/hello.py). 3h, the article's
exercise (Part 2's WSGI server forking as 3g does), serves the same app too,
and is compared with 3i: the ratio is what 3i's hardening costs per request.
Like 3i's access lines, 3h's copies of each request and response go to the
server's output file, as every server's output does. The other designs
(ThreadingTCPServer and asyncio with 3g's reply, wsgiref + ThreadingMixIn
with the hello app) are compared with the step whose reply they send. The servers are
measured in turns (A B A B ...), and each step is compared with its peer
measured in the same rounds, because absolute numbers on a shared machine drift.
`--runs N` repeats the whole measurement N times, with fresh servers: req/s and
costs are the medians over the runs, ratios their range (min-max).

Progress goes to stderr; stdout is the tables. --write puts them, and every
sentence that carries a number, between the `<!-- bench NAME -->` and
`<!-- /bench -->` markers of BENCHMARK.md, and the results in pictures/bench.json;
tests/test_bench.py fails when BENCHMARK.md's blocks are not the ones the JSON
renders to.
"""
import argparse
import datetime
import importlib.util
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, 'tests'))
from support import (  # noqa: E402  (this file runs as a script)
    HOST, ROOT, Server, accept_queue, become_subreaper, connect, fd_count, processes,
    proc_stat, read_until_eof, run_client3, this_python, wait_for)

README = os.path.join(ROOT, 'BENCHMARK.md')  # its tables, between markers
JSON = os.path.join(ROOT, 'pictures', 'bench.json')
BLOCK = re.compile(r'(<!-- bench (\w+) -->\n)(.*?)(<!-- /bench -->)', re.S)
BLOCKS = ('table', 'clients', 'idle', 'facts')  # the README's blocks, in the order printed
REQUEST = b'GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n'
TICK = os.sysconf('SC_CLK_TCK')  # the unit of utime, stime, cutime, cstime


def progress(message):
    sys.stderr.write(message + '\n')
    sys.stderr.flush()


# The interpreter ------------------------------------------------------------

# Run by the interpreter with -c: the modules it imported at start-up, before
# this code imports anything. With -S (no site at start-up) it runs the
# standard library's site itself, with every .pth file left unread: what a
# clean venv imports.
STARTUP = r'''
import sys
names = sorted(sys.modules)
if sys.flags.no_site:
    import site
    site.addpackage = lambda *args: None  # a .pth file: skipped
    site.main()
    names = sorted(sys.modules)
import json, os, site
dirs = [d + os.sep for d in site.getsitepackages() + [site.getusersitepackages()]]
print(json.dumps({'modules': names, 'venv': sys.prefix != sys.base_prefix,
                  'site_packages': sorted(n for n in names if '.' not in n and any(
                      (getattr(sys.modules[n], '__file__', None) or '').startswith(d)
                      for d in dirs))}))
'''


def environment(path):
    """What an interpreter imports at start-up, against the standard library's
    site alone: {'venv', 'modules', 'site_alone', 'hooks', 'site_packages'}.
    hooks: the modules that only a .pth file (or sitecustomize) imported."""
    def probe(*flags):
        return json.loads(subprocess.check_output([path] + list(flags) + ['-c', STARTUP],
                                                  stdin=subprocess.DEVNULL, timeout=60))
    normal, alone = probe(), probe('-S')
    # With -S the interpreter sets up its standard streams' encodings before
    # site runs, and imports a module or two for it that a normal start does
    # not (3.8: _locale, 3.13: encodings.utf_8_sig): not a hook's.
    hooks = [name for name in normal['modules'] if name not in alone['modules'] and
             not name.startswith(('encodings', '_locale', '_bootlocale'))]
    return {'venv': normal['venv'], 'modules': len(normal['modules']),
            'site_alone': len(alone['modules']), 'hooks': len(hooks),
            'site_packages': normal['site_packages']}


def described(env):
    """'a venv, 33 modules at start-up' and the like."""
    text = '%s, %d modules at start-up' % ('a venv' if env['venv'] else 'not a venv',
                                           env['modules'])
    if env['hooks']:
        text += ' (%d more than the standard library\'s site imports%s)' % (
            env['hooks'], ', through ' + ', '.join(env['site_packages'])
            if env['site_packages'] else '')
    return text


def checked_environment(path):
    """environment(path), said on stderr, with a warning if it has hooks."""
    env = environment(path)
    progress('bench: Python %s, %s' % (platform.python_version(), described(env)))
    if env['hooks']:
        progress('bench: warning: this interpreter imports more at start-up than the '
                 'standard library\'s site does: every fork copies that, and the numbers '
                 'are not a learner\'s (a venv imports no more; --python auto makes one)')
    return env


def default_venv():
    cache = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
    return os.path.join(cache, 'lsbaws', 'bench-venv-%s' % platform.python_version())


def make_venv(directory):
    """A venv of this interpreter in directory (made once, then reused), with
    gunicorn when this interpreter has it, in the same version. Made aside and
    renamed into place, so that two benches starting at once both get a whole
    one."""
    python = os.path.join(directory, 'bin', 'python')
    if not os.path.exists(python):
        progress('bench: making a venv in %s' % directory)
        os.makedirs(os.path.dirname(directory), exist_ok=True)
        aside = '%s.%d' % (directory, os.getpid())
        subprocess.run([sys.executable, '-m', 'venv', '--without-pip', aside],
                       stdin=subprocess.DEVNULL, check=True, timeout=300)
        try:
            os.rename(aside, directory)
        except OSError:  # another bench made it meanwhile
            shutil.rmtree(aside, ignore_errors=True)
    if gunicorn_installed() and subprocess.run(
            [python, '-c', 'import gunicorn'], stdin=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL).returncode != 0:
        import gunicorn
        progress('bench: pip install gunicorn==%s into %s' % (gunicorn.__version__, directory))
        # this interpreter's pip, for the venv's site-packages (pip 22.3+)
        installed = subprocess.run(
            [sys.executable, '-m', 'pip', '--python', python, 'install', '--quiet',
             '--disable-pip-version-check', '--retries', '1', '--timeout', '20',
             'gunicorn==%s' % gunicorn.__version__], stdin=subprocess.DEVNULL, timeout=300)
        if installed.returncode != 0:
            progress('bench: gunicorn could not be installed into the venv')
    return python


def learners_interpreter(args):
    """None when this interpreter imports no more at start-up than the
    standard library's site does, else the python of a venv to run the whole
    bench in (--python auto)."""
    if args.python != 'auto':
        return None
    env = environment(sys.executable)
    if not env['hooks']:
        return None
    progress('bench: this interpreter is %s; the servers are measured in a venv, as a '
             'learner runs them (--python this: here, as it is)' % described(env))
    return make_venv(args.venv)


# The load -------------------------------------------------------------------

def worker(port, seconds, requests, expected_body, report):
    """One client: a new connection per request, until the time is up and it
    has made `requests` of them."""
    ok = failed = 0
    deadline = time.monotonic() + seconds
    while ok + failed < requests or time.monotonic() < deadline:
        try:
            with connect(port, timeout=10) as sock:
                sock.sendall(REQUEST)
                response = read_until_eof(sock, timeout=10)
            if response[:12] in (b'HTTP/1.1 200', b'HTTP/1.0 200') and \
                    response.endswith(expected_body):
                ok += 1
            else:
                failed += 1
        except OSError:
            failed += 1
    os.write(report, b'%d %d\n' % (ok, failed))


def load(port, concurrency, seconds, requests, expected_body):
    """(requests per second, failures, requests made) with `concurrency`
    clients at once, for `seconds` and at least `requests` requests in all
    (a share of them each)."""
    share = max(1, -(-requests // concurrency))
    report_r, report_w = os.pipe()
    pids = []
    started = time.monotonic()
    for _ in range(concurrency):
        pid = os.fork()
        if pid == 0:
            try:
                os.close(report_r)
                worker(port, seconds, share, expected_body, report_w)
            finally:
                os._exit(0)
        pids.append(pid)
    os.close(report_w)
    with os.fdopen(report_r, 'rb') as reports:
        counts = [tuple(map(int, line.split())) for line in reports]
    for pid in pids:
        os.waitpid(pid, 0)
    elapsed = time.monotonic() - started
    ok, failed = sum(c[0] for c in counts), sum(c[1] for c in counts)
    return ok / elapsed, failed, ok + failed


# The second load generator: ab (apache2-utils) or wrk, if installed.
SECOND = {
    # ab: HTTP/1.0, a new connection per request, -n of them; -r: go on after
    # a receive error
    'ab': lambda port, clients, n, seconds: [
        'ab', '-q', '-r', '-n', str(n), '-c', str(clients),
        'http://%s:%d/hello' % (HOST, port)],
    # wrk keeps connections alive unless told; its -d is whole seconds. It
    # counts a read error for each response that ends at the server's FIN
    # without a Content-Length (3g's, ForkingTCPServer's) and reconnects,
    # which lowers its rates: compare its ratios, not its req/s.
    'wrk': lambda port, clients, n, seconds: [
        'wrk', '-t1', '-c', str(clients), '-d', '%ds' % max(1, round(seconds)),
        '-H', 'Connection: close', 'http://%s:%d/hello' % (HOST, port)],
}
GENERATOR = {'ab': '`ab -c %s`', 'wrk': '`wrk -c %s -H "Connection: close"`'}
SECOND_RATE = {'ab': r'Requests per second:\s+([\d.]+)', 'wrk': r'Requests/sec:\s+([\d.]+)'}


def second_generator(choice):
    """The second load generator's name, or None."""
    if choice == 'none':
        return None
    names = ['ab', 'wrk'] if choice == 'auto' else [choice]
    return next((name for name in names if shutil.which(name)), None)


def second_load(name, port, clients, n, seconds):
    """Requests per second by ab or wrk, with `clients` connections at once."""
    out = subprocess.run(SECOND[name](port, clients, n, seconds), stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         universal_newlines=True, timeout=120)
    found = re.search(SECOND_RATE[name], out.stdout)
    if not found:
        raise SystemExit('%s printed no rate:\n%s' % (name, out.stdout))
    return float(found.group(1))


# The ceiling ----------------------------------------------------------------

# A process with 3g's imports (and a clock) that forks children which exit at
# once, reaped as 3g reaps them; or, with `serial`, waits for each child
# before the next fork; for a time, and at least a number of forks. It prints
# its forks per second, then per fork: its children's faults and CPU ticks and
# its own, from /proc/self/stat.
CEILING = r'''
import errno, os, signal, socket, sys, time  # 3g's, and sys and time


def grim_reaper(signum, frame):  # 3g's
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except OSError:
            return
        if pid == 0:
            return


def counters():  # minflt, cminflt, utime, stime, cutime, cstime
    with open('/proc/self/stat') as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return [int(fields[i]) for i in (7, 8, 11, 12, 13, 14)]


seconds, least = float(sys.argv[1]), int(sys.argv[2])  # and at least that many forks
serial = sys.argv[3:] == ['serial']
if not serial:
    signal.signal(signal.SIGCHLD, grim_reaper)
before, forks = counters(), 0
started = time.monotonic()
while forks < least or time.monotonic() < started + seconds:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    if serial:
        os.waitpid(pid, 0)
    forks += 1
elapsed = time.monotonic() - started
signal.signal(signal.SIGCHLD, signal.SIG_DFL)
while True:  # the last children
    try:
        os.waitpid(-1, 0)
    except ChildProcessError:
        break
print(forks / elapsed, forks, *[a - b for a, b in zip(counters(), before)])
'''


def fork_rate(python, seconds, forks, serial=False):
    """(forks per second, forks, [minflt, cminflt, utime, stime, cutime, cstime])
    over `seconds` and at least `forks` forks."""
    out = subprocess.run([python.path, '-u', '-c', CEILING, str(seconds), str(forks)] +
                         (['serial'] if serial else []),
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         universal_newlines=True, timeout=60 + seconds, check=True)
    rate, forks, *deltas = out.stdout.split()
    return float(rate), int(forks), [int(d) for d in deltas]


# Looking at a server --------------------------------------------------------

def counters(pid):
    """[minflt, cminflt, utime, stime, cutime, cstime] from /proc/PID/stat:
    a process's own page faults and CPU ticks, and those of its children that
    it has reaped."""
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return [int(fields[i]) for i in (7, 8, 11, 12, 13, 14)]


def costs(deltas, n):
    """Counter deltas over n requests (or forks) -> the cost of one; and n,
    and the clock ticks of CPU counted in all (the unit the kernel counts in)."""
    minflt, cminflt, utime, stime, cutime, cstime = deltas
    ms = 1000.0 / TICK / max(n, 1)
    return {'child_faults': cminflt / max(n, 1), 'child_cpu_ms': (cutime + cstime) * ms,
            'parent_faults': minflt / max(n, 1), 'parent_cpu_ms': (utime + stime) * ms,
            'requests': n, 'ticks': utime + stime + cutime + cstime}


def idle(server):
    """Wait until the server is asleep (in accept(), or poll() for the peers)
    with no child still running (a prefork worker waits in accept()); its
    zombies are left for the caller to count."""
    wait_for(lambda: proc_stat(server.pid)[0] == 'S' and
             all(state in 'SZ' for state in server.children().values()),
             timeout=30, what='%s to be idle' % server.name)


def reaped_counters(server):
    """(counters, children reaped so far) once the server is idle. A child's
    faults and CPU time reach its parent's counters when the parent reaps it,
    so its zombies are not counted yet; read twice around counting them, in
    case the parent reaps one meanwhile."""
    idle(server)
    while True:
        first = counters(server.pid)
        zombies = len(server.zombies())
        if counters(server.pid) == first:
            return first, zombies


def burst(server, python, clients):
    """client3.py --max-clients N: (seconds, failures, fd count before it)."""
    idle(server)
    baseline = fd_count(server.pid)
    started = time.monotonic()
    out = run_client3(python, server.port, '--max-clients', clients,
                      '--read-timeout', 30, timeout=120)
    seconds = time.monotonic() - started
    failed = int(out.stdout.split('failed: ')[1].split(',')[0]) if 'failed: ' in out.stdout \
        else clients
    return seconds, failed, baseline


def after_burst(server, baseline):
    """(zombies, fd leak) once every child has finished, and at most 2 s later:
    ForkingTCPServer reaps only on its next poll() timeout, every 0.5 s."""
    idle(server)
    try:
        wait_for(lambda: not server.zombies(), timeout=2, what='no zombies')
    except AssertionError:
        pass
    return len(server.zombies()), fd_count(server.pid) - baseline


def memory(server, n, request):
    """Hold n requests in flight at once (each child asleep in the app, or in
    recv() when request is empty): the children's median private memory and
    PSS in MiB, from /proc/PID/smaps_rollup."""
    clients = []
    try:
        for _ in range(n):
            sock = connect(server.port, timeout=60)
            sock.sendall(request)
            clients.append(sock)
        wait_for(lambda: len(server.children()) >= n, timeout=60,
                 what='%d children of %s' % (n, server.name))
        wait_for(lambda: all(state == 'S' for state in server.children().values()),
                 timeout=60, what='the children to wait')
        private, pss = [], []
        for child in server.children():
            with open('/proc/%d/smaps_rollup' % child) as f:
                kib = {line.split(':')[0]: int(line.split()[1]) for line in f
                       if line.split()[-1:] == ['kB']}
            private.append((kib['Private_Clean'] + kib['Private_Dirty']) / 1024)
            pss.append(kib['Pss'] / 1024)
        return statistics.median(private), statistics.median(pss)
    finally:
        for sock in clients:
            sock.close()


def group(server):
    """The live processes of a server: its process group, zombies aside."""
    return [pid for pid, (state, _, pgrp) in processes().items()
            if pgrp == server.pid and state != 'Z']


def own_counters(server):
    """counters() for a server that forks no child per connection, summed
    over its processes (a prefork server's workers too): what they spent
    themselves, every thread included; the children's fields stay 0."""
    total = [0] * 6
    for pid in group(server):
        try:
            mine = counters(pid)
        except OSError:
            continue
        for i in (0, 2, 3):  # minflt, utime, stime
            total[i] += mine[i]
    return total


def own_costs(deltas, n):
    cost = costs(deltas, n)
    return dict(cost, child_faults=None, child_cpu_ms=None)


def read_proc(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:  # gone meanwhile
        return ''


def threads_of(pids):
    return sum(int(re.search(r'^Threads:\s*(\d+)', read_proc('/proc/%d/status' % pid),
                             re.M).group(1)) for pid in pids if read_proc('/proc/%d/status' % pid))


def asleep(pids):
    """Every thread of every process is asleep (S): in accept(), recv() or
    epoll_wait(), nothing left to do."""
    for pid in pids:
        try:
            tids = os.listdir('/proc/%d/task' % pid)
        except OSError:
            continue
        for tid in tids:
            stat = read_proc('/proc/%d/task/%s/stat' % (pid, tid))
            if stat and stat.rsplit(')', 1)[1].split()[0] != 'S':
                return False
    return True


def pss_mib(pids, field='Pss'):
    """The sum of the PSS of processes, in MiB: each page shared by k of them
    counts 1/k in each, so the sum is the memory they hold together. Pss_Anon:
    the part not backed by a file (heap, stacks, copied-on-write pages), which
    only this server's processes share, where the pages of libraries and of the
    interpreter are shared with every other process that maps them, and so
    move with what else runs on the machine. None where the kernel does not
    say (Pss_Anon: Linux 5.4+)."""
    total = 0
    for pid in pids:
        text = read_proc('/proc/%d/smaps_rollup' % pid)
        found = re.search(r'^%s:\s*(\d+) kB' % field, text, re.M)
        if text and not found:
            return None
        total += int(found.group(1)) if found else 0
    return total / 1024


def timed_get(port):
    """One request, a new connection, read to the server's FIN: ms, or None
    if it did not come back whole within 10 s."""
    started = time.monotonic()
    try:
        with connect(port, timeout=10) as sock:
            sock.sendall(REQUEST)
            response = read_until_eof(sock, timeout=10)
    except OSError:
        return None
    ms = (time.monotonic() - started) * 1000
    return ms if response[:12] in (b'HTTP/1.1 200', b'HTTP/1.0 200') and \
        response.endswith(HELLO) else None


def still_open(sock):
    """The server has neither closed nor reset the connection."""
    sock.setblocking(False)
    try:
        sock.recv(1)  # b'' (closed) or an answer: not held any more
        return False
    except BlockingIOError:
        return True
    except OSError:
        return False


def held(server, n, kind, samples=5):
    """n clients connected at once that send nothing: the server's memory (the
    sum of the PSS of its processes), its processes and threads, and the time
    of one more request, before and while they are held. kind: 'processes'
    or 'threads' when the server makes one per connection."""
    # each look reads /proc of every process and thread: 0.1 s apart for a
    # thousand, more often for a few
    interval = min(0.1, 0.01 + n / 10000.0)

    def settled(count):
        pids = group(server)
        return asleep(pids) and (kind != 'processes' or len(pids) >= count) and \
            (kind != 'threads' or threads_of(pids) >= count) and pids

    before = [timed_get(server.port) for _ in range(samples)]
    pids = wait_for(lambda: not server.zombies() and settled(0), timeout=60, interval=interval,
                    what='%s to be idle' % server.name)
    result = {'before': {'pss_mib': pss_mib(pids), 'anon_mib': pss_mib(pids, 'Pss_Anon'),
                         'processes': len(pids),
                         'threads': threads_of(pids), 'ms': before}}
    clients = []
    try:
        started = time.monotonic()
        for _ in range(n):
            clients.append(connect(server.port, timeout=60))
        # all accepted (none left in the listening socket's queue), a process
        # or a thread made for each, and each of them waiting
        wait_for(lambda: accept_queue(server.port) == 0, timeout=120, interval=interval,
                 what='%s to accept %d connections' % (server.name, n))
        pids = wait_for(lambda: settled(n + 1), timeout=120, interval=interval,
                        what='%s to hold %d connections' % (server.name, n))
        result['held'] = {'pss_mib': pss_mib(pids), 'anon_mib': pss_mib(pids, 'Pss_Anon'),
                          'processes': len(pids),
                          'threads': threads_of(pids),
                          'ms': [timed_get(server.port) for _ in range(samples)]}
        result['dropped'] = sum(not still_open(sock) for sock in clients)
        result['seconds'] = time.monotonic() - started
    finally:
        for sock in clients:
            sock.close()
    # what each connection adds: of the anonymous PSS where the kernel says
    key = 'anon_mib' if result['held']['anon_mib'] is not None else 'pss_mib'
    result['kib_per_connection'] = (result['held'][key] - result['before'][key]) * 1024 / n
    result['per_connection_of'] = key
    return result


def enough_descriptors(n):
    """Raise this process's RLIMIT_NOFILE (ulimit -n) for n idle clients and
    a server holding them, which inherits it; a note saying so, or None."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = n + 256  # and the bench's own files, the load's sockets
    if soft >= need:
        return None
    if hard != resource.RLIM_INFINITY and hard < need:
        raise SystemExit('bench: --idle %d needs %d open files, and ulimit -Hn is %d: '
                         'ask for fewer' % (n, need, hard))
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    return 'ulimit -n raised from %d to %d for the bench and its servers, for the %d ' \
           'idle clients.' % (soft, need, n)


# One run --------------------------------------------------------------------

def gunicorn_installed():
    return importlib.util.find_spec('gunicorn') is not None


SLEEP = b'GET /?60 HTTP/1.1\r\nHost: localhost\r\n\r\n'  # hello:sleepy sleeps 60 s
HELLO = b'Hello, World!\n'
THREADS, LOOP = 'ThreadingTCPServer', 'asyncio (event loop)'
WSGI_THREADS = 'wsgiref + ThreadingMixIn'
SERVERS = [
    # (label, how to start it, its peer, how to hold it busy: None if it
    # does not fork a child per connection). A step's peer is the standard
    # library's server doing its work the same way; 3h's is 3i, so that what
    # the hardening costs per request is a ratio; another design's is the
    # step whose reply it sends.
    ('3a (iterative)', ('webserver3a.py', []), None, None),
    ('3g', ('webserver3g.py', []), 'ForkingTCPServer', b''),
    ('ForkingTCPServer', ('tools/peers.py', ['forkingtcp']), None, b''),
    (THREADS, ('tools/peers.py', ['threading']), '3g', None),
    (LOOP, ('tools/peers.py', ['asyncio']), '3g', None),
    ('prefork, 2 workers', ('tools/peers.py', ['prefork']), None, None),
    # 3h, the exercise: the same app as 3i, without the hardening
    ('3h (hello app)', ('webserver3h.py', ['hello:app']), '3i (hello app)', SLEEP),
    ('3i (hello app)', ('webserver3i.py', ['hello:app']), 'wsgiref + ForkingMixIn', SLEEP),
    ('wsgiref + ForkingMixIn', ('tools/peers.py', ['wsgiref', 'hello:app']), None, SLEEP),
    (WSGI_THREADS, ('tools/peers.py', ['wsgiref-threads', 'hello:app']), '3i (hello app)',
     None),
    ('gunicorn, 2 sync workers', ('tools/peers.py', ['gunicorn', 'hello:app']), None, None),
]
PAIRS = [(label, peer) for label, _, peer, _ in SERVERS if peer]
# One process per connection, or one thread, or one event loop: held by a
# thousand idle clients (--idle)
IDLE = ['3g', '3h (hello app)', '3i (hello app)', THREADS, WSGI_THREADS, LOOP]


def start(python, chosen, sleepy=False):
    """{label: Server}, started at once and then waited for."""
    apps = os.path.join(ROOT, 'tests', 'apps')
    servers = {}
    for label, (name, args), _, busy in chosen:
        if sleepy and busy:  # the same app, asleep
            args = [a.replace('hello:app', 'hello:sleepy') for a in args]
        servers[label] = Server(python, name, args=args, cwd=apps)
    for server in servers.values():
        server.started()
    return servers


def measure(args, python, chosen, generator, run):
    """One run of the whole measurement, with its own servers."""
    levels = args.levels
    forking = [label for label, _, _, busy in chosen if busy is not None]
    result = {'rps': {label: {} for label, _, _, _ in chosen},
              'failures': {label: 0 for label, _, _, _ in chosen},
              'ceiling': [], 'serial': [], 'second': {}, 'per_request': {},
              'bursts': {}, 'memory': {}, 'idle': {}}
    rps = {(label, c): [] for label, _, _, _ in chosen for c in levels}
    served = {label: 0 for label, _, _, _ in chosen}
    ceiling_forks, ceiling_deltas = 0, [0] * 6
    servers = {}
    try:
        servers = start(python, chosen)
        for server in servers.values():
            idle(server)
        before = {label: counters(servers[label].pid) if label in forking
                  else own_counters(servers[label]) for label in servers}
        for r in range(args.rounds):  # A B A B ...: the same drift for everyone
            where = 'run %d/%d, round %d/%d' % (run + 1, args.runs, r + 1, args.rounds)
            result['serial'].append(fork_rate(python, args.seconds, args.requests, serial=True)[0])
            progress('%s: one fork at a time: %.0f/s' % (where, result['serial'][-1]))
            for label, _, _, busy in chosen:
                if busy is not None:  # a ceiling sample beside each forking server
                    rate, forks, deltas = fork_rate(python, args.seconds, args.requests)
                    result['ceiling'].append(rate)
                    ceiling_forks += forks
                    ceiling_deltas = [a + b for a, b in zip(ceiling_deltas, deltas)]
                    progress('%s: ceiling: %.0f forks/s' % (where, rate))
                line = []
                for concurrency in levels:
                    rate, failed, made = load(servers[label].port, concurrency,
                                              args.seconds, args.requests, HELLO)
                    rps[label, concurrency].append(rate)
                    result['failures'][label] += failed
                    served[label] += made
                    line.append('%.0f' % rate)
                progress('%s: %s: %s req/s with %s clients' % (
                    where, label, ', '.join(line), ','.join(map(str, levels))))
        for label in servers:
            if label in forking:
                now, zombies = reaped_counters(servers[label])
                deltas = [a - b for a, b in zip(now, before[label])]
                result['per_request'][label] = costs(deltas, served[label] - zombies)
            else:
                idle(servers[label])
                deltas = [a - b for a, b in zip(own_counters(servers[label]), before[label])]
                result['per_request'][label] = own_costs(deltas, served[label])
        for label in servers:
            cost = result['per_request'][label]
            progress('run %d/%d: %s: %.2f ms of CPU per request (%d requests, %d clock '
                     'ticks)' % (run + 1, args.runs, label, total_cpu(cost), cost['requests'],
                                 cost['ticks']))
        result['ceiling_cost'] = costs(ceiling_deltas, ceiling_forks)
        for label, c in rps:
            result['rps'][label][str(c)] = statistics.median(rps[label, c])
        if generator:  # the steps and their peers only, in turns again
            rates = {label: [] for pair in PAIRS for label in pair if label in servers}
            # about as many requests as the ceiling forks in --seconds: ab
            # takes at least that long (its rates are timed, not counted in ticks)
            n = max(4 * args.compared, int(args.seconds * min(result['ceiling'])))
            for r in range(args.rounds):
                for label in rates:
                    rates[label].append(second_load(generator, servers[label].port,
                                                    args.compared, n, args.seconds))
                    progress('run %d/%d, round %d/%d: %s -c %d: %s: %.0f req/s' % (
                        run + 1, args.runs, r + 1, args.rounds, generator, args.compared,
                        label, rates[label][-1]))
            result['second'] = {label: statistics.median(v) for label, v in rates.items()}
        bursts = {}
        for label, server in servers.items():  # one at a time; then their zombies
            bursts[label] = burst(server, python, args.burst)
            progress('run %d/%d: %s: a burst of %d in %.1f s' % (
                run + 1, args.runs, label, args.burst, bursts[label][0]))
        for label, server in servers.items():
            seconds, failed, baseline = bursts[label]
            result['bursts'][label] = (seconds, failed) + after_burst(server, baseline)
        for server in servers.values():
            server.stop()
        # one process per connection: what does each cost?
        servers = start(python, [s for s in chosen if s[3] is not None], sleepy=True)
        for label, _, _, busy in chosen:
            if busy is not None:
                result['memory'][label] = memory(servers[label], args.in_flight, busy)
                servers.pop(label).stop()
                progress('run %d/%d: %s: %.1f MiB per connection' % (
                    run + 1, args.runs, label, result['memory'][label][0]))
        # a thousand idle clients: one design at a time, each on a fresh server
        for label, how, peer, busy in chosen:
            if label in IDLE:
                servers = start(python, [(label, how, peer, busy)])
                kind = 'processes' if busy is not None else \
                    'threads' if label in (THREADS, WSGI_THREADS) else None
                result['idle'][label] = held(servers[label], args.idle, kind)
                servers.pop(label).stop()
                now = result['idle'][label]['held']
                progress('run %d/%d: %s: %d idle clients: %.1f KiB each, %s, %s' % (
                    run + 1, args.runs, label, args.idle,
                    result['idle'][label]['kib_per_connection'],
                    plural(now['processes'], 'process'), plural(now['threads'], 'thread')))
    finally:
        for server in servers.values():
            server.stop()
    return result


# The results ----------------------------------------------------------------

def machine():
    model = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            model = re.search(r'^model name\s*:\s*(.*)$', f.read(), re.M).group(1).strip()
    except (OSError, AttributeError):
        pass
    return '%s, %d cores, %s %s' % (model, os.cpu_count(), platform.system(),
                                    platform.release())


def idle_results(runs):
    """The idle clients' measurement over the runs: medians; the slowest
    request that came back, and how many did not."""
    def median(values):
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else None
    out = {'kib_per_connection': median(r['kib_per_connection'] for r in runs),
           'per_connection_of': runs[0]['per_connection_of'],
           'dropped': max(r['dropped'] for r in runs), 'seconds': median(
               r['seconds'] for r in runs)}
    for when in ('before', 'held'):
        answered = [[ms for ms in r[when]['ms'] if ms is not None] for r in runs]
        out[when] = {key: median(r[when][key] for r in runs)
                     for key in ('pss_mib', 'anon_mib', 'processes', 'threads')}
        out[when].update(ms=median(median(ms) for ms in answered),
                         slowest_ms=max(sum(answered, []), default=None),
                         unanswered=sum(r[when]['ms'].count(None) for r in runs))
    return out


COSTS = ('child_faults', 'child_cpu_ms', 'parent_faults', 'parent_cpu_ms')


def total_faults(cost):
    """A request's page faults in all the server's processes: the child's
    (none for a server that forks no child per connection) and the parent's."""
    return (cost['child_faults'] or 0) + cost['parent_faults']


def total_cpu(cost):
    return (cost['child_cpu_ms'] or 0) + cost['parent_cpu_ms']


def ratio(a, b):
    """a / b, or None where b is 0 (the table says why, from the rates)."""
    return a / b if b else None


def results(args, chosen, generator, runs, notes, env):
    """The runs, as pictures/bench.json holds them."""
    def each(key, label):
        return [run[key][label] for run in runs]

    def median(values):
        return statistics.median(values) if values else None

    servers = []
    for label, (name, _), peer, busy in chosen:
        forking = busy is not None
        rps = {str(c): [run['rps'][label][str(c)] for run in runs] for c in args.levels}
        bursts = each('bursts', label)
        servers.append({
            'name': label, 'script': name, 'peer': peer, 'forking': forking,
            'rps': rps,
            'memory': {'private_mib': median([m[0] for m in each('memory', label)]),
                       'pss_mib': median([m[1] for m in each('memory', label)])}
            if forking else None,
            # the children's and the parent's for a forking server; for the
            # others their processes' own, and no children's
            'per_request': {key: median([c[key] for c in each('per_request', label)])
                            if forking or key.startswith('parent') else None
                            for key in COSTS},
            # all its processes' faults and CPU per request, run by run (the
            # ratios to the peer's), and the requests and CPU clock ticks they
            # were counted over
            'per_request_runs': [{'faults': total_faults(c), 'cpu_ms': total_cpu(c),
                                  'requests': c['requests'], 'ticks': c['ticks']}
                                 for c in each('per_request', label)],
            'ceiling_fraction': {str(args.compared): [
                run['rps'][label][str(args.compared)] / max(run['ceiling'])
                for run in runs]} if forking else None,
            'failures': sum(each('failures', label)),
            'burst': {'seconds': median([b[0] for b in bursts]),
                      'failed': max(b[1] for b in bursts),
                      'zombies': max(b[2] for b in bursts),
                      'fd_leak': max(b[3] for b in bursts)},
            'idle': idle_results([run['idle'][label] for run in runs])
            if label in runs[0]['idle'] else None,
        })
    names = [s['name'] for s in servers]
    pairs = [(a, b) for a, b in PAIRS if a in names and b in names]
    generators = {'bench': {
        'clients': args.compared,
        'rps': {a: [run['rps'][a][str(args.compared)] for run in runs]
                for pair in pairs for a in pair},
        'ratios': {'%s / %s' % (a, b): [ratio(run['rps'][a][str(args.compared)],
                                              run['rps'][b][str(args.compared)])
                                        for run in runs] for a, b in pairs}}}
    if generator:
        generators[generator] = {
            'clients': args.compared,
            'rps': {a: [run['second'][a] for run in runs] for pair in pairs for a in pair},
            'ratios': {'%s / %s' % (a, b): [ratio(run['second'][a], run['second'][b])
                                            for run in runs] for a, b in pairs}}
    return rounded({
        'python': platform.python_version(), 'machine': machine(),
        'environment': env,
        'date': datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d'),
        'runs': len(runs),
        'settings': {'seconds': args.seconds, 'requests': args.requests,
                     'rounds': args.rounds, 'clients': args.levels,
                     'compared': args.compared, 'burst': args.burst,
                     'in_flight': args.in_flight, 'idle': args.idle},
        'ceiling': {'forks_per_s': [max(run['ceiling']) for run in runs],
                    'samples': [run['ceiling'] for run in runs],
                    'serial_forks_per_s': [statistics.median(run['serial']) for run in runs],
                    'per_fork': {key: median([run['ceiling_cost'][key] for run in runs])
                                 for key in COSTS}},
        'servers': servers,
        'load_generators': generators,
        'notes': notes,
    })


def rounded(data):
    """data with every float to 4 decimals: the JSON stays readable, and the
    README renders from the same values as stdout."""
    if isinstance(data, float):
        return round(data, 4)
    if isinstance(data, dict):
        return {key: rounded(value) for key, value in data.items()}
    if isinstance(data, list):
        return [rounded(value) for value in data]
    return data


# Rendering: the README's blocks, from the results alone ----------------------

def span(values, form='%.2f', suffix=''):
    """min-max of values (one value if they round alike)."""
    low, high = form % min(values), form % max(values)
    return (low if low == high else low + '–' + high) + suffix


def times(values):
    return span(values, '%.2f', '×')


def percent(values):
    return span([v * 100 for v in values], '%.0f', ' %')


def plural(n, word):
    return '%d %s%s' % (n, word, '' if n == 1 else 'es' if word.endswith('s') else 's')


# Why a ratio has no value, by what its side lacks
NOTHING = {'faults': 'no page fault counted', 'rps': 'no request served',
           'forks': 'no fork made',
           'cpu_ms': 'CPU under one clock tick (%g ms) in all' % (1000.0 / TICK)}


def divided(mine, theirs, names, what):
    """times() of mine / theirs, run by run; where a side is 0 or missing in
    a run, '– (NAME: why)' naming that side instead."""
    for values, name in ((theirs, names[1]), (mine, names[0])):
        if not values or None in values or 0 in values:
            return '– (%s: %s)' % (name, NOTHING[what] if values else 'not measured')
    return times([a / b for a, b in zip(mine, theirs)])


def cost_ratio(server, peer, key):
    """server's faults ('faults') or CPU ('cpu_ms') per request over its
    peer's, all their processes together: run by run, or from the medians in
    results that have no runs of them; '– (why)' where a side is 0 or missing."""
    mine, theirs = server.get('per_request_runs'), peer.get('per_request_runs')
    if not (mine and theirs):
        total = total_faults if key == 'faults' else total_cpu
        mine, theirs = ([{key: total(s['per_request'])}] if s.get('per_request') else []
                        for s in (server, peer))
    return divided([run[key] for run in mine], [run[key] for run in theirs],
                   (short(server['name']), short(peer['name'])), key)


def short(name):
    """'3i' for '3i (hello app)'; another server's name as it is."""
    return name.split()[0] if name[:2] in ('3a', '3g', '3h', '3i') else name


def render(data):
    """{block name: its text} for BENCHMARK.md and stdout."""
    settings, servers = data['settings'], data['servers']
    by_name = {s['name']: s for s in servers}
    levels, compared = settings['clients'], str(settings['compared'])
    ceiling = data['ceiling']
    blocks = {}

    def row(cells):
        return '| ' + ' | '.join(cells) + ' |'

    env = data.get('environment')
    lines = ['%s, Python %s%s, %s: %s of %s of %g s%s per server and client count; '
             'req/s and costs are medians over the runs, ratios their range.' % (
                 data['machine'], data['python'], ' (%s)' % described(env) if env else '',
                 data['date'],
                 plural(data['runs'], 'run'), plural(settings['rounds'], 'round'),
                 settings['seconds'], ' and at least %d requests' % settings['requests']
                 if settings.get('requests') else ''), '']
    # Three narrow tables, not one wide one: each fits a page without scrolling
    speed = [row(['server'] + ['req/s, %s' % plural(c, 'client') for c in levels] +
                 ['vs peer (%s)' % plural(int(compared), 'client'),
                  'of ceiling (%s)' % plural(int(compared), 'client')]),
             '|---|' + '---:|' * (len(levels) + 2)]
    robust = [row(['server', 'failures', '%d-client burst: s' % settings['burst'],
                   'failed', 'zombies', 'fd leak']), '|---|' + '---:|' * 5]
    cost = [row(['server', 'MiB per connection (PSS), %d in flight' % settings['in_flight'],
                 'child faults per request', 'child CPU per request, ms',
                 'own faults per request', 'own CPU per request, ms',
                 'faults per request vs peer', 'CPU per request vs peer']),
            '|---|' + '---:|' * 7]

    def cost_cells(cost):
        return ['' if cost['child_faults'] is None else '%.0f' % cost['child_faults'],
                '' if cost['child_cpu_ms'] is None else '%.2f' % cost['child_cpu_ms'],
                '%.0f' % cost['parent_faults'], '%.2f' % cost['parent_cpu_ms']]

    for s in servers:
        peer = by_name.get(s['peer'])
        burst = s['burst']
        speed.append(row(
            [s['name']] +
            ['%.0f' % statistics.median(s['rps'][str(c)]) for c in levels] +
            [divided(s['rps'][compared], peer['rps'][compared],
                     (short(s['name']), short(peer['name'])), 'rps') if peer else '',
             percent(s['ceiling_fraction'][compared]) if s['ceiling_fraction'] else '']))
        robust.append(row([s['name'], '%d' % s['failures'], '%.1f' % burst['seconds'],
                           '%d' % burst['failed'], '%d' % burst['zombies'],
                           '%d' % burst['fd_leak']]))
        if s['per_request']:
            cost.append(row([s['name'], '%.1f (%.1f)' % (
                s['memory']['private_mib'], s['memory']['pss_mib'])
                if s['memory'] else ''] + cost_cells(s['per_request']) +
                [cost_ratio(s, peer, key) if peer else '' for key in ('faults', 'cpu_ms')]))
    ceiling_name = 'ceiling: fork, _exit, reap'
    speed.append(row([ceiling_name] + [''] * len(levels) + ['', '100 %']))
    cost.append(row([ceiling_name, ''] + cost_cells(ceiling['per_fork']) + ['', '']))
    lines += speed + [''] + robust + [''] + cost
    blocks['table'] = '\n'.join(lines) + '\n'

    held = [s for s in servers if s.get('idle')]
    n = settings.get('idle')
    lines = [row(['server, %d idle clients' % (n or 0), 'processes', 'threads',
                  'PSS, MiB: none → all held', 'of it anonymous, MiB',
                  'KiB per idle connection', 'one more request, ms (slowest)', 'dropped']),
             '|---|' + '---:|' * 7]

    def ms(value):
        return '–' if value is None else '%.1f' % value
    for s in held:
        idle = s['idle']
        before, now = idle['before'], idle['held']
        lines.append(row([
            s['name'], '%d' % now['processes'], '%d' % now['threads'],
            '%.1f → %.1f' % (before['pss_mib'], now['pss_mib']),
            '' if now.get('anon_mib') is None else
            '%.1f → %.1f' % (before['anon_mib'], now['anon_mib']),
            '%.0f' % idle['kib_per_connection'],
            '%s → %s (%s)' % (ms(before['ms']), ms(now['ms']), ms(max(
                before['slowest_ms'] or 0, now['slowest_ms'] or 0))),
            '%d' % (idle['dropped'] + before['unanswered'] + now['unanswered'])]))
    blocks['idle'] = '\n'.join(lines) + '\n' if held else 'No idle clients measured.\n'

    generators = data['load_generators']
    second = [name for name in generators if name != 'bench']
    lines = [row(['step / peer, %s at once' % plural(int(compared), 'client'),
                  "the bench's clients"] +
                 [GENERATOR[name] % compared for name in second]),
             '|---|---:|' + '---:|' * len(second)]

    def pair_ratio(generator, pair):
        a, b = pair.split(' / ')
        rps = generator['rps']
        return divided(rps.get(a), rps.get(b), (short(a), short(b)), 'rps')
    for pair in generators['bench']['ratios']:
        lines.append(row([pair] + [pair_ratio(generators[name], pair)
                                   for name in ['bench'] + second]))
    if not second:
        lines += ['', data.get('generator_note', 'No second load generator.')]
    blocks['clients'] = '\n'.join(lines) + '\n'

    def served(a, b):
        """a's requests per second over b's."""
        return divided(by_name[a]['rps'][compared], by_name[b]['rps'][compared],
                       (short(a), short(b)), 'rps')

    facts = []
    forks, serial = ceiling['forks_per_s'], ceiling['serial_forks_per_s']
    facts.append('The ceiling: %s forks per second. One fork at a time (fork, then wait for '
                 'that child): %s per second; the ceiling is %s that.' % (
                     span(forks, '%.0f'), span(serial, '%.0f'),
                     divided(forks, serial, ('the ceiling', 'one at a time'), 'forks')))
    fractions = ['%s at %s' % (s['name'], percent(s['ceiling_fraction'][compared]))
                 for s in servers if s['ceiling_fraction']]
    facts.append('Of the ceiling, with %s: %s.' % (plural(int(compared), 'client'),
                                                   ', '.join(fractions)))
    fork = ceiling['per_fork']
    facts.append('A fork whose child exits at once costs the child %.0f page faults and '
                 '%.2f ms of CPU, the parent %.0f faults and %.2f ms.' % (
                     fork['child_faults'], fork['child_cpu_ms'], fork['parent_faults'],
                     fork['parent_cpu_ms']))
    for step in ('3g', '3h (hello app)', '3i (hello app)'):
        s = by_name.get(step)
        if s and s['per_request']:
            cost = s['per_request']
            facts.append('%s\'s child takes %.0f faults and %.2f ms of CPU per request, its '
                         'parent %.2f ms.' % (step.split()[0], cost['child_faults'],
                                              cost['child_cpu_ms'], cost['parent_cpu_ms']))
    bare, hardened = by_name.get('3h (hello app)'), by_name.get('3i (hello app)')
    if bare and hardened:  # what the hardening costs per request
        pair = '3h (hello app) / 3i (hello app)'
        facts.append(
            '3h / 3i, the same hello app served without and with the hardening: %s the '
            'requests per second (%s%s); per request, %s the page faults and %s the CPU '
            '(child and parent together).' % (
                served(bare['name'], hardened['name']),
                plural(int(compared), 'client'),
                ''.join(', %s with %s' % (pair_ratio(generators[name], pair),
                                          GENERATOR[name] % compared)
                        for name in second if pair in generators[name]['ratios']),
                cost_ratio(bare, hardened, 'faults'),
                cost_ratio(bare, hardened, 'cpu_ms')))
    mib = ['%.1f MiB for %s' % (s['memory']['private_mib'], s['name'])
           for s in servers if s['memory']]
    if mib:
        facts.append('Memory of its own per connection: %s.' % ', '.join(mib))
    if '3a (iterative)' in by_name and '3g' in by_name:
        facts.append('3a serves %s as many requests per second as 3g (%s).' % (
            served('3a (iterative)', '3g'),
            plural(int(compared), 'client')))
    for prefork, forked in [('prefork, 2 workers', '3g'),
                            ('gunicorn, 2 sync workers', '3i (hello app)')]:
        if prefork in by_name and forked in by_name:
            facts.append('%s serves %s as many as %s.' % (
                prefork, served(prefork, forked),
                forked.split()[0]))
    for design, step in [(THREADS, '3g'), (LOOP, '3g'), (WSGI_THREADS, '3i (hello app)')]:
        if design in by_name and step in by_name:
            facts.append('%s serves %s as many as %s.' % (
                design, served(design, step),
                step.split()[0]))
    if held:
        facts.append('With %d idle clients connected at once: %s.' % (n, ', '.join(
            '%s in %s and %s, %.1f MiB (%.0f KiB each)' % (
                s['name'], plural(s['idle']['held']['processes'], 'process'),
                plural(s['idle']['held']['threads'], 'thread'), s['idle']['held']['pss_mib'],
                s['idle']['kib_per_connection']) for s in held)))
    facts += data['notes']
    blocks['facts'] = ''.join('- %s\n' % fact for fact in facts)
    return blocks


def embed(text, blocks):
    """README text with every bench block replaced by the one rendered."""
    return BLOCK.sub(lambda m: m.group(1) + blocks[m.group(2)] + m.group(4), text)


def embedded(text):
    """{name: the block as the README has it}."""
    return {m.group(2): m.group(3) for m in BLOCK.finditer(text)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seconds', type=float, default=1.5,
                        help='length of one measurement (default 1.5)')
    parser.add_argument('--requests', type=int, default=100,
                        help='and at least this many requests per server and client count '
                             '(default 100): what a request costs is counted in clock ticks '
                             'of CPU, so it rests on a number of requests, whatever the '
                             'load')
    parser.add_argument('--rounds', type=int, default=3,
                        help='turns through every server (default 3); medians are reported')
    parser.add_argument('--runs', type=int, default=1,
                        help='repeat the whole measurement (default 1); ratios as min-max')
    parser.add_argument('--clients', default='1,8,64',
                        help='how many clients at once, for req/s (default 1,8,64)')
    parser.add_argument('--burst', type=int, default=1024,
                        help='client3.py --max-clients for the burst (default 1024)')
    parser.add_argument('--in-flight', type=int, default=256,
                        help='requests held at once to measure memory (default 256)')
    parser.add_argument('--idle', type=int, default=1000,
                        help='idle clients held at once, per design (default 1000)')
    parser.add_argument('--python', choices=('auto', 'this'), default='auto',
                        help='auto (default): if this interpreter imports more at start-up '
                             'than the standard library\'s site does (a .pth file\'s hook), '
                             'run the bench in a venv of it instead, as a learner would; '
                             'this: run it here, as it is')
    parser.add_argument('--venv', default=default_venv(),
                        help='where --python auto makes its venv, once (default %(default)s)')
    parser.add_argument('--generator', choices=('auto', 'ab', 'wrk', 'none'), default='auto',
                        help='the second load generator (default: ab, else wrk, if installed)')
    parser.add_argument('--write', action='store_true',
                        help='put the results in the README and the JSON file')
    parser.add_argument('--from-json', action='store_true',
                        help='measure nothing: render the results of the JSON file')
    parser.add_argument('--readme', default=README, help=argparse.SUPPRESS)
    parser.add_argument('--json', default=JSON, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.levels = [int(n) for n in args.clients.split(',')]
    args.compared = 8 if 8 in args.levels else args.levels[-1]

    if args.from_json:
        with open(args.json) as f:
            data = json.load(f)
    else:
        venv = learners_interpreter(args)
        if venv:  # the same bench, in the venv: its servers, clients and ceiling
            sys.stderr.flush()
            os.execv(venv, [venv, os.path.abspath(__file__)] + sys.argv[1:] +
                     ['--python', 'this'])
        data = run_all(args)
    blocks = render(data)
    for name in BLOCKS:
        print(blocks[name])
    if args.write:
        if not args.from_json:
            os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
            with open(args.json, 'w') as f:
                json.dump(data, f, indent=1)
                f.write('\n')
        with open(args.readme) as f:
            text = f.read()
        missing = set(BLOCKS) - set(embedded(text))
        if missing:
            raise SystemExit('%s has no <!-- bench %s --> block' % (
                args.readme, ' -->, <!-- bench '.join(sorted(missing))))
        with open(args.readme, 'w') as f:
            f.write(embed(text, blocks))
    return 0


def run_all(args):
    # Killed politely (as the test of this script does when interrupted), it
    # still stops its servers: measure()'s finally and support's atexit run.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(1))
    become_subreaper()  # a killed server's children come back here, to be reaped
    python = this_python()
    env = checked_environment(python.path)
    notes = []
    raised = enough_descriptors(args.idle)
    if raised:
        progress('bench: ' + raised)
        notes.append(raised)
    chosen = SERVERS
    if not gunicorn_installed():
        chosen = [s for s in SERVERS if not s[0].startswith('gunicorn')]
        notes.append('gunicorn is not installed%s (pip install gunicorn): no gunicorn row.' %
                     (' in the venv' if env['venv'] else ''))
    generator = second_generator(args.generator)
    data_note = None
    if generator is None:
        data_note = {'none': 'No second load generator (--generator none).',
                     'auto': 'Neither ab (apache2-utils) nor wrk is installed: '
                             'no second load generator.'}.get(
            args.generator, '%s is not installed: no second load generator.' % args.generator)
        progress(data_note)  # stdout: the clients table says it too
    runs = [measure(args, python, chosen, generator, run) for run in range(args.runs)]
    data = results(args, chosen, generator, runs, notes, env)
    if data_note:
        data['generator_note'] = data_note
    return data


if __name__ == '__main__':
    sys.exit(main())
