"""Run the suite again and again with cores held busy: which tests fail once?

    python tools/stress.py                          # the suite 5 times, 1 core busy
    python tools/stress.py --runs 20 --busy 1       # 20 times
    python tools/stress.py --runs 10 -k bench       # a -k selection (any pytest args)
    python tools/stress.py --runs 10 -- tests/test_bench.py -x

A test must be green on a shared machine too. This holds K cores busy (K
processes spinning in a loop, started before the first run and killed after
the last, or when it is interrupted; each also dies with this process), runs
`python -m pytest -q` with the arguments given N times, one run after the
other, and then prints every test that failed or errored at least once: how
many runs, which, and the first line of its first failure. Then the slowest
run. Exit 1 if any test failed once (or a run failed without a test to
blame: a collection error, a timeout), else 0.
"""
import argparse
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A busy core: a loop that never sleeps, and dies with its parent (prctl
# PR_SET_PDEATHSIG: SIGKILL when the process that started it ends).
SPIN = '''
import ctypes, signal
ctypes.CDLL(None).prctl(1, signal.SIGKILL)
while True:
    pass
'''


def spin(cores):
    """Start `cores` busy loops; their Popens."""
    return [subprocess.Popen([sys.executable, '-c', SPIN], stdin=subprocess.DEVNULL)
            for _ in range(cores)]


def stop(loops):
    for loop in loops:
        if loop.poll() is None:
            loop.kill()
        loop.wait()


def failures(path):
    """{test id: first line of its failure} of a pytest --junitxml report."""
    found = {}
    for case in ElementTree.parse(path).getroot().iter('testcase'):
        for problem in list(case.findall('failure')) + list(case.findall('error')):
            test = '%s::%s' % (case.get('classname', '').replace('.', '/') + '.py',
                               case.get('name'))
            message = (problem.get('message') or problem.text or '').strip()
            label = 'error' if problem.tag == 'error' else 'failed'
            found.setdefault(test, '%s: %s' % (label, message.splitlines()[0][:200]
                                               if message else '(no message)'))
    return found


def one_run(pytest_args, report, timeout):
    """(seconds, exit status, {test: first line}, last line of output)."""
    started = time.monotonic()
    run = subprocess.Popen([sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
                            '--junitxml', report] + pytest_args,
                           cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True)
    try:
        output, _ = run.communicate(timeout=timeout)
        status = run.returncode
    except subprocess.TimeoutExpired:
        # SIGTERM: pytest stops its servers as on Ctrl-C (tests/conftest.py)
        run.terminate()
        output, _ = run.communicate(timeout=60)
        status = 'timeout after %.0f s' % timeout
    finally:
        if run.poll() is None:  # interrupted: not one pytest left behind
            run.terminate()
            run.communicate(timeout=60)
    seconds = time.monotonic() - started
    failed = failures(report) if os.path.exists(report) and os.path.getsize(report) else {}
    return seconds, status, failed, output.strip().splitlines()[-1:]


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0], allow_abbrev=False,
        epilog='Any other argument goes to pytest (after -- if it looks like one of these).')
    parser.add_argument('--runs', type=int, default=5, help='how many runs (default 5)')
    parser.add_argument('--busy', type=int, default=1,
                        help='cores held busy meanwhile (default 1; 0: none)')
    parser.add_argument('--timeout', type=float, default=600,
                        help='seconds one run may take (default 600)')
    args, pytest_args = parser.parse_known_args()
    if args.runs < 1 or args.busy < 0:
        parser.error('--runs must be 1 or more, --busy 0 or more')
    if pytest_args[:1] == ['--']:
        pytest_args = pytest_args[1:]
    # Killed politely, it still kills its loops (the finally below).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(1))
    said = ' '.join(['python -m pytest -q'] + [shlex.quote(a) for a in pytest_args])
    load = ' '.join('%.2f' % n for n in os.getloadavg())  # before the loops start
    failed, times, broken = {}, [], []
    loops = spin(args.busy)
    try:
        print('stress: %s, %d run%s, %d core%s held busy%s (load average before: %s)' % (
            said, args.runs, '' if args.runs == 1 else 's', args.busy,
            '' if args.busy == 1 else 's', ' by pid ' + ', '.join(
                str(loop.pid) for loop in loops) if loops else '', load), flush=True)
        with tempfile.TemporaryDirectory(prefix='lsbaws-stress-') as directory:
            for n in range(1, args.runs + 1):
                report = os.path.join(directory, 'run-%d.xml' % n)
                seconds, status, found, last = one_run(pytest_args, report, args.timeout)
                times.append(seconds)
                for test, line in found.items():
                    failed.setdefault(test, []).append((n, line))
                if status not in (0, 1) or (status == 1 and not found):
                    broken.append((n, status, last))
                print('run %d/%d: %.1f s, %s%s' % (
                    n, args.runs, seconds, '%d failed' % len(found) if found else 'green'
                    if status == 0 else 'exit %s' % status, ': ' + ', '.join(sorted(found))
                    if found else ''), flush=True)
    finally:
        stop(loops)
    print()
    for test, runs in sorted(failed.items(), key=lambda item: (-len(item[1]), item[0])):
        print('%s: failed in %d of %d runs (%s)' % (
            test, len(runs), args.runs, ', '.join('run %d' % n for n, _ in runs)))
        print('    %s' % runs[0][1])
    for n, status, last in broken:
        print('run %d: exit %s with no failed test to blame: %s' % (
            n, status, last[0] if last else '(no output)'))
    slowest = max(range(len(times)), key=times.__getitem__)
    print('%s; slowest run: %.1f s (run %d), fastest %.1f s' % (
        'every test passed in every run' if not failed and not broken else
        '%d test%s failed at least once' % (len(failed), '' if len(failed) == 1 else 's'),
        times[slowest], slowest + 1, min(times)))
    return 1 if failed or broken else 0


if __name__ == '__main__':
    sys.exit(main())
