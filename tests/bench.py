"""What a fork costs: the steps against the standard library's forking servers.

    python tests/bench.py                    # a few minutes; prints the README's tables
    python tests/bench.py --write --runs 3   # the whole measurement 3 times, into the
                                             # README and pictures/bench.json
    python tests/bench.py --from-json --write  # the README again from pictures/bench.json

Not part of the pass/fail suite. Every server starts on PORT=0 with its output
in a file, the way the tests start them. For each one it measures:

- requests per second, a new connection per request (connect, send, read the
  whole response up to the server's FIN, close), with 1, 8 and 64 clients at
  once, by a load generator of our own (forked worker processes); a response
  that is not a 200 with the expected body counts as a failure;
- for the servers that fork a child per connection, what each request cost,
  from the parent's /proc/PID/stat once every child has been reaped: the
  children's page faults and CPU time (cminflt, cutime + cstime), and the
  parent's own (minflt, utime + stime), divided by the requests served;
- the same ratios of step to peer with a second load generator, ab or wrk,
  when one is installed;
- a burst of `client3.py --max-clients 1024 --read-timeout 30`: its wall time and
  failures; then, once every child has finished (and at most 2 s later, as
  ForkingTCPServer reaps only every 0.5 s), the server's zombies and how many
  more descriptors it holds than before the burst;
- for the forking servers, the memory of each child while 256 requests are in
  flight at once.

The ceiling of any fork-per-connection server in CPython: a minimal process
with 3g's imports that forks children which _exit(0) at once, reaped the way
3g reaps them (a SIGCHLD handler looping waitpid(-1, WNOHANG)). It does 3g's
forking and nothing else, so no forking server beats it; each one's rate is
reported as a fraction of it. It is sampled just before each forking server's
load in every round, and a run's ceiling is its best sample: a shared machine
only ever slows it down. The same process forking one child at a time,
waiting for each before the next, shows what the overlap is worth: there the
parent idles while its child exits.

The peers (tests/peers.py) are the standard library's: socketserver's
ForkingTCPServer doing 3g's work, and wsgiref's WSGIServer with ForkingMixIn
serving the same hello app as 3h (tests/apps/hello.py). The servers are
measured in turns (A B A B ...), and each step is compared with its peer
measured in the same rounds, because absolute numbers on a shared machine drift.
`--runs N` repeats the whole measurement N times, with fresh servers: req/s and
costs are the medians over the runs, ratios their range (min-max).

Progress goes to stderr; stdout is the tables. --write puts them, and every
sentence that carries a number, between the `<!-- bench NAME -->` and
`<!-- /bench -->` markers of README.md, and the results in pictures/bench.json;
tests/test_readme.py fails when the README's blocks are not the ones the JSON
renders to.
"""
import argparse
import datetime
import importlib.util
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from support import (  # noqa: E402  (this file runs as a script)
    HOST, ROOT, Server, connect, fd_count, proc_stat, read_until_eof, run_client3,
    this_python, wait_for)

README = os.path.join(ROOT, 'README.md')
JSON = os.path.join(ROOT, 'pictures', 'bench.json')
BLOCK = re.compile(r'(<!-- bench (\w+) -->\n)(.*?)(<!-- /bench -->)', re.S)
BLOCKS = ('table', 'clients', 'facts')  # the README's blocks, in the order printed
REQUEST = b'GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n'
TICK = os.sysconf('SC_CLK_TCK')  # the unit of utime, stime, cutime, cstime


def progress(message):
    sys.stderr.write(message + '\n')
    sys.stderr.flush()


# The load -------------------------------------------------------------------

def worker(port, seconds, expected_body, report):
    """One client: new connection per request until the time is up."""
    ok = failed = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
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


def load(port, concurrency, seconds, expected_body):
    """(requests per second, failures, requests made) with `concurrency`
    clients at once."""
    report_r, report_w = os.pipe()
    pids = []
    started = time.monotonic()
    for _ in range(concurrency):
        pid = os.fork()
        if pid == 0:
            try:
                os.close(report_r)
                worker(port, seconds, expected_body, report_w)
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
# before the next fork. It prints its forks per second, then per fork: its
# children's faults and CPU ticks and its own, from /proc/self/stat.
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


seconds, serial = float(sys.argv[1]), sys.argv[2:] == ['serial']
if not serial:
    signal.signal(signal.SIGCHLD, grim_reaper)
before, forks = counters(), 0
started = time.monotonic()
while time.monotonic() < started + seconds:
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


def fork_rate(python, seconds, serial=False):
    """(forks per second, forks, [minflt, cminflt, utime, stime, cutime, cstime])."""
    out = subprocess.run([python.path, '-u', '-c', CEILING, str(seconds)] +
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
    """Counter deltas over n requests (or forks) -> the cost of one."""
    minflt, cminflt, utime, stime, cutime, cstime = deltas
    ms = 1000.0 / TICK / max(n, 1)
    return {'child_faults': cminflt / max(n, 1), 'child_cpu_ms': (cutime + cstime) * ms,
            'parent_faults': minflt / max(n, 1), 'parent_cpu_ms': (utime + stime) * ms}


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


# One run --------------------------------------------------------------------

def gunicorn_installed():
    return importlib.util.find_spec('gunicorn') is not None


SLEEP = b'GET /?60 HTTP/1.1\r\nHost: localhost\r\n\r\n'  # hello:sleepy sleeps 60 s
HELLO = b'Hello, World!\n'
SERVERS = [
    # (label, how to start it, its peer, how to hold it busy: None if it
    # does not fork a child per connection)
    ('3a (iterative)', ('webserver3a.py', []), None, None),
    ('3g', ('webserver3g.py', []), 'ForkingTCPServer', b''),
    ('ForkingTCPServer', ('tests/peers.py', ['forkingtcp']), None, b''),
    ('prefork, 2 workers', ('tests/peers.py', ['prefork']), None, None),
    ('3h (hello app)', ('webserver3h.py', ['hello:app']), 'wsgiref + ForkingMixIn', SLEEP),
    ('wsgiref + ForkingMixIn', ('tests/peers.py', ['wsgiref', 'hello:app']), None, SLEEP),
    ('gunicorn, 2 sync workers', ('tests/peers.py', ['gunicorn', 'hello:app']), None, None),
]
PAIRS = [(label, peer) for label, _, peer, _ in SERVERS if peer]


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
              'bursts': {}, 'memory': {}}
    rps = {(label, c): [] for label, _, _, _ in chosen for c in levels}
    served = {label: 0 for label in forking}
    ceiling_forks, ceiling_deltas = 0, [0] * 6
    servers = {}
    try:
        servers = start(python, chosen)
        before = {label: counters(servers[label].pid) for label in forking}
        for r in range(args.rounds):  # A B A B ...: the same drift for everyone
            where = 'run %d/%d, round %d/%d' % (run + 1, args.runs, r + 1, args.rounds)
            result['serial'].append(fork_rate(python, args.seconds, serial=True)[0])
            progress('%s: one fork at a time: %.0f/s' % (where, result['serial'][-1]))
            for label, _, _, busy in chosen:
                if busy is not None:  # a ceiling sample beside each forking server
                    rate, forks, deltas = fork_rate(python, args.seconds)
                    result['ceiling'].append(rate)
                    ceiling_forks += forks
                    ceiling_deltas = [a + b for a, b in zip(ceiling_deltas, deltas)]
                    progress('%s: ceiling: %.0f forks/s' % (where, rate))
                line = []
                for concurrency in levels:
                    rate, failed, made = load(servers[label].port, concurrency,
                                              args.seconds, HELLO)
                    rps[label, concurrency].append(rate)
                    result['failures'][label] += failed
                    if label in served:
                        served[label] += made
                    line.append('%.0f' % rate)
                progress('%s: %s: %s req/s with %s clients' % (
                    where, label, ', '.join(line), ','.join(map(str, levels))))
        for label in forking:
            now, zombies = reaped_counters(servers[label])
            deltas = [a - b for a, b in zip(now, before[label])]
            result['per_request'][label] = costs(deltas, served[label] - zombies)
        result['ceiling_cost'] = costs(ceiling_deltas, ceiling_forks)
        for label, c in rps:
            result['rps'][label][str(c)] = statistics.median(rps[label, c])
        if generator:  # the steps and their peers only, in turns again
            rates = {label: [] for pair in PAIRS for label in pair if label in servers}
            # about as many requests as the ceiling forks in --seconds: ab
            # takes at least that long
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


def results(args, chosen, generator, runs, notes):
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
            'per_request': {key: median([c[key] for c in each('per_request', label)])
                            for key in ('child_faults', 'child_cpu_ms', 'parent_faults',
                                        'parent_cpu_ms')} if forking else None,
            'ceiling_fraction': {str(args.compared): [
                run['rps'][label][str(args.compared)] / max(run['ceiling'])
                for run in runs]} if forking else None,
            'failures': sum(each('failures', label)),
            'burst': {'seconds': median([b[0] for b in bursts]),
                      'failed': max(b[1] for b in bursts),
                      'zombies': max(b[2] for b in bursts),
                      'fd_leak': max(b[3] for b in bursts)},
        })
    names = [s['name'] for s in servers]
    pairs = [(a, b) for a, b in PAIRS if a in names and b in names]
    generators = {'bench': {
        'clients': args.compared,
        'rps': {a: [run['rps'][a][str(args.compared)] for run in runs]
                for pair in pairs for a in pair},
        'ratios': {'%s / %s' % (a, b): [run['rps'][a][str(args.compared)] /
                                        run['rps'][b][str(args.compared)] for run in runs]
                   for a, b in pairs}}}
    if generator:
        generators[generator] = {
            'clients': args.compared,
            'rps': {a: [run['second'][a] for run in runs] for pair in pairs for a in pair},
            'ratios': {'%s / %s' % (a, b): [run['second'][a] / run['second'][b]
                                            for run in runs] for a, b in pairs}}
    return rounded({
        'python': platform.python_version(), 'machine': machine(),
        'date': datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d'),
        'runs': len(runs),
        'settings': {'seconds': args.seconds, 'rounds': args.rounds, 'clients': args.levels,
                     'compared': args.compared, 'burst': args.burst,
                     'in_flight': args.in_flight},
        'ceiling': {'forks_per_s': [max(run['ceiling']) for run in runs],
                    'samples': [run['ceiling'] for run in runs],
                    'serial_forks_per_s': [statistics.median(run['serial']) for run in runs],
                    'per_fork': {key: median([run['ceiling_cost'][key] for run in runs])
                                 for key in runs[0]['ceiling_cost']}},
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
    return '%d %s%s' % (n, word, '' if n == 1 else 's')


def render(data):
    """{block name: its text} for the README and stdout."""
    settings, servers = data['settings'], data['servers']
    by_name = {s['name']: s for s in servers}
    levels, compared = settings['clients'], str(settings['compared'])
    ceiling = data['ceiling']
    blocks = {}

    def row(cells):
        return '| ' + ' | '.join(cells) + ' |'

    lines = ['%s, Python %s, %s: %s of %s of %g s per server and client count; '
             'req/s and costs are medians over the runs, ratios their range.' % (
                 data['machine'], data['python'], data['date'],
                 plural(data['runs'], 'run'), plural(settings['rounds'], 'round'),
                 settings['seconds']), '']
    # Three narrow tables, not one wide one: each fits a page without scrolling
    speed = [row(['server'] + ['req/s, %s' % plural(c, 'client') for c in levels] +
                 ['vs peer (%s)' % plural(int(compared), 'client'),
                  'of ceiling (%s)' % plural(int(compared), 'client')]),
             '|---|' + '---:|' * (len(levels) + 2)]
    robust = [row(['server', 'failures', '%d-client burst: s' % settings['burst'],
                   'failed', 'zombies', 'fd leak']), '|---|' + '---:|' * 5]
    cost = [row(['server', 'MiB per connection (PSS), %d in flight' % settings['in_flight'],
                 'child faults per request', 'child CPU per request, ms',
                 'parent faults per request', 'parent CPU per request, ms']),
            '|---|' + '---:|' * 5]

    def cost_cells(cost):
        return ['%.0f' % cost['child_faults'], '%.2f' % cost['child_cpu_ms'],
                '%.0f' % cost['parent_faults'], '%.2f' % cost['parent_cpu_ms']]

    for s in servers:
        peer = by_name.get(s['peer'])
        burst = s['burst']
        speed.append(row(
            [s['name']] +
            ['%.0f' % statistics.median(s['rps'][str(c)]) for c in levels] +
            [times([a / b for a, b in zip(s['rps'][compared], peer['rps'][compared])])
             if peer else '',
             percent(s['ceiling_fraction'][compared]) if s['ceiling_fraction'] else '']))
        robust.append(row([s['name'], '%d' % s['failures'], '%.1f' % burst['seconds'],
                           '%d' % burst['failed'], '%d' % burst['zombies'],
                           '%d' % burst['fd_leak']]))
        if s['per_request']:
            cost.append(row([s['name'], '%.1f (%.1f)' % (
                s['memory']['private_mib'], s['memory']['pss_mib'])
                if s['memory'] else ''] + cost_cells(s['per_request'])))
    ceiling_name = 'ceiling: fork, _exit, reap'
    speed.append(row([ceiling_name] + [''] * len(levels) + ['', '100 %']))
    cost.append(row([ceiling_name, ''] + cost_cells(ceiling['per_fork'])))
    lines += speed + [''] + robust + [''] + cost
    blocks['table'] = '\n'.join(lines) + '\n'

    generators = data['load_generators']
    second = [name for name in generators if name != 'bench']
    lines = [row(['step / peer, %s at once' % plural(int(compared), 'client'),
                  "the bench's clients"] +
                 [GENERATOR[name] % compared for name in second]),
             '|---|---:|' + '---:|' * len(second)]
    for pair in generators['bench']['ratios']:
        lines.append(row([pair, times(generators['bench']['ratios'][pair])] +
                         [times(generators[name]['ratios'][pair]) for name in second]))
    if not second:
        lines += ['', data.get('generator_note', 'No second load generator.')]
    blocks['clients'] = '\n'.join(lines) + '\n'

    facts = []
    forks, serial = ceiling['forks_per_s'], ceiling['serial_forks_per_s']
    facts.append('The ceiling: %s forks per second. One fork at a time (fork, then wait for '
                 'that child): %s per second; the ceiling is %s that.' % (
                     span(forks, '%.0f'), span(serial, '%.0f'),
                     times([a / b for a, b in zip(forks, serial)])))
    fractions = ['%s at %s' % (s['name'], percent(s['ceiling_fraction'][compared]))
                 for s in servers if s['ceiling_fraction']]
    facts.append('Of the ceiling, with %s: %s.' % (plural(int(compared), 'client'),
                                                   ', '.join(fractions)))
    fork = ceiling['per_fork']
    facts.append('A fork whose child exits at once costs the child %.0f page faults and '
                 '%.2f ms of CPU, the parent %.0f faults and %.2f ms.' % (
                     fork['child_faults'], fork['child_cpu_ms'], fork['parent_faults'],
                     fork['parent_cpu_ms']))
    for step in ('3g', '3h (hello app)'):
        s = by_name.get(step)
        if s and s['per_request']:
            cost = s['per_request']
            facts.append('%s\'s child takes %.0f faults and %.2f ms of CPU per request, its '
                         'parent %.2f ms.' % (step.split()[0], cost['child_faults'],
                                              cost['child_cpu_ms'], cost['parent_cpu_ms']))
    mib = ['%.1f MiB for %s' % (s['memory']['private_mib'], s['name'])
           for s in servers if s['memory']]
    if mib:
        facts.append('Memory of its own per connection: %s.' % ', '.join(mib))
    if '3a (iterative)' in by_name and '3g' in by_name:
        facts.append('3a serves %s as many requests per second as 3g (%s).' % (
            times([a / b for a, b in zip(by_name['3a (iterative)']['rps'][compared],
                                         by_name['3g']['rps'][compared])]),
            plural(int(compared), 'client')))
    for prefork, forked in [('prefork, 2 workers', '3g'),
                            ('gunicorn, 2 sync workers', '3h (hello app)')]:
        if prefork in by_name and forked in by_name:
            facts.append('%s serves %s as many as %s.' % (
                prefork, times([a / b for a, b in zip(by_name[prefork]['rps'][compared],
                                                      by_name[forked]['rps'][compared])]),
                forked.split()[0]))
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
    python = this_python()
    notes = []
    chosen = SERVERS
    if not gunicorn_installed():
        chosen = [s for s in SERVERS if not s[0].startswith('gunicorn')]
        notes.append('gunicorn is not installed (pip install gunicorn): no gunicorn row.')
    generator = second_generator(args.generator)
    data_note = None
    if generator is None:
        data_note = {'none': 'No second load generator (--generator none).',
                     'auto': 'Neither ab (apache2-utils) nor wrk is installed: '
                             'no second load generator.'}.get(
            args.generator, '%s is not installed: no second load generator.' % args.generator)
        progress(data_note)  # stdout: the clients table says it too
    runs = [measure(args, python, chosen, generator, run) for run in range(args.runs)]
    data = results(args, chosen, generator, runs, notes)
    if data_note:
        data['generator_note'] = data_note
    return data


if __name__ == '__main__':
    sys.exit(main())
