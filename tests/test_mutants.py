"""No claim test that cannot fail: each one is guarded by a mutant of
tools/mutants.py (the claim's line taken out of a copy of the step, and the
test must fail there), or its claim is the kernel's, carried by no line of a
step, and mutants.KERNELS says so with the reason. The tests are read here,
not run (python tools/mutants.py runs them)."""
import ast
import glob
import os

import mutants


def functions_of(path):
    """{name: whether it is marked @claim} of the test functions of a file."""
    with open(path) as f:
        tree = ast.parse(f.read())
    return {node.name: any(claim(decorator) for decorator in node.decorator_list)
            for node in tree.body
            if isinstance(node, ast.FunctionDef) and node.name.startswith('test_')}


def claim(decorator):
    """@claim(...) or @pytest.mark.claim(...)."""
    function = getattr(decorator, 'func', decorator)
    return getattr(function, 'id', getattr(function, 'attr', None)) == 'claim'


TESTS = {}
for path in sorted(glob.glob(os.path.join(mutants.ROOT, 'tests', 'test_*.py'))):
    TESTS.update(functions_of(path))
GUARDED = {test.split('::')[-1] for mutant in mutants.MUTANTS for test in mutant.tests}


def test_every_claim_is_guarded_by_a_mutant_or_is_the_kernels():
    claims = {name for name, is_claim in TESTS.items() if is_claim}
    assert len(claims) > 20
    assert sorted(claims - GUARDED - set(mutants.KERNELS)) == []
    assert all(len(reason) > 20 for reason in mutants.KERNELS.values())
    assert sorted(set(mutants.KERNELS) - claims) == []


def test_every_test_a_mutant_names_exists():
    assert sorted(GUARDED - set(TESTS)) == []


def test_every_mutant_finds_its_line_once():
    # a step's line rewritten leaves its mutant out of date: said here, in the
    # default run, not minutes into tools/mutants.py
    stale = []
    for mutant in mutants.MUTANTS:
        for script, old, new in mutant.edits:
            with open(os.path.join(mutants.ROOT, script)) as f:
                count = f.read().count(old)
            if count != 1:
                stale.append('%s: %r occurs %d times in %s' % (mutant.lesson, old, count, script))
    assert stale == []
