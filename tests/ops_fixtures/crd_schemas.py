"""JSON Schemas for the custom resources the manifests use, limited to the fields they use.

kubernetes-validate has no schema for CRDs and only warns. These subsets follow the upstream
CRDs (Prometheus Operator monitoring.coreos.com/v1, Istio networking.istio.io/v1) with
``additionalProperties: false``, so a misspelt or misplaced field fails. A field not listed
here must be added (checked against the upstream CRD) before a manifest can use it.
"""

from __future__ import annotations

from typing import Any

_STR: dict[str, Any] = {"type": "string"}
_LABELS: dict[str, Any] = {"type": "object", "additionalProperties": {"type": "string"}}
_METADATA: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": _STR,
        "namespace": _STR,
        "labels": _LABELS,
        "annotations": _LABELS,
    },
    "additionalProperties": False,
}


def _resource(api_version: str, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": api_version},
            "kind": {"const": kind},
            "metadata": _METADATA,
            "spec": spec,
        },
        "additionalProperties": False,
    }


_RELABEL: dict[str, Any] = {
    "type": "object",
    "properties": {
        "sourceLabels": {"type": "array", "items": _STR},
        "targetLabel": _STR,
        "regex": _STR,
        "replacement": _STR,
        "action": {"enum": ["replace", "keep", "drop", "labelmap", "labeldrop", "labelkeep"]},
    },
    "additionalProperties": False,
}
_DURATION: dict[str, Any] = {"type": "string", "pattern": r"^(0|(([0-9]+)(ms|s|m|h|d|w|y))+)$"}

POD_MONITOR = _resource(
    "monitoring.coreos.com/v1",
    "PodMonitor",
    {
        "type": "object",
        "required": ["selector", "podMetricsEndpoints"],
        "properties": {
            "selector": {
                "type": "object",
                "properties": {"matchLabels": _LABELS},
                "additionalProperties": False,
            },
            "namespaceSelector": {
                "type": "object",
                "properties": {"any": {"type": "boolean"}, "matchNames": {"type": "array"}},
                "additionalProperties": False,
            },
            "podMetricsEndpoints": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "properties": {
                        "port": _STR,
                        "path": _STR,
                        "interval": _DURATION,
                        "scrapeTimeout": _DURATION,
                        "relabelings": {"type": "array", "items": _RELABEL},
                    },
                    "additionalProperties": False,
                },
            },
        },
        "additionalProperties": False,
    },
)

PROMETHEUS_RULE = _resource(
    "monitoring.coreos.com/v1",
    "PrometheusRule",
    {
        # the groups themselves are checked by `promtool check rules` on the extracted spec
        "type": "object",
        "required": ["groups"],
        "properties": {"groups": {"type": "array", "minItems": 1}},
        "additionalProperties": False,
    },
)

_DESTINATION: dict[str, Any] = {
    "type": "object",
    "required": ["host"],
    "properties": {
        "host": _STR,
        "subset": _STR,
        "port": {
            "type": "object",
            "properties": {"number": {"type": "integer", "minimum": 1, "maximum": 65535}},
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}
_STRING_MATCH: dict[str, Any] = {
    "type": "object",
    "properties": {"exact": _STR, "prefix": _STR, "regex": _STR},
    "additionalProperties": False,
    "minProperties": 1,
    "maxProperties": 1,
}

VIRTUAL_SERVICE = _resource(
    "networking.istio.io/v1",
    "VirtualService",
    {
        "type": "object",
        "required": ["hosts", "http"],
        "properties": {
            "hosts": {"type": "array", "items": _STR, "minItems": 1},
            "gateways": {"type": "array", "items": _STR},
            "exportTo": {"type": "array", "items": _STR},
            "http": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["route"],
                    "properties": {
                        "name": _STR,
                        "match": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {"uri": _STRING_MATCH, "headers": {"type": "object"}},
                                "additionalProperties": False,
                            },
                        },
                        "route": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["destination"],
                                "properties": {
                                    "destination": _DESTINATION,
                                    "weight": {"type": "integer"},
                                },
                                "additionalProperties": False,
                            },
                        },
                        "mirror": _DESTINATION,
                        "mirrorPercentage": {
                            "type": "object",
                            "properties": {
                                "value": {"type": "number", "minimum": 0, "maximum": 100}
                            },
                            "additionalProperties": False,
                        },
                        "headers": {
                            "type": "object",
                            "properties": {
                                "request": {
                                    "type": "object",
                                    "properties": {
                                        "set": _LABELS,
                                        "add": _LABELS,
                                        "remove": {"type": "array", "items": _STR},
                                    },
                                    "additionalProperties": False,
                                }
                            },
                            "additionalProperties": False,
                        },
                        "timeout": _DURATION,
                    },
                    "additionalProperties": False,
                },
            },
        },
        "additionalProperties": False,
    },
)

SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("monitoring.coreos.com/v1", "PodMonitor"): POD_MONITOR,
    ("monitoring.coreos.com/v1", "PrometheusRule"): PROMETHEUS_RULE,
    ("networking.istio.io/v1", "VirtualService"): VIRTUAL_SERVICE,
}
