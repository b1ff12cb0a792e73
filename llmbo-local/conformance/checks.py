"""What the conformance scripts share: one printed line a check, and the first failure ends
the script with exit 1."""

import sys

checks = 0


def ok(what):
    global checks
    checks += 1
    print(f"ok {checks} - {what}", flush=True)


def fail(what, *details):
    print(f"FAILED: {what}", file=sys.stderr)
    for detail in details:
        print(f"  {detail}", file=sys.stderr)
    sys.exit(1)


def refused(error, call, what):
    """`call()` must raise `error`; one check."""
    try:
        call()
    except error:
        ok(f"{what}: {error.__name__}")
        return
    fail(f"{what} is refused with {error.__name__}")


def done():
    print(f"all {checks} checks passed")
