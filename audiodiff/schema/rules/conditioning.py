"""Conditioning rules: ids, routes and conditioner settings (C26-C39, C49, C55, C63, C70)."""

from __future__ import annotations

from audiodiff.diagnostics import codes
from audiodiff.diagnostics.suggest import did_you_mean
from audiodiff.schema.routes import CROSS_ATTENTION, GLOBAL, INPAINT_IDS, INPUT_CONCAT, PREPEND, ROUTES
from audiodiff.schema.rules.report import RuleReport, at
from audiodiff.schema.v1.conditioning import T5_WIDTHS, ConditioningSpec
from audiodiff.schema.views import backbone_of, conditioning_of, pretransform_of, routes_of

# Conditioners whose output is a token sequence rather than one vector per item (C48).
SEQUENCE_CONDITIONERS = frozenset({"t5", "lut", "phoneme"})
# Conditioners whose output is channels-first audio latents: they may only feed input-concat (C36).
SIGNAL_CONDITIONERS = frozenset({"pretransform", "source_mix"})


def check(spec, report: RuleReport) -> None:
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


def _check_conditioner_settings(spec, conditioning: ConditioningSpec, report: RuleReport) -> None:
    has_model_pretransform = pretransform_of(spec) is not None
    for index, entry in enumerate(conditioning.configs):
        where = at("model", "conditioning", "configs", index, "config")
        config = entry.config
        if entry.type in ("int", "number") and not config.min_val < config.max_val:
            report.add(
                codes.EMPTY_NUMBER_RANGE,
                f"`max_val` ({config.max_val}) must be greater than `min_val` ({config.min_val})",
                where + "/max_val" if config.explicitly_set("max_val") else where,
                help="the value is normalised by `max_val - min_val`; an empty range divides by zero"
                if entry.type == "number"
                else None,
                related=(("`min_val` is set here", where + "/min_val"),),
            )
        if entry.type == "int" and config.min_val != 0 and config.min_val < config.max_val:
            # Upstream embeds row `clamp(value)` of a table with max_val - min_val + 1 rows; weights trained there
            # sit at those rows, so audiodiff reads them the same way and the quirk is reported here instead.
            usable = config.max_val - config.min_val
            report.add(
                codes.INT_CONDITIONER_OFFSET,
                f"`{entry.id}` looks up row `value` (clamped to [{config.min_val}, {config.max_val}]), not "
                f"`value - min_val`: values above {usable} have no row and fail at run time"
                if config.min_val > 0
                else f"`{entry.id}` looks up row `value` (clamped to [{config.min_val}, {config.max_val}]), not "
                "`value - min_val`: negative values have no row and fail at run time",
                where + "/min_val",
                help='use `"min_val": 0` and a `max_val` that covers the values (the table then has a row for each)',
            )
        if entry.type == "t5" and config.t5_model_name not in T5_WIDTHS:
            report.add(
                codes.UNKNOWN_T5_MODEL,
                f"`{config.t5_model_name}` is not one of the T5 encoders upstream accepts",
                where + "/t5_model_name",
                help=did_you_mean(config.t5_model_name, T5_WIDTHS)
                or "expected one of " + ", ".join(f"`{name}`" for name in T5_WIDTHS),
            )
        if entry.type in SIGNAL_CONDITIONERS:
            if config.use_model_pretransform and not has_model_pretransform:
                report.add(
                    codes.MODEL_PRETRANSFORM_REQUIRED,
                    f"conditioner `{entry.id}` uses the model's pretransform, but the model has none",
                    where + "/use_model_pretransform",
                    help="add `model.pretransform`, or give this conditioner its own `pretransform_config`",
                )
            if not config.use_model_pretransform and config.pretransform_config is None:
                report.add(
                    codes.MISSING_SETTING,
                    f"conditioner `{entry.id}` needs `pretransform_config` or `use_model_pretransform: true`",
                    where,
                )
        if entry.type == "source_mix" and config.allow_null_source and config.source_length is None:
            report.add(
                codes.MISSING_SETTING,
                f"conditioner `{entry.id}` allows null sources and so needs `source_length`",
                where,
            )


def _check_routes(spec, conditioning: ConditioningSpec | None, routes, report: RuleReport) -> None:
    backbone = backbone_of(spec)
    if backbone is None:
        return
    declared = list(dict.fromkeys(conditioning.ids)) if conditioning is not None else []  # unique, in order
    types = {entry.id: entry.type for entry in conditioning.configs} if conditioning is not None else {}
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
            kind = types[conditioner_id]
            if kind in SIGNAL_CONDITIONERS and route is not INPUT_CONCAT:
                report.add(
                    codes.SEQUENCE_CONDITIONER_ROUTE,
                    f"`{conditioner_id}` gives channels-first audio latents and can only feed `input_concat_ids`",
                    pointer,
                )
            if kind in SEQUENCE_CONDITIONERS and route is GLOBAL:
                report.add(
                    codes.GLOBAL_NOT_VECTOR,
                    f"`{conditioner_id}` ({kind}) gives a token sequence, not one vector per item",
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


def _check_inpainting(spec, report: RuleReport) -> None:
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
