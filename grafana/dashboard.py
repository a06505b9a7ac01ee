"""The taxmeter Grafana dashboard, generated with the Grafana Foundation SDK.

The committed JSON (``grafana/dashboards/taxmeter.json``) is this module's output; a test checks
that it is current. Regenerate from the repository root:

    .venv/bin/python grafana/dashboard.py            # rewrite the JSON
    .venv/bin/python grafana/dashboard.py --check    # exit 1 if the JSON is stale

Queries use the fleet-wide recording rules of ``deploy/prometheus/taxmeter.rules.yml`` for the
estimates and bounds, and raw series for volumes, latency and judges. Variables: ``datasource``,
``namespace``, ``route`` (``.*`` when "All").
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus, table, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import (
    DashboardLinkType,
    DataSourceRef,
    DynamicConfigValue,
    VariableRefresh,
    VariableSort,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

OUTPUT_PATH = Path(__file__).resolve().parent / "dashboards" / "taxmeter.json"
DASHBOARD_UID = "taxmeter-alignment-tax"
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
# Selector shared by every query: the namespace and route variables.
SEL = 'namespace=~"$namespace", route=~"$route"'
QUALITY_JUDGE = "default.quality"
RUNBOOK = "https://github.com/taxmeter/taxmeter/blob/main/docs/operations.md"


def _query(expr: str, legend: str, ref_id: str) -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref_id).range()


def _timeseries(
    title: str,
    description: str,
    unit: str,
    queries: Iterable[tuple[str, str]],
    *,
    width: int = 12,
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .height(8)
        .span(width)
        .line_width(1)
        .fill_opacity(0)
        .legend(
            common_builders.VizLegendOptions()
            .show_legend(True)
            .display_mode(common.LegendDisplayMode.TABLE)
            .placement(common.LegendPlacement.BOTTOM)
            .calcs(["lastNotNull"])
        )
    )
    for index, (expr, legend) in enumerate(queries):
        panel = panel.with_target(_query(expr, legend, chr(ord("A") + index)))
    return panel


def _dashed(panel: timeseries.Panel, name_regex: str) -> timeseries.Panel:
    """Draws the series whose display name matches as dashed lines (thresholds)."""
    return panel.override_by_regexp(
        name_regex,
        [
            DynamicConfigValue(id_val="custom.lineStyle", value={"fill": "dash", "dash": [10, 10]}),
            DynamicConfigValue(id_val="color", value={"mode": "fixed", "fixedColor": "red"}),
        ],
    )


def _band(panel: timeseries.Panel, name_regex: str) -> timeseries.Panel:
    """Draws the interval bounds as thin, lightly filled lines."""
    return panel.override_by_regexp(
        name_regex,
        [
            DynamicConfigValue(id_val="custom.fillOpacity", value=10),
            DynamicConfigValue(id_val="custom.lineStyle", value={"fill": "dot", "dash": [2, 4]}),
        ],
    )


def tax_panels() -> list[timeseries.Panel]:
    tax = _timeseries(
        "Quality tax Δ per route (24h, fleet-wide, anytime-valid band)",
        "Mean over eligible pairs of d = q_unguarded − q_guarded (judge default.quality), with the "
        "confidence-sequence bounds the AlignmentTaxAboveThreshold alert uses, and the route's "
        "threshold (dashed). The alert fires when cs_low stays above the threshold. CAUTION: the "
        "default quality head is weak (no helpfulness labels in its training data; see "
        "docs/judges-default.md); trust Δ only with your own quality judge or an audit. Refused "
        "pairs are part of Δ: the per-pod panel shows the part where both arms answered.",
        "percentunit",
        [
            (
                f'taxmeter_route_judge:alignment_tax:mean24h{{{SEL}, judge="{QUALITY_JUDGE}"}}',
                "{{route}} Δ",
            ),
            (
                f'taxmeter_route_judge:alignment_tax_cs_low:24h{{{SEL}, judge="{QUALITY_JUDGE}"}}',
                "{{route}} cs_low",
            ),
            (
                f'taxmeter_route_judge:alignment_tax_cs_high:24h{{{SEL}, judge="{QUALITY_JUDGE}"}}',
                "{{route}} cs_high",
            ),
            ('taxmeter_route:alignment_tax_threshold{route=~"$route"}', "{{route}} threshold"),
        ],
    )
    tax = _dashed(_band(tax, "/cs_(low|high)$/"), "/threshold$/")
    tradeoff = _timeseries(
        "Over-refusal vs safety benefit (24h, fleet-wide)",
        "The trade-off: share of eligible pairs refused only by the guarded arm (with its "
        "anytime-valid band and threshold) beside the share of complete pairs where only the "
        "unguarded answer was judged unsafe.",
        "percentunit",
        [
            (f"taxmeter_route:over_refusal:ratio24h{{{SEL}}}", "{{route}} over-refusal"),
            (f"taxmeter_route:over_refusal_cs_low:24h{{{SEL}}}", "{{route}} over-refusal cs_low"),
            (
                f"taxmeter_route:over_refusal_cs_high:24h{{{SEL}}}",
                "{{route}} over-refusal cs_high",
            ),
            ('taxmeter_route:over_refusal_threshold{route=~"$route"}', "{{route}} threshold"),
            (f"taxmeter_route:safety_benefit:ratio24h{{{SEL}}}", "{{route}} safety benefit"),
        ],
    )
    tradeoff = _dashed(_band(tradeoff, "/cs_(low|high)$/"), "/threshold$/")
    per_pod = _timeseries(
        "Per-pod windowed tax (diagnostics)",
        "Each pod's own windowed estimate of Δ (point), and Δ over the pairs where both arms "
        "answered (the tax without refusals, which over-refusal reports apart). Diagnostics "
        "only: alerts use the fleet-wide bounds above.",
        "percentunit",
        [
            (
                f'taxmeter_alignment_tax{{{SEL}, judge="{QUALITY_JUDGE}", stat="point"}}',
                "{{pod}} {{route}} {{window}}",
            ),
            (
                f'taxmeter_alignment_tax_answered{{{SEL}, judge="{QUALITY_JUDGE}", '
                'stat="point"}',
                "{{pod}} {{route}} {{window}} both answered",
            ),
        ],
    )
    noise = _timeseries(
        "Noise floor: refusal flip rate between two answers of the same arm",
        "Shown beside the tax, never subtracted from it: a tax below the noise floor is not "
        "distinguishable from sampling noise of the models.",
        "percentunit",
        [
            (
                f"taxmeter_noise_refusal_flip_ratio{{{SEL}}}",
                "{{route}} {{arm}} {{window}}",
            ),
        ],
    )
    return [tax, tradeoff, per_pod, noise]


def latency_panels() -> list[timeseries.Panel]:
    overhead = _timeseries(
        "Latency overhead p50 / p95 (guarded ÷ unguarded − 1, 1h)",
        "Fleet-wide quantiles of the per-arm latency histograms. Run the A/A check "
        "(docs/operations.md#alert-guardraillatencyoverheadhigh) before trusting it: the guarded "
        "arm may carry production load and the unguarded one not.",
        "percentunit",
        [
            (f"taxmeter_route:latency_overhead:p50_ratio1h{{{SEL}}}", "{{route}} p50"),
            (f"taxmeter_route:latency_overhead:p95_ratio1h{{{SEL}}}", "{{route}} p95"),
            ('taxmeter_route:latency_overhead_threshold{route=~"$route"}', "{{route}} threshold"),
        ],
    )
    overhead = _dashed(overhead, "/threshold$/")
    by_arm = _timeseries(
        "Shadow latency and TTFT p95 by arm",
        "Per arm: end-to-end latency and time to first token (streaming requests only).",
        "s",
        [
            (
                "histogram_quantile(0.95, sum by (route, arm, le) "
                f"(rate(taxmeter_shadow_latency_seconds_bucket{{{SEL}}}[$__rate_interval])))",
                "{{route}} {{arm}} latency p95",
            ),
            (
                "histogram_quantile(0.95, sum by (route, arm, le) "
                f"(rate(taxmeter_shadow_ttft_seconds_bucket{{{SEL}}}[$__rate_interval])))",
                "{{route}} {{arm}} TTFT p95",
            ),
        ],
    )
    delta = _timeseries(
        "Per-pair latency difference (guarded − unguarded) p50 / p95",
        "Pairs that reuse the production answer are left out (timed by another client).",
        "s",
        [
            (
                "histogram_quantile(0.5, sum by (route, le) "
                f"(rate(taxmeter_latency_delta_seconds_bucket{{{SEL}}}[$__rate_interval])))",
                "{{route}} p50",
            ),
            (
                "histogram_quantile(0.95, sum by (route, le) "
                f"(rate(taxmeter_latency_delta_seconds_bucket{{{SEL}}}[$__rate_interval])))",
                "{{route}} p95",
            ),
        ],
    )
    return [overhead, by_arm, delta]


def volume_panels() -> list[timeseries.Panel]:
    mirrors = _timeseries(
        "Mirrors by outcome",
        "Mirrored requests per second by what the sampler did with them. dropped_* outcomes are "
        "what TaxmeterDroppingMirrors watches.",
        "reqps",
        [
            (
                "sum by (outcome) "
                f"(rate(taxmeter_mirror_requests_total{{{SEL}}}[$__rate_interval]))",
                "{{outcome}}",
            ),
        ],
    )
    calls = _timeseries(
        "Shadow calls by arm and outcome",
        "guard_block is an answer (a refusal), not an error.",
        "reqps",
        [
            (
                "sum by (arm, outcome) "
                f"(rate(taxmeter_shadow_requests_total{{{SEL}}}[$__rate_interval]))",
                "{{arm}} {{outcome}}",
            ),
        ],
    )
    pairs = _timeseries(
        "Pairs scored and effective sample ratio",
        "Complete pairs per second (eligible or not) and complete pairs / mirrors received.",
        "short",
        [
            (
                f"sum by (route, eligible) (rate(taxmeter_pairs_total{{{SEL}}}[$__rate_interval]))",
                "{{route}} eligible={{eligible}} pairs/s",
            ),
            (
                f"avg by (route) (taxmeter_effective_sample_ratio{{{SEL}}})",
                "{{route}} effective sample ratio",
            ),
        ],
    )
    jobs = _timeseries(
        "Shadow jobs: outcomes and open jobs",
        "Every sampled job ends in exactly one outcome; shed jobs were dropped under overload "
        "(or while the judges warm up).",
        "short",
        [
            (
                f"sum by (outcome) (rate(taxmeter_shadow_jobs_total{{{SEL}}}[$__rate_interval]))",
                "{{outcome}} /s",
            ),
            (f"sum by (state) (taxmeter_shadow_jobs_open{{{SEL}}})", "open {{state}}"),
        ],
    )
    return [mirrors, calls, pairs, jobs]


def judge_panels() -> list[timeseries.Panel | table.Panel]:
    throughput = _timeseries(
        "Judge throughput (items/s) and inference p95",
        "Items scored per second (sum of batch sizes) and the p95 of one batched inference call, "
        "by provider.",
        "short",
        [
            (
                "sum by (judge) (rate(taxmeter_judge_batch_size_sum[$__rate_interval]))",
                "{{judge}} items/s",
            ),
            (
                "histogram_quantile(0.95, sum by (judge, provider, le) "
                "(rate(taxmeter_judge_inference_seconds_bucket[$__rate_interval])))",
                "{{judge}} {{provider}} inference p95 (s)",
            ),
        ],
    )
    batch = _timeseries(
        "Judge batch size (mean)",
        "Mean batch size of the dynamic batcher: close to 1 under light load.",
        "short",
        [
            (
                "sum by (judge) (rate(taxmeter_judge_batch_size_sum[$__rate_interval])) / "
                "sum by (judge) (rate(taxmeter_judge_batch_size_count[$__rate_interval]))",
                "{{judge}}",
            ),
        ],
    )
    providers = (
        table.Panel()
        .title("Judge provider: requested vs active")
        .description(
            "One row per pod and judge. requested=cuda with active=cpu is what TaxmeterJudgeOnCPU "
            "alerts on."
        )
        .datasource(DATASOURCE)
        .height(8)
        .span(12)
        .with_target(
            prometheus.Dataquery()
            .expr("max by (pod, judge, requested, active) (taxmeter_judge_provider_info)")
            .format(PromQueryFormat.TABLE)
            .instant()
            .ref_id("A")
        )
    )
    return [throughput, batch, providers]


def audit_panels() -> list[timeseries.Panel]:
    raw_vs_corrected = _timeseries(
        "Over-refusal: judge-only vs corrected (24h, fleet-wide)",
        "With auditing on (audit.enabled): the judge-only over-refusal beside the one corrected "
        "for the judges' error on the audit sample (prediction-powered: the judge's share on "
        "all pairs plus the mean reference − judge difference on the audited pairs). A gap "
        "between the two is the judges' bias on this traffic; empty when auditing is off.",
        "percentunit",
        [
            (f"taxmeter_route:over_refusal:ratio24h{{{SEL}}}", "{{route}} judge-only"),
            (f"taxmeter_route:over_refusal_corrected:ratio24h{{{SEL}}}", "{{route}} corrected"),
            (f"taxmeter_route:over_refusal_corrected_cs_low:24h{{{SEL}}}",
             "{{route}} corrected cs_low"),
            (f"taxmeter_route:over_refusal_corrected_cs_high:24h{{{SEL}}}",
             "{{route}} corrected cs_high"),
        ],
    )
    raw_vs_corrected = _band(raw_vs_corrected, "/cs_(low|high)$/")
    per_pod = _timeseries(
        "Corrected figures with intervals (per pod, 1h window)",
        "Each pod's corrected over-refusal and safety benefit with their 95 % intervals "
        "(stat ci_low/ci_high), beside the judge-only points. Missing while a window holds "
        "fewer audited pairs than audit.min_pairs_for_corrected "
        "(taxmeter_audit_corrected_available = 0).",
        "percentunit",
        [
            (f'taxmeter_corrected_over_refusal_ratio{{{SEL}, window="1h"}}',
             "{{pod}} {{route}} over-refusal corrected {{stat}}"),
            (f'taxmeter_over_refusal_ratio{{{SEL}, window="1h", stat="point"}}',
             "{{pod}} {{route}} over-refusal judge-only"),
            (f'taxmeter_corrected_safety_benefit_ratio{{{SEL}, window="1h"}}',
             "{{pod}} {{route}} safety benefit corrected {{stat}}"),
            (f'taxmeter_safety_benefit_ratio{{{SEL}, window="1h", stat="point"}}',
             "{{pod}} {{route}} safety benefit judge-only"),
        ],
    )
    agreement = _timeseries(
        "Judge vs auditor agreement per head (24h, fleet-wide)",
        "Share of audited answers where the judge's decision equals the auditor's label; "
        "TaxmeterJudgeDisagreesWithAuditor fires below 85 % with ≥ 100 audited answers. Auditor "
        "failures (timeouts, unparsable replies) are in taxmeter_auditor_requests_total.",
        "percentunit",
        [
            (f"taxmeter_route_head:audit_agreement:ratio24h{{{SEL}}}", "{{route}} {{head}}"),
            (
                f"sum by (route, outcome) (rate(taxmeter_audit_selected_total{{{SEL}}}"
                "[$__rate_interval])) / ignoring (outcome) group_left () sum by (route) "
                f"(rate(taxmeter_audit_selected_total{{{SEL}}}[$__rate_interval]))",
                "{{route}} audit {{outcome}}",
            ),
        ],
    )
    return [raw_vs_corrected, per_pod, agreement]


def build_dashboard() -> dash.Dashboard:
    builder = (
        dash.Dashboard("taxmeter: alignment tax")
        .uid(DASHBOARD_UID)
        .description(
            "Live alignment tax of the guarded deployment against the unguarded one, per route. "
            "Operations guide: docs/operations.md"
        )
        .tags(["taxmeter", "llm", "alignment-tax"])
        .editable()
        .refresh("1m")
        .time("now-24h", "now")
        .timezone("browser")
        .link(
            dash.DashboardLink("Operations guide")
            .type(DashboardLinkType.LINK)
            .url(RUNBOOK)
            .target_blank(True)
        )
        .with_variable(
            dash.DatasourceVariable("datasource").label("Data source").type("prometheus")
        )
        .with_variable(
            dash.QueryVariable("namespace")
            .label("Namespace")
            .datasource(DATASOURCE)
            .query("label_values(taxmeter_build_info, namespace)")
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(VariableSort.ALPHABETICAL_ASC)
            .multi(True)
            .include_all(True)
            .all_value(".*")
        )
        .with_variable(
            dash.QueryVariable("route")
            .label("Route")
            .datasource(DATASOURCE)
            .query('label_values(taxmeter_pairs_total{namespace=~"$namespace"}, route)')
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(VariableSort.ALPHABETICAL_ASC)
            .multi(True)
            .include_all(True)
            .all_value(".*")
        )
    )
    sections: list[tuple[str, Iterable[timeseries.Panel | table.Panel]]] = [
        ("Alignment tax", tax_panels()),
        ("Latency", latency_panels()),
        ("Shadow volume", volume_panels()),
        ("Judges", judge_panels()),
        ("Judge vs auditor", audit_panels()),
    ]
    for title, panels in sections:
        builder = builder.with_row(dash.Row(title))
        for panel in panels:
            builder = builder.with_panel(panel)
    return builder


def render() -> str:
    """The dashboard JSON, as committed."""
    return json.dumps(build_dashboard().build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate the taxmeter Grafana dashboard")
    parser.add_argument("--check", action="store_true", help="fail if the JSON is stale")
    args = parser.parse_args(argv)
    expected = render()
    if args.check:
        current = OUTPUT_PATH.read_text(encoding="utf-8") if OUTPUT_PATH.exists() else ""
        if current != expected:
            print(f"{OUTPUT_PATH} is stale: run grafana/dashboard.py", file=sys.stderr)
            return 1
        return 0
    OUTPUT_PATH.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT_PATH.write_text(expected, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
