/**
 * Prometheus metrics (prom-client), on a registry of the gateway's own so that
 * two gateways in one process (tests) do not collide.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { Decision } from "../guard/types.js";
import type { WriterStats } from "../store/writer.js";
import { FastHistogram, type HistogramSeries } from "./histogram.js";

const FAST_BUCKETS = [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1];
const SLOW_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({ name: "bulwark_requests_total", help: "HTTP requests by route and status code.", labelNames: ["route", "status"], registers: [this.registry] });
  readonly requestDuration = new Histogram({ name: "bulwark_request_duration_seconds", help: "Time from request to response end, by route.", labelNames: ["route"], buckets: SLOW_BUCKETS, registers: [this.registry] });
  readonly decisions = new Counter({
    name: "bulwark_decisions_total",
    help: "Guard decisions by stage, action and category (`none` when no category applied).",
    labelNames: ["stage", "action", "category"],
    registers: [this.registry],
  });
  // Observed for every decision and every layer in it (about thirty times per request): see histogram.ts.
  readonly guardDuration = new FastHistogram("bulwark_guard_duration_seconds", "Guard time per checked text.", ["stage"], FAST_BUCKETS, this.registry);
  readonly layerDuration = new FastHistogram("bulwark_layer_duration_seconds", "Time per guard layer.", ["stage", "layer"], FAST_BUCKETS, this.registry);
  readonly layerFailures = new Counter({ name: "bulwark_layer_failures_total", help: "Layers that threw, timed out or returned malformed output.", labelNames: ["layer", "status"], registers: [this.registry] });
  readonly upstreamDuration = new Histogram({ name: "bulwark_upstream_duration_seconds", help: "Time until the upstream's response headers, by status class.", labelNames: ["status"], buckets: SLOW_BUCKETS, registers: [this.registry] });
  readonly upstreamErrors = new Counter({ name: "bulwark_upstream_errors_total", help: "Upstream failures by kind.", labelNames: ["code"], registers: [this.registry] });
  readonly streamEvents = new Counter({ name: "bulwark_stream_outcomes_total", help: "Streamed responses by outcome.", labelNames: ["outcome"], registers: [this.registry] });
  readonly storeDropped = new Counter({ name: "bulwark_store_dropped_events_total", help: "Audit events dropped because the buffer was full (the store was down too long).", registers: [this.registry] });
  readonly storeWritten = new Counter({ name: "bulwark_store_written_events_total", help: "Audit events written to the store.", registers: [this.registry] });
  readonly storeWriteDuration = new Histogram({ name: "bulwark_store_write_duration_seconds", help: "Time per batch append.", buckets: SLOW_BUCKETS, registers: [this.registry] });
  readonly reloads = new Counter({ name: "bulwark_config_reloads_total", help: "Configuration reloads by result.", labelNames: ["result"], registers: [this.registry] });

  constructor(storeStats: () => WriterStats) {
    collectDefaultMetrics({ register: this.registry, prefix: "bulwark_" });
    new Gauge({
      name: "bulwark_store_waiting_events",
      help: "Audit events waiting to be written.",
      registers: [this.registry],
      collect() {
        this.set(storeStats().waiting);
      },
    });
    new Gauge({
      name: "bulwark_store_lag_seconds",
      help: "Age of the oldest audit event waiting to be written.",
      registers: [this.registry],
      collect() {
        this.set(storeStats().lagMs / 1000);
      },
    });
    new Gauge({
      name: "bulwark_store_up",
      help: "1 when the last write to the event store succeeded.",
      registers: [this.registry],
      collect() {
        this.set(storeStats().storeUp ? 1 : 0);
      },
    });
  }

  // Labelled children, looked up once (prom-client otherwise validates the label object on every call).
  private readonly decisionChildren = new Map<string, ReturnType<Counter["labels"]>>();
  /** Series by stage, then by layer name: looked up without building a key string. */
  private readonly layerSeries = new Map<string, Map<string, HistogramSeries>>();
  private readonly guardSeries = new Map<string, HistogramSeries>();

  recordDecision(decision: Decision): void {
    const { stage, action } = decision;
    if (decision.categories.length === 0) this.decisionCounter(stage, action, "none").inc();
    for (const category of decision.categories) this.decisionCounter(stage, action, category).inc();
    let guard = this.guardSeries.get(stage);
    if (!guard) this.guardSeries.set(stage, (guard = this.guardDuration.labels(stage)));
    guard.observe(decision.latencyUs / 1e6);
    let layers = this.layerSeries.get(stage);
    if (!layers) this.layerSeries.set(stage, (layers = new Map()));
    for (const layer of decision.layers) {
      if (layer.status === "skipped") continue;
      let series = layers.get(layer.name);
      if (!series) layers.set(layer.name, (series = this.layerDuration.labels(stage, layer.name)));
      series.observe(layer.durationUs / 1e6);
      if (layer.status !== "ok") this.layerFailures.inc({ layer: layer.name, status: layer.status });
    }
  }

  private decisionCounter(stage: string, action: string, category: string): ReturnType<Counter["labels"]> {
    const key = `${stage}\u0000${action}\u0000${category}`;
    let child = this.decisionChildren.get(key);
    if (!child) this.decisionChildren.set(key, (child = this.decisions.labels({ stage, action, category })));
    return child;
  }
}
