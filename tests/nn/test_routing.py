"""The four routes are defined once (`schema.routes`); the module layer's typed mirrors must agree with it."""

from __future__ import annotations

from dataclasses import fields

import pytest
import torch

from audiodiff.compiler.graph import Edge, PortRef
from audiodiff.nn.routing import (
    INPAINT_IDS,
    BackboneInputs,
    Guidance,
    Routing,
    route_inputs,
)
from audiodiff.schema import routes
from audiodiff.schema.v1.diffusion import DiTDiffusionSpec


def test_routing_fields_are_the_route_list_keys_in_order() -> None:
    assert tuple(field.name for field in fields(Routing)) == routes.ROUTE_KEYS


def test_backbone_inputs_have_a_field_per_route_port() -> None:
    names = {field.name for field in fields(BackboneInputs)}
    assert {route.port for route in routes.ROUTES} <= names
    # every token route carries its mask beside it
    for route in routes.ROUTES:
        assert (f"{route.port}_mask" in names or route.port.replace("_cond", "_mask") in names) == route.masked


def test_inpainting_ids_agree() -> None:
    assert INPAINT_IDS == routes.INPAINT_IDS


def test_the_schema_reads_each_routing_list_through_its_route() -> None:
    section = DiTDiffusionSpec.model_fields
    for route in routes.ROUTES:
        assert route.key in section


@pytest.mark.parametrize("route", routes.ROUTES, ids=lambda route: route.name)
def test_graph_edges_round_trip_their_route(route: routes.Route) -> None:
    edge = Edge(
        PortRef("conditioning.a", "value"), PortRef("diffusion.backbone", route.port), route, "/model/diffusion/x/0"
    )
    assert Edge.from_json(edge.to_json()) == edge
    assert edge.to_json()["route"] == route.name
    assert edge.to_json()["target"] == f"diffusion.backbone:{route.port}"


def test_route_inputs_concatenate_on_each_routes_axis() -> None:
    b = 2
    cond = {
        "a": (torch.randn(b, 1, 4), torch.ones(b, 1)),
        "b": (torch.randn(b, 3, 4), torch.ones(b, 3)),
        "c": torch.randn(b, 2, 8),
    }
    inputs = route_inputs(
        Routing(
            cross_attention_cond_ids=("a", "b"),
            global_cond_ids=("a",),
            prepend_cond_ids=("b",),
            input_concat_ids=("c", "c"),
        ),
        cond,
    )
    assert inputs.cross_attn_cond.shape == (b, 4, 4)  # tokens: widths agree, counts add
    assert inputs.global_cond.shape == (b, 4)  # features
    assert inputs.prepend_cond.shape == (b, 3, 4)
    assert inputs.input_concat_cond.shape == (b, 4, 8)  # channels add
    axes = {route.port: route.axis for route in routes.ROUTES}
    assert axes["cross_attn_cond"] is routes.Axis.TOKENS and axes["input_concat_cond"] is routes.Axis.CHANNELS


def test_guidance_defaults_are_the_eval_settings() -> None:
    assert Guidance() == Guidance(
        cfg_scale=1.0, cfg_dropout_prob=0.0, rescale_cfg=False, scale_phi=None, cfg_interval=(0.0, 1.0)
    )
