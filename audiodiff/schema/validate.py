"""Plain data -> typed spec, with every schema and rule diagnostic of the document in one pass.

Dicts stop here: what leaves this module is a frozen spec (or None) and a list of diagnostics with JSON pointers.
Source positions are attached by the caller, which holds the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from pydantic import TypeAdapter, ValidationError

from audiodiff.diagnostics import codes
from audiodiff.diagnostics.model import Diagnostic
from audiodiff.diagnostics.suggest import did_you_mean
from audiodiff.schema.capabilities import BACKBONES, CONDITIONED
from audiodiff.schema.errors import describe_value, diagnostics_from_validation_error
from audiodiff.schema.pointer import join
from audiodiff.schema.rules import check_rules
from audiodiff.schema.v1.dataset import DATASET_CLASSES, DatasetConfigSpec
from audiodiff.schema.v1.root import ROOT_BY_MODEL_TYPE, SUPPORTED_MODEL_TYPES, UNSUPPORTED_MODEL_TYPES, ModelConfig
from audiodiff.schema.versions import detect_version

DocumentKind = Literal["model", "dataset"]

# backbone tags that exist, but for the other family of model types (C21)
# backbones of one model family only (C21), from their capability records
_COND_ONLY_BACKBONES = {tag for tag, caps in BACKBONES.items() if "diffusion_uncond" not in caps.model_types}
_UNCOND_ONLY_BACKBONES = {tag for tag, caps in BACKBONES.items() if not caps.model_types & CONDITIONED}


@dataclass(frozen=True)
class SchemaResult:
    kind: DocumentKind | None
    version: int | None
    spec: ModelConfig | DatasetConfigSpec | None = None  # None when the document is invalid
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.spec is not None and not any(d.is_error for d in self.diagnostics)

    @property
    def model_spec(self) -> ModelConfig | None:
        """The spec when the document is a valid model config."""
        spec = self.spec
        return None if spec is None or isinstance(spec, DATASET_CLASSES) else spec

    @property
    def dataset_spec(self) -> DatasetConfigSpec | None:
        """The spec when the document is a valid dataset config."""
        spec = self.spec
        return spec if isinstance(spec, DATASET_CLASSES) else None


def document_kind(data: dict[str, Any]) -> DocumentKind | None:
    if "model_type" in data:
        return "model"
    if "dataset_type" in data:
        return "dataset"
    return None


@cache
def _dataset_adapter() -> TypeAdapter:
    return TypeAdapter(DatasetConfigSpec)


def validate_data(data: dict[str, Any]) -> SchemaResult:
    """Validate one parsed document (a model or a dataset config)."""
    kind = document_kind(data)
    if kind is None:
        return SchemaResult(
            None,
            None,
            diagnostics=[
                Diagnostic(
                    codes.UNKNOWN_DOCUMENT_KIND,
                    "the document has neither `model_type` nor `dataset_type`",
                    "",
                    help="a model config starts with `model_type`; a dataset config with `dataset_type`",
                )
            ],
        )
    detected = detect_version(data)
    if detected.diagnostic is not None:
        return SchemaResult(kind, None, diagnostics=[detected.diagnostic])
    assert detected.version is not None  # detect_version gives a version or a diagnostic
    if kind == "dataset":
        return _validate_dataset(data, detected.version)
    return _validate_model(data, detected.version)


def _validate_dataset(data: dict[str, Any], version: int) -> SchemaResult:
    adapter = _dataset_adapter()
    try:
        spec = adapter.validate_python(data)
    except ValidationError as error:
        return SchemaResult(
            "dataset", version, diagnostics=diagnostics_from_validation_error(error, data, DatasetConfigSpec)
        )
    diagnostics = []
    for index, source in enumerate(getattr(spec, "datasets", ())):
        if getattr(source, "s3_path", None) is None and getattr(source, "path", None) is None:
            diagnostics.append(
                Diagnostic(codes.MISSING_KEY, "a dataset source needs `path` or `s3_path`", f"/datasets/{index}")
            )
    return SchemaResult("dataset", version, spec, diagnostics)


def _validate_model(data: dict[str, Any], version: int) -> SchemaResult:
    model_type = data["model_type"]
    root = ROOT_BY_MODEL_TYPE.get(model_type) if isinstance(model_type, str) else None
    if root is None:
        return SchemaResult("model", version, diagnostics=[_model_type_diagnostic(model_type)])
    try:
        spec = root.model_validate(data)
    except ValidationError as error:
        diagnostics = diagnostics_from_validation_error(error, data, root)
        diagnostics = _backbone_config_of_another_type(diagnostics, data, model_type)
        return SchemaResult("model", version, diagnostics=[_explain_backbone_tag(d, model_type) for d in diagnostics])
    oversized = _oversized_integers(data)
    if oversized:
        # rules and lowering loop over layer counts and raise 2 to stage counts: stop before they do
        return SchemaResult("model", version, diagnostics=oversized)
    return SchemaResult("model", version, spec, check_rules(spec))


# No count, width, length or rate of a real model comes near this; larger magnitudes only make later arithmetic
# (layer loops, `2 ** levels`) hang.
MAX_PLAUSIBLE_INT = 2**31 - 1


def _oversized_integers(data: Any) -> list[Diagnostic]:
    """AD104 for every integer in the document above `MAX_PLAUSIBLE_INT` (walked without recursion; the document
    has passed the loader's depth limit, but this must not depend on it)."""
    if not _has_oversized_integer(data):  # the common case, checked without building any path
        return []
    found = []
    stack: list[tuple[tuple, Any]] = [((), data)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict):
            stack.extend((path + (key,), value) for key, value in node.items())
        elif isinstance(node, list):
            stack.extend((path + (index,), value) for index, value in enumerate(node))
        elif type(node) is int and not -MAX_PLAUSIBLE_INT <= node <= MAX_PLAUSIBLE_INT:
            # str() of a huge int is slow (and refused past 4300 digits): describe it by its size instead
            bits = abs(node).bit_length()
            shown = f"`{node}`" if bits <= 80 else f"a number of about {int(bits * 0.30103) + 1} digits"
            found.append(
                Diagnostic(
                    codes.OUT_OF_RANGE,
                    f"{shown} is beyond any value a model setting can take (magnitude at most `{MAX_PLAUSIBLE_INT}`)",
                    join("", *path),
                )
            )
    return sorted(found, key=lambda diagnostic: diagnostic.pointer or "")


def _has_oversized_integer(data: Any) -> bool:
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif type(node) is int and not -MAX_PLAUSIBLE_INT <= node <= MAX_PLAUSIBLE_INT:
            return True
    return False


def _model_type_diagnostic(model_type: Any) -> Diagnostic:
    supported = ", ".join(f"`{t}`" for t in SUPPORTED_MODEL_TYPES)
    if model_type in UNSUPPORTED_MODEL_TYPES:
        return Diagnostic(
            codes.UNSUPPORTED_MODEL_TYPE,
            f"`{model_type}` models are not supported by audiodiff",
            "/model_type",
            help=f"supported model types: {supported}",
        )
    if not isinstance(model_type, str):
        return Diagnostic(codes.WRONG_TYPE, f"expected a string, got {describe_value(model_type)}", "/model_type")
    return Diagnostic(
        codes.UNKNOWN_TYPE_TAG,
        f"unknown model_type `{model_type}`",
        "/model_type",
        help=did_you_mean(model_type, SUPPORTED_MODEL_TYPES + UNSUPPORTED_MODEL_TYPES)
        or f"supported model types: {supported}",
    )


def _backbone_config_classes(model_type: str) -> dict[str, type]:
    from audiodiff.schema.v1.backbones import DAU1dSpec, DiTSpec, DiTUncondSpec, UNet1dSpec, UNetCFG1dSpec

    if model_type == "diffusion_uncond":
        return {"dit": DiTUncondSpec, "adp_1d": UNet1dSpec, "adp_uncond_1d": UNet1dSpec, "DAU1d": DAU1dSpec}
    return {"dit": DiTSpec, "adp_cfg_1d": UNetCFG1dSpec, "adp_1d": UNet1dSpec, "DAU1d": DAU1dSpec}


def _backbone_config_of_another_type(
    diagnostics: list[Diagnostic], data: dict[str, Any], model_type: str
) -> list[Diagnostic]:
    """A backbone `type` whose `config` is a valid config of another backbone the model type takes (`DAU1d` over a
    U-Net's settings: the docs list `DAU1d` for conditioned models) is one mistake, at the type, not a dozen
    unknown keys in the config."""
    section = data.get("model")
    if isinstance(section, dict) and model_type != "diffusion_uncond":
        section, where = section.get("diffusion"), "/model/diffusion"
    else:
        where = "/model"
    if not isinstance(section, dict) or not isinstance(section.get("config"), dict):
        return diagnostics
    tag, config = section.get("type"), section["config"]
    classes = _backbone_config_classes(model_type)
    inside = [d for d in diagnostics if d.pointer is not None and d.pointer.startswith(where + "/config/")]
    # only keys the declared type does not know say the config was written for another type (a missing key alone
    # is that type's own mistake: an `adp_cfg_1d` config without a cfg setting still reads as a plain U-Net)
    if not isinstance(tag, str) or tag not in classes or not any(d.code is codes.UNKNOWN_KEY for d in inside):
        return diagnostics
    fits = [other for other, spec in classes.items() if other != tag and _validates(spec, config)]
    if not fits:
        return diagnostics
    kept = [d for d in diagnostics if d not in inside]
    names = " or ".join(f"`{name}`" for name in fits)
    kept.append(
        Diagnostic(
            codes.INVALID_VALUE,
            f"`type` is `{tag}`, but `config` holds {names} settings ({len(inside)} findings in it are not about "
            f"`{tag}` settings)",
            where + "/type",
            help=f'did you mean `"type": "{fits[0]}"`?',
        )
    )
    return kept


def _validates(spec: type, config: dict[str, Any]) -> bool:
    try:
        spec.model_validate(config)  # type: ignore[attr-defined]
    except (ValidationError, TypeError, ValueError):
        return False
    return True


def _explain_backbone_tag(diagnostic: Diagnostic, model_type: str) -> Diagnostic:
    """An unknown-tag error for a backbone that exists for the other model family reads better as C21."""
    if diagnostic.code is not codes.UNKNOWN_TYPE_TAG or not diagnostic.pointer:
        return diagnostic
    if diagnostic.pointer not in ("/model/type", "/model/diffusion/type"):
        return diagnostic
    tag = diagnostic.message.rsplit("`", 2)[-2] if "`" in diagnostic.message else ""
    unconditioned = model_type == "diffusion_uncond"
    wrong_family = _COND_ONLY_BACKBONES if unconditioned else _UNCOND_ONLY_BACKBONES
    if tag not in wrong_family:
        return diagnostic
    hint = (
        "unconditioned models take `dit`, `DAU1d` and `adp_1d`"
        if unconditioned
        else "conditioned models spell the plain U-Net `adp_1d`"
    )
    return Diagnostic(
        codes.BACKBONE_NOT_ALLOWED,
        f"`{tag}` cannot serve a `{model_type}` model",
        diagnostic.pointer,
        help=hint,
    )
