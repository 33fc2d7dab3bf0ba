"""Finding the public datasets the demo, tests and benchmarks use, without copying them anywhere
(a helper of this repository, not part of the installed package).

Order: ``$ENTITUNE_DATA/<name>`` (default ``../shared/data`` beside the working directory), then a
cache in ``~/.cache/entitune/<name>``, then a download of the original files into that cache.
``python scripts/find_data.py mit_movie_eng`` prints the directory or one line saying what to do.
"""
from __future__ import annotations

import os
import sys
import urllib.request
from pathlib import Path


class DatasetNotFound(Exception):
    """A dataset that is neither on disk nor downloadable."""

SOURCES = {
    "mit_movie_eng": {
        "engtrain.bio": "https://groups.csail.mit.edu/sls/downloads/movie/engtrain.bio",
        "engtest.bio": "https://groups.csail.mit.edu/sls/downloads/movie/engtest.bio",
    },
}


def data_root() -> Path:
    return Path(os.environ.get("ENTITUNE_DATA", Path.cwd().parent / "shared" / "data"))


def find_dataset(name: str, download: bool = True) -> Path:
    """Directory holding all files of dataset ``name``."""
    if name not in SOURCES:
        raise DatasetNotFound(f"unknown dataset {name!r}; known: {', '.join(SOURCES)}")
    files = SOURCES[name]
    for directory in (data_root() / name, Path.home() / ".cache" / "entitune" / name):
        if all((directory / f).is_file() for f in files):
            return directory
    cache = Path.home() / ".cache" / "entitune" / name
    if download:
        try:
            cache.mkdir(parents=True, exist_ok=True)
            for file, url in files.items():
                with urllib.request.urlopen(url, timeout=20) as response:
                    data = response.read()
                (cache / (file + ".part")).write_bytes(data)
                os.replace(cache / (file + ".part"), cache / file)
            return cache
        except OSError:
            pass
    raise DatasetNotFound(
        f"dataset {name} not found in {data_root() / name} and could not be downloaded; "
        f"set ENTITUNE_DATA to a folder holding {name}/{', '.join(files)}"
    )


if __name__ == "__main__":
    try:
        print(find_dataset(sys.argv[1] if len(sys.argv) > 1 else "mit_movie_eng"))
    except DatasetNotFound as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
