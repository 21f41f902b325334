"""Habits of every command: ``-v``/``-q`` anywhere after the command, ``--version`` with the
engines' versions, shell completion scripts written from the parser (run in a real bash), and
model stand-ins said once per run."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _pipeline_support import write_pipeline

from ffpipe.cli import COMMANDS, main
from ffpipe.cli.completion_cmd import command_tree
from ffpipe.run import events as ev
from ffpipe.run.reporters import PlainReporter

ROOT = Path(__file__).resolve().parent.parent


def test_version_names_ffpipe_and_the_engines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FFPIPE_FACEFUSION", raising=False)
    done = subprocess.run(
        [sys.executable, "-m", "ffpipe", "--version"], capture_output=True, text=True, check=True
    )
    lines = done.stdout.splitlines()
    assert lines[0].startswith("ffpipe ")
    assert lines[1].startswith("engine builtin 1.")
    assert lines[2].startswith("engine facefusion: not configured")


def test_version_reads_a_facefusion_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "facefusion").mkdir()
    (tmp_path / "facefusion.py").write_text("")
    (tmp_path / "facefusion" / "metadata.py").write_text("METADATA = {'version': '3.8.1'}\n")
    monkeypatch.setenv("FFPIPE_FACEFUSION", str(tmp_path))
    with pytest.raises(SystemExit):
        main(["--version"])
    assert f"engine facefusion 3.8.1 ({tmp_path})" in capsys.readouterr().out


def test_quiet_prints_nothing_and_verbose_is_taken_by_every_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    write_pipeline(
        tmp_path, "version: 1\nname: x\nsteps:\n  e: {uses: edit, with: {target_media: a.jpg}}\n"
    )
    shutil.copyfile(ROOT / "media" / "astronaut.jpg", tmp_path / "a.jpg")
    assert main(["validate", "pipe.yaml", "-q"]) == 0
    assert capsys.readouterr() == ("", "")
    assert main(["validate", "-v", "pipe.yaml"]) == 0
    assert "ok, 1 step" in capsys.readouterr().out
    assert main(["cache", "ls", "-q"]) == 0  # after a nested action too
    assert capsys.readouterr().out == ""
    assert main(["validate", "pipe.yaml", "-q", "-v"]) == 2
    assert "-q and -v" in capsys.readouterr().err
    (tmp_path / "pipe.yaml").write_text("version: 1\nname: x\nsteps: {e: {uses: nope}}\n")
    assert main(["validate", "pipe.yaml", "-q"]) == 2
    assert "nope" in capsys.readouterr().err  # errors still reach stderr


def test_completion_tree_holds_every_command_and_nested_action() -> None:
    tree = command_tree()
    assert set(tree) == set(COMMANDS)
    assert {"ls", "gc", "verify"} <= set(tree["cache"].actions)
    options = {option for option, _ in tree["run"].options}
    assert {"--no-lock", "--report", "-v", "--quiet"} <= options


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash to run the script in")
def test_bash_completion_script_completes_commands_options_and_actions(tmp_path: Path) -> None:
    script = tmp_path / "ffpipe.bash"
    done = subprocess.run(
        [sys.executable, "-m", "ffpipe", "completion", "bash"],
        capture_output=True,
        text=True,
        check=True,
    )
    script.write_text(done.stdout)

    def complete(*words: str) -> list[str]:
        quoted = " ".join(f"'{word}'" for word in words)
        probe = (
            f"source {script}; COMP_WORDS=(ffpipe {quoted}); "
            f"COMP_CWORD={len(words)}; _ffpipe; printf '%s\\n' \"${{COMPREPLY[@]}}\""
        )
        out = subprocess.run(
            ["bash", "-c", probe], capture_output=True, text=True, check=True, cwd=tmp_path
        )
        return out.stdout.split()

    assert complete("ru") == ["run", "runs"]
    assert complete("run", "x.yaml", "--no-l") == ["--no-lock"]
    assert complete("cache", "g") == ["gc"]
    assert complete("cache", "gc", "--older") == ["--older-than"]
    assert "ffpipe.bash" in complete("run", "ffpipe.")


def test_zsh_and_fish_scripts() -> None:
    for shell, marker in (("zsh", "#compdef ffpipe"), ("fish", "complete -c ffpipe")):
        done = subprocess.run(
            [sys.executable, "-m", "ffpipe", "completion", shell],
            capture_output=True,
            text=True,
            check=True,
        )
        assert done.stdout.startswith(marker) or marker in done.stdout
    fish = subprocess.run(
        [sys.executable, "-m", "ffpipe", "completion", "fish"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "__fish_seen_subcommand_from cache' -a gc" in fish
    assert "-l no-lock" in fish


def _lines(verbose: bool) -> list[str]:
    stream = io.StringIO()
    reporter = PlainReporter(stream, verbose=verbose)
    stand_ins = ("gfpgan_1.4 -> unsharp mask", "retinaface -> dlib hog")
    reporter(ev.RunStart(run_id="r", pipeline="p", steps=1, instances=3, jobs=1, backend="b"))
    for index in range(3):
        extra = ("codeformer -> unsharp mask",) if index == 2 else ()
        reporter(ev.StepDone(step=f"e[{index}]", duration=1.0, substitutions=stand_ins + extra))
    return stream.getvalue().splitlines()


def test_stand_ins_are_said_in_full_once_per_run() -> None:
    lines = _lines(verbose=False)
    assert "gfpgan_1.4 -> unsharp mask" in lines[1]
    assert lines[2] == "e[1]: done in 1.00s [stand-ins as above]"
    assert lines[3] == "e[2]: done in 1.00s [stand-ins as above; new: codeformer -> unsharp mask]"
    assert all("gfpgan_1.4" in line for line in _lines(verbose=True)[1:])
