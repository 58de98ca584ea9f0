"""Take out the line that carries a lesson, and a test must fail.

    python tools/mutants.py            # every mutant: a table; exit 1 if one survives
    python tools/mutants.py WNOHANG    # only those whose lesson or change mentions WNOHANG

A mutant is a lesson un-learned: a small edit, to a copy of the scripts, of
the line that carries it (WNOHANG taken out of the reaper, the child's close of
the listening socket, the backlog put back to 5, ...). For each one this runs
the tests that should notice, against the copy (tests/support.py starts the
scripts from LSBAWS_SCRIPTS; their waits give up after 8 s rather than 20), and
expects each of them to fail. First it runs those tests against an unchanged
copy, which must pass: a failure means something only if the same test passes
without the mutant. A claim of the article that no line carries (the kernel's
own behaviour) is in KERNELS instead, with the reason.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LESSONS = 'tests/test_lessons.py::'
H = 'tests/test_webserver3i.py::'
H3 = 'tests/test_webserver3h.py::'


class Mutant(object):
    def __init__(self, lesson, edits, tests, only=None, what=None):
        self.lesson, self.what = lesson, what
        self.edits = edits  # [(script, old, new)]: old must occur exactly once
        self.tests = tests  # pytest node ids, without the parameters
        self.only = only    # a -k expression that picks the parameters

    @property
    def change(self):
        if self.what:
            return self.what
        return '; '.join('%s: `%s` -> `%s`' % (script[9:11], old.strip().splitlines()[0],
                                               new.strip().splitlines()[0] if new.strip()
                                               else '(nothing)')
                         for script, old, new in self.edits)


def bind_error(step):
    return (step, "    try:\n        listen_socket.bind(SERVER_ADDRESS)\n"
                  "    except (socket.error, OverflowError) as e:\n        raise SystemExit(\n"
                  "            'Cannot listen on {0}: {1}'.format(SERVER_ADDRESS, e))\n",
            "    listen_socket.bind(SERVER_ADDRESS)\n")


CHILD_CLOSE = ('listen_socket.close()  # close child copy', 'pass  # keep the child copy')
WNOHANG = ('os.WNOHANG  # Do not block', '0  # Block')
BACKLOG = ('REQUEST_QUEUE_SIZE = 1024', 'REQUEST_QUEUE_SIZE = 5')
CHILDREN_CLOSE = LESSONS + 'test_children_close_their_copy_of_the_listening_socket'
BACKLOG_TEST = LESSONS + 'test_listen_backlog_holds_a_burst_of_128'
REAPER_TEST = LESSONS + 'test_reaper_does_not_block_while_a_child_lives'
BAD = 'test_bad_request_gets_its_status'


def in_3i(lesson, old, new, test, only=None, what=None):
    """A mutant of webserver3i.py alone, for a test of tests/test_webserver3i.py."""
    return Mutant('3i: ' + lesson, [('webserver3i.py', old, new)], [H + test], only, what)

MUTANTS = [
    # The article's lessons, one per step (a flaw's lesson, 3d's, is "un-learned"
    # by putting in the line the flaw leaves out)
    Mutant('3a: one clear line when it cannot listen', [bind_error('webserver3a.py')],
           [LESSONS + 'test_busy_port_gets_one_clear_line'], only='3a',
           what='3a: the `try:`/`except` around `bind()` taken out'),
    Mutant('3a: the server sends a message back',
           [('webserver3a.py', 'client_connection.sendall(http_response)', 'pass')],
           [LESSONS + 'test_iterative_server_answers_hello_world',
            LESSONS + 'test_curl_prints_hello_world'], only='3a or curl'),
    Mutant('3a: the server prints the request',
           [('webserver3a.py', 'print(request.decode())', 'pass')],
           [LESSONS + 'test_iterative_server_answers_hello_world'], only='3a'),
    Mutant('3b: the sleep, while the kernel queues the next client',
           [('webserver3b.py', 'time.sleep(SLEEP_SECONDS)  # sleep', 'pass  # sleep')],
           [LESSONS + 'test_second_client_connects_at_once_but_waits_for_the_sleep']),
    Mutant('3c: fork() serves every client at once',
           [('webserver3c.py', 'pid = os.fork()', 'pid = 0  # no fork()')],
           [LESSONS + 'test_forked_children_serve_clients_at_once']),
    Mutant("3c: each child prints its parent's PID",
           [('webserver3c.py', 'ppid=os.getppid(),', 'ppid=os.getpid(),')],
           [LESSONS + 'test_each_child_prints_its_pid_and_the_server_as_parent']),
    Mutant('3c: the child exits once it has served, never back in the accept() loop',
           [('webserver3c.py', 'os._exit(0)  # child exits here', 'pass  # no exit')],
           [LESSONS + 'test_each_child_prints_its_pid_and_the_server_as_parent']),
    Mutant('3c: the parent closes its copy, so FIN comes with the child\'s close',
           [('webserver3c.py', 'client_connection.close()  # close parent copy',
             'pass  # keep the parent copy')],
           [LESSONS + 'test_fin_arrives_only_after_the_child_sleeps']),
    Mutant('3c: the child closes its copy of the listening socket',
           [('webserver3c.py',) + CHILD_CLOSE], [CHILDREN_CLOSE], only='3c'),
    Mutant("3d: the parent's copies of client sockets, never closed",
           [('webserver3d.py', '# client_connection.close()', 'client_connection.close()')],
           [LESSONS + 'test_without_closing_duplicates_the_client_never_sees_fin',
            LESSONS + 'test_server_runs_out_of_file_descriptors'],
           what="3d: the parent's `client_connection.close()` put back"),
    Mutant('3d: exited children, never waited for',
           [('webserver3d.py', 'import socket\n', 'import signal\nimport socket\n'),
            ('webserver3d.py', '    clients = []\n',
             '    clients = []\n    signal.signal(signal.SIGCHLD, signal.SIG_IGN)\n')],
           [LESSONS + 'test_every_finished_child_becomes_a_zombie',
            LESSONS + 'test_zombies_exhaust_the_process_limit'],
           what='3d: `signal.signal(signal.SIGCHLD, signal.SIG_IGN)` put in (the kernel '
                'reaps them)'),
    Mutant('3e: a SIGCHLD handler reaps the child',
           [('webserver3e.py', 'signal.signal(signal.SIGCHLD, grim_reaper)', 'pass')],
           [LESSONS + 'test_sigchld_handler_reaps_the_child',
            LESSONS + 'test_interrupted_accept_kills_3e_on_python2_only',
            LESSONS + 'test_strace_shows_sigchld_interrupting_accept']),
    Mutant('3f: accept() restarted on EINTR (Python 2.7)',
           [('webserver3f.py', 'if code == errno.EINTR:', 'if False:')],
           [LESSONS + 'test_3f_restarts_interrupted_accept_and_survives'], only='py2'),
    Mutant('3f: one wait() per SIGCHLD',
           [('webserver3f.py', '    pid, status = os.wait()', '    pass')],
           [LESSONS + 'test_signals_are_not_queued_so_3f_leaves_zombies']),
    Mutant('3f: the backlog of 1024 holds a burst', [('webserver3f.py',) + BACKLOG],
           [BACKLOG_TEST], only='3f'),
    Mutant('3g: the waitpid() loop reaps every child of a burst',
           [('webserver3g.py', 'if pid == 0:  # no more zombies', 'if True:  # one only')],
           [LESSONS + 'test_waitpid_loop_reaps_every_child_of_a_burst',
            LESSONS + 'test_reaping_every_child_frees_the_process_limit'],
           only='waitpid or 3g'),
    Mutant('3g: the parent closes its copy of each client socket',
           [('webserver3g.py', 'client_connection.close()  # close parent copy',
             'pass  # keep the parent copy')],
           [LESSONS + 'test_128_clients_leave_no_zombies_nor_descriptors']),
    Mutant('3g: WNOHANG: the reaper never blocks', [('webserver3g.py',) + WNOHANG],
           [REAPER_TEST], only='3g'),
    Mutant('3g: the child closes its copy of the listening socket',
           [('webserver3g.py',) + CHILD_CLOSE], [CHILDREN_CLOSE], only='3g'),
    Mutant('3g: the backlog of 1024 holds a burst', [('webserver3g.py',) + BACKLOG],
           [BACKLOG_TEST], only='3g'),
    # 3h: the article's exercise, concurrent with 3g's own lines
    Mutant('3h: fork() serves a WSGI app to every client at once',
           [('webserver3h.py', 'pid = os.fork()', 'pid = 0  # no fork()')],
           [H3 + 'test_a_wsgi_app_serves_eight_sleeping_requests_at_once']),
    Mutant('3h: the parent closes its copy, so FIN comes with the child\'s close',
           [('webserver3h.py', 'self.client_connection.close()  # close parent copy',
             'pass  # keep the parent copy')],
           [H3 + 'test_fin_comes_once_the_child_closes_the_parent_closed_its_copy']),
    Mutant('3h: make_server() installs the reaper',
           [('webserver3h.py', 'signal.signal(signal.SIGCHLD, grim_reaper)', 'pass')],
           [H3 + 'test_128_clients_leave_no_zombies']),
    Mutant("3h: the WSGI environ, which Flask and Django read (the hello app does not)",
           [('webserver3h.py', "        return {\n            'wsgi.version'",
             "        return {} if True else {\n            'wsgi.version'")],
           [H3 + 'test_flask_and_django_apps_are_served_on_get'],
           what='3h: `get_environ()` returns an empty environ'),
    Mutant('3h: accept() restarted on EINTR (Python 2.7)',
           [('webserver3h.py', 'if code == errno.EINTR:', 'if False:')],
           [H3 + 'test_interrupted_accept_is_restarted'], only='py2'),
    Mutant('3h: WNOHANG: the reaper never blocks',
           [('webserver3g.py',) + WNOHANG, ('webserver3h.py',) + WNOHANG],
           [REAPER_TEST], only='3h'),
    Mutant('3h: the child closes its copy of the listening socket',
           [('webserver3h.py',) + CHILD_CLOSE], [CHILDREN_CLOSE], only='3h'),
    Mutant('3h: the backlog of 1024 holds a burst', [('webserver3h.py',) + BACKLOG],
           [BACKLOG_TEST], only='3h'),
    # 3i: the same lessons, changed in 3g too so that no comparison with 3g notices
    Mutant('3i: WNOHANG: the reaper never blocks',
           [('webserver3g.py',) + WNOHANG, ('webserver3i.py',) + WNOHANG],
           [REAPER_TEST], only='3i'),
    Mutant('3i: the child closes its copy of the listening socket',
           [('webserver3g.py',) + CHILD_CLOSE, ('webserver3i.py',) + CHILD_CLOSE],
           [CHILDREN_CLOSE], only='3i'),
    Mutant('3i: the backlog of 1024 holds a burst', [('webserver3i.py',) + BACKLOG],
           [BACKLOG_TEST], only='3i'),
    Mutant('3i: wsgi.input holds Content-Length bytes',
           [('webserver3i.py', 'length = int(length)', 'length = 0')],
           [H + 'test_body_read_line_by_line_with_bare_lf_request']),
    Mutant('3i: FIN right after the answer, before draining unread input',
           [('webserver3i.py', 'end(self.client_connection)\n        self.complete = True',
             'self.complete = True')],
           [H + 'test_fin_comes_right_after_the_answer_though_the_body_was_not_read']),
    # 3i: what keeps it up against load and hostile clients
    in_3i('a failed fork() gets a 503; the parent lives',
          '            try:\n                pid = os.fork()\n            except OSError as e:',
          '            pid = os.fork()\n            if False:',
          'test_fork_failure_gets_a_503_and_the_parent_serves_on',
          what='3i: the `try:`/`except OSError` around `os.fork()` taken out'),
    in_3i('out of descriptors, the parent waits', 'elif code in ACCEPT_LATER:', 'elif False:',
          'test_out_of_descriptors_the_parent_waits_and_serves_the_queue'),
    in_3i('... and does not spin', 'time.sleep(BACKOFF_SECONDS)', 'pass',
          'test_out_of_descriptors_the_parent_waits_and_serves_the_queue'),
    in_3i('one deadline for the whole request head',
          'request.reader.deadline = time.monotonic() + REQUEST_TIMEOUT',
          'request.reader.deadline = None',
          'test_the_request_head_has_one_deadline_however_slowly_it_drips'),
    in_3i('a slow reader that keeps reading gets everything',
          'while view:\n                view = view[self.client_connection.send(view):]',
          'self.client_connection.sendall(view)',
          'test_a_slow_reader_that_keeps_reading_gets_every_byte',
          what='3i: the `send()` loop replaced by `sendall()`, whose timeout covers '
               'the whole call'),
    Mutant('3i: a response cut short ends with a reset, not a FIN',
           [('webserver3i.py', "struct.pack('ii', 1, 0)", "struct.pack('ii', 0, 0)")],
           [H + 'test_a_reader_that_stops_is_reset_not_sent_a_clean_end',
            H + 'test_an_app_that_fails_midway_resets_the_connection']),
    in_3i("a client's stall is no app error (a BaseException)",
          'class ClientLost(BaseException):', 'class ClientLost(Exception):',
          'test_a_stall_mid_upload_gets_a_408_and_no_traceback', only='flask'),
    in_3i('Ctrl-C lets children finish', 'signal.signal(signal.SIGINT, self.finish_soon)',
          'pass', 'test_ctrl_c_lets_children_finish_and_the_parent_says_one_line'),
    in_3i('make_server() installs the reaper',
          '    signal.signal(signal.SIGCHLD, grim_reaper)\n    server', '    server',
          'test_make_server_alone_reaps_the_children',
          what='3i: `signal.signal(signal.SIGCHLD, grim_reaper)` taken out of `make_server()`'),
    in_3i('loopback by default', "os.environ.get('HOST', '127.0.0.1')",
          "os.environ.get('HOST', '')", 'test_default_host_is_loopback_only'),
    in_3i('REQUEST_TIMEOUT is finite and above 0',
          'if not (math.isfinite(REQUEST_TIMEOUT) and REQUEST_TIMEOUT > 0):', 'if False:',
          'test_bad_setting_gets_one_clear_line', only='REQUEST_TIMEOUT'),
    in_3i('the access log escapes client bytes', '.translate(LOG_ESCAPES)', '',
          'test_access_log_escapes_client_bytes'),
    # 3i: the HTTP rules (RFC 9112, RFC 9110)
    in_3i('the request line splits on SP only', "self.line.split(' ')",
          'self.line.split()', BAD, only='x1c'),
    in_3i('methods are upper-case tokens', 'METHOD.match(words[0])', 'TOKEN.match(words[0])',
          BAD, only='lower-case-method'),
    in_3i('HTTP/2.0 gets a 505', 'HTTPError(505)', 'HTTPError(400)', BAD, only='http-2'),
    in_3i('no control characters in the target', 'if not TARGET.match(target):', 'if False:',
          BAD, only='nul-in-target'),
    in_3i('no control characters in field values', 'if not FIELD_VALUE.match(value):',
          'if False:', BAD, only='nul-in-value'),
    in_3i('HTTP/1.1 needs a Host',
          "if self.version == 'HTTP/1.1' and host is None:", 'if False:', BAD,
          only='no-host'),
    in_3i('one Host, one Content-Length', 'if names.count(name) > 1:', 'if False:', BAD,
          only='two-hosts'),
    in_3i('field names with _ are dropped', "if '_' not in name:", 'if True:',
          'test_field_names_with_underscores_are_dropped'),
    in_3i('empty lines before the request line are ignored',
          "if line not in (b'\\r\\n', b'\\n'):", 'if True:',
          'test_empty_lines_before_the_request_line_are_ignored'),
    in_3i('an absolute-form target names the host', "env['HTTP_HOST'] = self.authority",
          'pass', 'test_absolute_form_target_and_its_authority'),
    in_3i('HEAD gets no body, errors included',
          "if self.request.method == 'HEAD':  # no body (RFC",
          'if False:  # no body (RFC', 'test_head_gets_no_body_even_with_an_error'),
    in_3i("Date on 3i's own answers too",
          "        headers.append(('Date', format_date_time(time.time())))",
          '        pass', BAD, only='target-too-long or http-2'),
    in_3i("Server on 3i's own answers too",
          "        headers.append(('Server', SERVER_SOFTWARE))", '        pass', BAD,
          only='target-too-long or http-2'),
    in_3i('no userinfo in the target', "if '@' in url.netloc:", 'if False:', BAD,
          only='userinfo'),
    # 3i: chunked request bodies (RFC 9112 §6, §7.1)
    in_3i('Transfer-Encoding with Content-Length is refused (smuggling)',
          'if chunked and length is not None:', 'if False:', BAD,
          only='chunked-and-length'),
    in_3i('chunked is the final transfer coding', "if codings[-1:] != ['chunked']:",
          'if False:', BAD, only='chunked-not-final'),
    in_3i('chunk data ends in CRLF exactly', "if self.read_exactly(2) != b'\\r\\n':",
          'if self.read_exactly(2) is None:', BAD, only='chunk-data-no-crlf'),
    in_3i('the trailer is read under the header rules',
          'self.read_fields(trailers=True)  # the trailer', 'pass  # the trailer',
          BAD, only='trailer'),
    in_3i('trailer fields needed before the body get a 400 (RFC 9110 §6.5.1)',
          'if trailers and name.lower() in FORBIDDEN_TRAILERS:', 'if False:', BAD,
          only='trailer-content-length or trailer-host or trailer-te'),
    # 3i: the client's EOF mid-body, one treatment (RFC 9112 §8)
    in_3i('EOF within the trailer section: client gone, as mid-body',
          "raise body_cut_short('within the trailer section')",
          "raise HTTPError(400, 'Incomplete request')",
          'test_a_client_gone_mid_upload_is_one_quiet_line', only='trailers and close'),
    in_3i('EOF within a sized body: client gone, as in a chunked one',
          "raise body_cut_short('{0} bytes before its end'",
          "raise HTTPError(400, '{0} bytes before its end'",
          'test_a_client_gone_mid_upload_is_one_quiet_line', only='sized and close'),
    in_3i('a chunked body counts against MAX_BODY_BYTES', 'if length > MAX_BODY_BYTES:',
          'if False:', 'test_max_body_bytes_bounds_sized_and_chunked_bodies'),
    in_3i('Content-Length set for the app (Django reads only that)',
          "env['CONTENT_LENGTH'] = str(self.length)", 'pass',
          'test_a_chunked_body_reaches_the_app_decoded_with_its_length'),
    in_3i('a chunked body waits on disk, not in memory',
          'tempfile.SpooledTemporaryFile(SPOOL_BYTES)', 'io.BytesIO()',
          'test_a_10_mib_chunked_upload_never_sits_in_memory_whole'),
    in_3i('100 Continue for a chunked body too',
          'if expects_continue:\n                send_continue()',
          'if False:\n                send_continue()',
          'test_a_chunked_upload_waits_for_100_continue'),
    # 3i: responses of no known length, chunked (RFC 9112 §6.3, §7.1)
    in_3i('a body without Content-Length goes out chunked',
          "return has_body, has_body and not sized and version == 'HTTP/1.1'",
          'return has_body, False', 'test_a_body_of_unknown_length_goes_out_chunked'),
    in_3i('... but not to HTTP/1.0', "and not sized and version == 'HTTP/1.1'",
          'and not sized', 'test_http_1_0_gets_the_body_ended_by_the_fin'),
    in_3i('no body, so no chunks, after a 204 or a 304',
          'code >= 200 and code not in (204, 304)', 'True',
          'test_an_answer_without_a_body_is_the_head_alone', only='204 or 304'),
    in_3i('... nor after a HEAD', "has_body = method != 'HEAD' and", 'has_body =',
          'test_an_answer_without_a_body_is_the_head_alone', only='HEAD'),
    in_3i('an empty piece is no chunk (a 0-size one ends the body)',
          'if data and self.has_body:', 'if self.has_body:',
          'test_a_body_of_unknown_length_goes_out_chunked'),
    in_3i('a chunked body ends with its last chunk', "self.send(b'0\\r\\n\\r\\n')", 'pass',
          'test_a_streamed_body_reaches_every_client_chunked_and_whole', only='curl'),
    in_3i('MAX_BODY_BYTES is a whole number',
          "if not re.match(r'[0-9]+\\Z', MAX_BODY_BYTES):", 'if False:',
          'test_bad_setting_gets_one_clear_line', only='MAX_BODY_BYTES'),
]

# The claims no line of a step carries: the kernel's own behaviour, which a
# step only makes visible. No mutant can take them out; their tests say so in
# their docstrings. tests/test_mutants.py checks that every claim test is
# guarded by a mutant above or named here.
KERNELS = {
    'test_client_port_is_an_ephemeral_port_chosen_by_the_kernel':
        "the kernel picks the client's port in connect(): no line of 3b (nor of client3.py) "
        'does',
    'test_a_zombie_cannot_be_killed':
        'the kernel ignores SIGKILL to a zombie: 3d only supplies the zombie',
}


def copy_of_scripts(edits=()):
    """The scripts in a temporary directory, with edits made."""
    copy = tempfile.mkdtemp(prefix='lsbaws-mutant-')
    for name in os.listdir(ROOT):
        if name.endswith('.py'):
            shutil.copy(os.path.join(ROOT, name), copy)
    for script, old, new in edits:
        path = os.path.join(copy, script)
        with open(path) as f:
            text = f.read()
        if text.count(old) != 1:
            raise SystemExit('mutant out of date: %r occurs %d times in %s'
                             % (old, text.count(old), script))
        with open(path, 'w') as f:
            f.write(text.replace(old, new))
    return copy


def run_tests(copy, tests, only=None):
    """pytest on those tests against the copy: (exit code, failed test ids)."""
    args = [sys.executable, '-m', 'pytest', '-q', '-rf', '-p', 'no:cacheprovider']
    args += ['-k', only] if only else []
    out = subprocess.run(args + tests, cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, universal_newlines=True,
                         env=dict(os.environ, LSBAWS_SCRIPTS=copy, LSBAWS_DEADLINE='8'))
    failed = re.findall(r'^FAILED (\S+)', out.stdout, re.M)
    return out.returncode, failed, out.stdout


def main(words):
    mutants = [m for m in MUTANTS
               if all(w.lower() in (m.lesson + m.change).lower() for w in words)]
    if not mutants:
        sys.exit('no mutant matches %s' % ' '.join(words))
    # The control: the same tests pass on the scripts as they are.
    copy = copy_of_scripts()
    try:
        tests = sorted({test for mutant in mutants for test in mutant.tests})
        code, failed, output = run_tests(copy, tests)
    finally:
        shutil.rmtree(copy)
    if code != 0:
        sys.stdout.write(output)
        sys.exit('the tests fail without any mutant: fix them first')

    print('| lesson | mutant | caught by | seconds |')
    print('|---|---|---|---:|')
    survivors = 0
    for mutant in mutants:
        copy = copy_of_scripts(mutant.edits)
        started = time.monotonic()
        try:
            code, failed, output = run_tests(copy, mutant.tests, mutant.only)
        finally:
            shutil.rmtree(copy)
        names = {test.split('::')[-1] for test in failed}
        missed = [test.split('::')[-1] for test in mutant.tests
                  if not any(name.split('[')[0] == test.split('::')[-1] for name in names)]
        if code == 1 and not missed:
            caught = ', '.join('`%s`' % test.split('::')[-1] for test in mutant.tests)
        else:
            survivors += 1
            caught = '**SURVIVED** (%s)' % ('no test ran' if code == 5 else 'exit %d' % code
                                            if code != 1 else 'passed: ' + ', '.join(missed))
        print('| %s | %s | %s | %.1f |' % (mutant.lesson, mutant.change.replace('|', '\\|'),
                                           caught, time.monotonic() - started))
        sys.stdout.flush()
    print('\n%d mutants, %d caught, %d survived' % (len(mutants), len(mutants) - survivors,
                                                    survivors))
    return 1 if survivors else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
