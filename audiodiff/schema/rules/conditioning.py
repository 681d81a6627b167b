"""Conditioning rules: ids, routes and conditioner settings (C26-C39, C49, C55, C63, C70)."""

from __future__ import annotations

from audiodiff.diagnostics import codes
from audiodiff.diagnostics.suggest import did_you_mean
from audiodiff.schema.routes import CROSS_ATTENTION, GLOBAL, INPAINT_IDS, INPUT_CONCAT, PREPEND, ROUTES, Route
from audiodiff.schema.rules.report import RuleReport, at
from audiodiff.schema.v1.conditioning import ConditionerSpec, ConditioningSpec
from audiodiff.schema.v1.root import ModelConfig
from audiodiff.schema.views import backbone_of, conditioning_of, pretransform_of, routes_of


def check(spec: ModelConfig, report: RuleReport) -> None:
    conditioning = conditioning_of(spec)
    routes = routes_of(spec)
    if conditioning is not None:
        _check_ids(conditioning, report)
        _check_conditioner_settings(spec, conditioning, report)
    _check_routes(spec, conditioning, routes, report)


def _check_ids(conditioning: ConditioningSpec, report: RuleReport) -> None:
    first_seen: dict[str, int] = {}
    for index, entry in enumerate(conditioning.configs):
        if entry.id in first_seen:
            report.add(
                codes.DUPLICATE_CONDITIONER_ID,
                f"conditioner id `{entry.id}` is declared twice; upstream keeps only the last one",
                at("model", "conditioning", "configs", index, "id"),
                help="give each conditioner its own id",
                related=(("first declared here", at("model", "conditioning", "configs", first_seen[entry.id], "id")),),
            )
        else:
            first_seen[entry.id] = index
        if entry.id in INPAINT_IDS:
            report.add(
                codes.INPAINT_ID_MISPLACED,
                f"`{entry.id}` is reserved for the inpainting tensor and cannot name a conditioner",
                at("model", "conditioning", "configs", index, "id"),
            )


def _check_conditioner_settings(spec: ModelConfig, conditioning: ConditioningSpec, report: RuleReport) -> None:
    has_model_pretransform = pretransform_of(spec) is not None
    for index, entry in enumerate(conditioning.configs):
        findings = entry.setting_findings(model_has_pretransform=has_model_pretransform)
        report.add_findings(findings, at("model", "conditioning", "configs", index))


def _check_routes(
    spec: ModelConfig,
    conditioning: ConditioningSpec | None,
    routes: dict[Route, tuple[str, ...]],
    report: RuleReport,
) -> None:
    backbone = backbone_of(spec)
    if backbone is None:
        return
    declared = list(dict.fromkeys(conditioning.ids)) if conditioning is not None else []  # unique, in order
    entries: dict[str, ConditionerSpec] = {}  # the last entry of an id wins, as upstream keeps it
    if conditioning is not None:
        entries = {entry.id: entry for entry in conditioning.configs}
    pre_encoded = set(conditioning.pre_encoded_keys) if conditioning is not None else set()
    inpaint_routed = False

    for route in ROUTES:
        ids = routes[route]
        route_pointer = at("model", "diffusion", route.key)
        consumed = backbone.capabilities.consumes(route)
        if ids and route is CROSS_ATTENTION and not consumed:
            report.add(
                codes.ROUTE_UNSUPPORTED,
                f"`{backbone.type}` has no cross-attention input: these ids would be ignored",
                route_pointer,
                help="route them through `global_cond_ids` or `input_concat_ids`, or use `dit` or `adp_cfg_1d`",
                related=(("the backbone type is set here", backbone.type_pointer),),
            )
        if ids and route is PREPEND and not consumed:
            report.add(
                codes.PREPEND_REQUIRES_DIT,
                f"prepend conditioning is consumed by `dit` only; `{backbone.type}` would drop it",
                route_pointer,
                help="move these ids to `cross_attention_cond_ids` or `global_cond_ids`",
                related=(("the backbone type is set here", backbone.type_pointer),),
            )
        for index, conditioner_id in enumerate(ids):
            pointer = f"{route_pointer}/{index}"
            if conditioner_id in INPAINT_IDS:
                inpaint_routed = True
                if route is not INPUT_CONCAT:
                    report.add(
                        codes.INPAINT_ID_MISPLACED,
                        f"`{conditioner_id}` is an inpainting tensor and may only be routed through `input_concat_ids`",
                        pointer,
                    )
                continue
            if conditioner_id not in declared:
                candidates = list(declared) + (list(INPAINT_IDS) if route is INPUT_CONCAT else [])
                report.add(
                    codes.UNKNOWN_CONDITIONER_ID,
                    f"`{conditioner_id}` is not a declared conditioner id",
                    pointer,
                    help=did_you_mean(conditioner_id, candidates)
                    or ("declared ids: " + ", ".join(f"`{i}`" for i in declared) if declared else None),
                    related=(("conditioners are declared here", at("model", "conditioning", "configs")),)
                    if conditioning is not None
                    else (),
                )
                continue
            entry = entries[conditioner_id]
            if entry.output == "signal" and route is not INPUT_CONCAT:
                report.add(
                    codes.SEQUENCE_CONDITIONER_ROUTE,
                    f"`{conditioner_id}` gives channels-first audio latents and can only feed `input_concat_ids`",
                    pointer,
                )
            if entry.output == "sequence" and route is GLOBAL:
                report.add(
                    codes.GLOBAL_NOT_VECTOR,
                    f"`{conditioner_id}` ({entry.type}) gives a token sequence, not one vector per item",
                    pointer,
                    help="route sequence conditioners through `cross_attention_cond_ids` or `prepend_cond_ids`",
                )
            if conditioner_id in pre_encoded and route.masked:
                report.add(
                    codes.PRE_ENCODED_KEY_ROUTE,
                    f"`{conditioner_id}` is a pre-encoded key: it has no mask, so it cannot feed {route.phrase}",
                    pointer,
                )

    any_route = any(conditioner_id not in INPAINT_IDS for ids in routes.values() for conditioner_id in ids)
    if any_route and conditioning is None:
        first = next(route for route in ROUTES if any(i not in INPAINT_IDS for i in routes[route]))
        report.add(
            codes.MISSING_CONDITIONING,
            "the model routes conditioner ids but declares no `model.conditioning`",
            at("model", "diffusion", first.key),
            help="add `model.conditioning` with `cond_dim` and a `configs` list",
        )
    if CROSS_ATTENTION in backbone.capabilities.requires and not routes[CROSS_ATTENTION]:
        report.add(
            codes.CFG_UNET_NEEDS_CROSS_ATTENTION,
            f"`{backbone.type}` needs at least one cross-attention conditioner (its forward pass requires one)",
            at("model", "diffusion", CROSS_ATTENTION.key),
            help="route a conditioner through `cross_attention_cond_ids`, or use `adp_1d`",
        )
    if inpaint_routed:
        _check_inpainting(spec, report)


def _check_inpainting(spec: ModelConfig, report: RuleReport) -> None:
    if spec.model_type != "diffusion_cond_inpaint":
        report.add(
            codes.INPAINT_NEEDS_SETTINGS,
            "the inpainting ids are supplied only by `diffusion_cond_inpaint` models",
            at("model_type"),
            help='set `"model_type": "diffusion_cond_inpaint"`',
            related=(("inpainting ids are routed here", at("model", "diffusion", INPUT_CONCAT.key)),),
        )
    elif spec.training is not None and spec.training.inpainting is None:
        report.add(
            codes.INPAINT_NEEDS_SETTINGS,
            "inpainting ids are routed but `training.inpainting` is absent, so they are never supplied",
            at("training"),
            help='add `"inpainting": {"mask_kwargs": {}}` to `training`',
            related=(("inpainting ids are routed here", at("model", "diffusion", INPUT_CONCAT.key)),),
        )
