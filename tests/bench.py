"""What a fork costs: the steps against the standard library's forking servers.

    python tests/bench.py            # about a minute and a half; prints a markdown table

Not part of the pass/fail suite. Every server starts on PORT=0 with its output
in a file, the way the tests start them. For each one it measures:

- requests per second, a new connection per request (connect, send, read the
  whole response up to the server's FIN, close), with 1 and with 8 clients at
  once, by a load generator of our own (forked worker processes); a response
  that is not a 200 with the expected body counts as a failure;
- a burst of `client3.py --max-clients 1024 --read-timeout 30`: its wall time and
  failures; then, once every child has finished (and at most 2 s later, as
  ForkingTCPServer reaps only every 0.5 s), the server's zombies and how many
  more descriptors it holds than before the burst.

The peers (tests/peers.py) are the standard library's: socketserver's
ForkingTCPServer doing 3g's work, and wsgiref's WSGIServer with ForkingMixIn
serving the same hello app as 3h (tests/apps/hello.py). The servers are
measured in turns (A B A B ...), and each step is compared with its peer
measured in the same rounds, because absolute numbers on a shared machine drift.
The floor under any fork-per-connection server in CPython is a bare fork() +
_exit() + waitpid() loop in this process: the first line.
"""
import argparse
import importlib.util
import os
import platform
import signal
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from support import (  # noqa: E402  (this file runs as a script)
    Server, connect, fd_count, proc_stat, read_until_eof, run_client3, this_python,
    wait_for)

REQUEST = b'GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n'


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
    """(requests per second, failures) with `concurrency` clients at once."""
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
    return sum(c[0] for c in counts) / elapsed, sum(c[1] for c in counts)


def fork_floor(seconds):
    """fork() + _exit() + waitpid() per second in this process: the floor."""
    n, deadline = 0, time.monotonic() + seconds
    started = time.monotonic()
    while time.monotonic() < deadline:
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        n += 1
    return n / (time.monotonic() - started)


def idle(server):
    """Wait until the server is asleep (in accept(), or poll() for the peers)
    with no child still running (a prefork worker waits in accept()); its
    zombies are left for the caller to count."""
    wait_for(lambda: proc_stat(server.pid)[0] == 'S' and
             all(state in 'SZ' for state in server.children().values()),
             timeout=30, what='%s to be idle' % server.name)


def burst(server, python, clients):
    """client3.py --max-clients N: (seconds, failures, zombies, fd leak)."""
    idle(server)
    baseline = fd_count(server.pid)
    started = time.monotonic()
    out = run_client3(python, server.port, '--max-clients', clients,
                      '--read-timeout', 30, timeout=120)
    seconds = time.monotonic() - started
    failed = int(out.stdout.split('failed: ')[1].split(',')[0]) if 'failed: ' in out.stdout \
        else clients
    idle(server)
    try:  # ForkingTCPServer reaps on its next poll() timeout, every 0.5 s
        wait_for(lambda: not server.zombies(), timeout=2, what='no zombies')
    except AssertionError:
        pass
    return seconds, failed, len(server.zombies()), fd_count(server.pid) - baseline


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


# The run --------------------------------------------------------------------

def gunicorn_installed():
    return importlib.util.find_spec('gunicorn') is not None


SLEEP = b'GET /?60 HTTP/1.1\r\nHost: localhost\r\n\r\n'  # hello:sleepy sleeps 60 s
SERVERS = [
    # (label, how to start it, expected body, its peer, how to hold it busy)
    ('3a (iterative)', ('webserver3a.py', []), b'Hello, World!\n', None, None),
    ('3g', ('webserver3g.py', []), b'Hello, World!\n', 'ForkingTCPServer', b''),
    ('ForkingTCPServer', ('tests/peers.py', ['forkingtcp']), b'Hello, World!\n', None, b''),
    ('prefork, 2 workers', ('tests/peers.py', ['prefork']), b'Hello, World!\n', None, None),
    ('3h (hello app)', ('webserver3h.py', ['hello:app']), b'Hello, World!\n',
     'wsgiref + ForkingMixIn', SLEEP),
    ('wsgiref + ForkingMixIn', ('tests/peers.py', ['wsgiref', 'hello:app']),
     b'Hello, World!\n', None, SLEEP),
    ('gunicorn, 2 sync workers', ('tests/peers.py', ['gunicorn', 'hello:app']),
     b'Hello, World!\n', None, None),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seconds', type=float, default=1.5,
                        help='length of one measurement (default 1.5)')
    parser.add_argument('--rounds', type=int, default=3,
                        help='turns through every server (default 3); medians are reported')
    parser.add_argument('--clients', default='1,8,64',
                        help='how many clients at once, for req/s (default 1,8,64)')
    parser.add_argument('--burst', type=int, default=1024,
                        help='client3.py --max-clients for the burst (default 1024)')
    parser.add_argument('--in-flight', type=int, default=256,
                        help='requests held at once to measure memory (default 256)')
    args = parser.parse_args()
    levels = [int(n) for n in args.clients.split(',')]
    # Killed politely (as the test of this script does when interrupted), it
    # still stops its servers: the finally below and support's atexit run.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(1))

    python = this_python()
    apps = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'apps')
    notes = []
    chosen = SERVERS
    if not gunicorn_installed():
        chosen = [s for s in SERVERS if not s[0].startswith('gunicorn')]
        notes.append('gunicorn is not installed (pip install gunicorn): no gunicorn row.')
    servers = {}
    try:
        for label, (name, server_args), body, peer, busy in chosen:
            servers[label] = Server(python, name, args=server_args, cwd=apps).started()
        floor = fork_floor(args.seconds)
        rps = {(label, c): [] for label in servers for c in levels}
        failures = {label: 0 for label in servers}
        for _ in range(args.rounds):  # A B A B ...: the same drift for everyone
            for concurrency in levels:
                for label, _, body, _, _ in chosen:
                    rate, failed = load(servers[label].port, concurrency, args.seconds, body)
                    rps[label, concurrency].append(rate)
                    failures[label] += failed
        bursts = {label: burst(servers[label], python, args.burst) for label in servers}
        for server in servers.values():
            server.stop()
        servers = {}
        memories = {}
        for label, (name, server_args), _, _, busy in chosen:
            if busy is not None:  # one process per connection: what does each cost?
                if busy:  # the same app, asleep
                    server_args = [a.replace('hello:app', 'hello:sleepy') for a in server_args]
                servers[label] = Server(python, name, args=server_args, cwd=apps).started()
                memories[label] = memory(servers[label], args.in_flight, busy)
                servers.pop(label).stop()
    finally:
        for server in servers.values():
            server.stop()

    median = {key: statistics.median(values) for key, values in rps.items()}
    compared = 8 if 8 in levels else levels[-1]
    print('## What a fork costs\n')
    print('%s, %d cores, Python %s, %d rounds of %.1f s; fork()+_exit()+waitpid() '
          'floor: **%.0f/s**.\n' % (platform.platform(terse=True), os.cpu_count(),
                                    platform.python_version(), args.rounds, args.seconds,
                                    floor))
    print('| server | %s | vs peer (%d clients) | failures | %d-client burst: s | failed '
          '| zombies | fd leak | MiB per connection (PSS), %d in flight |' % (
              ' | '.join('req/s, %d client%s' % (c, 's' if c > 1 else '') for c in levels),
              compared, args.burst, args.in_flight))
    print('|---|%s---:|---:|---:|---:|---:|---:|---:|' % ('---:|' * len(levels)))
    for label, _, _, peer, _ in chosen:
        ratio = ('%.2f×' % (median[label, compared] / median[peer, compared])) if peer else ''
        seconds, failed, zombies, leak = bursts[label]
        mib = ('%.1f (%.1f)' % memories[label]) if label in memories else ''
        print('| %s | %s | %s | %d | %.1f | %d | %d | %d | %s |' % (
            label, ' | '.join('%.0f' % median[label, c] for c in levels), ratio,
            failures[label], seconds, failed, zombies, leak, mib))
    for note in notes:
        print('\n' + note)
    return 0


if __name__ == '__main__':
    sys.exit(main())
