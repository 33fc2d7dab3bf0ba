"""Every command and every flag of the ``entitune`` command line says what it is for."""
import typer.main

from entitune.cli import app


def _commands():
    group = typer.main.get_command(app)
    return sorted(group.commands.items())


def test_every_command_and_flag_has_help():
    missing = []
    for name, command in _commands():
        if not (command.help or "").strip():
            missing.append(f"{name} (the command)")
        for param in command.params:
            if param.name == "help":
                continue
            if not (getattr(param, "help", None) or "").strip():
                missing.append(f"{name} {'/'.join(param.opts)}")
    assert not missing, f"without help text: {', '.join(missing)}"


def test_the_walk_sees_every_command():
    names = {name for name, _ in _commands()}
    assert {"train", "evaluate", "predict", "serve", "export", "package", "report", "doctor", "convert", "split"} <= names
    train = dict(_commands())["train"]
    flags = {opt for p in train.params for opt in p.opts}
    assert {"--keep-checkpoints", "--keep-checkpoints-after", "--remove-checkpoints-after"} <= flags | {
        o for p in train.params for o in getattr(p, "secondary_opts", [])}
