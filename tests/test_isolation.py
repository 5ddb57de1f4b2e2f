"""Isolation for stages: a stage gets only the secrets it lists under `secrets:`, and cannot
read the others from Scalpel's own process (its /proc/<pid>/environ, or by inheriting them)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

from scalpel_plan import secrets
from scalpel_plan.secrets import SecretsManager
from scalpel_plan.spec.model import SecretDecl
from tests.conftest import scalpel_cmd

SNOOP = """\
import os, pathlib, sys, time
out, pidfile = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
for _ in range(200):  # the test writes Scalpel's pid as soon as it started it
    if pidfile.exists() and pidfile.read_text().strip():
        break
    time.sleep(0.05)
scalpel = int(pidfile.read_text())
ancestors, pid = [], os.getppid()  # $PPID may be a shell: walk up to the first process
while pid > 1:
    ancestors.append(pid)
    status = pathlib.Path(f"/proc/{pid}/status").read_text()
    pid = int(next(l.split()[1] for l in status.splitlines() if l.startswith("PPid:")))
for pid in ancestors:
    try:
        seen = pathlib.Path(f"/proc/{pid}/environ").read_bytes()
    except OSError as exc:
        seen = f"unreadable: {exc}".encode()
    (out / f"{pid}.environ").write_bytes(seen)
(out / "ancestors").write_text(" ".join(map(str, ancestors)))
(out / "own.environ").write_bytes(pathlib.Path("/proc/self/environ").read_bytes())
"""


def test_a_stage_finds_no_secret_in_scalpels_environment(repo, tmp_path):
    canary = f"canary-deploy-{uuid.uuid4().hex}"
    default = f"ghp_canary{uuid.uuid4().hex}"  # a provider's default variable, undeclared
    seen, control = tmp_path / "seen", tmp_path / "control"
    seen.mkdir()
    control.mkdir()
    (tmp_path / "snoop.py").write_text(SNOOP)
    pidfile = tmp_path / "scalpel.pid"
    repo.write_spec(f"""
secrets:
  deploy: {{env: DEPLOY_KEY}}
stages:
  snoop:
    run: "{sys.executable} {tmp_path / 'snoop.py'} {seen} {pidfile}"
  control:
    run: "{sys.executable} {tmp_path / 'snoop.py'} {control} {pidfile}"
    secrets: [deploy]
""")
    env = {**os.environ, "DEPLOY_KEY": canary, "GITHUB_TOKEN": default,
           "SCALPEL_TEST_MARKER": "visible"}
    proc = subprocess.Popen([*scalpel_cmd(), "apply", "--auto-approve"], cwd=repo.path,
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    pidfile.write_text(str(proc.pid))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err

    ancestors = [int(p) for p in (seen / "ancestors").read_text().split()]
    assert proc.pid in ancestors  # the walk reached Scalpel's own process
    for pid in ancestors:
        environ = (seen / f"{pid}.environ").read_bytes()
        assert canary.encode() not in environ and default.encode() not in environ, pid
    ours = (seen / f"{proc.pid}.environ").read_bytes()
    # as root the file is readable (then what it shows is scrubbed); as another user the
    # process is not dumpable, so it cannot be read at all
    assert b"SCALPEL_TEST_MARKER=visible" in ours or ours.startswith(b"unreadable"), ours[:200]
    own = (seen / "own.environ").read_bytes()
    assert canary.encode() not in own and default.encode() not in own
    # the control stage lists the secret: it has it (so the snoop could have found it)
    assert f"DEPLOY_KEY={canary}".encode() in (control / "own.environ").read_bytes()
    assert default.encode() not in (control / "own.environ").read_bytes()


def test_loaded_secrets_leave_the_environment_and_stay_readable_by_the_manager(monkeypatch):
    monkeypatch.setenv("ISOLATED_KEY", "isolated-value-123456")
    manager = SecretsManager({"k": SecretDecl(env="ISOLATED_KEY")})
    manager.load_all()
    assert "ISOLATED_KEY" not in os.environ
    assert manager.get("k").value == "isolated-value-123456"
    # a new manager in the same process (the next command in-process) still finds it
    assert SecretsManager({"k": SecretDecl(env="ISOLATED_KEY")}).get("k").value == \
        "isolated-value-123456"
    env = subprocess.run(["env"], capture_output=True, text=True, check=True).stdout
    assert "isolated-value-123456" not in env  # no command inherits it
    secrets.restore_environment()
    assert os.environ["ISOLATED_KEY"] == "isolated-value-123456"


def test_a_stage_that_does_not_list_a_secret_cannot_be_handed_it_by_env(repo, cli, monkeypatch):
    monkeypatch.setenv("DEPLOY_KEY", "deploy-key-value-1234")
    repo.write_spec("""
secrets:
  deploy: {env: DEPLOY_KEY}
stages:
  sneaky:
    env: {TOKEN: "${secrets.deploy}"}
    run: 'echo "token=${TOKEN:-absent}"'
""")
    result = cli(repo.path, "validate")
    assert result.code == 1
    assert "release.yml:6:18: error: stage.sneaky passes secret 'deploy' in `env:` without " \
        "listing it under `secrets:`" in result.err
    assert "deploy-key-value" not in result.out + result.err


def test_git_still_gets_the_providers_default_credentials(monkeypatch):
    """Hidden from the environment and from stages, GITHUB_TOKEN still reaches git's
    credential helpers (`gh auth setup-git`, a helper reading $GITHUB_TOKEN)."""
    from scalpel_plan import git
    from scalpel_plan import secrets as scalpel_secrets

    monkeypatch.setenv("GITHUB_TOKEN", "ghp_isolation_check_0123456789")
    try:
        scalpel_secrets.SecretsManager({}).load_all()
        assert "GITHUB_TOKEN" not in os.environ
        assert git._env()["GITHUB_TOKEN"] == "ghp_isolation_check_0123456789"
    finally:
        scalpel_secrets.restore_environment()
