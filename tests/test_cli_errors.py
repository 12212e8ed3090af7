"""The CLI prints a formalpi error as one line (`error: ...`, exit status 2), never a traceback: the code
sandbox's refusal included (a missing bubblewrap names the flag that accepts a weaker sandbox)."""

import pytest

import formalpi.cli as cli
from formalpi.errors import SandboxError


def test_a_sandbox_error_is_one_line_and_exit_status_2(monkeypatch, capsys):
    def refuse() -> None:
        raise SandboxError("bubblewrap (bwrap) is not installed; or pass --allow-weak-sandbox")

    monkeypatch.setattr(cli, "app", refuse)
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    assert exit_.value.code == 2
    out = capsys.readouterr().out
    assert out.strip() == "error: bubblewrap (bwrap) is not installed; or pass --allow-weak-sandbox"
