/**
 * gauge-transport: estimate the gauge between transformer checkpoints (signed permutations of the residual stream
 * for RMSNorm models, permutations times a global sign for LayerNorm models) and move coordinate-indexed objects
 * with it. Conventions: GAUGE.md.
 *
 * One name per thing: the gauge is the `Gauge` class (`Gauge.read`, `Gauge.fromArrays`, `Gauge.random`); heavy
 * calls are asynchronous and run off the event loop; every transport takes `(input, gauge, out, options)`.
 */
import native = require('./native');

// The gauge and the matching it comes from.
export { Gauge } from './gauge';
export type { GaugeAgreement, GaugeMetadata, Group, RandomGaugeOptions } from './gauge';
export { solveAssignment } from './assignment';
export type { AssignmentResult, SolveOptions, Solver } from './assignment';
export { matchGauge } from './matching';
export type { MatchOptions, MatchResult, Method } from './matching';
export { GaugeTransportError, errorCode } from './errors';
/** Pearson correlation matrix `[dA, dB]` of paired activations `[tokens, dA]` and `[tokens, dB]`, off the event loop. */
export const correlation = native.correlation;

// Checkpoints and models.
/** Describes a checkpoint directory or GGUF file: family, shape, dtypes, parameters, gain statistics, gauge group. */
export const inspectModel = native.inspectModel;
/** Re-charts a checkpoint by a gauge into a new directory (hidden states become `g·h`, outputs unchanged). */
export const applyGauge = native.applyGauge;
/** Writes a random checkpoint (generic gains) for a preset or a `config.json`. */
export const initCheckpoint = native.initCheckpoint;
/** Writes a seeded Gaussian perturbation of a checkpoint. */
export const perturbCheckpoint = native.perturbCheckpoint;
/** A model's own tokenizer (`tokenizer.json` or a GGUF's metadata). */
export const Tokenizer = native.Tokenizer;
export { loadModel, convertGguf } from './model';
export type { Model, Site, ForwardOptions, ForwardResult, HiddenState, LoadOptions } from './model';

// Estimation.
export { align, collectStats } from './align';
export type { AlignOptions, AlignResult, AlignProgress, StatsOptions, PairStats, Pool, Agreement, Reliability, ConfidenceNull } from './align';
/** Paired statistics to a gauge with its diagnostics, in one call off the event loop (pooling, prior, matching, null). */
export const estimateGauge = native.estimateGauge;
export { loadProbe } from './probe';
export type { LoadProbeOptions, Probe, ProbeKind } from './probe';
export { resolveShard } from './shard';
export type { Shard } from './shard';
export { estimateTrajectory, Trajectory } from './trajectory';
export type { TrajectoryOptions, TrajectoryResult, GaugeEdge, Composition, CycleReport } from './trajectory';
/** The canonical chart of a checkpoint: gauge fixing from the checkpoint alone (coordinates by norm gain, signs by the token embedding), with its ties. */
export const canonicalGauge = native.canonicalGauge;

// Training.
export { train } from './train';
export type { TrainOptions, TrainProgress, TrainSummary } from './train';

// Transport.
export { transportSteering, transportSae, transportNeurons, transportOptimizer, mergeCheckpoints, emitMergekit } from './transport';
export type { TransportFileOptions, TransportSaeOptions, TransportNeuronsOptions, TransportOptimizerOptions, ScoreKind, MergeOptions, EmitMergekitOptions, MergekitMethod } from './transport';

// Tools and audits.
export { siteActivations, trainSae, evaluateSae, steeringVector, steeringEffect, topK, overlap } from './tools';
export type { ActivationOptions, TrainSaeOptions, TrainSaeResult, SaeMetrics, LogitContrast, SteeringEffectOptions } from './tools';
export { audit } from './audit';
export type { AuditOptions, AuditReport, ClaimResult, Verdict, Claim, ClaimsFile, CoordinatesClaim, TopKClaim, Behaviour } from './audit';

// Reports (need the optional vega and vega-lite).
export { writeAlignReport, writeTrajectoryReport, writeAuditReport } from './report';
export type { Section } from './report';
