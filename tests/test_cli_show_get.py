"""``ffpipe show`` and ``ffpipe get`` on a real run, matrix instances included."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _remote_support import in_folder_main, make_clone


@pytest.mark.slow
def test_show_and_get_a_matrix_instance(tmp_path, capsys):
    folder = make_clone(tmp_path / "p", str(tmp_path / "unused-remote"))
    assert in_folder_main(folder, "run", "team.yaml", "--no-pull") == 0
    capsys.readouterr()

    assert in_folder_main(folder, "show", "aged[age=70]", "-f", "team.yaml") == 0
    shown = capsys.readouterr().out.strip()
    assert shown.endswith(".jpg")
    out = (folder / "out" / "team" / "aged_70.jpg").read_bytes()
    assert (folder / shown).read_bytes() == out

    assert in_folder_main(folder, "show", "aged[age=30]", "--result") == 0  # found by lock file
    result = json.loads(capsys.readouterr().out)
    assert isinstance(result, dict) and "_file_names" not in result

    target = tmp_path / "copies" / "old.jpg"
    assert in_folder_main(folder, "get", "aged[age=70]", "-o", str(target)) == 0
    assert target.read_bytes() == out

    # A folder, new (trailing separator) or existing, receives the file under the name `show` gave.
    for folder_arg in (f"{tmp_path / 'new'}/", str(tmp_path / "copies")):
        assert in_folder_main(folder, "get", "aged[age=70]", "-o", folder_arg) == 0
        assert (Path(folder_arg) / Path(shown).name).read_bytes() == out


def test_show_says_why_a_step_is_not_cached_and_names_instances(tmp_path, capsys):
    folder = make_clone(tmp_path / "p", str(tmp_path / "unused-remote"))
    assert in_folder_main(folder, "show", "aged[age=30]", "-f", "team.yaml") == 1
    assert "not in the cache" in capsys.readouterr().err
    (folder / ".ffpipe").mkdir()
    assert in_folder_main(folder, "show", "aged", "-f", "team.yaml") == 2
    err = capsys.readouterr().err
    assert "aged[age=30]" in err and "aged[age=70]" in err
    assert in_folder_main(folder, "get", "nope", "-f", "team.yaml", "-o", "x.jpg") == 2
