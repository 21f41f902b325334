"""``ffpipe completion bash|zsh|fish``: a shell completion script, written from the parser.

Every command's options (and a nested action's, ``cache gc``) come from the same argparse
parser ``ffpipe`` parses with, so the script cannot drift from the commands. Words that are not
options complete as file names. Install: ``ffpipe completion bash > ~/.local/share/
bash-completion/completions/ffpipe``, ``ffpipe completion zsh > "${fpath[1]}/_ffpipe"``,
``ffpipe completion fish > ~/.config/fish/completions/ffpipe.fish``.
"""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass, field

SHELLS = ("bash", "zsh", "fish")


@dataclass
class CommandWords:
    """What may follow a command (or ``command action``): its options and actions."""

    summary: str
    options: list[tuple[str, str]] = field(default_factory=list)
    """(option string, help) pairs."""
    actions: dict[str, CommandWords] = field(default_factory=dict)


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("shell", choices=SHELLS, help="the shell to complete in")


def run(args: argparse.Namespace) -> int:
    tree = command_tree()
    script = {"bash": bash_script, "zsh": zsh_script, "fish": fish_script}[args.shell](tree)
    print(script, end="")
    return 0


def command_tree() -> dict[str, CommandWords]:
    """Every command of the full parser with its options and nested actions."""
    from ffpipe.cli import COMMANDS, _parser

    parser = _parser([], every_command=True)
    commands = _subparsers(parser)
    return {name: _words(commands[name], COMMANDS[name]) for name in COMMANDS}


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _words(parser: argparse.ArgumentParser, summary: str) -> CommandWords:
    words = CommandWords(summary)
    for action in parser._actions:
        help_text = "" if action.help in (None, argparse.SUPPRESS) else str(action.help)
        words.options += [(option, help_text) for option in action.option_strings]
    for name, nested in _subparsers(parser).items():
        words.actions[name] = _words(nested, nested.description or "")
    return words


def bash_script(tree: dict[str, CommandWords]) -> str:
    """A bash completion function: commands, then each command's options and actions."""
    cases = []
    for name, words in tree.items():
        for action, nested in words.actions.items():
            pattern = f"'{name} {action}'|'{name} {action} '*"
            cases.append(f"        {pattern}) words={shlex.quote(_bash_words(nested))} ;;")
    for name, words in tree.items():
        cases.append(f"        {name}|'{name} '*) words={shlex.quote(_bash_words(words))} ;;")
    return (
        "# ffpipe completion for bash: ffpipe completion bash > "
        "~/.local/share/bash-completion/completions/ffpipe\n"
        "_ffpipe() {\n"
        '    local current="${COMP_WORDS[COMP_CWORD]}" command="" words index\n'
        "    for ((index = 1; index < COMP_CWORD; index++)); do\n"
        '        case "${COMP_WORDS[index]}" in\n'
        "            -*) ;;\n"
        '            *) if [[ -z "$command" ]]; then command="${COMP_WORDS[index]}"; '
        'elif [[ "$command" != *" "* ]]; then command="$command ${COMP_WORDS[index]}"; fi ;;\n'
        "        esac\n"
        "    done\n"
        '    case "$command" in\n'
        f"        '') words={shlex.quote(' '.join(['--version', '--help', *tree]))} ;;\n"
        + "\n".join(cases)
        + "\n"
        '        *) words="" ;;\n'
        "    esac\n"
        '    if [[ "$current" == -* || -z "$command" ]]; then\n'
        '        COMPREPLY=($(compgen -W "$words" -- "$current"))\n'
        "    else\n"
        '        COMPREPLY=($(compgen -W "$words" -- "$current") $(compgen -f -- "$current"))\n'
        "    fi\n"
        "}\n"
        "complete -o filenames -F _ffpipe ffpipe\n"
    )


def _bash_words(words: CommandWords) -> str:
    return " ".join([*words.actions, *(option for option, _ in words.options)])


def zsh_script(tree: dict[str, CommandWords]) -> str:
    """zsh runs the bash function through its bash completion layer (``bashcompinit``)."""
    return (
        "#compdef ffpipe\n"
        '# ffpipe completion for zsh: ffpipe completion zsh > "${fpath[1]}/_ffpipe"\n'
        "autoload -U +X bashcompinit && bashcompinit\n" + bash_script(tree)
    )


def fish_script(tree: dict[str, CommandWords]) -> str:
    """fish ``complete`` lines: commands with their summaries, then options per command."""
    names = " ".join(tree)
    lines = [
        "# ffpipe completion for fish: ffpipe completion fish > "
        "~/.config/fish/completions/ffpipe.fish",
        "complete -c ffpipe -f",
        "complete -c ffpipe -l version -d 'show the versions'",
    ]
    for name, words in tree.items():
        lines.append(
            f"complete -c ffpipe -n 'not __fish_seen_subcommand_from {names}' "
            f"-a {name} -d {_fish_quote(words.summary)}"
        )
        seen = f"__fish_seen_subcommand_from {name}"
        for action, nested in words.actions.items():
            lines.append(
                f"complete -c ffpipe -n '{seen}' -a {action} -d {_fish_quote(nested.summary)}"
            )
        options = list(words.options)
        for nested in words.actions.values():
            options += [item for item in nested.options if item not in options]
        for option, help_text in options:
            flag = f"-l {option[2:]}" if option.startswith("--") else f"-s {option[1:]}"
            lines.append(f"complete -c ffpipe -n '{seen}' {flag} -d {_fish_quote(help_text)}")
        lines.append(f"complete -c ffpipe -n '{seen}' -F")
    return "\n".join(lines) + "\n"


def _fish_quote(text: str) -> str:
    first_line = text.split("\n", 1)[0].replace("%%", "%")
    return "'" + first_line.replace("\\", "\\\\").replace("'", "\\'") + "'"
