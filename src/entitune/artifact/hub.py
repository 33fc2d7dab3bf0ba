"""Where an encoder comes from: a local checkpoint directory, or a Hugging Face Hub name.

Every verb that takes an encoder (``train``, ``pretrain``, ``tune``, ``doctor``, ``vocab``) and the
Python constructors (``Tagger.from_encoder`` and its kin) pass what they were given through
``resolve_encoder``, which answers with an ``Encoder``: a directory on this machine, plus the
repository and commit it came from when it came from the Hub.

What is asked decides the route:

- nothing: the bundled MiniLM (``model_dir.default_encoder_dir``);
- an existing directory, or a path (absolute, ``./``, ``~``, a ``pathlib.Path``): that local
  checkpoint, as always (a directory wins over a Hub name spelled the same);
- ``NAME`` or ``ORG/NAME``, optionally ``@REVISION`` (a branch, tag or commit): a Hub repository,
  through ``huggingface_hub.snapshot_download`` restricted to what entitune reads (``HUB_FILES``:
  the config, the tokenizer files, ``model.safetensors``, the model card). The library looks in the
  Hugging Face cache first (``HF_HUB_CACHE``, ``HF_HOME``), downloads what is missing when online
  (``HF_ENDPOINT``; ``HF_TOKEN`` or ``hf auth login`` for gated repositories), and reads the
  cache only under ``HF_HUB_OFFLINE=1``.

Each way a name can fail is one line naming its case (``ConfigError``, exit 2): not in the cache
while offline, no such repository or revision, a gated repository, only pickle weights (never
downloaded, never loaded: the message says how to convert them), sharded weights. A Hub that cannot
be reached is one line too, with exit status 1 (``HubUnreachable``: the environment, not the
request). The usual checks of a checkpoint (safetensors only, no code from the folder) then run on
the resolved directory, exactly as on a local one.

A name is resolved once per process (``_snapshot`` is memoised), so ``tune``'s trials and the
several steps of one run that read the encoder share one look-up. Written over ``huggingface_hub``
(the maintained client: cache layout, revisions, tokens, offline mode); nothing here speaks HTTP.
"""
from __future__ import annotations

import functools
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from .._version import __version__
from ..errors import ConfigError, not_a_model, one_line
from ..files import is_path_like
from . import model_dir

#: the files of a Hub repository that entitune reads (fnmatch patterns, as ``allow_patterns``):
#: the config, the tokenizer in any of its saved forms, the safetensors weights, the model card
HUB_FILES = ("config.json", model_dir.WEIGHTS_FILE, "tokenizer.json", "tokenizer_config.json",
             "special_tokens_map.json", "added_tokens.json", "vocab.txt", "vocab.json", "merges.txt", "*.model",
             model_dir.CARD_FILE)
#: weight files that only ``torch.load`` (pickle) reads
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
#: the Space that converts a repository's pickle weights to safetensors (it opens a pull request)
CONVERT_SPACE = "https://huggingface.co/spaces/safetensors/convert"


class HubUnreachable(ConfigError):
    """The Hub could not be reached (a connection refused, a timeout, a server error) and the cache
    does not hold what was asked: a fault of the environment, so exit status 1."""

    exit_code = 1


@dataclass(frozen=True)
class Encoder:
    """An encoder checkpoint on this machine (``directory``) and, when it came from the Hub, the
    repository (``repo``), the revision asked for (``revision``; None: the default branch) and the
    commit it resolved to (``commit``)."""

    directory: Path
    repo: str | None = None
    revision: str | None = None
    commit: str | None = None

    @property
    def from_hub(self) -> bool:
        return self.repo is not None

    @property
    def asked(self) -> str:
        """The encoder as the user named it: ``ORG/NAME[@REVISION]``, or the directory."""
        if self.repo is None:
            return str(self.directory)
        return self.repo + (f"@{self.revision}" if self.revision else "")

    def identity(self) -> tuple[str, str]:
        """The encoder's name and the SHA-256 of its weights, as a model records them: a Hub
        encoder by its repository name, a local one as ``model_dir.encoder_identity`` names it."""
        name, sha256 = model_dir.encoder_identity(self.directory)
        return (self.repo or name), sha256

    def record(self) -> dict | None:
        """``train_log.json``'s ``base_model``: ``{"repo", "revision", "commit"}`` for a Hub encoder,
        None for a local directory."""
        if self.repo is None:
            return None
        return {"repo": self.repo, "revision": self.revision, "commit": self.commit}


def resolve_encoder(model: str | Path | Encoder | None, *, weights: bool = True) -> Encoder:
    """The encoder ``model`` names (see the module docstring), checked to be a checkpoint entitune
    can read (``config.json`` and ``model.safetensors``); an ``Encoder`` passes through as it is.
    ``weights=False`` is for the verbs that read only the tokenizer and config (``doctor``, ``vocab
    plan``): a Hub name then downloads no weights, and a local directory need only exist."""
    if isinstance(model, Encoder):
        return model
    if model is None or model == "":
        model = model_dir.default_encoder_dir()
    text = str(model)
    if isinstance(model, Path) or Path(text).exists() or is_path_like(text):
        if weights:
            return Encoder(model_dir.check_checkpoint(text))
        if not Path(text).is_dir():
            raise not_a_model(text, "not a directory" if Path(text).exists() else "no such directory")
        return Encoder(Path(text))
    repo, at, revision = text.partition("@")
    if not is_hub_name(repo) or (at and not revision):
        raise ConfigError(f"{text}: no such directory, and not a Hugging Face Hub name (ORG/NAME or "
                          "ORG/NAME@REVISION)")
    return _snapshot(repo, revision or None, weights, *_hub_settings())


def is_hub_name(name: str) -> bool:
    """True when ``name`` is a valid Hub repository id (``NAME`` or ``ORG/NAME``), by the rules of
    ``huggingface_hub.utils.validate_repo_id``.

    >>> is_hub_name("google-bert/bert-base-cased"), is_hub_name("a/b/c"), is_hub_name("x--y")
    (True, False, False)
    """
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return bool(name)


def _hub_settings() -> tuple[str, str, bool]:
    """What a resolution depends on besides the name: the cache, the endpoint, offline mode (as
    ``huggingface_hub`` read them from the environment); part of the memo's key."""
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE), str(constants.ENDPOINT), bool(constants.HF_HUB_OFFLINE)


@functools.lru_cache(maxsize=32)
def _snapshot(repo: str, revision: str | None, weights: bool, cache: str, endpoint: str, offline: bool) -> Encoder:
    """``repo`` at ``revision`` from the cache or the Hub, as an ``Encoder`` (errors: one line).
    ``cache``, ``endpoint`` and ``offline`` are what the client reads itself; they key the memo."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import IncompleteSnapshotError

    asked = repo + (f"@{revision}" if revision else "")
    needed = (model_dir.CONFIG_FILE, model_dir.WEIGHTS_FILE) if weights else (model_dir.CONFIG_FILE,)
    patterns = [p for p in HUB_FILES if weights or p != model_dir.WEIGHTS_FILE]
    try:
        folder = Path(snapshot_download(repo, revision=revision, allow_patterns=patterns, library_name="entitune",
                                        library_version=__version__, tqdm_class=_progress_bars()))
    except IncompleteSnapshotError as exc:  # cached, but without a file we would also take (a model card)
        folder = Path(exc.snapshot_path or "")
        if not all((folder / name).is_file() for name in needed):
            raise _hub_error(asked, revision, exc, offline) from None
    except _client_errors() as exc:
        raise _hub_error(asked, revision, exc, offline) from None
    if weights and not (folder / model_dir.WEIGHTS_FILE).is_file():
        raise ConfigError(f"{asked}: {_why_no_weights(repo, folder, offline)}")
    if not (folder / model_dir.CONFIG_FILE).is_file():
        raise ConfigError(f"{asked}: the repository has no {model_dir.CONFIG_FILE}, so it is not a transformers "
                          "checkpoint entitune can fine-tune")
    return Encoder(folder, repo, revision, folder.name)


def _client_errors() -> tuple[type[BaseException], ...]:
    """What ``snapshot_download`` raises for a request that failed (its errors are ``OSError``s or
    ``ValueError``s; those of the HTTP library under it, when one surfaces, are its ``HTTPError``);
    anything else is a bug and raises as it is."""
    errors: list[type[BaseException]] = [OSError, ValueError]
    for name in ("httpx2", "httpx"):  # the HTTP library huggingface_hub uses, by version
        base = getattr(sys.modules.get(name), "HTTPError", None)
        if isinstance(base, type) and issubclass(base, BaseException):
            errors.append(base)
    return tuple(errors)


def _progress_bars():
    """The client's own progress bars on a terminal; none where stderr is a file or a pipe (a log
    would fill with carriage returns, and an error would no longer be one line)."""
    if sys.stderr.isatty():
        return None
    from huggingface_hub.utils import tqdm

    class Silent(tqdm):
        def __init__(self, *args, **kwargs) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

    return Silent


def _hub_error(asked: str, revision: str | None, exc: Exception, offline: bool) -> ConfigError:
    """The one line for a failed ``snapshot_download``, by what went wrong."""
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

    if isinstance(exc, GatedRepoError):  # before its base class, RepositoryNotFoundError
        return ConfigError(f"{asked}: gated: accept its terms on huggingface.co and log in (hf auth login "
                           "or HF_TOKEN)")
    if isinstance(exc, RevisionNotFoundError):
        return ConfigError(f"{asked}: no such revision {revision!r} in the repository on the Hub")
    if isinstance(exc, RepositoryNotFoundError):
        return ConfigError(f"{asked}: no such repository on the Hub (a private one needs hf auth login or "
                           "HF_TOKEN), and no such directory here")
    if offline:
        return ConfigError(f"{asked}: not in the Hugging Face cache, and offline (HF_HUB_OFFLINE is set); unset "
                           "it to download, or give a local directory")
    if isinstance(exc, HfHubHTTPError):
        status = exc.response.status_code if exc.response is not None else None
        if status in (401, 403):
            return ConfigError(f"{asked}: the Hub refused access ({status}); log in with an account that may read "
                               "it (hf auth login or HF_TOKEN)")
        return HubUnreachable(f"{asked}: the Hub answered with an error ({one_line(exc, 160)}), and it is not in "
                              "the Hugging Face cache")
    if isinstance(exc, ValueError):  # a request the client refuses to send (a malformed revision)
        return ConfigError(f"{asked}: {one_line(exc, 200)}")
    cause = exc.__cause__ or exc  # a connection refused, a timeout, a proxy: the environment
    return HubUnreachable(f"{asked}: the Hub cannot be reached ({one_line(cause, 160)}), and it is not in the "
                          "Hugging Face cache; check the connection (or HF_ENDPOINT), or set HF_HUB_OFFLINE=1 to use "
                          "only the cache")


def _repo_files(repo: str, folder: Path, offline: bool) -> list[str]:
    """The file names of ``repo`` at the commit of ``folder``: the tree listing ``snapshot_download``
    cached (or asked for again when online), else the files the cached snapshot holds."""
    from huggingface_hub import HfApi

    commit = folder.name
    try:
        from huggingface_hub import get_cached_repo_tree  # huggingface_hub >= 2: the listing is cached

        return [f.path for f in get_cached_repo_tree(repo, revision=commit)]
    except Exception:  # noqa: BLE001 - an older client, or no listing cached
        pass
    if not offline:
        try:
            return list(HfApi().list_repo_files(repo, revision=commit))
        except Exception:  # noqa: BLE001 - the folder still says something
            pass
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def _why_no_weights(repo: str, folder: Path, offline: bool) -> str:
    """Why a repository (at the resolved commit) gives no ``model.safetensors``: pickle weights only,
    sharded weights, or none entitune knows."""
    files = _repo_files(repo, folder, offline)
    names = {f.rsplit("/", 1)[-1] for f in files if "/" not in f}
    if any(n.endswith(".safetensors") for n in names):
        return (f"its safetensors weights are sharded ({', '.join(sorted(n for n in names if n.endswith('.safetensors'))[:2])}"
                f", ...); entitune reads one {model_dir.WEIGHTS_FILE} (merge them with transformers: "
                f"AutoModel.from_pretrained(...).save_pretrained(DIR, max_shard_size='100GB'))")
    pickles = sorted(n for n in names if n.endswith(PICKLE_SUFFIXES))
    if pickles:
        return (f"only pickle weights ({pickles[0]}): entitune loads safetensors only; convert it with "
                f"{CONVERT_SPACE} (it opens a pull request with {model_dir.WEIGHTS_FILE}: then train with "
                f"--model {repo}@refs/pr/N), or, trusting the file (this runs the pickle), with "
                f"{convert_command(repo, repo.rsplit('/', 1)[-1] + '-safetensors')} and --model that directory")
    kinds = sorted(n for n in names if n.endswith((".h5", ".msgpack", ".onnx", ".ot")))
    found = f" (it has {', '.join(kinds)})" if kinds else ""
    return f"no {model_dir.WEIGHTS_FILE} in the repository{found}; entitune loads safetensors weights only"


def convert_command(repo: str, out: str) -> str:
    """A shell command that writes ``repo``'s encoder and tokenizer to ``out`` with safetensors
    weights (transformers loads the pickle weights: it runs them)."""
    code = (f"from transformers import AutoModel, AutoTokenizer; n = {repo!r}; "
            f"AutoModel.from_pretrained(n, use_safetensors=False).save_pretrained({out!r}); "
            f"AutoTokenizer.from_pretrained(n).save_pretrained({out!r})")
    return f"python -c {json.dumps(code)}"
