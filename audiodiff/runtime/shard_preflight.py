"""`run`'s checks of a `wds` / `s3` dataset, before any model is built: every source is listed (which checks the
storage client and the credentials), every listed local shard exists, and the first shard of each source is
opened and its first sample decoded as training will decode it. The first samples' metadata is checked against
the conditioners, and pre-encoded latents against the model's width. Each failure is its own located diagnostic
(AD830 no shards / a missing shard, AD831 an unreadable shard, AD832 a missing client, AD833 credentials)."""

from __future__ import annotations

from pathlib import Path

from audiodiff.compiler.pipeline import locate
from audiodiff.diagnostics import codes
from audiodiff.diagnostics.model import Diagnostic, Severity
from audiodiff.runtime.preflight import (
    LOADER_KEYS,
    NO_VALUE,
    Preflight,
    conditioning_value,
    default_latent_length,
    load_metadata_module,
    note,
)
from audiodiff.runtime.shards import (
    ProbedSample,
    ShardListingError,
    ShardSource,
    classify_error,
    describe_error,
    is_url,
    list_source,
    probe,
)
from audiodiff.schema.pointer import join
from audiodiff.schema.v1.dataset import WebDatasetSpec
from audiodiff.schema.v1.root import DiffusionUncondConfig, ModelConfig
from audiodiff.schema.values import value_problem
from audiodiff.schema.views import conditioning_of

_CODE_OF_KIND = {
    "missing": codes.SHARDS_NOT_FOUND,
    "client": codes.STORAGE_CLIENT_MISSING,
    "credentials": codes.STORAGE_CREDENTIALS,
    "other": codes.SHARD_UNREADABLE,
}
_HELP_OF_KIND = {
    "missing": "`path` is a local folder searched for `.tar` files (or a shard list such as `shards-{000..099}.tar`); "
    "`s3_path` an S3 prefix listed recursively",
    "client": "install the S3 client with `pip install 'audiodiff[data]'` (fsspec's s3fs), "
    "or put the command of a `pipe:` URL on PATH",
    "credentials": "set `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (or `AWS_PROFILE`, or `profile` in the "
    "dataset config) in the environment; credentials never go into the config",
    "other": "check the shard with `tar tf`, or remove it from the dataset",
}


def check_shards(
    preflight: Preflight, spec: WebDatasetSpec, allow_metadata_module: bool, *, allow_pipe: bool = False
) -> None:
    """Checks `spec` (the preflight's dataset config, narrowed by the caller to a `wds` / `s3` dataset)."""
    dataset = preflight.dataset
    config_dir = Path(dataset.path).parent
    found: list[Diagnostic] = []
    sources: list[ShardSource] = []
    probes: list[tuple[int, ShardSource, ProbedSample]] = []
    for index, source in enumerate(spec.datasets):
        pointer = join("", "datasets", index)
        where = join(pointer, "s3_path" if source.s3_path is not None else "path")
        if source.custom_metadata_module is not None and source.id not in preflight.metadata_modules:
            module = load_metadata_module(
                source.custom_metadata_module,
                config_dir,
                join(pointer, "custom_metadata_module"),
                allow_metadata_module,
                found,
            )
            if module is not None:
                preflight.metadata_modules[source.id] = module
        try:
            listed = list_source(
                source.id, path=source.path, s3_path=source.s3_path, profile=source.profile, config_dir=config_dir
            )
        except ShardListingError as error:
            found.append(_failure(error.kind, str(error), where))
            continue
        piped = [url for url in listed.urls if url.startswith("pipe:")]
        if piped and not allow_pipe:  # config text that runs a shell command: only when the user says so
            found.append(
                Diagnostic(
                    codes.PIPE_NOT_ALLOWED,
                    f"the dataset would run the shell command `{piped[0][len('pipe:') :].strip()}`"
                    + (f" (and {len(piped) - 1} more)" if len(piped) > 1 else ""),
                    where,
                    help="pass `--allow-pipe` if you trust the commands, or list the shards by path or URL",
                )
            )
            continue
        missing = [url for url in listed.urls if not is_url(url) and not Path(url).is_file()]
        if missing:
            found.append(
                Diagnostic(
                    codes.SHARDS_NOT_FOUND,
                    f"{len(missing)} of the {len(listed.urls)} listed shards do not exist (first: `{missing[0]}`)",
                    where,
                    help="fix the shard list, or restore the missing shards",
                )
            )
            continue
        try:
            probed = probe(listed.urls[0], listed.profile, pre_encoded=spec.pre_encoded)
        except ShardListingError as error:
            found.append(_failure(error.kind, str(error), where))
            continue
        except Exception as error:  # whatever the tar reader, the client or the decoder raised
            kind = classify_error(error)
            found.append(
                _failure(
                    kind if kind == "credentials" else "other",
                    f"the first shard `{listed.urls[0]}` could not be read: {describe_error(error)}",
                    where,
                )
            )
            continue
        sources.append(listed)
        probes.append((index, listed, probed))
    if not any(d.is_error for d in found):  # a source that failed leaves nothing to count shards of
        preflight.shards = sources
        found += _content(preflight, spec, probes)
    preflight.findings.extend(dataset.path, locate(dataset, found))


def _failure(kind: str, message: str, pointer: str) -> Diagnostic:
    return Diagnostic(_CODE_OF_KIND[kind], message, pointer, help=_HELP_OF_KIND[kind])


def _content(
    preflight: Preflight, data: WebDatasetSpec, probes: list[tuple[int, ShardSource, ProbedSample]]
) -> list[Diagnostic]:
    spec = preflight.spec
    found: list[Diagnostic] = []
    if data.pre_encoded:
        expected = _denoised_channels(spec)
        for index, source, probed in probes:
            if probed.latents is not None and (len(probed.latents) != 2 or probed.latents[0] != expected):
                found.append(
                    Diagnostic(
                        codes.DATASET_MODEL_MISMATCH,
                        f"the latents of `{probed.key}` in `{source.urls[0]}` have shape {list(probed.latents)}, "
                        f"but the model denoises {expected} channels",
                        join("", "datasets", index),
                        help="encode the audio with this model's pretransform (`audiodiff encode --format wds`)",
                    )
                )
        preflight.latent_length = data.latent_crop_length or default_latent_length(spec)
    for key in ("remove_silence", "volume_norm"):
        if getattr(data, key):
            found.append(
                Diagnostic(
                    codes.DATASET_UNSUPPORTED,
                    f"`{key}` is not applied by audiodiff's shard reader; the audio is used as stored",
                    f"/{key}",
                    severity=Severity.WARNING,
                )
            )
    found += _first_values(preflight, data, probes)
    return found


def _denoised_channels(spec: ModelConfig) -> int:
    """Channels of the latents the model denoises: an unconditional model's backbone reads them directly."""
    if isinstance(spec, DiffusionUncondConfig):
        return spec.model.config.denoised_channels
    return spec.model.io_channels


def _first_values(
    preflight: Preflight, data: WebDatasetSpec, probes: list[tuple[int, ShardSource, ProbedSample]]
) -> list[Diagnostic]:
    """Every conditioner's value in the first sample of each source without a metadata module (upstream fails
    with a `KeyError` at the first batch that lacks one)."""
    conditioning = conditioning_of(preflight.spec)
    if conditioning is None:
        return []
    computed: frozenset[str] = (
        frozenset() if data.pre_encoded else LOADER_KEYS
    )  # the audio reader computes these for each crop
    found: list[Diagnostic] = []
    for index, source, probed in probes:
        if source.dataset_id in preflight.metadata_modules:
            continue
        metadata = dict(probed.metadata)
        if "text" in metadata:
            metadata["prompt"] = metadata["text"]
        for position, entry in enumerate(conditioning.configs):
            if entry.id in computed:
                continue
            declared = note(
                preflight.model,
                f"the `{entry.id}` conditioner is declared here",
                join("", "model", "conditioning", "configs", position),
            )
            value = conditioning_value(metadata, entry.id, conditioning.default_keys.get(entry.id))
            problem = None
            if value is NO_VALUE:
                problem = f"has no `{entry.id}` value in its `json` member"
            elif entry.id not in conditioning.pre_encoded_keys:  # a `list` conditioner reads any value
                reason = value_problem(entry, value)
                problem = f"holds a `{entry.id}` value its conditioner cannot read: {reason}" if reason else None
            if problem is not None:
                found.append(
                    Diagnostic(
                        codes.DATASET_METADATA,
                        f"the first sample (`{probed.key}`) of `{source.urls[0]}` {problem}",
                        join("", "datasets", index),
                        help=f"write `{entry.id}` into each sample's `json` member",
                        related=(declared,),
                    )
                )
    return found


def describe_sources(sources: list[ShardSource]) -> str:
    shards = sum(len(source.urls) for source in sources)
    return f"{shards} shard(s) in {len(sources)} source(s)"
