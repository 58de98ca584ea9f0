"""The README's hands-on path, walked as a learner walks it: a fresh clone
with a venv inside it, real terminals (interactive bash in ptys), every
`<!-- try NAME -->` block's commands typed as the README writes them, one
block after the other in the same terminals, and what the README says each
shows checked on the screen. Only SLEEP_SECONDS is shortened, through the
terminals' environment; the servers listen on 8888, as typed.

It takes about a minute, so it has a marker of its own, outside the default
run: `python -m pytest -m walkthrough` (CI runs it after the suite).
"""
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from support import (
    ROOT, Terminal, cmdline, children, require_dev, unprivileged_pythons, wait_for, wchan,
    zombies)

pytestmark = pytest.mark.walkthrough

SLEEP = 2  # SLEEP_SECONDS for 3b, 3c, 3e: seconds, where the README says 60 and 3
with open(os.path.join(ROOT, 'README.md')) as f:
    README = f.read()
# README.ru.md says `# терминал N`: its commands are README.md's (test_readme_ru.py)
HEADER = re.compile(r'^# (?:terminal|терминал) (\d+)([^:#]*)(: Ctrl-C)?')


def typed(body):
    """[(terminal, Ctrl-C first?, line)] of a try block's body: a `# terminal
    N` line says where the lines below it are typed, and `# terminal N:
    Ctrl-C` that Ctrl-C is pressed there first."""
    steps, terminal, ctrl_c = [], None, False
    for line in body.splitlines():
        header = HEADER.match(line)
        if header:
            terminal, ctrl_c = int(header.group(1)), bool(header.group(3))
            if ctrl_c and line.split('#')[2:]:  # `# terminal 1: Ctrl-C  # what it shows`
                steps.append((terminal, True, None))
                ctrl_c = False
        elif not line.startswith('#'):  # `#   what it shows`, on a line of its own
            steps.append((terminal, ctrl_c, line))
            ctrl_c = False
    return steps


def blocks(text):
    """{name: typed(body)} of every `<!-- try NAME -->` block."""
    return {name: typed(body) for name, body
            in re.findall(r'<!-- try ([\w-]+) -->\n```sh\n(.*?)```', text, re.S)}


BLOCKS = blocks(README)


def fresh_clone():
    """A clone of this repository, with the work tree's changes in it, that
    nobody can read too (for the ulimit -u demo)."""
    place = tempfile.mkdtemp(prefix='lsbaws-walk-')
    os.chmod(place, 0o755)
    clone = os.path.join(place, 'lsbaws')
    subprocess.run(['git', 'clone', '-q', ROOT, clone], check=True)
    tracked = subprocess.run(['git', 'ls-files'], cwd=ROOT, check=True,
                             stdout=subprocess.PIPE, universal_newlines=True).stdout.split()
    for name in tracked:  # what is not committed yet is walked too
        if os.path.isfile(os.path.join(ROOT, name)):
            shutil.copy(os.path.join(ROOT, name), os.path.join(clone, name))
    for directory, dirs, files in os.walk(clone):
        os.chmod(directory, 0o755)
    return place, clone


class Walk(object):
    """The learner's terminals, and the README blocks typed into them."""

    def __init__(self, clone, nobody_bin):
        env = {'SLEEP_SECONDS': str(SLEEP)}
        self.clone = clone
        self.terminals = {n: Terminal(clone, env=env) for n in (1, 2, 3)}
        self.nobody = Terminal(clone, env=env, user='nobody', path_first=nobody_bin)
        self.typed = []

    def block(self, name, swap=None):
        """The block's steps, to be typed in order with .next()."""
        assert name in BLOCKS, 'README has no <!-- try %s --> block' % name
        self.steps = list(BLOCKS[name])
        self.name, self.swap = name, swap or {}
        return self

    def terminal(self, n):
        return self.swap.get(n) or self.terminals[n]

    def next(self, pattern, wait=True, timeout=30):
        """Type the block's next line, which must match pattern; with wait,
        wait for the prompt. (terminal, what it printed)."""
        assert self.steps, '%s: no line left for %r' % (self.name, pattern)
        n, ctrl_c, line = self.steps.pop(0)
        terminal = self.terminal(n)
        if ctrl_c:
            stopped = self.ctrl_c(terminal)
        if line is None:
            return terminal, stopped
        assert re.search(pattern, line), '%s: %r does not match %r' % (self.name, line, pattern)
        if terminal.busy:  # a server still runs there: a learner stops it first
            self.ctrl_c(terminal)
        if not wait:
            terminal.type(line)
            return terminal, None
        return terminal, terminal.run(line, timeout)

    def server(self, pattern, banner=r'Serving HTTP on port 8888 \.\.\.'):
        """Type the line that starts a server; (terminal, its pid) once it is
        in accept()."""
        terminal, _ = self.next(pattern, wait=False)
        terminal.expect(banner)
        pid = terminal.process(r'python[\d.]* (\.\./\.\./)?webserver3\w\.py')
        wait_for(lambda: wchan(pid) == 'inet_csk_accept', what='the server in accept()')
        return terminal, pid

    def answered(self, pattern=r'^curl http://localhost:8888/hello'):
        """Type the block's next line, a curl, and wait for its Hello, World!
        without waiting for it to end: the terminal it runs in."""
        terminal, _ = self.next(pattern, wait=False)
        terminal.expect(r'Hello, World!')
        return terminal

    @staticmethod
    def ctrl_c(terminal):
        """Ctrl-C, if a command runs there: what it printed then."""
        if terminal.busy:
            terminal.interrupt()
            return terminal.prompt()

    def done(self):
        assert not self.steps, '%s: lines not walked: %r' % (self.name, self.steps)

    def stop(self):
        for terminal in list(self.terminals.values()) + [self.nobody]:
            terminal.stop()


def ps_rows(text):
    """[(pid, ppid, stat, args)] of ps output."""
    return [(int(m.group(1)), int(m.group(2)), m.group(3), m.group(4))
            for m in re.finditer(r'^ *(\d+) +(\d+) +(\S+) +(.*)$', text, re.M)]


def idle(pid):
    wait_for(lambda: wchan(pid) == 'inet_csk_accept' and
             all(state == 'Z' for state in children(pid).values()),
             what='the server to be idle')


@pytest.fixture(scope='module')
def walk():
    require_dev('pexpect', what='the walk-through (real terminals)')
    for host in '127.0.0.1', '0.0.0.0':
        with socket.socket() as probe:
            # as the steps bind: connections of a run before in TIME_WAIT do not count
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, 8888))
            except OSError as e:
                pytest.fail('port 8888 is taken (%s): the walk-through types the '
                            "README's commands as written" % e)
    nobody = unprivileged_pythons([])
    assert nobody or os.geteuid() != 0, 'as root, the ulimit -u demo needs /usr/bin/python3'
    place, clone = fresh_clone()
    bin_dir = None
    if os.geteuid() == 0:  # nobody's own python, outside /root
        bin_dir = os.path.join(place, 'bin')
        os.mkdir(bin_dir)
        os.chmod(bin_dir, 0o755)
        os.symlink(nobody[0].path, os.path.join(bin_dir, 'python'))
    walk = Walk(clone, bin_dir)
    try:
        venv = re.search(r'`(python -m venv \.venv && \. \.venv/bin/activate)`', README).group(1)
        walk.terminals[1].run(venv, timeout=60)
        for n in 2, 3:
            walk.terminals[n].run(venv.split(' && ')[1])
        assert walk.terminals[2].run('python -c "import sys; print(sys.prefix)"').strip() \
            == os.path.join(clone, '.venv')
        yield walk
    finally:
        walk.stop()
        shutil.rmtree(place, ignore_errors=True)


def test_try_it_3g_answers_and_leaves_no_zombie(walk):
    w = walk.block('3g')
    t1, server = w.server(r'^python webserver3g\.py')
    assert 'Hello, World!' in w.next(r'^curl http://localhost:8888/hello')[1]
    out = w.next(r'^python client3\.py --max-clients 128', timeout=60)[1]
    assert 'clients: 128, connections: 128, failed: 0' in out, out
    wait_for(lambda: not children(server), what='3g to reap every child')
    out = w.next(r'^ps auxw \| grep -i python \| grep -v grep')[1]
    assert 'webserver3g.py' in out and '<defunct>' not in out, out
    w.done()


def test_try_it_3f_leaves_zombies(walk):
    w = walk.block('3f')
    t1, server = w.server(r'^python webserver3f\.py')
    client = w.next(r'^python client3\.py --max-clients 128', timeout=60)[1]
    assert 'failed: 0' in client, client
    for attempt in range(3):  # as the README says: if none, run the client again
        wait_for(lambda: all(state == 'Z' for state in children(server).values()),
                 what='3f to finish its children')
        if zombies(server):
            break
        walk.terminals[2].run(BLOCKS['3f'][1][2], timeout=60)
    out = w.next(r'^ps auxw \| grep -i python \| grep -v grep')[1]
    assert re.search(r' Z\+ .*\[python[\d.]*\] <defunct>', out), out
    w.done()


def test_3b_two_curls_both_wait_for_the_sleep(walk):
    w = walk.block('3b')
    t1, server = w.server(r'^python webserver3b\.py')
    t2 = w.answered()
    answered = time.monotonic()
    out = w.next(r'^ps auxw \| grep webserver3b \| grep -v grep')[1]
    assert len([line for line in out.splitlines() if 'webserver3b.py' in line]) == 1, out
    t3, _ = w.next(r'^curl http://localhost:8888/hello', wait=False)
    typed = time.monotonic()
    t2.prompt()
    assert time.monotonic() - answered > SLEEP * 0.75  # the first ends with the sleep
    t3.expect(r'Hello, World!')
    assert time.monotonic() - typed > SLEEP * 0.5  # the second waited for it
    t3.prompt()
    w.done()


def test_3c_ps_shows_a_child_per_client(walk):
    w = walk.block('3c')
    t1, server = w.server(r'^python webserver3c\.py')
    t1.expect(r'Parent PID \(PPID\): %d' % server)
    t2, _ = w.next(r'^curl .* & curl .* &$')
    wait_for(lambda: t2.screen.count('Hello, World!') >= 2, what='both answers at once')
    w.next(r'^P=\$\(pgrep -of ')
    rows = ps_rows(w.next(r'^ps -o pid,ppid,stat,args --ppid \$P -p \$P')[1])
    assert [(pid, ppid) for pid, ppid, stat, args in rows if pid == server] == [
        (server, t1.pid)], rows
    kids = [args for pid, ppid, stat, args in rows if ppid == server]
    assert len(kids) == 2 and all(args.endswith('webserver3c.py') for args in kids), rows
    w.next(r'^wait\b', timeout=SLEEP + 30)
    w.done()


def test_3d_curl_hangs_and_kill_9_leaves_the_zombies(walk):
    w = walk.block('3d')
    t1, server = w.server(r'^python webserver3d\.py')
    t2 = w.answered()
    time.sleep(SLEEP)  # longer than any step sleeps: still no FIN
    assert t2.busy and t2.PROMPT not in t2.screen.split('Hello, World!')[-1]
    out = w.next(r'^python client3\.py --max-clients 3')[1]
    assert 'clients: 3, connections: 3, failed: 0' in out, out
    wait_for(lambda: len(zombies(server)) == 4, what="4 zombies (curl's and 3 more)")
    idle(server)
    w.next(r'^P=\$\(pgrep -of ')
    ps = r'^ps -o pid,ppid,stat,args --ppid \$P -p \$P'
    before = ps_rows(w.next(ps)[1])
    dead = [row for row in before if row[1] == server]
    assert len(dead) == 4 and all(stat == 'Z+' for _, _, stat, _ in dead), before
    w.next(r'^kill -9 \$\(ps -o pid= --ppid \$P\)')
    idle(server)
    assert ps_rows(w.next(ps)[1]) == before
    w.done()


def test_3d_both_limits_one_after_the_other_in_one_terminal(walk):
    # terminal 1 is nobody's here: root is exempt from ulimit -u
    w = walk.block('3d-limits', swap={1: walk.nobody})
    walk.ctrl_c(walk.terminals[1])
    t1, server = w.server(r'^\(ulimit -n 256; python webserver3d\.py\)')
    out = w.next(r'^python client3\.py --max-clients=300', timeout=90)[1]
    assert 'Connection refused' in out, out
    t1.expect(r'^252\n')
    t1.expect(r'OSError: \[Errno 24\] Too many open files')
    t1.prompt()
    t1, server = w.server(r'^\(ulimit -u 400 -n 500; python webserver3d\.py\)')
    out = w.next(r'^python client3\.py --max-clients=500', timeout=120)[1]
    assert 'clients: 500' in out, out
    t1.expect(r'BlockingIOError: \[Errno 11\] Resource temporarily unavailable', timeout=60)
    t1.prompt()
    assert 'cannot modify limit' not in t1.screen
    w.done()


def test_3e_dies_of_eintr_on_python_2(walk):
    w = walk.block('3e')
    t1, server = w.server(r'^PYENV_VERSION=2\.7\.18 pyenv exec python webserver3e\.py')
    assert cmdline(server).endswith('2.7.18/bin/python webserver3e.py'), cmdline(server)
    assert 'Hello, World!' in w.next(r'^curl http://localhost:8888/hello')[1]
    t1.expect(r'^socket\.error: \[Errno 4\] Interrupted system call$', timeout=SLEEP + 30)
    t1.prompt()
    w.done()


def test_3h_serves_a_wsgi_app(walk):
    w = walk.block('3h')
    t1, server = w.server(r'^python webserver3h\.py tests\.apps\.hello:app')
    assert 'Hello, World!' in w.next(r'^curl http://localhost:8888/hello')[1]
    w.done()


def test_3i_serves_an_app_from_its_own_folder_and_stops_on_ctrl_c(walk):
    w = walk.block('3i')
    t1, server = w.server(r'^cd tests/apps && python \.\./\.\./webserver3i\.py hello:app')
    assert 'Hello, World!' in w.next(r'^curl http://localhost:8888/')[1]
    assert 'WSGIServer: stopped' in w.next('')[1]  # terminal 1: Ctrl-C
    w.done()


def test_every_try_block_is_walked():
    walked = re.findall(r"walk\.block\('([\w-]+)'", open(__file__).read())
    assert sorted(walked) == sorted(BLOCKS)
