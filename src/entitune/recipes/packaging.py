"""``package``: a trained model directory as one ``.tar.gz`` to ship (``model.archive``), which
``entitune.load`` and ``entitune predict`` read as they read the directory."""
from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError
from ..artifact.archive import pack_model
from ..options import PackageConfig
from ..terminal import Console


def package(config: PackageConfig, console: Console | None = None) -> dict:
    """Write the model in ``config.model`` to the archive ``config.out`` without its checkpoints (and
    without its logs unless ``with_logs``), with a ``SHA256SUMS`` manifest; returns what was written
    (see ``model.archive.pack_model``)."""
    console = console or Console()
    model, out, with_logs = config.model, config.out, config.with_logs
    if not Path(model).is_dir():
        raise ConfigError(f"{model}: not a directory; give a model directory written by 'entitune train'")
    written = pack_model(model, out, with_logs=with_logs)
    if written["left_out"]:
        console.note(f"left out: {', '.join(written['left_out'])}" + ("" if with_logs else " (--with-logs adds the logs)"))
    console.result(f"wrote {written['path']} ({len(written['files'])} files, {written['bytes'] / 1e6:.1f} MB; "
                   f"sha256 {written['sha256']})")
    return written
