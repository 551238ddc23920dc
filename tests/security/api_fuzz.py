#!/usr/bin/env python3
"""SECURITY.md method M3: schemathesis against a live release server, driven by
the server's own OpenAPI document (`/api/openapi.json`).

Four runs, each with every check but one (see SKIPPED_CHECKS) and
FUZZ_EXAMPLES (default 100) examples per operation:
  1. authenticated: session cookie + X-CSRF-Token + an upload key, every
     operation but those below;
  2. DELETE /api/delete/{uuid}, authenticated (see the comment in main);
  3. the operations that can end the session (logout, refresh, logout-all,
     and changing or deleting accounts: a fuzzed PATCH may disable the admin
     once a fuzzed POST made a second one), authenticated, last;
  4. unauthenticated, every operation.
Any 5xx, undocumented status, wrong content type or schema mismatch fails.
Each run is bounded by FUZZ_RUN_SECONDS (default 420).
"""

import os
import shutil
import subprocess
import sys

from harness import Server, bmp, upload

EXAMPLES = os.environ.get("FUZZ_EXAMPLES", "100")
# A bound on each run (schemathesis's own --max-time would fuzz until it is
# spent rather than stop after the examples).
RUN_SECONDS = int(os.environ.get("FUZZ_RUN_SECONDS", "420"))

# Schema-valid but semantically wrong values (a date that does not exist, a
# duration the server does not know) are rightly 400; JSON Schema cannot
# express those rules, so positive_data_acceptance would only report them.
SKIPPED_CHECKS = "positive_data_acceptance"


def st(base, *extra, skip=SKIPPED_CHECKS):
    st_bin = shutil.which("st") or shutil.which("schemathesis")
    if not st_bin:
        sys.exit("schemathesis is not installed (pip install schemathesis)")
    cmd = [
        st_bin,
        "run",
        f"{base}/api/openapi.json",
        "--url",
        base,
        "--checks",
        "all",
        "--exclude-checks",
        skip,
        "--max-examples",
        EXAMPLES,
        # One worker: CPython 3.11 before 3.11.8 can fail parsing lambdas in
        # threads ("AST constructor recursion depth mismatch", gh-106905).
        "--workers",
        "1",
        "--seed",
        os.environ.get("FUZZ_SEED", "1"),
        "--no-color",
        *extra,
    ]
    shown = [a.split(":")[0] + ": ***" if a.startswith(("Cookie:", "X-")) else a for a in cmd]
    print("+ " + " ".join(shown), flush=True)
    try:
        return subprocess.run(cmd, timeout=RUN_SECONDS).returncode
    except subprocess.TimeoutExpired:
        print(f"schemathesis did not finish within {RUN_SECONDS} s")
        return 1


def main():
    # Short timeouts keep the server's own waits (idle bodies) out of the way.
    env = {"PIXBIN_BODY_IDLE_TIMEOUT": "5s", "PIXBIN_LOGIN_ATTEMPTS": "5"}
    failed = []
    with Server(env) as srv:
        # Something to find.
        for i in range(2):
            status, _ = upload(srv.base, srv.upload_key, bmp(4, 4, i), f"seed{i}.bmp")
            assert status == 200, status
        cookie, csrf = srv.login()
        # Credentials go on every request; schemathesis must not also try to
        # drop them (it cannot, through -H): missing auth is the last run.
        auth = [
            "-H", f"Cookie: {cookie}",
            "-H", f"X-CSRF-Token: {csrf}",
            "-H", f"X-Upload-Key: {srv.upload_key}",
            "--generation-with-security-parameters", "false",
        ]
        ending = ["logout", "refresh", "logoutAll", "editUser", "deleteUser"]
        apart = ending + ["deleteImage"]
        rest = [a for op in apart for a in ("--exclude-operation-id", op)]
        if st(srv.base, *auth, *rest):
            failed.append("authenticated")
        # After a successful delete, replaying it with bad credentials finds
        # the image gone: 404, as for any unknown image or wrong deletion token
        # (which must not tell images apart), where ignored_auth wants 401/403.
        if st(srv.base, *auth, "--include-operation-id", "deleteImage",
              skip=SKIPPED_CHECKS + ",ignored_auth"):
            failed.append("delete")
        # Last, as they end or rotate the session.
        only = [a for op in ending for a in ("--include-operation-id", op)]
        if st(srv.base, *auth, *only):
            failed.append("session-ending operations")
        if st(srv.base):
            failed.append("unauthenticated")
        if srv.proc.poll() is not None:
            failed.append(f"the server exited with {srv.proc.returncode}")
    if failed:
        print("schemathesis failed: " + ", ".join(failed))
        sys.exit(1)
    print("schemathesis: ok")


if __name__ == "__main__":
    main()
